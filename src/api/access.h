/* access.h — the one access check of the API: who is asking (a token, or the
 * identity headers under --auth none) and may they touch this table. Every
 * table endpoint — REST, SSE, WebSocket — goes through here, so the order of
 * answers is the same everywhere: 401 (who?) → 400 → 404 (no such table) →
 * 403 (not yours). */
#ifndef TC_API_ACCESS_H
#define TC_API_ACCESS_H

#include "api/app.h"
#include "auth/auth.h"
#include "http/http.h"

/* Identifies the caller of req (see tc_auth_identify): fills p;
 * p->who.phone points into phone, which the caller frees. Returns 0,
 * TC_EAUTH or TC_EINVAL with err. */
int tc_access_identify(const tc_app *app, const tc_http_req *req, tc_principal *p, tc_buf *phone,
                       tc_errmsg *err);

/* May p touch table_id? 0, TC_ENOTFOUND (no such table in the served menu)
 * or TC_EFORBIDDEN (outside the token's scope), with err. */
int tc_access_table(const tc_app *app, const tc_principal *p, int32_t table_id, tc_errmsg *err);

/* Both, for an endpoint whose table is known before anything else is read
 * (the path's tableId). */
int tc_access_check(const tc_app *app, const tc_http_req *req, int32_t table_id, tc_principal *p,
                    tc_buf *phone, tc_errmsg *err);

#endif
