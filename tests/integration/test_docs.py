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


# docs/contract.md is the wire contract the code's comments cite as "SPEC §N":
# it keeps SPEC's nine sections, names every route the server registers and
# every fixed word of src/core/wire.h, and names no route the server lacks.
CONTRACT = REPO / "docs" / "contract.md"
SECTIONS = ["Data model", "HTTP conventions", "Cart API", "SSE", "WebSocket",
            "Identity and access", "Many instances", "Operations",
            "Command line and menu file"]
ROUTE_ADD = re.compile(r'tc_router_add\(\s*\w+,\s*([A-Z_|\s]+?),\s*([^,]+?),\s*"([^"]+)"')
DOC_ROUTE = re.compile(r"`(GET|HEAD|POST|PUT|DELETE|OPTIONS) (/[^`?\s]*)[^`]*`")


def registered_routes():
    """'METHOD /path' of every tc_router_add in src/ (the API prefix as its
    default, /api; each {} parameter as {}), and whether every call was read."""
    routes, calls, read = set(), 0, 0
    for src in sorted((REPO / "src").rglob("*.c")):
        text = src.read_text(encoding="utf-8")
        if src.name == "router.c":
            continue
        calls += len(re.findall(r"\btc_router_add\(", text))
        found = ROUTE_ADD.findall(text)
        read += len(found)
        for methods, prefix, pattern in found:
            path = ("" if prefix.strip() == '""' else "/api") + pattern
            for m in re.findall(r"TC_M_([A-Z]+)", methods):
                routes.add("%s %s" % (m, path))
    return routes, calls == read and calls >= 9


def contract_text():
    """contract.md without its fenced blocks (the captured examples)."""
    return re.sub(r"^```.*?^```", "", CONTRACT.read_text(encoding="utf-8"), flags=re.M | re.S)


def test_contract_keeps_the_nine_sections_the_code_cites():
    heads = re.findall(r"^## (\d+)\. (.+?)\s*$", CONTRACT.read_text(encoding="utf-8"), re.M)
    assert heads == [(str(i + 1), t) for i, t in enumerate(SECTIONS)]


def test_contract_names_every_registered_route():
    routes, all_read = registered_routes()
    assert all_read
    named = {"%s %s" % (m, re.sub(r"\{\w+\}", "{}", p)) for m, p in DOC_ROUTE.findall(contract_text())}
    assert sorted(routes - named) == []


def test_contract_names_no_route_the_server_lacks():
    """Every `METHOD /path` the page names (an example's id, 123, in place
    of a parameter; HEAD where GET is registered) is a registered route."""
    routes, _ = registered_routes()
    patterns = [re.compile("%s %s$" % (r.split()[0], re.escape(r.split()[1]).replace(r"\{\}", "[^/]+")))
                for r in routes]
    bad = []
    for m, p in DOC_ROUTE.findall(contract_text()):
        named = "%s %s" % ("GET" if m == "HEAD" else m, p)
        if not any(pat.match(named) for pat in patterns):
            bad.append(named)
    assert bad == []


def test_contract_names_every_fixed_word_of_wire_h():
    wire = (REPO / "src" / "core" / "wire.h").read_text(encoding="utf-8")
    words = dict(re.findall(r'^#define (TC_WIRE_\w+) "([^"]*)"', wire, re.M))
    suffix = words.pop("TC_WIRE_SUCCESS_SUFFIX")
    code = "".join(p.read_text(encoding="utf-8") for p in (REPO / "src" / "api").glob("*.c"))
    # Commands answered "<type>_success": the command reader's table, and
    # any type the WebSocket code joins to the suffix.
    commands = set(re.findall(r"\{TC_OP_\w+, (TC_WIRE_\w+)", code))
    commands |= set(re.findall(r"(TC_WIRE_\w+) TC_WIRE_SUCCESS_SUFFIX", code))
    assert commands and commands <= set(words)
    expected = set(words.values()) | {words[c] + suffix for c in commands}
    retry = re.search(r"^#define TC_WIRE_SSE_RETRY_MS (\d+)", wire, re.M).group(1)
    text = contract_text()  # said in the text, not only in an example
    # Named as code (`cart_update`) or as a JSON string ("type":"add_item").
    assert sorted(w for w in expected if "`%s`" % w not in text and '"%s"' % w not in text) == []
    assert "retry:%s" % retry in text


def test_docs_cite_no_brief_outside_the_repository():
    bad = [(doc.name, m) for doc in DOCS
           for m in re.findall(r"SPEC\.md|DESIGN\.md", doc.read_text(encoding="utf-8"))]
    assert bad == []
