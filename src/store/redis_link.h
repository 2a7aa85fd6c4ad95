/* redis_link.h — the Redis store's two asynchronous connections as one
 * link: commands with a timeout, the subscription, and a heartbeat through
 * pub/sub that proves the subscription still hears.
 *
 * A link is one command connection and one subscriber connection to the
 * same Redis, each a tc_redis_conn (redis_conn.h: connect, back-off,
 * reconnect). Commands are sent in order on the first; a command unanswered
 * for 2 s ends both connections. The second SUBSCRIBEs to this instance's
 * heartbeat channel, to which the command connection PUBLISHes every second
 * (none heard for 3.5 s ends the subscriber connection), to the channels
 * its owner asks for, and last to the owner's global channel. The link
 * knows no carts: it hands every message but heartbeats to its owner, asks
 * the owner to subscribe its channels again on every new subscriber
 * connection, and to resync once the global channel is confirmed and after
 * the command connection was lost (its unread replies lost too). Behaviour
 * and what is logged: docs/redis.md, "Outages and timeouts". */
#ifndef TC_STORE_REDIS_LINK_H
#define TC_STORE_REDIS_LINK_H

#include "core/err.h"
#include "store/redis_wire.h"

#include <hiredis/async.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct tc_redis_link tc_redis_link;
typedef struct tc_redis_req tc_redis_req;

/* The answer to r's command. reply is borrowed (hiredis frees it when this
 * returns); NULL when the command connection went away first: lost, timed
 * out or closed. The callback may free r. */
typedef void (*tc_redis_reply_fn)(tc_redis_req *r, redisReply *reply);

/* A command waiting for its reply. The caller allocates it (usually as the
 * first member of its own struct) and keeps it alive until its callback
 * runs; every field is the link's while the command is in flight. */
struct tc_redis_req {
    tc_redis_req *prev, *next;
    uint64_t deadline; /* uv_now() after which Redis is taken for gone */
    tc_redis_reply_fn on_reply;
    tc_redis_link *link;
};

/* What the link tells its owner; every hook is required. Hooks run from
 * the loop's callbacks, never from inside a tc_redis_link_* call. */
typedef struct {
    void *ctx;
    /* A message on any channel but the heartbeat's; ch and p are borrowed
     * for the call. Not called once tc_redis_link_close was called. */
    void (*message)(void *ctx, const char *ch, size_t ch_len, const char *p, size_t n);
    /* Redis confirmed a SUBSCRIBE (on) or UNSUBSCRIBE (off) of channel ch
     * sent with tc_redis_link_subscribe: one call per channel and command. */
    void (*subscribed)(void *ctx, const char *ch, size_t ch_len, bool on);
    /* A new subscriber connection: nothing is subscribed on it yet. Send
     * the owner's channels (tc_redis_link_subscribe) now: they are in
     * effect when the global channel, sent right after, is confirmed. */
    void (*resubscribe)(void *ctx);
    /* The global channel was confirmed (again): changes published meanwhile
     * were not heard. Called once the command connection can also send.
     * Returns 0, or a negative tc_err when a command could not be sent:
     * then called again when the command connection next starts. */
    int (*resync)(void *ctx);
    /* The command connection went away (not while closing): the replies
     * not read by then are lost, so what their commands did is unknown — a
     * write among them may have landed. resync is asked for as well, and
     * runs once the command connection can send again. */
    void (*commands_lost)(void *ctx);
    /* The subscriber connection went away (not while closing): messages
     * published from now until it is subscribed again are not heard. */
    void (*messages_lost)(void *ctx);
    /* Closing is over: both connections are gone, every reply callback has
     * run and the link is freed as soon as this returns. */
    void (*closed)(void *ctx);
} tc_redis_link_hooks;

typedef struct {
    const tc_redis_url *url;
    const char *name;    /* "redis://host:port/db", for messages */
    const char *channel; /* the global channel, subscribed last (the menu's) */
    const char *alive;   /* this instance's heartbeat channel */
    const char *script;  /* Lua loaded with SCRIPT LOAD at every connect */
} tc_redis_link_opts;

/* Starts connecting both connections (without waiting) and returns the new
 * link. Every string of o is copied; hooks are copied. The link belongs to
 * the caller until tc_redis_link_close, then to itself (see closed). */
tc_redis_link *tc_redis_link_open(uv_loop_t *loop, const tc_redis_link_opts *o,
                                  const tc_redis_link_hooks *hooks);

/* Drops the subscription, lets the replies already on their way arrive (for
 * at most 2 s), then ends the command connection. Every pending reply
 * callback still runs, with NULL for a reply that did not arrive (possibly
 * inside this call); then hooks.closed runs and the link is freed. No
 * message or resync hook runs and nothing may be sent after this call. */
void tc_redis_link_close(tc_redis_link *l);

/* Sends argv (argc arguments of lens bytes; copied) on the command
 * connection, also while it is still connecting (hiredis buffers). r's
 * callback fn runs exactly once: with the reply, or with NULL if the
 * connection goes away or the command times out. Returns 0, or TC_ESTORE
 * when the command connection is down or closing (fn is not called then). */
int tc_redis_link_send(tc_redis_link *l, tc_redis_req *r, tc_redis_reply_fn fn, int argc,
                       const char **argv, const size_t *lens);

/* SUBSCRIBEs (on) or UNSUBSCRIBEs (off) the n channels (lens bytes each;
 * copied) on the subscriber connection, in commands of at most 256
 * channels. Each channel's confirmation comes back through
 * hooks.subscribed. Returns 0, or TC_ESTORE when there is no subscriber
 * connection now (hooks.resubscribe runs when there is one again). Send no
 * command for a channel while its last one is unconfirmed: hiredis 0.14
 * loses track of a channel unsubscribed and subscribed again before the
 * confirmations came. */
int tc_redis_link_subscribe(tc_redis_link *l, bool on, size_t n, const char *const *channels,
                            const size_t *lens);

/* Asks for hooks.resync as soon as the command connection can send (at
 * the next 100 ms tick at the latest): the owner has reads it could not
 * send. */
void tc_redis_link_want_resync(tc_redis_link *l);

/* True when Redis answered the command connection's setup and confirmed
 * the subscription (what /healthz reports). */
bool tc_redis_link_ready(const tc_redis_link *l);

/* Fills err with "store unavailable: <name>: <why the command connection
 * is down>" and returns TC_ESTORE. */
int tc_redis_link_unavailable(const tc_redis_link *l, tc_errmsg *err);

#endif
