"""Durability of the SQLite store (SPEC §3, §7, §8): an answered change
survives kill -9 and restarts; SIGTERM exits 0 with nothing lost."""

import pytest

from support import cart_view, envelope, error, expected_cart, expected_item


def make_changes(s):
    """Several answered changes on two tables; returns the last cart data of each."""
    envelope(s.add(123, 1001, 2, remark="不要花生",
                   headers={"X-User-Id": "100", "X-User-Phone": "13800138000"}))
    envelope(s.add(123, 1011, 1))
    envelope(s.add(123, 1012, 1))
    envelope(s.add(123, 1013, 1))
    envelope(s.update(123, 1001, 5))
    envelope(s.remove(123, 1012))
    last123 = envelope(s.add(123, 1030, 1, params={"userId": "101", "phone": "13900139000"}))
    envelope(s.add(124, 1002, 3))
    last124 = envelope(s.add(124, 1002, 1))
    return last123, last124


def test_changes_survive_kill9(start_server):
    s = start_server()
    last123, last124 = make_changes(s)
    raw123 = s.cart_raw(123)
    assert last123["version"] == 7 and last124["version"] == 2
    assert cart_view(last123) == expected_cart(123, [
        expected_item(1001, 5, 100, "13800138000", "不要花生",
                      shares=[{"userId": 100, "quantity": 2}, {"userId": None, "quantity": 3}]),
        expected_item(1011, 1), expected_item(1013, 1),
        expected_item(1030, 1, 101, "13900139000")], 7)
    s.kill9()
    s2 = start_server(db=s.db)
    assert s2.cart(123) == last123
    assert s2.cart(124) == last124
    assert s2.cart_raw(123) == raw123
    r = s2.get_cart(123)
    assert r.headers["ETag"] == '"v7"'
    # and it goes on from there
    assert envelope(s2.add(123, 1001, 1))["version"] == 8


def test_kill9_right_after_each_answer(start_server):
    s = start_server()
    for n in range(1, 4):
        d = envelope(s.add(123, 1001, 1))
        assert d["version"] == n
        s.kill9()
        s = start_server(db=s.db)
        got = s.cart(123)
        assert got == d
    assert s.cart(123)["items"][0]["quantity"] == 3


def test_clear_survives_kill9(start_server):
    s = start_server()
    envelope(s.add(123, 1001, 2))
    cleared = envelope(s.clear(123))
    s.kill9()
    s2 = start_server(db=s.db)
    assert s2.cart(123) == cleared
    assert cleared["items"] == [] and cleared["version"] == 2


def test_sigterm_exits_zero_and_keeps_everything(start_server):
    s = start_server()
    last123, last124 = make_changes(s)
    s.stop_and_check()
    s2 = start_server(db=s.db)
    assert s2.cart(123) == last123
    assert s2.cart(124) == last124


def test_restart_without_menu_flag_keeps_menu(start_server):
    s = start_server()
    envelope(s.add(123, 1040, 1))
    s.stop_and_check()
    s2 = start_server(db=s.db, menu=None)  # the menu is in the database now
    d = envelope(s2.request("GET", "/store/order/menu/123"))
    assert d["table"] == {"tableId": 123, "tableNumber": "A01", "storeId": 1}
    assert len(d["cuisines"]) == 109
    assert s2.cart(123)["items"] == [expected_item(1040, 1)]
    error(s2.add(123, 1020, 1), 400)   # still sold out
    error(s2.add(123, 2001, 1), 404)   # still another store's dish


@pytest.mark.parametrize("stop", ["sigterm", "kill9"])
def test_version_zero_table_stays_untouched(start_server, stop):
    s = start_server()
    envelope(s.add(123, 1001, 1))
    s.stop_and_check() if stop == "sigterm" else s.kill9()
    s2 = start_server(db=s.db)
    d = s2.cart(124)
    assert d["version"] == 0 and d["updatedAt"] is None and d["items"] == []

