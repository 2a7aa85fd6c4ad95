/* sqlite.c — the "sqlite:PATH" store backend: one embedded database file,
 * one connection, a writer thread of its own, and a checkpointer thread
 * with a second connection (sqlite_ckpt.h).
 *
 * Longer than 500 lines on purpose: the schema, the prepared statements and
 * the lock around the one connection are shared by the menu's rows, the
 * carts, the remembered answers and the writer thread; splitting them would
 * expose the connection's state to several files.
 *
 * The loop never touches the disk while serving: store.c submits jobs (read
 * a table's cart, save a new cart) and the writer thread runs them. Every
 * save that arrived while the last transaction was committing goes into the
 * next one (group commit), and finished jobs go back to the loop through a
 * store/wake. Checkpoints happen beside it, on the checkpointer's thread, so
 * that no commit waits for one. The menu is read and written from
 * the caller's thread (start-up, the CLI), under the same lock as the
 * writer's transactions.
 *
 * A serving store (exclusive) starts its writer at open, and the writer
 * watches the file for a menu written by another process (`tablecart menu
 * import` on a running server's database): every MENU_POLL_MS it asks
 * PRAGMA data_version, which changes only when another connection
 * committed; then it reads the menu there, on the writer thread, and hands
 * it to the loop, which serves it (tc_store_menu_replace).
 *
 * Durability (--durability): process — WAL with synchronous=NORMAL: a commit
 * is in the OS's hands before it is acknowledged, so it survives kill -9 and
 * any crash of the process; the checkpointer syncs at least once a second
 * (a passive checkpoint syncs the WAL), so a power loss costs at most the
 * last second. power — synchronous=FULL: every group is synced before
 * anyone is answered. */
#include "store/backend.h"
#include "store/sqlite_ckpt.h"
#include "store/wake.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"

#include <sqlite3.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* PRAGMA user_version of the schema below; a newer file is refused. */
#define SCHEMA_VERSION 4 /* 2: the idem table; 3: the diners table; 4: sittings */
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
                                 " available INTEGER NOT NULL,"
                                 " category TEXT);"
                                 /* The cart is kept whole, as the JSON tc_cart_to_json writes: it
                                  * is always read and written whole, and version/updated_at are
                                  * columns too so an operator can query them without parsing. */
                                 "CREATE TABLE IF NOT EXISTS carts ("
                                 " table_id INTEGER PRIMARY KEY,"
                                 " version INTEGER NOT NULL,"
                                 " updated_at INTEGER,"
                                 " cart_json TEXT NOT NULL);"
                                 /* Idempotency-Key answers (store/idem.h): written with the
                                  * change they answer, read back at start. */
                                 "CREATE TABLE IF NOT EXISTS idem ("
                                 " key TEXT PRIMARY KEY,"
                                 " caller TEXT NOT NULL,"
                                 " version INTEGER NOT NULL,"
                                 " cart_json TEXT NOT NULL,"
                                 " expires_at INTEGER NOT NULL);"
                                 "CREATE INDEX IF NOT EXISTS idem_expiry ON idem (expires_at);"
                                 /* Who sits at each table (store.h): seats 1, 2, 3, … per
                                  * table, kept for the sitting; name NULL until the diner
                                  * set one. */
                                 "CREATE TABLE IF NOT EXISTS diners ("
                                 " table_id INTEGER NOT NULL,"
                                 " user_id INTEGER NOT NULL,"
                                 " seat INTEGER NOT NULL,"
                                 " name TEXT,"
                                 " PRIMARY KEY (table_id, user_id),"
                                 " UNIQUE (table_id, seat));"
                                 /* When each table's diners were last known active (epoch
                                  * ms; store.h, "Sittings"). A table without a row (diners
                                  * of a file from before sittings) counts as active now. */
                                 "CREATE TABLE IF NOT EXISTS sittings ("
                                 " table_id INTEGER PRIMARY KEY,"
                                 " active INTEGER NOT NULL);";

/* The checkpointer syncs what was committed at least this often (the
 * promise of --durability process in docs/operations.md: a power loss
 * costs at most 1 s) and copies it into the database file. */
#define SYNC_EVERY_MS 1000
/* WAL pages after which a commit checkpoints on the writer itself: the
 * bound of the WAL (about 40 MB) when the checkpointer cannot keep up. */
#define WAL_BOUND_PAGES 10000
/* A serving store looks for a menu another process wrote this often. */
#define MENU_POLL_MS 250
/* A menu that could not be read is read again this often. */
#define MENU_RETRY_MS 5000
/* Expired Idempotency-Key answers are deleted from the file this often. */
#define PRUNE_EVERY_MS 60000
/* Said (logged, and answered to a refused change) while the database file is
 * not at its path. */
#define GONE_TEXT                                                                                  \
    "store: sqlite %s: the database file was removed or replaced while serving; changes are "      \
    "refused (503) until it is back at that path"
/* The same for its -wal file, where commits go until the checkpointer copies
 * them into the database file: a new start would not read the one open. */
#define WAL_GONE_TEXT                                                                              \
    "store: sqlite %s: its -wal file was removed or replaced while serving; changes are refused "  \
    "(503) until it is back at that path or the server is restarted"
/* A commit failed and what it left in the -wal could not be cut off
 * (cut_uncommitted): a start may find it. */
#define UNSURE_TEXT                                                                                \
    "store: sqlite %s: a commit failed and the -wal could not be cut back to what was committed; " \
    "changes are refused (503) until the server is restarted"

/* Why changes are refused (check_file): not refused, the database file or
 * its -wal file is not at its path. */
enum { GONE_NO, GONE_DB, GONE_WAL };

typedef struct {
    tc_store *store;
    sqlite3 *db;
    char *path;
    int lock_fd; /* holds the flock of an exclusive open, or -1 */
    tc_durability durability;
    /* Prepared once at open, reset after every use. */
    sqlite3_stmt *begin, *commit, *rollback, *ping;
    sqlite3_stmt *get_cart, *put_cart, *put_idem, *prune_idem, *drop_idem;
    sqlite3_stmt *get_diners, *seat_diner, *name_diner;
    sqlite3_stmt *get_active, *put_active, *drop_diners;
    sqlite3_stmt *put_store, *put_table, *put_cuisine;
    /* The writer thread and what it shares with the loop. */
    uv_mutex_t db_lock; /* one user of the connection at a time */
    uv_mutex_t lock;    /* guards todo, done, stopping, health, read_failed, unsure */
    uv_cond_t wake;
    uv_thread_t thread;
    bool started, stopping;
    bool waiting;                   /* the writer sleeps on wake */
    tc_store_job *todo, *todo_tail; /* submitted, not yet run */
    tc_store_job *done, *done_tail; /* run, not yet handed back */
    int health;                     /* 0, or TC_ESTORE after a failed transaction */
    bool read_failed;               /* the last read of a cart failed (a damaged file) */
    bool unsure; /* a failed commit's frames may be in the -wal: no more changes (UNSURE_TEXT) */
    int gone;    /* GONE_*, check_file's reading: the writer alone sets it, under lock */
    tc_menu *fresh_menu;  /* read by the writer, not yet served */
    tc_wake *loop_wake;   /* wakes the loop (store/wake: not a uv_async_t) */
    tc_sqlite_ckpt *ckpt; /* a serving store's checkpointer; the writer stops it */
    /* loop only: jobs submitted during this loop turn, handed to the writer
     * together just before the loop waits for I/O (one wake-up per turn,
     * and one transaction for all of them) */
    uv_prepare_t *hand_over;
    tc_store_job *outbox, *outbox_tail;
    /* writer only */
    bool watch;           /* look for menus other processes write (set before start) */
    int64_t data_version; /* PRAGMA data_version when the menu was last read */
    uint64_t menu_at;     /* uv_hrtime of the last look */
    char *wal_path;       /* PATH-wal, and the -wal file open when serving started */
    dev_t wal_dev;
    ino_t wal_ino; /* 0: not known (not in WAL mode), not checked */
    /* A data_version whose menu could not be read, and when: tried again
     * every MENU_RETRY_MS (not at every look: a bad row logs once a while). */
    int64_t menu_failed_version;
    uint64_t menu_failed_at;
    uint64_t pruned_at; /* uv_hrtime when expired answers were last deleted */
} sq_store;

static int sq_fail(sq_store *q, tc_errmsg *err, const char *what)
{
    const char *why = q->db ? sqlite3_errmsg(q->db) : "out of memory";
    tc_log_error("store: sqlite %s: %s: %s", q->path, what, why);
    return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: %s: %s", q->path, what, why);
}

enum { FOLDER_OK, FOLDER_MISSING, FOLDER_READ_ONLY };

/* Whether the folder of path (copied to dir) is there and this user may
 * write in it, where SQLite makes the file and its -wal and -shm. */
static int folder_of(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, dirlen, ".");
    else if (slash == path)
        snprintf(dir, dirlen, "/");
    else
        snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return FOLDER_MISSING;
    if (access(dir, W_OK | X_OK) != 0) return FOLDER_READ_ONLY;
    return FOLDER_OK;
}

/* A store that cannot be opened at start (or whose menu cannot be read),
 * said once (the caller prints or logs it: nothing is logged here) for the
 * operator who must fix it: what is wrong with the path, not which step
 * failed (that only when SQLite's answer is none of these). */
static int sq_start_fail(sq_store *q, tc_errmsg *err, const char *what)
{
    if (q->db == NULL)
        return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: out of memory", q->path);
    int code = sqlite3_extended_errcode(q->db), sys = sqlite3_system_errno(q->db);
    const char *why = sqlite3_errmsg(q->db);
    char dir[PATH_MAX];
    switch (code & 0xff) {
    case SQLITE_CANTOPEN: {
        struct stat st;
        if (stat(q->path, &st) == 0 && S_ISDIR(st.st_mode))
            return tc_errmsg_set(err, TC_ESTORE,
                                 "store: sqlite %s: is a folder, not a database file", q->path);
        int f = folder_of(q->path, dir, sizeof dir);
        if (f == FOLDER_READ_ONLY) break;
        if (f == FOLDER_MISSING)
            return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: the folder %s does not exist",
                                 q->path, dir);
        return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: cannot open it (%s%s%s)", q->path,
                             why, sys ? ": " : "", sys ? strerror(sys) : "");
    }
    case SQLITE_READONLY:
        if (code != SQLITE_READONLY_DIRECTORY) goto other;
        break;
    case SQLITE_NOTADB:
        return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: not a SQLite database file (%s)",
                             q->path, why);
    case SQLITE_BUSY:
        return tc_errmsg_set(err, TC_ESTORE,
                             "store: sqlite %s: another process holds it locked and did not let go "
                             "within %d s (%s)",
                             q->path, BUSY_TIMEOUT_MS / 1000, why);
    case SQLITE_FULL:
    case SQLITE_IOERR:
        return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: cannot write the database: %s%s",
                             q->path, sys ? strerror(sys) : why,
                             sys == EFBIG ? " (the file size limit: ulimit -f, LimitFSIZE)" : "");
    case SQLITE_CORRUPT:
        return tc_errmsg_set(
            err, TC_ESTORE, "store: sqlite %s: the database file is damaged (%s): restore a backup",
            q->path, why);
    default:
        goto other;
    }
    folder_of(q->path, dir, sizeof dir);
    return tc_errmsg_set(err, TC_ESTORE,
                         "store: sqlite %s: this user may not write in the folder %s (SQLite makes "
                         "the database and its -wal and -shm files there)",
                         q->path, dir);
other:
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

/* A file written before dishes had a category gets the column (NULL for every
 * dish). The schema version stays: older builds name their columns and never
 * touch this one, so they still read and write such a file. */
static int add_category_column(sq_store *q)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(q->db, "SELECT category FROM cuisines LIMIT 0", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_finalize(st);
        return 0;
    }
    return sqlite3_exec(q->db, "ALTER TABLE cuisines ADD COLUMN category TEXT", NULL, NULL, NULL) ==
                   SQLITE_OK
               ? 0
               : -1;
}

static int sq_setup(sq_store *q, tc_errmsg *err)
{
    /* Single loop thread: a lock held by another process (a `menu import`)
     * is waited for briefly instead of failing at once. */
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);

    /* Looked at before anything is written: a file this build cannot use
     * (newer, or another program's) is refused as it is. */
    char ver[24], objects[24];
    if (pragma_text(q, "PRAGMA user_version", ver, sizeof ver) != 0)
        return sq_start_fail(q, err, "read schema version");
    long v = strtol(ver, NULL, 10);
    if (v > SCHEMA_VERSION)
        return tc_errmsg_set(err, TC_ESTORE,
                             "store: sqlite %s: schema version %ld is newer than this build's (%d)",
                             q->path, v, SCHEMA_VERSION);
    /* Every build wrote its schema version with its tables (one
     * transaction, below): tables without one are another program's. */
    if (pragma_text(q, "SELECT count(*) FROM sqlite_schema", objects, sizeof objects) != 0)
        return sq_start_fail(q, err, "read schema");
    if (v == 0 && strcmp(objects, "0") != 0)
        return tc_errmsg_set(err, TC_ESTORE,
                             "store: sqlite %s: not a tablecart database (it holds tables but no "
                             "tablecart schema version)",
                             q->path);

    char mode[16];
    if (pragma_text(q, "PRAGMA journal_mode=WAL", mode, sizeof mode) != 0)
        return sq_start_fail(q, err, "enable WAL");
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        tc_log_warn("store: sqlite %s: journal mode is %s, not wal", q->path, mode);
    /* FULL: every commit is synced (power). NORMAL: a commit is written to
     * the WAL, synced by the writer at least every SYNC_EVERY_MS (process). */
    const char *sync =
        q->durability == TC_DURABLE_POWER ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    if (sqlite3_exec(q->db, sync, NULL, NULL, NULL) != SQLITE_OK)
        return sq_start_fail(q, err, "set synchronous");

    /* The tables and the schema version in one transaction, so that a
     * crash in between never leaves tables without a version (a file the
     * check above would take for another program's). */
    char set_ver[40];
    snprintf(set_ver, sizeof set_ver, "PRAGMA user_version=%d", SCHEMA_VERSION);
    if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sq_start_fail(q, err, "begin schema");
    const char *what = NULL;
    if (sqlite3_exec(q->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK)
        what = "create schema";
    else if (add_category_column(q) != 0)
        what = "add cuisines.category";
    else if (v < SCHEMA_VERSION && sqlite3_exec(q->db, set_ver, NULL, NULL, NULL) != SQLITE_OK)
        what = "write schema version";
    else if (sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        what = "commit schema";
    if (what != NULL) {
        int rc = sq_start_fail(q, err, what);
        if (!sqlite3_get_autocommit(q->db)) sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }

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
        {&q->put_idem, "INSERT OR REPLACE INTO idem (key, caller, version, cart_json, expires_at)"
                       " VALUES (?1, ?2, ?3, ?4, ?5)"},
        {&q->prune_idem, "DELETE FROM idem WHERE expires_at <= ?1"},
        {&q->drop_idem, "DELETE FROM idem WHERE key = ?1"},
        {&q->get_diners,
         "SELECT user_id, seat, name FROM diners WHERE table_id = ?1 ORDER BY seat"},
        /* The next seat, unless seated already (the key) or the table is
         * full: one statement, inside the writer's transaction. */
        {&q->seat_diner, "INSERT OR IGNORE INTO diners (table_id, user_id, seat, name)"
                         " SELECT ?1, ?2, n + 1, NULL FROM"
                         " (SELECT count(*) AS n FROM diners WHERE table_id = ?1) WHERE n < ?3"},
        {&q->name_diner, "UPDATE diners SET name = ?3 WHERE table_id = ?1 AND user_id = ?2"},
        {&q->get_active, "SELECT active FROM sittings WHERE table_id = ?1"},
        {&q->put_active, "INSERT INTO sittings (table_id, active) VALUES (?1, ?2)"
                         " ON CONFLICT (table_id) DO UPDATE SET active = excluded.active"},
        {&q->drop_diners, "DELETE FROM diners WHERE table_id = ?1"},
        {&q->put_store, "INSERT INTO stores (store_id, name) VALUES (?1, ?2)"
                        " ON CONFLICT (store_id) DO UPDATE SET name = excluded.name"},
        {&q->put_table, "INSERT INTO tables (table_id, table_number, store_id)"
                        " VALUES (?1, ?2, ?3) ON CONFLICT (table_id) DO UPDATE SET"
                        " table_number = excluded.table_number, store_id = excluded.store_id"},
        {&q->put_cuisine,
         "INSERT INTO cuisines (cuisine_id, store_id, cuisine_name, cuisine_type,"
         " cuisine_image, unit_price_cents, available, category)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
         " ON CONFLICT (cuisine_id) DO UPDATE SET store_id = excluded.store_id,"
         " cuisine_name = excluded.cuisine_name, cuisine_type = excluded.cuisine_type,"
         " cuisine_image = excluded.cuisine_image,"
         " unit_price_cents = excluded.unit_price_cents, available = excluded.available,"
         " category = excluded.category"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(q->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st,
                               NULL) != SQLITE_OK)
            return sq_start_fail(q, err, "prepare statements");
    return 0;
}

/* The process holding a flock on the file open as fd, from /proc/locks
 * ("1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"); 0 when not known
 * (no /proc, or a holder outside our PID namespace). */
static long flock_holder(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return 0;
    FILE *f = fopen("/proc/locks", "re");
    if (f == NULL) return 0;
    char line[256];
    long pid = 0;
    while (pid == 0 && fgets(line, sizeof line, f) != NULL) {
        char kind[16];
        long p;
        unsigned maj, min;
        unsigned long long ino;
        /* Waiters are listed as "1: -> FLOCK …" and do not match. */
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && ino == (unsigned long long)st.st_ino &&
            maj == major(st.st_dev) && min == minor(st.st_dev) && p > 0)
            pid = p;
    }
    fclose(f);
    return pid;
}

/* Takes the file for this process: a flock (independent of SQLite's own
 * fcntl locks, so `menu import` from another process still works) held
 * until the store closes. Refused, it says which process holds it
 * (SPEC §7). */
static int hold_file(sq_store *q, tc_errmsg *err)
{
    q->lock_fd = open(q->path, O_RDONLY | O_CLOEXEC);
    if (q->lock_fd < 0)
        return tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: cannot open it: %s", q->path,
                             strerror(errno));
    if (flock(q->lock_fd, LOCK_EX | LOCK_NB) == 0) return 0;
    long holder = flock_holder(q->lock_fd);
    if (holder == 0)
        return tc_errmsg_set(err, TC_ESTORE,
                             "store: sqlite %s: another tablecart serves it (one server per SQLite "
                             "file; many instances share redis://)",
                             q->path);
    return tc_errmsg_set(err, TC_ESTORE,
                         "store: sqlite %s: another tablecart (pid %ld) serves it (one server "
                         "per SQLite file; many instances share redis://)",
                         q->path, holder);
}

/* Moves PATH-SUFFIX to PATH-SUFFIX.orphaned-PID; returns whether it did. */
static bool set_aside(const sq_store *q, const char *suffix, tc_buf *names)
{
    tc_buf from = TC_BUF_INIT, to = TC_BUF_INIT;
    tc_buf_append_str(&from, q->path);
    tc_buf_append_str(&from, suffix);
    tc_buf_append(&to, from.base, from.len);
    tc_buf_append_str(&to, ".orphaned-");
    tc_buf_append_dec(&to, (int64_t)getpid());
    bool moved = rename(tc_buf_cstr(&from), tc_buf_cstr(&to)) == 0;
    if (moved) {
        if (names->len) tc_buf_append_str(names, " and ");
        tc_buf_append(names, to.base, to.len);
    }
    tc_buf_free(&from);
    tc_buf_free(&to);
    return moved;
}

/* The database file was removed or moved away while serving: SQLite leaves
 * its -wal and -shm at the path when it closes then, and the next start
 * would apply them to whatever file is put there — a restored backup, which
 * they corrupt or take to versions it never had. Ours (the -wal opened at
 * start) are moved aside once the connection is closed; the writer's last
 * checkpoint copied the -wal into the file that was moved, if it still
 * exists. */
static void set_aside_orphans(const sq_store *q)
{
    struct stat st;
    if (q->wal_ino == 0 || stat(q->wal_path, &st) != 0 || st.st_ino != q->wal_ino ||
        st.st_dev != q->wal_dev)
        return;
    tc_buf names = TC_BUF_INIT;
    if (set_aside(q, "-wal", &names)) {
        set_aside(q, "-shm", &names);
        tc_log_warn(
            "store: sqlite %s: the database file was removed or moved away; its -wal and "
            "-shm, which SQLite leaves behind then, are moved aside (%s) so that a file put "
            "at the path later (a restored backup) does not take them for its own",
            q->path, tc_buf_cstr(&names));
    }
    tc_buf_free(&names);
}

static void sq_free(sq_store *q)
{
    tc_sqlite_ckpt_stop(q->ckpt); /* NULL: never started, or stopped by the writer */
    sqlite3_stmt *all[] = {
        q->begin,      q->commit,     q->rollback,  q->ping,       q->get_cart,    q->put_cart,
        q->put_idem,   q->prune_idem, q->put_store, q->put_table,  q->put_cuisine, q->get_diners,
        q->seat_diner, q->name_diner, q->drop_idem, q->get_active, q->put_active,  q->drop_diners};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    int moved = 0;
    if (q->db != NULL &&
        sqlite3_file_control(q->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        moved = 0;
    if (q->db != NULL && sqlite3_close(q->db) != SQLITE_OK)
        tc_log_error("store: sqlite %s: close: %s", q->path, sqlite3_errmsg(q->db));
    else if (moved)
        set_aside_orphans(q);
    if (q->lock_fd >= 0) close(q->lock_fd);
    tc_menu_free(q->fresh_menu);
    uv_cond_destroy(&q->wake);
    uv_mutex_destroy(&q->lock);
    uv_mutex_destroy(&q->db_lock);
    free(q->wal_path);
    free(q->path);
    free(q);
}

static void start_writer(tc_store *s, sq_store *q);

static int sq_check_url(const char *rest, tc_errmsg *err)
{
    if (rest[0] == '\0')
        return tc_errmsg_set(err, TC_EINVAL, "store: sqlite needs a path (sqlite:./tablecart.db)");
    return 0;
}

static int sq_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    if (sq_check_url(rest, err) != 0) return TC_EINVAL;
    sq_store *q = tc_xcalloc(1, sizeof *q);
    q->path = tc_xstrdup(rest);
    q->lock_fd = -1;
    q->durability = s->opts.durability;
    if (uv_mutex_init(&q->db_lock) || uv_mutex_init(&q->lock) || uv_cond_init(&q->wake))
        abort(); /* only out of memory makes these fail */
    int rc = sqlite3_open_v2(rest, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_start_fail(q, err, "open");
        sq_free(q);
        return rc;
    }
    /* SQLite opens a file it may not write read-only, without a word: every
     * change would be refused while /healthz said up. */
    if (sqlite3_db_readonly(q->db, "main") == 1) {
        rc = tc_errmsg_set(err, TC_ESTORE,
                           "store: sqlite %s: the database file is read-only (this user may not "
                           "write it)",
                           rest);
        sq_free(q);
        return rc;
    }
    if (s->opts.exclusive && (rc = hold_file(q, err)) != 0) {
        sq_free(q);
        return rc;
    }
    if ((rc = sq_setup(q, err)) != 0) {
        sq_free(q);
        return rc;
    }
    q->store = s;
    s->impl = q;
    if (s->opts.exclusive) {
        /* Serving: watch for menus written by `menu import` from now on. */
        char v[32];
        pragma_text(q, "PRAGMA data_version", v, sizeof v);
        q->data_version = strtoll(v, NULL, 10);
        q->menu_failed_version = -1;
        q->watch = true;
        /* The -wal file SQLite keeps open from now on (check_file). */
        struct stat st;
        size_t n = strlen(q->path);
        q->wal_path = tc_xmalloc(n + 5);
        memcpy(q->wal_path, q->path, n);
        memcpy(q->wal_path + n, "-wal", 5);
        if (stat(q->wal_path, &st) == 0) {
            q->wal_dev = st.st_dev;
            q->wal_ino = st.st_ino;
        }
        /* The checkpointer's passive checkpoint, once a second, is the
         * usual one. SQLite's automatic one (every 1,000 WAL pages by
         * default: several times a second under load) would run inside a
         * commit, with two fsyncs, and hold up every change of its group
         * and those queued behind it; at WAL_BOUND_PAGES it only bounds the
         * WAL when the checkpointer cannot keep up. */
        sqlite3_wal_autocheckpoint(q->db, WAL_BOUND_PAGES);
        if ((rc = tc_sqlite_ckpt_start(q->path, SYNC_EVERY_MS, &q->db_lock, &q->ckpt, err)) != 0) {
            s->impl = NULL;
            sq_free(q);
            return rc;
        }
        start_writer(s, q);
    }
    return 0;
}

static void hand_back(sq_store *q, bool closing);
static void hand_over(uv_prepare_t *h);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void sq_close(tc_store *s)
{
    sq_store *q = s->impl;
    if (q->started) {
        /* The writer finishes every job already submitted, then stops. */
        hand_over(q->hand_over);
        uv_close((uv_handle_t *)q->hand_over, free_handle);
        uv_mutex_lock(&q->lock);
        q->stopping = true;
        uv_cond_signal(&q->wake);
        uv_mutex_unlock(&q->lock);
        uv_thread_join(&q->thread);
        hand_back(q, true);
        tc_wake_close(q->loop_wake);
    }
    sq_free(q);
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
            c.category = (char *)col_text(st, 7);
            ok = ok && c.unit_price >= 0 && c.unit_price <= TC_MONEY_MAX;
            if (ok) tc_menu_add_cuisine(m, &c);
        }
    }
    sqlite3_finalize(st);
    return ok && rc == SQLITE_DONE ? 0 : -1;
}

static int import_rows(sq_store *q, const tc_menu *m, tc_errmsg *err);

static int sq_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    sq_store *q = s->impl;
    tc_menu *m = tc_menu_new();
    uv_mutex_lock(&q->db_lock);
    /* One read transaction, so the three reads see one state even if a
     * `menu import` commits in between. */
    bool ok =
        sqlite3_exec(q->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
        load_rows(q, m, "SELECT store_id, name FROM stores", ROWS_STORES) == 0 &&
        load_rows(q, m, "SELECT table_id, table_number, store_id FROM tables", ROWS_TABLES) == 0 &&
        load_rows(q, m,
                  "SELECT cuisine_id, store_id, cuisine_name, cuisine_type,"
                  " cuisine_image, unit_price_cents, available, category FROM cuisines",
                  ROWS_CUISINES) == 0;
    /* Not logged here: at start the caller prints it, watch_menu logs it. */
    int rc = ok ? 0 : sq_start_fail(q, err, "load menu");
    sq_rollback(q);
    uv_mutex_unlock(&q->db_lock);
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
    uv_mutex_lock(&q->db_lock);
    int rc = import_rows(q, m, err);
    uv_mutex_unlock(&q->db_lock);
    return rc;
}

static int import_rows(sq_store *q, const tc_menu *m, tc_errmsg *err)
{
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
        if (c->category != NULL)
            sqlite3_bind_text(st, 8, c->category, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        ok = sq_exec(st) == 0;
    }
    if (ok && sq_exec(q->commit) == 0) return 0;
    int rc = sq_fail(q, err, "import menu");
    sq_rollback(q);
    return rc;
}

/* Reads every answer not expired at now_ms into d, oldest first. */
static int sq_load_idem(tc_store *s, tc_idem *d, int64_t now_ms, tc_errmsg *err)
{
    sq_store *q = s->impl;
    sqlite3_stmt *st;
    uv_mutex_lock(&q->db_lock);
    int rc = sqlite3_prepare_v2(q->db,
                                "SELECT key, caller, version, cart_json, expires_at FROM idem"
                                " WHERE expires_at > ?1 ORDER BY expires_at",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_start_fail(q, err, "read remembered answers");
        uv_mutex_unlock(&q->db_lock);
        return rc;
    }
    sqlite3_bind_int64(st, 1, now_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = col_text(st, 0), *caller = col_text(st, 1);
        const void *json = sqlite3_column_blob(st, 3);
        if (!key || !caller || !json) continue;
        tc_rbuf *r = tc_rbuf_new(json, (size_t)sqlite3_column_bytes(st, 3));
        tc_idem_put(d, tc_view_of(caller), tc_view_of(key), sqlite3_column_int64(st, 2), r,
                    sqlite3_column_int64(st, 4), now_ms);
        tc_rbuf_unref(r);
    }
    /* At start: a damaged file is said so, once, by the caller. */
    rc = rc == SQLITE_DONE ? 0 : sq_start_fail(q, err, "read remembered answers");
    sqlite3_finalize(st);
    uv_mutex_unlock(&q->db_lock);
    return rc;
}

/* --- carts: the writer thread ------------------------------------------- */

/* Reads table j->table_id's stored DTO into j->row. */
static void run_load(sq_store *q, tc_store_job *j)
{
    sqlite3_stmt *st = q->get_cart;
    sqlite3_bind_int(st, 1, j->table_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *text = sqlite3_column_blob(st, 0);
        j->found = true;
        tc_buf_append(&j->row, text ? text : "", (size_t)sqlite3_column_bytes(st, 0));
    } else if (rc != SQLITE_DONE) {
        j->status = sq_fail(q, &j->err, "read cart");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    /* A cart that cannot be read (the file damaged) is 503 for every call
     * on its table: /healthz says so too, until a read succeeds again. */
    uv_mutex_lock(&q->lock);
    q->read_failed = j->status != 0;
    uv_mutex_unlock(&q->lock);
}

static int run_save_idem(sq_store *q, const tc_store_idem_rec *rec)
{
    sqlite3_stmt *st = q->put_idem;
    sqlite3_bind_text(st, 1, rec->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->caller, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, rec->version);
    sqlite3_bind_text(st, 4, rec->json->data, (int)rec->json->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rec->expires_ms);
    return sq_exec(st);
}

/* Writes a save job: its cart (unless only answers changed) and the answers
 * to remember. */
static int run_save(sq_store *q, const tc_store_job *j)
{
    /* The answers memory forgot go first: a key forgotten and then used
     * again in this very batch is saved anew below. */
    const tc_buf *gone = &j->idem_dropped;
    for (size_t at = 0; at < gone->len;) {
        size_t n = strlen(gone->base + at);
        sqlite3_bind_text(q->drop_idem, 1, gone->base + at, (int)n, SQLITE_STATIC);
        if (sq_exec(q->drop_idem) != 0) return -1;
        at += n + 1;
    }
    for (const tc_store_idem_rec *rec = j->idem; rec; rec = rec->next)
        if (run_save_idem(q, rec) != 0) return -1;
    if (j->version < 0) return 0;
    sqlite3_stmt *st = q->put_cart;
    sqlite3_bind_int(st, 1, j->table_id);
    sqlite3_bind_int64(st, 2, j->version);
    if (j->updated_at >= 0)
        sqlite3_bind_int64(st, 3, j->updated_at);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, j->json->data, (int)j->json->len, SQLITE_STATIC);
    return sq_exec(st);
}

/* --- diners: the writer thread ------------------------------------------ */

/* Whether j's table's sitting is over at now_ms (tc_sitting_over; false
 * without sittings). Returns 0 or -1 (a failed read). */
static int sitting_over(sq_store *q, const tc_store_job *j, int64_t now_ms, bool *over)
{
    *over = false;
    int64_t gap = j->gap_ms;
    if (gap <= 0) return 0;
    sqlite3_stmt *st = q->get_active;
    sqlite3_bind_int(st, 1, j->table_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *over = tc_sitting_over(now_ms, sqlite3_column_int64(st, 0), gap);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Reads table j->table_id's diners, in seat order, into j->diners: none
 * when its sitting is over (the next seat forgets them). */
static int run_diners_read(sq_store *q, tc_store_job *j)
{
    bool over;
    if (sitting_over(q, j, tc_clock_epoch_ms(), &over) != 0) return -1;
    if (over) return 0;
    sqlite3_stmt *st = q->get_diners;
    sqlite3_bind_int(st, 1, j->table_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (j->n_diners == cap) {
            cap = cap ? cap * 2 : 8;
            j->diners = tc_xrealloc(j->diners, cap * sizeof *j->diners);
        }
        const char *name = (const char *)sqlite3_column_text(st, 2);
        j->diners[j->n_diners++] = (tc_diner){
            sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), name ? tc_xstrdup(name) : NULL};
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static bool is_diners_write(const tc_store_job *j)
{
    return j->kind == TC_JOB_DINERS && j->diners_op != TC_DINERS_GET;
}

/* Sittings: forgets the table's diners when its sitting is over (not for a
 * TOUCH with keep), then stores now as its activity time. */
static int run_sitting(sq_store *q, tc_store_job *j)
{
    if (j->gap_ms <= 0) return 0;
    int64_t now = tc_clock_epoch_ms();
    bool over;
    if (j->diners_op != TC_DINERS_TOUCH || !j->keep) {
        if (sitting_over(q, j, now, &over) != 0) return -1;
        if (over) {
            sqlite3_bind_int(q->drop_diners, 1, j->table_id);
            if (sq_exec(q->drop_diners) != 0) return -1;
            j->wrote = sqlite3_changes(q->db) > 0;
        }
    }
    sqlite3_bind_int(q->put_active, 1, j->table_id);
    sqlite3_bind_int64(q->put_active, 2, now);
    return sq_exec(q->put_active);
}

/* A new sitting when the last is over, then seats j->user_id (unless
 * seated or the table is full) and, for a NAME, sets the name (a TOUCH seats
 * nobody); then reads the list. Inside the writer's
 * transaction. */
static int run_diners_write(sq_store *q, tc_store_job *j)
{
    j->wrote = false;
    if (run_sitting(q, j) != 0) return -1;
    if (j->diners_op != TC_DINERS_TOUCH) {
        sqlite3_stmt *st = q->seat_diner;
        sqlite3_bind_int(st, 1, j->table_id);
        sqlite3_bind_int64(st, 2, j->user_id);
        sqlite3_bind_int(st, 3, TC_DINER_MAX_SEATS);
        if (sq_exec(st) != 0) return -1;
        j->wrote = j->wrote || sqlite3_changes(q->db) > 0;
    }
    if (j->diners_op == TC_DINERS_NAME) {
        sqlite3_stmt *st = q->name_diner;
        sqlite3_bind_int(st, 1, j->table_id);
        sqlite3_bind_int64(st, 2, j->user_id);
        sqlite3_bind_text(st, 3, j->name, -1, SQLITE_STATIC);
        if (sq_exec(st) != 0) return -1;
        if (sqlite3_changes(q->db) == 0) j->status = TC_ELIMIT; /* not seated: full */
        j->wrote = j->wrote || sqlite3_changes(q->db) > 0;
    }
    tc_diners_free(j->diners, j->n_diners);
    j->diners = NULL;
    j->n_diners = 0;
    return run_diners_read(q, j);
}

/* After a COMMIT that failed: SQLite may have written the group's frames,
 * its commit frame included, before the error (an fsync that failed, in
 * --durability power). It takes the transaction back and overwrites those
 * frames with the next one, but a start after a crash before that reads
 * the -wal again and finds the change that was answered 503. So the -wal is
 * cut back to the frames SQLite counts as committed (a passive checkpoint
 * says how many) and synced. Returns false when that cannot be done. On
 * the writer thread, with db_lock held. */
static bool cut_uncommitted(sq_store *q)
{
    int frames = -1, copied = -1, rc = TC_EBUSY;
    /* The checkpointer's long checkpoint may hold the lock a few ms. */
    for (int i = 0; i < 1000 && rc == TC_EBUSY; i++) {
        rc = tc_sqlite_checkpoint(q->db, q->path, &frames, &copied);
        if (rc == TC_EBUSY) uv_sleep(1);
    }
    sqlite3_stmt *st = NULL;
    int page = 0;
    if (sqlite3_prepare_v2(q->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        page = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_file *wal = NULL;
    if (rc != 0 || frames < 0 || page <= 0 ||
        sqlite3_file_control(q->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) != SQLITE_OK ||
        wal == NULL || wal->pMethods == NULL)
        return false;
    /* The -wal: a 32-byte header, then frames of a 24-byte header and a page. */
    sqlite3_int64 size = 0, keep = 32 + (sqlite3_int64)frames * (24 + page);
    if (wal->pMethods->xFileSize(wal, &size) != SQLITE_OK) return false;
    if (size > keep && wal->pMethods->xTruncate(wal, keep) != SQLITE_OK) return false;
    return wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL) == SQLITE_OK;
}

static uint64_t since_prune_ms(const sq_store *q)
{
    return (uv_hrtime() - q->pruned_at) / 1000000u;
}

/* Commits every save and every change of diners of the list (reads are
 * skipped) in one transaction: all of them or none. */
static void run_saves(sq_store *q, tc_store_job *jobs)
{
    tc_errmsg err = {0};
    if (q->gone != GONE_NO || q->unsure) {
        /* Committed, it would be lost with the file: refused, unlogged
         * (check_file logged it once), and the health stays the last
         * transaction's (sq_ping reports gone itself). Unsure: refused
         * until a restart, which reads the -wal again. */
        tc_errmsg_set(&err, TC_ESTORE,
                      q->unsure             ? UNSURE_TEXT
                      : q->gone == GONE_WAL ? WAL_GONE_TEXT
                                            : GONE_TEXT,
                      q->path);
        for (tc_store_job *j = jobs; j; j = j->next)
            if (j->kind == TC_JOB_SAVE || is_diners_write(j)) {
                j->status = TC_ESTORE;
                j->err = err;
                j->wrote = false;
            }
        return;
    }
    int rc = sq_exec(q->begin) == 0 ? 0 : sq_fail(q, &err, "begin");
    for (tc_store_job *j = jobs; rc == 0 && j; j = j->next)
        if (j->kind == TC_JOB_SAVE && run_save(q, j) != 0)
            rc = sq_fail(q, &err, "save cart");
        else if (is_diners_write(j) && run_diners_write(q, j) != 0)
            rc = sq_fail(q, &err, "seat diner");
    if (rc == 0 && since_prune_ms(q) >= PRUNE_EVERY_MS) {
        /* Answers past their 24 h go in the same transaction, now and then. */
        sqlite3_bind_int64(q->prune_idem, 1, tc_clock_epoch_ms());
        if (sq_exec(q->prune_idem) != 0) rc = sq_fail(q, &err, "forget old answers");
        q->pruned_at = uv_hrtime();
    }
    bool commit_failed = false;
    if (rc == 0 && sq_exec(q->commit) != 0) {
        rc = sq_fail(q, &err, "commit");
        commit_failed = true;
    }
    if (rc != 0) sq_rollback(q);
    if (commit_failed && !cut_uncommitted(q)) {
        tc_log_error(UNSURE_TEXT, q->path);
        uv_mutex_lock(&q->lock);
        q->unsure = true;
        uv_mutex_unlock(&q->lock);
    }
    for (tc_store_job *j = jobs; j; j = j->next) {
        if (j->kind != TC_JOB_SAVE && !is_diners_write(j)) continue;
        if (rc == 0 && j->status != 0) continue; /* a NAME at a full table */
        j->status = rc;
        j->err = err;
        if (rc != 0) j->wrote = false;
    }
    if (rc == 0 && q->ckpt) tc_sqlite_ckpt_committed(q->ckpt);
    uv_mutex_lock(&q->lock);
    q->health = rc;
    uv_mutex_unlock(&q->lock);
}

static uint64_t since_menu_ms(const sq_store *q)
{
    return (uv_hrtime() - q->menu_at) / 1000000u;
}

static int sq_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err);

/* On the writer thread: when another process committed since the last
 * look, reads the menu and hands it to the loop (on_wake serves it). */
static void watch_menu(sq_store *q)
{
    q->menu_at = uv_hrtime();
    char v[32];
    uv_mutex_lock(&q->db_lock);
    int rc = pragma_text(q, "PRAGMA data_version", v, sizeof v);
    uv_mutex_unlock(&q->db_lock);
    int64_t now = strtoll(v, NULL, 10);
    if (rc != 0 || now == q->data_version) return;
    if (now == q->menu_failed_version &&
        (uv_hrtime() - q->menu_failed_at) / 1000000u < MENU_RETRY_MS)
        return;
    tc_menu *m;
    tc_errmsg err;
    if (sq_load_menu(q->store, &m, &err) != 0) {
        /* The version is not taken as read: with no further commit (a
         * transient failure) the menu would otherwise never be served. */
        tc_log_error("%s", err.text);
        q->menu_failed_version = now;
        q->menu_failed_at = uv_hrtime();
        return;
    }
    q->data_version = now;
    uv_mutex_lock(&q->lock);
    tc_menu_free(q->fresh_menu);
    q->fresh_menu = m;
    uv_mutex_unlock(&q->lock);
    tc_wake_send(q->loop_wake);
}

/* On the writer thread: whether the database file is still the one open at
 * its path. SQLite goes on writing to a file removed or renamed under it (in
 * WAL mode it never notices), so a change committed then would be lost at
 * the next start: while the file is gone, run_saves refuses changes and
 * /healthz is 503. One stat (SQLITE_FCNTL_HAS_MOVED). The same for the
 * -wal file (one stat of its path against the one open at start): commits
 * go there until the checkpointer copies them, and a new start would not
 * read an unlinked one, so a kill -9 would lose them. */
static void check_file(sq_store *q)
{
    int moved = 0;
    uv_mutex_lock(&q->db_lock);
    int rc = sqlite3_file_control(q->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved);
    uv_mutex_unlock(&q->db_lock);
    struct stat st;
    int why = rc == SQLITE_OK && moved != 0 ? GONE_DB
              : q->wal_ino != 0 && (stat(q->wal_path, &st) != 0 || st.st_ino != q->wal_ino ||
                                    st.st_dev != q->wal_dev)
                  ? GONE_WAL
                  : GONE_NO;
    if (why == q->gone) return; /* read without the lock: only this thread writes it */
    if (why != GONE_NO)
        tc_log_error(why == GONE_WAL ? WAL_GONE_TEXT : GONE_TEXT, q->path);
    else if (q->gone == GONE_WAL)
        tc_log_info("store: sqlite %s: its -wal file is back; serving changes", q->path);
    else
        tc_log_info("store: sqlite %s: the database file is back; serving changes", q->path);
    uv_mutex_lock(&q->lock);
    q->gone = why;
    uv_mutex_unlock(&q->lock);
}

/* Work that is due whatever else goes on, after each group and while idle:
 * the menu look and the file's check. */
static void idle_work(sq_store *q)
{
    if (q->watch && since_menu_ms(q) >= MENU_POLL_MS) {
        watch_menu(q);
        check_file(q);
    }
}

/* How long the writer may sleep before idle work is due (UINT64_MAX: until
 * woken). */
static uint64_t idle_left_ms(const sq_store *q)
{
    if (!q->watch) return UINT64_MAX;
    return MENU_POLL_MS - (since_menu_ms(q) < MENU_POLL_MS ? since_menu_ms(q) : MENU_POLL_MS);
}

/* Runs one list of jobs: the reads, then every save and change of diners in
 * one transaction. A table has at most one cart job and one diners job at a
 * time, and they touch different rows, so the order between them does not
 * matter. */
static void run_jobs(sq_store *q, tc_store_job *jobs)
{
    bool any_save = false;
    uv_mutex_lock(&q->db_lock);
    for (tc_store_job *j = jobs; j; j = j->next) {
        if (j->kind == TC_JOB_LOAD) run_load(q, j);
        if (j->kind == TC_JOB_DINERS && j->diners_op == TC_DINERS_GET && run_diners_read(q, j) != 0)
            j->status = sq_fail(q, &j->err, "read diners");
        any_save = any_save || j->kind == TC_JOB_SAVE || is_diners_write(j);
    }
    if (any_save) run_saves(q, jobs);
    uv_mutex_unlock(&q->db_lock);
}

static void writer(void *arg)
{
    sq_store *q = arg;
    q->menu_at = uv_hrtime();
    uv_mutex_lock(&q->lock);
    for (;;) {
        while (q->todo == NULL && !q->stopping) {
            uint64_t left = idle_left_ms(q);
            if (left == UINT64_MAX) {
                q->waiting = true;
                uv_cond_wait(&q->wake, &q->lock);
                q->waiting = false;
                continue;
            }
            /* The menu look is due every MENU_POLL_MS even if nothing
             * else arrives. */
            if (left > 0) {
                q->waiting = true;
                uv_cond_timedwait(&q->wake, &q->lock, left * 1000000u);
                q->waiting = false;
            }
            uv_mutex_unlock(&q->lock);
            idle_work(q);
            uv_mutex_lock(&q->lock);
        }
        if (q->todo == NULL) break; /* stopping, and nothing left */
        tc_store_job *jobs = q->todo;
        q->todo = q->todo_tail = NULL;
        uv_mutex_unlock(&q->lock);
        run_jobs(q, jobs);
        uv_mutex_lock(&q->lock);
        if (q->done_tail)
            q->done_tail->next = jobs;
        else
            q->done = jobs;
        while (jobs->next)
            jobs = jobs->next;
        q->done_tail = jobs;
        uv_mutex_unlock(&q->lock);
        tc_wake_send(q->loop_wake);
        /* The group is answered first: the menu look is due work of its
         * own, not the group's. */
        idle_work(q);
        uv_mutex_lock(&q->lock);
    }
    uv_mutex_unlock(&q->lock);
    /* The checkpointer stops first (a round in progress finishes), then the
     * writer's own last checkpoint syncs whatever is committed before the
     * store closes. */
    tc_sqlite_ckpt_stop(q->ckpt);
    q->ckpt = NULL;
    uv_mutex_lock(&q->db_lock);
    tc_sqlite_checkpoint(q->db, q->path, NULL, NULL);
    uv_mutex_unlock(&q->db_lock);
}

/* Hands every finished job back to store.c, on the loop thread. */
static void hand_back(sq_store *q, bool closing)
{
    (void)closing;
    uv_mutex_lock(&q->lock);
    tc_store_job *jobs = q->done;
    q->done = q->done_tail = NULL;
    uv_mutex_unlock(&q->lock);
    for (tc_store_job *j = jobs, *next; j; j = next) {
        next = j->next;
        j->done(j);
    }
}

static void on_wake(void *data)
{
    sq_store *q = data;
    hand_back(q, false);
    uv_mutex_lock(&q->lock);
    tc_menu *m = q->fresh_menu;
    q->fresh_menu = NULL;
    uv_mutex_unlock(&q->lock);
    if (m) {
        tc_log_info("store: sqlite %s: the menu changed; serving it", q->path);
        tc_store_menu_replace(q->store, m);
    }
}

/* Hands the jobs of this loop turn to the writer: one lock, and a wake-up
 * only when it sleeps. */
static void hand_over(uv_prepare_t *h)
{
    sq_store *q = h->data;
    uv_prepare_stop(h);
    if (q->outbox == NULL) return;
    uv_mutex_lock(&q->lock);
    if (q->todo_tail)
        q->todo_tail->next = q->outbox;
    else
        q->todo = q->outbox;
    q->todo_tail = q->outbox_tail;
    bool sleeping = q->waiting;
    q->waiting = false; /* one signal per sleep */
    uv_mutex_unlock(&q->lock);
    /* Signalled after the unlock: a writer woken under the lock would
     * only block on it again (a second futex round trip per hand-over). */
    if (sleeping) uv_cond_signal(&q->wake);
    q->outbox = q->outbox_tail = NULL;
}

/* The writer and its handles: at open for a serving store, else at the
 * first job (the CLI's menu import never starts it). */
static void start_writer(tc_store *s, sq_store *q)
{
    if (tc_wake_open(s->loop, on_wake, q, &q->loop_wake) != 0) {
        tc_log_error("store: sqlite %s: cannot wake the loop from a thread: %s", q->path,
                     strerror(errno));
        abort();
    }
    q->hand_over = tc_xcalloc(1, sizeof *q->hand_over);
    uv_prepare_init(s->loop, q->hand_over);
    q->hand_over->data = q;
    if (uv_thread_create(&q->thread, writer, q) != 0) {
        tc_log_error("store: sqlite %s: cannot start the writer thread", q->path);
        abort();
    }
    q->started = true;
}

static void sq_submit(tc_store *s, tc_store_job *j)
{
    sq_store *q = s->impl;
    if (!q->started) start_writer(s, q);
    j->next = NULL;
    if (q->outbox_tail)
        q->outbox_tail->next = j;
    else
        q->outbox = j;
    q->outbox_tail = j;
    uv_prepare_start(q->hand_over, hand_over);
}

/* The writer's last transaction: a failed commit (a full disk) shows here
 * until one succeeds; and the database file not at its path (check_file),
 * until it is back. Never touches the disk. */
static int sq_ping(tc_store *s)
{
    sq_store *q = s->impl;
    uv_mutex_lock(&q->lock);
    int rc = q->health;
    int gone = q->gone;
    bool read_failed = q->read_failed, unsure = q->unsure;
    uv_mutex_unlock(&q->lock);
    return rc == 0 && gone == GONE_NO && !read_failed && !unsure ? 0 : TC_ESTORE;
}

const tc_store_backend tc_store_backend_sqlite = {
    .scheme = "sqlite",
    .open = sq_open,
    .check_url = sq_check_url,
    .close = sq_close,
    .load_menu = sq_load_menu,
    .import_menu = sq_import_menu,
    .load_idem = sq_load_idem,
    .ping = sq_ping,
    .submit = sq_submit,
    .threaded = true,
};
