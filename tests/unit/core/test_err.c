/* test_err.c — the one error vocabulary (core/err): every code has its own
 * name, and tc_errmsg_set fills, truncates and returns its code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"

#include <string.h>

static void test_every_code_has_its_name(void **state)
{
    (void)state;
    assert_string_equal(tc_strerror(TC_OK), "ok");
    assert_string_equal(tc_strerror(TC_EINVAL), "invalid input");
    assert_string_equal(tc_strerror(TC_ENOTFOUND), "not found");
    assert_string_equal(tc_strerror(TC_ECONFLICT), "version conflict");
    assert_string_equal(tc_strerror(TC_ELIMIT), "limit exceeded");
    assert_string_equal(tc_strerror(TC_ESOLDOUT), "dish not available");
    assert_string_equal(tc_strerror(TC_ESTORE), "store unavailable");
    assert_string_equal(tc_strerror(TC_EIO), "i/o error");
    assert_string_equal(tc_strerror(TC_EPROTO), "protocol error");
    assert_string_equal(tc_strerror(TC_ETOOBIG), "too large");
    assert_string_equal(tc_strerror(TC_ECLOSED), "closed");
    assert_string_equal(tc_strerror(TC_EAUTH), "unauthorized");
    assert_string_equal(tc_strerror(TC_EFORBIDDEN), "forbidden");
    assert_string_equal(tc_strerror(TC_EMEDIA), "unsupported media type");
    assert_string_equal(tc_strerror(TC_EMETHOD), "method not allowed");
    assert_string_equal(tc_strerror(TC_EBUSY), "too many requests");
    assert_string_equal(tc_strerror(TC_UNCHANGED), "unchanged");
}

/* The codes are 0, -1, …, -15 with no gap and no name twice; anything else
 * is "unknown error", never NULL. */
static void test_codes_are_dense_and_names_distinct(void **state)
{
    (void)state;
    for (int a = 0; a >= TC_EBUSY; a--) {
        assert_string_not_equal(tc_strerror(a), "unknown error");
        for (int b = a - 1; b >= TC_EBUSY; b--)
            assert_string_not_equal(tc_strerror(a), tc_strerror(b));
    }
    assert_string_equal(tc_strerror(TC_EBUSY - 1), "unknown error");
    assert_string_equal(tc_strerror(2), "unknown error");
    assert_string_equal(tc_strerror(-1000), "unknown error");
}

static void test_errmsg_set(void **state)
{
    (void)state;
    tc_errmsg m;
    memset(&m, 'x', sizeof m);
    assert_int_equal(tc_errmsg_set(&m, TC_EINVAL, "%s must be %d", "quantity", 7), TC_EINVAL);
    assert_string_equal(m.text, "quantity must be 7");
    assert_string_equal(m.zh, ""); /* a developer text: no Chinese, no id */
    assert_int_equal(m.id, 0);
    /* NULL is fine: only the code comes back. */
    assert_int_equal(tc_errmsg_set(NULL, TC_ENOTFOUND, "gone"), TC_ENOTFOUND);
    /* Truncated to fit, always NUL-terminated. */
    char big[400];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tc_errmsg_set(&m, TC_ETOOBIG, "%s", big), TC_ETOOBIG);
    assert_int_equal(strlen(m.text), sizeof m.text - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_its_name),
        cmocka_unit_test(test_codes_are_dense_and_names_distinct),
        cmocka_unit_test(test_errmsg_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
