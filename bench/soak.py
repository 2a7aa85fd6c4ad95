#!/usr/bin/python3
"""Churn against one `tablecart serve` for a bounded time: does anything the server keeps
grow with the number of clients, addresses, tables, keys or odd requests it has seen, rather
than with what is open now? (docs/memory.md, "Weeks of churn")

Rounds of --round connections, every one from a source address never used before
(127.1.0.1, 127.1.0.2, ... : all of 127.0.0.0/8 is loopback on Linux), over the --tables
tables of a generated menu:
  get        GET a cart (a fresh X-User-Id); the carts' mean size is printed per round
  odd        an odd method (PROPFIND, PURGE, MKCOL, a made-up word) or an unknown path
  change     PUT update of a cart line to a random quantity (POST add when the table has
             no line yet) without X-User-Id: the caller is the new address (a line keeps a
             share per user, up to its 99 portions: fresh users would grow the carts); in
             the `keys` phase with a fresh Idempotency-Key, one change in ten sent twice
  sse        an SSE diner (?userId= 1 or 2, or none) reads its cart, then closes or resets
  ws         a WebSocket diner reads its cart, sends add_item, reads the answer, then
             closes with a close frame, or just FIN, or a reset
  ws-vanish  a WebSocket diner reads its cart and then goes silent without closing: the
             server drops it once it misses its pings (--ws-ping 1)
After each round the driver waits for /metrics to show no stream and no HTTP connection but
its own, lets the server's memory settle and samples VmRSS, VmData, open descriptors and the
number of /metrics series. Phases: `plain` (no Idempotency-Key), then `keys`, whose
remembered answers are allowed to grow (up to 1 MiB per caller, 64 MiB in all: docs/api.md):
their count and bytes are printed beside the growth.

A warm-up first gives every table's cart its line, with a share for every caller that will
change it, and seats the stream diners at every table (the carts in memory and the seats are
bounded by the menu's tables, not by churn), then runs one round of each kind in each phase,
so first-use allocations are not counted.

    /usr/bin/python3 bench/soak.py [--bin build/tablecart] [--minutes 2] [--tables 2000]
        [--round 600] [--store sqlite|redis] [--exempt-loopback yes|no]

Loopback only; the server, and with --store redis a redis-server of its own, are started on
free ports in a temporary folder that is removed afterwards. Exits 1 when a round cannot be
run (the server stops answering, a client fails) or when the `plain` phase's heap grows past
--max-growth bytes per 1,000 connections between its second round and its last.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "tests", "integration"),
                os.path.join(HERE, "..", "tests", "integration", "live")]

from benchlib import (DEFAULT_BIN, DISH, redis_used_memory, start_redis,  # noqa: E402
                      metrics_text, start_server, stop_all, write_menu)
from live_support import rss_bytes, vm_data_bytes  # noqa: E402

IO_TIMEOUT = 15
ODD_METHODS = [b"PROPFIND", b"PURGE", b"MKCOL", b"BREW", b"XYZZY", b"LOCK", b"SEARCH"]
KINDS = ["get", "odd", "change", "sse", "ws", "ws-vanish"]
# Of every 20 connections of a round: how many of each kind.
MIX = {"get": 3, "odd": 3, "change": 4, "sse": 4, "ws": 4, "ws-vanish": 2}
# userIds of the stream diners: seated at every table by the warm-up, since a table keeps its
# diners' seats for good (up to 50: docs/api.md, "Presence"), which is not churn
DINERS = 2


class Addresses:
    """Source addresses never used before: 127.1.0.1 onwards, skipping .0 and .255."""

    def __init__(self):
        self.n = 0

    def next(self):
        i = self.n
        self.n += 1
        return "127.%d.%d.%d" % (1 + i // (254 * 256), (i // 254) % 256, 1 + i % 254)


async def connect(port, src):
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(src, 0)), IO_TIMEOUT)


def reset(writer):
    """Closes with an RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def read_until(reader, buf, needle):
    """Reads until needle is in buf (a bytearray); returns buf. Raises at EOF."""
    while needle not in buf:
        chunk = await asyncio.wait_for(reader.read(65536), IO_TIMEOUT)
        if not chunk:
            raise ConnectionError("EOF before %r" % needle)
        buf += chunk
    return buf


async def http_once(port, src, request):
    """One request on a connection of its own (Connection: close); returns the status."""
    reader, writer = await connect(port, src)
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), IO_TIMEOUT)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        return int(m.group(1)) if m else 0
    finally:
        writer.close()


def request(method, path, headers=(), body=b""):
    head = [b"%s %s HTTP/1.1" % (method, path), b"Host: soak", b"Connection: close"]
    head += list(headers)
    if body:
        head += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def ws_frame(payload, opcode=1):
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Soak:
    def __init__(self, a, port, tables):
        self.a = a
        self.port = port
        self.tables = tables
        self.addrs = Addresses()
        self.user = 100000  # fresh callers for get and change
        self.keys = False
        self.answers = 0  # Idempotency-Key answers the server remembered (200s)
        self.answer_bytes = 0  # and the bytes of their bodies
        self.carts = self.cart_bytes = 0  # carts read by get, and their bytes
        self.results = {}

    def count(self, kind, outcome):
        self.results.setdefault(kind, {}).setdefault(outcome, 0)
        self.results[kind][outcome] += 1

    def diner(self):
        """The query of a stream diner: one of the DINERS, or nobody."""
        u = random.randrange(DINERS + 1)
        return b"?userId=%d" % u if u else b""

    def fresh_user(self):
        self.user += 1
        return self.user

    async def get(self, src):
        t = random.choice(self.tables)
        reader, writer = await connect(self.port, src)
        try:
            writer.write(request(b"GET", b"/api/store/order/cart/%d" % t,
                                 [b"X-User-Id: %d" % self.fresh_user()]))
            data = await asyncio.wait_for(reader.read(), IO_TIMEOUT)
        finally:
            writer.close()
        self.carts += 1
        self.cart_bytes += len(data.split(b"\r\n\r\n", 1)[-1])
        return data[9:12].decode()

    async def odd(self, src):
        if random.random() < 0.5:
            method = random.choice(ODD_METHODS)
            path = b"/api/store/order/cart/%d" % random.choice(self.tables)
        else:
            method = random.choice([b"GET", b"POST", b"DELETE", b"OPTIONS"])
            path = b"/soak/%d/%s" % (random.randrange(1 << 30), os.urandom(4).hex().encode())
        return await http_once(self.port, src, request(method, path))

    async def change(self, src):
        """PUT update of the table's line to a random quantity; a table without the line
        gets it by POST add. Returns the statuses."""
        t = random.choice(self.tables)
        headers = []
        update = request(b"PUT", b"/api/store/order/cart/update", headers, json.dumps(
            {"tableId": t, "cuisineId": DISH, "quantity": random.randrange(1, 100)}).encode())
        status = await self.keyed(src, update)
        if status == 200:
            return "200"
        add = request(b"POST", b"/api/store/order/cart/add", headers, json.dumps(
            {"tableId": t, "cuisineId": DISH, "quantity": 1}).encode())
        return "%d then %d" % (status, await self.keyed(self.addrs.next(), add))

    async def keyed(self, src, req):
        """Sends req (with a fresh Idempotency-Key in the keys phase; one in ten then sent
        again, replayed); returns its status."""
        if self.keys:
            key = b"Idempotency-Key: " + os.urandom(16).hex().encode() + b"\r\n"
            req = req.replace(b"\r\n", b"\r\n" + key, 1)
        reader, writer = await connect(self.port, src)
        try:
            writer.write(req)
            data = await asyncio.wait_for(reader.read(), IO_TIMEOUT)
        finally:
            writer.close()
        m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
        status = int(m.group(1)) if m else 0
        if self.keys and status == 200:
            self.answers += 1
            self.answer_bytes += len(data.split(b"\r\n\r\n", 1)[-1])
            if random.random() < 0.1:
                self.count("retry", str(await http_once(self.port, self.addrs.next(), req)))
        return status

    async def sse(self, src):
        t = random.choice(self.tables)
        reader, writer = await connect(self.port, src)
        try:
            writer.write(b"GET /api/store/order/sse/%d%s HTTP/1.1\r\nHost: soak\r\n\r\n"
                         % (t, self.diner()))
            await read_until(reader, bytearray(), b"event:cart_update")
        finally:
            if random.random() < 0.5:
                writer.close()
            else:
                reset(writer)
        return "read"

    async def ws_open(self, src):
        t = random.choice(self.tables)
        reader, writer = await connect(self.port, src)
        key = base64.b64encode(os.urandom(16))
        writer.write(b"GET /ws/cart/%d%s HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n"
                     % (t, self.diner(), key))
        try:
            buf = await read_until(reader, bytearray(), b'"cart_update"')
        except BaseException:
            writer.close()
            raise
        return reader, writer, buf

    async def ws(self, src):
        reader, writer, buf = await self.ws_open(src)
        try:
            writer.write(ws_frame(json.dumps({"type": "add_item", "data": {
                "cuisineId": DISH, "quantity": 1}}).encode()))
            # add_item_success, or an error once the line holds 99
            while b"add_item_success" not in buf and b'"error"' not in buf:
                chunk = await asyncio.wait_for(reader.read(65536), IO_TIMEOUT)
                if not chunk:
                    raise ConnectionError("EOF before the answer")
                buf += chunk
        finally:
            how = random.randrange(3)
            if how == 0:
                writer.write(ws_frame(struct.pack(">H", 1000), opcode=8))
                writer.close()
            elif how == 1:
                writer.close()
            else:
                reset(writer)
        return "answered"

    async def ws_vanish(self, src):
        """Reads its cart, then sends nothing, not even a pong: the server must drop it
        (2.5 ping periods of silence, then its close frame and 2 s for ours)."""
        reader, writer, _ = await self.ws_open(src)
        try:
            limit = 10 * self.a.ws_ping + IO_TIMEOUT
            while await asyncio.wait_for(reader.read(65536), limit):
                pass
            return "dropped"
        except asyncio.TimeoutError:
            return "kept"
        finally:
            writer.close()

    async def one(self, kind, sem):
        async with sem:
            src = self.addrs.next()
            fn = {"get": self.get, "odd": self.odd, "change": self.change, "sse": self.sse,
                  "ws": self.ws, "ws-vanish": self.ws_vanish}[kind]
            try:
                out = await fn(src)
            except (OSError, asyncio.TimeoutError, ConnectionError) as e:
                out = "failed: %s" % type(e).__name__
            self.count(kind, str(out))

    async def round(self, n):
        sem = asyncio.Semaphore(self.a.concurrency)
        per = sum(MIX.values())
        kinds = [k for k in KINDS for _ in range(MIX[k])] * (n // per)
        random.shuffle(kinds)
        await asyncio.gather(*(self.one(k, sem) for k in kinds))
        return len(kinds)


def gauge(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else 0


def quiet(port, timeout):
    """Waits until the server holds no stream and no HTTP connection but this one, and
    (Redis) subscribes no table's channel."""
    deadline = time.monotonic() + timeout
    while True:
        text = metrics_text(port)
        open_ = [gauge(text, 'tablecart_connections{kind="%s"}' % k) for k in ("http", "sse", "ws")]
        open_.append(gauge(text, "tablecart_redis_subscribed_tables"))
        if open_ == [1, 0, 0, 0]:
            return text
        if time.monotonic() > deadline:
            raise RuntimeError("still open after %d s: http %d, sse %d, ws %d, redis channels %d"
                               % (timeout, *open_))
        time.sleep(0.2)  # polling /metrics, with a deadline


def settled(pid):
    """(rss, data) once three samples 300 ms apart agree, at most ~6 s."""
    seen = []
    for _ in range(20):
        seen.append((rss_bytes(pid), vm_data_bytes(pid)))
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:
            break
        time.sleep(0.3)  # sampling interval, not a wait for an event
    return seen[-1]


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def series(text):
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def sample(proc, port, timeout):
    text = quiet(port, timeout)
    rss, data = settled(proc.pid)
    return {"rss": rss, "data": data, "fds": fds(proc.pid), "series": series(text)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--minutes", type=float, default=2, help="churn time, both phases")
    ap.add_argument("--tables", type=int, default=2000)
    ap.add_argument("--round", type=int, default=600, help="connections per round")
    ap.add_argument("--concurrency", type=int, default=48)
    ap.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    ap.add_argument("--exempt-loopback", choices=["yes", "no"], default="no")
    ap.add_argument("--ws-ping", type=int, default=1)
    ap.add_argument("--max-growth", type=float, default=50000,
                    help="heap bytes per 1,000 connections the plain phase may grow "
                    "(0: not checked; a short run's figure is the allocator's steps)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the samples here too")
    a = ap.parse_args()
    random.seed(a.seed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # the cleanup below still runs
    tmp = tempfile.mkdtemp(prefix="tc-soak-")
    procs = []
    try:
        store = None
        if a.store == "redis":
            redis, rport = start_redis(tmp)
            procs.append(redis)
            store = "redis://127.0.0.1:%d" % rport
        menu = os.path.join(tmp, "menu.json")
        tables = write_menu(menu, a.tables)
        proc, port = start_server(a.bin, tmp, menu, "--exempt-loopback", a.exempt_loopback,
                                  "--ws-ping", str(a.ws_ping), "--heartbeat", "1",
                                  store=store)
        procs.append(proc)
        soak = Soak(a, port, tables)
        print("tablecart soak: %s store, %d tables, --exempt-loopback %s, %d connections a "
              "round, %g min" % (a.store, a.tables, a.exempt_loopback, a.round, a.minutes))
        loop = asyncio.new_event_loop()

        # warm-up: every cart once (in memory from then on) with the line every change
        # changes and a share for each caller of a change (nobody, the stream diners), the
        # stream diners seated at every table, one round of each kind
        async def warm(reqs):
            sem = asyncio.Semaphore(a.concurrency)

            async def one(req):
                async with sem:
                    status = await http_once(port, soak.addrs.next(), req)
                    if status != 200:
                        raise RuntimeError("warm-up: %d for %r" % (status, req))
            await asyncio.gather(*(one(r) for r in reqs))
        users = [[]] + [[b"X-User-Id: %d" % u] for u in range(1, DINERS + 1)]
        loop.run_until_complete(warm([request(
            b"POST", b"/api/store/order/cart/add", u,
            json.dumps({"tableId": t, "cuisineId": DISH, "quantity": 1}).encode())
            for t in tables for u in users]))
        loop.run_until_complete(warm([request(
            b"PUT", b"/api/store/order/table/%d/name" % t, u, b'{"name":"soak"}')
            for t in tables for u in users[1:]]))
        loop.run_until_complete(soak.round(a.round))
        soak.keys = True
        loop.run_until_complete(soak.round(a.round))
        soak.keys = False
        base = sample(proc, port, 60)
        print("  warm-up: %d addresses used; RSS %.1f MB, heap (VmData) %.1f MB, %d fds, "
              "%d /metrics series" % (soak.addrs.n, base["rss"] / 1e6, base["data"] / 1e6,
                                      base["fds"], base["series"]))
        print("  %-5s %5s %7s %9s %10s %10s %5s %6s %8s %6s" % (
            "phase", "round", "conns", "addrs", "RSS", "heap", "fds", "series", "answers",
            "cart"))
        samples = []
        t_end = time.monotonic() + a.minutes * 60
        conns = 0
        for phase, until in (("plain", t_end - a.minutes * 30), ("keys", t_end)):
            soak.keys = phase == "keys"
            r = 0
            while time.monotonic() < until or r < 2:
                conns += loop.run_until_complete(soak.round(a.round))
                s = sample(proc, port, 60)
                r += 1
                if a.store == "redis":
                    s["redis"] = redis_used_memory(rport)
                s.update(phase=phase, round=r, conns=conns, addrs=soak.addrs.n,
                         answers=soak.answers, answer_bytes=soak.answer_bytes,
                         cart=soak.cart_bytes // max(soak.carts, 1))
                soak.carts = soak.cart_bytes = 0
                samples.append(s)
                print("  %-5s %5d %7d %9d %8.1fMB %8.1fMB %5d %6d %8d %6d" % (
                    phase, r, conns, soak.addrs.n, s["rss"] / 1e6, s["data"] / 1e6, s["fds"],
                    s["series"], s["answers"], s["cart"]))
        print("  outcomes: " + "; ".join(
            "%s %s" % (k, ", ".join("%s %d" % kv for kv in sorted(v.items())))
            for k, v in sorted(soak.results.items())))
        ok = True
        for phase in ("plain", "keys"):
            ss = [s for s in samples if s["phase"] == phase]
            # from the phase's second round: its first still pays for what the phase
            # does first (the keys phase's first answers, say)
            first, last = ss[1 if len(ss) > 2 else 0], ss[-1]
            n = last["conns"] - first["conns"]
            d_data, d_rss = last["data"] - first["data"], last["rss"] - first["rss"]
            per_k = d_data * 1000 / n if n else 0
            line = ("  %s: rounds %d..%d, %d connections from %d new addresses: heap %+.1f KB "
                    "(%+.0f B per 1,000 connections), RSS %+.1f KB, fds %+d, series %+d"
                    % (phase, first["round"], len(ss), n, last["addrs"] - first["addrs"], d_data / 1024, per_k,
                       d_rss / 1024, last["fds"] - first["fds"], last["series"] - first["series"]))
            if a.store == "redis":
                line += ", Redis used_memory %+.1f KB" % ((last["redis"] - first["redis"]) / 1024)
            if phase == "keys":
                line += "; %d answers remembered meanwhile (%.1f KB of bodies)" % (
                    last["answers"] - first["answers"],
                    (last["answer_bytes"] - first["answer_bytes"]) / 1024)
            print(line)
            if phase == "plain" and a.max_growth and per_k > a.max_growth:
                print("  FAIL: the plain phase grew %.0f B per 1,000 connections (limit %.0f)"
                      % (per_k, a.max_growth))
                ok = False
        bad = {k: v for k, v in soak.results.items()
               if any(o.startswith("failed") or o == "kept" for o in v)}
        if bad:
            print("  FAIL: clients failed: %s" % bad)
            ok = False
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"base": base, "samples": samples, "results": soak.results}, f)
        loop.close()
        return 0 if ok else 1
    finally:
        stop_all(procs)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
