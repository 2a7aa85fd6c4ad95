"""Two instances behind a real nginx (SPEC §7): deploy/nginx.conf with its
upstream holding both, round-robin, no sticky sessions. Diners whose streams
landed on different instances see each other's changes, whichever instance
took the change."""

import pytest
import requests

from live_support import SSEStream, WSClient, conn_gauge
from nginx_support import nginx_in_front
from support import IO_TIMEOUT, wait_until


@pytest.fixture
def nginx(two, tmp_path):
    """nginx in front of both instances; only the addresses of deploy/nginx.conf change."""
    a, b = two
    with nginx_in_front(tmp_path / "nginx", [a.port, b.port]) as port:
        yield port


def live(server):
    return conn_gauge(server, "sse") + conn_gauge(server, "ws")


def test_diners_on_both_instances_see_each_other(two, nginx, clients):
    a, b = two
    streams, sockets = [], []
    for _ in range(2):
        s = clients(SSEStream(nginx, table=123)).start()
        assert s.next_event().event == "connected"
        assert (s.next_update().id) == "0"
        streams.append(s)
        w = clients(WSClient(nginx, table=123))
        assert w.recv()["type"] == "connected"
        assert w.recv()["data"]["version"] == 0
        sockets.append(w)
    # Round-robin put diners on both instances.
    wait_until(lambda: live(a) + live(b) == 4, IO_TIMEOUT, "4 live streams")
    assert live(a) >= 1 and live(b) >= 1, (live(a), live(b))

    api = "http://127.0.0.1:%d/api/store/order/cart/add" % nginx
    for version in (1, 2, 3, 4):
        # Each request may land on either instance.
        r = requests.post(api, json={"tableId": 123, "cuisineId": 1001, "quantity": 1},
                          timeout=IO_TIMEOUT)
        assert r.status_code == 200 and r.json()["data"]["version"] == version
        for s in streams:
            ev = s.next_update()
            assert ev.id == str(version) and '"totalQuantity":%d' % version in ev.data
        for w in sockets:
            m = w.recv()
            assert (m["type"], m["data"]["version"]) == ("cart_update", version)

    # A command on each WebSocket reaches every other diner, not its sender.
    for i, sender in enumerate(sockets):
        version = 5 + i
        sender.send({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1}})
        mine = sender.recv()
        assert (mine["type"], mine["data"]["version"]) == ("add_item_success", version)
        for s in streams:
            assert s.next_update().id == str(version)
        for other in sockets:
            if other is not sender:
                m = other.recv()
                assert (m["type"], m["data"]["version"]) == ("cart_update", version)
    assert a.cart(123)["version"] == b.cart(123)["version"] == 6
