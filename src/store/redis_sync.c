/* redis_sync.c — the blocking connections of the Redis store, used only
 * before serving (see redis_sync.h). */
#include "store/redis_sync.h"

#include "store/redis_login.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>

/* Each connect and each reply waits this long at most: a start or an
 * import against a Redis that does not answer fails instead of hanging. */
#define SYNC_TIMEOUT_MS 2000
/* WATCH rounds of one import: only another import racing this one makes a
 * round fail, so a few are plenty; more means something keeps rewriting it. */
#define IMPORT_ATTEMPTS 10
/* An import's write is MULTI, SET, PUBLISH, EXEC: four replies. */
#define TX_REPLIES 4

#define MENU_KEY TC_REDIS_MENU_KEY

static int sync_connect(const tc_redis_url *u, const char *name, redisContext **out, tc_errmsg *err)
{
    struct timeval tv = {SYNC_TIMEOUT_MS / 1000, (SYNC_TIMEOUT_MS % 1000) * 1000};
    redisContext *c;
    int rc = tc_redis_login_sync(u, name, tv, &c, err);
    if (rc != 0) return rc;
    if (u->db != 0) {
        redisReply *r = redisCommand(c, "SELECT %d", u->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: SELECT %d: %s", name, u->db,
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

int tc_redis_sync_check(const tc_redis_url *u, const char *name, tc_errmsg *err)
{
    redisContext *c;
    int rc = sync_connect(u, name, &c, err);
    if (rc == 0) redisFree(c);
    return rc;
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

int tc_redis_sync_load_menu(const tc_redis_url *u, const char *name, tc_menu **out, tc_errmsg *err)
{
    redisContext *c;
    int rc = sync_connect(u, name, &c, err);
    if (rc != 0) return rc;
    rc = read_menu(c, name, out, err);
    redisFree(c);
    return rc;
}

/* One WATCH round: read, merge, write in MULTI/EXEC. Returns 0 and *landed
 * (false: the menu changed under the WATCH, try again), or TC_ESTORE. */
static int import_round(redisContext *c, const char *name, int db, const tc_menu *m, bool *landed,
                        tc_errmsg *err)
{
    redisReply *r = redisCommand(c, "WATCH %s", MENU_KEY);
    bool ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (!ok) return tc_errmsg_set(err, TC_ESTORE, "store: %s: WATCH: %s", name, c->errstr);
    tc_menu *old = NULL;
    int rc = read_menu(c, name, &old, err);
    if (rc != 0) return rc;
    tc_menu *merged = tc_redis_menu_merge(old, m);
    tc_buf json = TC_BUF_INIT;
    tc_redis_menu_json(merged, &json);
    tc_menu_free(old);
    tc_menu_free(merged);
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "SET %s %b", MENU_KEY, json.base, json.len);
    /* In the same transaction: every serving instance reads the menu again
     * (redis.c), and none can hear of it before it is there. */
    tc_buf channel = TC_BUF_INIT;
    tc_redis_menu_channel(db, &channel);
    redisAppendCommand(c, "PUBLISH %b 1", channel.base, channel.len);
    redisAppendCommand(c, "EXEC");
    tc_buf_free(&channel);
    tc_buf_free(&json);
    redisReply *replies[TX_REPLIES] = {NULL};
    for (int i = 0; i < TX_REPLIES; i++)
        if (redisGetReply(c, (void **)&replies[i]) != REDIS_OK) break;
    redisReply *exec = replies[TX_REPLIES - 1];
    *landed = exec != NULL && exec->type == REDIS_REPLY_ARRAY;
    if (!*landed && (exec == NULL || exec->type != REDIS_REPLY_NIL)) {
        /* Not a lost race: an error reply or a broken connection. */
        const redisReply *bad = NULL;
        for (int i = 0; i < TX_REPLIES; i++)
            if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR && bad == NULL)
                bad = replies[i];
        rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: writing %s: %s", name, MENU_KEY,
                           bad      ? bad->str
                           : c->err ? c->errstr
                                    : "unexpected reply");
    }
    for (int i = 0; i < TX_REPLIES; i++)
        freeReplyObject(replies[i]);
    return rc;
}

int tc_redis_sync_import_menu(const tc_redis_url *u, const char *name, const tc_menu *m,
                              tc_errmsg *err)
{
    redisContext *c;
    int rc = sync_connect(u, name, &c, err);
    if (rc != 0) return rc;
    bool landed = false;
    for (int attempt = 0; rc == 0 && !landed && attempt < IMPORT_ATTEMPTS; attempt++)
        rc = import_round(c, name, u->db, m, &landed, err);
    if (rc == 0 && !landed)
        rc = tc_errmsg_set(err, TC_ESTORE, "store: %s: %s kept changing during the import", name,
                           MENU_KEY);
    redisFree(c);
    return rc;
}
