/* wake.c — waking the loop from another thread (see wake.h). */
#include "store/wake.h"

#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct tc_wake {
    uv_poll_t poll; /* first: the close callback gets the struct back */
    int fd;
    tc_wake_cb cb;
    void *data;
};

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    tc_wake *w = (tc_wake *)h;
    if (status < 0) return; /* an eventfd does not fail; a spurious wake-up costs one read */
    eventfd_t n;
    /* Cleared first: a send from now on makes the fd readable again. */
    (void)eventfd_read(w->fd, &n);
    w->cb(w->data);
}

static void on_closed(uv_handle_t *h)
{
    tc_wake *w = (tc_wake *)h;
    close(w->fd);
    free(w);
}

void tc_wake_close(tc_wake *w)
{
    if (w == NULL) return;
    uv_close((uv_handle_t *)&w->poll, on_closed);
}

int tc_wake_open(uv_loop_t *loop, tc_wake_cb cb, void *data, tc_wake **out)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return TC_EIO;
    tc_wake *w = tc_xcalloc(1, sizeof *w);
    w->fd = fd;
    w->cb = cb;
    w->data = data;
    /* epoll may refuse the fd: ENOSPC at fs.epoll.max_user_watches, ENOMEM;
     * errno says which (libuv's error is a negated errno on Unix). */
    int rc = uv_poll_init(loop, &w->poll, fd);
    if (rc != 0) {
        close(fd);
        free(w);
        errno = -rc;
        return TC_EIO;
    }
    rc = uv_poll_start(&w->poll, UV_READABLE, on_readable);
    if (rc != 0) {
        tc_wake_close(w);
        errno = -rc;
        return TC_EIO;
    }
    *out = w;
    return 0;
}

void tc_wake_send(tc_wake *w)
{
    /* EAGAIN only when the counter is at its maximum: the fd is readable anyway. */
    (void)eventfd_write(w->fd, 1);
}
