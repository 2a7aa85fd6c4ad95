"""Per-table routing over Redis (docs/redis.md, "Channels"): an instance
subscribes to a table's channel while it has a live stream of the table
(SSE or WebSocket; HEAD never), so Redis sends it the changes of those tables
and of no other — counted exactly with PUBSUB NUMSUB and the instance's own
tablecart_redis_messages_received_total. A table it does not follow is read
from Redis on each use, so it never serves a stale cart. And the live menu:
`menu import` reaches every running instance without a restart."""

import json
import re
import socket
import struct

import requests

from live_support import SSEStream, WSClient
from support import IO_TIMEOUT, SCALE, envelope, run_cli, wait_until

CHANNEL = "tablecart:table:%d"


def numsub(redis, table):
    reply = redis.command("PUBSUB", "NUMSUB", CHANNEL % table)
    return int(reply[1])


def wait_numsub(redis, table, n):
    wait_until(lambda: numsub(redis, table) == n, IO_TIMEOUT, "%d subscribers of %d" % (n, table))


def metric(server, name, kind=None):
    text = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT).text
    label = '{kind="%s"}' % kind if kind else ""
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(label)), text, re.M)
    assert m, "%s%s not in /metrics" % (name, label)
    return int(m.group(1))


def heard(server):
    return metric(server, "tablecart_redis_messages_received_total", "change")


def subscribed(server):
    return metric(server, "tablecart_redis_subscribed_tables")


def sse(server, table, clients):
    s = clients(SSEStream(server.port, table=table)).start()
    assert s.next_event().event == "connected"
    return s


def test_an_instance_hears_only_the_tables_it_follows(redis, two, clients):
    a, b = two
    assert (numsub(redis, 123), numsub(redis, 124)) == (0, 0)  # nobody watches yet
    s = sse(a, 123, clients)
    assert s.next_update().id == "0"
    wait_numsub(redis, 123, 1)
    assert (subscribed(a), subscribed(b)) == (1, 0)

    for i in range(3):  # 123 through B: only A hears them
        envelope(b.add(123, 1001, 1))
    envelope(a.add(124, 1001, 1))  # nobody follows 124: nobody hears it
    envelope(b.add(124, 1001, 1))
    assert [s.next_update().id for _ in range(3)] == ["1", "2", "3"]
    assert (heard(a), heard(b)) == (3, 0)
    assert numsub(redis, 124) == 0

    # A table nobody here follows is read on each use: B never heard 123's
    # changes, yet serves the latest, and A serves 124 written by B.
    assert b.cart(123)["version"] == 3
    assert a.cart(124)["version"] == 2

    # B gets a WebSocket on 123: both hear it now, each its own change too.
    w = clients(WSClient(b.port, table=123))
    assert w.recv()["type"] == "connected"
    assert w.recv()["data"]["version"] == 3
    wait_numsub(redis, 123, 2)
    envelope(a.add(123, 1001, 1))
    assert s.next_update().id == "4" and w.recv()["data"]["version"] == 4
    wait_until(lambda: heard(b) == 1, IO_TIMEOUT, "B hearing version 4")
    assert heard(a) == 4  # its own, skipped after counting

    # The SSE stream on A ends: A unsubscribes and hears nothing more.
    s.close()
    wait_numsub(redis, 123, 1)
    wait_until(lambda: subscribed(a) == 0, IO_TIMEOUT, "A unsubscribed")
    envelope(b.add(123, 1001, 1))
    assert w.recv()["data"]["version"] == 5
    assert (heard(a), heard(b)) == (4, 2)
    assert a.cart(123)["version"] == 5  # read again: not followed any more

    w.close()
    wait_numsub(redis, 123, 0)
    assert (subscribed(a), subscribed(b)) == (0, 0)


def test_head_never_follows_and_every_end_unfollows(redis, start_server, clients):
    srv = start_server("--sse-timeout", "1")
    r = requests.head(srv.api("/store/order/sse/123"), timeout=IO_TIMEOUT)
    assert r.status_code == 200
    assert numsub(redis, 123) == 0 and subscribed(srv) == 0
    # Several streams of one table share one subscription.
    streams = [sse(srv, 123, clients) for _ in range(3)]
    wait_numsub(redis, 123, 1)
    assert subscribed(srv) == 1
    # Ended by the server (the 1 s lifetime), by the client, and by a reset.
    for st in streams:
        st.next_update()
    streams[0].close()
    streams[1].sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    streams[1].close()  # RST
    streams[2].read_to_end(timeout=5 * SCALE)  # the server ends it at its lifetime
    wait_numsub(redis, 123, 0)
    assert subscribed(srv) == 0
    # A refused WebSocket (bad table) follows nothing either.
    r = requests.get(srv.url("/ws/cart/999999"), timeout=IO_TIMEOUT, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert r.status_code == 404
    assert subscribed(srv) == 0


def test_menu_import_reaches_running_instances(redis, two, tmp_path):
    a, b = two
    for srv in (a, b):
        assert srv.request("GET", "/store/order/menu/126").status_code == 404
        assert metric(srv, "tablecart_redis_messages_received_total", "menu") == 0
    more = tmp_path / "more.json"
    more.write_text(json.dumps({"stores": [
        {"storeId": 1, "name": "Test Kitchen",
         "tables": [{"tableId": 126, "tableNumber": "A04"}],
         "cuisines": [{"cuisineId": 1001, "cuisineName": "宫保鸡丁", "cuisineType": 1,
                       "unitPrice": 39.00}]}]}), encoding="utf-8")
    r = run_cli("menu", "import", more, "--store", redis.url)
    assert r.returncode == 0, r.stderr.decode()
    # The menu is read again only on the menu channel's message (no instance polls for it):
    # the counter of that message below proves the path; the deadline only bounds the wait.
    for srv in (a, b):
        wait_until(lambda: srv.request("GET", "/store/order/menu/126").status_code == 200,
                   IO_TIMEOUT, "the new table on :%d" % srv.port)
    for srv in (a, b):
        d = envelope(srv.request("GET", "/store/order/menu/126"))
        assert d["table"] == {"tableId": 126, "tableNumber": "A04", "storeId": 1}
        dish = next(c for c in d["cuisines"] if c["cuisineId"] == 1001)
        assert str(dish["unitPrice"]) == "39.00"
        assert envelope(srv.add(126, 1001, 1))["tableId"] == 126
        assert metric(srv, "tablecart_redis_messages_received_total", "menu") == 1
        assert "the menu changed; serving the new one" in srv.stderr()


def test_a_new_subscriber_connection_subscribes_the_followed_tables_again(redis, two, clients):
    a, b = two
    s = sse(a, 123, clients)
    assert s.next_update().id == "0"
    wait_numsub(redis, 123, 1)
    envelope(a.add(124, 1001, 1))  # used, not followed
    assert redis.command("CLIENT", "KILL", "TYPE", "pubsub") >= 1  # A's subscriber connection
    wait_until(lambda: "subscribed to its channels again" in a.stderr(), IO_TIMEOUT,
               "A resubscribing")
    wait_numsub(redis, 123, 1)
    assert numsub(redis, 124) == 0 and subscribed(a) == 1
    envelope(b.add(123, 1001, 1))
    assert s.next_update().id == "1"
