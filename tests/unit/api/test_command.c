/* test_command.c — the one command reader: the same table of fields and
 * messages for a REST body (with its query string) and a WebSocket
 * message's data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/command.h"
#include "http/router.h"
#include "support/http_req.h"

#include <string.h>

static json_t *obj(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_types_and_kinds(void **state)
{
    (void)state;
    const char *types[] = {"add_item", "update_quantity", "remove_item", "clear_cart"};
    const tc_op_kind kinds[] = {TC_OP_ADD, TC_OP_UPDATE, TC_OP_REMOVE, TC_OP_CLEAR};
    for (size_t i = 0; i < 4; i++) {
        const tc_command *c = tc_command_by_type(types[i]);
        assert_non_null(c);
        assert_ptr_equal(c, tc_command_of(kinds[i]));
        assert_int_equal(tc_command_kind(c), kinds[i]);
        assert_string_equal(tc_command_type(c), types[i]);
        assert_int_equal(tc_command_has_fields(c), kinds[i] != TC_OP_CLEAR);
    }
    assert_null(tc_command_by_type("heartbeat")); /* not a cart command */
    assert_null(tc_command_by_type("add"));
    assert_null(tc_command_by_type(""));
}

static void test_add_reads_every_field(void **state)
{
    (void)state;
    json_t *d = obj("{\"cuisineId\":\"1001\",\"quantity\":2,\"remark\":\"少辣\"}");
    tc_command_source src = {.obj = d};
    tc_op op = {.expect_version = -1};
    tc_errmsg err = {0};
    assert_int_equal(tc_command_read(tc_command_of(TC_OP_ADD), &src, &op, &err), 0);
    assert_int_equal(op.kind, TC_OP_ADD);
    assert_int_equal(op.cuisine_id, 1001);
    assert_int_equal(op.quantity, 2);
    assert_string_equal(op.remark, "少辣");
    json_decref(d);
}

static void test_messages_name_the_field(void **state)
{
    (void)state;
    struct {
        tc_op_kind kind;
        const char *json, *message;
    } cases[] = {
        {TC_OP_ADD, "{}", "cuisineId is required"},
        {TC_OP_ADD, "{\"cuisineId\":1}", "quantity is required"},
        {TC_OP_ADD, "{\"cuisineId\":0,\"quantity\":1}", "cuisineId must be a positive integer"},
        {TC_OP_ADD, "{\"cuisineId\":1,\"quantity\":1.5}", "quantity must be an integer"},
        {TC_OP_ADD, "{\"cuisineId\":1,\"quantity\":1,\"remark\":5}", "remark must be a string"},
        {TC_OP_UPDATE, "{\"cuisineId\":true,\"quantity\":1}",
         "cuisineId must be a positive integer"},
        {TC_OP_REMOVE, "{\"cuisineId\":null}", "cuisineId is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *d = obj(cases[i].json);
        tc_command_source src = {.obj = d};
        tc_op op = {0};
        tc_errmsg err = {0};
        assert_int_equal(tc_command_read(tc_command_of(cases[i].kind), &src, &op, &err), TC_EINVAL);
        assert_string_equal(err.text, cases[i].message);
        json_decref(d);
    }
}

static void test_clear_and_update_read_only_their_fields(void **state)
{
    (void)state;
    tc_command_source none = {.obj = NULL};
    tc_op op = {.cuisine_id = 77, .quantity = 5};
    tc_errmsg err = {0};
    assert_int_equal(tc_command_read(tc_command_of(TC_OP_CLEAR), &none, &op, &err), 0);
    assert_int_equal(op.kind, TC_OP_CLEAR);
    assert_int_equal(op.cuisine_id, 77); /* untouched */
    json_t *d = obj("{\"cuisineId\":3,\"quantity\":0,\"remark\":\"ignored\"}");
    tc_command_source src = {.obj = d};
    tc_op up = {0};
    assert_int_equal(tc_command_read(tc_command_of(TC_OP_UPDATE), &src, &up, &err), 0);
    assert_int_equal(up.quantity, 0);
    assert_string_equal(up.remark, "ignored"); /* beyond the seed: update sets a remark too */
    assert_false(up.keep_quantity);
    json_decref(d);
}

static void test_query_ids_win_over_the_body_but_not_quantity(void **state)
{
    (void)state;
    req_t q = make_req("/x?tableId=124&cuisineId=2001&quantity=9", "");
    json_t *d = obj("{\"tableId\":123,\"cuisineId\":1001,\"quantity\":3}");
    tc_command_source src = {.obj = d, .query = q.r};
    int32_t table = 0;
    tc_errmsg err = {0};
    assert_int_equal(tc_command_read_table(&src, &table, &err), 0);
    assert_int_equal(table, 124);
    tc_op op = {0};
    assert_int_equal(tc_command_read(tc_command_of(TC_OP_UPDATE), &src, &op, &err), 0);
    assert_int_equal(op.cuisine_id, 2001);
    assert_int_equal(op.quantity, 3); /* only from the body */
    json_decref(d);
    tc_http_free(q.p);

    /* A bad query value is named as the query's. */
    q = make_req("/x?tableId=%2012", "");
    src = (tc_command_source){.obj = NULL, .query = q.r};
    assert_int_equal(tc_command_read_table(&src, &table, &err), TC_EINVAL);
    assert_string_equal(err.text, "tableId must be a positive integer");
    tc_http_free(q.p);

    /* No query and no body. */
    src = (tc_command_source){0};
    assert_int_equal(tc_command_read_table(&src, &table, &err), TC_EINVAL);
    assert_string_equal(err.text, "tableId is required");
}

/* Each command's REST route, and the Idempotency-Key as the store keeps it:
 * the same for a REST header and a WebSocket message's idempotencyKey. */
static void test_routes_and_idempotency_scope(void **state)
{
    (void)state;
    const unsigned methods[] = {TC_M_POST, TC_M_PUT, TC_M_DELETE, TC_M_DELETE};
    const char *paths[] = {"/store/order/cart/add", "/store/order/cart/update",
                           "/store/order/cart/remove", "/store/order/cart/clear"};
    const char *scopes[] = {"100|123|POST /api/store/order/cart/add|k-1",
                            "100|123|PUT /api/store/order/cart/update|k-1",
                            "100|123|DELETE /api/store/order/cart/remove|k-1",
                            "100|123|DELETE /api/store/order/cart/clear|k-1"};
    tc_addr client;
    assert_int_equal(tc_addr_parse("127.0.0.5", 9, &client), 0);
    for (size_t i = 0; i < 4; i++) {
        const tc_command *c = tc_command_of((tc_op_kind)i);
        assert_int_equal(tc_command_method(c), methods[i]);
        assert_string_equal(tc_command_path(c), paths[i]);
        tc_buf scoped = TC_BUF_INIT, caller = TC_BUF_INIT;
        tc_identity user = {true, 100, "13800138000"};
        tc_command_idem_scope(c, "/api", &user, &client, 123, (tc_view){"k-1", 3}, &scoped,
                              &caller);
        assert_string_equal(tc_buf_cstr(&scoped), scopes[i]);
        assert_string_equal(tc_buf_cstr(&caller), "u:100");
        tc_buf_free(&scoped);
        tc_buf_free(&caller);
    }
    /* Without a user id: the address, for the key and the budget;
     * a key may hold the separator; the prefix is the configured one. */
    tc_buf scoped = TC_BUF_INIT, caller = TC_BUF_INIT;
    tc_identity nobody = {false, 0, NULL};
    tc_command_idem_scope(tc_command_of(TC_OP_ADD), "/v2", &nobody, &client, 7, (tc_view){"a|b", 3},
                          &scoped, &caller);
    assert_string_equal(tc_buf_cstr(&scoped), "a:127.0.0.5|7|POST /v2/store/order/cart/add|a|b");
    assert_string_equal(tc_buf_cstr(&caller), "a:127.0.0.5");
    tc_buf_free(&scoped);
    tc_buf_free(&caller);

    assert_false(tc_command_idem_key_ok(0));
    assert_true(tc_command_idem_key_ok(1));
    assert_true(tc_command_idem_key_ok(255));
    assert_false(tc_command_idem_key_ok(256));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_kinds),
        cmocka_unit_test(test_routes_and_idempotency_scope),
        cmocka_unit_test(test_add_reads_every_field),
        cmocka_unit_test(test_messages_name_the_field),
        cmocka_unit_test(test_clear_and_update_read_only_their_fields),
        cmocka_unit_test(test_query_ids_win_over_the_body_but_not_quantity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
