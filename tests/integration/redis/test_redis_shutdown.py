"""SIGTERM on the Redis store (SPEC §8): exit 0 with nothing acknowledged lost,
also while changes are in flight and while Redis is gone or not answering."""

import threading

import requests

from live_support import sigterm, wait_exit_ok
from support import (IO_TIMEOUT, SCALE, Closed, RawConn, envelope, http_request,
                     wait_until)


def read_by_server(port, client_port):
    """The server's end of the loopback connection from client_port to port exists and holds
    no byte unread (/proc/net/tcp: rx_queue 0; a connection still waiting to be accepted holds
    what the client sent)."""
    want = ("0100007F:%04X" % port, "0100007F:%04X" % client_port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                return int(fields[4].split(":")[1], 16) == 0
    return False


def test_sigterm_during_a_stream_of_changes(start_server):
    s = start_server()
    b = start_server(menu=None)
    acked, stop = [], threading.Event()

    def adder():
        with requests.Session() as sess:
            while not stop.is_set():
                try:
                    r = sess.post(s.api("/store/order/cart/add"), timeout=IO_TIMEOUT,
                                  json={"tableId": 123, "cuisineId": 1011, "quantity": 1})
                except OSError:
                    return  # the server went away
                if r.status_code == 200:
                    acked.append(r.json()["data"]["version"])
                if len(acked) >= 60:
                    return

    threads = [threading.Thread(target=adder) for _ in range(3)]
    for t in threads:
        t.start()
    while len(acked) < 20 and any(t.is_alive() for t in threads):
        threads[0].join(0.01)
    sigterm(s)
    wait_exit_ok(s)
    stop.set()
    for t in threads:
        t.join(IO_TIMEOUT)
    # Every acknowledged change is in Redis (the other instance reads it).
    d = b.cart(123)
    assert acked and d["version"] >= max(acked)
    assert d["totalQuantity"] == d["version"]


def test_sigterm_while_redis_is_down(redis, start_server):
    s = start_server()
    envelope(s.add(123, 1001, 1))
    redis.stop()
    sigterm(s)
    wait_exit_ok(s)


def test_sigterm_while_redis_does_not_answer(redis, start_server):
    s = start_server()
    envelope(s.add(123, 1001, 1))
    redis.pause()
    try:
        # A request waiting on Redis when the signal comes: answered 503 by
        # the command timeout, then the process exits 0.
        # The request must have been received when the signal comes (docs/operations.md,
        # "Stop": an idle connection, or bytes the server has not read, are closed): waited for
        # as the server's socket holding none of its bytes unread, not for a fixed 0.3 s.
        result = []
        conn = RawConn(s.port, timeout=10 * SCALE)
        conn.send(http_request("POST", s.prefix + "/store/order/cart/add",
                               {"Content-Type": "application/json"},
                               b'{"tableId":123,"cuisineId":1001,"quantity":1}'))
        wait_until(lambda: read_by_server(s.port, conn.sock.getsockname()[1]), IO_TIMEOUT,
                   "the server to read the request")

        def call():
            try:
                result.append(conn.read_response().status)
            except (OSError, Closed) as e:
                result.append(repr(e))

        t = threading.Thread(target=call)
        t.start()
        sigterm(s)
        wait_exit_ok(s)
        t.join(IO_TIMEOUT)
        assert result == [503], result
        conn.close()
    finally:
        redis.resume()
