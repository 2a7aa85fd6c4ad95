/* rest.h — the HTTP API of SPEC §3 and §8: the cart endpoints, the menu,
 * /healthz and /metrics. Handlers validate input, call ops, and answer with
 * the envelope. */
#ifndef TC_API_REST_H
#define TC_API_REST_H

#include "http/router.h"

/* Registers every REST route under prefix ("/api"); /healthz and /metrics
 * at the root. Handlers expect x->app to be a tc_app. */
void tc_rest_routes(tc_router *r, const char *prefix);

#endif
