"""The seed manual's own client flows, unchanged (SPEC: wire compatibility).

SSE (seed §一 2.3, 3.1, 4.2/4.3): an EventSource that follows the HTML
standard's parsing and dispatch rules, with the listeners of the seed's plain
JS example. WebSocket (seed §二 2.3, 3.1, 4.1/4.2): the seed's messages byte
for byte, against the bundled demo menu, whose dish 1001 is the manual's own
example."""

import json
import re

from support import IO_TIMEOUT, parse_json
from live_support import SSEStream, WSClient


class EventSourceLike:
    """The parts of a browser's EventSource the seed's code relies on:
    addEventListener(type), onmessage, event.data, lastEventId, reconnection
    time from retry:, and a reconnect that sends Last-Event-ID."""

    def __init__(self, port, url):
        self.port, self.url = port, url
        self.listeners = {}
        self.last_event_id = ""
        self.reconnection_time = None
        self.dispatched = []  # (type, data, lastEventId)
        self._open()

    def add_event_listener(self, type_, fn):
        self.listeners.setdefault(type_, []).append(fn)

    def _open(self):
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        self.s = SSEStream(self.port, path=self.url, headers=headers)
        assert self.s.read_head() == 200
        # A browser fails the connection unless the MIME type is text/event-stream.
        mime = self.s.headers["content-type"].split(";")[0].strip().lower()
        assert mime == "text/event-stream"
        self.s.start()
        self.type_buf, self.data_buf, self.id_buf = "", "", self.last_event_id

    def reconnect(self):
        """What a browser does after a network error (without the wait)."""
        self.s.close()
        self._open()

    def close(self):
        self.s.close()

    def pump(self, n=1):
        """Processes lines until n events have been dispatched."""
        target = len(self.dispatched) + n
        while len(self.dispatched) < target:
            ev = self.s.next_event(timeout=IO_TIMEOUT)
            for line in ev.lines:  # HTML §9.2.6, field by field
                if line.startswith(":"):
                    continue
                name, sep, value = line.partition(":")
                if sep and value.startswith(" "):
                    value = value[1:]
                if name == "event":
                    self.type_buf = value
                elif name == "data":
                    self.data_buf += value + "\n"
                elif name == "id":
                    if "\0" not in value:
                        self.id_buf = value
                elif name == "retry":
                    if re.fullmatch(r"[0-9]+", value):
                        self.reconnection_time = int(value)
            # the blank line: dispatch
            self.last_event_id = self.id_buf
            if self.data_buf == "":
                self.type_buf = ""
                continue
            data = self.data_buf[:-1] if self.data_buf.endswith("\n") else self.data_buf
            type_ = self.type_buf or "message"
            self.type_buf, self.data_buf = "", ""
            self.dispatched.append((type_, data, self.last_event_id))
            for fn in self.listeners.get(type_, []):
                fn({"type": type_, "data": data, "lastEventId": self.last_event_id})


def test_seed_eventsource_flow(start_server):
    server = start_server("--heartbeat", "1")
    es = EventSourceLike(server.port, "/api/store/order/sse/123")
    ui = {"connected": False, "cart": {"items": [], "totalAmount": 0, "totalQuantity": 0},
          "beats": 0, "messages": 0}

    def on_connected(event):
        assert event["data"] == "连接成功"  # seed §一 4.2
        ui["connected"] = True

    def on_cart_update(event):
        ui["cart"] = parse_json(event["data"])  # JSON.parse(event.data)

    def on_heartbeat(event):
        assert event["data"] == "ping"  # seed §一 4.3
        ui["beats"] += 1

    es.add_event_listener("connected", on_connected)
    es.add_event_listener("cart_update", on_cart_update)
    es.add_event_listener("heartbeat", on_heartbeat)
    es.add_event_listener("message", lambda e: ui.__setitem__("messages", ui["messages"] + 1))
    try:
        es.pump(2)
        assert ui["connected"] and es.reconnection_time == 3000
        assert es.dispatched[0] == ("connected", "连接成功", "")
        assert ui["cart"]["items"] == [] and ui["cart"]["totalQuantity"] == 0
        assert es.last_event_id == "0"

        # The seed's front end adds a dish over HTTP (§9.2).
        r = server.session.post(server.api("/store/order/cart/add"), timeout=IO_TIMEOUT,
                                json={"tableId": 123, "cuisineId": 1001, "quantity": 2, "remark": "不要花生"})
        assert r.status_code == 200 and r.json()["success"] is True
        while es.dispatched[-1][0] != "cart_update" or es.last_event_id != "1":
            es.pump()
        item = ui["cart"]["items"][0]
        assert (item["cuisineName"], item["quantity"], str(item["subtotalAmount"])) == ("宫保鸡丁", 2, "76.00")
        assert str(ui["cart"]["totalAmount"]) == "76.00" and ui["cart"]["totalQuantity"] == 2

        # A heartbeat never moves lastEventId.
        while es.dispatched[-1][0] != "heartbeat":
            es.pump()
        assert es.dispatched[-1] == ("heartbeat", "ping", "1")

        # Reconnect after a network error: Last-Event-ID 1 is current, so the
        # next cart_update is the next change, not the same state again.
        es.reconnect()
        es.pump()
        assert es.dispatched[-1] == ("connected", "连接成功", "1")
        r = server.session.put(server.api("/store/order/cart/update"), timeout=IO_TIMEOUT,
                               json={"tableId": 123, "cuisineId": 1001, "quantity": 3})
        assert r.status_code == 200
        while es.dispatched[-1][0] == "heartbeat" or es.dispatched[-1][0] == "connected":
            es.pump()
        assert es.dispatched[-1][0] == "cart_update" and es.last_event_id == "2"
        assert ui["cart"]["items"][0]["quantity"] == 3
        assert ui["messages"] == 0  # every event is named: onmessage never fires
        assert {t for t, _, _ in es.dispatched} == {"connected", "cart_update", "heartbeat"}
    finally:
        es.close()


# seed §二 4.2, the cart_update example, field by field (but for cuisineImage: the demo menu
# ships its own picture instead of the manual's example.com address)
SEED_CART = json.loads("""{
    "tableId": 123, "tableNumber": "A01", "storeId": 1,
    "items": [{"cuisineId": 1001, "cuisineName": "宫保鸡丁", "cuisineType": 1,
               "cuisineImage": "/img/gongbao-jiding.svg", "unitPrice": 38.00, "quantity": 2,
               "subtotalAmount": 76.00, "addUserId": 100, "addUserPhone": "13800138000",
               "remark": "不要花生",
               "shares": [{"userId": 100, "quantity": 2}], "remarkUserId": 100}],
    "totalAmount": 76.00, "totalQuantity": 2}""", parse_float=lambda s: s)
SEED_TYPES = {"connected", "cart_update", "add_item_success", "update_quantity_success",
              "remove_item_success", "clear_cart_success", "error", "heartbeat"}


def test_seed_websocket_flow(start_server):
    server = start_server(menu=None)  # the bundled demo menu
    me = WSClient(server.port, 123, query="?userId=100&phone=13800138000")
    other = WSClient(server.port, 123)
    try:
        for c in (me, other):
            m = c.recv()
            assert m == {"type": "connected", "message": "连接成功", "data": None,
                         "timestamp": m["timestamp"]}
            assert c.recv()["type"] == "cart_update"

        # addItem(1001, 2, '不要花生'), exactly as the seed's JS builds it
        me.send(json.dumps({"type": "add_item",
                            "data": {"cuisineId": 1001, "quantity": 2, "remark": "不要花生"}}))
        ans = me.recv()
        assert ans["type"] == "add_item_success"
        push = other.recv()
        assert push["type"] == "cart_update" and push["message"] == "购物车更新"
        raw = json.loads(other.messages[-1], parse_float=lambda s: s)["data"]
        for k, v in SEED_CART.items():
            assert raw[k] == v, (k, raw[k], v)
        assert '"unitPrice":38.00' in other.messages[-1] and '"totalAmount":76.00' in other.messages[-1]
        assert push["data"] == ans["data"]

        # addItem with no remark sends remark: null
        me.send(json.dumps({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1, "remark": None}}))
        assert me.recv()["type"] == "add_item_success"
        assert other.recv()["data"]["items"][1]["remark"] is None
        me.send(json.dumps({"type": "update_quantity", "data": {"cuisineId": 1001, "quantity": 3}}))
        assert me.recv()["data"]["totalQuantity"] == 4
        assert other.recv()["data"]["items"][0]["quantity"] == 3
        me.send(json.dumps({"type": "remove_item", "data": {"cuisineId": 1002}}))
        assert [i["cuisineId"] for i in me.recv()["data"]["items"]] == [1001]
        other.recv()
        me.send(json.dumps({"type": "clear_cart"}))
        data = me.recv()["data"]
        assert data["items"] == [] and str(data["totalAmount"]) == "0.00" and data["totalQuantity"] == 0
        assert other.recv()["data"] == data
        me.send(json.dumps({"type": "heartbeat"}))
        m = me.recv()
        assert (m["type"], m["message"]) == ("heartbeat", "pong")
        for c in (me, other):
            # presence is beyond the seed: its page ignores a type it does not know.
            assert {parse_json(t)["type"] for t in c.messages} - {"presence"} <= SEED_TYPES
    finally:
        me.close()
        other.close()
