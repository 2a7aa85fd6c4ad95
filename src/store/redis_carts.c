/* redis_carts.c — reading and optimistically writing carts in Redis (see
 * redis_carts.h). */
#include "store/redis_carts.h"

#include "core/clock.h"
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

/* KEYS[1] the cart hash. ARGV: expected version, new version ("-1": no cart
 * to write, only answers to save or the version to compare), updatedAt, cart
 * JSON, channel, message header, now (epoch ms), the byte budgets per caller
 * and overall, the expected cart's updatedAt (compared when the hash has one:
 * a version Redis lost and another instance wrote again is not the one
 * expected), the number n of the batch's earlier changes, then 2 per earlier
 * change in version order (message header, cart JSON: each is published
 * before the new cart, so that every version reaches the other instances),
 * then 6 per Idempotency-Key from ARGV[12 + 2n]: kind ("a" an answer to save,
 * "p" a probe), scoped key, caller, version, expires (epoch ms), answer JSON.
 * Returns {2, i, version, expires, JSON, ...} when the key of the i-th
 * (0-based) is answered already (nothing written), 0 when the stored version
 * moved on (nothing written), else 1: written, published, answers saved.
 * Layout of the answers: docs/redis.md, "Idempotency-Key answers". */
const char tc_redis_carts_script[] =
    "local K = 12 + 2 * tonumber(ARGV[11])\n"
    "local known = {}\n"
    "for i = K, #ARGV, 6 do\n"
    "  local a = redis.call('HMGET', 'tablecart:answer:' .. ARGV[i + 1], 'version', 'expires',"
    " 'cart')\n"
    "  if a[1] then\n"
    "    table.insert(known, (i - K) / 6)\n"
    "    table.insert(known, a[1]); table.insert(known, a[2]); table.insert(known, a[3])\n"
    "  end\n"
    "end\n"
    "if #known > 0 then table.insert(known, 1, 2); return known end\n"
    "local v = redis.call('HMGET', KEYS[1], 'version', 'updatedAt')\n"
    "if (v[1] or '0') ~= ARGV[1] or (v[2] and v[2] ~= ARGV[10]) then return 0 end\n"
    "if ARGV[2] ~= '-1' then\n"
    "  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'updatedAt', ARGV[3], 'cart', ARGV[4])\n"
    "  for i = 12, K - 1, 2 do redis.call('PUBLISH', ARGV[5], ARGV[i] .. ARGV[i + 1]) end\n"
    "  redis.call('PUBLISH', ARGV[5], ARGV[6] .. ARGV[4])\n"
    "end\n"
    "if #ARGV < K then return 1 end\n"
    "local IDX, BYTES = 'tablecart:answers', 'tablecart:answers:bytes'\n"
    "local function drop(m)\n"
    "  local cost, caller, key = string.match(m, '^(%d+) (%S*) (.*)$')\n"
    "  redis.call('DEL', 'tablecart:answer:' .. key)\n"
    "  redis.call('ZREM', IDX, m)\n"
    "  redis.call('ZREM', 'tablecart:answers:' .. caller, m)\n"
    "  if redis.call('HINCRBY', BYTES, caller, -cost) <= 0 then redis.call('HDEL', BYTES, caller)"
    " end\n"
    "  redis.call('HINCRBY', BYTES, '*', -cost)\n"
    "end\n"
    "local function bytes(caller) return tonumber(redis.call('HGET', BYTES, caller) or '0') end\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', IDX, '-inf', ARGV[7], 'LIMIT', 0, 128)) do\n"
    "  drop(m)\n"
    "end\n"
    "for i = K, #ARGV, 6 do\n"
    "  if ARGV[i] == 'a' then\n"
    "    local key, caller, exp = ARGV[i + 1], ARGV[i + 2], ARGV[i + 4]\n"
    "    local mine = 'tablecart:answers:' .. caller\n"
    "    local cost = 3 * #key + 2 * #caller + #ARGV[i + 5] + 256\n"
    "    local m = cost .. ' ' .. caller .. ' ' .. key\n"
    "    while bytes(caller) + cost > tonumber(ARGV[8]) do\n"
    "      local o = redis.call('ZRANGE', mine, 0, 0)\n"
    "      if #o == 0 then break end\n"
    "      drop(o[1])\n"
    "    end\n"
    "    while bytes('*') + cost > tonumber(ARGV[9]) do\n"
    "      local o = redis.call('ZRANGE', IDX, 0, 0)\n"
    "      if #o == 0 then break end\n"
    "      drop(o[1]); redis.call('INCR', 'tablecart:answers:evicted')\n"
    "    end\n"
    "    redis.call('HSET', 'tablecart:answer:' .. key, 'version', ARGV[i + 3], 'expires', exp,"
    " 'cart', ARGV[i + 5])\n"
    "    redis.call('PEXPIREAT', 'tablecart:answer:' .. key, exp)\n"
    "    redis.call('ZADD', IDX, exp, m)\n"
    "    redis.call('ZADD', mine, exp, m)\n"
    "    redis.call('PEXPIREAT', mine, exp)\n"
    "    redis.call('HINCRBY', BYTES, caller, cost)\n"
    "    redis.call('HINCRBY', BYTES, '*', cost)\n"
    "  end\n"
    "end\n"
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

/* The script's fixed arguments: EVAL(SHA), script, numkeys, the key and 10
 * ARGV (the last the number of earlier changes); then 2 per earlier change
 * of the batch and 6 per Idempotency-Key. */
#define SAVE_ARGS 15
#define ARGS_PER_EARLIER 2
#define ARGS_PER_KEY 6

/* EVALSHA, or EVAL when Redis does not know the script (flushed). */
static int save_send(rd_job *w, bool eval)
{
    tc_redis_carts *q = w->q;
    tc_store_job *j = w->job;
    size_t n_keys = 0, n_earlier = j->n_earlier;
    for (const tc_store_idem_rec *rec = j->idem; rec; rec = rec->next)
        n_keys++;
    size_t argc = SAVE_ARGS + ARGS_PER_EARLIER * n_earlier + ARGS_PER_KEY * n_keys;
    const char **argv = tc_xcalloc(argc, sizeof *argv);
    size_t *lens = tc_xcalloc(argc, sizeof *lens);
    /* Decimal text: versions, timestamps and budgets of the save, the number
     * of earlier changes, then the version and expiry of each key. */
    char(*num)[I64_SIZE] = tc_xcalloc(8 + 2 * n_keys, sizeof *num);
    int64_t fixed[] = {j->expect_version,
                       j->version,
                       j->updated_at,
                       tc_clock_epoch_ms(),
                       TC_STORE_IDEM_CALLER_BYTES,
                       TC_STORE_IDEM_MAX_BYTES,
                       j->expect_updated_at,
                       (int64_t)n_earlier};
    for (size_t i = 0; i < 8; i++)
        num[i][tc_json_int_text(fixed[i], num[i])] = '\0';
    char key[TC_REDIS_CART_KEY_SIZE];
    tc_redis_cart_key(j->table_id, key);
    tc_buf header = TC_BUF_INIT, channel = TC_BUF_INIT, pack = TC_BUF_INIT;
    /* The cart packed too: the instances that hear it need not parse it. */
    if (j->cart) tc_cart_pack(j->cart, &pack);
    tc_redis_msg_header(&header, q->instance, j->origin, j->version, pack.base, pack.len);
    /* The earlier changes' headers after it, in the same buffer: where each
     * ends is noted first, the pointers taken once it no longer moves. */
    size_t *ends = n_earlier ? tc_xcalloc(n_earlier + 1, sizeof *ends) : NULL;
    if (ends) ends[0] = header.len;
    for (size_t e = 0; e < n_earlier; e++) {
        const tc_store_earlier *c = &j->earlier[e];
        tc_buf_reset(&pack);
        tc_cart_pack(c->cart, &pack);
        tc_redis_msg_header(&header, q->instance, c->origin, tc_cart_version(c->cart), pack.base,
                            pack.len);
        ends[e + 1] = header.len;
    }
    tc_buf_free(&pack);
    /* The table's channel: only instances following the table hear it. */
    tc_buf_append_str(&channel, q->channel);
    tc_json_int(&channel, j->table_id);
    const char *head[SAVE_ARGS] = {eval ? "EVAL" : "EVALSHA",
                                   eval ? tc_redis_carts_script : q->sha,
                                   "1",
                                   key,
                                   num[0],
                                   num[1],
                                   num[2],
                                   j->json ? j->json->data : "",
                                   tc_buf_cstr(&channel),
                                   tc_buf_cstr(&header),
                                   num[3],
                                   num[4],
                                   num[5],
                                   num[6],
                                   num[7]};
    for (size_t i = 0; i < SAVE_ARGS; i++) {
        argv[i] = head[i];
        lens[i] = strlen(head[i]);
    }
    lens[7] = j->json ? j->json->len : 0;
    lens[8] = channel.len;
    lens[9] = n_earlier ? ends[0] : header.len;
    size_t k = SAVE_ARGS, n = 8;
    for (size_t e = 0; e < n_earlier; e++, k += ARGS_PER_EARLIER) {
        const tc_store_earlier *c = &j->earlier[e];
        argv[k] = header.base + ends[e];
        lens[k] = ends[e + 1] - ends[e];
        argv[k + 1] = c->json->data;
        lens[k + 1] = c->json->len;
    }
    free(ends);
    for (const tc_store_idem_rec *rec = j->idem; rec; rec = rec->next, n += 2) {
        num[n][tc_json_int_text(rec->version, num[n])] = '\0';
        num[n + 1][tc_json_int_text(rec->expires_ms, num[n + 1])] = '\0';
        const char *more[ARGS_PER_KEY] = {
            rec->probe ? "p" : "a",          rec->key, rec->caller, num[n], num[n + 1],
            rec->json ? rec->json->data : ""};
        for (size_t i = 0; i < ARGS_PER_KEY; i++, k++) {
            argv[k] = more[i];
            lens[k] = strlen(more[i]);
        }
        lens[k - 1] = rec->json ? rec->json->len : 0;
    }
    int rc = tc_redis_link_send(q->link, &w->req, save_answered, (int)argc, argv, lens);
    tc_buf_free(&header);
    tc_buf_free(&channel);
    free(num);
    free(lens);
    free(argv);
    return rc;
}

/* The answers the script found already stored: {2, i, version, expires,
 * JSON, ...}, i the index of the key in j->idem. Returns false for a reply
 * of another shape. */
static bool take_known(tc_store_job *j, const redisReply *reply)
{
    for (size_t e = 1; e + 3 < reply->elements; e += 4) {
        redisReply *const *el = reply->element + e;
        if (el[0]->type != REDIS_REPLY_INTEGER || el[1]->type != REDIS_REPLY_STRING ||
            el[2]->type != REDIS_REPLY_STRING || el[3]->type != REDIS_REPLY_STRING)
            return false;
        const tc_store_idem_rec *of = j->idem;
        for (long long i = 0; of && i < el[0]->integer; i++)
            of = of->next;
        if (of == NULL) return false;
        tc_store_idem_rec *rec = tc_xcalloc(1, sizeof *rec);
        rec->key = tc_xstrdup(of->key);
        rec->caller = tc_xstrdup(of->caller);
        rec->version = strtoll(el[1]->str, NULL, 10);
        rec->expires_ms = strtoll(el[2]->str, NULL, 10);
        rec->json = tc_rbuf_new(el[3]->str, el[3]->len);
        rec->next = j->known;
        j->known = rec;
    }
    return j->known != NULL;
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
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 1 &&
               reply->element[0]->type == REDIS_REPLY_INTEGER && reply->element[0]->integer == 2 &&
               (reply->elements - 1) % 4 == 0 && take_known(w->job, reply)) {
        rc = TC_JOB_KNOWN; /* a key answered already (by another instance) */
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
