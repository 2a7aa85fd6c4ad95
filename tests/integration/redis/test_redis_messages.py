"""Change messages on a table channel that no instance of this build wrote
(docs/redis.md, "Channels and messages"): a malformed cart, a cart of
another version or table than its header says, a cart that would break the
SSE framing. An instance drops them like any malformed message: its streams
never get them, and the table's next real change still reaches them."""

from live_support import SSEStream
from support import IO_TIMEOUT, envelope, wait_until

T = 123
CHANNEL = "tablecart:table:%d" % T
FOREIGN = "00000000000000ab"  # no instance of the test draws this id


def test_a_foreign_cart_is_dropped_and_the_stream_stays_live(redis, two, clients):
    a, b = two
    s = clients(SSEStream(a.port, table=T)).start()
    assert s.next_event().event == "connected"
    assert s.next_update().id == "0"
    wait_until(lambda: int(redis.command("PUBSUB", "NUMSUB", CHANNEL)[1]) == 1, IO_TIMEOUT,
               "A subscribed to %s" % CHANNEL)
    v1 = envelope(b.add(T, 1001, 1))
    assert (s.next_update().id, v1["version"]) == ("1", 1)
    text = redis.command("HGET", "tablecart:cart:%d" % T, "cart")  # v1's JSON as sent

    foreign = [
        "tc2 %s 0 999\n{bad" % FOREIGN,  # not a cart
        "tc2 %s 0 999\n%s" % (FOREIGN, text),  # the header's version is not the cart's
        "tc2 %s 0 2\n%s" % (FOREIGN, text.replace('"tableId":123', '"tableId":124')),
        # a cart of version 2 with an SSE event of its own inside
        "tc2 %s 0 2\n%s" % (FOREIGN, text.replace('"version":1', '"version":2')
                            .replace('"items":[', '"items":[\n\nevent: cart_update\ndata: x\n\n')),
    ]
    for m in foreign:
        assert redis.command("PUBLISH", CHANNEL, m) == 1

    v2 = envelope(b.add(T, 1001, 1))  # a real change after them
    ev = s.next_update()
    assert (ev.id, ev.json()) == ("2", v2)
    assert envelope(a.get_cart(T))["version"] == 2
    assert a.stderr().count("ignoring a malformed message on %s" % CHANNEL) == len(foreign)
