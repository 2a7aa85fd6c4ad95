"""SSE (SPEC §4): head, framing (chunked on HTTP/1.1, close-delimited on
HTTP/1.0), the first events, cart updates, heartbeats, the stream's end,
Last-Event-ID, errors before the stream, many streams per table."""

import json

import pytest

from support import (SCALE, assert_cart_shape, assert_money_two_decimals, cart_view,
                     envelope, expected_cart, expected_item)
from live_support import SSE_CT, SSEStream, raw_get

HELLO = ["retry:3000", "event:connected", "data:连接成功"]  # no space after a colon, as Spring writes them
HEARTBEAT = ["event:heartbeat", "data:ping"]


def assert_update(ev, version, table=123, items=None):
    """ev is a cart_update of this version, the cart in exactly one data line."""
    assert ev.event == "cart_update", ev
    assert ev.id == str(version), ev
    assert ev.retry is None, ev
    assert sorted(ev.fields) == ["data", "event", "id"], ev
    assert len(ev.data_lines) == 1, "cart spread over %d data lines" % len(ev.data_lines)
    data = ev.json()
    assert_cart_shape(data, ev.data)
    if items is not None:
        assert cart_view(data) == expected_cart(table, items, version)
    return data


def test_sse_http11_head_first_events_and_update(server, clients):
    s = clients(SSEStream(server.port, 123))
    assert s.read_head() == 200
    assert s.status_line.startswith("HTTP/1.1 200"), s.status_line
    h = s.headers
    assert h.get("content-type") == SSE_CT
    assert h.get("cache-control") == "no-cache"
    assert h.get("x-accel-buffering") == "no"
    assert h.get("transfer-encoding") == "chunked"
    assert "content-length" not in h, h
    s.start()

    hello = s.next_event()
    assert hello.lines == HELLO
    assert hello.id is None and hello.event == "connected" and hello.data == "连接成功"

    snap = s.next_event()
    data = assert_update(snap, 0, items=[])
    assert data["updatedAt"] is None

    r = server.add(123, 1001, 2, headers={"X-User-Id": "100", "X-User-Phone": "13800138000"},
                   remark="不要花生")
    posted = envelope(r)
    ev = s.next_event()
    got = assert_update(ev, 1, items=[expected_item(1001, 2, 100, "13800138000", "不要花生")])
    assert got == posted  # the same state, updatedAt included
    assert all(size > 0 for size in s.chunk_sizes)


def test_sse_heartbeats_timeout_and_http10(start_server, clients):
    server = start_server("--heartbeat", "1", "--sse-timeout", "3")
    s11 = clients(SSEStream(server.port, 123)).start()
    s10 = clients(SSEStream(server.port, 124, version="HTTP/1.0"))
    assert s10.read_head() == 200
    h = s10.headers
    assert h.get("content-type") == SSE_CT
    assert h.get("cache-control") == "no-cache"
    assert h.get("x-accel-buffering") == "no"
    assert "transfer-encoding" not in h, h
    assert "content-length" not in h, h
    s10.start()

    assert s11.next_event().lines == HELLO
    assert_update(s11.next_event(), 0, items=[])
    rest = s11.read_to_end(timeout=10 * SCALE)
    lasted = s11.ended_at - s11.opened_at
    assert 3.0 - 0.3 <= lasted <= 3.0 + 1.5 * SCALE, "stream lasted %.2fs, --sse-timeout 3" % lasted
    beats = [e for e in rest if e.event == "heartbeat"]
    assert [e for e in rest if e.event != "heartbeat"] == [], rest
    for e in beats:
        assert e.lines == HEARTBEAT
        assert e.id is None and e.data == "ping"
    assert 2 <= len(beats) <= 4, "%d heartbeats in %.2fs with --heartbeat 1" % (len(beats), lasted)
    gaps = [b.at - a.at for a, b in zip(beats, beats[1:])]
    assert all(0.5 <= g <= 2.0 for g in gaps), "heartbeat gaps %r" % gaps
    assert beats[0].at - s11.opened_at <= 1.6, "first heartbeat after %.2fs" % (beats[0].at - s11.opened_at)
    assert s11.raw.endswith(b"\n\r\n0\r\n\r\n"), s11.raw[-40:]

    # HTTP/1.0: the same events, plain, ended by the close.
    rest10 = s10.read_to_end(timeout=10 * SCALE)
    assert s10.raw.startswith("retry:3000\nevent:connected\ndata:连接成功\n\n".encode()), s10.raw[:80]
    assert s10.events[0].lines == HELLO
    assert_update(s10.events[1], 0, table=124, items=[])
    assert b"0\r\n\r\n" not in s10.raw and b"\r\n" not in s10.raw, s10.raw[-60:]
    assert s10.raw.endswith(b"\n\n")
    assert len([e for e in rest10 if e.event == "heartbeat"]) >= 2, rest10


def test_sse_last_event_id_current_skips_snapshot(server, clients):
    for q in (1, 2):
        envelope(server.add(123, 1001, q))
    assert server.cart(123)["version"] == 2
    cur = clients(SSEStream(server.port, 123, headers={"Last-Event-ID": "2"})).start()
    plain = clients(SSEStream(server.port, 123)).start()
    assert cur.next_event().lines == HELLO
    assert plain.next_event().lines == HELLO
    assert_update(plain.next_event(), 2, items=[expected_item(1001, 3)])
    envelope(server.add(123, 1002, 1))
    # The next event after connected is the new change: no snapshot of version 2 in between.
    assert_update(cur.next_event(), 3, items=[expected_item(1001, 3), expected_item(1002, 1)])
    assert_update(plain.next_event(), 3)


@pytest.mark.parametrize("last_id", ["1", "0", "99", "abc", ""])
def test_sse_last_event_id_not_current_gets_snapshot(server, clients, last_id):
    """SPEC §4: equal to the current version → no snapshot; otherwise the
    current cart at once (an id ahead of the server, e.g. after a database
    restore, is not current either)."""
    for q in (1, 2):
        envelope(server.add(123, 1001, q))
    s = clients(SSEStream(server.port, 123, headers={"Last-Event-ID": last_id})).start()
    assert s.next_event().lines == HELLO
    assert_update(s.next_event(), 2, items=[expected_item(1001, 3)])
    envelope(server.add(123, 1001, 1))
    assert_update(s.next_event(), 3, items=[expected_item(1001, 4)])


@pytest.mark.parametrize("table,status", [("999", 404), ("2147483647", 404), ("abc", 400),
                                          ("0", 400), ("-1", 400), ("1.5", 400), ("12a", 400),
                                          ("2147483648", 400)])
def test_sse_bad_table_answers_json_before_stream(server, table, status):
    code, h, body = raw_get(server.port, "/api/store/order/sse/%s" % table,
                            headers={"Accept": "text/event-stream"})
    assert code == status, (code, body[:200])
    assert h.get("content-type", "").lower().startswith("application/json"), h
    assert "transfer-encoding" not in h
    env = json.loads(body)
    assert list(env.keys()) == ["code", "success", "message", "data"]
    assert env["code"] == status and env["success"] is False and env["data"] is None
    assert env["message"] and env["message"] != "操作成功"
    if status == 404:
        assert table in env["message"], env


def test_sse_many_streams_per_table(server, clients):
    a = [clients(SSEStream(server.port, 123)) for _ in range(30)]
    b = [clients(SSEStream(server.port, 124)) for _ in range(5)]
    for s in a + b:
        s.start()
        assert s.next_event().lines == HELLO
        assert s.next_event().id == "0"
    posted = envelope(server.add(123, 1040, 3))
    for s in a:
        assert assert_update(s.next_event(), 1, items=[expected_item(1040, 3)]) == posted
    # Table 124's streams got nothing from 123: their next event is 124's own change.
    posted = envelope(server.add(124, 1002, 1))
    for s in b:
        assert assert_update(s.next_event(), 1, table=124, items=[expected_item(1002, 1)]) == posted


@pytest.mark.parametrize("remark", ["第一行\n第二行", "a\r\nb\rc\n\nd", "tab\there \"quoted\" \\ </script>"])
def test_sse_remark_with_newline_intact(server, clients, remark):
    s = clients(SSEStream(server.port, 123)).start()
    s.next_event()
    s.next_event()
    posted = envelope(server.add(123, 1001, 1, remark=remark))
    ev = s.next_event()
    data = assert_update(ev, 1, items=[expected_item(1001, 1, remark=remark)])
    assert data["items"][0]["remark"] == remark
    assert data == posted
    raw_line = [ln for ln in ev.lines if ln.startswith("data:")][0]
    assert "\n" not in raw_line and "\r" not in raw_line
    assert_money_two_decimals(ev.data)
