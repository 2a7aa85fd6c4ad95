/* uring.c — a turn's sends in one system call (net/uring.h), on liburing.
 *
 * Why: on a virtual machine every system call pays for the switch into the
 * kernel and back, and a fan-out makes one send per subscriber. One
 * io_uring_enter for all the sends of a loop turn pays that once
 * (docs/performance.md, "Sends batched per loop turn"). */
#include "net/uring.h"

#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One queued send: its message header and a copy of its iovec array, which
 * the kernel reads during the submit. */
typedef struct {
    struct msghdr msg;
    struct iovec iov[TC_URING_MAX_IOV];
    void *tag;
} slot;

struct tc_uring {
    struct io_uring ring;
    unsigned cap, n; /* slots, and slots queued */
    slot *slots;
    ssize_t *results; /* one per slot, for the submit */
};

/* Whether the kernel answers a send to a full socket at once: a kernel that
 * parked it until the socket has room would leave a send in flight after
 * the submit, which this module promises never happens. */
static bool answers_at_once(struct io_uring *ring)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) return false;
    char junk[4096];
    memset(junk, 0, sizeof junk);
    while (send(sv[0], junk, sizeof junk, MSG_NOSIGNAL) > 0) {
    }
    bool ok = false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (sqe != NULL) {
        io_uring_prep_send(sqe, sv[0], junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
        struct io_uring_cqe *cqe;
        if (io_uring_submit(ring) == 1 && io_uring_peek_cqe(ring, &cqe) == 0) {
            ok = cqe->res == -EAGAIN;
            io_uring_cqe_seen(ring, cqe);
        }
    }
    close(sv[0]);
    close(sv[1]);
    if (!ok) {
        /* Reap a send the kernel parked: closing the socket ended it. */
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(ring, &cqe) == 0)
            io_uring_cqe_seen(ring, cqe);
    }
    return ok;
}

int tc_uring_open(unsigned entries, tc_uring **out, const char **why)
{
    tc_uring *u = tc_xcalloc(1, sizeof *u);
    /* The completion queue is twice the submission queue by default: every
     * send of a full ring fits. */
    int r = io_uring_queue_init(entries, &u->ring, 0);
    if (r < 0) {
        free(u);
        *why = r == -ENOSYS ? "the kernel has no io_uring"
               : r == -EPERM
                   ? "io_uring is not permitted here (seccomp or kernel.io_uring_disabled)"
               : r == -ENOMEM ? "no memory for an io_uring"
                              : "io_uring could not be set up";
        return TC_EIO;
    }
    if (!answers_at_once(&u->ring)) {
        io_uring_queue_exit(&u->ring);
        free(u);
        *why = "this kernel's io_uring waits on a full socket (MSG_DONTWAIT not honoured)";
        return TC_EIO;
    }
    u->cap = entries;
    u->slots = tc_xcalloc(entries, sizeof *u->slots);
    u->results = tc_xcalloc(entries, sizeof *u->results);
    *out = u;
    return 0;
}

void tc_uring_close(tc_uring *u)
{
    if (u == NULL) return;
    io_uring_queue_exit(&u->ring);
    free(u->slots);
    free(u->results);
    free(u);
}

unsigned tc_uring_queued(const tc_uring *u)
{
    return u->n;
}

bool tc_uring_send(tc_uring *u, int fd, const struct iovec *iov, unsigned n, void *tag)
{
    if (u->n == u->cap) return false;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (sqe == NULL) return false;
    slot *s = &u->slots[u->n];
    s->tag = tag;
    /* One buffer (a delivery, most often) goes as a plain send, which spares
     * the kernel reading a message header and an iovec. */
    if (n == 1) {
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
        memcpy(s->iov, iov, n * sizeof *iov);
        s->msg = (struct msghdr){.msg_iov = s->iov, .msg_iovlen = n};
        io_uring_prep_sendmsg(sqe, fd, &s->msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    io_uring_sqe_set_data64(sqe, u->n);
    u->n++;
    return true;
}

int tc_uring_submit(tc_uring *u, void (*done)(void *ctx, void *tag, ssize_t result), void *ctx)
{
    unsigned n = u->n;
    if (n == 0) return 0;
    int r;
    do
        r = io_uring_submit_and_wait(&u->ring, n);
    while (r == -EINTR);
    /* Every send was answered during the submit (MSG_DONTWAIT); their
     * completions may come in any order, so they are put back in order. */
    unsigned seen = 0;
    struct io_uring_cqe *cqe;
    while (r >= 0 && seen < n && io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < n) u->results[i] = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        seen++;
    }
    u->n = 0;
    for (unsigned i = 0; i < n; i++)
        done(ctx, u->slots[i].tag, seen == n ? u->results[i] : -EIO);
    return seen == n ? 0 : TC_EIO;
}
