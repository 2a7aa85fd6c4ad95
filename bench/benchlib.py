"""What the benchmarks share: a generated menu and a server started on
127.0.0.1:0 with a fresh SQLite database in a temporary folder."""

import json
import os
import re
import signal
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BIN = os.environ.get("TABLECART_BIN", os.path.join(REPO, "build", "tablecart"))
DISH = 9001  # the one dish of the generated menu


def write_menu(path, n_tables):
    """A menu file with one store, n_tables tables (ids from 5001) and dish DISH.
    Returns the table ids."""
    tables = list(range(5001, 5001 + n_tables))
    menu = {"stores": [{"storeId": 9, "name": "Bench", "tables": [
        {"tableId": t, "tableNumber": "B%04d" % (t - 5000)} for t in tables],
        "cuisines": [{"cuisineId": DISH, "cuisineName": "面", "cuisineType": 1,
                      "cuisineImage": "https://example.com/9001.jpg", "unitPrice": 18.00}]}]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(menu, f, ensure_ascii=False)
    return tables


def start_server(binary, tmp, menu, *flags, store=None):
    """Starts `tablecart serve` with the menu and flags, on store (a URL; default a fresh
    SQLite database in tmp); returns (process, port)."""
    # Figures of the server's work: no line per request (warn drops the access log's
    # info lines anyway; off skips even their formatting).
    env = dict(os.environ, TABLECART_AUTH="none", TABLECART_LOG_LEVEL="warn",
               TABLECART_ACCESS_LOG="off")
    err = open(os.path.join(tmp, "stderr.log"), "wb")
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0",
                          "--store", store or "sqlite:%s" % os.path.join(tmp, "bench.db"),
                          "--menu", menu]
                         + list(flags),
                         stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env)
    line = p.stdout.readline().decode().strip()
    m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise RuntimeError("server did not start: %r (see %s)" % (line, err.name))
    return p, int(m.group(1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cmd(port, *args):
    """One command over RESP; returns the decoded reply (enough for INFO and PUBSUB)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args))
        f = s.makefile("rb")

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2].decode()
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            if kind == b":":
                return int(rest)
            if kind == b"-":
                raise RuntimeError(rest.decode())
            return rest.decode()
        return read()


def redis_used_memory(port):
    info = redis_cmd(port, "INFO", "memory")
    return int(re.search(r"^used_memory:(\d+)", info, re.M).group(1))


def start_redis(tmp, maxclients=1000):
    """A redis-server of our own on a free 127.0.0.1 port, its files in tmp, no persistence
    (these benchmarks measure memory and fan-out, not durability). Returns (process, port)
    once it answers PING."""
    port = free_port()
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", tmp,
                          "--maxclients", str(maxclients)],
                         stdout=open(os.path.join(tmp, "redis.log"), "wb"),
                         stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            redis_cmd(port, "PING")
            return p, port
        except OSError:
            if time.monotonic() > deadline or p.poll() is not None:
                p.kill()
                raise
            time.sleep(0.05)  # polling for the server to answer, with a deadline


def stop_all(procs):
    """SIGTERM to each process still running, the last started first; then waits up to 15 s
    for each, and kills one that does not end."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def metrics_text(port, timeout=15):
    """The body of GET /metrics, on a connection of its own."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()
