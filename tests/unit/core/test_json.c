#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/json.h"

#include <jansson.h>
#include <string.h>

static void expect_str(const char *s, size_t n, const char *want)
{
    tc_buf b = TC_BUF_INIT;
    tc_json_str(&b, s, n);
    assert_string_equal(tc_buf_cstr(&b), want);
    tc_buf_free(&b);
}

#define EXPECT_STR(lit, want) expect_str(lit, sizeof(lit) - 1, want)

static void test_escape(void **state)
{
    (void)state;
    EXPECT_STR("", "\"\"");
    EXPECT_STR("A01", "\"A01\"");
    EXPECT_STR("a\"b\\c", "\"a\\\"b\\\\c\"");
    EXPECT_STR("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    EXPECT_STR("\x01\x1f", "\"\\u0001\\u001f\"");
    EXPECT_STR("a\0b", "\"a\\u0000b\"");
    EXPECT_STR("/<>\x7f", "\"/<>\x7f\"");
    EXPECT_STR("不要花生", "\"不要花生\"");
    EXPECT_STR("\xF0\x9F\x8D\x9C", "\"\xF0\x9F\x8D\x9C\""); /* U+1F35C */
}

static void test_invalid_utf8_replaced(void **state)
{
    (void)state;
    EXPECT_STR("a\xFFz", "\"a\xEF\xBF\xBDz\"");
    EXPECT_STR("\xC0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");                 /* overlong NUL */
    EXPECT_STR("\xED\xA0\x80", "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""); /* surrogate */
    EXPECT_STR("x\xE5\xAE", "\"x\xEF\xBF\xBD\xEF\xBF\xBD\"");               /* cut short */
}

static void test_cstr_or_null_and_int(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_json_cstr_or_null(&b, NULL);
    tc_buf_append_str(&b, ",");
    tc_json_cstr_or_null(&b, "x\"");
    tc_buf_append_str(&b, ",");
    tc_json_int(&b, 0);
    tc_buf_append_str(&b, ",");
    tc_json_int(&b, -42);
    tc_buf_append_str(&b, ",");
    tc_json_int(&b, INT64_MIN);
    tc_buf_append_str(&b, ",");
    tc_json_int(&b, 1704067200000);
    assert_string_equal(tc_buf_cstr(&b), "null,\"x\\\"\",0,-42,-9223372036854775808,1704067200000");
    tc_buf_free(&b);
}

/* Whatever bytes go in, what comes out parses as a JSON string, and valid
 * UTF-8 comes back byte for byte. */
static void test_roundtrip_through_jansson(void **state)
{
    (void)state;
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    const char *samples[] = {"plain", "宫保鸡丁 \"hot\"\n\\", "\x7f\x01\x1f", (const char *)all};
    size_t lens[] = {5, strlen(samples[1]), 3, sizeof all};
    for (size_t k = 0; k < 4; k++) {
        tc_buf b = TC_BUF_INIT;
        tc_json_str(&b, samples[k], lens[k]);
        json_error_t e;
        json_t *v = json_loadb(b.base, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        assert_non_null(v);
        assert_true(json_is_string(v));
        if (tc_utf8_count(samples[k], lens[k]) >= 0) {
            assert_int_equal(json_string_length(v), lens[k]);
            assert_memory_equal(json_string_value(v), samples[k], lens[k]);
        }
        json_decref(v);
        tc_buf_free(&b);
    }
}

#define COUNT(lit) tc_utf8_count(lit, sizeof(lit) - 1)

static void test_utf8_count(void **state)
{
    (void)state;
    assert_int_equal(COUNT(""), 0);
    assert_int_equal(COUNT("abc"), 3);
    assert_int_equal(COUNT("宫保鸡丁"), 4);
    assert_int_equal(COUNT("a\0b"), 3);
    assert_int_equal(COUNT("\xC2\x80"), 1);         /* U+0080 */
    assert_int_equal(COUNT("\xDF\xBF"), 1);         /* U+07FF */
    assert_int_equal(COUNT("\xE0\xA0\x80"), 1);     /* U+0800 */
    assert_int_equal(COUNT("\xED\x9F\xBF"), 1);     /* U+D7FF */
    assert_int_equal(COUNT("\xEE\x80\x80"), 1);     /* U+E000 */
    assert_int_equal(COUNT("\xEF\xBF\xBF"), 1);     /* U+FFFF */
    assert_int_equal(COUNT("\xF0\x90\x80\x80"), 1); /* U+10000 */
    assert_int_equal(COUNT("\xF4\x8F\xBF\xBF"), 1); /* U+10FFFF */
    assert_int_equal(COUNT("x\xF0\x9F\x8D\x9C"), 2);
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    assert_int_equal(COUNT("\x80"), -1); /* lone continuation */
    assert_int_equal(COUNT("\xBF"), -1);
    assert_int_equal(COUNT("\xC0\x80"), -1);         /* overlong */
    assert_int_equal(COUNT("\xC1\xBF"), -1);         /* overlong */
    assert_int_equal(COUNT("\xE0\x9F\xBF"), -1);     /* overlong */
    assert_int_equal(COUNT("\xF0\x8F\xBF\xBF"), -1); /* overlong */
    assert_int_equal(COUNT("\xED\xA0\x80"), -1);     /* U+D800 */
    assert_int_equal(COUNT("\xED\xBF\xBF"), -1);     /* U+DFFF */
    assert_int_equal(COUNT("\xF4\x90\x80\x80"), -1); /* U+110000 */
    assert_int_equal(COUNT("\xF5\x80\x80\x80"), -1);
    assert_int_equal(COUNT("\xFE"), -1);
    assert_int_equal(COUNT("\xFF"), -1);
    assert_int_equal(COUNT("\xE5\xAE"), -1);     /* cut short */
    assert_int_equal(COUNT("\xE5\x41\x80"), -1); /* bad continuation */
    assert_int_equal(COUNT("abc\xF0\x9F\x8D"), -1);
    /* Counting honours n, not a NUL: a valid prefix of a longer string. */
    assert_int_equal(tc_utf8_count("宫保", 3), 1);
    assert_int_equal(tc_utf8_count("宫保", 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_cstr_or_null_and_int),
        cmocka_unit_test(test_roundtrip_through_jansson),
        cmocka_unit_test(test_utf8_count),
        cmocka_unit_test(test_utf8_invalid),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
