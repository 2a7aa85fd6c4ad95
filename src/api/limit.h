/* limit.h — how often a caller may change one table (--rate-changes): a
 * token bucket per (caller, table), the same for REST and WebSocket. A
 * caller is its user id when known (X-User-Id or a token), else its client
 * address (net/conn: the peer, or named by a trusted proxy). */
#ifndef TC_API_LIMIT_H
#define TC_API_LIMIT_H

#include "api/app.h"
#include "core/addr.h"

/* Refused changes in a row after which a WebSocket is closed with 1008. */
#define TC_LIMIT_WS_STRIKES 5
/* A refused change is answered TC_T_TOO_MANY_CHANGES (core/text.h): the
 * REST 429 envelope's message, the WebSocket error. */

/* The limiter for app->change_limit: cfg->rate_changes per second, burst
 * twice that (NULL when the limit is off). Owned by the caller
 * (tc_ratelimit_free). */
tc_ratelimit *tc_limit_changes_new(const tc_config *cfg);

/* Takes one change of who (client: its address) to table_id. Returns 0 when
 * allowed, else the seconds to wait (Retry-After). */
uint32_t tc_limit_change(tc_app *app, const tc_identity *who, const tc_addr *client,
                         int32_t table_id);

#endif
