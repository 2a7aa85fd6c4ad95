"""Hostile WebSocket clients and memory (docs/memory.md, "Hostile clients"): what a client
sends can make the server hold only a bounded amount of heap, and a client over a cap is
closed with the right code. One case per finding; in each, the server keeps serving another
client. Runs against the release and the ASan+UBSan builds (timeouts scaled there)."""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "live"))

from support import ASAN  # noqa: E402
import pytest  # noqa: E402
from live_support import (OP_CLOSE, OP_PONG, OP_TEXT, Clients, RawWS, frame_header,  # noqa: E402
                          one_byte_fragments, ping_flood, rss_bytes, vm_data_bytes)

MAX_MESSAGE = 65536  # --ws-max-message's default
COALESCE_LIMIT = 1000  # TC_WS_MAX_COALESCED_PINGS (src/push/ws.h)
# The ASan allocator adds redzones and keeps freed blocks in quarantine.
SLACK = 4 if ASAN else 1


@pytest.fixture
def clients(start_server):
    """As in live/conftest.py: clients closed before the servers."""
    c = Clients()
    yield c
    c.close_all()


def opened(server, clients, **kw):
    """A WebSocket past its opening messages (connected, then the cart)."""
    ws = clients(RawWS(server.port, **kw))
    assert ws.recv_json()["type"] == "connected"
    assert ws.recv_json()["type"] == "cart_update"
    return ws


def assert_serves(server, clients):
    """Another client still gets its heartbeat answered."""
    ws = opened(server, clients)
    ws.send_text({"type": "heartbeat"})
    assert ws.recv_json()["type"] == "heartbeat"
    ws.close()


def pongs_until(ws, last):
    """Reads frames up to the pong carrying ping number `last`; returns the
    numbers of every pong on the way."""
    got = []
    while not got or got[-1] != last:
        f = ws.recv_frame()
        assert f.opcode == OP_PONG, "expected only pongs, got %r" % f
        got.append(struct.unpack("!I", f.payload)[0])
    return got


def test_ping_flood_from_a_reading_client_gets_coalesced_pongs(start_server, clients):
    server = start_server()
    pid = server.proc.pid
    socks = [opened(server, clients) for _ in range(10)]
    rss0 = rss_bytes(pid)
    rounds, burst = 4, 500  # under COALESCE_LIMIT per round
    for r in range(rounds):
        for ws in socks:
            ws.send(ping_flood(burst, first=r * burst))
        for ws in socks:
            got = pongs_until(ws, r * burst + burst - 1)
            # Each pong answers a ping of this burst, newer than the one before,
            # and the newest ping is always answered.
            assert all(r * burst <= n < (r + 1) * burst for n in got), got
            assert got == sorted(set(got)), got
            # One pong per read of the server, not one per ping: the 5 KB burst
            # comes in a few reads at most.
            assert 1 <= len(got) <= 10, "%d pongs for %d pings" % (len(got), burst)
            # A read without pings in between: the connection is still served.
            ws.send_text({"type": "heartbeat"})
            assert ws.recv_json()["type"] == "heartbeat"
    grew = rss_bytes(pid) - rss0
    assert grew < 4 * SLACK << 20, "RSS grew %.1f MB" % (grew / 2**20)
    assert_serves(server, clients)


def test_ping_flood_from_a_client_that_does_not_read_is_closed(start_server, clients):
    server = start_server()
    pid = server.proc.pid
    socks = [opened(server, clients, rcvbuf=4096) for _ in range(10)]
    rss0 = rss_bytes(pid)
    flood = ping_flood(50000)  # 300 KB; one read of the server holds up to ~10,900
    for ws in socks:
        try:
            ws.send(flood)
        except (BrokenPipeError, ConnectionResetError):
            pass
    grew = rss_bytes(pid) - rss0
    for ws in socks:
        # Whatever pongs went out before, then the close: 1008 (policy
        # violation), and the end of the connection.
        while True:
            f = ws.recv_frame()
            if f.opcode != OP_PONG:
                break
        assert f.opcode == OP_CLOSE and f.close_code == 1008, f
        ws.wait_eof()
    assert grew < 2 * SLACK << 20, "RSS grew %.1f MB for 10 flooders" % (grew / 2**20)
    assert_serves(server, clients)


def heartbeat_of_size(n):
    """A valid heartbeat command of exactly n bytes."""
    head = b'{"type":"heartbeat","pad":"'
    return head + b"a" * (n - len(head) - 2) + b'"}'


def test_one_byte_fragment_flood_is_bounded_then_1009(start_server, clients):
    server = start_server()
    pid = server.proc.pid
    text = heartbeat_of_size(MAX_MESSAGE)
    held = one_byte_fragments(text[:-1])  # 65,535 fragments, no FIN
    socks = [opened(server, clients) for _ in range(8)]
    rss0 = rss_bytes(pid)
    for ws in socks:
        ws.send(held)
    # Nothing comes back for a fragment: a heartbeat on a new socket proves
    # the server has read everything sent before it.
    assert_serves(server, clients)
    grew = (rss_bytes(pid) - rss0) / len(socks)
    # One block of at most 64 KiB + wslay's context (~9 KB) each; it was
    # 6.1 MB with a block per fragment.
    assert grew < 256 * 1024 * SLACK, "%.0f KB per connection" % (grew / 1024)
    # The last byte completes a message of exactly the limit: delivered.
    for ws in socks:
        ws.send_frame(0x0, text[-1:], fin=True)
        assert ws.recv_json()["type"] == "heartbeat"
    # One byte more than the limit, in one-byte fragments: 1009.
    ws = opened(server, clients)
    ws.send(one_byte_fragments(text + b" "))
    ws.expect_close(1009)
    assert_serves(server, clients)


def test_declared_frame_length_is_not_allocated_before_its_payload(start_server, clients):
    server = start_server()
    pid = server.proc.pid
    n = 32
    socks = [opened(server, clients) for _ in range(n)]
    data0 = vm_data_bytes(pid)
    for ws in socks:
        ws.send(frame_header(OP_TEXT, 65000) + b"{")
    assert_serves(server, clients)
    grew = (vm_data_bytes(pid) - data0) / n
    # wslay's context (~9 KB) and a small block; wslay 1.1.1 alone allocated
    # the declared 65,000 bytes at the header.
    assert grew < 32 * 1024 * SLACK, "%.0f KB of heap per connection" % (grew / 1024)
    # The rest of the payload arrives and the message is delivered.
    ws = socks[0]
    rest = heartbeat_of_size(65000)[1:]
    ws.send(rest)
    assert ws.recv_json()["type"] == "heartbeat"
    # A declared length over the limit is refused at its header: 1009.
    ws = opened(server, clients)
    ws.send(frame_header(OP_TEXT, MAX_MESSAGE + 1) + b"x")
    ws.expect_close(1009)
    assert_serves(server, clients)
