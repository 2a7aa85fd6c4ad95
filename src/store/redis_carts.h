/* redis_carts.h — carts kept in Redis: reading one, and changing one
 * optimistically.
 *
 * A change reads the cart (HGET), applies the pure rules in C, then a Lua
 * script writes it only if the stored version is still the one read and
 * PUBLISHes the change message in the same atomic step. A lost race (another
 * instance wrote first) is retried, at most 16 writes in all; changes of one
 * table are queued here, so an instance never races itself. The change
 * feed is not fed here: it comes back through pub/sub (redis.c). Steps and
 * keys: docs/redis.md, "How a change is made". */
#ifndef TC_STORE_REDIS_CARTS_H
#define TC_STORE_REDIS_CARTS_H

#include "store/backend.h"
#include "store/redis_link.h"

#include <stdint.h>

typedef struct tc_redis_carts tc_redis_carts;

/* The Lua script that writes a cart and publishes it. The link loads it
 * (SCRIPT LOAD) at every connect, so EVALSHA finds it. */
extern const char tc_redis_carts_script[];

/* Carts of s (whose served menu each call reads) through link (borrowed;
 * it must outlive the result). name ("redis://…") is for messages and
 * channel is where changes are published; both copied. instance names this
 * process in change messages. The caller frees the result with
 * tc_redis_carts_free. */
tc_redis_carts *tc_redis_carts_new(tc_store *s, tc_redis_link *link, const char *name,
                                   const char *channel, uint64_t instance);

/* As tc_store_get: cb gets the cart of table_id (an empty version-0 one if
 * Redis holds none), or TC_ENOTFOUND, or TC_ESTORE with err. cb runs later,
 * or now when the command cannot be sent. */
void tc_redis_carts_get(tc_redis_carts *q, int32_t table_id, tc_store_be_cb cb, void *ctx);

/* As tc_store_mutate: applies op (copied, its strings too) to table_id's
 * cart and writes it. cb reports 0 once Redis holds the change,
 * TC_UNCHANGED or a rule's error (nothing written), or TC_ESTORE ("store
 * unavailable", "store busy" after too many lost races). cb runs later, or
 * now when the command connection is down. */
void tc_redis_carts_mutate(tc_redis_carts *q, int32_t table_id, const tc_op *op,
                           const tc_cart_limits *lim, tc_store_be_cb cb, void *ctx);

/* No get or mutate callback runs after this call: calls still waiting end
 * quietly as their replies (or the link's NULLs) arrive. Call it before
 * tc_redis_link_close. */
void tc_redis_carts_stop(tc_redis_carts *q);

/* Frees q once no call is waiting any more: after the link reported closed
 * (every reply callback has then run). */
void tc_redis_carts_free(tc_redis_carts *q);

#endif
