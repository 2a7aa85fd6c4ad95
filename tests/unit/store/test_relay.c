/* test_relay.c — store/relay.c: follow counts and the backend's follow
 * hook, signals (kept in-process by a backend without a signal hook, sent
 * through the hook otherwise, and never fed from inside tc_store_signal),
 * and the menu feed after an import and after tc_store_menu_replace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/backend.h"
#include "support/uv_harness.h"

#include <stdio.h>
#include <string.h>

static const char menu_text[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00}]}]}";

static const char menu_text_2[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,"
    "\"tableNumber\":\"A02\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00}]}]}";

/* ===== a backend with the relay's hooks ===================================== */

static struct {
    bool hooks;       /* offer follow and signal hooks */
    char log[256];    /* "+123 -123 s123:hi " */
    const char *menu; /* what load_menu reads */
} B;

static void logf_(const char *fmt, int32_t id, const char *msg)
{
    size_t n = strlen(B.log);
    snprintf(B.log + n, sizeof B.log - n, fmt, (int)id, msg);
}

static int b_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    (void)rest;
    (void)err;
    s->impl = &B;
    return 0;
}
static void b_close(tc_store *s)
{
    (void)s;
}
static int b_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    (void)s;
    return tc_menu_parse(B.menu, strlen(B.menu), out, err);
}
static int b_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    (void)s;
    (void)m;
    (void)err;
    B.menu = menu_text_2;
    return 0;
}
static int b_ping(tc_store *s)
{
    (void)s;
    return 0;
}
static void b_submit(tc_store *s, tc_store_job *j)
{
    (void)s;
    j->status = TC_ESTORE;
    j->done(j);
}
static void b_follow(tc_store *s, int32_t id, bool on)
{
    (void)s;
    logf_(on ? "+%d%s " : "-%d%s ", id, "");
}
static void b_signal(tc_store *s, int32_t id, const char *msg, size_t len)
{
    (void)s;
    (void)len;
    logf_("s%d:%s ", id, msg);
}

static const tc_store_backend plain = {
    .scheme = "plain",
    .open = b_open,
    .close = b_close,
    .load_menu = b_load_menu,
    .import_menu = b_import_menu,
    .ping = b_ping,
    .submit = b_submit,
};

static const tc_store_backend hooked = {
    .scheme = "hooked",
    .open = b_open,
    .close = b_close,
    .load_menu = b_load_menu,
    .import_menu = b_import_menu,
    .ping = b_ping,
    .submit = b_submit,
    .follow = b_follow,
    .signal = b_signal,
};

/* ===== fixture ================================================================ */

typedef struct {
    tl_env e;
    tc_store *s;
    char fed[256]; /* "123:hi " per signal fed */
    int signals, menus;
} fixture;

static void on_signal(void *ctx, int32_t id, const char *msg, size_t len)
{
    fixture *f = ctx;
    size_t n = strlen(f->fed);
    snprintf(f->fed + n, sizeof f->fed - n, "%d:%.*s ", (int)id, (int)len, msg);
    f->signals++;
}

static void on_menu(void *ctx)
{
    ((fixture *)ctx)->menus++;
}

static int setup_with(void **state, const tc_store_backend *be)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    memset(&B, 0, sizeof B);
    B.menu = menu_text;
    tc_errmsg err = {0};
    assert_int_equal(tc_store_open_backend(be, "", NULL, &f->e.loop, &f->s, &err), 0);
    tc_store_set_signal_feed(f->s, on_signal, f);
    tc_store_set_menu_feed(f->s, on_menu, f);
    *state = f;
    return 0;
}
static int setup_plain(void **state)
{
    return setup_with(state, &plain);
}
static int setup_hooked(void **state)
{
    return setup_with(state, &hooked);
}

static int teardown(void **state)
{
    fixture *f = *state;
    tc_store_close(f->s);
    tl_finish(&f->e, NULL, 0);
    free(f);
    return 0;
}

/* ===== tests ================================================================== */

static void test_follow_counts_nest_and_backend_hears_edges(void **state)
{
    fixture *f = *state;
    assert_int_equal(tc_store_following(f->s, 123), 0);
    tc_store_follow(f->s, 123);
    tc_store_follow(f->s, 123);
    tc_store_follow(f->s, 124);
    assert_int_equal(tc_store_following(f->s, 123), 2);
    assert_int_equal(tc_store_following(f->s, 124), 1);
    tc_store_unfollow(f->s, 123);
    assert_string_equal(B.log, "+123 +124 ");
    tc_store_unfollow(f->s, 123);
    tc_store_unfollow(f->s, 123); /* unbalanced: ignored */
    assert_int_equal(tc_store_following(f->s, 123), 0);
    assert_string_equal(B.log, "+123 +124 -123 ");
}

static void test_many_tables_followed(void **state)
{
    fixture *f = *state;
    for (int32_t id = 1; id <= 1000; id++)
        tc_store_follow(f->s, id);
    for (int32_t id = 1; id <= 1000; id += 2)
        tc_store_unfollow(f->s, id);
    for (int32_t id = 1; id <= 1000; id++)
        assert_int_equal(tc_store_following(f->s, id), (unsigned)(id % 2 == 0));
}

static void test_local_signal_fed_later_in_order(void **state)
{
    fixture *f = *state;
    assert_false(tc_store_shared(f->s)); /* signals stay in this process */
    tc_store_signal(f->s, 123, "a", 1);
    tc_store_signal(f->s, 124, "bc", 2);
    assert_int_equal(f->signals, 0); /* never from inside tc_store_signal */
    TL_RUN_UNTIL(&f->e, f->signals == 2);
    assert_string_equal(f->fed, "123:a 124:bc ");
}

static void test_backend_signal_hook_carries_signals(void **state)
{
    fixture *f = *state;
    assert_true(tc_store_shared(f->s)); /* a backend with a signal hook */
    tc_store_signal(f->s, 123, "hi", 2);
    assert_string_equal(B.log, "s123:hi ");
    assert_int_equal(f->signals, 0);
    tc_store_signalled(f->s, 123, "hi", 2); /* the copy coming back */
    assert_string_equal(f->fed, "123:hi ");
}

static void test_menu_feed_after_import_and_replace(void **state)
{
    fixture *f = *state;
    assert_null(tc_menu_table(tc_store_menu(f->s), 124));
    tc_menu *m;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(menu_text_2, strlen(menu_text_2), &m, &err), 0);
    assert_int_equal(tc_store_import_menu(f->s, m, &err), 0);
    tc_menu_free(m);
    assert_int_equal(f->menus, 1);
    assert_non_null(tc_menu_table(tc_store_menu(f->s), 124));

    assert_int_equal(tc_menu_parse(menu_text, strlen(menu_text), &m, &err), 0);
    tc_menu_freeze(m);
    tc_store_menu_replace(f->s, m); /* the store takes m */
    assert_int_equal(f->menus, 2);
    assert_ptr_equal(tc_store_menu(f->s), m);
    assert_null(tc_menu_table(tc_store_menu(f->s), 124));
}

static void test_signal_pending_at_close_is_dropped(void **state)
{
    fixture *f = *state;
    tc_store_signal(f->s, 123, "late", 4);
    /* teardown closes the store with the signal still queued: nothing is
     * fed afterwards and nothing leaks (ASan) */
    assert_int_equal(f->signals, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follow_counts_nest_and_backend_hears_edges,
                                        setup_hooked, teardown),
        cmocka_unit_test_setup_teardown(test_many_tables_followed, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_local_signal_fed_later_in_order, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backend_signal_hook_carries_signals, setup_hooked,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_menu_feed_after_import_and_replace, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_signal_pending_at_close_is_dropped, setup_plain,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
