/* redis.c — the "redis://HOST:PORT[/DB]" store backend: carts and the menu
 * live in Redis, so any number of instances can serve the same tables.
 *
 * Longer than 500 lines on purpose: the followed tables, their channels'
 * (un)subscriptions and the resync after a reconnect are one state machine
 * per table and are read together.
 *
 * This file wires the parts together and runs the change feed:
 * - redis_link: the command and subscriber connections (command timeout,
 *   heartbeat), each a redis_conn (reconnects with back-off);
 * - redis_carts: the pipeline's jobs — reading a cart, and the optimistic
 *   write (Lua compare-and-set + PUBLISH);
 * - redis_sync: the blocking connection used before serving (start check,
 *   menu load and import).
 * store.c feeds this instance's own changes when their write succeeds; a
 * message heard on pub/sub from this instance is that same change, fed
 * then if it came before the write's reply (tc_store_heard_own), else
 * skipped. Each table has its own channel, subscribed while the table is
 * followed here (the live layer follows a table while it has streams):
 * a message from another instance is offered to store.c
 * (tc_store_offer_json), which drops a version it has without parsing and
 * otherwise keeps the cart and feeds it. Once a table's subscription is
 * confirmed its cart is read once more and offered the same way; until then,
 * and whenever it is not followed, the table is not current (rd_current) and
 * the pipeline reads its cart before each use. A new subscriber connection
 * subscribes every followed table again (on_resubscribe), and each is read
 * again as its subscription is confirmed; a lost command connection has every
 * followed table read again too (a write's reply may be what was lost).
 * After either, a followed table's diners are read again too, once its cart
 * was: a "diners" signal sent meanwhile was not heard.
 * Signals travel on the same channels; `menu import` publishes on the menu
 * channel, and the menu is then read again on the command connection (never
 * blocking the loop).
 *
 * Keys and messages: docs/redis.md. */
#include "store/backend.h"

#include "core/json.h"
#include "core/idmap.h"
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

/* A table this instance follows, or whose channel is still being
 * unsubscribed. Only one (UN)SUBSCRIBE per channel is unconfirmed at a time
 * (see tc_redis_link_subscribe): a follow or unfollow meanwhile is caught up
 * when the confirmation comes. */
typedef struct rd_table rd_table;
struct rd_table {
    tc_idmap_node node; /* in tables, by id */
    int32_t id;
    bool want;    /* followed here */
    bool have;    /* the last command sent for its channel was SUBSCRIBE */
    bool busy;    /* and it is not confirmed yet */
    bool current; /* subscribed, then read: messages keep its cart current */
    bool reading; /* a read of its cart is on its way */
    bool again;   /* read it again when that read is answered */
    bool diners;  /* and its diners once it is current: a signal may be lost */
    /* the version of the last change heard on its channel (this instance's
     * own included), -1 when none was: versions go up by one per write and
     * each is published once, so a message not above it is a version
     * written again (Redis lost the cart) */
    int64_t last_heard;
};

typedef struct {
    tc_store *s; /* NULL once closed */
    tc_redis_url url;
    char name[NAME_SIZE]; /* "redis://[user@]host:port/db", for messages */
    tc_buf prefix;        /* of the table channels */
    tc_buf menu_channel;
    uint64_t instance;
    tc_redis_link *link;
    tc_redis_carts *carts;
    tc_idmap tables;   /* rd_table by id: the followed tables */
    bool reads_unsent; /* a table's read could not be sent: resync sends it */
    bool menu_reading, menu_again;
    bool closing;
    /* pub/sub messages heard: changes (own ones included), signals, menu */
    uint64_t heard_changes, heard_signals, heard_menus;
} rd_store;

/* A read of one table's cart after its subscription, or of the menu. */
typedef struct {
    tc_redis_req req; /* first: the link hands back &req */
    rd_store *q;
    rd_table *t;      /* NULL: the menu */
    int64_t asked_at; /* t: tc_store_seen when sent */
} rd_read;

/* --- the followed tables -------------------------------------------------- */

static rd_table *entry(tc_idmap_node *n)
{
    return n ? TC_IDMAP_ENTRY(n, rd_table, node) : NULL;
}

static rd_table *table_find(rd_store *q, int32_t id)
{
    return entry(tc_idmap_find(&q->tables, id));
}

static rd_table *table_add(rd_store *q, int32_t id)
{
    rd_table *t = tc_xcalloc(1, sizeof *t);
    t->id = id;
    t->last_heard = -1;
    tc_idmap_add(&q->tables, &t->node, id);
    return t;
}

/* Forgets t once nothing about its channel or its cart is pending. */
static void table_maybe_free(rd_store *q, rd_table *t)
{
    if (t->want || t->have || t->busy || t->reading) return;
    tc_idmap_remove(&q->tables, &t->node);
    free(t);
}

static void table_channel(const rd_store *q, int32_t id, tc_buf *out)
{
    tc_buf_append(out, q->prefix.base, q->prefix.len);
    tc_json_int(out, id);
}

/* Sends the command that brings t's channel to what is wanted, unless one
 * is unconfirmed (its confirmation calls this again). */
static void table_sync(rd_store *q, rd_table *t)
{
    if (t->busy || t->want == t->have) return;
    tc_buf ch = TC_BUF_INIT;
    table_channel(q, t->id, &ch);
    const char *chans[] = {ch.base};
    size_t lens[] = {ch.len};
    /* No subscriber connection: the next one subscribes what is wanted. */
    if (tc_redis_link_subscribe(q->link, t->want, 1, chans, lens) == 0) {
        t->busy = true;
        t->have = t->want;
    }
    tc_buf_free(&ch);
}

/* --- the change feed ------------------------------------------------------ */

static void read_answered(tc_redis_req *req, redisReply *reply);

/* Sends a read of t's cart (NULL: of the menu); one in flight at a time. */
static void read_send(rd_store *q, rd_table *t)
{
    bool *reading = t ? &t->reading : &q->menu_reading, *again = t ? &t->again : &q->menu_again;
    if (t) t->current = false;
    if (*reading) {
        *again = true;
        return;
    }
    rd_read *r = tc_xcalloc(1, sizeof *r);
    r->q = q;
    r->t = t;
    int rc;
    if (t) {
        r->asked_at = tc_store_seen(q->s, t->id);
        rc = tc_redis_carts_read(q->carts, &r->req, t->id, read_answered);
    } else {
        const char *argv[] = {"GET", TC_REDIS_MENU_KEY};
        size_t lens[] = {3, sizeof TC_REDIS_MENU_KEY - 1};
        rc = tc_redis_link_send(q->link, &r->req, read_answered, 2, argv, lens);
    }
    if (rc != 0) {
        free(r);
        q->reads_unsent = true;
        tc_redis_link_want_resync(q->link);
        return;
    }
    *reading = true;
}

/* A stored menu unlike the served one becomes the served one. */
static void menu_read(rd_store *q, const char *text, size_t len)
{
    tc_buf now = TC_BUF_INIT;
    tc_redis_menu_json(q->s->menu, &now);
    bool same = now.len == len && memcmp(now.base, text, len) == 0;
    tc_buf_free(&now);
    if (same) return;
    tc_menu *m = NULL;
    tc_errmsg err = {0};
    if (tc_menu_parse(text, len, &m, &err) != 0) {
        tc_log_warn("store: %s: the stored menu is unreadable, still serving the old one: %s",
                    q->name, err.text);
        return;
    }
    tc_log_info("store: %s: the menu changed; serving the new one", q->name);
    tc_store_menu_replace(q->s, m);
}

static void read_answered(tc_redis_req *req, redisReply *reply)
{
    rd_read *r = (rd_read *)req;
    rd_store *q = r->q;
    rd_table *t = r->t;
    int64_t asked_at = r->asked_at;
    free(r);
    bool *reading = t ? &t->reading : &q->menu_reading, *again = t ? &t->again : &q->menu_again;
    *reading = false;
    if (q->closing) return;
    bool ok =
        reply != NULL && (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_NIL);
    if (!ok) {
        q->reads_unsent = true; /* the command connection went away: read again */
        tc_redis_link_want_resync(q->link);
    } else if (t == NULL) {
        if (reply->type == REDIS_REPLY_STRING) menu_read(q, reply->str, reply->len);
    } else {
        /* Nothing stored is the empty cart: one Redis lost (restarted with
         * no persistence, evicted) is not served from memory. */
        tc_store_offer_read(q->s, t->id, asked_at,
                            reply->type == REDIS_REPLY_STRING ? reply->str : NULL,
                            reply->type == REDIS_REPLY_STRING ? reply->len : 0);
    }
    if (ok && *again) {
        *again = false;
        read_send(q, t);
    } else if (ok && t && t->want && t->have && !t->busy) {
        t->current = true; /* every later change comes as a message */
        if (t->diners) {
            /* Its diners may have changed while the subscription was down
             * (or a change of them here lost its reply): the "diners"
             * signal of that change was not heard. */
            t->diners = false;
            tc_store_diners_reread(q->s, t->id);
        }
    }
    if (t) table_maybe_free(q, t);
}

static void on_message(void *ctx, const char *ch, size_t ch_len, const char *p, size_t n)
{
    rd_store *q = ctx;
    if (ch_len == q->menu_channel.len && memcmp(ch, q->menu_channel.base, ch_len) == 0) {
        q->heard_menus++;
        read_send(q, NULL); /* without blocking: the reply comes on the loop */
        return;
    }
    int32_t id;
    tc_redis_msg msg;
    /* Another instance's change is fed as it came: a cart that is not what
     * an instance writes for this table at this version is not fed at all
     * (it would reach the streams, and its version hide the real ones). */
    if (tc_redis_channel_table(ch, ch_len, q->prefix.base, q->prefix.len, &id) != 0 ||
        tc_redis_msg_decode(p, n, &msg) != 0 ||
        (msg.kind == TC_REDIS_MSG_CART && msg.instance != q->instance &&
         !tc_redis_msg_cart_fits(&msg, id))) {
        tc_log_warn("store: %s: ignoring a malformed message on %.*s", q->name, (int)ch_len, ch);
        return;
    }
    if (msg.kind == TC_REDIS_MSG_SIGNAL) {
        q->heard_signals++;
        /* An unsubscribed channel may still deliver until Redis confirms. */
        if (tc_store_following(q->s, id) > 0) tc_store_signalled(q->s, id, msg.body, msg.body_len);
        return;
    }
    /* Our own change is fed when its write succeeds, with its origin
     * (connection ids are per process, so origin means nothing here for
     * another instance's change) — or now, when its message comes before
     * the write's reply: another instance's next change may follow it on
     * this connection before that reply, and must not be fed first. */
    q->heard_changes++;
    int64_t at = tc_redis_msg_updated_at(&msg);
    rd_table *t = table_find(q, id);
    int64_t last = t ? t->last_heard : -1;
    if (t && msg.version >= 0) t->last_heard = msg.version;
    if (msg.instance == q->instance) {
        tc_store_heard_own(q->s, id, msg.version, at);
        return;
    }
    /* Not above the last message heard on the channel (or, none heard yet,
     * below a version fed here), or the version fed written again: Redis
     * may have lost the cart (evicted, deleted, restarted without it), the
     * next versions all hidden behind the old ones. The read says
     * (tc_store_offer_read); a message overtaken by that of a read after a
     * resubscription only costs it. A message merely below a version fed
     * here is no sign of that: a cart read after a lost race, and this
     * instance's changes written on top of it, are often fed before the
     * messages of the versions they are (store.c, "Feed order"), and a read
     * then would leave the table not current for its round trip, its
     * waiting versions fed with a gap. */
    bool below = last >= 0 ? msg.version <= last : msg.version < tc_store_seen(q->s, id);
    if (msg.version >= 0 && (below || tc_store_seen_other(q->s, id, msg.version, at))) {
        if (t && t->want) read_send(q, t);
        return;
    }
    tc_store_offer_json(q->s, id, msg.version, at, msg.body, msg.body_len, msg.pack, msg.pack_len);
}

static void on_subscribed(void *ctx, const char *ch, size_t ch_len, bool on)
{
    rd_store *q = ctx;
    int32_t id;
    (void)on;
    if (tc_redis_channel_table(ch, ch_len, q->prefix.base, q->prefix.len, &id) != 0) return;
    rd_table *t = table_find(q, id);
    if (t == NULL || !t->busy) return;
    t->busy = false;
    if (t->want != t->have) {
        table_sync(q, t);
    } else if (t->want) {
        /* Subscribed: from now on every change is heard. One may have
         * landed between the reads before and the subscription: read the
         * cart once more and offer it. */
        read_send(q, t);
    }
    table_maybe_free(q, t);
}

/* A new subscriber connection: every followed table's channel again, in one
 * go; the reads follow their confirmations. */
static void on_resubscribe(void *ctx)
{
    rd_store *q = ctx;
    tc_buf names = TC_BUF_INIT;
    size_t n = 0, cap = q->tables.count, pos = 0;
    size_t *ends = tc_xcalloc(cap ? cap : 1, sizeof *ends);
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL), *nx; nd; nd = nx) {
        nx = tc_idmap_next(&q->tables, &pos, nd);
        rd_table *t = entry(nd);
        t->busy = t->have = t->current = false;
        t->diners = t->want;
        if (!t->want) {
            table_maybe_free(q, t);
            continue;
        }
        table_channel(q, t->id, &names);
        ends[n++] = names.len;
    }
    const char **chans = tc_xcalloc(n ? n : 1, sizeof *chans);
    size_t *lens = tc_xcalloc(n ? n : 1, sizeof *lens);
    for (size_t i = 0; i < n; i++) {
        size_t begin = i ? ends[i - 1] : 0;
        chans[i] = names.base + begin;
        lens[i] = ends[i] - begin;
    }
    pos = 0;
    if (n > 0 && tc_redis_link_subscribe(q->link, true, n, chans, lens) == 0)
        for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL); nd;
             nd = tc_idmap_next(&q->tables, &pos, nd))
            if (entry(nd)->want) entry(nd)->busy = entry(nd)->have = true;
    free(chans);
    free(lens);
    free(ends);
    tc_buf_free(&names);
}

/* After a (re)subscription: the menu may have changed meanwhile, and reads
 * that could not be sent are sent now. The followed tables are read as
 * their subscriptions are confirmed (on_subscribed). After the command
 * connection was lost, every followed table is read again here
 * (on_commands_lost made them not current). */
static int on_resync(void *ctx)
{
    rd_store *q = ctx;
    q->reads_unsent = false;
    read_send(q, NULL);
    size_t pos = 0;
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL); nd && !q->reads_unsent;
         nd = tc_idmap_next(&q->tables, &pos, nd)) {
        rd_table *t = entry(nd);
        if (t->want && t->have && !t->busy && !t->current && !t->reading) read_send(q, t);
    }
    return q->reads_unsent ? TC_ESTORE : 0;
}

/* Replies of the command connection were lost: a write of this instance
 * may have landed unanswered, and its own message is skipped, so no table
 * is current until it was read again (on_resync reads the followed ones). */
static void on_commands_lost(void *ctx)
{
    rd_store *q = ctx;
    size_t pos = 0;
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL); nd;
         nd = tc_idmap_next(&q->tables, &pos, nd)) {
        entry(nd)->current = false;
        entry(nd)->diners = true;
    }
}

/* The subscription is gone: no followed table is current, and what waits
 * for the messages of the versions below it is fed now (they may never
 * come; the resubscription reads every followed table again). */
static void on_messages_lost(void *ctx)
{
    rd_store *q = ctx;
    if (q->s == NULL) return;
    size_t pos = 0;
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL); nd;
         nd = tc_idmap_next(&q->tables, &pos, nd))
        entry(nd)->current = false;
    tc_store_unheard(q->s);
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
    size_t pos = 0;
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL), *nx; nd; nd = nx) {
        nx = tc_idmap_next(&q->tables, &pos, nd);
        free(entry(nd));
    }
    tc_idmap_free(&q->tables);
    tc_buf_free(&q->prefix);
    tc_buf_free(&q->menu_channel);
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
    tc_redis_table_channel_prefix(u.db, &q->prefix);
    tc_buf_cstr(&q->prefix);
    tc_redis_menu_channel(u.db, &q->menu_channel);
    tc_buf_cstr(&q->menu_channel);
    tc_idmap_init(&q->tables);
    q->instance = random_instance_id();
    tc_buf alive = TC_BUF_INIT;
    tc_buf_appendf(&alive, "tablecart:alive:%016" PRIx64, q->instance);
    tc_redis_link_opts o = {.url = &q->url,
                            .name = q->name,
                            .channel = q->menu_channel.base,
                            .alive = tc_buf_cstr(&alive),
                            .script = tc_redis_carts_script};
    tc_redis_link_hooks hooks = {.ctx = q,
                                 .message = on_message,
                                 .subscribed = on_subscribed,
                                 .resubscribe = on_resubscribe,
                                 .resync = on_resync,
                                 .commands_lost = on_commands_lost,
                                 .messages_lost = on_messages_lost,
                                 .closed = on_link_closed};
    q->link = tc_redis_link_open(s->loop, &o, &hooks);
    tc_buf_free(&alive);
    q->carts = tc_redis_carts_new(q->link, q->name, q->prefix.base, q->instance);
    s->impl = q;
    tc_log_info("store: %s (instance %016" PRIx64 ", changes on %s<tableId>)", q->name, q->instance,
                q->prefix.base);
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

/* Every change of table_id made elsewhere was heard: both connections are
 * up, and the table's channel was subscribed and its cart read since. */
static bool rd_current(tc_store *s, int32_t table_id)
{
    rd_store *q = s->impl;
    if (!tc_redis_link_ready(q->link)) return false;
    const rd_table *t = table_find(q, table_id);
    return t != NULL && t->current;
}

/* Both connections are up and every read a resync asked for could be sent. */
static int rd_ping(tc_store *s)
{
    rd_store *q = s->impl;
    return tc_redis_link_ready(q->link) && !q->reads_unsent ? 0 : TC_ESTORE;
}

static void rd_follow(tc_store *s, int32_t table_id, bool on)
{
    rd_store *q = s->impl;
    rd_table *t = table_find(q, table_id);
    if (t == NULL && !on) return;
    if (t == NULL) t = table_add(q, table_id);
    t->want = on;
    if (!on) t->current = false; /* its changes are not heard any more */
    table_sync(q, t);
    table_maybe_free(q, t);
}

static void signal_answered(tc_redis_req *r, redisReply *reply)
{
    (void)reply; /* a signal lost is sent again by its sender (store.h) */
    free(r);
}

static void rd_signal(tc_store *s, int32_t table_id, const char *msg, size_t len)
{
    rd_store *q = s->impl;
    tc_buf ch = TC_BUF_INIT, body = TC_BUF_INIT;
    table_channel(q, table_id, &ch);
    tc_buf_append_str(&body, TC_REDIS_SIGNAL_HEADER);
    tc_buf_append(&body, msg, len);
    const char *argv[] = {"PUBLISH", ch.base, body.base};
    size_t lens[] = {7, ch.len, body.len};
    tc_redis_req *r = tc_xcalloc(1, sizeof *r);
    if (tc_redis_link_send(q->link, r, signal_answered, 3, argv, lens) != 0) free(r);
    tc_buf_free(&ch);
    tc_buf_free(&body);
}

static void rd_metrics(tc_store *s, tc_buf *out)
{
    rd_store *q = s->impl;
    size_t subscribed = 0, pos = 0;
    for (tc_idmap_node *nd = tc_idmap_next(&q->tables, &pos, NULL); nd;
         nd = tc_idmap_next(&q->tables, &pos, nd))
        subscribed += entry(nd)->have;
    tc_buf_appendf(out,
                   "# HELP tablecart_redis_messages_received_total Pub/sub messages this "
                   "instance heard, by kind.\n"
                   "# TYPE tablecart_redis_messages_received_total counter\n"
                   "tablecart_redis_messages_received_total{kind=\"change\"} %llu\n"
                   "tablecart_redis_messages_received_total{kind=\"signal\"} %llu\n"
                   "tablecart_redis_messages_received_total{kind=\"menu\"} %llu\n"
                   "# HELP tablecart_redis_subscribed_tables Tables whose channel this instance "
                   "subscribes (it has streams of them).\n"
                   "# TYPE tablecart_redis_subscribed_tables gauge\n"
                   "tablecart_redis_subscribed_tables %zu\n",
                   (unsigned long long)q->heard_changes, (unsigned long long)q->heard_signals,
                   (unsigned long long)q->heard_menus, subscribed);
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
    .follow = rd_follow,
    .signal = rd_signal,
    .metrics = rd_metrics,
};
