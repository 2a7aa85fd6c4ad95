/* redis_carts.c — reading and optimistically writing carts in Redis (see
 * redis_carts.h). */
#include "store/redis_carts.h"

#include "core/log.h"
#include "core/mem.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Optimistic writes of one change before it gives up with "store busy":
 * each lost race means another instance changed the same table in between,
 * so 16 in a row means the table changes far faster than people order, and
 * the caller's retry is better than holding the change queue longer. */
#define MAX_ATTEMPTS 16
/* Room for an int64 in decimal, its NUL included (versions, timestamps). */
#define I64_SIZE (sizeof "-9223372036854775808")
/* The script's SHA-1 in lowercase hex, as EVALSHA takes it. */
#define SHA1_HEX_SIZE (2 * SHA_DIGEST_LENGTH + 1)

/* KEYS[1] the cart hash; ARGV: expected version, new version, updatedAt,
 * cart JSON, channel, message header. 1 = written and published, 0 = the
 * stored version moved on (nothing written). */
const char tc_redis_carts_script[] =
    "local v = redis.call('HGET', KEYS[1], 'version')\n"
    "if (v or '0') ~= ARGV[1] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'version', ARGV[2], 'updatedAt', ARGV[3], 'cart', ARGV[4])\n"
    "redis.call('PUBLISH', ARGV[5], ARGV[6] .. ARGV[4])\n"
    "return 1\n";

/* A command about one table's cart. */
typedef struct {
    tc_redis_req req; /* first: the link hands back &req */
    tc_redis_carts *q;
    int32_t table_id;
} rd_req;

typedef struct {
    rd_req r;
    tc_store_be_cb cb;
    void *ctx;
} rd_get;

typedef struct rd_mut rd_mut;
struct rd_mut {
    rd_req r;
    tc_op op; /* strings point to remark and phone below */
    char *remark, *phone;
    tc_cart_limits lim;
    tc_store_be_cb cb;
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

struct tc_redis_carts {
    tc_store *s;
    tc_redis_link *link;
    char *name, *channel;
    uint64_t instance;
    char sha[SHA1_HEX_SIZE];
    rd_mut *active; /* one in flight per table */
    bool stopped;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void script_sha1(char out[SHA1_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    out[0] = '\0';
    if (EVP_Digest(tc_redis_carts_script, sizeof tc_redis_carts_script - 1, md, &md_len, EVP_sha1(),
                   NULL) != 1 ||
        md_len != SHA_DIGEST_LENGTH)
        return; /* EVALSHA then fails with NOSCRIPT and EVAL is used */
    for (unsigned i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The cart in a reply to HGET tablecart:cart:ID cart. Returns 0 and *out (a
 * new cart), or a tc_err with err. */
static int cart_from_reply(tc_redis_carts *q, int32_t table_id, redisReply *reply, tc_cart **out,
                           tc_errmsg *err)
{
    if (reply == NULL) return tc_redis_link_unavailable(q->link, err);
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

static int send_hget(rd_req *r, tc_redis_reply_fn fn)
{
    char key[TC_REDIS_CART_KEY_SIZE];
    tc_redis_cart_key(r->table_id, key);
    const char *argv[] = {"HGET", key, "cart"};
    size_t lens[] = {strlen(argv[0]), strlen(key), strlen(argv[2])};
    return tc_redis_link_send(r->q->link, &r->req, fn, 3, argv, lens);
}

/* --- get ------------------------------------------------------------------ */

static void get_answered(tc_redis_req *req, redisReply *reply)
{
    rd_get *g = (rd_get *)req;
    tc_redis_carts *q = g->r.q;
    if (!q->stopped) {
        tc_errmsg err = {{0}};
        tc_cart *c = NULL;
        int rc = cart_from_reply(q, g->r.table_id, reply, &c, &err);
        g->cb(g->ctx, rc, c, &err);
        tc_cart_free(c);
    }
    free(g);
}

void tc_redis_carts_get(tc_redis_carts *q, int32_t table_id, tc_store_be_cb cb, void *ctx)
{
    rd_get *g = tc_xcalloc(1, sizeof *g);
    g->r.q = q;
    g->r.table_id = table_id;
    g->cb = cb;
    g->ctx = ctx;
    if (send_hget(&g->r, get_answered) != 0) {
        tc_errmsg err;
        tc_redis_link_unavailable(q->link, &err);
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

static void active_link(tc_redis_carts *q, rd_mut *m)
{
    m->prev_active = NULL;
    m->next_active = q->active;
    if (q->active) q->active->prev_active = m;
    q->active = m;
}

static void active_unlink(tc_redis_carts *q, rd_mut *m)
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
    tc_redis_carts *q = m->r.q;
    rd_mut *next = m->waiters;
    active_unlink(q, m);
    if (next != NULL) {
        next->waiters = next->wait_next;
        next->waiters_tail = next->waiters ? m->waiters_tail : NULL;
        next->wait_next = NULL;
        active_link(q, next);
    }
    if (!q->stopped) m->cb(m->ctx, status, cart, err);
    mut_free(m);
    return next;
}

static void mut_read_answered(tc_redis_req *req, redisReply *reply);
static void mut_write_answered(tc_redis_req *req, redisReply *reply);

static int mut_read(rd_mut *m)
{
    return send_hget(&m->r, mut_read_answered);
}

/* Starts m, an active mutate; one that cannot be sent fails and hands over
 * to the next of its table, in a loop rather than by recursion. */
static void mut_kick(rd_mut *m)
{
    while (m != NULL) {
        if (mut_read(m) == 0) return;
        tc_errmsg err;
        tc_redis_link_unavailable(m->r.q->link, &err);
        m = mut_finish(m, TC_ESTORE, NULL, &err);
    }
}

/* EVALSHA, or EVAL when Redis does not know the script (flushed). */
static int mut_write(rd_mut *m, bool eval)
{
    tc_redis_carts *q = m->r.q;
    char key[TC_REDIS_CART_KEY_SIZE], expect[I64_SIZE], version[I64_SIZE], at[I64_SIZE];
    tc_redis_cart_key(m->r.table_id, key);
    snprintf(expect, sizeof expect, "%" PRId64, m->expect);
    snprintf(version, sizeof version, "%" PRId64, tc_cart_version(m->cart));
    snprintf(at, sizeof at, "%" PRId64, tc_cart_updated_at(m->cart));
    const char *argv[] = {eval ? "EVAL" : "EVALSHA",
                          eval ? tc_redis_carts_script : q->sha,
                          "1",
                          key,
                          expect,
                          version,
                          at,
                          m->json.base,
                          q->channel,
                          m->header.base};
    size_t lens[] = {strlen(argv[0]),    strlen(argv[1]), strlen(argv[2]), strlen(key),
                     strlen(expect),     strlen(version), strlen(at),      m->json.len,
                     strlen(q->channel), m->header.len};
    return tc_redis_link_send(q->link, &m->r.req, mut_write_answered, 10, argv, lens);
}

static void mut_read_answered(tc_redis_req *req, redisReply *reply)
{
    rd_mut *m = (rd_mut *)req;
    tc_redis_carts *q = m->r.q;
    if (q->stopped) {
        mut_kick(mut_finish(m, TC_ECLOSED, NULL, NULL));
        return;
    }
    tc_errmsg err = {{0}};
    tc_cart *c = NULL;
    int rc = cart_from_reply(q, m->r.table_id, reply, &c, &err);
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
    tc_cart_to_json(c, tc_menu_table(q->s->menu, m->r.table_id), &m->json);
    tc_buf_reset(&m->header);
    tc_redis_msg_header(&m->header, q->instance, m->op.origin);
    if (mut_write(m, false) != 0) {
        tc_redis_link_unavailable(q->link, &err);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    }
}

static void mut_write_answered(tc_redis_req *req, redisReply *reply)
{
    rd_mut *m = (rd_mut *)req;
    tc_redis_carts *q = m->r.q;
    tc_errmsg err = {{0}};
    if (q->stopped) {
        mut_kick(mut_finish(m, TC_ECLOSED, NULL, NULL));
    } else if (reply == NULL) {
        tc_redis_link_unavailable(q->link, &err);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    } else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        if (mut_write(m, true) != 0) {
            tc_redis_link_unavailable(q->link, &err);
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
            tc_redis_link_unavailable(q->link, &err);
            mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
        }
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        tc_log_warn("store: %s: table %d: gave up after %d conflicting writes", q->name,
                    (int)m->r.table_id, m->attempts);
        tc_errmsg_set(&err, TC_ESTORE, "store busy: table %d is changing too fast, try again",
                      (int)m->r.table_id);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    } else {
        const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
        tc_log_error("store: %s: cart script: %s", q->name, why);
        tc_errmsg_set(&err, TC_ESTORE, "store unavailable: %s: %s", q->name, why);
        mut_kick(mut_finish(m, TC_ESTORE, NULL, &err));
    }
}

void tc_redis_carts_mutate(tc_redis_carts *q, int32_t table_id, const tc_op *op,
                           const tc_cart_limits *lim, tc_store_be_cb cb, void *ctx)
{
    if (!tc_redis_link_can_send(q->link)) {
        tc_errmsg err;
        tc_redis_link_unavailable(q->link, &err);
        cb(ctx, TC_ESTORE, NULL, &err);
        return;
    }
    rd_mut *m = tc_xcalloc(1, sizeof *m);
    m->r.q = q;
    m->r.table_id = table_id;
    m->op = *op;
    m->remark = tc_xstrdup(op->remark);
    m->phone = tc_xstrdup(op->who.phone);
    m->op.remark = m->remark;
    m->op.who.phone = m->phone;
    m->lim = *lim;
    m->cb = cb;
    m->ctx = ctx;
    for (rd_mut *a = q->active; a; a = a->next_active) {
        if (a->r.table_id != table_id) continue;
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

/* --- life ----------------------------------------------------------------- */

tc_redis_carts *tc_redis_carts_new(tc_store *s, tc_redis_link *link, const char *name,
                                   const char *channel, uint64_t instance)
{
    tc_redis_carts *q = tc_xcalloc(1, sizeof *q);
    q->s = s;
    q->link = link;
    q->name = tc_xstrdup(name);
    q->channel = tc_xstrdup(channel);
    q->instance = instance;
    script_sha1(q->sha);
    return q;
}

void tc_redis_carts_stop(tc_redis_carts *q)
{
    q->stopped = true;
    q->s = NULL;
}

void tc_redis_carts_free(tc_redis_carts *q)
{
    free(q->name);
    free(q->channel);
    free(q);
}
