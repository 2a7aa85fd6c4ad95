/* sqlite.c — the "sqlite:PATH" store: one embedded database file, one
 * connection, every call finished before it returns. */
#include "store/backend.h"

#include "core/log.h"
#include "core/mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* PRAGMA user_version of the schema below; a newer file is refused. */
#define SCHEMA_VERSION 1
/* How long a write waits for a lock held by another process on the same
 * file (a `menu import`) before failing. */
#define BUSY_TIMEOUT_MS 5000

/* The three menu queries load_rows reads. */
typedef enum { ROWS_STORES, ROWS_TABLES, ROWS_CUISINES } rows_kind;

static const char schema_sql[] = "CREATE TABLE IF NOT EXISTS stores ("
                                 " store_id INTEGER PRIMARY KEY,"
                                 " name TEXT NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS tables ("
                                 " table_id INTEGER PRIMARY KEY,"
                                 " table_number TEXT NOT NULL,"
                                 " store_id INTEGER NOT NULL);"
                                 "CREATE TABLE IF NOT EXISTS cuisines ("
                                 " cuisine_id INTEGER PRIMARY KEY,"
                                 " store_id INTEGER NOT NULL,"
                                 " cuisine_name TEXT NOT NULL,"
                                 " cuisine_type INTEGER NOT NULL,"
                                 " cuisine_image TEXT,"
                                 " unit_price_cents INTEGER NOT NULL,"
                                 " available INTEGER NOT NULL);"
                                 /* The cart is kept whole, as the JSON tc_cart_to_json writes: it
                                  * is always read and written whole, and version/updated_at are
                                  * columns too so an operator can query them without parsing. */
                                 "CREATE TABLE IF NOT EXISTS carts ("
                                 " table_id INTEGER PRIMARY KEY,"
                                 " version INTEGER NOT NULL,"
                                 " updated_at INTEGER,"
                                 " cart_json TEXT NOT NULL);";

typedef struct {
    sqlite3 *db;
    char *path;
    /* Prepared once at open, reset after every use. */
    sqlite3_stmt *begin, *commit, *rollback, *ping;
    sqlite3_stmt *get_cart, *put_cart;
    sqlite3_stmt *put_store, *put_table, *put_cuisine;
} sq_store;

static int sq_fail(sq_store *q, tc_errmsg *err, const char *what)
{
    const char *why = q->db ? sqlite3_errmsg(q->db) : "out of memory";
    tc_log_error("store: sqlite %s: %s: %s", q->path, what, why);
    return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: %s: %s", q->path, what, why);
}

/* Runs a statement that returns no rows, then resets it. */
static int sq_exec(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void sq_rollback(sq_store *q)
{
    if (!sqlite3_get_autocommit(q->db)) sq_exec(q->rollback);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- open / close -------------------------------------------------------- */

static int pragma_text(sq_store *q, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(st);
    out[0] = '\0';
    if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int sq_setup(sq_store *q, tc_errmsg *err)
{
    /* Single loop thread: a lock held by another process (a `menu import`)
     * is waited for briefly instead of failing at once. */
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);

    char mode[16];
    if (pragma_text(q, "PRAGMA journal_mode=WAL", mode, sizeof mode) != 0)
        return sq_fail(q, err, "enable WAL");
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        tc_log_warn("store: sqlite %s: journal mode is %s, not wal", q->path, mode);
    /* FULL: in WAL mode every commit is fsync'd, so an acknowledged change
     * survives kill -9 and power loss, not only a clean exit. */
    if (sqlite3_exec(q->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(q, err, "set synchronous");

    char ver[24];
    if (pragma_text(q, "PRAGMA user_version", ver, sizeof ver) != 0)
        return sq_fail(q, err, "read schema version");
    long v = strtol(ver, NULL, 10);
    if (v > SCHEMA_VERSION)
        return tc_errmsg_set(err, TC_ESTORE,
                             "store: %s has schema version %ld, newer than this build (%d)",
                             q->path, v, SCHEMA_VERSION);
    if (sqlite3_exec(q->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(q, err, "create schema");
    char set_ver[40];
    snprintf(set_ver, sizeof set_ver, "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (v < SCHEMA_VERSION && sqlite3_exec(q->db, set_ver, NULL, NULL, NULL) != SQLITE_OK)
        return sq_fail(q, err, "write schema version");

    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&q->begin, "BEGIN IMMEDIATE"},
        {&q->commit, "COMMIT"},
        {&q->rollback, "ROLLBACK"},
        /* Reads the file's schema, so a vanished or broken file shows. */
        {&q->ping, "SELECT count(*) FROM sqlite_schema"},
        {&q->get_cart, "SELECT cart_json FROM carts WHERE table_id = ?1"},
        {&q->put_cart, "INSERT INTO carts (table_id, version, updated_at, cart_json)"
                       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (table_id) DO UPDATE SET"
                       " version = excluded.version, updated_at = excluded.updated_at,"
                       " cart_json = excluded.cart_json"},
        {&q->put_store, "INSERT INTO stores (store_id, name) VALUES (?1, ?2)"
                        " ON CONFLICT (store_id) DO UPDATE SET name = excluded.name"},
        {&q->put_table, "INSERT INTO tables (table_id, table_number, store_id)"
                        " VALUES (?1, ?2, ?3) ON CONFLICT (table_id) DO UPDATE SET"
                        " table_number = excluded.table_number, store_id = excluded.store_id"},
        {&q->put_cuisine,
         "INSERT INTO cuisines (cuisine_id, store_id, cuisine_name, cuisine_type,"
         " cuisine_image, unit_price_cents, available) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
         " ON CONFLICT (cuisine_id) DO UPDATE SET store_id = excluded.store_id,"
         " cuisine_name = excluded.cuisine_name, cuisine_type = excluded.cuisine_type,"
         " cuisine_image = excluded.cuisine_image,"
         " unit_price_cents = excluded.unit_price_cents, available = excluded.available"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(q->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st,
                               NULL) != SQLITE_OK)
            return sq_fail(q, err, "prepare statements");
    return 0;
}

static void sq_free(sq_store *q)
{
    sqlite3_stmt *all[] = {q->begin,    q->commit,    q->rollback,  q->ping,       q->get_cart,
                           q->put_cart, q->put_store, q->put_table, q->put_cuisine};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    if (q->db != NULL && sqlite3_close(q->db) != SQLITE_OK)
        tc_log_error("store: sqlite %s: close: %s", q->path, sqlite3_errmsg(q->db));
    free(q->path);
    free(q);
}

static int sq_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    if (rest[0] == '\0')
        return tc_errmsg_set(err, TC_EINVAL, "store: sqlite needs a path (sqlite:./tablecart.db)");
    sq_store *q = tc_xcalloc(1, sizeof *q);
    q->path = tc_xstrdup(rest);
    int rc = sqlite3_open_v2(rest, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = tc_errmsg_set(err, TC_ESTORE, "store: cannot open %s: %s", rest,
                           q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        sq_free(q);
        return rc;
    }
    if ((rc = sq_setup(q, err)) != 0) {
        sq_free(q);
        return rc;
    }
    s->impl = q;
    return 0;
}

static void sq_close(tc_store *s)
{
    sq_free(s->impl);
    s->impl = NULL;
}

/* --- menu ---------------------------------------------------------------- */

static bool col_id(sqlite3_stmt *st, int col, int32_t *out)
{
    sqlite3_int64 v = sqlite3_column_int64(st, col);
    if (v <= 0 || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

static const char *col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* Reads every row of one menu query into m. Returns 0, or -1 with the
 * statement finalized either way. */
static int load_rows(sq_store *q, tc_menu *m, const char *sql, rows_kind kind)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc;
    bool ok = true;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (kind == ROWS_STORES) {
            tc_store_info si;
            ok = col_id(st, 0, &si.store_id) && col_text(st, 1) != NULL;
            si.name = (char *)col_text(st, 1);
            if (ok) tc_menu_add_store(m, &si);
        } else if (kind == ROWS_TABLES) {
            tc_table t;
            ok =
                col_id(st, 0, &t.table_id) && col_id(st, 2, &t.store_id) && col_text(st, 1) != NULL;
            t.table_number = (char *)col_text(st, 1);
            if (ok) tc_menu_add_table(m, &t);
        } else {
            tc_cuisine c;
            ok = col_id(st, 0, &c.cuisine_id) && col_id(st, 1, &c.store_id) &&
                 col_text(st, 2) != NULL;
            c.cuisine_name = (char *)col_text(st, 2);
            c.cuisine_type = (int32_t)sqlite3_column_int(st, 3);
            c.cuisine_image = (char *)col_text(st, 4);
            c.unit_price = (tc_cents)sqlite3_column_int64(st, 5);
            c.available = sqlite3_column_int(st, 6) != 0;
            ok = ok && c.unit_price >= 0 && c.unit_price <= TC_MONEY_MAX;
            if (ok) tc_menu_add_cuisine(m, &c);
        }
    }
    sqlite3_finalize(st);
    return ok && rc == SQLITE_DONE ? 0 : -1;
}

static int sq_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    sq_store *q = s->impl;
    tc_menu *m = tc_menu_new();
    /* One read transaction, so the three reads see one state even if a
     * `menu import` commits in between. */
    bool ok =
        sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
        load_rows(q, m, "SELECT store_id, name FROM stores", ROWS_STORES) == 0 &&
        load_rows(q, m, "SELECT table_id, table_number, store_id FROM tables", ROWS_TABLES) == 0 &&
        load_rows(q, m,
                  "SELECT cuisine_id, store_id, cuisine_name, cuisine_type,"
                  " cuisine_image, unit_price_cents, available FROM cuisines",
                  ROWS_CUISINES) == 0;
    int rc = ok ? 0 : sq_fail(q, err, "load menu");
    sq_rollback(q);
    if (rc != 0) {
        tc_menu_free(m);
        return rc;
    }
    tc_menu_freeze(m);
    *out = m;
    return 0;
}

static int sq_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    sq_store *q = s->impl;
    if (sq_exec(q->begin) != 0) return sq_fail(q, err, "begin import");
    bool ok = true;
    for (size_t i = 0; ok && i < tc_menu_store_count(m); i++) {
        const tc_store_info *si = tc_menu_store_at(m, i);
        sqlite3_bind_int(q->put_store, 1, si->store_id);
        sqlite3_bind_text(q->put_store, 2, si->name, -1, SQLITE_STATIC);
        ok = sq_exec(q->put_store) == 0;
    }
    for (size_t i = 0; ok && i < tc_menu_table_count(m); i++) {
        const tc_table *t = tc_menu_table_at(m, i);
        sqlite3_bind_int(q->put_table, 1, t->table_id);
        sqlite3_bind_text(q->put_table, 2, t->table_number, -1, SQLITE_STATIC);
        sqlite3_bind_int(q->put_table, 3, t->store_id);
        ok = sq_exec(q->put_table) == 0;
    }
    for (size_t i = 0; ok && i < tc_menu_cuisine_count(m); i++) {
        const tc_cuisine *c = tc_menu_cuisine_at(m, i);
        sqlite3_stmt *st = q->put_cuisine;
        sqlite3_bind_int(st, 1, c->cuisine_id);
        sqlite3_bind_int(st, 2, c->store_id);
        sqlite3_bind_text(st, 3, c->cuisine_name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, c->cuisine_type);
        if (c->cuisine_image != NULL)
            sqlite3_bind_text(st, 5, c->cuisine_image, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_int64(st, 6, c->unit_price);
        sqlite3_bind_int(st, 7, c->available ? 1 : 0);
        ok = sq_exec(st) == 0;
    }
    if (ok && sq_exec(q->commit) == 0) return 0;
    int rc = sq_fail(q, err, "import menu");
    sq_rollback(q);
    return rc;
}

/* --- carts --------------------------------------------------------------- */

/* The stored cart of t, or a new empty one. Returns 0 or TC_ESTORE. */
static int load_cart(sq_store *q, const tc_table *t, tc_cart **out, tc_errmsg *err)
{
    sqlite3_stmt *st = q->get_cart;
    sqlite3_bind_int(st, 1, t->table_id);
    int rc = sqlite3_step(st);
    int result = 0;
    if (rc == SQLITE_ROW) {
        const void *text = sqlite3_column_blob(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        tc_cart *c = NULL;
        if (text != NULL && tc_cart_from_json(text, len, &c) == 0 &&
            tc_cart_table_id(c) == t->table_id) {
            *out = c;
        } else {
            tc_cart_free(c);
            tc_log_error("store: sqlite %s: stored cart of table %d is unreadable", q->path,
                         (int)t->table_id);
            result = tc_errmsg_set(err, TC_ESTORE, "store: stored cart of table %d is unreadable",
                                   (int)t->table_id);
        }
    } else if (rc == SQLITE_DONE) {
        *out = tc_cart_new(t);
    } else {
        result = sq_fail(q, err, "read cart");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

static int save_cart(sq_store *q, const tc_table *t, const tc_cart *c)
{
    tc_buf json = TC_BUF_INIT;
    tc_cart_to_json(c, t, &json);
    sqlite3_stmt *st = q->put_cart;
    sqlite3_bind_int(st, 1, t->table_id);
    sqlite3_bind_int64(st, 2, tc_cart_version(c));
    if (tc_cart_updated_at(c) >= 0)
        sqlite3_bind_int64(st, 3, tc_cart_updated_at(c));
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, json.base, (int)json.len, SQLITE_STATIC);
    int rc = sq_exec(st);
    tc_buf_free(&json);
    return rc;
}

static void sq_get(tc_store *s, const tc_table *t, tc_store_cb cb, void *ctx)
{
    sq_store *q = s->impl;
    tc_errmsg err = {{0}};
    tc_cart *c = NULL;
    int rc = load_cart(q, t, &c, &err);
    cb(ctx, rc, rc == 0 ? c : NULL, &err);
    tc_cart_free(c);
}

static void sq_mutate(tc_store *s, const tc_table *t, const tc_op *op, const tc_cart_limits *lim,
                      tc_store_cb cb, void *ctx)
{
    sq_store *q = s->impl;
    tc_errmsg err = {{0}};
    tc_cart *c = NULL;
    int rc;
    /* IMMEDIATE takes the write lock up front, so the load-apply-save below
     * cannot interleave with another writer (a second process on the same
     * file) and no upgrade deadlock is possible. */
    if (sq_exec(q->begin) != 0) {
        rc = sq_fail(q, &err, "begin");
        cb(ctx, rc, NULL, &err);
        return;
    }
    rc = load_cart(q, t, &c, &err);
    if (rc == 0) rc = tc_cart_apply(c, op, s->menu, lim, now_ms(), &err);
    if (rc == 0 && (save_cart(q, t, c) != 0 || sq_exec(q->commit) != 0))
        rc = sq_fail(q, &err, "save cart");
    if (rc != 0) {
        /* Errors and no-ops alike end here: nothing was written. */
        sq_rollback(q);
        cb(ctx, rc, rc == TC_UNCHANGED ? c : NULL, &err);
        tc_cart_free(c);
        return;
    }
    /* Durable now: the feed may tell the world before the caller hears. */
    tc_store_emit_feed(s, c, op->origin);
    cb(ctx, 0, c, &err);
    tc_cart_free(c);
}

static int sq_ping(tc_store *s)
{
    sq_store *q = s->impl;
    int rc = sqlite3_step(q->ping);
    sqlite3_reset(q->ping);
    return rc == SQLITE_ROW ? 0 : TC_ESTORE;
}

const tc_store_backend tc_store_backend_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .load_menu = sq_load_menu,
    .import_menu = sq_import_menu,
    .get = sq_get,
    .mutate = sq_mutate,
    .ping = sq_ping,
};
