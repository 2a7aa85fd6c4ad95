/* test_cores.c — the threads on the loop's core while the load is light
 * (core/cores): the policy's steps with exact thresholds and hold, the move
 * of every thread of the process (checked with the kernel's own answer for
 * each), and the whole look: an idle process shares a core, a busy one or
 * one crowded by another process spreads, and a spread holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/cores.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- the policy's steps --------------------------------------------------- */

/* Spread, two looks in a row under 0.30 of a core share; one look at or
 * above it starts the count again. */
static void test_calm_looks_share(void **state)
{
    (void)state;
    tc_cores_state st = {0};
    assert_int_equal(tc_cores_decide(&st, 0.10, 0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.30, 0), TC_CORES_STAY); /* not under */
    assert_int_equal(tc_cores_decide(&st, 0.29, 0), TC_CORES_STAY);
    assert_false(st.shared);
    assert_int_equal(tc_cores_decide(&st, 0.0, 0), TC_CORES_SHARE);
    assert_true(st.shared);
    assert_int_equal(st.calm, 0);
    /* Spread, crowd is not read. */
    tc_cores_state busy_others = {0};
    assert_int_equal(tc_cores_decide(&busy_others, 0.1, 5.0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&busy_others, 0.1, 5.0), TC_CORES_SHARE);
}

/* Shared, up to 0.60 of the core and 0.30 of others' use stay; above
 * either spreads. */
static void test_busy_or_crowded_spreads(void **state)
{
    (void)state;
    tc_cores_state st = {.shared = true};
    assert_int_equal(tc_cores_decide(&st, 0.60, 0.30), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.0, 0.0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.61, 0.0), TC_CORES_SPREAD);
    assert_false(st.shared);
    assert_int_equal(st.hold, 20);
    tc_cores_state crowded = {.shared = true};
    assert_int_equal(tc_cores_decide(&crowded, 0.05, 0.31), TC_CORES_SPREAD);
    assert_false(crowded.shared);
    assert_int_equal(crowded.hold, 20);
}

/* Looks of calm until the state shares again; returns how many. */
static int looks_to_share(tc_cores_state *st)
{
    int n = 1;
    while (tc_cores_decide(st, 0.0, 0) != TC_CORES_SHARE)
        n++;
    return n;
}

/* After a spread, 20 looks (5 s) stay spread however calm, then two calm
 * looks share again. Each share that lasted under 240 looks (a minute)
 * doubles the next hold, up to 320 looks (80 s); a longer share starts the
 * holds over at 20. */
static void test_spread_holds(void **state)
{
    (void)state;
    tc_cores_state st = {.shared = true};
    assert_int_equal(tc_cores_decide(&st, 0.9, 0), TC_CORES_SPREAD);
    for (int i = 0; i < 20; i++)
        assert_int_equal(tc_cores_decide(&st, 0.0, 0), TC_CORES_STAY);
    assert_int_equal(st.hold, 0);
    assert_int_equal(tc_cores_decide(&st, 0.0, 0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.0, 0), TC_CORES_SHARE);
    /* Crowded again at once, over and over: 40, 80, 160, 320, 320 looks. */
    const int holds[] = {40, 80, 160, 320, 320};
    for (size_t i = 0; i < sizeof holds / sizeof holds[0]; i++) {
        assert_int_equal(tc_cores_decide(&st, 0.0, 0.9), TC_CORES_SPREAD);
        assert_int_equal(st.hold, holds[i]);
        assert_int_equal(looks_to_share(&st), holds[i] + 2);
    }
    /* A share of 239 looks is still short; one of 240 starts over. */
    for (int i = 0; i < 238; i++)
        assert_int_equal(tc_cores_decide(&st, 0.1, 0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.9, 0), TC_CORES_SPREAD);
    assert_int_equal(st.hold, 320);
    looks_to_share(&st);
    for (int i = 0; i < 239; i++)
        assert_int_equal(tc_cores_decide(&st, 0.1, 0), TC_CORES_STAY);
    assert_int_equal(tc_cores_decide(&st, 0.9, 0), TC_CORES_SPREAD);
    assert_int_equal(st.hold, 20);
    assert_int_equal(looks_to_share(&st), 22);
    assert_int_equal(tc_cores_decide(&st, 0.9, 0), TC_CORES_SPREAD);
    assert_int_equal(st.hold, 40);
}

/* --- the moves ---------------------------------------------------------- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
} parked;

static void *park(void *arg)
{
    parked *p = arg;
    pthread_mutex_lock(&p->lock);
    while (!p->stop)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static pthread_t start_parked(parked *p)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->stop = false;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, park, p), 0);
    return t;
}

static void stop_parked(parked *p, pthread_t t)
{
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(t, NULL);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
}

static void assert_on(pthread_t t, const cpu_set_t *want)
{
    cpu_set_t got;
    assert_int_equal(pthread_getaffinity_np(t, sizeof got, &got), 0);
    assert_true(CPU_EQUAL(&got, want));
}

/* This thread and t are both on want. */
static void assert_both_on(pthread_t t, const cpu_set_t *want)
{
    assert_on(pthread_self(), want);
    assert_on(t, want);
}

/* The set of cpu alone. */
static cpu_set_t one_cpu(int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET((size_t)cpu, &one);
    return one;
}

static void start_set(cpu_set_t *set)
{
    assert_int_equal(sched_getaffinity(0, sizeof *set, set), 0);
}

static int other_cpu(const cpu_set_t *set, int not )
{
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (i != not &&CPU_ISSET((size_t)i, set)) return i;
    return -1;
}

/* Every thread of the process, this one and one started before, goes onto
 * the set and back. */
static void test_move_all_moves_every_thread(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    parked p;
    pthread_t t = start_parked(&p);
    int cpu = other_cpu(&start, -1);
    cpu_set_t one = one_cpu(cpu);
    assert_int_equal(tc_cores_move_all(&one), 0);
    assert_both_on(t, &one);
    assert_int_equal(sched_getcpu(), cpu); /* the kernel moved us at once */
    assert_int_equal(tc_cores_move_all(&start), 0);
    assert_both_on(t, &start);
    stop_parked(&p, t);
}

/* --- the whole look ------------------------------------------------------- */

static void idle_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Uses ms of this process's CPU time, on this thread. */
static void spin_cpu_ms(long ms)
{
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    do {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* Idle for two looks: every thread on the loop's (this thread's) core. */
static tc_cores *open_and_share(pthread_t other, const cpu_set_t *start)
{
    tc_cores *c = tc_cores_open();
    assert_non_null(c);
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    assert_on(other, start);
    idle_ms(20);
    tc_cores_look(c);
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    idle_ms(20);
    tc_cores_look(c);
    int cpu = tc_cores_shared_cpu(c);
    assert_true(cpu >= 0);
    cpu_set_t one = one_cpu(cpu);
    assert_both_on(other, &one);
    return c;
}

/* Shared, a look with the process busy spreads every thread back over
 * the CPUs it started with, and they stay so for the hold (20 looks). */
static void test_idle_shares_busy_spreads(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    parked p;
    pthread_t t = start_parked(&p);
    tc_cores *c = open_and_share(t, &start);
    /* All of the core, less what others took (crowd); again if the host
     * stole the core's time from both. */
    for (int i = 0; i < 5 && tc_cores_shared_cpu(c) >= 0; i++) {
        spin_cpu_ms(60);
        tc_cores_look(c);
    }
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    assert_both_on(t, &start);
    for (int i = 0; i < 21; i++) {
        idle_ms(5);
        tc_cores_look(c);
        assert_int_equal(tc_cores_shared_cpu(c), -1);
    }
    idle_ms(5);
    tc_cores_look(c);
    assert_true(tc_cores_shared_cpu(c) >= 0); /* hold over, two calm looks */
    tc_cores_close(c);                        /* spreads again */
    assert_both_on(t, &start);
    stop_parked(&p, t);
}

/* Shared, another process that keeps the core busy (pinned there, so the
 * kernel cannot move it) makes the threads spread. */
static void test_crowded_core_spreads(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    parked p;
    pthread_t t = start_parked(&p);
    tc_cores *c = open_and_share(t, &start);
    int cpu = tc_cores_shared_cpu(c);
    pid_t hog = fork();
    assert_true(hog >= 0);
    if (hog == 0) {
        cpu_set_t one = one_cpu(cpu);
        sched_setaffinity(0, sizeof one, &one);
        for (;;) {
        }
    }
    /* Spread at the first look, unless the host stole the core's time
     * from both of us: then at a later one. */
    for (int i = 0; i < 20 && tc_cores_shared_cpu(c) >= 0; i++) {
        idle_ms(100);
        tc_cores_look(c);
    }
    kill(hog, SIGKILL);
    waitpid(hog, NULL, 0);
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    assert_both_on(t, &start);
    tc_cores_close(c);
    stop_parked(&p, t);
}

/* With one CPU allowed there is nothing to share: no policy. */
static void test_one_cpu_no_policy(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    cpu_set_t one = one_cpu(other_cpu(&start, -1));
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    assert_null(tc_cores_open());
    assert_int_equal(sched_setaffinity(0, sizeof start, &start), 0);
}

/* An operator pins the running process (taskset -a -p) while it is spread:
 * the policy may share and spread again, but only within the operator's
 * CPUs, never back to the ones it had at open. */
static void test_operator_pin_while_spread_is_kept(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    parked p;
    pthread_t t = start_parked(&p);
    tc_cores *c = tc_cores_open();
    assert_non_null(c);
    cpu_set_t pin = one_cpu(other_cpu(&start, -1));
    assert_int_equal(tc_cores_move_all(&pin), 0); /* the operator's taskset -a */
    for (int i = 0; i < 5 && tc_cores_shared_cpu(c) < 0; i++) {
        idle_ms(20);
        tc_cores_look(c);
    }
    for (int i = 0; i < 5 && tc_cores_shared_cpu(c) >= 0; i++) {
        spin_cpu_ms(60);
        tc_cores_look(c);
    }
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    assert_both_on(t, &pin); /* not start */
    tc_cores_close(c);
    assert_both_on(t, &pin);
    assert_int_equal(tc_cores_move_all(&start), 0);
    stop_parked(&p, t);
}

/* Shared on one CPU, an operator moves every thread to another one: the
 * next look sees the threads are no longer where it put them, no longer
 * calls them shared, and what it gives back later is the operator's CPU. */
static void test_operator_move_while_shared_is_kept(void **state)
{
    (void)state;
    cpu_set_t start;
    start_set(&start);
    parked p;
    pthread_t t = start_parked(&p);
    tc_cores *c = open_and_share(t, &start);
    int cpu = tc_cores_shared_cpu(c);
    cpu_set_t pin = one_cpu(other_cpu(&start, cpu));
    assert_int_equal(tc_cores_move_all(&pin), 0); /* the operator's taskset -a */
    idle_ms(20);
    tc_cores_look(c);
    assert_int_equal(tc_cores_shared_cpu(c), -1);
    for (int i = 0; i < 5; i++) {
        spin_cpu_ms(60);
        tc_cores_look(c);
    }
    assert_both_on(t, &pin);
    tc_cores_close(c);
    assert_both_on(t, &pin);
    assert_int_equal(tc_cores_move_all(&start), 0);
    stop_parked(&p, t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calm_looks_share),
        cmocka_unit_test(test_busy_or_crowded_spreads),
        cmocka_unit_test(test_spread_holds),
        cmocka_unit_test(test_one_cpu_no_policy),
        /* These need two CPUs or more (the suite's machines have them). */
        cmocka_unit_test(test_move_all_moves_every_thread),
        cmocka_unit_test(test_idle_shares_busy_spreads),
        cmocka_unit_test(test_crowded_core_spreads),
        cmocka_unit_test(test_operator_pin_while_spread_is_kept),
        cmocka_unit_test(test_operator_move_while_shared_is_kept),
    };
    cpu_set_t set;
    start_set(&set);
    size_t n = CPU_COUNT(&set) >= 2 ? sizeof tests / sizeof tests[0] : 4;
    return _cmocka_run_group_tests("test_cores", tests, n, NULL, NULL);
}
