"""HTTP layer (SPEC §2, §8): routing, methods, media types, size limits,
keep-alive, pipelining, HTTP/1.0, garbage, slow and vanishing clients,
timeouts, the API prefix, CORS, /healthz."""

import os
import re
import signal
import socket
import struct
import time

import pytest
import requests

from support import (DEV_LANG, IO_TIMEOUT, SCALE, RawConn, RawResponse, envelope, error, http_request,
                     raw_envelope)

ADD = "/store/order/cart/add"
ADD_BODY = b'{"tableId":123,"cuisineId":1001,"quantity":1}'
JSON_CT = {"Content-Type": "application/json"}


def status_line_ok(resp, status):
    assert resp.status == status, resp
    assert resp.version in ("HTTP/1.1", "HTTP/1.0")


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api", "/api/store/order/cart",
                                  "/api/store/order/cart/123/extra", "/api/store/order/menu",
                                  "/api/store/order/cartx/123", "/store/order/cart/123"])
def test_unknown_route_404(server, path):
    r = requests.get(server.url(path), timeout=IO_TIMEOUT)
    error(r, 404)


def test_unknown_route_post_404(server):
    r = requests.post(server.url("/api/nope"), json={}, timeout=IO_TIMEOUT)
    error(r, 404)


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/api/store/order/cart/add", "POST"),
    ("DELETE", "/api/store/order/cart/add", "POST"),
    ("POST", "/api/store/order/cart/update", "PUT"),
    ("PATCH", "/api/store/order/cart/update", "PUT"),
    ("PUT", "/api/store/order/cart/remove", "DELETE"),
    ("POST", "/api/store/order/cart/clear", "DELETE"),
    ("DELETE", "/api/store/order/cart/123", "GET"),
    ("POST", "/api/store/order/cart/123", "GET"),
    ("POST", "/api/store/order/menu/123", "GET"),
    ("POST", "/healthz", "GET"),
])
def test_wrong_method_405_with_allow(server, method, path, allowed):
    r = requests.request(method, server.url(path), json={"tableId": 123}, timeout=IO_TIMEOUT)
    error(r, 405)
    allow = [m.strip().upper() for m in r.headers.get("Allow", "").split(",")]
    assert allowed in allow, r.headers.get("Allow")
    assert method not in allow


# Every fixed path of SPEC §3 and the one method it takes.
FIXED_PATHS = {"/api/store/order/cart/add": "POST", "/api/store/order/cart/update": "PUT",
               "/api/store/order/cart/remove": "DELETE", "/api/store/order/cart/clear": "DELETE"}


@pytest.mark.parametrize("path,method", [
    (p, m) for p, ok in sorted(FIXED_PATHS.items())
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH") if m != ok])
def test_every_wrong_method_on_a_fixed_path_is_405_with_allow(shared_server, path, method):
    """A fixed path is never taken for cart/{tableId}: GET cart/add?tableId=123
    is 405, not a 400 about the table id. (A 405 changes nothing: one server.)"""
    r = requests.request(method, shared_server.url(path) + "?tableId=123",
                         headers={"Accept-Language": DEV_LANG}, timeout=IO_TIMEOUT)
    assert r.status_code == 405, (r.status_code, r.text[:200])
    assert [m.strip() for m in r.headers["Allow"].split(",")] == [FIXED_PATHS[path], "OPTIONS"]
    if method == "HEAD":
        assert r.content == b""
    else:
        error(r, 405, method, path)


def test_405_changes_nothing(server):
    requests.put(server.api(ADD), data=ADD_BODY, headers=JSON_CT, timeout=IO_TIMEOUT)
    assert server.cart(123)["version"] == 0


def test_healthz(server):
    r = requests.get(server.url("/healthz"), timeout=IO_TIMEOUT)
    assert r.status_code == 200


@pytest.mark.parametrize("target", ["http://example.com/api/store/order/cart/123?x=1",
                                    "HTTP://example.com:8080/api/store/order/cart/123",
                                    "https://127.0.0.1/api/store/order/cart/123"])
def test_absolute_form_target_is_accepted(server, target):
    """RFC 9112 §3.2.2: a server must accept a request target in absolute form."""
    server.add(123, 1001, 2)
    c = server.raw()
    try:
        c.send(http_request("GET", target))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
    finally:
        c.close()


def test_absolute_form_of_the_root_and_the_api_prefix(server):
    c = server.raw()
    try:
        c.send(http_request("GET", "http://example.com/healthz"))
        assert raw_envelope(c.read_response(), 200)["data"] == {"status": "up"}
        c.send(http_request("GET", "http://example.com"))
        resp = c.read_response()
        assert (resp.status, resp.header("Content-Type")) == (200, "text/html; charset=utf-8")
        c.send(http_request("POST", "http://example.com/api/store/order/cart/add",
                            {"Content-Type": "application/json"}, ADD_BODY))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
        c.send(http_request("GET", "http://example.com/nope"))
        assert raw_envelope(c.read_response(), 404)["message"] == "file not found"
    finally:
        c.close()


def test_percent_encoded_query(server):
    envelope(server.add(123, 1001, 1))
    r = requests.delete(server.api("/store/order/cart/remove") + "?tableId=%31%32%33&cuisineId=1001",
                        timeout=IO_TIMEOUT)
    assert envelope(r)["items"] == []


@pytest.mark.parametrize("path", ["/api/store/order/cart/%3123", "/api/store/order/cart/%31%32%33",
                                  "/%61pi/store/order/cart/123"])
def test_percent_encoded_path_segments_are_decoded(server, path):
    """/cart/%3123 is /cart/123 (RFC 3986 §2.1): the same cart, not a 400. (Raw: requests
    would decode the escapes itself.)"""
    envelope(server.add(123, 1001, 2))
    c = server.raw()
    try:
        c.send(http_request("GET", path))
        resp = c.read_response()
        d = raw_envelope(resp, 200)["data"]
        assert (d["tableId"], d["version"], resp.header("ETag")) == (123, 1, '"v1"')
    finally:
        c.close()


def test_percent_encoded_slash_or_bad_escape_stays_in_its_segment(server):
    c = server.raw()
    try:
        # 1%2F23 is one segment that is no table id; a malformed escape is refused as it is
        for path in ("/api/store/order/cart/1%2F23", "/api/store/order/cart/%zz"):
            c.send(http_request("GET", path))
            assert raw_envelope(c.read_response(), 400)["message"] == \
                "tableId must be a positive integer"
        # %2F does not make one segment two
        c.send(http_request("GET", "/api/store/order%2Fcart/123"))
        assert raw_envelope(c.read_response(), 404)["message"] == "file not found"
        # the live routes too
        c.send(http_request("HEAD", "/api/store/order/sse/%3123"))
        resp = c.read_response(head_only=True)
        assert (resp.status, resp.header("Content-Type")) == (200, "text/event-stream;charset=UTF-8")
    finally:
        c.close()


# --- media types and bodies ------------------------------------------------------------------


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx",
                                   "text/json", "application/+json", "text/vnd.x+json",
                                   "application/x+jsonx", "application/x+json/y"])
def test_post_not_json_is_415(server, ctype):
    headers = {} if ctype is None else {"Content-Type": ctype}
    r = requests.post(server.api(ADD), data=ADD_BODY, headers=headers, timeout=IO_TIMEOUT)
    error(r, 415)
    assert server.cart(123)["version"] == 0


def test_put_not_json_is_415(server):
    envelope(server.add(123, 1001, 1))
    r = requests.put(server.api("/store/order/cart/update"),
                     data=b'{"tableId":123,"cuisineId":1001,"quantity":5}',
                     headers={"Content-Type": "text/plain"}, timeout=IO_TIMEOUT)
    error(r, 415)
    assert server.cart(123)["items"][0]["quantity"] == 1


def test_delete_with_a_form_body(server):
    """A DELETE's parameters may come as a form body, as Spring read them (its form filter,
    for @RequestParam): jQuery's $.ajax({type: 'DELETE', data: {...}}) and mini-programs that
    set the form type on every request send them so. The query string wins; a POST or PUT
    form stays 415."""
    form = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    for dish in (1001, 1002):
        envelope(server.add(123, dish, 1))
    envelope(server.add(124, 1001, 1))
    r = requests.delete(server.api("/store/order/cart/remove"), data=b"tableId=123&cuisineId=1001",
                        headers=form, timeout=IO_TIMEOUT)
    data = envelope(r)
    assert [i["cuisineId"] for i in data["items"]] == [1002] and data["version"] == 3
    # the query string's tableId wins over the body's
    r = requests.delete(server.api("/store/order/cart/clear?tableId=124"), data=b"tableId=123",
                        headers=form, timeout=IO_TIMEOUT)
    assert envelope(r)["tableId"] == 124 and server.cart(124)["items"] == []
    assert server.cart(123)["version"] == 3
    # escapes are read as in a query string; a malformed one is named
    r = requests.delete(server.api("/store/order/cart/clear"), data=b"table%49d=123",
                        headers=form, timeout=IO_TIMEOUT)
    assert envelope(r)["items"] == [] and server.cart(123)["version"] == 4
    r = requests.delete(server.api("/store/order/cart/clear"), data=b"tableId=%zz",
                        headers=form, timeout=IO_TIMEOUT)
    assert error(r, 400) == "表单参数“tableId”的转义有误"  # Chinese: no Accept-Language
    r = requests.delete(server.api("/store/order/cart/clear"), data=b"cuisineId=1",
                        headers=form, timeout=IO_TIMEOUT)
    assert error(r, 400) == "缺少桌号"
    r = requests.put(server.api("/store/order/cart/update"), data=b"tableId=123&cuisineId=1002&quantity=5",
                     headers=form, timeout=IO_TIMEOUT)
    error(r, 415)
    assert server.cart(123)["version"] == 4


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8",
                                   "application/json;charset=UTF-8", "Application/JSON",
                                   "application/vnd.api+json", "application/merge-patch+json",
                                   "Application/Problem+JSON; charset=utf-8"])
def test_json_content_types_accepted(server, ctype):
    """application/json, and application/*+json as Spring's Jackson converter took it."""
    r = requests.post(server.api(ADD), data=ADD_BODY, headers={"Content-Type": ctype},
                      timeout=IO_TIMEOUT)
    assert envelope(r)["version"] == 1


def test_body_with_a_utf8_byte_order_mark_is_read(server):
    """Jackson, the original's reader of bodies, skipped a UTF-8 BOM: a .NET client that
    writes its body through a StreamWriter with Encoding.UTF8 (or curl -d @file of a file
    saved by Notepad) sends one, and got 200 there. Only one mark, at the very start."""
    r = requests.post(server.api(ADD), data=b"\xef\xbb\xbf" + ADD_BODY, headers=JSON_CT,
                      timeout=IO_TIMEOUT)
    assert envelope(r)["version"] == 1
    r = requests.delete(server.api("/store/order/cart/clear"), data=b'\xef\xbb\xbf{"tableId":123}',
                        headers=JSON_CT, timeout=IO_TIMEOUT)
    assert envelope(r)["items"] == []
    for bad in (b"\xef\xbb\xbf\xef\xbb\xbf" + ADD_BODY, b" \xef\xbb\xbf" + ADD_BODY):
        r = requests.post(server.api(ADD), data=bad, headers={**JSON_CT, "Accept-Language": "en"},
                          timeout=IO_TIMEOUT)
        assert error(r, 400) == "request body is not valid JSON"
    assert server.cart(123)["version"] == 2


def test_invalid_json_400(server):
    r = requests.post(server.api(ADD), data=b'{"tableId":123,', headers=JSON_CT, timeout=IO_TIMEOUT)
    error(r, 400)


def padded(size):
    """A valid add body of exactly size bytes (padded with spaces)."""
    pad = size - len(ADD_BODY)
    assert pad >= 0
    return ADD_BODY[:-1] + b" " * pad + b"}"


def test_body_at_64k_accepted(server):
    b = padded(65536)
    assert len(b) == 65536
    r = requests.post(server.api(ADD), data=b, headers=JSON_CT, timeout=IO_TIMEOUT)
    assert envelope(r)["version"] == 1


def test_body_over_64k_is_413(server):
    b = padded(65537)
    r = requests.post(server.api(ADD), data=b, headers=JSON_CT, timeout=IO_TIMEOUT)
    error(r, 413)
    assert server.cart(123)["version"] == 0


def test_huge_declared_body_answered_without_reading_it(server):
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD,
                            {"Content-Type": "application/json", "Content-Length": "100000000"}))
        resp = c.read_response()
        raw_envelope(resp, 413)
    finally:
        c.close()
    assert server.cart(123)["version"] == 0


@pytest.mark.parametrize("head, status", [
    (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413),
    (b"HEAD /healthz HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nIf-None-Match : x\r\n\r\n", 400),
])
def test_a_head_refused_while_it_arrives_gets_no_body(server, head, status):
    """A HEAD is answered with the status and headers a GET would get, never a body (SPEC §2),
    also when it is refused before it was read whole: the connection closes right after the
    head, with nothing after it."""
    c = server.raw()
    try:
        c.send(head)
        resp = c.read_response(head_only=True)
        assert resp.status == status
        assert int(resp.header("content-length")) > 0  # what a GET's refusal would carry
        assert resp.header("connection") == "close"
        assert c.wait_closed() == b""
    finally:
        c.close()


def test_connect_is_answered_and_closed_its_body_never_read_as_a_request(server):
    """http-parser ends a CONNECT at its head whatever body it declares: the bytes after it are
    not HTTP. It is answered with Connection: close and nothing after it is read as a request
    (a request smuggled in a CONNECT's body through a proxy that forwards it)."""
    inner = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    c = server.raw()
    try:
        c.send(b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
               % (len(inner), inner))
        resp = c.read_response()
        assert resp.status == 404
        assert resp.header("connection") == "close"
        assert c.wait_closed() == b""
    finally:
        c.close()


def test_chunked_body_accepted(server):
    c = server.raw()
    try:
        chunks = [ADD_BODY[:10], ADD_BODY[10:]]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in chunks) + b"0\r\n\r\n"
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Transfer-Encoding": "chunked"}) + payload)
        resp = c.read_response()
        assert raw_envelope(resp, 200)["data"]["version"] == 1
    finally:
        c.close()


def test_chunked_body_over_64k_is_413(server):
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Transfer-Encoding": "chunked"}))
        piece = b" " * 8192
        try:
            for _ in range(9):
                c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before taking it all
        resp = c.read_response()
        raw_envelope(resp, 413)
    finally:
        c.close()
    assert server.cart(123)["version"] == 0


def test_expect_100_continue_with_the_body_sent_at_once_gets_the_answer(server):
    """The body came with the head: no interim answer, the 200 is the first."""
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Expect": "100-continue"}, ADD_BODY))
        resp = c.read_response()
        assert raw_envelope(resp, 200)["data"]["version"] == 1
        assert c.buf == b""
    finally:
        c.close()


@pytest.mark.parametrize("expect", ["100-continue", "100-Continue"])
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_expect_100_continue_waits_for_100_before_the_body(server, expect, chunked):
    """RFC 9110 §10.1.1: a client that sends the head alone gets 100 Continue, then its answer."""
    c = server.raw()
    try:
        framing = ({"Transfer-Encoding": "chunked"} if chunked
                   else {"Content-Length": str(len(ADD_BODY))})
        c.send(http_request("POST", "/api" + ADD, dict({"Content-Type": "application/json",
                                                        "Expect": expect}, **framing)))
        interim = c.read_response()
        assert (interim.version, interim.status, interim.reason, interim.header_list) == \
            ("HTTP/1.1", 100, "Continue", [])
        assert c.buf == b""
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(ADD_BODY), ADD_BODY) if chunked else ADD_BODY)
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
        # the next request on the connection is an ordinary one
        c.send(http_request("GET", "/api/store/order/cart/123"))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
    finally:
        c.close()


def test_expect_100_continue_of_http10_is_ignored(server):
    """RFC 9110 §10.1.1: an HTTP/1.0 request's expectation is ignored."""
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Expect": "100-continue",
                                                   "Content-Length": str(len(ADD_BODY))},
                            version="HTTP/1.0"))
        # The loop read that head no later than this request sent after it, and would have
        # written its 100 Continue at once: once this is answered, nothing is waiting on c.
        assert requests.get(server.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200
        c.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            c.sock.recv(1)
        c.sock.setblocking(True)
        c.sock.settimeout(IO_TIMEOUT)
        c.send(ADD_BODY)
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
        assert c.wait_closed() == b""
    finally:
        c.close()


def test_expect_100_continue_with_a_declared_body_over_64k_is_413_at_once(server):
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Expect": "100-continue",
                                                   "Content-Length": "65537"}))
        raw_envelope(c.read_response(), 413)
        assert c.wait_closed() == b""
    finally:
        c.close()


# --- head limits ------------------------------------------------------------------------------


def test_head_under_16k_ok(server):
    c = server.raw()
    try:
        c.send(http_request("GET", "/api/store/order/cart/123", {"X-Pad": "a" * (15 * 1024)}))
        raw_envelope(c.read_response(), 200)
    finally:
        c.close()


def test_head_over_16k_is_431(server):
    c = server.raw()
    try:
        try:
            c.send(http_request("GET", "/api/store/order/cart/123", {"X-Pad": "a" * (17 * 1024)}))
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw_envelope(c.read_response(), 431)
    finally:
        c.close()
    assert requests.get(server.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200


def test_many_headers_over_16k_is_431(server):
    c = server.raw()
    headers = [("X-H%d" % i, "v" * 100) for i in range(200)]
    try:
        try:
            c.send(http_request("GET", "/api/store/order/cart/123", headers))
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw_envelope(c.read_response(), 431)
    finally:
        c.close()


# What the 16 KiB head limit counts (docs/memory.md, "Hostile clients"): the
# request target, and per header its name, its value (without the spaces after
# the colon) and 68 (its ": " and CRLF, and 64 for the two records the parser
# keeps for it, which bound a head's memory however small its headers are).
HEAD_LIMIT = 16 * 1024
HEADER_COST = 4 + 64


def head_cost(target, headers):
    return len(target) + sum(len(n) + len(v) + HEADER_COST for n, v in headers)


def head_status(server, target, headers):
    """The status of GET target with exactly these header lines."""
    raw = ("GET %s HTTP/1.1\r\n" % target + "".join("%s: %s\r\n" % h for h in headers) +
           "\r\n").encode()
    c = server.raw()
    try:
        try:
            c.send(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return c.read_response().status, len(raw)
    finally:
        c.close()


def test_head_limit_boundary_exact(server):
    host = [("Host", "127.0.0.1")]
    # One long header: the largest value accepted, and one byte more.
    pad = HEAD_LIMIT - head_cost("/healthz", host + [("X-Pad", "")])
    fits = host + [("X-Pad", "a" * pad)]
    assert head_cost("/healthz", fits) == HEAD_LIMIT
    assert head_status(server, "/healthz", fits) == (200, 16273)  # bytes on the wire
    assert head_status(server, "/healthz", host + [("X-Pad", "a" * (pad + 1))])[0] == 431
    # The same in the target: one byte more of it is refused too.
    target = "/healthz?" + "q" * (pad + len("X-Pad") + HEADER_COST - 1)
    assert head_cost(target, host) == HEAD_LIMIT
    assert head_status(server, target, host)[0] == 200
    assert head_status(server, target + "q", host)[0] == 431
    # Many empty headers ("A: " and CRLF, 5 bytes on the wire each, 69 counted): 236 fit, the
    # 237th is refused with 1,227 bytes on the wire.
    many = host + [("A", "")] * 236
    assert head_cost("/healthz", many) == HEAD_LIMIT - 11
    assert head_status(server, "/healthz", many) == (200, 1222)
    assert head_status(server, "/healthz", many + [("A", "")]) == (431, 1227)
    assert requests.get(server.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200


def test_long_url_refused(server):
    c = server.raw()
    try:
        try:
            c.send(http_request("GET", "/api/store/order/cart/123?x=" + "a" * (17 * 1024)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = c.read_response()
        assert resp.status in (414, 431), resp
        raw_envelope(resp, resp.status)
    finally:
        c.close()


# --- connections ------------------------------------------------------------------------------


def test_keep_alive_sequential(server):
    c = server.raw()
    try:
        c.send(http_request("GET", "/api/store/order/cart/123"))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 0
        c.send(http_request("POST", "/api" + ADD, JSON_CT, ADD_BODY))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
        c.send(http_request("GET", "/api/store/order/cart/124"))
        assert raw_envelope(c.read_response(), 200)["data"]["tableNumber"] == "A02"
        c.send(http_request("GET", "/api/nope"))
        raw_envelope(c.read_response(), 404)
        c.send(http_request("GET", "/api/store/order/cart/123"))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
    finally:
        c.close()


def test_pipelined_requests_answered_in_order(server):
    c = server.raw()
    try:
        reqs = (http_request("POST", "/api" + ADD, JSON_CT, ADD_BODY)
                + http_request("GET", "/api/store/order/cart/124")
                + http_request("GET", "/api/store/order/cart/99999")
                + http_request("POST", "/api" + ADD, JSON_CT, ADD_BODY)
                + http_request("GET", "/api/store/order/cart/123"))
        c.send(reqs)
        r1, r2, r3, r4, r5 = (c.read_response() for _ in range(5))
        assert raw_envelope(r1, 200)["data"]["version"] == 1
        assert raw_envelope(r2, 200)["data"]["tableId"] == 124
        raw_envelope(r3, 404)
        assert raw_envelope(r4, 200)["data"]["version"] == 2
        d = raw_envelope(r5, 200)["data"]
        assert d["version"] == 2 and d["items"][0]["quantity"] == 2
    finally:
        c.close()


def test_http10_closes(server):
    c = server.raw()
    try:
        c.send(b"GET /api/store/order/cart/123 HTTP/1.0\r\n\r\n")
        resp = c.read_response()
        raw_envelope(resp, 200)
        assert c.wait_closed() == b""
    finally:
        c.close()


def test_http10_keep_alive(server):
    c = server.raw()
    try:
        req = b"GET /api/store/order/cart/123 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        c.send(req)
        r1 = c.read_response()
        raw_envelope(r1, 200)
        assert r1.header("content-length") is not None
        c.send(req)
        raw_envelope(c.read_response(), 200)
    finally:
        c.close()


def test_http11_connection_close(server):
    c = server.raw()
    try:
        c.send(http_request("GET", "/api/store/order/cart/123", {"Connection": "close"}))
        raw_envelope(c.read_response(), 200)
        assert c.wait_closed() == b""
    finally:
        c.close()


@pytest.mark.parametrize("garbage", [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /api/store/order/cart/123 HTTX/1.1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",
    b"GET /api/store/order/cart/123 HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"POST /api/store/order/cart/add HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
], ids=["word", "no-target", "bad-version", "tls-hello", "bad-header", "bad-content-length"])
def test_garbage_gets_400_and_close(server, garbage):
    c = server.raw()
    try:
        c.send(garbage)
        got = c.wait_closed()
        assert got.startswith(b"HTTP/1.1 400") or got.startswith(b"HTTP/1.0 400"), got[:100]
    finally:
        c.close()
    assert requests.get(server.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200
    assert server.cart(123)["version"] == 0


def test_whitespace_after_a_header_value_is_not_part_of_it(server):
    """RFC 9110 §5.5: `If-Match: "v0" ` is `"v0"`, `X-User-Id: 5\t` is 5."""
    c = server.raw()
    try:
        c.send(http_request("POST", "/api" + ADD, [("Content-Type", "application/json "),
                                                   ("If-Match", '"v0" '),
                                                   ("X-User-Id", "5 \t")], ADD_BODY))
        d = raw_envelope(c.read_response(), 200)["data"]
        assert (d["version"], d["items"][0]["addUserId"]) == (1, 5)
        # the same stale version with and without trailing whitespace: the same 409
        for value in ('"v0"', '"v0" ', '"v0"\t'):
            c.send(http_request("POST", "/api" + ADD, [("Content-Type", "application/json"),
                                                       ("If-Match", value)], ADD_BODY))
            body = raw_envelope(c.read_response(), 409)
            assert body["message"] == "version conflict: cart is at version 1", body
    finally:
        c.close()
    assert server.cart(123)["version"] == 1


@pytest.mark.parametrize("line", [b'If-None-Match : "v0"', b"X-User-Id : 5", b"X-User Id: 5"],
                         ids=["space-before-colon", "user-id-space-before-colon", "space-inside"])
def test_header_name_with_whitespace_is_400_and_close(server, line):
    """RFC 9112 §5.1: whitespace in a field name is refused, not taken as another name."""
    c = server.raw()
    try:
        c.send(b"GET /api/store/order/cart/123 HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n")
        resp = c.read_response()
        body = raw_envelope(resp, 400)
        assert body == {"code": 400, "success": False, "message": "请求格式有误", "data": None}
        assert resp.header("Connection") == "close"
        assert c.wait_closed() == b""
    finally:
        c.close()


def test_one_byte_at_a_time(server):
    c = server.raw()
    try:
        req = http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                  "X-User-Id": "7"}, ADD_BODY)
        for i in range(len(req)):
            c.send(req[i:i + 1])
            time.sleep(0.001)  # pacing, so the server sees separate reads
        d = raw_envelope(c.read_response(), 200)["data"]
        assert d["version"] == 1 and d["items"][0]["addUserId"] == 7
        # and the connection is still good for a normal request
        c.send(http_request("GET", "/api/store/order/cart/123"))
        assert raw_envelope(c.read_response(), 200)["data"]["version"] == 1
    finally:
        c.close()


def test_half_head_is_cut_off_after_request_timeout(start_server):
    s = start_server("--request-timeout", "1")
    c = s.raw(timeout=IO_TIMEOUT)
    try:
        t0 = time.monotonic()
        c.send(b"GET /api/store/order/cart/123 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # others are served meanwhile
        assert requests.get(s.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200
        got = c.wait_closed(timeout=10 * SCALE)
        elapsed = time.monotonic() - t0
        assert got == b"" or got.startswith(b"HTTP/1.1 408") or got.startswith(b"HTTP/1.0 408"), got
        assert elapsed >= 0.8, "cut off after %.2fs, before the 1 s timeout" % elapsed
        assert elapsed < 8 * SCALE
    finally:
        c.close()
    assert requests.get(s.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200


def test_stalled_body_is_cut_off_after_request_timeout(start_server):
    s = start_server("--request-timeout", "1")
    c = s.raw(timeout=IO_TIMEOUT)
    try:
        t0 = time.monotonic()
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Content-Length": str(len(ADD_BODY))})
               + ADD_BODY[:10])
        got = c.wait_closed(timeout=10 * SCALE)
        elapsed = time.monotonic() - t0
        assert got == b"" or got.startswith(b"HTTP/1.1 408") or got.startswith(b"HTTP/1.0 408"), got
        assert 0.8 <= elapsed < 8 * SCALE
    finally:
        c.close()
    assert s.cart(123)["version"] == 0


def test_request_timeout_does_not_cut_a_complete_exchange(start_server):
    s = start_server("--request-timeout", "1")
    c = s.raw()
    try:
        c.send(http_request("GET", "/api/store/order/cart/123"))
        raw_envelope(c.read_response(), 200)
    finally:
        c.close()


def abort(sock):
    """Closes with RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_clients_vanishing_mid_request(server):
    for i in range(10):
        c = RawConn(server.port)
        c.send(b"POST /api/store/order/cart/add HTTP/1.1\r\nHost: x\r\nContent-Le")
        (abort(c.sock) if i % 2 else c.close())
        c = RawConn(server.port)
        c.send(http_request("POST", "/api" + ADD, {"Content-Type": "application/json",
                                                   "Content-Length": str(len(ADD_BODY))})
               + ADD_BODY[:20])
        (abort(c.sock) if i % 2 else c.close())
        c = RawConn(server.port)
        # a whole request, gone before the answer can be written
        c.send(http_request("POST", "/api" + ADD, JSON_CT, ADD_BODY))
        abort(c.sock)
    # the server still serves, and every complete add it read was applied once
    r = requests.get(server.url("/healthz"), timeout=IO_TIMEOUT)
    assert r.status_code == 200
    d = server.cart(123)
    assert 0 <= d["version"] <= 10
    if d["items"]:
        assert d["items"][0]["quantity"] == d["version"]
    d2 = envelope(server.add(123, 1002, 1))
    assert d2["version"] == d["version"] + 1


def test_many_connections_at_once(server):
    conns = [RawConn(server.port) for _ in range(50)]
    try:
        for c in conns:
            c.send(http_request("GET", "/api/store/order/cart/123"))
        for c in conns:
            raw_envelope(c.read_response(), 200)
    finally:
        for c in conns:
            c.close()


# --- prefix --------------------------------------------------------------------------------


def test_api_prefix_moves_routes(start_server):
    s = start_server("--api-prefix", "/v2", prefix="/v2")
    r = requests.get(s.url("/v2/store/order/cart/123"), timeout=IO_TIMEOUT)
    assert envelope(r)["tableNumber"] == "A01"
    error(requests.get(s.url("/api/store/order/cart/123"), timeout=IO_TIMEOUT), 404)
    r = requests.post(s.url("/v2/store/order/cart/add"), data=ADD_BODY, headers=JSON_CT,
                      timeout=IO_TIMEOUT)
    assert envelope(r)["version"] == 1
    assert envelope(requests.get(s.url("/v2/store/order/menu/123"),
                                 timeout=IO_TIMEOUT))["table"]["tableId"] == 123
    assert requests.get(s.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200


# --- CORS ----------------------------------------------------------------------------------


def preflight(s, origin, method="POST", req_headers="content-type, if-match, idempotency-key"):
    return requests.options(s.api(ADD), headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": req_headers}, timeout=IO_TIMEOUT)


def header_set(value):
    return {x.strip().lower() for x in (value or "").split(",") if x.strip()}


def test_cors_preflight_listed_origin(start_server):
    s = start_server("--cors-origin", "http://a.example")
    r = preflight(s, "http://a.example")
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers.get("Access-Control-Allow-Origin") == "http://a.example"
    methods = header_set(r.headers.get("Access-Control-Allow-Methods"))
    assert {"get", "post", "put", "delete"} <= methods, methods
    allowed = header_set(r.headers.get("Access-Control-Allow-Headers"))
    for h in ("content-type", "if-match", "if-none-match", "idempotency-key", "x-user-id",
              "x-user-phone", "authorization"):
        assert h in allowed, (h, allowed)
    assert "origin" in header_set(r.headers.get("Vary"))


def test_cors_preflight_on_other_routes(start_server):
    s = start_server("--cors-origin", "http://a.example")
    for path in ("/store/order/cart/update", "/store/order/cart/remove", "/store/order/cart/123"):
        r = requests.options(s.api(path), headers={"Origin": "http://a.example",
                                                   "Access-Control-Request-Method": "PUT"},
                             timeout=IO_TIMEOUT)
        assert r.status_code == 204, path
        assert r.headers.get("Access-Control-Allow-Origin") == "http://a.example"


def test_cors_other_origin_gets_nothing(start_server):
    s = start_server("--cors-origin", "http://a.example")
    r = preflight(s, "http://b.example")
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Methods" not in r.headers
    r = s.get_cart(123, headers={"Origin": "http://b.example"})
    envelope(r)
    assert "Access-Control-Allow-Origin" not in r.headers
    r = s.get_cart(123, headers={"Origin": "http://a.example.evil"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_normal_responses_carry_acao_and_vary(start_server):
    s = start_server("--cors-origin", "http://a.example")
    o = {"Origin": "http://a.example"}
    r = s.get_cart(123, headers=o)
    envelope(r)
    assert r.headers.get("Access-Control-Allow-Origin") == "http://a.example"
    assert "origin" in header_set(r.headers.get("Vary"))
    r = s.add(123, 1001, 1, headers=o)
    envelope(r)
    assert r.headers.get("Access-Control-Allow-Origin") == "http://a.example"
    r = s.add(123, 1020, 1, headers=o)  # an error a page must be able to read
    error(r, 400)
    assert r.headers.get("Access-Control-Allow-Origin") == "http://a.example"
    # no Origin: no ACAO
    r = s.get_cart(123)
    assert "Access-Control-Allow-Origin" not in r.headers


EXPOSED = "ETag, Retry-After"


def cors_of(resp):
    """The CORS headers of an answer (a requests.Response or a RawResponse), by name."""
    get = resp.header if isinstance(resp, RawResponse) else resp.headers.get
    return {k: get(k) for k in ("Access-Control-Allow-Origin", "Vary",
                                "Access-Control-Expose-Headers")}


A_CORS = {"Access-Control-Allow-Origin": "http://a.example", "Vary": "Origin",
          "Access-Control-Expose-Headers": EXPOSED}
# With --cors-origin, an answer to no Origin or another one: Vary only (a shared cache must not
# hand it to a listed origin's request, nor the listed one's to others).
NO_CORS = {"Access-Control-Allow-Origin": None, "Vary": "Origin",
           "Access-Control-Expose-Headers": None}
# Without --cors-origin: nothing at all.
CORS_OFF = {"Access-Control-Allow-Origin": None, "Vary": None,
            "Access-Control-Expose-Headers": None}


def test_cors_answers_expose_etag_and_retry_after(start_server):
    """A page reads ETag (for If-Match / If-None-Match) and a 429's Retry-After only when the
    actual answer exposes them; the preflight's list counts for nothing."""
    s = start_server("--cors-origin", "http://a.example", env={"TABLECART_RATE_CHANGES": "1"})
    o = {"Origin": "http://a.example"}
    r = s.get_cart(123, headers=o)
    envelope(r)
    assert (r.headers["ETag"], cors_of(r)) == ('"v0"', A_CORS)
    r = s.get_cart(123, headers=dict(o, **{"If-None-Match": '"v0"'}))
    assert (r.status_code, r.headers["ETag"], cors_of(r)) == (304, '"v0"', A_CORS)
    # 1 change/s per caller and table, burst 2: the third is a 429 the page can read
    got = [s.add(123, 1001, 1, headers=o) for _ in range(3)]
    assert [r.status_code for r in got] == [200, 200, 429]
    assert (got[2].headers["Retry-After"], cors_of(got[2])) == ("1", A_CORS)
    r = preflight(s, "http://a.example")
    assert (r.status_code, cors_of(r)) == (204, A_CORS)
    # other origins, and no Origin at all: nothing
    assert cors_of(s.get_cart(123, headers={"Origin": "http://b.example"})) == NO_CORS
    assert cors_of(s.get_cart(123)) == NO_CORS


def refused_after_the_head(s, request, origin, send_more=b""):
    """Sends a request refused once its head is read; returns the answer (the connection is
    closed after it)."""
    c = s.raw()
    try:
        c.send(request)
        try:
            if send_more:
                c.send(send_more)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before taking it all
        resp = c.read_response()
        assert resp.header("Connection") == "close"
        return resp
    finally:
        c.close()


@pytest.mark.parametrize("origin,want", [("http://a.example", A_CORS),
                                         ("http://b.example", NO_CORS)], ids=["listed", "other"])
def test_cors_on_answers_refused_after_the_head(start_server, origin, want):
    """413, 505 and a malformed chunked body are answered once the head, with its Origin, was
    read: a listed page gets the CORS headers and can read the answer instead of a network
    error."""
    s = start_server("--cors-origin", "http://a.example")
    hs = {"Content-Type": "application/json", "Origin": origin}
    # a declared body over 64 KiB
    resp = refused_after_the_head(s, http_request("POST", "/api" + ADD,
                                                  dict(hs, **{"Content-Length": "65537"})), origin)
    assert (resp.status, raw_envelope(resp, 413)["message"],
            cors_of(resp)) == (413, "request body is larger than the limit", want)
    # a chunked body that grows past 64 KiB
    piece = b" " * 8192
    resp = refused_after_the_head(
        s, http_request("POST", "/api" + ADD, dict(hs, **{"Transfer-Encoding": "chunked"})),
        origin, b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(9)))
    assert (resp.status, cors_of(resp)) == (413, want)
    # a malformed chunk after the head
    resp = refused_after_the_head(
        s, http_request("POST", "/api" + ADD, dict(hs, **{"Transfer-Encoding": "chunked"}))
        + b"zz\r\n", origin)
    assert (resp.status, raw_envelope(resp, 400)["message"],
            cors_of(resp)) == (400, "malformed HTTP request", want)
    # an HTTP version we do not speak
    resp = refused_after_the_head(s, http_request("GET", "/api/store/order/cart/123", hs,
                                                  version="HTTP/1.2"), origin)
    assert (resp.status, cors_of(resp)) == (505, want)


def test_cors_not_on_a_request_refused_before_its_head_was_read(start_server):
    s = start_server("--cors-origin", "http://a.example")
    resp = refused_after_the_head(s, b"GET /api/store/order/cart/123 HTTP/1.1\r\n"
                                     b"Origin: http://a.example\r\nBad Header\r\n\r\n", None)
    assert (resp.status, cors_of(resp)) == (400, NO_CORS)


def test_cors_on_a_forwarded_client_refused_at_its_request(start_server):
    """From a trusted proxy the client's limits are checked once its head is read: its 429 is
    readable by a listed page."""
    s = start_server("--cors-origin", "http://a.example",
                     env={"TABLECART_EXEMPT_LOOPBACK": "no", "TABLECART_MAX_CONNS_PER_IP": "1",
                          "TABLECART_RATE_CONNS": "0", "TABLECART_TRUSTED_PROXY": "127.0.0.1/32"})
    hs = {"X-Forwarded-For": "203.0.113.5", "Origin": "http://a.example"}
    held = s.raw()
    try:
        held.send(http_request("GET", "/healthz", hs))
        assert held.read_response().status == 200
        resp = refused_after_the_head(s, http_request("GET", "/healthz", hs), None)
        assert (resp.status, resp.header("Retry-After"), cors_of(resp)) == \
            (429, "1", A_CORS)
    finally:
        held.close()


def test_cors_several_origins(start_server):
    s = start_server("--cors-origin", "http://a.example", "--cors-origin", "https://b.example:8443")
    for origin in ("http://a.example", "https://b.example:8443"):
        r = preflight(s, origin)
        assert r.status_code == 204
        assert r.headers.get("Access-Control-Allow-Origin") == origin
    assert "Access-Control-Allow-Origin" not in preflight(s, "http://c.example").headers


def test_no_cors_by_default(server):
    r = server.get_cart(123, headers={"Origin": "http://a.example"})
    envelope(r)
    assert cors_of(r) == CORS_OFF
    r = preflight(server, "http://a.example")
    assert cors_of(r) == CORS_OFF
    assert cors_of(requests.get(server.url("/app.js"), timeout=IO_TIMEOUT)) == CORS_OFF


def test_cors_vary_origin_on_answers_without_a_listed_origin(start_server):
    """With --cors-origin, whether an answer carries Access-Control-Allow-Origin depends on the
    request's Origin, so every answer says Vary: Origin (Fetch, "CORS protocol and HTTP
    caches"): else a shared cache could hand the copy made for a request without Origin (a
    static file is Cache-Control: public) to a listed page's request, which then fails."""
    s = start_server("--cors-origin", "http://a.example")
    r = requests.get(s.url("/app.js"), timeout=IO_TIMEOUT)
    assert (r.status_code, r.headers["Cache-Control"], cors_of(r)) == \
        (200, "public, max-age=3600", NO_CORS)
    r = requests.get(s.url("/app.js"), headers={"Origin": "http://a.example"}, timeout=IO_TIMEOUT)
    assert (r.status_code, cors_of(r)) == (200, A_CORS)
    r = s.get_cart(123)
    envelope(r)
    assert cors_of(r) == NO_CORS
    r = s.add(123, 1020, 1)  # an error too
    assert (r.status_code, cors_of(r)) == (400, NO_CORS)
    r = preflight(s, "http://b.example")
    assert (r.status_code, cors_of(r)) == (204, NO_CORS)


def test_idle_keep_alive_closed_after_idle_timeout(start_server):
    s = start_server("--idle-timeout", "1")
    c = s.raw()
    try:
        # Timed from before the request: the idle timeout runs from the server's answer, which a
        # reader held up by a busy machine sees late (t0 after reading it made "elapsed" short).
        t0 = time.monotonic()
        c.send(http_request("GET", "/api/store/order/cart/123"))
        raw_envelope(c.read_response(), 200)
        assert c.wait_closed(timeout=10 * SCALE) == b""
        elapsed = time.monotonic() - t0
        assert 0.8 <= elapsed < 8 * SCALE, elapsed
    finally:
        c.close()


def test_request_sent_in_time_to_a_stopped_server_is_answered_not_closed(start_server):
    """A keep-alive client's request sent well inside --idle-timeout, while the server's
    process was stopped (SIGSTOP, a stalled host) past that timeout: on resume the idle
    deadline came first (timers run before reads) and closed the connection with the request
    unread and unanswered. The bytes that wait are read first now."""
    s = start_server("--idle-timeout", "2")
    c = s.raw()
    try:
        c.send(http_request("GET", "/api/store/order/cart/123"))
        raw_envelope(c.read_response(), 200)
        answered = time.monotonic()
        os.kill(s.proc.pid, signal.SIGSTOP)
        try:
            c.send(http_request("GET", "/healthz"))  # 2 s of idle still ahead
            # The server, stopped, lives through its idle deadline: time itself is awaited.
            time.sleep(max(0.0, answered + 3.0 - time.monotonic()))
        finally:
            os.kill(s.proc.pid, signal.SIGCONT)
        assert c.read_response().status == 200
        # Idle again, it is closed after its idle timeout as usual.
        assert c.wait_closed(timeout=10 * SCALE) == b""
    finally:
        c.close()


def _answers(server):
    """tablecart_http_requests_total by (method, code), from /metrics."""
    text = requests.get(server.url("/metrics"), timeout=5).text
    out = {}
    for m in re.finditer(r'^tablecart_http_requests_total\{method="([^"]*)",code="(\d+)"\} (\d+)$',
                         text, re.M):
        out[(m.group(1), int(m.group(2)))] = int(m.group(3))
    return out


def test_every_answer_is_counted_in_metrics_including_routing_and_parse_errors(server):
    """404 (no route, no file), 405, 400 (bad request line), a static file, a
    stream and a WebSocket handshake all reach tablecart_http_requests_total,
    each under its method and status."""
    before = _answers(server)
    # the /metrics read above is itself counted once it is answered
    assert requests.get(server.url("/no/such/route.js"), timeout=5).status_code == 404
    assert requests.get(server.api("/store/order/cart/add"), timeout=5).status_code == 405
    assert requests.get(server.url("/app.js"), timeout=5).status_code == 200
    c = RawConn(server.port)
    try:
        c.send(b"GARBAGE\r\n\r\n")
        assert c.read_response().status == 400
    finally:
        c.close()
    after = _answers(server)
    grew = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    # the four answers above, plus the /metrics read of the "before" figures
    # (counted once it is answered, after it was rendered); an unreadable
    # request line counts as method "other"
    assert grew == {("GET", 404): 1, ("GET", 405): 1, ("GET", 200): 2, ("other", 400): 1}, grew
