#!/usr/bin/env python3
"""100,000 diners over Redis: live connections held at once by several tablecart instances
on one redis-server, changes made through other instances, every connection receiving them.

A process here may hold at most 20,000 descriptors, so servers and clients are both several
processes. With --instances N (default 6) and --diners D (default 100,000):

- one redis-server (a free port, a temporary folder, no persistence: this measures memory and
  fan-out, not durability) and the generated menu (`tablecart menu import`): D / --subs tables;
- N `tablecart serve --store redis://…` instances (per-address connection limits off: the
  clients connect from 127.0.0.1..K);
- N tcload processes (bench/load): process i opens the subscribers of its share of the tables
  on instance i — SSE for the first half of the processes, WebSocket for the rest — and makes
  its changes through instance i+1, so every delivery crosses instances through Redis.

Once every subscriber of every process has its first cart (all D connections live at once), it
reads the servers' RSS and their open connections (/metrics), then lets every process publish
--rate changes/s for --duration s (enough to change every table at least once) and collects
deliveries, missing deliveries, subscribers that received a change, and the latencies of all
deliveries (from the publisher's write to the subscriber's read; merged over processes).

Prints the figures and one JSON line. Part of `make bench`, not of `make test`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array

from benchlib import (DEFAULT_BIN, DISH, REPO, redis_cmd, redis_used_memory,
                      metrics_text, start_redis, stop_all, write_menu)

DEFAULT_LOAD = os.path.join(REPO, "build", "bench", "tcload")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def open_conns(port):
    text = metrics_text(port, timeout=10)
    sse = int(re.search(r'^tablecart_connections\{kind="sse"\} (\d+)$', text, re.M).group(1))
    ws = int(re.search(r'^tablecart_connections\{kind="ws"\} (\d+)$', text, re.M).group(1))
    subs = int(re.search(r"^tablecart_redis_subscribed_tables (\d+)$", text, re.M).group(1))
    return sse, ws, subs


def pct(sorted_values, p):
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--load", default=DEFAULT_LOAD, help="tcload (make build/bench/tcload)")
    ap.add_argument("--instances", type=int, default=6)
    ap.add_argument("--diners", type=int, default=100000)
    ap.add_argument("--subs", type=int, default=20, help="diners per table")
    ap.add_argument("--rate", type=float, default=100, help="changes/s per client process")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--timeout", type=float, default=900, help="seconds to get everyone connected")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()

    n = a.instances
    per = -(-a.diners // n)  # diners per instance
    tables_per = -(-per // a.subs)
    per = tables_per * a.subs
    if per + 300 > 20000:
        sys.exit("%d diners per instance do not fit in 20,000 descriptors: more --instances" % per)
    if a.rate * a.duration < tables_per:
        sys.exit("--rate x --duration must change each of the %d tables of a process" % tables_per)
    tmp = tempfile.mkdtemp(prefix="tc-100k-")
    procs = []
    env = dict(os.environ, TABLECART_AUTH="none", TABLECART_LOG_LEVEL="warn")
    try:
        redis, rport = start_redis(tmp)
        procs.append(redis)
        url = "redis://127.0.0.1:%d" % rport
        menu = os.path.join(tmp, "menu.json")
        write_menu(menu, tables_per * n)
        subprocess.run([a.bin, "menu", "import", menu, "--store", url], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        servers = []
        for i in range(n):
            err = open(os.path.join(tmp, "tc%d.err" % i), "wb")
            p = subprocess.Popen([a.bin, "serve", "--listen", "127.0.0.1:0", "--store", url,
                                  "--heartbeat", "30", "--sse-timeout", "1800", "--ws-ping", "30",
                                  "--idle-timeout", "3600", "--max-conns-per-ip", "0",
                                  "--rate-conns", "0"],
                                 stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                 env=env)
            procs.append(p)
            line = p.stdout.readline().decode().strip()
            m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if not m:
                raise RuntimeError("instance %d did not start: %r" % (i, line))
            servers.append((p, int(m.group(1))))
        rss0 = [rss_kb(p.pid) for p, _ in servers]
        redis_mem0 = redis_used_memory(rport)

        clients = []
        t_connect = time.monotonic()
        for i in range(n):
            transport = "sse" if i < n // 2 else "ws"
            p = subprocess.Popen(
                [a.load, "fanout", "--port", str(servers[i][1]),
                 "--pub-port", str(servers[(i + 1) % n][1]), "--pid", str(servers[i][0].pid),
                 "--tables", str(tables_per), "--table-base", str(5001 + i * tables_per),
                 "--subs", str(a.subs), "--rate", str(a.rate), "--duration", str(a.duration),
                 "--transport", transport, "--cuisine", str(DISH), "--timeout", str(a.timeout),
                 "--connect-rate", "2000", "--go-signal", "--quiet",
                 "--lat-file", os.path.join(tmp, "lat%d" % i)],
                stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "load%d.err" % i), "wb"),
                stdin=subprocess.DEVNULL)
            procs.append(p)
            clients.append((p, transport))
        synced = 0
        for p, _ in clients:
            line = p.stdout.readline().decode()  # "synced S of N", or EOF on failure
            m = re.match(r"synced (\d+) of (\d+)", line)
            if not m:
                raise RuntimeError("a client process ended before its subscribers were in: %r"
                                   % line)
            synced += int(m.group(1))
        connect_s = time.monotonic() - t_connect

        # Every subscriber of every process is connected and has its first cart.
        rss1 = [rss_kb(p.pid) for p, _ in servers]
        conns = [open_conns(port) for _, port in servers]
        live = sum(s + w for s, w, _ in conns)
        redis_mem1 = redis_used_memory(rport)
        channels = len(redis_cmd(rport, "PUBSUB", "CHANNELS", "tablecart:table:*"))
        cpu0 = [cpu_s(p.pid) for p, _ in servers] + [cpu_s(redis.pid)]

        for p, _ in clients:
            p.send_signal(signal.SIGUSR1)
        results = []
        for p, transport in clients:
            out = p.stdout.read().decode()
            p.wait(timeout=a.duration + 120)
            line = [x for x in out.splitlines() if x.startswith("{")]
            if not line:
                raise RuntimeError("a client process printed no result:\n" + out)
            d = json.loads(line[-1])
            d["transport"] = transport
            results.append(d)
        cpu1 = [cpu_s(p.pid) for p, _ in servers] + [cpu_s(redis.pid)]
        lat = array("I")
        for i in range(n):
            with open(os.path.join(tmp, "lat%d" % i), "rb") as f:
                lat.frombytes(f.read())
        lat = sorted(lat)

        expected = sum(d["deliveries_expected"] for d in results)
        received = sum(d["deliveries_received"] for d in results)
        missing = sum(d["deliveries_missing"] for d in results)
        reached = sum(d["subs_with_delivery"] for d in results)
        changes = sum(d["mutations_ok"] for d in results)
        failed = sum(d["mutations_failed"] for d in results)
        sse_n = sum(c[0] for c in conns)
        ws_n = sum(c[1] for c in conns)
        grow = sum(rss1) - sum(rss0)
        tc_cpu = sum(cpu1[i] - cpu0[i] for i in range(n))
        fig = {
            "instances": n, "diners_planned": per * n, "subscribers_synced": synced,
            "live_connections": live, "sse": sse_n, "ws": ws_n, "connect_s": round(connect_s, 1),
            "server_rss_total_kb": sum(rss1), "server_rss_growth_kb": grow,
            "rss_per_conn_bytes": round(sum(rss1) * 1024 / max(live, 1), 1),
            "rss_growth_per_conn_bytes": round(grow * 1024 / max(live, 1), 1),
            "redis_memory_growth_bytes": redis_mem1 - redis_mem0, "table_channels": channels,
            "tables_followed": sum(c[2] for c in conns),
            "changes_ok": changes, "changes_failed": failed,
            "deliveries_expected": expected, "deliveries_received": received,
            "deliveries_missing": missing, "subscribers_with_delivery": reached,
            "lat_p50_us": pct(lat, .5), "lat_p90_us": pct(lat, .9), "lat_p99_us": pct(lat, .99),
            "lat_p999_us": pct(lat, .999), "lat_max_us": lat[-1] if lat else 0,
            "tablecart_cpu_s": round(tc_cpu, 2), "redis_cpu_s": round(cpu1[n] - cpu0[n], 2),
            "deliveries_per_tablecart_cpu_s": round(received / tc_cpu) if tc_cpu else 0,
            "loadavg": open("/proc/loadavg").read().split()[0],
        }
        print("%d instances on one Redis: %d live connections (%d SSE, %d WebSocket), "
              "connected in %.0f s" % (n, live, sse_n, ws_n, connect_s))
        print("  server memory: %.0f MB RSS in all, %.0f bytes per connection (growth %.0f)"
              % (sum(rss1) / 1024, fig["rss_per_conn_bytes"], fig["rss_growth_per_conn_bytes"]))
        print("  redis: %d table channels, %d tables followed, memory +%.1f MB"
              % (channels, fig["tables_followed"], fig["redis_memory_growth_bytes"] / 1e6))
        print("  changes: %d accepted (%d failed) through the next instance; deliveries: "
              "expected %d, received %d, missing %d; subscribers that received one: %d of %d"
              % (changes, failed, expected, received, missing, reached, synced))
        print("  latency us: p50 %d  p90 %d  p99 %d  p99.9 %d  max %d"
              % (fig["lat_p50_us"], fig["lat_p90_us"], fig["lat_p99_us"], fig["lat_p999_us"],
                 fig["lat_max_us"]))
        print("  tablecart cpu %.2f s (%d deliveries per CPU-second), redis cpu %.2f s"
              % (tc_cpu, fig["deliveries_per_tablecart_cpu_s"], fig["redis_cpu_s"]))
        print(json.dumps(fig))
        ok = missing == 0 and reached == synced and live >= a.diners
        return 0 if ok else 1
    finally:
        stop_all(procs)
        if a.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
