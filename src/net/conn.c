/* conn.c — one client connection (net/conn.h): reading, the bounded write
 * queue, deadlines, fair turns and a close that is safe at any moment.
 *
 * Longer than 500 lines on purpose: the write queue (a ring held by its
 * tail, its heap count and cap, cart replacement, heartbeat dropping) and
 * the close paths share the connection's few bits of state, and splitting
 * them would spread one invariant — nothing is written after a close is
 * asked for — over several files. */
#include "net/conn_internal.h"

#include "core/log.h"
#include "core/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct wq_item {
    wq_item *next;
    tc_rbuf *rb;
    size_t off, len;
    size_t cost; /* heap counted for it in wq_heap */
    tc_wq_kind kind;
    bool started;          /* some bytes already went out: it can no longer be replaced */
    uint64_t committed_ns; /* a cart of tc_conn_write_cart: its commit time; else 0 */
};

/* One loop, one thread: a read is handled completely before the next one, so
 * every connection can borrow the same read buffer. Idle connections hold no
 * read buffer at all. */
static char read_buf[64 * 1024];
static bool read_buf_busy;

static void conn_flush(tc_conn *c);
static void conn_free_queue(tc_conn *c);

/* The queue is a ring through wq_tail: its head is wq_tail->next. */
static wq_item *wq_first(const tc_conn *c)
{
    return c->wq_tail ? c->wq_tail->next : NULL;
}

static wq_item *wq_after(const tc_conn *c, const wq_item *it)
{
    return it == c->wq_tail ? NULL : it->next;
}

tc_conn *tc_conn_accept(tc_server *s)
{
    tc_conn *c = tc_xcalloc(1, sizeof *c + s->opts.conn_tail);
    c->refs = 1; /* held by the handle until its close callback */
    c->id = ++s->next_id;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = s;
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1;
        c->proto_closed = 1;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return NULL;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    s->n_conns++;
    return c;
}

void tc_conn_set_proto(tc_conn *c, const tc_proto *p, void *state)
{
    c->proto = p;
    c->state = state;
}

void *tc_conn_state(const tc_conn *c)
{
    return c->state;
}

uint64_t tc_conn_id(const tc_conn *c)
{
    return c->id;
}

tc_server *tc_conn_server(const tc_conn *c)
{
    return c->tcp.data;
}

void tc_conn_peer_addr(const tc_conn *c, tc_addr *out)
{
    struct sockaddr_storage ss;
    int n = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) == 0)
        tc_addr_from_sockaddr((struct sockaddr *)&ss, out);
    else
        *out = (tc_addr){0};
}

const char *tc_conn_peer(const tc_conn *c, char *out, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof ss;
    char host[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &n) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, len, "%s:%d", host, port);
    return out;
}

/* --- reading --------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    if (read_buf_busy) {
        /* Cannot happen with one thread, but never hand out the buffer twice. */
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    read_buf_busy = true;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    tc_conn *c = (tc_conn *)st;
    if (buf->base == read_buf) read_buf_busy = false;
    if (n == 0) return;
    if (c->closing) return;
    if (n < 0) {
        if (n == UV_EOF && !c->shut && c->proto && c->proto->on_eof) {
            uv_read_stop(st);
            c->reading = 0;
            c->proto->on_eof(c);
        } else {
            tc_conn_abort(c);
        }
        return;
    }
    if (c->shut) return; /* after our FIN: the peer's last bytes are dropped */
    /* The protocol may close, pause or switch protocol while handling this. */
    tc_conn_ref(c);
    c->proto->on_read(c, buf->base, (size_t)n);
    tc_conn_unref(c);
}

void tc_conn_start(tc_conn *c)
{
    tc_conn_resume(c);
}

void tc_conn_pause(tc_conn *c)
{
    c->paused = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

void tc_conn_resume(tc_conn *c)
{
    c->paused = 0;
    if (!c->reading && !c->closing) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
    }
}

/* --- writing --------------------------------------------------------------- */

size_t tc_conn_queued_heap(const tc_conn *c)
{
    return c->wq_heap;
}

/* A cart committed at committed_ns went out whole: the server's hook hears it. */
static void delivered(tc_conn *c, uint64_t committed_ns)
{
    const tc_server *srv = tc_conn_server(c);
    if (srv->opts.on_delivered)
        srv->opts.on_delivered(srv->opts.delivered_ctx, uv_hrtime() - committed_ns);
}

/* Frees an item already unlinked from the queue, and its share of wq_heap. */
static void wq_release(tc_conn *c, wq_item *it)
{
    c->wq_heap -= (uint32_t)it->cost;
    tc_rbuf_unref(it->rb);
    free(it);
}

/* Heap an item for len bytes of r costs in the queue: the whole buffer counts,
 * also for a slice or a buffer shared with other queues, since while queued
 * here it stays alive because of this item. */
static size_t wq_cost(const tc_rbuf *r)
{
    return tc_heap_cost(sizeof(wq_item)) + tc_heap_cost(sizeof *r + r->len + 1);
}

/* Appends an item; its cost fits: wq_heap + cost <= max_queue. */
static void wq_push(tc_conn *c, tc_rbuf *r, size_t off, size_t len, tc_wq_kind kind, size_t cost,
                    uint64_t committed_ns)
{
    wq_item *it = tc_xmalloc(sizeof *it);
    it->rb = r;
    it->off = off;
    it->len = len;
    it->cost = cost;
    it->kind = kind;
    it->started = false;
    it->committed_ns = committed_ns;
    if (c->wq_tail) {
        it->next = c->wq_tail->next;
        c->wq_tail->next = it;
    } else {
        it->next = it;
    }
    c->wq_tail = it;
    c->wq_heap += (uint32_t)cost;
}

/* Unlinks the head item and returns it. */
static wq_item *wq_pop(tc_conn *c)
{
    wq_item *it = c->wq_tail->next;
    if (it == c->wq_tail)
        c->wq_tail = NULL;
    else
        c->wq_tail->next = it->next;
    return it;
}

size_t tc_conn_queued_bytes(const tc_conn *c)
{
    size_t n = 0;
    for (const wq_item *it = wq_first(c); it; it = wq_after(c, it))
        n += it->len;
    return n;
}

/* Drops a pending item of `kind` that has not started going out; returns
 * whether one was found. Used to keep only the newest whole-cart state. */
static bool wq_drop_pending(tc_conn *c, tc_wq_kind kind)
{
    wq_item *prev = c->wq_tail;
    size_t idx = 0;
    for (wq_item *it = wq_first(c); it; prev = it, it = wq_after(c, it), idx++) {
        if (idx < c->inflight_items || it->started || it->kind != kind) continue;
        if (it == prev) {
            c->wq_tail = NULL; /* it was the only item */
        } else {
            prev->next = it->next;
            if (c->wq_tail == it) c->wq_tail = prev;
        }
        wq_release(c, it);
        return true;
    }
    return false;
}

/* tc_conn_write_rbuf, and tc_conn_write_cart when committed_ns is not 0. */
static void write_rbuf(tc_conn *c, tc_rbuf *r, size_t off, size_t len, tc_wq_kind kind,
                       uint64_t committed_ns)
{
    /* Once a close is asked for, the last bytes are written (an SSE stream's
     * last chunk, a WebSocket close frame): nothing may follow them, whether or
     * not the queue has drained yet. */
    if (tc_conn_is_closing(c) || len == 0) return;
    if (kind == TC_WQ_HEARTBEAT && c->wq_tail) {
        /* Anything still queued proves the stream is alive better than a ping. */
        return;
    }
    if (kind == TC_WQ_CART) wq_drop_pending(c, TC_WQ_CART);
    size_t cost = wq_cost(r);
    if (cost > tc_conn_server(c)->opts.max_queue - c->wq_heap) {
        /* This write would take the queue past the cap: nothing more goes
         * to this client. */
        char peer[80];
        tc_log_warn("conn %llu %s: write queue over %zu bytes of heap, closing slow client",
                    (unsigned long long)c->id, tc_conn_peer(c, peer, sizeof peer),
                    tc_conn_server(c)->opts.max_queue);
        c->slow = 1;
        tc_conn_abort(c);
        return;
    }
    wq_push(c, tc_rbuf_ref(r), off, len, kind, cost, committed_ns);
    conn_flush(c);
}

void tc_conn_write_rbuf(tc_conn *c, tc_rbuf *r, size_t off, size_t len, tc_wq_kind kind)
{
    write_rbuf(c, r, off, len, kind, 0);
}

void tc_conn_write_cart(tc_conn *c, tc_rbuf *r, size_t off, size_t len, uint64_t committed_ns)
{
    write_rbuf(c, r, off, len, TC_WQ_CART, committed_ns);
}

void tc_conn_write(tc_conn *c, const void *data, size_t len)
{
    if (tc_conn_is_closing(c) || len == 0) return;
    tc_rbuf *r = tc_rbuf_new(data, len);
    tc_conn_write_rbuf(c, r, 0, len, TC_WQ_PLAIN);
    tc_rbuf_unref(r);
}

/* Marks n bytes from the head of the queue as written. */
static void wq_consume(tc_conn *c, size_t n)
{
    while (n > 0 && c->wq_tail) {
        wq_item *it = wq_first(c);
        if (n < it->len) {
            it->off += n;
            it->len -= n;
            it->started = true;
            return;
        }
        n -= it->len;
        it = wq_pop(c);
        if (it->committed_ns) delivered(c, it->committed_ns);
        wq_release(c, it);
    }
}

enum { MAX_IOV = 16 };

static unsigned gather(tc_conn *c, uv_buf_t *bufs, size_t *total)
{
    unsigned n = 0;
    *total = 0;
    for (wq_item *it = wq_first(c); it && n < MAX_IOV; it = wq_after(c, it)) {
        bufs[n++] = uv_buf_init(it->rb->data + it->off, (unsigned)it->len);
        *total += it->len;
    }
    return n;
}

static void after_drain_close(tc_conn *c);

static void on_written(uv_write_t *req, int status)
{
    tc_conn *c = req->data;
    free(req);
    c->writing = 0;
    size_t items = c->inflight_items;
    c->inflight_items = 0;
    if (status < 0) {
        tc_conn_abort(c);
        tc_conn_unref(c);
        return;
    }
    while (items-- > 0 && c->wq_tail) {
        /* The whole of each in-flight item went out. */
        wq_consume(c, wq_first(c)->len);
    }
    conn_flush(c);
    tc_conn_unref(c);
}

static void conn_flush(tc_conn *c)
{
    if (c->writing || c->closing || c->shut) return;
    while (c->wq_tail) {
        uv_buf_t bufs[MAX_IOV];
        size_t total;
        unsigned n = gather(c, bufs, &total);
        int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (r == UV_EAGAIN || r == UV_ENOSYS) r = 0;
        if (r < 0) {
            tc_conn_abort(c);
            return;
        }
        wq_consume(c, (size_t)r);
        if ((size_t)r == total) continue;
        /* The kernel is full: hand the rest to libuv and wait. */
        n = gather(c, bufs, &total);
        uv_write_t *req = tc_xmalloc(sizeof *req);
        req->data = c;
        c->writing = 1;
        c->inflight_items = (uint8_t)n;
        unsigned left = n;
        for (wq_item *it = wq_first(c); it && left; it = wq_after(c, it), left--)
            it->started = true;
        tc_conn_ref(c);
        if (uv_write(req, (uv_stream_t *)&c->tcp, bufs, n, on_written) != 0) {
            free(req);
            c->writing = 0;
            c->inflight_items = 0;
            tc_conn_unref(c);
            tc_conn_abort(c);
        }
        return;
    }
    if (c->close_after_flush) after_drain_close(c);
}

/* --- closing --------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    tc_conn *c = (tc_conn *)h;
    if (!c->proto_closed) {
        c->proto_closed = 1;
        if (c->proto && c->proto->on_closed) c->proto->on_closed(c);
    }
    conn_free_queue(c);
    tc_server_forget(tc_conn_server(c), c);
    tc_conn_unref(c);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
    tc_conn *c = req->data;
    free(req);
    if (status < 0 || c->closing) {
        tc_conn_abort(c);
    } else {
        /* Reading until the peer's EOF avoids a reset that could destroy our
         * last response in the peer's receive buffer. */
        tc_conn_set_deadline(c, 2000);
        tc_conn_resume(c);
    }
    tc_conn_unref(c);
}

/* The queue is empty and the connection should end: FIN, then read and drop
 * what the peer still sends until its EOF or a short deadline. The protocol's
 * state stays until libuv's close callback (on_closed), so nothing is freed
 * under a caller that is still on the stack. */
static void after_drain_close(tc_conn *c)
{
    if (c->shut || c->closing) return;
    c->shut = 1;
    uv_shutdown_t *req = tc_xmalloc(sizeof *req);
    req->data = c;
    tc_conn_ref(c);
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown_done) != 0) {
        free(req);
        tc_conn_unref(c);
        tc_conn_abort(c);
    }
}

void tc_conn_close(tc_conn *c)
{
    if (c->closing || c->close_after_flush) return;
    c->close_after_flush = 1;
    tc_conn_pause(c);
    if (!c->wq_tail && !c->writing) after_drain_close(c);
}

void tc_conn_abort(tc_conn *c)
{
    if (c->closing) return;
    c->closing = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

bool tc_conn_was_slow(const tc_conn *c)
{
    return c->slow;
}

bool tc_conn_is_closing(const tc_conn *c)
{
    return c->closing || c->close_after_flush || c->shut;
}

static void conn_free_queue(tc_conn *c)
{
    /* Items in flight are released by libuv's write callback first (it runs
     * with UV_ECANCELED before the close callback), so all that is left here
     * is ours. */
    while (c->wq_tail)
        wq_release(c, wq_pop(c));
}

/* Deadlines: TC_DEADLINE_UNIT_MS units, 32 bits, compared with wrap-around. */
enum { DEADLINE_MAX_UNITS = INT32_MAX };

void tc_conn_set_deadline(tc_conn *c, uint64_t ms)
{
    if (ms == 0) {
        c->has_deadline = 0;
        return;
    }
    uint64_t now = uv_now(tc_conn_server(c)->loop);
    /* Rounded up, so it is never early: due once now/UNIT reaches it. */
    uint64_t ahead =
        (now % TC_DEADLINE_UNIT_MS + ms + TC_DEADLINE_UNIT_MS - 1) / TC_DEADLINE_UNIT_MS;
    if (ahead > DEADLINE_MAX_UNITS) ahead = DEADLINE_MAX_UNITS;
    c->deadline = (uint32_t)(now / TC_DEADLINE_UNIT_MS + ahead);
    c->has_deadline = 1;
}

bool tc_conn_deadline_due(const tc_conn *c, uint64_t now)
{
    uint32_t at = (uint32_t)(now / TC_DEADLINE_UNIT_MS);
    return c->has_deadline && (int32_t)(c->deadline - at) <= 0;
}

void tc_conn_ref(tc_conn *c)
{
    c->refs++;
}

void tc_conn_unref(tc_conn *c)
{
    if (--c->refs > 0) return;
    if (c->proto && c->proto->on_free) c->proto->on_free(c);
    free(c);
}

void *tc_conn_tail(tc_conn *c, size_t size)
{
    return size <= tc_conn_server(c)->opts.conn_tail ? c + 1 : NULL;
}

tc_conn *tc_conn_of_tail(const void *tail)
{
    return (tc_conn *)tail - 1;
}

void *tc_conn_tail_ctx(const tc_conn *c)
{
    return tc_conn_server(c)->opts.tail_ctx;
}

void tc_conn_deadline_passed(tc_conn *c)
{
    c->has_deadline = 0;
    if (c->closing) return;
    if (!c->shut && c->proto && c->proto->on_deadline)
        c->proto->on_deadline(c);
    else
        tc_conn_abort(c);
}

void tc_conn_shutdown(tc_conn *c)
{
    if (c->closing || c->shut || c->close_after_flush) return;
    if (c->proto && c->proto->on_shutdown)
        c->proto->on_shutdown(c);
    else
        tc_conn_close(c);
}
