/* redis_conn.h — one asynchronous connection to Redis that keeps itself
 * connected.
 *
 * It resolves a host name off the loop (uv_getaddrinfo; one address after
 * another when a connect fails), logs in (AUTH, redis_login.h) before the
 * owner's first command, connects on the loop through our adapter
 * (uv_redis.h), counts as up
 * only once its owner says Redis answered (a paused Redis still completes
 * TCP connects), notices a socket that reached itself instead of Redis,
 * gives Redis a deadline to answer a new connection, and after any failure
 * reconnects with back-off (50 ms doubling to 1 s), logging an outage once
 * and the recovery once. What is sent on it, and when a command has waited
 * too long, is the owner's business (redis_link.c). */
#ifndef TC_STORE_REDIS_CONN_H
#define TC_STORE_REDIS_CONN_H

#include "store/redis_wire.h"

#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Room for a reason, NUL included: hiredis's errstr (128 bytes) or one of
 * our own; a longer one is cut. */
#define TC_REDIS_WHY_SIZE 160

typedef struct tc_redis_conn tc_redis_conn;

/* What the connection tells its owner; both hooks are required. They run
 * from the loop's callbacks and from inside tc_redis_conn_start, _sweep and
 * _kill. */
typedef struct {
    void *ctx;
    /* A new context, still connecting: queue the first commands on ac
     * (hiredis sends them once the socket is ready). */
    void (*started)(void *ctx, redisAsyncContext *ac);
    /* The context is gone (every callback of its commands has run, with
     * NULL replies); unless the connection is stopped a reconnect is
     * already scheduled. */
    void (*down)(void *ctx);
} tc_redis_conn_hooks;

typedef struct {
    const tc_redis_url *url;
    const char *name;  /* "redis://host:port/db", for messages */
    const char *role;  /* "commands", "subscriber", for messages */
    const char *again; /* logged after the name when it is up after an outage */
    const char *slow;  /* the reason when Redis does not answer a new connection in time */
} tc_redis_conn_opts;

/* A new connection, not connecting yet. o and hooks are copied, but the
 * strings of o are borrowed: they must outlive the connection. The owner
 * frees it with tc_redis_conn_free. */
tc_redis_conn *tc_redis_conn_new(uv_loop_t *loop, const tc_redis_conn_opts *o,
                                 const tc_redis_conn_hooks *hooks);

/* Connects now (after the host's lookup, for a name); a failure schedules a
 * reconnect like any other. AUTH refused ends the context like a lost
 * connection ("AUTH: WRONGPASS …"). */
void tc_redis_conn_start(tc_redis_conn *c);

/* The context, connecting or connected (borrowed: valid until the down
 * hook); NULL while down. */
redisAsyncContext *tc_redis_conn_ctx(const tc_redis_conn *c);

/* True once the owner reported an answer, until the context is gone. */
bool tc_redis_conn_is_up(const tc_redis_conn *c);

/* Redis answered on the current context: the connection is up, its back-off
 * starts again from the beginning, and an outage logged before is logged as
 * over. Returns false, changing nothing, when the answer cannot be Redis's
 * (no context, a socket that reached itself, stopped). */
bool tc_redis_conn_answered(tc_redis_conn *c);

/* The last failure ("" once up again); borrowed. */
const char *tc_redis_conn_why(const tc_redis_conn *c);

/* Replaces the last failure with a more precise one (hiredis's error while
 * it fails the pending commands, before the down hook runs). */
void tc_redis_conn_set_why(tc_redis_conn *c, const char *why);

/* Ends a context that Redis did not answer within 2 s of its start (a
 * connect timeout) as tc_redis_conn_kill does, with the reason o.slow. */
void tc_redis_conn_sweep(tc_redis_conn *c, uint64_t now);

/* Ends the context now, if there is one: its commands' callbacks run with
 * NULL replies (seeing why), then the down hook. */
void tc_redis_conn_kill(tc_redis_conn *c, const char *why);

/* No reconnect after this call; the current context stays until it ends or
 * is killed. */
void tc_redis_conn_stop(tc_redis_conn *c);

/* Frees a stopped connection without a context. Its timer closes first, so
 * c is freed from the loop; done(arg) runs right after. */
void tc_redis_conn_free(tc_redis_conn *c, void (*done)(void *arg), void *arg);

#endif
