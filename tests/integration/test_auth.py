"""SPEC §6 against the real binary: --auth jwt at every table endpoint (REST,
SSE, WebSocket upgrade), token scope, identity from claims, expiry of live
connections, open endpoints, `tablecart token`, and start-up checks.

Tokens are signed here with hmac + base64url (auth_support.py), never by the
code under test, except where `tablecart token` itself is the subject."""

import json
import os
import sqlite3
import subprocess
import struct
import time
from urllib.parse import quote

import pytest
import requests

from auth_support import (OTHER_SECRET, SECRET, b64url, bearer, decode, hs256_valid, jwt_server,
                          sign, token)
from live_support import OP_CLOSE, RawWS, SSEStream, raw_get, unread_by_server
from support import (BIN, DEV_LANG, IO_TIMEOUT, SCALE, envelope, error, parse_json, run_cli, wait_until)

DISH = {123: 1001, 124: 1001, 200: 2001}
TABLE_ENDPOINTS = ["cart", "add", "update", "remove", "clear", "menu", "sse", "ws"]
NEED_TOKEN = "a token is required (Authorization: Bearer)"


# ---------------------------------------------------------------------------
# one call per table endpoint, answered with (status, envelope dict)
# ---------------------------------------------------------------------------


def _raw(server, path, query, headers):
    target = path + ("?" + query if query else "")
    status, h, body = raw_get(server.port, target, headers=headers)
    return status, h, body


def call(server, ep, table, headers=None, query=None, head=None):
    """Calls endpoint ep for table; query: extra query string (e.g.
    "token=..."). For sse and ws only error answers are expected here (a 200
    stream or a 101 is checked by the caller with the live clients).
    Returns (status, body dict); head, a dict, gets the answer's headers
    (names in lower case)."""
    headers = dict(headers or {})
    headers.setdefault("Accept-Language", DEV_LANG)  # the English texts checked here
    qs = query or ""
    api = server.base + server.prefix + "/store/order"
    cid = DISH.get(table, 1001)
    if ep in ("sse", "ws"):
        if ep == "sse":
            path = server.prefix + "/store/order/sse/%s" % table
            headers.setdefault("Accept", "text/event-stream")
        else:
            path = "/ws/cart/%s" % table
            headers.update({"Upgrade": "websocket", "Connection": "Upgrade",
                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                            "Sec-WebSocket-Version": "13"})
        status, h, body = _raw(server, path, qs, headers)
        if head is not None:
            head.update(h)
        assert status not in (101, 200), "%s %s opened a stream" % (ep, table)
        assert h.get("content-type", "").startswith("application/json"), h
        return status, parse_json(body)
    kw = {"headers": headers, "timeout": IO_TIMEOUT}
    if ep == "cart":
        r = requests.get(api + "/cart/%s" % table + ("?" + qs if qs else ""), **kw)
    elif ep == "menu":
        r = requests.get(api + "/menu/%s" % table + ("?" + qs if qs else ""), **kw)
    elif ep == "add":
        r = requests.post(api + "/cart/add" + ("?" + qs if qs else ""),
                          json={"tableId": table, "cuisineId": cid, "quantity": 1}, **kw)
    elif ep == "update":
        r = requests.put(api + "/cart/update" + ("?" + qs if qs else ""),
                         json={"tableId": table, "cuisineId": cid, "quantity": 3}, **kw)
    elif ep == "remove":
        r = requests.delete(api + "/cart/remove?tableId=%s&cuisineId=%s%s"
                            % (table, cid, "&" + qs if qs else ""), **kw)
    elif ep == "clear":
        r = requests.delete(api + "/cart/clear?tableId=%s%s" % (table, "&" + qs if qs else ""), **kw)
    else:
        raise AssertionError(ep)
    if head is not None:
        head.update({k.lower(): v for k, v in r.headers.items()})
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
    if r.status_code != 200:
        envelope(r, r.status_code)  # a proper error envelope
    return r.status_code, body


def assert_refused(server, ep, table, status, message, headers=None, query=None):
    st, body = call(server, ep, table, headers=headers, query=query)
    assert st == status, "%s on table %s: expected %d, got %d %r" % (ep, table, status, st, body)
    assert list(body.keys()) == ["code", "success", "message", "data"], body
    assert body["code"] == status and body["success"] is False and body["data"] is None, body
    assert message in body["message"], "%s: message %r lacks %r" % (ep, body["message"], message)


def cart_of(server, table, tok):
    r = requests.get(server.api("/store/order/cart/%s" % table), headers=bearer(tok),
                     timeout=IO_TIMEOUT)
    return envelope(r)


# ---------------------------------------------------------------------------
# 401 at every table endpoint
# ---------------------------------------------------------------------------


def _credentials():
    now = int(time.time())
    good_claims = {"userId": 100, "phone": "13800138000", "exp": now + 600}
    return {
        "none": ({}, None, NEED_TOKEN),
        "basic": ({"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}, None, NEED_TOKEN),
        "garbage-header": (bearer("not-a-token"), None, "invalid token"),
        "garbage-query": ({}, "token=a.b.c", "invalid token"),
        "expired": (bearer(sign(dict(good_claims, exp=now - 5))), None, "token expired"),
        "expired-query": ({}, "token=" + sign(dict(good_claims, exp=now - 5)), "token expired"),
        "hs512": (bearer(sign(good_claims, alg="HS512")), None, "only HS256"),
        "hs512-query": ({}, "token=" + sign(good_claims, alg="HS512"), "only HS256"),
        "alg-none": (bearer(sign(good_claims, alg="none")), None, "invalid token"),
        "wrong-key": (bearer(sign(good_claims, secret=OTHER_SECRET)), None, "invalid token"),
        "no-exp": (bearer(sign({"userId": 100})), None, "token has no exp"),
        "identity-headers": ({"X-User-Id": "100", "X-User-Phone": "13800138000"}, "userId=100",
                             NEED_TOKEN),
    }


@pytest.mark.parametrize("cred", sorted(_credentials()))
def test_every_table_endpoint_refuses_without_a_good_token(start_server, cred):
    server = jwt_server(start_server)
    headers, query, message = _credentials()[cred]
    for ep in TABLE_ENDPOINTS:
        for table in (123, 200):
            assert_refused(server, ep, table, 401, message, headers=headers, query=query)
    # 401 comes before 404 (unknown table) and before a bad table id.
    for ep in TABLE_ENDPOINTS:
        assert_refused(server, ep, 999, 401, message, headers=headers, query=query)
    # Nothing changed.
    good = token(user=1)
    for table in (123, 200):
        data = cart_of(server, table, good)
        assert data["items"] == [] and data["version"] == 0, data


def test_every_401_carries_a_bearer_challenge_and_403_none(start_server):
    """RFC 9110 §15.5.2: a 401 MUST carry WWW-Authenticate with a challenge (RFC 6750 §3:
    Bearer); it carried none, which clients such as Java's HttpURLConnection take as a
    protocol error rather than as the envelope's 401."""
    server = jwt_server(start_server)
    for cred in ("none", "basic", "garbage-header", "garbage-query", "expired", "hs512"):
        headers, query, _ = _credentials()[cred]
        for ep in TABLE_ENDPOINTS:
            for table in (123, 999):
                h = {}
                st, _ = call(server, ep, table, headers=headers, query=query, head=h)
                assert (st, h.get("www-authenticate")) == (401, "Bearer"), (cred, ep, table, h)
    other = token(user=1, table=124)
    for ep in TABLE_ENDPOINTS:
        h = {}
        st, _ = call(server, ep, 123, headers=bearer(other), head=h)
        assert (st, h.get("www-authenticate")) == (403, None), (ep, h)


# ---------------------------------------------------------------------------
# 200 with a good token, in the header and in ?token=
# ---------------------------------------------------------------------------


def _all_rest_ok(server, table, headers=None, query=None):
    cid = DISH[table]
    for ep in ("cart", "menu", "add", "update", "remove", "add", "clear", "cart"):
        st, body = call(server, ep, table, headers=headers, query=query)
        assert st == 200, "%s on %s: %d %r" % (ep, table, st, body)
        assert body["success"] is True, body
        data = body["data"]
        if ep == "menu":
            assert data["table"]["tableId"] == table, data
        elif ep == "add":
            assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(cid, 1)], data
        elif ep == "update":
            assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(cid, 3)], data
        elif ep in ("remove", "clear"):
            assert data["items"] == [], data


def _sse_ok(server, table, query="", headers=None):
    s = SSEStream(server.port, table, query=query, headers=headers)
    try:
        s.start()
        assert s.next_event().event == "connected"
        ev = s.next_event()
        assert ev.event == "cart_update" and ev.json()["tableId"] == table, ev
    finally:
        s.close()


def _ws_ok(server, table, query="", user=None):
    w = RawWS(server.port, table, query=query)
    try:
        assert w.recv_json()["type"] == "connected"
        snap = w.recv_json()
        assert snap["type"] == "cart_update" and snap["data"]["tableId"] == table, snap
        w.send_text({"type": "add_item", "data": {"cuisineId": DISH[table], "quantity": 1}})
        m = w.recv_json()
        assert m["type"] == "add_item_success", m
        line = [i for i in m["data"]["items"] if i["cuisineId"] == DISH[table]][0]
        if user is not None:
            assert line["addUserId"] == user, line
        return m["data"]
    finally:
        w.close()


def test_good_token_in_header_and_in_query(start_server):
    server = jwt_server(start_server)
    tok = token(user=100, phone="13800138000")
    _all_rest_ok(server, 123, headers=bearer(tok))
    _all_rest_ok(server, 200, query="token=" + tok)
    # Lower-case scheme.
    _all_rest_ok(server, 124, headers={"Authorization": "bearer " + tok})
    # SSE and WebSocket take ?token= (EventSource and browsers cannot set headers)...
    _sse_ok(server, 123, query="?token=" + tok)
    _ws_ok(server, 123, query="?token=" + tok, user=100)
    # ...and a header, for clients that can send one.
    _sse_ok(server, 124, headers=bearer(tok))
    # A percent-encoded token is decoded.
    _sse_ok(server, 200, query="?token=" + quote(tok, safe=""))


def test_bearer_header_wins_over_query(start_server):
    server = jwt_server(start_server)
    good = token(user=7)
    expired = token(user=8, exp=int(time.time()) - 10)
    # Good header, bad query: fine.
    st, body = call(server, "cart", 123, headers=bearer(good), query="token=x.y.z")
    assert st == 200, body
    # Bad header, good query: the header is the token.
    assert_refused(server, "cart", 123, 401, "token expired", headers=bearer(expired),
                   query="token=" + good)
    st, body = call(server, "add", 123, headers=bearer(good), query="token=" + token(user=9))
    assert st == 200 and body["data"]["items"][0]["addUserId"] == 7, body


# ---------------------------------------------------------------------------
# scope: tableId and storeId claims
# ---------------------------------------------------------------------------


def test_table_scope(start_server):
    server = jwt_server(start_server)
    tok = token(user=100, table=123)
    for ep in TABLE_ENDPOINTS:
        assert_refused(server, ep, 124, 403, "token is not valid for table 124",
                       headers=bearer(tok) if ep not in ("sse", "ws") else None,
                       query="token=" + tok if ep in ("sse", "ws") else None)
        assert_refused(server, ep, 200, 403, "token is not valid for table 200",
                       query="token=" + tok)
        # 404 before 403: an unknown table is not found, whatever the scope.
        assert_refused(server, ep, 999, 404, "table 999 not found", query="token=" + tok)
    # Its own table works everywhere.
    _all_rest_ok(server, 123, headers=bearer(tok))
    _sse_ok(server, 123, query="?token=" + tok)
    _ws_ok(server, 123, query="?token=" + tok)
    # Nothing reached 124 or 200.
    other = token(user=1)
    assert cart_of(server, 124, other)["version"] == 0
    assert cart_of(server, 200, other)["version"] == 0


def test_store_scope(start_server):
    server = jwt_server(start_server)
    tok = token(user=100, store=2)
    for ep in TABLE_ENDPOINTS:
        assert_refused(server, ep, 123, 403, "token is not valid for table 123",
                       query="token=" + tok)
        assert_refused(server, ep, 124, 403, "token is not valid for table 124",
                       headers=bearer(tok) if ep not in ("sse", "ws") else None,
                       query="token=" + tok if ep in ("sse", "ws") else None)
    _all_rest_ok(server, 200, headers=bearer(tok))
    _sse_ok(server, 200, query="?token=" + tok)
    _ws_ok(server, 200, query="?token=" + tok, user=100)
    # A store-1 token: the other way round.
    one = token(user=5, store=1)
    assert_refused(server, "cart", 200, 403, "token is not valid for table 200",
                   headers=bearer(one))
    _all_rest_ok(server, 124, headers=bearer(one))


def test_scope_claims_as_digit_strings(start_server):
    server = jwt_server(start_server)
    tok = token(user="100", table="123")
    st, body = call(server, "add", 123, headers=bearer(tok))
    assert st == 200 and body["data"]["items"][0]["addUserId"] == 100, body
    assert_refused(server, "cart", 124, 403, "token is not valid for table 124",
                   headers=bearer(tok))
    bad = token(user=100, table="12x")
    assert_refused(server, "cart", 123, 401, "token has a bad tableId", headers=bearer(bad))


def test_idempotent_replay_stays_in_scope(start_server):
    """A remembered answer is table 123's cart; a token for table 124 must
    not get it back by sending the same Idempotency-Key."""
    server = jwt_server(start_server)
    a = token(user=1, phone="13800000001", table=123)
    b = token(user=2, table=124)
    url = server.api("/store/order/cart/add")
    r = requests.post(url, json={"tableId": 123, "cuisineId": 1001, "quantity": 2},
                      headers=bearer(a, **{"Idempotency-Key": "order-1", "Accept-Language": DEV_LANG}),
                      timeout=IO_TIMEOUT)
    assert envelope(r)["tableId"] == 123
    # The same key, table 123, with a token for 124: outside its scope.
    r = requests.post(url, json={"tableId": 123, "cuisineId": 1001, "quantity": 2},
                      headers=bearer(b, **{"Idempotency-Key": "order-1", "Accept-Language": DEV_LANG}),
                      timeout=IO_TIMEOUT)
    error(r, 403, "token is not valid for table 123")


# ---------------------------------------------------------------------------
# identity: addUserId / addUserPhone from the claims
# ---------------------------------------------------------------------------


def test_identity_comes_from_claims_not_headers(start_server):
    server = jwt_server(start_server)
    tok = token(user=100, phone="13800138000")
    liar = {"X-User-Id": "999", "X-User-Phone": "13999999999"}
    st, body = call(server, "add", 123, headers=bearer(tok, **liar), query="userId=888&phone=1")
    assert st == 200, body
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (100, "13800138000"), line

    # No phone claim: null, whatever X-User-Phone says.
    nophone = token(user=101)
    st, body = call(server, "add", 124, headers=bearer(nophone, **liar))
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (101, None), line

    # sub instead of userId.
    sub = sign({"sub": "102", "exp": int(time.time()) + 600})
    st, body = call(server, "add", 200, headers=bearer(sub, **liar))
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (102, None), line

    # A WebSocket acts as its token, not as the identity in its URL.
    w = RawWS(server.port, 123, query="?token=%s&userId=777&phone=1" % token(user=103,
                                                                               phone="13800000103"))
    try:
        assert w.recv_json()["type"] == "connected"
        assert w.recv_json()["type"] == "cart_update"
        w.send_text({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1}})
        m = w.recv_json()
        assert m["type"] == "add_item_success", m
        line = [i for i in m["data"]["items"] if i["cuisineId"] == 1002][0]
        assert (line["addUserId"], line["addUserPhone"]) == (103, "13800000103"), line
    finally:
        w.close()


def test_phone_claim_counts_characters_not_bytes(start_server):
    """A phone claim of 32 characters is kept whatever their bytes, as
    X-User-Phone is under --auth none (auth.md); `tablecart token` signs one."""
    server = jwt_server(start_server)
    phone = "\u4e00" * 32  # 96 bytes of UTF-8
    st, body = call(server, "add", 123, headers=bearer(token(user=100, phone=phone)))
    assert st == 200, body
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (100, phone), line
    p = _run("token", "--user", "100", "--phone", phone,
             env=_clean_env(TABLECART_JWT_SECRET=SECRET))
    assert (p.returncode, p.stderr) == (0, b""), p
    _, claims = decode(p.stdout.decode().strip())
    assert claims["phone"] == phone, claims


# ---------------------------------------------------------------------------
# expiry of live connections
# ---------------------------------------------------------------------------


def test_ws_command_after_expiry_closes_1008(start_server):
    """Commands a few a second, then back to back from 100 ms before exp: every one applied was
    sent before exp (it arrived after it was sent, and one arriving at or after exp is refused, to
    the millisecond), and the first refused closes the socket with 1008."""
    server = jwt_server(start_server, "--rate-changes", "0")
    exp = int(time.time()) + 2 * SCALE
    tok = token(user=100, table=123, exp=exp)
    w = RawWS(server.port, 123, query="?token=" + tok)
    try:
        assert w.recv_json()["type"] == "connected"
        assert w.recv_json()["type"] == "cart_update"
        # Commands until the server refuses one; each before exp is applied.
        applied = 0
        deadline = exp + 5 * SCALE
        closed = None
        while closed is None:
            assert time.time() < deadline, "no close %.1fs after the token expired" % (
                time.time() - exp)
            sent_at = time.time()
            # The line is added, then set to 2, 3, ... 99, 1, 2, ...: each command a change.
            kind = "add_item" if applied == 0 else "update_quantity"
            w.send_text({"type": kind, "data": {"cuisineId": 1001, "quantity": applied % 99 + 1}})
            m = w.recv_message()
            if isinstance(m, str):
                msg = parse_json(m)
                assert msg["type"] == kind + "_success", msg
                assert sent_at < exp, "a command sent %.1f ms after exp was applied" % (
                    (sent_at - exp) * 1000)
                applied += 1
                if sent_at < exp - 0.1:
                    next_at = min(sent_at + 0.2, exp - 0.1)
                    wait_until(lambda: time.time() >= next_at, 1, "the next command's turn")
            else:
                closed = m
        assert time.time() >= exp, "closed %.2fs before exp" % (exp - time.time())
        assert closed.close_code == 1008, closed
        assert closed.payload[2:] == b"token expired", closed.payload
        assert applied >= 1
        w.send_frame(OP_CLOSE, closed.payload[:2])
        w.wait_eof()
    finally:
        w.close()
    # The command that met the close was not applied.
    data = cart_of(server, 123, token(user=1))
    assert data["items"][0]["quantity"] == (applied - 1) % 99 + 1, (data, applied)
    assert data["version"] == applied
    # The same token cannot open a new socket.
    assert_refused(server, "ws", 123, 401, "token expired", query="token=" + tok)


def test_ws_change_with_the_store_at_expiry_is_answered_before_1008(start_server):
    """A command read before exp whose change is still with the store when the token expires
    is answered first (it is committed: a client told nothing would send it again), then the
    socket is closed with 1008."""
    server = jwt_server(start_server)
    # Not scaled: the lock is held until 1 s past exp, within the server's 5 s SQLite busy
    # timeout (past it the save fails).
    exp = int(time.time()) + 2
    w = RawWS(server.port, 123, query="?token=" + token(user=100, table=123, exp=exp))
    # Another program holds SQLite's write lock: the save waits for it past exp.
    lock = sqlite3.connect(str(server.db), timeout=5, isolation_level=None)
    try:
        assert w.recv_json()["type"] == "connected"
        assert w.recv_json()["type"] == "cart_update"
        lock.execute("BEGIN IMMEDIATE")
        w.send_text({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 2}})
        wait_until(lambda: unread_by_server(server.port, w.sock) == 0, IO_TIMEOUT,
                   "the server to read the command")
        assert time.time() < exp, "the command was read after exp: too slow a machine"
        # Past exp, and past the server's check of it (its sweep runs every 250 ms).
        wait_until(lambda: time.time() >= exp + 1, 5, "exp to pass")
        lock.execute("COMMIT")
        m = w.recv_message()
        assert isinstance(m, str), "the close came before the answer: %r" % (m,)
        msg = parse_json(m)
        assert msg["type"] == "add_item_success", msg
        assert msg["data"]["version"] == 1
        closed = w.recv_message()
        assert closed.opcode == OP_CLOSE, closed
        assert struct.unpack("!H", closed.payload[:2])[0] == 1008
        assert closed.payload[2:] == b"token expired", closed.payload
        w.send_frame(OP_CLOSE, closed.payload[:2])
        w.wait_eof()
    finally:
        if lock.in_transaction:
            lock.execute("COMMIT")
        lock.close()
        w.close()
    assert cart_of(server, 123, token(user=1)) == msg["data"]


def test_idle_ws_is_closed_1008_when_its_token_expires(start_server):
    """A socket that sends nothing is closed at its token's expiry too, so it stops receiving."""
    server = jwt_server(start_server)
    exp = int(time.time()) + 2 * SCALE
    w = RawWS(server.port, 123, query="?token=" + token(user=100, table=123, exp=exp))
    try:
        assert w.recv_json()["type"] == "connected"
        assert w.recv_json()["type"] == "cart_update"
        closed = w.recv_message(timeout=exp - time.time() + 5 * SCALE)
        assert closed.opcode == OP_CLOSE, closed
        assert time.time() >= exp, "closed %.2fs before exp" % (exp - time.time())
        assert struct.unpack("!H", closed.payload[:2])[0] == 1008
        assert closed.payload[2:] == b"token expired", closed.payload
        w.send_frame(OP_CLOSE, closed.payload[:2])
        w.wait_eof()
    finally:
        w.close()


def test_sse_stream_ends_when_its_token_expires(start_server):
    server = jwt_server(start_server, "--sse-timeout", "120", "--heartbeat", "1")
    exp = int(time.time()) + 2 * SCALE
    tok = token(user=100, table=123, exp=exp)
    s = SSEStream(server.port, 123, query="?token=" + tok)
    try:
        s.start()
        assert s.next_event().event == "connected"
        assert s.next_event().event == "cart_update"
        s.read_to_end(timeout=exp - time.time() + 5 * SCALE)  # ends cleanly (0\r\n\r\n)
        ended = time.time()
        assert ended >= exp - 0.1, "stream ended %.2fs before exp" % (exp - ended)
        assert ended < exp + 2 * SCALE, "stream ended %.2fs after exp" % (ended - exp)
    finally:
        s.close()
    # What EventSource does next: reconnect with the same URL, and get 401.
    assert_refused(server, "sse", 123, 401, "token expired", query="token=" + tok)


# ---------------------------------------------------------------------------
# what stays open
# ---------------------------------------------------------------------------


def test_health_metrics_page_and_preflight_need_no_token(start_server):
    server = jwt_server(start_server, "--cors-origin", "http://app.example")
    r = requests.get(server.url("/healthz"), timeout=IO_TIMEOUT)
    assert envelope(r) == {"status": "up"}
    r = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT)
    assert r.status_code == 200 and "tablecart_" in r.text, r.text[:200]
    r = requests.get(server.url("/"), timeout=IO_TIMEOUT)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.headers
    # A CORS preflight never carries the token: it is answered without one.
    r = requests.options(server.api("/store/order/cart/add"), timeout=IO_TIMEOUT,
                         headers={"Origin": "http://app.example",
                                  "Access-Control-Request-Method": "POST",
                                  "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    # The table endpoints next to them still want one.
    assert_refused(server, "cart", 123, 401, NEED_TOKEN)


# ---------------------------------------------------------------------------
# tablecart token
# ---------------------------------------------------------------------------


def _clean_env(**more):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLECART_")}
    env.update(more)
    return env


def _run(*args, env):
    return subprocess.run([BIN] + [str(a) for a in args], capture_output=True, env=env,
                          timeout=20 * SCALE, stdin=subprocess.DEVNULL)


def test_cli_token_prints_a_verifiable_token(start_server):
    before = int(time.time())
    p = _run("token", "--user", "100", "--phone", "13800138000", "--table", "123",
             env=_clean_env(TABLECART_JWT_SECRET=SECRET))
    after = int(time.time())
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    out = p.stdout.decode()
    assert out.endswith("\n") and out.count("\n") == 1, repr(out)
    tok = out.strip()
    header, claims = decode(tok)
    assert header["alg"] == "HS256", header
    assert set(claims) == {"userId", "phone", "tableId", "exp"}, claims
    assert claims["userId"] == 100 and claims["phone"] == "13800138000", claims
    assert claims["tableId"] == 123, claims
    assert before + 14400 - 60 <= claims["exp"] <= after + 14400 + 60, (claims, before)
    assert hs256_valid(tok, SECRET)
    assert not hs256_valid(tok, OTHER_SECRET)

    # The server takes it, with its scope.
    server = jwt_server(start_server)
    st, body = call(server, "add", 123, headers=bearer(tok))
    assert st == 200, body
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (100, "13800138000")
    assert_refused(server, "cart", 124, 403, "token is not valid for table 124",
                   headers=bearer(tok))


def test_cli_token_store_ttl_and_secret_file(tmp_path):
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    before = int(time.time())
    p = _run("token", "--user", "7", "--store", "2", "--ttl", "90", "--jwt-secret-file", f,
             env=_clean_env())
    assert p.returncode == 0, p.stderr
    tok = p.stdout.decode().strip()
    _, claims = decode(tok)
    assert set(claims) == {"userId", "storeId", "exp"}, claims
    assert claims["userId"] == 7 and claims["storeId"] == 2
    assert before + 90 <= claims["exp"] <= int(time.time()) + 90
    assert hs256_valid(tok, SECRET)  # the newline is not part of the key


def test_cli_token_that_cannot_be_written_fails(tmp_path):
    """A script that captures the token must not get an empty one with status 0."""
    with open("/dev/full", "wb") as full:
        p = subprocess.run([BIN, "token", "--user", "7"], stdout=full, stderr=subprocess.PIPE,
                           env=_clean_env(TABLECART_JWT_SECRET=SECRET), timeout=20 * SCALE,
                           stdin=subprocess.DEVNULL)
    assert p.returncode == 1
    assert p.stderr == b"tablecart: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("args,env,message", [
    # the user typed no --auth: the message names what to give instead
    (["token", "--user", "100"], {}, "tablecart: token: no secret to sign with: give "
                                     "--jwt-secret-file FILE (the file serve --auth jwt reads) "
                                     "or set TABLECART_JWT_SECRET"),
    (["token", "--user", "100"], {"TABLECART_JWT_SECRET": "x" * 31},
     "tablecart: the JWT secret must be at least 32 bytes"),
    (["token", "--user", "100", "--jwt-secret-file", "/nonexistent/secret"], {},
     "tablecart: --jwt-secret-file: cannot open /nonexistent/secret"),
    (["token"], {"TABLECART_JWT_SECRET": SECRET}, "tablecart: token: --user is required"),
])
def test_cli_token_refuses(args, env, message):
    p = _run(*args, env=_clean_env(**env))
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == b""
    err = p.stderr.decode()
    assert err.count("\n") == 1 and err.startswith(message), repr(err)


@pytest.mark.parametrize("phone", ["a" + "一" * 30, "1" * 70], ids=["non-ascii-91-bytes", "ascii-70"])
def test_cli_token_long_phone_whole_or_refused(phone):
    """A long --phone is signed whole, or refused naming --phone; never cut."""
    p = _run("token", "--user", "100", "--phone", phone,
             env=_clean_env(TABLECART_JWT_SECRET=SECRET))
    if p.returncode == 2:
        assert b"--phone" in p.stderr, p.stderr
        return
    assert p.returncode == 0, (p.returncode, p.stderr)
    _, claims = decode(p.stdout.decode().strip())
    assert claims["phone"] == phone, claims


# ---------------------------------------------------------------------------
# serve: the secret, and the warning of --auth none
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["no-secret", "short-env", "short-file", "missing-file",
                                  "folder"])
def test_serve_jwt_refuses_to_start_without_a_good_secret(tmp_path, case):
    short = tmp_path / "short"
    short.write_text("y" * 31 + "\n")
    args = ["serve", "--listen", "127.0.0.1:0", "--store", "sqlite:%s" % (tmp_path / "t.db"),
            "--auth", "jwt"]
    env = _clean_env()
    want = "the JWT secret must be at least 32 bytes"
    if case == "no-secret":
        want = "--auth jwt needs --jwt-secret-file or TABLECART_JWT_SECRET"
    elif case == "short-env":
        env["TABLECART_JWT_SECRET"] = "z" * 31
    elif case == "short-file":
        args += ["--jwt-secret-file", short]
    elif case == "missing-file":
        args += ["--jwt-secret-file", tmp_path / "nope"]
        want = "cannot open"
    else:
        args += ["--jwt-secret-file", tmp_path]
        want = "--jwt-secret-file: cannot read %s: Is a directory" % tmp_path
    p = _run(*args, env=env)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stdout == b"", p.stdout  # never listened
    err = p.stderr.decode()
    assert err.count("\n") == 1 and want in err, repr(err)


def test_serve_jwt_secret_from_the_environment_is_wiped(start_server):
    """The secret read from TABLECART_JWT_SECRET is not left in /proc/PID/environ (readable by
    the same user and by root long after start), nor in the command line or the logs."""
    server = jwt_server(start_server)
    assert server.request("GET", "/store/order/cart/123",
                          headers=bearer(token())).status_code == 200
    for what in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (server.proc.pid, what), "rb") as f:
            assert SECRET.encode() not in f.read(), what
    assert SECRET not in server.stderr()


def test_serve_jwt_secret_in_the_environment_is_wiped_when_the_file_gives_it(start_server,
                                                                            tmp_path):
    """Both given: the file's secret signs, and the variable is wiped all the same."""
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    env_secret = "e" * 40
    server = start_server("--auth", "jwt", "--jwt-secret-file", str(f),
                          env={"TABLECART_JWT_SECRET": env_secret})
    assert server.request("GET", "/store/order/cart/123",
                          headers=bearer(token())).status_code == 200
    with open("/proc/%d/environ" % server.proc.pid, "rb") as e:
        environ = e.read()
    assert env_secret.encode() not in environ  # its name stays there; the value is zeroed


def test_serve_jwt_secret_in_the_environment_is_wiped_under_auth_none(start_server):
    """--auth none uses no secret, and the variable is wiped all the same (found in review: a
    server switched to none for a while showed the production key in /proc/PID/environ)."""
    server = start_server("--auth", "none", env={"TABLECART_JWT_SECRET": SECRET})
    assert server.request("GET", "/store/order/cart/123").status_code == 200
    with open("/proc/%d/environ" % server.proc.pid, "rb") as e:
        environ = e.read()
    assert b"TABLECART_JWT_SECRET=" in environ and SECRET.encode() not in environ


def test_serve_jwt_secret_file_with_newline(start_server, tmp_path):
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    server = start_server("--auth", "jwt", "--jwt-secret-file", str(f))
    st, body = call(server, "cart", 123, headers=bearer(token(user=1)))
    assert st == 200, body
    # A token signed with the newline as part of the key is refused.
    bad = sign({"userId": 1, "exp": int(time.time()) + 60}, secret=SECRET + "\n")
    assert_refused(server, "cart", 123, 401, "invalid token", headers=bearer(bad))


def test_auth_none_warns_and_jwt_does_not(start_server):
    none = start_server("--auth", "none")
    wait_until(lambda: "--auth none" in none.stderr(), IO_TIMEOUT, "the --auth none warning")
    jwt = jwt_server(start_server)
    # Both have started (listening line seen); the jwt one logged its start lines.
    wait_until(lambda: "serving" in jwt.stderr(), IO_TIMEOUT, "the jwt server's start log")
    assert "--auth none" not in jwt.stderr(), jwt.stderr()
    # Under none, the headers are the identity.
    st, body = call(none, "add", 123, headers={"X-User-Id": "5", "X-User-Phone": "139"})
    assert st == 200, body
    line = body["data"]["items"][0]
    assert (line["addUserId"], line["addUserPhone"]) == (5, "139")
