"""Sittings (docs/api.md, "Presence"): seats start again at 1号 for each party at a table.
When a diner is seated at a table nobody had a stream of for at least --sitting-gap seconds,
the table's seats and names are forgotten first; a party that stays keeps them however long
the meal; --sitting-gap 0 keeps seats for good. SQLite store; Redis: test_redis_sittings.py."""

import sqlite3
import time

import requests

from live_support import SSEStream, diner_stream, next_presence, seats, streams_open, wait_out
from support import ASAN, IO_TIMEOUT, envelope, wait_until

GAP = 4 if ASAN else 2  # seconds: --sitting-gap of these tests (touched every quarter of it)


def set_name(server, user, name, table=123):
    return requests.put(server.api("/store/order/table/%d/name" % table), json={"name": name},
                        headers={"X-User-Id": str(user), "Accept-Language": "zh-CN"},
                        timeout=IO_TIMEOUT)


def wait_gap_after_last_stream(server, gap=GAP):
    """Waits until the server has closed every stream, then the gap (and a margin) from then:
    the behaviour under test is what happens after that much time away."""
    wait_until(lambda: streams_open(server) == 0, IO_TIMEOUT, "every stream closed")
    wait_out(gap + 0.3, "the sitting gap")


def test_a_new_party_starts_at_seat_one(start_server, clients):
    server = start_server("--sitting-gap", str(GAP))
    party = [diner_stream(server, clients, u)[0] for u in (101, 102, 103)]
    envelope(set_name(server, 102, "张三"))
    p = next_presence(party[0], lambda d: d["diners"][1]["name"] == "张三")
    assert seats(p) == [(101, 1, "1号"), (102, 2, "张三"), (103, 3, "3号")]
    for s in party:
        s.close()
    wait_gap_after_last_stream(server)

    # The next party: its first diner is 1号 and alone in the list.
    s, p = diner_stream(server, clients, 201)
    assert p == {"tableId": 123, "online": 1,
                 "diners": [{"userId": 201, "seat": 1, "name": "1号", "online": True}]}
    # A diner of the last party coming back is a new diner: the next seat, no old name.
    diner_stream(server, clients, 102)
    p = next_presence(s, lambda d: d["online"] == 2)
    assert seats(p) == [(201, 1, "1号"), (102, 2, "2号")]
    # Not a cart change.
    assert server.cart(123)["version"] == 0


def test_a_party_that_stays_keeps_seats_and_names(start_server, clients):
    server = start_server("--sitting-gap", str(GAP))
    stays, _ = diner_stream(server, clients, 101)
    envelope(set_name(server, 101, "老王"))
    other, _ = diner_stream(server, clients, 102)
    other.close()
    # More than twice the gap with 101 online all along; others come and go meanwhile.
    start = time.monotonic()
    comers = list(range(103, 107))
    for i, u in enumerate(comers):
        s, _ = diner_stream(server, clients, u)
        s.close()
        wait_until(lambda: streams_open(server) == 1, IO_TIMEOUT, "%d's stream closed" % u)
        at = start + (i + 1) * (2 * GAP + 0.5) / len(comers)
        wait_until(lambda: time.monotonic() >= at, 2 * GAP + 5, "the next comer's time")
    wait_out(GAP + 0.3, "the gap, 101 still online")

    diner_stream(server, clients, 102)
    # stays' stream also holds the comers' presence events (online 2 as well): wait for the
    # one with 102 back, the whole party listed
    p = next_presence(stays, lambda d: len(d["diners"]) == 2 + len(comers) and any(
        x["userId"] == 102 and x["online"] for x in d["diners"]))
    want = [(101, 1, "老王"), (102, 2, "2号")] + [(u, u - 100, "%d号" % (u - 100))
                                                 for u in comers]
    assert seats(p) == want
    newest, _ = diner_stream(server, clients, 500)
    p = next_presence(stays, lambda d: d["online"] == 3)
    assert seats(p) == want + [(500, 7, "7号")]


def test_the_51st_diner_of_past_parties_is_seated(start_server):
    server = start_server("--sitting-gap", str(GAP))
    for u in range(1, 51):
        envelope(set_name(server, 1000 + u, "客%d" % u))
    r = set_name(server, 1051, "第51位")
    assert r.status_code == 400 and r.json()["message"] == "这桌已坐满 50 人"
    wait_gap_after_last_stream(server)
    data = envelope(set_name(server, 1051, "第51位"))
    assert data == {"tableId": 123, "online": 0,
                    "diners": [{"userId": 1051, "seat": 1, "name": "第51位", "online": False}]}


def test_seats_survive_a_restart_within_a_sitting(start_server, clients):
    server = start_server("--sitting-gap", "60")
    a, _ = diner_stream(server, clients, 101)
    b, _ = diner_stream(server, clients, 102)
    envelope(set_name(server, 102, "李四"))
    a.close()
    b.close()
    server.stop_and_check()
    again = start_server("--sitting-gap", "60", db=server.db)
    _, p = diner_stream(again, clients, 103)
    assert seats(p) == [(101, 1, "1号"), (102, 2, "李四"), (103, 3, "3号")]


def test_sitting_gap_zero_keeps_seats_for_good(start_server, clients):
    server = start_server("--sitting-gap", "0")
    a, _ = diner_stream(server, clients, 101)
    envelope(set_name(server, 101, "张三"))
    a.close()
    wait_gap_after_last_stream(server, gap=GAP + 0.5)
    _, p = diner_stream(server, clients, 102)
    assert seats(p) == [(101, 1, "张三"), (102, 2, "2号")]


V3_SCHEMA = """
CREATE TABLE stores (store_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE tables (table_id INTEGER PRIMARY KEY, table_number TEXT NOT NULL,
                     store_id INTEGER NOT NULL);
CREATE TABLE cuisines (cuisine_id INTEGER PRIMARY KEY, store_id INTEGER NOT NULL,
                       cuisine_name TEXT NOT NULL, cuisine_type INTEGER NOT NULL,
                       cuisine_image TEXT, unit_price_cents INTEGER NOT NULL,
                       available INTEGER NOT NULL, category TEXT);
CREATE TABLE carts (table_id INTEGER PRIMARY KEY, version INTEGER NOT NULL, updated_at INTEGER,
                    cart_json TEXT NOT NULL);
CREATE TABLE idem (key TEXT PRIMARY KEY, caller TEXT NOT NULL, version INTEGER NOT NULL,
                   cart_json TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE INDEX idem_expiry ON idem (expires_at);
CREATE TABLE diners (table_id INTEGER NOT NULL, user_id INTEGER NOT NULL, seat INTEGER NOT NULL,
                     name TEXT, PRIMARY KEY (table_id, user_id), UNIQUE (table_id, seat));
INSERT INTO diners VALUES (123, 101, 1, NULL), (123, 102, 2, '张三');
PRAGMA user_version=3;
"""


def test_a_database_of_the_last_schema_keeps_its_diners(start_server, clients, tmp_path):
    """A file written before sittings (schema 3, no activity times) opens, and its diners count
    as active from the start: the first diner after the upgrade joins their sitting."""
    db = tmp_path / "v3.db"
    con = sqlite3.connect(db)
    con.executescript(V3_SCHEMA)
    con.close()
    server = start_server("--sitting-gap", str(GAP), db=db)
    _, p = diner_stream(server, clients, 103)
    assert seats(p) == [(101, 1, "1号"), (102, 2, "张三"), (103, 3, "3号")]
    clients.close_all()
    server.stop_and_check()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone() == (4,)
    assert con.execute("SELECT count(*) FROM diners").fetchone() == (3,)
    con.close()


def test_a_stream_without_a_user_after_the_gap_does_not_bring_the_party_back(start_server,
                                                                              clients):
    """A screen at the table with no userId (a kitchen display, a seed client) opened after the
    gap: the table is followed again, and the sweep's touch for it ends the last sitting as a
    seat step would (found in review: the touch only stored the time, so the last party's seats
    and names came back in its presence, and the next diner sat at 3号 beside them)."""
    server = start_server("--sitting-gap", str(GAP))
    party = [diner_stream(server, clients, u)[0] for u in (101, 102)]
    envelope(set_name(server, 102, "张三"))
    next_presence(party[0], lambda d: d["diners"][1]["name"] == "张三")
    for s in party:
        s.close()
    wait_gap_after_last_stream(server)
    screen = clients(SSEStream(server.port, 123)).start()
    assert next_presence(screen, lambda d: True) == {"tableId": 123, "online": 0, "diners": []}

    def stored():
        db = sqlite3.connect(str(server.db))
        try:
            return db.execute("SELECT count(*) FROM diners WHERE table_id = 123").fetchone()[0]
        finally:
            db.close()

    # The sweep touches the followed table a quarter gap on: the sitting it finds over ends.
    wait_until(lambda: stored() == 0, GAP * 2, "the last party's seats forgotten")
    screen.close()
    _, p = diner_stream(server, clients, 201)
    assert seats(p) == [(201, 1, "1号")]
