#include "api/rest.h"

#include "api/access.h"
#include "api/app.h"
#include "api/command.h"
#include "api/input.h"
#include "api/limit.h"
#include "api/metrics.h"
#include "api/ops.h"
#include "api/presence.h"
#include "core/json.h"
#include "core/mem.h"
#include "http/response.h"
#include "http/session.h"
#include "net/server.h"
#include "push/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static tc_app *app_of(tc_http_exchange *x)
{
    return x->app;
}

/* An error answer; TC_ECLOSED (the store closed holding the request)
 * answers nothing: whether a change was saved is not told. */
static void fail_code(tc_http_exchange *x, int code, const tc_errmsg *err)
{
    if (code == TC_ECLOSED)
        tc_http_abandon(x);
    else
        tc_ops_reply_error(x, code, err);
}

/* "v12" (optionally weak, W/"v12") → 12; -1 when the tag is not ours. */
static int64_t parse_tag(tc_view t)
{
    size_t i = 0;
    if (t.len >= 2 && t.base[0] == 'W' && t.base[1] == '/') i = 2;
    if (t.len < i + 4 || t.base[i] != '"' || t.base[i + 1] != 'v' || t.base[t.len - 1] != '"')
        return -1;
    int64_t v = 0;
    for (size_t k = i + 2; k < t.len - 1; k++) {
        if (t.base[k] < '0' || t.base[k] > '9' || v > (INT64_MAX - 9) / 10) return -1;
        v = v * 10 + (t.base[k] - '0');
    }
    return t.len - 1 > i + 2 ? v : -1;
}

static int table_param(tc_http_exchange *x, int32_t *out, tc_errmsg *err)
{
    int64_t v;
    int r = tc_parse_int(x->route.params[0], "tableId", TC_IN_ID, &v, err);
    if (r == 0) *out = (int32_t)v;
    return r;
}

/* --- GET cart ---------------------------------------------------------------- */

/* The entity-tag of a cart version, "v12" with its quotes, in tag. */
static tc_view etag_of(int64_t version, char tag[TC_JSON_INT_MAX + 3])
{
    size_t n = 0;
    tag[n++] = '"';
    tag[n++] = 'v';
    n += tc_json_int_text(version, tag + n);
    tag[n++] = '"';
    return (tc_view){tag, n};
}

/* Appends the ETag header line of a cart version: ETag: "v12". */
static void etag_header(tc_buf *out, int64_t version)
{
    char tag[TC_JSON_INT_MAX + 3];
    tc_view t = etag_of(version, tag);
    tc_buf_append_str(out, "ETag: ");
    tc_buf_append(out, t.base, t.len);
    tc_buf_append_str(out, "\r\n");
}

static void got_cart(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    tc_http_exchange *x = ctx;
    if (status < 0) {
        fail_code(x, status, err);
        return;
    }
    int64_t version = cart->version;
    tc_buf etag = TC_BUF_INIT;
    etag_header(&etag, version);
    tc_buf_append_str(&etag, "Cache-Control: no-cache\r\n");
    const tc_view *inm = tc_http_header_get(x->req, "If-None-Match");
    char tag[TC_JSON_INT_MAX + 3];
    if (inm && tc_http_none_match(*inm, etag_of(version, tag)))
        tc_http_reply(x, 304, NULL, etag.base, NULL, 0);
    else
        tc_http_reply_envelope(x, 200, TC_WIRE_OK_MESSAGE, cart->json->data, cart->json->len,
                               etag.base);
    tc_buf_free(&etag);
}

/* The table of the path, if the caller may see it; else answers and -1. */
static int32_t path_table(tc_http_exchange *x)
{
    tc_errmsg err;
    int32_t table_id;
    tc_principal p;
    tc_buf phone = TC_BUF_INIT;
    int r = table_param(x, &table_id, &err);
    if (r == 0) r = tc_access_check(app_of(x), x->req, table_id, &p, &phone, &err);
    tc_buf_free(&phone);
    if (r == 0) return table_id;
    fail_code(x, r, &err);
    return -1;
}

static void h_get_cart(tc_http_exchange *x)
{
    int32_t table_id = path_table(x);
    if (table_id > 0) tc_ops_get(app_of(x), table_id, got_cart, x);
}

/* --- mutations --------------------------------------------------------------- */

/* A change's answer: the cart after it (changed, unchanged, or the answer
 * remembered for its Idempotency-Key: the same bytes every time). */
static void mutated(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    tc_http_exchange *x = ctx;
    if (status < 0) {
        fail_code(x, status, err);
        return;
    }
    tc_buf etag = TC_BUF_INIT;
    etag_header(&etag, cart->version);
    tc_http_reply_envelope(x, 200, TC_WIRE_OK_MESSAGE, cart->json->data, cart->json->len,
                           etag.base);
    tc_buf_free(&etag);
}

/* 429 for a change past --rate-changes, with Retry-After. */
static void too_many(tc_http_exchange *x, uint32_t retry)
{
    char extra[48];
    tc_errmsg m;
    tc_errmsg_say(&m, TC_EBUSY, TC_T_TOO_MANY_CHANGES, retry);
    snprintf(extra, sizeof extra, "Retry-After: %u\r\n", retry);
    tc_http_reply_envelope(x, 429, tc_errmsg_text(&m, TC_EBUSY, tc_http_lang(x->req)), NULL, 0,
                           extra);
}

/* The media type of Content-Type ct (may be NULL: an empty view), its
 * parameters left out. */
static tc_view media_of(const tc_view *ct)
{
    if (ct == NULL) return (tc_view){"", 0};
    size_t n = 0;
    while (n < ct->len && ct->base[n] != ';' && ct->base[n] != ' ')
        n++;
    return (tc_view){ct->base, n};
}

/* Whether Content-Type ct (may be NULL) names the media type `want`,
 * parameters aside. */
static bool is_media(const tc_view *ct, const char *want)
{
    return tc_view_ieq(media_of(ct), want);
}

/* application/json, or application/NAME+json as Spring's Jackson converter
 * also read (application/vnd.api+json, application/merge-patch+json, ...). */
static bool is_json(const tc_view *ct)
{
    static const char type[] = "application/", suffix[] = "+json";
    const size_t nt = sizeof type - 1, ns = sizeof suffix - 1;
    tc_view m = media_of(ct);
    if (tc_view_ieq(m, "application/json")) return true;
    if (m.len <= nt + ns || !tc_view_ieq((tc_view){m.base, nt}, type)) return false;
    if (memchr(m.base + nt, '/', m.len - nt) != NULL) return false;
    return tc_view_ieq((tc_view){m.base + m.len - ns, ns}, suffix);
}

static void mutate(tc_http_exchange *x, tc_op_kind kind)
{
    tc_app *app = app_of(x);
    const tc_command *cmd = tc_command_of(kind);
    tc_errmsg err = {0};
    json_t *body = NULL;
    tc_buf phone = TC_BUF_INIT;
    int r = 0;
    tc_principal who;
    if ((r = tc_access_identify(app, x->req, &who, &phone, &err)) != 0) {
        tc_buf_free(&phone);
        tc_ops_refused(app);
        fail_code(x, r, &err);
        return;
    }

    const tc_view *key = tc_http_header_get(x->req, "Idempotency-Key");
    if (key && !tc_command_idem_key_ok(key->len)) {
        tc_buf_free(&phone);
        tc_ops_refused(app);
        tc_http_reply_say(x, 400, TC_T_IDEM_KEY);
        return;
    }

    /* add and update carry a body; remove and clear may (else the query),
     * JSON or, as Spring read a DELETE's parameters, a form. */
    bool needs_body = kind == TC_OP_ADD || kind == TC_OP_UPDATE;
    tc_view form = {NULL, 0};
    const tc_view *ct = tc_http_header_get(x->req, "Content-Type");
    if (!needs_body && x->req->body.len > 0 && is_media(ct, "application/x-www-form-urlencoded")) {
        form = (tc_view){x->req->body.base, x->req->body.len};
        tc_view bad;
        if (!tc_http_form_check(form, &bad)) {
            char name[TC_HTTP_BAD_NAME_MAX + 1];
            r = tc_errmsg_say(&err, TC_EINVAL, TC_T_BAD_FORM, tc_http_bad_name(bad, name));
            goto bad;
        }
    } else if (needs_body || x->req->body.len > 0) {
        if (!is_json(ct)) {
            r = tc_errmsg_say(&err, TC_EMEDIA, TC_T_CONTENT_TYPE);
            goto bad;
        }
        if ((r = tc_input_object(x->req->body.base, x->req->body.len, TC_INPUT_BODY, &body,
                                 &err)) != 0)
            goto bad;
    }

    tc_op op = {.expect_version = -1, .origin = tc_conn_id(x->conn)};
    tc_command_source src = {.obj = body, .query = x->req, .form = form};
    if ((r = tc_command_read_table(&src, &op.table_id, &err)) != 0) goto bad;
    if ((r = tc_access_table(app, &who, op.table_id, &err)) != 0) goto bad;
    if ((r = tc_command_read(cmd, &src, &op, &err)) != 0) goto bad;
    op.who = who.who;
    const tc_view *im = tc_http_header_get(x->req, "If-Match");
    if (im && !tc_view_eq(*im, "*")) {
        op.expect_version = parse_tag(*im);
        if (op.expect_version < 0) {
            r = tc_errmsg_say(&err, TC_EINVAL, TC_T_IF_MATCH);
            goto bad;
        }
    }
    tc_buf scoped = TC_BUF_INIT, caller = TC_BUF_INIT;
    if (key) {
        tc_command_idem_scope(cmd, app->cfg->api_prefix, &who.who, tc_conn_client(x->conn),
                              op.table_id, *key, &scoped, &caller);
        op.idem_key = tc_buf_cstr(&scoped);
        op.idem_caller = tc_buf_cstr(&caller);
    }
    uint32_t retry = tc_limit_change(app, &who.who, tc_conn_client(x->conn), op.table_id);
    if (retry) {
        tc_ops_refused(app);
        too_many(x, retry);
    } else {
        tc_ops_apply(app, &op, mutated, x);
    }
    tc_buf_free(&scoped);
    tc_buf_free(&caller);
    json_decref(body);
    tc_buf_free(&phone);
    return;
bad:
    json_decref(body);
    tc_buf_free(&phone);
    tc_ops_refused(app);
    fail_code(x, r, &err);
}

static void h_add(tc_http_exchange *x)
{
    mutate(x, TC_OP_ADD);
}

static void h_update(tc_http_exchange *x)
{
    mutate(x, TC_OP_UPDATE);
}

static void h_remove(tc_http_exchange *x)
{
    mutate(x, TC_OP_REMOVE);
}

static void h_clear(tc_http_exchange *x)
{
    mutate(x, TC_OP_CLEAR);
}

/* --- a diner's name ----------------------------------------------------------- */

/* Answers the presence object of the table after the change. */
typedef struct {
    tc_http_exchange *x;
    int32_t table_id;
} name_call;

static void named(void *ctx, int status, const tc_diner *list, size_t n, const tc_errmsg *err)
{
    name_call *call = ctx;
    tc_http_exchange *x = call->x;
    int32_t table_id = call->table_id;
    free(call);
    if (status < 0) {
        fail_code(x, status, err);
        return;
    }
    tc_buf data = TC_BUF_INIT;
    tc_presence_json(app_of(x)->presence, table_id, list, n, &data);
    tc_http_reply_envelope(x, 200, TC_WIRE_OK_MESSAGE, data.base, data.len, NULL);
    tc_buf_free(&data);
}

/* PUT {prefix}/store/order/table/{tableId}/name {"name":"张三"}: the caller's
 * name at the table (docs/api.md, "Presence"). */
static void h_name(tc_http_exchange *x)
{
    tc_app *app = app_of(x);
    tc_errmsg err = {0};
    json_t *body = NULL;
    tc_buf phone = TC_BUF_INIT;
    tc_principal who;
    int32_t table_id = 0;
    const char *asked = NULL;
    char *name = NULL;
    int r = table_param(x, &table_id, &err);
    if (r == 0) r = tc_access_check(app, x->req, table_id, &who, &phone, &err);
    if (r == 0 && !who.who.has_user_id) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_NEED_USER);
    if (r == 0 && !is_json(tc_http_header_get(x->req, "Content-Type")))
        r = tc_errmsg_say(&err, TC_EMEDIA, TC_T_CONTENT_TYPE);
    if (r == 0)
        r = tc_input_object(x->req->body.base, x->req->body.len, TC_INPUT_BODY, &body, &err);
    if (r == 0) r = tc_input_str(body, "name", &asked, &err);
    if (r == 0 && asked == NULL) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_REQUIRED, "name");
    if (r == 0) r = tc_diner_name_check(asked, &name, &err);
    if (r != 0) {
        json_decref(body);
        tc_buf_free(&phone);
        fail_code(x, r, &err);
        return;
    }
    uint32_t retry = tc_limit_change(app, &who.who, tc_conn_client(x->conn), table_id);
    if (retry) {
        too_many(x, retry);
    } else {
        name_call *call = tc_xcalloc(1, sizeof *call);
        call->x = x;
        call->table_id = table_id;
        tc_ops_diners(app, table_id, TC_DINERS_NAME, who.who.user_id, name, named, call);
    }
    free(name);
    json_decref(body);
    tc_buf_free(&phone);
}

/* --- menu, health, metrics --------------------------------------------------- */

static void h_menu(tc_http_exchange *x)
{
    int32_t table_id = path_table(x);
    if (table_id < 0) return;
    const tc_table *t = tc_menu_table(tc_store_menu(app_of(x)->store), table_id);
    tc_buf data = TC_BUF_INIT;
    tc_menu_table_json(tc_store_menu(app_of(x)->store), t, &data);
    tc_http_reply_envelope(x, 200, TC_WIRE_OK_MESSAGE, data.base, data.len, NULL);
    tc_buf_free(&data);
}

static void h_healthz(tc_http_exchange *x)
{
    if (tc_store_ping(app_of(x)->store) != 0) {
        tc_http_reply_say(x, 503, TC_T_STORE_DOWN);
        return;
    }
    const char *data = "{\"status\":\"up\"}";
    tc_http_reply_envelope(x, 200, TC_WIRE_OK_MESSAGE, data, strlen(data),
                           "Cache-Control: no-store\r\n");
}

static void h_metrics(tc_http_exchange *x)
{
    tc_app *app = app_of(x);
    tc_buf out = TC_BUF_INIT;
    tc_metrics_render(app->metrics, tc_streams_stats_of(app->streams),
                      tc_server_conn_count(app->server), &out);
    tc_store_metrics(app->store, &out);
    tc_http_reply(x, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.base, out.len);
    tc_buf_free(&out);
}

void tc_rest_routes(tc_router *r, const char *prefix)
{
    tc_router_add(r, TC_M_GET, prefix, "/store/order/cart/{}", h_get_cart);
    static const struct {
        tc_op_kind kind;
        tc_http_handler h;
    } changes[] = {{TC_OP_ADD, h_add},
                   {TC_OP_UPDATE, h_update},
                   {TC_OP_REMOVE, h_remove},
                   {TC_OP_CLEAR, h_clear}};
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const tc_command *c = tc_command_of(changes[i].kind);
        tc_router_add(r, tc_command_method(c), prefix, tc_command_path(c), changes[i].h);
    }
    tc_router_add(r, TC_M_GET, prefix, "/store/order/menu/{}", h_menu);
    tc_router_add(r, TC_M_PUT, prefix, "/store/order/table/{}/name", h_name);
    tc_router_add(r, TC_M_GET, "", "/healthz", h_healthz);
    tc_router_add(r, TC_M_GET, "", "/metrics", h_metrics);
}
