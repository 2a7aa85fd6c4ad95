/* test_clock.c — wall-clock time for the wire (core/clock): milliseconds and
 * seconds since the Unix epoch, read from CLOCK_REALTIME, the two in step
 * (the seconds are the milliseconds' whole seconds, never a second ahead). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"

#include <time.h>

static int64_t realtime_ms(void)
{
    struct timespec ts;
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch: between two readings of the clock taken
 * around it, and in this century (not seconds, not microseconds). */
static void test_epoch_ms_is_realtime(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        int64_t before = realtime_ms();
        int64_t ms = tc_clock_epoch_ms();
        int64_t after = realtime_ms();
        assert_true(before <= ms);
        assert_true(ms <= after);
    }
    int64_t ms = tc_clock_epoch_ms();
    assert_true(ms > INT64_C(1577836800000)); /* 2020-01-01 */
    assert_true(ms < INT64_C(4102444800000)); /* 2100-01-01 */
}

/* The seconds agree with the milliseconds read around them: truncated, not
 * rounded (a token's exp is compared with them). */
static void test_epoch_s_is_truncated_ms(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        int64_t before = tc_clock_epoch_ms();
        int64_t s = tc_clock_epoch_s();
        int64_t after = tc_clock_epoch_ms();
        assert_true(before / 1000 <= s);
        assert_true(s <= after / 1000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_ms_is_realtime),
        cmocka_unit_test(test_epoch_s_is_truncated_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
