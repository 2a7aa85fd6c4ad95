#include "api/live.h"

#include "api/access.h"
#include "api/ops.h"
#include "api/presence.h"
#include "api/ws_cmd.h"
#include "auth/auth.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/wire.h"
#include "http/response.h"
#include "http/session.h"
#include "push/stream.h"
#include "push/ws.h"

#include <stdlib.h>
#include <strings.h>

/* Last-Event-ID longer than this many digits is no version of ours. */
#define LAST_EVENT_ID_MAX_DIGITS 18
/* The close reason of a WebSocket whose token expired (with code 1008). */
/* A snapshot the store could not give (TC_ESTORE: Redis down) is read again
 * at the first tick of this period at which the store answers
 * (tc_store_ping); one that fails again then waits twice as many ticks
 * each time, up to SNAPSHOT_RETRY_MAX_TICKS. */
#define SNAPSHOT_RETRY_MS 250
#define SNAPSHOT_RETRY_MAX_TICKS 16

typedef struct snapshot_call snapshot_call;

struct tc_live {
    tc_app *app;
    snapshot_call *retry;    /* snapshots to read again, their streams held */
    uv_timer_t *retry_timer; /* runs while retry is not empty */
    bool stopped;
};

/* ===== a stream's diner ========================================================= */

/* Who opened an SSE stream, in its user bytes (a WebSocket's are its
 * commands' client, api/ws_cmd): presence counts them while it is open. */
typedef struct {
    int32_t user_id;
    bool has_user;
} sse_diner;

_Static_assert(sizeof(sse_diner) <= TC_STREAM_SSE_USER, "an SSE stream's user bytes");

/* A stream of table_id begins: the one place streams are counted in, undone
 * by stream_ended exactly once (the streams' on_free); the store follows
 * its table (store.h: what instances tell each other). */
static void stream_started(tc_app *app, int32_t table_id, const tc_identity *who)
{
    tc_store_follow(app->store, table_id);
    tc_identity w = {who->has_user_id, who->user_id, NULL};
    tc_presence_enter(app->presence, table_id, &w);
}

static void stream_ended(void *ctx, tc_stream *s)
{
    tc_app *app = ctx;
    void *user = tc_stream_user(s);
    tc_identity who;
    if (tc_stream_is_ws(s)) {
        who = tc_ws_cmd_client_who(user);
        tc_ws_cmd_client_free(user);
    } else {
        const sse_diner *d = user;
        who = (tc_identity){d->has_user, d->user_id, NULL};
    }
    /* At shutdown the store may be closed before a held stream is freed. */
    if (app->store) {
        tc_presence_leave(app->presence, tc_stream_table(s), &who);
        tc_store_unfollow(app->store, tc_stream_table(s));
    }
}

static void diner_text(void *ctx, tc_stream *s, const char *data, size_t len)
{
    tc_ws_cmd_text(ctx, s, data, len);
}

static bool diner_busy(void *ctx, tc_stream *s)
{
    (void)ctx;
    return tc_stream_is_ws(s) && tc_ws_cmd_busy(tc_stream_user(s));
}

static bool diner_full(void *ctx, tc_stream *s)
{
    (void)ctx;
    return tc_stream_is_ws(s) && tc_ws_cmd_full(tc_stream_user(s));
}

static const tc_stream_hooks stream_hooks = {
    .on_text = diner_text, .on_free = stream_ended, .busy = diner_busy, .full = diner_full};

/* ===== the snapshot ============================================================ */

struct snapshot_call {
    snapshot_call *next; /* in tc_live's retry list */
    tc_app *app;
    tc_stream *s;
    tc_conn *conn;  /* WebSocket: reading waits for the snapshot; else NULL */
    tc_buf pending; /* WebSocket: bytes sent right behind the handshake */
    tc_identity who;
    bool seated;     /* the table's diners are known: presence follows the cart */
    bool unanswered; /* the store could not answer: all read again later */
    unsigned wait;   /* ticks to let pass before the next read */
    unsigned backoff;
};

static void read_snapshot(snapshot_call *call);

static void snapshot_free(snapshot_call *call)
{
    tc_buf_free(&call->pending);
    tc_stream_release(call->s);
    free(call);
}

/* Reads again, once the store answers, the snapshot of every stream whose
 * store was unreachable when it opened (or at its last try). A stream that
 * closed meanwhile is let go at once, store or not: its end (presence,
 * unfollow) waits for that. */
static void retry_tick(uv_timer_t *h)
{
    tc_live *l = h->data;
    bool answers = l->app->store != NULL && tc_store_ping(l->app->store) == 0;
    snapshot_call *list = l->retry;
    l->retry = NULL;
    for (snapshot_call *call = list, *next; call; call = next) {
        next = call->next;
        call->next = NULL;
        if (!tc_stream_is_open(call->s)) {
            snapshot_free(call);
        } else if (!answers || call->wait > 0) {
            if (answers) call->wait--;
            call->next = l->retry;
            l->retry = call;
        } else {
            read_snapshot(call); /* may be back in l->retry at once */
        }
    }
    if (l->retry == NULL) uv_timer_stop(l->retry_timer);
}

/* The current cart right after connected, then who is at the table. The
 * stream subscribed first, so no change falls in between; it skips a version
 * it already sent. A WebSocket's client is heard only after both: its first
 * answers come after them, whatever it sent. A store that could not answer
 * leaves the stream with connected alone (a WebSocket's client is heard
 * then: its commands get errors): the snapshot is read again once the store
 * answers (retry_tick), since no change may ever bring the cart (an empty
 * version 0, or a version this instance knew already and fed no more). */
static void snapshot_done(void *ctx, int status, const tc_store_cart *c, const tc_errmsg *err)
{
    snapshot_call *call = ctx;
    (void)err;
    if (status >= 0) {
        tc_stream_send_cart(call->s, c->version, (tc_view){c->json->data, c->json->len},
                            tc_clock_epoch_ms());
        if (call->seated) tc_presence_send(call->app->presence, call->s);
    }
    if (status == TC_ESTORE) call->unanswered = true;
    if (call->conn) {
        /* TC_ECLOSED: the store closed holding the read; nothing is heard. */
        if (status != TC_ECLOSED)
            tc_stream_ws_feed(call->s, (tc_view){call->pending.base, call->pending.len});
        tc_conn_unref(call->conn);
        call->conn = NULL;
        tc_buf_free(&call->pending);
    }
    tc_live *l = call->app->live;
    if (!call->unanswered || l == NULL || l->stopped || !tc_stream_is_open(call->s)) {
        snapshot_free(call);
        return;
    }
    call->wait = call->backoff;
    call->backoff = call->backoff ? call->backoff * 2 : 1;
    if (call->backoff > SNAPSHOT_RETRY_MAX_TICKS) call->backoff = SNAPSHOT_RETRY_MAX_TICKS;
    call->next = l->retry;
    l->retry = call;
    if (!uv_is_active((uv_handle_t *)l->retry_timer))
        uv_timer_start(l->retry_timer, retry_tick, SNAPSHOT_RETRY_MS, SNAPSHOT_RETRY_MS);
}

/* The diner is seated (a JOIN: nothing is written when seated already; the
 * cart is not touched) before the snapshot is read, so that the cart and
 * presence go out together. */
static void seated(void *ctx, int status, const tc_diner *list, size_t n, const tc_errmsg *err)
{
    snapshot_call *call = ctx;
    (void)list, (void)n;
    if (status == TC_ECLOSED) {
        snapshot_done(call, status, NULL, err); /* only frees: no snapshot comes */
        return;
    }
    call->seated = status >= 0;
    if (status == TC_ESTORE) call->unanswered = true;
    tc_ops_get(call->app, tc_stream_table(call->s), snapshot_done, call);
}

/* Seats the stream's diner, then reads the cart (seated, snapshot_done). */
static void read_snapshot(snapshot_call *call)
{
    call->seated = call->unanswered = false;
    tc_ops_diners(call->app, tc_stream_table(call->s),
                  call->who.has_user_id ? TC_DINERS_JOIN : TC_DINERS_GET, call->who.user_id, NULL,
                  seated, call);
}

/* Reads the snapshot; for a WebSocket (conn), reading is paused until it and
 * presence were sent and leftover (taken) is fed then. */
static void send_snapshot(tc_app *app, tc_stream *s, tc_conn *conn, tc_buf *leftover,
                          const tc_identity *who)
{
    snapshot_call *call = tc_xcalloc(1, sizeof *call);
    call->app = app;
    call->s = s;
    call->who = (tc_identity){who->has_user_id, who->user_id, NULL};
    if (conn) {
        call->conn = conn;
        tc_conn_ref(conn);
        tc_conn_pause(conn);
        call->pending = *leftover;
        *leftover = (tc_buf)TC_BUF_INIT;
    }
    tc_stream_hold(s);
    read_snapshot(call);
}

/* ===== the handshakes ========================================================== */

/* The path's tableId; answers 400 and returns non-zero when it is none. */
static int path_table(tc_http_exchange *x, int32_t *table_id)
{
    tc_errmsg err;
    int64_t id;
    if (tc_parse_int(x->route.params[0], "tableId", TC_IN_ID, &id, &err) != 0) {
        tc_http_reply_errmsg(x, 400, TC_EINVAL, &err);
        return -1;
    }
    *table_id = (int32_t)id;
    return 0;
}

/* May the caller listen to table_id (401, 400, 404, 403)? Answers the
 * exchange and returns non-zero when not. p->who.phone points into phone. */
static int admit(tc_http_exchange *x, int32_t table_id, tc_principal *p, tc_buf *phone)
{
    tc_errmsg err;
    int r = tc_access_check(x->app, x->req, table_id, p, phone, &err);
    if (r) tc_ops_reply_error(x, r, &err);
    return r;
}

/* How long a stream may live, in ms of the loop's clock: at most timeout_ms
 * (0: no limit), cut short by the token's expiry. */
static uint64_t lifetime_ms(uv_loop_t *loop, uint64_t timeout_ms, const tc_principal *p)
{
    if (p->expires_s == INT64_MAX) return timeout_ms;
    /* The stream's end is counted from the loop's time, taken when this turn
     * began: it is behind the real time by as long as the turn has run so
     * far, which is added, or a busy turn would end the stream that much
     * before exp. And one ms more: the loop's clock counts whole ms, so a
     * timer may fire up to 1 ms early. */
    uint64_t behind = uv_hrtime() / 1000000u - uv_now(loop);
    if (behind > 60000u) behind = 0; /* not a lag: the two clocks disagree */
    int64_t left = p->expires_s * 1000 - tc_clock_epoch_ms() + 1 + (int64_t)behind;
    if (left <= 0) return 1;
    if (timeout_ms && (uint64_t)left >= timeout_ms) return timeout_ms;
    return (uint64_t)left;
}

/* Reads Last-Event-ID: the version the client already shows, or -1. */
static int64_t last_event_id(const tc_http_req *r)
{
    const tc_view *h = tc_http_header_get(r, "Last-Event-ID");
    if (!h || h->len == 0 || h->len > LAST_EVENT_ID_MAX_DIGITS) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < h->len; i++) {
        if (h->base[i] < '0' || h->base[i] > '9') return -1;
        v = v * 10 + (h->base[i] - '0');
    }
    return v;
}

static void h_sse(tc_http_exchange *x)
{
    tc_app *app = x->app;
    int32_t table_id;
    tc_principal p;
    tc_buf phone = TC_BUF_INIT;
    int r = path_table(x, &table_id);
    if (r == 0) r = admit(x, table_id, &p, &phone);
    tc_buf_free(&phone);
    if (r) return;
    p.who.phone = NULL;
    if (x->head_only) {
        /* HEAD: the head a GET would get, no stream; the connection stays HTTP. */
        tc_http_reply_stream_head(x, "text/event-stream;charset=UTF-8",
                                  "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
        return;
    }
    bool chunked = tc_http_stream_chunked(x->req);
    tc_stream_params sp = {
        .table_id = table_id,
        .lifetime_ms = lifetime_ms(app->loop, app->cfg->sse_timeout_s * 1000ull, &p),
        .chunked = chunked,
        .shown_version = last_event_id(x->req),
        .user_size = sizeof(sse_diner),
    };
    tc_buf head = TC_BUF_INIT;
    tc_resp_start(&head, 200);
    tc_resp_header(&head, "Content-Type", "text/event-stream;charset=UTF-8");
    /* In the order tc_http_reply_stream_head writes HEAD's. */
    tc_http_cors_headers(x, &head);
    tc_resp_header(&head, "Cache-Control", "no-cache");
    tc_resp_header(&head, "X-Accel-Buffering", "no");
    tc_http_stream_head_end(x->req, true, &head);
    tc_conn *c = tc_http_takeover(x, 200, &head, NULL);
    tc_buf_free(&head);
    stream_started(app, table_id, &p.who);
    tc_stream *s = tc_stream_sse(app->streams, c, &sp);
    sse_diner *d = tc_stream_user(s);
    d->has_user = p.who.has_user_id;
    d->user_id = (int32_t)p.who.user_id;
    send_snapshot(app, s, NULL, NULL, &p.who);
}

/* True when the comma-separated list h holds token. */
static bool list_has_token(const tc_view *h, const char *token)
{
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

/* True when header `name` holds `token` in its comma-separated list, which
 * may come as several lines (RFC 9110 5.3: one list in all). */
static bool header_has_token(const tc_http_req *r, const char *name, const char *token)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (tc_view_ieq(r->headers[i].name, name) && list_has_token(&r->headers[i].value, token))
            return true;
    return false;
}

/* Header `name` when the request has exactly one line of it, else NULL
 * (RFC 6455 11.3.1, 11.3.5: the key and the version appear once). */
static const tc_view *header_once(const tc_http_req *r, const char *name)
{
    const tc_view *v = NULL;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!tc_view_ieq(r->headers[i].name, name)) continue;
        if (v) return NULL;
        v = &r->headers[i].value;
    }
    return v;
}

/* The RFC 6455 handshake's checks; answers 400 and returns non-zero when
 * the request is no WebSocket handshake of ours. */
static int check_upgrade(tc_http_exchange *x, const tc_view **key)
{
    /* Without the upgrade headers HEAD gets what GET gets (SPEC §2); with
     * them only GET can be a handshake. */
    if (!header_has_token(x->req, "Upgrade", "websocket") ||
        !header_has_token(x->req, "Connection", "upgrade")) {
        tc_http_reply_say(x, 400, TC_T_WS_UPGRADE);
        return -1;
    }
    if (x->head_only) {
        tc_http_reply_say(x, 400, TC_T_WS_GET);
        return -1;
    }
    /* RFC 6455 4.1: HTTP/1.1 or later (1.0 has no Upgrade). */
    if (x->req->http_minor == 0) {
        tc_http_reply_say(x, 400, TC_T_WS_HTTP11);
        return -1;
    }
    const tc_view *ver = header_once(x->req, "Sec-WebSocket-Version");
    if (!ver || !tc_view_eq(*ver, "13")) {
        tc_buf body = TC_BUF_INIT;
        tc_envelope(&body, 400, tc_text_format(TC_T_WS_VERSION, tc_http_lang(x->req)), NULL, 0);
        tc_http_reply(x, 400, "application/json;charset=UTF-8", "Sec-WebSocket-Version: 13\r\n",
                      body.base, body.len);
        tc_buf_free(&body);
        return -1;
    }
    *key = header_once(x->req, "Sec-WebSocket-Key");
    if (!*key || tc_ws_key_valid((*key)->base, (*key)->len) != 0) {
        tc_http_reply_say(x, 400, TC_T_WS_KEY);
        return -1;
    }
    return 0;
}

static void h_ws(tc_http_exchange *x)
{
    tc_app *app = x->app;
    int32_t table_id;
    const tc_view *key;
    if (path_table(x, &table_id) != 0 || check_upgrade(x, &key) != 0) return;
    /* Commands on this socket act as whoever opened it. */
    tc_principal p;
    tc_buf phone = TC_BUF_INIT;
    if (admit(x, table_id, &p, &phone) != 0) {
        tc_buf_free(&phone);
        return;
    }
    tc_lang lang = tc_http_lang(x->req);

    char accept[29];
    tc_ws_accept_key(key->base, key->len, accept);
    tc_buf head = TC_BUF_INIT, rest = TC_BUF_INIT;
    tc_resp_start(&head, 101);
    tc_resp_header(&head, "Upgrade", "websocket");
    tc_resp_header(&head, "Connection", "Upgrade");
    tc_resp_header(&head, "Sec-WebSocket-Accept", accept);
    tc_buf_append_str(&head, "\r\n");
    tc_conn *c = tc_http_takeover(x, 101, &head, &rest);
    tc_buf_free(&head);
    tc_stream_params sp = {
        .table_id = table_id,
        .lifetime_ms = lifetime_ms(app->loop, 0, &p),
        .shown_version = -1,
        .user_size = TC_WS_CMD_CLIENT_SIZE,
    };
    stream_started(app, table_id, &p.who);
    tc_stream *s = tc_stream_ws(app->streams, c, &sp);
    /* Before any message of the client is read: send_snapshot feeds them. */
    tc_ws_cmd_client_init(tc_stream_user(s), &p.who, p.expires_s, lang);
    tc_buf_free(&phone);
    p.who.phone = NULL;
    send_snapshot(app, s, c, &rest, &p.who);
    tc_buf_free(&rest);
}

/* ===== the change feed ========================================================= */

/* A change committed to the store, encoded once by it: pushed to every
 * stream of its table but the one that made it (it gets its own answer).
 * The store feeds a change once it is committed: delivery latency counts from
 * here. */
static void on_change(void *ctx, const tc_store_cart *c, uint64_t origin)
{
    tc_live *l = ctx;
    if (c->reset) {
        /* A version below the one the streams show: they start over. */
        tc_streams_restart(l->app->streams, c->table_id, TC_WS_CART_RESET_REASON);
        return;
    }
    tc_streams_publish(l->app->streams, c->table_id, c->version,
                       (tc_view){c->json->data, c->json->len}, origin, tc_clock_epoch_ms(),
                       uv_hrtime());
}

/* A stream of table_id started or ended here: the store hears this
 * instance's changes of a table only while it is followed. */
static void on_follow(void *ctx, int32_t table_id, bool on)
{
    tc_live *l = ctx;
    if (l->app->store == NULL) return; /* closed at shutdown, after every stream */
    if (on)
        tc_store_follow(l->app->store, table_id);
    else
        tc_store_unfollow(l->app->store, table_id);
}

/* The served menu was replaced (a `menu import` here or elsewhere): every
 * stream of each table gets the table's new menu, as GET menu/{tableId}
 * answers it. Carts are not changed (docs/api.md, "Live menu"). */
static void on_menu(void *ctx)
{
    tc_live *l = ctx;
    const tc_menu *m = tc_store_menu(l->app->store);
    tc_buf data = TC_BUF_INIT;
    for (size_t i = 0; i < tc_menu_table_count(m); i++) {
        const tc_table *t = tc_menu_table_at(m, i);
        if (!tc_streams_has_table(l->app->streams, t->table_id)) continue;
        tc_buf_reset(&data);
        tc_menu_table_json(m, t, &data);
        tc_streams_send_event(l->app->streams, t->table_id, TC_WIRE_MENU_UPDATE,
                              TC_WIRE_MENU_UPDATE_MESSAGE, (tc_view){data.base, data.len},
                              tc_clock_epoch_ms(), false);
    }
    tc_buf_free(&data);
}

tc_live *tc_live_start(tc_app *app, tc_router *router)
{
    tc_live *l = tc_xcalloc(1, sizeof *l);
    l->app = app;
    l->retry_timer = tc_xcalloc(1, sizeof *l->retry_timer);
    uv_timer_init(app->loop, l->retry_timer);
    l->retry_timer->data = l;
    tc_ws_prepare();
    tc_streams_opts so = {
        .hooks = &stream_hooks,
        .hooks_ctx = app,
        .heartbeat_ms = app->cfg->heartbeat_s * 1000ull,
        .ws_ping_ms = app->cfg->ws_ping_s * 1000ull,
        .ws_max_message = app->cfg->ws_max_message,
        .expired_reason = TC_WS_CMD_EXPIRED_REASON,
        .follow = on_follow,
        .follow_ctx = l,
    };
    app->streams = tc_streams_new(app->loop, &so);
    app->live = l;
    app->presence = tc_presence_new(app);
    tc_store_set_feed(app->store, on_change, l);
    tc_store_set_menu_feed(app->store, on_menu, l);
    tc_router_add(router, TC_M_GET, app->cfg->api_prefix, "/store/order/sse/{}", h_sse);
    tc_router_add(router, TC_M_GET, "", "/ws/cart/{}", h_ws);
    return l;
}

static void retry_timer_closed(uv_handle_t *h)
{
    free(h);
}

void tc_live_stop(tc_live *l)
{
    /* Streams waiting to read their snapshot again are let go: they close. */
    l->stopped = true;
    uv_close((uv_handle_t *)l->retry_timer, retry_timer_closed);
    l->retry_timer = NULL;
    for (snapshot_call *call = l->retry, *next; call; call = next) {
        next = call->next;
        snapshot_free(call);
    }
    l->retry = NULL;
    tc_streams_stop(l->app->streams);
    tc_presence_stop(l->app->presence);
    tc_store_set_feed(l->app->store, NULL, NULL);
    tc_store_set_menu_feed(l->app->store, NULL, NULL);
}

void tc_live_free(tc_live *l)
{
    if (!l) return;
    tc_streams_free(l->app->streams);
    l->app->streams = NULL;
    tc_presence_free(l->app->presence);
    l->app->presence = NULL;
    tc_ws_release();
    free(l);
}
