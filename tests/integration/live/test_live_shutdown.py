"""Shutdown (SPEC §8): SIGTERM closes WebSockets with 1001 and ends SSE
streams cleanly, stops accepting, exits 0; what was acknowledged survives
SIGTERM and kill -9."""

import json
import socket
import sqlite3
import struct
import time

from support import SCALE, envelope, expected_cart, expected_item, cart_view
from support import IO_TIMEOUT, STOP_TIMEOUT, wait_until
from live_support import (RawWS, SSEStream, WSClient, connect, sigterm, unread_by_server,
                          wait_exit_ok)


def test_sigterm_ends_streams_cleanly(server, clients):
    s11 = clients(SSEStream(server.port, 123)).start()
    s10 = clients(SSEStream(server.port, 124, version="HTTP/1.0")).start()
    lib = WSClient(server.port, 123)
    raw = clients(RawWS(server.port, 123))
    mute = clients(RawWS(server.port, 124))  # will not answer the close
    for s in (s11, s10):
        s.next_event(), s.next_event()
    lib.recv(), lib.recv()
    for w in (raw, mute):
        w.recv_json(), w.recv_json()
    posted = envelope(server.add(123, 1001, 2))
    assert s11.next_update().json() == posted
    assert lib.recv()["data"] == posted
    assert raw.recv_json()["data"] == posted

    t0 = time.monotonic()
    sigterm(server)
    raw.expect_close(1001)
    f = mute.recv_frame()
    assert f.opcode == 0x8 and f.close_code == 1001, f
    # The listener is closed while the server still waits for the mute peer.
    try:
        c = connect(server.port, timeout=2)
    except (ConnectionRefusedError, ConnectionResetError):
        pass
    else:
        c.settimeout(2)
        try:
            got = c.recv(1)
        except (ConnectionResetError, socket.timeout):
            got = None
        c.close()
        assert got == b"", "a connection accepted after SIGTERM (got %r)" % got
    assert s11.read_to_end() == []  # chunked: 0\r\n\r\n then the close, no partial event
    assert s11.terminated and s11.eof
    assert s10.read_to_end() == [] and s10.eof
    assert not s10.raw.endswith(b"0\r\n\r\n")
    lib.wait_closed()
    assert lib.close_code == 1001
    mute.wait_eof(timeout=10 * SCALE)  # dropped after a short wait for its close
    wait_exit_ok(server)
    took = time.monotonic() - t0
    assert took < 6 * SCALE, "shutdown took %.1fs" % took


def test_change_acknowledged_before_sigterm_survives(start_server, clients):
    server = start_server()
    ws = clients(WSClient(server.port, 124))
    ws.recv(), ws.recv()
    for q in range(1, 4):
        envelope(server.add(123, 1001, q))
    ws.send({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 5}})
    ws_ans = ws.recv()
    assert ws_ans["type"] == "add_item_success"
    last = envelope(server.add(200, 2001, 7))  # acknowledged; SIGTERM right behind it
    sigterm(server)
    wait_exit_ok(server)

    again = start_server(db=server.db)
    got123 = again.cart(123)
    assert cart_view(got123) == expected_cart(123, [expected_item(1001, 6)], 3)
    assert again.cart(124) == ws_ans["data"]
    assert again.cart(200) == last
    # Versions go on from there, and the snapshot of a new stream says so.
    s = clients(SSEStream(again.port, 200)).start()
    s.next_event()
    assert s.next_update().id == "1"
    assert envelope(again.add(200, 2001, 1))["version"] == 2
    assert s.next_update().id == "2"


def test_ws_change_with_the_store_at_sigterm_is_answered_before_1001(start_server, clients):
    """A command the server read before SIGTERM is answered before the close
    1001, as an HTTP change in flight is: its change is committed, and a
    client told nothing would send it again."""
    server = start_server()
    raw = clients(RawWS(server.port, 123))
    raw.recv_json(), raw.recv_json()  # connected, the cart
    other = clients(RawWS(server.port, 123))  # nothing in flight: its 1001 at once
    other.recv_json(), other.recv_json()
    # Another program holds SQLite's write lock: the save waits for it.
    lock = sqlite3.connect(str(server.db), timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        raw.send_text(json.dumps({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 2}}))
        wait_until(lambda: unread_by_server(server.port, raw.sock) == 0, IO_TIMEOUT,
                   "the server to read the command")
        sigterm(server)
        wait_until(lambda: "SIGTERM: stopping" in server.stderr(), IO_TIMEOUT,
                   "the server to take SIGTERM")
        other.expect_close(1001)
    finally:
        lock.execute("COMMIT")
        lock.close()
    ans = raw.recv_json()
    assert ans["type"] == "add_item_success", ans
    assert ans["data"]["version"] == 1
    assert cart_view(ans["data"]) == expected_cart(123, [expected_item(1001, 2)], 1)
    raw.expect_close(1001)
    wait_exit_ok(server)
    assert start_server(db=server.db).cart(123) == ans["data"]


def test_changes_acknowledged_before_kill9_survive(start_server, clients):
    server = start_server()
    ws = clients(WSClient(server.port, 124))
    ws.recv(), ws.recv()
    posted = None
    for i in range(1, 41):
        posted = envelope(server.add(123, 1101 + (i % 10), 1))
        assert posted["version"] == i
    for i in range(1, 11):
        ws.send({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 1}})
        m = ws.recv()
        assert m["type"] == "add_item_success" and m["data"]["version"] == i
    server.kill9()

    again = start_server(db=server.db)
    assert again.cart(123) == posted
    assert again.cart(124) == m["data"]
    assert cart_view(m["data"]) == expected_cart(124, [expected_item(1001, 10)], 10)
    assert envelope(again.add(123, 1001, 1))["version"] == 41


def _sent_and_reset(server, request):
    """Sends request on a new connection, waits until the server has read it,
    then resets the connection (SO_LINGER 0): nobody waits for its answer."""
    c = connect(server.port)
    c.sendall(request)
    wait_until(lambda: unread_by_server(server.port, c) == 0, IO_TIMEOUT,
               "the server to read the request")
    _reset(c)


def _http(method, path, body, headers=""):
    data = json.dumps(body).encode()
    return (("%s /api%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n%s\r\n" % (method, path, len(data), headers)).encode() + data)


def _reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_requests_the_store_holds_at_sigterm_are_freed(start_server):
    """Requests still with the store when it closes — a change being saved,
    one queued behind it, a diner's name, a WebSocket's command and a new
    WebSocket's snapshot — whose clients are gone: the server frees them
    (exit 0, no leak under ASan) and commits none of the changes its save
    could not make."""
    server = start_server()
    ws = RawWS(server.port, 124)
    ws.recv_json(), ws.recv_json()  # connected, the cart: table 124 is read
    lock = sqlite3.connect(str(server.db), timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")  # the save waits for it, and fails
        add = _http("POST", "/store/order/cart/add",
                    {"tableId": 123, "cuisineId": 1001, "quantity": 2})
        _sent_and_reset(server, add)  # being saved
        _sent_and_reset(server, add)  # queued behind that save
        _sent_and_reset(server, _http("PUT", "/store/order/table/123/name", {"name": "Ann"},
                                      "X-User-Id: 7\r\n"))
        ws.send_text(json.dumps({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 1}}))
        wait_until(lambda: unread_by_server(server.port, ws.sock) == 0, IO_TIMEOUT,
                   "the server to read the command")
        _reset(ws.sock)
        late = RawWS(server.port, 123)  # its snapshot waits behind the name
        _reset(late.sock)
        sigterm(server)
        # Each write transaction the writer still makes waits SQLite's busy timeout (5 s) for
        # the lock before it fails: up to three of them (the save, the name and the WebSocket's
        # change, grouped as the machine's timing falls; the queued change is never sent).
        wait_exit_ok(server, 3 * 5 + STOP_TIMEOUT)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    again = start_server(db=server.db)
    assert again.cart(123)["version"] == 0
    assert again.cart(124)["version"] == 0
