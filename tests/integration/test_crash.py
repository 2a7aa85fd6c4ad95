"""Crash durability under load (SPEC §3, §7; docs/live.md, "Shutdown"): the server
is killed with SIGKILL (`kill -9`) at a random moment while several writers
stream adds over REST and WebSocket, 20 times in a row on one database file.
After each restart every acknowledged change is there:

- every writer owns its cart lines (one dish on one table is only ever added
  to by one writer, one add of 1 at a time, waiting for each answer), so a
  line's stored quantity is its quantity at the start of the round plus the
  writer's acknowledged adds, plus at most the one add that was in flight;
- a table's stored version is its version at the start of the round plus the
  adds that landed, hence at least the highest version acknowledged;
- the versions in the answers go up per table and never repeat over the whole
  run, restarts included (an answer given before a crash is never given again
  to another change after it), and each answer's version is above every
  version acknowledged on that table before the request was sent.

The kill delays come from a seed printed at the start (TABLECART_CRASH_SEED=N
replays them); the writers' timing is the machine's. Each round prints what it
found (`pytest -s` shows it). Runs against the release and the ASan+UBSan
builds; the kill count is 20 in both.
"""

import os
import random
import sys
import threading
import time

import pytest
import requests
import websockets

from support import (DISHES, HERE, IO_TIMEOUT, assert_cart_shape, envelope, parse_json,
                     wait_until)

if str(HERE / "live") not in sys.path:  # the live suite's WebSocket client
    sys.path.insert(0, str(HERE / "live"))
from live_support import Clients, WSClient  # noqa: E402

ROUNDS = 20
WINDOW = 0.5  # seconds: the kill comes at a uniform moment in [0, WINDOW) after warm-up
TABLES = (123, 124)
WRITERS = 4
DISHES_PER_TABLE = 3  # per writer: a writer owns 2 tables x 3 dishes = 6 lines
MAX_QUANTITY = 99  # SPEC §2: a line's quantity is 1-99; the carts are cleared every round
# Store 1's available dishes, sorted: writer w owns the w-th slice of them on every table.
STORE1_DISHES = sorted(c for c, d in DISHES.items() if d["storeId"] == 1 and d["available"])
# What a transport error looks like once the server is gone.
GONE = (requests.RequestException, websockets.ConnectionClosed, OSError)
CART_UPDATE = '{"type":"cart_update"'  # the envelope's first key (WS_ENVELOPE_KEYS)
PRESENCE = '{"type":"presence"'  # who is at the table (beyond the seed)


class Ledger:
    """The acknowledged versions of the whole run, shared by the writers."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}  # (table, version) -> who got it
        self.high = {t: 0 for t in TABLES}  # highest acknowledged version per table

    def floor(self, table):
        with self.lock:
            return self.high[table]

    def record(self, table, version, floor, who):
        """An acknowledged version: above what was acknowledged before the request was
        sent, and never acknowledged before (in this round or any earlier one)."""
        with self.lock:
            assert version > floor, "%s got version %d of table %d, not above %d acknowledged " \
                "before the request was sent" % (who, version, table, floor)
            key = (table, version)
            assert key not in self.seen, "version %d of table %d acknowledged twice: to %s " \
                "and to %s" % (version, table, self.seen[key], who)
            self.seen[key] = who
            self.high[table] = max(self.high[table], version)


class Writer(threading.Thread):
    """Adds 1 of one of its own lines at a time, over REST or over its WebSocket of the
    table (chosen at random), until the server is gone. Records each answer."""

    def __init__(self, rnd, wid, server, base, ledger, killed, seed):
        super().__init__(name="writer-%d" % wid, daemon=True)
        self.rnd, self.wid, self.server, self.ledger, self.killed = rnd, wid, server, ledger, killed
        self.rng = random.Random(seed)
        self.user = 100 + wid
        mine = STORE1_DISHES[wid * DISHES_PER_TABLE:(wid + 1) * DISHES_PER_TABLE]
        self.lines = [(t, d) for t in TABLES for d in mine]
        self.quantity = {ln: base.get(ln, 0) for ln in self.lines}  # as acknowledged
        self.acked = {"rest": 0, "ws": 0}
        self.inflight = None  # the line of the add sent and not answered
        self.failure = None
        self.session = requests.Session()
        self.ws = {}

    def connect(self, clients):
        for t in TABLES:
            c = clients(WSClient(self.server.port, t, query="?userId=%d" % self.user))
            assert c.recv()["type"] == "connected"
            assert c.recv()["type"] == "cart_update"
            self.ws[t] = c

    def run(self):
        try:
            while True:
                open_lines = [ln for ln in self.lines if self.quantity[ln] < MAX_QUANTITY]
                assert open_lines, "%s filled all its lines: raise DISHES_PER_TABLE" % self.name
                line = self.rng.choice(open_lines)
                how = self.rng.choice(("rest", "ws"))
                floor = self.ledger.floor(line[0])
                self.inflight = line
                data = self.add_rest(line) if how == "rest" else self.add_ws(line)
                self.check(line, how, data, floor)
        except GONE as e:
            if not self.killed.is_set():
                self.failure = "%s: %r before the kill" % (self.name, e)
        except BaseException as e:  # a wrong answer: the test fails
            self.failure = "%s: %r" % (self.name, e)
        finally:
            self.session.close()

    def add_rest(self, line):
        r = self.session.post(self.server.api("/store/order/cart/add"),
                              json={"tableId": line[0], "cuisineId": line[1], "quantity": 1},
                              headers={"X-User-Id": str(self.user)}, timeout=IO_TIMEOUT)
        if len(r.content) != int(r.headers.get("Content-Length", -1)) and self.killed.is_set():
            raise requests.ConnectionError("answer cut short by the kill")
        return envelope(r)

    def add_ws(self, line):
        ws = self.ws[line[0]]
        ws.send({"type": "add_item", "data": {"cuisineId": line[1], "quantity": 1}})
        while True:
            raw = ws.recv_raw()
            if raw.startswith(CART_UPDATE) or raw.startswith(PRESENCE):
                continue  # another writer's change, or who is at the table: not the answer
            m = parse_json(raw)
            assert m["type"] == "add_item_success", m
            ws.messages.clear()  # recv_raw keeps every message; a round has thousands
            return m["data"]

    def check(self, line, how, data, floor):
        table, dish = line
        assert data["tableId"] == table, data
        qty = [i["quantity"] for i in data["items"] if i["cuisineId"] == dish]
        expect = self.quantity[line] + 1
        assert qty == [expect], "%s: add of %d to table %d answered quantity %s, expected %d" \
            % (self.name, dish, table, qty, expect)
        self.ledger.record(table, data["version"], floor,
                           "round %d %s %s add of %d" % (self.rnd, self.name, how, dish))
        self.quantity[line] = expect
        self.acked[how] += 1
        self.inflight = None


def stored_lines(server):
    """{(table, dish): quantity} and {table: version} as the server has them."""
    lines, versions = {}, {}
    for t in TABLES:
        r = server.get_cart(t)
        cart = envelope(r)
        assert_cart_shape(cart, r.content)
        versions[t] = cart["version"]
        for it in cart["items"]:
            lines[(t, it["cuisineId"])] = it["quantity"]
    return lines, versions


def clear_tables(server, ledger, rnd):
    """Empties the carts (so no line reaches 99); the clears are acknowledged changes too."""
    for t in TABLES:
        before = server.cart(t)
        after = envelope(server.clear(t))
        assert after["items"] == []
        if before["items"]:
            ledger.record(t, after["version"], before["version"], "round %d clear" % rnd)
        else:
            assert after["version"] == before["version"]


# The server's extra flags, one case each: the default durability (process:
# survives kill -9) and --durability power (synced before every answer).
@pytest.mark.parametrize("flags", [pytest.param([], id="default"),
                                   pytest.param(["--durability", "power"], id="power")])
def test_kill9_under_concurrent_changes(start_server, flags):
    seed = int(os.environ.get("TABLECART_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print("\ncrash test: seed %d (TABLECART_CRASH_SEED=%d replays the kill delays), flags %s"
          % (seed, seed, flags or "(none)"))
    rng = random.Random(seed)
    ledger = Ledger()
    server = start_server(*flags)
    total = 0
    started = time.monotonic()
    for rnd in range(1, ROUNDS + 1):
        clear_tables(server, ledger, rnd)
        base, start_version = stored_lines(server)
        assert base == {}
        delay = rng.uniform(0, WINDOW)
        killed = threading.Event()
        clients = Clients()
        writers = [Writer(rnd, w, server, base, ledger, killed, rng.randrange(1 << 32))
                   for w in range(WRITERS)]
        try:
            for w in writers:
                w.connect(clients)
            for w in writers:
                w.start()

            def warm():
                bad = [w.failure for w in writers if w.failure]
                assert not bad, "round %d (seed %d): %s" % (rnd, seed, bad)
                return all(sum(w.acked.values()) > 0 for w in writers)
            wait_until(warm, IO_TIMEOUT, "an answer to every writer")
            time.sleep(delay)  # the test's input: when the kill comes, not a wait
            killed.set()
            inflight_at_kill = sum(1 for w in writers if w.inflight)
            server.kill9()
            for w in writers:
                w.join(IO_TIMEOUT)
                assert not w.is_alive(), "%s still running after the kill" % w.name
        finally:
            killed.set()
            clients.close_all()
        bad = [w.failure for w in writers if w.failure]
        assert not bad, "round %d (seed %d): %s" % (rnd, seed, bad)

        server = start_server(*flags, db=server.db)
        lines, versions = stored_lines(server)
        owned = {ln for w in writers for ln in w.lines}
        assert set(lines) <= owned, "lines nobody added: %s" % (set(lines) - owned)
        acked = sum(sum(w.acked.values()) for w in writers)
        landed_inflight = 0
        for w in writers:
            for ln in w.lines:
                got, want = lines.get(ln, 0), w.quantity[ln]
                extra = 1 if w.inflight == ln else 0
                assert want <= got <= want + extra, \
                    "round %d (seed %d): table %d dish %d has quantity %d after the restart; " \
                    "%s had %d acknowledged%s" % (rnd, seed, ln[0], ln[1], got, w.name, want,
                                                 " and 1 in flight" if extra else "")
                landed_inflight += got - want
        for t in TABLES:
            landed = sum(q for (tt, _), q in lines.items() if tt == t)
            assert versions[t] == start_version[t] + landed, \
                "round %d (seed %d): table %d is at version %d after the restart: %d adds " \
                "landed on version %d" % (rnd, seed, t, versions[t], landed, start_version[t])
            assert versions[t] >= ledger.high[t]
        assert acked > 0, "round %d: no change was acknowledged" % rnd
        total += acked
        print("round %2d: killed %.3fs after warm-up: %d acknowledged (rest %d, ws %d), all "
              "found; %d in flight, %d of them landed; versions %s"
              % (rnd, delay, acked, sum(w.acked["rest"] for w in writers),
                 sum(w.acked["ws"] for w in writers), inflight_at_kill, landed_inflight,
                 " ".join("%d:v%d" % tv for tv in sorted(versions.items()))))
    print("crash test: %d kills, %d acknowledged changes, all found after the restarts "
          "(%.1fs, seed %d)" % (ROUNDS, total, time.monotonic() - started, seed))
    assert total > 0
