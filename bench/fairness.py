#!/usr/bin/env python3
"""How much one flooding client delays everyone else.

A flooder pipelines --changes cart updates (each a durable commit) in one write, --rounds
times; meanwhile another keep-alive connection asks GET /healthz over and over. Prints the
other client's /healthz latency (median, p99, max) with and without the flood. Limits on changes
are turned off (TABLECART_RATE_CHANGES=0) so every change is a commit.

    /usr/bin/python3 bench/fairness.py --bin build/tablecart [--changes 900 --rounds 5]
"""

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def request(method, path, body=None, user="1"):
    head = "%s %s HTTP/1.1\r\nHost: b\r\nX-User-Id: %s\r\n" % (method, path, user)
    if body is None:
        return (head + "\r\n").encode()
    data = json.dumps(body).encode()
    return (head + "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(data)).encode() + data


def read_answers(sock, n, buf=b""):
    """Reads n answers (Content-Length framed); returns the leftover bytes."""
    got = 0
    while got < n:
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            head = buf[:i].decode("latin-1").lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buf) < i + 4 + length:
                break
            buf = buf[i + 4 + length:]
            got += 1
            if got == n:
                return buf
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    return buf


def probe(port, stop, out):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while not stop.is_set():
        t = time.perf_counter()
        s.sendall(request("GET", "/healthz"))
        buf = read_answers(s, 1, buf)
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(0.001)
    s.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=benchlib.DEFAULT_BIN)
    ap.add_argument("--changes", type=int, default=900)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    os.environ["TABLECART_RATE_CHANGES"] = "0"
    with tempfile.TemporaryDirectory() as tmp:
        menu = os.path.join(tmp, "menu.json")
        table = benchlib.write_menu(menu, 1)[0]
        proc, port = benchlib.start_server(a.bin, tmp, menu)
        try:
            f = socket.create_connection(("127.0.0.1", port))
            add = {"tableId": table, "cuisineId": benchlib.DISH, "quantity": 1}
            f.sendall(request("POST", "/api/store/order/cart/add", add))
            read_answers(f, 1)
            for label, flood in (("idle", False), ("flood", True)):
                lat, stop = [], threading.Event()
                th = threading.Thread(target=probe, args=(port, stop, lat))
                th.start()
                t0 = time.perf_counter()
                for _ in range(a.rounds):
                    if flood:
                        batch = b"".join(request("PUT", "/api/store/order/cart/update",
                                                 {"tableId": table, "cuisineId": benchlib.DISH,
                                                  "quantity": 2 - i % 2})
                                         for i in range(a.changes))
                        f.sendall(batch)
                        read_answers(f, a.changes)
                    else:
                        time.sleep(0.2)
                took = time.perf_counter() - t0
                stop.set()
                th.join()
                extra = (", flood %d changes x %d in %.2fs = %.0f changes/s"
                         % (a.changes, a.rounds, took, a.changes * a.rounds / took)) if flood else ""
                print("%-5s /healthz of another client: n=%d median %.2f ms, p99 %.2f ms, max %.2f ms%s"
                      % (label, len(lat), statistics.median(lat), pct(lat, 0.99), max(lat), extra))
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
