"""Sittings with two instances on one Redis (docs/api.md, "Presence"; docs/redis.md): a diner
online on one instance for longer than the gap keeps the table's sitting for a diner arriving
through the other; once everyone left for the gap, the next diner through either is 1号 and
both instances show the same list. After a Redis outage longer than the gap, an instance whose
diner stayed tells Redis so as soon as it is back."""

import requests

from live_support import diner_stream, next_presence, seats, streams_open, wait_out
from support import ASAN, IO_TIMEOUT, SCALE, wait_until

RECOVER = 10 * SCALE  # command timeout (2 s) + reconnect back-off (<= 1 s) + slack

GAP = 4 if ASAN else 2  # seconds: --sitting-gap of both instances (a slower build, a longer gap)


def test_sitting_across_instances(start_server, clients, redis):
    a = start_server("--sitting-gap", str(GAP))
    b = start_server("--sitting-gap", str(GAP), menu=None)

    # A diner online on A for longer than the gap, named there.
    on_a, _ = diner_stream(a, clients, 1)
    requests.put(a.api("/store/order/table/123/name"), json={"name": "老王"},
                 headers={"X-User-Id": "1"}, timeout=IO_TIMEOUT).raise_for_status()
    wait_out(GAP * 1.5, "more than the gap with diner 1 online on A")
    active = redis.command("HGET", "tablecart:diners:123", "active")
    assert active is not None and int(active) > 0

    # A new diner through B joins the same sitting: the next seat, nothing forgotten.
    on_b, p = diner_stream(b, clients, 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]
    p = next_presence(on_a, lambda d: len(d["diners"]) == 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]

    # Everyone leaves; after the gap B's next diner starts a new sitting at 1号.
    on_a.close()
    on_b.close()
    wait_until(lambda: streams_open(a) == 0 and streams_open(b) == 0, IO_TIMEOUT,
               "every stream closed")
    wait_out(GAP + 0.5, "the gap with nobody at the table")
    on_b, p = diner_stream(b, clients, 3)
    assert p == {"tableId": 123, "online": 1,
                 "diners": [{"userId": 3, "seat": 1, "name": "1号", "online": True}]}

    # Diner 1 comes back through A: a new diner of this sitting, seen the same on both.
    on_a, p = diner_stream(a, clients, 1)
    assert seats(p) == [(3, 1, "1号"), (1, 2, "2号")]
    p = next_presence(on_b, lambda d: len(d["diners"]) == 2)
    assert seats(p) == [(3, 1, "1号"), (1, 2, "2号")]
    assert redis.command("HGET", "tablecart:diners:123", "name:1") is None


def test_a_stream_without_a_user_after_the_gap_ends_the_sitting(start_server, clients, redis):
    """A screen with no userId opens on B after everyone left A for the gap: B's touch for the
    table it now follows ends the last sitting in Redis (found in review: it only stored the
    time, and the last party's seats came back)."""
    from live_support import SSEStream
    a = start_server("--sitting-gap", str(GAP))
    b = start_server("--sitting-gap", str(GAP), menu=None)
    on_a, _ = diner_stream(a, clients, 1)
    on_a.close()
    wait_until(lambda: streams_open(a) == 0, IO_TIMEOUT, "the stream closed")
    wait_out(GAP + 0.5, "the gap with nobody at the table")
    assert redis.command("HGET", "tablecart:diners:123", "seat:1") == "1"
    screen = clients(SSEStream(b.port, 123)).start()
    assert next_presence(screen, lambda d: True)["diners"] == []
    wait_until(lambda: redis.command("HGET", "tablecart:diners:123", "seat:1") is None, GAP * 2,
               "the last party's seats forgotten in Redis")
    screen.close()
    _, p = diner_stream(a, clients, 2)
    assert seats(p) == [(2, 1, "1号")]


def test_diners_stored_before_sittings_join_the_first_sitting(start_server, clients, redis):
    """A table's diners hash written before sittings has no `active`: it counts as active at the
    first step after the upgrade, which keeps the diners and starts the clock."""
    redis.command("HSET", "tablecart:diners:123", "next", "2", "seat:101", "1", "seat:102", "2",
                  "name:102", "张三")
    a = start_server("--sitting-gap", "1")
    wait_out(1.5, "longer than the gap since the diners were written")
    _, p = diner_stream(a, clients, 103)
    assert seats(p) == [(101, 1, "1号"), (102, 2, "张三"), (103, 3, "3号")]
    assert int(redis.command("HGET", "tablecart:diners:123", "active")) > 0


def test_a_party_online_through_an_outage_tells_redis_as_soon_as_it_is_back(start_server, clients,
                                                                           redis):
    """A Redis outage longer than the gap, with a diner online on A all along: A's step of the
    table failed meanwhile, so A tells Redis the table is active as soon as Redis is back, in its
    resync, not at its next refresh a quarter gap later. A diner arriving through B right after
    joins the same party, not a new sitting that would forget 老王."""
    gap = 3600  # a quarter gap (A's refresh) is far beyond this test
    a = start_server("--sitting-gap", str(gap))
    b = start_server("--sitting-gap", str(gap), menu=None)
    on_a, _ = diner_stream(a, clients, 1)
    requests.put(a.api("/store/order/table/123/name"), json={"name": "老王"},
                 headers={"X-User-Id": "1"}, timeout=IO_TIMEOUT).raise_for_status()

    # What Redis holds after an outage longer than the gap: an activity time more than a gap
    # old. Written while A is current, which refreshes it only a quarter gap later.
    seconds, _ = redis.command("TIME")
    old = (int(seconds) - 2 * gap) * 1000
    redis.command("HSET", "tablecart:diners:123", "active", str(old))
    redis.stop()
    # A step of A's diner fails during the outage: A knows Redis was not told.
    r = requests.put(a.api("/store/order/table/123/name"), json={"name": "老李"},
                     headers={"X-User-Id": "1"}, timeout=IO_TIMEOUT)
    assert r.status_code == 503, r.text
    redis.start()
    wait_until(lambda: int(redis.command("HGET", "tablecart:diners:123", "active")) > old,
               RECOVER, "A telling Redis that table 123 is active once Redis is back")

    on_b, p = diner_stream(b, clients, 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]
    p = next_presence(on_a, lambda d: len(d["diners"]) == 2)
    assert seats(p) == [(1, 1, "老王"), (2, 2, "2号")]
