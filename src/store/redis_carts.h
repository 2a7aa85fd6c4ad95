/* redis_carts.h — carts kept in Redis: the Redis backend's jobs of the
 * change pipeline (store.c applies, encodes and retries; this only moves
 * carts).
 *
 * A load is HGET tablecart:cart:<id> cart. A save is a Lua script that
 * writes the encoded cart only if the stored version is still the job's
 * expect_version and PUBLISHes the change messages in the same atomic step
 * (one per change of the batch, the job's earlier ones first);
 * a lost race (another instance wrote first) ends the job TC_ECONFLICT.
 * Jobs are sent as they come, without waiting for each other's replies:
 * saves of many tables are in flight together on the one command connection
 * (hiredis pipelines them). Steps and keys: docs/redis.md, "How a change is
 * made". */
#ifndef TC_STORE_REDIS_CARTS_H
#define TC_STORE_REDIS_CARTS_H

#include "store/backend.h"
#include "store/redis_link.h"

#include <stdint.h>

typedef struct tc_redis_carts tc_redis_carts;

/* The Lua script that writes a cart and publishes it. The link loads it
 * (SCRIPT LOAD) at every connect, so EVALSHA finds it. */
extern const char tc_redis_carts_script[];

/* Jobs run through link (borrowed; it must outlive the result). name
 * ("redis://…") is for messages and channel is the prefix of the table
 * channels (tc_redis_table_channel_prefix): a change is published on the
 * prefix followed by its table id; both copied. instance names this process in change messages.
 * The caller frees the result with tc_redis_carts_free. */
tc_redis_carts *tc_redis_carts_new(tc_redis_link *link, const char *name, const char *channel,
                                   uint64_t instance);

/* Runs j (a load, a save or a diners job: redis_diners.h) and calls
 * j->done once: when Redis answers, or under this call when the command
 * connection is down (status TC_ESTORE, "store unavailable: …"). */
void tc_redis_carts_submit(tc_redis_carts *q, tc_store_job *j);

/* Sends HGET of table_id's stored cart on q's link for r (see
 * tc_redis_link_send): for reads that are not jobs (the resync). */
int tc_redis_carts_read(tc_redis_carts *q, tc_redis_req *r, int32_t table_id, tc_redis_reply_fn fn);

/* Finishes every job still waiting now, with TC_ESTORE (the store is
 * closing); their replies, when they come, are dropped. Call it before
 * tc_redis_link_close. */
void tc_redis_carts_stop(tc_redis_carts *q);

/* Frees q once no reply is awaited any more: after the link reported closed
 * (every reply callback has then run). */
void tc_redis_carts_free(tc_redis_carts *q);

#endif
