"""Many instances on one Redis (SPEC §7): every change reaches every diner of
the table on every instance, through pub/sub; the WebSocket that sent a
command gets its _success and no echo; other tables hear nothing; races
between instances are settled by the versioned write."""

import json
import re
import select
import threading

import requests

from live_support import SSEStream, WSClient
from support import (IO_TIMEOUT, MENU_FILE, RawConn, envelope, expected_cart, expected_item,
                     cart_view, http_request, raw_envelope, run_cli, wait_until)


def sse(port, table, clients):
    s = clients(SSEStream(port, table=table)).start()
    ev = s.next_event()
    assert (ev.event, ev.data) == ("connected", "连接成功")
    return s


def ws(port, table, clients):
    c = clients(WSClient(port, table=table))
    assert c.recv()["type"] == "connected"
    return c


def update_version(ev):
    assert ev.event == "cart_update", ev
    return int(ev.id)


def proxied_at_v1(start_server, proxy, clients):
    """A (through proxy) and B on one Redis, B's change at v1 seen by A's SSE stream, and A's
    table current (A read it after its subscription was answered). Returns (a, b, A's stream)."""
    a = start_server(url=proxy.url)
    b = start_server(menu=None)
    watcher = sse(a.port, 123, clients)
    assert update_version(watcher.next_update()) == 0
    assert envelope(b.add(123, 1001, 1))["version"] == 1
    assert update_version(watcher.next_update()) == 1
    assert a.cart(123)["version"] == 1
    return a, b, watcher


def rename_table(redis, tmp_path, servers, table, number):
    """Renames table in the test menu with `menu import` into Redis, and waits until every one
    of servers serves the new menu."""
    menu = json.loads(MENU_FILE.read_text(encoding="utf-8"))
    for t in menu["stores"][0]["tables"]:
        if t["tableId"] == table:
            t["tableNumber"] = number
    path = tmp_path / "renamed.json"
    path.write_text(json.dumps(menu, ensure_ascii=False), encoding="utf-8")
    r = run_cli("menu", "import", path, "--store", redis.url)
    assert r.returncode == 0, r.stderr
    for s in servers:
        wait_until(lambda: envelope(s.request("GET", "/store/order/menu/%d" % table))["table"]
                   ["tableNumber"] == number, IO_TIMEOUT, "the new menu served")


def test_changes_cross_instances_both_ways(two, clients):
    a, b = two
    sse_a = sse(a.port, 123, clients)
    ws_b = ws(b.port, 123, clients)
    other_sse_b = sse(b.port, 124, clients)
    other_ws_a = ws(a.port, 124, clients)
    assert update_version(sse_a.next_update()) == 0
    first = ws_b.recv()
    assert (first["type"], first["data"]["version"]) == ("cart_update", 0)
    assert update_version(other_sse_b.next_update()) == 0
    assert other_ws_a.recv()["data"]["version"] == 0

    # An HTTP change on A reaches the SSE client on A and the WebSocket on B.
    d1 = envelope(a.add(123, 1001, 2, headers={"X-User-Id": "7"}))
    assert d1["version"] == 1
    ev = sse_a.next_update()
    assert update_version(ev) == 1 and ev.json() == d1
    pushed = ws_b.recv()
    assert pushed["type"] == "cart_update" and pushed["message"] == "购物车更新"
    assert pushed["data"] == d1

    # A WebSocket command on B reaches the SSE client on A; B gets _success.
    ws_b.send({"type": "add_item", "data": {"cuisineId": 1002, "quantity": 1}})
    mine = ws_b.recv()
    assert (mine["type"], mine["data"]["version"]) == ("add_item_success", 2)
    assert cart_view(mine["data"]) == expected_cart(
        123, [expected_item(1001, 2, 7), expected_item(1002, 1)], 2)
    ev = sse_a.next_update()
    assert update_version(ev) == 2 and ev.json() == mine["data"]

    # No echo of version 2 to its sender: the next thing B hears is version 3.
    envelope(b.update(123, 1002, 4))
    nxt = ws_b.recv()
    assert (nxt["type"], nxt["data"]["version"]) == ("cart_update", 3)
    assert update_version(sse_a.next_update()) == 3
    ws_b.send({"type": "clear_cart"})
    assert ws_b.recv()["type"] == "clear_cart_success"
    assert sse_a.next_update().json()["items"] == []

    # Table 124's diners heard none of it: their next event is 124's first change.
    envelope(b.add(124, 1030, 1))
    ev = other_sse_b.next_update()
    assert update_version(ev) == 1 and ev.json()["tableId"] == 124
    m = other_ws_a.recv()
    assert (m["type"], m["data"]["tableId"], m["data"]["version"]) == ("cart_update", 124, 1)

    # Every instance reads what any instance wrote.
    assert a.cart(123) == b.cart(123)
    assert a.cart(124) == b.cart(124)


def test_origin_is_per_instance(two, clients):
    """Connection ids repeat across processes: the first WebSocket of A and of B
    may share one. A command on A must still reach B's (only A's own is skipped)."""
    a, b = two
    wa = ws(a.port, 123, clients)
    wb = ws(b.port, 123, clients)
    assert wa.recv()["type"] == "cart_update" and wb.recv()["type"] == "cart_update"
    for n in range(1, 4):
        sender, other = (wa, wb) if n % 2 else (wb, wa)
        sender.send({"type": "add_item", "data": {"cuisineId": 1001, "quantity": 1}})
        got = sender.recv()
        assert (got["type"], got["data"]["version"]) == ("add_item_success", n)
        pushed = other.recv()
        assert (pushed["type"], pushed["data"]["version"]) == ("cart_update", n)


def test_concurrent_conflicting_adds_from_both_instances(two, clients):
    a, b = two
    watcher = sse(a.port, 123, clients)
    assert update_version(watcher.next_update()) == 0
    versions, failures = [], []
    lock = threading.Lock()

    def adder(server, dish, n):
        with requests.Session() as s:
            for _ in range(n):
                while True:
                    r = s.post(server.api("/store/order/cart/add"),
                               json={"tableId": 123, "cuisineId": dish, "quantity": 1},
                               timeout=IO_TIMEOUT)
                    if r.status_code != 503 or r.json()["message"] != STORE_BUSY:
                        break
                    # Lost the race 16 times: nothing was applied, and the
                    # client's retry is the documented answer (redis.md).
                with lock:
                    if r.status_code == 200:
                        versions.append(r.json()["data"]["version"])
                    else:
                        failures.append((r.status_code, r.text[:200]))

    # 50 adds through each instance, two clients each, all at once, on two
    # lines (a line stops at 99). Such a flood is far faster than people
    # order: a change may lose its compare-and-set race to the other instance
    # 16 times in a row and be answered 503 "store busy", and is then sent
    # again, as a client does.
    threads = [threading.Thread(target=adder, args=(srv, dish, 25))
               for srv in (a, b) for dish in (1001, 1002)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(IO_TIMEOUT * 20)
    assert not failures, failures[:5]
    assert sorted(versions) == list(range(1, 101))  # each answer its own version
    for srv in (a, b):
        # A, which follows the table, serves it from memory: a read right after
        # B answered the last change may show the version before it until B's
        # message arrives (redis.md, "Reads are served from memory only for a
        # current table").
        wait_until(lambda: srv.cart(123)["version"] == 100, IO_TIMEOUT, "version 100 served")
        d = srv.cart(123)
        assert d["version"] == 100 and d["totalQuantity"] == 100
        assert [i["quantity"] for i in d["items"]] == [50, 50]
    # The watcher ends at the last state (it may skip intermediate ones it
    # had not written yet: updates are whole states).
    seen = []
    wait_until(lambda: seen.append(update_version(watcher.next_update())) or seen[-1] == 100,
               IO_TIMEOUT * 2, "version 100 on the SSE stream")
    assert seen == sorted(seen)


STORE_BUSY = "这桌点得太快了，请稍后再试"


def test_if_match_across_instances(two):
    a, b = two
    envelope(a.add(123, 1001, 1))
    r = b.add(123, 1001, 1, headers={"If-Match": '"v1"'})
    assert envelope(r)["version"] == 2
    r = a.add(123, 1001, 1, headers={"If-Match": '"v1"'})
    assert r.status_code == 409
    assert envelope(a.get_cart(123))["version"] == 2


def test_renamed_table_after_another_instances_change(two, clients, redis, tmp_path):
    """B changes the cart; A hears it and keeps it as it came (named A01). A menu import then
    renames the table: both instances serve the cart named anew at the same version, as one
    that made the change itself does (docs/api.md, "Live menu")."""
    a, b = two
    sse_a = sse(a.port, 123, clients)
    sse_b = sse(b.port, 123, clients)
    assert update_version(sse_a.next_update()) == 0
    assert update_version(sse_b.next_update()) == 0
    envelope(b.add(123, 1001, 1))
    assert update_version(sse_a.next_update()) == 1
    rename_table(redis, tmp_path, (a, b), 123, "Z99")
    for s in (a, b):
        got = s.request("GET", "/store/order/cart/123")
        assert got.headers["ETag"] == '"v1"'
        cart = envelope(got)
        assert (cart["tableNumber"], cart["version"]) == ("Z99", 1), s


def test_lost_race_read_ahead_of_messages_skips_no_version(redis, start_server, clients):
    """A's subscriber connection is held back in a proxy while B writes v2 and v3. A change
    through A loses its race, reads v3 on the command connection and writes v4 on it: its caller
    is answered v4 at once, and GET on A serves v4 from memory. A's stream gets v2, v3 and v4 in
    order once the messages come, not v3 and v4 ahead of them (docs/redis.md, "The change
    feed")."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        a, b, watcher = proxied_at_v1(start_server, proxy, clients)
        proxy.hold_messages()
        try:
            assert envelope(b.add(123, 1001, 1))["version"] == 2
            assert envelope(b.add(123, 1002, 1))["version"] == 3
            d = envelope(a.add(123, 1002, 1))
            assert (d["version"], d["totalQuantity"]) == (4, 4)
            assert a.cart(123)["version"] == 4
        finally:
            proxy.release_messages()
        for v in (2, 3, 4):
            ev = watcher.next_update()
            assert update_version(ev) == v and ev.json()["totalQuantity"] == v
        assert envelope(b.add(123, 1001, 1))["version"] == 5
        assert update_version(watcher.next_update()) == 5
    finally:
        proxy.close()


def test_message_of_a_version_fed_early_keeps_the_table_current(redis, start_server, clients):
    """A change through A loses its race and reads v3 while the messages of v2 and v3 are held
    back; A writes v4 on it. Later B writes v5 and v6, and A's next change loses its race too,
    reads v6 and writes v7: A's stream waits at v1. Then only the messages of v2 and v3 go
    through: A feeds v2, v3, v4 at v2's message, and v3's message comes below v4 fed. That is no
    sign that Redis lost the cart (it is above the last message heard, v2): the table stays
    current, so a read from A meanwhile is served from memory and v6, v7 wait for v5's message.
    Before, A read the cart again on that message, and the table was not current until the
    answer (held back here): the read fed v6 and v7 with v5, still on its way, skipped."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    channel = b"tablecart:table:123"
    try:
        a, b, watcher = proxied_at_v1(start_server, proxy, clients)
        proxy.hold_messages()
        try:
            assert envelope(b.add(123, 1001, 1))["version"] == 2
            assert envelope(b.add(123, 1002, 1))["version"] == 3
            assert envelope(a.add(123, 1002, 1))["version"] == 4
            assert envelope(b.add(123, 1001, 1))["version"] == 5
            assert envelope(b.add(123, 1002, 1))["version"] == 6
            assert envelope(a.add(123, 1002, 1))["version"] == 7
            proxy.hold_replies()
            assert proxy.release_messages_through(channel, 3).wait(IO_TIMEOUT)
            for v in (2, 3, 4):
                assert update_version(watcher.next_update()) == v
            got = []
            reader = threading.Thread(target=lambda: got.append(a.cart(123)["version"]))
            reader.start()
            reader.join(0.5)
        finally:
            proxy.release_replies()
            proxy.release_messages()
        reader.join(IO_TIMEOUT)
        assert got == [7]
        for v in (5, 6, 7):
            ev = watcher.next_update()
            assert update_version(ev) == v and ev.json()["totalQuantity"] == v
    finally:
        proxy.close()


def test_renamed_table_read_from_redis_by_a_new_stream(two, clients, redis, tmp_path):
    """Table 124 changed through B, then renamed by a menu import: Redis still holds the cart as
    B stored it (named A02). A, which never read it, opens a stream of it: the snapshot (read
    when A follows the table) and GET name it anew (docs/api.md, "Live menu": as after a
    restart)."""
    a, b = two
    envelope(b.add(124, 1001, 1))
    rename_table(redis, tmp_path, (a, b), 124, "B99")
    sse_a = sse(a.port, 124, clients)
    snap = sse_a.next_update()
    assert (snap.json()["tableNumber"], update_version(snap)) == ("B99", 1)
    cart = envelope(a.request("GET", "/store/order/cart/124"))
    assert (cart["tableNumber"], cart["version"]) == ("B99", 1)


def test_own_change_heard_before_its_reply_is_fed_first(redis, start_server, clients):
    """A's write of v2 lands, and B writes v3 on top of it; A hears both
    messages before the reply to its own write (held back in a proxy). A's
    streams get v2 at its message, then v3: none skips A's own change. A's
    caller is answered v2 once the reply comes."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        a = start_server(url=proxy.url)
        b = start_server(menu=None)
        watcher = sse(a.port, 123, clients)
        assert update_version(watcher.next_update()) == 0
        envelope(a.add(123, 1001, 1))
        assert update_version(watcher.next_update()) == 1
        held = proxy.hold_write_reply()
        answer = {}
        t = threading.Thread(target=lambda: answer.update(r=a.add(123, 1001, 1)))
        t.start()
        try:
            assert held.wait(IO_TIMEOUT)
            wait_until(lambda: redis.command("HGET", "tablecart:cart:123", "version") == "2",
                       IO_TIMEOUT, "A's write stored")
            assert envelope(b.add(123, 1002, 1))["version"] == 3
            ev = watcher.next_update()
            assert update_version(ev) == 2 and ev.json()["totalQuantity"] == 2
            assert update_version(watcher.next_update()) == 3
            assert "r" not in answer  # still held
        finally:
            proxy.release()
            t.join(IO_TIMEOUT)
        d = envelope(answer["r"])
        assert d["version"] == 2 and d["totalQuantity"] == 2
        assert a.cart(123)["version"] == 3
        # The reply fed nothing again: the next update is the next change.
        assert envelope(b.add(123, 1002, 1))["version"] == 4
        assert update_version(watcher.next_update()) == 4
    finally:
        proxy.close()


def cart_writes(redis):
    """How many times Redis ran a script by its SHA: every cart save (and diners job) of the
    instances."""
    for line in redis.command("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def queued_changes(server):
    """A's tablecart_store_queued_changes: changes waiting behind a save (or read) in flight."""
    text = requests.get(server.url("/metrics"), timeout=IO_TIMEOUT).text
    return int(re.search(r"^tablecart_store_queued_changes (\d+)$", text, re.M).group(1))


def test_batch_saved_in_one_write_reaches_other_instances_version_by_version(
        redis, start_server, clients):
    """A's write of v1 lands and its reply is held back in a proxy: meanwhile two HTTP adds and
    a WebSocket add reach A and queue behind it, and A saves them in one batch, one write for
    v2, v3 and v4 (group commit). That write publishes every version of the batch, not only v4:
    B's stream gets v1, v2, v3, v4 in order, each the cart A answered for it (docs/redis.md,
    "The change feed"). On A the WebSocket that sent one of them gets its _success at its
    version and no echo of it, and A's own stream gets every version once."""
    from redis_support import ResetProxy
    proxy = ResetProxy(redis.port)
    try:
        a = start_server(url=proxy.url)
        b = start_server(menu=None)
        watcher = sse(b.port, 123, clients)
        mine = sse(a.port, 123, clients)
        sender = ws(a.port, 123, clients)
        assert update_version(watcher.next_update()) == 0
        assert update_version(mine.next_update()) == 0
        assert sender.recv()["data"]["version"] == 0
        before = cart_writes(redis)
        # Connected before the hold: while it lasts, sending is all that is left to do. A
        # reply held past 2 s ends A's command connection (docs/redis.md, "Outages and
        # timeouts"), and a request started in a new thread could take that long to leave a
        # busy machine.
        conns = [RawConn(a.port) for _ in range(3)]

        def add(conn, cuisine):
            conn.send(http_request("POST", "/api/store/order/cart/add",
                                   {"Content-Type": "application/json"},
                                   json.dumps({"tableId": 123, "cuisineId": cuisine,
                                               "quantity": 1}).encode()))

        held = proxy.hold_write_reply()
        add(conns[0], 1001)
        try:
            assert held.wait(IO_TIMEOUT)
            add(conns[1], 1002)
            add(conns[2], 1001)
            sender.send({"type": "add_item", "data": {"cuisineId": 1030, "quantity": 1}})
            # all three queue behind the held save (none of them was answered: v1's reply is
            # held, and every reply behind it on that connection)
            wait_until(lambda: queued_changes(a) == 3, IO_TIMEOUT, "3 changes queued on A")
            assert select.select([c.sock for c in conns], [], [], 0)[0] == []
        finally:
            proxy.release()
        answers = [raw_envelope(c.read_response(), 200)["data"] for c in conns]
        for c in conns:
            c.close()
        assert queued_changes(a) == 0
        # The WebSocket hears the others' versions in order, each once, and its own change only
        # as its _success (which its save's reply answers: when A heard v4's message first, the
        # cart_update of v4 comes before it, and a resync of v4 after it).
        heard = {}
        while len(heard) < 4:
            m = sender.recv()
            v = m["data"]["version"]
            assert v not in heard, m
            assert m["type"] != "cart_update" or all(
                u < v for u in heard if heard[u]["type"] == "cart_update"), m
            heard[v] = m
        own = [v for v, m in heard.items() if m["type"] == "add_item_success"]
        assert len(own) == 1 and own[0] > 1, heard
        assert all(heard[v]["type"] == "cart_update" for v in heard if v != own[0]), heard
        answers.append(heard[own[0]]["data"])
        by_version = {d["version"]: d for d in answers}
        assert sorted(by_version) == [1, 2, 3, 4]
        # v1 was one write, v2..v4 one more: a batch.
        assert cart_writes(redis) - before == 2
        for stream in (watcher, mine):
            for v in (1, 2, 3, 4):
                ev = stream.next_update()
                assert update_version(ev) == v and ev.json() == by_version[v], (v, ev)
        # Nothing was fed twice: the next update on each is the next change.
        assert envelope(b.add(123, 1001, 1))["version"] == 5
        for stream in (watcher, mine):
            assert update_version(stream.next_update()) == 5
        m = sender.recv()
        if list(heard)[-1] == own[0] and own[0] < 4:
            # Its _success came after v4's update: the socket is sent the current cart again
            # (a resync, src/api/ws_cmd.c), not a second feed.
            assert (m["type"], m["data"]) == ("cart_update", by_version[4]), m
            m = sender.recv()
        assert (m["type"], m["data"]["version"]) == ("cart_update", 5), m
    finally:
        proxy.close()
