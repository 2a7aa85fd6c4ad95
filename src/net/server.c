#include "net/server.h"

#include "core/log.h"
#include "core/mem.h"
#include "net/conn_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* Deadlines are checked by one sweep over all connections rather than a
 * timer per connection: a uv_timer_t costs ~150 bytes each, the sweep costs a
 * few microseconds per thousand connections. */
enum { SWEEP_MS = 250 };
/* Pending connections the kernel may queue before accept: a burst of diners
 * opening pages at once (the kernel caps it at net.core.somaxconn). */
enum { LISTEN_BACKLOG = 4096 };

static void on_connection(uv_stream_t *l, int status)
{
    tc_server *s = l->data;
    if (status < 0) {
        tc_log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    tc_conn *c = tc_conn_accept(s);
    if (c == NULL) return;
    if (s->shutting_down) {
        tc_conn_abort(c);
        return;
    }
    tc_conn_set_proto(c, s->opts.initial_proto, s->opts.new_state(c, s->opts.app));
    tc_conn_start(c);
}

static void on_sweep(uv_timer_t *t)
{
    tc_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    tc_conn *next;
    for (tc_conn *c = s->conns; c; c = next) {
        next = c->next;
        if (c->deadline && c->deadline <= now && !c->closing) {
            c->deadline = 0;
            /* Closing is deferred to libuv's callback, so next stays valid. */
            tc_conn_deadline_passed(c);
        }
    }
    if (s->shutting_down && (s->n_conns == 0 || now >= s->shutdown_deadline)) {
        for (tc_conn *c = s->conns; c; c = c->next)
            tc_conn_abort(c);
        if (s->n_conns == 0 && s->shutdown_done) {
            void (*done)(void *) = s->shutdown_done;
            s->shutdown_done = NULL;
            uv_close((uv_handle_t *)&s->sweep, NULL);
            done(s->shutdown_ctx);
        }
    }
}

int tc_server_start(uv_loop_t *loop, const tc_server_opts *o, tc_server **out, tc_errmsg *err)
{
    struct sockaddr_storage addr;
    int r;
    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0)
        return tc_errmsg_set(err, TC_EINVAL, "--listen: bad address %s", o->host);
    tc_server *s = tc_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->opts = *o;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    if ((r = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) != 0 ||
        (r = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection)) != 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(loop, UV_RUN_NOWAIT);
        free(s);
        return tc_errmsg_set(err, TC_EIO, "cannot listen on %s:%d: %s", o->host, o->port,
                             uv_strerror(r));
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    *out = s;
    return 0;
}

int tc_server_port(const tc_server *s)
{
    return s->port;
}

size_t tc_server_conn_count(const tc_server *s)
{
    return s->n_conns;
}

bool tc_server_is_shutting_down(const tc_server *s)
{
    return s->shutting_down;
}

void tc_server_forget(tc_server *s, tc_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->n_conns--;
}

void tc_server_shutdown(tc_server *s, uint64_t grace_ms, void (*done)(void *ctx), void *ctx)
{
    if (s->shutting_down) return;
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_ctx = ctx;
    s->shutdown_deadline = uv_now(s->loop) + grace_ms;
    uv_close((uv_handle_t *)&s->listener, NULL);
    tc_conn *next;
    for (tc_conn *c = s->conns; c; c = next) {
        next = c->next;
        tc_conn_shutdown(c);
    }
}

void tc_server_free(tc_server *s)
{
    free(s);
}
