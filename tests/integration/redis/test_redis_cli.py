"""`tablecart menu import --store redis://…`, the URL forms (database index,
errors), and the data layout in Redis (docs/redis.md): the menu key, the
cart hashes and the change messages on the channel."""

import json
import socket
import struct

import pytest

from live_support import SSEStream
from support import IO_TIMEOUT, MENU_FILE, envelope, error, parse_json, run_cli

OTHER_MENU = {"stores": [
    {"storeId": 1, "name": "Renamed Kitchen",
     "tables": [{"tableId": 125, "tableNumber": "A03"}],
     "cuisines": [{"cuisineId": 1001, "cuisineName": "宫保鸡丁", "cuisineType": 1,
                   "unitPrice": 40.50}]}]}


def import_menu(path, url):
    r = run_cli("menu", "import", path, "--store", url)
    assert r.returncode == 0, r.stderr.decode()
    return r


def test_menu_import_then_serve(redis, start_server, tmp_path):
    r = import_menu(MENU_FILE, redis.url)
    assert b"imported: 2 stores, 3 tables, 110 dishes" in r.stderr
    stored = json.loads(redis.command("GET", "tablecart:menu"))
    assert [s["storeId"] for s in stored["stores"]] == [1, 2]

    # An import upserts: the second file renames, reprices and adds; the rest stays.
    other = tmp_path / "other.json"
    other.write_text(json.dumps(OTHER_MENU), encoding="utf-8")
    import_menu(other, redis.url)

    s = start_server(menu=None)  # everything comes from Redis
    d = envelope(s.request("GET", "/store/order/menu/125"))
    assert d["table"] == {"tableId": 125, "tableNumber": "A03", "storeId": 1}
    assert len(d["cuisines"]) == 109
    dish = next(c for c in d["cuisines"] if c["cuisineId"] == 1001)
    assert str(dish["unitPrice"]) == "40.50"
    assert envelope(s.add(123, 1001, 2))["totalAmount"] == parse_json("81.00")
    error(s.add(123, 1020, 1), 400)  # still sold out
    error(s.add(123, 2001, 1), 404)  # another store's dish


def test_data_layout(redis, server):
    d = envelope(server.add(123, 1001, 2, headers={"X-User-Id": "9"}))
    h = redis.command("HGETALL", "tablecart:cart:123")
    h = dict(zip(h[::2], h[1::2]))
    assert set(h) == {"version", "updatedAt", "cart"}
    assert h["version"] == "1" and h["updatedAt"] == str(d["updatedAt"])
    assert parse_json(h["cart"]) == d
    assert redis.command("EXISTS", "tablecart:cart:124") == 0  # untouched: no key
    assert redis.command("TYPE", "tablecart:menu") == "string"


def read_resp(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [read_resp(f) for _ in range(int(rest))]
    if kind == b"$":
        return f.read(int(rest) + 2)[:-2]
    return rest


def test_change_message_on_the_channel(redis, server):
    with socket.create_connection(("127.0.0.1", redis.port), timeout=IO_TIMEOUT) as sub:
        sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$19\r\ntablecart:table:124\r\n")
        f = sub.makefile("rb")
        assert read_resp(f)[0] == b"subscribe"
        # No-ops and refusals publish nothing: the first message is the change.
        assert envelope(server.clear(124))["version"] == 0
        error(server.add(124, 1020, 1), 400)  # sold out
        error(server.remove(124, 1001), 404)
        d = envelope(server.add(124, 1030, 1))
        kind, channel, payload = read_resp(f)
        assert (kind, channel) == (b"message", b"tablecart:table:124")
        head, _, rest = payload.partition(b"\n")
        magic, instance, origin, version, pack_len = head.split(b" ")
        assert magic == b"tc3" and len(instance) == 16 and int(instance, 16) > 0
        assert origin.isdigit()  # the asking connection of that instance
        assert int(version) == d["version"] == 1
        # The packed cart (docs/redis.md), then the cart's JSON.
        pack, body = rest[: int(pack_len)], rest[int(pack_len) :]
        assert pack[:2] == b"C1"
        assert int.from_bytes(pack[2:6], "little") == 124
        assert int.from_bytes(pack[6:14], "little") == 1
        assert parse_json(body) == d


def pack_cart(table, version, updated_at, dish, name, cents, qty, user):
    """A cart in tablecart's packed form (src/cart/cart.c): one line, no image,
    phone or remark, all of it the share of one user."""
    def s(b):
        return struct.pack("<I", len(b)) + b
    none = b"\xff\xff\xff\xff"
    line = (struct.pack("<iiqiBqq", dish, 1, cents, qty, 1, user, 0) + s(name.encode())
            + none + none + none + struct.pack("<I", 1) + struct.pack("<Bqi", 1, user, qty))
    return b"C1" + struct.pack("<iqqI", table, version, updated_at, 1) + line


def test_a_cart_heard_from_another_instance_is_read_from_its_packed_form(redis, server):
    """Another instance's change comes with the cart packed beside its JSON: the
    next change here starts from the packed cart, never parsing the JSON. A
    message without it (tc2, what earlier builds send) is read from the JSON."""
    stream = SSEStream(server.port, table=124).start()
    try:
        assert stream.next_event().event == "connected"
        assert int(stream.next_update().id) == 0
        d = envelope(server.add(124, 1001, 1, headers={"X-User-Id": "5"}))
        assert int(stream.next_update().id) == d["version"] == 1

        stored = json.loads(redis.command("HGET", "tablecart:cart:124", "cart"))

        def heard(version, qty_json, pack):
            body = dict(stored, version=version)
            body["items"] = [dict(stored["items"][0], quantity=qty_json,
                                  shares=[{"userId": 5, "quantity": qty_json}])]
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            # Stored as another instance would (updatedAt beside the JSON's, which
            # a change here compares), then announced on the channel.
            redis.command("HSET", "tablecart:cart:124", "version", version,
                          "updatedAt", body["updatedAt"], "cart", text)
            head = b"tc3 00000000000000ff 0 %d %d\n" % (version, len(pack)) if pack else \
                b"tc2 00000000000000ff 0 %d\n" % version
            redis.command("PUBLISH", "tablecart:table:124", head + pack + text)
            ev = stream.next_update()
            assert int(ev.id) == version and ev.json()["items"][0]["quantity"] == qty_json

        # JSON says 2, the packed form 5: the packed form is what a change here reads.
        heard(2, 2, pack_cart(124, 2, d["updatedAt"], 1001, "x", 100, 5, 5))
        after = envelope(server.add(124, 1001, 1, headers={"X-User-Id": "5"}))
        assert (after["version"], after["items"][0]["quantity"]) == (3, 6)
        assert int(stream.next_update().id) == 3
        # Without a packed form, the JSON (9) is read.
        heard(4, 9, b"")
        after = envelope(server.add(124, 1001, 1, headers={"X-User-Id": "5"}))
        assert (after["version"], after["items"][0]["quantity"]) == (5, 10)
        assert "unreadable" not in server.stderr()
    finally:
        stream.close()


def test_database_index_keeps_deployments_apart(redis, start_server):
    on0 = start_server()
    on2 = start_server(url=redis.url + "/2")
    envelope(on2.add(123, 1001, 3))
    assert on0.cart(123)["version"] == 0
    assert on2.cart(123)["version"] == 1
    assert redis.command("EXISTS", "tablecart:cart:123") == 0  # db 0
    # A second instance on database 2 shares its carts (and its channel).
    other = start_server(url=redis.url + "/2", menu=None)
    assert other.cart(123)["totalQuantity"] == 3


# A malformed URL is a bad value (SPEC §9): exit 2 from both commands, before
# anything connects.
@pytest.mark.parametrize("url,message", [
    ("redis://", "--store: expected sqlite:PATH or redis://HOST:PORT, got 'redis://'"),
    ("redis://127.0.0.1:0", "store: redis://127.0.0.1:0: port must be 1-65535"),
    ("redis://127.0.0.1:6379/x", "database must be a number"),
    ("redis://u:p@127.0.0.1:6379", "--store: a password in the URL is refused"),
    ("redis://@127.0.0.1:6379", "bad user before @"),
    # A password written another way than user:pw@ is never echoed either.
    ("redis://127.0.0.1:6379/0?password=hunter2", "database must be a number"),
    ("redis:/tc:hunter2@127.0.0.1:6379", "--store: expected sqlite:PATH or redis://HOST:PORT, "
                                         "got '(a URL with '@', '?' or '#', not shown)'"),
])
@pytest.mark.parametrize("command", ["import", "serve"])
def test_bad_urls(url, message, command):
    if command == "import":
        r = run_cli("menu", "import", MENU_FILE, "--store", url)
    else:
        r = run_cli("serve", "--listen", "127.0.0.1:0", "--store", url)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr.decode(), r.stderr
    assert b"hunter2" not in r.stderr
    assert r.stdout == b""


def test_bad_database_index_is_refused_at_start(redis):
    r = run_cli("menu", "import", MENU_FILE, "--store", redis.url + "/99")
    assert r.returncode == 1
    assert "SELECT 99: ERR DB index is out of range" in r.stderr.decode(), r.stderr


def test_unreadable_menu_key_is_reported(redis):
    redis.command("SET", "tablecart:menu", "not json")
    r = run_cli("menu", "import", MENU_FILE, "--store", redis.url)
    assert r.returncode == 1
    assert "tablecart:menu is unreadable" in r.stderr.decode(), r.stderr
    redis.command("DEL", "tablecart:menu")
    redis.command("HSET", "tablecart:menu", "x", "1")
    r = run_cli("menu", "import", MENU_FILE, "--store", redis.url)
    assert r.returncode == 1 and b"WRONGTYPE" in r.stderr, r.stderr


def test_unreadable_cart_is_503_not_a_crash(redis, server):
    redis.command("HSET", "tablecart:cart:123", "version", "1", "cart", "{oops")
    error(server.get_cart(123), 503, "unreadable")
    error(server.add(123, 1001, 1), 503, "unreadable")
    redis.command("DEL", "tablecart:cart:123")
    assert envelope(server.add(123, 1001, 1))["version"] == 1


def test_flushed_script_cache_falls_back_to_eval(redis, server):
    envelope(server.add(123, 1001, 1))
    assert redis.command("SCRIPT", "FLUSH") == "OK"
    assert envelope(server.add(123, 1001, 1))["version"] == 2
    assert envelope(server.add(123, 1001, 1))["version"] == 3
