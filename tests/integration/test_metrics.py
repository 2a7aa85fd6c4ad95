"""GET /metrics as a Prometheus server reads it (docs/operations.md, "Metrics"):
parsed with the reference parser (Debian's python3-prometheus-client), every
family typed, documented and named with its unit, labels as documented, and
exact values after known traffic: requests by method and code, connections by
kind, the delivery latency histogram (one observation per change written to a
subscriber, none for a snapshot), build info and the process's own figures."""

import os
import re
import socket
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from support import IO_TIMEOUT, RawConn, envelope, http_request, run_cli, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parent / "live"))  # live_support
from live_support import Clients, RawWS, SSEStream  # noqa: E402


@pytest.fixture
def clients(start_server):
    """Closes the clients it registered before the servers stop."""
    c = Clients()
    yield c
    c.close_all()

# family name (as the parser gives it: a counter without _total) -> type, label names
FAMILIES = {
    "tablecart_build_info": ("gauge", {"version"}),
    "tablecart_connections": ("gauge", {"kind"}),
    "tablecart_http_requests": ("counter", {"method", "code"}),
    "tablecart_mutations": ("counter", {"op"}),
    "tablecart_mutations_rejected": ("counter", set()),
    "tablecart_events_sent": ("counter", {"kind"}),
    "tablecart_slow_clients_closed": ("counter", set()),
    "tablecart_store_errors": ("counter", set()),
    "tablecart_store_queued_changes": ("gauge", set()),
    "tablecart_store_latency_seconds": ("histogram", set()),
    "tablecart_delivery_latency_seconds": ("histogram", set()),
    "process_cpu_seconds": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_virtual_memory_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_max_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
}
# What a name may end with: a unit, or what it counts (Prometheus naming).
UNIT_SUFFIXES = ("_total", "_seconds", "_bytes", "_fds", "_info", "_connections", "_changes")


def scrape(server):
    r = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return r.text, {f.name: f for f in text_string_to_metric_families(r.text)}


def value(families, family, sample_name=None, **labels):
    """The value of the one sample of family with exactly these labels."""
    found = [s.value for s in families[family].samples
             if s.name == (sample_name or s.name) and s.labels == labels]
    assert len(found) == 1, (family, labels, families[family].samples)
    return found[0]


def requests_by(families):
    return {(s.labels["method"], s.labels["code"]): s.value
            for s in families["tablecart_http_requests"].samples if s.name.endswith("_total")}


def test_families_types_help_labels_and_units(server):
    text, fams = scrape(server)
    assert set(fams) == set(FAMILIES), set(fams) ^ set(FAMILIES)
    for name, (typ, labels) in FAMILIES.items():
        f = fams[name]
        assert f.type == typ, (name, f.type)
        assert f.documentation.strip(), "no HELP for %s" % name
        for s in f.samples:
            assert s.name.endswith(UNIT_SUFFIXES) or s.name[len(name):] in (
                "_bucket", "_sum", "_count"), s.name
            got = set(s.labels) - ({"le"} if typ == "histogram" else set())
            assert got == labels, (s.name, s.labels)
    # one HELP and one TYPE line per family, in the text as sent
    assert len(re.findall(r"^# HELP ", text, re.M)) == len(FAMILIES)
    assert len(re.findall(r"^# TYPE ", text, re.M)) == len(FAMILIES)
    # connections by kind only: every open connection is of one kind
    kinds = {s.labels["kind"] for s in fams["tablecart_connections"].samples}
    assert kinds == {"http", "sse", "ws"}


def test_build_info_and_process(server):
    _, fams = scrape(server)
    version = run_cli("--version").stdout.decode().split()[1]
    assert value(fams, "tablecart_build_info", version=version) == 1
    pid = server.proc.pid
    start = value(fams, "process_start_time_seconds")
    assert time.time() - 60 * 5 < start <= time.time()
    assert 0 < value(fams, "process_cpu_seconds") < 60
    with open("/proc/%d/status" % pid) as f:
        rss = int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
    assert abs(value(fams, "process_resident_memory_bytes") - rss) < rss * 0.25
    # the server's own descriptor limit
    with open("/proc/%d/limits" % pid) as f:
        soft = int(re.search(r"^Max open files\s+(\d+)", f.read(), re.M).group(1))
    assert value(fams, "process_max_fds") == soft
    # stdin, stdout, stderr, the listener, the store's files, libuv's own and the scrape:
    # the figure tracks /proc/PID/fd, which gains one per connection
    before = value(fams, "process_open_fds")
    assert before == len(os.listdir("/proc/%d/fd" % pid)) + 1  # + the scrape's socket
    extra = [RawConn(server.port) for _ in range(5)]
    try:
        for c in extra:  # each one answered once, so each is accepted
            c.send(http_request("GET", "/healthz"))
            assert c.read_response().status == 200
        _, fams = scrape(server)
        assert value(fams, "process_open_fds") == before + 5
        assert value(fams, "tablecart_connections", kind="http") == 6  # 5 + the scrape
    finally:
        for c in extra:
            c.close()


def test_requests_by_method_and_code_exact(server):
    for _ in range(4):
        envelope(server.add(123, 1001, 1))
    for _ in range(3):
        assert requests.get(server.url("/no/such/thing"), timeout=IO_TIMEOUT).status_code == 404
    assert requests.put(server.api("/store/order/cart/add"), timeout=IO_TIMEOUT).status_code == 405
    assert server.request("DELETE", "/store/order/cart/clear",
                          params={"tableId": 123}).status_code == 200
    assert requests.head(server.url("/healthz"), timeout=IO_TIMEOUT).status_code == 200
    _, fams = scrape(server)
    # the fixture's server saw nothing before; a scrape counts once it is answered
    assert requests_by(fams) == {("POST", "200"): 4, ("GET", "404"): 3, ("PUT", "405"): 1,
                                 ("DELETE", "200"): 1, ("HEAD", "200"): 1}
    _, fams = scrape(server)
    assert requests_by(fams)[("GET", "200")] == 1
    assert value(fams, "tablecart_mutations", "tablecart_mutations_total", op="add") == 4
    assert value(fams, "tablecart_mutations", "tablecart_mutations_total", op="clear") == 1
    # every change answered: none waits in a table's queue (test_redis_instances.py holds a
    # save back and sees the changes queued behind it counted)
    assert value(fams, "tablecart_store_queued_changes") == 0


def test_every_refused_change_is_counted(start_server):
    """tablecart_mutations_rejected_total counts a change refused wherever it was refused: bad
    input, an unknown table, the rate limit (REST and WebSocket), and the store's own refusals."""
    server = start_server(env={"TABLECART_RATE_CHANGES": "1"})

    def add(body, **kw):
        return server.request("POST", "/store/order/cart/add", json=body, **kw).status_code

    assert add({"tableId": 123, "cuisineId": 1001, "quantity": 0}) == 400     # the store's rule
    assert add({"tableId": 123, "cuisineId": 9999, "quantity": 1}) == 404     # unknown dish
    assert add({"tableId": 123, "cuisineId": 1001}) == 400                    # no quantity
    assert add({"tableId": 123, "cuisineId": "abc", "quantity": 1}) == 400    # not an id
    assert add({"tableId": 999, "cuisineId": 1001, "quantity": 1}) == 404     # unknown table
    assert server.request("POST", "/store/order/cart/add", data="xx",
                          headers={"Content-Type": "application/json"}).status_code == 400
    assert server.request("POST", "/store/order/cart/add", data="{}",
                          headers={"Content-Type": "text/plain"}).status_code == 415
    statuses = [add({"tableId": 123, "cuisineId": 1001, "quantity": 1}, headers={"X-User-Id": "7"})
                for _ in range(3)]
    assert statuses == [200, 200, 429]                       # another caller's burst of 2
    ws = RawWS(server.port, 124, query="?userId=5")
    try:
        assert ws.recv_json()["type"] == "connected"
        assert ws.recv_json()["type"] == "cart_update"
        ws.send_text({"type": "add_item", "data": {"cuisineId": 1001}})       # no quantity
        assert ws.recv_json()["type"] == "error"
        ws.send_text({"type": "add_item", "data": 5})                         # data not an object
        assert ws.recv_json()["type"] == "error"
        ws.send_text({"type": "heartbeat"})                                   # not a change
        assert ws.recv_json()["type"] == "heartbeat"
    finally:
        ws.close()
    _, fams = scrape(server)
    assert value(fams, "tablecart_mutations_rejected", "tablecart_mutations_rejected_total") == 10
    assert value(fams, "tablecart_mutations", "tablecart_mutations_total", op="add") == 2


def test_stream_kinds_and_delivery_latency(server, clients):
    sse = clients(SSEStream(server.port, 123)).start()
    ws = clients(RawWS(server.port, 123))
    assert sse.next_event().event == "connected" and sse.next_event().event == "cart_update"
    assert ws.recv_json()["type"] == "connected" and ws.recv_json()["type"] == "cart_update"
    _, fams = scrape(server)
    assert value(fams, "tablecart_connections", kind="sse") == 1
    assert value(fams, "tablecart_connections", kind="ws") == 1
    assert value(fams, "tablecart_connections", kind="http") == 1  # the scrape
    # the snapshots each stream got on connecting are not changes: nothing timed
    assert value(fams, "tablecart_delivery_latency_seconds",
                 "tablecart_delivery_latency_seconds_count") == 0
    changes = 3
    for v in range(1, changes + 1):
        envelope(server.add(123, 1001, 1))
        assert sse.next_update().id == str(v)
        m = ws.recv_json()
        assert (m["type"], m["data"]["version"]) == ("cart_update", v)
    _, fams = scrape(server)
    h = {(s.name, s.labels.get("le")): s.value
         for s in fams["tablecart_delivery_latency_seconds"].samples}
    count = h[("tablecart_delivery_latency_seconds_count", None)]
    assert count == 2 * changes  # each change written to both subscribers
    assert h[("tablecart_delivery_latency_seconds_bucket", "+Inf")] == count
    buckets = sorted((float(le), v) for (n, le), v in h.items()
                     if n.endswith("_bucket") and le != "+Inf")
    assert len(buckets) == 12
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)  # cumulative
    assert buckets[-1][1] == count  # on loopback each took well under a second
    assert 0 < h[("tablecart_delivery_latency_seconds_sum", None)] < count
    # every cart update sent counts, the snapshot at connecting included
    for kind in ("sse", "ws"):
        assert value(fams, "tablecart_events_sent", "tablecart_events_sent_total",
                     kind=kind) == changes + 1


def store_calls(server):
    """(calls timed by tablecart_store_latency_seconds, tablecart_store_errors_total)."""
    _, fams = scrape(server)
    return (value(fams, "tablecart_store_latency_seconds",
                  "tablecart_store_latency_seconds_count"),
            value(fams, "tablecart_store_errors", "tablecart_store_errors_total"))


def test_seats_and_names_are_store_calls(server, clients):
    """A stream's seat (its diners read or joined) and a name set are store calls, as a cart's
    read and change are: each is timed once and counted as an error when the store failed."""
    name = server.api("/store/order/table/123/name")
    assert store_calls(server) == (0, 0)
    ws = clients(RawWS(server.port, 123, query="?userId=5"))
    assert ws.recv_json()["type"] == "connected" and ws.recv_json()["type"] == "cart_update"
    assert store_calls(server) == (2, 0)  # the seat, then the snapshot
    r = requests.put(name, json={"name": "Ann"}, headers={"X-User-Id": "5"}, timeout=IO_TIMEOUT)
    envelope(r)
    assert store_calls(server) == (3, 0)
    sse = clients(SSEStream(server.port, 124)).start()  # no user: its diners are read
    assert sse.next_event().event == "connected" and sse.next_event().event == "cart_update"
    assert store_calls(server) == (5, 0)
    # Another program drops the diners' table: the next name the store must write fails.
    with sqlite3.connect(str(server.db), timeout=IO_TIMEOUT, isolation_level=None) as db:
        db.execute("DROP TABLE diners")
    r = requests.put(name, json={"name": "Bob"}, headers={"X-User-Id": "5"}, timeout=IO_TIMEOUT)
    assert r.status_code == 503, r.text
    assert store_calls(server) == (6, 1)


def test_pipelining_client_that_reads_nothing_is_held_not_counted_slow(start_server):
    """An HTTP client that pipelines requests and reads none of the answers holds one answer
    queued: the next request waits for it to go out (docs/memory.md, "Hostile clients"), so the
    client is never closed as slow, tablecart_slow_clients_closed_total (subscribers only,
    docs/operations.md; test_live_slow.py counts theirs) stays 0, and the idle timeout ends it."""
    server = start_server("--idle-timeout", "1", "--request-timeout", "1")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    try:
        # 400 answers of app.js (68 KB): 27 MB, far past the 1 MiB queue and the socket buffers.
        sock.sendall(http_request("GET", "/app.js") * 400)

        def closed():
            _, fams = scrape(server)
            return value(fams, "tablecart_connections", kind="http") == 1  # the scrape only
        wait_until(closed, IO_TIMEOUT * 3, "the pipelining client closed at its idle timeout")
        assert "closing slow client" not in server.stderr()
        _, fams = scrape(server)
        assert value(fams, "tablecart_slow_clients_closed", "tablecart_slow_clients_closed_total") == 0
        answered = server.stderr().count(" GET /app.js 200 ")  # the access log
        assert 1 <= answered < 400, answered
    finally:
        sock.close()
