"""Both ways (SPEC §3-§5): HTTP changes reach WebSocket and SSE clients; WebSocket
commands reach SSE clients and the next HTTP GET; clients of another table get
nothing (proved by their own table's next change arriving first). Each test
runs with sends batched per loop turn (--io-uring on, the default) and with a
send per write (--io-uring off)."""

import pytest

from support import cart_view, envelope, expected_cart, expected_item
from live_support import RawWS, SSEStream, WSClient


@pytest.fixture(params=["on", "off"])
def server(request, start_server):
    s = start_server("--io-uring", request.param)
    sends = [ln for ln in s.stderr().splitlines() if " info sends: " in ln]
    if request.param == "off":
        assert [ln.split(" info ", 1)[1] for ln in sends] == ["sends: one send per write (--io-uring off)"]
    else:
        assert len(sends) == 1 and (" info sends: batched per loop turn" in sends[0]
                                    or " info sends: one send per write (" in sends[0]), sends
    return s


def open_ws(port, table, query=""):
    c = WSClient(port, table, query=query)
    assert c.recv()["type"] == "connected"
    assert c.recv()["type"] == "cart_update"
    return c


def open_sse(port, table):
    s = SSEStream(port, table).start()
    assert s.next_event().event == "connected"
    assert s.next_event().event == "cart_update"
    return s


# User 5 added 2, an anonymous caller raised the line to 7 (its own share).
SHARES_5_ANON = [{"userId": 5, "quantity": 2}, {"userId": None, "quantity": 5}]


def test_http_mutations_reach_ws_and_sse(server, clients):
    ws = [clients(open_ws(server.port, 123)) for _ in range(3)]
    sse = [clients(open_sse(server.port, 123)) for _ in range(3)]
    ops = [
        (lambda: server.add(123, 1001, 2, headers={"X-User-Id": "5"}), [expected_item(1001, 2, 5)]),
        (lambda: server.update(123, 1001, 7), [expected_item(1001, 7, 5, shares=SHARES_5_ANON)]),
        (lambda: server.add(123, 1050, 1), [expected_item(1001, 7, 5, shares=SHARES_5_ANON),
                                            expected_item(1050, 1)]),
        (lambda: server.remove(123, 1001), [expected_item(1050, 1)]),
        (lambda: server.update(123, 1050, 0), []),
        (lambda: server.add(123, 1040, 1), [expected_item(1040, 1)]),
        (lambda: server.clear(123), []),
    ]
    for version, (op, items) in enumerate(ops, start=1):
        posted = envelope(op())
        assert cart_view(posted) == expected_cart(123, items, version)
        for c in ws:
            m = c.recv()
            assert m["type"] == "cart_update" and m["message"] == "购物车更新"
            assert m["data"] == posted
        for s in sse:
            ev = s.next_update()
            assert ev.id == str(version) and ev.json() == posted


def test_ws_command_reaches_sse_and_next_get(server, clients):
    a = clients(open_ws(server.port, 123, "?userId=42&phone=13900000000"))
    sse = [clients(open_sse(server.port, 123)) for _ in range(2)]
    raw = clients(RawWS(server.port, 123))
    raw.recv_json(), raw.recv_json()
    a.send({"type": "add_item", "data": {"cuisineId": 1030, "quantity": 2, "remark": "套餐A"}})
    ans = a.recv()
    assert ans["type"] == "add_item_success"
    want = expected_cart(123, [expected_item(1030, 2, 42, "13900000000", "套餐A")], 1)
    assert cart_view(ans["data"]) == want
    for s in sse:
        ev = s.next_update()
        assert ev.id == "1" and ev.json() == ans["data"]
    m = raw.recv_json()
    assert m["type"] == "cart_update" and m["data"] == ans["data"]
    # The next HTTP GET sees exactly what was pushed, ETag included.
    r = server.get_cart(123)
    assert envelope(r) == ans["data"]
    assert r.headers.get("ETag") == '"v1"'


def test_other_tables_hear_nothing(server, clients):
    ws124 = clients(open_ws(server.port, 124))
    sse124 = clients(open_sse(server.port, 124))
    ws200 = clients(open_ws(server.port, 200))
    sse200 = clients(open_sse(server.port, 200))
    a = clients(open_ws(server.port, 123))
    # Many changes on 123, by HTTP and by WebSocket.
    for q in range(1, 6):
        envelope(server.add(123, 1001, q))
        assert a.recv()["data"]["version"] == q
    a.send({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1}})
    assert a.recv()["type"] == "add_item_success"
    a.send({"type": "clear_cart"})
    assert a.recv()["type"] == "clear_cart_success"
    # Their own table's change is the first thing they see.
    p124 = envelope(server.add(124, 1011, 3))
    p200 = envelope(server.add(200, 2001, 1))
    assert cart_view(p124) == expected_cart(124, [expected_item(1011, 3)], 1)
    assert cart_view(p200) == expected_cart(200, [expected_item(2001, 1)], 1)
    for c, p in ((ws124, p124), (ws200, p200)):
        m = c.recv()
        assert m["type"] == "cart_update" and m["data"] == p
    for s, p in ((sse124, p124), (sse200, p200)):
        ev = s.next_update()
        assert ev.id == "1" and ev.json() == p
