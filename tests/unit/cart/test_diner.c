/* cart/diner: the name rule, the default name, list helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/diner.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void name_ok(const char *in, const char *want)
{
    char *out = NULL;
    tc_errmsg err = {0};
    if (tc_diner_name_check(in, &out, &err) != 0) fail_msg("'%s' refused: %s", in, err.text);
    assert_string_equal(out, want);
    free(out);
}

static void name_refused(const char *in)
{
    char *out = NULL;
    tc_errmsg err = {0};
    assert_int_equal(tc_diner_name_check(in, &out, &err), TC_EINVAL);
    assert_null(out);
    assert_string_equal(tc_errmsg_text(&err, TC_EINVAL, TC_LANG_ZH), "名字须为 1 到 12 个字");
    assert_string_equal(tc_errmsg_text(&err, TC_EINVAL, TC_LANG_EN),
                        "name must be 1 to 12 characters");
}

static void test_name_rule(void **state)
{
    (void)state;
    name_ok("张三", "张三");
    name_ok(" 张三 ", "张三");
    name_ok("\t张 三\t", "张 三");
    name_ok("\xe3\x80\x80李四\xe3\x80\x80", "李四");                 /* U+3000 around it */
    name_ok("一二三四五六七八九十一二", "一二三四五六七八九十一二"); /* 12 */
    name_ok("abcdefghijkl", "abcdefghijkl");
    /* A space three bytes from the end is inside the name, not U+3000 at
     * its end (it cut "Tom Li" to "Tom"). */
    name_ok("Tom Li", "Tom Li");
    name_ok("Li Na", "Li Na");
    name_ok("张 ab", "张 ab");
    name_ok("Al Bo Cy ", "Al Bo Cy");
    name_refused("Tom\tLi");                    /* a control character inside */
    name_refused("一二三四五六七八九十一二三"); /* 13 */
    name_refused("");
    name_refused("   ");
    name_refused("\xe3\x80\x80");
    name_refused(NULL);
    name_refused("a\nb");
    name_refused("a\x7f");
    name_refused("a\xc2\x85"); /* U+0085, a C1 control */
    name_refused("\xff\xfe");  /* not UTF-8 */
}

static void name_invisible(const char *in)
{
    char *out = NULL;
    tc_errmsg err = {0};
    if (tc_diner_name_check(in, &out, &err) != TC_EINVAL) fail_msg("'%s' not refused", in);
    assert_null(out);
    assert_string_equal(tc_errmsg_text(&err, TC_EINVAL, TC_LANG_ZH), "名字不能含有看不见的字符");
    assert_string_equal(tc_errmsg_text(&err, TC_EINVAL, TC_LANG_EN),
                        "name must not contain invisible or text direction characters");
}

/* Text direction and zero-width characters reorder or hide what other
 * diners' pages show next to the name ("\u202e张三" turned "我 12 份"
 * after it into "份 21 我"): refused wherever they are, each of them. */
static void test_name_invisible(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "\xd8\x9c",                                     /* U+061C */
        "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d", /* U+200B..D */
        "\xe2\x80\x8e", "\xe2\x80\x8f",                 /* LRM, RLM */
        "\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad",
        "\xe2\x80\xae",                                                 /* U+202A..E */
        "\xe2\x81\xa0",                                                 /* U+2060 */
        "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9", /* U+2066..9 */
        "\xef\xbb\xbf",                                                 /* U+FEFF */
    };
    char buf[32];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snprintf(buf, sizeof buf, "%s张三", refused[i]);
        name_invisible(buf);
        snprintf(buf, sizeof buf, "张%s三", refused[i]);
        name_invisible(buf);
        snprintf(buf, sizeof buf, "张三%s", refused[i]);
        name_invisible(buf);
        snprintf(buf, sizeof buf, " %s ", refused[i]);
        name_invisible(buf);
    }
    /* their neighbours are ordinary characters */
    name_ok("\xd8\x9b", "\xd8\x9b");           /* U+061B, Arabic semicolon */
    name_ok("a\xe2\x80\x8a", "a\xe2\x80\x8a"); /* U+200A, hair space */
    name_ok("a\xe2\x80\x90"
            "b",
            "a\xe2\x80\x90"
            "b"); /* U+2010, hyphen */
    name_ok("a\xe2\x80\xa9"
            "b",
            "a\xe2\x80\xa9"
            "b"); /* U+2029 */
    name_ok("a\xe2\x80\xaf"
            "b",
            "a\xe2\x80\xaf"
            "b"); /* U+202F, narrow no-break space */
    name_ok("a\xe2\x81\xa1"
            "b",
            "a\xe2\x81\xa1"
            "b"); /* U+2061 */
    name_ok("a\xe2\x81\xaa"
            "b",
            "a\xe2\x81\xaa"
            "b"); /* U+206A */
    name_ok("a\xef\xbb\xbe"
            "b",
            "a\xef\xbb\xbe"
            "b"); /* U+FEFE */
    name_ok("\xd8\xb9\xd9\x84\xd9\x8a",
            "\xd8\xb9\xd9\x84\xd9\x8a"); /* علي: Arabic letters are fine */
    /* the length rule is checked first */
    name_refused("\xe2\x80\xae一二三四五六七八九十一二");
}

static void test_default_name_and_lists(void **state)
{
    (void)state;
    tc_diner list[] = {{101, 1, NULL}, {102, 2, "张\"三"}};
    tc_buf b = TC_BUF_INIT;
    tc_diner_name_json(&list[0], &b);
    tc_buf_append(&b, " ", 1);
    tc_diner_name_json(&list[1], &b);
    assert_string_equal(tc_buf_cstr(&b), "\"1号\" \"张\\\"三\"");
    tc_buf_free(&b);

    assert_ptr_equal(tc_diner_find(list, 2, 102), &list[1]);
    assert_null(tc_diner_find(list, 2, 103));
    tc_diner *copy = tc_diners_copy(list, 2);
    assert_true(tc_diners_equal(list, 2, copy, 2));
    assert_false(tc_diners_equal(list, 2, copy, 1));
    free(copy[1].name);
    copy[1].name = strdup("李四");
    assert_false(tc_diners_equal(list, 2, copy, 2));
    free(copy[1].name);
    copy[1].name = NULL;
    assert_false(tc_diners_equal(list, 2, copy, 2));
    copy[0].seat = 3;
    assert_false(tc_diners_equal(list, 1, copy, 1));
    tc_diners_free(copy, 2);
    assert_null(tc_diners_copy(list, 0));
}

/* A sitting ends when the table was away for the whole gap, not a
 * millisecond less; an unknown activity time (a table of a database from
 * before sittings) and a gap of 0 never end one. */
static void test_sitting_over(void **state)
{
    (void)state;
    const int64_t gap = 1800000, at = 1700000000000;
    assert_false(tc_sitting_over(at, at, gap));
    assert_false(tc_sitting_over(at + gap - 1, at, gap));
    assert_true(tc_sitting_over(at + gap, at, gap));
    assert_true(tc_sitting_over(at + 10 * gap, at, gap));
    assert_false(tc_sitting_over(at - 5000, at, gap)); /* a clock behind the writer's */
    assert_false(tc_sitting_over(at + 10 * gap, -1, gap));
    assert_false(tc_sitting_over(at + 10 * gap, at, 0));
}

/* An instance with a stream of a table says it is active every quarter of
 * the gap: the stored time is never more than half a gap old while anyone
 * is there (a quarter plus the sweep). */
static void test_sitting_touch(void **state)
{
    (void)state;
    assert_int_equal(tc_sitting_touch_ms(1800000), 450000);
    assert_int_equal(tc_sitting_touch_ms(1000), 250);
    assert_int_equal(tc_sitting_touch_ms(3), 1);
    assert_int_equal(tc_sitting_sweep_ms(1800000), 1000);
    assert_int_equal(tc_sitting_sweep_ms(1000), 125);
    assert_int_equal(tc_sitting_sweep_ms(3), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_rule),
        cmocka_unit_test(test_name_invisible),
        cmocka_unit_test(test_default_name_and_lists),
        cmocka_unit_test(test_sitting_over),
        cmocka_unit_test(test_sitting_touch),
    };
    return cmocka_run_group_tests_name("cart/diner", tests, NULL, NULL);
}
