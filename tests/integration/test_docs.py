"""README.md and docs/ stay true to the repository and the binary: every
relative link resolves to a file of the repository and its #anchor to a
heading there, no path points outside it, and the flags they list are the
ones `tablecart --help` lists, and the captured examples of docs/contract.md
are what the binary answers."""

import json
import re
import subprocess
import sys
from pathlib import Path

import requests

from support import BIN, HTTP_DATE, IO_TIMEOUT, run_cli

sys.path.insert(0, str(Path(__file__).resolve().parent / "live"))
from live_support import SSEStream, WSClient  # noqa: E402

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


def without_fences(text):
    """text without its fenced blocks (examples, shell sessions)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def anchors(doc):
    """The #anchors of doc's headings, as GitHub makes them: lower case, what
    is neither a letter, a digit, '-', '_' nor a space dropped, spaces as '-';
    a heading met again gets -1, -2..."""
    seen, out = {}, set()
    text = without_fences(doc.read_text(encoding="utf-8"))
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


def named_in_docs(pattern):
    """(doc, match) for every match of pattern in README.md and docs/."""
    return [(doc.name, m) for doc in DOCS for m in re.findall(pattern, doc.read_text(encoding="utf-8"))]


def test_no_path_points_outside_the_repository():
    assert named_in_docs(r"\.\./shared\S*|/work/\S*") == []


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


# The cart commands' REST routes, in api/command.c's table (registered by
# api/rest.c from it): {TC_OP_ADD, TC_WIRE_ADD_ITEM, TC_M_POST, "POST", "/store/...", ...
COMMAND_ROUTE = re.compile(r'\{TC_OP_\w+, TC_WIRE_\w+, TC_M_([A-Z]+), "([A-Z]+)", "([^"]+)"')
COMMAND_ROUTE_ADD = "tc_router_add(r, tc_command_method(c), prefix, tc_command_path(c)"


def registered_routes():
    """'METHOD /path' of every tc_router_add in src/ (the API prefix as its
    default, /api; each {} parameter as {}) and of the command table, and
    whether every call was read."""
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
        if COMMAND_ROUTE_ADD in text:
            command_c = (REPO / "src" / "api" / "command.c").read_text(encoding="utf-8")
            rows = COMMAND_ROUTE.findall(command_c)
            assert len(rows) == 4 and all(bit == name for bit, name, _ in rows), rows
            routes |= {"%s /api%s" % (name, path) for _, name, path in rows}
            read += text.count(COMMAND_ROUTE_ADD)
    return routes, calls == read and len(routes) >= 11


def contract_text():
    """contract.md without its fenced blocks (the captured examples)."""
    return without_fences(CONTRACT.read_text(encoding="utf-8"))


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
    assert named_in_docs(r"SPEC\.md|DESIGN\.md") == []


# The captured examples of contract.md, replayed against the binary: the page
# says they are byte for byte what `serve` answers on an empty database with
# the demo menu, and that is checked here (key names and order, money
# written with two decimals, every fixed string, versions, ETags), except
# the clock: "timestamp" and "updatedAt" only have to be a number where the
# page shows one (null where it shows null). A "…" in an example stands for
# a cut: what comes before it must start the answer, what follows end it.
CLOCK = re.compile(r'"(timestamp|updatedAt)":\d+')
ENVELOPE_OK = '{"code":200,"success":true,"message":"操作成功","data":'


def contract_section(n):
    """The text of contract.md's section n, fenced blocks included."""
    text = CONTRACT.read_text(encoding="utf-8")
    return re.split(r"^## \d+\. .*$", text, flags=re.M)[n]


def fenced(n):
    """The fenced blocks of section n (indented ones too, inside a list item),
    each as its list of lines, the fence's indent taken off."""
    blocks = re.findall(r"^( *)```[a-z]*\n(.*?)^ *```", contract_section(n), re.M | re.S)
    return [[ln[len(indent):] for ln in b.rstrip("\n").split("\n")] for indent, b in blocks]


def assert_as_captured(actual, doc):
    """actual (the binary's text) is doc (the page's) but for the clock and
    the cuts the page marks with '…'."""
    actual, doc = CLOCK.sub(r'"\1":0', actual), CLOCK.sub(r'"\1":0', doc)
    if "…" not in doc:
        assert actual == doc
        return
    head, tail = doc.split("…", 1)
    assert actual[:len(head)] == head
    assert actual[len(actual) - len(tail):] == tail and len(actual) >= len(head) + len(tail)


def parts(rest):
    """'  Name: value  {json}  (a comment)' -> ({name: value}, json or None)."""
    headers, body = {}, None
    for p in re.split(r"\s{2,}", rest.strip()):
        if not p or p.startswith("("):
            continue
        if p.startswith("{"):
            body = p
        else:
            name, _, value = p.partition(": ")
            headers[name] = value
    return headers, body


def request(srv, method, path, headers=None, body=None):
    hs = {"Accept-Language": None}  # the page shows the diners' (Chinese) texts
    hs.update(headers or {})
    return requests.request(method, srv.url(path), headers=hs, timeout=IO_TIMEOUT,
                            data=body.encode("utf-8") if body else None)


def replay_exchanges(srv, lines, defaults, cut=None):
    """Replays blocks of 'METHOD PATH  headers  body' / '-> STATUS  headers' /
    an optional JSON answer, separated by blank lines; returns how many. A
    request header value cut with '…' is cut's value, which it must start."""
    n = 0
    for ex in "\n".join(lines).strip().split("\n\n"):
        ex = ex.split("\n")
        m = re.fullmatch(r"(GET|POST|PUT|DELETE|PATCH) (\S+)(.*)", ex[0])
        assert m, ex
        headers, body = parts(m.group(3))
        for name, value in headers.items():
            if value.endswith("…"):
                assert cut.startswith(value[:-1]), (value, cut)
                headers[name] = cut
        r = request(srv, m.group(1), m.group(2), dict(defaults, **headers), body)
        st = re.fullmatch(r"-> (\d{3})(.*)", ex[1])
        assert st, ex
        assert r.status_code == int(st.group(1)), (ex[0], r.text)
        want, _ = parts(st.group(2))
        assert {k: r.headers.get(k) for k in want} == want, ex[0]
        if len(ex) > 2:
            assert_as_captured(r.content.decode("utf-8"), ex[2])
        else:
            assert r.content == b""
        n += 1
    return n


def test_contract_examples_are_what_the_binary_answers(start_server):
    srv = start_server(menu=None)  # an empty database: the bundled demo menu
    s1, s3, s4 = fenced(1), fenced(3), fenced(4)

    # §4: a diner's stream, opened first (its head and first three events).
    sse_doc = s4[0]
    user = re.search(r"Captured \(`(\?userId=\d+)`", contract_section(4)).group(1)
    sse = SSEStream(srv.port, table=123, query=user, lang=None)
    try:
        sse.start()
        blank = sse_doc.index("")
        # The Date shown is the capture's: any IMF-fixdate stands for it.
        head = [sse.status_line] + ["%s: %s" % h for h in sse.header_list]
        assert [re.sub(r"^Date: " + HTTP_DATE.pattern + "$", "Date: <now>", ln) for ln in head] == \
            [re.sub(r"^Date: " + HTTP_DATE.pattern + "$", "Date: <now>", ln) for ln in sse_doc[:blank]]
        assert sum(ln.startswith("Date: ") for ln in head) == 1
        doc_events = "\n".join(sse_doc[blank + 1:]).strip().split("\n\n")
        assert len(doc_events) == 4

        def next_event():
            return "\n".join(sse.next_event(skip_heartbeats=True, skip_presence=False).lines)

        for doc_ev in doc_events[:3]:
            assert_as_captured(next_event(), doc_ev)

        # §1: the empty cart.
        cart = request(srv, "GET", "/api/store/order/cart/123").content.decode("utf-8")
        assert cart.startswith(ENVELOPE_OK) and cart.endswith("}")
        assert_as_captured(cart[len(ENVELOPE_OK):-1], s1[0][0])

        # §3: the captured exchanges, in order, with the request headers named.
        sec3 = contract_section(3)
        defaults = dict(re.findall(r"`([\w-]+): ([^`]+)`",
                                   re.search(r"Captured \(request headers (.*?)\):", sec3, re.S).group(1)))
        assert replay_exchanges(srv, s3[0], defaults) == 6

        # §4: the add of §3 reached the stream; §1: the cart after it.
        assert_as_captured(next_event(), doc_events[3])
        cart = request(srv, "GET", "/api/store/order/cart/123").content.decode("utf-8")
        assert_as_captured(cart[len(ENVELOPE_OK):-1], s1[0][1])
        check_envelopes_and_websocket(srv, defaults)

        # §8: the metric lines shown exist (the counts are those of one session).
        metrics = requests.get(srv.url("/metrics"), timeout=IO_TIMEOUT).text
        names = {ln.rsplit(" ", 1)[0] for ln in metrics.splitlines() if not ln.startswith("#")}
        shown = [ln.rsplit(" ", 1) for ln in fenced(8)[1]]
        assert shown and all(v.isdigit() for _, v in shown)
        assert sorted(n for n, _ in shown if n not in names) == []
    finally:
        sse.close()


def check_envelopes_and_websocket(srv, defaults):
    """The examples of §2 and §5, with the diner of §4's capture still on
    SSE and the cart as §3 left it."""
    s2, s5 = fenced(2), fenced(5)

    # §2: the envelopes (health, a refused quantity in Chinese and English)
    # and the 405.
    env = s2[0]
    assert_as_captured(request(srv, "GET", "/healthz").text, env[0])
    too_many = json.dumps({"tableId": 123, "cuisineId": 1001, "quantity": 100})
    json_ct = {"Content-Type": "application/json"}
    assert_as_captured(request(srv, "POST", "/api/store/order/cart/add", json_ct, too_many).text, env[1])
    en = dict(json_ct, **{"Accept-Language": "en"})
    assert_as_captured(request(srv, "POST", "/api/store/order/cart/add", en, too_many).text, env[2])
    m = re.fullmatch(r"(\w+) (\S+) -> (\d+)", s2[1][0])
    r = request(srv, m.group(1), m.group(2))
    assert r.status_code == int(m.group(3))
    assert "Allow: %s" % r.headers["Allow"] == s2[1][1]
    assert_as_captured(r.text, s2[1][2])

    # §5: the WebSocket transcript, after the setup its caption names.
    sec5 = contract_section(5)
    for body in re.findall(r"before it: `(POST [^`]+)`", sec5):
        method, path, payload = body.split(" ", 2)
        assert request(srv, method, path, dict(defaults), payload).status_code == 200
    path = re.search(r"Captured \(`(/ws/cart/[^`]+)`", sec5).group(1)
    ws = WSClient(srv.port, path=path, lang=None)
    try:
        # The presence this socket last had (in a presence message or set_name's answer). When
        # the table's presence changed (this diner came, a name was set), the server pushes it
        # to every stream of the table at its next 200 ms tick (docs/api.md, "Presence"), this
        # one too, which has it already; where that tick falls in the transcript depends on the
        # machine's speed, so a presence that says again what the socket has is passed over.
        known = None
        for line in s5[0]:
            if line.startswith("-> "):
                ws.send(line[3:])
            else:
                assert line.startswith("<- "), line
                got = ws.recv_raw()
                while (known is not None and json.loads(got)["type"] == "presence"
                       and json.loads(got)["data"] == known
                       and json.loads(line[3:])["type"] != "presence"):
                    got = ws.recv_raw()
                assert_as_captured(got, line[3:])
                m = json.loads(got)
                if m["type"] in ("presence", "set_name_success"):
                    known = m["data"]
    finally:
        ws.close()


def test_contract_auth_and_command_line_examples(start_server):
    """§6's two refusals on an --auth jwt server, with the token the CLI
    prints for the command the page names; §9's bad flag."""
    secret = "contract-examples-secret-0123456789abcdef"
    env = {"TABLECART_JWT_SECRET": secret}
    srv = start_server("--auth", "jwt", menu=None, env=env)
    sec6 = contract_section(6)
    cmd = re.search(r"the token from `tablecart (token [^`]+)`", sec6).group(1).split()
    cli = run_cli(*cmd, env=env)
    assert cli.returncode == 0, cli.stderr
    assert replay_exchanges(srv, fenced(6)[0], {}, cut="Bearer " + cli.stdout.decode().strip()) == 2

    shell = fenced(9)[1]
    assert shell[0].startswith("$ tablecart ")
    r = run_cli(*shell[0][len("$ tablecart "):].split())
    assert (r.returncode, r.stdout, r.stderr.decode("utf-8")) == (2, b"", shell[1] + "\n")
