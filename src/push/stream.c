#include "push/stream.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/wire.h"
#include "push/hub.h"
#include "push/sse.h"
#include "push/ws.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* How long a WebSocket closed by us waits for the peer's close frame before
 * the connection is dropped. */
#define WS_CLOSE_WAIT_MS 2000
/* A WebSocket peer silent for this many ping periods (in halves) is dead:
 * 2.5 periods lets one ping and its pong be lost or late. */
#define WS_SILENT_HALF_PERIODS 5

struct tc_streams {
    uv_loop_t *loop;
    tc_streams_opts opts;
    tc_hub *hub;
    uv_timer_t heartbeat;
    tc_sse_frame hello;           /* retry + connected, shared by every SSE stream */
    tc_sse_frame heartbeat_frame; /* shared by every SSE stream */
    tc_streams_stats stats;
    uint64_t committed_ns; /* the commit time of the change being published now, else 0 */
};

struct tc_stream {
    tc_sub sub; /* first: the hub hands it back to deliver */
    tc_streams *ss;
    tc_conn *conn;
    const tc_stream_hooks *hooks;
    void *ctx;
    int64_t sent_version;  /* newest cart version written to this stream */
    int64_t shown_version; /* what the client said it shows (Last-Event-ID), or -1 */
    unsigned holds;        /* asynchronous calls of the layer above in flight */
    bool gone;             /* the connection is closed */
    bool chunked;          /* SSE: HTTP/1.1 chunked framing */
    /* WebSocket only: an SSE stream is allocated without these (see
     * SSE_STREAM_SIZE), which keeps an idle SSE connection smaller. */
    tc_ws *ws;
    uint64_t last_rx, last_ping, end_at; /* loop ms; end_at 0: no lifetime */
    /* Messages read past the connection's share of a loop turn, in order,
     * each a uint32_t length then its bytes; reading waits until they are
     * handled (at most one read's worth). */
    tc_buf backlog;
    /* A close asked for while tc_ws_feed runs waits until it returns, so it
     * follows the answers already queued (wslay sends control frames first). */
    bool in_feed;
    bool refusing;       /* we closed it for policy: later messages are dropped */
    uint16_t close_code; /* 0: none pending */
    const char *close_reason;
};

/* An SSE stream's allocation: everything before the WebSocket-only fields. */
#define SSE_STREAM_SIZE offsetof(tc_stream, ws)

static void stream_free_if_done(tc_stream *s)
{
    if (!s->gone || s->holds) return;
    if (s->hooks && s->hooks->on_free) s->hooks->on_free(s->ctx);
    if (s->sub.kind == TC_SUB_WS) {
        tc_ws_free(s->ws);
        tc_buf_free(&s->backlog);
    }
    free(s);
}

static uint64_t *open_gauge(tc_stream *s)
{
    return s->sub.kind == TC_SUB_SSE ? &s->ss->stats.open_sse : &s->ss->stats.open_ws;
}

static bool ws_drain_backlog(tc_stream *s, bool all);

/* The connection is gone: leave the hub; free once no call holds the stream. */
static void stream_closed(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    /* Messages it sent before it was closed (say, as a client that stopped
     * reading) are still carried out; only their answers are lost. */
    if (s->sub.kind == TC_SUB_WS && s->backlog.len) ws_drain_backlog(s, true);
    tc_hub_unsubscribe(s->ss->hub, &s->sub);
    (*open_gauge(s))--;
    if (s->ss->opts.follow) s->ss->opts.follow(s->ss->opts.follow_ctx, s->sub.table_id, false);
    if (tc_conn_was_slow(c)) s->ss->stats.slow_closed++;
    s->gone = true;
    tc_conn_unref(c);
    stream_free_if_done(s);
}

static tc_stream *stream_new(tc_streams *ss, tc_conn *c, const tc_stream_params *p,
                             tc_sub_kind kind, void (*deliver)(tc_sub *, tc_hub_event *))
{
    tc_stream *s = tc_xcalloc(1, kind == TC_SUB_SSE ? SSE_STREAM_SIZE : sizeof *s);
    s->ss = ss;
    s->conn = c;
    tc_conn_ref(c); /* dropped in stream_closed */
    s->hooks = p->hooks;
    s->ctx = p->ctx;
    s->sent_version = -1;
    s->shown_version = -1;
    s->sub = (tc_sub){
        .table_id = p->table_id, .kind = kind, .conn_id = tc_conn_id(c), .deliver = deliver};
    return s;
}

/* Subscribes s (before the caller reads the snapshot, so that no change can
 * fall in between) and counts it. */
static void stream_subscribe(tc_stream *s)
{
    tc_hub_subscribe(s->ss->hub, &s->sub);
    (*open_gauge(s))++;
    if (s->ss->opts.follow) s->ss->opts.follow(s->ss->opts.follow_ctx, s->sub.table_id, true);
}

/* ===== SSE ===================================================================== */

static void sse_write(tc_stream *s, const tc_sse_frame *f, tc_wq_kind kind)
{
    if (s->chunked)
        tc_conn_write_rbuf(s->conn, f->buf, 0, f->buf->len, kind);
    else
        tc_conn_write_rbuf(s->conn, f->buf, f->body_off, f->body_len, kind);
}

static void sse_deliver(tc_sub *sub, tc_hub_event *ev)
{
    tc_stream *s = (tc_stream *)sub;
    if (ev->version <= s->sent_version) return;
    s->sent_version = ev->version;
    const tc_sse_frame *f = tc_hub_event_sse(ev);
    if (s->chunked)
        tc_conn_write_cart(s->conn, f->buf, 0, f->buf->len, s->ss->committed_ns);
    else
        tc_conn_write_cart(s->conn, f->buf, f->body_off, f->body_len, s->ss->committed_ns);
    s->ss->stats.events_sse++;
}

/* End of stream: the last chunk, then close (the browser reconnects). */
static void sse_end(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
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

tc_stream *tc_stream_sse(tc_streams *ss, tc_conn *c, const tc_stream_params *p)
{
    tc_stream *s = stream_new(ss, c, p, TC_SUB_SSE, sse_deliver);
    s->chunked = p->chunked;
    s->shown_version = p->shown_version;
    sse_write(s, &ss->hello, TC_WQ_PLAIN);
    if (p->lifetime_ms) tc_conn_set_deadline(c, p->lifetime_ms);
    tc_conn_set_proto(c, &sse_proto, s);
    stream_subscribe(s);
    return s;
}

static void heartbeat_one(tc_sub *sub, void *ctx)
{
    (void)ctx;
    tc_stream *s = (tc_stream *)sub;
    sse_write(s, &s->ss->heartbeat_frame, TC_WQ_HEARTBEAT);
}

static void on_heartbeat(uv_timer_t *t)
{
    tc_streams *ss = t->data;
    tc_hub_foreach(ss->hub, TC_SUB_SSE, heartbeat_one, NULL);
}

/* ===== WebSocket =============================================================== */

static void ws_write(void *ctx, const char *data, size_t len)
{
    tc_stream *s = ctx;
    tc_conn_write(s->conn, data, len);
}

static void ws_send(tc_stream *s, const char *type, const char *message, const char *data,
                    size_t len, int64_t timestamp_ms)
{
    tc_buf msg = TC_BUF_INIT;
    tc_ws_message(&msg, type, message, data, len, timestamp_ms);
    tc_ws_send_text(s->ws, msg.base, msg.len);
    tc_buf_free(&msg);
}

static void ws_deliver(tc_sub *sub, tc_hub_event *ev)
{
    tc_stream *s = (tc_stream *)sub;
    if (ev->version <= s->sent_version) return;
    s->sent_version = ev->version;
    s->ss->stats.events_ws++;
    if (tc_ws_can_inject(s->ws)) {
        tc_rbuf *f = tc_hub_event_ws(ev);
        tc_conn_write_cart(s->conn, f, 0, f->len, s->ss->committed_ns);
    } else {
        /* wslay has a frame of its own on the way: let it order ours. */
        ws_send(s, TC_WIRE_CART_UPDATE, TC_WIRE_CART_UPDATE_MESSAGE, ev->json.base, ev->json.len,
                ev->timestamp_ms);
    }
}

static void ws_handle_text(tc_stream *s, const char *data, size_t len)
{
    if (s->refusing) return; /* closed by us for policy: nothing more is done */
    if (s->end_at && uv_now(s->ss->loop) >= s->end_at) {
        /* 1008: policy violation — the stream outlived what it was allowed. */
        tc_ws_close(s->ws, 1008, s->ss->opts.expired_reason);
        return;
    }
    if (s->hooks && s->hooks->on_text) s->hooks->on_text(s, s->ctx, data, len);
}

/* Handles backlogged messages while the connection has its share of the
 * turn; all: every one, even on a closing connection (the peer's close or
 * ours came after them). True when none is left. */
static bool ws_drain_backlog(tc_stream *s, bool all)
{
    size_t off = 0;
    while (off < s->backlog.len &&
           (all || (!tc_conn_is_closing(s->conn) && tc_conn_spend(s->conn)))) {
        uint32_t n;
        memcpy(&n, s->backlog.base + off, sizeof n);
        off += sizeof n;
        ws_handle_text(s, s->backlog.base + off, n);
        off += n;
    }
    /* On a closing connection stream_closed carries out the rest. */
    tc_buf_consume(&s->backlog, off);
    if (s->backlog.len == 0) tc_buf_free(&s->backlog);
    return s->backlog.len == 0;
}

static void ws_on_text(void *ctx, const char *data, size_t len)
{
    tc_stream *s = ctx;
    if (s->backlog.len == 0 && tc_conn_spend(s->conn)) {
        ws_handle_text(s, data, len);
        return;
    }
    /* Past this connection's share of the turn: kept, in order, for the next
     * turns (ws_on_ready). */
    uint32_t n = (uint32_t)len;
    tc_buf_append(&s->backlog, (const char *)&n, sizeof n);
    tc_buf_append(&s->backlog, data, len);
}

static void ws_on_closed(void *ctx, uint16_t code)
{
    tc_stream *s = ctx;
    (void)code;
    /* The peer's close came after these: what they ask is still done (their
     * answers can no longer be sent). */
    ws_drain_backlog(s, true);
    tc_conn_close(s->conn);
}

static void ws_on_read(tc_conn *c, const char *data, size_t len)
{
    tc_stream *s = tc_conn_state(c);
    s->last_rx = uv_now(s->ss->loop);
    s->in_feed = true;
    tc_ws_feed(s->ws, data, len);
    s->in_feed = false;
    if (s->close_code) {
        tc_ws_close(s->ws, s->close_code, s->close_reason);
        s->close_code = 0;
        tc_buf_free(&s->backlog);
    }
    if (s->backlog.len && !tc_conn_is_closing(c)) tc_conn_defer(c);
}

static void ws_on_ready(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    if (ws_drain_backlog(s, false))
        tc_conn_resume(c);
    else if (!tc_conn_is_closing(c))
        tc_conn_defer(c);
}

/* The next moment something is due: a ping, the silence limit, the end of
 * the stream's lifetime. */
static void ws_schedule(tc_stream *s)
{
    uint64_t ping = s->ss->opts.ws_ping_ms;
    uint64_t now = uv_now(s->ss->loop);
    uint64_t at = s->last_rx + ping * WS_SILENT_HALF_PERIODS / 2;
    if (s->last_ping + ping < at) at = s->last_ping + ping;
    if (s->end_at && s->end_at < at) at = s->end_at;
    tc_conn_set_deadline(s->conn, at > now ? at - now : 1);
}

static void ws_on_deadline(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    uint64_t now = uv_now(s->ss->loop);
    if (!tc_ws_close_sent(s->ws) && s->end_at && now >= s->end_at) {
        tc_ws_close(s->ws, 1008, s->ss->opts.expired_reason);
        tc_conn_set_deadline(c, WS_CLOSE_WAIT_MS);
        s->last_rx = 0;
        return;
    }
    uint64_t ping = s->ss->opts.ws_ping_ms;
    if (tc_ws_close_sent(s->ws) || now >= s->last_rx + ping * WS_SILENT_HALF_PERIODS / 2) {
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
    tc_stream *s = tc_conn_state(c);
    if (tc_ws_close(s->ws, 1001, "server shutting down") != 0) {
        tc_conn_close(c);
        return;
    }
    /* Wait briefly for the peer's close; the sweep aborts after that. */
    s->last_rx = 0;
    tc_conn_set_deadline(c, WS_CLOSE_WAIT_MS);
}

static const tc_proto ws_proto = {
    .name = "ws",
    .on_read = ws_on_read,
    .on_eof = tc_conn_abort,
    .on_deadline = ws_on_deadline,
    .on_shutdown = ws_on_shutdown,
    .on_closed = stream_closed,
    .on_ready = ws_on_ready,
};

tc_stream *tc_stream_ws(tc_streams *ss, tc_conn *c, const tc_stream_params *p)
{
    tc_stream *s = stream_new(ss, c, p, TC_SUB_WS, ws_deliver);
    tc_ws_callbacks cb = {
        .ctx = s, .write = ws_write, .on_text = ws_on_text, .on_closed = ws_on_closed};
    s->ws = tc_ws_new(&cb, ss->opts.ws_max_message);
    uint64_t now = uv_now(ss->loop);
    s->last_rx = s->last_ping = now;
    s->end_at = p->lifetime_ms ? now + p->lifetime_ms : 0;
    ws_send(s, TC_WIRE_CONNECTED, TC_WIRE_CONNECTED_MESSAGE, NULL, 0, tc_clock_epoch_ms());
    tc_conn_set_proto(c, &ws_proto, s);
    stream_subscribe(s);
    ws_schedule(s);
    return s;
}

void tc_stream_ws_feed(tc_stream *s, tc_view bytes)
{
    if (bytes.len && !s->gone && !tc_conn_is_closing(s->conn))
        ws_on_read(s->conn, bytes.base, bytes.len);
}

bool tc_stream_ws_reply(tc_stream *s, const char *type, const char *message, const char *data,
                        size_t len, int64_t version)
{
    if (!tc_stream_is_open(s)) return false;
    bool stale = version >= 0 && version < s->sent_version;
    /* The client shows this version now: a later broadcast of the same
     * version would be a duplicate, and after a stale answer any newer
     * version must be sent again. */
    if (version >= 0 && (stale || version > s->sent_version)) s->sent_version = version;
    ws_send(s, type, message, data, len, tc_clock_epoch_ms());
    return stale;
}

void tc_stream_ws_close(tc_stream *s, uint16_t code, const char *reason)
{
    if (s->sub.kind != TC_SUB_WS || s->gone) return;
    s->refusing = true;
    if (s->in_feed) {
        if (s->close_code == 0) {
            s->close_code = code;
            s->close_reason = reason;
        }
        return;
    }
    tc_ws_close(s->ws, code, reason);
}

/* ===== both ==================================================================== */

void tc_stream_send_cart(tc_stream *s, int64_t version, tc_view json, int64_t timestamp_ms)
{
    if (!tc_stream_is_open(s)) return;
    if (s->sent_version < 0 && version == s->shown_version) {
        /* The client already shows this version: nothing to send. */
        s->sent_version = version;
        return;
    }
    if (version <= s->sent_version) return;
    tc_hub_event ev = {.table_id = s->sub.table_id,
                       .version = version,
                       .json = json,
                       .timestamp_ms = timestamp_ms};
    /* A snapshot, not a change being published: its delivery is not timed. */
    uint64_t publishing = s->ss->committed_ns;
    s->ss->committed_ns = 0;
    s->sub.deliver(&s->sub, &ev);
    s->ss->committed_ns = publishing;
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
}

/* One event's frames, built on first use and shared by the streams. */
typedef struct {
    const char *name, *message;
    tc_view json;
    int64_t timestamp_ms;
    tc_sse_frame sse;
    tc_rbuf *ws;
    size_t written;
} event_frames;

static void event_write(tc_sub *sub, void *ctx)
{
    tc_stream *s = (tc_stream *)sub;
    event_frames *ev = ctx;
    if (!tc_stream_is_open(s)) return;
    ev->written++;
    if (sub->kind == TC_SUB_SSE) {
        if (ev->sse.buf == NULL)
            ev->sse = tc_sse_frame_new(ev->name, NULL, ev->json.base, ev->json.len, -1);
        sse_write(s, &ev->sse, TC_WQ_PLAIN);
        return;
    }
    if (!tc_ws_can_inject(s->ws)) {
        /* wslay has a frame of its own on the way: let it order ours. */
        ws_send(s, ev->name, ev->message, ev->json.base, ev->json.len, ev->timestamp_ms);
        return;
    }
    if (ev->ws == NULL) {
        tc_buf msg = TC_BUF_INIT;
        tc_ws_message(&msg, ev->name, ev->message, ev->json.base, ev->json.len, ev->timestamp_ms);
        ev->ws = tc_ws_text_frame(msg.base, msg.len);
        tc_buf_free(&msg);
    }
    tc_conn_write_rbuf(s->conn, ev->ws, 0, ev->ws->len, TC_WQ_PLAIN);
}

static size_t event_send(tc_streams *ss, tc_stream *one, int32_t table_id, const char *name,
                         const char *message, tc_view json, int64_t timestamp_ms)
{
    event_frames ev = {
        .name = name, .message = message, .json = json, .timestamp_ms = timestamp_ms};
    if (one)
        event_write(&one->sub, &ev);
    else
        tc_hub_each_of_table(ss->hub, table_id, event_write, &ev);
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
    return ev.written;
}

size_t tc_streams_send_event(tc_streams *ss, int32_t table_id, const char *name,
                             const char *message, tc_view json, int64_t timestamp_ms)
{
    return event_send(ss, NULL, table_id, name, message, json, timestamp_ms);
}

void tc_stream_send_event(tc_stream *s, const char *name, const char *message, tc_view json,
                          int64_t timestamp_ms)
{
    event_send(s->ss, s, s->sub.table_id, name, message, json, timestamp_ms);
}

bool tc_streams_has_table(tc_streams *ss, int32_t table_id)
{
    return tc_hub_has_table(ss->hub, table_id);
}

void tc_stream_hold(tc_stream *s)
{
    s->holds++;
}

void tc_stream_release(tc_stream *s)
{
    s->holds--;
    stream_free_if_done(s);
}

bool tc_stream_is_open(const tc_stream *s)
{
    return !s->gone && !tc_conn_is_closing(s->conn) &&
           !(s->sub.kind == TC_SUB_WS && tc_ws_close_sent(s->ws));
}

int32_t tc_stream_table(const tc_stream *s)
{
    return s->sub.table_id;
}

uint64_t tc_stream_conn_id(const tc_stream *s)
{
    return tc_conn_id(s->conn);
}

const tc_addr *tc_stream_client(const tc_stream *s)
{
    return tc_conn_client(s->conn);
}

/* ===== the set of streams ====================================================== */

tc_streams *tc_streams_new(uv_loop_t *loop, const tc_streams_opts *o)
{
    tc_streams *ss = tc_xcalloc(1, sizeof *ss);
    ss->loop = loop;
    ss->opts = *o;
    ss->hub = tc_hub_new();
    ss->hello = tc_sse_frame_new(TC_WIRE_CONNECTED, NULL, TC_WIRE_CONNECTED_MESSAGE,
                                 strlen(TC_WIRE_CONNECTED_MESSAGE), TC_WIRE_SSE_RETRY_MS);
    ss->heartbeat_frame = tc_sse_frame_new(TC_WIRE_HEARTBEAT, NULL, TC_WIRE_HEARTBEAT_DATA,
                                           strlen(TC_WIRE_HEARTBEAT_DATA), -1);
    uv_timer_init(loop, &ss->heartbeat);
    ss->heartbeat.data = ss;
    uv_timer_start(&ss->heartbeat, on_heartbeat, o->heartbeat_ms, o->heartbeat_ms);
    return ss;
}

void tc_streams_stop(tc_streams *ss)
{
    uv_close((uv_handle_t *)&ss->heartbeat, NULL);
}

void tc_streams_free(tc_streams *ss)
{
    if (!ss) return;
    tc_sse_frame_release(&ss->hello);
    tc_sse_frame_release(&ss->heartbeat_frame);
    tc_hub_free(ss->hub);
    free(ss);
}

const tc_streams_stats *tc_streams_stats_of(const tc_streams *ss)
{
    return &ss->stats;
}

size_t tc_streams_publish(tc_streams *ss, int32_t table_id, int64_t version, tc_view json,
                          uint64_t origin, int64_t timestamp_ms, uint64_t committed_ns)
{
    ss->committed_ns = committed_ns;
    size_t n = tc_hub_publish(ss->hub, table_id, version, json, origin, timestamp_ms);
    ss->committed_ns = 0;
    return n;
}
