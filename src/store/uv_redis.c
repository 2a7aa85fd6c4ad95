#include "store/uv_redis.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct {
    uv_poll_t poll;
    /* Commands queued during a loop turn are written together at its end
     * (flush), without polling for writability first: that saves two
     * epoll_ctl calls and a wake-up per command. The idle handle, running
     * alongside, keeps the loop from blocking in its poll phase meanwhile. */
    uv_check_t flush;
    uv_idle_t nudge;
    redisAsyncContext *ac; /* NULL once hiredis called cleanup */
    int want;              /* UV_READABLE | UV_WRITABLE that hiredis asked for */
    bool flushing;         /* in on_flush: a write hiredis wants now is a real wait */
    int open;              /* handles not closed yet */
} uvr;

static void on_poll(uv_poll_t *h, int status, int events);

static void uvr_apply(uvr *p)
{
    if (p->ac == NULL) return; /* cleaned up: the handle is closing */
    if (p->want)
        uv_poll_start(&p->poll, p->want, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    uvr *p = h->data;
    if (status < 0) {
        /* libuv stopped the handle (POLLERR: a refused connect, a reset).
         * Let hiredis look: a connect check or a read sees the error and
         * disconnects, which calls our cleanup. */
        events = p->want ? p->want : UV_READABLE;
    }
    if (p->ac != NULL && (events & UV_READABLE)) redisAsyncHandleRead(p->ac);
    if (p->ac != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->ac);
    /* Still alive after an error: poll again rather than go deaf. The
     * store's command timeout ends a connection that never recovers. */
    if (status < 0 && p->ac != NULL) uvr_apply(p);
}

static void on_closed(uv_handle_t *h)
{
    uvr *p = h->data;
    if (--p->open == 0) free(p);
}

static void on_nudge(uv_idle_t *h)
{
    (void)h; /* only there to keep the poll phase from blocking */
}

static void on_flush(uv_check_t *h)
{
    uvr *p = h->data;
    uv_check_stop(&p->flush);
    uv_idle_stop(&p->nudge);
    if (p->ac == NULL) return;
    /* What the socket does not take now waits for writability (hiredis
     * asks for it again from inside). */
    p->flushing = true;
    redisAsyncHandleWrite(p->ac);
    p->flushing = false;
}

static void ev_add_read(void *arg)
{
    uvr *p = arg;
    if (p->want & UV_READABLE) return;
    p->want |= UV_READABLE;
    uvr_apply(p);
}

static void ev_del_read(void *arg)
{
    uvr *p = arg;
    if (!(p->want & UV_READABLE)) return;
    p->want &= ~UV_READABLE;
    uvr_apply(p);
}

static void ev_add_write(void *arg)
{
    uvr *p = arg;
    if (p->want & UV_WRITABLE) return;
    if (!p->flushing && p->ac != NULL && (p->ac->c.flags & REDIS_CONNECTED)) {
        /* Connected: written at the end of this loop turn (on_flush). A
         * connect in progress still waits for writability. */
        uv_check_start(&p->flush, on_flush);
        uv_idle_start(&p->nudge, on_nudge);
        return;
    }
    p->want |= UV_WRITABLE;
    uvr_apply(p);
}

static void ev_del_write(void *arg)
{
    uvr *p = arg;
    if (!(p->want & UV_WRITABLE)) return;
    p->want &= ~UV_WRITABLE;
    uvr_apply(p);
}

static void ev_cleanup(void *arg)
{
    uvr *p = arg;
    p->ac = NULL;
    p->want = 0;
    uv_poll_stop(&p->poll);
    uv_close((uv_handle_t *)&p->poll, on_closed);
    uv_close((uv_handle_t *)&p->flush, on_closed);
    uv_close((uv_handle_t *)&p->nudge, on_closed);
}

int tc_uv_redis_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL) return TC_EINVAL;
    uvr *p = tc_xcalloc(1, sizeof *p);
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return TC_EIO;
    }
    uv_check_init(loop, &p->flush);
    uv_idle_init(loop, &p->nudge);
    p->poll.data = p->flush.data = p->nudge.data = p;
    p->open = 3;
    p->ac = ac;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->ev.data = p;
    return 0;
}
