/* app.h — the objects one running server is made of, wired by cli/serve.c and
 * handed to every handler. Nothing here is global state: tests may run
 * several apps in one process. */
#ifndef TC_API_APP_H
#define TC_API_APP_H

#include "cart/cart.h"
#include "core/config.h"
#include "store/store.h"

#include <uv.h>

typedef struct tc_live tc_live;
typedef struct tc_streams tc_streams;
typedef struct tc_auth tc_auth;
typedef struct tc_metrics tc_metrics;
typedef struct tc_server tc_server;
typedef struct tc_ratelimit tc_ratelimit;
typedef struct tc_presence tc_presence;

typedef struct tc_app {
    const tc_config *cfg;
    uv_loop_t *loop;
    tc_store *store;
    tc_live *live;       /* the SSE and WebSocket endpoints */
    tc_streams *streams; /* every subscriber stream and their hub (push/) */
    tc_auth *auth;       /* who may do what (--auth) */
    tc_metrics *metrics;
    tc_server *server;
    tc_cart_limits limits;
    tc_ratelimit *change_limit; /* --rate-changes (api/limit.h); NULL: off */
    tc_presence *presence;      /* who is at each table (api/presence.h) */
} tc_app;

#endif
