/* presence.h — who is at a table right now (docs/api.md, "Presence").
 *
 * Seats and names are the table's stored state (the cart's diners,
 * cart/cart.h); who is online is not stored. Each instance counts its own
 * streams per table (userId → streams) and tells every instance following
 * the table through the store's signals (tc_store_signal):
 *   {"inst":"<instance id>","users":[101,102],"ttl":3}
 * again every second while it has users there (an empty list once they
 * left), so that a killed instance's diners expire after ttl seconds. Every
 * instance merges what it hears per table and pushes `presence` to its own
 * streams of the table when the merged state changed: at most one per
 * PRESENCE_COALESCE_MS per table, the last state always. A stream without
 * identity gets presence but counts for nothing. */
#ifndef TC_API_PRESENCE_H
#define TC_API_PRESENCE_H

#include "api/app.h"
#include "cart/cart.h"
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

/* The table's cart as the store has it now: its seated diners. Older
 * versions than one already seen are ignored. */
void tc_presence_cart(tc_presence *p, const tc_cart *c);

/* Appends the presence object of c's table:
 * {"tableId":123,"online":2,"diners":[{"userId":101,"seat":1,"name":"1号","online":true}]}
 * with the diners of c and who is online as this instance knows it. */
void tc_presence_json(tc_presence *p, const tc_cart *c, tc_buf *out);

/* Sends the table's presence to one stream (right after its snapshot). */
void tc_presence_send(tc_presence *p, tc_stream *s);

#endif
