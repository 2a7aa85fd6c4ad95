/* redis_link.c — the Redis store's command and subscriber connections as
 * one link: requests and their timeout, the subscription, the heartbeat,
 * and closing (see redis_link.h and docs/redis.md). */
#include "store/redis_link.h"

#include "core/log.h"
#include "core/mem.h"
#include "store/redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* hiredis 0.14 has no timeouts of its own: a command left unanswered this
 * long means Redis is gone, and both connections end. */
#define CMD_TIMEOUT_MS 2000
/* One timer sweeps the deadlines: a timeout is noticed at most this late. */
#define TICK_MS 100
/* A heartbeat is PUBLISHed to our own channel this often... */
#define PING_EVERY_MS 1000
/* ...and when none is heard back on the subscription for this long (three
 * and a half beats: one late reply is not an outage), the subscriber
 * connection died silently. */
#define SUB_SILENT_MS 3500
/* Closing waits this long for replies already on their way (a write in
 * flight lands) before it ends the command connection anyway. */
#define CLOSE_WAIT_MS 2000
/* Channels per SUBSCRIBE or UNSUBSCRIBE command when many are sent. */
#define SUBSCRIBE_BATCH 256
/* Room for a decimal int, NUL included: the SELECT index. */
#define INT_SIZE (sizeof "-2147483648")

struct tc_redis_link {
    uv_loop_t *loop;
    tc_redis_url url;
    char *name, *channel, *alive, *script;
    tc_buf resubscribed; /* the subscriber connection's "again" message */
    size_t channel_len, alive_len;
    tc_redis_link_hooks hooks;
    tc_redis_conn *cmd, *sub;
    /* Replies come in order, so the oldest request has the nearest deadline. */
    tc_redis_req *inflight_head, *inflight_tail;
    uv_timer_t tick;
    uint64_t next_ping; /* next heartbeat PUBLISH */
    bool ping_outstanding;
    uint64_t heard_at; /* last heartbeat heard on the subscription */
    bool resync_wanted;
    bool closing, handles_closing;
    uint64_t close_deadline;
    int open_handles;
};

int tc_redis_link_unavailable(const tc_redis_link *l, tc_errmsg *err)
{
    const char *why = tc_redis_conn_why(l->cmd);
    if (why[0] == '\0') why = "not connected";
    return tc_errmsg_set(err, TC_ESTORE, "store unavailable: %s: %s", l->name, why);
}

/* --- commands ------------------------------------------------------------- */

static void inflight_push(tc_redis_link *l, tc_redis_req *r)
{
    r->next = NULL;
    r->prev = l->inflight_tail;
    if (l->inflight_tail)
        l->inflight_tail->next = r;
    else
        l->inflight_head = r;
    l->inflight_tail = r;
}

static void inflight_remove(tc_redis_link *l, tc_redis_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->inflight_head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->inflight_tail = r->prev;
    r->prev = r->next = NULL;
}

static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    tc_redis_req *r = priv;
    /* NULL: the connection is going away; say why in the 503s it causes. */
    if (reply == NULL && ac->err && ac->errstr[0]) tc_redis_conn_set_why(r->link->cmd, ac->errstr);
    inflight_remove(r->link, r);
    r->on_reply(r, reply);
}

/* The command context if new commands may be sent on it (connected or still
 * connecting: hiredis buffers until the socket is ready). */
static redisAsyncContext *cmd_ctx(const tc_redis_link *l)
{
    redisAsyncContext *ac = tc_redis_conn_ctx(l->cmd);
    if (l->closing || ac == NULL || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return NULL;
    return ac;
}

bool tc_redis_link_ready(const tc_redis_link *l)
{
    return tc_redis_conn_is_up(l->cmd) && tc_redis_conn_is_up(l->sub);
}

int tc_redis_link_send(tc_redis_link *l, tc_redis_req *r, tc_redis_reply_fn fn, int argc,
                       const char **argv, const size_t *lens)
{
    redisAsyncContext *ac = cmd_ctx(l);
    if (ac == NULL) return TC_ESTORE;
    r->link = l;
    r->on_reply = fn;
    if (redisAsyncCommandArgv(ac, on_cmd_reply, r, argc, argv, lens) != REDIS_OK) return TC_ESTORE;
    r->deadline = uv_now(l->loop) + CMD_TIMEOUT_MS;
    inflight_push(l, r);
    return 0;
}

static void log_req_error(tc_redis_req *r, redisReply *reply)
{
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        tc_log_error("store: %s: %s", r->link->name, reply->str);
    free(r);
}

/* Sends a command whose reply only matters when it is an error. */
static void send_simple(tc_redis_link *l, int argc, const char **argv, const size_t *lens)
{
    tc_redis_req *r = tc_xcalloc(1, sizeof *r);
    if (tc_redis_link_send(l, r, log_req_error, argc, argv, lens) != 0) free(r);
}

/* After a (re)subscription the owner reads back what may have been missed,
 * once the command connection can carry that. */
static void maybe_resync(tc_redis_link *l)
{
    if (!l->resync_wanted || !tc_redis_conn_is_up(l->sub) || cmd_ctx(l) == NULL) return;
    l->resync_wanted = false;
    if (l->hooks.resync(l->hooks.ctx) != 0) l->resync_wanted = true;
}

/* --- replies that bring a connection up ----------------------------------- */

static void ping_answered(tc_redis_req *r, redisReply *reply)
{
    (void)reply;
    r->link->ping_outstanding = false;
    free(r);
}

/* The reply to SCRIPT LOAD, the last setup command: Redis answers, so the
 * command connection is up. */
static void setup_answered(tc_redis_req *r, redisReply *reply)
{
    tc_redis_link *l = r->link;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        tc_log_error("store: %s: SCRIPT LOAD: %s", l->name, reply->str);
    /* An array is our own command echoed by a socket connected to itself. */
    if (reply != NULL && reply->type != REDIS_REPLY_ARRAY && tc_redis_conn_answered(l->cmd))
        l->heard_at = uv_now(l->loop); /* no heartbeat could be sent while down */
    free(r);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    tc_redis_link *l = priv;
    redisReply *reply = r;
    /* NULL: the connection is going away (its disconnect callback follows). */
    if (reply == NULL || tc_redis_conn_ctx(l->sub) != ac || l->closing) return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element[0]->str;
    const redisReply *ch = reply->element[1];
    bool alive = ch->len == l->alive_len && memcmp(ch->str, l->alive, ch->len) == 0;
    bool global = ch->len == l->channel_len && memcmp(ch->str, l->channel, ch->len) == 0;
    if (alive) {
        /* Our heartbeat channel: a subscription confirmed or a heartbeat. */
        l->heard_at = uv_now(l->loop);
    } else if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        l->hooks.message(l->hooks.ctx, ch->str, ch->len, reply->element[2]->str,
                         reply->element[2]->len);
    } else if (!global && (strcmp(kind, "subscribe") == 0 || strcmp(kind, "unsubscribe") == 0)) {
        l->hooks.subscribed(l->hooks.ctx, ch->str, ch->len, kind[0] == 's');
    } else if (global && strcmp(kind, "subscribe") == 0) {
        /* Subscribed last on a new connection: every channel is in effect. */
        if (!tc_redis_conn_answered(l->sub)) return;
        l->heard_at = uv_now(l->loop);
        l->resync_wanted = true;
        maybe_resync(l);
    }
}

int tc_redis_link_subscribe(tc_redis_link *l, bool on, size_t n, const char *const *channels,
                            const size_t *lens)
{
    redisAsyncContext *ac = tc_redis_conn_ctx(l->sub);
    if (l->closing || ac == NULL || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return TC_ESTORE;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < SUBSCRIBE_BATCH ? n - done : SUBSCRIBE_BATCH;
        const char *argv[SUBSCRIBE_BATCH + 1];
        size_t argl[SUBSCRIBE_BATCH + 1];
        argv[0] = on ? "SUBSCRIBE" : "UNSUBSCRIBE";
        argl[0] = strlen(argv[0]);
        memcpy(argv + 1, channels + done, k * sizeof *argv);
        memcpy(argl + 1, lens + done, k * sizeof *argl);
        if (redisAsyncCommandArgv(ac, on_sub_reply, l, (int)k + 1, argv, argl) != REDIS_OK)
            return TC_ESTORE;
        done += k;
    }
    return 0;
}

void tc_redis_link_want_resync(tc_redis_link *l)
{
    l->resync_wanted = true; /* the next tick asks for it */
}

/* --- the connections' life ----------------------------------------------- */

static void on_handle_closed(void *arg)
{
    tc_redis_link *l = arg;
    if (--l->open_handles > 0) return;
    l->hooks.closed(l->hooks.ctx);
    free(l->name);
    free(l->channel);
    free(l->alive);
    free(l->script);
    tc_buf_free(&l->resubscribed);
    explicit_bzero(&l->url, sizeof l->url); /* the password */
    free(l);
}

static void on_tick_closed(uv_handle_t *h)
{
    on_handle_closed(h->data);
}

/* Once closing and both connections are gone, the timers go, then l. */
static void maybe_finished(tc_redis_link *l)
{
    if (!l->closing || l->handles_closing || tc_redis_conn_ctx(l->cmd) != NULL ||
        tc_redis_conn_ctx(l->sub) != NULL)
        return;
    l->handles_closing = true;
    uv_close((uv_handle_t *)&l->tick, on_tick_closed);
    tc_redis_conn_free(l->cmd, on_handle_closed, l);
    tc_redis_conn_free(l->sub, on_handle_closed, l);
}

static void cmd_down(void *ctx)
{
    tc_redis_link *l = ctx;
    l->ping_outstanding = false;
    if (!l->closing) {
        /* The subscriber connection may well be up and hear everything,
         * but a write whose reply was lost is the owner's own, whose
         * message it skips: it reads back what it follows. */
        l->hooks.commands_lost(l->hooks.ctx);
        l->resync_wanted = true;
    }
    maybe_finished(l);
}

static void sub_down(void *ctx)
{
    tc_redis_link *l = ctx;
    if (!l->closing) l->hooks.messages_lost(l->hooks.ctx);
    maybe_finished(l);
}

/* Queued before anything else on a new command connection, so every later
 * command runs after them: the database, then the owner's script, whose
 * answer brings the connection up. */
static void cmd_started(void *ctx, redisAsyncContext *ac)
{
    tc_redis_link *l = ctx;
    (void)ac;
    if (l->url.db != 0) {
        char db[INT_SIZE];
        snprintf(db, sizeof db, "%d", l->url.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {strlen(argv[0]), strlen(db)};
        send_simple(l, 2, argv, lens);
    }
    const char *argv[] = {"SCRIPT", "LOAD", l->script};
    size_t lens[] = {strlen(argv[0]), strlen(argv[1]), strlen(l->script)};
    tc_redis_req *r = tc_xcalloc(1, sizeof *r);
    if (tc_redis_link_send(l, r, setup_answered, 3, argv, lens) != 0) free(r);
    l->next_ping = uv_now(l->loop) + PING_EVERY_MS;
    maybe_resync(l);
}

static void sub_started(void *ctx, redisAsyncContext *ac)
{
    tc_redis_link *l = ctx;
    /* Pub/sub ignores SELECT: the channel names carry the database. Our
     * heartbeat channel first (on_tick): a subscription that went silent is
     * noticed even when no table changes; then the owner's channels; the
     * global channel last, so its confirmation means all are in effect. */
    redisAsyncCommand(ac, on_sub_reply, l, "SUBSCRIBE %s", l->alive);
    l->hooks.resubscribe(l->hooks.ctx);
    redisAsyncCommand(ac, on_sub_reply, l, "SUBSCRIBE %s", l->channel);
}

/* --- the sweep: timeouts and heartbeat ------------------------------------ */

static void on_tick(uv_timer_t *t)
{
    tc_redis_link *l = t->data;
    uint64_t now = uv_now(l->loop);
    if (l->closing) {
        if (now >= l->close_deadline) {
            tc_redis_conn_kill(l->cmd, "closed with replies pending");
            tc_redis_conn_kill(l->sub, "closed");
        }
        return;
    }
    if (l->inflight_head != NULL && now >= l->inflight_head->deadline) {
        /* Redis stopped answering: the subscriber is as suspect as the
         * commands, and a resubscription resyncs. */
        char why[TC_REDIS_WHY_SIZE];
        tc_log_warn("store: %s: no answer within %d ms", l->name, CMD_TIMEOUT_MS);
        snprintf(why, sizeof why, "no answer within %d s", CMD_TIMEOUT_MS / 1000);
        tc_redis_conn_kill(l->cmd, why);
        snprintf(why, sizeof why, "no answer on the command connection within %d s",
                 CMD_TIMEOUT_MS / 1000);
        tc_redis_conn_kill(l->sub, why);
        return;
    }
    tc_redis_conn_sweep(l->cmd, now);
    tc_redis_conn_sweep(l->sub, now);
    maybe_resync(l);
    bool both_up = tc_redis_conn_is_up(l->cmd) && tc_redis_conn_is_up(l->sub);
    if (both_up && now >= l->heard_at + SUB_SILENT_MS) {
        /* Redis answers commands but our heartbeats do not come back: the
         * subscriber connection is dead without a FIN or RST. */
        tc_redis_conn_kill(l->sub, "no heartbeat heard on the subscription");
        return;
    }
    if (tc_redis_conn_is_up(l->cmd) && !l->ping_outstanding && now >= l->next_ping) {
        /* Also checks the command connection (an unanswered PUBLISH times
         * out like any command). */
        tc_redis_req *r = tc_xcalloc(1, sizeof *r);
        const char *argv[] = {"PUBLISH", l->alive, "1"};
        size_t lens[] = {strlen(argv[0]), strlen(l->alive), strlen(argv[2])};
        if (tc_redis_link_send(l, r, ping_answered, 3, argv, lens) == 0)
            l->ping_outstanding = true;
        else
            free(r);
        l->next_ping = now + PING_EVERY_MS;
    }
}

/* --- open / close --------------------------------------------------------- */

tc_redis_link *tc_redis_link_open(uv_loop_t *loop, const tc_redis_link_opts *o,
                                  const tc_redis_link_hooks *hooks)
{
    tc_redis_link *l = tc_xcalloc(1, sizeof *l);
    l->loop = loop;
    l->url = *o->url;
    l->name = tc_xstrdup(o->name);
    l->channel = tc_xstrdup(o->channel);
    l->channel_len = strlen(o->channel);
    l->alive = tc_xstrdup(o->alive);
    l->alive_len = strlen(o->alive);
    l->script = tc_xstrdup(o->script);
    l->hooks = *hooks;
    tc_buf_append_str(&l->resubscribed, "subscribed to its channels again");
    tc_redis_conn_opts co = {.url = &l->url,
                             .name = l->name,
                             .role = "commands",
                             .again = "connected again",
                             .slow = "connect timed out"};
    l->cmd = tc_redis_conn_new(loop, &co, &(tc_redis_conn_hooks){l, cmd_started, cmd_down});
    co.role = "subscriber";
    co.again = tc_buf_cstr(&l->resubscribed);
    co.slow = "subscription not confirmed in time";
    l->sub = tc_redis_conn_new(loop, &co, &(tc_redis_conn_hooks){l, sub_started, sub_down});
    uv_timer_init(loop, &l->tick);
    l->open_handles = 3;
    l->tick.data = l;
    uv_timer_start(&l->tick, on_tick, TICK_MS, TICK_MS);
    tc_redis_conn_start(l->cmd);
    tc_redis_conn_start(l->sub);
    return l;
}

void tc_redis_link_close(tc_redis_link *l)
{
    l->closing = true;
    tc_redis_conn_stop(l->cmd);
    tc_redis_conn_stop(l->sub);
    tc_redis_conn_kill(l->sub, "closed");
    redisAsyncContext *ac = tc_redis_conn_ctx(l->cmd);
    if (ac != NULL && tc_redis_conn_is_up(l->cmd) && l->inflight_head != NULL) {
        /* Let what was sent be answered (a write in flight lands), then
         * disconnect; the tick ends it after CLOSE_WAIT_MS regardless. */
        l->close_deadline = uv_now(l->loop) + CLOSE_WAIT_MS;
        redisAsyncDisconnect(ac);
    } else {
        tc_redis_conn_kill(l->cmd, "closed");
    }
    maybe_finished(l);
}
