#include "store/uv_redis.h"

#include "core/mem.h"

#include <stdlib.h>

typedef struct {
    uv_poll_t poll;
    redisAsyncContext *ac; /* NULL once hiredis called cleanup */
    int want;              /* UV_READABLE | UV_WRITABLE that hiredis asked for */
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
    free(h->data);
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
}

int tc_uv_redis_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data != NULL) return -1;
    uvr *p = tc_xcalloc(1, sizeof *p);
    if (uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    p->poll.data = p;
    p->ac = ac;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->ev.data = p;
    return 0;
}
