"""Seats and names with two instances on one Redis (docs/api.md, "Presence";
docs/redis.md): diners joining through both instances at once get distinct
seats 1..n in Redis, a diner keeps one seat whatever instance they come
through, names are the same everywhere, and none of it touches the cart."""

import requests

from live_support import SSEStream, next_presence
from support import IO_TIMEOUT, envelope

USERS = 24  # joining at once, half through each instance


def name(server, user, text, table=123):
    r = requests.put(server.api("/store/order/table/%d/name" % table), json={"name": text},
                     headers={"X-User-Id": str(user)}, timeout=IO_TIMEOUT)
    return envelope(r)


def seated(p, user):
    return any(d["userId"] == user for d in p["diners"])


def test_two_instances_seat_at_once_without_duplicates(two, clients):
    a, b = two
    # Every stream's request is sent before any answer is read.
    streams = [clients(SSEStream((a if u % 2 else b).port, 123, query="?userId=%d" % u))
               for u in range(1, USERS + 1)]
    for u, s in enumerate(streams, 1):
        s.start()
        p = next_presence(s, lambda d, u=u: seated(d, u))
        assert p["tableId"] == 123

    # The list as Redis has it, through either instance's name answer.
    whole = name(a, 1, "张三")
    seats = sorted(d["seat"] for d in whole["diners"])
    assert seats == list(range(1, USERS + 1)), whole
    assert sorted(d["userId"] for d in whole["diners"]) == list(range(1, USERS + 1))
    assert [d["seat"] for d in whole["diners"]] == seats  # in seat order
    by_user = {d["userId"]: d for d in whole["diners"]}
    assert by_user[1]["name"] == "张三"
    assert all(d["name"] == "%d号" % d["seat"] for d in whole["diners"] if d["userId"] != 1)

    # A diner keeps the seat through the other instance, and B sees A's name.
    other = name(b, 2, "李四")
    mine = {d["userId"]: (d["seat"], d["name"]) for d in other["diners"]}
    assert mine[2] == (by_user[2]["seat"], "李四")
    assert mine[1] == (by_user[1]["seat"], "张三")
    s = clients(SSEStream(b.port, 123, query="?userId=1")).start()
    p = next_presence(s, lambda d: seated(d, 1))
    assert {d["userId"]: d["seat"] for d in p["diners"]} == {u: sd[0] for u, sd in mine.items()}

    # Seats are not cart changes: both instances still serve version 0.
    assert a.cart(123)["version"] == 0 and b.cart(123)["version"] == 0


def test_presence_counts_and_names_across_instances(two, clients):
    """Who is at the table across instances (issue 11 over the Redis routing):
    each instance signals its own diners on the table's channel, so a stream on
    A counts a diner whose phone is on B, hears B's rename, and stops counting
    B's diners when B's stream closes and when B is killed (their entries
    expire)."""
    a, b = two
    on_a = clients(SSEStream(a.port, 124, query="?userId=7")).start()
    next_presence(on_a, lambda d: d["online"] == 1)
    on_b = clients(SSEStream(b.port, 124, query="?userId=8")).start()
    p = next_presence(on_a, lambda d: d["online"] == 2)
    assert [(d["userId"], d["online"]) for d in p["diners"]] == [(7, True), (8, True)]
    next_presence(on_b, lambda d: d["online"] == 2)

    # B's diner renames through B: A's stream hears the new name.
    name(b, 8, "王五", table=124)
    p = next_presence(on_a, lambda d: any(x["name"] == "王五" for x in d["diners"]))
    assert {d["userId"]: d["name"] for d in p["diners"]} == {7: "1号", 8: "王五"}

    # The phone on B goes away: A counts one again.
    on_b.close()
    p = next_presence(on_a, lambda d: d["online"] == 1)
    assert [(d["userId"], d["online"]) for d in p["diners"]] == [(7, True), (8, False)]

    # A diner on B again, then B is killed: its entry expires on A.
    clients(SSEStream(b.port, 124, query="?userId=9")).start()
    next_presence(on_a, lambda d: d["online"] == 2)
    b.kill9()
    p = next_presence(on_a, lambda d: d["online"] == 1)
    assert [d["userId"] for d in p["diners"] if d["online"]] == [7]
