"""Losing a part under load (docs/redis.md, "What a failure costs"): three instances behind nginx
(deploy/nginx.conf, round-robin) on one Redis (AOF, fsync always), writers changing carts
without pause, raw SSE and WebSocket diners on both tables.

- kill -9 of one instance: its diners' connections drop, they reconnect through nginx to the
  others and hold the latest cart within 2 s;
- kill -9 of Redis and a restart: the instances reconnect, resubscribe and resync, and every
  diner holds the latest cart after it.

Either way no acknowledged change is lost and none applies twice. Each writer adds one of its
own dish per change, with an Idempotency-Key, and retries that key (on whatever instance nginx
picks) until it is answered 200: at the end each dish's quantity in Redis equals the number of
changes its writer got acknowledged."""

import json
import socket
import threading
import time

import pytest
import requests

from live_support import Closed, NothingYet, RawWS, SSEStream, conn_gauge
from nginx_support import nginx_in_front
from redis_support import wait_status
from support import IO_TIMEOUT, SCALE, wait_until

# (table, dish) of each writer: three on one table (racing each other's compare-and-set across
# instances), one on the other.
WRITERS = [(123, 1001), (123, 1002), (123, 1011), (124, 1040)]
TABLES = (123, 124)
DINERS_PER_KIND = 3  # per table: 3 SSE and 3 WebSocket
CATCH_UP_S = 2.0 * SCALE  # a diner holds the latest cart this soon


class Writer(threading.Thread):
    def __init__(self, port, n, table, dish):
        super().__init__(daemon=True)
        self.url = "http://127.0.0.1:%d/api/store/order/cart/add" % port
        self.n, self.table, self.dish = n, table, dish
        self.acked = 0
        self.acked_at = []  # monotonic time of each acknowledgement
        self.failures = 0  # answers other than 200, retried with the same key
        self.last_failures = []  # the last few of them (status or exception), for a failure
        self.last_ack = 0.0
        self.halt = threading.Event()

    def run(self):
        sess = requests.Session()
        key = None
        while True:
            if key is None:
                if self.halt.is_set():
                    break
                key = "w%d-%d" % (self.n, self.acked)
            try:
                r = sess.post(self.url, timeout=IO_TIMEOUT,
                              json={"tableId": self.table, "cuisineId": self.dish, "quantity": 1},
                              headers={"Idempotency-Key": key, "X-User-Id": str(self.n + 1)})
                ok = r.status_code == 200
                why = r.status_code
            except requests.RequestException as e:
                ok = False
                why = type(e).__name__
                sess.close()
                sess = requests.Session()
            if ok:
                self.acked += 1
                self.acked_at.append(time.monotonic())
                key = None
            else:
                self.failures += 1
                self.last_failures = (self.last_failures + [why])[-5:]
                time.sleep(0.02)  # a client's retry back-off, not a wait for an event
        sess.close()


class Diner(threading.Thread):
    """A raw SSE or WebSocket client through nginx that reconnects whenever its connection
    ends, and records every version it holds."""

    def __init__(self, port, table, kind):
        super().__init__(daemon=True)
        self.port, self.table, self.kind = port, table, kind
        self.version = -1
        self.seen = []  # (monotonic time, version)
        self.drops = []  # monotonic time a connection was lost
        self.recoveries = []  # seconds from a drop to the first cart on the new connection
        self.backwards = []  # a version older than one this connection showed before
        self.halt = threading.Event()

    def _open(self):
        if self.kind == "sse":
            s = SSEStream(self.port, table=self.table, keep=False).start()
            return s, lambda: self._sse_next(s)
        w = RawWS(self.port, table=self.table)
        return w, lambda: self._ws_next(w)

    @staticmethod
    def _sse_next(s):
        ev = s.next_event(timeout=0.3, skip_heartbeats=True)
        return int(ev.id) if ev.event == "cart_update" else None

    @staticmethod
    def _ws_next(w):
        m = w.recv_message(timeout=0.3)
        if not isinstance(m, str):
            raise Closed("close frame")
        m = json.loads(m)
        return m["data"]["version"] if m["type"] == "cart_update" else None

    def run(self):
        dropped_at = None
        while not self.halt.is_set():
            conn = None
            try:
                conn, nxt = self._open()
                conn_top = -1
                while not self.halt.is_set():
                    try:
                        v = nxt()
                    except NothingYet:  # nothing within the poll interval
                        continue
                    if v is None:
                        continue
                    now = time.monotonic()
                    if v < conn_top:
                        self.backwards.append((conn_top, v))
                    conn_top = v
                    self.version = v
                    self.seen.append((now, v))
                    if dropped_at is not None:
                        self.recoveries.append(now - dropped_at)
                        dropped_at = None
            except (Closed, OSError, AssertionError):
                if dropped_at is None:
                    dropped_at = time.monotonic()
                    self.drops.append(dropped_at)
                time.sleep(0.01)  # a client's reconnect back-off
            finally:
                if conn is not None:
                    conn.close()


@pytest.fixture
def three(start_server, tmp_path):
    servers = [start_server(), start_server(menu=None), start_server(menu=None)]
    with nginx_in_front(tmp_path / "nginx", [s.port for s in servers]) as port:
        yield servers, port


def start_load(port):
    diners = [Diner(port, t, k) for t in TABLES for k in ("sse", "ws")
              for _ in range(DINERS_PER_KIND)]
    for d in diners:
        d.start()
    wait_until(lambda: all(d.version >= 0 for d in diners), IO_TIMEOUT, "every diner's first cart")
    writers = [Writer(port, i, t, dish) for i, (t, dish) in enumerate(WRITERS)]
    for w in writers:
        w.start()
    wait_until(lambda: all(w.acked >= 10 for w in writers), IO_TIMEOUT, "writers under way")
    return diners, writers


def keep_writing(writers, since, n=20):
    """Every writer gets n more changes acknowledged after `since` (monotonic)."""
    def after(w):
        return sum(1 for t in w.acked_at if t > since)
    try:
        wait_until(lambda: all(after(w) >= n for w in writers), IO_TIMEOUT * 2,
                   "writers acknowledged again")
    except AssertionError as e:
        raise AssertionError("%s: %r" % (e, [(w.n, after(w), w.failures, w.last_failures)
                                              for w in writers])) from None


def hold_port(port):
    """Binds port without listening once its server is dead, so that connections to it are
    refused, as a dead instance's are, and no other process (another test's server, bound to
    port 0) listens there while nginx still sends it a third of the requests. The dead
    server's connections hold the port until their peers close them (nobody can bind it
    meanwhile): tried until then. None when the port could not be had."""
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return s
        except OSError:
            s.close()
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)  # polling the port's release (no event to wait for)


def finish(redis, diners, writers):
    """Stops the writers, checks every acknowledged change is in Redis exactly once and that
    every diner holds the latest cart within CATCH_UP_S of the last acknowledgement."""
    for w in writers:
        w.halt.set()
    for w in writers:
        w.join(IO_TIMEOUT * 3)
        assert not w.is_alive(), "writer %d still retrying" % w.n
    last_ack = max(w.acked_at[-1] for w in writers)
    carts = {t: json.loads(redis.command("HGET", "tablecart:cart:%d" % t, "cart")) for t in TABLES}
    for w in writers:
        qty = {i["cuisineId"]: i["quantity"] for i in carts[w.table]["items"]}
        assert qty.get(w.dish) == w.acked, \
            "writer %d: %d changes acknowledged, %r in Redis" % (w.n, w.acked, qty.get(w.dish))
    latest = {t: carts[t]["version"] for t in TABLES}
    wait_until(lambda: all(d.version == latest[d.table] for d in diners),
               max(0.1, last_ack + CATCH_UP_S - time.monotonic()),
               "every diner at the latest version %r: %r"
               % (latest, [(d.kind, d.table, d.version) for d in diners]))
    for d in diners:
        d.halt.set()
    for d in diners:
        d.join(IO_TIMEOUT)
        assert d.backwards == [], "%s diner of %d went back: %r" % (d.kind, d.table, d.backwards)
    return latest


def test_an_instance_killed_under_load(redis, three):
    servers, port = three
    diners, writers = start_load(port)
    # The instance holding the most diners dies without a trace.
    live = [conn_gauge(s, "sse") + conn_gauge(s, "ws") for s in servers]
    victim = servers[live.index(max(live))]
    assert max(live) >= 1, live
    victim.kill9()
    held = hold_port(victim.port)
    killed_at = time.monotonic()
    try:
        keep_writing(writers, killed_at)
        finish(redis, diners, writers)
    finally:
        if held is not None:
            held.close()
    dropped = [d for d in diners if d.drops]
    for d in dropped:
        assert len(d.recoveries) == len(d.drops), (d.kind, d.drops, d.recoveries)
        assert max(d.recoveries) <= CATCH_UP_S, (d.kind, d.recoveries)
    # The others' diners never noticed.
    assert len(dropped) == max(live), ([len(d.drops) for d in diners], live)


def test_redis_restarted_under_load(redis, three):
    servers, port = three
    diners, writers = start_load(port)
    redis.kill9()
    # Writers see 503s meanwhile and keep retrying their key.
    failures = [w.failures for w in writers]
    wait_until(lambda: all(w.failures > f for w, f in zip(writers, failures)), IO_TIMEOUT,
               "writers refused while Redis is down")
    redis.start()
    back_at = time.monotonic()
    for s in servers:
        wait_status(lambda: requests.get(s.url("/healthz"), timeout=IO_TIMEOUT), 200,
                    10 * SCALE, "healthz 200 after the restart")
    keep_writing(writers, back_at)
    finish(redis, diners, writers)
    # Live streams stayed open through the outage: nobody had to reconnect.
    assert [len(d.drops) for d in diners] == [0] * len(diners)
