"""The diners' page and its assets (issue 4 point 4): served at / from --web DIR (default: the
repository's web/), with content types, caching headers and revalidation, and nothing outside
the folder."""

import pytest
import requests

from support import REPO, RawConn, http_request

WEB = REPO / "web"


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
