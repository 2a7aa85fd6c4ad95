/* redis_diners.c — seats and names in Redis by one Lua script (see
 * redis_diners.h). */
#include "store/redis_diners.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for "tablecart:diners:<tableId>" and for an int64 in decimal. */
#define KEY_SIZE (sizeof "tablecart:diners:-2147483648")
#define I64_SIZE (sizeof "-9223372036854775808")

/* KEYS[1] the table's diners hash; ARGV: get|join|name|touch|keep, userId, the
 * most seats, the name, the sitting gap in ms (0: none). Returns {full,
 * wrote, HGETALL}: full 1 when a name was not set because the table is full
 * and the diner has no seat. With a gap, "now" is Redis's clock (TIME), one
 * for every instance: a join, name or touch first forgets the table's
 * diners when "active" is at least the gap old (tc_sitting_over: none
 * stored counts as now), a keep (a touch with tc_store_job.keep) does not,
 * and every step but a get stores now as "active"; a get of a sitting that
 * is over reads no diners. */
static const char script[] = /* Redis 4 replicates scripts verbatim unless told: a write
                              * after TIME would be refused there (7 ignores it). */
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local k, full, wrote = KEYS[1], 0, 0\n"
    "local gap, now = tonumber(ARGV[5]), 0\n"
    "if gap > 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "end\n"
    "local function over()\n"
    "  local a = redis.call('HGET', k, 'active')\n"
    "  return gap > 0 and a and now - tonumber(a) >= gap\n"
    "end\n"
    "if ARGV[1] == 'get' then\n"
    "  if over() then return {0, 0, {}} end\n"
    "elseif ARGV[1] == 'touch' then\n"
    "  if over() then\n"
    "    wrote = redis.call('HEXISTS', k, 'next')\n"
    "    redis.call('DEL', k)\n"
    "  end\n"
    "elseif ARGV[1] ~= 'keep' then\n"
    "  if over() then\n"
    "    wrote = redis.call('HEXISTS', k, 'next')\n"
    "    redis.call('DEL', k)\n"
    "  end\n"
    "  local f = 'seat:' .. ARGV[2]\n"
    "  local seated = redis.call('HEXISTS', k, f) == 1\n"
    "  if not seated then\n"
    "    local n = tonumber(redis.call('HGET', k, 'next') or '0')\n"
    "    if n < tonumber(ARGV[3]) then\n"
    "      redis.call('HSET', k, 'next', n + 1)\n"
    "      redis.call('HSET', k, f, n + 1)\n"
    "      seated, wrote = true, 1\n"
    "    end\n"
    "  end\n"
    "  if ARGV[1] == 'name' then\n"
    "    if seated then\n"
    "      redis.call('HSET', k, 'name:' .. ARGV[2], ARGV[4])\n"
    "      wrote = 1\n"
    "    else\n"
    "      full = 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if gap > 0 and ARGV[1] ~= 'get' then\n"
    "  redis.call('HSET', k, 'active', string.format('%d', now))\n"
    "end\n"
    "return {full, wrote, redis.call('HGETALL', k)}\n";

/* The user id of field "<prefix><userId>", or false. */
static bool field_user(const redisReply *f, const char *prefix, int64_t *user_id)
{
    size_t pl = strlen(prefix);
    if (f->type != REDIS_REPLY_STRING || f->len <= pl || f->len > pl + 20 ||
        memcmp(f->str, prefix, pl) != 0)
        return false;
    char *end;
    *user_id = strtoll(f->str + pl, &end, 10);
    return end == f->str + f->len;
}

static int by_seat(const void *a, const void *b)
{
    const tc_diner *x = a, *y = b;
    return (x->seat > y->seat) - (x->seat < y->seat);
}

/* The list from HGETALL's fields and values into j. */
static void read_hash(tc_store_job *j, const redisReply *all)
{
    size_t n = 0;
    for (size_t i = 0; i + 1 < all->elements; i += 2) {
        int64_t uid;
        const redisReply *v = all->element[i + 1];
        if (!field_user(all->element[i], "seat:", &uid) || v->type != REDIS_REPLY_STRING) continue;
        j->diners = tc_xrealloc(j->diners, (n + 1) * sizeof *j->diners);
        j->diners[n++] = (tc_diner){uid, (int32_t)strtol(v->str, NULL, 10), NULL};
    }
    for (size_t i = 0; i + 1 < all->elements; i += 2) {
        int64_t uid;
        const redisReply *v = all->element[i + 1];
        if (!field_user(all->element[i], "name:", &uid) || v->type != REDIS_REPLY_STRING) continue;
        for (size_t k = 0; k < n; k++)
            if (j->diners[k].user_id == uid && j->diners[k].name == NULL) {
                j->diners[k].name = tc_xmalloc(v->len + 1);
                memcpy(j->diners[k].name, v->str, v->len);
                j->diners[k].name[v->len] = '\0';
            }
    }
    if (n > 1) qsort(j->diners, n, sizeof *j->diners, by_seat);
    j->n_diners = n;
}

int tc_redis_diners_read(tc_store_job *j, const redisReply *reply, const char *name)
{
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER &&
        reply->element[2]->type == REDIS_REPLY_ARRAY) {
        read_hash(j, reply->element[2]);
        j->wrote = reply->element[1]->integer == 1;
        return reply->element[0]->integer == 1 ? TC_ELIMIT : 0;
    }
    const char *why = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";
    tc_log_error("store: %s: diners script: %s", name, why);
    return tc_errmsg_set(&j->err, TC_ESTORE, "store unavailable: %s: %s", name, why);
}

int tc_redis_diners_send(tc_redis_link *link, tc_redis_req *r, const tc_store_job *j,
                         tc_redis_reply_fn fn)
{
    static const char *const ops[] = {"get", "join", "name", "touch"};
    char key[KEY_SIZE], user[I64_SIZE], max[I64_SIZE], gap[I64_SIZE];
    snprintf(key, sizeof key, "tablecart:diners:%d", (int)j->table_id);
    snprintf(user, sizeof user, "%lld", (long long)j->user_id);
    snprintf(max, sizeof max, "%d", TC_DINER_MAX_SEATS);
    snprintf(gap, sizeof gap, "%lld", (long long)j->gap_ms);
    const char *op = j->diners_op == TC_DINERS_TOUCH && j->keep ? "keep" : ops[j->diners_op];
    const char *argv[] = {"EVAL", script, "1", key, op, user, max, j->name ? j->name : "", gap};
    size_t lens[sizeof argv / sizeof argv[0]];
    for (size_t i = 0; i < sizeof argv / sizeof argv[0]; i++)
        lens[i] = strlen(argv[i]);
    return tc_redis_link_send(link, r, fn, (int)(sizeof argv / sizeof argv[0]), argv, lens);
}
