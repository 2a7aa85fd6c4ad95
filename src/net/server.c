#include "net/server.h"

#include "core/log.h"
#include "core/mem.h"
#include "core/ratelimit.h"
#include "net/conn_internal.h"
#include "net/uring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Deadlines are checked by one sweep over all connections rather than a
 * timer per connection: a uv_timer_t costs ~150 bytes each, the sweep costs a
 * few microseconds per thousand connections. */
enum { SWEEP_MS = 250 };
/* Pending connections the kernel may queue before accept: a burst of diners
 * opening pages at once (the kernel caps it at net.core.somaxconn). */
enum { LISTEN_BACKLOG = 4096 };
/* Connections accepted per wake-up of the listener at most: the rest wait
 * for the next loop turn, after everyone else's input (the listener stays
 * readable, so the loop comes back at once). */
enum { ACCEPT_BATCH = 128 };
/* Chains of the open-connections-per-address table (a power of two). */
enum { ADDR_SLOTS = 4096 };
/* Addresses whose connection rate is tracked at once: a bound on memory; past
 * it new addresses go untracked (core/ratelimit.h). */
enum { MAX_RATE_KEYS = 100000 };
/* A refused connection is logged at most once per this many ms. */
enum { REFUSED_LOG_MS = 1000 };

struct addr_count {
    addr_count *next;
    tc_addr a;
    uint32_t n;        /* connections admitted and open */
    uint32_t refusals; /* refused connections still draining (may_drain) */
};

/* --- per-address limits ------------------------------------------------------ */

static addr_count **addr_slot(tc_server *s, const tc_addr *a)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof a->b; i++)
        h = (h ^ a->b[i]) * 16777619u;
    return &s->addr_slots[(h ^ a->family) & (ADDR_SLOTS - 1)];
}

static addr_count *addr_find(tc_server *s, const tc_addr *a)
{
    for (addr_count *e = *addr_slot(s, a); e; e = e->next)
        if (tc_addr_eq(&e->a, a)) return e;
    return NULL;
}

/* key's entry, made (with nothing counted) when there is none. */
static addr_count *addr_get(tc_server *s, const tc_addr *key)
{
    addr_count *e = addr_find(s, key);
    if (e == NULL) {
        e = tc_xcalloc(1, sizeof *e);
        e->a = *key;
        addr_count **slot = addr_slot(s, key);
        e->next = *slot;
        *slot = e;
    }
    return e;
}

/* c no longer counts against its client address. */
static void addr_uncount(tc_server *s, tc_conn *c)
{
    if (!c->counted && !c->refusal) return;
    tc_addr key = tc_addr_limit_key(&c->client);
    for (addr_count **pp = addr_slot(s, &key); *pp; pp = &(*pp)->next) {
        addr_count *e = *pp;
        if (!tc_addr_eq(&e->a, &key)) continue;
        if (c->counted) e->n--;
        if (c->refusal) e->refusals--;
        if (e->n == 0 && e->refusals == 0) {
            *pp = e->next;
            free(e);
        }
        break;
    }
    c->counted = 0;
    c->refusal = 0;
}

/* Makes a c's client and checks the per-address limits: 0, or TC_EBUSY with
 * the Retry-After and the reason. new_conn: this is the client's new
 * connection (counted by the connection rate). */
static int admit(tc_server *s, tc_conn *c, const tc_addr *a, bool new_conn, uint32_t *retry,
                 const char **why)
{
    addr_uncount(s, c);
    c->client = *a;
    if (s->opts.exempt_loopback && tc_addr_is_loopback(a)) return 0;
    /* Counted by its limit key: an IPv6 client by its /64. */
    tc_addr key = tc_addr_limit_key(a);
    bool capped = s->opts.max_conns_per_addr != 0;
    addr_count *e = capped ? addr_find(s, &key) : NULL;
    if (e && e->n >= s->opts.max_conns_per_addr) {
        /* A connection frees up when a page closes or idles out: a second is
         * as good a guess as any, and keeps a retrying client slow. */
        *retry = 1;
        *why = "too many connections from this address";
        return TC_EBUSY;
    }
    if (new_conn && s->conn_rate) {
        uint64_t wait = tc_ratelimit_take(s->conn_rate, &key, sizeof key, uv_now(s->loop));
        if (wait) {
            *retry = tc_retry_after_s(wait);
            *why = "too many new connections from this address";
            return TC_EBUSY;
        }
    }
    if (capped) {
        if (e == NULL) e = addr_get(s, &key);
        e->n++;
        c->counted = 1;
    }
    return 0;
}

/* A connection refused for its address's limits is closed politely: its
 * answer is read before our FIN, then up to 2 s of draining (tc_conn_close),
 * with its descriptor held all along. It counts against its address
 * meanwhile, and one refused while its address already has its cap of them
 * draining is closed at once: an address that opens connections faster than
 * they drain holds at most twice its cap of descriptors, not every one the
 * server has. With no cap on open connections (--max-conns-per-ip 0) the
 * connection rate's burst caps the refusals instead. Returns whether c may
 * drain. */
static bool may_drain(tc_server *s, tc_conn *c)
{
    if (s->addr_slots == NULL) return true; /* no per-address limit refuses anything */
    uint64_t cap =
        s->opts.max_conns_per_addr ? s->opts.max_conns_per_addr : 2 * (uint64_t)s->opts.conn_rate;
    tc_addr key = tc_addr_limit_key(&c->client);
    addr_count *e = addr_get(s, &key);
    if (e->refusals >= cap) return false; /* not new: cap >= 1 */
    e->refusals++;
    c->refusal = 1;
    return true;
}

static void log_refused(tc_server *s, tc_conn *c, int status, const char *why)
{
    uint64_t now = uv_now(s->loop);
    if (s->refused_log_at && now < s->refused_log_at + REFUSED_LOG_MS) return;
    s->refused_log_at = now;
    char host[TC_ADDR_STRLEN];
    tc_log_warn("conn %llu from %s refused with %d: %s (%llu refused so far)",
                (unsigned long long)c->id, tc_addr_str(&c->client, host, sizeof host), status, why,
                (unsigned long long)(s->refused + s->refused_full));
}

/* Answers a connection we will not serve, then closes it: politely (its
 * answer is read before our FIN) for a per-address limit, unless at_once (see
 * may_drain); at once when every descriptor counts. */
static void refuse(tc_server *s, tc_conn *c, int status, uint32_t retry, const char *why,
                   bool at_once)
{
    if (status == 503)
        s->refused_full++;
    else
        s->refused++;
    log_refused(s, c, status, why);
    if (s->opts.refuse) s->opts.refuse(s->opts.refuse_ctx, c, status, retry, why);
    if (status == 503 || at_once)
        tc_conn_abort(c);
    else
        tc_conn_close(c);
}

int tc_conn_forwarded(tc_conn *c, tc_view xff, uint32_t *retry_after_s, const char **why)
{
    tc_server *s = tc_conn_server(c);
    tc_addr peer, client;
    tc_conn_peer_addr(c, &peer);
    tc_addr_forwarded(xff, s->opts.trusted, s->opts.n_trusted, &peer, &client);
    bool first = !c->attributed;
    if (!first && tc_addr_eq(&client, &c->client)) return 0;
    c->attributed = 1;
    int r = admit(s, c, &client, first, retry_after_s, why);
    if (r != 0) {
        s->refused++;
        log_refused(s, c, 429, *why);
    }
    return r;
}

const tc_addr *tc_conn_client(const tc_conn *c)
{
    return &c->client;
}

bool tc_conn_via_proxy(const tc_conn *c)
{
    return c->via_proxy;
}

static void on_idle(uv_idle_t *h);

/* --- fair turns ---------------------------------------------------------------- */

bool tc_conn_spend(tc_conn *c)
{
    const tc_server *s = tc_conn_server(c);
    if (c->turn != s->turn) {
        c->turn = s->turn;
        c->spent = 0;
    }
    if (c->spent >= TC_CONN_TURN_BUDGET) return false;
    c->spent++;
    return true;
}

void tc_conn_defer(tc_conn *c)
{
    tc_server *s = tc_conn_server(c);
    tc_conn_pause(c);
    if (c->deferred || c->closing) return;
    c->deferred = 1;
    tc_conn_list_push(&s->ready, c);
    /* An active idle handle also makes the next poll return at once. */
    uv_idle_start(&s->idle, on_idle);
}

/* After the poll phase: what this turn's callbacks wrote goes out, and the
 * next input belongs to a new turn. */
static void on_check(uv_check_t *h)
{
    tc_server *s = h->data;
    if (s->batch.n) tc_conn_flush_batch(s);
    s->turn++;
}

/* Before the next poll: every connection deferred so far gets its next share,
 * once; one deferred again waits for the turn after. */
static void on_idle(uv_idle_t *h)
{
    tc_server *s = h->data;
    /* Connections deferred while these run go into a new list. */
    tc_conn_list ready = s->ready;
    s->ready = (tc_conn_list){0};
    uv_idle_stop(h);
    for (size_t i = 0; i < ready.n; i++) {
        tc_conn *c = ready.at[i];
        c->deferred = 0;
        if (!c->closing && !c->shut && c->proto) {
            if (c->proto->on_ready)
                c->proto->on_ready(c);
            else
                tc_conn_resume(c);
        }
    }
    if (s->ready.at == NULL) {
        tc_conn_list_clear(&ready, false);
        s->ready = ready; /* nobody deferred again: keep it for next time */
    } else {
        tc_conn_list_clear(&ready, true);
    }
}

/* --- accepting ------------------------------------------------------------------ */

/* A new client on fd, from the address accept gave (a client that reset
 * before it was accepted has one too, where getpeername fails). */
static void on_connection(tc_server *s, int fd, const struct sockaddr *from)
{
    /* Full: the connection is still accepted (else the listener stays
     * readable and the loop spins), answered and closed at once. Those
     * closed at once earlier in this batch hold no descriptor any more. */
    bool full = s->n_conns - s->n_aborted >= s->max_conns;
    tc_conn *c = tc_conn_accept(s, fd);
    if (c == NULL) return;
    if (s->shutting_down) {
        tc_conn_abort(c);
        return;
    }
    tc_addr peer;
    tc_addr_from_sockaddr(from, &peer);
    c->client = peer;
    if (full) {
        refuse(s, c, 503, 1, "server is at its connection limit", true);
        return;
    }
    uint32_t retry;
    const char *why;
    if (s->opts.n_trusted && tc_cidr_any(s->opts.trusted, s->opts.n_trusted, &peer)) {
        /* Its requests name the client (tc_conn_forwarded). */
        c->via_proxy = 1;
    } else if (admit(s, c, &peer, true, &retry, &why) != 0) {
        refuse(s, c, 429, retry, why, !may_drain(s, c));
        return;
    }
    tc_conn_set_proto(c, s->opts.initial_proto, s->opts.new_state(c, s->opts.app));
    tc_conn_start(c);
}

/* Out of descriptors (EMFILE, ENFILE), below the connection cap: the reserve
 * descriptor is given up to accept the waiting clients and close them at
 * once, so the listener does not stay readable and spin the loop. Returns
 * how many were dropped. */
static unsigned drop_waiting(tc_server *s)
{
    unsigned n = 0;
    /* A reserve lost to another thread's open (the store's, between the
     * close and the reopen below) is taken back once a descriptor is free. */
    if (s->reserve_fd < 0) s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->reserve_fd < 0) return 0;
    close(s->reserve_fd);
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0 && errno == EINTR) continue;
        if (fd < 0) break;
        close(fd);
        n++;
    }
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return n;
}

static void on_listener(uv_poll_t *h, int status, int events)
{
    (void)events;
    tc_server *s = h->data;
    if (status < 0) {
        /* libuv stopped the handle on the socket's error: keep listening. */
        tc_log_warn("accept failed: %s", uv_strerror(status));
        if (!s->shutting_down) uv_poll_start(h, UV_READABLE, on_listener);
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH && !s->shutting_down; i++) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&from, &from_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            on_connection(s, fd, (struct sockaddr *)&from);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED) continue;
        if (e == EAGAIN || e == EWOULDBLOCK) return;
        if (e == EMFILE || e == ENFILE) {
            unsigned n = drop_waiting(s);
            tc_log_warn("accept failed: %s (%u waiting clients dropped)", uv_strerror(-e), n);
        } else {
            tc_log_warn("accept failed: %s", uv_strerror(-e));
        }
        return;
    }
}

/* --- the live connections -------------------------------------------------------- */

typedef struct {
    tc_server *s;
    void (*fn)(tc_conn *c, uint64_t now);
    uint64_t now;
} walk_ctx;

static void walk_one(uv_handle_t *h, void *arg)
{
    walk_ctx *w = arg;
    if (h->type == UV_POLL && h->data == w->s && h != (uv_handle_t *)&w->s->listener)
        w->fn((tc_conn *)h, w->now);
}

/* Calls fn for each connection from accept until libuv's close callback
 * (closing ones included). fn may close connections (that is deferred to
 * libuv's close callback) and accept none; a connection is never freed
 * under the walk. */
static void each_conn(tc_server *s, void (*fn)(tc_conn *c, uint64_t now))
{
    walk_ctx w = {.s = s, .fn = fn, .now = uv_now(s->loop)};
    uv_walk(s->loop, walk_one, &w);
}

static void sweep_one(tc_conn *c, uint64_t now)
{
    /* One-shot: tc_conn_deadline_passed clears it first. */
    if (!c->closing && tc_conn_deadline_due(c, now)) tc_conn_deadline_passed(c);
}

static void abort_one(tc_conn *c, uint64_t now)
{
    (void)now;
    tc_conn_abort(c);
}

static void shutdown_one(tc_conn *c, uint64_t now)
{
    (void)now;
    tc_conn_shutdown(c);
}

static void on_sweep(uv_timer_t *t)
{
    tc_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    each_conn(s, sweep_one);
    if (s->shutting_down && (s->n_conns == 0 || now >= s->shutdown_deadline)) {
        each_conn(s, abort_one);
        if (s->n_conns == 0 && s->shutdown_done) {
            void (*done)(void *) = s->shutdown_done;
            s->shutdown_done = NULL;
            uv_close((uv_handle_t *)&s->sweep, NULL);
            uv_close((uv_handle_t *)&s->idle, NULL);
            uv_close((uv_handle_t *)&s->check, NULL);
            uv_close((uv_handle_t *)&s->flush_idle, NULL);
            done(s->shutdown_ctx);
        }
    }
}

/* The cap on all connections: RLIMIT_NOFILE less the reserve, or the
 * configured cap when it is lower. */
static size_t fd_cap(size_t configured)
{
    struct rlimit rl;
    size_t cap = SIZE_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        cap =
            rl.rlim_cur > TC_SERVER_FD_RESERVE + 1 ? (size_t)rl.rlim_cur - TC_SERVER_FD_RESERVE : 1;
    if (configured && configured < cap) cap = configured;
    return cap;
}

size_t tc_server_presize_fds(size_t max_conns)
{
    size_t cap = fd_cap(max_conns);
    if (cap == SIZE_MAX || cap > (size_t)INT32_MAX - TC_SERVER_FD_RESERVE) return 0;
    size_t slots = cap + TC_SERVER_FD_RESERVE;
    /* A descriptor duplicated onto the highest slot makes the kernel size
     * the table for it; closing it leaves the table as it is. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return 0;
    int high = fcntl(probe, F_DUPFD_CLOEXEC, (int)slots - 1);
    close(probe);
    if (high < 0) return 0;
    close(high);
    return slots;
}

int tc_server_start(uv_loop_t *loop, const tc_server_opts *o, tc_server **out, tc_errmsg *err)
{
    struct sockaddr_storage addr;
    int r;
    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr) != 0)
        return tc_errmsg_set(err, TC_EINVAL, "--listen: bad address %s", o->host);
    tc_server *s = tc_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->opts = *o;
    if (s->opts.max_queue > TC_SERVER_MAX_QUEUE_LIMIT)
        s->opts.max_queue = TC_SERVER_MAX_QUEUE_LIMIT;
    if (s->opts.close_flush_ms == 0) s->opts.close_flush_ms = TC_SERVER_CLOSE_FLUSH_MS;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    socklen_t alen =
        addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    r = fd < 0 ? -errno : 0;
    if (r == 0 &&
        (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
         bind(fd, (struct sockaddr *)&addr, alen) != 0 || listen(fd, LISTEN_BACKLOG) != 0))
        r = -errno;
    if (r == 0) r = uv_poll_init(loop, &s->listener, fd);
    if (r != 0) {
        if (fd >= 0) close(fd);
        free(s);
        return tc_errmsg_set(err, TC_EIO, "cannot listen on %s:%d: %s", o->host, o->port,
                             uv_strerror(r));
    }
    s->listen_fd = fd;
    s->listener.data = s;
    uv_poll_start(&s->listener, UV_READABLE, on_listener);
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_idle_init(loop, &s->idle);
    s->idle.data = s;
    uv_unref((uv_handle_t *)&s->idle);
    uv_check_init(loop, &s->check);
    s->check.data = s;
    uv_check_start(&s->check, on_check);
    uv_unref((uv_handle_t *)&s->check);
    uv_idle_init(loop, &s->flush_idle);
    s->flush_idle.data = s;
    uv_unref((uv_handle_t *)&s->flush_idle);
    if (o->batch_sends) {
        const char *why;
        if (tc_uring_open(TC_SERVER_BATCH_RING, &s->uring, &why) == 0)
            tc_log_info("sends: batched per loop turn, one io_uring system call for up to %d",
                        TC_SERVER_BATCH_RING);
        else
            tc_log_info("sends: one send per write (%s)", why);
    }
    s->max_conns = fd_cap(o->max_conns);
    /* Open connections per address, or only the refusals still draining
     * when the connection rate alone is limited (may_drain). */
    if (o->max_conns_per_addr || o->conn_rate)
        s->addr_slots = tc_xcalloc(ADDR_SLOTS, sizeof *s->addr_slots);
    if (o->conn_rate)
        s->conn_rate = tc_ratelimit_new(o->conn_rate, 2 * o->conn_rate, MAX_RATE_KEYS);
    *out = s;
    return 0;
}

int tc_server_port(const tc_server *s)
{
    return s->port;
}

size_t tc_server_conn_count(const tc_server *s)
{
    return s->n_conns;
}

size_t tc_server_max_conns(const tc_server *s)
{
    return s->max_conns;
}

bool tc_server_is_shutting_down(const tc_server *s)
{
    return s->shutting_down;
}

void tc_server_forget(tc_server *s, tc_conn *c)
{
    s->n_conns--;
    s->n_aborted--; /* every connection ends by tc_conn_abort */
    addr_uncount(s, c);
}

void tc_server_shutdown(tc_server *s, uint64_t grace_ms, void (*done)(void *ctx), void *ctx)
{
    if (s->shutting_down) return;
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_ctx = ctx;
    s->shutdown_deadline = uv_now(s->loop) + grace_ms;
    /* uv_close takes the socket out of the loop's epoll set: then it closes. */
    uv_close((uv_handle_t *)&s->listener, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    each_conn(s, shutdown_one);
}

void tc_server_free(tc_server *s)
{
    /* Deferred connections the loop ended before serving: all closed by now,
     * held only by the list. */
    tc_conn_list_clear(&s->ready, true);
    /* Writes the loop ended before flushing: their connections are closed. */
    tc_conn_list_clear(&s->batch, true);
    tc_uring_close(s->uring);
    if (s->addr_slots) {
        for (size_t i = 0; i < ADDR_SLOTS; i++) {
            for (addr_count *e = s->addr_slots[i], *next; e; e = next) {
                next = e->next;
                free(e);
            }
        }
        free(s->addr_slots);
    }
    tc_ratelimit_free(s->conn_rate);
    if (s->reserve_fd >= 0) close(s->reserve_fd);
    free(s);
}
