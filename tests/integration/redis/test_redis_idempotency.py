"""Idempotency-Key answers kept in Redis (docs/redis.md, "Idempotency-Key answers"): behind a
round-robin balancer a retry lands on another instance and is still a replay, a key raced on
two instances applies once, answers carry a TTL, and one caller's answers cannot push out
another's."""

from support import envelope, error, race_keyed_adds
from live_support import WSClient

ADD = "/store/order/cart/add"
DAY_MS = 24 * 3600 * 1000


def keyed(server, method, path, key, user="100", **kw):
    return server.request(method, path, headers={"Idempotency-Key": key, "X-User-Id": user}, **kw)


def keyed_add(server, key, table=123, cuisine=1001, quantity=1, user="100", remark=None):
    body = {"tableId": table, "cuisineId": cuisine, "quantity": quantity}
    if remark is not None:
        body["remark"] = remark
    return keyed(server, "POST", ADD, key, user=user, json=body)


def answer_key(user, table, method, path, key):
    return "tablecart:answer:%s|%d|%s /api%s|%s" % (user, table, method, path, key)


def test_a_retry_on_the_other_instance_is_a_replay(redis, two):
    a, b = two
    first = keyed_add(a, "k-1", quantity=2)
    assert envelope(first)["version"] == 1
    again = keyed_add(b, "k-1", quantity=2)
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"] == '"v1"'
    for srv in (a, b):
        data = srv.cart(123)
        assert data["version"] == 1 and data["totalQuantity"] == 2
    # Back on the first instance (its own memory) and once more on the second (now its memory).
    assert keyed_add(a, "k-1", quantity=2).content == first.content
    assert keyed_add(b, "k-1", quantity=2).content == first.content
    assert b.cart(123)["version"] == 1
    # The answer is in Redis with a TTL of 24 h.
    ttl = redis.command("PTTL", answer_key(100, 123, "POST", ADD, "k-1"))
    assert DAY_MS - 60_000 < ttl <= DAY_MS, ttl
    # Another caller with the same key gets a change of its own.
    other = keyed_add(b, "k-1", quantity=2, user="200")
    assert envelope(other)["version"] == 2


def test_a_websocket_command_retried_on_the_other_instance_is_a_replay(redis, two, clients):
    """A WebSocket add_item with an idempotencyKey on one instance, its answer lost: retried on a
    socket of the other instance, and over HTTP there, it is a replay (one key space, in Redis)."""
    a, b = two
    wa = clients(WSClient(a.port, 123, query="?userId=100"))
    assert [wa.recv()["type"], wa.recv()["type"]] == ["connected", "cart_update"]
    cmd = {"type": "add_item", "idempotencyKey": "k-ws", "data": {"cuisineId": 1001,
                                                                  "quantity": 2}}
    wa.send(cmd)
    first = wa.recv()
    assert first["type"] == "add_item_success" and first["data"]["version"] == 1
    wb = clients(WSClient(b.port, 123, query="?userId=100"))
    assert [wb.recv()["type"], wb.recv()["data"]] == ["connected", first["data"]]
    wb.send(cmd)
    again = wb.recv()
    assert again["type"] == "add_item_success" and again["data"] == first["data"]
    over_http = keyed_add(b, "k-ws", quantity=2)
    assert over_http.status_code == 200 and envelope(over_http) == first["data"]
    assert b.cart(123)["totalQuantity"] == 2 and a.cart(123)["version"] == 1
    ttl = redis.command("PTTL", answer_key(100, 123, "POST", ADD, "k-ws"))
    assert DAY_MS - 60_000 < ttl <= DAY_MS, ttl


def test_a_retry_the_cart_would_now_refuse_still_replays(two):
    """The first answer removed the line; applying the retry on the other instance would be a 404.
    The retry is answered with the first answer, not with what applying it again would say."""
    a, b = two
    envelope(a.add(123, 1001, 3))
    first = keyed(a, "PUT", "/store/order/cart/update", "k-rm",
                  json={"tableId": 123, "cuisineId": 1001, "quantity": 0})
    assert envelope(first)["version"] == 2 and envelope(first)["items"] == []
    again = keyed(b, "PUT", "/store/order/cart/update", "k-rm",
                  json={"tableId": 123, "cuisineId": 1001, "quantity": 0})
    assert again.status_code == 200 and again.content == first.content
    # Without the key it is a 404 (the line is gone), and nothing changed.
    error(b.update(123, 1001, 0), 404)
    assert a.cart(123)["version"] == b.cart(123)["version"] == 2


def test_an_unchanged_answer_travels_too(two):
    a, b = two
    envelope(a.add(123, 1001, 2))                                      # v1, quantity 2
    same = keyed(a, "PUT", "/store/order/cart/update", "k-same",
                 json={"tableId": 123, "cuisineId": 1001, "quantity": 2})
    assert envelope(same)["version"] == 1
    envelope(a.update(123, 1001, 5))                                   # v2, quantity 5
    again = keyed(b, "PUT", "/store/order/cart/update", "k-same",
                  json={"tableId": 123, "cuisineId": 1001, "quantity": 2})
    assert again.content == same.content                              # not applied: stays 5
    assert b.cart(123)["items"][0]["quantity"] == 5 and b.cart(123)["version"] == 2


def test_a_key_raced_on_both_instances_applies_once(two):
    a, b = two
    results = race_keyed_adds((a, b) * 10)
    assert len(results) == 20
    assert {st for st, _ in results} == {200}
    assert len({body for _, body in results}) == 1
    for srv in (a, b):
        data = srv.cart(123)
        assert data["version"] == 1 and data["totalQuantity"] == 1


def test_one_caller_cannot_push_out_anothers_answers(redis, two):
    a, b = two
    mine = keyed_add(a, "k-keep", user="200")
    assert envelope(mine)["version"] == 1
    # Caller 300 fills a cart on table 124 with long remarks: each answer holds the whole cart,
    # so 60 answers are well past its 1 MiB in Redis.
    remark = "长" * 200
    for i in range(60):
        envelope(keyed_add(b if i % 2 else a, "k-%d" % i, table=124, cuisine=1101 + i,
                           user="300", remark=remark))
    used = int(redis.command("HGET", "tablecart:answers:bytes", "u:300"))
    assert 900_000 < used <= 1 << 20, used
    # Its oldest answers went, its newest stayed; caller 200's answer is untouched.
    assert redis.command("EXISTS", answer_key(300, 124, "POST", ADD, "k-0")) == 0
    assert redis.command("EXISTS", answer_key(300, 124, "POST", ADD, "k-59")) == 1
    assert redis.command("EXISTS", answer_key(200, 123, "POST", ADD, "k-keep")) == 1
    assert keyed_add(b, "k-keep", user="200").content == mine.content
    # Byte accounting: the total is the sum of the callers', every answer is in the index once.
    per_caller = redis.command("HGETALL", "tablecart:answers:bytes")
    fields = dict(zip(per_caller[::2], per_caller[1::2]))
    assert int(fields.pop("*")) == sum(int(v) for v in fields.values())
    assert set(fields) == {"u:200", "u:300"}
    members = redis.command("ZRANGE", "tablecart:answers", 0, -1)
    assert len(members) == redis.command("ZCARD", "tablecart:answers:u:300") + 1
    assert sum(int(m.split(" ", 1)[0]) for m in members) == sum(int(v) for v in fields.values())


def test_expired_answers_leave_the_byte_accounts(redis, server):
    """Redis drops an answer at its TTL; its index entry and bytes go with the next save."""
    envelope(keyed_add(server, "k-live", user="400"))
    live = int(redis.command("HGET", "tablecart:answers:bytes", "u:400"))
    redis.command("ZADD", "tablecart:answers", 1, "500 u:9 0|123|POST /api/x|gone")
    redis.command("ZADD", "tablecart:answers:u:9", 1, "500 u:9 0|123|POST /api/x|gone")
    redis.command("HINCRBY", "tablecart:answers:bytes", "u:9", 500)
    redis.command("HINCRBY", "tablecart:answers:bytes", "*", 500)
    envelope(keyed_add(server, "k-next", user="400"))
    assert redis.command("ZSCORE", "tablecart:answers", "500 u:9 0|123|POST /api/x|gone") is None
    assert redis.command("HEXISTS", "tablecart:answers:bytes", "u:9") == 0
    now = int(redis.command("HGET", "tablecart:answers:bytes", "u:400"))
    assert now > live
    assert int(redis.command("HGET", "tablecart:answers:bytes", "*")) == now
