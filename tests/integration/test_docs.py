"""README.md and docs/ stay true to the repository and the binary: every
relative link resolves to a file of the repository and its #anchor to a
heading there, no path points outside it, and the flags they list are the
ones `tablecart --help` lists."""

import re
import subprocess
from pathlib import Path

from support import BIN

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def help_flags():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10).stdout
    return set(re.findall(r"--[a-z][a-z-]+", out))


def test_relative_links_resolve_inside_the_repository():
    bad = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                bad.append((doc.name, target, "not relative"))
                continue
            path = target.split("#", 1)[0]
            resolved = (doc.parent / path).resolve() if path else doc
            if REPO not in resolved.parents and resolved != REPO:
                bad.append((doc.name, target, "outside the repository"))
            elif not resolved.exists():
                bad.append((doc.name, target, "missing"))
    assert bad == []


def anchors(doc):
    """The #anchors of doc's headings, as GitHub makes them: lower case, what
    is neither a letter, a digit, '-', '_' nor a space dropped, spaces as '-';
    a heading met again gets -1, -2..."""
    seen, out = {}, set()
    text = re.sub(r"^```.*?^```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
    for heading in re.findall(r"^#+\s+(.*?)\s*$", text, re.M):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else "%s-%d" % (slug, n))
    return out


def test_anchors_resolve_to_headings():
    bad = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            path, hash_, anchor = target.partition("#")
            if not hash_ or re.match(r"[a-z]+:", target):
                continue
            resolved = (doc.parent / path).resolve() if path else doc
            if resolved.suffix == ".md" and resolved.exists() and anchor not in anchors(resolved):
                bad.append((doc.name, target))
    assert bad == []


def test_no_path_points_outside_the_repository():
    bad = [(doc.name, m) for doc in DOCS
           for m in re.findall(r"\.\./shared\S*|/work/\S*", doc.read_text(encoding="utf-8"))]
    assert bad == []


def test_readme_usage_lists_the_flags_of_help():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    usage = text.split("## Running it", 1)[1].split("```", 2)[1]
    assert set(re.findall(r"--[a-z][a-z-]+", usage)) == help_flags()


def test_operations_lists_every_serve_flag():
    out = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10).stdout
    serve = set(re.findall(r"^  (--[a-z][a-z-]+)", out.split("serve options", 1)[1], re.M))
    table = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert sorted(f for f in serve if "| `%s" % f not in table) == []
