/* sqlite_ckpt.h — the SQLite store's checkpointer: a thread with a
 * connection of its own that syncs the WAL and copies it into the database
 * file on a timer, while the writer thread (sqlite.c) goes on committing.
 *
 * Why a second thread: a checkpoint syncs the WAL, copies every page it
 * holds into the database file and syncs that (a second's worth at 2,000
 * changes a second: about 1,000 pages and 3–5 ms of fsyncs here). Run by
 * the writer, every change that arrived meanwhile waited for it; a passive
 * checkpoint from another connection does not block the writer's commits
 * (SQLite's WAL_CKPT lock is not its WAL_WRITE lock). docs/architecture.md,
 * "The writer and the checkpointer".
 *
 * Each round ends with a short checkpoint while the writer is held between
 * two transactions (writer_lock): the frames it wrote during the long part
 * (a few milliseconds' worth) are copied and the database file synced, so
 * the WAL is whole in the file and the writer's next transaction starts it
 * over from its beginning. The writer's own automatic checkpoint (a large
 * threshold, set by sqlite.c) bounds the WAL should a round ever fail.
 * A round whose long checkpoint could not copy every frame (a reader's
 * snapshot holds them) syncs the WAL itself, as SQLite syncs it only
 * before copying: what was committed is on the disk within a round either
 * way. A round with no commit since the last one does nothing at all; the
 * first round always runs (it copies what an earlier run left in the
 * WAL). */
#ifndef TC_STORE_SQLITE_CKPT_H
#define TC_STORE_SQLITE_CKPT_H

#include "core/err.h"

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

typedef struct tc_sqlite_ckpt tc_sqlite_ckpt;

/* One passive checkpoint on db, the file at path (for the log): syncs the
 * WAL, then copies into the database file what no reader still needs; with
 * nothing to copy it costs no fsync. The caller holds db's connection.
 * *frames and *copied (each may be NULL): the frames the WAL holds as
 * committed, and how many of them are in the database file now. Returns 0;
 * TC_EBUSY when another checkpoint holds the lock (the next one tries
 * again); TC_ESTORE for an error, which is logged. */
int tc_sqlite_checkpoint(sqlite3 *db, const char *path, int *frames, int *copied);

/* Opens a connection of its own to the SQLite file at path (which must
 * exist and be in WAL mode: the writer's connection made it so) and starts
 * a thread that checkpoints it every every_ms milliseconds when the writer
 * committed since the last round (tc_sqlite_ckpt_committed). Checkpoints
 * are passive: they never wait for SQLite's locks. writer_lock is the
 * mutex the writer holds while it uses its connection (borrowed: it must
 * outlive the checkpointer); a round holds it only for its short last
 * checkpoint. Returns 0 and *out (stop it with tc_sqlite_ckpt_stop), or
 * TC_ESTORE with err when the file cannot be opened. */
int tc_sqlite_ckpt_start(const char *path, unsigned every_ms, uv_mutex_t *writer_lock,
                         tc_sqlite_ckpt **out, tc_errmsg *err);

/* Tells the checkpointer that the writer committed: the next round has work.
 * Any thread; lock-free. */
void tc_sqlite_ckpt_committed(tc_sqlite_ckpt *c);

/* Rounds run since start (each after at least one commit). Any thread. */
uint64_t tc_sqlite_ckpt_rounds(tc_sqlite_ckpt *c);

/* Stops the thread (a round in progress finishes first), closes its
 * connection and frees c. NULL is ignored. Call before the writer's
 * connection closes: the writer's last checkpoint then copies whatever is
 * left. */
void tc_sqlite_ckpt_stop(tc_sqlite_ckpt *c);

#endif
