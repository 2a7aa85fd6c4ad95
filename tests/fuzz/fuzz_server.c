/* fuzz_server.c — libFuzzer driver for the whole server, in-process: every
 * input is one client connection to the real session, router, REST and live
 * handlers (SSE and WebSocket takeover, streams, hub), store (SQLite in
 * memory) and connection close paths, on one libuv loop.
 *
 * Once per process two servers are built the way src/cli/serve.c builds one
 * (config from the real flag parser, store, menu, router, REST routes, live
 * endpoints, static files from web/) on 127.0.0.1:0: one --auth none, one
 * --auth jwt. Per input, a libuv TCP client on the same loop connects,
 * writes the payload, reads what comes back, and closes; the loop is run
 * without blocking (UV_RUN_NOWAIT) until nothing happens for a few turns,
 * bounded, so an SSE or WebSocket stream left open costs no waiting.
 *
 * Input: byte 0 is a mode, byte 1 a split byte, the rest the payload.
 *   mode bit 0   the --auth jwt server (else --auth none)
 *   mode bit 1   half-close (shutdown) after the last write
 *   mode bit 2   close right after the last write, without reading
 * The client always ends with a reset (SO_LINGER 0), so that runs of
 * thousands of connections a second leave no TIME_WAIT sockets holding the
 * machine's ephemeral ports; bit 1 gives the server its FIN first.
 * The payload is written in pieces cut after each occurrence of the split
 * byte (at most MAX_PIECES), the loop running between them, so the server
 * sees the same bytes in separate reads.
 *
 * Checks besides ASan/UBSan: whatever the server sends first is an HTTP/1.1
 * status line; once the client has closed, the server closes its side too
 * (no connection outlives its peer). FUZZ_SERVER_TRACE=1 prints a line per
 * input: how many bytes came back and how they start. */
#include "api/app.h"
#include "api/live.h"
#include "api/metrics.h"
#include "api/rest.h"
#include "auth/auth.h"
#include "cart/menu.h"
#include "core/log.h"
#include "http/session.h"
#include "http/static.h"
#include "net/server.h"
#include "push/stream.h"
#include "store/store.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef TC_FUZZ_ROOT
#define TC_FUZZ_ROOT "."
#endif

#define MAX_PIECES 64
/* Loop turns with nothing new for the client before a step counts as done. */
#define QUIET_TURNS 4
/* Upper bound of loop turns per step (a stream keeps the loop busy forever). */
#define MAX_TURNS 256
/* After the client closed: turns the server gets to close its side. */
#define CLOSE_TURNS 2000

#define SECRET "fuzz-secret-0123456789abcdef0123456789"

/* A small menu: two restaurants, three tables, a sold-out dish. */
static const char menu_json[] =
    "{\"stores\":["
    "{\"storeId\":1,\"name\":\"Test Kitchen\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,\"tableNumber\":"
    "\"A02\"}],"
    "\"cuisines\":["
    "{\"cuisineId\":1001,\"cuisineName\":\"Kung Pao\",\"cuisineType\":1,\"unitPrice\":38.00},"
    "{\"cuisineId\":1002,\"cuisineName\":\"Yu Xiang\",\"cuisineType\":1,\"unitPrice\":28.50},"
    "{\"cuisineId\":1003,\"cuisineName\":\"Gone\",\"cuisineType\":2,\"unitPrice\":0.10,"
    "\"available\":false}]},"
    "{\"storeId\":2,\"name\":\"Other\","
    "\"tables\":[{\"tableId\":200,\"tableNumber\":\"B01\"}],"
    "\"cuisines\":[{\"cuisineId\":2001,\"cuisineName\":\"Tea\",\"cuisineType\":1,"
    "\"unitPrice\":5.00}]}]}";

typedef struct {
    tc_config cfg;
    tc_app app;
    tc_metrics metrics;
    tc_router *router;
    tc_live *live;
    tc_http_site site;
    int port;
} instance;

static uv_loop_t loop;
static instance inst[2];

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_shutdown_t sreq;
    bool connected, failed, eof, closed;
    unsigned events;
    size_t got;
    char first[9];
} client;

static client cl;
static bool trace; /* FUZZ_SERVER_TRACE=1: a line per input (what came back) */
static char readbuf[65536];

static void count_answer(void *app, const tc_http_answer *a)
{
    tc_metrics_count_answer(((tc_app *)app)->metrics, a->method_bit, a->status);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_server: %s: %s\n", what, why);
    abort();
}

static void instance_start(instance *in, bool jwt)
{
    char *argv[] = {
        "tablecart",       "serve",  "--listen",           "127.0.0.1:0", "--store",
        "sqlite::memory:", "--auth", jwt ? "jwt" : "none", "--web",       TC_FUZZ_ROOT "/web"};
    tc_errmsg err;
    if (tc_config_parse(&in->cfg, (int)(sizeof argv / sizeof argv[0]), argv, &err) != 0)
        die("config", err.text);
    tc_app *app = &in->app;
    app->cfg = &in->cfg;
    app->loop = &loop;
    app->limits = (tc_cart_limits)TC_CART_LIMITS_DEFAULT;
    app->metrics = &in->metrics;
    if (tc_auth_new(jwt ? TC_AUTH_JWT : TC_AUTH_NONE, SECRET, strlen(SECRET), &app->auth, &err))
        die("auth", err.text);
    if (tc_store_open(in->cfg.store_url, NULL, &loop, &app->store, &err)) die("store", err.text);
    tc_menu *menu = NULL;
    if (tc_menu_parse(menu_json, sizeof menu_json - 1, &menu, &err) ||
        tc_store_import_menu(app->store, menu, &err))
        die("menu", err.text);
    tc_menu_free(menu);
    in->router = tc_router_new();
    tc_rest_routes(in->router, in->cfg.api_prefix);
    in->live = tc_live_start(app, in->router);
    in->site = (tc_http_site){
        .router = in->router,
        .fallback = tc_static_handler,
        .limits = {in->cfg.max_head, in->cfg.max_body},
        .request_timeout_ms = in->cfg.request_timeout_s * 1000ull,
        .idle_timeout_ms = in->cfg.idle_timeout_s * 1000ull,
        .cors_origins = in->cfg.cors_origins,
        .n_cors = in->cfg.n_cors,
        .web_dir = in->cfg.web_dir,
        .app = app,
        .on_answer = count_answer,
    };
    tc_server_opts so = {
        .host = "127.0.0.1",
        .port = 0,
        .initial_proto = &tc_http_proto,
        .new_state = tc_http_session_new,
        .app = &in->site,
        .conn_tail = TC_STREAM_CONN_TAIL,
        .tail_ctx = app->streams,
        .max_queue = 1u << 20,
        .batch_sends = in->cfg.io_uring, /* on, as serve's default: the batched path is fuzzed */
    };
    if (tc_server_start(&loop, &so, &app->server, &err)) die("listen", err.text);
    in->port = tc_server_port(app->server);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    tc_log_set_level(TC_LOG_ERROR);
    trace = getenv("FUZZ_SERVER_TRACE") != NULL;
    if (uv_loop_init(&loop) != 0) die("loop", "uv_loop_init");
    instance_start(&inst[0], false);
    instance_start(&inst[1], true);
    return 0;
}

/* --- the client ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(readbuf, sizeof readbuf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n > 0) {
        cl.events++;
        for (size_t i = 0; i < (size_t)n && cl.got + i < sizeof cl.first; i++)
            cl.first[cl.got + i] = readbuf[i];
        cl.got += (size_t)n;
    } else if (n < 0) {
        cl.events++;
        cl.eof = true;
        uv_read_stop(s);
    }
}

static void on_connect(uv_connect_t *r, int status)
{
    (void)r;
    if (status != 0) {
        cl.failed = true;
        return;
    }
    cl.connected = true;
    uv_os_fd_t fd;
    struct linger lg = {1, 0};
    if (uv_fileno((uv_handle_t *)&cl.tcp, &fd) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0)
        die("connect", "SO_LINGER");
    uv_read_start((uv_stream_t *)&cl.tcp, on_alloc, on_read);
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    (void)r;
    (void)status;
    cl.events++;
}

static void on_close(uv_handle_t *h)
{
    (void)h;
    cl.closed = true;
}

/* Runs the loop without blocking until QUIET_TURNS turns bring the client
 * nothing new, the server closed, or MAX_TURNS. */
static void pump(void)
{
    int quiet = 0;
    for (int i = 0; i < MAX_TURNS && quiet < QUIET_TURNS && !cl.eof; i++) {
        unsigned before = cl.events;
        uv_run(&loop, UV_RUN_NOWAIT);
        quiet = cl.events == before ? quiet + 1 : 0;
    }
}

static void write_all(const uint8_t *p, size_t n)
{
    for (int tries = 0; n > 0 && tries < MAX_TURNS && !cl.eof; tries++) {
        uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)n);
        int w = uv_try_write((uv_stream_t *)&cl.tcp, &b, 1);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w != UV_EAGAIN) {
            return; /* the server is gone */
        } else {
            uv_run(&loop, UV_RUN_NOWAIT);
        }
    }
}

/* How long a closed client's server side may take to go: the store answers
 * from its writer thread, and the server's sweep runs every 250 ms. */
#define CLOSE_WAIT_NS 5000000000ull

static size_t open_conns(void)
{
    return tc_server_conn_count(inst[0].app.server) + tc_server_conn_count(inst[1].app.server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t mode = data[0], split = data[1];
    data += 2;
    size -= 2;

    memset(&cl, 0, sizeof cl);
    uv_tcp_init(&loop, &cl.tcp);
    uv_tcp_nodelay(&cl.tcp, 1);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", inst[mode & 1].port, &addr);
    uv_tcp_connect(&cl.creq, &cl.tcp, (const struct sockaddr *)&addr, on_connect);
    for (int i = 0; i < MAX_TURNS && !cl.connected && !cl.failed; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    if (!cl.connected) die("connect", "no connection to our own server");

    /* The pieces: cut after each split byte. */
    size_t start = 0;
    int pieces = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] != split || pieces == MAX_PIECES - 1) continue;
        write_all(data + start, i + 1 - start);
        start = i + 1;
        pieces++;
        pump();
    }
    write_all(data + start, size - start);

    if (!(mode & 4)) {
        if ((mode & 2) && !cl.eof &&
            uv_shutdown(&cl.sreq, (uv_stream_t *)&cl.tcp, on_shutdown) == 0)
            pump();
        pump();
    }
    if (trace)
        fprintf(stderr, "fuzz_server: mode %u, %zu bytes sent, %zu received: %.*s\n", mode, size,
                cl.got, (int)(cl.got < sizeof cl.first ? cl.got : sizeof cl.first), cl.first);
    if (cl.got >= sizeof cl.first && memcmp(cl.first, "HTTP/1.1 ", sizeof cl.first) != 0) {
        fprintf(stderr, "fuzz_server: the answer starts with '%.9s'\n", cl.first);
        abort();
    }

    uv_close((uv_handle_t *)&cl.tcp, on_close);
    int i = 0;
    for (; i < CLOSE_TURNS && (!cl.closed || open_conns() > 0); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    /* A request may still wait for the store's writer thread, whose answer
     * wakes the loop (uv_async): wait for it, within a bound of time. */
    uint64_t until = uv_hrtime() + CLOSE_WAIT_NS;
    while ((!cl.closed || open_conns() > 0) && uv_hrtime() < until)
        uv_run(&loop, UV_RUN_ONCE);
    if (open_conns() > 0) {
        fprintf(stderr, "fuzz_server: %zu server connections still open after the client closed\n",
                open_conns());
        abort();
    }
    return 0;
}
