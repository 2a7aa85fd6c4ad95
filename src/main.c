/* main.c — flags → config → wire the modules → run the loop. */
#include "api/app.h"
#include "api/idem.h"
#include "api/metrics.h"
#include "api/rest.h"
#include "auth/auth.h"
#include "core/json.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/session.h"
#include "http/static.h"
#include "net/server.h"
#include "push/live.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef TC_VERSION
#define TC_VERSION "0.1.0"
#endif

#define SHUTDOWN_GRACE_MS 5000

/* Finds a file shipped with tablecart (data/demo-menu.json, web/): beside
 * the binary or up to three folders above it (build/, build/asan/), else in
 * the working directory. Returns a new string or NULL. */
static char *find_beside_binary(const char *rel)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/%s", exe, rel);
            if (access(cand, R_OK) == 0) return tc_xstrdup(cand);
        }
    }
    return NULL;
}

static char *find_resource(const char *rel)
{
    char *found = find_beside_binary(rel);
    if (found) return found;
    return access(rel, R_OK) == 0 ? tc_xstrdup(rel) : NULL;
}

/* The folder of the diners' page: --web DIR (which must be a folder), else
 * web/ beside the binary or above it, never the working directory. Sets *out
 * to an absolute path, or NULL when no folder was found (no files are served:
 * a server started from / must not serve /etc). Returns 0, or 2 for a --web
 * that is not a readable folder. */
static int resolve_web_dir(const tc_config *cfg, char **out)
{
    *out = NULL;
    char *dir = cfg->web_dir ? tc_xstrdup(cfg->web_dir) : find_beside_binary("web");
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
        return cfg->web_dir ? 2 : 0;
    }
    free(dir);
    *out = real;
    return 0;
}

static int read_file(const char *path, tc_buf *out, tc_errmsg *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tc_errmsg_set(err, TC_EIO, "cannot open %s", path);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        tc_buf_append(out, chunk, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? tc_errmsg_set(err, TC_EIO, "cannot read %s", path) : 0;
}

/* Parses and imports a menu file; messages name the file. */
static int import_menu_file(tc_store *store, const char *path, tc_errmsg *err)
{
    tc_buf text = TC_BUF_INIT;
    int r = read_file(path, &text, err);
    tc_menu *menu = NULL;
    if (r == 0) {
        tc_errmsg perr;
        r = tc_menu_parse(text.base ? text.base : "", text.len, &menu, &perr);
        if (r) tc_errmsg_set(err, r, "%s: %s", path, perr.text);
    }
    if (r == 0) r = tc_store_import_menu(store, menu, err);
    if (r == 0)
        tc_log_info("menu %s imported: %zu stores, %zu tables, %zu dishes", path,
                    tc_menu_store_count(menu), tc_menu_table_count(menu),
                    tc_menu_cuisine_count(menu));
    tc_menu_free(menu);
    tc_buf_free(&text);
    return r;
}

static int cmd_menu_import(const tc_config *cfg)
{
    uv_loop_t *loop = uv_default_loop();
    tc_store *store;
    tc_errmsg err;
    if (tc_store_open(cfg->store_url, loop, &store, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return 1;
    }
    int r = import_menu_file(store, cfg->import_file, &err);
    tc_store_close(store);
    uv_run(loop, UV_RUN_DEFAULT);
    if (r) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return 1;
    }
    return 0;
}

/* The auth of --auth; for jwt the secret from --jwt-secret-file or
 * TABLECART_JWT_SECRET. Prints why and returns non-zero on a bad setup. */
static int make_auth(const tc_config *cfg, tc_auth **out)
{
    tc_buf secret = TC_BUF_INIT;
    tc_errmsg err;
    int r = 0;
    if (cfg->auth == TC_AUTH_JWT) r = tc_auth_load_secret(cfg->jwt_secret_file, &secret, &err);
    if (r == 0) r = tc_auth_new(cfg->auth, secret.base, secret.len, out, &err);
    /* Not left lying around in freed memory. */
    if (secret.base) explicit_bzero(secret.base, secret.cap);
    tc_buf_free(&secret);
    if (r) fprintf(stderr, "tablecart: %s\n", err.text);
    return r;
}

/* `tablecart token`: prints a token signed with the configured secret. */
static int cmd_token(const tc_config *cfg)
{
    if (cfg->token_phone) {
        /* The same rule as X-User-Phone, checked before anything is signed. */
        long n = tc_utf8_count(cfg->token_phone, strlen(cfg->token_phone));
        if (n < 0 || n > 32 || strlen(cfg->token_phone) >= sizeof((tc_claims){0}.phone)) {
            fprintf(stderr, "tablecart: --phone: at most 32 characters of UTF-8\n");
            return 2;
        }
    }
    tc_config jwt_cfg = *cfg;
    jwt_cfg.auth = TC_AUTH_JWT;
    tc_auth *auth;
    if (make_auth(&jwt_cfg, &auth) != 0) return 2;
    tc_claims c = {.user_id = cfg->token_user,
                   .exp = tc_auth_now() + (int64_t)cfg->token_ttl_s,
                   .table_id = (int32_t)cfg->token_table,
                   .store_id = (int32_t)cfg->token_store};
    if (cfg->token_phone) snprintf(c.phone, sizeof c.phone, "%s", cfg->token_phone);
    tc_buf tok = TC_BUF_INIT;
    tc_errmsg err;
    int r = tc_auth_sign(auth, &c, &tok, &err);
    if (r == 0)
        printf("%s\n", tc_buf_cstr(&tok));
    else
        fprintf(stderr, "tablecart: %s\n", err.text);
    tc_buf_free(&tok);
    tc_auth_free(auth);
    return r ? 1 : 0;
}

/* --- serve ----------------------------------------------------------------- */

typedef struct {
    tc_app app;
    uv_signal_t sigterm, sigint;
    tc_live *live;
} server_main;

static void on_shutdown_done(void *ctx)
{
    server_main *m = ctx;
    tc_live_stop(m->live);
    uv_close((uv_handle_t *)&m->sigterm, NULL);
    uv_close((uv_handle_t *)&m->sigint, NULL);
    /* No connection is left to ask the store anything; a store with
     * connections of its own (Redis) finishes what is pending, then lets the
     * loop end. */
    tc_store_close(m->app.store);
    m->app.store = NULL;
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

static int open_store(const tc_config *cfg, uv_loop_t *loop, tc_store **store)
{
    tc_errmsg err;
    if (tc_store_open(cfg->store_url, loop, store, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return 1;
    }
    int r = 0;
    if (cfg->menu_file) {
        r = import_menu_file(*store, cfg->menu_file, &err);
    } else if (tc_store_menu_empty(*store)) {
        char *demo = find_resource("data/demo-menu.json");
        if (demo == NULL) {
            tc_log_warn("empty store and no demo menu found: serving no tables");
        } else {
            r = import_menu_file(*store, demo, &err);
            free(demo);
        }
    }
    if (r) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        tc_store_close(*store);
        return 1;
    }
    return 0;
}

/* A link per table, so a newcomer can click one and order (at most 20). */
static void print_table_links(const tc_menu *menu, const char *host, int port)
{
    size_t n = tc_menu_table_count(menu);
    for (size_t i = 0; i < n && i < 20; i++) {
        const tc_table *t = tc_menu_table_at(menu, i);
        const tc_store_info *st = tc_menu_store(menu, t->store_id);
        tc_log_info("table %s of %s: http://%s:%d/?table=%d", t->table_number, st ? st->name : "?",
                    host, port, t->table_id);
    }
    if (n > 20) tc_log_info("... and %zu more tables", n - 20);
}

static int cmd_serve(const tc_config *cfg)
{
    signal(SIGPIPE, SIG_IGN);
    server_main m = {0};
    tc_app *app = &m.app;
    app->cfg = cfg;
    app->loop = uv_default_loop();
    app->limits = (tc_cart_limits)TC_CART_LIMITS_DEFAULT;
    tc_metrics metrics = {0};
    app->metrics = &metrics;
    char *web;
    if (resolve_web_dir(cfg, &web) != 0) return 2;
    if (make_auth(cfg, &app->auth) != 0) {
        free(web);
        return 2;
    }
    if (open_store(cfg, app->loop, &app->store)) {
        tc_auth_free(app->auth);
        free(web);
        return 1;
    }
    if (cfg->auth == TC_AUTH_NONE)
        tc_log_warn("--auth none: anyone who can reach this server can edit any cart; for "
                    "local development only");
    app->web_dir = web;
    app->idem = tc_idem_new(10000, 24ull * 3600 * 1000);

    tc_router *router = tc_router_new();
    tc_rest_routes(router, cfg->api_prefix);
    m.live = tc_live_start(app, router);
    tc_http_site site = {
        .router = router,
        .fallback = tc_static_handler,
        .limits = {cfg->max_head, cfg->max_body},
        .request_timeout_ms = cfg->request_timeout_s * 1000ull,
        .idle_timeout_ms = cfg->idle_timeout_s * 1000ull,
        .cors_origins = cfg->cors_origins,
        .n_cors = cfg->n_cors,
        .app = app,
    };
    tc_server_opts so = {
        .host = cfg->listen_host,
        .port = cfg->listen_port,
        .initial_proto = &tc_http_proto,
        .new_state = tc_http_session_new,
        .app = &site,
        .max_queue = 1u << 20,
    };
    tc_errmsg err;
    if (tc_server_start(app->loop, &so, &app->server, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return 1;
    }
    const char *shown = strchr(cfg->listen_host, ':') ? "[%s]" : "%s";
    char host[80];
    snprintf(host, sizeof host, shown, cfg->listen_host);
    printf("listening on http://%s:%d\n", host, tc_server_port(app->server));
    fflush(stdout);
    tc_log_info("tablecart %s serving %s with %s, web %s", TC_VERSION, host, cfg->store_url,
                app->web_dir ? app->web_dir : "(none)");
    print_table_links(tc_store_menu(app->store), host, tc_server_port(app->server));

    uv_signal_init(app->loop, &m.sigterm);
    uv_signal_init(app->loop, &m.sigint);
    m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);

    uv_run(app->loop, UV_RUN_DEFAULT);

    /* Every connection and the store are closed; what was acknowledged is
     * committed. */
    tc_live_free(m.live);
    tc_server_free(app->server);
    tc_router_free(router);
    tc_idem_free(app->idem);
    tc_auth_free(app->auth);
    free(web);
    uv_loop_close(app->loop);
    return 0;
}

int main(int argc, char **argv)
{
    tc_config cfg = {0};
    tc_errmsg err;
    const char *lvl = getenv("TABLECART_LOG_LEVEL");
    if (lvl && strcmp(lvl, "debug") == 0) tc_log_set_level(TC_LOG_DEBUG);
    if (lvl && strcmp(lvl, "warn") == 0) tc_log_set_level(TC_LOG_WARN);
    int rc = 2;
    if (tc_config_parse(&cfg, argc, argv, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        tc_config_free(&cfg);
        return 2;
    }
    switch (cfg.cmd) {
    case TC_CMD_HELP:
        fputs(tc_config_usage(), stdout);
        rc = 0;
        break;
    case TC_CMD_VERSION:
        printf("tablecart %s\n", TC_VERSION);
        rc = 0;
        break;
    case TC_CMD_MENU_IMPORT:
        rc = cmd_menu_import(&cfg);
        break;
    case TC_CMD_TOKEN:
        rc = cmd_token(&cfg);
        break;
    case TC_CMD_SERVE:
        rc = cmd_serve(&cfg);
        break;
    }
    tc_config_free(&cfg);
    return rc;
}
