/* stream.h — subscriber streams: an SSE or WebSocket connection that receives
 * one table's cart updates. push/ delivers and decides nothing: the layer
 * above (api/live) checks who may listen, reads the snapshot and handles the
 * client's commands; a stream writes frames, conflates cart updates, sends
 * SSE heartbeats and WebSocket pings, ends at its lifetime and closes
 * cleanly at shutdown.
 *
 * Lifetime: a stream lives in its connection's tail (net/conn.h) while the
 * connection is open and, after that, while the layer above holds it
 * (tc_stream_hold: a reference to the connection) for an asynchronous call;
 * when both are over, hooks->on_free runs and the stream is freed with its
 * connection.
 * Every function here runs on the loop thread. */
#ifndef TC_PUSH_STREAM_H
#define TC_PUSH_STREAM_H

#include "core/buf.h"
#include "net/conn.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct tc_streams tc_streams;
typedef struct tc_stream tc_stream;

/* What the layer above hears of its streams; ctx is tc_streams_opts.hooks_ctx
 * and tc_stream_user(s) the stream's own bytes for it. */
typedef struct {
    /* A WebSocket text message from the client (UTF-8, data valid during the
     * call only). */
    void (*on_text)(void *ctx, tc_stream *s, const char *data, size_t len);
    /* The stream is being freed: release what its user bytes hold. Runs
     * exactly once per stream. */
    void (*on_free)(void *ctx, tc_stream *s);
    /* May be NULL. True while answers to a WebSocket's messages are still to
     * come: the client's close, and the server's 1001 at shutdown, wait
     * (nothing more is read) until tc_stream_ws_idle. */
    bool (*busy)(void *ctx, tc_stream *s);
    /* May be NULL. True while the layer above holds as many answers to s's
     * messages as it may (waiting behind a store call's): the messages that
     * follow wait, and nothing more is read, until tc_stream_ws_idle. */
    bool (*full)(void *ctx, tc_stream *s);
} tc_stream_hooks;

/* An idle stream costs what every connection's tail holds (docs/memory.md):
 * a server whose connections may become streams reserves this much after
 * each (tc_server_opts conn_tail, with the streams as tail_ctx). */
#define TC_STREAM_CONN_TAIL 40
/* The layer above's bytes in an SSE stream (tc_stream_params.user_size). */
#define TC_STREAM_SSE_USER 8

typedef struct {
    const tc_stream_hooks *hooks; /* static; may be NULL */
    void *hooks_ctx;
    uint64_t heartbeat_ms;      /* SSE heartbeat period */
    uint64_t ws_ping_ms;        /* WebSocket ping period; a peer silent 2.5 periods is dropped */
    size_t ws_max_message;      /* largest WebSocket message a client may send (1009 above) */
    const char *expired_reason; /* the 1008 close reason at a WebSocket's lifetime end (static) */
    /* May be NULL. Called with on when a stream of table_id starts (before
     * its snapshot is read) and without when it ends, whatever ends it:
     * the calls of one table balance. */
    void (*follow)(void *ctx, int32_t table_id, bool on);
    void *follow_ctx;
} tc_streams_opts;

/* Counters for /metrics. */
typedef struct {
    uint64_t events_sse, events_ws; /* cart updates queued to streams */
    uint64_t open_sse, open_ws;     /* streams open now */
    uint64_t slow_closed;           /* streams closed for not reading */
} tc_streams_stats;

typedef struct {
    int32_t table_id;
    /* How long the stream may live (0: no limit). SSE: the stream ends (the
     * browser reconnects). WebSocket: closed with 1008 and the streams'
     * expired_reason; a message after it closes the same way. */
    uint64_t lifetime_ms;
    /* Bytes kept with the stream for the layer above (tc_stream_user),
     * zeroed: at most TC_STREAM_SSE_USER for SSE. */
    size_t user_size;
    /* SSE only */
    bool chunked;          /* HTTP/1.1: chunked; HTTP/1.0: delimited by close */
    int64_t shown_version; /* the version the client already shows (Last-Event-ID), or -1 */
} tc_stream_params;

/* Every stream of one server: the hub, the shared frames, the heartbeat
 * timer. o is copied. Freed with tc_streams_free. */
tc_streams *tc_streams_new(uv_loop_t *loop, const tc_streams_opts *o);
/* Stops the heartbeat timer (at shutdown, before the loop's last run). */
void tc_streams_stop(tc_streams *ss);
/* Frees what tc_streams_new made; every stream must be gone. NULL is fine. */
void tc_streams_free(tc_streams *ss);
/* The streams' counters (for /metrics), borrowed: they live as long as ss. */
const tc_streams_stats *tc_streams_stats_of(const tc_streams *ss);

/* Fans a committed cart out to every stream of table_id except the one on
 * connection origin (0: none): json is the cart DTO of that version, encoded
 * once and shared by all (borrowed for the call). committed_ns (uv_hrtime)
 * is when the store committed it: each frame's write measures its delivery
 * latency from there (tc_conn_write_cart). Returns how many streams it was
 * offered to (a stream that has sent this version or a newer one skips it;
 * stats count what was sent). */
size_t tc_streams_publish(tc_streams *ss, int32_t table_id, int64_t version, tc_view json,
                          uint64_t origin, int64_t timestamp_ms, uint64_t committed_ns);

/* An event that is not a cart (presence, menu_update: docs/api.md), for
 * every stream of a table or one stream: SSE "event:NAME" with data json
 * and no id; WebSocket {"type":NAME,"message":message,"data":json,
 * "timestamp":…}. Never conflated: each is written in order. json is
 * borrowed for the call. after_cart: streams that have had no cart yet
 * (their snapshot is on its way) are skipped, for an event each stream gets
 * after its snapshot anyway (presence). Returns how many streams were
 * written to. */
size_t tc_streams_send_event(tc_streams *ss, int32_t table_id, const char *name,
                             const char *message, tc_view json, int64_t timestamp_ms,
                             bool after_cart);
void tc_stream_send_event(tc_stream *s, const char *name, const char *message, tc_view json,
                          int64_t timestamp_ms);
/* Ends every stream of table_id, for its clients to come back and start
 * from a snapshot: an SSE stream as at the end of its lifetime, a WebSocket
 * with close code 1012 and reason. For a cart whose version went back
 * (tc_store_cart.reset), which a stream would never send. Returns how many. */
size_t tc_streams_restart(tc_streams *ss, int32_t table_id, const char *reason);
/* True when table_id has a stream here. */
bool tc_streams_has_table(tc_streams *ss, int32_t table_id);

/* Turns connection c (already taken over from HTTP, its response head
 * queued) into an SSE stream: writes retry + connected, subscribes. The
 * snapshot is the caller's to send (tc_stream_send_cart). Returns the stream,
 * owned by the connection. */
tc_stream *tc_stream_sse(tc_streams *ss, tc_conn *c, const tc_stream_params *p);
/* Same for a WebSocket after its 101: starts the session, writes connected,
 * subscribes, schedules pings. */
tc_stream *tc_stream_ws(tc_streams *ss, tc_conn *c, const tc_stream_params *p);
/* Reads bytes the WebSocket client sent right behind its handshake (after the
 * caller queued the snapshot, so that they are answered after it), as if
 * they had just arrived, then lets reading go on (the caller paused it for
 * the snapshot) unless those bytes left messages waiting for their turn or
 * a close held for their answers. */
void tc_stream_ws_feed(tc_stream *s, tc_view bytes);

/* Writes a cart of version (its DTO json, copied) as a cart_update, unless
 * the stream already sent that version or a newer one, or the client already
 * shows it (Last-Event-ID). */
void tc_stream_send_cart(tc_stream *s, int64_t version, tc_view json, int64_t timestamp_ms);

/* Writes a WebSocket message {"type","message","data","timestamp"} (data is
 * raw JSON or NULL for null). version >= 0 says data is the cart of that
 * version: the stream counts it as sent. Returns true when that cart is older
 * than one the stream already sent (the client now shows an older cart: the
 * caller should send the current one). Nothing is written once the stream's
 * close has begun. */
bool tc_stream_ws_reply(tc_stream *s, const char *type, const char *message, const char *data,
                        size_t len, int64_t version);
/* The layer above has answered every message of s (busy turned false): a
 * client's close held for those answers is read now, and a shutdown's 1001
 * waiting for them is sent. */
void tc_stream_ws_idle(tc_stream *s);
/* Starts the WebSocket close handshake with code and reason (a string that
 * outlives the call: asked for while a message is being handled, the close
 * is sent once the answers queued before it have been written). */
void tc_stream_ws_close(tc_stream *s, uint16_t code, const char *reason);

/* Keeps s (not its connection) alive across an asynchronous call; every hold
 * is given back with tc_stream_release. */
void tc_stream_hold(tc_stream *s);
void tc_stream_release(tc_stream *s);
/* False once the connection is closing or gone, or a WebSocket close began:
 * nothing more is worth writing. */
bool tc_stream_is_open(const tc_stream *s);
/* The table the stream follows. */
int32_t tc_stream_table(const tc_stream *s);
/* True for a WebSocket stream, false for SSE. */
bool tc_stream_is_ws(const tc_stream *s);
/* The id of the stream's connection (the origin of its own changes). */
uint64_t tc_stream_conn_id(const tc_stream *s);
/* The client address of the stream's connection (tc_conn_client). */
const tc_addr *tc_stream_client(const tc_stream *s);
/* The layer above's bytes of s (tc_stream_params.user_size), zeroed at start,
 * 8-byte aligned; they live as long as s. */
void *tc_stream_user(tc_stream *s);

#endif
