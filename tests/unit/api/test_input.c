/* test_input.c — client input read the Jackson way: integers as JSON integers
 * or strings holding one, messages naming the field, the JSON body, and the
 * caller's identity under --auth none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/input.h"
#include "support/http_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a one-field object {"<field>": <json>} and reads it. */
static int read_int(const char *json_value, const char *field, tc_in_kind kind, bool required,
                    int64_t *out, bool *present, tc_errmsg *err)
{
    char text[256];
    snprintf(text, sizeof text, "{\"%s\":%s}", field, json_value);
    json_t *obj = json_loads(text, 0, NULL);
    assert_non_null(obj);
    int rc = tc_input_int(obj, field, kind, required, out, present, err);
    json_decref(obj);
    return rc;
}

static void ok_id(const char *json_value, int64_t want)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {{0}};
    int rc = read_int(json_value, "tableId", TC_IN_ID, true, &v, &present, &err);
    if (rc != 0) fail_msg("%s: %s", json_value, err.text);
    assert_true(present);
    assert_int_equal(v, want);
}

static void bad_id(const char *json_value)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {{0}};
    int rc = read_int(json_value, "tableId", TC_IN_ID, true, &v, &present, &err);
    if (rc != TC_EINVAL) fail_msg("%s: got %d, want TC_EINVAL", json_value, rc);
    assert_string_equal(err.text, "tableId must be a positive integer");
    assert_int_equal(v, -99); /* untouched */
}

static void ok_qty(const char *json_value, int64_t want)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {{0}};
    int rc = read_int(json_value, "quantity", TC_IN_QUANTITY, true, &v, &present, &err);
    if (rc != 0) fail_msg("%s: %s", json_value, err.text);
    assert_int_equal(v, want);
}

static void bad_qty(const char *json_value)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {{0}};
    int rc = read_int(json_value, "quantity", TC_IN_QUANTITY, true, &v, &present, &err);
    if (rc != TC_EINVAL) fail_msg("%s: got %d, want TC_EINVAL", json_value, rc);
    assert_string_equal(err.text, "quantity must be an integer");
}

static void test_ids(void **state)
{
    (void)state;
    ok_id("123", 123);
    ok_id("\"123\"", 123);
    ok_id("1", 1);
    ok_id("2147483647", INT32_MAX);
    ok_id("\"2147483647\"", INT32_MAX);
    ok_id("\"007\"", 7); /* leading zeros are digits */
    bad_id("0");
    bad_id("\"0\"");
    bad_id("-5");
    bad_id("\"-5\"");
    bad_id("\"-0\""); /* -0 is 0: not positive */
    bad_id("2147483648");
    bad_id("\"2147483648\"");
    bad_id("9223372036854775807");
    bad_id("\"99999999999999999999\"");
    bad_id("1.5");
    bad_id("1.0");
    bad_id("1e2");
    bad_id("true");
    bad_id("false");
    bad_id("[]");
    bad_id("{}");
    bad_id("\"abc\"");
    bad_id("\"1e2\"");
    bad_id("\"1.5\"");
    bad_id("\"\"");
    bad_id("\"-\"");
    bad_id("\"+5\"");
    bad_id("\" 5\"");
    bad_id("\"5 \"");
    bad_id("\"0x10\"");
    /* A NUL inside the string. */
    json_t *obj = json_object();
    json_object_set_new(obj, "tableId",
                        json_stringn("1\0"
                                     "2",
                                     3));
    int64_t v;
    bool present;
    tc_errmsg err = {{0}};
    assert_int_equal(tc_input_int(obj, "tableId", TC_IN_ID, true, &v, &present, &err), TC_EINVAL);
    assert_string_equal(err.text, "tableId must be a positive integer");
    json_decref(obj);
}

static void test_quantities(void **state)
{
    (void)state;
    ok_qty("0", 0);
    ok_qty("-5", -5);
    ok_qty("\"-5\"", -5);
    ok_qty("\"-0\"", 0); /* decided by the code: "-0" reads as 0 for a quantity */
    ok_qty("99", 99);
    ok_qty("\"100\"", 100); /* range is the cart's business */
    ok_qty("2147483647", INT32_MAX);
    ok_qty("-2147483648", INT32_MIN);
    ok_qty("\"-2147483648\"", INT32_MIN);
    bad_qty("2147483648");
    bad_qty("-2147483649");
    bad_qty("\"2147483648\"");
    bad_qty("\"-2147483649\"");
    bad_qty("1.5");
    bad_qty("true");
    bad_qty("\"abc\"");
    bad_qty("\"1e2\"");
    bad_qty("\"\"");
    bad_qty("\"--1\"");
}

static void test_required_absent(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"a\":1,\"n\":null}", 0, NULL);
    int64_t v = 77;
    bool present = true;
    tc_errmsg err = {{0}};
    assert_int_equal(tc_input_int(obj, "cuisineId", TC_IN_ID, true, &v, &present, &err), TC_EINVAL);
    assert_string_equal(err.text, "cuisineId is required");
    assert_false(present);
    present = true;
    assert_int_equal(tc_input_int(obj, "n", TC_IN_ID, true, &v, &present, &err), TC_EINVAL);
    assert_string_equal(err.text, "n is required"); /* null counts as absent */
    assert_false(present);

    present = true;
    assert_int_equal(tc_input_int(obj, "cuisineId", TC_IN_ID, false, &v, &present, &err), 0);
    assert_false(present);
    assert_int_equal(v, 77); /* untouched */
    present = true;
    assert_int_equal(tc_input_int(obj, "n", TC_IN_QUANTITY, false, &v, &present, &err), 0);
    assert_false(present);

    assert_int_equal(tc_input_int(obj, "a", TC_IN_ID, false, &v, &present, &err), 0);
    assert_true(present);
    assert_int_equal(v, 1);
    json_decref(obj);
}

static void test_int_text(void **state)
{
    (void)state;
    int64_t v = 0;
    tc_errmsg err = {{0}};
    assert_int_equal(tc_input_int_text((tc_view){"42xyz", 2}, "tableId", TC_IN_ID, &v, &err), 0);
    assert_int_equal(v, 42); /* only len bytes */
    assert_int_equal(tc_input_int_text((tc_view){"", 0}, "userId", TC_IN_ID, &v, &err), TC_EINVAL);
    assert_string_equal(err.text, "userId must be a positive integer");
    assert_int_equal(tc_input_int_text(tc_view_of("000000000001"), "tableId", TC_IN_ID, &v, &err),
                     0);
    assert_int_equal(v, 1);
    /* Over 12 digits is refused before it can overflow. */
    assert_int_equal(tc_input_int_text(tc_view_of("0000000000001"), "tableId", TC_IN_ID, &v, &err),
                     TC_EINVAL);
    assert_int_equal(tc_input_int_text(tc_view_of("-2147483648"), "q", TC_IN_QUANTITY, &v, &err),
                     0);
    assert_int_equal(v, INT32_MIN);
    /* NULL err is allowed. */
    assert_int_equal(tc_input_int_text(tc_view_of("x"), "q", TC_IN_QUANTITY, &v, NULL), TC_EINVAL);
}

static void test_str(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"remark\":\"少辣\",\"n\":null,\"num\":5}", 0, NULL);
    const char *s = "sentinel";
    tc_errmsg err = {{0}};
    assert_int_equal(tc_input_str(obj, "remark", &s, &err), 0);
    assert_string_equal(s, "少辣");
    assert_int_equal(tc_input_str(obj, "n", &s, &err), 0);
    assert_null(s);
    s = "sentinel";
    assert_int_equal(tc_input_str(obj, "missing", &s, &err), 0);
    assert_null(s);
    assert_int_equal(tc_input_str(obj, "num", &s, &err), TC_EINVAL);
    assert_string_equal(err.text, "num must be a string");
    assert_null(s);
    json_decref(obj);
}

static void test_object(void **state)
{
    (void)state;
    json_t *j = NULL;
    tc_errmsg err = {{0}};
    const char good[] = "{\"tableId\":\"123\",\"quantity\":2}";
    assert_int_equal(tc_input_object(good, sizeof good - 1, &j, &err), 0);
    assert_true(json_is_object(j));
    int64_t v;
    bool present;
    assert_int_equal(tc_input_int(j, "tableId", TC_IN_ID, true, &v, &present, &err), 0);
    assert_int_equal(v, 123);
    json_decref(j);

    /* Only len bytes are read. */
    assert_int_equal(tc_input_object("{}garbage", 2, &j, &err), 0);
    json_decref(j);

    const char *not_json[] = {"",          "{",   "{\"a\":}",         "{'a':1}",
                              "{}garbage", "nul", "{\"a\":1,\"a\":2}" /* duplicates refused */};
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
        j = NULL;
        err.text[0] = '\0';
        int rc = tc_input_object(not_json[i], strlen(not_json[i]), &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", not_json[i], rc);
        assert_string_equal(err.text, "request body is not valid JSON");
        assert_null(j);
    }
    assert_int_equal(tc_input_object(NULL, 0, &j, &err), TC_EINVAL);
    assert_string_equal(err.text, "request body is not valid JSON");

    const char *not_object[] = {"[]", "[1,2]", "[{}]"};
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        j = NULL;
        int rc = tc_input_object(not_object[i], strlen(not_object[i]), &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", not_object[i], rc);
        assert_string_equal(err.text, "request body must be a JSON object");
        assert_null(j);
    }
}

/* Valid JSON that is not an object is named as such, not as invalid JSON. */
static void test_object_scalar_message(void **state)
{
    (void)state;
    const char *scalars[] = {"42", "\"s\"", "null", "true"};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        json_t *j = NULL;
        tc_errmsg err = {{0}};
        assert_int_equal(tc_input_object(scalars[i], strlen(scalars[i]), &j, &err), TC_EINVAL);
        assert_string_equal(err.text, "request body must be a JSON object");
        assert_null(j);
    }
}

typedef struct {
    int rc;
    tc_identity who;
    tc_buf phone;
    tc_errmsg err;
} ident;

static ident identity(const char *target, const char *headers)
{
    req_t q = make_req(target, headers);
    ident id;
    memset(&id, 0, sizeof id);
    id.rc = tc_input_identity(q.r, &id.who, &id.phone, &id.err);
    tc_http_free(q.p); /* nothing may point into the request afterwards */
    return id;
}

static void test_identity_header(void **state)
{
    (void)state;
    ident id = identity("/x", "X-User-Id: 100\r\nX-User-Phone: 13800138000\r\n");
    assert_int_equal(id.rc, 0);
    assert_true(id.who.has_user_id);
    assert_int_equal(id.who.user_id, 100);
    assert_string_equal(id.who.phone, "13800138000");
    tc_buf_free(&id.phone);

    /* Header names are case-insensitive. */
    id = identity("/x", "x-user-id: 5\r\nx-user-phone: 139\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 5);
    assert_string_equal(id.who.phone, "139");
    tc_buf_free(&id.phone);
}

static void test_identity_query(void **state)
{
    (void)state;
    ident id = identity("/x?userId=7&phone=%2B86+138", "");
    assert_int_equal(id.rc, 0);
    assert_true(id.who.has_user_id);
    assert_int_equal(id.who.user_id, 7);
    assert_string_equal(id.who.phone, "+86 138");
    tc_buf_free(&id.phone);

    id = identity("/x?userId=%2231%22", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "userId must be a positive integer");
    tc_buf_free(&id.phone);
}

static void test_identity_header_wins(void **state)
{
    (void)state;
    ident id = identity("/x?userId=7&phone=111", "X-User-Id: 8\r\nX-User-Phone: 222\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 8);
    assert_string_equal(id.who.phone, "222");
    tc_buf_free(&id.phone);

    /* Each field on its own: header id with query phone, and the reverse. */
    id = identity("/x?userId=7&phone=111", "X-User-Id: 8\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 8);
    assert_string_equal(id.who.phone, "111");
    tc_buf_free(&id.phone);
    id = identity("/x?userId=7&phone=111", "X-User-Phone: 222\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 7);
    assert_string_equal(id.who.phone, "222");
    tc_buf_free(&id.phone);

    /* A bad header is an error even when the query is fine: it wins. */
    id = identity("/x?userId=7", "X-User-Id: abc\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Id must be a positive integer");
    assert_false(id.who.has_user_id);
    tc_buf_free(&id.phone);
}

static void test_identity_none(void **state)
{
    (void)state;
    ident id = identity("/x?tableId=1", "");
    assert_int_equal(id.rc, 0);
    assert_false(id.who.has_user_id);
    assert_null(id.who.phone);
    tc_buf_free(&id.phone);

    /* An empty phone is no phone. */
    id = identity("/x?phone=", "");
    assert_int_equal(id.rc, 0);
    assert_null(id.who.phone);
    tc_buf_free(&id.phone);
}

static void test_identity_bad(void **state)
{
    (void)state;
    const char *bad_ids[] = {"0", "-1", "2147483648", "1.5", "abc", ""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char h[64];
        snprintf(h, sizeof h, "X-User-Id: %s\r\n", bad_ids[i]);
        ident id = identity("/x", h);
        if (id.rc != TC_EINVAL) fail_msg("X-User-Id '%s': got %d", bad_ids[i], id.rc);
        assert_string_equal(id.err.text, "X-User-Id must be a positive integer");
        tc_buf_free(&id.phone);
    }
    ident id = identity("/x?userId=0", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "userId must be a positive integer");
    tc_buf_free(&id.phone);

    /* Phone: 32 characters (code points) at most, valid UTF-8, no NUL. */
    id = identity("/x", "X-User-Phone: 12345678901234567890123456789012\r\n");
    assert_int_equal(id.rc, 0);
    tc_buf_free(&id.phone);
    id = identity("/x", "X-User-Phone: 123456789012345678901234567890123\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);
    /* 32 Chinese characters are 96 bytes but 32 characters. */
    char q[512] = "/x?phone=";
    for (int i = 0; i < 32; i++)
        strcat(q, "%E5%AE%AB");
    id = identity(q, "");
    assert_int_equal(id.rc, 0);
    assert_int_equal(strlen(id.who.phone), 96);
    tc_buf_free(&id.phone);
    strcat(q, "1");
    id = identity(q, "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);

    id = identity("/x?phone=%FF", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);
    id = identity("/x?phone=1%002", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);
    id = identity("/x", "X-User-Phone: \xC0\xAF\r\n"); /* overlong */
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_required_absent),
        cmocka_unit_test(test_int_text),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_object_scalar_message),
        cmocka_unit_test(test_identity_header),
        cmocka_unit_test(test_identity_query),
        cmocka_unit_test(test_identity_header_wins),
        cmocka_unit_test(test_identity_none),
        cmocka_unit_test(test_identity_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
