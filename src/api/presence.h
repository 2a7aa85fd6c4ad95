/* presence.h — who is at a table right now (docs/api.md, "Presence").
 *
 * Seats and names are the table's stored state, apart from the cart (the
 * store's diners, store.h); who is online is not stored. Each instance counts its own
 * streams per table (userId → streams) and tells every instance following
 * the table through the store's signals (tc_store_signal):
 *   {"inst":"<instance id>","users":[101,102],"ttl":3}
 * again every second while it has users there (an empty list once they
 * left), so that a killed instance's diners expire after ttl seconds. Every
 * instance merges what it hears per table and pushes `presence` to its own
 * streams of the table when the merged state changed: at most one per
 * PRESENCE_COALESCE_MS per table, the last state always. A stream without
 * identity gets presence but counts for nothing.
 *
 * When a call of this instance changed a table's diners (the store's diners
 * feed says so), it pushes presence to its own streams (at the next tick)
 * and signals {"inst":"<instance id>","diners":true}: every other instance
 * following the table reads the table's diners again
 * (tc_store_diners_reread) and pushes presence when they differ. */
#ifndef TC_API_PRESENCE_H
#define TC_API_PRESENCE_H

#include "api/app.h"
#include "cart/diner.h"
#include "core/buf.h"
#include "push/stream.h"

typedef struct tc_presence tc_presence;

/* Starts listening to the store's signals (app->store) and the timer. */
tc_presence *tc_presence_new(tc_app *app);
/* Stops the timer and the signal feed (at shutdown, before the loop's last
 * run); later calls do nothing. */
void tc_presence_stop(tc_presence *p);
/* NULL is fine. */
void tc_presence_free(tc_presence *p);

/* A stream of table_id was opened by who (has_user_id false: anonymous)
 * here; every enter is undone by one leave. */
void tc_presence_enter(tc_presence *p, int32_t table_id, const tc_identity *who);
void tc_presence_leave(tc_presence *p, int32_t table_id, const tc_identity *who);

/* Appends the presence object of table_id:
 * {"tableId":123,"online":2,"diners":[{"userId":101,"seat":1,"name":"1号","online":true}]}
 * with list (n diners, as the store gave them) and who is online as this
 * instance knows it. */
void tc_presence_json(tc_presence *p, int32_t table_id, const tc_diner *list, size_t n,
                      tc_buf *out);

/* Sends the table's presence to one stream (right after its snapshot),
 * once the store knows the table's diners (tc_store_diners answered). */
void tc_presence_send(tc_presence *p, tc_stream *s);

#endif
