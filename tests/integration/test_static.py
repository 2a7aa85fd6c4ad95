"""The diners' page and its assets (issue 4 point 4): served at / from --web DIR (default: the
repository's web/), with content types, caching headers and revalidation, and nothing outside
the folder.

Every test runs twice: on openat2(2) (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), and on the
fallback src/http/static.c takes where openat2 fails ENOSYS (Linux before 5.6, a seccomp filter
without it), the server started under such a filter (no_openat2.py)."""

import pytest
import requests

from support import NO_OPENAT2, REPO, RawConn, ServerFactory, http_request

WEB = REPO / "web"


@pytest.fixture(params=["openat2", "no-openat2"])
def start_server(request, tmp_path):
    """conftest's start_server (and so its server), once as it is and once without openat2."""
    f = ServerFactory(tmp_path, launcher=NO_OPENAT2 if request.param == "no-openat2" else ())
    yield f
    f.finish()


def seccomp_filters(pid):
    status = open("/proc/%s/status" % pid, encoding="ascii").read()
    return [int(line.split()[1]) for line in status.splitlines()
            if line.startswith("Seccomp_filters:")]


def test_the_fallback_runs_under_the_filter_and_the_other_without(request, server):
    """The filter is there (no_openat2.py checks, before it execs the server, that openat2
    fails ENOSYS under it) in the server the fallback's tests run, and only there: one filter
    more than the tests' own process has (a container may have its own)."""
    ours = seccomp_filters("self")
    added = 1 if request.node.callspec.params["start_server"] == "no-openat2" else 0
    assert seccomp_filters(server.proc.pid) == [ours[0] + added]


def test_index_served_at_root_with_html_type_and_revalidation(server):
    r = requests.get(server.url("/?table=123"), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.content == (WEB / "index.html").read_bytes()
    etag = r.headers["ETag"]
    again = requests.get(server.url("/"), headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag


def test_if_none_match_is_read_as_a_list_for_files_as_for_the_cart(server):
    """A file's If-None-Match is read as the cart's is (RFC 9110's weak comparison): a list,
    "*", W/. It matched only the one exact tag (200 for each of these)."""
    etag = requests.get(server.url("/"), timeout=5).headers["ETag"]
    for value in ('"x", ' + etag, "*", "W/" + etag, '"x",%s , "y"' % etag):
        r = requests.get(server.url("/"), headers={"If-None-Match": value}, timeout=5)
        assert (r.status_code, r.content) == (304, b""), value
    for value in ('"x"', etag[:-1], etag + "x"):
        assert requests.get(server.url("/"), headers={"If-None-Match": value},
                            timeout=5).status_code == 200, value


@pytest.mark.parametrize("name,ctype", [
    ("app.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
])
def test_assets_have_their_type_and_an_hour_of_cache(server, name, ctype):
    r = requests.get(server.url("/" + name), timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ctype
    assert r.headers["Cache-Control"] == "public, max-age=3600"
    assert r.content == (WEB / name).read_bytes()


def test_head_gives_length_without_body(server):
    c = RawConn(server.port)
    try:
        c.send(http_request("HEAD", "/app.js"))
        resp = c.read_response(head_only=True)
        assert resp.status == 200
        assert int(resp.header("Content-Length")) == (WEB / "app.js").stat().st_size
        assert resp.body == b""
    finally:
        c.close()


def test_missing_file_is_404_envelope(server):
    r = requests.get(server.url("/no-such-file.js"), timeout=5)
    assert r.status_code == 404
    assert r.json() == {"code": 404, "success": False, "message": "文件不存在", "data": None}
    r = requests.get(server.url("/no-such-file.js"), headers={"Accept-Language": "en"}, timeout=5)
    assert r.json()["message"] == "file not found"


@pytest.mark.parametrize("path", ["/../Makefile", "/%2e%2e/Makefile", "/img/../../Makefile"])
def test_nothing_outside_the_web_folder(server, path):
    c = RawConn(server.port)
    try:
        c.send(http_request("GET", path))
        resp = c.read_response()
        assert resp.status == 400, resp
        assert resp.json()["message"] == "bad path"
    finally:
        c.close()


def test_web_flag_serves_another_folder(start_server, tmp_path):
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "index.html").write_text("<h1>other</h1>", encoding="utf-8")
    (site / "sub" / "index.html").write_text("<p>sub</p>", encoding="utf-8")
    (site / "logo.svg").write_text("<svg/>", encoding="utf-8")
    s = start_server("--web", str(site))
    r = requests.get(s.url("/"), timeout=5)
    assert (r.status_code, r.text) == (200, "<h1>other</h1>")
    r = requests.get(s.url("/sub/"), timeout=5)
    assert (r.status_code, r.text) == (200, "<p>sub</p>")
    r = requests.get(s.url("/sub"), timeout=5)
    assert (r.status_code, r.text) == (200, "<p>sub</p>")
    r = requests.get(s.url("/logo.svg"), timeout=5)
    assert r.headers["Content-Type"] == "image/svg+xml"
    # The API is still there under its prefix.
    assert requests.get(s.api("/store/order/cart/123"), timeout=5).status_code == 200


def test_no_symlink_below_the_web_folder_is_followed_and_a_fifo_is_not_waited_on(start_server,
                                                                                 tmp_path):
    """Found in review: a symlink in the web folder to a file or folder outside it, or to a
    hidden file in it, was served (open() follows links); and a FIFO put there blocked the
    event loop in open() — every client waited, and SIGTERM too. Now links below the folder
    are not followed and the open never waits: all 404, and the server serves on."""
    import os
    site, secret = tmp_path / "site", tmp_path / "secret"
    site.mkdir()
    secret.mkdir()
    (secret / "pw.txt").write_text("SECRET", encoding="utf-8")
    (site / ".env").write_text("HIDDEN", encoding="utf-8")
    (site / "ok.txt").write_text("fine", encoding="utf-8")
    os.symlink(secret / "pw.txt", site / "link.txt")
    os.symlink(secret, site / "dirlink")
    os.symlink(site / ".env", site / "env.txt")
    os.symlink("ok.txt", site / "rel.txt")
    os.mkfifo(site / "fifo.txt")
    s = start_server("--web", str(site))
    for path in ("/link.txt", "/dirlink/pw.txt", "/env.txt", "/rel.txt", "/fifo.txt", "/dirlink/"):
        r = requests.get(s.url(path), timeout=5)
        assert (r.status_code, r.json()["message"]) == (404, "文件不存在"), path
    r = requests.get(s.url("/ok.txt"), timeout=5)
    assert (r.status_code, r.text) == (200, "fine")
    assert requests.get(s.url("/healthz"), timeout=5).status_code == 200
    rc, err = s.stop()
    assert rc == 0, err


# src/http/static.h TC_STATIC_MAX_FILE: below the connection's 1 MiB write queue, so a file never
# waits there past the cap and gets cut off on a slow network (docs/web.md).
MAX_FILE = 983040


def test_files_up_to_the_limit_are_served_whole_and_larger_ones_are_404(start_server, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    at = bytes(range(256)) * (MAX_FILE // 256)
    assert len(at) == MAX_FILE
    (site / "at.bin").write_bytes(at)
    (site / "over.bin").write_bytes(at + b"x")
    s = start_server("--web", str(site))
    c = RawConn(s.port)
    try:
        c.send(http_request("GET", "/at.bin"))
        resp = c.read_response()
        assert (resp.status, resp.header("Content-Length"), resp.body == at) == \
            (200, str(MAX_FILE), True)
        for method in ("GET", "HEAD"):
            c.send(http_request(method, "/over.bin"))
            resp = c.read_response(head_only=method == "HEAD")
            assert resp.status == 404, resp
            if method == "GET":
                assert resp.json() == {"code": 404, "success": False, "message": "file not found",
                                       "data": None}
        # the connection stays usable
        c.send(http_request("HEAD", "/at.bin"))
        resp = c.read_response(head_only=True)
        assert (resp.status, resp.header("Content-Length")) == (200, str(MAX_FILE))
    finally:
        c.close()


def rename_exchange(a, b):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, str(a).encode(), -100, str(b).encode(), 2) != 0:  # RENAME_EXCHANGE
        raise OSError(ctypes.get_errno(), "renameat2(%s, %s)" % (a, b))


def test_without_openat2_a_folder_swapped_for_a_link_before_the_open_is_not_followed(tmp_path):
    """Found by this test: without openat2 the server checked the path (realpath: no link on the
    way) and then opened it by name again, following whatever was there by then; a folder of
    the site swapped for a symlink between the two served the file outside (here each time:
    the server's open of the file is held, and the folder swapped, by a seccomp supervisor).
    Now it opens one part at a time from the folder, none a link: what it checked is what it
    reads."""
    import os
    from no_openat2 import Supervisor
    site, secret = tmp_path / "site", tmp_path / "secret"
    (site / "d").mkdir(parents=True)
    secret.mkdir()
    (site / "d" / "pw.txt").write_text("fine", encoding="utf-8")
    (secret / "pw.txt").write_text("SECRET", encoding="utf-8")
    os.symlink(secret, site / "x")
    sup = Supervisor(tmp_path / "notify.sock")
    f = ServerFactory(tmp_path, launcher=NO_OPENAT2 + ("--notify-to", sup.path))
    try:
        s = f("--web", str(site))
        r = requests.get(s.url("/d/pw.txt"), timeout=5)
        assert (r.status_code, r.text, sup.ran) == (200, "fine", 0)
        held = sup.held
        sup.arm(lambda: rename_exchange(site / "d", site / "x"))
        r = requests.get(s.url("/d/pw.txt"), timeout=5)
        assert (sup.held - held, sup.ran, (site / "d").is_symlink()) == (1, 1, True)
        assert (r.status_code, r.text) == (200, "fine")
        # d is the link now: not followed.
        r = requests.get(s.url("/d/pw.txt"), timeout=5)
        assert (r.status_code, r.json()["message"]) == (404, "文件不存在")
    finally:
        f.finish()
    assert sup.errors == []
