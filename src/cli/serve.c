/* serve.c — `tablecart serve`: builds the app, listens, runs the loop, and
 * stops gracefully on SIGTERM or SIGINT. */
#include "cli/cli.h"

#include "api/app.h"
#include "api/limit.h"
#include "api/live.h"
#include "api/metrics.h"
#include "api/rest.h"
#include "core/cores.h"
#include "core/log.h"
#include "core/ratelimit.h"
#include "core/mem.h"
#include "http/session.h"
#include "http/static.h"
#include "net/server.h"
#include "push/stream.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* After SIGTERM/SIGINT, how long streams and pending writes get to finish
 * before the rest are dropped: inside deploy/'s TimeoutStopSec=10, so the
 * process exits 0 on its own (docs/operations.md, "Stop"). */
#define SHUTDOWN_GRACE_MS 5000
/* A connection whose unsent output passes 1 MiB is closed: a client that
 * stopped reading (docs/architecture.md, "Bounded output"). */
#define MAX_QUEUE_BYTES (1u << 20)
/* A static file goes out in one write: what the kernel does not take must
 * fit the queue, with its head (src/http/static.h). */
_Static_assert(TC_STATIC_MAX_FILE + (64u << 10) <= MAX_QUEUE_BYTES,
               "a static file at the limit must fit the write queue");
/* Table links logged at start: enough for the demo, not a wall of text. */
#define MAX_TABLE_LINKS 20
/* The config counts seconds; the HTTP layer's deadlines are milliseconds. */
#define MS_PER_S 1000ull
/* An access log line shows at most this much of a request target. */
#define MAX_LOGGED_TARGET 512

typedef struct {
    tc_app app;
    uv_signal_t sigterm, sigint, sighup;
    uv_check_t log_flush; /* writes the turn's buffered log lines */
    uv_timer_t cores_look; /* --share-core: a look at the load, TC_CORES_LOOK_MS */
    tc_cores *cores;       /* NULL: the kernel alone places the threads */
    tc_live *live;
} server_main;

/* The folder of the diners' page: --web DIR (which must be a folder), else
 * web/ beside the binary or above it, never the working directory. Sets *out
 * to an absolute path, or NULL when no folder was found (no files are served:
 * a server started from / must not serve /etc). Returns 0, or TC_EXIT_USAGE
 * for a --web that is not a readable folder. */
static int resolve_web_dir(const tc_config *cfg, char **out)
{
    *out = NULL;
    char *dir = cfg->web_dir ? tc_xstrdup(cfg->web_dir) : tc_cli_find_beside_binary("web");
    if (dir == NULL) {
        tc_log_warn("no web/ folder beside the binary: the diners' page is not served (give "
                    "--web DIR)");
        return 0;
    }
    char *real = realpath(dir, NULL);
    struct stat st;
    if (real == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode) || access(real, R_OK | X_OK)) {
        if (cfg->web_dir) fprintf(stderr, "tablecart: --web %s: not a readable folder\n", dir);
        free(real);
        free(dir);
        return cfg->web_dir ? TC_EXIT_USAGE : 0;
    }
    free(dir);
    *out = real;
    return 0;
}

/* Every HTTP answer is counted here, through the session's one reply path,
 * and logged with --access-log on: one line per request (a stream's or an
 * upgrade's at its start, never per event). tc_log redacts token= values. */
static void on_answer(void *ctx, const tc_http_answer *a)
{
    tc_app *app = ctx;
    tc_metrics_count_answer(app->metrics, a->method_bit, a->status);
    if (!app->cfg->access_log || a->refused) return;
    tc_buf *b = tc_log_begin(TC_LOG_INFO);
    if (b == NULL) return;
    /* Built without printf and written once per loop turn: this runs for
     * every change made over REST. */
    char client[64], target[MAX_LOGGED_TARGET + 1]; /* tc_log_redact ends it with a NUL */
    tc_addr_str(tc_conn_client(a->conn), client, sizeof client);
    size_t tlen =
        a->target.len ? tc_log_redact(a->target.base, a->target.len, target, sizeof target) : 0;
    tc_buf_append_str(b, "access ");
    tc_buf_append_str(b, client);
    tc_buf_append(b, " ", 1);
    tc_buf_append_str(b, a->method);
    tc_buf_append(b, " ", 1);
    if (tlen)
        tc_buf_append(b, target, tlen);
    else
        tc_buf_append(b, "-", 1);
    tc_buf_append(b, " ", 1);
    tc_buf_append_dec(b, a->status);
    tc_buf_append(b, " ", 1);
    tc_buf_append_udec(b, a->bytes);
    tc_buf_append(b, "B ", 2);
    uint64_t us = a->duration_ns / 1000;
    tc_buf_append_udec(b, us / 1000);
    char frac[5] = {'.', (char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
                    (char)('0' + us % 10), 'm'};
    tc_buf_append(b, frac, sizeof frac);
    tc_buf_append(b, "s", 1);
    tc_log_end(b);
}

static void on_delivered(void *ctx, uint64_t latency_ns)
{
    tc_metrics_observe_delivery(ctx, latency_ns);
}

static void on_log_flush(uv_check_t *h)
{
    (void)h;
    tc_log_flush();
}

static void on_shutdown_done(void *ctx)
{
    server_main *m = ctx;
    uv_close((uv_handle_t *)&m->log_flush, NULL);
    /* Unreferenced, it would not keep the loop running, but left open it
     * makes uv_loop_close fail (UV_EBUSY). tc_cores_close after the loop
     * spreads the threads. */
    if (m->cores) uv_close((uv_handle_t *)&m->cores_look, NULL);
    tc_live_stop(m->live);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    uv_close((uv_handle_t *)&m->sighup, NULL);
    /* No connection is left to ask the store anything; a store with
     * connections of its own (Redis) finishes what is pending, then lets the
     * loop end. What it still holds is answered TC_ECLOSED under the close:
     * app.store is NULL by then, so a stream freed by such an answer does
     * not call into the store being closed. */
    tc_store *store = m->app.store;
    m->app.store = NULL;
    tc_store_close(store);
    tc_log_info("stopped");
}

static void on_signal(uv_signal_t *h, int signum)
{
    server_main *m = h->data;
    const char *name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
    if (tc_server_is_shutting_down(m->app.server)) {
        /* Stopping already; it ends within the grace period either way. */
        tc_log_info("%s: already stopping", name);
        return;
    }
    tc_log_info("%s: stopping (closing streams, finishing pending writes)", name);
    tc_server_shutdown(m->app.server, SHUTDOWN_GRACE_MS, on_shutdown_done, m);
}

static void on_cores_look(uv_timer_t *t)
{
    server_main *m = t->data;
    tc_cores_look(m->cores);
}

/* --share-core on and a store whose writer thread the loop hands every
 * change to: every thread on the loop's core while the load is light. */
static void start_cores(server_main *m, const tc_config *cfg)
{
    if (!cfg->share_core || !tc_store_threaded(m->app.store)) return;
    m->cores = tc_cores_open();
    if (m->cores == NULL) return; /* one CPU, or no /proc: nothing to share */
    uv_timer_init(m->app.loop, &m->cores_look);
    m->cores_look.data = m;
    uv_timer_start(&m->cores_look, on_cores_look, TC_CORES_LOOK_MS, TC_CORES_LOOK_MS);
    uv_unref((uv_handle_t *)&m->cores_look); /* the loop ends when the rest has */
}

/* SIGHUP asks a daemon to reopen its log files; tablecart writes only to
 * stderr (journald under systemd rotates it), so there is nothing to reopen,
 * and the signal must not end the process (its default action). */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    tc_log_info("SIGHUP: nothing to reopen (logs go to stderr)");
}

/* Checks --store and reads the menu serve imports at start: --menu FILE, else
 * (*menu NULL) nothing yet. Returns 0, or TC_EXIT_USAGE after printing why: a
 * bad store URL or --menu file is a bad value (SPEC §9), refused before the
 * store is touched. */
static int check_store_and_menu(const tc_config *cfg, tc_menu **menu)
{
    *menu = NULL;
    tc_errmsg err;
    if (tc_store_check_url(cfg->store_url, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return TC_EXIT_USAGE;
    }
    if (cfg->menu_file == NULL) return 0;
    if (tc_cli_load_menu(cfg->menu_file, menu, &err) != 0) {
        fprintf(stderr, "tablecart: --menu %s\n", err.text);
        return TC_EXIT_USAGE;
    }
    return 0;
}

/* Opens the store and gives it a menu: menu (read from --menu), else the
 * demo menu on an empty store. Returns 0, or TC_EXIT_FAIL (TC_EXIT_USAGE for
 * a bad Redis password setup) after printing why. */
static int open_store(const tc_config *cfg, const tc_menu *menu, uv_loop_t *loop, tc_store **store)
{
    tc_errmsg err;
    tc_buf password = TC_BUF_INIT;
    if (tc_cli_redis_password(cfg, &password) != 0) return TC_EXIT_USAGE;
    tc_store_opts so = {.durability = cfg->durability,
                        .exclusive = true,
                        .redis_password = password.base,
                        .sitting_gap_ms = (int64_t)cfg->sitting_gap_s * 1000};
    int opened = tc_store_open(cfg->store_url, &so, loop, store, &err);
    if (password.base) explicit_bzero(password.base, password.cap);
    tc_buf_free(&password);
    if (opened != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        /* A setup refused before anything was contacted (a Redis user with
         * no password) is a bad setup, as a bad flag is. */
        return opened == TC_EINVAL ? TC_EXIT_USAGE : TC_EXIT_FAIL;
    }
    int r = 0;
    if (menu) {
        r = tc_cli_import_menu(*store, menu, cfg->menu_file, &err);
    } else if (tc_store_menu_empty(*store)) {
        char *demo = tc_cli_find_resource("data/demo-menu.json");
        tc_menu *dm = NULL;
        if (demo == NULL) {
            tc_log_warn("empty store and no demo menu found: serving no tables");
        } else if ((r = tc_cli_load_menu(demo, &dm, &err)) == 0) {
            tc_log_warn("empty store and no --menu: importing the demo menu %s", demo);
            r = tc_cli_import_menu(*store, dm, demo, &err);
        }
        tc_menu_free(dm);
        free(demo);
    }
    if (r) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        tc_store_close(*store);
        return TC_EXIT_FAIL;
    }
    return 0;
}

/* A link per table, so a newcomer can click one and order (at most
 * MAX_TABLE_LINKS). */
static void print_table_links(const tc_menu *menu, const char *host, int port)
{
    size_t n = tc_menu_table_count(menu);
    for (size_t i = 0; i < n && i < MAX_TABLE_LINKS; i++) {
        const tc_table *t = tc_menu_table_at(menu, i);
        const tc_store_info *st = tc_menu_store(menu, t->store_id);
        tc_log_info("table %s of %s: http://%s:%d/?table=%d", t->table_number, st ? st->name : "?",
                    host, port, t->table_id);
    }
    if (n > MAX_TABLE_LINKS) tc_log_info("... and %zu more tables", n - MAX_TABLE_LINKS);
}

int tc_cli_serve(const tc_config *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    /* A write past RLIMIT_FSIZE fails with EFBIG, as on a full disk (a
     * commit answered 503), instead of killing the server (docs/operations.md,
     * "Durability"). */
    signal(SIGXFSZ, SIG_IGN);
    /* A stderr nobody reads must not stop the loop (docs/operations.md, "Logs"). */
    tc_log_nonblocking();
    /* Before any thread (the store's): see tc_server_presize_fds. */
    tc_server_presize_fds(cfg->max_conns);
    server_main m = {0};
    tc_app *app = &m.app;
    app->cfg = cfg;
    app->loop = uv_default_loop();
    app->limits = (tc_cart_limits)TC_CART_LIMITS_DEFAULT;
    tc_metrics metrics;
    tc_metrics_init(&metrics, TC_VERSION);
    app->metrics = &metrics;
    char *web;
    if (resolve_web_dir(cfg, &web) != 0) return TC_EXIT_USAGE;
    if (tc_cli_make_auth(cfg, &app->auth) != 0) {
        free(web);
        return TC_EXIT_USAGE;
    }
    tc_menu *menu;
    if (check_store_and_menu(cfg, &menu) != 0) {
        tc_auth_free(app->auth);
        free(web);
        return TC_EXIT_USAGE;
    }
    int opened = open_store(cfg, menu, app->loop, &app->store);
    tc_menu_free(menu);
    if (opened != 0) {
        tc_auth_free(app->auth);
        free(web);
        return opened;
    }
    if (cfg->auth == TC_AUTH_NONE)
        tc_log_warn("--auth none: anyone who can reach this server can edit any cart; for "
                    "local development only");
    app->change_limit = tc_limit_changes_new(cfg);

    tc_router *router = tc_router_new();
    tc_rest_routes(router, cfg->api_prefix);
    m.live = tc_live_start(app, router);
    tc_http_site site = {
        .router = router,
        .fallback = tc_static_handler,
        .limits = {cfg->max_head, cfg->max_body},
        .request_timeout_ms = cfg->request_timeout_s * MS_PER_S,
        .idle_timeout_ms = cfg->idle_timeout_s * MS_PER_S,
        .cors_origins = cfg->cors_origins,
        .n_cors = cfg->n_cors,
        .web_dir = web,
        .app = app,
        .on_answer = on_answer,
    };
    tc_server_opts so = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .initial_proto = &tc_http_proto,
        .new_state = tc_http_session_new,
        .app = &site,
        .conn_tail = TC_STREAM_CONN_TAIL,
        .tail_ctx = app->streams,
        .max_queue = MAX_QUEUE_BYTES,
        .close_flush_ms = cfg->request_timeout_s * MS_PER_S,
        .max_conns = cfg->max_conns,
        .max_conns_per_addr = cfg->max_conns_per_ip,
        .conn_rate = cfg->rate_conns,
        .exempt_loopback = cfg->exempt_loopback,
        .trusted = cfg->trusted_proxies,
        .n_trusted = cfg->n_trusted_proxies,
        .refuse = tc_http_refuse,
        .refuse_ctx = &site,
        .on_delivered = on_delivered,
        .delivered_ctx = &metrics,
        .batch_sends = cfg->io_uring,
    };
    tc_errmsg err;
    if (!cfg->io_uring) tc_log_info("sends: one send per write (--io-uring off)");
    if (tc_server_start(app->loop, &so, &app->server, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        /* As a stop with no connection: the store finishes and closes. */
        tc_live_stop(m.live);
        tc_store_close(app->store);
        app->store = NULL;
        uv_run(app->loop, UV_RUN_DEFAULT);
        tc_live_free(m.live);
        tc_router_free(router);
        tc_ratelimit_free(app->change_limit);
        tc_auth_free(app->auth);
        free(web);
        uv_loop_close(app->loop);
        return TC_EXIT_FAIL;
    }
    /* Before the first line says we listen: whoever reads it may stop us at
     * once, and SIGTERM must then be a graceful stop, not the default death. */
    uv_signal_init(app->loop, &m.sigterm);
    uv_signal_init(app->loop, &m.sigint);
    uv_signal_init(app->loop, &m.sighup);
    m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_signal_start(&m.sighup, on_sighup, SIGHUP);
    const char *shown = strchr(cfg->listen_host, ':') ? "[%s]" : "%s";
    char host[80];
    snprintf(host, sizeof host, shown, cfg->listen_host);
    printf("listening on http://%s:%d\n", host, tc_server_port(app->server));
    fflush(stdout);
    tc_log_info("tablecart %s serving %s with %s, web %s", TC_VERSION, host, cfg->store_url,
                web ? web : "(none)");
    print_table_links(tc_store_menu(app->store), host, tc_server_port(app->server));
    tc_log_info("limits: %zu connections in all, per address %u open and %u new/s%s; %u changes/s "
                "per caller and table (0: off)",
                tc_server_max_conns(app->server), cfg->max_conns_per_ip, cfg->rate_conns,
                cfg->exempt_loopback ? " (loopback exempt)" : "", cfg->rate_changes);

    uv_check_init(app->loop, &m.log_flush);
    uv_check_start(&m.log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&m.log_flush);
    start_cores(&m, cfg);

    uv_run(app->loop, UV_RUN_DEFAULT);
    tc_log_flush();
    tc_cores_close(m.cores);

    /* Every connection and the store are closed; what was acknowledged is
     * committed. */
    tc_live_free(m.live);
    tc_server_free(app->server);
    tc_router_free(router);
    tc_ratelimit_free(app->change_limit);
    tc_auth_free(app->auth);
    free(web);
    uv_loop_close(app->loop);
    return TC_EXIT_OK;
}
