"""deploy/nginx.conf works (SPEC §7): a real nginx, started here with the committed server
block, passes SSE events through as they happen (no buffering) and WebSocket upgrades, in
both directions, between diners connected through it and directly."""

import pytest
import requests

from live_support import SSEStream, WSClient
from nginx_support import nginx_in_front
from support import IO_TIMEOUT


@pytest.fixture
def nginx(server, tmp_path):
    """nginx in front of `server`, using deploy/nginx.conf with only the addresses changed."""
    with nginx_in_front(tmp_path / "nginx", [server.port]) as port:
        yield port


def test_sse_through_nginx_streams_each_change(server, nginx):
    s = SSEStream(nginx, table=123)
    try:
        s.start()  # asserts 200; keeps body bytes that came with the head
        assert s.headers["content-type"] == "text/event-stream;charset=UTF-8"
        hello = s.next_event()
        assert hello.event == "connected" and hello.data == "连接成功"
        first = s.next_event()
        assert (first.event, first.id) == ("cart_update", "0")
        for version in (1, 2, 3):
            r = requests.post("http://127.0.0.1:%d/api/store/order/cart/add" % nginx,
                              json={"tableId": 123, "cuisineId": 1001, "quantity": 1},
                              timeout=IO_TIMEOUT)
            assert r.status_code == 200 and r.json()["data"]["version"] == version
            # Each change arrives before the next one is made: nothing is held back.
            ev = s.next_event(skip_heartbeats=True)
            assert (ev.event, ev.id) == ("cart_update", str(version))
            assert '"totalQuantity":%d' % version in ev.data
    finally:
        s.close()


def test_websocket_through_nginx_both_ways(server, nginx):
    via_proxy = WSClient(nginx, table=124)
    direct = WSClient(server.port, table=124)
    try:
        for c in (via_proxy, direct):
            assert c.recv()["type"] == "connected"
            assert c.recv()["type"] == "cart_update"
        via_proxy.send({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 2}})
        mine = via_proxy.recv()
        assert (mine["type"], mine["data"]["version"]) == ("add_item_success", 1)
        theirs = direct.recv()
        assert (theirs["type"], theirs["data"]["version"]) == ("cart_update", 1)
        direct.send({"type": "update_quantity", "data": {"cuisineId": 1001, "quantity": 5}})
        assert direct.recv()["type"] == "update_quantity_success"
        pushed = via_proxy.recv()
        assert (pushed["type"], pushed["data"]["totalQuantity"]) == ("cart_update", 5)
    finally:
        via_proxy.close()
        direct.close()
