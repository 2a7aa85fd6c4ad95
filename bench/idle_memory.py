#!/usr/bin/python3
"""Idle-connection memory of tablecart: how many bytes of the server's
resident memory one idle SSE stream and one idle WebSocket cost.

Starts `tablecart serve` on 127.0.0.1:0 with a fresh SQLite database and a menu
of --tables tables, opens --sse idle SSE streams and then --ws idle WebSockets
(spread round-robin over the tables, from --procs client processes), and reads
the server's VmRSS and RssAnon (/proc/PID/status) before and after each batch,
once everything has settled. Prints the growth per connection for each kind.

Every connection has read its `connected` and first `cart_update` before it
counts, so the server holds nothing queued for it: what is left is the idle
cost. Kernel socket buffers are not in the process's RSS and are not counted.

Loopback only, bounded in time (--timeout), and it cleans up after itself
(client processes, the server, the temporary directory) also on failure.

    /usr/bin/python3 bench/idle_memory.py [--bin build/tablecart] [--sse 5000] [--ws 5000]
"""

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import DEFAULT_BIN, start_server, write_menu


# ---------------------------------------------------------------------------
# client processes
# ---------------------------------------------------------------------------


async def read_ws_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    if b1 & 0x80:
        raise RuntimeError("masked frame from the server")
    return b0 & 0x0F, await reader.readexactly(n)


async def open_sse(port, table):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/store/order/sse/%d HTTP/1.1\r\nHost: bench\r\n\r\n" % table)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("SSE refused: %r" % head[:100])
    buf = b""
    while b"event:cart_update" not in buf or not buf.endswith(b"\n\n\r\n"):
        chunk = await reader.read(65536)
        if not chunk:
            raise RuntimeError("SSE closed early")
        buf += chunk
    return writer


async def open_ws(port, table):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16))
    writer.write(b"GET /ws/cart/%d HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                 % (table, key))
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError("WebSocket refused: %r" % head[:100])
    for want in (b'{"type":"connected"', b'{"type":"cart_update"'):
        op, payload = await read_ws_frame(reader)
        if op != 1 or not payload.startswith(want):
            raise RuntimeError("unexpected frame %d %r" % (op, payload[:60]))
    return writer


async def worker_main(conn, port):
    loop = asyncio.get_running_loop()
    held = []
    sem = asyncio.Semaphore(256)

    async def one(kind, table):
        async with sem:
            w = await (open_sse(port, table) if kind == "sse" else open_ws(port, table))
            held.append(w)

    while True:
        cmd = await loop.run_in_executor(None, conn.recv)
        try:
            if cmd[0] == "open":
                _, kind, tables = cmd
                await asyncio.gather(*[one(kind, t) for t in tables])
                conn.send(("ok", len(held)))
            elif cmd[0] == "close":
                for w in held:
                    w.close()
                held = []
                conn.send(("ok", 0))
            elif cmd[0] == "exit":
                for w in held:
                    w.close()
                conn.send(("ok", 0))
                return
        except Exception as e:  # reported to the parent
            conn.send(("error", "%s: %s" % (type(e).__name__, e)))


def worker(conn, port):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(worker_main(conn, port))


class Workers:
    def __init__(self, n, port):
        ctx = mp.get_context("fork")
        self.pipes, self.procs = [], []
        for _ in range(n):
            a, b = ctx.Pipe()
            p = ctx.Process(target=worker, args=(b, port), daemon=True)
            p.start()
            self.pipes.append(a)
            self.procs.append(p)

    def run(self, cmd_of, deadline):
        """Sends cmd_of(i) to worker i and waits for every answer."""
        for i, c in enumerate(self.pipes):
            c.send(cmd_of(i))
        out = []
        for c in self.pipes:
            if not c.poll(max(0.1, deadline - time.monotonic())):
                raise TimeoutError("a client process did not answer in time")
            st, v = c.recv()
            if st != "ok":
                raise RuntimeError("client process: %s" % v)
            out.append(v)
        return out

    def open(self, kind, tables, deadline):
        n = len(self.pipes)
        return self.run(lambda i: ("open", kind, tables[i::n]), deadline)

    def stop(self):
        for c in self.pipes:
            try:
                c.send(("exit",))
            except (OSError, BrokenPipeError):
                pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()


# ---------------------------------------------------------------------------
# the server
# ---------------------------------------------------------------------------


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    return 0


def memory(pid):
    return {"rss": status_kb(pid, "VmRSS") * 1024, "anon": status_kb(pid, "RssAnon") * 1024}


def kernel_slab():
    """The kernel's slab memory (bytes): socket structs, files, epoll items.
    Machine-wide and noisy; for a rough idea only."""
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("Slab:"):
                return int(ln.split()[1]) * 1024
    return 0


def settled(pid, deadline):
    """Memory once three samples 200 ms apart agree (or at the deadline)."""
    last, same = None, 0
    while time.monotonic() < deadline:
        m = memory(pid)
        same = same + 1 if m == last else 0
        if same >= 2:
            return m
        last = m
        time.sleep(0.2)  # sampling interval, not a wait for an event
    return last


def gauges(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for k in ("http", "sse", "ws"):
        m = re.search(r'^tablecart_connections\{kind="%s"\} (\d+)' % k, text, re.M)
        out[k] = int(m.group(1)) if m else -1
    # every open connection is of one kind
    out["all"] = out["http"] + out["sse"] + out["ws"]
    return out


def wait_gauge(port, kind, value, deadline):
    while True:
        g = gauges(port)
        if g[kind] == value:
            return g
        if time.monotonic() > deadline:
            raise TimeoutError("tablecart_connections{kind=%r} is %d, expected %d" % (kind, g[kind], value))
        time.sleep(0.1)  # polling the gauge


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--sse", type=int, default=5000, help="idle SSE streams (default 5000)")
    ap.add_argument("--ws", type=int, default=5000, help="idle WebSockets (default 5000)")
    ap.add_argument("--tables", type=int, default=100, help="tables to spread them over (default 100)")
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--timeout", type=float, default=240, help="give up after this many seconds")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()

    deadline = time.monotonic() + a.timeout
    need = a.sse + a.ws + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else need
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # the server inherits it
    if target < need:
        sys.exit("RLIMIT_NOFILE hard limit %d < %d needed by the server" % (hard, need))
    per_proc = (a.sse + a.ws) / a.procs + 64
    if per_proc > target:
        sys.exit("%d connections per client process > fd limit %d: use more --procs" % (per_proc, target))

    tmp = tempfile.mkdtemp(prefix="tablecart-bench-")
    server = workers = None
    try:
        menu = os.path.join(tmp, "menu.json")
        tables = write_menu(menu, a.tables)
        server, port = start_server(a.bin, tmp, menu, "--heartbeat", "3600", "--ws-ping", "3600",
                                    "--sse-timeout", "86400")
        pid = server.pid
        workers = Workers(a.procs, port)

        # Warm up: the first connections of each kind page in code and grow
        # the allocator's pools; close them again before the baseline.
        warm = [tables[i % len(tables)] for i in range(200)]
        workers.open("sse", warm, deadline)
        workers.open("ws", warm, deadline)
        workers.run(lambda i: ("close",), deadline)
        wait_gauge(port, "all", 1, deadline)  # the /metrics request itself

        results = {"binary": a.bin, "tables": a.tables, "client_procs": a.procs}
        base = settled(pid, min(deadline, time.monotonic() + 5))
        results["base"] = base
        prev = base
        slab0 = kernel_slab()
        t0 = time.monotonic()
        for kind, n in (("sse", a.sse), ("ws", a.ws)):
            if n == 0:
                continue
            spread = [tables[i % len(tables)] for i in range(n)]
            workers.open(kind, spread, deadline)
            wait_gauge(port, kind, n, deadline)
            now = settled(pid, min(deadline, time.monotonic() + 5))
            results[kind] = {
                "connections": n,
                "rss_growth": now["rss"] - prev["rss"],
                "anon_growth": now["anon"] - prev["anon"],
                "rss_per_conn": (now["rss"] - prev["rss"]) / n,
                "anon_per_conn": (now["anon"] - prev["anon"]) / n,
            }
            prev = now
        opened_in = time.monotonic() - t0
        slab1 = kernel_slab()
        total = a.sse + a.ws
        results["kernel_slab_per_conn"] = (slab1 - slab0) / max(1, total)
        results["all"] = {"connections": total, "rss_growth": prev["rss"] - base["rss"],
                          "rss_per_conn": (prev["rss"] - base["rss"]) / max(1, total),
                          "rss_after": prev["rss"]}
        workers.run(lambda i: ("close",), deadline)
        wait_gauge(port, "all", 1, deadline)
        results["after_close"] = settled(pid, min(deadline, time.monotonic() + 5))

        print("tablecart idle connections: %d SSE + %d WebSocket over %d tables, %d client processes"
              % (a.sse, a.ws, a.tables, a.procs))
        print("  server RSS before: %.1f MB, with all open: %.1f MB (opened in %.1fs), after closing: %.1f MB"
              % (base["rss"] / 2**20, prev["rss"] / 2**20, opened_in, results["after_close"]["rss"] / 2**20))
        for kind in ("sse", "ws"):
            if kind in results:
                r = results[kind]
                print("  %-3s: +%7.1f KB for %d connections = %6.0f bytes per connection (anonymous: %6.0f)"
                      % (kind.upper(), r["rss_growth"] / 1024, r["connections"], r["rss_per_conn"],
                         r["anon_per_conn"]))
        print("  all: %6.0f bytes per idle connection (goal: < 1024 bytes of user space)"
              % results["all"]["rss_per_conn"])
        print("  (not in RSS: kernel slab grew ~%.0f bytes per connection, both loopback ends)"
              % results["kernel_slab_per_conn"])
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        if workers:
            workers.stop()
        if server:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    rc = server.wait(15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    rc = server.wait()
                if rc != 0:
                    print("server exited %s; stderr:\n%s" % (
                        rc, open(os.path.join(tmp, "stderr.log"), errors="replace").read()[-2000:]),
                        file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
