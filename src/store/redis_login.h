/* redis_login.h — how a connection to Redis gets in: the addresses a host
 * name stands for, and AUTH (password, or ACL user and password) before
 * anything else is sent.
 *
 * Shared by the blocking connections used before serving (redis_sync.c) and
 * the event-loop ones (redis_conn.c, which resolves names with
 * uv_getaddrinfo so the loop never waits for DNS). The password is never
 * put in a message. docs/redis.md, "Authentication". */
#ifndef TC_STORE_REDIS_LOGIN_H
#define TC_STORE_REDIS_LOGIN_H

#include "core/err.h"
#include "store/redis_wire.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdbool.h>
#include <sys/time.h>

/* Room for a numeric IPv4 or IPv6 address, NUL included. */
#define TC_REDIS_ADDR_SIZE 64

/* True when host is a numeric address (connecting to it needs no lookup). */
bool tc_redis_host_is_numeric(const char *host);

/* Writes the numeric address of ai (AF_INET or AF_INET6) to out. Returns
 * false for another family. */
bool tc_redis_addr_text(const struct addrinfo *ai, char out[TC_REDIS_ADDR_SIZE]);

/* Queues AUTH [user] password on ac when u has a password, before any
 * other command; fn(ac, reply, priv) gets its reply. Returns true when AUTH
 * was queued. */
bool tc_redis_login_async(redisAsyncContext *ac, const tc_redis_url *u, redisCallbackFn *fn,
                          void *priv);

/* Connects (blocking) to u: each address its host resolves to in turn, each
 * within tv; then AUTH when u has a password. Replies wait at most tv.
 * name ("redis://…") is for messages. Returns 0 and *out (the caller frees
 * it with redisFree), or TC_ESTORE with err: "store: NAME: cannot connect:
 * …", "…: cannot resolve HOST: …", "…: AUTH: WRONGPASS …". */
int tc_redis_login_sync(const tc_redis_url *u, const char *name, struct timeval tv,
                        redisContext **out, tc_errmsg *err);

#endif
