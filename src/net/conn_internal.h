/* conn_internal.h — what server.c and conn.c share; not for other modules. */
#ifndef TC_NET_CONN_INTERNAL_H
#define TC_NET_CONN_INTERNAL_H

#include "net/conn.h"
#include "net/server.h"

#include <uv.h>

typedef struct wq_item wq_item;

/* Deadlines are kept in units of this many ms (rounded up: never early), in
 * 32 bits compared with wrap-around, so any uptime works and a deadline may
 * lie up to 2^31 units (~795 days) ahead; tc_conn_set_deadline clamps longer
 * ones. The sweep's own resolution (250 ms) is coarser anyway. */
#define TC_DEADLINE_UNIT_MS 32

/* One per connection, so every byte counts (docs/memory.md): 160 bytes of
 * uv_poll_t, then 68 of our own; 232 in all, and with the server's conn_tail
 * after it in the same block (40 bytes: a push stream) 272, a 288-byte malloc
 * chunk. The connection is a
 * non-blocking socket that conn.c reads, writes and shuts down itself; libuv
 * only tells it when the socket is readable or writable. The handle's data is
 * the server (tc_conn_server), and the server finds its connections among the
 * loop's handles (uv_walk) rather than in a list of its own: they are the poll
 * handles whose data it is, but its listener (other modules' poll handles,
 * such as the Redis adapter's, hold their own data). Counters are as wide as
 * their bounds need: the queue's heap is capped by max_queue (at most
 * TC_SERVER_MAX_QUEUE_LIMIT), a turn's budget is TC_CONN_TURN_BUDGET, turns
 * are only compared for equality. */
struct tc_conn {
    uv_poll_t poll; /* first: the handle's address is the connection's; data: the server */
    const tc_proto *proto;
    void *state;
    uint64_t id;
    wq_item *wq_tail;  /* the write queue, a ring: wq_tail->next is its head */
    uint32_t deadline; /* TC_DEADLINE_UNIT_MS units of loop time; valid if has_deadline */
    uint32_t wq_heap;  /* heap held by the queue: items and their buffers */
    uint32_t turn;     /* the loop turn `spent` counts for (low 32 bits) */
    uint32_t refs;     /* the handle's and tc_conn_ref's */
    uint8_t spent;     /* requests or messages handled in that turn */
    /* reading: UV_READABLE is in the handle's mask; writing: UV_WRITABLE is
     * (the kernel took less than was queued: the rest waits for room).
     * counted: one of its address's open connections; refusal: one of its
     * refused connections still draining (server.c); graced: a deadline was
     * put off for unread bytes since the last read (tc_conn_grace_unread).
     * batched: in the server's batch, its queue to be offered to the kernel
     * at the end of the loop turn (tc_conn_flush_batch). */
    unsigned closing : 1, close_after_flush : 1, reading : 1, paused : 1, shut : 1,
        proto_closed : 1, slow : 1, deferred : 1, counted : 1, via_proxy : 1, attributed : 1,
        writing : 1, has_deadline : 1, refusal : 1, graced : 1, batched : 1;
    /* The client: the socket's peer, or the one a trusted proxy names. The
     * peer itself is not kept: getpeername when needed. */
    tc_addr client;
};

/* Connections kept for later in this loop turn, in order, each holding a
 * reference (tc_conn_ref) while it is in the list. */
typedef struct {
    tc_conn **at;
    size_t n, cap;
} tc_conn_list;

/* Appends c and takes a reference to it. */
void tc_conn_list_push(tc_conn_list *l, tc_conn *c);
/* Drops the references of every connection in l and empties it; with
 * free_too, also its memory (else its capacity stays for the next turn). */
void tc_conn_list_clear(tc_conn_list *l, bool free_too);

typedef struct addr_count addr_count;
typedef struct tc_ratelimit tc_ratelimit;
typedef struct tc_uring tc_uring;

/* Sends one loop turn may hand to the kernel in one system call. */
#define TC_SERVER_BATCH_RING 256

struct tc_server {
    uv_loop_t *loop;
    uv_poll_t listener; /* on listen_fd, a socket of our own (server.c) */
    int listen_fd;      /* -1 once closed */
    int reserve_fd;     /* a descriptor given up to accept and drop clients on EMFILE; -1: none */
    uv_timer_t sweep;
    tc_server_opts opts;
    int port;
    size_t n_conns; /* connections accepted and not yet closed */
    /* Of those, aborted ones: their descriptor is closed, libuv's close
     * callback is still to come (in the same loop turn). The cap counts
     * descriptors, so not these. */
    size_t n_aborted;
    uint64_t next_id;
    uv_idle_t idle;   /* runs the deferred connections; active only while there are some */
    uv_check_t check; /* counts loop turns */
    uint32_t turn;
    /* Deferred connections (tc_conn_defer), in order; a vector here rather
     * than a link in every connection. */
    tc_conn_list ready;
    size_t max_conns;        /* opts.max_conns, or the descriptor limit minus a reserve */
    addr_count **addr_slots; /* open and refused connections per client address; NULL: no limit */
    tc_ratelimit *conn_rate; /* new connections per client address; NULL: no limit */
    uint64_t refused_log_at; /* loop ms of the last "refused" log line */
    uint64_t refused, refused_full;
    /* Batched sends (opts.batch_sends, where io_uring works; else NULL and
     * every write goes straight to its socket): the connections written to
     * during this loop turn, in order. flush_idle is active while there are
     * some, so the loop does not wait for I/O before the check phase has
     * flushed them. */
    tc_uring *uring;
    uv_idle_t flush_idle;
    tc_conn_list batch;
    bool shutting_down;
    uint64_t shutdown_deadline;
    void (*shutdown_done)(void *ctx);
    void *shutdown_ctx;
};

/* Creates a connection for fd, a socket just accepted (non-blocking), which
 * it then owns (conn.c); NULL on failure, fd closed. */
tc_conn *tc_conn_accept(tc_server *s, int fd);
/* Starts reading; the connection is live. */
void tc_conn_start(tc_conn *c);
/* The sweep found c's deadline passed: the protocol's on_deadline, or abort
 * once the connection is only draining. */
void tc_conn_deadline_passed(tc_conn *c);
/* Server shutdown: the protocol's on_shutdown (or close). */
void tc_conn_shutdown(tc_conn *c);
/* Whether c has a deadline at or before loop time now (ms). */
bool tc_conn_deadline_due(const tc_conn *c, uint64_t now);
/* The socket's peer address; once the peer has reset (getpeername fails),
 * c->client: the address accept gave until a first request is attributed,
 * the attributed client after (family 0 when neither is known). */
void tc_conn_peer_addr(const tc_conn *c, tc_addr *out);
/* Payload bytes queued and not yet taken by the kernel (walks the queue). */
size_t tc_conn_queued_bytes(const tc_conn *c);
/* Offers the queues of the connections written to during this turn to the
 * kernel, all sends in one system call per TC_SERVER_BATCH_RING of them
 * (conn.c; server.c calls it in its check phase, and its flush_idle). */
void tc_conn_flush_batch(tc_server *s);
/* Called by conn.c when a connection is freed. */
void tc_server_forget(tc_server *s, tc_conn *c);

#endif
