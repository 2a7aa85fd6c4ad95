/* test_limit.c — the changes limit (api/limit, --rate-changes): off at 0;
 * burst twice the rate; a bucket per (caller, table), the caller its user id
 * when known, else its client address (the used bytes of it only); a refusal
 * answers Retry-After seconds rounded up. The loop's clock is not advanced
 * (uv_now is cached until the loop runs), so no token comes back mid-test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/limit.h"
#include "core/ratelimit.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_loop_t loop;
    tc_config cfg;
    tc_app app;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->app.cfg = &f->cfg;
    f->app.loop = &f->loop;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tc_ratelimit_free(f->app.change_limit);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void start(fx *f, uint32_t rate)
{
    f->cfg.rate_changes = rate;
    f->app.change_limit = tc_limit_changes_new(&f->cfg);
}

static tc_identity user(int64_t id)
{
    return (tc_identity){.has_user_id = true, .user_id = id};
}

static tc_addr v4(unsigned char last)
{
    tc_addr a = {.family = 4, .b = {192, 0, 2, last}};
    return a;
}

/* Takes n changes that must all be let through. */
static void take_ok(fx *f, const tc_identity *who, const tc_addr *a, int32_t table, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(tc_limit_change(&f->app, who, a, table), 0);
}

static void test_off_at_zero(void **state)
{
    fx *f = *state;
    start(f, 0);
    assert_null(f->app.change_limit);
    tc_identity u = user(7);
    tc_addr a = v4(1);
    take_ok(f, &u, &a, 1, 10000);
}

/* Burst is twice the rate; the next one waits one token: 1/rate s, rounded
 * up to whole seconds. */
static void test_burst_then_retry_after(void **state)
{
    fx *f = *state;
    start(f, 3);
    assert_non_null(f->app.change_limit);
    tc_identity u = user(101);
    tc_addr a = v4(1);
    take_ok(f, &u, &a, 5, 6);
    assert_int_equal(tc_limit_change(&f->app, &u, &a, 5), 1); /* 334 ms -> 1 s */
    assert_int_equal(tc_limit_change(&f->app, &u, &a, 5), 1); /* still refused, took nothing */
    assert_int_equal(tc_ratelimit_size(f->app.change_limit), 1);
}

/* The bucket is per caller and per table: one user's full table leaves its
 * other tables and the other users of the table alone. */
static void test_per_caller_and_table(void **state)
{
    fx *f = *state;
    start(f, 1);
    tc_identity u1 = user(1), u2 = user(2), u12 = user(12);
    tc_addr a = v4(1);
    take_ok(f, &u1, &a, 2, 2);
    assert_int_equal(tc_limit_change(&f->app, &u1, &a, 2), 1);
    take_ok(f, &u1, &a, 3, 2);  /* another table */
    take_ok(f, &u1, &a, 21, 2); /* "u1 t21" is not "u12 t1" below */
    take_ok(f, &u2, &a, 2, 2);  /* another user, same address */
    take_ok(f, &u12, &a, 1, 2);
    assert_int_equal(tc_limit_change(&f->app, &u12, &a, 1), 1);
    assert_int_equal(tc_ratelimit_size(f->app.change_limit), 5);
}

/* Without a user id the caller is its address; a known user is never
 * counted as its address, and an anonymous caller's table is its own too. */
static void test_anonymous_is_its_address(void **state)
{
    fx *f = *state;
    start(f, 1);
    tc_identity anon = {0}, u = user(1);
    tc_addr a1 = v4(1), a2 = v4(2);
    take_ok(f, &anon, &a1, 9, 2);
    assert_int_equal(tc_limit_change(&f->app, &anon, &a1, 9), 1);
    take_ok(f, &anon, &a2, 9, 2); /* another address */
    take_ok(f, &anon, &a1, 8, 2); /* another table */
    take_ok(f, &u, &a1, 9, 2);    /* a user behind the same address */
    /* An IPv4 address is its four bytes: what lies past them in b is not
     * part of the caller. */
    tc_addr same = a1;
    memset(same.b + 4, 0xAB, sizeof same.b - 4);
    assert_int_equal(tc_limit_change(&f->app, &anon, &same, 9), 1);
}

/* IPv6: by its /64, as the per-address limits count it; the family is part
 * of the key, so an IPv4 address and an IPv6 one starting with the same
 * bytes are two callers. */
static void test_ipv6_and_family(void **state)
{
    fx *f = *state;
    start(f, 1);
    tc_identity anon = {0};
    tc_addr v6 = {.family = 6, .b = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}};
    tc_addr v6b = v6;
    v6b.b[15] = 2;
    tc_addr four = {.family = 4, .b = {0x20, 0x01, 0x0d, 0xb8}};
    tc_addr other64 = v6;
    other64.b[7] = 1;
    take_ok(f, &anon, &v6, 4, 2);
    assert_int_equal(tc_limit_change(&f->app, &anon, &v6, 4), 1);
    /* Another address of the same /64 is the same caller, as for the
     * per-address connection limits; another /64 is not. */
    assert_int_equal(tc_limit_change(&f->app, &anon, &v6b, 4), 1);
    take_ok(f, &anon, &other64, 4, 2);
    take_ok(f, &anon, &four, 4, 2);
    assert_int_equal(tc_ratelimit_size(f->app.change_limit), 3);
}

/* The extremes of user and table ids fit the key and stay apart. */
static void test_extreme_ids(void **state)
{
    fx *f = *state;
    start(f, 1);
    tc_identity lo = user(INT64_MIN), hi = user(INT64_MAX);
    tc_addr a = v4(1);
    take_ok(f, &lo, &a, INT32_MIN, 2);
    assert_int_equal(tc_limit_change(&f->app, &lo, &a, INT32_MIN), 1);
    take_ok(f, &hi, &a, INT32_MAX, 2);
    assert_int_equal(tc_limit_change(&f->app, &hi, &a, INT32_MAX), 1);
    take_ok(f, &lo, &a, INT32_MAX, 2);
    tc_identity anon = {0};
    tc_addr unknown = {.family = 0};
    take_ok(f, &anon, &unknown, INT32_MIN, 2);
    assert_int_equal(tc_limit_change(&f->app, &anon, &unknown, INT32_MIN), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_off_at_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_then_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_caller_and_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_anonymous_is_its_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_and_family, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extreme_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
