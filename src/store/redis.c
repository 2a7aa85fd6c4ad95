/* redis.c — the "redis://HOST:PORT[/DB]" store backend: carts and the menu
 * live in Redis, so any number of instances can serve the same tables.
 *
 * This file wires the parts together and runs the change feed:
 * - redis_link: the command and subscriber connections (command timeout,
 *   heartbeat), each a redis_conn (reconnects with back-off);
 * - redis_carts: the pipeline's jobs — reading a cart, and the optimistic
 *   write (Lua compare-and-set + PUBLISH);
 * - redis_sync: the blocking connection used before serving (start check,
 *   menu load and import).
 * store.c feeds this instance's own changes when their write succeeds; a
 * message heard on pub/sub from this instance is that same change and is
 * skipped. A message from another instance is offered to store.c
 * (tc_store_offer), which keeps it as the table's cart and feeds it when it
 * is newer than what it has. After a (re)subscription every cart of the
 * menu is read once and offered the same way (a resync); until those reads
 * are answered the carts in memory are not trusted (rd_current).
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
#define NAME_SIZE                                                                                  \
    (sizeof((tc_redis_url *)0)->user + sizeof((tc_redis_url *)0)->host +                           \
     sizeof "redis://@[]:65535/-2147483648")
/* Knuth's MMIX LCG multiplier: spreads the clock's bits over all 64 when
 * getrandom is unavailable and the instance id comes from clock and pid. */
#define MIX_MULTIPLIER 6364136223846793005ull

typedef struct {
    tc_store *s; /* NULL once closed */
    tc_redis_url url;
    char name[NAME_SIZE]; /* "redis://[user@]host:port/db", for messages */
    tc_buf channel;
    uint64_t instance;
    tc_redis_link *link;
    tc_redis_carts *carts;
    int resync_reads;   /* resync reads not answered yet */
    bool resync_unsent; /* a resync could not send all its reads */
    bool closing;
} rd_store;

/* A resync read of one table's cart. */
typedef struct {
    tc_redis_req req; /* first: the link hands back &req */
    rd_store *q;
} rd_resync;

/* --- the change feed ------------------------------------------------------ */

/* Offers a cart another instance wrote (or a resync read) to the store. */
static void offer_cart(rd_store *q, const char *json, size_t len)
{
    tc_cart *c = NULL;
    if (tc_cart_from_json(json, len, &c) != 0) {
        tc_log_warn("store: %s: a change message holds an unreadable cart", q->name);
        return;
    }
    tc_store_offer(q->s, c, json, len);
}

static void on_message(void *ctx, const char *p, size_t n)
{
    rd_store *q = ctx;
    tc_redis_msg msg;
    if (tc_redis_msg_decode(p, n, &msg) != 0) {
        tc_log_warn("store: %s: ignoring a malformed message on %s", q->name, q->channel.base);
        return;
    }
    /* Our own change was fed when its write succeeded, with its origin
     * (connection ids are per process, so origin means nothing here for
     * another instance's change). */
    if (msg.instance == q->instance) return;
    offer_cart(q, msg.cart, msg.cart_len);
}

static void resync_answered(tc_redis_req *req, redisReply *reply)
{
    rd_resync *r = (rd_resync *)req;
    rd_store *q = r->q;
    q->resync_reads--;
    if (!q->closing && reply != NULL && reply->type == REDIS_REPLY_STRING)
        offer_cart(q, reply->str, reply->len);
    free(r);
}

/* After a (re)subscription changes may have been missed: every stored cart
 * is read once more and offered to the store, which keeps and feeds those
 * newer than its own. Subscribers skip versions they already have, so this
 * only heals streams that fell behind. */
static int on_resync(void *ctx)
{
    rd_store *q = ctx;
    const tc_menu *m = q->s->menu;
    q->resync_unsent = false;
    for (size_t i = 0; m != NULL && i < tc_menu_table_count(m); i++) {
        rd_resync *r = tc_xcalloc(1, sizeof *r);
        r->q = q;
        int rc = tc_redis_carts_read(q->carts, &r->req, tc_menu_table_at(m, i)->table_id,
                                     resync_answered);
        if (rc != 0) {
            free(r);
            q->resync_unsent = true; /* the link calls again */
            return rc;
        }
        q->resync_reads++;
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
    explicit_bzero(&q->url, sizeof q->url);
    free(q);
}

static int rd_check_url(const char *rest, tc_errmsg *err)
{
    tc_redis_url u;
    return tc_redis_url_parse(rest, &u, err);
}

static int rd_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    tc_redis_url u;
    int rc = tc_redis_url_parse(rest, &u, err);
    if (rc != 0) return rc;
    const char *password = s->opts.redis_password ? s->opts.redis_password : "";
    if (strlen(password) >= sizeof u.password)
        return tc_errmsg_set(err, TC_EINVAL, "store: the Redis password is too long");
    if (u.user[0] && !password[0])
        return tc_errmsg_set(err, TC_EINVAL,
                             "store: redis user %s needs a password: --redis-password-file FILE "
                             "or TABLECART_REDIS_PASSWORD",
                             u.user);
    strcpy(u.password, password);
    rd_store *q = tc_xcalloc(1, sizeof *q);
    q->url = u;
    bool v6 = strchr(u.host, ':') != NULL;
    char db[sizeof "/-2147483648"] = "";
    if (u.db != 0) snprintf(db, sizeof db, "/%d", u.db);
    snprintf(q->name, sizeof q->name, v6 ? "redis://%s%s[%s]:%d%s" : "redis://%s%s%s:%d%s", u.user,
             u.user[0] ? "@" : "", u.host, u.port, db);
    explicit_bzero(u.password, sizeof u.password);

    /* Fail at start, with a clear message, when Redis is not there or the
     * database index is refused; later outages are survived. */
    if ((rc = tc_redis_sync_check(&q->url, q->name, err)) != 0) {
        explicit_bzero(&q->url, sizeof q->url);
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
    q->carts = tc_redis_carts_new(q->link, q->name, q->channel.base, q->instance);
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

static void rd_submit(tc_store *s, tc_store_job *j)
{
    rd_store *q = s->impl;
    tc_redis_carts_submit(q->carts, j);
}

/* Every change made elsewhere was heard: both connections are up, the
 * subscription is confirmed and the resync after it is over. */
static bool rd_current(tc_store *s)
{
    rd_store *q = s->impl;
    return tc_redis_link_ready(q->link) && q->resync_reads == 0 && !q->resync_unsent;
}

static int rd_ping(tc_store *s)
{
    return rd_current(s) ? 0 : TC_ESTORE;
}

const tc_store_backend tc_store_backend_redis = {
    .scheme = "redis",
    .open = rd_open,
    .check_url = rd_check_url,
    .close = rd_close,
    .load_menu = rd_load_menu,
    .import_menu = rd_import_menu,
    .ping = rd_ping,
    .submit = rd_submit,
    .current = rd_current,
    .shared_idem = true,
};
