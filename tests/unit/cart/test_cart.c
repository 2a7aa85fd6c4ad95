#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/cart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1704067200000LL

static const tc_cart_limits lim = TC_CART_LIMITS_DEFAULT;

/* Store 1 (tables 123, 124) and store 2 (table 200), with a few dishes. */
static tc_menu *make_menu(void)
{
    tc_menu *m = tc_menu_new();
    tc_store_info s1 = {1, "Demo Kitchen"}, s2 = {2, "Other"};
    tc_menu_add_store(m, &s1);
    tc_menu_add_store(m, &s2);
    tc_table t1 = {123, "A01", 1}, t2 = {124, "A02", 1}, t3 = {200, "B01", 2};
    tc_menu_add_table(m, &t1);
    tc_menu_add_table(m, &t2);
    tc_menu_add_table(m, &t3);
    tc_cuisine dishes[] = {
        {1001, 1, "宫保鸡丁", 1, "https://example.com/image.jpg", 3800, true, NULL},
        {1002, 1, "米饭", 1, NULL, 10, true, NULL},
        {1003, 1, "Tea", 1, NULL, 10, true, NULL},
        {1004, 1, "Cola", 1, NULL, 10, true, NULL},
        {1005, 1, "夫妻肺片", 1, NULL, 3600, false, NULL},
        {1006, 1, "Gold", 1, NULL, 9999999999, true, NULL},
        {2001, 1, "双人套餐", 2, "https://example.com/set.jpg", 12850, true, NULL},
        {3001, 2, "Noodles", 1, NULL, 1900, true, NULL},
    };
    for (size_t i = 0; i < sizeof dishes / sizeof dishes[0]; i++)
        tc_menu_add_cuisine(m, &dishes[i]);
    /* 120 cheap dishes for the line limit. */
    for (int32_t id = 5000; id < 5120; id++) {
        tc_cuisine c = {id, 1, "Dim sum", 1, NULL, 100, true, NULL};
        tc_menu_add_cuisine(m, &c);
    }
    tc_menu_freeze(m);
    return m;
}

typedef struct {
    tc_menu *menu;
    tc_cart *cart;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->menu = make_menu();
    f->cart = tc_cart_new(tc_menu_table(f->menu, 123));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tc_cart_free(f->cart);
    tc_menu_free(f->menu);
    free(f);
    return 0;
}

static char *to_json(fixture *f)
{
    tc_buf b = TC_BUF_INIT;
    tc_cart_to_json(f->cart, tc_menu_table(f->menu, tc_cart_table_id(f->cart)), &b);
    tc_buf_cstr(&b);
    return b.base;
}

static void expect_json(fixture *f, const char *want)
{
    char *got = to_json(f);
    assert_string_equal(got, want);
    free(got);
}

static void expect_json_contains(fixture *f, const char *part)
{
    char *got = to_json(f);
    if (strstr(got, part) == NULL) fail_msg("%s lacks %s", got, part);
    free(got);
}

static tc_op op_add(int32_t cuisine, int32_t qty, const char *remark)
{
    tc_op op = {.kind = TC_OP_ADD,
                .table_id = 123,
                .cuisine_id = cuisine,
                .quantity = qty,
                .remark = remark,
                .expect_version = -1};
    return op;
}

static tc_op op_of(tc_op_kind kind, int32_t cuisine, int32_t qty)
{
    tc_op op = {.kind = kind,
                .table_id = 123,
                .cuisine_id = cuisine,
                .quantity = qty,
                .expect_version = -1};
    return op;
}

static void apply_ok(fixture *f, const tc_op *op, int64_t now)
{
    tc_errmsg err = {0};
    int64_t v = tc_cart_version(f->cart);
    int rc = tc_cart_apply(f->cart, op, f->menu, &lim, now, &err);
    if (rc != 0) fail_msg("apply failed (%d): %s", rc, err.text);
    assert_int_equal(tc_cart_version(f->cart), v + 1);
    assert_int_equal(tc_cart_updated_at(f->cart), now);
}

/* The op is refused with code and message, and the cart is byte for byte
 * what it was. */
static void apply_refused(fixture *f, const tc_op *op, int code, const char *msg)
{
    char *before = to_json(f);
    tc_errmsg err = {0};
    assert_int_equal(tc_cart_apply(f->cart, op, f->menu, &lim, NOW + 999, &err), code);
    assert_string_equal(err.text, msg);
    char *after = to_json(f);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void apply_unchanged(fixture *f, const tc_op *op)
{
    char *before = to_json(f);
    tc_errmsg err = {0};
    assert_int_equal(tc_cart_apply(f->cart, op, f->menu, &lim, NOW + 999, &err), TC_UNCHANGED);
    char *after = to_json(f);
    assert_string_equal(after, before);
    free(before);
    free(after);
}

static void test_empty_cart(void **state)
{
    fixture *f = *state;
    assert_int_equal(tc_cart_table_id(f->cart), 123);
    assert_int_equal(tc_cart_version(f->cart), 0);
    assert_int_equal(tc_cart_updated_at(f->cart), -1);
    assert_int_equal(tc_cart_item_count(f->cart), 0);
    assert_null(tc_cart_item_at(f->cart, 0));
    assert_int_equal(tc_cart_total_amount(f->cart), 0);
    assert_int_equal(tc_cart_total_quantity(f->cart), 0);
    expect_json(f, "{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1,\"items\":[],"
                   "\"totalAmount\":0.00,\"totalQuantity\":0,\"version\":0,\"updatedAt\":null}");
}

/* The seed's example DTO, field for field. */
static void test_add_seed_example(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1001, 2, "不要花生");
    op.who.has_user_id = true;
    op.who.user_id = 100;
    op.who.phone = "13800138000";
    apply_ok(f, &op, NOW);
    expect_json(f, "{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1,\"items\":[{"
                   "\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
                   "\"cuisineImage\":\"https://example.com/image.jpg\",\"unitPrice\":38.00,"
                   "\"quantity\":2,\"subtotalAmount\":76.00,\"addUserId\":100,"
                   "\"addUserPhone\":\"13800138000\",\"remark\":\"不要花生\","
                   "\"shares\":[{\"userId\":100,\"quantity\":2}],\"remarkUserId\":100}],"
                   "\"totalAmount\":76.00,\"totalQuantity\":2,\"version\":1,"
                   "\"updatedAt\":1704067200000}");
    const tc_cart_item *it = tc_cart_item_at(f->cart, 0);
    assert_int_equal(it->unit_price, 3800);
    assert_int_equal(tc_cart_total_amount(f->cart), 7600);
}

static void test_add_anonymous_nulls(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1002, 1, NULL);
    apply_ok(f, &op, 5);
    expect_json(f, "{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1,\"items\":[{"
                   "\"cuisineId\":1002,\"cuisineName\":\"米饭\",\"cuisineType\":1,"
                   "\"cuisineImage\":null,\"unitPrice\":0.10,\"quantity\":1,"
                   "\"subtotalAmount\":0.10,\"addUserId\":null,\"addUserPhone\":null,"
                   "\"remark\":null,\"shares\":[{\"userId\":null,\"quantity\":1}],"
                   "\"remarkUserId\":null}],\"totalAmount\":0.10,\"totalQuantity\":1,\"version\":1,"
                   "\"updatedAt\":5}");
}

static void test_three_dimes(void **state)
{
    fixture *f = *state;
    for (int32_t id = 1002; id <= 1004; id++) {
        tc_op op = op_add(id, 1, NULL);
        apply_ok(f, &op, NOW);
    }
    assert_int_equal(tc_cart_total_amount(f->cart), 30);
    char *json = to_json(f);
    assert_non_null(strstr(json, "\"totalAmount\":0.30,\"totalQuantity\":3,\"version\":3"));
    free(json);
}

static void test_add_merges_line(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1001, 1, "少辣");
    op.who.has_user_id = true;
    op.who.user_id = 100;
    op.who.phone = "13800138000";
    apply_ok(f, &op, NOW);

    /* Another diner adds the same dish without a remark: quantity adds up,
     * the remark and the first adder stay. */
    tc_op op2 = op_add(1001, 2, NULL);
    op2.who.has_user_id = true;
    op2.who.user_id = 200;
    op2.who.phone = "13900000000";
    apply_ok(f, &op2, NOW + 1);
    assert_int_equal(tc_cart_item_count(f->cart), 1);
    const tc_cart_item *it = tc_cart_item_at(f->cart, 0);
    assert_int_equal(it->quantity, 3);
    assert_string_equal(it->remark, "少辣");
    assert_int_equal(it->add_user_id, 100);
    assert_string_equal(it->add_user_phone, "13800138000");

    /* A non-null remark replaces the old one, even an empty one. */
    tc_op op3 = op_add(1001, 1, "不要葱");
    apply_ok(f, &op3, NOW + 2);
    assert_string_equal(tc_cart_item_at(f->cart, 0)->remark, "不要葱");
    tc_op op4 = op_add(1001, 1, "");
    apply_ok(f, &op4, NOW + 3);
    assert_string_equal(tc_cart_item_at(f->cart, 0)->remark, "");
    assert_int_equal(tc_cart_item_at(f->cart, 0)->quantity, 5);
    assert_int_equal(tc_cart_version(f->cart), 4);
    assert_int_equal(tc_cart_total_amount(f->cart), 19000);
}

static void test_quantity_limits(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1001, 0, NULL);
    apply_refused(f, &op, TC_EINVAL, "quantity must be between 1 and 99");
    op.quantity = 100;
    apply_refused(f, &op, TC_EINVAL, "quantity must be between 1 and 99");
    op.quantity = -5;
    apply_refused(f, &op, TC_EINVAL, "quantity must be between 1 and 99");
    op.quantity = 99;
    apply_ok(f, &op, NOW);
    op.quantity = 1;
    apply_refused(f, &op, TC_EINVAL, "quantity would exceed 99 for 宫保鸡丁");

    tc_op up = op_of(TC_OP_UPDATE, 1001, 98);
    apply_ok(f, &up, NOW + 1);
    op.quantity = 2;
    apply_refused(f, &op, TC_EINVAL, "quantity would exceed 99 for 宫保鸡丁");
    op.quantity = 1;
    apply_ok(f, &op, NOW + 2);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->quantity, 99);
    char *json = to_json(f);
    assert_non_null(strstr(json, "\"quantity\":99,\"subtotalAmount\":3762.00"));
    free(json);

    up.quantity = 100;
    apply_refused(f, &up, TC_EINVAL, "quantity must be between 0 and 99");
    up.quantity = -1;
    apply_refused(f, &up, TC_EINVAL, "quantity must be between 0 and 99");
}

static void test_menu_rules(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(999, 1, NULL);
    apply_refused(f, &op, TC_ENOTFOUND, "cuisine 999 not found");
    op.cuisine_id = 3001; /* exists, but at another restaurant */
    apply_refused(f, &op, TC_ENOTFOUND, "cuisine 3001 not found");
    op.cuisine_id = 1005;
    apply_refused(f, &op, TC_ESOLDOUT, "夫妻肺片 is sold out");
    assert_int_equal(tc_cart_version(f->cart), 0);

    /* A set meal, name and price from the menu. */
    op.cuisine_id = 2001;
    apply_ok(f, &op, NOW);
    const tc_cart_item *it = tc_cart_item_at(f->cart, 0);
    assert_int_equal(it->cuisine_type, 2);
    assert_string_equal(it->cuisine_name, "双人套餐");
    assert_string_equal(it->cuisine_image, "https://example.com/set.jpg");
    assert_int_equal(it->unit_price, 12850);
}

static void test_unknown_table(void **state)
{
    fixture *f = *state;
    tc_cart_free(f->cart);
    tc_table ghost = {999, "Z9", 1};
    f->cart = tc_cart_new(&ghost);
    tc_op op = op_add(1001, 1, NULL);
    op.table_id = 999;
    tc_errmsg err;
    assert_int_equal(tc_cart_apply(f->cart, &op, f->menu, &lim, NOW, &err), TC_ENOTFOUND);
    assert_string_equal(err.text, "table 999 not found");
    assert_int_equal(tc_cart_version(f->cart), 0);

    tc_cart_free(f->cart);
    f->cart = tc_cart_new(tc_menu_table(f->menu, 123));
    op.table_id = 124; /* an op for another table than the cart's */
    apply_refused(f, &op, TC_EINVAL, "tableId 124 does not match the cart of table 123");
}

static void test_remark_rules(void **state)
{
    fixture *f = *state;
    char remark[201 * 3 + 1];
    remark[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(remark, "辣");
    tc_op op = op_add(1001, 1, remark);
    apply_ok(f, &op, NOW);
    assert_string_equal(tc_cart_item_at(f->cart, 0)->remark, remark);

    strcat(remark, "辣"); /* 201 */
    op.remark = remark;
    apply_refused(f, &op, TC_EINVAL, "remark must be at most 200 characters");
    op.cuisine_id = 1002; /* on a new line too */
    apply_refused(f, &op, TC_EINVAL, "remark must be at most 200 characters");

    char ascii[202];
    memset(ascii, 'x', 201);
    ascii[201] = '\0';
    op.remark = ascii;
    apply_refused(f, &op, TC_EINVAL, "remark must be at most 200 characters");
    ascii[200] = '\0';
    apply_ok(f, &op, NOW + 1);

    op.remark = "bad \xC3\x28 byte";
    apply_refused(f, &op, TC_EINVAL, "remark must be valid UTF-8");
    op.remark = "\xED\xA0\x80"; /* a surrogate */
    apply_refused(f, &op, TC_EINVAL, "remark must be valid UTF-8");
}

static void test_remark_escaped(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1002, 1, "say \"hi\"\n\\ok");
    apply_ok(f, &op, NOW);
    char *json = to_json(f);
    assert_non_null(strstr(json, "\"remark\":\"say \\\"hi\\\"\\n\\\\ok\","));
    free(json);
}

static void test_line_limit(void **state)
{
    fixture *f = *state;
    for (int32_t id = 5000; id < 5100; id++) {
        tc_op op = op_add(id, 1, NULL);
        apply_ok(f, &op, NOW);
    }
    assert_int_equal(tc_cart_item_count(f->cart), 100);
    tc_op op = op_add(5100, 1, NULL);
    apply_refused(f, &op, TC_ELIMIT, "cart already has 100 lines");
    /* An existing line can still grow. */
    op.cuisine_id = 5050;
    apply_ok(f, &op, NOW);
    assert_int_equal(tc_cart_item_at(f->cart, 50)->quantity, 2);
    assert_int_equal(tc_cart_total_quantity(f->cart), 101);
    assert_int_equal(tc_cart_total_amount(f->cart), 10100);
    assert_int_equal(tc_cart_version(f->cart), 101);
}

static void test_update_remove_clear(void **state)
{
    fixture *f = *state;
    tc_op up = op_of(TC_OP_UPDATE, 1001, 3);
    apply_refused(f, &up, TC_ENOTFOUND, "宫保鸡丁 is not in the cart");
    tc_op rm = op_of(TC_OP_REMOVE, 1001, 0);
    apply_refused(f, &rm, TC_ENOTFOUND, "宫保鸡丁 is not in the cart");
    tc_op clear = op_of(TC_OP_CLEAR, 0, 0);
    apply_unchanged(f, &clear); /* clearing an empty cart */
    assert_int_equal(tc_cart_version(f->cart), 0);
    assert_int_equal(tc_cart_updated_at(f->cart), -1);

    int32_t ids[] = {1001, 1002, 1003, 1004};
    for (size_t i = 0; i < 4; i++) {
        tc_op op = op_add(ids[i], 1, NULL);
        apply_ok(f, &op, NOW + (int64_t)i);
    }
    apply_ok(f, &up, NOW + 10);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->quantity, 3);
    apply_unchanged(f, &up); /* same quantity again */
    assert_int_equal(tc_cart_version(f->cart), 5);
    assert_int_equal(tc_cart_updated_at(f->cart), NOW + 10);

    /* Quantity 0 removes; the others keep their order. */
    tc_op zero = op_of(TC_OP_UPDATE, 1002, 0);
    apply_ok(f, &zero, NOW + 11);
    assert_int_equal(tc_cart_item_count(f->cart), 3);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->cuisine_id, 1001);
    assert_int_equal(tc_cart_item_at(f->cart, 1)->cuisine_id, 1003);
    assert_int_equal(tc_cart_item_at(f->cart, 2)->cuisine_id, 1004);
    apply_refused(f, &zero, TC_ENOTFOUND, "米饭 is not in the cart");

    rm.cuisine_id = 1003;
    apply_ok(f, &rm, NOW + 12);
    assert_int_equal(tc_cart_item_count(f->cart), 2);
    assert_int_equal(tc_cart_item_at(f->cart, 1)->cuisine_id, 1004);
    apply_refused(f, &rm, TC_ENOTFOUND, "Tea is not in the cart");

    apply_ok(f, &clear, NOW + 13);
    assert_int_equal(tc_cart_version(f->cart), 8);
    expect_json(f, "{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1,\"items\":[],"
                   "\"totalAmount\":0.00,\"totalQuantity\":0,\"version\":8,"
                   "\"updatedAt\":1704067200013}");
    apply_unchanged(f, &clear);
}

static void test_first_added_order(void **state)
{
    fixture *f = *state;
    int32_t ids[] = {1003, 1001, 2001, 1002};
    for (size_t i = 0; i < 4; i++) {
        tc_op op = op_add(ids[i], 1, NULL);
        apply_ok(f, &op, NOW);
    }
    tc_op again = op_add(1003, 2, NULL);
    apply_ok(f, &again, NOW);
    tc_op up = op_of(TC_OP_UPDATE, 1001, 7);
    apply_ok(f, &up, NOW);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(tc_cart_item_at(f->cart, i)->cuisine_id, ids[i]);
    /* Removed and added back: it goes to the end. */
    tc_op rm = op_of(TC_OP_REMOVE, 1003, 0);
    apply_ok(f, &rm, NOW);
    tc_op back = op_add(1003, 1, NULL);
    apply_ok(f, &back, NOW);
    assert_int_equal(tc_cart_item_at(f->cart, 3)->cuisine_id, 1003);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->cuisine_id, 1001);
}

static void test_expect_version(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 5; i++) {
        tc_op op = op_add(1002, 1, NULL);
        apply_ok(f, &op, NOW);
    }
    tc_op op = op_add(1001, 1, NULL);
    op.expect_version = 4;
    apply_refused(f, &op, TC_ECONFLICT, "version conflict: cart is at version 5");
    /* The precondition is checked before the no-op test: a stale client
     * learns it is stale. */
    tc_op clear_stale = op_of(TC_OP_CLEAR, 0, 0);
    clear_stale.expect_version = 0;
    apply_refused(f, &clear_stale, TC_ECONFLICT, "version conflict: cart is at version 5");
    tc_op up = op_of(TC_OP_UPDATE, 1002, 5);
    up.expect_version = 5;
    apply_unchanged(f, &up);
    op.expect_version = 5;
    apply_ok(f, &op, NOW);
    assert_int_equal(tc_cart_version(f->cart), 6);
}

/* What tc_cart_check_op refuses, tc_cart_apply refuses on every cart; what
 * it passes, a cart's content decides (the store compares those answers
 * with the stored version where others write too). */
static void test_check_op(void **state)
{
    fixture *f = *state;
    tc_errmsg err = {0};
    tc_op op = op_add(1001, 0, NULL);
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_EINVAL);
    assert_string_equal(err.text, "quantity must be between 1 and 99");
    op = op_add(1001, 1, "\xff");
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_EINVAL);
    op = op_add(999, 1, NULL);
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_ENOTFOUND);
    assert_string_equal(err.text, "cuisine 999 not found");
    op.cuisine_id = 3001; /* another restaurant's */
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_ENOTFOUND);
    op.cuisine_id = 1005;
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_ESOLDOUT);
    op = op_of(TC_OP_UPDATE, 1001, 100);
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_EINVAL);
    op = op_of(99, 1001, 1);
    assert_int_equal(tc_cart_check_op(&op, f->menu, &lim, &err), TC_EINVAL);

    /* Refusals that depend on the cart pass: a line not in it, a line
     * taken past 99, If-Match, a raise of a sold-out dish's line. */
    tc_op fine[] = {op_of(TC_OP_UPDATE, 1001, 5), op_of(TC_OP_REMOVE, 1001, 0),
                    op_of(TC_OP_CLEAR, 0, 0), op_add(1001, 99, NULL), op_of(TC_OP_UPDATE, 1005, 3)};
    fine[3].expect_version = 7;
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        assert_int_equal(tc_cart_check_op(&fine[i], f->menu, &lim, &err), 0);
    apply_refused(f, &fine[0], TC_ENOTFOUND, "宫保鸡丁 is not in the cart");
    tc_op one = op_add(1001, 1, NULL);
    apply_ok(f, &one, NOW);
    fine[3].expect_version = -1;
    apply_refused(f, &fine[3], TC_EINVAL, "quantity would exceed 99 for 宫保鸡丁");
}

static void test_total_bounded(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1006, 1, NULL); /* 99999999.99 */
    apply_ok(f, &op, NOW);
    op.cuisine_id = 1002;
    apply_refused(f, &op, TC_EINVAL, "cart total would exceed 99999999.99");
    op.cuisine_id = 1006;
    apply_refused(f, &op, TC_EINVAL, "cart total would exceed 99999999.99");
    char *json = to_json(f);
    assert_non_null(strstr(json, "\"totalAmount\":99999999.99,"));
    free(json);
}

static void test_unknown_op(void **state)
{
    fixture *f = *state;
    tc_op op = op_of((tc_op_kind)42, 1001, 1);
    apply_refused(f, &op, TC_EINVAL, "unknown operation");
}

static void fill(fixture *f)
{
    tc_op op = op_add(1001, 2, "不要花生 \"x\"");
    op.who.has_user_id = true;
    op.who.user_id = 100;
    op.who.phone = "13800138000";
    apply_ok(f, &op, NOW);
    tc_op op2 = op_add(2001, 1, NULL);
    op2.who.has_user_id = true;
    op2.who.user_id = 0; /* a real id 0 is not "no id" */
    apply_ok(f, &op2, NOW + 1);
    tc_op op3 = op_add(1002, 3, NULL);
    apply_ok(f, &op3, NOW + 2);
}

static void test_json_roundtrip_and_clone(void **state)
{
    fixture *f = *state;
    fill(f);
    char *json = to_json(f);
    tc_cart *back = NULL;
    assert_int_equal(tc_cart_from_json(json, strlen(json), &back), 0);
    assert_non_null(back);
    tc_buf b = TC_BUF_INIT;
    tc_cart_to_json(back, tc_menu_table(f->menu, 123), &b);
    assert_string_equal(tc_buf_cstr(&b), json);
    assert_true(tc_cart_item_at(back, 1)->has_user_id);
    assert_int_equal(tc_cart_item_at(back, 1)->add_user_id, 0);
    assert_false(tc_cart_item_at(back, 2)->has_user_id);

    tc_cart *copy = tc_cart_clone(back);
    tc_cart_free(back);
    tc_buf_reset(&b);
    tc_cart_to_json(copy, tc_menu_table(f->menu, 123), &b);
    assert_string_equal(tc_buf_cstr(&b), json);

    /* The copy is independent. */
    tc_op op = op_of(TC_OP_CLEAR, 0, 0);
    tc_errmsg err;
    assert_int_equal(tc_cart_apply(copy, &op, f->menu, &lim, NOW, &err), 0);
    char *orig = to_json(f);
    assert_string_equal(orig, json);
    free(orig);
    tc_cart_free(copy);

    /* An empty never-touched cart round-trips too (updatedAt null). */
    tc_cart *empty = tc_cart_new(tc_menu_table(f->menu, 124));
    tc_buf_reset(&b);
    tc_cart_to_json(empty, tc_menu_table(f->menu, 124), &b);
    tc_cart_free(empty);
    assert_int_equal(tc_cart_from_json(b.base, b.len, &back), 0);
    assert_int_equal(tc_cart_updated_at(back), -1);
    assert_int_equal(tc_cart_version(back), 0);
    assert_int_equal(tc_cart_table_id(back), 124);
    tc_cart_free(back);
    tc_buf_free(&b);
    free(json);
}

/* The packed form reads back to the same cart (its JSON is the same), and
 * every shorter prefix, and every change of one byte that unpacks at all,
 * is refused or packs again to a form that reads back the same way. */
static void test_pack_roundtrip(void **state)
{
    fixture *f = *state;
    fill(f);
    tc_op more = op_add(1001, 4, NULL); /* a second diner's share of line 1 */
    more.who.has_user_id = true;
    more.who.user_id = 7;
    apply_ok(f, &more, NOW + 3);
    char *json = to_json(f);
    tc_buf pack = TC_BUF_INIT, b = TC_BUF_INIT;
    tc_cart_pack(f->cart, &pack);
    tc_cart *back = NULL;
    assert_int_equal(tc_cart_unpack(pack.base, pack.len, &back), 0);
    tc_cart_to_json(back, tc_menu_table(f->menu, 123), &b);
    assert_string_equal(tc_buf_cstr(&b), json);
    assert_int_equal(tc_cart_item_at(back, 0)->n_shares, 2);
    assert_int_equal(tc_cart_item_at(back, 0)->shares[1].user_id, 7);
    assert_int_equal(tc_cart_item_at(back, 0)->shares[1].quantity, 4);
    assert_string_equal(tc_cart_item_at(back, 0)->add_user_phone, "13800138000");
    tc_cart_free(back);

    tc_cart *sentinel = (tc_cart *)(uintptr_t)0x99, *c = sentinel;
    for (size_t n = 0; n < pack.len; n++)
        if (tc_cart_unpack(pack.base, n, &c) != TC_EINVAL) fail_msg("accepted %zu bytes", n);
    assert_ptr_equal(c, sentinel);
    tc_buf longer = TC_BUF_INIT;
    tc_buf_append(&longer, pack.base, pack.len);
    tc_buf_append(&longer, "x", 1);
    assert_int_equal(tc_cart_unpack(longer.base, longer.len, &c), TC_EINVAL);
    tc_buf_free(&longer);

    size_t accepted = 0;
    for (size_t i = 0; i < pack.len; i++)
        for (unsigned v = 0; v < 256; v += 51) {
            tc_buf m = TC_BUF_INIT, again = TC_BUF_INIT, twice = TC_BUF_INIT;
            tc_buf_append(&m, pack.base, pack.len);
            m.base[i] = (char)v;
            if (tc_cart_unpack(m.base, m.len, &c) == 0) {
                accepted++;
                tc_cart_pack(c, &again);
                tc_cart_free(c);
                assert_int_equal(tc_cart_unpack(again.base, again.len, &c), 0);
                tc_cart_pack(c, &twice);
                tc_cart_free(c);
                assert_int_equal(again.len, twice.len);
                assert_memory_equal(again.base, twice.base, again.len);
            }
            tc_buf_free(&m);
            tc_buf_free(&again);
            tc_buf_free(&twice);
        }
    /* Some bytes are free (ids, a user, letters of a name): not all refused. */
    assert_true(accepted > 0);
    tc_buf_free(&pack);
    tc_buf_free(&b);
    free(json);

    /* An empty never-touched cart too (updatedAt none). */
    tc_cart *empty = tc_cart_new(tc_menu_table(f->menu, 124));
    tc_cart_pack(empty, &pack);
    tc_cart_free(empty);
    assert_int_equal(pack.len, 26);
    assert_int_equal(tc_cart_unpack(pack.base, pack.len, &back), 0);
    assert_int_equal(tc_cart_updated_at(back), -1);
    assert_int_equal(tc_cart_table_id(back), 124);
    assert_int_equal(tc_cart_item_count(back), 0);
    tc_cart_free(back);
    tc_buf_free(&pack);
}

/* What tc_cart_from_json refuses in a line, the packed form refuses too. */
static void test_unpack_rejects(void **state)
{
    fixture *f = *state;
    tc_op op = op_add(1001, 2, "ok");
    apply_ok(f, &op, NOW);
    tc_buf pack = TC_BUF_INIT;
    tc_cart_pack(f->cart, &pack);
    /* Offsets in the one line: after "C1", table, version, updatedAt, count. */
    size_t line = 2 + 4 + 8 + 8 + 4, qty = line + 16, name = line + 37;
    struct {
        size_t at;
        unsigned char byte;
    } bad[] = {
        {0, 'X'},          /* magic */
        {2, 0},            /* table id 0 */
        {2 + 4 + 7, 0x80}, /* a negative version */
        {line + 3, 0x80},  /* a negative cuisine id */
        {qty, 0},          /* quantity 0 (shares no longer add up) */
        {qty + 4, 4},      /* unknown flags */
        {name + 4, 0},     /* a NUL in the name */
        {name + 4, 0xff},  /* not UTF-8 */
        {name, 0xff},      /* a name longer than what is left */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_buf m = TC_BUF_INIT;
        tc_buf_append(&m, pack.base, pack.len);
        m.base[bad[i].at] = (char)bad[i].byte;
        tc_cart *c = NULL;
        if (tc_cart_unpack(m.base, m.len, &c) != TC_EINVAL) fail_msg("accepted case %zu", i);
        tc_buf_free(&m);
    }
    tc_buf_free(&pack);
}

static void expect_from_json_bad(const char *text)
{
    tc_cart *sentinel = (tc_cart *)(uintptr_t)0x99;
    tc_cart *c = sentinel;
    if (tc_cart_from_json(text, strlen(text), &c) != TC_EINVAL) fail_msg("accepted: %s", text);
    assert_ptr_equal(c, sentinel);
}

#define ITEM(id, qty)                                                                              \
    "{\"cuisineId\":" #id ",\"cuisineName\":\"x\",\"cuisineType\":1,\"cuisineImage\":null,"        \
    "\"unitPrice\":1.00,\"quantity\":" #qty ",\"subtotalAmount\":1.00,\"addUserId\":null,"         \
    "\"addUserPhone\":null,\"remark\":null}"
#define CART(items) "{\"tableId\":123,\"items\":[" items "],\"version\":3,\"updatedAt\":5}"

static void test_from_json_rejects(void **state)
{
    (void)state;
    tc_cart *c;
    const char *good = CART(ITEM(1, 2) "," ITEM(2, 1));
    assert_int_equal(tc_cart_from_json(good, strlen(good), &c), 0);
    assert_int_equal(tc_cart_total_amount(c), 300);
    assert_int_equal(tc_cart_total_quantity(c), 3);
    tc_cart_free(c);

    expect_from_json_bad("");
    expect_from_json_bad("[]");
    expect_from_json_bad("{\"tableId\":123}");
    expect_from_json_bad(CART(ITEM(1, 2) "," ITEM(1, 1))); /* one line per dish */
    expect_from_json_bad(CART(ITEM(1, 0)));
    expect_from_json_bad(CART(ITEM(0, 1)));
    expect_from_json_bad(CART(ITEM(1, 2) ",7"));
    expect_from_json_bad("{\"tableId\":123,\"items\":[],\"version\":-1,\"updatedAt\":null}");
    expect_from_json_bad("{\"tableId\":0,\"items\":[],\"version\":1,\"updatedAt\":null}");
    expect_from_json_bad("{\"tableId\":1,\"items\":[],\"version\":1,\"updatedAt\":\"x\"}");
    expect_from_json_bad("{\"tableId\":1,\"items\":{},\"version\":1,\"updatedAt\":null}");
    expect_from_json_bad("{\"tableId\":1,\"items\":[{\"cuisineId\":1,\"cuisineName\":\"x\","
                         "\"cuisineType\":1,\"unitPrice\":1.001,\"quantity\":1}],\"version\":1,"
                         "\"updatedAt\":null}");
    /* A total past TC_MONEY_MAX cannot be loaded. */
    expect_from_json_bad("{\"tableId\":1,\"items\":[{\"cuisineId\":1,\"cuisineName\":\"x\","
                         "\"cuisineType\":1,\"unitPrice\":99999999.99,\"quantity\":2}],"
                         "\"version\":1,\"updatedAt\":null}");
}

/* --- shares and remarks (beyond the seed, docs/api.md) --------------------- */

static tc_identity user(int64_t id)
{
    return (tc_identity){true, id, NULL};
}

static const tc_identity anon = {false, 0, NULL};

/* The shares of the line at index i as "101:3,102:1" ("-" for no user). */
static void expect_shares(fixture *f, size_t i, const char *want)
{
    const tc_cart_item *it = tc_cart_item_at(f->cart, i);
    char got[256] = "";
    int32_t sum = 0;
    for (size_t k = 0; k < it->n_shares; k++) {
        char one[40];
        if (it->shares[k].has_user_id)
            snprintf(one, sizeof one, "%s%lld:%d", k ? "," : "", (long long)it->shares[k].user_id,
                     (int)it->shares[k].quantity);
        else
            snprintf(one, sizeof one, "%s-:%d", k ? "," : "", (int)it->shares[k].quantity);
        strcat(got, one);
        sum += it->shares[k].quantity;
    }
    assert_string_equal(got, want);
    assert_int_equal(sum, it->quantity);
}

static void add_as(fixture *f, tc_identity who, int32_t cuisine, int32_t qty, const char *remark,
                   int64_t now)
{
    tc_op op = op_add(cuisine, qty, remark);
    op.who = who;
    apply_ok(f, &op, now);
}

static tc_op update_as(tc_identity who, int32_t cuisine, int32_t qty)
{
    tc_op op = op_of(TC_OP_UPDATE, cuisine, qty);
    op.who = who;
    return op;
}

static void test_shares(void **state)
{
    fixture *f = *state;
    add_as(f, user(101), 1001, 2, NULL, NOW);
    add_as(f, user(102), 1001, 1, NULL, NOW + 1);
    add_as(f, user(103), 1001, 2, NULL, NOW + 2);
    add_as(f, user(101), 1001, 1, NULL, NOW + 3);
    /* One share per diner, in the order each first added. */
    expect_shares(f, 0, "101:3,102:1,103:2");
    assert_int_equal(tc_cart_item_at(f->cart, 0)->add_user_id, 101);

    /* 102 lowers 6 to 4: its own share goes first, then the latest other's. */
    tc_op op = update_as(user(102), 1001, 4);
    apply_ok(f, &op, NOW + 4);
    expect_shares(f, 0, "101:3,103:1");
    /* Raising adds to the caller's share, a new one last. */
    op = update_as(anon, 1001, 6);
    apply_ok(f, &op, NOW + 5);
    expect_shares(f, 0, "101:3,103:1,-:2");
    /* 101 lowers 6 to 1: its 3, then 2 from the most recent others. */
    op = update_as(user(101), 1001, 1);
    apply_ok(f, &op, NOW + 6);
    expect_shares(f, 0, "103:1");
    /* The line's first adder stays the seed's addUserId. */
    assert_int_equal(tc_cart_item_at(f->cart, 0)->add_user_id, 101);
    /* Someone without a share lowering a line takes from the latest shares. */
    add_as(f, user(104), 1001, 3, NULL, NOW + 7);
    op = update_as(user(105), 1001, 2);
    apply_ok(f, &op, NOW + 8);
    expect_shares(f, 0, "103:1,104:1");
    expect_json_contains(f, "\"shares\":[{\"userId\":103,\"quantity\":1},"
                            "{\"userId\":104,\"quantity\":1}]");

    /* The shares survive the stored form and a clone. */
    char *json = to_json(f);
    tc_cart *back = NULL;
    assert_int_equal(tc_cart_from_json(json, strlen(json), &back), 0);
    tc_cart *old = f->cart;
    f->cart = back;
    expect_shares(f, 0, "103:1,104:1");
    f->cart = old;
    tc_cart_free(back);
    free(json);
}

static void test_shares_from_old_rows(void **state)
{
    fixture *f = *state;
    /* A line stored before shares existed is all its first adder's. */
    const char *old = "{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1,\"items\":["
                      "{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
                      "\"cuisineImage\":null,\"unitPrice\":38.00,\"quantity\":3,"
                      "\"subtotalAmount\":114.00,\"addUserId\":100,\"addUserPhone\":null,"
                      "\"remark\":\"微辣\"}],\"totalAmount\":114.00,\"totalQuantity\":3,"
                      "\"version\":4,\"updatedAt\":5}";
    tc_cart_free(f->cart);
    assert_int_equal(tc_cart_from_json(old, strlen(old), &f->cart), 0);
    expect_shares(f, 0, "100:3");
    assert_false(tc_cart_item_at(f->cart, 0)->has_remark_user);
    /* Shares that do not sum to the quantity are not a cart of ours. */
    char *bad = to_json(f);
    char *at = strstr(bad, "\"quantity\":3}]");
    assert_non_null(at);
    at[11] = '2';
    tc_cart *c = NULL;
    assert_int_equal(tc_cart_from_json(bad, strlen(bad), &c), TC_EINVAL);
    assert_null(c);
    at[11] = '3';
    assert_int_equal(tc_cart_from_json(bad, strlen(bad), &c), 0);
    tc_cart_free(c);
    free(bad);

    /* A stored line over the add limit (the fuzzer's find): its one share
     * holds the whole quantity and reads back. */
    const char *big =
        "{\"tableId\":123,\"items\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\","
        "\"cuisineType\":1,\"unitPrice\":38.00,\"quantity\":150,\"addUserId\":100}],"
        "\"version\":4,\"updatedAt\":5}";
    tc_cart_free(f->cart);
    assert_int_equal(tc_cart_from_json(big, strlen(big), &f->cart), 0);
    expect_shares(f, 0, "100:150");
    char *again = to_json(f);
    assert_int_equal(tc_cart_from_json(again, strlen(again), &c), 0);
    tc_cart_free(c);
    free(again);
}

static void test_remarks_beyond_the_seed(void **state)
{
    fixture *f = *state;
    add_as(f, user(101), 1001, 1, "微辣", NOW);
    const tc_cart_item *it = tc_cart_item_at(f->cart, 0);
    assert_true(it->has_remark_user);
    assert_int_equal(it->remark_user_id, 101);
    /* An add without a remark keeps the line's (the page's + button). */
    add_as(f, user(102), 1001, 1, NULL, NOW + 1);
    it = tc_cart_item_at(f->cart, 0);
    assert_string_equal(it->remark, "微辣");
    assert_int_equal(it->remark_user_id, 101);
    /* A non-null remark replaces it, and says who wrote it. */
    add_as(f, user(102), 1001, 1, "不辣", NOW + 2);
    it = tc_cart_item_at(f->cart, 0);
    assert_string_equal(it->remark, "不辣");
    assert_int_equal(it->remark_user_id, 102);
    assert_int_equal(it->quantity, 3);

    /* A remark-only update: the remark, no portion, a new version. */
    tc_op op = update_as(user(101), 1001, 0);
    op.keep_quantity = true;
    op.remark = "多放醋";
    int64_t v = tc_cart_version(f->cart);
    apply_ok(f, &op, NOW + 3);
    it = tc_cart_item_at(f->cart, 0);
    assert_int_equal(tc_cart_version(f->cart), v + 1);
    assert_int_equal(it->quantity, 3);
    assert_string_equal(it->remark, "多放醋");
    assert_int_equal(it->remark_user_id, 101);
    expect_shares(f, 0, "101:1,102:2");
    /* The same remark again changes nothing. */
    apply_unchanged(f, &op);
    /* Both at once. */
    op = update_as(user(102), 1001, 5);
    op.remark = "少盐";
    apply_ok(f, &op, NOW + 4);
    it = tc_cart_item_at(f->cart, 0);
    assert_int_equal(it->quantity, 5);
    assert_string_equal(it->remark, "少盐");
    assert_int_equal(it->remark_user_id, 102);
    /* "" clears it, and who wrote it with it. */
    op = update_as(user(101), 1001, 0);
    op.keep_quantity = true;
    op.remark = "";
    apply_ok(f, &op, NOW + 5);
    it = tc_cart_item_at(f->cart, 0);
    assert_null(it->remark);
    assert_false(it->has_remark_user);
    expect_json_contains(f, "\"remark\":null,");
    expect_json_contains(f, "\"remarkUserId\":null}");
    apply_unchanged(f, &op);
    /* An anonymous remark has no writer. */
    op = update_as(anon, 1001, 0);
    op.keep_quantity = true;
    op.remark = "打包";
    apply_ok(f, &op, NOW + 6);
    assert_false(tc_cart_item_at(f->cart, 0)->has_remark_user);
    /* The limits of add; a line not in the cart. */
    char long_remark[TC_CART_MAX_REMARK * 3 + 4] = "";
    for (int i = 0; i <= TC_CART_MAX_REMARK; i++)
        strcat(long_remark, "长");
    op.remark = long_remark;
    apply_refused(f, &op, TC_EINVAL, "remark must be at most 200 characters");
    op.remark = "x";
    op.cuisine_id = 1002;
    apply_refused(f, &op, TC_ENOTFOUND, "米饭 is not in the cart");
}

static void test_changed_line_is_repriced(void **state)
{
    fixture *f = *state;
    add_as(f, user(101), 1001, 1, NULL, NOW);
    add_as(f, user(101), 1002, 1, NULL, NOW + 1);
    /* The menu changes: 1001 costs 40.00, 1002 is sold out. */
    tc_menu *m = tc_menu_new();
    tc_store_info s1 = {1, "Demo Kitchen"};
    tc_menu_add_store(m, &s1);
    tc_table t1 = {123, "A01", 1};
    tc_menu_add_table(m, &t1);
    tc_cuisine d1 = {1001, 1, "宫保鸡丁", 1, NULL, 4000, true, NULL};
    tc_cuisine d2 = {1002, 1, "米饭", 1, NULL, 10, false, NULL};
    tc_menu_add_cuisine(m, &d1);
    tc_menu_add_cuisine(m, &d2);
    tc_menu_freeze(m);
    tc_menu *old = f->menu;
    f->menu = m;
    /* Lines keep the price they were added at until they change. */
    assert_int_equal(tc_cart_item_at(f->cart, 0)->unit_price, 3800);
    tc_op op = update_as(user(101), 1001, 2);
    apply_ok(f, &op, NOW + 2);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->unit_price, 4000);
    /* A sold-out line stays; more of it is refused, less is fine. */
    op = update_as(user(101), 1002, 2);
    apply_refused(f, &op, TC_ESOLDOUT, "米饭 is sold out");
    tc_op add = op_add(1002, 1, NULL);
    apply_refused(f, &add, TC_ESOLDOUT, "米饭 is sold out");
    assert_int_equal(tc_cart_item_count(f->cart), 2);
    f->menu = old;
    tc_menu_free(m);

    /* The table moves to another store, whose menu has neither dish: more
     * of a line is refused as an add (404), less and removal are fine. */
    m = tc_menu_new();
    tc_store_info s2 = {2, "Other Kitchen"};
    tc_menu_add_store(m, &s2);
    tc_table moved = {123, "B09", 2};
    tc_menu_add_table(m, &moved);
    tc_menu_add_cuisine(m, &d1); /* store 1's: not this table's */
    tc_menu_freeze(m);
    f->menu = m;
    op = update_as(user(101), 1001, 9);
    apply_refused(f, &op, TC_ENOTFOUND, "cuisine 1001 not found");
    add = op_add(1001, 1, NULL);
    apply_refused(f, &add, TC_ENOTFOUND, "cuisine 1001 not found");
    assert_int_equal(tc_cart_item_at(f->cart, 0)->quantity, 2);
    op = update_as(user(101), 1001, 1);
    apply_ok(f, &op, NOW + 3);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->quantity, 1);
    assert_int_equal(tc_cart_item_at(f->cart, 0)->unit_price, 4000); /* kept: no dish to price it */
    f->menu = old;
    tc_menu_free(m);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_cart),
        T(test_add_seed_example),
        T(test_add_anonymous_nulls),
        T(test_three_dimes),
        T(test_add_merges_line),
        T(test_quantity_limits),
        T(test_menu_rules),
        T(test_unknown_table),
        T(test_remark_rules),
        T(test_remark_escaped),
        T(test_line_limit),
        T(test_update_remove_clear),
        T(test_first_added_order),
        T(test_expect_version),
        T(test_check_op),
        T(test_total_bounded),
        T(test_unknown_op),
        T(test_json_roundtrip_and_clone),
        T(test_shares),
        T(test_shares_from_old_rows),
        T(test_remarks_beyond_the_seed),
        T(test_changed_line_is_repriced),
        T(test_pack_roundtrip),
        T(test_unpack_rejects),
        cmocka_unit_test(test_from_json_rejects),
    };
    return cmocka_run_group_tests_name("cart", tests, NULL, NULL);
}
