"""An instance whose cart in memory is behind the stored one (another
instance's change is still on its way over pub/sub) never answers from that
cart alone: a change that changes nothing there, or one refused because of
the cart's content (If-Match, a line not in the cart), is compared with the
stored version first, and decided again on the stored cart when it moved on
(docs/redis.md, "How a change is made").

The stale copy is made on purpose: the cart is written into Redis directly,
in the stored format, and nothing is published, so instance B keeps the
version before it in memory for as long as the test wants."""

import re

import requests

from live_support import SSEStream
from support import IO_TIMEOUT, envelope, error, wait_until

T = 123


def cart_key(table=T):
    return "tablecart:cart:%d" % table


def stored(redis, table=T):
    """(version, cart JSON text) as stored."""
    v, cart = redis.command("HMGET", cart_key(table), "version", "cart")
    return int(v), cart


def write_behind_their_back(redis, cart_json, version, table=T):
    """Stores cart_json (a stored cart's JSON) as version `version`, as the
    Lua script would, but publishes nothing: no instance hears of it."""
    text, n = re.subn(r'"version":\d+', '"version":%d' % version, cart_json)
    assert n == 1, cart_json
    updated = re.search(r'"updatedAt":(\d+)', text).group(1)
    redis.command("HSET", cart_key(table), "version", version, "updatedAt", updated, "cart", text)


def calls(redis, command):
    """How many times Redis ran command (INFO commandstats)."""
    m = re.search(r"^cmdstat_%s:calls=(\d+)" % command, redis.command("INFO", "commandstats"),
                  re.M)
    return int(m.group(1)) if m else 0


def lines(d):
    return [(i["cuisineId"], i["quantity"]) for i in d["items"]]


def test_answers_are_compared_with_the_stored_cart(redis, two, clients):
    a, b = two
    sse_b = clients(SSEStream(b.port, table=T)).start()  # B follows the table
    assert sse_b.next_event().event == "connected"
    assert sse_b.next_update().id == "0"

    # Carts as the script stores them, made by real changes on A: B hears them all.
    snapshots = {}
    for step, call in enumerate([lambda: a.add(T, 1001, 2), lambda: a.update(T, 1001, 5),
                                 lambda: a.add(T, 1002, 1), lambda: a.remove(T, 1002),
                                 lambda: a.update(T, 1001, 2)], start=1):
        assert envelope(call())["version"] == step
        assert sse_b.next_update().id == str(step)
        snapshots[step] = stored(redis)[1]
    # B serves table 123 from memory once its subscription's read is done: a
    # read of B then costs Redis no HGET.
    def from_memory():
        before = calls(redis, "hget")
        envelope(b.get_cart(T))
        return calls(redis, "hget") == before
    wait_until(from_memory, IO_TIMEOUT, "B serving table 123 from memory")

    # Stored: v6 with 5 of 1001; B still has v5 with 2. "Set it to 2" is a
    # change of the stored cart: applied to it, v7.
    write_behind_their_back(redis, snapshots[2], 6)
    d = envelope(b.update(T, 1001, 2))
    assert (d["version"], lines(d)) == (7, [(1001, 2)])
    assert stored(redis)[0] == 7
    assert envelope(a.get_cart(T)) == d
    # B's stream got the stored v6 (read after the compare lost) and then v7.
    assert [sse_b.next_update().id, sse_b.next_update().id] == ["6", "7"]

    # If-Match with the stored version, B one version behind: 200, not 409.
    write_behind_their_back(redis, snapshots[2], 8)
    d = envelope(b.update(T, 1001, 3, headers={"If-Match": '"v8"'}))
    assert (d["version"], lines(d)) == (9, [(1001, 3)])
    assert stored(redis)[0] == 9
    # And If-Match with B's own (old) version is refused by the stored one.
    write_behind_their_back(redis, snapshots[2], 10)
    error(b.update(T, 1001, 4, headers={"If-Match": '"v9"'}), 409)
    assert stored(redis)[0] == 10

    # A line B does not have but the stored cart does: removed, not 404.
    write_behind_their_back(redis, snapshots[3], 11)  # 1001 x 5, 1002 x 1
    d = envelope(b.remove(T, 1002))
    assert (d["version"], lines(d)) == (12, [(1001, 5)])
    assert stored(redis)[0] == 12

    # B up to date now: a change that changes nothing costs one compare and
    # no write; a refusal that no cart could change (an unknown dish, a
    # quantity out of range) costs nothing.
    before = calls(redis, "evalsha")
    d = envelope(b.update(T, 1001, 5))
    assert d["version"] == 12
    assert calls(redis, "evalsha") == before + 1
    error(b.add(T, 9999, 1), 404)
    error(b.add(T, 1001, 0), 400)
    assert calls(redis, "evalsha") == before + 1
    assert stored(redis)[0] == 12


def scraped(server, sample):
    """The value of one sample line of /metrics (name with its labels, as sent)."""
    text = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT).text
    m = re.search(r"^%s (\S+)$" % re.escape(sample), text, re.M)
    assert m, "%s not in /metrics" % sample
    return float(m.group(1))


def test_a_change_that_always_loses_its_race_is_store_busy_and_a_store_error(redis, server):
    """The stored version is moved past the cart stored with it, so every compare-and-set of the
    instance loses, as if another instance won each race: the change is applied again on the
    cart read anew 16 times, then answered 503 "store busy" (docs/redis.md, "How a change is
    made"), and counted once as a failed store call (docs/operations.md, "Health and metrics")."""
    envelope(server.add(T, 1001, 1))
    redis.command("HSET", cart_key(), "version", 50)
    cart_before = stored(redis)[1]
    calls_before = scraped(server, "tablecart_store_latency_seconds_count")
    evals_before = calls(redis, "evalsha")
    r = server.add(T, 1001, 1, headers={"Accept-Language": "en"})
    assert error(r, 503) == "store busy: table 123 is changing too fast, try again"
    assert calls(redis, "evalsha") == evals_before + 16
    assert stored(redis) == (50, cart_before)  # nothing written
    assert scraped(server, "tablecart_store_latency_seconds_count") == calls_before + 1
    assert scraped(server, "tablecart_store_errors_total") == 1
    assert scraped(server, "tablecart_mutations_rejected_total") == 1
