/* test_parse.c — integers from text (path segments, query parameters,
 * headers): digits only, bounded length, ranges by kind, messages naming the
 * field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/parse.h"

static void test_parse_int(void **state)
{
    (void)state;
    int64_t v = 0;
    tc_errmsg err = {0};
    assert_int_equal(tc_parse_int((tc_view){"42xyz", 2}, "tableId", TC_IN_ID, &v, &err), 0);
    assert_int_equal(v, 42); /* only len bytes */
    assert_int_equal(tc_parse_int((tc_view){"", 0}, "userId", TC_IN_ID, &v, &err), TC_EINVAL);
    assert_string_equal(err.text, "userId must be a positive integer");
    assert_int_equal(tc_parse_int(tc_view_of("000000000001"), "tableId", TC_IN_ID, &v, &err), 0);
    assert_int_equal(v, 1);
    /* Over 12 digits is refused before it can overflow. */
    assert_int_equal(tc_parse_int(tc_view_of("0000000000001"), "tableId", TC_IN_ID, &v, &err),
                     TC_EINVAL);
    assert_int_equal(tc_parse_int(tc_view_of("-2147483648"), "q", TC_IN_QUANTITY, &v, &err), 0);
    assert_int_equal(v, INT32_MIN);
    /* NULL err is allowed. */
    assert_int_equal(tc_parse_int(tc_view_of("x"), "q", TC_IN_QUANTITY, &v, NULL), TC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
