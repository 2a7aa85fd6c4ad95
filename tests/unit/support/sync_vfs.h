/* sync_vfs.h — for unit tests of durability: an SQLite VFS that is the
 * default one but counts the syncs of each kind of file (database, WAL), so
 * a test can see that what must reach the disk was synced, and can make the
 * WAL's next syncs or truncations fail (a failing disk: the sync does not
 * happen, the caller gets SQLite's I/O error). Registered as the default
 * VFS by tv_sync_vfs_install(), for every connection opened after it;
 * counts are atomic (the checkpointer syncs from its thread). Include after
 * <cmocka.h>. */
#ifndef TC_TEST_SYNC_VFS_H
#define TC_TEST_SYNC_VFS_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

static _Atomic int tv_db_syncs, tv_wal_syncs;
static _Atomic int tv_fail_wal_syncs, tv_fail_wal_truncates; /* that many fail */
static sqlite3_vfs *tv_real;
static sqlite3_vfs tv_vfs;

typedef struct {
    sqlite3_file base; /* our methods */
    bool wal;
    sqlite3_file *real; /* right after this struct, real->szOsFile bytes */
} tv_file;

#define TV_REAL(f) (((tv_file *)(f))->real)

static int tv_close(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xClose(TV_REAL(f));
}
static int tv_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return TV_REAL(f)->pMethods->xRead(TV_REAL(f), b, n, o);
}
static int tv_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    return TV_REAL(f)->pMethods->xWrite(TV_REAL(f), b, n, o);
}
/* Takes one of *fails when f is a WAL and there is one left. */
static bool tv_fails(sqlite3_file *f, _Atomic int *fails)
{
    if (!((tv_file *)f)->wal) return false;
    int left = atomic_load(fails);
    while (left > 0 && !atomic_compare_exchange_weak(fails, &left, left - 1))
        ;
    return left > 0;
}
static int tv_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    if (tv_fails(f, &tv_fail_wal_truncates)) return SQLITE_IOERR_TRUNCATE;
    return TV_REAL(f)->pMethods->xTruncate(TV_REAL(f), n);
}
static int tv_sync(sqlite3_file *f, int flags)
{
    if (tv_fails(f, &tv_fail_wal_syncs)) return SQLITE_IOERR_FSYNC;
    atomic_fetch_add(((tv_file *)f)->wal ? &tv_wal_syncs : &tv_db_syncs, 1);
    return TV_REAL(f)->pMethods->xSync(TV_REAL(f), flags);
}
static int tv_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return TV_REAL(f)->pMethods->xFileSize(TV_REAL(f), n);
}
static int tv_lock(sqlite3_file *f, int l)
{
    return TV_REAL(f)->pMethods->xLock(TV_REAL(f), l);
}
static int tv_unlock(sqlite3_file *f, int l)
{
    return TV_REAL(f)->pMethods->xUnlock(TV_REAL(f), l);
}
static int tv_reserved(sqlite3_file *f, int *out)
{
    return TV_REAL(f)->pMethods->xCheckReservedLock(TV_REAL(f), out);
}
static int tv_fcntl(sqlite3_file *f, int op, void *arg)
{
    return TV_REAL(f)->pMethods->xFileControl(TV_REAL(f), op, arg);
}
static int tv_sector(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xSectorSize(TV_REAL(f));
}
static int tv_device(sqlite3_file *f)
{
    return TV_REAL(f)->pMethods->xDeviceCharacteristics(TV_REAL(f));
}
static int tv_shm_map(sqlite3_file *f, int i, int sz, int extend, void volatile **p)
{
    return TV_REAL(f)->pMethods->xShmMap(TV_REAL(f), i, sz, extend, p);
}
static int tv_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    return TV_REAL(f)->pMethods->xShmLock(TV_REAL(f), off, n, flags);
}
static void tv_shm_barrier(sqlite3_file *f)
{
    TV_REAL(f)->pMethods->xShmBarrier(TV_REAL(f));
}
static int tv_shm_unmap(sqlite3_file *f, int del)
{
    return TV_REAL(f)->pMethods->xShmUnmap(TV_REAL(f), del);
}
static int tv_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return TV_REAL(f)->pMethods->xFetch(TV_REAL(f), o, n, p);
}
static int tv_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return TV_REAL(f)->pMethods->xUnfetch(TV_REAL(f), o, p);
}

static const sqlite3_io_methods tv_methods = {
    3,           tv_close,       tv_read,      tv_write, tv_truncate, tv_sync,   tv_size,
    tv_lock,     tv_unlock,      tv_reserved,  tv_fcntl, tv_sector,   tv_device, tv_shm_map,
    tv_shm_lock, tv_shm_barrier, tv_shm_unmap, tv_fetch, tv_unfetch,
};

static int tv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    tv_file *t = (tv_file *)f;
    t->real = (sqlite3_file *)(t + 1);
    t->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = tv_real->xOpen(tv_real, name, t->real, flags, out_flags);
    /* The real methods (version 3: the unix VFS) or none when it failed. */
    f->pMethods = t->real->pMethods ? &tv_methods : NULL;
    return rc;
}

/* Makes the counting VFS the default and zeroes its counts. */
static inline void tv_sync_vfs_install(void)
{
    if (tv_real == NULL) {
        tv_real = sqlite3_vfs_find(NULL);
        assert_non_null(tv_real);
        assert_true(tv_real->iVersion >= 1);
        tv_vfs = *tv_real;
        tv_vfs.zName = "tc-sync-count";
        tv_vfs.szOsFile = (int)sizeof(tv_file) + tv_real->szOsFile;
        tv_vfs.xOpen = tv_open;
        tv_vfs.pNext = NULL;
    }
    assert_int_equal(sqlite3_vfs_register(&tv_vfs, 1), SQLITE_OK);
    atomic_store(&tv_db_syncs, 0);
    atomic_store(&tv_wal_syncs, 0);
    atomic_store(&tv_fail_wal_syncs, 0);
    atomic_store(&tv_fail_wal_truncates, 0);
}

/* Makes the real VFS the default again. */
static inline void tv_sync_vfs_remove(void)
{
    sqlite3_vfs_unregister(&tv_vfs);
}

#endif
