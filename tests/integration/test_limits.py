"""Input validation and limits (SPEC §2): ids, quantities, remarks, lines.
Every refused request names the field and leaves the cart byte-identical."""

import json

import pytest

from support import envelope, error, expected_cart, expected_item, cart_view

ADD = "/store/order/cart/add"
UPDATE = "/store/order/cart/update"
REMOVE = "/store/order/cart/remove"
CLEAR = "/store/order/cart/clear"

GOOD_ADD = {"tableId": 123, "cuisineId": 1001, "quantity": 1}
GOOD_UPDATE = {"tableId": 123, "cuisineId": 1001, "quantity": 3}

# JSON values that are not a positive 32-bit integer (or a string holding one)
BAD_IDS = [1.5, True, False, "abc", "1e2", 0, -5, 2147483648, "2147483648", "-5", "0", "1.5",
           "", "12abc", [], {}, 0.5, 123.25]
BAD_QUANTITIES = [1.5, True, "abc", "1e2", 0, -1, -5, 100, 2147483648, "100", "0", "", [], {}]


@pytest.fixture(scope="module")
def prepared(shared_server):
    """Table 123 holds 1001 x2 (remark) and 1002 x1 (version 2)."""
    s = shared_server
    if s.cart(123)["version"] == 0:
        envelope(s.add(123, 1001, 2, remark="不要花生",
                       headers={"X-User-Id": "100", "X-User-Phone": "13800138000"}))
        envelope(s.add(123, 1002, 1))
    return s


class Unchanged:
    """Context: the raw GET of table 123 (and 124) is identical after the block."""

    def __init__(self, s):
        self.s = s

    def __enter__(self):
        self.before = (self.s.cart_raw(123), self.s.cart_raw(124))
        assert b'"version":2,' in self.before[0]
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            assert (self.s.cart_raw(123), self.s.cart_raw(124)) == self.before, \
                "a refused request changed the cart"
        return False


def body(**over):
    b = dict(GOOD_ADD)
    for k, v in over.items():
        if v is KeyError:
            b.pop(k)
        else:
            b[k] = v
    return b


# --- ids --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["tableId", "cuisineId"])
@pytest.mark.parametrize("value", BAD_IDS, ids=repr)
def test_add_bad_id(prepared, field, value):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(**{field: value})), 400, field)


@pytest.mark.parametrize("field", ["tableId", "cuisineId", "quantity"])
def test_add_missing_field(prepared, field):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(**{field: KeyError})), 400, field)


@pytest.mark.parametrize("field", ["tableId", "cuisineId", "quantity"])
def test_add_null_field(prepared, field):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(**{field: None})), 400, field)


@pytest.mark.parametrize("field", ["tableId", "cuisineId"])
def test_largest_id_is_valid_but_unknown(prepared, field):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(**{field: 2147483647})), 404)
        error(prepared.request("POST", ADD, json=body(**{field: "2147483647"})), 404)


@pytest.mark.parametrize("field", ["tableId", "cuisineId"])
@pytest.mark.parametrize("value", [1.5, "abc", 0, -5, 2147483648, None], ids=repr)
def test_update_bad_id(prepared, field, value):
    b = dict(GOOD_UPDATE)
    b[field] = value
    with Unchanged(prepared):
        error(prepared.request("PUT", UPDATE, json=b), 400, field)


@pytest.mark.parametrize("field", ["tableId", "cuisineId"])
@pytest.mark.parametrize("value", ["1.5", "abc", "0", "-5", "2147483648", "1e2", ""], ids=repr)
def test_remove_bad_id_in_query(prepared, field, value):
    params = {"tableId": "123", "cuisineId": "1001"}
    params[field] = value
    with Unchanged(prepared):
        error(prepared.request("DELETE", REMOVE, params=params), 400, field)


@pytest.mark.parametrize("value", [1.5, True, "abc", 0, -5, 2147483648], ids=repr)
def test_remove_bad_id_in_body(prepared, value):
    with Unchanged(prepared):
        error(prepared.request("DELETE", REMOVE, json={"tableId": 123, "cuisineId": value}), 400,
              "cuisineId")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "2147483648", "1e2"], ids=repr)
def test_clear_bad_table_id(prepared, value):
    with Unchanged(prepared):
        error(prepared.request("DELETE", CLEAR, params={"tableId": value}), 400, "tableId")


# --- quantity ------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_QUANTITIES, ids=repr)
def test_add_bad_quantity(prepared, value):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(quantity=value)), 400, "quantity")


@pytest.mark.parametrize("value", [1.5, True, "abc", -1, 100, 2147483648, None, "1e2"], ids=repr)
def test_update_bad_quantity(prepared, value):
    b = dict(GOOD_UPDATE)
    b["quantity"] = value
    with Unchanged(prepared):
        error(prepared.request("PUT", UPDATE, json=b), 400, "quantity")


def test_update_missing_quantity(prepared):
    with Unchanged(prepared):
        error(prepared.request("PUT", UPDATE, json={"tableId": 123, "cuisineId": 1001}), 400,
              "quantity")


def test_add_past_99_refused(server):
    envelope(server.add(123, 1001, 60))
    before = server.cart_raw(123)
    msg = error(server.add(123, 1001, 40), 400)
    assert "99" in msg
    assert server.cart_raw(123) == before
    d = envelope(server.add(123, 1001, 39))
    assert d["items"][0]["quantity"] == 99 and d["version"] == 2
    msg = error(server.add(123, 1001, 1), 400)
    assert "99" in msg
    assert server.cart(123)["version"] == 2


def test_add_99_at_once_ok_100_not(server):
    d = envelope(server.add(123, 1001, 99))
    assert d["items"] == [expected_item(1001, 99)]
    error(server.add(123, 1002, 100), 400, "quantity")
    assert server.cart(123)["version"] == 1


def test_update_to_99_ok(server):
    envelope(server.add(123, 1001, 1))
    d = envelope(server.update(123, 1001, 99))
    assert d["items"][0]["quantity"] == 99


# --- lines ----------------------------------------------------------------------------


def test_line_limit_100(server):
    ids = list(range(1101, 1201))
    assert len(ids) == 100
    for n, cid in enumerate(ids, start=1):
        d = envelope(server.add(123, cid, 1))
        assert d["version"] == n and len(d["items"]) == n
    before = server.cart_raw(123)
    r = server.add(123, 1001, 1)
    assert 400 <= r.status_code < 500
    msg = error(r, r.status_code)
    assert "100" in msg, msg
    assert server.cart_raw(123) == before
    # existing lines still take more, and removing one makes room
    d = envelope(server.add(123, 1101, 1))
    assert d["items"][0]["quantity"] == 2 and d["version"] == 101
    envelope(server.remove(123, 1150))
    d = envelope(server.add(123, 1001, 1))
    assert len(d["items"]) == 100 and d["items"][-1]["cuisineId"] == 1001
    assert d["version"] == 103
    # totals stay exact over 100 lines: sum(1.01..2.00 minus 1.50) + 1.01 extra + 38.00
    expected = sum(range(101, 201)) - 150 + 101 + 3800
    assert d["totalAmount"] * 100 == expected


# --- remark ------------------------------------------------------------------------------


def test_remark_200_code_points_ok(server):
    d = envelope(server.add(123, 1001, 1, remark="好" * 200))
    assert d["items"][0]["remark"] == "好" * 200
    d = envelope(server.add(123, 1002, 1, remark="😀" * 200))  # 4-byte UTF-8, 1 code point
    assert d["items"][1]["remark"] == "😀" * 200
    raw = json.dumps({"tableId": 123, "cuisineId": 1011, "quantity": 1, "remark": "é" * 200},
                     ensure_ascii=False).encode("utf-8")
    d = envelope(server.request("POST", ADD, data=raw, headers={"Content-Type": "application/json"}))
    assert d["items"][2]["remark"] == "é" * 200


@pytest.mark.parametrize("remark", ["好" * 201, "a" * 201, "😀" * 201, 123, True, ["x"], {"a": 1}],
                         ids=["cjk201", "ascii201", "emoji201", "number", "bool", "array",
                              "object"])
def test_remark_refused(prepared, remark):
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, json=body(remark=remark)), 400, "remark")


def test_remark_invalid_utf8_refused(prepared):
    raw = b'{"tableId":123,"cuisineId":1001,"quantity":1,"remark":"\xff\xfe"}'
    with Unchanged(prepared):
        r = prepared.request("POST", ADD, data=raw, headers={"Content-Type": "application/json"})
        error(r, 400)


def test_remark_lone_surrogate_refused(prepared):
    raw = b'{"tableId":123,"cuisineId":1001,"quantity":1,"remark":"\\ud800"}'
    with Unchanged(prepared):
        r = prepared.request("POST", ADD, data=raw, headers={"Content-Type": "application/json"})
        error(r, 400)


# --- other refused adds leave the cart alone ---------------------------------------------------


@pytest.mark.parametrize("req", [
    {"json": {"tableId": 123, "cuisineId": 1020, "quantity": 1}, "status": 400},   # sold out
    {"json": {"tableId": 123, "cuisineId": 9999, "quantity": 1}, "status": 404},
    {"json": {"tableId": 123, "cuisineId": 2001, "quantity": 1}, "status": 404},
    {"json": {"tableId": 99999, "cuisineId": 1001, "quantity": 1}, "status": 404},
    {"json": {"tableId": 123, "cuisineId": 1001, "quantity": 98}, "status": 400},  # 2 + 98 > 99
    {"json": [1, 2, 3], "status": 400},
    {"json": "tableId", "status": 400},
    {"json": 123, "status": 400},
    {"data": b"", "status": 400},
    {"data": b"null", "status": 400},
    {"data": b"{", "status": 400},
    {"data": b'{"tableId":123,"cuisineId":1001,"quantity":1}x', "status": 400},
    {"data": b'{"tableId":123,"cuisineId":1001,"quantity":1,}', "status": 400},
    {"data": b"{'tableId':123}", "status": 400},
], ids=lambda r: repr(r.get("json", r.get("data")))[:40])
def test_refused_add_changes_nothing(prepared, req):
    kw = {}
    if "json" in req:
        kw["json"] = req["json"]
    else:
        kw["data"] = req["data"]
        kw["headers"] = {"Content-Type": "application/json"}
    with Unchanged(prepared):
        error(prepared.request("POST", ADD, **kw), req["status"])


def test_prepared_state_is_exact(prepared):
    d = prepared.cart(123)
    assert cart_view(d) == expected_cart(123, [
        expected_item(1001, 2, 100, "13800138000", "不要花生"), expected_item(1002, 1)], 2)
