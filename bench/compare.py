#!/usr/bin/env python3
"""tablecart against nginx + nchan, on our load generator (build/bench/tcload).

Every measurement gets a fresh server: tablecart on 127.0.0.1:0 with a new SQLite database and a
generated menu, or nginx (one worker, Debian's nchan module) with a configuration written here,
listening on 127.0.0.1 only, its logs and temporary files in the output folder. Scenarios:

  idle      N SSE, then N WebSocket connections over 500 tables: server RSS growth per connection
  fanout    500 tables x 4 subscribers, 2,000 changes/s for 10 s, SSE and WebSocket
  saturate  1,000 tables x 10 subscribers, 20,000 changes/s offered, SSE
  hot       one table with 15,000 SSE subscribers, 20 changes/s offered
  rest      changes as fast as 256 keep-alive connections go, 500 tables, no subscribers
            (tablecart: each one committed to SQLite; nchan: a publish, in memory)
  sweep     fanout SSE at several rates: the latency percentiles for the plot

Prints a table with the tablecart/nchan ratios; writes OUT/results.jsonl (one tcload JSON line per
measurement, with "peer" and "test" added) and OUT/latency.png (gnuplot). Without nchan installed
(libnginx-mod-nchan) only tablecart is measured. Traffic goes to 127.0.0.1 only; every run is
bounded by tcload's own deadlines and by a timeout here.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

from benchlib import DEFAULT_BIN, DISH, REPO, start_server, write_menu

NCHAN_MODULE = "/usr/lib/nginx/modules/ngx_nchan_module.so"
NGINX = "/usr/sbin/nginx"
TABLE_BASE = 5001  # benchlib's menus start there
SCENARIOS = ("idle", "fanout", "saturate", "hot", "rest", "sweep")


def raise_nofile():
    """The servers and tcload inherit the hard limit of open files (20,000 here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tablecart:
    name = "tablecart"

    def __init__(self, binary, out):
        self.binary, self.out = binary, out
        self.proc = None

    def start(self, n_tables):
        d = os.path.join(self.out, "tablecart")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        menu = os.path.join(d, "menu.json")
        write_menu(menu, n_tables)
        # --rate-changes 0: tcload publishes as one caller (X-User-Id 1), and
        # the rest and saturate scenarios change a table 20-100 times a
        # second; the per-caller limiter (docs/api.md) would answer 429.
        self.proc, self.port = start_server(
            self.binary, d, menu, "--heartbeat", "30", "--sse-timeout", "1800", "--ws-ping", "30",
            "--idle-timeout", "3600", "--rate-changes", "0")
        return [self.proc.pid]

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            if rc != 0:
                print("  tablecart exited with status %d" % rc, file=sys.stderr)
            self.proc = None


NGINX_CONF = """# written by bench/compare.py
load_module {module};
{user}
daemon on;
master_process on;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections {wconns}; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 3600s;
    nchan_shared_memory_size 256M;
    nchan_message_buffer_length 4;
    nchan_message_timeout 60s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location ~ ^/sub/(\\w+)$ {{
            nchan_subscriber;
            nchan_channel_id $1;
            nchan_subscriber_first_message newest;
            nchan_subscriber_timeout 0;
        }}
        location ~ ^/pub/(\\w+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
        location / {{ return 404; }}
    }}
}}
"""


class Nchan:
    """nginx with the nchan module: subscribers GET /sub/{id}, publishers POST /pub/{id}."""
    name = "nchan"

    def __init__(self, out, nofile):
        self.dir = os.path.join(out, "nchan")
        self.nofile = nofile
        self.master = None

    @staticmethod
    def available():
        return os.path.exists(NCHAN_MODULE) and os.path.exists(NGINX)

    def start(self, n_tables):
        shutil.rmtree(self.dir, ignore_errors=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, "tmp", sub))
            os.chmod(os.path.join(self.dir, "tmp", sub), 0o777)  # workers run as nobody under root
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        # worker_connections above the file limit: nchan takes connection slots for more than
        # sockets, and at the limit nginx starts closing keep-alive connections to reuse them
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                module=NCHAN_MODULE, dir=self.dir, port=self.port, nofile=self.nofile,
                wconns=2 * self.nofile, user="user nobody nogroup;" if os.getuid() == 0 else ""))
        subprocess.run([NGINX, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                       check=True, timeout=30)
        pidfile = os.path.join(self.dir, "nginx.pid")
        for _ in range(100):
            if os.path.exists(pidfile) and open(pidfile).read().strip():
                break
            time.sleep(0.05)
        self.master = int(open(pidfile).read())
        for _ in range(100):
            workers = self.children(self.master)
            if workers:
                return workers
            time.sleep(0.05)
        raise RuntimeError("nginx started no worker; see %s/error.log" % self.dir)

    @staticmethod
    def children(pid):
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open("/proc/%s/stat" % entry).read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        return found

    def stop(self):
        if not self.master:
            return
        try:
            os.kill(self.master, signal.SIGQUIT)
            for _ in range(100):
                os.kill(self.master, 0)
                time.sleep(0.1)
            os.kill(self.master, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.master = None


class Runner:
    def __init__(self, args):
        self.args = args
        self.results = open(os.path.join(args.out, "results.jsonl"), "w")
        self.rows = []

    def measure(self, peer, test, n_tables, mode, *flags):
        """Starts the peer fresh, runs tcload once, records its JSON line."""
        print("== %s %s" % (peer.name, test), flush=True)
        pids = peer.start(n_tables)
        cmd = [self.args.load, mode, "--port", str(peer.port), "--table-base", str(TABLE_BASE),
               "--quiet"]
        for pid in pids:
            cmd += ["--pid", str(pid)]
        if peer.name == "nchan":
            cmd += ["--target", "nchan", "--payload", "400"]
        else:
            cmd += ["--cuisine", str(DISH)]
        try:
            run = subprocess.run(cmd + [str(f) for f in flags], capture_output=True, text=True,
                                 timeout=self.args.timeout)
            out = run.stdout
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        finally:
            peer.stop()
        lines = out.splitlines()
        for line in lines:
            if not line.startswith("{"):
                print("  " + line, flush=True)
        try:
            row = json.loads([line for line in lines if line.startswith("{")][-1])
        except (IndexError, ValueError):
            row = {"error": "no result"}
            print("  no result", flush=True)
        row.update(peer=peer.name, test=test, commit=self.args.commit,
                   date=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        self.results.write(json.dumps(row) + "\n")
        self.results.flush()
        self.rows.append(row)
        time.sleep(1)  # let the kernel drop the closed sockets before the next server
        return row


def figure(row):
    if not row or "error" in row:
        return None
    if row["test"].startswith("idle"):
        return row.get("rss_per_conn_bytes")
    if row["test"] == "rest":
        return row.get("mutations_per_s")
    return row.get("deliveries_per_server_cpu_s")


def print_table(rows):
    print()
    print("%-10s %-14s %14s %12s %9s %9s %9s %9s %8s %6s" % (
        "peer", "test", "B/conn|d/cpu-s", "deliveries/s", "p50 us", "p90 us", "p99 us",
        "p99.9 us", "missing", "gaps"))
    for r in rows:
        f = figure(r)
        print("%-10s %-14s %14s %12s %9s %9s %9s %9s %8s %6s" % (
            r["peer"], r["test"], "-" if f is None else "%.0f" % f,
            "%.0f" % r["deliveries_per_s"] if r.get("deliveries_per_s") else "-",
            r.get("lat_p50_us", "-"), r.get("lat_p90_us", "-"), r.get("lat_p99_us", "-"),
            r.get("lat_p999_us", "-"), r.get("deliveries_missing", "-"), r.get("gaps", "-")))
    by = {(r["peer"], r["test"]): r for r in rows}
    tests = [r["test"] for r in rows if r["peer"] == "tablecart" and not r["test"].startswith("sweep")]
    lines = []
    for t in tests:
        a, b = by.get(("tablecart", t)), by.get(("nchan", t))
        fa, fb = figure(a), figure(b)
        if not fa or not fb:
            continue
        if t.startswith("idle"):
            lines.append("  %-14s %.2fx  (nchan bytes per connection / tablecart's)" % (t, fb / fa))
        elif t == "rest":
            lines.append("  %-14s %.2fx  (changes per second; tablecart's are durable)" % (t, fa / fb))
        else:
            da, db = a.get("deliveries_per_s"), b.get("deliveries_per_s")
            lines.append("  %-14s %.2fx per server CPU-second, %.2fx per second" % (
                t, fa / fb, da / db if da and db else 0))
    if lines:
        print("\ntablecart vs nchan, higher is better for tablecart:")
        print("\n".join(lines))


def plot(rows, out):
    """latency.png: p50/p90/p99/p99.9 against changes per second, one line per peer and percentile."""
    data = os.path.join(out, "sweep.dat")
    peers = [p for p in ("tablecart", "nchan") if any(r["peer"] == p and r["test"].startswith("sweep") for r in rows)]
    if not peers or not shutil.which("gnuplot"):
        print("no plot (%s)" % ("gnuplot missing" if peers else "no sweep"))
        return
    with open(data, "w") as f:
        for p in peers:
            f.write("# %s: rate p50 p90 p99 p99.9 (microseconds)\n" % p)
            for r in sorted((r for r in rows if r["peer"] == p and r["test"].startswith("sweep")
                             and "error" not in r), key=lambda r: r["rate"]):
                f.write("%g %d %d %d %d\n" % (r["rate"], r["lat_p50_us"], r["lat_p90_us"],
                                              r["lat_p99_us"], r["lat_p999_us"]))
            f.write("\n\n")
    png = os.path.join(out, "latency.png")
    cmds = ["set terminal pngcairo size 900,560 font 'sans,10'", "set output '%s'" % png,
            "set title 'Delivery latency (publish write to subscriber read), 500 tables x 4 SSE subscribers'",
            "set xlabel 'changes per second offered'", "set xrange [350:11000]", "set ylabel 'latency (ms)'", "set logscale xy",
            "set grid", "set key top left"]
    styles = {"tablecart": "lc rgb '#1f77b4'", "nchan": "lc rgb '#d62728'"}
    series = []
    for i, p in enumerate(peers):
        for col, (name, dt) in enumerate((("p50", 1), ("p90", 2), ("p99", 3), ("p99.9", 4)), start=2):
            series.append("'%s' index %d using 1:($%d/1000) with linespoints dt %d pt 7 %s title '%s %s'"
                          % (data, i, col, dt, styles[p], p, name))
    cmds.append("plot " + ", ".join(series))
    subprocess.run(["gnuplot"], input="\n".join(cmds) + "\n", text=True, check=False, timeout=60)
    print("plot: %s" % png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=DEFAULT_BIN, help="tablecart binary (default build/tablecart)")
    ap.add_argument("--load", default=os.path.join(REPO, "build", "bench", "tcload"), help="tcload binary")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "bench", "out"), help="results folder")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ",".join(SCENARIOS))
    ap.add_argument("--idle-conns", type=int, default=19000, help="idle: connections (default 19000)")
    ap.add_argument("--duration", type=float, default=10, help="seconds of publishing per run (default 10)")
    ap.add_argument("--sweep-rates", default="500,1000,2000,4000,8000", help="changes/s for the plot")
    ap.add_argument("--sweep-duration", type=float, default=5, help="seconds per sweep point (default 5)")
    ap.add_argument("--no-nchan", action="store_true", help="tablecart only")
    ap.add_argument("--quick", action="store_true", help="small and short: 2,000 idle, 2 s runs, 2 sweep rates")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per tcload run at most (default 300)")
    ap.add_argument("--replot", metavar="RESULTS", help="only print the table and draw the plot of a results.jsonl")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every run measured what it was asked: a result; idle: every "
                         "connection made; the others: no failed change, no missing delivery, no gap")
    args = ap.parse_args()
    if args.replot:
        rows = [json.loads(line) for line in open(args.replot) if line.strip()]
        print_table(rows)
        plot(rows, os.path.dirname(os.path.abspath(args.replot)))
        return
    if args.quick:
        args.idle_conns, args.duration, args.sweep_duration = 2000, 2, 2
        args.sweep_rates = "500,2000"
    only = args.only.split(",")
    for s in only:
        if s not in SCENARIOS:
            ap.error("unknown scenario %r" % s)
    for path in (args.bin, args.load):
        if not os.access(path, os.X_OK):
            ap.error("%s is not built (make build build/bench/tcload)" % path)
    os.makedirs(args.out, exist_ok=True)
    args.commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip() or "unknown"
    nofile = raise_nofile()
    peers = [Tablecart(args.bin, args.out)]
    if args.no_nchan:
        pass
    elif Nchan.available():
        peers.append(Nchan(args.out, nofile))
    else:
        print("nchan is not installed (scripts/install-deps.sh bench): tablecart only")
    run = Runner(args)
    d = args.duration
    if "idle" in only:
        for tr in ("sse", "ws"):
            for p in peers:
                run.measure(p, "idle-" + tr, 500, "idle", "--conns", args.idle_conns, "--tables", 500,
                            "--transport", tr, "--settle", 2)
    if "fanout" in only:
        for tr in ("sse", "ws"):
            for p in peers:
                run.measure(p, "fanout-" + tr, 500, "fanout", "--tables", 500, "--subs", 4, "--rate", 2000,
                            "--duration", d, "--transport", tr)
    if "saturate" in only:
        for p in peers:
            run.measure(p, "saturate-sse", 1000, "fanout", "--tables", 1000, "--subs", 10, "--rate", 20000,
                        "--duration", d)
    if "hot" in only:
        for p in peers:
            run.measure(p, "hot-sse", 1, "fanout", "--tables", 1, "--subs", 15000, "--rate", 20,
                        "--duration", d)
    if "rest" in only:
        for p in peers:
            run.measure(p, "rest", 500, "fanout", "--tables", 500, "--subs", 0, "--rate", 0,
                        "--pub-conns", 256, "--duration", d)
    if "sweep" in only:
        for rate in [int(r) for r in args.sweep_rates.split(",")]:
            for p in peers:
                run.measure(p, "sweep-%d" % rate, 500, "fanout", "--tables", 500, "--subs", 4, "--rate", rate,
                            "--duration", args.sweep_duration)
    print_table(run.rows)
    plot(run.rows, args.out)
    print("raw results: %s" % os.path.join(args.out, "results.jsonl"))
    if args.check:
        bad = [r for r in run.rows if not run_ok(r)]
        for r in bad:
            print("CHECK FAILED: %s %s: %s" % (r["peer"], r["test"], r.get("error") or json.dumps(r)))
        return 1 if bad else 0
    return 0


def run_ok(row):
    """A run that measured what it was asked: a result; idle: every
    connection ready; the others: every change accepted, every delivery
    received, no version skipped."""
    if "error" in row:
        return False
    if row.get("mode") == "idle":
        return row.get("conn_failed") == 0 and row.get("conns_ready") == row.get("conns")
    return (row.get("mutations_failed") == 0 and row.get("deliveries_missing") == 0
            and row.get("gaps") == 0)


if __name__ == "__main__":
    sys.exit(main())
