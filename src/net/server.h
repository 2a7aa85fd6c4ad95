/* server.h — the listening socket, the set of live connections, the sweep
 * that enforces their deadlines, and graceful shutdown. */
#ifndef TC_NET_SERVER_H
#define TC_NET_SERVER_H

#include "core/err.h"
#include "net/conn.h"

#include <uv.h>

typedef struct {
    const char *host; /* "127.0.0.1", "::1", "0.0.0.0" */
    int port;         /* 0 picks a free port */
    const tc_proto *initial_proto;
    /* Creates the initial protocol state of an accepted connection. */
    void *(*new_state)(tc_conn *c, void *app);
    void *app; /* handed to new_state */
    /* Bytes allocated after every connection, in the same heap block, for the
     * protocol a connection turns into (a push stream: docs/memory.md);
     * zeroed; tail_ctx is what tc_conn_tail_ctx gives back. 0: none. */
    size_t conn_tail;
    void *tail_ctx;
    /* A connection whose queue passes this much heap is closed; at most
     * TC_SERVER_MAX_QUEUE_LIMIT (a larger value is lowered to it). */
    size_t max_queue;
    /* A connection closed with output still queued (tc_conn_close) is
     * aborted when the peer has not read it within this long: a peer that
     * stopped reading holds neither its descriptor nor its queue. 0:
     * TC_SERVER_CLOSE_FLUSH_MS. */
    uint64_t close_flush_ms;
    /* All connections: past it a new one is answered 503 and closed at once.
     * 0: RLIMIT_NOFILE minus TC_SERVER_FD_RESERVE (also the ceiling). */
    size_t max_conns;
    /* Per client address (0: no limit): open connections, and new
     * connections per second (burst twice that). Over them a new connection
     * is answered 429 with Retry-After and closed. */
    uint32_t max_conns_per_addr;
    uint32_t conn_rate;
    bool exempt_loopback;   /* 127.0.0.0/8 and ::1 skip the per-address limits */
    const tc_cidr *trusted; /* proxies whose X-Forwarded-For names the client */
    size_t n_trusted;
    /* Writes the answer to a connection refused before its protocol starts
     * (status 429 or 503, Retry-After seconds, a message); the server closes
     * it after. NULL: closed without an answer. ctx is refuse_ctx. */
    void (*refuse)(void *ctx, tc_conn *c, int status, uint32_t retry_after_s, const char *message);
    void *refuse_ctx;
    /* A cart written with tc_conn_write_cart went out latency_ns after its
     * commit; ctx is delivered_ctx. NULL: not measured. */
    void (*on_delivered)(void *ctx, uint64_t latency_ns);
    void *delivered_ctx;
    /* Writes made during a loop turn are queued and handed to the kernel
     * together at its end, in one io_uring system call (net/uring.h), where
     * the kernel allows it; elsewhere (and when false) each write goes to its
     * socket at once. Logged at start. */
    bool batch_sends;
} tc_server_opts;

/* Descriptors kept free below RLIMIT_NOFILE for everything that is not a
 * client connection: the store's files (SQLite db, -wal, -shm) or Redis
 * connections, stdio and logs, the listener, libuv's own descriptors, a
 * static file being served, and the accept that finds the cap reached. */
#define TC_SERVER_FD_RESERVE 64

/* The default close_flush_ms. */
#define TC_SERVER_CLOSE_FLUSH_MS 10000

/* The largest max_queue: a connection counts its queue's heap in 32 bits. */
#define TC_SERVER_MAX_QUEUE_LIMIT (1u << 30)

/* Grows this process's descriptor table at once to hold the connection
 * cap for max_conns (as tc_server_opts.max_conns: 0 is the RLIMIT_NOFILE
 * cap) and TC_SERVER_FD_RESERVE. Call it while the process has one thread,
 * before the store starts its own: the kernel otherwise grows the table as
 * connections arrive, by doubling, inside accept(), and in a process of
 * several threads each growth waits for an RCU grace period (10–30 ms on
 * this machine) with the loop held. The table costs the kernel 8 bytes per
 * slot (256 KB for 20,000 connections, slots rounded up). Returns the slots
 * asked for, or 0 when there is no finite cap or the table could not grow
 * (harmless: it then grows as before). */
size_t tc_server_presize_fds(size_t max_conns);

/* Binds and listens. Returns 0 and *out, or a negative code with err. */
int tc_server_start(uv_loop_t *loop, const tc_server_opts *o, tc_server **out, tc_errmsg *err);
/* The port actually bound. */
int tc_server_port(const tc_server *s);
size_t tc_server_conn_count(const tc_server *s);
/* The cap on all connections in force (see tc_server_opts.max_conns). */
size_t tc_server_max_conns(const tc_server *s);
bool tc_server_is_shutting_down(const tc_server *s);

/* Stops accepting and asks every connection to finish (on_shutdown).
 * done(ctx) is called once every connection is closed, or after grace_ms. */
void tc_server_shutdown(tc_server *s, uint64_t grace_ms, void (*done)(void *ctx), void *ctx);
/* Frees the server once shutdown is done and the loop has run the close
 * callbacks of its handles (uv_run returned). */
void tc_server_free(tc_server *s);

#endif
