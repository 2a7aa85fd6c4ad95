/* live.h — the real-time half: the SSE and WebSocket endpoints and the hub
 * that fans every committed change out to a table's subscribers. */
#ifndef TC_PUSH_LIVE_H
#define TC_PUSH_LIVE_H

#include "api/app.h"
#include "http/router.h"

typedef struct tc_live tc_live;

/* Creates the hub (app->hub), subscribes it to the store's change feed,
 * registers the SSE route under the API prefix and the WebSocket route at
 * /ws/cart/{tableId}, and starts the heartbeat timer. */
tc_live *tc_live_start(tc_app *app, tc_router *router);
/* Stops the timers (at shutdown, before the loop's last run). */
void tc_live_stop(tc_live *l);
/* Frees the hub after every connection is gone. */
void tc_live_free(tc_live *l);

#endif
