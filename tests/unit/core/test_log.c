/* test_log.c — tc_log_redact: no token (query value, Authorization, any
 * JWT) ever reaches a log line; everything else is copied as it is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"

#include <string.h>

#define JWT                                                                                        \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOjEwMCwiZXhwIjoxfQ."                         \
    "wsQWmBov8h7cHo4JPm6051l5QdP75q58m8a9b88Io0s"

static void redacts(const char *in, const char *want)
{
    char out[512];
    size_t n = tc_log_redact(in, strlen(in), out, sizeof out);
    if (strcmp(out, want) != 0) fail_msg("'%s'\n -> '%s'\n want '%s'", in, out, want);
    assert_int_equal(n, strlen(want));
}

static void test_query_tokens(void **state)
{
    (void)state;
    redacts("GET /api/store/order/cart/123?token=" JWT "&x=1 -> 200",
            "GET /api/store/order/cart/123?token=[redacted]&x=1 -> 200");
    redacts("GET /x?a=1&token=abc&b=2 -> 200", "GET /x?a=1&token=[redacted]&b=2 -> 200");
    redacts("GET /x?token=abc -> 401", "GET /x?token=[redacted] -> 401");
    redacts("GET /x?TOKEN=abc#f", "GET /x?TOKEN=[redacted]#f");
    redacts("GET /x?access_token=abc&id_token=d",
            "GET /x?access_token=[redacted]&id_token=[redacted]");
    redacts("GET /x?token=&a=1", "GET /x?token=&a=1"); /* nothing to hide */
    redacts("GET /x?token=%65yJ.a.b", "GET /x?token=[redacted]");
}

static void test_authorization_and_bearer(void **state)
{
    (void)state;
    redacts("Authorization: Bearer abc.def", "Authorization: [redacted]");
    redacts("authorization:Basic dXNlcjpwdw==\r\nHost: x", "authorization:[redacted]\r\nHost: x");
    redacts("got bearer abc.def here", "got bearer [redacted] here");
    redacts("Bearer " JWT, "Bearer [redacted]");
}

static void test_any_jwt(void **state)
{
    (void)state;
    redacts("GET /x?t=" JWT " -> 200", "GET /x?t=[redacted] -> 200");
    redacts("GET /x/" JWT "/y", "GET /x/[redacted]/y");
    redacts("eyJa.b", "eyJa.b"); /* two parts: not a JWT */
    redacts("xeyJa.b.c", "xeyJa.b.c");
}

static void test_everything_else_copied(void **state)
{
    (void)state;
    const char *same[] = {"", "GET /api/store/order/cart/123?userId=7 -> 200", "tokens=1 token",
                          "store: sqlite /tmp/t.db: wal",
                          "ws conn 7 /ws/cart/123: no answer, dropped"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        redacts(same[i], same[i]);
}

static void test_truncates_to_fit(void **state)
{
    (void)state;
    char out[12];
    assert_int_equal(tc_log_redact("0123456789abcdef", 16, out, sizeof out), 11);
    assert_string_equal(out, "0123456789a");
    assert_int_equal(tc_log_redact("?token=secret", 13, out, sizeof out), 11);
    assert_string_equal(out, "?token=[red");
    assert_int_equal(tc_log_redact("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_tokens),     cmocka_unit_test(test_authorization_and_bearer),
        cmocka_unit_test(test_any_jwt),          cmocka_unit_test(test_everything_else_copied),
        cmocka_unit_test(test_truncates_to_fit),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
