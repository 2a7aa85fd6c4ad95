#!/usr/bin/python3
"""What one hostile connection can make tablecart hold: for each kind of hostile
client, opens --n of them against `tablecart serve` on 127.0.0.1:0, lets each
do its worst and stay connected where the server lets it, and prints the
growth of the server's VmRSS (pages touched) and VmData (heap allocated,
touched or not) per connection, and how many the server closed.

Kinds (docs/memory.md, "Hostile clients"):
  ws-ping-flood    a WebSocket that never reads sends 50,000 empty pings
  ws-fragments     a WebSocket sends a 64 KiB text message as 65,535 one-byte
                   fragments and never the last one
  ws-declared      a WebSocket sends a header declaring a 65,000-byte frame,
                   then one byte of it
  http-head        an HTTP request head of one-byte headers just under the
                   16 KiB limit as counted (64 bytes per header), never finished
  http-headers     the same with 16 KiB of such headers on the wire (3,200)
  http-body        a POST declaring a 64 KiB body, all but its last byte sent

Loopback only, bounded in time; cleans up after itself.

    /usr/bin/python3 bench/hostile_memory.py [--bin build/tablecart] [--n 100]
"""

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests", "integration"),
                os.path.join(HERE, "..", "tests", "integration", "live")]

from benchlib import DEFAULT_BIN, start_server, write_menu  # noqa: E402
from live_support import (OP_TEXT, RawWS, frame_header, one_byte_fragments,  # noqa: E402
                          ping_flood, rss_bytes, vm_data_bytes)


def ws_open(port, table, **kw):
    ws = RawWS(port, table=table, **kw)
    ws.recv_json()  # connected
    ws.recv_json()  # cart_update
    return ws


def raw_open(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s


def http_head(port, table):
    s = raw_open(port)
    head = b"GET /api/store/order/cart/%d HTTP/1.1\r\nHost: x\r\n" % table
    # a one-character name, an empty value: 5 bytes and 64 counted per header
    s.sendall(head + b"a:\r\n" * ((16 * 1024 - len(head)) // 69 - 1))
    return s


def http_headers(port, table):
    s = raw_open(port)
    s.sendall(b"GET /api/store/order/cart/%d HTTP/1.1\r\nHost: x\r\n" % table + b"a:\r\n" * 3200)
    return s


def http_body(port, table):
    s = raw_open(port)
    s.sendall(b"POST /api/store/order/cart/add HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 65536\r\n\r\n" + b" " * 65535)
    return s


def ws_ping_flood(port, table):
    ws = ws_open(port, table, rcvbuf=4096)
    ws.send(ping_flood(50000))
    return ws


FRAGMENTS = one_byte_fragments(b"x" * 65535)


def ws_fragments(port, table):
    ws = ws_open(port, table)
    ws.send(FRAGMENTS)
    return ws


def ws_declared(port, table):
    ws = ws_open(port, table)
    ws.send(frame_header(OP_TEXT, 65000) + b"{")
    return ws


KINDS = [("ws-ping-flood", ws_ping_flood), ("ws-fragments", ws_fragments),
         ("ws-declared", ws_declared), ("http-head", http_head), ("http-headers", http_headers),
         ("http-body", http_body)]


def settled(pid):
    """(rss, data) once two samples 200 ms apart agree, at most ~5 s."""
    last = None
    for _ in range(25):
        m = (rss_bytes(pid), vm_data_bytes(pid))
        if m == last:
            return m
        last = m
        time.sleep(0.2)  # sampling interval, not a wait for an event
    return last


def closed(sock):
    """True when the server has closed this connection (EOF or reset)."""
    sock.setblocking(False)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def measure(binary, tmp, name, attack, n):
    tables = write_menu(os.path.join(tmp, "menu.json"), 10)
    proc, port = start_server(binary, tmp, os.path.join(tmp, "menu.json"))
    conns = []
    try:
        # warm up: one of each, so first-use allocations are not counted
        warm = attack(port, tables[0])
        settled(proc.pid)
        rss0, data0 = settled(proc.pid)
        for i in range(n):
            conns.append(attack(port, tables[i % len(tables)]))
        rss1, data1 = settled(proc.pid)
        socks = [getattr(c, "sock", c) for c in conns]
        n_closed = sum(closed(s) for s in socks)
        print("%-14s %4d conns  RSS %+8.1f KB/conn  heap (VmData) %+8.1f KB/conn  closed by server %d"
              % (name, n, (rss1 - rss0) / n / 1024, (data1 - data0) / n / 1024, n_closed))
        for s in socks + [getattr(warm, "sock", warm)]:
            s.close()
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--n", type=int, default=100, help="hostile connections per kind")
    ap.add_argument("--kind", action="append", help="only these kinds")
    a = ap.parse_args()
    print("hostile connections, %s" % a.bin)
    for name, attack in KINDS:
        if a.kind and name not in a.kind:
            continue
        tmp = tempfile.mkdtemp(prefix="tc-hostile-")
        try:
            measure(a.bin, tmp, name, attack, a.n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
