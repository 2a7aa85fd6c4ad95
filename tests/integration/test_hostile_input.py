"""Hostile input that was once taken at its word ("hostile clients" issue, item 7): chunked
trailers taken as headers, tokens not yet valid or with a lower-case alg, tokens in debug logs,
unknown HTTP versions, malformed query escapes, duplicate JSON keys. Each case failed before its
fix; runs against the release and the ASan+UBSan builds."""

import hashlib
import hmac
import json
import time

import pytest

from auth_support import SECRET, b64url, bearer, jwt_server, token
from support import DEV_LANG, RawConn, envelope, error, http_request, parse_json

ADD = "/api/store/order/cart/add"
CART = "/api/store/order/cart/123"
ADD_BODY = b'{"tableId":123,"cuisineId":1001,"quantity":1}'


def raw_exchange(server, data):
    """Sends data on a fresh connection and reads one response."""
    c = RawConn(server.port)
    try:
        c.send(data)
        return c.read_response(), c
    except Exception:
        c.close()
        raise


def chunked(method, path, body, trailers, headers=()):
    """A chunked request whose body is one chunk, followed by trailer lines."""
    head = "%s %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" % (method, path)
    head += "Accept-Language: %s\r\n" % DEV_LANG  # the English texts checked here
    head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    tail = "".join("%s: %s\r\n" % t for t in trailers)
    return head.encode() + b"%x\r\n" % len(body) + body + b"\r\n0\r\n" + tail.encode() + b"\r\n"


# ---------------------------------------------------------------------------
# 1. fields of a chunked trailer are not headers (RFC 9110 §6.5)
# ---------------------------------------------------------------------------


def test_trailer_user_id_is_not_the_identity(server):
    req = chunked("POST", ADD, ADD_BODY, [("X-User-Id", "777"), ("X-User-Phone", "999")],
                  headers=[("Content-Type", "application/json")])
    resp, c = raw_exchange(server, req)
    c.close()
    assert resp.status == 200, resp
    item = resp.json()["data"]["items"][0]
    assert (item["addUserId"], item["addUserPhone"]) == (None, None)
    assert server.cart()["items"][0]["addUserId"] is None


def test_trailer_content_type_does_not_pass_the_media_check(server):
    req = chunked("POST", ADD, ADD_BODY, [("Content-Type", "application/json")])
    resp, c = raw_exchange(server, req)
    try:
        assert resp.status == 415, resp
        assert resp.json()["message"] == "Content-Type must be application/json"
        # The connection still speaks HTTP after the trailer.
        c.send(http_request("GET", "/healthz"))
        assert c.read_response().status == 200
    finally:
        c.close()
    assert server.cart()["items"] == []


def test_trailer_header_keeps_the_header_value(server):
    req = chunked("POST", ADD, ADD_BODY, [("X-User-Id", "777")],
                  headers=[("Content-Type", "application/json"), ("X-User-Id", "5")])
    resp, c = raw_exchange(server, req)
    c.close()
    assert resp.status == 200, resp
    assert resp.json()["data"]["items"][0]["addUserId"] == 5


# ---------------------------------------------------------------------------
# 2. JWT: nbf in the future, alg names are case-sensitive
# ---------------------------------------------------------------------------


def hs256_with_header(header, claims, secret=SECRET):
    """A token signed HS256 whatever the header says."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(mac)


@pytest.fixture
def jwt(start_server):
    return jwt_server(start_server)


def test_token_not_yet_valid_is_refused(jwt):
    tok = token(user=100, nbf=int(time.time()) + 3600)
    error(jwt.request("GET", "/store/order/cart/123", headers=bearer(tok)), 401, "not yet valid")
    # A token already valid (nbf in the past) is accepted.
    tok = token(user=100, nbf=int(time.time()) - 60)
    envelope(jwt.request("GET", "/store/order/cart/123", headers=bearer(tok)))


def test_token_with_a_bad_nbf_is_refused(jwt):
    tok = token(user=100, nbf="tomorrow")
    error(jwt.request("GET", "/store/order/cart/123", headers=bearer(tok)), 401, "nbf")


@pytest.mark.parametrize("alg", ["hs256", "Hs256", "hS256"])
def test_alg_is_case_sensitive(jwt, alg):
    claims = {"userId": 100, "exp": int(time.time()) + 600}
    tok = hs256_with_header({"alg": alg, "typ": "JWT"}, claims)
    msg = error(jwt.request("GET", "/store/order/cart/123", headers=bearer(tok)), 401, "HS256")
    assert "invalid token" in msg
    # The same claims under the literal "HS256" pass.
    tok = hs256_with_header({"alg": "HS256", "typ": "JWT"}, claims)
    envelope(jwt.request("GET", "/store/order/cart/123", headers=bearer(tok)))


# ---------------------------------------------------------------------------
# 3. tokens never reach the log
# ---------------------------------------------------------------------------


def test_debug_log_redacts_tokens(start_server):
    s = start_server("--auth", "jwt", env={"TABLECART_JWT_SECRET": SECRET,
                                           "TABLECART_LOG_LEVEL": "debug"})
    tok = token(user=100)
    bad = token(user=100, exp=1)  # expired: answered 401, logged all the same
    envelope(s.request("GET", "/store/order/cart/123", params={"token": tok, "x": "1"}))
    error(s.request("GET", "/store/order/cart/123", params={"token": bad}), 401, "expired")
    envelope(s.request("GET", "/store/order/cart/123", headers=bearer(tok)))
    c = s.raw()
    c.send(http_request("GET", "/api/store/order/cart/123?a=1&token=%s&b=2" % tok))
    assert c.read_response().status == 200
    c.close()
    rc, err = s.stop()
    assert rc == 0, err
    assert tok not in err and bad not in err, err[-3000:]
    # The requests were logged (the access log), with the token's value replaced.
    assert "GET /api/store/order/cart/123?token=[redacted]&x=1 200 " in err, err[-3000:]
    assert "GET /api/store/order/cart/123?token=[redacted] 401 " in err, err[-3000:]
    assert "GET /api/store/order/cart/123?a=1&token=[redacted]&b=2 200 " in err, err[-3000:]
    # No signature part of any token either.
    for t in (tok, bad):
        assert t.rsplit(".", 1)[1] not in err


# ---------------------------------------------------------------------------
# 4. HTTP versions other than 1.0 and 1.1: 505
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["HTTP/9.9", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "HTTP/3.1"])
def test_unknown_http_version_is_505(server, version):
    resp, c = raw_exchange(server, http_request("GET", "/healthz", version=version))
    try:
        assert resp.status == 505, resp
        assert resp.reason == "HTTP Version Not Supported"
        assert resp.json() == {"code": 505, "success": False,
                               "message": "HTTP version not supported", "data": None}
        assert resp.header("connection") == "close"
        assert c.wait_closed() == b""
    finally:
        c.close()


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/1.1"])
def test_http_1_0_and_1_1_are_served(server, version):
    resp, c = raw_exchange(server, http_request("GET", "/healthz", version=version))
    c.close()
    assert resp.status == 200, resp


# ---------------------------------------------------------------------------
# 5. a malformed percent-escape in the query string is a 400
# ---------------------------------------------------------------------------


def raw_call(server, method, target, body=b"", headers=None):
    hs = dict(headers or {})
    if body:
        hs["Content-Type"] = "application/json"
    resp, c = raw_exchange(server, http_request(method, target, headers=hs, body=body))
    try:
        # The answer keeps the connection: the request was well-formed HTTP.
        c.send(http_request("GET", "/healthz"))
        assert c.read_response().status == 200
    finally:
        c.close()
    return resp


@pytest.mark.parametrize("method,target,name", [
    ("GET", CART + "?userId=%zz", "userId"),
    ("GET", CART + "?phone=138%", "phone"),
    ("GET", CART + "?x=1&tableId=%4", "tableId"),
    ("GET", "/healthz?a=%G0", "a"),
    ("GET", "/api/store/order/menu/123?q=%%41", "q"),
    ("DELETE", "/api/store/order/cart/clear?tableId=%zz", "tableId"),
])
def test_malformed_query_escape_is_400(server, method, target, name):
    resp = raw_call(server, method, target, body=b'{"tableId":123}' if method == "DELETE" else b"")
    assert resp.status == 400, resp
    body = resp.json()
    assert body["code"] == 400 and body["data"] is None
    assert body["message"] == "malformed query string: bad percent-escape in parameter '%s'" % name


def test_malformed_query_escape_changes_nothing(server):
    assert server.add().status_code == 200
    resp = raw_call(server, "DELETE", "/api/store/order/cart/clear?tableId=%zz",
                    body=b'{"tableId":123}')
    assert resp.status == 400, resp
    assert [i["quantity"] for i in server.cart()["items"]] == [1]


def test_good_escapes_still_pass(server):
    resp = raw_call(server, "GET", CART + "?userId=%31%32&phone=%2B86+138")
    assert resp.status == 200, resp
    assert resp.json()["data"]["tableId"] == 123


def test_escaped_parameter_names_are_read(server):
    """A name is percent-decoded as a value is (Spring does the same): tabl%65Id is tableId
    (it was '400 tableId is required')."""
    assert server.add().status_code == 200
    resp = raw_call(server, "DELETE", "/api/store/order/cart/clear?tabl%65Id=123")
    assert resp.status == 200, resp
    assert resp.json()["data"]["items"] == []
    assert server.cart()["items"] == []


# ---------------------------------------------------------------------------
# 6. duplicate JSON keys are named
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("body,key", [
    (b'{"tableId":123,"cuisineId":1001,"quantity":1,"quantity":2}', "quantity"),
    (b'{"tableId":123,"tableId":124,"cuisineId":1001,"quantity":1}', "tableId"),
    (b'{"tableId":123,"cuisineId":1001,"quantity":1,"x":{"a":1,"a":2}}', "a"),
    (b'{"tableId":123,"cuisineId":1001,"quantity":1,"r\\u00e9":1,"r\xc3\xa9":2}', "r\u00e9"),
])
def test_duplicate_key_is_named(server, body, key):
    r = server.session.post(server.url(ADD), data=body,
                            headers={"Content-Type": "application/json"}, timeout=5)
    msg = error(r, 400)
    assert msg == "duplicate key '%s' in request body" % key
    assert server.cart()["items"] == []


# Valid JSON with a number past 64 bits or a double's range: the field is named, as for a
# number that fits but is out of range (it was "request body is not valid JSON").
OUT_OF_RANGE = [
    ('"quantity":123456789012345678901234567890', "quantity must be an integer"),
    ('"quantity":1e400', "quantity must be an integer"),
    ('"cuisineId":-99999999999999999999', "cuisineId must be a positive integer"),
    ('"remark":1e400', "remark must be a string"),
]


@pytest.mark.parametrize("field,message", OUT_OF_RANGE)
def test_number_out_of_range_names_its_field(server, field, message):
    envelope(server.add(123, 1001, 1))
    fields = {"tableId": "123", "cuisineId": "1001", "quantity": "1"}
    name = field.split('"')[1]
    fields[name] = field.split(":", 1)[1]
    body = "{%s}" % ",".join('"%s":%s' % kv for kv in fields.items())
    r = server.session.post(server.url(ADD), data=body.encode(),
                            headers={"Content-Type": "application/json"}, timeout=5)
    assert error(r, 400) == message
    r = server.session.post(server.url(ADD), timeout=5, headers={"Content-Type": "application/json"},
                            data=b'{"tableId":99999999999999999999,"cuisineId":1001,"quantity":1}')
    assert error(r, 400) == "tableId must be a positive integer"
    cart = server.cart()
    assert cart["version"] == 1 and cart["items"][0]["quantity"] == 1


def test_number_out_of_range_in_a_field_nobody_reads_is_ignored(server):
    r = server.session.post(server.url(ADD), timeout=5, headers={"Content-Type": "application/json"},
                            data=b'{"tableId":123,"cuisineId":1001,"quantity":2,"x":1e400}')
    assert envelope(r)["items"][0]["quantity"] == 2


def test_not_json_keeps_its_message(server):
    r = server.session.post(server.url(ADD), data=b'{"tableId":123,',
                            headers={"Content-Type": "application/json"}, timeout=5)
    assert error(r, 400) == "request body is not valid JSON"
    assert parse_json(r.content)["data"] is None
