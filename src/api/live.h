/* live.h — the real-time endpoints of SPEC §4–5: the SSE stream at
 * {prefix}/store/order/sse/{tableId} and the WebSocket at /ws/cart/{tableId}.
 * Here the API decides (the handshake, who may listen, the snapshot right
 * after connected, the WebSocket commands through api/ws_cmd); push/ then
 * delivers every committed change from the store's change feed. */
#ifndef TC_API_LIVE_H
#define TC_API_LIVE_H

#include "api/app.h"
#include "http/router.h"

typedef struct tc_live tc_live;

/* Creates the subscriber streams (app->streams), subscribes them to the
 * store's change feed, registers both routes and starts the heartbeat. */
tc_live *tc_live_start(tc_app *app, tc_router *router);
/* Stops the feed and the timers (at shutdown, before the loop's last run). */
void tc_live_stop(tc_live *l);
/* Frees the streams after every connection is gone. NULL is fine. */
void tc_live_free(tc_live *l);

#endif
