/* redis_carts.c — reading and optimistically writing carts in Redis (see
 * redis_carts.h). */
#include "store/redis_carts.h"

#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/redis_diners.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A job's command in flight. It lives until its reply callback, which the
 * link always calls; job is NULL once the job was finished without it
 * (tc_redis_carts_stop). */
typedef struct rd_job rd_job;
struct rd_job {
    tc_redis_req req; /* first: the link hands back &req */
    tc_redis_carts *q;
    tc_store_job *job;
    rd_job *prev, *next; /* q->waiting */
};

struct tc_redis_carts {
    tc_redis_link *link;
    char *name, *channel;
    uint64_t instance;
    char sha[SHA1_HEX_SIZE];
    rd_job *waiting; /* jobs sent, not answered yet */
};

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

static void waiting_unlink(tc_redis_carts *q, rd_job *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->waiting = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Ends w's job with status (err filled for a failure) and frees w. */
static void finish(rd_job *w, int status)
{
    tc_store_job *j = w->job;
    waiting_unlink(w->q, w);
    free(w);
    if (j == NULL) return; /* finished already, by tc_redis_carts_stop */
    j->status = status;
    j->done(j);
}

static int fail(rd_job *w, const char *fmt, const char *why)
{
    if (w->job) tc_errmsg_set(&w->job->err, TC_ESTORE, fmt, w->q->name, why);
    return TC_ESTORE;
}

int tc_redis_carts_read(tc_redis_carts *q, tc_redis_req *r, int32_t table_id, tc_redis_reply_fn fn)
{
    char key[TC_REDIS_CART_KEY_SIZE];
    tc_redis_cart_key(table_id, key);
    const char *argv[] = {"HGET", key, "cart"};
    size_t lens[] = {strlen(argv[0]), strlen(key), strlen(argv[2])};
    return tc_redis_link_send(q->link, r, fn, 3, argv, lens);
}

/* --- load ----------------------------------------------------------------- */

static void load_answered(tc_redis_req *req, redisReply *reply)
{
    rd_job *w = (rd_job *)req;
    tc_store_job *j = w->job;
    int rc = 0;
    if (j == NULL) {
        rc = TC_ECLOSED;
    } else if (reply == NULL) {
        rc = tc_redis_link_unavailable(w->q->link, &j->err);
    } else if (reply->type == REDIS_REPLY_STRING) {
        j->found = true;
        tc_buf_append(&j->row, reply->str, reply->len);
    } else if (reply->type != REDIS_REPLY_NIL) {
        /* store.c says "unreadable" for a stored cart it cannot read. */
        const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
        tc_log_error("store: %s: HGET cart of table %d: %s", w->q->name, (int)j->table_id, why);
        rc = fail(w, "store unavailable: %s: %s", why);
    }
    finish(w, rc);
}

/* --- save ----------------------------------------------------------------- */

static void save_answered(tc_redis_req *req, redisReply *reply);

/* EVALSHA, or EVAL when Redis does not know the script (flushed). */
static int save_send(rd_job *w, bool eval)
{
    tc_redis_carts *q = w->q;
    tc_store_job *j = w->job;
    char key[TC_REDIS_CART_KEY_SIZE], expect[I64_SIZE], version[I64_SIZE], at[I64_SIZE];
    tc_redis_cart_key(j->table_id, key);
    /* Decimal text without printf: this runs for every change. */
    expect[tc_json_int_text(j->expect_version, expect)] = '\0';
    version[tc_json_int_text(j->version, version)] = '\0';
    at[tc_json_int_text(j->updated_at, at)] = '\0';
    tc_buf header = TC_BUF_INIT;
    tc_redis_msg_header(&header, q->instance, j->origin);
    const char *argv[] = {eval ? "EVAL" : "EVALSHA",
                          eval ? tc_redis_carts_script : q->sha,
                          "1",
                          key,
                          expect,
                          version,
                          at,
                          j->json->data,
                          q->channel,
                          header.base};
    size_t lens[] = {strlen(argv[0]),    strlen(argv[1]), strlen(argv[2]), strlen(key),
                     strlen(expect),     strlen(version), strlen(at),      j->json->len,
                     strlen(q->channel), header.len};
    int rc = tc_redis_link_send(q->link, &w->req, save_answered, 10, argv, lens);
    tc_buf_free(&header);
    return rc;
}

static void save_answered(tc_redis_req *req, redisReply *reply)
{
    rd_job *w = (rd_job *)req;
    tc_redis_carts *q = w->q;
    int rc;
    if (w->job == NULL) {
        rc = TC_ECLOSED;
    } else if (reply == NULL) {
        rc = tc_redis_link_unavailable(q->link, &w->job->err);
    } else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        if (save_send(w, true) == 0) return; /* w waits for the EVAL's reply */
        rc = tc_redis_link_unavailable(q->link, &w->job->err);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        /* In Redis (and in its AOF). */
        rc = 0;
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        rc = TC_ECONFLICT; /* another instance wrote first */
    } else {
        const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
        tc_log_error("store: %s: cart script: %s", q->name, why);
        rc = fail(w, "store unavailable: %s: %s", why);
    }
    finish(w, rc);
}

/* --- diners (redis_diners.c builds and reads the script) ------------------- */

static void diners_answered(tc_redis_req *req, redisReply *reply)
{
    rd_job *w = (rd_job *)req;
    tc_store_job *j = w->job;
    int rc;
    if (j == NULL)
        rc = TC_ECLOSED;
    else if (reply == NULL)
        rc = tc_redis_link_unavailable(w->q->link, &j->err);
    else
        rc = tc_redis_diners_read(j, reply, w->q->name);
    finish(w, rc);
}

/* --- jobs ----------------------------------------------------------------- */

void tc_redis_carts_submit(tc_redis_carts *q, tc_store_job *j)
{
    if (j->kind == TC_JOB_SAVE && j->version < 0) {
        /* Only Idempotency-Key answers to keep: with Redis they stay in this
         * instance's memory (docs/api.md), nothing to write. */
        j->status = 0;
        j->done(j);
        return;
    }
    rd_job *w = tc_xcalloc(1, sizeof *w);
    w->q = q;
    w->job = j;
    int rc = j->kind == TC_JOB_LOAD ? tc_redis_carts_read(q, &w->req, j->table_id, load_answered)
             : j->kind == TC_JOB_DINERS ? tc_redis_diners_send(q->link, &w->req, j, diners_answered)
                                        : save_send(w, false);
    if (rc != 0) {
        free(w);
        j->status = tc_redis_link_unavailable(q->link, &j->err);
        j->done(j);
        return;
    }
    w->next = q->waiting;
    if (q->waiting) q->waiting->prev = w;
    q->waiting = w;
}

/* --- life ----------------------------------------------------------------- */

tc_redis_carts *tc_redis_carts_new(tc_redis_link *link, const char *name, const char *channel,
                                   uint64_t instance)
{
    tc_redis_carts *q = tc_xcalloc(1, sizeof *q);
    q->link = link;
    q->name = tc_xstrdup(name);
    q->channel = tc_xstrdup(channel);
    q->instance = instance;
    script_sha1(q->sha);
    return q;
}

void tc_redis_carts_stop(tc_redis_carts *q)
{
    for (rd_job *w = q->waiting; w; w = w->next) {
        tc_store_job *j = w->job;
        w->job = NULL;
        j->status = TC_ESTORE;
        j->done(j);
    }
}

void tc_redis_carts_free(tc_redis_carts *q)
{
    free(q->name);
    free(q->channel);
    free(q);
}
