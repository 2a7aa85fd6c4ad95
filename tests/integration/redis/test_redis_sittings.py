"""Sittings with two instances on one Redis (docs/api.md, "Presence"; docs/redis.md): a diner
online on one instance for longer than the gap keeps the table's sitting for a diner arriving
through the other; once everyone left for the gap, the next diner through either is 1号 and
both instances show the same list."""

import time

import requests

from live_support import SSEStream
from support import IO_TIMEOUT, wait_until

GAP = 2  # seconds: --sitting-gap of both instances


def presence(stream, pred):
    while True:
        ev = stream.next_event(skip_heartbeats=True, skip_presence=False)
        if ev.event == "presence" and pred(ev.json()):
            return ev.json()


def seats(p):
    return [(d["userId"], d["seat"], d["name"]) for d in p["diners"]]


def join(server, clients, user, table=123):
    s = clients(SSEStream(server.port, table, query="?userId=%d" % user))
    s.start()
    p = presence(s, lambda d: any(x["userId"] == user for x in d["diners"]))
    return s, p


def streams_open(server):
    text = requests.get(server.base + "/metrics", timeout=IO_TIMEOUT).text
    return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('tablecart_connections{kind="sse"}')
               or line.startswith('tablecart_connections{kind="ws"}'))


def wait_for(seconds, what):
    until = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() >= until, seconds + 5, what)


def test_sitting_across_instances(start_server, clients, redis):
    a = start_server("--sitting-gap", str(GAP))
    b = start_server("--sitting-gap", str(GAP), menu=None)

    # A diner online on A for longer than the gap, named there.
    on_a, _ = join(a, clients, 1)
    requests.put(a.api("/store/order/table/123/name"), json={"name": "老王"},
                 headers={"X-User-Id": "1"}, timeout=IO_TIMEOUT).raise_for_status()
    wait_for(GAP * 1.5, "more than the gap with diner 1 online on A")
    active = redis.command("HGET", "tablecart:diners:123", "active")
    assert active is not None and int(active) > 0

    # A new diner through B joins the same sitting: the next seat, nothing forgotten.
    on_b, p = join(b, clients, 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]
    p = presence(on_a, lambda d: len(d["diners"]) == 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]

    # Everyone leaves; after the gap B's next diner starts a new sitting at 1号.
    on_a.close()
    on_b.close()
    wait_until(lambda: streams_open(a) == 0 and streams_open(b) == 0, IO_TIMEOUT,
               "every stream closed")
    wait_for(GAP + 0.5, "the gap with nobody at the table")
    on_b, p = join(b, clients, 3)
    assert p == {"tableId": 123, "online": 1,
                 "diners": [{"userId": 3, "seat": 1, "name": "1号", "online": True}]}

    # Diner 1 comes back through A: a new diner of this sitting, seen the same on both.
    on_a, p = join(a, clients, 1)
    assert seats(p) == [(3, 1, "1号"), (1, 2, "2号")]
    p = presence(on_b, lambda d: len(d["diners"]) == 2)
    assert seats(p) == [(3, 1, "1号"), (1, 2, "2号")]
    assert redis.command("HGET", "tablecart:diners:123", "name:1") is None
