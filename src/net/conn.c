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
#include "net/uring.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

static void conn_flush(tc_conn *c);
static void conn_write_out(tc_conn *c, bool was_queued);
static void batch_add(tc_conn *c);
static void conn_free_queue(tc_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);

/* The socket; -1 once the handle is closing (the descriptor is closed then). */
static int conn_fd(const tc_conn *c)
{
    uv_os_fd_t fd;
    return uv_fileno((const uv_handle_t *)&c->poll, &fd) == 0 ? fd : -1;
}

/* Makes the handle's mask what reading and writing ask for: a poll with no
 * events is stopped (uv_poll_start does not take 0). */
static void conn_watch(tc_conn *c)
{
    if (c->closing) return;
    int events = (c->reading ? UV_READABLE : 0) | (c->writing ? UV_WRITABLE : 0);
    if (events == 0) {
        uv_poll_stop(&c->poll);
    } else if (uv_poll_start(&c->poll, events, on_poll) != 0) {
        tc_conn_abort(c);
    }
}

/* The queue is a ring through wq_tail: its head is wq_tail->next. */
static wq_item *wq_first(const tc_conn *c)
{
    return c->wq_tail ? c->wq_tail->next : NULL;
}

static wq_item *wq_after(const tc_conn *c, const wq_item *it)
{
    return it == c->wq_tail ? NULL : it->next;
}

tc_conn *tc_conn_accept(tc_server *s, int fd)
{
    tc_conn *c = tc_xcalloc(1, sizeof *c + s->opts.conn_tail);
    c->refs = 1; /* held by the handle until its close callback */
    c->id = ++s->next_id;
    if (uv_poll_init(s->loop, &c->poll, fd) != 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->poll.data = s;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
    return c->poll.data;
}

/* getpeername on the socket while it is open. */
static int conn_peername(const tc_conn *c, struct sockaddr_storage *ss)
{
    socklen_t n = sizeof *ss;
    int fd = conn_fd(c);
    return fd >= 0 && getpeername(fd, (struct sockaddr *)ss, &n) == 0 ? 0 : -1;
}

void tc_conn_peer_addr(const tc_conn *c, tc_addr *out)
{
    struct sockaddr_storage ss;
    if (conn_peername(c, &ss) == 0)
        tc_addr_from_sockaddr((struct sockaddr *)&ss, out);
    else
        *out = c->client; /* a peer that reset has no name any more */
}

const char *tc_conn_peer(const tc_conn *c, char *out, size_t len)
{
    struct sockaddr_storage ss;
    char host[64] = "?";
    int port = 0;
    if (conn_peername(c, &ss) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    } else if (c->client.family != 0) {
        /* A peer that reset has no name any more: the client's address
         * (accept's, or the one a trusted proxy named), without a port. */
        return tc_addr_str(&c->client, out, len);
    }
    snprintf(out, len, "%s:%d", host, port);
    return out;
}

/* --- reading --------------------------------------------------------------- */

/* One read per readable wake-up (the loop polls again, and everyone else
 * gets their turn in between); returns the bytes handed to the protocol
 * (0: none, at EOF, on an error or when there were none yet). */
static ssize_t conn_read(tc_conn *c)
{
    ssize_t n = read(conn_fd(c), read_buf, sizeof read_buf);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) tc_conn_abort(c);
        return 0;
    }
    if (n == 0) {
        if (!c->shut && c->proto && c->proto->on_eof) {
            c->reading = 0;
            conn_watch(c);
            c->proto->on_eof(c);
        } else {
            tc_conn_abort(c);
        }
        return 0;
    }
    if (c->shut) return 0; /* after our FIN: the peer's last bytes are dropped */
    c->graced = 0;         /* the peer was heard: a later silence may be graced again */
    /* The protocol may close, pause or switch protocol while handling this. */
    tc_conn_ref(c);
    c->proto->on_read(c, read_buf, (size_t)n);
    tc_conn_unref(c);
    return n;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    tc_conn *c = (tc_conn *)h;
    if (c->closing) return;
    if (status < 0) {
        /* An error on the socket (libuv has stopped the handle), e.g. a reset.
         * What the peer sent before it is still in the socket and is read
         * and handled first, as a stream's reads would: a command followed
         * at once by a reset is carried out. */
        while (c->reading && !c->closing && conn_read(c) > 0) {
        }
        tc_conn_abort(c);
        return;
    }
    if ((events & UV_WRITABLE) && c->writing) conn_write_out(c, false);
    if ((events & UV_READABLE) && c->reading && !c->closing) conn_read(c);
}

void tc_conn_start(tc_conn *c)
{
    tc_conn_resume(c);
}

void tc_conn_pause(tc_conn *c)
{
    c->paused = 1;
    /* After our FIN, reading only drains the peer until its EOF. */
    if (c->reading && !c->shut) {
        c->reading = 0;
        conn_watch(c);
    }
}

void tc_conn_resume(tc_conn *c)
{
    c->paused = 0;
    if (!c->reading && !c->closing) {
        c->reading = 1;
        conn_watch(c);
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

/* Hands n buffers to the socket. Returns the bytes the kernel took (0 when
 * it is full), or -1 after aborting the connection on an error (EPIPE,
 * ECONNRESET, ...). */
static ssize_t conn_send(tc_conn *c, struct iovec *iov, size_t n)
{
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
    int fd = conn_fd(c);
    ssize_t r;
    do /* SIGPIPE is ignored process-wide; MSG_NOSIGNAL says so here too. One
        * buffer (a delivery, most often) goes by send, which spares the
        * kernel copying in a message header and an iovec. */
        r = n == 1 ? send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                   : sendmsg(fd, &m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r >= 0) return r;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    tc_conn_abort(c);
    return -1;
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
    for (wq_item *it = wq_first(c); it; prev = it, it = wq_after(c, it)) {
        if (it->started || it->kind != kind) continue;
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

/* A write of len > 0 bytes: with nothing queued, straight to the socket
 * (*tried), and only what the kernel does not take is queued — most
 * deliveries need no queue item. Returns the bytes the kernel took (len: all
 * of it; 0 when something is queued already or the kernel is full), or -1
 * after an error (the connection is aborted). With batched sends nothing
 * goes straight: everything is queued for the end of the turn. */
static ssize_t write_direct(tc_conn *c, const char *p, size_t len, bool *tried)
{
    *tried = c->wq_tail == NULL && !c->writing && tc_conn_server(c)->uring == NULL;
    if (!*tried) return 0;
    struct iovec one = {.iov_base = (void *)p, .iov_len = len};
    return conn_send(c, &one, 1);
}

/* Queues len bytes of r from off: what write_direct left (started: part of
 * it is out; tried: the kernel took less than all, so the rest waits for
 * room). */
static void queue_rbuf(tc_conn *c, tc_rbuf *r, size_t off, size_t len, tc_wq_kind kind,
                       uint64_t committed_ns, bool started, bool tried)
{
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
    c->wq_tail->started = started; /* part of it is out: it must not be dropped */
    if (tried) {
        /* No second try now: the rest goes when the socket has room. */
        c->writing = 1;
        conn_watch(c);
        return;
    }
    conn_flush(c);
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
    /* Only while the kernel is full: a cart queued for this turn's batch
     * is not stale, and dropping it would skip a version. */
    if (kind == TC_WQ_CART && c->writing) wq_drop_pending(c, TC_WQ_CART);
    bool tried;
    ssize_t n = write_direct(c, r->data + off, len, &tried);
    if (n < 0) return;
    if ((size_t)n == len) {
        if (committed_ns) delivered(c, committed_ns);
        return;
    }
    queue_rbuf(c, r, off + (size_t)n, len - (size_t)n, kind, committed_ns, n > 0, tried);
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
    bool tried;
    ssize_t n = write_direct(c, data, len, &tried);
    if (n < 0 || (size_t)n == len) return;
    /* Only what the kernel left is copied. */
    tc_rbuf *r = tc_rbuf_new((const char *)data + n, len - (size_t)n);
    queue_rbuf(c, r, 0, r->len, TC_WQ_PLAIN, 0, n > 0, tried);
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

enum { MAX_IOV = TC_URING_MAX_IOV };

static unsigned gather(tc_conn *c, struct iovec *iov, size_t *total)
{
    unsigned n = 0;
    *total = 0;
    for (wq_item *it = wq_first(c); it && n < MAX_IOV; it = wq_after(c, it)) {
        iov[n++] = (struct iovec){.iov_base = it->rb->data + it->off, .iov_len = it->len};
        *total += it->len;
    }
    return n;
}

static void after_drain_close(tc_conn *c);
static void set_deadline(tc_conn *c, uint64_t ms);

/* After a write, the queue either waits for room (what is left in it: the
 * kernel was full; UV_WRITABLE in the mask) or is empty: stop waiting, and
 * close if that was asked, or tell the protocol when the queue had held
 * something (was_queued, or it was waiting for room). */
static void write_settled(tc_conn *c, bool was_queued)
{
    bool wait = c->wq_tail != NULL, was = c->writing;
    if (wait != was) {
        c->writing = wait;
        conn_watch(c);
    }
    if (wait) return;
    if (c->close_after_flush)
        after_drain_close(c);
    else if ((was || was_queued) && c->proto && c->proto->on_drained)
        c->proto->on_drained(c);
}

/* Writes what the queue holds until it is empty or the kernel takes no more;
 * then waits for room (UV_WRITABLE in the mask) or, drained, stops waiting.
 * was_queued: the queue had held its bytes past the write (a batch), so a
 * drained queue is news to the protocol (write_settled). */
static void conn_write_out(tc_conn *c, bool was_queued)
{
    if (c->closing || c->shut) return;
    while (c->wq_tail) {
        struct iovec iov[MAX_IOV];
        size_t total;
        unsigned n = gather(c, iov, &total);
        ssize_t r = conn_send(c, iov, n);
        if (r < 0) return;
        wq_consume(c, (size_t)r);
        if ((size_t)r < total) break; /* the kernel is full */
    }
    write_settled(c, was_queued);
}

/* The most heap a connection's queue holds for the end of the turn; past it
 * the queue goes out at once, as without batching, so that a burst (many
 * commits handed back together, a hog's answers) meets a full kernel, and
 * conflation and the queue's cap, as soon as it would have. */
enum { BATCH_MAX_HEAP = 64 * 1024 };

static void conn_flush(tc_conn *c)
{
    if (c->writing) return; /* the kernel was full: the rest goes when there is room */
    if (tc_conn_server(c)->uring != NULL && c->wq_heap <= BATCH_MAX_HEAP)
        batch_add(c);
    else
        conn_write_out(c, false);
}

/* --- batched sends (tc_server_opts.batch_sends) ---------------------------- */

void tc_conn_list_push(tc_conn_list *l, tc_conn *c)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->at = tc_xrealloc(l->at, l->cap * sizeof *l->at);
    }
    tc_conn_ref(c);
    l->at[l->n++] = c;
}

void tc_conn_list_clear(tc_conn_list *l, bool free_too)
{
    for (size_t i = 0; i < l->n; i++)
        tc_conn_unref(l->at[i]);
    l->n = 0;
    if (free_too) {
        free(l->at);
        *l = (tc_conn_list){0};
    }
}

static void on_flush_idle(uv_idle_t *h)
{
    tc_conn_flush_batch(h->data);
}

/* c has bytes queued that the kernel has not been offered: they go with
 * everyone else's at the end of the loop turn. The batch holds a reference
 * to c until then. */
static void batch_add(tc_conn *c)
{
    if (c->batched) return;
    tc_server *s = tc_conn_server(c);
    c->batched = 1;
    tc_conn_list_push(&s->batch, c);
    /* An active idle handle makes the next poll return at once. */
    if (s->batch.n == 1) uv_idle_start(&s->flush_idle, on_flush_idle);
}

/* One submit's sends: the bytes each offered, in the order they were queued. */
typedef struct {
    size_t offered[TC_SERVER_BATCH_RING];
    unsigned next;
} batch_round;

/* The kernel's answer to one connection's send, as conn_send's. */
static void batch_done(void *ctx, void *tag, ssize_t r)
{
    batch_round *round = ctx;
    tc_conn *c = tag;
    size_t offered = round->offered[round->next++];
    if (c->closing) return;
    if (r == -EAGAIN || r == -EWOULDBLOCK) r = 0;
    if (r < 0) {
        tc_conn_abort(c); /* EPIPE, ECONNRESET, ... */
        return;
    }
    wq_consume(c, (size_t)r);
    if ((size_t)r == offered && c->wq_tail != NULL)
        batch_add(c); /* more than one send's worth of buffers: the next round */
    else
        write_settled(c, true);
}

void tc_conn_flush_batch(tc_server *s)
{
    size_t i = 0;
    batch_round round;
    /* Sends that drain a queue may bring more (a pipelined request answered
     * from on_drained, a queue of more than MAX_IOV buffers): they join the
     * batch and go in a later round of this same flush. */
    while (i < s->batch.n) {
        round.next = 0;
        unsigned k = 0;
        for (; i < s->batch.n && k < TC_SERVER_BATCH_RING; i++) {
            tc_conn *c = s->batch.at[i];
            c->batched = 0;
            /* Closed since, or already waiting for room: the writable event
             * sends it (conn_write_out). */
            int fd = conn_fd(c);
            if (c->closing || c->shut || c->writing || c->wq_tail == NULL || fd < 0) continue;
            struct iovec iov[MAX_IOV];
            size_t total;
            unsigned n = gather(c, iov, &total);
            tc_uring_send(s->uring, fd, iov, n, c);
            round.offered[k++] = total;
        }
        if (tc_uring_submit(s->uring, batch_done, &round) != 0) {
            /* Its connections were aborted (batch_done); the rest of the
             * batch, and every write from now on, goes by send. */
            tc_log_error("sends: io_uring failed; one send per write from now on");
            tc_uring_close(s->uring);
            s->uring = NULL;
            for (; i < s->batch.n; i++) {
                tc_conn *c = s->batch.at[i];
                c->batched = 0;
                if (!c->writing) conn_write_out(c, true);
            }
        }
    }
    tc_conn_list_clear(&s->batch, false);
    uv_idle_stop(&s->flush_idle);
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

/* The queue is empty and the connection should end: FIN, then read and drop
 * what the peer still sends until its EOF or a short deadline (reading until
 * the peer's EOF avoids a reset that could destroy our last response in the
 * peer's receive buffer). From here the drain owns reading and the deadline:
 * tc_conn_pause and tc_conn_set_deadline leave them. The protocol's state
 * stays until libuv's close callback (on_closed), so nothing is freed under a
 * caller that is still on the stack. */
static void after_drain_close(tc_conn *c)
{
    if (c->shut || c->closing) return;
    if (shutdown(conn_fd(c), SHUT_WR) != 0) {
        tc_conn_abort(c);
        return;
    }
    set_deadline(c, 2000);
    c->shut = 1;
    tc_conn_resume(c);
}

void tc_conn_close(tc_conn *c)
{
    if (c->closing || c->close_after_flush) return;
    c->close_after_flush = 1;
    tc_conn_pause(c);
    if (!c->wq_tail)
        after_drain_close(c);
    else /* the peer has this long to read the rest (tc_conn_deadline_passed) */
        set_deadline(c, tc_conn_server(c)->opts.close_flush_ms);
}

/* A connection aborted while its writes wait in this turn's batch: they are
 * offered to the kernel now, once, as they would have been when written
 * (a refusal's answer, written just before its abort); what the kernel does
 * not take is dropped with the rest. */
static void abort_batched(tc_conn *c, int fd)
{
    if (!c->batched || c->writing || c->shut || c->wq_tail == NULL || fd < 0) return;
    struct iovec iov[MAX_IOV];
    size_t total;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = gather(c, iov, &total)};
    (void)!sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void tc_conn_abort(tc_conn *c)
{
    if (c->closing) return;
    int fd = conn_fd(c);
    abort_batched(c, fd);
    c->closing = 1;
    tc_conn_server(c)->n_aborted++;
    c->reading = 0;
    c->writing = 0;
    /* uv_close takes the descriptor out of the loop's epoll set, so it is
     * closed right after: once, here. */
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    close(fd);
}

bool tc_conn_was_slow(const tc_conn *c)
{
    return c->slow;
}

bool tc_conn_grace_unread(tc_conn *c)
{
    int n = 0;
    int fd = conn_fd(c);
    if (c->graced || fd < 0 || ioctl(fd, FIONREAD, &n) != 0 || n <= 0) return false;
    c->graced = 1;
    return true;
}

bool tc_conn_peer_acked(tc_conn *c, uint64_t within_ms)
{
    int fd = conn_fd(c), outq = 0;
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    if (fd < 0 || ioctl(fd, SIOCOUTQ, &outq) != 0 || outq <= 0 ||
        getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_last_ack_recv) + sizeof ti.tcpi_last_ack_recv)
        return false;
    return ti.tcpi_last_ack_recv < within_ms;
}

bool tc_conn_is_closing(const tc_conn *c)
{
    return c->closing || c->close_after_flush || c->shut;
}

static void conn_free_queue(tc_conn *c)
{
    /* Nothing is in flight outside the queue: the kernel has taken what
     * left it. */
    while (c->wq_tail)
        wq_release(c, wq_pop(c));
}

/* Deadlines: TC_DEADLINE_UNIT_MS units, 32 bits, compared with wrap-around. */
enum { DEADLINE_MAX_UNITS = INT32_MAX };

static void set_deadline(tc_conn *c, uint64_t ms)
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

void tc_conn_set_deadline(tc_conn *c, uint64_t ms)
{
    /* Once closing, the connection's own deadline (the flush's, then the
     * drain's) stays. */
    if (c->close_after_flush || c->shut) return;
    set_deadline(c, ms);
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
    if (c->close_after_flush && !c->shut) {
        /* The peer did not read the rest in time: a reset, so that the
         * kernel does not keep the unsent bytes for it either. */
        struct linger now = {.l_onoff = 1, .l_linger = 0};
        setsockopt(conn_fd(c), SOL_SOCKET, SO_LINGER, &now, sizeof now);
        tc_conn_abort(c);
    } else if (!c->shut && c->proto && c->proto->on_deadline) {
        c->proto->on_deadline(c);
    } else {
        tc_conn_abort(c); /* the drain is over, or no on_deadline */
    }
}

void tc_conn_shutdown(tc_conn *c)
{
    if (c->closing || c->shut || c->close_after_flush) return;
    if (c->proto && c->proto->on_shutdown)
        c->proto->on_shutdown(c);
    else
        tc_conn_close(c);
}
