"""Redis going away and coming back (SPEC §2 503, §8 /healthz): calls fail fast
with 503 while it is gone, live streams stay open, and everything works again
(pub/sub included) once it is back. A Redis that stops answering is noticed
by our own command timeout. Acknowledged changes survive kill -9 of Redis."""

import json
import time

import pytest
import requests

from live_support import SSEStream, WSClient
from redis_support import wait_status
from support import ASAN, IO_TIMEOUT, SCALE, envelope, error, wait_until

# Command timeout (2 s) + reconnect back-off (<= 1 s) + slack.
RECOVER = 10 * SCALE


def healthz(server):
    return requests.get(server.url("/healthz"), timeout=IO_TIMEOUT)


def open_streams(server, clients):
    s = clients(SSEStream(server.port, table=123)).start()
    assert s.next_event().event == "connected"
    w = clients(WSClient(server.port, table=123))
    assert w.recv()["type"] == "connected"
    return s, w


def test_redis_down_answers_503_then_recovers(redis, two, clients):
    a, b = two
    sse_a, ws_a = open_streams(a, clients)
    sse_b, ws_b = open_streams(b, clients)
    assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
    assert sse_b.next_update().id == "0" and ws_b.recv()["data"]["version"] == 0
    assert healthz(a).status_code == 200
    envelope(a.add(123, 1001, 1))
    assert sse_b.next_update().id == "1" and ws_a.recv()["data"]["version"] == 1
    assert sse_a.next_update().id == "1" and ws_b.recv()["data"]["version"] == 1

    redis.stop()
    for srv in (a, b):
        error(wait_status(lambda: healthz(srv), 503, RECOVER, "healthz 503"), 503)
        error(srv.get_cart(123), 503, "store unavailable")
        error(srv.add(123, 1001, 1), 503, "store unavailable")
        error(srv.clear(123), 503)
    ws_b.send({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 1}})
    m = ws_b.recv()
    assert m["type"] == "error" and "store unavailable" in m["message"], m
    ws_b.send({"type": "heartbeat"})  # still open and served
    assert ws_b.recv()["message"] == "pong"

    redis.start()
    for srv in (a, b):
        wait_status(lambda: healthz(srv), 200, RECOVER, "healthz 200 again")
    # The change made before the outage is there (AOF); new ones flow to
    # every stream, on both instances, through the new subscriptions.
    assert b.cart(123)["version"] == 1
    envelope(b.add(123, 1002, 2))
    for s in (sse_a, sse_b):
        ev = s.next_update()
        assert ev.id == "2" and '"totalQuantity":3' in ev.data
    assert ws_a.recv()["data"]["version"] == 2
    assert ws_b.recv()["data"]["version"] == 2
    ws_a.send({"type": "update_quantity", "data": {"cuisineId": 1002, "quantity": 5}})
    assert ws_a.recv()["type"] == "update_quantity_success"
    assert ws_b.recv()["data"]["totalQuantity"] == 6
    assert sse_a.next_update().id == sse_b.next_update().id == "3"


def test_unresponsive_redis_times_out(redis, server, clients):
    sse_s, _ = open_streams(server, clients)
    assert sse_s.next_update().id == "0"
    envelope(server.add(123, 1001, 1))
    assert sse_s.next_update().id == "1"
    redis.pause()  # connections stay open, nothing answers
    try:
        started = time.monotonic()
        r = server.request("POST", "/store/order/cart/add", timeout=RECOVER,
                           json={"tableId": 123, "cuisineId": 1001, "quantity": 1})
        took = time.monotonic() - started
        error(r, 503, "store unavailable", "no answer within 2 s")
        assert 1.5 <= took <= (6 if not ASAN else RECOVER), took
        error(wait_status(lambda: healthz(server), 503, RECOVER, "healthz 503"), 503)
    finally:
        redis.resume()
    wait_status(lambda: healthz(server), 200, RECOVER, "healthz 200 again")
    # The cart was in memory, so the timed-out add's write was sent at once:
    # it may or may not have landed once Redis went on (docs/redis.md). Either
    # way the next add builds on what is stored, and the stream catches up in
    # order (a landed write comes back through the resync).
    d = envelope(server.add(123, 1001, 1))
    assert d["version"] in (2, 3) and d["totalQuantity"] == d["version"], d
    ids = [int(sse_s.next_update().id)]
    while ids[-1] < d["version"]:
        ids.append(int(sse_s.next_update().id))
    assert ids == list(range(2, d["version"] + 1)), ids


def test_acknowledged_changes_survive_kill9_of_redis(redis, server):
    last = None
    for q in (1, 2, 3):
        last = envelope(server.add(123, 1001, q))
    last124 = envelope(server.add(124, 1040, 1))
    redis.kill9()
    redis.start()
    wait_status(lambda: healthz(server), 200, RECOVER, "healthz 200 after the restart")
    assert server.cart(123) == last
    assert server.cart(124) == last124
    assert last["version"] == 3 and last["totalQuantity"] == 6


def test_start_fails_clearly_when_redis_is_not_there(start_server, redis):
    from support import run_cli
    redis.stop()
    r = run_cli("serve", "--listen", "127.0.0.1:0", "--store", redis.url, env={"TABLECART_AUTH": "none"})
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "tablecart: store: %s: cannot connect: Connection refused" % redis.url in err, err
    redis.start()
    wait_until(lambda: start_server(), IO_TIMEOUT, "a server once Redis is back")


def test_connections_reset_by_peer(redis, start_server, clients):
    """RST instead of a clean close, for open connections and for reconnects
    (libuv reports these as poll errors, which hiredis's own adapter drops)."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        s = start_server(url=proxy.url)
        sse_s, _ = open_streams(s, clients)
        assert sse_s.next_update().id == "0"
        envelope(s.add(123, 1001, 1))
        assert sse_s.next_update().id == "1"
        proxy.reset()
        error(wait_status(lambda: healthz(s), 503, RECOVER, "healthz 503"), 503)
        error(wait_status(lambda: s.get_cart(123), 503, RECOVER, "503"), 503, "store unavailable")
        proxy.heal()
        wait_status(lambda: healthz(s), 200, RECOVER, "healthz 200 again")
        assert envelope(s.add(123, 1001, 1))["version"] == 2
        assert sse_s.next_update().id == "2"
    finally:
        proxy.close()


def test_silent_subscription_is_noticed_and_resynced(redis, start_server, clients):
    """The subscriber connection dies without FIN or RST while commands still
    work: the heartbeat through pub/sub notices, the instance resubscribes and
    re-reads the carts, and its diners get the change they missed."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        a = start_server(url=proxy.url)
        b = start_server(menu=None)  # straight to Redis
        sse_a, ws_a = open_streams(a, clients)
        assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
        proxy.mute_subscribers()
        d = envelope(b.add(123, 1001, 2))
        ev = sse_a.next_update(timeout=RECOVER)
        assert ev.id == "1" and ev.json() == d
        m = ws_a.recv(timeout=RECOVER)
        assert (m["type"], m["data"]) == ("cart_update", d)
        assert "no heartbeat heard on the subscription" in a.stderr()
        envelope(b.add(123, 1001, 1))  # and the new subscription works
        assert sse_a.next_update().id == "2"
    finally:
        proxy.close()


def test_write_whose_reply_is_lost(redis, start_server, clients):
    """The command connection is reset after a cart write reached Redis and
    before its reply came back, while the subscriber connection stays up. The
    caller gets 503 (the outcome is unknown to it); the write landed, and the
    instance serves the stored cart from then on: its stream gets it without
    any new change, although the instance skips its own pub/sub message."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        s = start_server(url=proxy.url)
        sse_s, _ = open_streams(s, clients)
        assert sse_s.next_update().id == "0"
        envelope(s.add(123, 1001, 2))
        assert sse_s.next_update().id == "1"

        cut = proxy.cut_after_write()
        error(s.update(123, 1001, 5), 503, "store unavailable")
        assert cut.wait(IO_TIMEOUT)
        version, cart = redis.command("HMGET", "tablecart:cart:123", "version", "cart")
        assert version == "2" and json.loads(cart)["items"][0]["quantity"] == 5
        ev = sse_s.next_update(timeout=RECOVER)
        assert ev.id == "2" and ev.json() == json.loads(cart)
        assert s.cart(123) == json.loads(cart)
        # Built on the stored cart: "2" is a change again, v3.
        d = envelope(s.update(123, 1001, 2))
        assert d["version"] == 3 and d["totalQuantity"] == 2
        assert sse_s.next_update().id == "3"
        err = s.stderr()
        assert "commands connection lost" in err and "subscriber connection" not in err, err
    finally:
        proxy.close()


def test_diners_changed_while_the_subscription_was_down_are_read_again(redis, start_server,
                                                                        clients):
    """A's subscription goes silent while B renames a diner and seats a new
    one: the "diners" signal never reaches A. Once A subscribed again its
    streams get the table's diners as Redis has them, as they get its cart."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        a = start_server(url=proxy.url)
        b = start_server(menu=None)
        s = clients(SSEStream(a.port, table=123, query="?userId=101")).start()
        assert s.next_event().event == "connected"

        def presence(pred, timeout=IO_TIMEOUT):
            while True:
                ev = s.next_event(timeout=timeout, skip_heartbeats=True, skip_presence=False)
                if ev.event == "presence" and pred(ev.json()):
                    return ev.json()

        presence(lambda p: [d["userId"] for d in p["diners"]] == [101])
        proxy.mute_subscribers()
        r = requests.put(b.api("/store/order/table/123/name"), json={"name": "张三"},
                         headers={"X-User-Id": "101"}, timeout=IO_TIMEOUT)
        envelope(r)
        r = requests.put(b.api("/store/order/table/123/name"), json={"name": "李四"},
                         headers={"X-User-Id": "102"}, timeout=IO_TIMEOUT)
        envelope(r)
        p = presence(lambda p: len(p["diners"]) == 2, timeout=RECOVER)
        # A found its silent subscription dead by the heartbeats that stopped coming, or, when
        # the mute came before its subscription was confirmed (A had started a moment before,
        # on a busy machine), by the confirmation that never came; either way it subscribed
        # again on a new connection, which the mute does not reach.
        err = a.stderr()
        assert "no heartbeat heard on the subscription" in err \
            or "subscription not confirmed in time" in err, err
        assert "subscribed to its channels again" in err, err
        assert [(d["userId"], d["seat"], d["name"], d["online"]) for d in p["diners"]] == [
            (101, 1, "张三", True), (102, 2, "李四", False)]
    finally:
        proxy.close()


def test_redis_back_empty_streams_start_over(tmp_path, start_server, clients):
    """Redis restarted with no persistence (or a cart lost to eviction, a
    failover, FLUSHALL): the stored carts are gone, versions start again at 0.
    Redis is the truth: the instances serve the empty cart, not the one they
    kept in memory, and their streams, which showed a higher version that
    every later one would hide, end so that their clients come back and get
    the stored cart as a snapshot (SSE ends, WebSocket closes 1012)."""
    from live_support import Closed
    from redis_support import RedisServer
    r = RedisServer(tmp_path, extra=["--appendonly", "no"], name="volatile")
    try:
        a = start_server(redis=r)
        b = start_server(redis=r, menu=None)
        sse_a, ws_a = open_streams(a, clients)
        sse_b, ws_b = open_streams(b, clients)
        assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
        assert sse_b.next_update().id == "0" and ws_b.recv()["data"]["version"] == 0
        for q in (1, 2, 3):
            envelope(a.update(123, 1001, q) if q > 1 else a.add(123, 1001, 1))
        for s in (sse_a, sse_b):
            assert [s.next_update().id for _ in range(3)] == ["1", "2", "3"]
        for w in (ws_a, ws_b):
            assert [w.recv()["data"]["version"] for _ in range(3)] == [1, 2, 3]

        r.kill9()
        r.start()  # empty
        for srv in (a, b):
            wait_status(lambda: healthz(srv), 200, RECOVER, "healthz 200 again")
        for srv in (a, b):
            c = srv.cart(123)
            assert (c["version"], c["items"]) == (0, []), c
        for s in (sse_a, sse_b):
            try:
                ev = s.next_event(timeout=RECOVER, skip_heartbeats=True)
                raise AssertionError("stream still open, got %r" % ev)
            except Closed:
                pass
        for w in (ws_a, ws_b):
            w.wait_closed(RECOVER)
            assert w.close_code == 1012
        # The clients come back: the stored cart, then every change from v1.
        sse_a2, ws_a2 = open_streams(a, clients)
        sse_b2, ws_b2 = open_streams(b, clients)
        for s in (sse_a2, sse_b2):
            assert s.next_update().id == "0"
        for w in (ws_a2, ws_b2):
            assert w.recv()["data"]["version"] == 0
        d = envelope(b.add(123, 1002, 2))
        assert d["version"] == 1 and d["totalQuantity"] == 2
        for s in (sse_a2, sse_b2):
            assert s.next_update().json() == d
        for w in (ws_a2, ws_b2):
            assert w.recv()["data"] == d
    finally:
        r.kill9()


def test_redis_full_refuses_changes_then_recovers(redis, two, clients):
    """Redis at its maxmemory under the noeviction policy (its default, and the
    one docs/redis.md asks for) refuses the cart script's write (OOM): the
    change is answered 503 on both instances, over REST and WebSocket, nothing
    is pushed and the stored version stays; reads and streams go on, and once
    Redis has room again the next change is the next version, pushed to every
    stream without a gap."""
    a, b = two
    sse_a, ws_a = open_streams(a, clients)
    sse_b, ws_b = open_streams(b, clients)
    assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
    assert sse_b.next_update().id == "0" and ws_b.recv()["data"]["version"] == 0
    envelope(a.add(123, 1001, 1))
    assert sse_a.next_update().id == sse_b.next_update().id == "1"
    assert ws_a.recv()["data"]["version"] == ws_b.recv()["data"]["version"] == 1
    assert redis.command("CONFIG", "SET", "maxmemory-policy", "noeviction") == "OK"
    assert redis.command("CONFIG", "SET", "maxmemory", "1") == "OK"
    try:
        for srv in (a, b):
            error(srv.add(123, 1002, 1), 503, "store unavailable")
            error(srv.clear(123), 503, "store unavailable")
        ws_b.send({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1}})
        m = ws_b.recv()
        assert m["type"] == "error" and "store unavailable" in m["message"], m
        for srv in (a, b):
            got = srv.cart(123)
            assert (got["version"], got["totalQuantity"]) == (1, 1)
        assert "OOM command not allowed" in a.stderr()
    finally:
        assert redis.command("CONFIG", "SET", "maxmemory", "0") == "OK"
    d = envelope(b.add(123, 1002, 2))
    assert (d["version"], d["totalQuantity"]) == (2, 3)
    # the refused changes were pushed to nobody: every stream's next is version 2
    assert sse_a.next_update().id == sse_b.next_update().id == "2"
    assert ws_a.recv()["data"]["version"] == 2
    m = ws_b.recv()
    assert (m["type"], m["data"]["version"]) == ("cart_update", 2), m


def assert_streams_ended(sses, ws, passed=()):
    """The table's streams started over: each SSE stream ends, with nothing
    after what it had but the updates whose ids are in passed (sent before
    the loss was found), and the WebSocket closes with 1012."""
    from live_support import Closed
    for s in sses:
        try:
            ev = s.next_event(timeout=RECOVER, skip_heartbeats=True)
            while ev.event == "cart_update" and ev.id in passed:
                ev = s.next_event(timeout=RECOVER, skip_heartbeats=True)
            raise AssertionError("stream still open, got %r" % ev)
        except Closed:
            pass
    ws.wait_closed(RECOVER)
    assert ws.close_code == 1012


def test_cart_evicted_streams_start_over(redis, two, clients):
    """A cart key Redis dropped while the connections stayed up (evicted
    under allkeys-lru, deleted): the next change reads the stored cart again
    (its write lost the race) and, found below the version the streams show,
    writes v1 and ends the table's streams, whose clients come back to it."""
    a, b = two
    sse_a, ws_a = open_streams(a, clients)
    sse_b, _ = open_streams(b, clients)
    assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
    assert sse_b.next_update().id == "0"
    envelope(a.add(123, 1001, 1))
    envelope(a.update(123, 1001, 2))
    assert [sse_b.next_update().id for _ in range(2)] == ["1", "2"]
    assert redis.command("DEL", "tablecart:cart:123") == 1
    d = envelope(a.add(123, 1002, 3))
    assert (d["version"], d["totalQuantity"]) == (1, 3), (a.stderr(), b.stderr())
    assert "the store lost it" in a.stderr(), a.stderr()
    assert_streams_ended([sse_a, sse_b], ws_a, passed=("1", "2"))
    for srv in (a, b):
        s2 = clients(SSEStream(srv.port, table=123)).start()
        assert s2.next_event().event == "connected"
        assert s2.next_update().json() == d


def test_version_lost_and_written_again_elsewhere(redis, two, clients):
    """Redis lost a table's last change (restarted from an older file, a
    failover to a replica behind) and another instance, which does not follow
    the table, wrote that version number again from the cart Redis kept. The
    instance that follows it hears a version it already sent, but not the
    write it sent (another updatedAt): it reads the cart again, serves the
    stored one and ends the table's streams, whose clients come back to it."""
    a, b = two
    sse_a, ws_a = open_streams(a, clients)
    assert sse_a.next_update().id == "0" and ws_a.recv()["data"]["version"] == 0
    d1 = envelope(a.add(123, 1001, 1))
    assert sse_a.next_update().json() == d1 and ws_a.recv()["data"] == d1
    assert redis.command("DEL", "tablecart:cart:123") == 1
    # Two writes in one millisecond would be one updatedAt: let the clock move on.
    wait_until(lambda: time.time() * 1000 > d1["updatedAt"] + 1, 5, "the clock")
    again = envelope(b.add(123, 1002, 2))
    assert (again["version"], again["totalQuantity"]) == (1, 2), b.stderr()
    assert again["updatedAt"] != d1["updatedAt"]
    assert_streams_ended([sse_a], ws_a)
    assert "is not the one seen before" in a.stderr(), a.stderr()
    assert a.cart(123) == again
    s2 = clients(SSEStream(a.port, table=123)).start()
    assert s2.next_event().event == "connected"
    assert s2.next_update().json() == again
    d2 = envelope(a.add(123, 1001, 1))
    assert d2["version"] == 2 and d2["totalQuantity"] == 3
    assert s2.next_update().json() == d2


def test_change_on_a_version_written_again_is_not_lost(redis, server, clients):
    """The same loss, but this instance makes a change before it hears the
    other write (here: a write that announces nothing). Its compare-and-set
    compares updatedAt as well as the version, so it loses the race instead of
    writing over the other instance's v1; the cart read again is the truth (the
    streams start over) and the change is applied to it."""
    s, w = open_streams(server, clients)
    assert s.next_update().id == "0" and w.recv()["data"]["version"] == 0
    d1 = envelope(server.add(123, 1001, 1, headers={"X-User-Id": "5"}))
    assert s.next_update().json() == d1 and w.recv()["data"] == d1
    other = json.loads(redis.command("HGET", "tablecart:cart:123", "cart"))
    at = d1["updatedAt"] + 1000
    other["updatedAt"] = at
    other["items"][0]["quantity"] = 5
    other["items"][0]["shares"] = [{"userId": 5, "quantity": 5}]
    text = json.dumps(other, ensure_ascii=False, separators=(",", ":"))
    redis.command("HSET", "tablecart:cart:123", "version", "1", "updatedAt", str(at),
                  "cart", text)
    d2 = envelope(server.add(123, 1001, 1, headers={"X-User-Id": "5"}))
    assert (d2["version"], d2["items"][0]["quantity"]) == (2, 6), d2
    assert "is not the one seen before" in server.stderr(), server.stderr()
    assert_streams_ended([s], w)
    assert json.loads(redis.command("HGET", "tablecart:cart:123", "cart")) == d2


def streams_during_an_outage(redis, server, clients):
    """Stops Redis, waits for the server to say so, and opens an SSE stream (user 101) and a
    WebSocket (user 102) of table 124: each gets `connected`."""
    redis.stop()
    error(wait_status(lambda: healthz(server), 503, RECOVER, "healthz 503"), 503)
    s = clients(SSEStream(server.port, table=124, query="?userId=101")).start()
    assert s.next_event().event == "connected"
    w = clients(WSClient(server.port, table=124, query="?userId=102"))
    assert w.recv()["type"] == "connected"
    return s, w


@pytest.mark.parametrize("read_before", [False, True], ids=["unread", "read-before"])
def test_stream_opened_during_the_outage_gets_its_snapshot(redis, server, clients, read_before):
    """A stream opened while Redis is down gets `connected` only: the cart
    cannot be read. Once Redis is back it gets its snapshot, exactly once and
    at the stored version — also for a table never changed (the empty cart at
    version 0, which no change will ever bring; read_before: already read
    here, so the resync's read of it is nothing new) — then the table's
    presence, and every later change in order."""
    if read_before:
        assert server.cart(124)["version"] == 0
    s, w = streams_during_an_outage(redis, server, clients)

    redis.start()
    wait_status(lambda: healthz(server), 200, RECOVER, "healthz 200 again")
    ev = s.next_event(timeout=RECOVER, skip_heartbeats=True)
    assert (ev.event, ev.id) == ("cart_update", "0"), ev
    assert (ev.json()["version"], ev.json()["items"]) == (0, [])
    ev = s.next_event(timeout=RECOVER, skip_heartbeats=True, skip_presence=False)
    assert ev.event == "presence", ev
    assert 101 in [d["userId"] for d in ev.json()["diners"]], ev.json()
    m = w.recv(timeout=RECOVER)
    assert (m["type"], m["data"]["version"], m["data"]["items"]) == ("cart_update", 0, []), m
    m = w.recv(timeout=RECOVER, skip_presence=False)
    assert m["type"] == "presence", m
    assert 102 in [d["userId"] for d in m["data"]["diners"]], m
    # No second snapshot: the next update either stream gets is the change.
    d = envelope(server.add(124, 1040, 1))
    assert d["version"] == 1
    assert s.next_update().json() == d
    assert w.recv()["data"] == d


def test_streams_waiting_for_their_snapshot_close_and_stop(redis, server, clients):
    """Streams whose snapshot waits for Redis are let go when their client
    leaves or the server stops, Redis still down: SIGTERM exits 0 in time."""
    s, w = streams_during_an_outage(redis, server, clients)
    s.close()
    w.send({"type": "heartbeat"})  # heard while its snapshot waits
    assert w.recv()["message"] == "pong"
    server.stop_and_check()
