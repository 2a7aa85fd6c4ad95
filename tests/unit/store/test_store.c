/* test_store.c — the store interface (store.c) and the change-pipeline
 * contract of store.h, on a fake backend plugged in through
 * tc_store_open_backend, and the same contract on the real SQLite backend.
 *
 * The fake answers asynchronously from the loop, as the Redis backend does,
 * and saves by compare-and-set as Redis does (TC_ECONFLICT when the stored
 * version is not the one the batch was applied to); a test can make its
 * open, menu load, import, ping or the save of one table's next mutate fail,
 * make saves lose races, write a cart "from another instance" and offer it. The contract run
 * (run_contract) submits one sequence of ops over two tables and checks:
 * every call is answered once, per table in submission order; each change
 * reaches the feed exactly once, before its callback, with the op's origin;
 * failures and unchanged ops feed nothing; the versions the feed sees per
 * table go 1, 2, 3 without a gap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/tmp_dir.h"

#include "core/mem.h"
#include "store/backend.h"
#include "support/uv_harness.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char menu_text[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,"
    "\"tableNumber\":\"A02\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00},"
    "{\"cuisineId\":1002,\"cuisineName\":\"米饭\",\"cuisineType\":1,\"unitPrice\":2}]}]}";

/* The same restaurant with one more table. */
static const char menu_text_200[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,"
    "\"tableNumber\":\"A02\"},{\"tableId\":200,\"tableNumber\":\"B01\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00}]}]}";

/* ===== the fake backend ==================================================== */

enum { FAKE_TABLES = 4 };

/* A pipeline backend: it keeps each table's stored DTO and finishes one job
 * per loop turn, so answers interleave with other events. */
static struct {
    tc_store *s;
    uv_async_t wake;
    tc_store_job *head, *tail;
    const char *menu_text;   /* what load_menu reads */
    const char *import_text; /* what a successful import leaves for load_menu */
    int32_t ids[FAKE_TABLES];
    char *rows[FAKE_TABLES]; /* stored DTOs, NULL: none */
    int opens, closes, loads, imports, pings, cart_loads, saves;
    int open_rc, load_rc, import_rc, ping_rc; /* forced results, 0 = work */
    int32_t fail_table;                       /* the next save of this table fails */
    int32_t fail_load_table;                  /* the next read of this table fails */
    int32_t lose_table; /* the next save of this table lands, and fails (reply lost) */
    int conflicts_left; /* this many saves lose their race */
    int conflicts;      /* saves answered TC_ECONFLICT */
    bool deaf;          /* "changes made elsewhere may have gone unheard" */
    /* Another process answered this key (shared_idem runs): a save carrying
     * it ends TC_JOB_KNOWN with that answer's version. */
    const char *known_key;
    int64_t known_version;
    int probes, answers_only; /* probes carried; saves with no cart (version -1) */
    bool follows;             /* only followed tables are heard */
    /* Saves are made but their replies held back (F.held) until
     * fake_release(): a message of the save may be heard first. */
    bool hold;
    tc_store_job *held;
    /* The last save's earlier changes (tc_store_job.earlier): each one's
     * cart version, its DTO's version and its origin. */
    size_t n_earlier;
    int64_t earlier_version[8], earlier_json_version[8];
    uint64_t earlier_origin[8];
} F;

static char **fake_row(int32_t table_id)
{
    for (int i = 0; i < FAKE_TABLES; i++) {
        if (F.ids[i] == table_id) return &F.rows[i];
        if (F.ids[i] == 0) {
            F.ids[i] = table_id;
            return &F.rows[i];
        }
    }
    fail_msg("fake: too many tables");
    return NULL;
}

static void fake_run(tc_store_job *j)
{
    /* store.c never hands a backend a table the menu does not have. */
    assert_non_null(tc_menu_table(F.s->menu, j->table_id));
    char **row = fake_row(j->table_id);
    if (j->kind == TC_JOB_LOAD) {
        F.cart_loads++;
        if (F.fail_load_table == j->table_id) {
            F.fail_load_table = 0;
            j->status = tc_errmsg_set(&j->err, TC_ESTORE, "fake: read failed");
            return;
        }
        j->found = *row != NULL;
        if (*row) tc_buf_append_str(&j->row, *row);
        return;
    }
    F.saves++;
    assert_true(j->n_earlier <= 8);
    assert_true(j->n_earlier == 0 || j->version >= 0);
    F.n_earlier = j->n_earlier;
    for (size_t i = 0; i < j->n_earlier; i++) {
        tc_cart *c;
        const tc_rbuf *json = j->earlier[i].json;
        assert_int_equal(tc_cart_from_json(json->data, json->len, &c), 0);
        F.earlier_json_version[i] = tc_cart_version(c);
        tc_cart_free(c);
        F.earlier_version[i] = tc_cart_version(j->earlier[i].cart);
        F.earlier_origin[i] = j->earlier[i].origin;
    }
    for (const tc_store_idem_rec *rec = j->idem; rec; rec = rec->next) {
        F.probes += rec->probe;
        if (F.known_key && strcmp(rec->key, F.known_key) == 0) {
            tc_store_idem_rec *k = tc_xcalloc(1, sizeof *k);
            k->key = tc_xstrdup(rec->key);
            k->caller = tc_xstrdup(rec->caller);
            k->version = F.known_version;
            k->json = tc_rbuf_new("{\"known\":1}", 11);
            k->expires_ms = INT64_MAX;
            j->known = k;
            j->status = TC_JOB_KNOWN;
            return;
        }
    }
    if (F.fail_table == j->table_id) {
        F.fail_table = 0;
        j->status = tc_errmsg_set(&j->err, TC_ESTORE, "fake: save failed");
        return;
    }
    int64_t stored = 0, stored_at = -1;
    if (*row) {
        tc_cart *c;
        assert_int_equal(tc_cart_from_json(*row, strlen(*row), &c), 0);
        stored = tc_cart_version(c);
        stored_at = tc_cart_updated_at(c);
        tc_cart_free(c);
    }
    /* Compared as the Redis script compares them: version and updatedAt. */
    if (F.conflicts_left > 0 || stored != j->expect_version ||
        (j->expect_version > 0 && stored_at != j->expect_updated_at)) {
        if (F.conflicts_left > 0) F.conflicts_left--;
        F.conflicts++;
        j->status = TC_ECONFLICT;
        return;
    }
    if (j->version < 0) {
        F.answers_only++;
        return;
    }
    free(*row);
    *row = tc_xstrdup(j->json->data);
    if (F.lose_table == j->table_id) {
        F.lose_table = 0;
        j->status = tc_errmsg_set(&j->err, TC_ESTORE, "fake: reply lost");
    }
}

static void fake_tick(uv_async_t *a)
{
    (void)a;
    tc_store_job *j = F.head;
    F.head = j->next;
    if (F.head == NULL) F.tail = NULL;
    fake_run(j);
    if (F.hold && j->kind != TC_JOB_LOAD) {
        assert_null(F.held);
        F.held = j;
    } else {
        j->done(j);
    }
    if (F.head) uv_async_send(&F.wake);
}

/* The reply of the save held back comes now. */
static void fake_release(void)
{
    tc_store_job *j = F.held;
    assert_non_null(j);
    F.held = NULL;
    F.hold = false;
    j->done(j);
}

static void fake_submit(tc_store *s, tc_store_job *j)
{
    (void)s;
    j->next = NULL;
    if (F.tail)
        F.tail->next = j;
    else
        F.head = j;
    F.tail = j;
    uv_async_send(&F.wake);
}

static int fake_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    F.opens++;
    assert_string_equal(rest, "fake-rest");
    if (F.open_rc) return tc_errmsg_set(err, F.open_rc, "fake: open failed");
    F.s = s;
    s->impl = &F;
    uv_async_init(s->loop, &F.wake, fake_tick);
    return 0;
}

static void fake_close(tc_store *s)
{
    assert_ptr_equal(s->impl, &F);
    assert_true(s->closing);
    F.closes++;
    uv_close((uv_handle_t *)&F.wake, NULL);
    /* Unfinished jobs are handed back; store.c answers nobody now. */
    while (F.head) {
        tc_store_job *j = F.head;
        F.head = j->next;
        j->status = TC_ESTORE;
        j->done(j);
    }
    F.tail = NULL;
    for (int i = 0; i < FAKE_TABLES; i++)
        free(F.rows[i]);
}

static int fake_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    (void)s;
    F.loads++;
    if (F.load_rc) return tc_errmsg_set(err, F.load_rc, "fake: load failed");
    return tc_menu_parse(F.menu_text, strlen(F.menu_text), out, err);
}

static int fake_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    (void)s;
    (void)m;
    F.imports++;
    if (F.import_rc) return tc_errmsg_set(err, F.import_rc, "fake: import failed");
    F.menu_text = F.import_text;
    return 0;
}

static int fake_ping(tc_store *s)
{
    (void)s;
    F.pings++;
    return F.ping_rc;
}

static bool fake_current(tc_store *s, int32_t table_id)
{
    /* follows: like Redis, only the changes of followed tables are heard */
    return !F.deaf && (!F.follows || tc_store_following(s, table_id) > 0);
}

/* Not const: shared_idem runs set .shared_idem, and a run as the only
 * writer clears .current (setup_fake sets both back). */
static tc_store_backend fake_backend = {
    .scheme = "fake",
    .open = fake_open,
    .close = fake_close,
    .load_menu = fake_load_menu,
    .import_menu = fake_import_menu,
    .ping = fake_ping,
    .submit = fake_submit,
    .current = fake_current,
};

/* ===== what the store's users saw =========================================== */

enum { MAX_EVENTS = 64, MAX_CALLS = 16 };

typedef struct fixture fixture;

typedef struct {
    char kind; /* 'F' feed, 'C' callback */
    int32_t table_id;
    int call;        /* 'C': which submission */
    int status;      /* 'C' */
    int64_t version; /* of the cart, -1 for none */
    uint64_t origin; /* 'F' */
    bool reset;      /* 'F': fed as a reset (the store lost the cart) */
} event;

typedef struct {
    fixture *f;
    int call;
    int32_t table_id;
} call_ctx;

struct fixture {
    tl_env e;
    tc_store *store;
    int lazy_feeds; /* carts fed as JSON only (c->cart NULL) */
    event ev[MAX_EVENTS];
    int n_ev;
    call_ctx calls[MAX_CALLS];
    int answers[MAX_CALLS];
    int answered;
    char err[MAX_CALLS][256];
    char json[MAX_CALLS][1024]; /* the cart DTO answered, "" for none */
    /* SQLite runs: where the file is, and the row a forced failure spoils. */
    char dir[64], path[96];
    char *saved_row;
};

static void add_event(fixture *f, event e)
{
    assert_true(f->n_ev < MAX_EVENTS);
    f->ev[f->n_ev++] = e;
}

static void on_feed(void *ctx, const tc_store_cart *c, uint64_t origin)
{
    fixture *f = ctx;
    /* The cart is there unless it was offered as JSON only; the rest always is. */
    if (c->cart) {
        assert_int_equal(tc_cart_table_id(c->cart), c->table_id);
        assert_int_equal(tc_cart_version(c->cart), c->version);
    }
    assert_true(c->json->len > 0);
    f->lazy_feeds += c->cart == NULL;
    add_event(f, (event){'F', c->table_id, -1, 0, c->version, origin, c->reset});
}

/* A second feed, to see that tc_store_set_feed replaces the first. */
static int other_feeds;
static void on_other_feed(void *ctx, const tc_store_cart *cart, uint64_t origin)
{
    (void)ctx;
    (void)cart;
    (void)origin;
    other_feeds++;
}

static void on_done(void *ctx, int status, const tc_store_cart *c, const tc_errmsg *err)
{
    call_ctx *k = ctx;
    const tc_cart *cart = c ? c->cart : NULL;
    fixture *f = k->f;
    if (status < 0) assert_null(cart);
    if (status >= 0 && status != TC_STORE_REPLAYED) assert_non_null(cart);
    if (status == TC_STORE_REPLAYED) assert_null(cart);
    if (c) assert_int_equal(c->version, cart ? tc_cart_version(cart) : c->version);
    if (cart) assert_int_equal(tc_cart_table_id(cart), k->table_id);
    if (c) assert_int_equal(c->table_id, k->table_id);
    f->answers[k->call]++;
    f->answered++;
    snprintf(f->err[k->call], sizeof f->err[k->call], "%s", status < 0 ? err->text : "");
    snprintf(f->json[k->call], sizeof f->json[k->call], "%.*s",
             c && c->json ? (int)c->json->len : 0, c && c->json ? c->json->data : "");
    add_event(f, (event){'C', k->table_id, k->call, status, c ? c->version : -1, 0, false});
}

static call_ctx *next_call(fixture *f, int32_t table_id)
{
    int i = 0;
    while (f->calls[i].f != NULL)
        i++;
    assert_true(i < MAX_CALLS);
    f->calls[i] = (call_ctx){f, i, table_id};
    return &f->calls[i];
}

static const tc_cart_limits lim = TC_CART_LIMITS_DEFAULT;

static void mutate(fixture *f, tc_op_kind kind, int32_t table, int32_t dish, int32_t qty)
{
    call_ctx *k = next_call(f, table);
    tc_op op = {.kind = kind,
                .table_id = table,
                .cuisine_id = dish,
                .quantity = qty,
                .expect_version = -1,
                .origin = 100u + (uint64_t)k->call};
    tc_store_mutate(f->store, &op, &lim, on_done, k);
}

/* A change with an Idempotency-Key (scoped by the caller already). */
static void mutate_keyed(fixture *f, int32_t table, int32_t dish, const char *key)
{
    call_ctx *k = next_call(f, table);
    tc_op op = {.kind = TC_OP_ADD,
                .table_id = table,
                .cuisine_id = dish,
                .quantity = 1,
                .expect_version = -1,
                .origin = 100u + (uint64_t)k->call};
    op.idem_key = key;
    op.idem_caller = "u:1";
    tc_store_mutate(f->store, &op, &lim, on_done, k);
}

static int count_kind(const fixture *f, char kind)
{
    int n = 0;
    for (int i = 0; i < f->n_ev; i++)
        n += f->ev[i].kind == kind;
    return n;
}

/* ===== fixtures ================================================================ */

static int setup_fake(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    memset(&F, 0, sizeof F);
    F.menu_text = menu_text;
    fake_backend.shared_idem = false;
    fake_backend.current = fake_current;
    F.import_text = menu_text_200;
    tc_errmsg err = {0};
    assert_int_equal(
        tc_store_open_backend(&fake_backend, "fake-rest", NULL, &f->e.loop, &f->store, &err), 0);
    tc_store_set_feed(f->store, on_feed, f);
    *state = f;
    return 0;
}

/* The SQLite backend with its jobs counted. */
static tc_store_backend counted_sqlite;
static int sqlite_jobs;

static void counted_submit(tc_store *s, tc_store_job *j)
{
    sqlite_jobs++;
    tc_store_backend_sqlite.submit(s, j);
}

static int setup_sqlite(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    if (tt_dir_make(f->dir, sizeof f->dir, "tc-store") != 0) return -1;
    snprintf(f->path, sizeof f->path, "%s/cart.db", f->dir);
    counted_sqlite = tc_store_backend_sqlite;
    counted_sqlite.submit = counted_submit;
    sqlite_jobs = 0;
    tc_errmsg err = {0};
    if (tc_store_open_backend(&counted_sqlite, f->path, NULL, &f->e.loop, &f->store, &err) != 0)
        fail_msg("open: %s", err.text);
    tc_menu *m;
    assert_int_equal(tc_menu_parse(menu_text, strlen(menu_text), &m, &err), 0);
    assert_int_equal(tc_store_import_menu(f->store, m, &err), 0);
    tc_menu_free(m);
    tc_store_set_feed(f->store, on_feed, f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tc_store_close(f->store);
    tl_finish(&f->e, NULL, 0);
    if (f->dir[0] && tt_dir_remove(f->dir) != 0) return -1;
    free(f->saved_row);
    free(f);
    return 0;
}

/* ===== forcing a backend failure ============================================ */

static void fake_fail_next(fixture *f, int32_t table_id)
{
    (void)f;
    F.fail_table = table_id;
}

static void fake_fail_done(fixture *f)
{
    (void)f;
    assert_int_equal(F.fail_table, 0); /* the failure was used */
}

static void sql(fixture *f, const char *text, const char *arg, char **out)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, text, -1, &st, NULL), SQLITE_OK);
    if (arg) sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    if (out) {
        assert_int_equal(rc, SQLITE_ROW);
        *out = tc_xstrdup((const char *)sqlite3_column_text(st, 0));
    } else {
        assert_int_equal(rc, SQLITE_DONE);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The database refuses the next write of table 123's cart: a trigger another
 * connection adds raises an error inside the writer's transaction. */
static void sqlite_fail_next(fixture *f, int32_t table_id)
{
    assert_int_equal(table_id, 123);
    sql(f,
        "CREATE TRIGGER fail_123 BEFORE UPDATE ON carts WHEN NEW.table_id = 123"
        " BEGIN SELECT RAISE(ABORT, 'forced'); END",
        NULL, NULL);
}

static void sqlite_fail_done(fixture *f)
{
    sql(f, "DROP TRIGGER fail_123", NULL, NULL);
}

/* ===== the contract ========================================================= */

typedef struct {
    void (*fail_next)(fixture *f, int32_t table_id);
    void (*fail_done)(fixture *f);
} failure_hooks;

enum { N_CALLS = 10 };

/* What each submission of run_contract must be answered with. */
static const struct {
    int32_t table_id;
    int status;
    int64_t version;
} expected[N_CALLS] = {
    {123, 0, 1},
    {124, 0, 1},
    {123, 0, 2},
    {123, TC_UNCHANGED, 2},
    {123, TC_ENOTFOUND, -1},
    {123, TC_ESTORE, -1},
    {124, 0, 2},
    {123, 0, 3},
    {999, TC_ENOTFOUND, -1},
    {124, 0, 3},
};

static void run_contract(fixture *f, const failure_hooks *h)
{
    mutate(f, TC_OP_ADD, 123, 1001, 1);    /* 0: v1 */
    mutate(f, TC_OP_ADD, 124, 1001, 2);    /* 1: v1 */
    mutate(f, TC_OP_ADD, 123, 1002, 1);    /* 2: v2 */
    mutate(f, TC_OP_UPDATE, 123, 1001, 1); /* 3: the same quantity: unchanged */
    mutate(f, TC_OP_ADD, 123, 9999, 1);    /* 4: no such dish */
    /* Changes queued together are saved together: the failure is set up once
     * they are answered, so that it hits call 5's save alone. */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    h->fail_next(f, 123);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 5: the backend fails */
    TL_RUN_UNTIL(&f->e, f->answered == 6);
    h->fail_done(f);
    mutate(f, TC_OP_ADD, 124, 1002, 1);    /* 6: v2 */
    mutate(f, TC_OP_REMOVE, 123, 1002, 0); /* 7: v3 — no gap after the failure */
    mutate(f, TC_OP_ADD, 999, 1001, 1);    /* 8: no such table */
    mutate(f, TC_OP_CLEAR, 124, 0, 0);     /* 9: v3 */
    TL_RUN_UNTIL(&f->e, f->answered == N_CALLS);

    for (int i = 0; i < N_CALLS; i++)
        assert_int_equal(f->answers[i], 1);
    int last_call[1000] = {0};
    int64_t last_fed[1000] = {0};
    for (int i = 0; i < f->n_ev; i++) {
        event *e = &f->ev[i];
        if (e->kind == 'F') {
            /* Versions seen by the feed: 1, 2, 3 per table. */
            assert_int_equal(e->version, last_fed[e->table_id] + 1);
            last_fed[e->table_id] = e->version;
            /* Its callback came just before for that table, with that
             * version: the caller is answered first. */
            int j = i - 1;
            while (j >= 0 && f->ev[j].table_id != e->table_id)
                j--;
            assert_true(j >= 0);
            assert_int_equal(f->ev[j].kind, 'C');
            assert_int_equal(f->ev[j].status, 0);
            assert_int_equal(f->ev[j].version, e->version);
            assert_int_equal(e->origin, 100u + (uint64_t)f->ev[j].call);
            continue;
        }
        int c = e->call;
        assert_int_equal(e->table_id, expected[c].table_id);
        assert_int_equal(e->status, expected[c].status);
        assert_int_equal(e->version, expected[c].version);
        /* Per table, answers come in submission order. */
        assert_true(c + 1 > last_call[e->table_id]);
        last_call[e->table_id] = c + 1;
        if (e->status == 0) {
            /* The change is fed right after (checked from the feed's side too). */
            int j = i + 1;
            while (j < f->n_ev && f->ev[j].table_id != e->table_id)
                j++;
            assert_true(j < f->n_ev);
            assert_int_equal(f->ev[j].kind, 'F');
        }
    }
    /* Exactly one feed per change: 0, 1, 2, 6, 7, 9. */
    assert_int_equal(count_kind(f, 'F'), 6);
    assert_int_equal(last_fed[123], 3);
    assert_int_equal(last_fed[124], 3);
    assert_string_equal(f->err[8], "table 999 not found");
    assert_int_equal(f->err[0][0], '\0');
}

static void test_contract_fake(void **state)
{
    fixture *f = *state;
    static const failure_hooks h = {fake_fail_next, fake_fail_done};
    run_contract(f, &h);
    assert_string_equal(f->err[5], "fake: save failed");
    /* Each table's cart was read once, and 123's again after call 5's
     * failed save (others write too: it may have landed); saves: call 5's,
     * and the batches of the other changes — fewer than the 6 changes. */
    assert_int_equal(F.cart_loads, 3);
    assert_true(F.saves >= 4 && F.saves <= 7);
}

static void test_contract_sqlite(void **state)
{
    fixture *f = *state;
    static const failure_hooks h = {sqlite_fail_next, sqlite_fail_done};
    run_contract(f, &h);
    assert_non_null(strstr(f->err[5], ": save cart: forced"));
}

/* ===== store.c around the backend ============================================== */

static void test_fake_answers_later(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1);
    call_ctx *k = next_call(f, 123);
    tc_store_get(f->store, 123, on_done, k);
    /* Asynchronous: nothing is answered or fed under the call. */
    assert_int_equal(f->n_ev, 0);
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(f->n_ev, 3);
    assert_int_equal(f->ev[0].kind, 'C'); /* the caller, then the feed */
    assert_int_equal(f->ev[1].kind, 'F');
    assert_int_equal(f->ev[2].kind, 'C');
    assert_int_equal(f->ev[2].call, 1);
    assert_int_equal(f->ev[2].version, 1); /* the get sees the change before it */
    assert_int_equal(F.cart_loads, 1);
    assert_int_equal(F.saves, 1);
}

static void test_unknown_table_answered_by_store(void **state)
{
    fixture *f = *state;
    call_ctx *k = next_call(f, 999);
    tc_store_get(f->store, 999, on_done, k);
    /* Answered under the call, without the backend. */
    assert_int_equal(f->answered, 1);
    assert_int_equal(f->ev[0].status, TC_ENOTFOUND);
    assert_string_equal(f->err[0], "table 999 not found");
    mutate(f, TC_OP_ADD, 999, 1001, 1);
    assert_int_equal(f->answered, 2);
    assert_int_equal(f->ev[1].status, TC_ENOTFOUND);
    assert_int_equal(F.cart_loads + F.saves, 0);
    assert_int_equal(count_kind(f, 'F'), 0);
}

static void test_set_feed_replaces_and_clears(void **state)
{
    fixture *f = *state;
    other_feeds = 0;
    tc_store_set_feed(f->store, on_other_feed, NULL);
    mutate(f, TC_OP_ADD, 123, 1001, 1);
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    assert_int_equal(other_feeds, 1);
    assert_int_equal(count_kind(f, 'F'), 0);
    tc_store_set_feed(f->store, NULL, NULL);
    mutate(f, TC_OP_ADD, 123, 1001, 1);
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(f->ev[1].version, 2);
    assert_int_equal(other_feeds, 1);
    assert_int_equal(count_kind(f, 'F'), 0);
}

static void test_open_failures(void **state)
{
    (void)state;
    uv_loop_t loop_storage;
    uv_loop_t *loop = &loop_storage;
    assert_int_equal(uv_loop_init(loop), 0);
    tc_store *s = (tc_store *)&F; /* must stay untouched */
    tc_errmsg err = {0};
    memset(&F, 0, sizeof F);
    F.menu_text = menu_text;
    fake_backend.shared_idem = false;
    F.open_rc = TC_EIO;
    assert_int_equal(tc_store_open_backend(&fake_backend, "fake-rest", NULL, loop, &s, &err),
                     TC_EIO);
    assert_ptr_equal(s, (tc_store *)&F);
    assert_string_equal(err.text, "fake: open failed");
    assert_int_equal(F.loads + F.closes, 0);

    memset(&F, 0, sizeof F);
    F.menu_text = menu_text;
    fake_backend.shared_idem = false;
    F.load_rc = TC_ESTORE;
    assert_int_equal(tc_store_open_backend(&fake_backend, "fake-rest", NULL, loop, &s, &err),
                     TC_ESTORE);
    assert_string_equal(err.text, "fake: load failed");
    assert_int_equal(F.opens, 1);
    assert_int_equal(F.closes, 1); /* what open took is released */
    uv_run(loop, UV_RUN_DEFAULT);  /* the fake's handle closes */
    assert_int_equal(uv_loop_close(loop), 0);

    assert_int_equal(tc_store_open("fake:x", NULL, NULL, &s, &err), TC_EINVAL);
    assert_string_equal(
        err.text, "store: unsupported URL 'fake:x' (expected sqlite:PATH or redis://HOST:PORT)");
    assert_int_equal(tc_store_open("sqlite", NULL, NULL, &s, &err), TC_EINVAL);
    assert_int_equal(tc_store_open(NULL, NULL, NULL, &s, &err), TC_EINVAL);
    assert_ptr_equal(s, (tc_store *)&F);
}

static void test_import_reloads_or_keeps_menu(void **state)
{
    fixture *f = *state;
    tc_errmsg err = {0};
    tc_menu *m;
    assert_int_equal(tc_menu_parse(menu_text_200, strlen(menu_text_200), &m, &err), 0);
    const tc_menu *before = tc_store_menu(f->store);
    assert_false(tc_store_menu_empty(f->store));

    F.import_rc = TC_ESTORE;
    assert_int_equal(tc_store_import_menu(f->store, m, &err), TC_ESTORE);
    assert_ptr_equal(tc_store_menu(f->store), before);
    assert_int_equal(F.loads, 1); /* no reload after a failed import */

    F.import_rc = 0;
    F.load_rc = TC_ESTORE;
    assert_int_equal(tc_store_import_menu(f->store, m, &err), TC_ESTORE);
    assert_ptr_equal(tc_store_menu(f->store), before);
    assert_null(tc_menu_table(tc_store_menu(f->store), 200));

    F.load_rc = 0;
    assert_int_equal(tc_store_import_menu(f->store, m, &err), 0);
    assert_int_equal(F.imports, 3);
    assert_int_equal(F.loads, 3);
    assert_string_equal(tc_menu_table(tc_store_menu(f->store), 200)->table_number, "B01");
    tc_menu_free(m);

    mutate(f, TC_OP_ADD, 200, 1001, 1);
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    assert_int_equal(f->ev[1].status, 0);
    assert_int_equal(f->ev[1].version, 1);
}

static void test_ping_passes_through(void **state)
{
    fixture *f = *state;
    assert_int_equal(tc_store_ping(f->store), 0);
    F.ping_rc = TC_ESTORE;
    assert_int_equal(tc_store_ping(f->store), TC_ESTORE);
    assert_int_equal(F.pings, 2);
}

/* A keyed change and its retries queued behind it are one change; a save that
 * fails forgets the key, so the retry after it applies. */
static void test_idempotency_in_the_pipeline(void **state)
{
    fixture *f = *state;
    mutate_keyed(f, 123, 1001, "k1"); /* 0: v1 */
    mutate_keyed(f, 123, 1001, "k1"); /* 1: replay of 0, same batch */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    mutate_keyed(f, 123, 1001, "k1"); /* 2: replay from memory */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(count_kind(f, 'F'), 1);
    assert_int_equal(f->ev[0].kind, 'C');
    assert_int_equal(f->ev[0].status, 0);
    assert_int_equal(f->ev[1].kind, 'F');
    assert_int_equal(f->ev[2].status, TC_STORE_REPLAYED);
    assert_int_equal(f->ev[2].version, 1);
    assert_int_equal(f->ev[3].status, TC_STORE_REPLAYED);
    assert_int_equal(f->ev[3].version, 1);
    F.fail_table = 123;
    mutate_keyed(f, 123, 1001, "k2"); /* 3: save fails */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(f->ev[4].status, TC_ESTORE);
    mutate_keyed(f, 123, 1001, "k2"); /* 4: the key was forgotten: applies, v2 */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(f->ev[5].status, 0);
    assert_int_equal(f->ev[5].version, 2);
    assert_int_equal(f->ev[6].kind, 'F');
    assert_int_equal(count_kind(f, 'F'), 2);
    assert_true(tc_store_idem_bytes(f->store) > 0);
}

/* A keyed change whose key another process answered (shared_idem): the
 * save comes back TC_JOB_KNOWN, and the batch applied again replays that
 * answer; a keyed change refused here still asks (a probe), and a known
 * answer wins over the refusal. */
static void test_keys_answered_elsewhere(void **state)
{
    fixture *f = *state;
    fake_backend.shared_idem = true;
    F.known_key = "k-elsewhere";
    F.known_version = 7;
    mutate_keyed(f, 123, 1001, "k-elsewhere"); /* 0: known: replayed, nothing written */
    mutate_keyed(f, 123, 1001, "k-new");       /* 1: same batch, applies: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(f->ev[0].status, TC_STORE_REPLAYED);
    assert_int_equal(f->ev[0].version, 7);
    assert_int_equal(f->ev[1].kind, 'C');
    assert_int_equal(f->ev[1].status, 0);
    assert_int_equal(f->ev[1].version, 1);
    assert_int_equal(f->ev[2].kind, 'F');
    assert_int_equal(f->ev[2].version, 1);
    assert_int_equal(F.saves, 2); /* the known round, then v1 with k-new */
    assert_int_equal(F.conflicts, 0);

    /* A refused keyed change: its key is probed, nothing else is written. */
    call_ctx *k = next_call(f, 123);
    tc_op rm = {.kind = TC_OP_REMOVE,
                .table_id = 123,
                .cuisine_id = 1002,
                .expect_version = -1,
                .origin = 7,
                .idem_key = "k-refused",
                .idem_caller = "u:1"};
    tc_store_mutate(f->store, &rm, &lim, on_done, k); /* 2: 404 after a probe */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(f->ev[3].status, TC_ENOTFOUND);
    assert_int_equal(F.probes, 1);
    assert_int_equal(F.answers_only, 1);
    /* The same refusal, but another process answered that key: replayed. */
    F.known_key = "k-refused";
    k = next_call(f, 123);
    tc_store_mutate(f->store, &rm, &lim, on_done, k); /* 3 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(f->ev[4].status, TC_STORE_REPLAYED);
    assert_int_equal(f->ev[4].version, 7);
    assert_int_equal(count_kind(f, 'F'), 1);
}

/* What the store holds when it closes — a change on its way, one queued
 * behind it — is told TC_ECLOSED under the close, once each and in order,
 * so that its caller can free what waits for the answer; nothing is fed,
 * and nothing is called after the close. */
static void test_close_tells_pending_closed(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0 */
    mutate(f, TC_OP_ADD, 123, 1001, 2); /* 1: queued behind 0 */
    assert_int_equal(f->answered, 0);
    tc_store_close(f->store);
    f->store = NULL;
    assert_int_equal(F.closes, 1);
    assert_int_equal(f->answered, 2);
    assert_int_equal(f->n_ev, 2);
    assert_int_equal(f->ev[0].call, 0);
    assert_int_equal(f->ev[0].status, TC_ECLOSED);
    assert_int_equal(f->ev[0].version, -1);
    assert_int_equal(f->ev[1].call, 1);
    assert_int_equal(f->ev[1].status, TC_ECLOSED);
    assert_string_equal(f->json[0], "");
    uv_run(&f->e.loop, UV_RUN_NOWAIT);
    assert_int_equal(f->answered, 2);
    assert_int_equal(f->n_ev, 2);
}

/* ===== writes of other instances: lost races and offered carts ============== */

/* Another instance adds qty of dish to table_id's stored cart. Returns the
 * cart it stored; its DTO in *json. */
static tc_cart *foreign_write_dish(fixture *f, int32_t table_id, int32_t dish, int32_t qty,
                                   tc_buf *json)
{
    const tc_menu *m = tc_store_menu(f->store);
    char **row = fake_row(table_id);
    tc_cart *c = NULL;
    if (*row)
        assert_int_equal(tc_cart_from_json(*row, strlen(*row), &c), 0);
    else
        c = tc_cart_new(tc_menu_table(m, table_id));
    tc_op op = {.kind = TC_OP_ADD,
                .table_id = table_id,
                .cuisine_id = dish,
                .quantity = qty,
                .expect_version = -1};
    tc_errmsg err = {0};
    assert_int_equal(tc_cart_apply(c, &op, m, &lim, 1, &err), 0);
    tc_buf_reset(json);
    tc_cart_to_json(c, tc_menu_table(m, table_id), json);
    free(*row);
    *row = tc_xstrdup(tc_buf_cstr(json));
    return c;
}

/* The same with dish 1001. */
static tc_cart *foreign_write(fixture *f, int32_t table_id, int32_t qty, tc_buf *json)
{
    return foreign_write_dish(f, table_id, 1001, qty, json);
}

/* ...and this instance hears of it: the backend offers it to the store. */
static void foreign_offer(fixture *f, int32_t table_id, int32_t qty)
{
    tc_buf json = TC_BUF_INIT;
    tc_cart *c = foreign_write(f, table_id, qty, &json);
    tc_store_offer(f->store, c, json.base, json.len);
    tc_buf_free(&json);
}

/* The versions fed for table_id, in order, into out; returns how many. Each
 * is above the one before. */
static int fed_versions(const fixture *f, int32_t table_id, int64_t *out, int max)
{
    int n = 0;
    for (int i = 0; i < f->n_ev; i++) {
        const event *e = &f->ev[i];
        if (e->kind != 'F' || e->table_id != table_id) continue;
        assert_true(n < max);
        if (n > 0) assert_true(e->version > out[n - 1]);
        out[n++] = e->version;
    }
    return n;
}

static void get_cart(fixture *f, int32_t table_id)
{
    call_ctx *k = next_call(f, table_id);
    tc_store_get(f->store, table_id, on_done, k);
}

/* The answer to call n, which must be its table's latest event. */
static const event *answer_of(const fixture *f, int n)
{
    for (int i = f->n_ev - 1; i >= 0; i--)
        if (f->ev[i].kind == 'C' && f->ev[i].call == n) return &f->ev[i];
    fail_msg("call %d was not answered", n);
    return NULL;
}

/* Changes queued behind a save in flight are saved in one batch: its job
 * carries the cart after each change before the last that changed it, in
 * version order with its origin (a shared backend publishes every version);
 * a refused change is not among them. */
static void test_batch_carries_earlier_changes(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    assert_int_equal(F.n_earlier, 0);
    F.hold = true;
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: v2 saved, its reply held */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    int saves = F.saves;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 2: v3 */
    mutate(f, TC_OP_ADD, 123, 9999, 1); /* 3: refused (no such dish) */
    mutate(f, TC_OP_ADD, 123, 1002, 2); /* 4: v4 */
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 5: v5 */
    fake_release();
    TL_RUN_UNTIL(&f->e, f->answered == 6);
    assert_int_equal(F.saves, saves + 1); /* one batch */
    assert_int_equal(answer_of(f, 3)->status < 0, true);
    assert_int_equal(answer_of(f, 5)->version, 5);
    assert_int_equal(F.n_earlier, 2);
    assert_int_equal(F.earlier_version[0], 3);
    assert_int_equal(F.earlier_json_version[0], 3);
    assert_int_equal(F.earlier_origin[0], 102);
    assert_int_equal(F.earlier_version[1], 4);
    assert_int_equal(F.earlier_json_version[1], 4);
    assert_int_equal(F.earlier_origin[1], 104);
    /* Fed once each, in order: v1..v5. */
    int64_t fed = 0;
    for (int i = 0; i < f->n_ev; i++)
        if (f->ev[i].kind == 'F') assert_int_equal(f->ev[i].version, ++fed);
    assert_int_equal(fed, 5);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 6: a batch of one */
    TL_RUN_UNTIL(&f->e, f->answered == 7);
    assert_int_equal(F.n_earlier, 0);
}

/* tc_store_queued_changes (the gauge tablecart_store_queued_changes) counts
 * the changes waiting in the tables' queues, exactly: those behind a read or
 * a save on its way, not a get, not the batch being saved; a batch that
 * takes them, a lost race that puts them back and a failed read that answers
 * them move the count with them. */
static void test_queued_changes_counted(void **state)
{
    fixture *f = *state;
    assert_int_equal(tc_store_queued_changes(f->store), 0);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: behind the table's first read */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1 */
    get_cart(f, 123);                   /* 2: a get is not a change */
    assert_int_equal(tc_store_queued_changes(f->store), 2);
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(tc_store_queued_changes(f->store), 0);

    /* Behind a save in flight: three changes (one of them refused when
     * applied) queue, and the batch after the save takes them all. */
    F.hold = true;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 3: v3, its save's reply held */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    assert_int_equal(tc_store_queued_changes(f->store), 0); /* in the save, not queued */
    int saves = F.saves;
    get_cart(f, 123);                   /* 4: answered first, from memory */
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 5: v4 */
    mutate(f, TC_OP_ADD, 123, 9999, 1); /* 6: refused (no such dish) */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 7: v5 */
    assert_int_equal(tc_store_queued_changes(f->store), 3);
    fake_release(); /* the get answered, the three applied and handed over as one save */
    assert_int_equal(tc_store_queued_changes(f->store), 0);
    TL_RUN_UNTIL(&f->e, f->answered == 8);
    assert_int_equal(F.saves, saves + 1);
    assert_int_equal(answer_of(f, 4)->version, 3);
    assert_int_equal(answer_of(f, 6)->status < 0, true);
    assert_int_equal(answer_of(f, 7)->version, 5);

    /* A lost race puts the batch back in front of what queued meanwhile,
     * while the cart is read again. */
    F.hold = true;
    F.conflicts_left = 1;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 8: loses its race, then v6 */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 9: v7 */
    assert_int_equal(tc_store_queued_changes(f->store), 1);
    fake_release();
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(tc_store_queued_changes(f->store), 2);
    TL_RUN_UNTIL(&f->e, f->answered == 10);
    assert_int_equal(answer_of(f, 9)->version, 7);
    assert_int_equal(tc_store_queued_changes(f->store), 0);

    /* A read that fails answers every change queued behind it. */
    F.fail_load_table = 124;
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 10 */
    get_cart(f, 124);                   /* 11 */
    mutate(f, TC_OP_ADD, 124, 1002, 1); /* 12 */
    assert_int_equal(tc_store_queued_changes(f->store), 2);
    TL_RUN_UNTIL(&f->e, f->answered == 13);
    assert_int_equal(answer_of(f, 10)->status, TC_ESTORE);
    assert_int_equal(answer_of(f, 12)->status, TC_ESTORE);
    assert_string_equal(f->err[12], "fake: read failed");
    assert_int_equal(tc_store_queued_changes(f->store), 0);
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 13: v1, read again */
    assert_int_equal(tc_store_queued_changes(f->store), 1);
    TL_RUN_UNTIL(&f->e, f->answered == 14);
    assert_int_equal(answer_of(f, 13)->version, 1);
    assert_int_equal(tc_store_queued_changes(f->store), 0);
}

/* The gauge on the paths that end a change other than a plain save: a
 * failed save with changes queued behind it, a save whose reply was lost
 * (the cart is read again), a change that gives up after MAX_CONFLICTS lost
 * races, a key another process answered (TC_JOB_KNOWN) and a retry
 * replayed from a remembered answer: the count comes back to 0 each time. */
static void test_queued_changes_back_to_zero_after_failures(void **state)
{
    fixture *f = *state;
    /* A failed save (503), two changes queued behind it. */
    F.hold = true;
    F.fail_table = 123;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: its save fails */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 1 */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 2 */
    assert_int_equal(tc_store_queued_changes(f->store), 2);
    fake_release();
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 0)->status, TC_ESTORE);
    assert_int_equal(tc_store_queued_changes(f->store), 0);

    /* A save that landed but whose reply was lost: the cart is read again. */
    F.hold = true;
    F.lose_table = 123;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 3 */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 4 */
    assert_int_equal(tc_store_queued_changes(f->store), 1);
    fake_release();
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(tc_store_queued_changes(f->store), 0);

    /* A change that loses every race gives up ("store busy"). */
    int conflicts = F.conflicts;
    F.conflicts_left = 100;
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 5 */
    TL_RUN_UNTIL(&f->e, f->answered == 6);
    assert_int_equal(answer_of(f, 5)->status, TC_ESTORE);
    assert_int_equal(F.conflicts - conflicts, 16); /* MAX_CONFLICTS */
    assert_int_equal(tc_store_queued_changes(f->store), 0);
    F.conflicts_left = 0;

    /* A key answered elsewhere, and a retry of a key answered here. */
    fake_backend.shared_idem = true;
    F.known_key = "k-elsewhere";
    F.known_version = 7;
    mutate_keyed(f, 124, 1001, "k-elsewhere"); /* 6 */
    mutate_keyed(f, 124, 1001, "k-here");      /* 7 */
    mutate_keyed(f, 124, 1001, "k-here");      /* 8: replayed */
    TL_RUN_UNTIL(&f->e, f->answered == 9);
    assert_int_equal(answer_of(f, 8)->status, TC_STORE_REPLAYED);
    assert_int_equal(tc_store_queued_changes(f->store), 0);
}

static void test_lost_race_reloads_and_applies_again(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    /* Another instance writes v2; this one has not heard of it yet. */
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json));
    tc_buf_free(&json);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: lost race, reload, v3 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(F.cart_loads, 2);
    const event *a = answer_of(f, 1);
    assert_int_equal(a->status, 0);
    assert_int_equal(a->version, 3);
    /* The feed saw v1, the foreign v2 (read back after the lost race) and
     * v3, once each, in order; v3 with its change's origin. */
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 3);
    assert_int_equal(f->ev[f->n_ev - 1].origin, 101);
    assert_int_equal(f->ev[f->n_ev - 3].origin, 0);
    /* The re-applied change built on the foreign one. */
    char **row = fake_row(123);
    assert_non_null(strstr(*row, "\"version\":3"));
    assert_non_null(strstr(*row, "\"totalQuantity\":4"));

    /* A table that changes too fast: after 16 lost races the change gives up
     * with "store busy", and nothing is fed. */
    int feeds = count_kind(f, 'F');
    F.conflicts_left = 16;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 2: store busy */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->status, TC_ESTORE);
    assert_string_equal(f->err[2], "store busy: table 123 is changing too fast, try again");
    assert_int_equal(F.conflicts, 17);
    assert_int_equal(count_kind(f, 'F'), feeds);
    /* The next change goes through, on top of v3. */
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 3: v4 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 4);
    assert_int_equal(fed_versions(f, 123, v, 8), 4);
    assert_int_equal(v[3], 4);
}

/* The callback of the change that gives up in test_known_answers_stored_first
 * sends a retry of call 1's keyed change at once, as a client would. */
static void on_done_retry_keyed(void *ctx, int status, const tc_store_cart *c, const tc_errmsg *err)
{
    call_ctx *k = ctx;
    on_done(ctx, status, c, err);
    mutate_keyed(k->f, 123, 1001, "k-elsewhere");
}

/* A save that finds a key answered elsewhere stores those answers before
 * anyone of its batch is answered: a change that gave up meanwhile may be
 * answered with a retry queued under its callback, which must replay the
 * stored answer, not apply and save once more. */
static void test_known_answers_stored_first(void **state)
{
    fixture *f = *state;
    fake_backend.shared_idem = true;
    F.conflicts_left = 15;
    call_ctx *k = next_call(f, 123);
    tc_op op = {.kind = TC_OP_ADD,
                .table_id = 123,
                .cuisine_id = 1002,
                .quantity = 1,
                .expect_version = -1,
                .origin = 100};
    tc_store_mutate(f->store, &op, &lim, on_done_retry_keyed, k); /* 0: loses 16 races */
    TL_RUN_UNTIL(&f->e, F.conflicts == 14);
    mutate_keyed(f, 123, 1001, "k-elsewhere"); /* 1: joins 0's batch */
    TL_RUN_UNTIL(&f->e, F.conflicts == 15);
    F.known_key = "k-elsewhere"; /* another instance answered it meanwhile */
    F.known_version = 7;
    int saves = F.saves;
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 0)->status, TC_ESTORE); /* store busy */
    assert_int_equal(answer_of(f, 1)->status, TC_STORE_REPLAYED);
    assert_int_equal(answer_of(f, 1)->version, 7);
    assert_int_equal(answer_of(f, 2)->status, TC_STORE_REPLAYED); /* the retry */
    assert_int_equal(answer_of(f, 2)->version, 7);
    /* One save found the key; the replays needed none. */
    assert_int_equal(F.saves, saves + 1);
    assert_int_equal(count_kind(f, 'F'), 0);
}

/* Another instance answered a key of a save on its way and wrote the next
 * version, which this one heard meanwhile: the save comes back
 * TC_JOB_KNOWN, and the batch applied again, all replays, saves nothing.
 * The cart heard is the one served from then on, not the one the batch was
 * first applied to; and the next change builds on it without losing a race. */
static void test_offer_while_a_known_key_is_saved(void **state)
{
    fixture *f = *state;
    fake_backend.shared_idem = true;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    F.known_key = "k-elsewhere";
    F.known_version = 2;
    mutate_keyed(f, 123, 1001, "k-elsewhere"); /* 1: its save is on its way */
    assert_int_equal(F.saves, 1);
    foreign_offer(f, 123, 1); /* the other instance's change of that key: v2 */
    assert_int_equal(f->ev[f->n_ev - 1].version, 2);
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->status, TC_STORE_REPLAYED);
    assert_int_equal(answer_of(f, 1)->version, 2);
    assert_int_equal(F.saves, 2);
    get_cart(f, 123); /* 2 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 2);
    assert_non_null(strstr(f->json[2], "\"totalQuantity\":2"));
    assert_int_equal(F.cart_loads, 1);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 3: v3 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->status, 0);
    assert_int_equal(answer_of(f, 3)->version, 3);
    assert_int_equal(F.conflicts, 0);
    assert_int_equal(F.cart_loads, 1);
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    assert_int_equal(v[2], 3);
}

/* Redis: this instance's save of v2 lands and another instance writes v3 on
 * top; both messages come (in that order) before the save's reply. v2 is fed
 * at its own message, with its change's origin, so v3 does not hide it; the
 * reply then answers the caller and feeds nothing again. */
static void test_own_message_before_the_reply(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    F.hold = true;
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: v2 saved, its reply held */
    TL_RUN_UNTIL(&f->e, F.held != NULL);
    char **row = fake_row(123);
    tc_cart *v2 = NULL;
    assert_int_equal(tc_cart_from_json(*row, strlen(*row), &v2), 0);
    assert_int_equal(tc_cart_version(v2), 2);
    /* A message that is not this save's is ignored: another version, or
     * this version with another updatedAt. */
    tc_store_heard_own(f->store, 123, 3, tc_cart_updated_at(v2));
    tc_store_heard_own(f->store, 123, 2, tc_cart_updated_at(v2) + 1);
    tc_store_heard_own(f->store, 124, 2, tc_cart_updated_at(v2));
    assert_int_equal(count_kind(f, 'F'), 1);
    tc_store_heard_own(f->store, 123, 2, tc_cart_updated_at(v2));
    tc_cart_free(v2);
    assert_int_equal(count_kind(f, 'F'), 2);
    assert_int_equal(f->ev[f->n_ev - 1].version, 2);
    assert_int_equal(f->ev[f->n_ev - 1].origin, 101);
    assert_int_equal(f->answered, 1); /* fed, not yet answered */
    foreign_offer(f, 123, 1);         /* the other instance's v3 */
    assert_int_equal(f->ev[f->n_ev - 1].version, 3);
    fake_release();
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->status, 0);
    assert_int_equal(answer_of(f, 1)->version, 2);
    get_cart(f, 123); /* 2: the newer cart, from memory */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 3);
    assert_int_equal(F.cart_loads, 1);
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    assert_int_equal(v[0], 1);
    assert_int_equal(v[1], 2);
    assert_int_equal(v[2], 3);
    /* Heard again after the reply: nothing. */
    tc_store_heard_own(f->store, 123, 2, -1);
    assert_int_equal(count_kind(f, 'F'), 3);
}

/* Another instance writes (stored, its message not heard yet); the JSON of
 * its message in *json. Returns the version. */
static int64_t foreign_unheard(fixture *f, int32_t table_id, tc_buf *json)
{
    tc_cart *c = foreign_write(f, table_id, 1, json);
    int64_t v = tc_cart_version(c);
    tc_cart_free(c);
    return v;
}

/* Redis: the cart read after a lost race (on the command connection) is
 * ahead of the messages still on their way (on the subscriber connection).
 * It is the base of the change applied again and of reads, but the feed
 * gets every version in order: the foreign versions as their messages come,
 * then this instance's own change, whose caller was answered at once. */
static void test_lost_race_read_ahead_of_messages(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    tc_buf m2 = TC_BUF_INIT, m3 = TC_BUF_INIT, m4 = TC_BUF_INIT;
    assert_int_equal(foreign_unheard(f, 123, &m2), 2);
    assert_int_equal(foreign_unheard(f, 123, &m3), 3);
    assert_int_equal(foreign_unheard(f, 123, &m4), 4);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: lost race, v4 read, v5 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(F.cart_loads, 2);
    assert_int_equal(answer_of(f, 1)->status, 0);
    assert_int_equal(answer_of(f, 1)->version, 5);
    /* Answered, but neither v4 nor v5 fed ahead of v2 and v3. */
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 1);
    assert_int_equal(tc_store_seen(f->store, 123), 1);
    get_cart(f, 123); /* 2: from memory, v5 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 5);
    assert_int_equal(F.cart_loads, 2);
    /* v2's message: fed; v4 and v5 still wait for v3's. */
    tc_store_offer_json(f->store, 123, 2, 1, m2.base, m2.len, NULL, 0);
    assert_int_equal(fed_versions(f, 123, v, 8), 2);
    assert_int_equal(v[1], 2);
    /* The cart in memory stays the newer one: a get needs no read. */
    get_cart(f, 123); /* 3 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 5);
    assert_int_equal(F.cart_loads, 2);
    /* v3's message: v3 fed, then the v4 read, then this instance's v5 with
     * its origin. */
    tc_store_offer_json(f->store, 123, 3, 1, m3.base, m3.len, NULL, 0);
    assert_int_equal(fed_versions(f, 123, v, 8), 5);
    assert_int_equal(v[2], 3);
    assert_int_equal(v[3], 4);
    assert_int_equal(v[4], 5);
    assert_int_equal(f->ev[f->n_ev - 1].origin, 101);
    assert_int_equal(f->ev[f->n_ev - 2].origin, 0);
    /* v4's message and v5's own afterwards: nothing more. */
    tc_store_offer_json(f->store, 123, 4, 1, m4.base, m4.len, NULL, 0);
    tc_store_heard_own(f->store, 123, 5, TC_STORE_AT_UNKNOWN);
    assert_int_equal(count_kind(f, 'F'), 5);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 4: v6, no lost race */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(answer_of(f, 4)->version, 6);
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(F.cart_loads, 2);
    assert_int_equal(fed_versions(f, 123, v, 8), 6);
    assert_int_equal(v[5], 6);
    assert_int_equal(count_kind(f, 'F'), 6);
    tc_buf_free(&m2);
    tc_buf_free(&m3);
    tc_buf_free(&m4);
}

/* The versions between never come as messages (a writer that did not
 * publish): a later message proves it — this instance's own, or another's
 * — and so does losing the subscription (tc_store_unheard) or the table
 * not being current; what waits is then fed, in order. */
static void test_lost_race_gap_never_heard(void **state)
{
    fixture *f = *state;
    tc_buf m = TC_BUF_INIT;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    foreign_unheard(f, 123, &m);        /* v2, never heard */
    foreign_unheard(f, 123, &m);        /* v3, never heard */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: v4 on the v3 read */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 4);
    int64_t v[16];
    assert_int_equal(fed_versions(f, 123, v, 16), 1);
    /* v4's own message: every message before it came, so v3 and v4 go. */
    tc_store_heard_own(f->store, 123, 4, TC_STORE_AT_UNKNOWN);
    assert_int_equal(fed_versions(f, 123, v, 16), 3);
    assert_int_equal(v[1], 3);
    assert_int_equal(v[2], 4);
    assert_int_equal(f->ev[f->n_ev - 1].origin, 101);

    /* Another instance's later message: v5 to v7 unheard, v8 read after
     * the race, this instance's v9 on it; then v10's message. */
    for (int i = 0; i < 3; i++)
        foreign_unheard(f, 123, &m); /* v5, v6, v7: never heard */
    assert_int_equal(foreign_unheard(f, 123, &m), 8);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 2: v9 on the v8 read */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 9);
    assert_int_equal(fed_versions(f, 123, v, 16), 3);
    assert_int_equal(foreign_unheard(f, 123, &m), 10);
    tc_store_offer_json(f->store, 123, 10, 1, m.base, m.len, NULL, 0);
    assert_int_equal(fed_versions(f, 123, v, 16), 6);
    assert_int_equal(v[3], 8);
    assert_int_equal(v[4], 9);
    assert_int_equal(v[5], 10);
    assert_int_equal(f->ev[f->n_ev - 2].origin, 102);
    /* The lazily kept v10 is the cart now. */
    get_cart(f, 123); /* 3 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 10);

    /* The subscription is lost: v11 unheard, v12 read, v13 here. */
    foreign_unheard(f, 123, &m);
    foreign_unheard(f, 123, &m);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 4: v13 */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(answer_of(f, 4)->version, 13);
    assert_int_equal(fed_versions(f, 123, v, 16), 6);
    tc_store_unheard(f->store);
    assert_int_equal(fed_versions(f, 123, v, 16), 8);
    assert_int_equal(v[6], 12);
    assert_int_equal(v[7], 13);

    /* The table is not current any more: its next use feeds what waits
     * before it reads the cart again. */
    foreign_unheard(f, 123, &m);
    foreign_unheard(f, 123, &m);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 5: v16 */
    TL_RUN_UNTIL(&f->e, f->answered == 6);
    assert_int_equal(answer_of(f, 5)->version, 16);
    assert_int_equal(fed_versions(f, 123, v, 16), 8);
    F.deaf = true;
    get_cart(f, 123); /* 6: read again */
    TL_RUN_UNTIL(&f->e, f->answered == 7);
    assert_int_equal(answer_of(f, 6)->version, 16);
    assert_int_equal(fed_versions(f, 123, v, 16), 10);
    assert_int_equal(v[8], 15);
    assert_int_equal(v[9], 16);
    assert_int_equal(count_kind(f, 'F'), 10);
    tc_buf_free(&m);
}

static void test_offer_while_idle(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    foreign_offer(f, 123, 2);
    /* Fed under the call, origin 0, and kept: a get needs no read. */
    assert_int_equal(f->ev[f->n_ev - 1].kind, 'F');
    assert_int_equal(f->ev[f->n_ev - 1].version, 2);
    assert_int_equal(f->ev[f->n_ev - 1].origin, 0);
    get_cart(f, 123); /* 1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 2);
    assert_int_equal(F.cart_loads, 1);
    /* What is not newer than what was fed is dropped. */
    tc_cart *old = NULL;
    char **row = fake_row(123);
    assert_int_equal(tc_cart_from_json(*row, strlen(*row), &old), 0);
    tc_store_offer(f->store, old, *row, strlen(*row));
    assert_int_equal(count_kind(f, 'F'), 2);
    /* The next change is applied to the offered cart: no lost race. */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 2: v3 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 3);
    assert_int_equal(F.conflicts, 0);
    /* A table this instance never read takes the offered cart too. */
    foreign_offer(f, 124, 1);
    get_cart(f, 124); /* 3 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 1);
    assert_int_equal(F.cart_loads, 1);
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    assert_int_equal(fed_versions(f, 124, v, 8), 1);
}

static void test_offer_while_saving(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: its save (of v2) is on its way */
    assert_int_equal(F.saves, 1);
    foreign_offer(f, 123, 2); /* another instance's v2 got there first */
    assert_int_equal(f->ev[f->n_ev - 1].kind, 'F');
    assert_int_equal(f->ev[f->n_ev - 1].version, 2);
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    /* The save lost its race; the change was applied again to the foreign
     * v2, which was read back (and not fed twice). */
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(F.cart_loads, 2);
    assert_int_equal(answer_of(f, 1)->status, 0);
    assert_int_equal(answer_of(f, 1)->version, 3);
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    assert_int_equal(v[2], 3);
    get_cart(f, 123); /* 2 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 3);
    assert_non_null(strstr(*fake_row(123), "\"totalQuantity\":4"));
}

static void test_not_current_reads_before_each_use(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    F.deaf = true; /* e.g. the subscription is down */
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json)); /* v2, unheard */
    tc_buf_free(&json);
    get_cart(f, 123); /* 1: read again: v2, which is fed */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.cart_loads, 2);
    assert_int_equal(answer_of(f, 1)->version, 2);
    int64_t v[8];
    assert_int_equal(fed_versions(f, 123, v, 8), 2);
    assert_int_equal(v[1], 2);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 2: read again (same v2), then v3 */
    get_cart(f, 123);                   /* 3: after the save, served from it */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(F.cart_loads, 3);
    assert_int_equal(F.conflicts, 0);
    assert_int_equal(answer_of(f, 2)->version, 3);
    assert_int_equal(answer_of(f, 3)->version, 3);
    assert_int_equal(fed_versions(f, 123, v, 8), 3);
    F.deaf = false;   /* heard again: served from memory */
    get_cart(f, 123); /* 4 */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(F.cart_loads, 3);
}

static void test_unfollowed_table_read_before_each_use(void **state)
{
    fixture *f = *state;
    F.follows = true;
    tc_store_follow(f->store, 123);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 (one read) */
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 1: v1 (one read) */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.cart_loads, 2);
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 124, 2, &json)); /* 124 v2, unheard: not followed */
    get_cart(f, 123);                              /* 2: followed: from memory */
    get_cart(f, 124);                              /* 3: read again: v2 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(F.cart_loads, 3);
    assert_int_equal(answer_of(f, 2)->version, 1);
    assert_int_equal(answer_of(f, 3)->version, 2);
    get_cart(f, 124); /* 4: and again, every use */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(F.cart_loads, 4);
    /* Followed from now on (the backend says when it hears it): from memory. */
    tc_store_follow(f->store, 124);
    get_cart(f, 124); /* 5 */
    get_cart(f, 124); /* 6 */
    TL_RUN_UNTIL(&f->e, f->answered == 7);
    assert_int_equal(F.cart_loads, 4);
    /* 123 unfollowed: a change made meanwhile elsewhere is read. */
    tc_store_unfollow(f->store, 123);
    tc_cart_free(foreign_write(f, 123, 3, &json)); /* 123 v2 */
    get_cart(f, 123);                              /* 7 */
    TL_RUN_UNTIL(&f->e, f->answered == 8);
    assert_int_equal(F.cart_loads, 5);
    assert_int_equal(answer_of(f, 7)->version, 2);
    tc_buf_free(&json);
}

/* A change under If-Match: "v{expect}". */
static void mutate_if(fixture *f, tc_op_kind kind, int32_t table, int32_t dish, int32_t qty,
                      int64_t expect)
{
    call_ctx *k = next_call(f, table);
    tc_op op = {.kind = kind,
                .table_id = table,
                .cuisine_id = dish,
                .quantity = qty,
                .expect_version = expect,
                .origin = 100u + (uint64_t)k->call};
    tc_store_mutate(f->store, &op, &lim, on_done, k);
}

/* Where others write too (the backend has current), the cart in memory may
 * be behind the stored one: an answer that depends on its content — nothing
 * changed, If-Match refused, a line not in the cart — is given only after a
 * save that writes nothing compared the stored version, and decided again
 * on the stored cart when that compare lost. A refusal no cart could change
 * costs no save, and a process that is the only writer (current NULL, as
 * SQLite) answers all of them from memory. */
static void test_answers_compared_with_stored_version(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1, 1 x 1001 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json)); /* v2: 3 x 1001, not heard here */
    mutate(f, TC_OP_UPDATE, 123, 1001, 1);         /* 1: unchanged here; on v2 it is v3 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->status, 0);
    assert_int_equal(answer_of(f, 1)->version, 3);
    assert_non_null(strstr(*fake_row(123), "\"version\":3"));
    assert_non_null(strstr(*fake_row(123), "\"totalQuantity\":1"));
    assert_int_equal(F.conflicts, 1);
    assert_int_equal(F.cart_loads, 2);
    int64_t v[16];
    assert_int_equal(fed_versions(f, 123, v, 16), 3); /* 1, the stored 2, 3 */

    /* If-Match of a stored version not heard here yet: applied. */
    tc_cart_free(foreign_write(f, 123, 1, &json)); /* v4: 2 x 1001 */
    mutate_if(f, TC_OP_UPDATE, 123, 1001, 5, 4);   /* 2: v5 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->status, 0);
    assert_int_equal(answer_of(f, 2)->version, 5);
    /* A line stored but not here: removed, not "not in the cart". */
    tc_cart_free(foreign_write_dish(f, 123, 1002, 1, &json)); /* v6: + 1 x 1002 */
    mutate(f, TC_OP_REMOVE, 123, 1002, 0);                    /* 3: v7 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->status, 0);
    assert_int_equal(answer_of(f, 3)->version, 7);
    assert_int_equal(F.conflicts, 3);
    assert_int_equal(F.answers_only, 0);

    /* Up to date: the compare holds, nothing is written, and the answers
     * are the ones memory gave. */
    int saves = F.saves;
    mutate(f, TC_OP_UPDATE, 123, 1001, 5);       /* 4: unchanged, v7 */
    mutate_if(f, TC_OP_UPDATE, 123, 1001, 2, 6); /* 5: 409 */
    mutate(f, TC_OP_REMOVE, 123, 1002, 0);       /* 6: not in the cart */
    TL_RUN_UNTIL(&f->e, f->answered == 7);
    assert_int_equal(answer_of(f, 4)->status, TC_UNCHANGED);
    assert_int_equal(answer_of(f, 4)->version, 7);
    assert_int_equal(answer_of(f, 5)->status, TC_ECONFLICT);
    assert_int_equal(answer_of(f, 6)->status, TC_ENOTFOUND);
    /* One compare: 5 and 6, queued behind it, use the cart it compared. */
    assert_int_equal(F.saves - saves, 1);
    assert_int_equal(F.answers_only, 1);
    assert_int_equal(F.conflicts, 3);
    /* Refusals no cart could change: no save at all. */
    saves = F.saves;
    mutate(f, TC_OP_ADD, 123, 9999, 1); /* 7: unknown dish */
    mutate(f, TC_OP_ADD, 123, 1001, 0); /* 8: quantity out of range */
    TL_RUN_UNTIL(&f->e, f->answered == 9);
    assert_int_equal(answer_of(f, 7)->status, TC_ENOTFOUND);
    assert_int_equal(answer_of(f, 8)->status, TC_EINVAL);
    assert_int_equal(F.saves, saves);

    /* A newer cart offered while the compare was on its way: the answer is
     * about the compared cart, and the newer one is served after it. */
    mutate(f, TC_OP_UPDATE, 123, 1001, 5); /* 9: unchanged, v7 */
    char *row = tc_xstrdup(*fake_row(123));
    foreign_offer(f, 123, 1); /* v8, heard, but stored only after the compare */
    free(*fake_row(123));
    *fake_row(123) = row;
    get_cart(f, 123); /* 10: v8, from memory */
    TL_RUN_UNTIL(&f->e, f->answered == 11);
    assert_int_equal(answer_of(f, 9)->status, TC_UNCHANGED);
    assert_int_equal(answer_of(f, 9)->version, 7);
    assert_int_equal(answer_of(f, 10)->version, 8);
    assert_int_equal(F.answers_only, 2);
    assert_int_equal(F.cart_loads, 4);

    /* The only writer: every answer from memory, no save. */
    fake_backend.current = NULL;
    saves = F.saves;
    mutate(f, TC_OP_UPDATE, 123, 1001, 6);       /* 11: unchanged */
    mutate_if(f, TC_OP_UPDATE, 123, 1001, 2, 7); /* 12: 409 */
    mutate(f, TC_OP_REMOVE, 123, 1002, 0);       /* 13: not in the cart */
    TL_RUN_UNTIL(&f->e, f->answered == 14);
    assert_int_equal(answer_of(f, 11)->status, TC_UNCHANGED);
    assert_int_equal(answer_of(f, 12)->status, TC_ECONFLICT);
    assert_int_equal(answer_of(f, 13)->status, TC_ENOTFOUND);
    assert_int_equal(F.saves, saves);
    tc_buf_free(&json);
}

/* SQLite, the only writer, answers what the cart in memory decides without
 * a change from memory: no job at all. */
static void test_sqlite_answers_from_memory(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    int jobs = sqlite_jobs;
    assert_true(jobs >= 2);                      /* a load and a save */
    mutate(f, TC_OP_UPDATE, 123, 1001, 1);       /* 1: unchanged */
    mutate_if(f, TC_OP_UPDATE, 123, 1001, 2, 0); /* 2: 409 */
    mutate(f, TC_OP_REMOVE, 123, 1002, 0);       /* 3: not in the cart */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 1)->status, TC_UNCHANGED);
    assert_int_equal(answer_of(f, 1)->version, 1);
    assert_int_equal(answer_of(f, 2)->status, TC_ECONFLICT);
    assert_int_equal(answer_of(f, 3)->status, TC_ENOTFOUND);
    assert_int_equal(sqlite_jobs, jobs);
}

/* Where others write too, a save that failed may have landed (its reply was
 * lost): its caller hears TC_ESTORE, and the cart is read again — at once
 * for a followed table, whose subscribers then get the stored version with
 * no new change; before its next use for another. */
static void test_failed_save_reads_the_cart_again(void **state)
{
    fixture *f = *state;
    tc_store_follow(f->store, 123);
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 1: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.cart_loads, 2);
    F.lose_table = 123;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 2: lands as v2, answered TC_ESTORE */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->status, TC_ESTORE);
    assert_string_equal(f->err[2], "fake: reply lost");
    TL_RUN_UNTIL(&f->e, F.cart_loads == 3);
    TL_RUN_UNTIL(&f->e, count_kind(f, 'F') == 3);
    const event *fed = &f->ev[f->n_ev - 1];
    assert_int_equal(fed->table_id, 123);
    assert_int_equal(fed->version, 2);
    assert_int_equal(fed->origin, 0);
    get_cart(f, 123); /* 3: v2, from memory */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 2);
    assert_int_equal(F.cart_loads, 3);

    /* Not followed: nothing read now, the next use reads v2. */
    F.lose_table = 124;
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 4: lands as v2, answered TC_ESTORE */
    TL_RUN_UNTIL(&f->e, f->answered == 5);
    assert_int_equal(answer_of(f, 4)->status, TC_ESTORE);
    uv_run(&f->e.loop, UV_RUN_NOWAIT);
    assert_int_equal(F.cart_loads, 3);
    get_cart(f, 124); /* 5 */
    TL_RUN_UNTIL(&f->e, f->answered == 6);
    assert_int_equal(answer_of(f, 5)->version, 2);
    assert_int_equal(F.cart_loads, 4);
    mutate(f, TC_OP_ADD, 124, 1001, 1); /* 6: v3, on the stored v2 */
    TL_RUN_UNTIL(&f->e, f->answered == 7);
    assert_int_equal(answer_of(f, 6)->version, 3);
    assert_int_equal(F.conflicts, 0);
}

static void test_offer_json_parsed_only_when_needed(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    int fed = count_kind(f, 'F');
    /* Not above what was fed: dropped, never parsed (this is no JSON at all). */
    tc_store_offer_json(f->store, 123, 1, 1, "not json", 8, NULL, 0);
    assert_int_equal(count_kind(f, 'F'), fed);
    /* Newer while idle: fed as it is (no cart), kept unparsed. */
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json)); /* v2 */
    tc_store_offer_json(f->store, 123, 2, 1, json.base, json.len, NULL, 0);
    tc_store_offer_json(f->store, 123, 2, 1, json.base, json.len, NULL, 0); /* again: dropped */
    tc_cart_free(foreign_write(f, 123, 1, &json));                          /* v3 */
    tc_store_offer_json(f->store, 123, 3, 1, json.base, json.len, NULL, 0);
    assert_int_equal(count_kind(f, 'F'), fed + 2);
    assert_int_equal(f->lazy_feeds, 2);
    assert_int_equal(f->ev[f->n_ev - 1].version, 3);
    /* Parsed when needed: a get and a change use it, no read, no lost race. */
    get_cart(f, 123);                   /* 1 */
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 2: v4 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 1)->version, 3);
    assert_int_equal(answer_of(f, 2)->version, 4);
    assert_int_equal(F.cart_loads, 1);
    assert_int_equal(F.conflicts, 0);
    /* One that turns out unreadable when needed: the cart is read again. */
    tc_store_offer_json(f->store, 123, 5, 1, "not json", 8, NULL, 0);
    assert_int_equal(f->lazy_feeds, 3);
    get_cart(f, 123); /* 3: the stored v4 */
    TL_RUN_UNTIL(&f->e, f->answered == 4);
    assert_int_equal(answer_of(f, 3)->version, 4);
    assert_int_equal(F.cart_loads, 2);
    /* Parsed at once, and dropped, when it is read from the store (no
     * version told) and the cart is another table's, or when the table is
     * not on the menu. */
    tc_store_offer_read(f->store, 124, -1, json.base, json.len);
    tc_store_offer_json(f->store, 999, 9, 1, json.base, json.len, NULL, 0);
    assert_int_equal(f->lazy_feeds, 3);
    assert_int_equal(count_kind(f, 'F'), fed + 4); /* v2, v3, our v4, the unreadable v5 */
    /* The version of the unreadable one was no truth: a real v5 is fed. */
    tc_cart_free(foreign_write(f, 123, 1, &json)); /* v5 */
    tc_store_offer_json(f->store, 123, 5, 1, json.base, json.len, NULL, 0);
    assert_int_equal(count_kind(f, 'F'), fed + 5);
    /* Read from the store and newer: parsed, kept and fed with its cart. */
    tc_cart_free(foreign_write(f, 124, 1, &json)); /* 124 v1 */
    tc_store_offer_read(f->store, 124, -1, json.base, json.len);
    assert_int_equal(count_kind(f, 'F'), fed + 6);
    assert_int_equal(f->lazy_feeds, 4);
    tc_buf_free(&json);
}

/* A read of the stored cart (a resubscription's) whose answer comes after a
 * newer change was heard over another connection is older than the streams,
 * not a loss: dropped, nothing fed. One older than what was fed when it was
 * asked for is a loss: the cart in memory and fed as a reset. */
static void test_offered_read_overtaken_is_no_loss(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    char *v1 = tc_xstrdup(*fake_row(123));
    int64_t asked_at = tc_store_seen(f->store, 123);
    assert_int_equal(asked_at, 1);
    /* While the read is on its way, another instance's v2 is heard. */
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 1, &json)); /* v2 */
    tc_store_offer_json(f->store, 123, 2, 1, json.base, json.len, NULL, 0);
    tc_buf_free(&json);
    int feeds = count_kind(f, 'F');
    assert_int_equal(f->ev[f->n_ev - 1].version, 2);
    tc_store_offer_read(f->store, 123, asked_at, v1, strlen(v1)); /* read before v2 */
    assert_int_equal(count_kind(f, 'F'), feeds);
    assert_int_equal(tc_store_seen(f->store, 123), 2);
    get_cart(f, 123); /* 1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 2);
    /* Asked for after v2 was fed, and answered v1: the store lost v2. */
    tc_store_offer_read(f->store, 123, tc_store_seen(f->store, 123), v1, strlen(v1));
    assert_int_equal(count_kind(f, 'F'), feeds + 1);
    assert_int_equal(f->ev[f->n_ev - 1].kind, 'F');
    assert_int_equal(f->ev[f->n_ev - 1].version, 1);
    assert_true(f->ev[f->n_ev - 1].reset);
    assert_int_equal(tc_store_seen(f->store, 123), 1);
    free(v1);
}

/* The updatedAt of a cart DTO answered. */
static int64_t dto_updated_at(const char *json)
{
    tc_cart *c = NULL;
    assert_int_equal(tc_cart_from_json(json, strlen(json), &c), 0);
    int64_t at = tc_cart_updated_at(c);
    tc_cart_free(c);
    return at;
}

/* The store lost v1 (a Redis restarted without it) and another instance,
 * starting from nothing, wrote its own v1 (updatedAt 1, two of dish 1001):
 * the version fed here, written again. Returns the stored DTO (owned). */
static char *rewrite_v1(fixture *f)
{
    char **row = fake_row(123);
    free(*row);
    *row = NULL;
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json));
    char *v1 = tc_xstrdup(tc_buf_cstr(&json));
    tc_buf_free(&json);
    return v1;
}

/* A read that finds the version fed but another write of it (another
 * updatedAt) is a loss like a read below it: fed as a reset, served from
 * then on; the same write, or a version the store never fed, is not. */
static void test_rewritten_version_read_is_a_loss(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    int64_t at = dto_updated_at(f->json[0]);
    assert_true(at > 1);
    char *mine = tc_xstrdup(*fake_row(123));
    assert_false(tc_store_seen_other(f->store, 123, 1, at));
    assert_true(tc_store_seen_other(f->store, 123, 1, 1));
    assert_false(tc_store_seen_other(f->store, 123, 1, TC_STORE_AT_UNKNOWN));
    assert_false(tc_store_seen_other(f->store, 123, 2, 1));
    assert_false(tc_store_seen_other(f->store, 124, 1, 1)); /* never fed */
    int feeds = count_kind(f, 'F');
    tc_store_offer_read(f->store, 123, 1, mine, strlen(mine)); /* the write fed */
    assert_int_equal(count_kind(f, 'F'), feeds);

    char *v1 = rewrite_v1(f);
    tc_store_offer_read(f->store, 123, 1, v1, strlen(v1));
    assert_int_equal(count_kind(f, 'F'), feeds + 1);
    const event *e = &f->ev[f->n_ev - 1];
    assert_int_equal(e->kind, 'F');
    assert_int_equal(e->version, 1);
    assert_true(e->reset);
    assert_false(tc_store_seen_other(f->store, 123, 1, 1));
    assert_true(tc_store_seen_other(f->store, 123, 1, at));
    get_cart(f, 123); /* 1: from memory, the rewritten cart */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 1);
    assert_int_equal(dto_updated_at(f->json[1]), 1);
    assert_string_equal(f->json[1], v1);
    free(mine);
    free(v1);
}

/* A change made here on the version the store lost, now written again by
 * another instance: the save compares updatedAt too (as the Redis script
 * does), loses, and the cart read again is fed as a reset before the change
 * is applied to it: nothing of the other instance's v1 is overwritten. */
static void test_save_on_a_rewritten_version_starts_over(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    char *v1 = rewrite_v1(f);
    int conflicts = F.conflicts;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 1: on the rewritten v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(F.conflicts, conflicts + 1);
    const event *a = answer_of(f, 1);
    assert_int_equal(a->status, 0);
    assert_int_equal(a->version, 2);
    assert_non_null(strstr(f->json[1], "\"quantity\":3"));
    int64_t fed[8];
    int n = 0;
    bool reset_at_1 = false;
    for (int i = 0; i < f->n_ev; i++) {
        const event *e = &f->ev[i];
        if (e->kind != 'F' || e->table_id != 123) continue;
        fed[n++] = e->version;
        if (e->version == 1 && e->reset) reset_at_1 = true;
    }
    assert_int_equal(n, 3); /* v1, v1 again (reset), v2 */
    assert_int_equal(fed[0], 1);
    assert_int_equal(fed[1], 1);
    assert_int_equal(fed[2], 2);
    assert_true(reset_at_1);
    free(v1);
}

/* The menu with table 123 renamed A01 -> Z99. */
static const char menu_text_renamed[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"Z99\"},{\"tableId\":124,"
    "\"tableNumber\":\"A02\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00},"
    "{\"cuisineId\":1002,\"cuisineName\":\"米饭\",\"cuisineType\":1,\"unitPrice\":2}]}]}";

static void replace_menu(fixture *f, const char *text)
{
    tc_menu *m;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(text, strlen(text), &m, &err), 0);
    tc_store_menu_replace(f->store, m); /* the store takes m */
}

/* A menu that renames a table while a change of its cart is being saved:
 * once the save is in, the cart served from memory names the table anew,
 * as one renamed while idle does (tc_store_menu_reencode). */
static void test_rename_while_saving(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    assert_non_null(strstr(f->json[0], "\"tableNumber\":\"A01\""));
    mutate(f, TC_OP_ADD, 123, 1002, 1); /* 1: its save (of v2) is on its way */
    assert_int_equal(f->answered, 1);
    replace_menu(f, menu_text_renamed);
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 2);
    get_cart(f, 123); /* 2 */
    TL_RUN_UNTIL(&f->e, f->answered == 3);
    assert_int_equal(answer_of(f, 2)->version, 2);
    assert_non_null(strstr(f->json[2], "\"tableNumber\":\"Z99\""));
    assert_null(strstr(f->json[2], "A01"));
}

/* Another instance's change kept as it came (unparsed, the table idle), then
 * a menu that renames the table: the cart served names it anew, as the
 * instance that made the change serves it. */
static void test_rename_with_an_offered_cart_kept_unparsed(void **state)
{
    fixture *f = *state;
    mutate(f, TC_OP_ADD, 123, 1001, 1); /* 0: v1 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json)); /* v2, named A01 */
    tc_store_offer_json(f->store, 123, 2, 1, json.base, json.len, NULL, 0);
    tc_buf_free(&json);
    assert_int_equal(f->lazy_feeds, 1);
    replace_menu(f, menu_text_renamed);
    get_cart(f, 123); /* 1 */
    TL_RUN_UNTIL(&f->e, f->answered == 2);
    assert_int_equal(answer_of(f, 1)->version, 2);
    assert_non_null(strstr(f->json[1], "\"tableNumber\":\"Z99\""));
    assert_null(strstr(f->json[1], "A01"));
    assert_int_equal(F.cart_loads, 1);
}

/* The cart as stored, read for a table this instance had not read (a
 * resubscription's read: version unknown) after a menu renamed the table:
 * what was stored names it as the menu did then; the cart served names it
 * anew, as a read of a cold table (loaded) does. */
static void test_rename_then_stored_cart_offered(void **state)
{
    fixture *f = *state;
    tc_buf json = TC_BUF_INIT;
    tc_cart_free(foreign_write(f, 123, 2, &json)); /* v1, stored named A01 */
    replace_menu(f, menu_text_renamed);
    tc_store_offer_read(f->store, 123, -1, json.base, json.len);
    tc_buf_free(&json);
    assert_int_equal(f->ev[f->n_ev - 1].kind, 'F');
    get_cart(f, 123); /* 0 */
    TL_RUN_UNTIL(&f->e, f->answered == 1);
    assert_int_equal(answer_of(f, 0)->version, 1);
    assert_int_equal(F.cart_loads, 0);
    assert_non_null(strstr(f->json[0], "\"tableNumber\":\"Z99\""));
    assert_null(strstr(f->json[0], "A01"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contract_fake, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_batch_carries_earlier_changes, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_queued_changes_counted, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_queued_changes_back_to_zero_after_failures, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idempotency_in_the_pipeline, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_keys_answered_elsewhere, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_known_answers_stored_first, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_offer_while_a_known_key_is_saved, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_contract_sqlite, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_fake_answers_later, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_table_answered_by_store, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_set_feed_replaces_and_clears, setup_fake, teardown),
        cmocka_unit_test(test_open_failures),
        cmocka_unit_test_setup_teardown(test_import_reloads_or_keeps_menu, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_ping_passes_through, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_close_tells_pending_closed, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_lost_race_reloads_and_applies_again, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offer_while_idle, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_offer_while_saving, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_own_message_before_the_reply, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_lost_race_read_ahead_of_messages, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lost_race_gap_never_heard, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_not_current_reads_before_each_use, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unfollowed_table_read_before_each_use, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offer_json_parsed_only_when_needed, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_offered_read_overtaken_is_no_loss, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_version_read_is_a_loss, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_save_on_a_rewritten_version_starts_over, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_answers_compared_with_stored_version, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_save_reads_the_cart_again, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_answers_from_memory, setup_sqlite, teardown),
        cmocka_unit_test_setup_teardown(test_rename_while_saving, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(test_rename_with_an_offered_cart_kept_unparsed, setup_fake,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rename_then_stored_cart_offered, setup_fake, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
