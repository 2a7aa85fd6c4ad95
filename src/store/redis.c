/* redis.c — the "redis://HOST:PORT[/DB]" store backend: carts and the menu
 * live in Redis, so any number of instances can serve the same tables.
 *
 * This file wires the parts together and runs the change feed:
 * - redis_link: the command and subscriber connections (command timeout,
 *   heartbeat), each a redis_conn (reconnects with back-off);
 * - redis_carts: reading a cart and the optimistic write (Lua script +
 *   PUBLISH);
 * - redis_sync: the blocking connection used before serving (start check,
 *   menu load and import).
 * The change feed comes from pub/sub for every instance, the origin too:
 * every message the subscriber connection hears is handed to
 * tc_store_emit_feed, with the op's origin only when the message came from
 * this instance. After a (re)subscription every cart of the menu is read
 * once and fed again (a resync).
 *
 * Keys and messages: docs/redis.md. */
#include "store/backend.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/redis_carts.h"
#include "store/redis_link.h"
#include "store/redis_sync.h"
#include "store/redis_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Room for "redis://[HOST]:PORT/DB" with the longest host a URL may hold. */
#define NAME_SIZE (sizeof((tc_redis_url *)0)->host + sizeof "redis://[]:65535/-2147483648")
/* Knuth's MMIX LCG multiplier: spreads the clock's bits over all 64 when
 * getrandom is unavailable and the instance id comes from clock and pid. */
#define MIX_MULTIPLIER 6364136223846793005ull

typedef struct {
    tc_store *s; /* NULL once closed */
    tc_redis_url url;
    char name[NAME_SIZE]; /* "redis://host:port/db", for messages */
    tc_buf channel;
    uint64_t instance;
    tc_redis_link *link;
    tc_redis_carts *carts;
    bool closing;
} rd_store;

/* A resync read of one table's cart. */
typedef struct {
    tc_redis_req req; /* first: the link hands back &req */
    rd_store *q;
} rd_resync;

/* --- the change feed ------------------------------------------------------ */

static void feed_cart(rd_store *q, const char *json, size_t len, uint64_t origin)
{
    tc_cart *c = NULL;
    if (tc_cart_from_json(json, len, &c) != 0) {
        tc_log_warn("store: %s: a change message holds an unreadable cart", q->name);
        return;
    }
    /* A table this instance does not serve (a newer menu elsewhere) has no
     * subscriber here. */
    if (tc_menu_table(q->s->menu, tc_cart_table_id(c)) != NULL) tc_store_emit_feed(q->s, c, origin);
    tc_cart_free(c);
}

static void on_message(void *ctx, const char *p, size_t n)
{
    rd_store *q = ctx;
    tc_redis_msg msg;
    if (tc_redis_msg_decode(p, n, &msg) != 0) {
        tc_log_warn("store: %s: ignoring a malformed message on %s", q->name, q->channel.base);
        return;
    }
    /* origin names a connection of the instance that made the change. */
    feed_cart(q, msg.cart, msg.cart_len, msg.instance == q->instance ? msg.origin : 0);
}

static void resync_answered(tc_redis_req *req, redisReply *reply)
{
    rd_resync *r = (rd_resync *)req;
    rd_store *q = r->q;
    if (!q->closing && reply != NULL && reply->type == REDIS_REPLY_STRING)
        feed_cart(q, reply->str, reply->len, 0);
    free(r);
}

/* After a (re)subscription changes may have been missed: every stored cart
 * goes to the feed once more. Subscribers skip versions they already have,
 * so this only heals streams that fell behind. */
static int on_resync(void *ctx)
{
    rd_store *q = ctx;
    const tc_menu *m = q->s->menu;
    for (size_t i = 0; m != NULL && i < tc_menu_table_count(m); i++) {
        rd_resync *r = tc_xcalloc(1, sizeof *r);
        r->q = q;
        char key[TC_REDIS_CART_KEY_SIZE];
        tc_redis_cart_key(tc_menu_table_at(m, i)->table_id, key);
        const char *argv[] = {"HGET", key, "cart"};
        size_t lens[] = {strlen(argv[0]), strlen(key), strlen(argv[2])};
        int rc = tc_redis_link_send(q->link, &r->req, resync_answered, 3, argv, lens);
        if (rc != 0) {
            free(r);
            return rc;
        }
    }
    return 0;
}

/* --- open / close / the vtable -------------------------------------------- */

static uint64_t random_instance_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
        struct timespec wall, mono;
        clock_gettime(CLOCK_REALTIME, &wall);
        clock_gettime(CLOCK_MONOTONIC, &mono);
        uint64_t ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
        id = ms * MIX_MULTIPLIER ^ (uint64_t)getpid() << 32 ^ (uint64_t)mono.tv_nsec;
    }
    return id ? id : 1;
}

static void on_link_closed(void *ctx)
{
    rd_store *q = ctx;
    tc_redis_carts_free(q->carts);
    tc_buf_free(&q->channel);
    free(q);
}

static int rd_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    tc_redis_url u;
    int rc = tc_redis_url_parse(rest, &u, err);
    if (rc != 0) return rc;
    rd_store *q = tc_xcalloc(1, sizeof *q);
    q->url = u;
    bool v6 = strchr(u.host, ':') != NULL;
    char db[sizeof "/-2147483648"] = "";
    if (u.db != 0) snprintf(db, sizeof db, "/%d", u.db);
    snprintf(q->name, sizeof q->name, v6 ? "redis://[%s]:%d%s" : "redis://%s:%d%s", u.host, u.port,
             db);

    /* Fail at start, with a clear message, when Redis is not there or the
     * database index is refused; later outages are survived. */
    if ((rc = tc_redis_sync_check(&u, q->name, err)) != 0) {
        free(q);
        return rc;
    }

    q->s = s;
    tc_redis_channel(u.db, &q->channel);
    tc_buf_cstr(&q->channel);
    q->instance = random_instance_id();
    tc_buf alive = TC_BUF_INIT;
    tc_buf_appendf(&alive, "tablecart:alive:%016" PRIx64, q->instance);
    tc_redis_link_opts o = {.url = &q->url,
                            .name = q->name,
                            .channel = q->channel.base,
                            .alive = tc_buf_cstr(&alive),
                            .script = tc_redis_carts_script};
    tc_redis_link_hooks hooks = {
        .ctx = q, .message = on_message, .resync = on_resync, .closed = on_link_closed};
    q->link = tc_redis_link_open(s->loop, &o, &hooks);
    tc_buf_free(&alive);
    q->carts = tc_redis_carts_new(s, q->link, q->name, q->channel.base, q->instance);
    s->impl = q;
    tc_log_info("store: %s (instance %016" PRIx64 ", changes on %s)", q->name, q->instance,
                q->channel.base);
    return 0;
}

static void rd_close(tc_store *s)
{
    rd_store *q = s->impl;
    s->impl = NULL;
    q->closing = true;
    q->s = NULL;
    tc_redis_carts_stop(q->carts);
    tc_redis_link_close(q->link); /* frees q when done (on_link_closed) */
}

static int rd_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    rd_store *q = s->impl;
    return tc_redis_sync_load_menu(&q->url, q->name, out, err);
}

static int rd_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    rd_store *q = s->impl;
    return tc_redis_sync_import_menu(&q->url, q->name, m, err);
}

static void rd_get(tc_store *s, const tc_table *t, tc_store_be_cb cb, void *ctx)
{
    rd_store *q = s->impl;
    tc_redis_carts_get(q->carts, t->table_id, cb, ctx);
}

static void rd_mutate(tc_store *s, const tc_table *t, const tc_op *op, const tc_cart_limits *lim,
                      tc_store_be_cb cb, void *ctx)
{
    rd_store *q = s->impl;
    tc_redis_carts_mutate(q->carts, t->table_id, op, lim, cb, ctx);
}

static int rd_ping(tc_store *s)
{
    rd_store *q = s->impl;
    return tc_redis_link_ready(q->link) ? 0 : TC_ESTORE;
}

const tc_store_backend tc_store_backend_redis = {
    .scheme = "redis",
    .open = rd_open,
    .close = rd_close,
    .load_menu = rd_load_menu,
    .import_menu = rd_import_menu,
    .get = rd_get,
    .mutate = rd_mutate,
    .ping = rd_ping,
};
