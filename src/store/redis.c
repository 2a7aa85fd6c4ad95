/* redis.c — the "redis://HOST:PORT[/DB]" store: carts and the menu live in
 * Redis, so any number of instances can serve the same tables.
 *
 * - A mutate is optimistic: read the cart (HGET), apply the pure rules in C,
 *   then a Lua script writes it only if the stored version is still the one
 *   read, and PUBLISHes the change in the same step. A lost race is retried
 *   (at most MAX_ATTEMPTS times). Mutations of one table are also queued
 *   per instance, so an instance never races itself.
 * - The change feed comes from pub/sub for every instance, the origin too:
 *   a dedicated connection SUBSCRIBEs to one channel and every message is
 *   handed to tc_store_emit_feed, with the op's origin only when the message
 *   came from this instance.
 * - Two async connections (commands, subscriber) run on the loop through
 *   our adapter (uv_redis.c). A lost connection fails its pending calls with
 *   TC_ESTORE and is reconnected with back-off; a command unanswered for
 *   CMD_TIMEOUT_MS ends both connections the same way. A heartbeat published
 *   every second to a channel of this instance's own, and heard back on the
 *   subscription, catches a subscriber connection that died silently.
 * - The menu is read and written with a short-lived synchronous connection:
 *   that happens only before serving (start, `tablecart menu import`).
 *
 * Keys and messages: docs/redis.md. */
#include "store/backend.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/redis_wire.h"
#include "store/uv_redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CMD_TIMEOUT_MS 2000 /* a command (or a connect) unanswered this long: Redis is gone */
#define TICK_MS 100         /* timeout sweep */
#define PING_EVERY_MS 1000  /* a heartbeat goes through Redis pub/sub this often */
#define SUB_SILENT_MS 3500  /* no heartbeat heard for this long: the subscription is dead */
#define RETRY_MIN_MS 50     /* reconnect back-off: doubles up to RETRY_MAX_MS */
#define RETRY_MAX_MS 1000
#define MAX_ATTEMPTS 16      /* optimistic writes of one mutate before giving up */
#define CLOSE_WAIT_MS 2000   /* close waits this long for replies in flight */
#define SYNC_TIMEOUT_MS 2000 /* the menu's synchronous connection */
#define IMPORT_ATTEMPTS 10   /* WATCH retries of a menu import */

#define MENU_KEY "tablecart:menu"
#define CART_KEY_FMT "tablecart:cart:%d"

/* KEYS[1] the cart hash; ARGV: expected version, new version, updatedAt,
 * cart JSON, channel, message header. 1 = written and published, 0 = the
 * stored version moved on (nothing written). */
static const char script_src[] =
    "local v = redis.call('HGET', KEYS[1], 'version')\n"
    "if (v or '0') ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'version', ARGV[2], 'updatedAt', ARGV[3], 'cart', ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[5], ARGV[6] .. ARGV[4])\n"
    "return 1\n";

typedef struct rd_store rd_store;

typedef enum { LINK_CMD, LINK_SUB } link_role;

/* One async connection and its reconnect state. */
typedef struct {
    rd_store *q;
    link_role role;
    redisAsyncContext *ac; /* NULL while down */
    bool up;               /* CMD: Redis answered the setup; SUB: subscription confirmed */
    bool reported_down;    /* an outage is logged once, not at every retry */
    bool self_connected;   /* the socket reached itself (see connected_to_itself) */
    uint64_t deadline;     /* while connecting: give up at this uv_now() */
    unsigned backoff_ms;
    uv_timer_t retry;
    char why[160]; /* the last failure, for messages */
} rd_link;

/* A command sent on the command connection, waiting for its reply. Replies
 * come in order, so the oldest request has the nearest deadline. */
typedef struct rd_req rd_req;
typedef void (*rd_reply_fn)(rd_req *r, redisReply *reply);
struct rd_req {
    rd_store *q;
    rd_req *prev, *next;
    uint64_t deadline;
    rd_reply_fn on_reply;
    int32_t table_id; /* GET, MUTATE, RESYNC */
};

typedef struct {
    rd_req req;
    tc_store_cb cb;
    void *ctx;
} rd_get;

typedef struct rd_mut rd_mut;
struct rd_mut {
    rd_req req;
    tc_op op; /* strings point to remark and phone below */
    char *remark, *phone;
    tc_cart_limits lim;
    tc_store_cb cb;
    void *ctx;
    int attempts;
    tc_cart *cart;  /* the applied cart the script is writing */
    int64_t expect; /* the version it was applied to */
    tc_buf json;    /* the cart as stored */
    tc_buf header;  /* the message header */
    rd_mut *prev_active, *next_active;
    rd_mut *waiters, *waiters_tail; /* same table, behind this one, FIFO */
    rd_mut *wait_next;
};

struct rd_store {
    tc_store *s; /* NULL once closed */
    uv_loop_t *loop;
    tc_redis_url url;
    char name[300]; /* "redis://host:port/db", for messages */
    tc_buf channel;
    char sha[41];
    uint64_t instance;
    rd_link cmd, sub;
    rd_req *inflight_head, *inflight_tail;
    rd_mut *active; /* one in flight per table */
    uv_timer_t tick;
    tc_buf alive;       /* this instance's heartbeat channel */
    uint64_t next_ping; /* next heartbeat PUBLISH */
    bool ping_outstanding;
    uint64_t heard_at; /* last heartbeat heard on the subscription */
    bool resync_wanted;
    bool closing, handles_closing;
    uint64_t close_deadline;
    int open_handles;
};

static void link_start(rd_link *l);
static void link_down(rd_link *l, const char *why);
static void link_kill(rd_link *l, const char *why);
static void on_retry(uv_timer_t *t);

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *role_name(const rd_link *l)
{
    return l->role == LINK_CMD ? "commands" : "subscriber";
}

/* "store unavailable: redis://…: why" */
static int unavailable(rd_store *q, tc_errmsg *err)
{
    const char *why = q->cmd.why[0] ? q->cmd.why : "not connected";
    return tc_errmsg_set(err, TC_ESTORE, "store unavailable: %s: %s", q->name, why);
}

/* --- the command connection's requests ------------------------------------- */

static void inflight_push(rd_store *q, rd_req *r)
{
    r->next = NULL;
    r->prev = q->inflight_tail;
    if (q->inflight_tail)
        q->inflight_tail->next = r;
    else
        q->inflight_head = r;
    q->inflight_tail = r;
}

static void inflight_remove(rd_store *q, rd_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        q->inflight_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        q->inflight_tail = r->prev;
    r->prev = r->next = NULL;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    rd_req *r = priv;
    /* NULL: the connection is going away; say why in the 503s it causes. */
    if (reply == NULL && ac->err && ac->errstr[0])
        snprintf(r->q->cmd.why, sizeof r->q->cmd.why, "%s", ac->errstr);
    inflight_remove(r->q, r);
    r->on_reply(r, reply);
}

/* The command context if new commands may be sent on it (connected or still
 * connecting: hiredis buffers until the socket is ready). */
static redisAsyncContext *cmd_ctx(rd_store *q)
{
    redisAsyncContext *ac = q->cmd.ac;
    if (q->closing || ac == NULL || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return NULL;
    return ac;
}

/* Sends a command for r; its reply goes to fn(r, reply), reply NULL when the
 * connection went away first. Returns 0, or -1 if it could not be sent (fn
 * is not called then). */
static int send_argv(rd_store *q, rd_req *r, rd_reply_fn fn, int argc, const char **argv,
                     const size_t *lens)
{
    redisAsyncContext *ac = cmd_ctx(q);
    if (ac == NULL) return -1;
    r->q = q;
    r->on_reply = fn;
    if (redisAsyncCommandArgv(ac, on_cmd_reply, r, argc, argv, lens) != REDIS_OK) return -1;
    r->deadline = uv_now(q->loop) + CMD_TIMEOUT_MS;
    inflight_push(q, r);
    return 0;
}

static void log_req_error(rd_req *r, redisReply *reply)
{
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        tc_log_error("store: %s: %s", r->q->name, reply->str);
    free(r);
}

/* Sends a command whose reply only matters when it is an error. */
static void send_simple(rd_store *q, int argc, const char **argv, const size_t *lens)
{
    rd_req *r = tc_xcalloc(1, sizeof *r);
    if (send_argv(q, r, log_req_error, argc, argv, lens) != 0) free(r);
}

/* The cart in a reply to HGET tablecart:cart:ID cart. Returns 0 and *out (a
 * new cart), or a tc_err with err. */
static int cart_from_reply(rd_store *q, int32_t table_id, redisReply *reply, tc_cart **out,
                           tc_errmsg *err)
{
    if (reply == NULL) return unavailable(q, err);
    if (reply->type == REDIS_REPLY_ERROR)
        return tc_errmsg_set(err, TC_ESTORE, "store unavailable: %s: %s", q->name, reply->str);
    if (reply->type == REDIS_REPLY_NIL) {
        const tc_table *t = tc_menu_table(q->s->menu, table_id);
        if (t == NULL) return tc_errmsg_set(err, TC_ENOTFOUND, "table %d not found", (int)table_id);
        *out = tc_cart_new(t);
        return 0;
    }
    tc_cart *c = NULL;
    if (reply->type == REDIS_REPLY_STRING && tc_cart_from_json(reply->str, reply->len, &c) == 0 &&
        tc_cart_table_id(c) == table_id) {
        *out = c;
        return 0;
    }
    tc_cart_free(c);
    tc_log_error("store: %s: stored cart of table %d is unreadable", q->name, (int)table_id);
    return tc_errmsg_set(err, TC_ESTORE, "store: stored cart of table %d is unreadable",
                         (int)table_id);
}

static int send_hget(rd_store *q, rd_req *r, rd_reply_fn fn)
{
    char key[48];
    snprintf(key, sizeof key, CART_KEY_FMT, (int)r->table_id);
    const char *argv[] = {"HGET", key, "cart"};
    size_t lens[] = {4, strlen(key), 4};
    return send_argv(q, r, fn, 3, argv, lens);
}

/* --- get ------------------------------------------------------------------ */

static void get_answered(rd_req *r, redisReply *reply)
{
    rd_get *g = (rd_get *)r;
    rd_store *q = r->q;
    if (!q->closing) {
        tc_errmsg err = {{0}};
        tc_cart *c = NULL;
        int rc = cart_from_reply(q, r->table_id, reply, &c, &err);
        g->cb(g->ctx, rc, c, &err);
        tc_cart_free(c);
    }
    free(g);
}

static void rd_get_cart(tc_store *s, const tc_table *t, tc_store_cb cb, void *ctx)
{
    rd_store *q = s->impl;
    rd_get *g = tc_xcalloc(1, sizeof *g);
    g->req.table_id = t->table_id;
    g->cb = cb;
    g->ctx = ctx;
    if (send_hget(q, &g->req, get_answered) != 0) {
        tc_errmsg err;
        unavailable(q, &err);
        free(g);
        cb(ctx, TC_ESTORE, NULL, &err);
    }
}

/* --- mutate --------------------------------------------------------------- */

static void mut_free(rd_mut *m)
{
    tc_cart_free(m->cart);
    tc_buf_free(&m->json);
    tc_buf_free(&m->header);
    free(m->remark);
    free(m->phone);
    free(m);
}

static void active_link(rd_store *q, rd_mut *m)
{
    m->prev_active = NULL;
    m->next_active = q->active;
    if (q->active) q->active->prev_active = m;
    q->active = m;
}

static void active_unlink(rd_store *q, rd_mut *m)
{
    if (m->prev_active)
        m->prev_active->next_active = m->next_active;
    else
        q->active = m->next_active;
    if (m->next_active) m->next_active->prev_active = m->prev_active;
    m->prev_active = m->next_active = NULL;
}

/* Ends m: the next mutate of its table (if any) becomes active before m's
 * callback runs, so a mutate asked for from the callback queues behind it.
 * Returns that next one, not yet started (see mut_kick). */
static rd_mut *mut_finish(rd_mut *m, int status, const tc_cart *cart, const tc_errmsg *err)
{
    rd_store *q = m->req.q;
    rd_mut *next = m->waiters;
    active_unlink(q, m);
    if (next != NULL) {
        next->waiters = next->wait_next;
        next->waiters_tail = next->waiters ? m->waiters_tail : NULL;
        next->wait_next = NULL;
        active_link(q, next);
    }
    if (!q->closing) m->cb(m->ctx, status, cart, err);
    mut_free(m);
    return next;
}

static void mut_read_answered(rd_req *r, redisReply *reply);
static void mut_write_answered(rd_req *r, redisReply *reply);

static int mut_read(rd_mut *m)
{
    return send_hget(m->req.q, &m->req, mut_read_answered);
}

/* Starts m, an active mutate; one that cannot be sent fails and hands over
 * to the next of its table, in a loop rather than by recursion. */
static void mut_kick(rd_mut *m)
{
    while (m != NULL) {
        if (mut_read(m) == 0) return;
        tc_errmsg err;
        unavailable(m->req.q, &err);
        m = mut_finish(m, TC_ESTORE, NULL, &err);
    }
}

/* EVALSHA, or EVAL when Redis does not know the script (flushed). */
static int mut_write(rd_mut *m, bool eval)
{
    rd_store *q = m->req.q;
    char key[48], expect[24], version[24], at[24];
    snprintf(key, sizeof key, CART_KEY_FMT, (int)m->req.table_id);
    snprintf(expect, sizeof expect, "%" PRId64, m->expect);
    snprintf(version, sizeof version, "%" PRId64, tc_cart_version(m->cart));
    snprintf(at, sizeof at, "%" PRId64, tc_cart_updated_at(m->cart));
    const char *argv[] = {eval ? "EVAL" : "EVALSHA",
                          eval ? script_src : q->sha,
                          "1",
                          key,
                          expect,
                          version,
                          at,
                          m->json.base,
                          q->channel.base,
                          m->header.base};
    size_t lens[] = {eval ? 4u : 7u,  strlen(argv[1]), 1,           strlen(key),    strlen(expect),
                     strlen(version), strlen(at),      m->json.len, q->channel.len, m->header.len};
    return send_argv(q, &m->req, mut_write_answered, 10, argv, lens);
}

static void mut_read_answered(rd_req *r, redisReply *reply)
{
    rd_mut *m = (rd_mut *)r;
    rd_store *q = r->q;
    if (q->closing) {
        mut_kick(mut_finish(m, TC_ECLOSED, NULL, NULL));
        return;
    }
    tc_errmsg err = {{0}};
    tc_cart *c = NULL;
    int rc = cart_from_reply(q, r->table_id, reply, &c, &err);
    if (rc == 0) {
        m->expect = tc_cart_version(c);
        rc = tc_cart_apply(c, &m->op, q->s->menu, &m->lim, now_ms(), &err);
    }
    if (rc != 0) {
        /* Errors and no-ops alike: nothing is written, nothing published. */
        mut_kick(mut_finish(m, rc, rc == TC_UNCHANGED ? c : NULL, &err));
        tc_cart_free(c);
        return;
    }
    tc_cart_free(m->cart);
    m->cart = c;
    tc_buf_reset(&m->json);
    tc_cart_to_json(c, tc_menu_table(q->s->menu, r->table_id), &m->json);
    tc_buf_reset(&m->header);
    tc_redis_msg_header(&m->header, q->instance, m->op.origin);
    if (mut_write(m, false) != 0) {
        unavailable(q, &err);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    }
}

static void mut_write_answered(rd_req *r, redisReply *reply)
{
    rd_mut *m = (rd_mut *)r;
    rd_store *q = r->q;
    tc_errmsg err = {{0}};
    if (q->closing) {
        mut_kick(mut_finish(m, TC_ECLOSED, NULL, NULL));
    } else if (reply == NULL) {
        unavailable(q, &err);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    } else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        if (mut_write(m, true) != 0) {
            unavailable(q, &err);
            mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
        }
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        /* In Redis (and in its AOF): the change reaches every instance's
         * feed through pub/sub, this one's too. */
        mut_kick(mut_finish(m, 0, m->cart, &err));
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 &&
               ++m->attempts < MAX_ATTEMPTS) {
        /* Another instance wrote first: read again, apply again. */
        if (mut_read(m) != 0) {
            unavailable(q, &err);
            mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
        }
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        tc_log_warn("store: %s: table %d: gave up after %d conflicting writes", q->name,
                    (int)r->table_id, m->attempts);
        tc_errmsg_set(&err, TC_ESTORE, "store busy: table %d is changing too fast, try again",
                      (int)r->table_id);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    } else {
        const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
        tc_log_error("store: %s: cart script: %s", q->name, why);
        tc_errmsg_set(&err, TC_ESTORE, "store unavailable: %s: %s", q->name, why);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    }
}

static void rd_mutate(tc_store *s, const tc_table *t, const tc_op *op, const tc_cart_limits *lim,
                      tc_store_cb cb, void *ctx)
{
    rd_store *q = s->impl;
    if (cmd_ctx(q) == NULL) {
        tc_errmsg err;
        unavailable(q, &err);
        cb(ctx, TC_ESTORE, NULL, &err);
        return;
    }
    rd_mut *m = tc_xcalloc(1, sizeof *m);
    m->req.q = q;
    m->req.table_id = t->table_id;
    m->op = *op;
    m->remark = tc_xstrdup(op->remark);
    m->phone = tc_xstrdup(op->who.phone);
    m->op.remark = m->remark;
    m->op.who.phone = m->phone;
    m->lim = *lim;
    m->cb = cb;
    m->ctx = ctx;
    for (rd_mut *a = q->active; a; a = a->next_active) {
        if (a->req.table_id != t->table_id) continue;
        if (a->waiters_tail)
            a->waiters_tail->wait_next = m;
        else
            a->waiters = m;
        a->waiters_tail = m;
        return;
    }
    active_link(q, m);
    mut_kick(m);
}

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

static void on_message(rd_store *q, const char *p, size_t n)
{
    tc_redis_msg msg;
    if (tc_redis_msg_decode(p, n, &msg) != 0) {
        tc_log_warn("store: %s: ignoring a malformed message on %s", q->name, q->channel.base);
        return;
    }
    /* origin names a connection of the instance that made the change. */
    feed_cart(q, msg.cart, msg.cart_len, msg.instance == q->instance ? msg.origin : 0);
}

static void resync_answered(rd_req *r, redisReply *reply)
{
    rd_store *q = r->q;
    if (!q->closing && reply != NULL && reply->type == REDIS_REPLY_STRING)
        feed_cart(q, reply->str, reply->len, 0);
    free(r);
}

/* After a (re)subscription changes may have been missed: every stored cart
 * goes to the feed once more. Subscribers skip versions they already have,
 * so this only heals streams that fell behind. */
static void maybe_resync(rd_store *q)
{
    if (!q->resync_wanted || !q->sub.up || cmd_ctx(q) == NULL || q->s == NULL) return;
    q->resync_wanted = false;
    const tc_menu *m = q->s->menu;
    for (size_t i = 0; m != NULL && i < tc_menu_table_count(m); i++) {
        rd_req *r = tc_xcalloc(1, sizeof *r);
        r->table_id = tc_menu_table_at(m, i)->table_id;
        if (send_hget(q, r, resync_answered) != 0) {
            free(r);
            q->resync_wanted = true;
            return;
        }
    }
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    rd_link *l = priv;
    rd_store *q = l->q;
    redisReply *reply = r;
    /* NULL: the connection is going away (its disconnect callback follows). */
    if (reply == NULL || l->ac != ac || q->closing) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    const redisReply *ch = reply->element[1];
    bool changes = ch->type == REDIS_REPLY_STRING && ch->len == q->channel.len &&
                   memcmp(ch->str, q->channel.base, ch->len) == 0;
    if (!changes) {
        /* Our heartbeat channel: a subscription confirmed or a heartbeat. */
        q->heard_at = uv_now(q->loop);
    } else if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        on_message(q, reply->element[2]->str, reply->element[2]->len);
    } else if (strcmp(kind, "subscribe") == 0) {
        l->up = true;
        l->backoff_ms = 0;
        q->heard_at = uv_now(q->loop);
        if (l->reported_down)
            tc_log_info("store: %s: subscribed to %s again", q->name, q->channel.base);
        l->reported_down = false;
        l->why[0] = '\0';
        q->resync_wanted = true;
        maybe_resync(q);
    }
}

/* --- connections ---------------------------------------------------------- */

static void ping_answered(rd_req *r, redisReply *reply)
{
    (void)reply;
    r->q->ping_outstanding = false;
    free(r);
}

/* The reply to SCRIPT LOAD, the last setup command: Redis answers, so the
 * command connection is up. */
static void setup_answered(rd_req *r, redisReply *reply)
{
    rd_store *q = r->q;
    rd_link *l = &q->cmd;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        tc_log_error("store: %s: SCRIPT LOAD: %s", q->name, reply->str);
    /* An array is our own command echoed by a socket connected to itself. */
    if (reply != NULL && reply->type != REDIS_REPLY_ARRAY && l->ac != NULL && !l->self_connected &&
        !q->closing) {
        l->up = true;
        l->backoff_ms = 0;
        q->heard_at = uv_now(q->loop); /* no heartbeat could be sent while down */
        if (l->reported_down) tc_log_info("store: %s: connected again", q->name);
        l->reported_down = false;
        l->why[0] = '\0';
    }
    free(r);
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
    rd_link *l = ac->data;
    if (l->ac != ac) return;
    if (status == REDIS_OK) {
        /* Up only once Redis answers (setup_answered, on_sub_reply): a
         * paused or wedged server still completes TCP connects. */
        if (connected_to_itself(ac->c.fd)) {
            /* Ended from the next loop turn (not inside hiredis), with an
             * RST: a TIME_WAIT left on that port would keep Redis from
             * binding it for a minute. */
            struct linger abort_on_close = {1, 0};
            setsockopt(ac->c.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
            l->self_connected = true;
            uv_timer_start(&l->retry, on_retry, 0, 0);
            tc_log_debug("store: %s: %s connection reached itself", l->q->name, role_name(l));
        }
        return;
    }
    /* hiredis frees ac when this returns, after failing its callbacks. */
    l->ac = NULL;
    link_down(l, ac->errstr[0] ? ac->errstr : "cannot connect");
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rd_link *l = ac->data;
    (void)status;
    if (l->ac != ac) return; /* we ended it ourselves (link_kill) */
    l->ac = NULL;
    link_down(l, ac->err && ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_retry(uv_timer_t *t)
{
    rd_link *l = t->data;
    if (l->q->closing) return;
    if (l->ac != NULL && l->self_connected)
        link_kill(l, "reached itself, not Redis (nothing listens on that port)");
    else if (l->ac == NULL)
        link_start(l);
}

static void on_handle_closed(uv_handle_t *h)
{
    rd_store *q = h->data;
    if (--q->open_handles > 0) return;
    tc_buf_free(&q->channel);
    tc_buf_free(&q->alive);
    free(q);
}

/* Once closing and both connections are gone, the timers go, then q. */
static void maybe_finished(rd_store *q)
{
    if (!q->closing || q->handles_closing || q->cmd.ac != NULL || q->sub.ac != NULL) return;
    q->handles_closing = true;
    uv_timer_t *timers[] = {&q->tick, &q->cmd.retry, &q->sub.retry};
    for (size_t i = 0; i < 3; i++) {
        timers[i]->data = q;
        uv_close((uv_handle_t *)timers[i], on_handle_closed);
    }
}

/* l's context is gone (l->ac already NULL): schedule a reconnect. */
static void link_down(rd_link *l, const char *why)
{
    rd_store *q = l->q;
    bool was_up = l->up;
    l->up = false;
    snprintf(l->why, sizeof l->why, "%s", why);
    if (l->role == LINK_CMD) q->ping_outstanding = false;
    if (q->closing) {
        maybe_finished(q);
        return;
    }
    if (!l->reported_down) {
        tc_log_warn("store: %s: %s connection %s: %s; reconnecting", q->name, role_name(l),
                    was_up ? "lost" : "failed", why);
        l->reported_down = true;
    }
    l->backoff_ms = l->backoff_ms == 0 ? RETRY_MIN_MS : l->backoff_ms * 2;
    if (l->backoff_ms > RETRY_MAX_MS) l->backoff_ms = RETRY_MAX_MS;
    uv_timer_start(&l->retry, on_retry, l->backoff_ms, 0);
}

/* Ends l's connection now: its pending callbacks run with NULL replies. */
static void link_kill(rd_link *l, const char *why)
{
    redisAsyncContext *ac = l->ac;
    if (ac == NULL) return;
    l->ac = NULL;
    snprintf(l->why, sizeof l->why, "%s", why); /* for the callbacks failed now */
    redisAsyncFree(ac);
    link_down(l, why);
}

static void link_start(rd_link *l)
{
    rd_store *q = l->q;
    redisAsyncContext *ac = redisAsyncConnect(q->url.host, q->url.port);
    if (ac == NULL || ac->err) {
        char why[160];
        snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
        if (ac) redisAsyncFree(ac);
        link_down(l, why);
        return;
    }
    if (tc_uv_redis_attach(ac, q->loop) != 0) {
        redisAsyncFree(ac);
        link_down(l, "cannot poll the socket");
        return;
    }
    ac->data = l;
    l->ac = ac;
    l->up = false;
    l->self_connected = false;
    l->deadline = uv_now(q->loop) + CMD_TIMEOUT_MS;
    redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (l->role == LINK_SUB) {
        /* Pub/sub ignores SELECT: the channel name carries the database.
         * The second channel carries our own heartbeats (on_tick): a
         * subscription that went silent is noticed even when no table
         * changes. */
        redisAsyncCommand(ac, on_sub_reply, l, "SUBSCRIBE %b %b", q->channel.base, q->channel.len,
                          q->alive.base, q->alive.len);
        return;
    }
    /* Queued before anything else, so every later command runs after them. */
    if (q->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", q->url.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        send_simple(q, 2, argv, lens);
    }
    const char *argv[] = {"SCRIPT", "LOAD", script_src};
    size_t lens[] = {6, 4, sizeof script_src - 1};
    rd_req *r = tc_xcalloc(1, sizeof *r);
    if (send_argv(q, r, setup_answered, 3, argv, lens) != 0) free(r);
    q->next_ping = uv_now(q->loop) + PING_EVERY_MS;
    maybe_resync(q);
}

static void on_tick(uv_timer_t *t)
{
    rd_store *q = t->data;
    uint64_t now = uv_now(q->loop);
    if (q->closing) {
        if (now >= q->close_deadline) {
            link_kill(&q->cmd, "closed with replies pending");
            link_kill(&q->sub, "closed");
        }
        return;
    }
    if (q->inflight_head != NULL && now >= q->inflight_head->deadline) {
        /* Redis stopped answering: the subscriber is as suspect as the
         * commands, and a resubscription resyncs. */
        tc_log_warn("store: %s: no answer within %d ms", q->name, CMD_TIMEOUT_MS);
        link_kill(&q->cmd, "no answer within 2 s");
        link_kill(&q->sub, "no answer on the command connection within 2 s");
        return;
    }
    rd_link *links[] = {&q->cmd, &q->sub};
    for (size_t i = 0; i < 2; i++)
        if (links[i]->ac != NULL && !links[i]->up && now >= links[i]->deadline)
            link_kill(links[i], links[i]->role == LINK_CMD ? "connect timed out"
                                                           : "subscription not confirmed in time");
    if (q->sub.up && q->cmd.up && now >= q->heard_at + SUB_SILENT_MS) {
        /* Redis answers commands but our heartbeats do not come back: the
         * subscriber connection is dead without a FIN or RST. */
        link_kill(&q->sub, "no heartbeat heard on the subscription");
        return;
    }
    if (q->cmd.up && !q->ping_outstanding && now >= q->next_ping) {
        /* Also checks the command connection (an unanswered PUBLISH times
         * out like any command). */
        rd_req *r = tc_xcalloc(1, sizeof *r);
        const char *argv[] = {"PUBLISH", q->alive.base, "1"};
        size_t lens[] = {7, q->alive.len, 1};
        if (send_argv(q, r, ping_answered, 3, argv, lens) == 0)
            q->ping_outstanding = true;
        else
            free(r);
        q->next_ping = now + PING_EVERY_MS;
    }
}

/* --- the synchronous connection (menu) ------------------------------------ */

static int sync_connect(const tc_redis_url *u, const char *name, redisContext **out, tc_errmsg *err)
{
    struct timeval tv = {SYNC_TIMEOUT_MS / 1000, (SYNC_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(u->host, u->port, tv);
    if (c == NULL || c->err) {
        int rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: cannot connect: %s", name,
                               c ? c->errstr : "out of memory");
        redisFree(c);
        return rc;
    }
    redisSetTimeout(c, tv);
    if (u->db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", u->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            int rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: SELECT %d: %s", name, u->db,
                                   r ? r->str : c->errstr);
            freeReplyObject(r);
            redisFree(c);
            return rc;
        }
        freeReplyObject(r);
    }
    *out = c;
    return 0;
}

/* GET tablecart:menu into a new frozen menu (an empty one when unset). */
static int read_menu(redisContext *c, const char *name, tc_menu **out, tc_errmsg *err)
{
    redisReply *r = redisCommand(c, "GET %s", MENU_KEY);
    int rc = 0;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: GET %s: %s", name, MENU_KEY,
                           r ? r->str : c->errstr);
    } else if (r->type == REDIS_REPLY_NIL) {
        *out = tc_menu_new();
        tc_menu_freeze(*out);
    } else if (r->type == REDIS_REPLY_STRING) {
        tc_errmsg perr;
        if (tc_menu_parse(r->str, r->len, out, &perr) != 0)
            rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: %s is unreadable: %s", name, MENU_KEY,
                               perr.text);
    } else {
        rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: %s is not a string", name, MENU_KEY);
    }
    freeReplyObject(r);
    return rc;
}

static int rd_load_menu(tc_store *s, tc_menu **out, tc_errmsg *err)
{
    rd_store *q = s->impl;
    redisContext *c;
    int rc = sync_connect(&q->url, q->name, &c, err);
    if (rc != 0) return rc;
    rc = read_menu(c, q->name, out, err);
    redisFree(c);
    return rc;
}

/* Reads, merges and writes the menu under WATCH, so two imports at once
 * both land (one retries). */
static int rd_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    rd_store *q = s->impl;
    redisContext *c;
    int rc = sync_connect(&q->url, q->name, &c, err);
    if (rc != 0) return rc;
    for (int attempt = 0; rc == 0 && attempt < IMPORT_ATTEMPTS; attempt++) {
        redisReply *r = redisCommand(c, "WATCH %s", MENU_KEY);
        bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
        freeReplyObject(r);
        tc_menu *old = NULL;
        if (!ok) {
            rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: WATCH: %s", q->name, c->errstr);
            break;
        }
        if ((rc = read_menu(c, q->name, &old, err)) != 0) break;
        tc_menu *merged = tc_redis_menu_merge(old, m);
        tc_buf json = TC_BUF_INIT;
        tc_redis_menu_json(merged, &json);
        tc_menu_free(old);
        tc_menu_free(merged);
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "SET %s %b", MENU_KEY, json.base, json.len);
        redisAppendCommand(c, "EXEC");
        tc_buf_free(&json);
        redisReply *replies[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3; i++)
            if (redisGetReply(c, (void **)&replies[i]) != REDIS_OK) break;
        redisReply *exec = replies[2];
        if (exec != NULL && exec->type == REDIS_REPLY_ARRAY) {
            for (int i = 0; i < 3; i++)
                freeReplyObject(replies[i]);
            redisFree(c);
            return 0;
        }
        if (exec == NULL || exec->type != REDIS_REPLY_NIL) {
            /* Not a lost race: an error reply or a broken connection. */
            const redisReply *bad = NULL;
            for (int i = 0; i < 3; i++)
                if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR && bad == NULL)
                    bad = replies[i];
            rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: writing %s: %s", q->name, MENU_KEY,
                               bad      ? bad->str
                               : c->err ? c->errstr
                                        : "unexpected reply");
        }
        for (int i = 0; i < 3; i++)
            freeReplyObject(replies[i]);
    }
    if (rc == 0)
        rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: %s kept changing during the import", q->name,
                           MENU_KEY);
    redisFree(c);
    return rc;
}

/* --- open / close / ping --------------------------------------------------- */

static uint64_t random_instance_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        id = (uint64_t)now_ms() * 6364136223846793005ull ^ (uint64_t)getpid() << 32 ^
             (uint64_t)ts.tv_nsec;
    }
    return id ? id : 1;
}

static void script_sha1(char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(script_src, sizeof script_src - 1, md, &md_len, EVP_sha1(), NULL) != 1 ||
        md_len != 20)
        return; /* EVALSHA then fails with NOSCRIPT and EVAL is used */
    for (unsigned i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int rd_open(tc_store *s, const char *rest, tc_errmsg *err)
{
    tc_redis_url u;
    int rc = tc_redis_url_parse(rest, &u, err);
    if (rc != 0) return rc;
    rd_store *q = tc_xcalloc(1, sizeof *q);
    q->url = u;
    bool v6 = strchr(u.host, ':') != NULL;
    char db[16] = "";
    if (u.db != 0) snprintf(db, sizeof db, "/%d", u.db);
    snprintf(q->name, sizeof q->name, v6 ? "redis://[%s]:%d%s" : "redis://%s:%d%s", u.host, u.port,
             db);

    /* Fail at start, with a clear message, when Redis is not there or the
     * database index is refused; later outages are survived. */
    redisContext *c;
    if ((rc = sync_connect(&u, q->name, &c, err)) != 0) {
        free(q);
        return rc;
    }
    redisFree(c);

    q->s = s;
    q->loop = s->loop;
    tc_redis_channel(u.db, &q->channel);
    tc_buf_cstr(&q->channel);
    script_sha1(q->sha);
    q->instance = random_instance_id();
    tc_buf_appendf(&q->alive, "tablecart:alive:%016" PRIx64, q->instance);
    q->cmd = (rd_link){.q = q, .role = LINK_CMD};
    q->sub = (rd_link){.q = q, .role = LINK_SUB};
    uv_timer_init(q->loop, &q->tick);
    uv_timer_init(q->loop, &q->cmd.retry);
    uv_timer_init(q->loop, &q->sub.retry);
    q->open_handles = 3;
    q->tick.data = q;
    q->cmd.retry.data = &q->cmd;
    q->sub.retry.data = &q->sub;
    uv_timer_start(&q->tick, on_tick, TICK_MS, TICK_MS);
    s->impl = q;
    link_start(&q->cmd);
    link_start(&q->sub);
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
    uv_timer_stop(&q->cmd.retry);
    uv_timer_stop(&q->sub.retry);
    link_kill(&q->sub, "closed");
    redisAsyncContext *ac = q->cmd.ac;
    if (ac != NULL && q->cmd.up && q->inflight_head != NULL) {
        /* Let what was sent be answered (a write in flight lands), then
         * disconnect; the tick ends it after CLOSE_WAIT_MS regardless. */
        q->close_deadline = uv_now(q->loop) + CLOSE_WAIT_MS;
        redisAsyncDisconnect(ac);
    } else {
        link_kill(&q->cmd, "closed");
    }
    maybe_finished(q);
}

static int rd_ping(tc_store *s)
{
    rd_store *q = s->impl;
    return q->cmd.up && q->sub.up ? 0 : TC_ESTORE;
}

const tc_store_backend tc_store_backend_redis = {
    .scheme = "redis",
    .open = rd_open,
    .close = rd_close,
    .load_menu = rd_load_menu,
    .import_menu = rd_import_menu,
    .get = rd_get_cart,
    .mutate = rd_mutate,
    .ping = rd_ping,
};
