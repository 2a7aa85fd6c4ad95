/* redis_conn.c — one asynchronous Redis connection that keeps itself
 * connected (see redis_conn.h). */
#include "store/redis_conn.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/redis_login.h"
#include "store/uv_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Redis has this long to answer a new connection (connect and first reply)
 * before it is taken for gone: as long as any command may take. */
#define CONNECT_TIMEOUT_MS 2000
/* Reconnect back-off: first retry after RETRY_MIN_MS, doubling up to
 * RETRY_MAX_MS, so a short blip heals within 50 ms and a long outage costs
 * Redis at most one connect a second per connection. */
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 1000

struct tc_redis_conn {
    uv_loop_t *loop;
    tc_redis_conn_opts o; /* its strings borrowed */
    tc_redis_conn_hooks hooks;
    redisAsyncContext *ac; /* NULL while down */
    bool up;               /* the owner reported an answer on ac */
    bool reported_down;    /* an outage is logged once, not at every retry */
    bool self_connected;   /* the socket reached itself (see connected_to_itself) */
    bool stopped;          /* no more reconnects */
    bool resolving;        /* a uv_getaddrinfo of the host is on its way */
    bool freeing;          /* tc_redis_conn_free waits for that lookup */
    unsigned turn;         /* which of the host's addresses the next connect uses */
    uint64_t deadline;     /* while not up: give up at this uv_now() */
    unsigned backoff_ms;
    uv_timer_t retry;
    uv_getaddrinfo_t gai;        /* the host's lookup (resolving) */
    char why[TC_REDIS_WHY_SIZE]; /* the last failure, for messages */
    void (*done)(void *arg);     /* tc_redis_conn_free's */
    void *done_arg;
};

static void on_retry(uv_timer_t *t);

redisAsyncContext *tc_redis_conn_ctx(const tc_redis_conn *c)
{
    return c->ac;
}

bool tc_redis_conn_is_up(const tc_redis_conn *c)
{
    return c->up;
}

const char *tc_redis_conn_why(const tc_redis_conn *c)
{
    return c->why;
}

void tc_redis_conn_set_why(tc_redis_conn *c, const char *why)
{
    snprintf(c->why, sizeof c->why, "%s", why);
}

bool tc_redis_conn_answered(tc_redis_conn *c)
{
    if (c->ac == NULL || c->self_connected || c->stopped) return false;
    c->up = true;
    c->backoff_ms = 0;
    if (c->reported_down) tc_log_info("store: %s: %s", c->o.name, c->o.again);
    c->reported_down = false;
    c->why[0] = '\0';
    return true;
}

/* c's context is gone (c->ac already NULL): schedule a reconnect. */
static void conn_down(tc_redis_conn *c, const char *why)
{
    bool was_up = c->up;
    c->up = false;
    if (!was_up) c->turn++; /* a name with several addresses: try the next one */
    snprintf(c->why, sizeof c->why, "%s", why);
    c->hooks.down(c->hooks.ctx);
    if (c->stopped) return;
    if (!c->reported_down) {
        tc_log_warn("store: %s: %s connection %s: %s; reconnecting", c->o.name, c->o.role,
                    was_up ? "lost" : "failed", why);
        c->reported_down = true;
    }
    c->backoff_ms = c->backoff_ms == 0 ? RETRY_MIN_MS : c->backoff_ms * 2;
    if (c->backoff_ms > RETRY_MAX_MS) c->backoff_ms = RETRY_MAX_MS;
    uv_timer_start(&c->retry, on_retry, c->backoff_ms, 0);
}

void tc_redis_conn_kill(tc_redis_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL) return;
    c->ac = NULL;
    snprintf(c->why, sizeof c->why, "%s", why); /* for the callbacks failed now */
    redisAsyncFree(ac);
    conn_down(c, why);
}

void tc_redis_conn_sweep(tc_redis_conn *c, uint64_t now)
{
    if (c->ac != NULL && !c->up && now >= c->deadline) tc_redis_conn_kill(c, c->o.slow);
}

/* Linux may give a connect to a local port nobody listens on that same port
 * as its source (TCP simultaneous open): the socket then talks to itself,
 * and it holds the port a restarting Redis needs. */
static bool connected_to_itself(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof a, lb = sizeof b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    if (getsockname(fd, (struct sockaddr *)&a, &la) != 0 ||
        getpeername(fd, (struct sockaddr *)&b, &lb) != 0)
        return false;
    return la == lb && memcmp(&a, &b, la) == 0;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    tc_redis_conn *c = ac->data;
    if (c->ac != ac) return;
    if (status == REDIS_OK) {
        /* Up only once Redis answers (tc_redis_conn_answered): a paused or
         * wedged server still completes TCP connects. */
        if (connected_to_itself(ac->c.fd)) {
            /* Ended from the next loop turn (not inside hiredis), with an
             * RST: a TIME_WAIT left on that port would keep Redis from
             * binding it for a minute. */
            struct linger abort_on_close = {1, 0};
            setsockopt(ac->c.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
            c->self_connected = true;
            uv_timer_start(&c->retry, on_retry, 0, 0);
            tc_log_debug("store: %s: %s connection reached itself", c->o.name, c->o.role);
        }
        return;
    }
    /* hiredis frees ac when this returns, after failing its callbacks. */
    c->ac = NULL;
    conn_down(c, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    tc_redis_conn *c = ac->data;
    (void)status;
    if (c->ac != ac) return; /* we ended it ourselves (tc_redis_conn_kill) */
    c->ac = NULL;
    conn_down(c, ac->err && ac->errstr[0] ? ac->errstr : "connection closed");
}

/* The reply to AUTH, the first command of every context: refused, the
 * context ends (and the next connect tries again, with back-off). */
static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    tc_redis_conn *c = priv;
    const redisReply *reply = r;
    if (reply == NULL || c->ac != ac || reply->type != REDIS_REPLY_ERROR) return;
    char why[TC_REDIS_WHY_SIZE];
    snprintf(why, sizeof why, "AUTH: %s", reply->str);
    tc_redis_conn_kill(c, why);
}

/* Connects to addr, a numeric address of the host. */
static void connect_to(tc_redis_conn *c, const char *addr)
{
    redisAsyncContext *ac = redisAsyncConnect(addr, c->o.url->port);
    if (ac == NULL || ac->err) {
        char why[TC_REDIS_WHY_SIZE];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        conn_down(c, why);
        return;
    }
    if (tc_uv_redis_attach(ac, c->loop) != 0) {
        redisAsyncFree(ac);
        conn_down(c, "cannot poll the socket");
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->up = false;
    c->self_connected = false;
    c->deadline = uv_now(c->loop) + CONNECT_TIMEOUT_MS;
    redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    tc_redis_login_async(ac, c->o.url, on_auth, c);
    c->hooks.started(c->hooks.ctx, ac);
}

static void free_now(tc_redis_conn *c)
{
    void (*done)(void *) = c->done;
    void *arg = c->done_arg;
    free(c);
    done(arg);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    tc_redis_conn *c = req->data;
    c->resolving = false;
    char addr[TC_REDIS_ADDR_SIZE] = "";
    size_t n = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n += ai->ai_family == AF_INET || ai->ai_family == AF_INET6;
    size_t pick = n ? c->turn % n : 0;
    for (const struct addrinfo *ai = res; ai && addr[0] == '\0'; ai = ai->ai_next)
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) && pick-- == 0)
            tc_redis_addr_text(ai, addr);
    uv_freeaddrinfo(res);
    if (c->freeing) {
        free_now(c);
    } else if (c->stopped) {
        return;
    } else if (addr[0] == '\0') {
        char why[TC_REDIS_WHY_SIZE];
        snprintf(why, sizeof why, "cannot resolve %.64s: %s", c->o.url->host,
                 status < 0 ? uv_strerror(status) : "no address");
        conn_down(c, why);
    } else {
        connect_to(c, addr);
    }
}

void tc_redis_conn_start(tc_redis_conn *c)
{
    if (c->resolving) return;
    if (tc_redis_host_is_numeric(c->o.url->host)) {
        connect_to(c, c->o.url->host);
        return;
    }
    /* A name is looked up on libuv's thread pool at every connect (its
     * addresses may change while we run); the loop never waits for DNS. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->resolving = true;
    int rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, c->o.url->host, NULL, &hints);
    if (rc != 0) {
        c->resolving = false;
        char why[TC_REDIS_WHY_SIZE];
        snprintf(why, sizeof why, "cannot resolve %.64s: %s", c->o.url->host, uv_strerror(rc));
        conn_down(c, why);
    }
}

static void on_retry(uv_timer_t *t)
{
    tc_redis_conn *c = t->data;
    if (c->stopped) return;
    if (c->ac != NULL && c->self_connected)
        tc_redis_conn_kill(c, "reached itself, not Redis (nothing listens on that port)");
    else if (c->ac == NULL)
        tc_redis_conn_start(c);
}

tc_redis_conn *tc_redis_conn_new(uv_loop_t *loop, const tc_redis_conn_opts *o,
                                 const tc_redis_conn_hooks *hooks)
{
    tc_redis_conn *c = tc_xcalloc(1, sizeof *c);
    c->loop = loop;
    c->o = *o;
    c->hooks = *hooks;
    uv_timer_init(loop, &c->retry);
    c->retry.data = c;
    return c;
}

void tc_redis_conn_stop(tc_redis_conn *c)
{
    c->stopped = true;
    uv_timer_stop(&c->retry);
}

static void on_timer_closed(uv_handle_t *h)
{
    tc_redis_conn *c = h->data;
    if (c->resolving) {
        /* Freed when the lookup ends (on_resolved). */
        c->freeing = true;
        uv_cancel((uv_req_t *)&c->gai);
        return;
    }
    free_now(c);
}

void tc_redis_conn_free(tc_redis_conn *c, void (*done)(void *arg), void *arg)
{
    c->done = done;
    c->done_arg = arg;
    uv_close((uv_handle_t *)&c->retry, on_timer_closed);
}
