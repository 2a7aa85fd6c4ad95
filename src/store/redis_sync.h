/* redis_sync.h — the Redis store's short-lived blocking connections: the
 * check at start and the menu (read at start, merged by `menu import`).
 *
 * Each call connects, does its work and disconnects, waiting for Redis (at
 * most 2 s per step): call these only before serving, never from the loop
 * while it serves. Keys: docs/redis.md, "Data layout". */
#ifndef TC_STORE_REDIS_SYNC_H
#define TC_STORE_REDIS_SYNC_H

#include "cart/menu.h"
#include "core/err.h"
#include "store/redis_wire.h"

/* Connects to u and selects its database, then disconnects. name
 * ("redis://host:port/db") is for messages. Returns 0, or TC_ESTORE with
 * err ("store: redis://…: cannot connect: …", "…: SELECT 3: …"). */
int tc_redis_sync_check(const tc_redis_url *u, const char *name, tc_errmsg *err);

/* Reads the menu kept in Redis into a new frozen menu *out (the caller
 * frees it); an empty one when Redis holds none. Returns 0, or TC_ESTORE
 * with err when Redis cannot be reached or the stored menu is unreadable. */
int tc_redis_sync_load_menu(const tc_redis_url *u, const char *name, tc_menu **out, tc_errmsg *err);

/* Merges m (borrowed) into the menu kept in Redis: an upsert by id, nothing
 * deleted (tc_redis_menu_merge). Read and write happen under WATCH, so two
 * imports at once both land; one that keeps losing the race gives up after
 * a few attempts. The write PUBLISHes on the menu channel
 * (tc_redis_menu_channel) in the same transaction, so serving instances
 * read the menu again. Returns 0, or TC_ESTORE with err. */
int tc_redis_sync_import_menu(const tc_redis_url *u, const char *name, const tc_menu *m,
                              tc_errmsg *err);

#endif
