/* test_input.c — client input read the Jackson way: integers as JSON integers
 * or strings holding one, messages naming the field, and the JSON body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/input.h"
#include "core/text.h"

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
    tc_errmsg err = {0};
    int rc = read_int(json_value, "tableId", TC_IN_ID, true, &v, &present, &err);
    if (rc != 0) fail_msg("%s: %s", json_value, err.text);
    assert_true(present);
    assert_int_equal(v, want);
}

static void bad_id(const char *json_value)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {0};
    int rc = read_int(json_value, "tableId", TC_IN_ID, true, &v, &present, &err);
    if (rc != TC_EINVAL) fail_msg("%s: got %d, want TC_EINVAL", json_value, rc);
    assert_string_equal(err.text, "tableId must be a positive integer");
    assert_int_equal(v, -99); /* untouched */
}

static void ok_qty(const char *json_value, int64_t want)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {0};
    int rc = read_int(json_value, "quantity", TC_IN_QUANTITY, true, &v, &present, &err);
    if (rc != 0) fail_msg("%s: %s", json_value, err.text);
    assert_int_equal(v, want);
}

static void bad_qty(const char *json_value)
{
    int64_t v = -99;
    bool present = false;
    tc_errmsg err = {0};
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
    ok_id("1.0", 1); /* a whole number as a real, as Jackson took it (Gson sends ids so) */
    ok_id("1001.0", 1001);
    ok_id("1e2", 100);
    ok_id("2147483647.0", INT32_MAX);
    bad_id("2147483648.0");
    bad_id("0.0");
    bad_id("-0.0");
    bad_id("-3.0");
    bad_id("1.0000001");
    bad_id("1e-2");
    bad_id("9e15"); /* whole, in the cast's range, past an id's */
    bad_id("1e300");
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
    tc_errmsg err = {0};
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
    ok_qty("2.0", 2);
    ok_qty("-1.0", -1);
    ok_qty("-0.0", 0);
    bad_qty("2147483648.0");
    bad_qty("-2147483649.0");
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
    tc_errmsg err = {0};
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

static void test_str(void **state)
{
    (void)state;
    json_t *obj = json_loads("{\"remark\":\"少辣\",\"n\":null,\"num\":5}", 0, NULL);
    const char *s = "sentinel";
    tc_errmsg err = {0};
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
    tc_errmsg err = {0};
    const char good[] = "{\"tableId\":\"123\",\"quantity\":2}";
    assert_int_equal(tc_input_object(good, sizeof good - 1, TC_INPUT_BODY, &j, &err), 0);
    assert_true(json_is_object(j));
    int64_t v;
    bool present;
    assert_int_equal(tc_input_int(j, "tableId", TC_IN_ID, true, &v, &present, &err), 0);
    assert_int_equal(v, 123);
    json_decref(j);

    /* Only len bytes are read. */
    assert_int_equal(tc_input_object("{}garbage", 2, TC_INPUT_BODY, &j, &err), 0);
    json_decref(j);

    const char *not_json[] = {"", "{", "{\"a\":}", "{'a':1}", "{}garbage", "nul"};
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
        j = NULL;
        err.text[0] = '\0';
        int rc = tc_input_object(not_json[i], strlen(not_json[i]), TC_INPUT_BODY, &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", not_json[i], rc);
        assert_string_equal(err.text, "request body is not valid JSON");
        assert_null(j);
    }
    assert_int_equal(tc_input_object(NULL, 0, TC_INPUT_BODY, &j, &err), TC_EINVAL);
    assert_string_equal(err.text, "request body is not valid JSON");

    /* A duplicate key is named (jansson's message says which). */
    const struct {
        const char *in, *message;
    } dups[] = {
        {"{\"a\":1,\"a\":2}", "duplicate key 'a' in request body"},
        {"{\"tableId\":1,\"x\":{\"q\":1,\"q\":2}}", "duplicate key 'q' in request body"},
        {"{\"r\\u00e9\":1,\"r\xc3\xa9\":2}", "duplicate key 'r\xc3\xa9' in request body"},
        {"{\"a\\\"b\":1,\"a\\\"b\":2}", "duplicate key 'a\"b' in request body"},
        {"{\"\":1,\"\":2}", "duplicate key '' in request body"},
        /* too long to name */
        {"{\"k0123456789012345678901234567890123456789012345678901234567890123\":1,"
         "\"k0123456789012345678901234567890123456789012345678901234567890123\":2}",
         "duplicate key in request body"},
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        j = NULL;
        int rc = tc_input_object(dups[i].in, strlen(dups[i].in), TC_INPUT_BODY, &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", dups[i].in, rc);
        assert_string_equal(err.text, dups[i].message);
        assert_null(j);
    }

    const char *not_object[] = {"[]", "[1,2]", "[{}]"};
    for (size_t i = 0; i < sizeof not_object / sizeof not_object[0]; i++) {
        j = NULL;
        int rc = tc_input_object(not_object[i], strlen(not_object[i]), TC_INPUT_BODY, &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", not_object[i], rc);
        assert_string_equal(err.text, "request body must be a JSON object");
        assert_null(j);
    }
}

/* A request body may begin with a UTF-8 byte order mark, which Jackson (the
 * original's reader of bodies) skipped: a .NET client writing its body
 * through a StreamWriter with Encoding.UTF8, or curl -d @file of a file
 * saved by Notepad, sends one. One mark, at the very start, is skipped;
 * a second one, one after a space, or a mark alone is no JSON, as for
 * Jackson. A WebSocket message is text, not bytes: a mark there is kept. */
static void test_object_bom(void **state)
{
    (void)state;
    json_t *j = NULL;
    tc_errmsg err = {0};
    const char bom[] = "\xef\xbb\xbf{\"tableId\":123,\"quantity\":2}";
    assert_int_equal(tc_input_object(bom, sizeof bom - 1, TC_INPUT_BODY, &j, &err), 0);
    int64_t v;
    bool present;
    assert_int_equal(tc_input_int(j, "tableId", TC_IN_ID, true, &v, &present, &err), 0);
    assert_int_equal(v, 123);
    json_decref(j);

    /* A number out of range after the mark is still named by its field. */
    const char big[] = "\xef\xbb\xbf{\"tableId\":123456789012345678901234567890}";
    j = NULL;
    assert_int_equal(tc_input_object(big, sizeof big - 1, TC_INPUT_BODY, &j, &err), 0);
    assert_int_equal(tc_input_int(j, "tableId", TC_IN_ID, true, &v, &present, &err), TC_EINVAL);
    assert_string_equal(err.text, "tableId must be a positive integer");
    json_decref(j);

    const char *refused[] = {"\xef\xbb\xbf", "\xef\xbb\xbf\xef\xbb\xbf{}", " \xef\xbb\xbf{}",
                             "\xef\xbb{}", "\xef\xbb\xbf\xef\xbb\xbf"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        j = NULL;
        int rc = tc_input_object(refused[i], strlen(refused[i]), TC_INPUT_BODY, &j, &err);
        if (rc != TC_EINVAL) fail_msg("case %zu: got %d", i, rc);
        assert_string_equal(err.text, "request body is not valid JSON");
        assert_null(j);
    }

    const char msg[] = "\xef\xbb\xbf{\"type\":\"heartbeat\"}";
    j = NULL;
    assert_int_equal(tc_input_object(msg, sizeof msg - 1, TC_INPUT_MESSAGE, &j, &err), TC_EINVAL);
    assert_string_equal(err.text, "message is not a valid JSON object");
    assert_null(j);
}

/* A WebSocket message's refusals name the message, not a request body: a
 * key twice is named as over REST, anything else that is no JSON object is
 * "message is not a valid JSON object". */
static void test_object_from_message(void **state)
{
    (void)state;
    static const struct {
        const char *in, *text, *zh;
    } cases[] = {
        {"{\"type\":\"add_item\",\"data\":{\"quantity\":1,\"quantity\":2}}",
         "duplicate key 'quantity' in message", "消息里的“quantity”重复了"},
        {"{\"type\":\"add_item\",\"type\":\"clear_cart\"}", "duplicate key 'type' in message",
         "消息里的“type”重复了"},
        {"{\"k0123456789012345678901234567890123456789012345678901234567890123\":1,"
         "\"k0123456789012345678901234567890123456789012345678901234567890123\":2}",
         "duplicate key in message", "消息里有重复的键"},
        {"{\"type\":", "message is not a valid JSON object", "消息须为 JSON 对象"},
        {"[1]", "message is not a valid JSON object", "消息须为 JSON 对象"},
        {"\"add_item\"", "message is not a valid JSON object", "消息须为 JSON 对象"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = NULL;
        tc_errmsg err;
        int rc = tc_input_object(cases[i].in, strlen(cases[i].in), TC_INPUT_MESSAGE, &j, &err);
        if (rc != TC_EINVAL) fail_msg("'%s': got %d", cases[i].in, rc);
        assert_string_equal(err.text, cases[i].text);
        assert_string_equal(tc_errmsg_text(&err, TC_EINVAL, TC_LANG_ZH), cases[i].zh);
        assert_null(j);
    }
}

/* A number past jansson's range is valid JSON: the body is read, with the
 * number as a value no integer field takes, so its field is named by the
 * field's reader; a body with more such numbers than are looked at, or one
 * that is no JSON around them, is "not valid JSON" still. */
static void test_object_number_out_of_range(void **state)
{
    (void)state;
    const char *in[] = {
        "{\"tableId\":123,\"quantity\":123456789012345678901234567890}",
        "{\"quantity\":-99999999999999999999 ,\"tableId\":123}",
        "{\"tableId\":123,\"quantity\":1e400}",
        "{\"tableId\":123,\"quantity\":-1.5E+999}",
        "{\"tableId\":123,\"x\":[1e400,2e400],\"quantity\":1e400}",
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        json_t *j = NULL;
        tc_errmsg err = {0};
        int rc = tc_input_object(in[i], strlen(in[i]), TC_INPUT_BODY, &j, &err);
        if (rc != 0) fail_msg("'%s': %s", in[i], err.text);
        int64_t v;
        bool present;
        assert_int_equal(tc_input_int(j, "tableId", TC_IN_ID, true, &v, &present, &err), 0);
        assert_int_equal(v, 123);
        assert_int_equal(tc_input_int(j, "quantity", TC_IN_QUANTITY, true, &v, &present, &err),
                         TC_EINVAL);
        assert_string_equal(err.text, "quantity must be an integer");
        json_decref(j);
    }
    /* Only len bytes are read, and the body itself is left as it was. */
    char body[] = "{\"q\":1e400}garbage";
    json_t *j = NULL;
    tc_errmsg err = {0};
    assert_int_equal(tc_input_object(body, 11, TC_INPUT_BODY, &j, &err), 0);
    assert_string_equal(body, "{\"q\":1e400}garbage");
    json_decref(j);

    char many[512] = "{\"a\":[";
    for (int i = 0; i < 17; i++)
        strcat(many, i ? ",1e400" : "1e400");
    strcat(many, "]}");
    const char *bad[] = {many, "{\"q\":1e400", "{\"q\":true1e400}", "[1e400,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = NULL;
        assert_int_equal(tc_input_object(bad[i], strlen(bad[i]), TC_INPUT_BODY, &j, &err),
                         TC_EINVAL);
        assert_string_equal(err.text, "request body is not valid JSON");
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
        tc_errmsg err = {0};
        assert_int_equal(tc_input_object(scalars[i], strlen(scalars[i]), TC_INPUT_BODY, &j, &err),
                         TC_EINVAL);
        assert_string_equal(err.text, "request body must be a JSON object");
        assert_null(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_quantities),
        cmocka_unit_test(test_required_absent),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_object),
        cmocka_unit_test(test_object_bom),
        cmocka_unit_test(test_object_from_message),
        cmocka_unit_test(test_object_number_out_of_range),
        cmocka_unit_test(test_object_scalar_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
