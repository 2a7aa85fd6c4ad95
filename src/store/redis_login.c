/* redis_login.c — addresses and AUTH for connections to Redis (see
 * redis_login.h). */
#include "store/redis_login.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

bool tc_redis_host_is_numeric(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

bool tc_redis_addr_text(const struct addrinfo *ai, char out[TC_REDIS_ADDR_SIZE])
{
    const void *a;
    if (ai->ai_family == AF_INET)
        a = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
    else if (ai->ai_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
    else
        return false;
    return inet_ntop(ai->ai_family, a, out, TC_REDIS_ADDR_SIZE) != NULL;
}

/* AUTH's arguments: AUTH [user] password. Returns argc (0: no password). */
static int auth_args(const tc_redis_url *u, const char *argv[3], size_t lens[3])
{
    if (u->password[0] == '\0') return 0;
    int n = 0;
    argv[n++] = "AUTH";
    if (u->user[0]) argv[n++] = u->user;
    argv[n++] = u->password;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return n;
}

bool tc_redis_login_async(redisAsyncContext *ac, const tc_redis_url *u, redisCallbackFn *fn,
                          void *priv)
{
    const char *argv[3];
    size_t lens[3];
    int n = auth_args(u, argv, lens);
    return n > 0 && redisAsyncCommandArgv(ac, fn, priv, n, argv, lens) == REDIS_OK;
}

/* One blocking connect to a numeric address, with tv for the connect and
 * every reply. */
static redisContext *connect_one(const char *addr, int port, struct timeval tv, char *why,
                                 size_t why_size)
{
    redisContext *c = redisConnectWithTimeout(addr, port, tv);
    if (c != NULL && !c->err && redisSetTimeout(c, tv) == REDIS_OK) return c;
    snprintf(why, why_size, "%s", c ? c->errstr : "out of memory");
    redisFree(c);
    return NULL;
}

int tc_redis_login_sync(const tc_redis_url *u, const char *name, struct timeval tv,
                        redisContext **out, tc_errmsg *err)
{
    char why[sizeof((redisContext *)0)->errstr] = "";
    redisContext *c = NULL;
    if (tc_redis_host_is_numeric(u->host)) {
        c = connect_one(u->host, u->port, tv, why, sizeof why);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
        int rc = getaddrinfo(u->host, NULL, &hints, &res);
        if (rc != 0)
            return tc_errmsg_set(err, TC_ESTORE, "store: %s: cannot resolve %s: %s", name, u->host,
                                 gai_strerror(rc));
        /* localhost may be ::1 first while Redis listens on 127.0.0.1 only. */
        for (const struct addrinfo *ai = res; ai && c == NULL; ai = ai->ai_next) {
            char addr[TC_REDIS_ADDR_SIZE];
            if (tc_redis_addr_text(ai, addr)) c = connect_one(addr, u->port, tv, why, sizeof why);
        }
        freeaddrinfo(res);
    }
    if (c == NULL)
        return tc_errmsg_set(err, TC_ESTORE, "store: %s: cannot connect: %s", name,
                             why[0] ? why : "no address");
    const char *argv[3];
    size_t lens[3];
    int n = auth_args(u, argv, lens);
    if (n > 0) {
        redisReply *r = redisCommandArgv(c, n, argv, lens);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            int rc =
                tc_errmsg_set(err, TC_ESTORE, "store: %s: AUTH: %s", name, r ? r->str : c->errstr);
            freeReplyObject(r);
            redisFree(c);
            return rc;
        }
        freeReplyObject(r);
    }
    *out = c;
    return 0;
}
