/* uring.h — the sends of one loop turn handed to the kernel in one system
 * call (io_uring), where the kernel allows it.
 *
 * Each send is non-blocking (MSG_DONTWAIT): the kernel takes what the socket
 * has room for, at once, and answers for every send before tc_uring_submit
 * returns — a short count, -EAGAIN for none, or another -errno — exactly as
 * send(2) on a non-blocking socket would. Nothing stays in flight between
 * two submits, so the caller's buffers need only outlive the submit.
 *
 * Single-threaded: one ring belongs to one loop. */
#ifndef TC_NET_URING_H
#define TC_NET_URING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct tc_uring tc_uring;

/* The most buffers one send may carry. */
#define TC_URING_MAX_IOV 16

/* Sets up a ring for up to `entries` sends per submit, after checking that
 * the kernel answers a send to a full socket at once (-EAGAIN) rather than
 * waiting for room. Returns 0 and *out, or a negative TC_E* code with the
 * reason in why (a static string): io_uring absent, forbidden (seccomp, a
 * container's profile, kernel.io_uring_disabled) or too old. The caller then
 * sends with send(2) itself. */
int tc_uring_open(unsigned entries, tc_uring **out, const char **why);

/* Frees the ring. NULL is allowed. Nothing may be queued. */
void tc_uring_close(tc_uring *u);

/* Queues a send of iov[0..n) (1 <= n <= TC_URING_MAX_IOV) on fd, tagged with
 * tag for the callback; the iovec array is copied, the bytes it points to
 * must stay valid until tc_uring_submit returns. Returns false when the ring
 * is full: submit, then queue again. At most one send per socket may be
 * queued at a time (two could go out of order). */
bool tc_uring_send(tc_uring *u, int fd, const struct iovec *iov, unsigned n, void *tag);

/* Sends: how many are queued. */
unsigned tc_uring_queued(const tc_uring *u);

/* Hands every queued send to the kernel in one system call, then calls
 * done(ctx, tag, result) once per send, in the order they were queued:
 * result is the bytes the kernel took, or a negative errno (-EAGAIN: none).
 * done may queue sends for the next submit. Returns 0, or TC_EIO when the
 * submit failed or a send went unanswered: every send of it is told -EIO
 * (whether its bytes went out is unknown), and the ring is no longer
 * reliable: close it and send without it. */
int tc_uring_submit(tc_uring *u, void (*done)(void *ctx, void *tag, ssize_t result), void *ctx);

#endif
