/* uv_redis.h — runs a hiredis async context on a libuv loop.
 *
 * Our own adapter instead of <hiredis/adapters/libuv.h>: hiredis 0.14's
 * bundled one returns early when libuv reports a poll error, so a refused or
 * reset connection is never noticed and its callbacks never run. Here an
 * error is handed to hiredis as readiness, so it reads or checks the socket,
 * sees the error and disconnects (running every pending callback with a NULL
 * reply). Commands queued while connected are written once per loop turn,
 * at its end (a uv_check handle), all together and without first waiting
 * for the socket to be writable; only what the socket does not take then
 * waits for writability. */
#ifndef TC_STORE_UV_REDIS_H
#define TC_STORE_UV_REDIS_H

#include <hiredis/async.h>
#include <uv.h>

/* Attaches ac (fresh from redisAsyncConnect, without an error) to loop
 * through ac->ev. Call before redisAsyncSetConnectCallback, which asks for
 * the first write event. The adapter's state belongs to ac: hiredis calls
 * its cleanup when ac is freed, and the poll handle is then closed and
 * freed by libuv's close callback. Returns 0; TC_EINVAL if ac already has
 * an event library, TC_EIO if its fd cannot be polled (ac is then left as
 * it was: the caller frees it). */
int tc_uv_redis_attach(redisAsyncContext *ac, uv_loop_t *loop);

#endif
