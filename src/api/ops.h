/* ops.h — the only door to a cart. REST handlers and WebSocket commands both
 * come through here; neither touches the store directly. Changes reach
 * subscribers through the store's change feed, not from here. */
#ifndef TC_API_OPS_H
#define TC_API_OPS_H

#include "api/app.h"
#include "http/session.h"

/* Counts a change refused before it reached the store (bad input, access,
 * --rate-changes): tablecart_mutations_rejected_total counts every refused
 * change, these and the store's refusals alike. */
void tc_ops_refused(tc_app *app);

/* The cart of table_id. cb as tc_store_cb. */
void tc_ops_get(tc_app *app, int32_t table_id, tc_store_cb cb, void *ctx);
/* Applies a validated op (see tc_cart_apply for the statuses). */
void tc_ops_apply(tc_app *app, const tc_op *op, tc_store_cb cb, void *ctx);

/* Who sits at table_id: tc_store_diners, timed and counted as a store call
 * (tablecart_store_latency_seconds, tablecart_store_errors_total) as a cart's
 * are. */
void tc_ops_diners(tc_app *app, int32_t table_id, tc_diners_op op, int64_t user_id,
                   const char *name, tc_store_diners_cb cb, void *ctx);

/* The HTTP status for a tc_err (0 and TC_UNCHANGED are 200). */
int tc_ops_http_status(int code);

/* Answers x with the error envelope of code (a tc_err) and err's message, at
 * tc_ops_http_status(code); a 401 carries its challenge, WWW-Authenticate:
 * Bearer (RFC 9110 §15.5.2, RFC 6750 §3). */
void tc_ops_reply_error(tc_http_exchange *x, int code, const tc_errmsg *err);

#endif
