#include "push/live.h"

#include "api/input.h"
#include "api/metrics.h"
#include "api/ops.h"
#include "auth/auth.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/response.h"
#include "http/session.h"
#include "net/server.h"
#include "push/hub.h"
#include "push/sse.h"
#include "push/ws.h"

#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define WS_SHUTDOWN_WAIT_MS 2000

struct tc_live {
    tc_app *app;
    tc_hub *hub;
    uv_timer_t heartbeat;
    tc_sse_frame hello;           /* retry: 3000 + connected, shared by every stream */
    tc_sse_frame heartbeat_frame; /* shared by every stream */
};

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What SSE and WebSocket streams share: the subscription, the connection, and
 * a count of store calls in flight, so that the state outlives the
 * connection until their callbacks have run. */
typedef struct {
    tc_sub sub;
    tc_conn *conn;
    tc_live *live;
    int64_t sent_version;  /* newest cart version written to this stream */
    int64_t shown_version; /* what the client said it shows (Last-Event-ID), or -1 */
    unsigned pending;      /* store calls in flight */
    bool dead;             /* the connection is gone */
    void (*free_fn)(void *s);
} stream;

static void stream_release(stream *s)
{
    if (s->dead && s->pending == 0) s->free_fn(s);
}

static uint64_t *live_gauge(tc_live *l, tc_sub_kind kind)
{
    return kind == TC_SUB_SSE ? &l->app->metrics->conns_sse : &l->app->metrics->conns_ws;
}

/* Starts a stream on its connection: protocol, subscription (before the
 * snapshot is read, so no change can fall in between), then the snapshot. */
static void stream_start(stream *s, tc_conn *c, const tc_proto *proto, int32_t table_id,
                         tc_store_cb snapshot)
{
    tc_live *l = s->live;
    s->conn = c;
    tc_conn_ref(c); /* dropped in stream_closed */
    tc_conn_set_proto(c, proto, s);
    tc_hub_subscribe(l->hub, &s->sub);
    (*live_gauge(l, s->sub.kind))++;
    s->pending++;
    tc_ops_get(l->app, table_id, snapshot, s);
}

/* The connection is gone: leave the hub; free once no store call is pending. */
static void stream_closed(tc_conn *c)
{
    stream *s = tc_conn_state(c);
    tc_hub_unsubscribe(s->live->hub, &s->sub);
    (*live_gauge(s->live, s->sub.kind))--;
    if (tc_conn_was_slow(c)) s->live->app->metrics->slow_closed++;
    s->dead = true;
    tc_conn_unref(c);
    stream_release(s);
}

/* The current cart right after connected, unless the stream already shows it
 * (Last-Event-ID) or a newer change got there first. */
static void stream_snapshot(void *ctx, int status, const tc_cart *cart, const tc_errmsg *err)
{
    stream *s = ctx;
    (void)err;
    s->pending--;
    if (!s->dead && status >= 0 && tc_cart_version(cart) == s->shown_version &&
        s->sent_version < 0) {
        /* The client already shows this version: nothing to send. */
        s->sent_version = s->shown_version;
    } else if (!s->dead && status >= 0 && tc_cart_version(cart) > s->sent_version) {
        tc_hub_event ev = {
            .cart = cart,
            .table = tc_menu_table(tc_store_menu(s->live->app->store), tc_cart_table_id(cart)),
            .timestamp_ms = epoch_ms()};
        tc_cart_to_json(cart, ev.table, &ev.json);
        s->sub.deliver(&s->sub, &ev);
        tc_buf_free(&ev.json);
        tc_sse_frame_release(&ev.sse);
        tc_rbuf_unref(ev.ws);
    }
    stream_release(s);
}

/* ===== SSE ===================================================================== */

typedef struct {
    stream base;
    bool chunked; /* HTTP/1.1: chunked; HTTP/1.0: delimited by close */
} sse_stream;

static void sse_write(sse_stream *s, const tc_sse_frame *f, tc_wq_kind kind)
{
    if (s->chunked)
        tc_conn_write_rbuf(s->base.conn, f->buf, 0, f->buf->len, kind);
    else
        tc_conn_write_rbuf(s->base.conn, f->buf, f->body_off, f->body_len, kind);
}

static void sse_deliver(tc_sub *sub, tc_hub_event *ev)
{
    sse_stream *s = (sse_stream *)sub;
    int64_t v = tc_cart_version(ev->cart);
    if (v <= s->base.sent_version) return;
    s->base.sent_version = v;
    sse_write(s, tc_hub_event_sse(ev), TC_WQ_CART);
    s->base.live->app->metrics->events_sse++;
}

/* End of stream: the last chunk, then close (the browser reconnects). */
static void sse_end(tc_conn *c)
{
    sse_stream *s = tc_conn_state(c);
    if (s->chunked) {
        tc_view last = tc_sse_last_chunk();
        tc_conn_write(c, last.base, last.len);
    }
    tc_conn_close(c);
}

static void sse_on_read(tc_conn *c, const char *data, size_t len)
{
    /* A stream's client has nothing to say; whatever it sends is dropped. */
    (void)c;
    (void)data;
    (void)len;
}

static const tc_proto sse_proto = {
    .name = "sse",
    .on_read = sse_on_read,
    .on_eof = tc_conn_abort,
    .on_deadline = sse_end,
    .on_shutdown = sse_end,
    .on_closed = stream_closed,
};

/* Reads Last-Event-ID: the version the client already shows, or -1. */
static int64_t last_event_id(const tc_http_req *r)
{
    const tc_view *h = tc_http_header_get(r, "Last-Event-ID");
    if (!h || h->len == 0 || h->len > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (h->base[i] < '0' || h->base[i] > '9') return -1;
        v = v * 10 + (h->base[i] - '0');
    }
    return v;
}

/* Who opens the stream, and may they (401, 400, 404, 403); p->who.phone
 * points into phone. */
static int authorize(tc_http_exchange *x, int32_t table_id, tc_principal *p, tc_buf *phone,
                     tc_errmsg *err)
{
    tc_app *app = x->app;
    int r = tc_auth_identify(app->auth, x->req, tc_auth_now(), p, phone, err);
    return r ? r : tc_auth_allow(p, tc_store_menu(app->store), table_id, err);
}

/* How long a stream may live: its timeout, cut short by the token's expiry. */
static uint64_t lifetime_ms(uint64_t timeout_ms, const tc_principal *p)
{
    int64_t left = p->expires_s - tc_auth_now();
    if (left <= 0) return 1;
    if ((uint64_t)left >= timeout_ms / 1000) return timeout_ms;
    return (uint64_t)left * 1000;
}

static void h_sse(tc_http_exchange *x)
{
    tc_app *app = x->app;
    tc_live *l = app->live;
    tc_errmsg err;
    int64_t id;
    tc_principal p;
    tc_buf phone = TC_BUF_INIT;
    int r = tc_input_int_text(x->route.params[0], "tableId", TC_IN_ID, &id, &err);
    if (r == 0) r = authorize(x, (int32_t)id, &p, &phone, &err);
    tc_buf_free(&phone);
    if (r) {
        tc_http_reply_error(x, tc_ops_http_status(r), err.text);
        return;
    }
    int32_t table_id = (int32_t)id;
    if (x->head_only) {
        /* HEAD: the head a GET would get, no stream; the connection stays HTTP. */
        tc_http_reply_stream_head(x, "text/event-stream;charset=UTF-8",
                                  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
        return;
    }
    bool chunked = x->req->http_major == 1 && x->req->http_minor >= 1;
    int64_t known = last_event_id(x->req);
    tc_buf head = TC_BUF_INIT;
    tc_resp_start(&head, 200);
    tc_resp_header(&head, "Content-Type", "text/event-stream;charset=UTF-8");
    tc_resp_header(&head, "Cache-Control", "no-cache");
    tc_resp_header(&head, "X-Accel-Buffering", "no");
    tc_http_cors_headers(x, &head);
    tc_buf_append_str(&head, chunked
                                 ? "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
                                 : "Connection: close\r\n\r\n");
    tc_conn *c = tc_http_takeover(x, NULL);
    tc_conn_write(c, head.base, head.len);
    tc_buf_free(&head);

    sse_stream *s = tc_xcalloc(1, sizeof *s);
    s->chunked = chunked;
    s->base.live = l;
    s->base.sent_version = -1;
    s->base.shown_version = known;
    s->base.free_fn = free;
    s->base.sub = (tc_sub){.table_id = table_id, .kind = TC_SUB_SSE, .deliver = sse_deliver};
    s->base.conn = c;
    sse_write(s, &l->hello, TC_WQ_PLAIN);
    tc_conn_set_deadline(c, lifetime_ms(app->cfg->sse_timeout_s * 1000ull, &p));
    stream_start(&s->base, c, &sse_proto, table_id, stream_snapshot);
}

static void heartbeat_one(tc_sub *sub, void *ctx)
{
    (void)ctx;
    sse_stream *s = (sse_stream *)sub;
    sse_write(s, &s->base.live->heartbeat_frame, TC_WQ_HEARTBEAT);
}

static void on_heartbeat(uv_timer_t *t)
{
    tc_live *l = t->data;
    tc_hub_foreach(l->hub, TC_SUB_SSE, heartbeat_one, NULL);
}

/* ===== WebSocket =============================================================== */

typedef struct {
    stream base;
    tc_ws *ws;
    uint64_t last_rx, last_ping; /* loop ms */
    bool has_user;
    int32_t user_id;
    char *phone;       /* NULL when unknown */
    int64_t expires_s; /* the token's exp (epoch s); commands after it close the socket */
} ws_stream;

static tc_app *ws_app(ws_stream *s)
{
    return s->base.live->app;
}

static void ws_write(void *ctx, const char *data, size_t len)
{
    ws_stream *s = ctx;
    tc_conn_write(s->base.conn, data, len);
}

static void ws_send(ws_stream *s, const char *type, const char *message, const char *data,
                    size_t len)
{
    tc_buf msg = TC_BUF_INIT;
    tc_ws_message(&msg, type, message, data, len, epoch_ms());
    tc_ws_send_text(s->ws, msg.base, msg.len);
    tc_buf_free(&msg);
}

static void ws_deliver(tc_sub *sub, tc_hub_event *ev)
{
    ws_stream *s = (ws_stream *)sub;
    int64_t v = tc_cart_version(ev->cart);
    if (v <= s->base.sent_version) return;
    s->base.sent_version = v;
    ws_app(s)->metrics->events_ws++;
    if (tc_ws_can_inject(s->ws)) {
        tc_rbuf *f = tc_hub_event_ws(ev);
        tc_conn_write_rbuf(s->base.conn, f, 0, f->len, TC_WQ_CART);
    } else {
        /* wslay has a frame of its own on the way: let it order ours. */
        tc_buf msg = TC_BUF_INIT;
        tc_ws_message(&msg, "cart_update", "购物车更新", ev->json.base, ev->json.len,
                      ev->timestamp_ms);
        tc_ws_send_text(s->ws, msg.base, msg.len);
        tc_buf_free(&msg);
    }
}

static void ws_free(void *arg)
{
    ws_stream *s = arg;
    tc_ws_free(s->ws);
    free(s->phone);
    free(s);
}

static void ws_resync(ws_stream *s);

/* A command's answer to the sender: TYPE_success with the cart, or error. */
typedef struct {
    ws_stream *s;
    char type[32];
} ws_call;

static void ws_answered(void *ctx, int status, const tc_cart *cart, const tc_errmsg *err)
{
    ws_call *call = ctx;
    ws_stream *s = call->s;
    s->base.pending--;
    if (!s->base.dead && !tc_ws_close_sent(s->ws)) {
        if (status < 0) {
            ws_send(s, "error", err && err->text[0] ? err->text : tc_strerror(status), NULL, 0);
        } else {
            tc_buf data = TC_BUF_INIT, type = TC_BUF_INIT;
            tc_cart_to_json(cart,
                            tc_menu_table(tc_store_menu(ws_app(s)->store), tc_cart_table_id(cart)),
                            &data);
            tc_buf_appendf(&type, "%s_success", call->type);
            int64_t v = tc_cart_version(cart);
            bool stale = v < s->base.sent_version;
            /* The sender sees this version in its answer; a later broadcast of
             * the same version would be a duplicate. */
            if (v > s->base.sent_version) s->base.sent_version = v;
            ws_send(s, type.base, TC_ENVELOPE_OK_MESSAGE, data.base, data.len);
            if (stale) ws_resync(s);
            tc_buf_free(&data);
            tc_buf_free(&type);
        }
    }
    free(call);
    stream_release(&s->base);
}

static void ws_resynced(void *ctx, int status, const tc_cart *cart, const tc_errmsg *err)
{
    ws_stream *s = ctx;
    (void)err;
    s->base.pending--;
    if (!s->base.dead && status >= 0 && tc_cart_version(cart) >= s->base.sent_version) {
        tc_buf data = TC_BUF_INIT;
        tc_cart_to_json(
            cart, tc_menu_table(tc_store_menu(ws_app(s)->store), tc_cart_table_id(cart)), &data);
        s->base.sent_version = tc_cart_version(cart);
        ws_send(s, "cart_update", "购物车更新", data.base, data.len);
        tc_buf_free(&data);
    }
    stream_release(&s->base);
}

/* The answer to a command was older than a cart_update the socket already got
 * (with Redis, another instance's change can overtake it): the client now
 * shows the older cart, so send the current one again. */
static void ws_resync(ws_stream *s)
{
    s->base.pending++;
    tc_ops_get(ws_app(s), s->base.sub.table_id, ws_resynced, s);
}

static void ws_error(ws_stream *s, const char *message)
{
    ws_send(s, "error", message, NULL, 0);
}

static void ws_command(ws_stream *s, json_t *msg)
{
    tc_errmsg err = {{0}};
    const char *type = NULL;
    if (tc_input_str(msg, "type", &type, &err) != 0 || type == NULL)
        return ws_error(s, "type is required");
    if (strcmp(type, "heartbeat") == 0) return ws_send(s, "heartbeat", "pong", NULL, 0);

    tc_op op = {
        .table_id = s->base.sub.table_id, .expect_version = -1, .origin = tc_conn_id(s->base.conn)};
    bool needs_dish = true, needs_qty = false;
    if (strcmp(type, "add_item") == 0) {
        op.kind = TC_OP_ADD;
        needs_qty = true;
    } else if (strcmp(type, "update_quantity") == 0) {
        op.kind = TC_OP_UPDATE;
        needs_qty = true;
    } else if (strcmp(type, "remove_item") == 0) {
        op.kind = TC_OP_REMOVE;
    } else if (strcmp(type, "clear_cart") == 0) {
        op.kind = TC_OP_CLEAR;
        needs_dish = false;
    } else {
        char m[96];
        snprintf(m, sizeof m, "unknown message type '%.40s'", type);
        return ws_error(s, m);
    }
    json_t *data = json_object_get(msg, "data");
    if (needs_dish && !json_is_object(data)) return ws_error(s, "data must be an object");
    int64_t v;
    bool present;
    if (needs_dish) {
        if (tc_input_int(data, "cuisineId", TC_IN_ID, true, &v, &present, &err) != 0)
            return ws_error(s, err.text);
        op.cuisine_id = (int32_t)v;
    }
    if (needs_qty) {
        if (tc_input_int(data, "quantity", TC_IN_QUANTITY, true, &v, &present, &err) != 0)
            return ws_error(s, err.text);
        op.quantity = (int32_t)v;
    }
    if (op.kind == TC_OP_ADD) {
        if (tc_input_str(data, "remark", &op.remark, &err) != 0) return ws_error(s, err.text);
        op.who = (tc_identity){s->has_user, s->user_id, s->phone};
    }
    ws_call *call = tc_xcalloc(1, sizeof *call);
    call->s = s;
    snprintf(call->type, sizeof call->type, "%s", type);
    s->base.pending++;
    tc_ops_apply(ws_app(s), &op, ws_answered, call);
}

static void ws_on_text(void *ctx, const char *data, size_t len)
{
    ws_stream *s = ctx;
    tc_errmsg err;
    json_t *msg;
    if (tc_auth_now() >= s->expires_s) {
        /* 1008: policy violation — the token this socket was opened with expired. */
        tc_ws_close(s->ws, 1008, "token expired");
        return;
    }
    if (tc_input_object(data, len, &msg, &err) != 0) {
        ws_error(s, "message is not a valid JSON object");
        return;
    }
    ws_command(s, msg);
    json_decref(msg);
}

static void ws_on_closed(void *ctx, uint16_t code)
{
    ws_stream *s = ctx;
    (void)code;
    tc_conn_close(s->base.conn);
}

static void ws_on_read(tc_conn *c, const char *data, size_t len)
{
    ws_stream *s = tc_conn_state(c);
    s->last_rx = uv_now(ws_app(s)->loop);
    tc_ws_feed(s->ws, data, len);
}

/* Pings on schedule; drops a peer silent for 2.5 ping intervals. */
static void ws_schedule(ws_stream *s)
{
    uint64_t ping = ws_app(s)->cfg->ws_ping_s * 1000ull;
    uint64_t now = uv_now(ws_app(s)->loop);
    uint64_t idle_at = s->last_rx + ping * 5 / 2;
    uint64_t next = s->last_ping + ping;
    uint64_t at = idle_at < next ? idle_at : next;
    uint64_t wait = at > now ? at - now : 1;
    /* Wake at the token's expiry too, to close the socket then. */
    int64_t left_s = s->expires_s - tc_auth_now(); /* INT64_MAX - now without tokens */
    if (left_s < 0) left_s = 0;
    if ((uint64_t)left_s < wait / 1000) wait = (uint64_t)left_s * 1000 + 1;
    tc_conn_set_deadline(s->base.conn, wait);
}

static void ws_on_deadline(tc_conn *c)
{
    ws_stream *s = tc_conn_state(c);
    if (!tc_ws_close_sent(s->ws) && tc_auth_now() >= s->expires_s) {
        /* 1008: policy violation — the token this socket was opened with expired. */
        tc_ws_close(s->ws, 1008, "token expired");
        tc_conn_set_deadline(c, WS_SHUTDOWN_WAIT_MS);
        s->last_rx = 0;
        return;
    }
    uint64_t ping = ws_app(s)->cfg->ws_ping_s * 1000ull;
    uint64_t now = uv_now(ws_app(s)->loop);
    if (tc_ws_close_sent(s->ws) || now >= s->last_rx + ping * 5 / 2) {
        char peer[80];
        tc_log_info("ws conn %llu %s: no answer, dropped", (unsigned long long)tc_conn_id(c),
                    tc_conn_peer(c, peer, sizeof peer));
        tc_conn_abort(c);
        return;
    }
    if (now >= s->last_ping + ping) {
        tc_ws_send_ping(s->ws);
        s->last_ping = now;
    }
    ws_schedule(s);
}

static void ws_on_shutdown(tc_conn *c)
{
    ws_stream *s = tc_conn_state(c);
    if (tc_ws_close(s->ws, 1001, "server shutting down") != 0) {
        tc_conn_close(c);
        return;
    }
    /* Wait briefly for the peer's close; the sweep aborts after that. */
    s->last_rx = 0;
    tc_conn_set_deadline(c, WS_SHUTDOWN_WAIT_MS);
}

static const tc_proto ws_proto = {
    .name = "ws",
    .on_read = ws_on_read,
    .on_eof = tc_conn_abort,
    .on_deadline = ws_on_deadline,
    .on_shutdown = ws_on_shutdown,
    .on_closed = stream_closed,
};

/* True when header `name` holds `token` in its comma-separated list. */
static bool header_has_token(const tc_http_req *r, const char *name, const char *token)
{
    const tc_view *h = tc_http_header_get(r, name);
    if (!h) return false;
    size_t tl = strlen(token);
    const char *s = h->base, *end = h->base + h->len;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == ',' || *s == '\t'))
            s++;
        const char *e = s;
        while (e < end && *e != ',')
            e++;
        const char *te = e;
        while (te > s && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if ((size_t)(te - s) == tl && strncasecmp(s, token, tl) == 0) return true;
        s = e;
    }
    return false;
}

static void h_ws(tc_http_exchange *x)
{
    tc_app *app = x->app;
    tc_live *l = app->live;
    tc_errmsg err;
    int64_t v;
    int r = tc_input_int_text(x->route.params[0], "tableId", TC_IN_ID, &v, &err);
    if (r) return tc_http_reply_error(x, 400, err.text);
    int32_t table_id = (int32_t)v;
    if (x->head_only)
        return tc_http_reply_error(x, 400, "a WebSocket handshake must be a GET request");
    if (!header_has_token(x->req, "Upgrade", "websocket") ||
        !header_has_token(x->req, "Connection", "upgrade"))
        return tc_http_reply_error(x, 400, "WebSocket upgrade required (Upgrade: websocket)");
    const tc_view *ver = tc_http_header_get(x->req, "Sec-WebSocket-Version");
    if (!ver || !tc_view_eq(*ver, "13")) {
        tc_buf body = TC_BUF_INIT;
        tc_envelope(&body, 400, "Sec-WebSocket-Version must be 13", NULL, 0);
        tc_http_reply(x, 400, "application/json;charset=UTF-8", "Sec-WebSocket-Version: 13\r\n",
                      body.base, body.len);
        tc_buf_free(&body);
        return;
    }
    const tc_view *key = tc_http_header_get(x->req, "Sec-WebSocket-Key");
    if (!key || tc_ws_key_valid(key->base, key->len) != 0)
        return tc_http_reply_error(x, 400, "Sec-WebSocket-Key is missing or malformed");
    /* Commands on this socket act as whoever opened it. */
    tc_principal p;
    tc_buf phone = TC_BUF_INIT;
    if ((r = authorize(x, table_id, &p, &phone, &err)) != 0) {
        tc_buf_free(&phone);
        return tc_http_reply_error(x, tc_ops_http_status(r), err.text);
    }
    ws_stream *s = tc_xcalloc(1, sizeof *s);
    s->has_user = p.who.has_user_id;
    s->user_id = (int32_t)p.who.user_id;
    s->phone = p.who.phone ? tc_xstrdup(p.who.phone) : NULL;
    s->expires_s = p.expires_s;
    tc_buf_free(&phone);

    char accept[29];
    tc_ws_accept_key(key->base, key->len, accept);
    tc_buf head = TC_BUF_INIT, rest = TC_BUF_INIT;
    tc_resp_start(&head, 101);
    tc_resp_header(&head, "Upgrade", "websocket");
    tc_resp_header(&head, "Connection", "Upgrade");
    tc_resp_header(&head, "Sec-WebSocket-Accept", accept);
    tc_buf_append_str(&head, "\r\n");
    tc_conn *c = tc_http_takeover(x, &rest);
    tc_conn_write(c, head.base, head.len);
    tc_buf_free(&head);

    s->base.conn = c;
    s->base.live = l;
    s->base.sent_version = -1;
    s->base.shown_version = -1;
    s->base.free_fn = ws_free;
    s->base.sub = (tc_sub){
        .table_id = table_id, .kind = TC_SUB_WS, .conn_id = tc_conn_id(c), .deliver = ws_deliver};
    tc_ws_callbacks cb = {
        .ctx = s, .write = ws_write, .on_text = ws_on_text, .on_closed = ws_on_closed};
    s->ws = tc_ws_new(&cb, app->cfg->ws_max_message);
    s->last_rx = s->last_ping = uv_now(app->loop);
    ws_send(s, "connected", "连接成功", NULL, 0);
    stream_start(&s->base, c, &ws_proto, table_id, stream_snapshot);
    ws_schedule(s);
    /* Frames the client sent right behind its handshake. */
    if (rest.len && !tc_conn_is_closing(c)) ws_on_read(c, rest.base, rest.len);
    tc_buf_free(&rest);
}

/* ===== wiring ================================================================== */

static void on_change(void *ctx, const tc_cart *cart, uint64_t origin)
{
    tc_live *l = ctx;
    const tc_table *t = tc_menu_table(tc_store_menu(l->app->store), tc_cart_table_id(cart));
    tc_hub_publish(l->hub, cart, t, origin, epoch_ms());
}

tc_live *tc_live_start(tc_app *app, tc_router *router)
{
    tc_live *l = tc_xcalloc(1, sizeof *l);
    l->app = app;
    l->hub = tc_hub_new();
    app->live = l;
    l->hello = tc_sse_frame_new("connected", NULL, "连接成功", strlen("连接成功"), 3000);
    l->heartbeat_frame = tc_sse_frame_new("heartbeat", NULL, "ping", 4, -1);
    tc_store_set_feed(app->store, on_change, l);
    tc_router_add(router, TC_M_GET, app->cfg->api_prefix, "/store/order/sse/{}", h_sse);
    tc_router_add(router, TC_M_GET, "", "/ws/cart/{}", h_ws);
    uv_timer_init(app->loop, &l->heartbeat);
    l->heartbeat.data = l;
    uint64_t every = app->cfg->heartbeat_s * 1000ull;
    uv_timer_start(&l->heartbeat, on_heartbeat, every, every);
    return l;
}

void tc_live_stop(tc_live *l)
{
    uv_close((uv_handle_t *)&l->heartbeat, NULL);
    tc_store_set_feed(l->app->store, NULL, NULL);
}

void tc_live_free(tc_live *l)
{
    if (!l) return;
    tc_sse_frame_release(&l->hello);
    tc_sse_frame_release(&l->heartbeat_frame);
    tc_hub_free(l->hub);
    free(l);
}
