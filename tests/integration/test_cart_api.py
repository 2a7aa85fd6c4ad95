"""Cart API (SPEC §1, §3): shapes, exact values, add/update/remove/clear,
versions, ETag / If-None-Match, If-Match, Idempotency-Key, the menu endpoint."""

import json
import time
from decimal import Decimal

from support import (CART_KEYS, DISHES, ENVELOPE_KEYS, MENU_DISH_KEYS, OK_MESSAGE, TABLES,
                     assert_cart_shape, assert_money_two_decimals, cart_view, envelope, error,
                     expected_cart, expected_item, parse_json)

ADD = "/store/order/cart/add"
UPDATE = "/store/order/cart/update"
REMOVE = "/store/order/cart/remove"
CLEAR = "/store/order/cart/clear"


def now_ms():
    return int(time.time() * 1000)


# --- GET and the empty cart -------------------------------------------------


def test_empty_cart_exact_body(server):
    r = server.get_cart(123)
    assert r.status_code == 200
    assert r.headers["Content-Type"].lower().startswith("application/json")
    assert r.content == (
        '{"code":200,"success":true,"message":"操作成功","data":'
        '{"tableId":123,"tableNumber":"A01","storeId":1,"items":[],"totalAmount":0.00,'
        '"totalQuantity":0,"version":0,"updatedAt":null}}').encode("utf-8")


def test_empty_cart_other_table_and_store(server):
    data = envelope(server.get_cart(124))
    assert data == {"tableId": 124, "tableNumber": "A02", "storeId": 1, "items": [],
                    "totalAmount": Decimal("0.00"), "totalQuantity": 0, "version": 0,
                    "updatedAt": None}
    data = envelope(server.get_cart(200))
    assert data["tableNumber"] == "B01" and data["storeId"] == 2 and data["version"] == 0


def test_get_unknown_table_is_404(server):
    error(server.get_cart(99999), 404)
    error(server.get_cart(125), 404)


def test_get_bad_table_id_in_path_is_400(server):
    for bad in ("abc", "0", "-1", "1.5", "2147483648", "1e2"):
        r = server.get_cart(bad)
        error(r, 400)


def test_envelope_key_order_and_values(server):
    r = server.get_cart(123)
    body = parse_json(r.content)
    assert list(body.keys()) == ENVELOPE_KEYS
    assert body["code"] == 200 and body["success"] is True and body["message"] == OK_MESSAGE
    assert list(body["data"].keys()) == CART_KEYS


# --- add ---------------------------------------------------------------------


def test_add_first_line_exact(server):
    before = now_ms()
    r = server.add(123, 1001, 2, remark="不要花生",
                   headers={"X-User-Id": "100", "X-User-Phone": "13800138000"})
    after = now_ms()
    data = envelope(r)
    assert_cart_shape(data, r.content)
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 2, 100, "13800138000",
                                                                "不要花生")], 1)
    assert isinstance(data["updatedAt"], int)
    assert before - 2000 <= data["updatedAt"] <= after + 2000
    raw = r.content.decode("utf-8")
    assert ('{"cuisineId":1001,"cuisineName":"宫保鸡丁","cuisineType":1,'
            '"cuisineImage":"https://example.com/1001.jpg","unitPrice":38.00,"quantity":2,'
            '"subtotalAmount":76.00,"addUserId":100,"addUserPhone":"13800138000",'
            '"remark":"不要花生","shares":[{"userId":100,"quantity":2}],"remarkUserId":100}') in raw
    assert '"totalAmount":76.00,"totalQuantity":2,"version":1,"updatedAt":' in raw
    # GET answers the same cart
    g = server.get_cart(123)
    assert envelope(g) == data


def test_money_three_dimes_is_exact(server):
    for cid in (1011, 1012, 1013):
        envelope(server.add(123, cid, 1))
    r = server.get_cart(123)
    data = envelope(r)
    raw = r.content.decode("utf-8")
    assert '"totalAmount":0.30' in raw
    assert raw.count('"unitPrice":0.10') == 3
    assert raw.count('"subtotalAmount":0.10') == 3
    assert data["totalAmount"] == Decimal("0.30")
    assert data["totalQuantity"] == 3
    assert_money_two_decimals(raw)


def test_money_formatting_various(server):
    envelope(server.add(123, 1002, 3))     # 28.50 * 3 = 85.50
    envelope(server.add(123, 1040, 7))     # 1288.88 * 7 = 9022.16
    envelope(server.add(123, 1200, 1))     # 2.00
    r = server.get_cart(123)
    raw = r.content.decode("utf-8")
    assert '"unitPrice":28.50,"quantity":3,"subtotalAmount":85.50' in raw
    assert '"unitPrice":1288.88,"quantity":7,"subtotalAmount":9022.16' in raw
    assert '"unitPrice":2.00,"quantity":1,"subtotalAmount":2.00' in raw
    assert '"totalAmount":9109.66,"totalQuantity":11' in raw
    assert_money_two_decimals(raw)


def test_add_dish_without_image_has_null_image(server):
    data = envelope(server.add(123, 1002, 1))
    assert data["items"][0]["cuisineImage"] is None


def test_add_set_meal_keeps_type(server):
    r = server.add(123, 1030, 1)
    data = envelope(r)
    assert data["items"] == [expected_item(1030, 1)]
    assert '"cuisineType":2' in r.content.decode("utf-8")


def test_names_with_quotes_are_escaped(server):
    r = server.add(123, 1050, 1)
    data = envelope(r)  # parses: the JSON is valid
    assert data["items"][0]["cuisineName"] == DISHES[1050]["cuisineName"]
    assert data["items"][0]["cuisineImage"] == DISHES[1050]["cuisineImage"]


def test_add_quantities_add_up(server):
    envelope(server.add(123, 1001, 2))
    data = envelope(server.add(123, 1001, 3))
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 5)], 2)


def test_remark_replace_rules(server):
    d = envelope(server.add(123, 1001, 1, remark="不要花生"))
    assert d["items"][0]["remark"] == "不要花生"
    d = envelope(server.add(123, 1001, 1))  # absent: keeps
    assert d["items"][0]["remark"] == "不要花生" and d["items"][0]["quantity"] == 2
    d = envelope(server.add(123, 1001, 1, remark=None))  # null: keeps
    assert d["items"][0]["remark"] == "不要花生" and d["items"][0]["quantity"] == 3
    d = envelope(server.add(123, 1001, 1, remark="多放辣"))  # non-null: replaces
    assert d["items"][0]["remark"] == "多放辣" and d["items"][0]["quantity"] == 4
    assert d["version"] == 4


def test_remark_raw_utf8_and_escaped(server):
    body = json.dumps({"tableId": 123, "cuisineId": 1001, "quantity": 1, "remark": "少盐😀"},
                      ensure_ascii=False).encode("utf-8")
    r = server.request("POST", ADD, data=body, headers={"Content-Type": "application/json"})
    assert envelope(r)["items"][0]["remark"] == "少盐😀"
    r = server.add(123, 1002, 1, remark="少盐😀")  # requests sends \\u escapes
    assert envelope(r)["items"][1]["remark"] == "少盐😀"


def test_identity_from_headers_query_and_none(server):
    envelope(server.add(123, 1001, 1, headers={"X-User-Id": "100", "X-User-Phone": "13800138000"}))
    envelope(server.add(123, 1002, 1, params={"userId": "101", "phone": "13900139000"}))
    envelope(server.add(123, 1011, 1, headers={"X-User-Id": "102", "X-User-Phone": "13700137000"},
                        params={"userId": "103", "phone": "13600136000"}))
    data = envelope(server.add(123, 1012, 1))
    got = [(i["cuisineId"], i["addUserId"], i["addUserPhone"]) for i in data["items"]]
    assert got == [(1001, 100, "13800138000"), (1002, 101, "13900139000"),
                   (1011, 102, "13700137000"), (1012, None, None)]


def test_identity_of_existing_line_is_kept(server):
    envelope(server.add(123, 1001, 1, headers={"X-User-Id": "100", "X-User-Phone": "13800138000"}))
    data = envelope(server.add(123, 1001, 2, headers={"X-User-Id": "200",
                                                      "X-User-Phone": "13900139000"}))
    assert data["items"] == [expected_item(1001, 3, 100, "13800138000", shares=[
        {"userId": 100, "quantity": 1}, {"userId": 200, "quantity": 2}])]


def test_request_names_and_prices_are_ignored(server):
    r = server.add(123, 1001, 2, cuisineName="假名字", unitPrice=0.01, subtotalAmount=0.02,
                   cuisineImage="https://evil.example/x.jpg", cuisineType=2,
                   totalAmount=0.02, addUserId=999, addUserPhone="1", version=77, storeId=2)
    data = envelope(r)
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 2)], 1)


def test_ids_as_strings_accepted(server):
    data = envelope(server.request("POST", ADD, json={"tableId": "123", "cuisineId": "1001",
                                                      "quantity": "2"}))
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 2)], 1)
    data = envelope(server.request("PUT", UPDATE, json={"tableId": "123", "cuisineId": "1001",
                                                        "quantity": "5"}))
    assert data["items"][0]["quantity"] == 5
    data = envelope(server.request("DELETE", REMOVE, json={"tableId": "123", "cuisineId": "1001"}))
    assert data["items"] == [] and data["version"] == 3
    envelope(server.add(123, 1001, 1))
    data = envelope(server.request("DELETE", CLEAR, json={"tableId": "123"}))
    assert data["items"] == [] and data["version"] == 5


def test_whole_numbers_written_as_reals_accepted(server):
    """1001.0 and 2.0 are ids and quantities, as the Jackson-based service took them: a client
    that keeps numbers as doubles (Gson's Map) sends them so. 1.5 stays 400."""
    body = '{"tableId":123.0,"cuisineId":1001.0,"quantity":2.0}'
    data = envelope(server.request("POST", ADD, data=body, headers={"Content-Type": "application/json"}))
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 2)], 1)
    data = envelope(server.request("PUT", UPDATE, data='{"tableId":1.23e2,"cuisineId":1001,"quantity":5.0}',
                                   headers={"Content-Type": "application/json"}))
    assert data["items"][0]["quantity"] == 5 and data["version"] == 2
    r = server.request("PUT", UPDATE, data='{"tableId":123,"cuisineId":1001,"quantity":5.5}',
                       headers={"Content-Type": "application/json"})
    assert error(r, 400) == "quantity must be an integer"
    assert server.cart(123)["version"] == 2


def test_one_trailing_slash_is_ignored(server):
    """/cart/123/ is /cart/123, as Spring MVC 5 (the original service) matched it; an empty
    segment (two slashes) stays a bad path."""
    data = envelope(server.request("POST", ADD + "/", json={"tableId": 123, "cuisineId": 1001,
                                                              "quantity": 1}))
    assert data["version"] == 1
    assert envelope(server.request("GET", "/store/order/cart/123/"))["version"] == 1
    assert error(server.request("GET", "/store/order/cart/123//"), 400) == "bad path"
    r = server.request("GET", ADD + "/")
    assert r.status_code == 405 and r.headers["Allow"] == "POST, OPTIONS"


def test_items_keep_first_added_order(server):
    for cid in (1030, 1001, 1011):
        envelope(server.add(123, cid, 1))
    envelope(server.add(123, 1001, 1))       # more of an existing line: order kept
    envelope(server.update(123, 1030, 9))    # update: order kept
    data = envelope(server.add(123, 1002, 1))
    assert [i["cuisineId"] for i in data["items"]] == [1030, 1001, 1011, 1002]
    envelope(server.remove(123, 1001))
    data = envelope(server.add(123, 1001, 1))  # removed then re-added: goes last
    assert [i["cuisineId"] for i in data["items"]] == [1030, 1011, 1002, 1001]


def test_tables_are_independent(server):
    envelope(server.add(123, 1001, 2))
    data = envelope(server.add(124, 1002, 1))
    assert cart_view(data) == expected_cart(124, [expected_item(1002, 1)], 1)
    assert cart_view(server.cart(123)) == expected_cart(123, [expected_item(1001, 2)], 1)
    data = envelope(server.add(200, 2001, 3))
    assert cart_view(data) == expected_cart(200, [expected_item(2001, 3)], 1)


def test_add_errors_404(server):
    error(server.add(123, 9999, 1), 404)        # unknown cuisine
    error(server.add(123, 2001, 1), 404)        # dish of store 2 at a store-1 table
    error(server.add(200, 1001, 1), 404)        # dish of store 1 at a store-2 table
    error(server.add(99999, 1001, 1), 404)      # unknown table
    assert server.cart(123)["version"] == 0


def test_add_sold_out_is_400(server):
    error(server.add(123, 1020, 1), 400)
    assert server.cart(123)["items"] == []


# --- update ------------------------------------------------------------------


def test_update_sets_quantity(server):
    envelope(server.add(123, 1001, 2, remark="微辣",
                        headers={"X-User-Id": "100", "X-User-Phone": "13800138000"}))
    data = envelope(server.update(123, 1001, 7))
    # The anonymous caller's raise is its own share (docs/api.md, "Shares").
    assert cart_view(data) == expected_cart(
        123, [expected_item(1001, 7, 100, "13800138000", "微辣", shares=[
            {"userId": 100, "quantity": 2}, {"userId": None, "quantity": 5}])], 2)
    data = envelope(server.update(123, 1001, 99))
    assert data["items"][0]["quantity"] == 99 and data["version"] == 3
    assert data["totalAmount"] == Decimal("3762.00")


def test_update_zero_removes_line(server):
    envelope(server.add(123, 1001, 2))
    envelope(server.add(123, 1002, 1))
    data = envelope(server.update(123, 1001, 0))
    assert cart_view(data) == expected_cart(123, [expected_item(1002, 1)], 3)


def test_update_same_quantity_changes_nothing(server):
    first = envelope(server.add(123, 1001, 2))
    before = server.cart_raw(123)
    r = server.update(123, 1001, 2)
    data = envelope(r)
    assert data == first  # same version, same updatedAt
    assert server.cart_raw(123) == before
    assert server.cart(123)["version"] == 1


def test_update_zero_of_absent_line_is_404(server):
    envelope(server.add(123, 1002, 1))
    before = server.cart_raw(123)
    error(server.update(123, 1001, 0), 404)
    assert server.cart_raw(123) == before


def test_update_errors(server):
    envelope(server.add(123, 1001, 2))
    before = server.cart_raw(123)
    error(server.update(123, 1002, 3), 404)       # line not in the cart
    error(server.update(123, 9999, 3), 404)       # unknown cuisine
    error(server.update(99999, 1001, 3), 404)     # unknown table
    error(server.update(123, 1001, 100), 400, "quantity")
    error(server.update(123, 1001, -1), 400, "quantity")
    assert server.cart_raw(123) == before


# --- remove and clear ----------------------------------------------------------


def test_remove_by_query(server):
    envelope(server.add(123, 1001, 2))
    envelope(server.add(123, 1002, 1))
    data = envelope(server.remove(123, 1001))
    assert cart_view(data) == expected_cart(123, [expected_item(1002, 1)], 3)


def test_remove_by_json_body(server):
    envelope(server.add(123, 1001, 2))
    envelope(server.add(123, 1002, 1))
    r = server.request("DELETE", REMOVE, json={"tableId": 123, "cuisineId": 1002})
    data = envelope(r)
    assert cart_view(data) == expected_cart(123, [expected_item(1001, 2)], 3)


def test_remove_absent_line_is_404(server):
    envelope(server.add(123, 1001, 2))
    before = server.cart_raw(123)
    error(server.remove(123, 1002), 404)
    error(server.remove(123, 9999), 404)
    error(server.remove(99999, 1001), 404)
    error(server.request("DELETE", REMOVE, json={"tableId": 123, "cuisineId": 1002}), 404)
    assert server.cart_raw(123) == before


def test_remove_missing_params_is_400(server):
    envelope(server.add(123, 1001, 2))
    before = server.cart_raw(123)
    error(server.request("DELETE", REMOVE, params={"tableId": 123}), 400, "cuisineId")
    error(server.request("DELETE", REMOVE, params={"cuisineId": 1001}), 400, "tableId")
    error(server.request("DELETE", REMOVE, params={"tableId": "abc", "cuisineId": 1001}), 400,
          "tableId")
    assert server.cart_raw(123) == before


def test_clear_by_query_and_body(server):
    envelope(server.add(123, 1001, 2))
    envelope(server.add(123, 1002, 1))
    data = envelope(server.clear(123))
    assert cart_view(data) == expected_cart(123, [], 3)
    assert isinstance(data["updatedAt"], int)
    envelope(server.add(123, 1001, 1))
    data = envelope(server.request("DELETE", CLEAR, json={"tableId": 123}))
    assert cart_view(data) == expected_cart(123, [], 5)
    raw = server.cart_raw(123).decode("utf-8")
    assert '"items":[],"totalAmount":0.00,"totalQuantity":0,"version":5' in raw


def test_clear_empty_cart_changes_nothing(server):
    r = server.clear(123)
    data = envelope(r)
    assert data == {"tableId": 123, "tableNumber": "A01", "storeId": 1, "items": [],
                    "totalAmount": Decimal("0.00"), "totalQuantity": 0, "version": 0,
                    "updatedAt": None}
    envelope(server.add(123, 1001, 1))
    cleared = envelope(server.clear(123))
    assert cleared["version"] == 2
    again = envelope(server.clear(123))
    assert again == cleared


def test_clear_errors(server):
    error(server.clear(99999), 404)
    error(server.request("DELETE", CLEAR), 400, "tableId")
    error(server.request("DELETE", CLEAR, params={"tableId": "x"}), 400, "tableId")


# --- versions, ETag, If-Match ----------------------------------------------------


def test_version_goes_up_by_one_per_change(server):
    ops = [
        lambda: server.add(123, 1001, 1),
        lambda: server.add(123, 1001, 1),
        lambda: server.add(123, 1002, 1),
        lambda: server.update(123, 1001, 5),
        lambda: server.update(123, 1002, 0),
        lambda: server.remove(123, 1001),
        lambda: server.add(123, 1030, 2),
        lambda: server.clear(123),
    ]
    last_updated = 0
    for n, op in enumerate(ops, start=1):
        data = envelope(op())
        assert data["version"] == n
        assert data["updatedAt"] >= last_updated
        last_updated = data["updatedAt"]
        assert server.cart(123)["version"] == n


def test_etag_and_if_none_match(server):
    r = server.get_cart(123)
    assert r.status_code == 200
    assert r.headers["ETag"] == '"v0"'
    r = server.get_cart(123, headers={"If-None-Match": '"v0"'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers.get("ETag") == '"v0"'
    r = server.get_cart(123, headers={"If-None-Match": '"v7"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"v0"'
    envelope(server.add(123, 1001, 1))
    r = server.get_cart(123, headers={"If-None-Match": '"v0"'})
    data = envelope(r)
    assert r.headers["ETag"] == '"v1"'
    assert data["version"] == 1
    r = server.get_cart(123, headers={"If-None-Match": '"v1"'})
    assert r.status_code == 304 and r.content == b""
    # the ETag is per table
    r = server.get_cart(124, headers={"If-None-Match": '"v0"'})
    assert r.status_code == 304


def test_if_match_add(server):
    data = envelope(server.add(123, 1001, 1, headers={"If-Match": '"v0"'}))
    assert data["version"] == 1
    before = server.cart_raw(123)
    error(server.add(123, 1001, 1, headers={"If-Match": '"v0"'}), 409)
    error(server.add(123, 1001, 1, headers={"If-Match": '"v2"'}), 409)
    assert server.cart_raw(123) == before
    data = envelope(server.add(123, 1001, 1, headers={"If-Match": '"v1"'}))
    assert data["version"] == 2 and data["items"][0]["quantity"] == 2


def test_if_match_update_remove_clear(server):
    envelope(server.add(123, 1001, 1))
    envelope(server.add(123, 1002, 1))  # v2
    before = server.cart_raw(123)
    error(server.update(123, 1001, 5, headers={"If-Match": '"v1"'}), 409)
    error(server.remove(123, 1001, headers={"If-Match": '"v1"'}), 409)
    error(server.clear(123, headers={"If-Match": '"v1"'}), 409)
    assert server.cart_raw(123) == before
    assert envelope(server.update(123, 1001, 5, headers={"If-Match": '"v2"'}))["version"] == 3
    assert envelope(server.remove(123, 1001, headers={"If-Match": '"v3"'}))["version"] == 4
    assert envelope(server.clear(123, headers={"If-Match": '"v4"'}))["version"] == 5


# --- Idempotency-Key -------------------------------------------------------------


def test_idempotency_key_replays_once(server):
    h = {"Idempotency-Key": "k-1"}
    r1 = server.add(123, 1001, 2, headers=h)
    envelope(r1)
    r2 = server.add(123, 1001, 2, headers=h)
    assert r2.status_code == 200
    assert r2.content == r1.content
    data = server.cart(123)
    assert data["version"] == 1 and data["items"][0]["quantity"] == 2


def test_idempotency_replay_after_other_changes(server):
    h = {"Idempotency-Key": "k-2"}
    first = server.add(123, 1001, 2, headers=h)
    envelope(first)
    envelope(server.add(123, 1002, 1))   # v2, no key
    again = server.add(123, 1001, 2, headers=h)
    assert again.status_code == 200 and again.content == first.content
    data = server.cart(123)
    assert data["version"] == 2
    assert [(i["cuisineId"], i["quantity"]) for i in data["items"]] == [(1001, 2), (1002, 1)]


def test_idempotency_key_is_per_path_and_key(server):
    envelope(server.add(123, 1001, 2, headers={"Idempotency-Key": "same"}))
    # same key on another path is a different request
    d = envelope(server.update(123, 1001, 5, headers={"Idempotency-Key": "same"}))
    assert d["version"] == 2 and d["items"][0]["quantity"] == 5
    # another key on the same path applies again
    d = envelope(server.add(123, 1001, 1, headers={"Idempotency-Key": "other"}))
    assert d["version"] == 3 and d["items"][0]["quantity"] == 6
    # and no key: applies every time
    envelope(server.add(123, 1001, 1))
    assert envelope(server.add(123, 1001, 1))["version"] == 5


def test_idempotency_errors_not_remembered(server):
    h = {"Idempotency-Key": "k-err"}
    error(server.add(99999, 1001, 1, headers=h), 404)
    r = server.add(123, 1001, 1, headers=h)
    data = envelope(r)
    assert data["version"] == 1
    error(server.add(123, 1001, 1, headers={"Idempotency-Key": "k-409", "If-Match": '"v0"'}), 409)
    data = envelope(server.add(123, 1001, 1, headers={"Idempotency-Key": "k-409",
                                                       "If-Match": '"v1"'}))
    assert data["version"] == 2 and data["items"][0]["quantity"] == 2


def test_idempotency_on_delete(server):
    envelope(server.add(123, 1001, 1))
    envelope(server.add(123, 1002, 1))
    h = {"Idempotency-Key": "del-1"}
    r1 = server.remove(123, 1001, headers=h)
    envelope(r1)
    r2 = server.remove(123, 1001, headers=h)  # would be a 404 if applied again
    assert r2.status_code == 200 and r2.content == r1.content
    assert server.cart(123)["version"] == 3


# --- menu endpoint ---------------------------------------------------------------


def test_menu_of_table(server):
    r = server.request("GET", "/store/order/menu/123")
    data = envelope(r)
    assert list(data.keys())[:2] == ["table", "cuisines"]
    assert data["table"] == TABLES[123]
    assert list(data["table"].keys()) == ["tableId", "tableNumber", "storeId"]
    want = [DISHES[c] for c in sorted(c for c in DISHES if DISHES[c]["storeId"] == 1)]
    assert len(want) >= 101
    for dish in data["cuisines"]:
        assert list(dish.keys())[:len(MENU_DISH_KEYS)] == MENU_DISH_KEYS
    assert [{k: d[k] for k in MENU_DISH_KEYS} for d in data["cuisines"]] == want
    raw = r.content.decode("utf-8")
    assert ('{"cuisineId":1001,"storeId":1,"cuisineName":"宫保鸡丁","cuisineType":1,'
            '"cuisineImage":"https://example.com/1001.jpg","unitPrice":38.00,"available":true}'
            ) in raw
    assert '"cuisineId":1020,' in raw and '"unitPrice":168.00,"available":false}' in raw
    assert '"unitPrice":0.10' in raw
    assert_money_two_decimals(raw)


def test_menu_of_other_store_table(server):
    data = envelope(server.request("GET", "/store/order/menu/200"))
    assert data["table"] == {"tableId": 200, "tableNumber": "B01", "storeId": 2}
    assert [{k: d[k] for k in MENU_DISH_KEYS} for d in data["cuisines"]] == [DISHES[2001]]


def test_menu_unknown_table(server):
    error(server.request("GET", "/store/order/menu/99999"), 404)
    error(server.request("GET", "/store/order/menu/abc"), 400)


# --- decisions recorded in docs/api.md ----------------------------------------------


def test_mutation_answers_carry_etag(server):
    r = server.add(123, 1001, 1)
    envelope(r)
    assert r.headers.get("ETag") == '"v1"'
    r = server.update(123, 1001, 1)  # unchanged: same tag
    envelope(r)
    assert r.headers.get("ETag") == '"v1"'
    r = server.clear(123)
    envelope(r)
    assert r.headers.get("ETag") == '"v2"'


def test_if_match_star_and_weak(server):
    assert envelope(server.add(123, 1001, 1, headers={"If-Match": "*"}))["version"] == 1
    assert envelope(server.add(123, 1001, 1, headers={"If-Match": 'W/"v1"'}))["version"] == 2
    error(server.add(123, 1001, 1, headers={"If-Match": 'W/"v1"'}), 409)


def test_if_match_malformed_is_400(server):
    envelope(server.add(123, 1001, 1))
    before = server.cart_raw(123)
    for bad in ("v1", '"1"', '"vx"', "garbage"):
        error(server.add(123, 1001, 1, headers={"If-Match": bad}), 400, "If-Match")
    assert server.cart_raw(123) == before


def test_bad_identity_is_400(server):
    for h, word in (({"X-User-Id": "abc"}, "X-User-Id"), ({"X-User-Id": "0"}, "X-User-Id"),
                    ({"X-User-Id": "2147483648"}, "X-User-Id"),
                    ({"X-User-Phone": "1" * 33}, "X-User-Phone")):
        error(server.add(123, 1001, 1, headers=h), 400, word)
    d = envelope(server.add(123, 1001, 1, headers={"X-User-Phone": "1" * 32}))
    assert d["items"][0]["addUserPhone"] == "1" * 32 and d["version"] == 1
