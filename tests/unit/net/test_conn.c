/* test_conn.c — tc_conn on a real loop: connections accepted by an in-process
 * tc_server on 127.0.0.1:0, a libuv client on the same loop, and a test
 * protocol that counts its callbacks. Covers the close paths (on_closed runs
 * exactly once, never under the caller), conflation in the write queue, the
 * slow-client limit, close-after-flush, the deadline sweep and references,
 * and the accepting side: running out of descriptors, other modules' poll
 * handles on the same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/conn.h"
#include "net/conn_internal.h" /* the queue and protocol, inspected by the tests */
#include "net/server.h"
#include "support/io_uring_fd.h"
#include "support/uv_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* N_CLIENTS: one more than a ring's round of batched sends, and one. */
enum {
    MAX_QUEUE = 256 * 1024,
    CHUNK = 64 * 1024,
    N_CLIENTS = TC_SERVER_BATCH_RING + 2,
    CLOSE_FLUSH_MS = 1000
};

typedef struct fixture fixture;

/* One accepted connection, as its protocol saw it. */
typedef struct {
    fixture *f;
    tc_conn *c;
    int reads, eofs, deadlines, closed, readies, drained;
    bool defer_again;    /* on_ready defers once more (then clears this) */
    bool in_read;        /* on_read is on the stack */
    bool closed_in_read; /* on_closed ran under on_read (it must not) */
    bool slow_at_close;  /* tc_conn_was_slow, seen from on_closed */
    tc_buf got;          /* every byte read */
    char peer[80];       /* tc_conn_peer at the first read */
} rec;

struct fixture {
    tl_env e;
    tl_client cl[N_CLIENTS];
    rec recs[N_CLIENTS];
    int n_recs;
    void (*read_hook)(rec *r); /* runs inside on_read, after recording */
    int delivered;             /* on_delivered calls */
    uint64_t last_latency_ns;  /* what the last one said */
    int ready_order[8];        /* client index of each on_ready, in order */
    int n_ready;
};

/* Bytes queued in user space and not yet taken by the kernel. */
static size_t queued_bytes(const tc_conn *c)
{
    return tc_conn_queued_bytes(c);
}

static void p_read(tc_conn *c, const char *data, size_t len)
{
    rec *r = tc_conn_state(c);
    r->in_read = true;
    if (r->reads++ == 0) tc_conn_peer(c, r->peer, sizeof r->peer);
    tc_buf_append(&r->got, data, len);
    if (r->f->read_hook) r->f->read_hook(r);
    r->in_read = false;
}

static void p_eof(tc_conn *c)
{
    rec *r = tc_conn_state(c);
    r->eofs++;
}

static void p_deadline(tc_conn *c)
{
    rec *r = tc_conn_state(c);
    r->deadlines++;
}

static void p_closed(tc_conn *c)
{
    rec *r = tc_conn_state(c);
    r->closed++;
    if (r->in_read) r->closed_in_read = true;
    r->slow_at_close = tc_conn_was_slow(c);
}

static const tc_proto t_proto = {.name = "test",
                                 .on_read = p_read,
                                 .on_eof = p_eof,
                                 .on_deadline = p_deadline,
                                 .on_closed = p_closed};
static void p_ready(tc_conn *c)
{
    rec *r = tc_conn_state(c);
    r->readies++;
    if (r->f->n_ready < 8) r->f->ready_order[r->f->n_ready++] = (int)(r - r->f->recs);
    if (r->defer_again) {
        r->defer_again = false;
        tc_conn_defer(c);
    }
}

static const tc_proto ready_proto = {
    .name = "ready", .on_read = p_read, .on_closed = p_closed, .on_ready = p_ready};
static void p_drained(tc_conn *c)
{
    rec *r = tc_conn_state(c);
    r->drained++;
}

/* Hears when the write queue has gone out whole. */
static const tc_proto drained_proto = {.name = "drained",
                                       .on_read = p_read,
                                       .on_eof = p_eof,
                                       .on_closed = p_closed,
                                       .on_drained = p_drained};
/* No on_eof, no on_deadline: the connection's defaults apply. */
static const tc_proto bare_proto = {.name = "bare", .on_read = p_read, .on_closed = p_closed};

static void *new_state(tc_conn *c, void *app)
{
    fixture *f = app;
    assert_true(f->n_recs < N_CLIENTS);
    rec *r = &f->recs[f->n_recs++];
    r->f = f;
    r->c = c;
    return r;
}

static void on_delivered(void *ctx, uint64_t latency_ns)
{
    fixture *f = ctx;
    f->delivered++;
    f->last_latency_ns = latency_ns;
}

static fixture *start(bool batch_sends)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    tc_server_opts o = {.initial_proto = &t_proto,
                        .new_state = new_state,
                        .app = f,
                        .max_queue = MAX_QUEUE,
                        .close_flush_ms = CLOSE_FLUSH_MS,
                        .on_delivered = on_delivered,
                        .delivered_ctx = f,
                        .batch_sends = batch_sends};
    tl_server_start(&f->e, o);
    return f;
}

static int setup(void **state)
{
    *state = start(false);
    return 0;
}

/* Sends batched per loop turn (io_uring); the tests using it skip where the
 * kernel does not allow io_uring. */
static int setup_batched(void **state)
{
    *state = start(true);
    return 0;
}

static void need_batching(fixture *f)
{
    if (f->e.srv->uring == NULL) {
        print_message("io_uring unavailable here: sends are not batched\n");
        skip();
    }
}

static int teardown(void **state)
{
    fixture *f = *state;
    tl_finish(&f->e, f->cl, N_CLIENTS);
    for (int i = 0; i < N_CLIENTS; i++)
        tc_buf_free(&f->recs[i].got);
    free(f);
    return 0;
}

/* Connects client i and waits until the server has accepted it. */
static rec *connect_client(fixture *f, int i)
{
    tl_client_connect(&f->e, &f->cl[i]);
    TL_RUN_UNTIL(&f->e, f->n_recs == i + 1);
    return &f->recs[i];
}

static tc_rbuf *filled_rbuf(char ch, size_t n)
{
    char *tmp = malloc(n);
    memset(tmp, ch, n);
    tc_rbuf *r = tc_rbuf_new(tmp, n);
    free(tmp);
    return r;
}

/* Writes CHUNKs of 'f' until the kernel refuses more and some bytes wait in
 * the connection's queue (the peer must not be reading). Returns the bytes
 * written. */
static size_t fill_kernel(tc_conn *c)
{
    tc_rbuf *chunk = filled_rbuf('f', CHUNK);
    size_t total = 0;
    while (queued_bytes(c) == 0) {
        assert_true(total < 64u * 1024 * 1024);
        tc_conn_write_rbuf(c, chunk, 0, CHUNK, TC_WQ_PLAIN);
        total += CHUNK;
    }
    tc_rbuf_unref(chunk);
    return total;
}

/* Connects client i, which does not read yet and closes on our FIN, and
 * fills the kernel's buffers towards it (see fill_kernel). */
static rec *connect_filled(fixture *f, int i, size_t *filler)
{
    f->cl[i].no_read = true;
    f->cl[i].close_on_eof = true;
    rec *r = connect_client(f, i);
    *filler = fill_kernel(r->c);
    return r;
}

/* Asserts the client received exactly n bytes of ch from offset off. */
static void assert_run_of(const tl_client *cl, size_t off, size_t n, char ch)
{
    assert_true(cl->in.len >= off + n);
    for (size_t i = off; i < off + n; i++)
        if (cl->in.base[i] != ch) fail_msg("byte %zu is 0x%02x, not '%c'", i, cl->in.base[i], ch);
}

/* --- on_closed exactly once ------------------------------------------------ */

static void hook_reply_and_close_twice(rec *r)
{
    tc_conn_write(r->c, "bye", 3);
    tc_conn_close(r->c);
    tc_conn_close(r->c);
    /* Closing runs later, from libuv's close callback. */
    assert_int_equal(r->closed, 0);
}

static void test_close_twice_inside_on_read(void **state)
{
    fixture *f = *state;
    f->read_hook = hook_reply_and_close_twice;
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    tl_client_send_str(&f->cl[0], "hi");
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_string_equal(tl_client_text(&f->cl[0]), "bye");
    assert_true(f->cl[0].eof);
    assert_int_equal(r->reads, 1);
    assert_string_equal(tc_buf_cstr(&r->got), "hi");
    assert_false(r->closed_in_read);
    assert_false(r->slow_at_close);
    /* A later event (another accept) finds on_closed still at one. */
    connect_client(f, 1);
    assert_int_equal(r->closed, 1);
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
}

static void hook_close_then_abort(rec *r)
{
    tc_conn_close(r->c);
    tc_conn_abort(r->c);
    tc_conn_abort(r->c);
    tc_conn_close(r->c);
    assert_true(tc_conn_is_closing(r->c));
    assert_int_equal(r->closed, 0);
}

static void test_abort_after_close_inside_on_read(void **state)
{
    fixture *f = *state;
    f->read_hook = hook_close_then_abort;
    rec *r = connect_client(f, 0);
    tl_client_send_str(&f->cl[0], "x");
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_false(r->closed_in_read);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err != 0);
    connect_client(f, 1);
    assert_int_equal(r->closed, 1);
    assert_int_equal(r->reads, 1);
}

static void test_abort_after_close_with_queue(void **state)
{
    fixture *f = *state;
    size_t filler;
    rec *r = connect_filled(f, 0, &filler);
    /* close waits for the queue (a write is in flight); abort cuts it short. */
    tc_conn_close(r->c);
    assert_int_equal(r->closed, 0);
    tc_conn_abort(r->c);
    assert_int_equal(r->closed, 0);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
    connect_client(f, 1);
    assert_int_equal(r->closed, 1);
    assert_false(r->slow_at_close);
}

static void test_peer_reset(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tl_client_send_str(&f->cl[0], "abc");
    TL_RUN_UNTIL(&f->e, r->reads == 1);
    /* Connected, the peer is named with its port. */
    assert_int_equal(strncmp(r->peer, "127.0.0.1:", 10), 0);
    assert_true(atoi(r->peer + 10) > 0);
    tl_client_reset(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_int_equal(r->eofs, 0); /* a reset is not an orderly EOF */
    assert_string_equal(tc_buf_cstr(&r->got), "abc");
    connect_client(f, 1);
    assert_int_equal(r->closed, 1);
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
}

/* Bytes followed at once by a reset, before the server has read anything:
 * the socket reports its error with the bytes still in it, and they are
 * read and handed to the protocol before the connection closes (a command
 * sent just before a client vanished is carried out). */
static void test_bytes_before_a_reset_are_read(void **state)
{
    fixture *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", tc_server_port(f->e.srv), &addr);
    /* The kernel completes the handshake; the server accepts later. */
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(send(fd, "abc", 3, 0), 3);
    struct linger lg = {1, 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd); /* a reset */
    TL_RUN_UNTIL(&f->e, f->n_recs == 1 && f->recs[0].closed == 1);
    assert_string_equal(tc_buf_cstr(&f->recs[0].got), "abc");
    assert_int_equal(f->recs[0].eofs, 0);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
    /* Gone, the peer has no name: logs name the address accept gave. */
    assert_string_equal(f->recs[0].peer, "127.0.0.1");
}

/* At a deadline, bytes waiting unread put it off once; a read clears that,
 * so the next silence may be put off again. */
static void test_grace_unread_once_per_silence(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn_pause(r->c);
    assert_false(tc_conn_grace_unread(r->c)); /* nothing waits */
    tl_client_send_str(&f->cl[0], "abc");     /* on loopback, in the server's socket at once */
    assert_true(tc_conn_grace_unread(r->c));
    assert_false(tc_conn_grace_unread(r->c)); /* once: the same bytes still unread */
    tc_conn_resume(r->c);
    TL_RUN_UNTIL(&f->e, r->reads == 1);
    tc_conn_pause(r->c);
    assert_false(tc_conn_grace_unread(r->c)); /* read: nothing waits */
    tl_client_send_str(&f->cl[0], "def");
    assert_true(tc_conn_grace_unread(r->c)); /* heard since the last grace */
    assert_string_equal(tc_buf_cstr(&r->got), "abc");
}

static void test_peer_eof_then_answer(void **state)
{
    fixture *f = *state;
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    uv_shutdown_t req;
    assert_int_equal(uv_shutdown(&req, (uv_stream_t *)&f->cl[0].tcp, NULL), 0);
    TL_RUN_UNTIL(&f->e, r->eofs == 1);
    /* A half-closed peer still gets its answer, then our FIN. */
    assert_int_equal(r->closed, 0);
    tc_conn_write(r->c, "answer", 6);
    tc_conn_close(r->c);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_string_equal(tl_client_text(&f->cl[0]), "answer");
    assert_true(f->cl[0].eof);
    assert_int_equal(r->eofs, 1);
}

static void test_peer_eof_without_on_eof_closes(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn_set_proto(r->c, &bare_proto, r);
    assert_ptr_equal(r->c->proto, &bare_proto);
    uv_shutdown_t req;
    assert_int_equal(uv_shutdown(&req, (uv_stream_t *)&f->cl[0].tcp, NULL), 0);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_int_equal(r->eofs, 0);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err != 0);
    assert_int_equal(f->cl[0].in.len, 0);
}

/* --- the write queue -------------------------------------------------------- */

/* Timed carts (tc_conn_write_cart) conflate the same way; the replaced one
 * is never heard of, the one that goes out once it has gone out. */
static void test_pending_cart_is_replaced(void **state)
{
    fixture *f = *state;
    size_t filler;
    rec *r = connect_filled(f, 0, &filler);
    tc_rbuf *a = tc_rbuf_new("CART-A\n", 7);
    tc_rbuf *b = tc_rbuf_new("cart=CART-B\n", 12);
    tc_conn_write_cart(r->c, a, 0, 7, uv_hrtime());
    assert_int_equal(a->refs, 2); /* the queue holds one */
    size_t queued = queued_bytes(r->c);
    uint64_t committed_b = uv_hrtime();
    tc_conn_write_cart(r->c, b, 5, 7, committed_b); /* "CART-B\n" */
    /* A was replaced: its queue reference is gone, the queue is as long. */
    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 2);
    assert_int_equal(queued_bytes(r->c), queued);
    assert_int_equal(f->delivered, 0); /* both waited behind the filler */
    tc_rbuf_unref(a);
    tc_rbuf_unref(b);

    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len >= filler + 7);
    assert_int_equal(f->delivered, 1);
    assert_true(f->last_latency_ns <= uv_hrtime() - committed_b);
    tc_conn_close(r->c);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    assert_int_equal(f->delivered, 1);
    assert_int_equal(f->cl[0].in.len, filler + 7);
    assert_run_of(&f->cl[0], 0, filler, 'f');
    assert_memory_equal(f->cl[0].in.base + filler, "CART-B\n", 7);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

/* A cart larger than the kernel takes at once, written with nothing queued:
 * what the socket took goes straight out and the rest is queued, started —
 * so a newer cart queues behind it instead of replacing it (half a cart
 * followed by another would be a broken stream). */
/* A client that does not read yet, on a connection whose send buffer is
 * small: the kernel takes less than a large write at once. */
static rec *connect_small_sndbuf(fixture *f)
{
    f->cl[0].no_read = true;
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    uv_os_fd_t fd;
    assert_int_equal(uv_fileno((uv_handle_t *)&r->c->poll, &fd), 0);
    int sndbuf = 4096;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
    return r;
}

static void test_cart_partly_sent_at_once_is_kept(void **state)
{
    fixture *f = *state;
    rec *r = connect_small_sndbuf(f);
    size_t big = MAX_QUEUE * 3 / 4;
    char *text = malloc(big);
    memset(text, 'a', big);
    tc_rbuf *a = tc_rbuf_new(text, big);
    free(text);
    tc_rbuf *b = tc_rbuf_new("CART-B\n", 7);
    tc_conn_write_cart(r->c, a, 0, big, uv_hrtime());
    size_t queued = queued_bytes(r->c);
    assert_true(queued > 0 && queued < big); /* part of it went straight out */
    tc_conn_write_cart(r->c, b, 0, 7, uv_hrtime());
    assert_int_equal(queued_bytes(r->c), queued + 7); /* queued behind, A kept */
    tc_rbuf_unref(a);
    tc_rbuf_unref(b);
    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len >= big + 7);
    assert_int_equal(f->delivered, 2);
    assert_int_equal(f->cl[0].in.len, big + 7);
    assert_run_of(&f->cl[0], 0, big, 'a');
    assert_memory_equal(f->cl[0].in.base + big, "CART-B\n", 7);
}

/* Plain bytes (tc_conn_write) go straight out with nothing queued, and only
 * what the kernel did not take is copied into the queue: the caller's block
 * may change at once, and what follows queues behind the rest. */
static void test_plain_write_partly_sent_copies_the_rest(void **state)
{
    fixture *f = *state;
    rec *r = connect_small_sndbuf(f);
    tc_conn_write(r->c, "HEAD\n", 5); /* small: all taken, nothing queued */
    assert_int_equal(queued_bytes(r->c), 0);
    size_t big = MAX_QUEUE / 2;
    char *text = malloc(big);
    memset(text, 'a', big);
    tc_conn_write(r->c, text, big);
    memset(text, 'X', big); /* the caller's again */
    free(text);
    size_t queued = queued_bytes(r->c);
    assert_true(queued > 0 && queued < big); /* part of it went straight out */
    tc_conn_write(r->c, "TAIL\n", 5);
    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len >= 5 + big + 5);
    assert_int_equal(f->cl[0].in.len, 5 + big + 5);
    assert_memory_equal(f->cl[0].in.base, "HEAD\n", 5);
    assert_run_of(&f->cl[0], 5, big, 'a');
    assert_memory_equal(f->cl[0].in.base + 5 + big, "TAIL\n", 5);
    tc_conn_close(r->c);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

/* A timed cart is heard of once its last byte is handed to the kernel: at
 * once when nothing waits, after the queue drains otherwise; a cart replaced
 * before it went out never is. */
static void test_timed_cart_is_heard_of_when_written(void **state)
{
    fixture *f = *state;
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    tc_rbuf *cart = tc_rbuf_new("CART\n", 5);
    uint64_t committed = uv_hrtime();
    tc_conn_write_cart(r->c, cart, 0, 5, committed);
    assert_int_equal(f->delivered, 1);
    assert_true(f->last_latency_ns <= uv_hrtime() - committed);
    /* Untimed writes are not heard of. */
    tc_conn_write_rbuf(r->c, cart, 0, 5, TC_WQ_CART);
    tc_conn_write(r->c, "P\n", 2);
    assert_int_equal(f->delivered, 1);
    tc_rbuf_unref(cart);
    tc_conn_close(r->c);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    assert_int_equal(f->delivered, 1);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

static void test_heartbeat_behind_pending_is_dropped(void **state)
{
    fixture *f = *state;
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    tc_rbuf *hb = tc_rbuf_new(":hb\n", 4);
    /* Nothing queued: a heartbeat goes out. */
    tc_conn_write_rbuf(r->c, hb, 0, 4, TC_WQ_HEARTBEAT);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len == 4);
    assert_string_equal(tl_client_text(&f->cl[0]), ":hb\n");

    uv_read_stop((uv_stream_t *)&f->cl[0].tcp);
    size_t filler = fill_kernel(r->c);
    size_t queued = queued_bytes(r->c);
    tc_conn_write_rbuf(r->c, hb, 0, 4, TC_WQ_HEARTBEAT);
    assert_int_equal(queued_bytes(r->c), queued);
    tc_rbuf *cart = tc_rbuf_new("CART\n", 5);
    tc_conn_write_rbuf(r->c, cart, 0, 5, TC_WQ_CART);
    tc_conn_write_rbuf(r->c, hb, 0, 4, TC_WQ_HEARTBEAT);
    tc_conn_write_rbuf(r->c, hb, 0, 4, TC_WQ_HEARTBEAT);
    assert_int_equal(hb->refs, 1); /* no queued copy of the heartbeat */
    tc_conn_write(r->c, "P\n", 2);
    assert_int_equal(queued_bytes(r->c), queued + 5 + 2);
    tc_rbuf_unref(cart);
    tc_rbuf_unref(hb);

    tl_client_read_start(&f->cl[0]);
    tc_conn_close(r->c);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    assert_int_equal(f->cl[0].in.len, 4 + filler + 5 + 2);
    assert_run_of(&f->cl[0], 4, filler, 'f');
    assert_memory_equal(f->cl[0].in.base + 4 + filler, "CART\nP\n", 7);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

static void test_slow_client_is_closed(void **state)
{
    fixture *f = *state;
    f->cl[0].no_read = true;
    rec *r = connect_client(f, 0);
    tc_rbuf *chunk = filled_rbuf('s', CHUNK);
    size_t before = 0, total = 0, item = 0;
    while (!tc_conn_is_closing(r->c)) {
        assert_true(total < 64u * 1024 * 1024);
        assert_false(tc_conn_was_slow(r->c));
        size_t was = tc_conn_queued_heap(r->c);
        if (was > before) item = was - before; /* what one queued write costs */
        before = was;
        tc_conn_write_rbuf(r->c, chunk, 0, CHUNK, TC_WQ_PLAIN);
        total += CHUNK;
    }
    /* Closed by the very write that took the queue's heap past the limit:
     * each item counts itself and the whole buffer it holds (more than the
     * payload). */
    assert_true(item > CHUNK);
    assert_true(before <= MAX_QUEUE);
    assert_true(before + item > MAX_QUEUE);
    assert_true(tc_conn_was_slow(r->c));
    assert_int_equal(r->closed, 0);
    tc_rbuf_unref(chunk);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_true(r->slow_at_close);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
}

static void test_close_flushes_the_queue(void **state)
{
    fixture *f = *state;
    size_t filler;
    rec *r = connect_filled(f, 0, &filler);
    tc_rbuf *g = filled_rbuf('g', 100000);
    tc_conn_write_rbuf(r->c, g, 0, 100000, TC_WQ_PLAIN);
    tc_rbuf_unref(g);
    assert_true(queued_bytes(r->c) > 100000);
    tc_conn_close(r->c);
    assert_true(tc_conn_is_closing(r->c));
    tc_conn_write(r->c, "LATE", 4); /* after close: dropped */
    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    assert_int_equal(f->cl[0].read_err, 0);
    assert_int_equal(f->cl[0].in.len, filler + 100000);
    assert_run_of(&f->cl[0], 0, filler, 'f');
    assert_run_of(&f->cl[0], filler, 100000, 'g');
    /* Our side closes once the peer answers our FIN with its own. */
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_false(r->slow_at_close);
}

/* A peer that stops reading after tc_conn_close has close_flush_ms to take
 * the rest; then the connection is reset and gone, with its queue, whatever
 * deadline its protocol asks for meanwhile. */
static void test_close_unread_is_reset_after_the_flush_time(void **state)
{
    fixture *f = *state;
    size_t filler;
    rec *r = connect_filled(f, 0, &filler);
    uint64_t t0 = uv_now(&f->e.loop);
    tc_conn_close(r->c);
    tc_conn_set_deadline(r->c, 1); /* closing: ignored */
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_true(uv_now(&f->e.loop) - t0 >= CLOSE_FLUSH_MS);
    assert_int_equal(r->deadlines, 0);
    assert_false(r->slow_at_close);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err != 0);
    /* Reset: what the kernel still held for the peer never arrives (this
     * kernel then reports the end as an EOF to the reader). */
    assert_true(f->cl[0].in.len < filler);
}

/* --- deadlines ----------------------------------------------------------- */

static void test_deadline_calls_on_deadline(void **state)
{
    fixture *f = *state;
    rec *a = connect_client(f, 0);
    rec *b = connect_client(f, 1);
    tc_conn_set_deadline(a->c, 1);
    tc_conn_set_deadline(a->c, 0); /* cleared */
    tc_conn_set_deadline(b->c, 1);
    TL_RUN_UNTIL(&f->e, b->deadlines == 1);
    assert_int_equal(a->deadlines, 0);
    assert_int_equal(b->closed, 0); /* on_deadline decides; it did not close */
    /* One-shot: the next sweep that fires a deadline (a's) does not repeat b's. */
    tc_conn_set_deadline(a->c, 1);
    TL_RUN_UNTIL(&f->e, a->deadlines == 1);
    assert_int_equal(b->deadlines, 1);
    assert_int_equal(a->closed + b->closed, 0);
}

static void test_null_on_deadline_aborts(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn_set_proto(r->c, &bare_proto, r);
    tc_conn_set_deadline(r->c, 1);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_int_equal(r->deadlines, 0);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err != 0);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
}

static void test_deadline_is_never_early(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn *c = r->c;
    uint64_t now = uv_now(&f->e.loop);
    assert_false(tc_conn_deadline_due(c, now)); /* none set */
    tc_conn_set_deadline(c, 1000);
    assert_false(tc_conn_deadline_due(c, now + 999));
    assert_true(tc_conn_deadline_due(c, now + 1000 + TC_DEADLINE_UNIT_MS));
    /* Up to a unit late, never early, whatever the loop time's phase. */
    for (uint64_t ms = 1; ms < 3 * TC_DEADLINE_UNIT_MS; ms++) {
        tc_conn_set_deadline(c, ms);
        assert_false(tc_conn_deadline_due(c, now + ms - 1));
        assert_true(tc_conn_deadline_due(c, now + ms + TC_DEADLINE_UNIT_MS - 1));
    }
    /* A year ahead (the longest configurable duration) is a year ahead. */
    const uint64_t day = 86400000;
    tc_conn_set_deadline(c, 365 * day);
    assert_false(tc_conn_deadline_due(c, now + 364 * day));
    assert_true(tc_conn_deadline_due(c, now + 365 * day + TC_DEADLINE_UNIT_MS));
    /* Longer is clamped to 2^31 units (~795 days), never wrapped to the past. */
    tc_conn_set_deadline(c, 3650 * day);
    assert_false(tc_conn_deadline_due(c, now));
    assert_false(tc_conn_deadline_due(c, now + 790 * day));
    assert_true(tc_conn_deadline_due(c, now + 796 * day));
    tc_conn_set_deadline(c, 0);
    assert_false(tc_conn_deadline_due(c, now + 796 * day));
}

static void test_deadline_across_wraparound(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn *c = r->c;
    /* Loop time whose unit count is about to pass 2^32: a deadline 10 units
     * ahead lies beyond the wrap, and is neither due before nor missed after. */
    uint64_t base = ((uint64_t)UINT32_MAX - 4) * TC_DEADLINE_UNIT_MS;
    c->deadline = (uint32_t)(UINT32_MAX - 4 + 10); /* wrapped: 5 */
    c->has_deadline = 1;
    assert_false(tc_conn_deadline_due(c, base));
    assert_false(tc_conn_deadline_due(c, base + 9 * TC_DEADLINE_UNIT_MS));
    assert_true(tc_conn_deadline_due(c, base + 10 * TC_DEADLINE_UNIT_MS));
    assert_true(tc_conn_deadline_due(c, base + 1000 * TC_DEADLINE_UNIT_MS));
    c->has_deadline = 0;
}

/* --- fair turns ------------------------------------------------------------ */

static void test_spend_budget_per_turn(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    for (int i = 0; i < TC_CONN_TURN_BUDGET; i++)
        assert_true(tc_conn_spend(r->c));
    assert_false(tc_conn_spend(r->c));
    assert_false(tc_conn_spend(r->c)); /* counting nothing */
    uv_run(&f->e.loop, UV_RUN_NOWAIT); /* one loop turn */
    assert_true(tc_conn_spend(r->c));
}

static void test_deferred_run_in_order_once_per_turn(void **state)
{
    fixture *f = *state;
    rec *a = connect_client(f, 0);
    rec *b = connect_client(f, 1);
    tc_conn_set_proto(a->c, &ready_proto, a);
    tc_conn_set_proto(b->c, &ready_proto, b);
    a->defer_again = true;
    tc_conn_defer(b->c);
    tc_conn_defer(a->c);
    tc_conn_defer(b->c); /* already deferred: still once */
    assert_int_equal(a->c->refs, 2);
    TL_RUN_UNTIL(&f->e, f->n_ready == 2);
    /* In order; a, deferred again from its on_ready, waits for the next turn. */
    assert_int_equal(f->ready_order[0], 1);
    assert_int_equal(f->ready_order[1], 0);
    assert_int_equal(a->readies, 1);
    TL_RUN_UNTIL(&f->e, a->readies == 2);
    assert_int_equal(b->readies, 1);
    assert_int_equal(f->n_ready, 3);
    assert_int_equal(a->c->refs, 1);
    /* No on_ready deferred: reading resumes. */
    tc_conn_set_proto(b->c, &t_proto, b);
    tc_conn_defer(b->c);
    assert_false(b->c->reading);
    TL_RUN_UNTIL(&f->e, b->c->reading);
    tl_client_send_str(&f->cl[1], "go");
    TL_RUN_UNTIL(&f->e, b->reads == 1);
}

static void test_deferred_then_closed_gets_no_on_ready(void **state)
{
    fixture *f = *state;
    rec *a = connect_client(f, 0);
    tc_conn_set_proto(a->c, &ready_proto, a);
    tc_conn_defer(a->c);
    tc_conn_abort(a->c);
    TL_RUN_UNTIL(&f->e, a->closed == 1);
    rec *b = connect_client(f, 1); /* a few more loop turns */
    (void)b;
    assert_int_equal(a->readies, 0);
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
}

/* --- references ------------------------------------------------------------ */

static void test_ref_keeps_conn_after_close(void **state)
{
    fixture *f = *state;
    rec *r = connect_client(f, 0);
    tc_conn *c = r->c;
    uint64_t id = tc_conn_id(c);
    tc_conn_ref(c);
    tc_conn_abort(c);
    TL_RUN_UNTIL(&f->e, r->closed == 1);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
    /* Closed and forgotten by the server, but still readable (ASan watches). */
    assert_int_equal(tc_conn_id(c), id);
    assert_true(tc_conn_is_closing(c));
    assert_ptr_equal(tc_conn_server(c), f->e.srv);
    tc_conn_write(c, "late", 4);
    assert_int_equal(queued_bytes(c), 0);
    tc_conn_close(c);
    tc_conn_abort(c);
    tc_conn_ref(c);
    tc_conn_unref(c);
    connect_client(f, 1);
    assert_int_equal(r->closed, 1);
    tc_conn_unref(c); /* the last reference: freed here */
}

/* --- accepting and finding the connections ---------------------------------- */

enum { FD_LIMIT = 128 };

/* Out of descriptors below the connection cap (the limit lowered after the
 * server computed its cap): a waiting client is accepted with the server's
 * reserve descriptor and closed at once, not left hanging; once descriptors
 * are free again the next client is served. */
static void test_out_of_descriptors_drops_waiting_clients(void **state)
{
    fixture *f = *state;
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < FD_LIMIT) skip();
    /* The loop's first TCP handle makes libuv take a reserve descriptor of
     * its own: the client's, made before the descriptors run out. */
    uv_tcp_t first;
    uv_tcp_init(&f->e.loop, &first);
    uv_close((uv_handle_t *)&first, NULL);
    struct rlimit low = {.rlim_cur = FD_LIMIT, .rlim_max = old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[FD_LIMIT];
    int n = 0;
    for (int fd; (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
        fill[n++] = fd;
    assert_int_equal(errno, EMFILE);
    assert_true(n > 1);
    close(fill[--n]); /* room for the client's socket, none for the server's */
    tl_client_connect(&f->e, &f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err != 0);
    assert_int_equal(f->n_recs, 0);
    assert_int_equal(f->cl[0].in.len, 0);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
    while (n > 0)
        close(fill[--n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    tl_client_connect(&f->e, &f->cl[1]);
    TL_RUN_UNTIL(&f->e, f->n_recs == 1);
    rec *r = &f->recs[0];
    tl_client_send_str(&f->cl[1], "hi");
    TL_RUN_UNTIL(&f->e, r->reads == 1);
    assert_string_equal(tc_buf_cstr(&r->got), "hi");
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
}

/* Another module's poll handle (the Redis adapter's), with room after it
 * where a connection would keep its state. */
typedef struct {
    uv_poll_t poll;
    unsigned char after[sizeof(tc_conn)];
} foreign_poll;

static void on_foreign(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
}

/* The server finds its connections among the loop's handles: a poll handle
 * that is not its own is left alone by the sweep and at shutdown. */
static void test_foreign_poll_handle_is_no_connection(void **state)
{
    fixture *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    static foreign_poll fp;
    memset(&fp, 0, sizeof fp);
    assert_int_equal(uv_poll_init(&f->e.loop, &fp.poll, sv[0]), 0);
    fp.poll.data = &fp;
    assert_int_equal(uv_poll_start(&fp.poll, UV_READABLE, on_foreign), 0);
    rec *r = connect_client(f, 0);
    tc_conn_set_deadline(r->c, 1);
    TL_RUN_UNTIL(&f->e, r->deadlines == 1); /* the sweep walked the handles */
    tc_server_shutdown(f->e.srv, 0, NULL, NULL);
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    assert_int_equal(r->closed, 1);
    assert_true(uv_is_active((uv_handle_t *)&fp.poll));
    for (size_t i = 0; i < sizeof fp.after; i++)
        if (fp.after[i]) fail_msg("byte %zu after the foreign handle was written", i);
    uv_close((uv_handle_t *)&fp.poll, NULL);
    uv_run(&f->e.loop, UV_RUN_NOWAIT);
    close(sv[0]);
    close(sv[1]);
}

/* --- batched sends (tc_server_opts.batch_sends) ---------------------------- */

/* Writes of every kind made outside the loop's check phase wait in the queue
 * for the end of the turn, then go out together, in the order written; the
 * cart's delivery is heard of when it is handed to the kernel, and the
 * protocol hears the queue drained. */
static void test_batched_writes_go_at_the_end_of_the_turn(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r = connect_client(f, 0);
    tc_conn_set_proto(r->c, &drained_proto, r);
    tc_rbuf *b = tc_rbuf_new("xBx", 3);
    tc_rbuf *cart = tc_rbuf_new("CART\n", 5);
    tc_conn_write(r->c, "A", 1);
    tc_conn_write_rbuf(r->c, b, 1, 1, TC_WQ_PLAIN);
    tc_conn_write_cart(r->c, cart, 0, 5, uv_hrtime());
    tc_rbuf_unref(b);
    tc_rbuf_unref(cart);
    assert_int_equal(queued_bytes(r->c), 7);
    assert_int_equal(f->delivered, 0);
    assert_int_equal(r->drained, 0);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len == 7);
    assert_string_equal(tl_client_text(&f->cl[0]), "ABCART\n");
    assert_int_equal(queued_bytes(r->c), 0);
    assert_int_equal(f->delivered, 1);
    assert_int_equal(r->drained, 1);
    assert_false(r->c->writing);
}

/* Two carts in one turn with room in the socket: both go out (a newer cart
 * replaces a pending one only while the kernel is full; here that would
 * skip a version). */
static void test_batched_carts_are_not_conflated(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r = connect_client(f, 0);
    tc_rbuf *a = tc_rbuf_new("v1\n", 3);
    tc_rbuf *b = tc_rbuf_new("v2\n", 3);
    tc_conn_write_cart(r->c, a, 0, 3, uv_hrtime());
    tc_conn_write_cart(r->c, b, 0, 3, uv_hrtime());
    assert_int_equal(queued_bytes(r->c), 6);
    tc_rbuf_unref(a);
    tc_rbuf_unref(b);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len == 6);
    assert_string_equal(tl_client_text(&f->cl[0]), "v1\nv2\n");
    assert_int_equal(f->delivered, 2);
}

/* A queue past what a turn's batch holds goes out at once, as it would
 * without batching: the kernel takes it before the write returns. */
static void test_batched_queue_past_its_share_goes_at_once(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r = connect_client(f, 0);
    tc_conn_write(r->c, "A", 1);
    assert_int_equal(queued_bytes(r->c), 1);
    tc_rbuf *big = filled_rbuf('b', 100000);
    tc_conn_write_rbuf(r->c, big, 0, 100000, TC_WQ_PLAIN);
    tc_rbuf_unref(big);
    assert_int_equal(queued_bytes(r->c), 0);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len == 100001);
    assert_int_equal(f->cl[0].in.base[0], 'A');
    assert_run_of(&f->cl[0], 1, 100000, 'b');
}

/* An answer written just before an abort (a refused connection's 429 or
 * 503) still reaches the client, then the connection ends. */
static void test_batched_answer_before_an_abort_is_sent(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r = connect_client(f, 0);
    tc_conn_write(r->c, "REFUSED\n", 8);
    tc_conn_abort(r->c);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err);
    assert_string_equal(tl_client_text(&f->cl[0]), "REFUSED\n");
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

/* A close after a batched write: the bytes, then our FIN. */
static void test_batched_close_sends_then_ends(void **state)
{
    fixture *f = *state;
    need_batching(f);
    f->cl[0].close_on_eof = true;
    rec *r = connect_client(f, 0);
    tc_conn_write(r->c, "bye\n", 4);
    tc_conn_close(r->c);
    tc_conn_write(r->c, "LATE", 4); /* after close: dropped */
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    assert_int_equal(f->cl[0].read_err, 0);
    assert_string_equal(tl_client_text(&f->cl[0]), "bye\n");
    TL_RUN_UNTIL(&f->e, r->closed == 1);
}

/* A client that does not read: batched writes, turn after turn, until the
 * kernel is full; then the connection waits for room as without batching (a
 * newer cart replaces the pending one, and the rest goes out when the client
 * reads, which the protocol hears). */
static void test_batched_full_kernel_waits_for_room(void **state)
{
    fixture *f = *state;
    need_batching(f);
    f->cl[0].no_read = true;
    rec *r = connect_client(f, 0);
    tc_conn_set_proto(r->c, &drained_proto, r);
    tc_rbuf *chunk = filled_rbuf('f', CHUNK / 2);
    size_t filler = 0;
    while (!r->c->writing) {
        assert_true(filler < 64u * 1024 * 1024);
        tc_conn_write_rbuf(r->c, chunk, 0, CHUNK / 2, TC_WQ_PLAIN);
        filler += CHUNK / 2;
        uv_run(&f->e.loop, UV_RUN_NOWAIT); /* the turn ends: the batch goes */
    }
    tc_rbuf_unref(chunk);
    int drained = r->drained;
    size_t queued = queued_bytes(r->c);
    assert_true(queued > 0);
    tc_rbuf *a = tc_rbuf_new("CART-A\n", 7);
    tc_rbuf *b = tc_rbuf_new("CART-B\n", 7);
    tc_conn_write_cart(r->c, a, 0, 7, uv_hrtime());
    tc_conn_write_cart(r->c, b, 0, 7, uv_hrtime());
    assert_int_equal(queued_bytes(r->c), queued + 7); /* A was replaced */
    assert_int_equal(a->refs, 1);
    tc_rbuf_unref(a);
    tc_rbuf_unref(b);
    tl_client_read_start(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len == filler + 7);
    assert_run_of(&f->cl[0], 0, filler, 'f');
    assert_memory_equal(f->cl[0].in.base + filler, "CART-B\n", 7);
    TL_RUN_UNTIL(&f->e, r->drained == drained + 1);
    assert_false(r->c->writing);
}

/* Whether the reset of fd's peer has arrived (the socket reports it once). */
static bool reset_seen(int fd, bool *seen)
{
    char b;
    if (!*seen && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == ECONNRESET) *seen = true;
    return *seen;
}

/* A client that resets while its bytes wait in the batch: the send fails,
 * the connection is aborted, once, and nothing else is disturbed. */
static void test_batched_send_to_a_reset_peer_aborts(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r0 = connect_client(f, 0);
    rec *r1 = connect_client(f, 1);
    tc_conn_pause(r0->c); /* the reset is met by the send, not by a read */
    tl_client_reset(&f->cl[0]);
    uv_os_fd_t fd;
    assert_int_equal(uv_fileno((uv_handle_t *)&r0->c->poll, &fd), 0);
    bool seen = false;
    TL_RUN_UNTIL(&f->e, reset_seen(fd, &seen));
    tc_conn_write(r0->c, "lost", 4);
    tc_conn_write(r1->c, "kept", 4);
    TL_RUN_UNTIL(&f->e, r0->closed == 1 && f->cl[1].in.len == 4);
    assert_string_equal(tl_client_text(&f->cl[1]), "kept");
    assert_false(tc_conn_is_closing(r1->c));
}

/* The server's io_uring stops working (its descriptor is /dev/null now):
 * the connections of the failed submit are aborted, since whether their
 * bytes went out is unknown, and from then on every write goes to its socket
 * at once, as with --io-uring off. */
static void test_batched_ring_failure_falls_back_to_send(void **state)
{
    fixture *f = *state;
    need_batching(f);
    rec *r0 = connect_client(f, 0);
    assert_true(tl_break_io_urings() >= 1);
    tc_conn_write(r0->c, "lost", 4);
    TL_RUN_UNTIL(&f->e, r0->closed == 1);
    assert_null(f->e.srv->uring);
    rec *r1 = connect_client(f, 1);
    tc_conn_write(r1->c, "direct", 6);
    assert_int_equal(queued_bytes(r1->c), 0); /* went to the socket at once */
    TL_RUN_UNTIL(&f->e, f->cl[1].in.len == 6);
    assert_string_equal(tl_client_text(&f->cl[1]), "direct");
}

/* The ring fails on a round that is not the batch's last: the connections
 * after that round are sent one by one, and are told their queue drained
 * as a batched send tells them (an HTTP session holding pipelined requests
 * behind its answer waits for that; before, it stayed paused until its
 * idle timeout). */
static void test_batched_ring_failure_mid_batch_drains_the_rest(void **state)
{
    fixture *f = *state;
    need_batching(f);
    enum { N = TC_SERVER_BATCH_RING + 1 };
    for (int i = 0; i < N; i++)
        tc_conn_set_proto(connect_client(f, i)->c, &drained_proto, &f->recs[i]);
    assert_true(tl_break_io_urings() >= 1);
    for (int i = 0; i < N; i++)
        tc_conn_write(f->recs[i].c, "x", 1); /* one turn: one batch, two rounds */
    rec *last = &f->recs[N - 1];
    TL_RUN_UNTIL(&f->e, f->cl[N - 1].in.len == 1 && last->drained == 1);
    assert_string_equal(tl_client_text(&f->cl[N - 1]), "x");
    assert_int_equal(last->closed, 0);
    for (int i = 0; i < TC_SERVER_BATCH_RING; i++) /* the round that failed */
        TL_RUN_UNTIL(&f->e, f->recs[i].closed == 1);
    assert_null(f->e.srv->uring);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TB(fn) cmocka_unit_test_setup_teardown(fn, setup_batched, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_close_twice_inside_on_read),
        T(test_abort_after_close_inside_on_read),
        T(test_abort_after_close_with_queue),
        T(test_peer_reset),
        T(test_bytes_before_a_reset_are_read),
        T(test_grace_unread_once_per_silence),
        T(test_peer_eof_then_answer),
        T(test_peer_eof_without_on_eof_closes),
        T(test_pending_cart_is_replaced),
        T(test_cart_partly_sent_at_once_is_kept),
        T(test_plain_write_partly_sent_copies_the_rest),
        T(test_heartbeat_behind_pending_is_dropped),
        T(test_timed_cart_is_heard_of_when_written),
        T(test_slow_client_is_closed),
        T(test_close_flushes_the_queue),
        T(test_close_unread_is_reset_after_the_flush_time),
        T(test_deadline_calls_on_deadline),
        T(test_null_on_deadline_aborts),
        T(test_deadline_is_never_early),
        T(test_deadline_across_wraparound),
        T(test_spend_budget_per_turn),
        T(test_deferred_run_in_order_once_per_turn),
        T(test_deferred_then_closed_gets_no_on_ready),
        T(test_ref_keeps_conn_after_close),
        T(test_out_of_descriptors_drops_waiting_clients),
        T(test_foreign_poll_handle_is_no_connection),
        TB(test_batched_writes_go_at_the_end_of_the_turn),
        TB(test_batched_carts_are_not_conflated),
        TB(test_batched_queue_past_its_share_goes_at_once),
        TB(test_batched_answer_before_an_abort_is_sent),
        TB(test_batched_close_sends_then_ends),
        TB(test_batched_full_kernel_waits_for_room),
        TB(test_batched_send_to_a_reset_peer_aborts),
        TB(test_batched_ring_failure_falls_back_to_send),
        TB(test_batched_ring_failure_mid_batch_drains_the_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
