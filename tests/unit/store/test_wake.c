/* test_wake.c — store/wake.c: a thread's sends run the callback on the
 * loop, with everything the thread published before each send seen;
 * sends before the loop looks coalesce into one callback; a send after the
 * callback took its share brings another; close frees the wake-up and lets
 * the loop end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/wake.h"
#include "support/uv_harness.h"

enum { N_ITEMS = 2000 };

typedef struct {
    tl_env env;
    tc_wake *wake;
    uv_mutex_t lock;
    int published;     /* under lock: items the thread has handed over */
    int taken;         /* loop only: items the callbacks took */
    int calls;         /* loop only */
    int publish_in_cb; /* loop only: callbacks that publish and send once more */
} fx;

static void on_wake(void *data)
{
    fx *f = data;
    f->calls++;
    uv_mutex_lock(&f->lock);
    f->taken = f->published;
    uv_mutex_unlock(&f->lock);
    if (f->publish_in_cb > 0) {
        /* A sender's publish and send landing just after this callback took
         * its share (here on the loop thread, so that the moment is certain). */
        f->publish_in_cb--;
        uv_mutex_lock(&f->lock);
        f->published++;
        uv_mutex_unlock(&f->lock);
        tc_wake_send(f->wake);
    }
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    tl_init(&f->env);
    assert_int_equal(uv_mutex_init(&f->lock), 0);
    assert_int_equal(tc_wake_open(&f->env.loop, on_wake, f, &f->wake), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tc_wake_close(f->wake);
    tl_finish(&f->env, NULL, 0);
    uv_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* The writer's pattern: publish under the lock, then send. */
static void producer(void *arg)
{
    fx *f = arg;
    for (int i = 0; i < N_ITEMS; i++) {
        uv_mutex_lock(&f->lock);
        f->published++;
        uv_mutex_unlock(&f->lock);
        tc_wake_send(f->wake);
    }
}

static void test_a_threads_sends_reach_the_loop_and_nothing_is_left_behind(void **state)
{
    fx *f = *state;
    uv_thread_t t;
    assert_int_equal(uv_thread_create(&t, producer, f), 0);
    TL_RUN_UNTIL(&f->env, f->taken == N_ITEMS);
    uv_thread_join(&t);
    assert_int_equal(f->taken, N_ITEMS);
    assert_true(f->calls >= 1 && f->calls <= N_ITEMS);
    /* Nothing is pending once the last item was taken but, at most, the
     * wake-up of a send that raced the last callback: it finds nothing new. */
    int calls = f->calls;
    uv_run(&f->env.loop, UV_RUN_NOWAIT);
    assert_true(f->calls - calls <= 1);
    assert_int_equal(f->taken, N_ITEMS);
}

static void test_sends_before_the_loop_looks_run_one_callback(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 5; i++) {
        f->published++; /* one thread here: no lock needed */
        tc_wake_send(f->wake);
    }
    TL_RUN_UNTIL(&f->env, f->calls >= 1);
    uv_run(&f->env.loop, UV_RUN_NOWAIT);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->taken, 5);
}

static void test_a_send_after_the_callback_brings_another(void **state)
{
    fx *f = *state;
    f->published = 1;
    tc_wake_send(f->wake);
    TL_RUN_UNTIL(&f->env, f->calls == 1);
    f->published = 2;
    tc_wake_send(f->wake);
    TL_RUN_UNTIL(&f->env, f->calls == 2);
    assert_int_equal(f->taken, 2);
}

/* The moment a lost wake-up needs: a send after the callback took its share
 * but before it returned. The fd must be cleared before the callback, not
 * after it (which would swallow that send and leave the item behind). */
static void test_a_send_while_the_callback_runs_brings_another(void **state)
{
    fx *f = *state;
    f->publish_in_cb = 1;
    f->published = 1;
    tc_wake_send(f->wake);
    TL_RUN_UNTIL(&f->env, f->taken == 2);
    assert_int_equal(f->calls, 2);
}

static void test_close_lets_the_loop_end(void **state)
{
    fx *f = *state;
    assert_true(uv_loop_alive(&f->env.loop)); /* the open wake-up keeps it alive */
    tc_wake_send(f->wake);                    /* pending at close: its callback never runs */
    tc_wake_close(f->wake);
    f->wake = NULL;
    uv_run(&f->env.loop, UV_RUN_NOWAIT); /* the close callback frees it (ASan: no leak) */
    assert_false(uv_loop_alive(&f->env.loop));
    assert_int_equal(f->calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_a_threads_sends_reach_the_loop_and_nothing_is_left_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sends_before_the_loop_looks_run_one_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_send_after_the_callback_brings_another, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_send_while_the_callback_runs_brings_another, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_lets_the_loop_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
