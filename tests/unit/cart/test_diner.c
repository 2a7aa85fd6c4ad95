/* cart/diner: the name rule, the default name, list helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/diner.h"
#include "core/text.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_rule),
        cmocka_unit_test(test_default_name_and_lists),
    };
    return cmocka_run_group_tests_name("cart/diner", tests, NULL, NULL);
}
