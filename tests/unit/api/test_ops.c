/* test_ops.c — the one map from a tc_err to an HTTP status (api/ops), which
 * every REST error answer goes through: the statuses of SPEC §2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/ops.h"
#include "core/err.h"

static void test_status_of_every_code(void **state)
{
    (void)state;
    assert_int_equal(tc_ops_http_status(0), 200);
    assert_int_equal(tc_ops_http_status(TC_UNCHANGED), 200); /* answered with the same cart */
    assert_int_equal(tc_ops_http_status(TC_EINVAL), 400);
    assert_int_equal(tc_ops_http_status(TC_ESOLDOUT), 400); /* SPEC §2: sold out is 400 */
    assert_int_equal(tc_ops_http_status(TC_ELIMIT), 400);   /* a 101st line, past 99 */
    assert_int_equal(tc_ops_http_status(TC_EAUTH), 401);
    assert_int_equal(tc_ops_http_status(TC_EFORBIDDEN), 403);
    assert_int_equal(tc_ops_http_status(TC_ENOTFOUND), 404);
    assert_int_equal(tc_ops_http_status(TC_EMETHOD), 405);
    assert_int_equal(tc_ops_http_status(TC_ECONFLICT), 409);
    assert_int_equal(tc_ops_http_status(TC_ETOOBIG), 413);
    assert_int_equal(tc_ops_http_status(TC_EMEDIA), 415);
    assert_int_equal(tc_ops_http_status(TC_EBUSY), 429);
    assert_int_equal(tc_ops_http_status(TC_ESTORE), 503);
    assert_int_equal(tc_ops_http_status(TC_EIO), 503);
}

/* What no client error names is the server's fault. */
static void test_anything_else_is_500(void **state)
{
    (void)state;
    assert_int_equal(tc_ops_http_status(TC_EPROTO), 500);
    assert_int_equal(tc_ops_http_status(TC_ECLOSED), 500);
    assert_int_equal(tc_ops_http_status(TC_EBUSY - 1), 500);
    assert_int_equal(tc_ops_http_status(2), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_of_every_code),
        cmocka_unit_test(test_anything_else_is_500),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
