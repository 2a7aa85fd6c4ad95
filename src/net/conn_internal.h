/* conn_internal.h — what server.c and conn.c share; not for other modules. */
#ifndef TC_NET_CONN_INTERNAL_H
#define TC_NET_CONN_INTERNAL_H

#include "net/conn.h"
#include "net/server.h"

#include <uv.h>

typedef struct wq_item wq_item;

struct tc_conn {
    uv_tcp_t tcp; /* first: the handle's address is the connection's */
    tc_server *srv;
    tc_conn *prev, *next; /* the server's list of live connections */
    const tc_proto *proto;
    void *state;
    uint64_t id;
    uint64_t deadline; /* loop ms; 0 = none */
    wq_item *wq_head, *wq_tail;
    size_t wq_bytes;       /* payload bytes not yet accepted by the kernel */
    size_t wq_heap;        /* heap held by the queue: items and their buffers */
    uv_write_t *wreq;      /* the one write in flight, or NULL */
    size_t inflight_items; /* queue items covered by wreq */
    unsigned refs;
    tc_conn *ready_next; /* the server's list of deferred connections */
    uint64_t turn;       /* the loop turn `spent` counts for */
    unsigned spent;      /* requests or messages handled in that turn */
    tc_addr peer;        /* the socket's peer */
    tc_addr client;      /* the client: peer, or named by a trusted proxy */
    unsigned closing : 1, close_after_flush : 1, reading : 1, paused : 1, shut : 1,
        proto_closed : 1, slow : 1, deferred : 1, counted : 1, via_proxy : 1, attributed : 1;
};

typedef struct addr_count addr_count;
typedef struct tc_ratelimit tc_ratelimit;

struct tc_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    tc_server_opts opts;
    int port;
    tc_conn *conns;
    size_t n_conns;
    uint64_t next_id;
    uv_idle_t idle;   /* runs the deferred connections; active only while there are some */
    uv_check_t check; /* counts loop turns */
    uint64_t turn;
    tc_conn *ready_head, *ready_tail;
    size_t max_conns;        /* opts.max_conns, or the descriptor limit minus a reserve */
    addr_count **addr_slots; /* open connections per client address; NULL: no cap */
    tc_ratelimit *conn_rate; /* new connections per client address; NULL: no limit */
    uint64_t refused_log_at; /* loop ms of the last "refused" log line */
    uint64_t refused, refused_full;
    bool shutting_down;
    uint64_t shutdown_deadline;
    void (*shutdown_done)(void *ctx);
    void *shutdown_ctx;
};

/* Creates a connection for an accepted socket (conn.c); NULL on failure. */
tc_conn *tc_conn_accept(tc_server *s);
/* Starts reading; the connection is live. */
void tc_conn_start(tc_conn *c);
/* The sweep found c's deadline passed: the protocol's on_deadline, or abort
 * once the connection is only draining. */
void tc_conn_deadline_passed(tc_conn *c);
/* Server shutdown: the protocol's on_shutdown (or close). */
void tc_conn_shutdown(tc_conn *c);
/* Called by conn.c when a connection is freed. */
void tc_server_forget(tc_server *s, tc_conn *c);

#endif
