/* test_command.c — the one command reader: the same table of fields and
 * messages for a REST body (with its query string) and a WebSocket
 * message's data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/command.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_kinds),
        cmocka_unit_test(test_add_reads_every_field),
        cmocka_unit_test(test_messages_name_the_field),
        cmocka_unit_test(test_clear_and_update_read_only_their_fields),
        cmocka_unit_test(test_query_ids_win_over_the_body_but_not_quantity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
