/* stream.c — subscriber streams (push/stream.h): SSE and WebSocket streams
 * of a table, their hub subscription, snapshot, conflation, heartbeats,
 * pings, lifetime and close.
 *
 * Longer than 500 lines on purpose: both transports share one stream
 * state, kept in the connection's tail, and every path that ends a stream
 * must release it the same way. */
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

/* The WebSocket times are kept in units of this many ms of loop time, in 32
 * bits compared with wrap-around (like the connection's deadline): a
 * deadline lies at most 2^31 units (~795 days) ahead, longer ones are
 * clamped; the sweep's resolution (250 ms) is coarser anyway. */
#define WS_UNIT_MS 32
#define WS_UNITS_MAX INT32_MAX

struct tc_streams {
    uv_loop_t *loop;
    tc_streams_opts opts;
    tc_hub *hub;
    tc_ws_callbacks ws_cb; /* the same for every WebSocket */
    uv_timer_t heartbeat;
    tc_sse_frame hello;           /* retry + connected, shared by every SSE stream */
    tc_sse_frame heartbeat_frame; /* shared by every SSE stream */
    tc_streams_stats stats;
    uint64_t committed_ns; /* the commit time of the change being published now, else 0 */
};

/* sub.owner bits */
#define STREAM_GONE 1u    /* the connection is closed */
#define STREAM_CHUNKED 2u /* SSE: HTTP/1.1 chunked framing */

/* One per connection, in the connection's tail (tc_conn_tail: the same heap
 * block, docs/memory.md), so it holds only what an idle SSE stream needs; the
 * connection, the set of streams (its tail_ctx) and the holds (the
 * connection's references) are the connection's. A WebSocket's own state is
 * one more block: its tc_ws, then ws_part, then the layer above's bytes. */
struct tc_stream {
    tc_sub sub; /* first: the hub hands it back to deliver */
    /* The newest cart version written to this stream; before the first, -1
     * or -2 - v when the client said it shows version v (Last-Event-ID):
     * negative either way, so no version (>= 0) counts as sent. */
    int64_t sent;
    union {
        unsigned char user[TC_STREAM_SSE_USER]; /* SSE: the layer above's bytes */
        tc_ws *ws;                              /* WebSocket: its block */
    } u;
};

_Static_assert(sizeof(tc_stream) == TC_STREAM_CONN_TAIL, "TC_STREAM_CONN_TAIL is the stream");

/* What a message still waiting needs, allocated only then. */
typedef struct {
    /* Messages read past the connection's share of a loop turn, in order,
     * each a uint32_t length then its bytes; reading waits until they are
     * handled (at most one read's worth). */
    tc_buf backlog;
    /* A close asked for while tc_ws_feed runs waits until it returns, so it
     * follows the answers already queued (wslay sends control frames first). */
    const char *close_reason;
    uint16_t close_code; /* 0: none pending */
} ws_pending;

/* A WebSocket stream's part of its block (after the tc_ws). */
typedef struct {
    uint32_t last_rx, last_ping; /* WS_UNIT_MS units of loop time, rounded down */
    uint32_t end_at;             /* units, rounded up; valid when has_end */
    bool has_end : 1;            /* the stream has a lifetime */
    bool in_feed : 1;            /* inside tc_ws_feed */
    bool refusing : 1;           /* we closed it for policy: later messages are dropped */
    /* Our close waits for the answers owed (ws_answered): the server stops
     * (1001), the stream's lifetime is over (1008). */
    bool shutdown_waits : 1;
    bool expiry_waits : 1;
    ws_pending *pending; /* NULL: no message or close waits */
} ws_part;

static tc_conn *conn_of(const tc_stream *s)
{
    return tc_conn_of_tail(s);
}

static tc_streams *ss_of(const tc_stream *s)
{
    return tc_conn_tail_ctx(conn_of(s));
}

static bool is_ws(const tc_stream *s)
{
    return s->sub.kind == TC_SUB_WS;
}

static ws_part *wsp(const tc_stream *s)
{
    return tc_ws_extra(s->u.ws);
}

static tc_buf *backlog_of(tc_stream *s)
{
    ws_part *w = wsp(s);
    return w->pending ? &w->pending->backlog : NULL;
}

static ws_pending *pending_of(tc_stream *s)
{
    ws_part *w = wsp(s);
    if (w->pending == NULL) w->pending = tc_xcalloc(1, sizeof *w->pending);
    return w->pending;
}

/* Frees the pending state once nothing waits in it. */
static void pending_trim(tc_stream *s)
{
    ws_part *w = wsp(s);
    if (w->pending && w->pending->backlog.len == 0 && w->pending->close_code == 0) {
        tc_buf_free(&w->pending->backlog);
        free(w->pending);
        w->pending = NULL;
    }
}

/* The connection's last reference is gone (its on_closed ran before): the
 * layer above releases its part, then the WebSocket's block goes. */
static void stream_free(tc_conn *c)
{
    tc_stream *s = tc_conn_tail(c, sizeof *s);
    tc_streams *ss = tc_conn_tail_ctx(c);
    if (ss->opts.hooks && ss->opts.hooks->on_free) ss->opts.hooks->on_free(ss->opts.hooks_ctx, s);
    if (is_ws(s)) {
        ws_part *w = wsp(s);
        if (w->pending) {
            tc_buf_free(&w->pending->backlog);
            free(w->pending);
        }
        tc_ws_free(s->u.ws);
    }
}

static uint64_t *open_gauge(tc_stream *s)
{
    tc_streams *ss = ss_of(s);
    return s->sub.kind == TC_SUB_SSE ? &ss->stats.open_sse : &ss->stats.open_ws;
}

static bool ws_drain_backlog(tc_stream *s, bool all);

/* The connection is gone: leave the hub. The stream is freed with the
 * connection, once no call holds it (stream_free). */
static void stream_closed(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    tc_streams *ss = ss_of(s);
    /* Messages it sent before it was closed (say, as a client that stopped
     * reading) are still carried out; only their answers are lost. */
    if (is_ws(s) && backlog_of(s) && backlog_of(s)->len) ws_drain_backlog(s, true);
    tc_hub_unsubscribe(ss->hub, &s->sub);
    (*open_gauge(s))--;
    if (ss->opts.follow) ss->opts.follow(ss->opts.follow_ctx, s->sub.table_id, false);
    if (tc_conn_was_slow(c)) ss->stats.slow_closed++;
    s->sub.owner |= STREAM_GONE;
}

static tc_stream *stream_new(tc_streams *ss, tc_conn *c, const tc_stream_params *p,
                             tc_sub_kind kind)
{
    tc_stream *s = tc_conn_tail(c, sizeof *s);
    if (s == NULL || tc_conn_tail_ctx(c) != ss) {
        tc_log_error("stream: the server reserves no stream after its connections");
        abort();
    }
    s->sent = p->shown_version >= 0 ? -2 - p->shown_version : -1;
    s->sub = (tc_sub){.table_id = p->table_id, .kind = (uint8_t)kind};
    return s;
}

static uint64_t stream_conn_id(const tc_sub *sub)
{
    return tc_conn_id(conn_of((const tc_stream *)sub));
}

/* Subscribes s (before the caller reads the snapshot, so that no change can
 * fall in between) and counts it. */
static void stream_subscribe(tc_stream *s)
{
    tc_streams *ss = ss_of(s);
    tc_hub_subscribe(ss->hub, &s->sub);
    (*open_gauge(s))++;
    if (ss->opts.follow) ss->opts.follow(ss->opts.follow_ctx, s->sub.table_id, true);
}

/* ===== SSE ===================================================================== */

static void sse_write(tc_stream *s, const tc_sse_frame *f, tc_wq_kind kind)
{
    if (s->sub.owner & STREAM_CHUNKED)
        tc_conn_write_rbuf(conn_of(s), f->buf, 0, f->buf->len, kind);
    else
        tc_conn_write_rbuf(conn_of(s), f->buf, f->body_off, f->body_len, kind);
}

static void sse_deliver(tc_stream *s, tc_hub_event *ev)
{
    tc_streams *ss = ss_of(s);
    const tc_sse_frame *f = tc_hub_event_sse(ev);
    if (s->sub.owner & STREAM_CHUNKED)
        tc_conn_write_cart(conn_of(s), f->buf, 0, f->buf->len, ss->committed_ns);
    else
        tc_conn_write_cart(conn_of(s), f->buf, f->body_off, f->body_len, ss->committed_ns);
    ss->stats.events_sse++;
}

/* End of stream: the last chunk, then close (the browser reconnects). */
static void sse_end(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    if (s->sub.owner & STREAM_CHUNKED) {
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
    .on_free = stream_free,
};

tc_stream *tc_stream_sse(tc_streams *ss, tc_conn *c, const tc_stream_params *p)
{
    if (p->user_size > TC_STREAM_SSE_USER) abort(); /* the caller's mistake */
    tc_stream *s = stream_new(ss, c, p, TC_SUB_SSE);
    if (p->chunked) s->sub.owner |= STREAM_CHUNKED;
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
    sse_write(s, &ss_of(s)->heartbeat_frame, TC_WQ_HEARTBEAT);
}

static void on_heartbeat(uv_timer_t *t)
{
    tc_streams *ss = t->data;
    tc_hub_foreach(ss->hub, TC_SUB_SSE, heartbeat_one, NULL);
}

/* ===== WebSocket =============================================================== */

/* Loop time in WS_UNIT_MS units, rounded down. */
static uint32_t ws_now(const tc_streams *ss)
{
    return (uint32_t)(uv_now(ss->loop) / WS_UNIT_MS);
}

/* A duration of ms in units, rounded up, clamped to WS_UNITS_MAX - 2 (so
 * that one unit more is still ahead when compared with wrap-around). */
static uint32_t ws_units(uint64_t ms)
{
    uint64_t u = (ms + WS_UNIT_MS - 1) / WS_UNIT_MS;
    return u > WS_UNITS_MAX - 2 ? WS_UNITS_MAX - 2 : (uint32_t)u;
}

/* Units from now until t (negative: past), with wrap-around. */
static int64_t ws_until(uint32_t t, uint32_t now)
{
    return (int32_t)(t - now);
}

/* A ping is due one period after the last (a unit more: times are rounded
 * down); the peer is dead when silent 2.5 periods (and a unit). */
static uint32_t ws_ping_units(const tc_streams *ss)
{
    return ws_units(ss->opts.ws_ping_ms) + 1;
}

static uint32_t ws_silent_units(const tc_streams *ss)
{
    return ws_units(ss->opts.ws_ping_ms * WS_SILENT_HALF_PERIODS / 2) + 1;
}

static void ws_write(void *ctx, const char *data, size_t len)
{
    tc_stream *s = ctx;
    tc_conn_write(conn_of(s), data, len);
}

/* Returns tc_ws_send_text's result: TC_ECLOSED once our close is queued. */
static int ws_send(tc_stream *s, const char *type, const char *message, const char *data,
                   size_t len, int64_t timestamp_ms)
{
    tc_buf msg = TC_BUF_INIT;
    tc_ws_message(&msg, type, message, data, len, timestamp_ms);
    int r = tc_ws_send_text(s->u.ws, msg.base, msg.len);
    tc_buf_free(&msg);
    return r;
}

static void ws_deliver(tc_stream *s, tc_hub_event *ev)
{
    tc_streams *ss = ss_of(s);
    if (tc_ws_can_inject(s->u.ws)) {
        tc_rbuf *f = tc_hub_event_ws(ev);
        tc_conn_write_cart(conn_of(s), f, 0, f->len, ss->committed_ns);
        ss->stats.events_ws++;
    } else if (ws_send(s, TC_WIRE_CART_UPDATE, TC_WIRE_CART_UPDATE_MESSAGE, ev->json.base,
                       ev->json.len, ev->timestamp_ms) == 0) {
        /* wslay had a frame of its own on the way: it ordered ours. Nothing
         * goes after our close, and nothing is counted then. */
        ss->stats.events_ws++;
    }
}

static void stream_deliver(tc_sub *sub, tc_hub_event *ev)
{
    tc_stream *s = (tc_stream *)sub;
    if (ev->version <= s->sent) return;
    s->sent = ev->version;
    if (is_ws(s))
        ws_deliver(s, ev);
    else
        sse_deliver(s, ev);
}

static const tc_hub_ops hub_ops = {.deliver = stream_deliver, .conn_id = stream_conn_id};

/* True once the stream's lifetime is over. */
static bool ws_expired(const tc_stream *s, uint32_t now)
{
    ws_part *w = wsp(s);
    return w->has_end && ws_until(w->end_at, now) <= 0;
}

static void ws_expire(tc_stream *s);

/* True while the layer above takes no more of s's messages for now. */
static bool ws_full(tc_stream *s)
{
    tc_streams *ss = ss_of(s);
    return ss->opts.hooks && ss->opts.hooks->full && ss->opts.hooks->full(ss->opts.hooks_ctx, s);
}

/* Messages wait in the backlog: read on at the next turn, or, while the
 * layer above is full, when it says it is idle (tc_stream_ws_idle). */
static void ws_wait(tc_stream *s)
{
    if (ws_full(s))
        tc_conn_pause(conn_of(s));
    else
        tc_conn_defer(conn_of(s));
}

static void ws_handle_text(tc_stream *s, const char *data, size_t len)
{
    tc_streams *ss = ss_of(s);
    if (wsp(s)->refusing) return; /* closed by us for policy: nothing more is done */
    if (ws_expired(s, ws_now(ss))) {
        ws_expire(s);
        return;
    }
    if (ss->opts.hooks && ss->opts.hooks->on_text)
        ss->opts.hooks->on_text(ss->opts.hooks_ctx, s, data, len);
}

/* Handles backlogged messages while the connection has its share of the
 * turn; all: every one, even on a closing connection (the peer's close or
 * ours came after them). True when none is left. */
static bool ws_drain_backlog(tc_stream *s, bool all)
{
    tc_buf *b = backlog_of(s);
    if (b == NULL) return true;
    tc_conn *c = conn_of(s);
    size_t off = 0;
    while (off < b->len && (all || (!tc_conn_is_closing(c) && !ws_full(s) && tc_conn_spend(c)))) {
        uint32_t n;
        memcpy(&n, b->base + off, sizeof n);
        off += sizeof n;
        ws_handle_text(s, b->base + off, n);
        b = backlog_of(s); /* still there: only this function consumes it */
        off += n;
    }
    /* On a closing connection stream_closed carries out the rest. */
    tc_buf_consume(b, off);
    bool done = b->len == 0;
    if (done) tc_buf_free(b);
    pending_trim(s);
    return done;
}

static void ws_on_text(void *ctx, const char *data, size_t len)
{
    tc_stream *s = ctx;
    tc_buf *b = backlog_of(s);
    if ((b == NULL || b->len == 0) && !ws_full(s) && tc_conn_spend(conn_of(s))) {
        ws_handle_text(s, data, len);
        return;
    }
    /* Past this connection's share of the turn, or the layer above full:
     * kept, in order, for the next turns (ws_on_ready) or until it is idle. */
    b = &pending_of(s)->backlog;
    uint32_t n = (uint32_t)len;
    tc_buf_append(b, (const char *)&n, sizeof n);
    tc_buf_append(b, data, len);
}

static void ws_on_closed(void *ctx, uint16_t code)
{
    tc_stream *s = ctx;
    (void)code;
    /* The peer's close came after these: what they ask is still done (their
     * answers can no longer be sent). */
    ws_drain_backlog(s, true);
    tc_conn_close(conn_of(s));
}

/* True while messages the client sent are unanswered: those in the
 * backlog, or those the layer above is still answering. */
static bool ws_owes_answers(tc_stream *s)
{
    tc_streams *ss = ss_of(s);
    if (backlog_of(s) && backlog_of(s)->len) return true;
    return ss->opts.hooks && ss->opts.hooks->busy && ss->opts.hooks->busy(ss->opts.hooks_ctx, s);
}

/* The peer's close waits while the messages before it are unanswered. */
static bool ws_hold_close(void *ctx)
{
    return ws_owes_answers(ctx);
}

/* Sends a close of ours and gives the peer WS_CLOSE_WAIT_MS to answer it:
 * the next deadline drops the connection after that. Returns tc_ws_close's
 * result (nonzero: nothing was sent, the session is over). */
static int ws_close_and_wait(tc_stream *s, uint16_t code, const char *reason)
{
    int r = tc_ws_close(s->u.ws, code, reason);
    if (r == 0) tc_conn_set_deadline(conn_of(s), WS_CLOSE_WAIT_MS);
    return r;
}

/* Our close (the server stops, the lifetime is over), then a short wait
 * for the peer's. A close that waited for answers had reading paused: it
 * reads again, for the peer's close (nothing else is done with what it
 * reads). */
static void ws_our_close(tc_stream *s, uint16_t code, const char *reason)
{
    tc_conn *c = conn_of(s);
    ws_part *w = wsp(s);
    bool waited = w->shutdown_waits || w->expiry_waits;
    w->shutdown_waits = w->expiry_waits = false;
    if (ws_close_and_wait(s, code, reason) != 0) {
        tc_conn_close(c);
        return;
    }
    if (waited && !tc_ws_close_held(s->u.ws)) tc_conn_resume(c);
}

/* Everything the client sent is answered: a close that waited goes now. */
static void ws_answered(tc_stream *s)
{
    ws_part *w = wsp(s);
    if (!(w->shutdown_waits || w->expiry_waits) || tc_conn_is_closing(conn_of(s)) ||
        ws_owes_answers(s))
        return;
    if (w->shutdown_waits)
        ws_our_close(s, 1001, "server shutting down");
    else
        ws_our_close(s, 1008, ss_of(s)->opts.expired_reason);
}

/* The stream outlived what it was allowed: 1008, policy violation. What the
 * client sent before is answered first (a change with the store is
 * committed: a client told nothing would send it again), for at most
 * WS_CLOSE_WAIT_MS; nothing more it sends is read or done. */
static void ws_expire(tc_stream *s)
{
    tc_conn *c = conn_of(s);
    ws_part *w = wsp(s);
    w->refusing = true;
    if (!w->expiry_waits && tc_stream_is_open(s) && ws_owes_answers(s)) {
        w->expiry_waits = true;
        tc_conn_pause(c);
        tc_conn_set_deadline(c, WS_CLOSE_WAIT_MS);
        return;
    }
    ws_our_close(s, 1008, ss_of(s)->opts.expired_reason);
}

/* Feeds data to the session (NULL: the close it held), then sends a close
 * asked for meanwhile; reading pauses while messages wait in the backlog or
 * the peer's close is held. */
static void ws_feed(tc_stream *s, const char *data, size_t len)
{
    tc_conn *c = conn_of(s);
    ws_part *w = wsp(s);
    w->in_feed = true;
    if (data)
        tc_ws_feed(s->u.ws, data, len);
    else
        tc_ws_resume(s->u.ws);
    w->in_feed = false;
    if (w->pending && w->pending->close_code) {
        ws_close_and_wait(s, w->pending->close_code, w->pending->close_reason);
        w->pending->close_code = 0;
        tc_buf_free(&w->pending->backlog);
        pending_trim(s);
    }
    if (tc_conn_is_closing(c)) return;
    if (backlog_of(s) && backlog_of(s)->len)
        ws_wait(s);
    else if (tc_ws_close_held(s->u.ws))
        tc_conn_pause(c);
    else if (data == NULL)
        tc_conn_resume(c); /* the close let in was not all of it: read on */
}

static void ws_on_read(tc_conn *c, const char *data, size_t len)
{
    tc_stream *s = tc_conn_state(c);
    wsp(s)->last_rx = ws_now(ss_of(s));
    ws_feed(s, data, len);
}

static void ws_on_ready(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    if (!ws_drain_backlog(s, false)) {
        if (!tc_conn_is_closing(c)) ws_wait(s);
    } else if (tc_ws_close_held(s->u.ws)) {
        ws_feed(s, NULL, 0);
    } else if (wsp(s)->shutdown_waits || wsp(s)->expiry_waits) {
        ws_answered(s); /* our close is next (reading resumes for its answer) */
    } else {
        tc_conn_resume(c);
    }
}

void tc_stream_ws_idle(tc_stream *s)
{
    if (!is_ws(s) || (s->sub.owner & STREAM_GONE)) return;
    if (backlog_of(s) && backlog_of(s)->len) {
        /* ws_on_ready takes the messages that waited, and resumes reading. */
        if (!tc_conn_is_closing(conn_of(s))) tc_conn_defer(conn_of(s));
        return;
    }
    if (tc_ws_close_held(s->u.ws)) ws_feed(s, NULL, 0);
    ws_answered(s);
}

/* Sets the connection's deadline to the next moment something is due: a
 * ping, the silence limit, the end of the stream's lifetime. */
static void ws_schedule(tc_stream *s)
{
    tc_streams *ss = ss_of(s);
    ws_part *w = wsp(s);
    uint32_t now = ws_now(ss);
    int64_t in = ws_until(w->last_rx + ws_silent_units(ss), now);
    int64_t ping = ws_until(w->last_ping + ws_ping_units(ss), now);
    if (ping < in) in = ping;
    if (w->has_end && ws_until(w->end_at, now) < in) in = ws_until(w->end_at, now);
    uint64_t ms = 1;
    /* From now, not from the start of its unit. */
    if (in > 0) ms = (uint64_t)in * WS_UNIT_MS - uv_now(ss->loop) % WS_UNIT_MS;
    tc_conn_set_deadline(conn_of(s), ms);
}

static void ws_on_deadline(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    tc_streams *ss = ss_of(s);
    ws_part *w = wsp(s);
    uint32_t now = ws_now(ss);
    if (!tc_ws_close_sent(s->u.ws) && ws_expired(s, now)) {
        ws_expire(s); /* a second time: the answers did not come in time */
        return;
    }
    bool silent = ws_until(w->last_rx + ws_silent_units(ss), now) <= 0;
    if (silent && !tc_ws_close_sent(s->u.ws) &&
        (tc_conn_grace_unread(c) ||
         tc_conn_peer_acked(c, ss->opts.ws_ping_ms * WS_SILENT_HALF_PERIODS / 2))) {
        /* The peer spoke, not read yet; or it is reading what we sent, only
         * slowly, our pings behind what the kernel holds for it: it counts
         * as heard now. */
        w->last_rx = now;
        silent = false;
    }
    if (tc_ws_close_sent(s->u.ws) || silent) {
        char peer[80];
        tc_log_info("ws conn %llu %s: no answer, dropped", (unsigned long long)tc_conn_id(c),
                    tc_conn_peer(c, peer, sizeof peer));
        tc_conn_abort(c);
        return;
    }
    if (ws_until(w->last_ping + ws_ping_units(ss), now) <= 0) {
        tc_ws_send_ping(s->u.ws);
        w->last_ping = now;
    }
    ws_schedule(s);
}

static void ws_on_shutdown(tc_conn *c)
{
    tc_stream *s = tc_conn_state(c);
    if (tc_stream_is_open(s) && ws_owes_answers(s)) {
        /* What the client sent before is answered first (a change with the
         * store is committed: a client told nothing would send it again),
         * as an HTTP request in flight is; nothing more is read. The last
         * answer sends the 1001 (ws_answered); the server's grace period
         * bounds the wait. */
        wsp(s)->shutdown_waits = true;
        tc_conn_pause(c);
        return;
    }
    ws_our_close(s, 1001, "server shutting down");
}

static const tc_proto ws_proto = {
    .name = "ws",
    .on_read = ws_on_read,
    .on_eof = tc_conn_abort,
    .on_deadline = ws_on_deadline,
    .on_shutdown = ws_on_shutdown,
    .on_closed = stream_closed,
    .on_ready = ws_on_ready,
    .on_free = stream_free,
};

tc_stream *tc_stream_ws(tc_streams *ss, tc_conn *c, const tc_stream_params *p)
{
    tc_stream *s = stream_new(ss, c, p, TC_SUB_WS);
    s->u.ws = tc_ws_new(&ss->ws_cb, s, sizeof(ws_part) + p->user_size);
    ws_part *w = wsp(s);
    uint32_t now = ws_now(ss);
    w->last_rx = w->last_ping = now;
    if (p->lifetime_ms) {
        w->has_end = true;
        /* Rounded up: never before it; clamped like every time here. */
        uint64_t end_ms = uv_now(ss->loop) + p->lifetime_ms;
        w->end_at = ws_units(p->lifetime_ms) >= WS_UNITS_MAX - 2
                        ? now + WS_UNITS_MAX - 1
                        : (uint32_t)((end_ms + WS_UNIT_MS - 1) / WS_UNIT_MS & UINT32_MAX);
    }
    ws_send(s, TC_WIRE_CONNECTED, TC_WIRE_CONNECTED_MESSAGE, NULL, 0, tc_clock_epoch_ms());
    tc_conn_set_proto(c, &ws_proto, s);
    stream_subscribe(s);
    ws_schedule(s);
    return s;
}

void tc_stream_ws_feed(tc_stream *s, tc_view bytes)
{
    tc_conn *c = conn_of(s);
    /* Gone: its connection is closed (stream_closed), nothing to read. */
    if ((s->sub.owner & STREAM_GONE) || tc_conn_is_closing(c)) return;
    if (bytes.len) ws_on_read(c, bytes.base, bytes.len);
    /* Reading goes on, unless those bytes left messages waiting (the
     * backlog's turn resumes it), a close held for their answers, or our
     * close waiting for them. */
    ws_part *w = wsp(s);
    if (!tc_conn_is_closing(c) && !(backlog_of(s) && backlog_of(s)->len) &&
        !tc_ws_close_held(s->u.ws) && !w->shutdown_waits && !w->expiry_waits)
        tc_conn_resume(c);
}

bool tc_stream_ws_reply(tc_stream *s, const char *type, const char *message, const char *data,
                        size_t len, int64_t version)
{
    if (!tc_stream_is_open(s)) return false;
    bool stale = version >= 0 && version < s->sent;
    /* The client shows this version now: a later broadcast of the same
     * version would be a duplicate, and after a stale answer any newer
     * version must be sent again. */
    if (version >= 0 && (stale || version > s->sent)) s->sent = version;
    ws_send(s, type, message, data, len, tc_clock_epoch_ms());
    return stale;
}

void tc_stream_ws_close(tc_stream *s, uint16_t code, const char *reason)
{
    if (!is_ws(s) || (s->sub.owner & STREAM_GONE)) return;
    ws_part *w = wsp(s);
    w->refusing = true;
    if (w->in_feed) {
        ws_pending *p = pending_of(s);
        if (p->close_code == 0) {
            p->close_code = code;
            p->close_reason = reason;
        }
        return;
    }
    ws_close_and_wait(s, code, reason);
}

void *tc_stream_user(tc_stream *s)
{
    return is_ws(s) ? (void *)(wsp(s) + 1) : (void *)s->u.user;
}

/* ===== both ==================================================================== */

void tc_stream_send_cart(tc_stream *s, int64_t version, tc_view json, int64_t timestamp_ms)
{
    if (!tc_stream_is_open(s)) return;
    if (s->sent < -1 && version == -2 - s->sent) {
        /* The client already shows this version: nothing to send. */
        s->sent = version;
        return;
    }
    if (version <= s->sent) return;
    tc_hub_event ev = {.table_id = s->sub.table_id,
                       .version = version,
                       .json = json,
                       .timestamp_ms = timestamp_ms};
    /* A snapshot, not a change being published: its delivery is not timed. */
    tc_streams *ss = ss_of(s);
    uint64_t publishing = ss->committed_ns;
    ss->committed_ns = 0;
    stream_deliver(&s->sub, &ev);
    ss->committed_ns = publishing;
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
}

/* One event's frames, built on first use and shared by the streams. */
typedef struct {
    const char *name, *message;
    tc_view json;
    int64_t timestamp_ms;
    bool after_cart; /* skip streams that had no cart yet */
    tc_sse_frame sse;
    tc_rbuf *ws;
    size_t written;
} event_frames;

static void event_write(tc_sub *sub, void *ctx)
{
    tc_stream *s = (tc_stream *)sub;
    event_frames *ev = ctx;
    if (!tc_stream_is_open(s) || (ev->after_cart && s->sent < 0)) return;
    ev->written++;
    if (sub->kind == TC_SUB_SSE) {
        if (ev->sse.buf == NULL)
            ev->sse = tc_sse_frame_new(ev->name, NULL, ev->json.base, ev->json.len, -1);
        sse_write(s, &ev->sse, TC_WQ_PLAIN);
        return;
    }
    if (!tc_ws_can_inject(s->u.ws)) {
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
    tc_conn_write_rbuf(conn_of(s), ev->ws, 0, ev->ws->len, TC_WQ_PLAIN);
}

static size_t event_send(tc_streams *ss, tc_stream *one, int32_t table_id, const char *name,
                         const char *message, tc_view json, int64_t timestamp_ms, bool after_cart)
{
    event_frames ev = {.name = name,
                       .message = message,
                       .json = json,
                       .timestamp_ms = timestamp_ms,
                       .after_cart = after_cart};
    if (one)
        event_write(&one->sub, &ev);
    else
        tc_hub_each_of_table(ss->hub, table_id, event_write, &ev);
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
    return ev.written;
}

size_t tc_streams_send_event(tc_streams *ss, int32_t table_id, const char *name,
                             const char *message, tc_view json, int64_t timestamp_ms,
                             bool after_cart)
{
    return event_send(ss, NULL, table_id, name, message, json, timestamp_ms, after_cart);
}

void tc_stream_send_event(tc_stream *s, const char *name, const char *message, tc_view json,
                          int64_t timestamp_ms)
{
    event_send(ss_of(s), s, s->sub.table_id, name, message, json, timestamp_ms, false);
}

typedef struct {
    const char *reason;
    size_t n;
} restart_ctx;

static void restart_one(tc_sub *sub, void *ctx)
{
    restart_ctx *rc = ctx;
    tc_stream *s = (tc_stream *)sub;
    if (!tc_stream_is_open(s)) return;
    rc->n++;
    if (is_ws(s))
        tc_stream_ws_close(s, 1012, rc->reason);
    else
        sse_end(conn_of(s));
}

size_t tc_streams_restart(tc_streams *ss, int32_t table_id, const char *reason)
{
    restart_ctx rc = {reason, 0};
    tc_hub_each_of_table(ss->hub, table_id, restart_one, &rc);
    return rc.n;
}

bool tc_streams_has_table(tc_streams *ss, int32_t table_id)
{
    return tc_hub_has_table(ss->hub, table_id);
}

/* A hold is a reference to the connection: the stream is freed with it. */
void tc_stream_hold(tc_stream *s)
{
    tc_conn_ref(conn_of(s));
}

void tc_stream_release(tc_stream *s)
{
    tc_conn_unref(conn_of(s));
}

bool tc_stream_is_open(const tc_stream *s)
{
    return !(s->sub.owner & STREAM_GONE) && !tc_conn_is_closing(conn_of(s)) &&
           !(is_ws(s) && tc_ws_close_sent(s->u.ws));
}

bool tc_stream_is_ws(const tc_stream *s)
{
    return is_ws(s);
}

int32_t tc_stream_table(const tc_stream *s)
{
    return s->sub.table_id;
}

uint64_t tc_stream_conn_id(const tc_stream *s)
{
    return tc_conn_id(conn_of(s));
}

const tc_addr *tc_stream_client(const tc_stream *s)
{
    return tc_conn_client(conn_of(s));
}

/* ===== the set of streams ====================================================== */

tc_streams *tc_streams_new(uv_loop_t *loop, const tc_streams_opts *o)
{
    tc_streams *ss = tc_xcalloc(1, sizeof *ss);
    ss->loop = loop;
    ss->opts = *o;
    ss->hub = tc_hub_new(&hub_ops);
    ss->ws_cb = (tc_ws_callbacks){.write = ws_write,
                                  .on_text = ws_on_text,
                                  .on_closed = ws_on_closed,
                                  .max_message = o->ws_max_message,
                                  .hold_close = ws_hold_close};
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
