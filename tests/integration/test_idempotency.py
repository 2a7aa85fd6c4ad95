"""Idempotency-Key answers kept by the store (SPEC §3; docs/api.md): they survive a restart and
kill -9, a retry racing its original is a replay, and one caller cannot push out another's
answers however many keys it spends (the hostile-clients issue, item 5); callers without a user id
are told apart by their address."""


import http.client
import json
import re
import sqlite3

import requests

from support import IO_TIMEOUT, envelope, race_keyed_adds


def keyed_add(server, key, quantity=1, user="100", cuisine=1001, table=123, remark=None):
    body = {"tableId": table, "cuisineId": cuisine, "quantity": quantity}
    if remark is not None:
        body["remark"] = remark
    return server.request("POST", "/store/order/cart/add", json=body,
                          headers={"Idempotency-Key": key, "X-User-Id": user})


def test_answers_survive_sigterm_and_kill9(start_server):
    s = start_server()
    first = keyed_add(s, "k-restart", 2)
    assert envelope(first)["version"] == 1
    s.stop_and_check()
    s2 = start_server(db=s.db)
    again = keyed_add(s2, "k-restart", 2)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["ETag"] == '"v1"'
    second = keyed_add(s2, "k-kill", 1, cuisine=1002)
    assert envelope(second)["version"] == 2
    s2.kill9()
    s3 = start_server(db=s.db)
    assert keyed_add(s3, "k-kill", 1, cuisine=1002).content == second.content
    assert keyed_add(s3, "k-restart", 2).content == first.content
    data = s3.cart(123)
    assert data["version"] == 2
    assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(1001, 2), (1002, 1)]


def test_an_unchanged_answer_is_remembered_too(start_server):
    """A valid change that changed nothing is a 200 as well: its retry replays that answer even
    after the cart moved on and a restart."""
    s = start_server()
    envelope(s.add(123, 1001, 2))                                   # v1, quantity 2
    h = {"Idempotency-Key": "k-same", "X-User-Id": "100"}
    same = s.update(123, 1001, 2, headers=h)                          # unchanged: v1
    assert envelope(same)["version"] == 1
    envelope(s.update(123, 1001, 5))                                  # v2, quantity 5
    s.stop_and_check()
    s2 = start_server(db=s.db)
    again = s2.update(123, 1001, 2, headers=h)
    assert again.content == same.content                             # not applied: stays 5
    assert s2.cart(123)["items"][0]["quantity"] == 5


def test_a_retry_racing_its_original_applies_once(server):
    """Twenty copies of one keyed change sent at once on twenty connections: one change, twenty
    identical answers."""
    results = race_keyed_adds([server] * 20)
    assert len(results) == 20
    assert {st for st, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    data = server.cart(123)
    assert data["version"] == 1 and data["items"][0]["quantity"] == 1


def test_one_caller_cannot_push_out_anothers_answers(server):
    """Caller 200 spends far more than its 1 MiB budget on keyed changes with long remarks; the
    answer remembered for caller 100 is still replayed, and 200's oldest answers were dropped
    (its own retry of the first key applies again)."""
    mine = keyed_add(server, "mine", 1, user="100", cuisine=1001)
    assert envelope(mine)["version"] == 1
    remark = "很长的备注" * 40                                      # 200 characters, 600 bytes
    envelope(keyed_add(server, "setup", 1, user="200", table=124, remark=remark))
    sess = requests.Session()
    for i in range(1200):                                          # ~1 KiB each: > 1 MiB
        r = sess.put(server.api("/store/order/cart/update"), timeout=IO_TIMEOUT,
                     json={"tableId": 124, "cuisineId": 1001, "quantity": 2 if i % 2 == 0 else 1},
                     headers={"Idempotency-Key": "flood-%d" % i, "X-User-Id": "200"})
        assert r.status_code == 200, r.text
    sess.close()
    # Saved as in memory: the database holds 200's newest answers, with no gap, and no more than
    # memory keeps (each forgotten answer's row went with the change that pushed it out).
    with sqlite3.connect("file:%s?mode=ro" % server.db, uri=True) as db:
        keys = [k for (k,) in db.execute("SELECT key FROM idem")]
    kept = sorted(int(m.group(1)) for m in (re.search(r"flood-(\d+)$", k) for k in keys) if m)
    assert 0 < len(kept) < 1100 and len(keys) == len(kept) + 1        # and 100's "mine"
    oldest = 1200 - len(kept)
    assert kept == list(range(oldest, 1200))
    version = server.cart(124)["version"]
    r = server.request("PUT", "/store/order/cart/update",                # still remembered
                       json={"tableId": 124, "cuisineId": 1001, "quantity": 2 - oldest % 2},
                       headers={"Idempotency-Key": "flood-%d" % oldest, "X-User-Id": "200"})
    assert r.status_code == 200 and server.cart(124)["version"] == version
    assert keyed_add(server, "mine", 1, user="100", cuisine=1001).content == mine.content
    assert server.cart(123)["version"] == 1
    before = server.cart(124)
    assert before["items"][0]["quantity"] == 1                     # the last update set 1
    r = server.request("PUT", "/store/order/cart/update",
                       json={"tableId": 124, "cuisineId": 1001, "quantity": 2},
                       headers={"Idempotency-Key": "flood-0", "X-User-Id": "200"})
    data = envelope(r)                                             # forgotten: applied again
    assert (data["version"], data["items"][0]["quantity"]) == (before["version"] + 1, 2)


def anonymous_add(server, source, key, cuisine, quantity):
    """A keyed add with no identity (--auth none), sent from the loopback address `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=IO_TIMEOUT,
                                      source_address=(source, 0))
    body = json.dumps({"tableId": 123, "cuisineId": cuisine, "quantity": quantity})
    conn.request("POST", server.api("/store/order/cart/add")[len(server.base):], body=body,
                 headers={"Content-Type": "application/json", "Idempotency-Key": key})
    r = conn.getresponse()
    out = (r.status, r.read())
    conn.close()
    return out


def test_callers_without_identity_are_told_apart_by_address(server):
    """Two diners with no user id, at two addresses, happen to use the same key: each change is
    applied (the second is not a replay of the first's answer), and each one's retry replays its
    own answer."""
    st, first = anonymous_add(server, "127.0.0.1", "order-1", 1001, 1)
    assert st == 200 and json.loads(first)["data"]["version"] == 1
    st, second = anonymous_add(server, "127.0.0.2", "order-1", 1002, 3)
    assert st == 200
    data = json.loads(second)["data"]
    assert data["version"] == 2
    assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(1001, 1), (1002, 3)]
    assert anonymous_add(server, "127.0.0.1", "order-1", 1001, 1) == (200, first)
    assert anonymous_add(server, "127.0.0.2", "order-1", 1002, 3) == (200, second)
    assert server.cart(123)["version"] == 2


def test_a_key_is_scoped_by_the_route_not_its_spelling(server):
    """/cart/add, /cart/add/ and /cart/ad%64 are one route (docs/api.md): a retry through another
    spelling of the path replays the answer, and the change is applied once."""
    first = keyed_add(server, "k-spelling")
    assert envelope(first)["version"] == 1
    body = {"tableId": 123, "cuisineId": 1001, "quantity": 1}
    h = {"Idempotency-Key": "k-spelling", "X-User-Id": "100"}
    for path in ("/store/order/cart/add/", "/store/order/cart/ad%64"):
        again = server.request("POST", path, json=body, headers=h)
        assert again.status_code == 200
        assert again.content == first.content
    data = server.cart(123)
    assert data["version"] == 1
    assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(1001, 1)]
