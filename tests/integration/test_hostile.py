"""Hostile clients: one case per attack that once took the server down or leaked something, so
that each keeps holding. Runs against the release and the ASan+UBSan builds; every server is
checked for sanitizer reports when it stops."""

import os
import shutil

import pytest
import requests

from support import BIN, HTTP_DATE, RawConn, http_request, strip_date, wait_until, START_TIMEOUT

CART = "/api/store/order/cart/123"

# Every route of SPEC §3-5 that answers GET, with the status a plain GET gets
# (no WebSocket upgrade headers: 400).
GET_ROUTES = [
    ("/api/store/order/cart/123", 200),
    ("/api/store/order/menu/123", 200),
    ("/api/store/order/sse/123", 200),
    ("/ws/cart/123", 400),
    ("/healthz", 200),
    ("/metrics", 200),
    ("/", 200),
    ("/app.js", 200),
    ("/no-such-file", 404),
    ("/api/store/order/cart/999", 404),
    ("/api/store/order/sse/999", 404),
    ("/api/store/order/sse/abc", 400),
]

# Routes that do not answer GET: HEAD gets 405 with Allow, as GET does.
NON_GET_ROUTES = [
    "/api/store/order/cart/add",
    "/api/store/order/cart/update",
    "/api/store/order/cart/remove",
    "/api/store/order/cart/clear",
]


def head_then_get(server, path, version="HTTP/1.1"):
    """Sends HEAD path, then GET /healthz on the same connection; returns both
    responses. The second proves the connection still speaks HTTP."""
    c = RawConn(server.port)
    try:
        c.send(http_request("HEAD", path, version=version)
               + http_request("GET", "/healthz", version=version))
        head = c.read_response(head_only=True)
        after = c.read_response()
        return head, after, c.buf
    finally:
        c.close()


@pytest.mark.parametrize("path,status", GET_ROUTES)
def test_head_answers_like_get_without_a_body_and_keeps_the_connection(server, path, status):
    head, after, rest = head_then_get(server, path)
    assert head.status == status, head
    assert (after.status, after.json()["data"]) == (200, {"status": "up"})
    assert rest == b"", "bytes after the HEAD answer belong to no response: %r" % rest[:200]
    assert server.alive()


@pytest.mark.parametrize("path,status", [(p, s) for p, s in GET_ROUTES
                                         if "/sse/123" not in p and p != "/metrics"])
def test_head_gets_the_headers_get_gets(server, path, status):
    """SPEC §2: HEAD gets the same status and headers as GET. (The stream's head has its own
    tests below; /metrics counts the GET itself, so its length moves.) For /ws/cart/123
    without upgrade headers HEAD said "WebSocket 握手须为 GET 请求" where GET said "需要
    WebSocket 升级", so its Content-Length was another."""
    c = RawConn(server.port)
    try:
        c.send(http_request("GET", path) + http_request("HEAD", path))
        got = c.read_response()
        head = c.read_response(head_only=True)
    finally:
        c.close()
    assert got.status == status, got
    # Date is each answer's own second (the two may straddle one): present on both, else equal.
    def without_date(r):
        dates = [v for k, v in r.header_list if k == "Date"]
        assert len(dates) == 1 and HTTP_DATE.fullmatch(dates[0]), r.header_list
        return [(k, v) for k, v in r.header_list if k != "Date"]
    assert (head.status, without_date(head)) == (got.status, without_date(got))


def test_head_of_the_event_stream_has_the_streams_head(server):
    head, _, _ = head_then_get(server, "/api/store/order/sse/123")
    assert head.status == 200
    assert head.header("Content-Type") == "text/event-stream;charset=UTF-8"
    assert head.header("Cache-Control") == "no-cache"
    assert head.header("Transfer-Encoding") == "chunked"
    assert head.header("Content-Length") is None


def test_head_of_the_event_stream_over_http10_closes_after_the_head(server):
    c = RawConn(server.port)
    try:
        c.send(http_request("HEAD", "/api/store/order/sse/123", version="HTTP/1.0"))
        head = c.read_response(head_only=True)
        assert head.status == 200
        assert head.header("Connection") == "close"
        assert c.wait_closed() == b""
    finally:
        c.close()
    assert server.alive()


def raw_head(c):
    """The bytes of the next response head on c, up to and including its blank line,
    without its Date line (support.strip_date)."""
    while b"\r\n\r\n" not in c.buf:
        chunk = c.sock.recv(65536)
        assert chunk, "closed before a whole head: %r" % c.buf
        c.buf += chunk
    head, c.buf = c.buf.split(b"\r\n\r\n", 1)
    return strip_date(head + b"\r\n\r\n")


@pytest.mark.parametrize("version,connection,stays", [
    ("HTTP/1.1", None, True), ("HTTP/1.1", "keep-alive", True), ("HTTP/1.1", "close", False),
    ("HTTP/1.0", None, False), ("HTTP/1.0", "keep-alive", False)])
def test_head_of_the_event_stream_is_byte_for_byte_the_head_of_get(start_server, version,
                                                                    connection, stays):
    """SPEC §2: HEAD answers GET's status and headers. An HTTP/1.0 stream ends with the
    connection (no chunked framing), so its HEAD says close and closes, keep-alive or not."""
    s = start_server("--cors-origin", "http://a.example")
    hs = {"Origin": "http://a.example"}
    if connection:
        hs["Connection"] = connection
    heads = {}
    for method in ("GET", "HEAD"):
        c = RawConn(s.port)
        try:
            c.send(http_request(method, "/api/store/order/sse/123", hs, version=version))
            heads[method] = raw_head(c)
            if method == "HEAD":
                if stays:
                    c.send(http_request("GET", "/healthz", version=version))
                    assert c.read_response().json()["data"] == {"status": "up"}
                else:
                    assert c.wait_closed() == b""
        finally:
            c.close()
    assert heads["HEAD"] == heads["GET"]
    chunked = b"Transfer-Encoding: chunked\r\n" if version == "HTTP/1.1" else b""
    assert heads["GET"] == (b"HTTP/1.1 200 OK\r\nServer: tablecart\r\n"
                            b"Content-Type: text/event-stream;charset=UTF-8\r\n"
                            b"Access-Control-Allow-Origin: http://a.example\r\nVary: Origin\r\n"
                            b"Access-Control-Expose-Headers: ETag, Retry-After\r\n"
                            b"Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n" + chunked
                            + b"Connection: " + (b"keep-alive" if stays else b"close")
                            + b"\r\n\r\n")


def test_many_heads_of_the_stream_then_close_leave_the_server_serving(server):
    """The crash: HEAD of the SSE route, then the client goes away."""
    for _ in range(20):
        c = RawConn(server.port)
        c.send(http_request("HEAD", "/api/store/order/sse/123"))
        assert c.read_response(head_only=True).status == 200
        c.close()
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200
    assert server.alive()


def test_head_of_the_websocket_route_with_upgrade_headers_does_not_upgrade(server):
    c = RawConn(server.port)
    try:
        c.send(http_request("HEAD", "/ws/cart/123", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}))
        head = c.read_response(head_only=True)
        assert head.status == 400
    finally:
        c.close()
    assert requests.get(server.url("/healthz"), timeout=5).status_code == 200


@pytest.mark.parametrize("path", NON_GET_ROUTES)
def test_head_of_a_route_without_get_is_405_with_allow(server, path):
    head, after, _ = head_then_get(server, path)
    assert head.status == 405
    assert "HEAD" not in head.header("Allow")
    assert after.status == 200


# --- files: only the web folder, and none when there is none ---------------------------------


@pytest.fixture
def lone_binary(tmp_path):
    """A copy of the binary in a folder with no web/ beside it or above it."""
    d = tmp_path / "opt" / "bin"
    d.mkdir(parents=True)
    b = d / "tablecart"
    shutil.copy2(BIN, b)
    return b


def test_without_a_web_folder_no_file_is_served_from_the_working_directory(
        start_server, lone_binary, tmp_path):
    work = tmp_path / "var"
    work.mkdir()
    (work / "secret.txt").write_text("do not serve", encoding="utf-8")
    (work / "index.html").write_text("<h1>not the page</h1>", encoding="utf-8")
    db = work / "tablecart.db"
    s = start_server(db=db, binary=lone_binary, cwd=work)
    for path in ("/tablecart.db", "/secret.txt", "/", "/index.html", "/etc/passwd"):
        r = requests.get(s.url(path), timeout=5)
        assert r.status_code == 404, (path, r.content[:100])
        assert r.json()["message"] == "文件不存在"  # a diner may meet it: Chinese
    # the API keeps working
    assert requests.get(s.url(CART), timeout=5).json()["data"]["version"] == 0
    assert "no web/ folder beside the binary" in s.stderr()


def test_started_from_root_without_a_web_folder_serves_no_system_file(start_server, lone_binary):
    s = start_server(binary=lone_binary, cwd="/")
    r = requests.get(s.url("/etc/passwd"), timeout=5)
    assert r.status_code == 404
    assert b"root:" not in r.content


def test_a_web_flag_that_is_not_a_folder_stops_the_start_with_status_2(tmp_path):
    import subprocess
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--store",
                        "sqlite:%s" % (tmp_path / "t.db"), "--web", str(tmp_path / "nope")],
                       capture_output=True, timeout=START_TIMEOUT, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TABLECART_AUTH="none"))
    assert p.returncode == 2
    assert p.stderr.decode().strip().endswith("--web %s: not a readable folder" % (tmp_path / "nope"))
    assert not (tmp_path / "t.db").exists()


def test_hidden_files_of_the_web_folder_are_not_served(start_server, tmp_path):
    site = tmp_path / "site"
    (site / ".git").mkdir(parents=True)
    (site / ".git" / "config").write_text("[core]", encoding="utf-8")
    (site / ".env").write_text("SECRET=1", encoding="utf-8")
    (site / "index.html").write_text("<h1>page</h1>", encoding="utf-8")
    s = start_server("--web", str(site))
    assert requests.get(s.url("/"), timeout=5).text == "<h1>page</h1>"
    for path in ("/.env", "/.git/config", "/%2egit/config"):
        r = requests.get(s.url(path), timeout=5)
        assert r.status_code == 404, path
