/* test_ratelimit.c — the token bucket (refill, burst, the wait it reports,
 * a clock that goes back) and the keyed table (separate keys, forgetting
 * full buckets, the cap on keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ratelimit.h"

#include <string.h>

static void test_bucket_burst_then_rate(void **state)
{
    (void)state;
    tc_bucket b;
    tc_bucket_init(&b, 4, 1000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(tc_bucket_take(&b, 2, 4, 1000), 0);
    /* Empty: one token comes back every 500 ms at 2/s. */
    assert_int_equal(tc_bucket_take(&b, 2, 4, 1000), 500);
    assert_int_equal(tc_bucket_take(&b, 2, 4, 1200), 300);
    assert_int_equal(tc_bucket_take(&b, 2, 4, 1500), 0);
    assert_int_equal(tc_bucket_take(&b, 2, 4, 1500), 500);
    /* A long pause refills to burst, never beyond. */
    assert_true(tc_bucket_full(&b, 2, 4, 100000));
    for (int i = 0; i < 4; i++)
        assert_int_equal(tc_bucket_take(&b, 2, 4, 100000), 0);
    assert_int_not_equal(tc_bucket_take(&b, 2, 4, 100000), 0);
}

static void test_bucket_steady_rate_is_never_refused(void **state)
{
    (void)state;
    /* 20/s, burst 40: one change every 50 ms forever (the yardstick's
     * publisher per table) is always let through. */
    tc_bucket b;
    tc_bucket_init(&b, 40, 0);
    for (uint64_t t = 0; t < 60000; t += 50)
        assert_int_equal(tc_bucket_take(&b, 20, 40, t), 0);
    /* 100 at once after that: 40 pass, then 1/20 s each. */
    int passed = 0;
    for (int i = 0; i < 100; i++)
        passed += tc_bucket_take(&b, 20, 40, 70000) == 0;
    assert_int_equal(passed, 40);
    assert_int_equal(tc_bucket_take(&b, 20, 40, 70000), 50);
}

static void test_bucket_clock_going_back_and_rate_zero(void **state)
{
    (void)state;
    tc_bucket b;
    tc_bucket_init(&b, 1, 5000);
    assert_int_equal(tc_bucket_take(&b, 1, 1, 5000), 0);
    /* An earlier time counts as the last one: no tokens out of thin air. */
    assert_int_equal(tc_bucket_take(&b, 1, 1, 10), 1000);
    assert_int_equal(tc_bucket_take(&b, 1, 1, 5999), 1);
    assert_int_equal(tc_bucket_take(&b, 1, 1, 6000), 0);
    /* rate 0: no limit. */
    assert_int_equal(tc_bucket_take(&b, 0, 1, 6000), 0);
    assert_int_equal(tc_bucket_take(&b, 0, 1, 6000), 0);
}

static void test_retry_after_rounds_up(void **state)
{
    (void)state;
    assert_int_equal(tc_retry_after_s(0), 1);
    assert_int_equal(tc_retry_after_s(1), 1);
    assert_int_equal(tc_retry_after_s(1000), 1);
    assert_int_equal(tc_retry_after_s(1001), 2);
    assert_int_equal(tc_retry_after_s(59500), 60);
}

static void test_table_keys_are_separate_and_forgotten_when_full(void **state)
{
    (void)state;
    tc_ratelimit *rl = tc_ratelimit_new(1, 2, 100);
    assert_int_equal(tc_ratelimit_take(rl, "u1 t123", 7, 0), 0);
    assert_int_equal(tc_ratelimit_take(rl, "u1 t123", 7, 0), 0);
    assert_int_equal(tc_ratelimit_take(rl, "u1 t123", 7, 0), 1000);
    assert_int_equal(tc_ratelimit_take(rl, "u1 t124", 7, 0), 0); /* another table */
    assert_int_equal(tc_ratelimit_take(rl, "u2 t123", 7, 0), 0); /* another caller */
    assert_int_equal(tc_ratelimit_size(rl), 3);
    /* The sweep (every 10 s of the caller's clock) drops buckets that are full again. */
    assert_int_equal(tc_ratelimit_take(rl, "u3 t1", 5, 20000), 0);
    assert_int_equal(tc_ratelimit_size(rl), 1);
    tc_ratelimit_free(rl);
}

static void test_table_cap_lets_new_keys_through_untracked(void **state)
{
    (void)state;
    tc_ratelimit *rl = tc_ratelimit_new(1, 1, 2);
    assert_int_equal(tc_ratelimit_take(rl, "a", 1, 0), 0);
    assert_int_equal(tc_ratelimit_take(rl, "b", 1, 0), 0);
    assert_int_equal(tc_ratelimit_size(rl), 2);
    /* Full of non-full buckets: a third key is not refused, and not kept. */
    assert_int_equal(tc_ratelimit_take(rl, "c", 1, 0), 0);
    assert_int_equal(tc_ratelimit_take(rl, "c", 1, 0), 0);
    assert_int_equal(tc_ratelimit_size(rl), 2);
    /* The tracked ones are still limited. */
    assert_int_equal(tc_ratelimit_take(rl, "a", 1, 0), 1000);
    tc_ratelimit_free(rl);
    /* rate 0: off, nothing kept. */
    rl = tc_ratelimit_new(0, 0, 10);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tc_ratelimit_take(rl, "x", 1, 0), 0);
    assert_int_equal(tc_ratelimit_size(rl), 0);
    tc_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_then_rate),
        cmocka_unit_test(test_bucket_steady_rate_is_never_refused),
        cmocka_unit_test(test_bucket_clock_going_back_and_rate_zero),
        cmocka_unit_test(test_retry_after_rounds_up),
        cmocka_unit_test(test_table_keys_are_separate_and_forgotten_when_full),
        cmocka_unit_test(test_table_cap_lets_new_keys_through_untracked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
