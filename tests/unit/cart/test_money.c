#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/money.h"
#include "core/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void expect_money(tc_cents c, const char *want)
{
    tc_buf b = TC_BUF_INIT;
    tc_money_append(&b, c);
    assert_string_equal(tc_buf_cstr(&b), want);
    tc_buf_free(&b);
}

static void test_append(void **state)
{
    (void)state;
    expect_money(0, "0.00");
    expect_money(5, "0.05");
    expect_money(30, "0.30");
    expect_money(3800, "38.00");
    expect_money(7600, "76.00");
    expect_money(1250, "12.50");
    expect_money(-105, "-1.05");
    expect_money(-5, "-0.05");
    expect_money(TC_MONEY_MAX, "99999999.99");
    expect_money(INT64_MAX, "92233720368547758.07");
    expect_money(INT64_MIN, "-92233720368547758.08");
}

static void test_append_appends(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_str(&b, "x=");
    tc_money_append(&b, 1);
    assert_string_equal(tc_buf_cstr(&b), "x=0.01");
    tc_buf_free(&b);
}

static void expect_yuan(double y, tc_cents want)
{
    tc_cents got = -1;
    assert_int_equal(tc_money_from_yuan(y, &got), 0);
    assert_int_equal(got, want);
}

static void expect_bad_yuan(double y)
{
    tc_cents got = 12345;
    assert_int_equal(tc_money_from_yuan(y, &got), TC_EINVAL);
    assert_int_equal(got, 12345); /* untouched */
}

static void test_from_yuan(void **state)
{
    (void)state;
    expect_yuan(38, 3800);
    expect_yuan(38.0, 3800);
    expect_yuan(38.00, 3800);
    expect_yuan(12.5, 1250);
    expect_yuan(0.1, 10);
    expect_yuan(0.29, 29); /* 0.29 * 100 is 28.999999999999996 in binary */
    expect_yuan(1.15, 115);
    expect_yuan(0, 0);
    expect_yuan(-0.0, 0);
    expect_yuan(99999999.99, TC_MONEY_MAX);
    expect_bad_yuan(38.005);
    expect_bad_yuan(1.005);
    expect_bad_yuan(0.001);
    expect_bad_yuan(-1);
    expect_bad_yuan(-0.01);
    expect_bad_yuan(100000000.00);
    expect_bad_yuan(NAN);
    expect_bad_yuan(INFINITY);
    expect_bad_yuan(-INFINITY);
}

/* Every two-decimal amount, written as text and parsed the way jansson parses
 * it (strtod), converts to exactly its cents. */
static void test_from_yuan_exhaustive(void **state)
{
    (void)state;
    char text[32];
    for (long c = 0; c <= 2000000; c++) {
        snprintf(text, sizeof text, "%ld.%02ld", c / 100, c % 100);
        tc_cents got;
        if (tc_money_from_yuan(strtod(text, NULL), &got) != 0 || got != c)
            fail_msg("%s converted wrong", text);
    }
    for (long c = TC_MONEY_MAX - 100000; c <= TC_MONEY_MAX; c++) {
        snprintf(text, sizeof text, "%ld.%02ld", c / 100, c % 100);
        tc_cents got;
        if (tc_money_from_yuan(strtod(text, NULL), &got) != 0 || got != c)
            fail_msg("%s converted wrong", text);
    }
    /* A third decimal is always refused. */
    for (long m = 1; m <= 200000; m++) {
        if (m % 10 == 0) continue;
        snprintf(text, sizeof text, "%ld.%03ld", m / 1000, m % 1000);
        tc_cents got;
        if (tc_money_from_yuan(strtod(text, NULL), &got) == 0) fail_msg("%s accepted", text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_append_appends),
        cmocka_unit_test(test_from_yuan),
        cmocka_unit_test(test_from_yuan_exhaustive),
    };
    return cmocka_run_group_tests_name("money", tests, NULL, NULL);
}
