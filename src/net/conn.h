/* conn.h — one TCP connection: reads handed to its current protocol, a
 * bounded write queue of shared buffers, deadlines, and a safe close.
 *
 * A connection speaks one protocol at a time (HTTP, then maybe SSE or
 * WebSocket); the protocol is a small vtable plus a state pointer it owns.
 *
 * Lifetime: the connection is freed only after libuv has closed its handle
 * AND every reference taken with tc_conn_ref has been dropped, so an async
 * store callback can always look at its connection (tc_conn_is_closing tells
 * whether it is still worth answering). Closing from inside a callback of the
 * connection is safe: the protocol's on_closed runs later, from libuv's close
 * callback, never under the caller's feet. */
#ifndef TC_NET_CONN_H
#define TC_NET_CONN_H

#include "core/addr.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tc_conn tc_conn;
typedef struct tc_server tc_server;

typedef struct tc_proto {
    const char *name;
    /* Bytes arrived; data is borrowed for the call only. */
    void (*on_read)(tc_conn *c, const char *data, size_t len);
    /* The peer closed its side (EOF). NULL: close the connection. */
    void (*on_eof)(tc_conn *c);
    /* The deadline set with tc_conn_set_deadline has passed. NULL: abort. */
    void (*on_deadline)(tc_conn *c);
    /* The server is shutting down: finish politely (close frames, end of
     * stream) and close. NULL: close once the write queue is flushed. */
    void (*on_shutdown)(tc_conn *c);
    /* The connection is gone: release the protocol state. Runs once. */
    void (*on_closed)(tc_conn *c);
    /* A later loop turn after tc_conn_defer: go on with the buffered work
     * (and resume reading once it is done). NULL: resume reading. */
    void (*on_ready)(tc_conn *c);
    /* After on_closed, once the last reference is dropped: the connection's
     * memory, its tail included, is freed right after. NULL: nothing. */
    void (*on_free)(tc_conn *c);
    /* The write queue, which held what the kernel had no room for, has gone
     * out whole (tc_conn_queued_heap is 0 again). NULL: nothing. */
    void (*on_drained)(tc_conn *c);
} tc_proto;

/* Requests or WebSocket messages one connection may have handled in one loop
 * turn: one pipelining or flooding client then adds at most this many
 * answers' work to anyone else's wait (docs/architecture.md, "Fair turns"). */
#define TC_CONN_TURN_BUDGET 8

/* What a queued buffer is, for conflation: a pending whole-cart update is
 * replaced by a newer one, and a pending heartbeat makes a new one redundant. */
typedef enum { TC_WQ_PLAIN = 0, TC_WQ_CART = 1, TC_WQ_HEARTBEAT = 2 } tc_wq_kind;

/* Switches the protocol. The old protocol's state is the caller's to free. */
void tc_conn_set_proto(tc_conn *c, const tc_proto *p, void *state);
/* The current protocol's state (borrowed: the protocol owns it). */
void *tc_conn_state(const tc_conn *c);

/* The connection's id (unique on its server, never 0) and its server. */
uint64_t tc_conn_id(const tc_conn *c);
tc_server *tc_conn_server(const tc_conn *c);
/* "127.0.0.1:5555" of the peer, for logs; once the peer has reset, the
 * client's address alone ("127.0.0.1"), or "?:0" when none is known. */
const char *tc_conn_peer(const tc_conn *c, char *out, size_t len);

/* Writes data: to the socket at once when nothing is queued, and a copy of
 * what the kernel did not take is queued. Dropped once the connection is
 * closing. data stays the caller's. */
void tc_conn_write(tc_conn *c, const void *data, size_t len);
/* Queues len bytes of r from off, taking a new reference to r. kind lets the
 * queue conflate (see tc_wq_kind). */
void tc_conn_write_rbuf(tc_conn *c, tc_rbuf *r, size_t off, size_t len, tc_wq_kind kind);
/* tc_conn_write_rbuf(.., TC_WQ_CART) for a change the store committed at
 * committed_ns (uv_hrtime): when its last byte has been handed to the kernel,
 * the server's on_delivered hook hears how long ago that commit was. A cart
 * replaced in the queue by a newer one before it went out is not heard of. */
void tc_conn_write_cart(tc_conn *c, tc_rbuf *r, size_t off, size_t len, uint64_t committed_ns);
/* Heap the write queue holds: per queued buffer its queue item and the whole
 * buffer it references (malloc chunks, tc_heap_cost), so a 2-byte frame
 * counts ~100 bytes. The server's max_queue caps this figure: a write that
 * takes it past the cap closes the connection (tc_conn_was_slow). */
size_t tc_conn_queued_heap(const tc_conn *c);

/* Closes after the queue is flushed (FIN, then drain the peer briefly), or
 * aborts when the peer has not read it within the server's close_flush_ms.
 * Writes after this call are dropped, and so are the protocol's deadlines
 * (tc_conn_set_deadline). */
void tc_conn_close(tc_conn *c);
/* Closes now, dropping anything queued. */
void tc_conn_abort(tc_conn *c);
/* True once a close, an abort or a close after flush was asked for: nothing
 * more written to c will be sent. */
bool tc_conn_is_closing(const tc_conn *c);
/* True when the connection was closed because its write queue passed the
 * server's max_queue (a client that does not read). */
bool tc_conn_was_slow(const tc_conn *c);
/* At a protocol's deadline for a silent peer: true, once, when the peer's
 * bytes wait in the socket unread — the loop was held up (a stopped process,
 * a stalled host; timers run before reads) or they came at the last moment
 * —, so that the caller counts the peer as heard and gives it one more
 * period. False otherwise, and false again until c has read something: bytes
 * still unread at the next deadline are not waited for. One ioctl: for a
 * decision at a deadline, not per read. */
bool tc_conn_grace_unread(tc_conn *c);
/* At the same deadline: true when bytes of ours are still on their way to
 * the peer and its TCP acknowledged some within the last within_ms — it is
 * there and reading, only slower than we write, so that what we sent last
 * (a ping) waits behind what the kernel holds. A vanished peer acknowledges
 * nothing. One getsockopt and one ioctl. */
bool tc_conn_peer_acked(tc_conn *c, uint64_t within_ms);

/* Stops/starts reading (while an async operation owns the connection). */
void tc_conn_pause(tc_conn *c);
void tc_conn_resume(tc_conn *c);

/* Fair turns and the client's address: these five are implemented in
 * server.c, beside the per-turn counting (a uv_check of the server) and the
 * per-address limits they share with accepting. */

/* Counts one request or message about to be handled on c. Returns true
 * while c is within TC_CONN_TURN_BUDGET for this loop turn; false (counting
 * nothing) once it has had its share: keep the rest buffered and call
 * tc_conn_defer. */
bool tc_conn_spend(tc_conn *c);
/* Stops reading and calls the protocol's on_ready on a later loop turn, after
 * the loop has polled for everyone else's input. Takes a reference until
 * then; a connection that closes meanwhile gets no on_ready. */
void tc_conn_defer(tc_conn *c);

/* The client's address: the peer's, or through a trusted proxy
 * (--trusted-proxy) the one its X-Forwarded-For names (tc_conn_forwarded). */
const tc_addr *tc_conn_client(const tc_conn *c);
/* True when the peer is a trusted proxy: its requests name the client. */
bool tc_conn_via_proxy(const tc_conn *c);
/* For a connection from a trusted proxy: makes the client named by xff (an
 * X-Forwarded-For value, may be empty) the connection's client and checks
 * the per-address limits for it (the open-connection cap whenever the client
 * changes, the connection rate the first time). Returns 0, or TC_EBUSY with
 * *retry_after_s and *why (a static message): answer 429 and close. */
int tc_conn_forwarded(tc_conn *c, tc_view xff, uint32_t *retry_after_s, const char **why);

/* Calls the protocol's on_deadline at loop time now+ms (0 clears). The
 * resolution is the server's sweep interval. Does nothing once the
 * connection is closing (tc_conn_close): its own deadline stays. */
void tc_conn_set_deadline(tc_conn *c, uint64_t ms);

/* Keeps c's memory alive (not the connection: it may still close) across
 * an asynchronous call; every ref is given back with tc_conn_unref. The
 * last unref after the close callback runs the protocol's on_free and frees
 * c, so c must not be used after one's own unref. */
void tc_conn_ref(tc_conn *c);
void tc_conn_unref(tc_conn *c);

/* The room the server reserved after each connection (tc_server_opts
 * conn_tail), zeroed at accept and freed with the connection: NULL when it
 * is smaller than size. The connection's protocol owns it. */
void *tc_conn_tail(tc_conn *c, size_t size);
/* The connection whose tail is at tail. */
tc_conn *tc_conn_of_tail(const void *tail);
/* The server's tail_ctx (valid while the server is). */
void *tc_conn_tail_ctx(const tc_conn *c);

#endif
