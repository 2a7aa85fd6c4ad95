/* test_presence.c — who is online at a table (api/presence), as the presence
 * object says it: the streams entered here per user (an anonymous one counts
 * for nothing, every enter undone by one leave), merged with what other
 * instances said through the store's signals (distinct users, an instance's
 * empty list forgets it, malformed signals and tables not followed here are
 * ignored). On a SQLite store, whose signals stay in this process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/presence.h"
#include "support/tmp_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char dir[64];
    uv_loop_t loop;
    tc_config cfg;
    tc_app app;
    tc_presence *p;
    uv_timer_t alive; /* a server's listener: the relay's wake-up is unref'd */
} fx;

static void on_alive(uv_timer_t *t)
{
    (void)t;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(tt_dir_make(f->dir, sizeof f->dir, "tc-presence"), 0);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/p.db", f->dir);
    tc_errmsg err;
    if (tc_store_open(url, NULL, &f->loop, &f->app.store, &err) != 0) fail_msg("%s", err.text);
    f->app.cfg = &f->cfg;
    f->app.loop = &f->loop;
    f->p = tc_presence_new(&f->app);
    uv_timer_init(&f->loop, &f->alive);
    uv_timer_start(&f->alive, on_alive, 3600 * 1000, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tc_presence_stop(f->p);
    uv_close((uv_handle_t *)&f->alive, NULL);
    tc_store_close(f->app.store);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    tc_presence_free(f->p);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(tt_dir_remove(f->dir), 0);
    free(f);
    return 0;
}

static const tc_identity anon = {0};

static tc_identity user(int64_t id)
{
    return (tc_identity){.has_user_id = true, .user_id = id};
}

/* Another instance says msg of table_id; the loop hands it over. */
static void hear(fx *f, int32_t table_id, const char *msg)
{
    tc_store_signal(f->app.store, table_id, msg, strlen(msg));
    uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* The presence object of table_id with diners 101 (seat 1, no name), 102
 * (seat 2, "王") and 103 (seat 3). */
#define expect(f, t, w) expect_at(f, t, w, __LINE__)
static void expect_at(fx *f, int32_t table_id, const char *want, int line)
{
    tc_diner d[] = {{101, 1, NULL}, {102, 2, "王"}, {103, 3, NULL}};
    tc_buf out = TC_BUF_INIT;
    tc_presence_json(f->p, table_id, d, 3, &out);
    tc_buf_append(&out, "", 1);
    if (strcmp(out.base, want) != 0) fail_msg("line %d: %s", line, out.base);
    tc_buf_free(&out);
}

#define J(online, a, b, c)                                                                         \
    "{\"tableId\":5,\"online\":" #online ",\"diners\":["                                           \
    "{\"userId\":101,\"seat\":1,\"name\":\"1号\",\"online\":" #a "},"                              \
    "{\"userId\":102,\"seat\":2,\"name\":\"王\",\"online\":" #b "},"                               \
    "{\"userId\":103,\"seat\":3,\"name\":\"3号\",\"online\":" #c "}]}"

static void test_nobody_and_no_diners(void **state)
{
    fx *f = *state;
    expect(f, 5, J(0, false, false, false));
    tc_buf out = TC_BUF_INIT;
    tc_presence_json(f->p, 7, NULL, 0, &out);
    tc_buf_append(&out, "", 1);
    assert_string_equal(out.base, "{\"tableId\":7,\"online\":0,\"diners\":[]}");
    tc_buf_free(&out);
}

/* A user online here until the last of their streams leaves; anonymous
 * streams count for nothing; another table is another count. */
static void test_local_streams(void **state)
{
    fx *f = *state;
    tc_identity u101 = user(101), u102 = user(102), u104 = user(104);
    tc_presence_enter(f->p, 5, &u101);
    tc_presence_enter(f->p, 5, &u101);
    tc_presence_enter(f->p, 5, &anon);
    tc_presence_enter(f->p, 5, &u104); /* online, not seated */
    tc_presence_enter(f->p, 6, &u102);
    expect(f, 5, J(2, true, false, false));
    tc_presence_leave(f->p, 5, &u101);
    expect(f, 5, J(2, true, false, false));
    tc_presence_leave(f->p, 5, &u101);
    expect(f, 5, J(1, false, false, false));
    tc_presence_leave(f->p, 5, &u104);
    expect(f, 5, J(0, false, false, false));
    tc_presence_leave(f->p, 5, &anon);
    expect(f, 5, J(0, false, false, false));
    tc_presence_leave(f->p, 6, &u102);
}

/* What other instances say is merged: distinct users, here or there. */
static void test_other_instances_merged(void **state)
{
    fx *f = *state;
    tc_identity u101 = user(101), u102 = user(102);
    tc_presence_enter(f->p, 5, &u101);
    tc_presence_enter(f->p, 5, &u102);
    hear(f, 5, "{\"inst\":\"b\",\"users\":[103,102,103],\"ttl\":3}");
    expect(f, 5, J(3, true, true, true));
    hear(f, 5, "{\"inst\":\"c\",\"users\":[103,104,\"x\",105],\"ttl\":3}");
    expect(f, 5, J(5, true, true, true));
    /* b says again: only what it says now. */
    hear(f, 5, "{\"inst\":\"b\",\"users\":[],\"ttl\":3}");
    expect(f, 5, J(5, true, true, true));
    hear(f, 5, "{\"inst\":\"c\",\"users\":[],\"ttl\":3}");
    expect(f, 5, J(2, true, true, false));
    tc_presence_leave(f->p, 5, &u102);
    expect(f, 5, J(1, true, false, false));
    tc_presence_leave(f->p, 5, &u101);
}

/* Malformed signals, and signals of a table no stream here follows, change
 * nothing. */
static void test_ignored_signals(void **state)
{
    fx *f = *state;
    tc_identity u101 = user(101);
    hear(f, 5, "{\"inst\":\"b\",\"users\":[102],\"ttl\":3}"); /* not followed yet */
    tc_presence_enter(f->p, 5, &u101);
    expect(f, 5, J(1, true, false, false));
    hear(f, 5, "not json");
    hear(f, 5, "{\"users\":[102],\"ttl\":3}");                    /* no inst */
    hear(f, 5, "{\"inst\":7,\"users\":[102],\"ttl\":3}");         /* inst not a string */
    hear(f, 5, "{\"inst\":\"b\",\"users\":102,\"ttl\":3}");       /* users not a list */
    hear(f, 5, "{\"inst\":\"b\",\"users\":[102],\"ttl\":\"3\"}"); /* ttl not an integer */
    hear(f, 5,
         "{\"inst\":\"0123456789012345678901234567890123456789x\",\"users\":[102],"
         "\"ttl\":3}");                                       /* 41 characters: too long */
    hear(f, 6, "{\"inst\":\"b\",\"users\":[102],\"ttl\":3}"); /* another table */
    expect(f, 5, J(1, true, false, false));
    /* 40 characters is an instance. */
    hear(f, 5,
         "{\"inst\":\"0123456789012345678901234567890123456789\",\"users\":[102],"
         "\"ttl\":3}");
    expect(f, 5, J(2, true, true, false));
    tc_presence_leave(f->p, 5, &u101);
}

/* Once the last stream of a table here leaves, what others said of it is
 * forgotten with it. */
static void test_last_leave_forgets_the_table(void **state)
{
    fx *f = *state;
    tc_identity u101 = user(101);
    tc_presence_enter(f->p, 5, &u101);
    hear(f, 5, "{\"inst\":\"b\",\"users\":[102],\"ttl\":3}");
    expect(f, 5, J(2, true, true, false));
    tc_presence_leave(f->p, 5, &u101);
    expect(f, 5, J(0, false, false, false));
    tc_presence_enter(f->p, 5, &anon);
    expect(f, 5, J(0, false, false, false));
    tc_presence_leave(f->p, 5, &anon);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nobody_and_no_diners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_instances_merged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_signals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_leave_forgets_the_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
