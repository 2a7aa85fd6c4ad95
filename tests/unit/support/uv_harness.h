/* uv_harness.h — for unit tests of code that runs on a libuv loop, in libuv's
 * own style: a fresh loop per test, run until the event the test expects with
 * a timer as the safety deadline (expiring fails the test; nothing sleeps), a
 * TCP client on the same loop that records every byte it receives, and an
 * in-process tc_server on 127.0.0.1:0. Include after <cmocka.h>.
 *
 * Teardown (tl_finish) closes the client, shuts the server down, waits until
 * every connection is gone, closes the remaining handles and asserts that the
 * loop closes cleanly (uv_loop_close == 0): a handle left open fails. */
#ifndef TC_TEST_UV_HARNESS_H
#define TC_TEST_UV_HARNESS_H

#include "core/buf.h"
#include "net/server.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* Generous: events here take microseconds, the server's deadline sweep runs
 * every 250 ms, and ASan slows everything down. */
#define TL_DEADLINE_MS 5000

typedef struct {
    uv_loop_t loop;
    uv_timer_t deadline;
    bool expired;
    tc_server *srv; /* NULL until tl_server_start */
} tl_env;

/* A client on the loop. Reading starts on connect unless no_read is set. */
typedef struct {
    uv_tcp_t tcp;
    uv_connect_t creq;
    tl_env *env;
    tc_buf in;         /* every byte received */
    bool connected;    /* connect finished (see status) */
    bool eof;          /* the server's FIN arrived */
    int read_err;      /* a read error (UV_ECONNRESET ...), 0 if none */
    int status;        /* of connect */
    bool no_read;      /* do not start reading on connect */
    bool close_on_eof; /* close our side when the server's FIN arrives */
} tl_client;

static inline void tl_on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static inline void tl_init(tl_env *e)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    uv_timer_init(&e->loop, &e->deadline);
    e->deadline.data = &e->expired;
}

static inline void tl_arm(tl_env *e)
{
    e->expired = false;
    uv_timer_start(&e->deadline, tl_on_deadline, TL_DEADLINE_MS, 0);
}

/* Runs the loop one event at a time until cond holds; fails the test when
 * the safety deadline passes first. cond is checked between loop turns, and
 * UV_RUN_ONCE still waits for I/O after running due timers: when a timer
 * callback is the last thing cond waits for, with no I/O after it, cond is
 * seen only at the next event (a fake that answers from the loop should wake
 * it with a uv_async_t, as a socket would). */
#define TL_RUN_UNTIL(e, cond)                                                                      \
    do {                                                                                           \
        tl_arm(e);                                                                                 \
        while (!(cond) && !(e)->expired)                                                           \
            uv_run(&(e)->loop, UV_RUN_ONCE);                                                       \
        uv_timer_stop(&(e)->deadline);                                                             \
        if (!(cond)) fail_msg("timed out waiting for %s", #cond);                                  \
    } while (0)

/* Starts a server on 127.0.0.1:0 with o (host and port are set here). */
static inline tc_server *tl_server_start(tl_env *e, tc_server_opts o)
{
    o.host = "127.0.0.1";
    o.port = 0;
    tc_errmsg err = {0};
    int rc = tc_server_start(&e->loop, &o, &e->srv, &err);
    if (rc != 0) fail_msg("tc_server_start: %s", err.text);
    return e->srv;
}

static inline void tl_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    *buf = uv_buf_init(malloc(suggested), (unsigned)suggested);
}

static inline void tl_client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    tl_client *cl = st->data;
    if (n > 0) tc_buf_append(&cl->in, buf->base, (size_t)n);
    free(buf->base);
    if (n == UV_EOF) {
        cl->eof = true;
        if (cl->close_on_eof && !uv_is_closing((uv_handle_t *)&cl->tcp))
            uv_close((uv_handle_t *)&cl->tcp, NULL);
    } else if (n < 0) {
        cl->read_err = (int)n;
    }
}

static inline void tl_client_read_start(tl_client *cl)
{
    assert_int_equal(uv_read_start((uv_stream_t *)&cl->tcp, tl_client_alloc, tl_client_read), 0);
}

static inline void tl_client_connected(uv_connect_t *req, int status)
{
    tl_client *cl = req->data;
    cl->connected = true;
    cl->status = status;
    if (status == 0 && !cl->no_read) tl_client_read_start(cl);
}

/* Connects cl (zeroed by the caller except for its options) to the server
 * and waits for the connection. */
static inline void tl_client_connect(tl_env *e, tl_client *cl)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", tc_server_port(e->srv), &addr);
    cl->env = e;
    uv_tcp_init(&e->loop, &cl->tcp);
    cl->tcp.data = cl;
    cl->creq.data = cl;
    assert_int_equal(
        uv_tcp_connect(&cl->creq, &cl->tcp, (const struct sockaddr *)&addr, tl_client_connected),
        0);
    TL_RUN_UNTIL(e, cl->connected);
    assert_int_equal(cl->status, 0);
}

/* Sends len bytes; small writes on loopback are taken whole by the kernel. */
static inline void tl_client_send(tl_client *cl, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    assert_int_equal(uv_try_write((uv_stream_t *)&cl->tcp, &b, 1), (int)len);
}

static inline void tl_client_send_str(tl_client *cl, const char *s)
{
    tl_client_send(cl, s, strlen(s));
}

static inline void tl_client_close(tl_client *cl)
{
    if (cl->env && !uv_is_closing((uv_handle_t *)&cl->tcp)) uv_close((uv_handle_t *)&cl->tcp, NULL);
}

/* Closes with a TCP reset (SO_LINGER 0): the server reads ECONNRESET. */
static inline void tl_client_reset(tl_client *cl)
{
    assert_int_equal(uv_tcp_close_reset(&cl->tcp, NULL), 0);
}

/* The received bytes as a string (for assert_string_equal). */
static inline const char *tl_client_text(tl_client *cl)
{
    return tc_buf_cstr(&cl->in);
}

static inline void tl_close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Ends a test: closes the clients, shuts the server down and waits until its
 * last connection is gone, then closes the loop (which must close clean). */
static inline void tl_finish(tl_env *e, tl_client *clients, size_t n_clients)
{
    for (size_t i = 0; i < n_clients; i++)
        tl_client_close(&clients[i]);
    if (e->srv) {
        tc_server_shutdown(e->srv, 0, NULL, NULL);
        TL_RUN_UNTIL(e, tc_server_conn_count(e->srv) == 0);
    }
    uv_walk(&e->loop, tl_close_walk, NULL);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    if (e->srv) tc_server_free(e->srv);
    e->srv = NULL;
    for (size_t i = 0; i < n_clients; i++)
        tc_buf_free(&clients[i].in);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

#endif
