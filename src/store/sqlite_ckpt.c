/* sqlite_ckpt.c — the checkpointer thread of the SQLite store (see
 * sqlite_ckpt.h). */
#include "store/sqlite_ckpt.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

struct tc_sqlite_ckpt {
    sqlite3 *db; /* the checkpointer's own connection: used by its thread only */
    char *path;
    uv_mutex_t *writer_lock; /* held by the writer while it uses its connection */
    uint64_t every_ns;
    uv_thread_t thread;
    uv_mutex_t lock; /* guards stopping and rounds */
    uv_cond_t wake;
    bool stopping;
    uint64_t rounds;
    _Atomic uint64_t commits; /* counted by the writer */
    uint64_t seen;            /* commits when the last round began (its thread only) */
};

int tc_sqlite_checkpoint(sqlite3 *db, const char *path, int *frames, int *copied)
{
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, frames, copied);
    if (rc == SQLITE_OK) return 0;
    if (rc == SQLITE_BUSY) return TC_EBUSY;
    tc_log_error("store: sqlite %s: checkpoint: %s", path, sqlite3_errmsg(db));
    return TC_ESTORE;
}

/* Syncs the database file (SQLITE_FCNTL_FILE_POINTER) or the WAL
 * (SQLITE_FCNTL_JOURNAL_POINTER) through the checkpointer's connection. */
static void sync_file(tc_sqlite_ckpt *c, int which, const char *what)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(c->db, "main", which, &f) != SQLITE_OK || f == NULL ||
        f->pMethods == NULL)
        return;
    if (f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK)
        tc_log_error("store: sqlite %s: sync the %s", c->path, what);
}

/* The long checkpoint of a round. SQLite syncs the WAL only when it copies
 * frames; a reader's snapshot (a backup, an operator's query) can leave it
 * nothing to copy for as long as the reader stays, so when frames were left
 * in the WAL it is synced here: the changes of the last second are on the
 * disk whatever a reader holds. Returns as tc_sqlite_checkpoint. */
static int checkpoint_and_sync(tc_sqlite_ckpt *c)
{
    int frames = 0, copied = 0;
    int rc = tc_sqlite_checkpoint(c->db, c->path, &frames, &copied);
    if (rc == 0 && copied < frames) sync_file(c, SQLITE_FCNTL_JOURNAL_POINTER, "WAL");
    return rc;
}

/* One round. The long part runs beside the writer: the checkpoint syncs the
 * WAL and copies it, then the database file is synced. SQLite syncs the
 * database file and marks the WAL as copied only when no frame came in
 * meanwhile, which under a steady stream of changes is never; so a short
 * last checkpoint runs with the writer held (writer_lock): it copies the
 * few frames written during the long part, and the writer's next
 * transaction starts the WAL over from its beginning. Returns false when
 * there was nothing to do (no commit since the last round) or the
 * checkpoint could not run. */
static bool round_once(tc_sqlite_ckpt *c)
{
    uint64_t commits = atomic_load(&c->commits);
    if (commits == c->seen) return false;
    /* Could not run: c->seen stays, and the next round tries again. */
    if (checkpoint_and_sync(c) != 0) return false;
    c->seen = commits;
    sync_file(c, SQLITE_FCNTL_FILE_POINTER, "database file");
    uv_mutex_lock(c->writer_lock);
    tc_sqlite_checkpoint(c->db, c->path, NULL, NULL);
    uv_mutex_unlock(c->writer_lock);
    return true;
}

static void run(void *arg)
{
    tc_sqlite_ckpt *c = arg;
    uv_mutex_lock(&c->lock);
    while (!c->stopping) {
        /* A spurious or early wake-up only brings a round forward: a round
         * with nothing to copy costs no fsync. */
        uv_cond_timedwait(&c->wake, &c->lock, c->every_ns);
        if (c->stopping) break;
        uv_mutex_unlock(&c->lock);
        bool ran = round_once(c);
        uv_mutex_lock(&c->lock);
        if (ran) c->rounds++;
    }
    uv_mutex_unlock(&c->lock);
}

static void ckpt_free(tc_sqlite_ckpt *c)
{
    if (c->db != NULL && sqlite3_close(c->db) != SQLITE_OK)
        tc_log_error("store: sqlite %s: close the checkpointer: %s", c->path,
                     sqlite3_errmsg(c->db));
    uv_cond_destroy(&c->wake);
    uv_mutex_destroy(&c->lock);
    free(c->path);
    free(c);
}

int tc_sqlite_ckpt_start(const char *path, unsigned every_ms, uv_mutex_t *writer_lock,
                         tc_sqlite_ckpt **out, tc_errmsg *err)
{
    tc_sqlite_ckpt *c = tc_xcalloc(1, sizeof *c);
    c->path = tc_xstrdup(path);
    c->writer_lock = writer_lock;
    c->seen = UINT64_MAX; /* the first round runs: what an earlier run left in the WAL */
    c->every_ns = (uint64_t)every_ms * 1000000u;
    if (uv_mutex_init(&c->lock) || uv_cond_init(&c->wake))
        abort(); /* only out of memory makes these fail */
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL);
    /* NORMAL, like the writer's process durability: a checkpoint syncs the
     * WAL before it copies and the database file after (SQLite syncs
     * there at NORMAL and FULL alike). */
    if (rc == SQLITE_OK) rc = sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: open the checkpointer: %s", path,
                           c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        ckpt_free(c);
        return rc;
    }
    if (uv_thread_create(&c->thread, run, c) != 0) {
        rc = tc_errmsg_set(err, TC_ESTORE, "store: sqlite %s: cannot start the checkpointer", path);
        ckpt_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void tc_sqlite_ckpt_committed(tc_sqlite_ckpt *c)
{
    atomic_fetch_add(&c->commits, 1);
}

uint64_t tc_sqlite_ckpt_rounds(tc_sqlite_ckpt *c)
{
    uv_mutex_lock(&c->lock);
    uint64_t n = c->rounds;
    uv_mutex_unlock(&c->lock);
    return n;
}

void tc_sqlite_ckpt_stop(tc_sqlite_ckpt *c)
{
    if (c == NULL) return;
    uv_mutex_lock(&c->lock);
    c->stopping = true;
    uv_cond_signal(&c->wake);
    uv_mutex_unlock(&c->lock);
    uv_thread_join(&c->thread);
    ckpt_free(c);
}
