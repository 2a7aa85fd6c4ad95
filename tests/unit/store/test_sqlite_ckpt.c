/* The SQLite store's checkpointer (store/sqlite_ckpt.h): a round puts
 * what the writer committed into the database file itself, and under a
 * steady stream of commits the WAL still starts over (its checkpoint
 * sequence, in its header, moves on) and stays small. The writer here is
 * a connection of the test's own, used under the lock the checkpointer
 * borrows, as sqlite.c's writer thread does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/sync_vfs.h"
#include "support/tmp_dir.h"

#include "core/err.h"
#include "store/sqlite_ckpt.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

typedef struct {
    char dir[64];
    char path[96];
    sqlite3 *w; /* the writer's connection */
    uv_mutex_t writer_lock;
    tc_sqlite_ckpt *ckpt;
    int64_t value; /* the last value committed */
} fixture;

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (tt_dir_make(f->dir, sizeof f->dir, "tc-ckpt") != 0) return -1;
    snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
    if (sqlite3_open(f->path, &f->w) != SQLITE_OK) return -1;
    /* As sqlite.c sets up its writer, with no automatic checkpoint at all:
     * only the checkpointer copies the WAL here. */
    exec(f->w, "PRAGMA journal_mode=WAL");
    exec(f->w, "PRAGMA synchronous=NORMAL");
    exec(f->w, "PRAGMA wal_autocheckpoint=0");
    exec(f->w, "CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    exec(f->w, "INSERT INTO t VALUES (1, 0)");
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)"); /* the file holds t, v = 0 */
    uv_mutex_init(&f->writer_lock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tc_sqlite_ckpt_stop(f->ckpt);
    sqlite3_close(f->w);
    uv_mutex_destroy(&f->writer_lock);
    tt_dir_remove(f->dir);
    free(f);
    return 0;
}

static void start(fixture *f, unsigned every_ms)
{
    tc_errmsg err = {0};
    assert_int_equal(tc_sqlite_ckpt_start(f->path, every_ms, &f->writer_lock, &f->ckpt, &err), 0);
}

/* One transaction of the writer: the next value, then the checkpointer is
 * told. */
static void commit(fixture *f)
{
    char sql[64];
    snprintf(sql, sizeof sql, "UPDATE t SET v = %lld WHERE k = 1", (long long)++f->value);
    uv_mutex_lock(&f->writer_lock);
    exec(f->w, sql);
    uv_mutex_unlock(&f->writer_lock);
    if (f->ckpt) tc_sqlite_ckpt_committed(f->ckpt);
}

/* The WAL header's checkpoint sequence (bytes 12–15, big-endian): SQLite
 * adds one each time a writer starts the WAL over. -1 when there is no
 * header yet. */
static long wal_sequence(const fixture *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s-wal", f->path);
    FILE *fp = fopen(p, "rb");
    if (fp == NULL) return -1;
    unsigned char h[16];
    size_t n = fread(h, 1, sizeof h, fp);
    fclose(fp);
    if (n < sizeof h) return -1;
    return (long)((uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | h[15]);
}

static long long wal_size(const fixture *f)
{
    char p[128];
    snprintf(p, sizeof p, "%s-wal", f->path);
    struct stat st;
    return stat(p, &st) == 0 ? (long long)st.st_size : 0;
}

/* The value in the database file alone, as a copy of it without its WAL
 * reads it: what a checkpoint has put there. */
static int64_t value_in_file(const fixture *f)
{
    char copy[128], cmd[700];
    snprintf(copy, sizeof copy, "%s/copy.db", f->dir);
    snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' && cp '%s' '%s'", copy, copy, copy,
             f->path, copy);
    assert_int_equal(system(cmd), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k = 1", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void pause_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* Waits (at most 5 s) until the database file alone holds want. */
static void wait_for_file_value(fixture *f, int64_t want)
{
    uint64_t deadline = now_ms() + 5000;
    while (value_in_file(f) != want && now_ms() < deadline)
        pause_us(2000);
    assert_int_equal(value_in_file(f), want);
}

/* A round counts once it ends, after its checkpoint has put the commits in
 * the file: the file may show them a moment before the count does. */
static void wait_for_rounds(fixture *f, uint64_t want)
{
    uint64_t deadline = now_ms() + 5000;
    while (tc_sqlite_ckpt_rounds(f->ckpt) < want && now_ms() < deadline)
        pause_us(2000);
    assert_true(tc_sqlite_ckpt_rounds(f->ckpt) >= want);
}

static void test_a_round_puts_the_commits_in_the_file(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < 50; i++)
        commit(f);
    assert_int_equal(value_in_file(f), 0); /* nothing copied: the WAL holds all 50 */
    /* The first round runs whatever was committed before the start (what a
     * previous run left in the WAL), the later ones after new commits. */
    start(f, 20);
    wait_for_file_value(f, 50);
    wait_for_rounds(f, 1);
    uint64_t after_first = tc_sqlite_ckpt_rounds(f->ckpt);
    for (int i = 0; i < 10; i++)
        commit(f);
    wait_for_file_value(f, 60);
    wait_for_rounds(f, after_first + 1);
}

static void test_the_wal_starts_over_under_a_steady_stream(void **state)
{
    fixture *f = *state;
    start(f, 20);
    commit(f);
    long first = wal_sequence(f);
    assert_true(first >= 0);
    /* Commits without a break longer than 0.2 ms (a frame of 4 KB each)
     * until the WAL has started over five times, at most 10 s: a
     * checkpoint beside the writer alone never lets it, as frames keep
     * arriving while it copies. */
    long restarts = 0, last = first;
    long long biggest = 0;
    uint64_t deadline = now_ms() + 10000;
    while (restarts < 5 && now_ms() < deadline) {
        commit(f);
        pause_us(200);
        long seq = wal_sequence(f);
        if (seq != last) restarts++;
        last = seq;
        long long size = wal_size(f);
        if (size > biggest) biggest = size;
    }
    assert_int_equal(restarts, 5);
    /* At most a round's worth of frames and the header, far below the
     * 4 MB that 1,000 commits without a restart would write. */
    assert_true(biggest < 4 * 1024 * 1024);
    /* Every commit is there, through the writer's connection. */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->w, "SELECT v FROM t WHERE k = 1", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), f->value);
    sqlite3_finalize(st);
}

/* A reader's snapshot (a backup, an operator's query) leaves a round
 * nothing it may copy, and SQLite then syncs nothing: the WAL is synced all
 * the same, so the commits of the last second are on the disk however long
 * the reader stays. */
static void test_the_wal_is_synced_while_a_reader_holds_a_snapshot(void **state)
{
    fixture *f = *state;
    tv_sync_vfs_install(); /* for the checkpointer's connection, opened below */
    sqlite3 *reader;
    assert_int_equal(sqlite3_open(f->path, &reader), SQLITE_OK);
    exec(reader, "BEGIN");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT v FROM t WHERE k = 1", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), 0);
    sqlite3_finalize(st); /* the read transaction, and its snapshot, stay */
    for (int i = 0; i < 10; i++)
        commit(f);
    start(f, 20);
    uint64_t deadline = now_ms() + 5000;
    while (tc_sqlite_ckpt_rounds(f->ckpt) < 2 && now_ms() < deadline)
        pause_us(2000);
    assert_true(tc_sqlite_ckpt_rounds(f->ckpt) >= 1);
    assert_int_equal(value_in_file(f), 0); /* nothing copied under the reader */
    assert_true(atomic_load(&tv_wal_syncs) >= 1);
    assert_true(atomic_load(&tv_db_syncs) >= 1);
    /* The reader gone, the next round copies. */
    exec(reader, "COMMIT");
    sqlite3_close(reader);
    commit(f);
    wait_for_file_value(f, 11);
    tv_sync_vfs_remove();
}

static void test_start_fails_without_the_file(void **state)
{
    fixture *f = *state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.db", f->dir);
    tc_errmsg err = {0};
    tc_sqlite_ckpt *c = NULL;
    assert_int_equal(tc_sqlite_ckpt_start(missing, 20, &f->writer_lock, &c, &err), TC_ESTORE);
    assert_null(c);
    assert_non_null(strstr(err.text, "open the checkpointer"));
    tc_sqlite_ckpt_stop(NULL); /* ignored */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_a_round_puts_the_commits_in_the_file),
        T(test_the_wal_starts_over_under_a_steady_stream),
        T(test_the_wal_is_synced_while_a_reader_holds_a_snapshot),
        T(test_start_fails_without_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
