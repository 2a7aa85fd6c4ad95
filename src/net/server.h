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
    void *app;        /* handed to new_state */
    size_t max_queue; /* a connection whose queue passes this much heap is closed */
} tc_server_opts;

/* Binds and listens. Returns 0 and *out, or a negative code with err. */
int tc_server_start(uv_loop_t *loop, const tc_server_opts *o, tc_server **out, tc_errmsg *err);
/* The port actually bound. */
int tc_server_port(const tc_server *s);
size_t tc_server_conn_count(const tc_server *s);
bool tc_server_is_shutting_down(const tc_server *s);

/* Stops accepting and asks every connection to finish (on_shutdown).
 * done(ctx) is called once every connection is closed, or after grace_ms. */
void tc_server_shutdown(tc_server *s, uint64_t grace_ms, void (*done)(void *ctx), void *ctx);
/* Frees the server once shutdown is done and the loop has run the close
 * callbacks of its handles (uv_run returned). */
void tc_server_free(tc_server *s);

#endif
