#!/usr/bin/env python3
"""Fan-out benchmark: how fast changes are accepted and how soon every diner sees them.

Starts `tablecart serve` on 127.0.0.1:0 with a fresh SQLite database, then:

1. write throughput: --writers keep-alive connections each send --writes cart updates as fast as
   the answers come back (every answer is a committed, fsynced change); prints changes per second
   and the answer latency percentiles;
2. fan-out: opens --subs SSE streams spread over --tables tables, makes --changes changes
   (round-robin over the tables, one at a time), and records when each stream receives each
   change's `cart_update`; prints the delivery latency percentiles (from just before the change
   was sent to its arrival at a subscriber) and the events delivered per second.

The client is Python (asyncio, raw sockets, loopback only), so the latencies include the client's
own scheduling; the server is rarely the slower side. Bounded by --timeout; stops the server with
SIGTERM and removes its temporary directory.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import DEFAULT_BIN, DISH, start_server, write_menu


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def request(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = "%s %s HTTP/1.1\r\nHost: bench\r\n" % (method, path)
    if body is not None:
        head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    return head.encode() + b"\r\n" + data


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head)
    body = await reader.readexactly(int(m.group(1))) if m else b""
    status = int(head.split(b" ", 2)[1])
    return status, body


async def writer_task(port, table, n, latencies):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request("POST", "/api/store/order/cart/add",
                         {"tableId": table, "cuisineId": DISH, "quantity": 1}))
    await writer.drain()
    assert (await read_response(reader))[0] == 200
    for i in range(n):
        q = 2 + i % 90
        t0 = time.perf_counter()
        writer.write(request("PUT", "/api/store/order/cart/update",
                             {"tableId": table, "cuisineId": DISH, "quantity": q}))
        await writer.drain()
        status, _ = await read_response(reader)
        latencies.append(time.perf_counter() - t0)
        assert status == 200, status
    writer.close()


async def sse_subscriber(port, table, arrivals, ready):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(("GET /api/store/order/sse/%d HTTP/1.1\r\nHost: bench\r\n\r\n" % table).encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    seen_first = False
    buf = b""
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.perf_counter()
            buf += chunk
            for m in re.finditer(rb"event:cart_update\nid:(\d+)\n", buf):
                v = int(m.group(1))
                if not seen_first:
                    seen_first = True
                    ready.release()
                else:
                    arrivals.append((table, v, now))
            cut = buf.rfind(b"\n\n")
            if cut >= 0:
                buf = buf[cut + 2:]
    finally:
        writer.close()


async def run(args, port, tables):
    # 1. write throughput
    lat = []
    t0 = time.perf_counter()
    await asyncio.gather(*(writer_task(port, tables[i % len(tables)], args.writes, lat)
                           for i in range(args.writers)))
    dt = time.perf_counter() - t0
    n = args.writers * args.writes
    print("writes: %d changes over %d keep-alive connections in %.2fs = %.0f changes/s"
          % (n, args.writers, dt, n / dt))
    print("        answer latency p50 %.2f ms, p99 %.2f ms, max %.2f ms"
          % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, max(lat) * 1e3))

    # 2. fan-out
    arrivals = []
    ready = asyncio.Semaphore(0)
    subs = [asyncio.create_task(sse_subscriber(port, tables[i % len(tables)], arrivals, ready))
            for i in range(args.subs)]
    for _ in range(args.subs):
        await asyncio.wait_for(ready.acquire(), args.timeout)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = {}
    versions = {}
    for t in tables:
        # Every table gets its line (the writers may not have touched it).
        writer.write(request("POST", "/api/store/order/cart/add",
                             {"tableId": t, "cuisineId": DISH, "quantity": 1}))
        await writer.drain()
        status, body = await read_response(reader)
        assert status == 200, status
        versions[t] = json.loads(body)["data"]["version"]
    subs_of = {t: 0 for t in tables}
    for i in range(args.subs):
        subs_of[tables[i % len(tables)]] += 1
    # The add above reached the subscribers too; only what follows is measured.
    deadline = time.perf_counter() + args.timeout
    while len(arrivals) < args.subs and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    arrivals.clear()
    start = time.perf_counter()
    for i in range(args.changes):
        t = tables[i % len(tables)]
        q = 2 + (versions[t] % 90)
        sent_at = time.perf_counter()
        writer.write(request("PUT", "/api/store/order/cart/update",
                             {"tableId": t, "cuisineId": DISH, "quantity": q}))
        await writer.drain()
        status, body = await read_response(reader)
        assert status == 200, status
        versions[t] = json.loads(body)["data"]["version"]
        sent[(t, versions[t])] = sent_at
    want = sum(subs_of[t] for (t, _v) in sent)
    deadline = time.perf_counter() + args.timeout
    while len(arrivals) < want and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    end = max(a[2] for a in arrivals) if arrivals else time.perf_counter()
    delays = [now - sent[(t, v)] for (t, v, now) in arrivals if (t, v) in sent]
    print("fan-out: %d SSE subscribers on %d tables, %d changes -> %d of %d deliveries"
          % (args.subs, len(tables), args.changes, len(delays), want))
    print("         delivery latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; %.0f events/s"
          % (pct(delays, 50) * 1e3, pct(delays, 99) * 1e3, max(delays) * 1e3,
             len(delays) / max(end - start, 1e-9)))
    writer.close()
    for s in subs:
        s.cancel()
    await asyncio.gather(*subs, return_exceptions=True)
    return len(delays) == want


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--writes", type=int, default=500, help="changes per writer")
    ap.add_argument("--subs", type=int, default=1000, help="SSE subscribers")
    ap.add_argument("--tables", type=int, default=10)
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tablecart-fanout-")
    proc = None
    try:
        menu = os.path.join(tmp, "menu.json")
        tables = write_menu(menu, args.tables)
        # --rate-changes 0: each writer changes one table as fast as it is
        # answered, far above the per-caller limit of 20 changes a second per
        # table (docs/api.md), which would answer 429.
        proc, port = start_server(args.bin, tmp, menu, "--heartbeat", "3600",
                                  "--rate-changes", "0")
        ok = asyncio.run(asyncio.wait_for(run(args, port, tables), args.timeout))
        return 0 if ok else 1
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
