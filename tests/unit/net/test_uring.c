/* test_uring.c — tc_uring on real sockets (AF_UNIX stream pairs): every send
 * is answered by the time tc_uring_submit returns, in the order queued, with
 * send(2)'s result for a non-blocking socket — all of it, part of it, -EAGAIN
 * for a full socket, -EPIPE for a peer gone — and a full ring refuses more.
 * Where io_uring is not permitted (a container's seccomp profile) the tests
 * are skipped, and the server sends with send(2) (test_conn.c covers it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "net/uring.h"
#include "support/io_uring_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_DONE = 8 };

typedef struct {
    int n;
    void *tag[MAX_DONE];
    ssize_t result[MAX_DONE];
} answers;

static void on_done(void *ctx, void *tag, ssize_t result)
{
    answers *a = ctx;
    assert_true(a->n < MAX_DONE);
    a->tag[a->n] = tag;
    a->result[a->n] = result;
    a->n++;
}

/* A ring, or a skip where the kernel does not allow one. */
static tc_uring *open_ring(unsigned entries)
{
    tc_uring *u = NULL;
    const char *why = NULL;
    if (tc_uring_open(entries, &u, &why) != 0) {
        print_message("io_uring unavailable here: %s\n", why);
        skip();
    }
    return u;
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

/* Reads what is waiting on fd (non-blocking) into out; returns its length. */
static size_t drain(int fd, char *out, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, out + n, cap - n)) > 0)
        n += (size_t)r;
    return n;
}

/* Sends to two sockets, one of them with three buffers, in one submit: both
 * are answered in the order queued, with every byte, and the peers read
 * exactly those bytes. */
static void test_sends_are_answered_in_order(void **state)
{
    (void)state;
    tc_uring *u = open_ring(4);
    int a[2], b[2];
    pair(a);
    pair(b);
    struct iovec one = {.iov_base = "hello", .iov_len = 5};
    struct iovec three[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    int tag_a = 1, tag_b = 2;
    assert_true(tc_uring_send(u, b[0], three, 3, &tag_b));
    assert_true(tc_uring_send(u, a[0], &one, 1, &tag_a));
    assert_int_equal(tc_uring_queued(u), 2);
    answers got = {0};
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(tc_uring_queued(u), 0);
    assert_int_equal(got.n, 2);
    assert_ptr_equal(got.tag[0], &tag_b);
    assert_int_equal(got.result[0], 5);
    assert_ptr_equal(got.tag[1], &tag_a);
    assert_int_equal(got.result[1], 5);
    char buf[16];
    assert_int_equal(drain(a[1], buf, sizeof buf), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(drain(b[1], buf, sizeof buf), 5);
    assert_memory_equal(buf, "abcde", 5);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    tc_uring_close(u);
}

/* A full socket: the send is answered -EAGAIN at once (the submit does not
 * wait for room), and after the peer reads some, a large send is answered
 * with the part the socket took, which is exactly what the peer then reads. */
static void test_full_socket_then_a_part(void **state)
{
    (void)state;
    tc_uring *u = open_ring(2);
    int sv[2];
    pair(sv);
    enum { BIG = 1 << 20 };
    char *junk = calloc(1, BIG);
    size_t filled = 0;
    ssize_t r;
    while ((r = send(sv[0], junk, 4096, MSG_NOSIGNAL)) > 0)
        filled += (size_t)r;
    assert_int_equal(errno, EAGAIN);
    struct iovec iov = {.iov_base = junk, .iov_len = BIG};
    answers got = {0};
    assert_true(tc_uring_send(u, sv[0], &iov, 1, NULL));
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.result[0], -EAGAIN);

    char *in = malloc(BIG);
    assert_int_equal(drain(sv[1], in, BIG), filled);
    memset(junk, 'p', BIG);
    assert_true(tc_uring_send(u, sv[0], &iov, 1, NULL));
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(got.n, 2);
    ssize_t part = got.result[1];
    assert_true(part > 0 && part < BIG);
    assert_int_equal(drain(sv[1], in, BIG), (size_t)part);
    for (ssize_t i = 0; i < part; i++)
        assert_int_equal(in[i], 'p');
    free(in);
    free(junk);
    close(sv[0]), close(sv[1]);
    tc_uring_close(u);
}

/* The peer is gone: -EPIPE, and no SIGPIPE (the test would die of it). */
static void test_peer_gone_is_epipe(void **state)
{
    (void)state;
    tc_uring *u = open_ring(2);
    int sv[2];
    pair(sv);
    close(sv[1]);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    answers got = {0};
    assert_true(tc_uring_send(u, sv[0], &iov, 1, NULL));
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.result[0], -EPIPE);
    close(sv[0]);
    tc_uring_close(u);
}

/* A ring of two takes two sends; the third waits for a submit. */
static void test_full_ring_refuses(void **state)
{
    (void)state;
    tc_uring *u = open_ring(2);
    int sv[2];
    pair(sv);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    assert_true(tc_uring_send(u, sv[0], &iov, 1, NULL));
    assert_true(tc_uring_send(u, sv[1], &iov, 1, NULL));
    assert_false(tc_uring_send(u, sv[0], &iov, 1, NULL));
    answers got = {0};
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.result[0], 1);
    assert_int_equal(got.result[1], 1);
    assert_true(tc_uring_send(u, sv[0], &iov, 1, NULL));
    tc_uring_submit(u, on_done, &got);
    assert_int_equal(got.n, 3);
    char buf[4];
    assert_int_equal(drain(sv[1], buf, sizeof buf), 2);
    assert_int_equal(drain(sv[0], buf, sizeof buf), 1);
    close(sv[0]), close(sv[1]);
    tc_uring_close(u);
}

/* A submit that fails: every send of it is told -EIO and the submit says
 * the ring is no longer to be used. */
static void test_failed_submit_answers_every_send_eio(void **state)
{
    (void)state;
    tc_uring *u = open_ring(2);
    int sv[2];
    pair(sv);
    assert_int_equal(tl_break_io_urings(), 1);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    int tag_a = 1, tag_b = 2;
    assert_true(tc_uring_send(u, sv[0], &iov, 1, &tag_a));
    assert_true(tc_uring_send(u, sv[1], &iov, 1, &tag_b));
    answers got = {0};
    assert_int_equal(tc_uring_submit(u, on_done, &got), TC_EIO);
    assert_int_equal(got.n, 2);
    assert_ptr_equal(got.tag[0], &tag_a);
    assert_int_equal(got.result[0], -EIO);
    assert_ptr_equal(got.tag[1], &tag_b);
    assert_int_equal(got.result[1], -EIO);
    assert_int_equal(tc_uring_queued(u), 0);
    close(sv[0]), close(sv[1]);
    tc_uring_close(u);
}

/* Nothing queued: the submit makes no call and answers nothing. */
static void test_empty_submit(void **state)
{
    (void)state;
    tc_uring *u = open_ring(2);
    answers got = {0};
    assert_int_equal(tc_uring_submit(u, on_done, &got), 0);
    assert_int_equal(got.n, 0);
    tc_uring_close(u);
    tc_uring_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sends_are_answered_in_order),
        cmocka_unit_test(test_full_socket_then_a_part),
        cmocka_unit_test(test_peer_gone_is_epipe),
        cmocka_unit_test(test_full_ring_refuses),
        cmocka_unit_test(test_failed_submit_answers_every_send_eio),
        cmocka_unit_test(test_empty_submit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
