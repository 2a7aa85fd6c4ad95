/* The store's diners (store.h, "who sits at a table") on the real SQLite
 * backend: seats in join order, a seated diner keeps their seat at no cost,
 * names, the seat cap, persistence across a reopen, and that none of it
 * touches the cart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/tmp_dir.h"

#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char menu_text[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,"
    "\"tableNumber\":\"A02\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00}]}]}";

typedef struct {
    char dir[64];
    char url[128];
    uv_loop_t loop;
    tc_store *store;
    int calls;
    int status;
    char list[4096]; /* the last answer's list: "101:1:1号,102:2:张三" */
    char err[256];
    int feeds, mine_feeds;
    int32_t feed_table;
    int64_t version; /* of the last cart read */
    int64_t gap_ms;  /* the store's sitting gap (0: seats kept for good) */
    bool serving;    /* opened as `serve` does: exclusive, the file watched */
} fixture;

static void list_text(const tc_diner *d, size_t n, char *out, size_t outlen)
{
    tc_buf b = TC_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i) tc_buf_append(&b, ",", 1);
        tc_buf_appendf(&b, "%lld:%d:", (long long)d[i].user_id, (int)d[i].seat);
        tc_buf_append_str(&b, d[i].name ? d[i].name : "-");
    }
    snprintf(out, outlen, "%s", tc_buf_cstr(&b));
    tc_buf_free(&b);
}

static void on_diners(void *ctx, int status, const tc_diner *list, size_t n, const tc_errmsg *err)
{
    fixture *f = ctx;
    f->calls++;
    f->status = status;
    f->list[0] = f->err[0] = '\0';
    if (status < 0) {
        assert_null(list);
        snprintf(f->err, sizeof f->err, "%s", err->text);
        return;
    }
    list_text(list, n, f->list, sizeof f->list);
}

static void on_feed(void *ctx, int32_t table_id, bool mine)
{
    fixture *f = ctx;
    f->feeds++;
    f->mine_feeds += mine;
    f->feed_table = table_id;
}

static void on_cart(void *ctx, int status, const tc_store_cart *c, const tc_errmsg *err)
{
    fixture *f = ctx;
    (void)err;
    assert_int_equal(status, 0);
    f->version = c->version;
    f->calls++;
}

static void wait_calls(fixture *f, int n)
{
    uint64_t until = uv_hrtime() + 5000000000u;
    while (f->calls < n) {
        if (uv_hrtime() > until) fail_msg("no answer from the store");
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static void open_store(fixture *f)
{
    tc_errmsg err = {0};
    tc_store_opts opts = {.sitting_gap_ms = f->gap_ms, .exclusive = f->serving};
    if (tc_store_open(f->url, &opts, &f->loop, &f->store, &err) != 0)
        fail_msg("open %s: %s", f->url, err.text);
    tc_store_set_diners_feed(f->store, on_feed, f);
}

static void close_store(fixture *f)
{
    tc_store_close(f->store);
    f->store = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* One call, waited for; returns its status. */
static int call(fixture *f, int32_t table, tc_diners_op op, int64_t user, const char *name)
{
    int n = f->calls + 1;
    tc_store_diners(f->store, table, op, user, name, on_diners, f);
    wait_calls(f, n);
    return f->status;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (tt_dir_make(f->dir, sizeof f->dir, "tc-diners") != 0) return -1;
    snprintf(f->url, sizeof f->url, "sqlite:%s/cart.db", f->dir);
    if (uv_loop_init(&f->loop) != 0) return -1;
    open_store(f);
    tc_menu *m;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(menu_text, strlen(menu_text), &m, &err), 0);
    assert_int_equal(tc_store_import_menu(f->store, m, &err), 0);
    tc_menu_free(m);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->store) close_store(f);
    if (uv_loop_close(&f->loop) != 0) return -1;
    if (tt_dir_remove(f->dir) != 0) return -1;
    free(f);
    return 0;
}

static void test_seats_in_join_order(void **state)
{
    fixture *f = *state;
    assert_int_equal(call(f, 123, TC_DINERS_GET, 0, NULL), 0);
    assert_string_equal(f->list, "");
    /* The feed hears the list became known (read, not made here)... */
    assert_int_equal(f->feeds, 1);
    assert_int_equal(f->mine_feeds, 0);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 101, NULL), 0);
    assert_string_equal(f->list, "101:1:-");
    /* ... and that a call here changed it. */
    assert_int_equal(f->feeds, 2);
    assert_int_equal(f->mine_feeds, 1);
    assert_int_equal(f->feed_table, 123);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 205, NULL), 0);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 7, NULL), 0);
    assert_string_equal(f->list, "101:1:-,205:2:-,7:3:-");
    /* Another table counts its own seats. */
    assert_int_equal(call(f, 124, TC_DINERS_JOIN, 7, NULL), 0);
    assert_string_equal(f->list, "7:1:-");

    /* A seated diner keeps the seat; the list in memory answers at once (no
     * job: the answer comes under the call), and nobody is told. */
    int before = f->calls, feeds = f->feeds;
    tc_store_diners(f->store, 123, TC_DINERS_JOIN, 205, NULL, on_diners, f);
    assert_int_equal(f->calls, before + 1);
    assert_int_equal(f->status, TC_UNCHANGED);
    assert_string_equal(f->list, "101:1:-,205:2:-,7:3:-");
    assert_int_equal(f->feeds, feeds);

    /* Unknown table. */
    assert_int_equal(call(f, 999, TC_DINERS_JOIN, 1, NULL), TC_ENOTFOUND);
    assert_string_equal(f->err, "table 999 not found");

    /* Seats never touch the cart. */
    int n = f->calls + 1;
    tc_store_get(f->store, 123, on_cart, f);
    wait_calls(f, n);
    assert_int_equal(f->version, 0);
}

static void test_names(void **state)
{
    fixture *f = *state;
    call(f, 123, TC_DINERS_JOIN, 101, NULL);
    call(f, 123, TC_DINERS_JOIN, 102, NULL);
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 102, "张三"), 0);
    assert_string_equal(f->list, "101:1:-,102:2:张三");
    /* The same name again: answered from memory, unchanged. */
    int before = f->calls;
    tc_store_diners(f->store, 123, TC_DINERS_NAME, 102, "张三", on_diners, f);
    assert_int_equal(f->calls, before + 1);
    assert_int_equal(f->status, TC_UNCHANGED);
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 102, "李四"), 0);
    /* A name from someone not seated yet seats them first. */
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 300, "王五"), 0);
    assert_string_equal(f->list, "101:1:-,102:2:李四,300:3:王五");

    /* The default name is "{seat}号". */
    tc_diner d = {101, 1, NULL};
    tc_buf b = TC_BUF_INIT;
    tc_diner_name_json(&d, &b);
    assert_string_equal(tc_buf_cstr(&b), "\"1号\"");
    tc_buf_free(&b);
}

static void test_fifty_seats(void **state)
{
    fixture *f = *state;
    /* Sixty diners join at once, before the loop runs: they queue behind the
     * first read and are seated in the order they came. */
    int n = f->calls;
    for (int64_t u = 1; u <= 60; u++)
        tc_store_diners(f->store, 124, TC_DINERS_JOIN, 1000 + u, NULL, on_diners, f);
    wait_calls(f, n + 60);
    assert_int_equal(f->status, TC_UNCHANGED); /* the 60th: the table is full */
    char want[4096] = "", item[32];
    for (int i = 1; i <= TC_DINER_MAX_SEATS; i++) {
        snprintf(item, sizeof item, "%s%d:%d:-", i > 1 ? "," : "", 1000 + i, i);
        strcat(want, item);
    }
    assert_string_equal(f->list, want);
    /* A seated diner may still set a name; a seatless one may not. */
    assert_int_equal(call(f, 124, TC_DINERS_NAME, 1050, "末座"), 0);
    assert_int_equal(call(f, 124, TC_DINERS_NAME, 1051, "无座"), TC_ELIMIT);
    assert_string_equal(f->err, "the table already seats 50 diners");
    assert_int_equal(call(f, 124, TC_DINERS_GET, 0, NULL), 0);
    assert_non_null(strstr(f->list, ",1050:50:末座"));
    assert_null(strstr(f->list, "1051"));
}

static void test_kept_across_reopen(void **state)
{
    fixture *f = *state;
    call(f, 123, TC_DINERS_JOIN, 101, NULL);
    call(f, 123, TC_DINERS_NAME, 102, "张三");
    call(f, 124, TC_DINERS_JOIN, 102, NULL);
    close_store(f);
    open_store(f);
    assert_int_equal(call(f, 123, TC_DINERS_GET, 0, NULL), 0);
    assert_string_equal(f->list, "101:1:-,102:2:张三");
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 103, NULL), 0);
    assert_string_equal(f->list, "101:1:-,102:2:张三,103:3:-");
    assert_int_equal(call(f, 124, TC_DINERS_JOIN, 102, NULL), TC_UNCHANGED);
    assert_string_equal(f->list, "102:1:-");
}

/* Calls the store still holds when it closes — one on its way to the
 * database, one queued behind it — are told TC_ECLOSED under the close, so
 * that their callers can free what waits for the answer; nothing is called
 * after it, nor for a call made while it closes. */
static void test_close_tells_pending_closed(void **state)
{
    fixture *f = *state;
    tc_store_diners(f->store, 123, TC_DINERS_JOIN, 101, NULL, on_diners, f);
    tc_store_diners(f->store, 123, TC_DINERS_NAME, 102, "Ann", on_diners, f);
    assert_int_equal(f->calls, 0);
    tc_store_close(f->store);
    f->store = NULL;
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->status, TC_ECLOSED);
    assert_string_equal(f->err, "store: closed before answering");
    assert_int_equal(f->feeds, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->calls, 2);
}

/* Runs the loop until ms have passed: the behaviour under test is what
 * the store does once that much time went by. */
static void run_for(fixture *f, uint64_t ms)
{
    uint64_t until = uv_hrtime() + ms * 1000000u;
    while (uv_hrtime() < until) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        uv_sleep(5);
    }
}

#define GAP_MS 300

/* The store reopened with a sitting gap. */
static void with_gap(fixture *f)
{
    close_store(f);
    f->gap_ms = GAP_MS;
    open_store(f);
}

/* A party leaves (nobody follows the table): after the gap the next diner
 * starts a new sitting at seat 1 and the old seats and names are gone, in
 * one step that the feed reports as this instance's change; a diner of the
 * old party is a new diner then. A GET after the gap reads no diners. */
static void test_sitting_starts_again_after_the_gap(void **state)
{
    fixture *f = *state;
    with_gap(f);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 101, NULL), 0);
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 102, "张三"), 0);
    assert_string_equal(f->list, "101:1:-,102:2:张三");
    /* Within the gap a returning diner keeps the seat (the backend decides:
     * nobody follows the table here). */
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 101, NULL), TC_UNCHANGED);
    run_for(f, GAP_MS + 50);
    assert_int_equal(call(f, 123, TC_DINERS_GET, 0, NULL), 0);
    assert_string_equal(f->list, "");
    int mine = f->mine_feeds;
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 201, NULL), 0);
    assert_string_equal(f->list, "201:1:-");
    assert_int_equal(f->mine_feeds, mine + 1);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 102, NULL), 0);
    assert_string_equal(f->list, "201:1:-,102:2:-");
    /* Another table's sitting is its own. */
    assert_int_equal(call(f, 124, TC_DINERS_JOIN, 7, NULL), 0);
    assert_string_equal(f->list, "7:1:-");
}

/* While the table is followed here the store keeps telling the backend it
 * is active, so the party keeps its seats however long it stays, and a
 * seated diner's JOIN is answered from memory. Once the last follower left,
 * the gap counts from then. */
static void test_a_followed_table_keeps_its_sitting(void **state)
{
    fixture *f = *state;
    with_gap(f);
    tc_store_follow(f->store, 123);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 101, NULL), 0);
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 101, "老王"), 0);
    run_for(f, 3 * GAP_MS);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 102, NULL), 0);
    assert_string_equal(f->list, "101:1:老王,102:2:-");
    /* From memory, under the call. A sweep's TOUCH may be on its way just
     * then (the sweep runs every 37 ms; a slow job under a sanitizer meets
     * it), and the JOIN rightly waits behind it: then it is asked again once
     * that is answered. A store that never answers from memory fails all. */
    bool under = false;
    for (int tries = 0; tries < 50 && !under; tries++) {
        int before = f->calls;
        tc_store_diners(f->store, 123, TC_DINERS_JOIN, 101, NULL, on_diners, f);
        under = f->calls == before + 1;
        wait_calls(f, before + 1);
        assert_int_equal(f->status, TC_UNCHANGED);
    }
    assert_true(under);

    tc_store_unfollow(f->store, 123);
    run_for(f, GAP_MS / 2);
    /* Not followed: the backend is asked (no answer under the call), and
     * within the gap the seats hold. */
    int before = f->calls;
    tc_store_diners(f->store, 123, TC_DINERS_JOIN, 101, NULL, on_diners, f);
    assert_int_equal(f->calls, before);
    wait_calls(f, before + 1);
    assert_int_equal(f->status, TC_UNCHANGED);
    assert_string_equal(f->list, "101:1:老王,102:2:-");
    run_for(f, GAP_MS + 50);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 300, NULL), 0);
    assert_string_equal(f->list, "300:1:-");
}

/* Polls the store's health until it is want (0: up), without running the
 * loop: nothing of the store's own (its sweep) runs meanwhile. */
static void wait_health(fixture *f, bool up)
{
    uint64_t until = uv_hrtime() + 5000000000u;
    while ((tc_store_ping(f->store) == 0) != up) {
        if (uv_hrtime() > until) fail_msg("the store's health did not turn %s", up ? "up" : "down");
        uv_sleep(10);
    }
}

/* A diner stays at the table through a store outage longer than the gap
 * (the database file moved away, as the serving store sees it: every touch
 * refused). The activity time stored is then older than the gap, but the
 * party never left: once the file is back, the next diner joins it (the
 * table is told first), not a new sitting that would forget 老王. */
static void test_a_party_online_through_an_outage_keeps_its_sitting(void **state)
{
    fixture *f = *state;
    close_store(f);
    f->gap_ms = GAP_MS;
    f->serving = true;
    open_store(f);
    tc_store_follow(f->store, 123);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 101, NULL), 0);
    assert_int_equal(call(f, 123, TC_DINERS_NAME, 101, "老王"), 0);
    char db[300], moved[310];
    snprintf(db, sizeof db, "%s/cart.db", f->dir);
    snprintf(moved, sizeof moved, "%s.moved", db);
    assert_int_equal(rename(db, moved), 0);
    wait_health(f, false);
    run_for(f, 2 * GAP_MS); /* the sweep's touches refused, past the gap */
    assert_int_equal(rename(moved, db), 0);
    wait_health(f, true);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 102, NULL), 0);
    assert_string_equal(f->list, "101:1:老王,102:2:-");
    tc_store_unfollow(f->store, 123);
}

/* Seats and the activity time are kept across a reopen within the gap (a
 * long one here: a reopen under a sanitizer is slow, and nothing waits for
 * the gap to pass). */
static void test_sitting_kept_across_reopen(void **state)
{
    fixture *f = *state;
    close_store(f);
    f->gap_ms = 60 * 1000;
    open_store(f);
    call(f, 123, TC_DINERS_JOIN, 101, NULL);
    close_store(f);
    open_store(f);
    assert_int_equal(call(f, 123, TC_DINERS_JOIN, 102, NULL), 0);
    assert_string_equal(f->list, "101:1:-,102:2:-");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_seats_in_join_order),
        T(test_names),
        T(test_fifty_seats),
        T(test_kept_across_reopen),
        T(test_close_tells_pending_closed),
        T(test_sitting_starts_again_after_the_gap),
        T(test_a_followed_table_keeps_its_sitting),
        T(test_sitting_kept_across_reopen),
        T(test_a_party_online_through_an_outage_keeps_its_sitting),
    };
    return cmocka_run_group_tests_name("store/diners", tests, NULL, NULL);
}
