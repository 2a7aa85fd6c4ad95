/* redis_diners.h — a table's diners kept in Redis (store.h, "who sits at a
 * table"): the Redis backend's TC_JOB_DINERS jobs.
 *
 * One hash per table, tablecart:diners:<tableId>: "next" the last seat
 * given, "seat:<userId>" a diner's seat, "name:<userId>" the name they set,
 * "active" when the table's diners were last known active (epoch ms by
 * Redis's clock; sittings, store.h). Every job is one Lua script (EVAL):
 * start a new sitting when the last is over, seat the diner unless seated
 * already or the table is full, set the name, store the activity time, and
 * return the whole hash — atomic, so instances seating diners together never
 * give one seat twice, nor end a sitting another one just renewed. Keys:
 * docs/redis.md. */
#ifndef TC_STORE_REDIS_DINERS_H
#define TC_STORE_REDIS_DINERS_H

#include "store/backend.h"
#include "store/redis_link.h"

/* Sends the script of j (kind TC_JOB_DINERS) on link for r (see
 * tc_redis_link_send; redis_carts keeps the job while it is in flight). */
int tc_redis_diners_send(tc_redis_link *link, tc_redis_req *r, const tc_store_job *j,
                         tc_redis_reply_fn fn);

/* Reads the script's reply (not NULL) into j: its list and wrote. Returns
 * 0, TC_ELIMIT (a name not set: the table is full), or TC_ESTORE with
 * j->err (name, "redis://…", for the message). */
int tc_redis_diners_read(tc_store_job *j, const redisReply *reply, const char *name);

#endif
