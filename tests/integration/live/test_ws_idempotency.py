"""A WebSocket cart command's idempotencyKey (beyond the seed; docs/api.md, "Conditional and
idempotent changes"): a retried command applies once, on a new socket, after kill -9, and across
transports (a key sent over the socket and retried over HTTP, or the other way, is one change);
the key is scoped like the REST header's (caller, table, command); a bad key is an error that
changes nothing and leaves the socket open."""

import pytest

from support import cart_view, envelope, expected_cart, expected_item
from live_support import SSEStream, WSClient

USER = "?userId=100&phone=13800138000"
ME = (100, "13800138000")


def opened(port, table=123, query=USER):
    """A client that has read its connected and its first cart_update."""
    c = WSClient(port, table, query=query)
    assert c.recv()["type"] == "connected"
    snap = c.recv()
    assert snap["type"] == "cart_update"
    return c, snap["data"]


def command(c, type_, data=None, key=None):
    msg = {"type": type_}
    if key is not None:
        msg["idempotencyKey"] = key
    if data is not None:
        msg["data"] = data
    c.send(msg)
    return c.recv()


def test_a_retried_command_applies_once_on_a_new_socket_and_after_kill9(start_server, clients):
    s = start_server()
    a, _ = opened(s.port)
    clients(a)
    sse = clients(SSEStream(s.port, 123)).start()
    assert sse.next_event().event == "connected"
    assert sse.next_event().id == "0"
    add = {"cuisineId": 1001, "quantity": 2, "remark": "少辣"}
    first = command(a, "add_item", add, key="k-1")
    assert first["type"] == "add_item_success"
    assert cart_view(first["data"]) == expected_cart(
        123, [expected_item(1001, 2, *ME, remark="少辣")], 1)
    assert sse.next_update().id == "1"
    a.close()

    # The answer was lost with the socket: the retry on a new one is answered the same cart,
    # applies nothing and pushes nothing (the next event anybody gets is version 2's).
    b, snap = opened(s.port)
    clients(b)
    again = command(b, "add_item", add, key="k-1")
    assert again["type"] == "add_item_success"
    assert again["data"] == first["data"]
    assert snap == first["data"]
    posted = envelope(s.add(123, 1002, 1))
    assert posted["version"] == 2
    ev = sse.next_update()
    assert ev.id == "2" and ev.json() == posted
    assert b.recv()["data"] == posted                      # its cart_update: nothing in between
    b.close()
    sse.close()

    # The answer is in the store with the change: a kill -9 and a restart replay it.
    s.kill9()
    s2 = start_server(db=s.db)
    c, snap = opened(s2.port)
    clients(c)
    assert snap == posted
    replayed = command(c, "add_item", add, key="k-1")
    assert replayed["type"] == "add_item_success" and replayed["data"] == first["data"]
    # That answer is older than the cart this socket was shown: the current one follows.
    current = c.recv()
    assert current["type"] == "cart_update" and current["data"] == posted
    assert s2.cart(123) == posted
    # A new key is a new change.
    fresh = command(c, "add_item", add, key="k-2")
    assert fresh["data"]["version"] == 3
    assert [(i["cuisineId"], i["quantity"]) for i in fresh["data"]["items"]] == [(1001, 4),
                                                                               (1002, 1)]


@pytest.mark.parametrize("user", [True, False], ids=["user", "address"])
def test_one_key_across_transports(server, clients, user):
    """A command sent over the socket whose answer is lost, retried over HTTP with the same key
    (Idempotency-Key), is replayed, and the other way round: the key space is one. A caller
    without a user id is its address, on both transports."""
    query = USER if user else ""
    headers = {"X-User-Id": "100", "X-User-Phone": "13800138000"} if user else {}
    a, _ = opened(server.port, query=query)
    clients(a)
    over_ws = command(a, "add_item", {"cuisineId": 1001, "quantity": 1}, key="k-ws")
    assert over_ws["type"] == "add_item_success" and over_ws["data"]["version"] == 1
    r = server.add(123, 1001, 1, headers={**headers, "Idempotency-Key": "k-ws"})
    assert r.status_code == 200 and r.headers["ETag"] == '"v1"'
    assert envelope(r) == over_ws["data"]

    r = server.update(123, 1001, 3, headers={**headers, "Idempotency-Key": "k-http"})
    over_http = envelope(r)
    assert over_http["version"] == 2
    assert a.recv()["data"] == over_http                   # the socket hears it as a change
    again = command(a, "update_quantity", {"cuisineId": 1001, "quantity": 3}, key="k-http")
    assert again["type"] == "update_quantity_success" and again["data"] == over_http
    assert server.cart(123) == over_http


def test_the_key_is_the_callers_for_one_table_and_one_command(server, clients):
    a, _ = opened(server.port)
    b, _ = opened(server.port, query="?userId=200")
    t, _ = opened(server.port, table=124)
    clients(a), clients(b), clients(t)
    assert command(a, "add_item", {"cuisineId": 1001, "quantity": 1}, key="same")[
        "data"]["version"] == 1
    b.recv()
    # Another diner's key of the same name is their own change.
    mine = command(b, "add_item", {"cuisineId": 1001, "quantity": 1}, key="same")
    assert mine["type"] == "add_item_success" and mine["data"]["version"] == 2
    assert mine["data"]["items"][0]["quantity"] == 2
    a.recv()
    # Another command with the key: applied.
    upd = command(a, "update_quantity", {"cuisineId": 1001, "quantity": 5}, key="same")
    assert upd["data"]["version"] == 3 and upd["data"]["items"][0]["quantity"] == 5
    # Another table with the key: applied there.
    other = command(t, "add_item", {"cuisineId": 1001, "quantity": 1}, key="same")
    assert other["data"]["version"] == 1 and other["data"]["tableId"] == 124


def test_commands_racing_with_one_key_apply_once(server, clients):
    """Three copies of one keyed command sent back to back on one socket, and a fourth on
    another: one change, four identical carts."""
    a, _ = opened(server.port)
    b, _ = opened(server.port)
    clients(a), clients(b)
    msg = {"type": "add_item", "idempotencyKey": "dup", "data": {"cuisineId": 1001,
                                                                 "quantity": 1}}
    for _ in range(3):
        a.send(msg)
    b.send(msg)
    answers = [a.recv() for _ in range(3)]
    theirs = b.recv()
    while theirs["type"] == "cart_update":               # a's change, if it came first
        theirs = b.recv()
    carts = [m["data"] for m in answers + [theirs]]
    assert [m["type"] for m in answers + [theirs]] == ["add_item_success"] * 4
    assert all(c == carts[0] for c in carts), carts
    assert carts[0]["version"] == 1 and carts[0]["items"][0]["quantity"] == 1
    assert server.cart(123)["version"] == 1


@pytest.mark.parametrize("key", ["", "x" * 256, 7, True, ["k"], {"k": 1}],
                         ids=["empty", "256-bytes", "number", "bool", "array", "object"])
def test_a_bad_key_is_an_error_that_changes_nothing(server, clients, key):
    a, _ = opened(server.port)
    clients(a)
    m = command(a, "add_item", {"cuisineId": 1001, "quantity": 1}, key=key)
    assert m["type"] == "error" and m["data"] is None
    assert m["message"] == "idempotencyKey must be a string of 1 to 255 bytes"
    assert server.cart(123)["version"] == 0
    # The socket stays open; a key of 255 bytes, or a null one (no key), is fine.
    ok = command(a, "add_item", {"cuisineId": 1001, "quantity": 1}, key="y" * 255)
    assert ok["type"] == "add_item_success" and ok["data"]["version"] == 1
    a.send({"type": "add_item", "idempotencyKey": None, "data": {"cuisineId": 1001,
                                                                 "quantity": 1}})
    assert a.recv()["data"]["version"] == 2


def test_a_bad_key_in_chinese(server, clients):
    a = clients(WSClient(server.port, 123, query=USER, lang=None))
    a.recv(), a.recv()
    m = command(a, "clear_cart", key="")
    assert m["type"] == "error"
    assert m["message"] == "idempotencyKey 须为 1 到 255 字节的字符串"
