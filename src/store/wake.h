/* wake.h — waking the loop from another thread (the SQLite writer): an
 * eventfd the loop watches with a uv_poll_t.
 *
 * Why not uv_async_t: in libuv 1.44 (Debian 12), when the loop finds the
 * handle between a sender's eventfd write and the sender's last store, it
 * spins (997 rounds, sched_yield, again) until the sender finishes. With
 * the writer on the loop's core (--share-core, core/cores) the sender may
 * not run again until the loop's time slice ends: milliseconds in the tail
 * of every change of that moment (libuv issues 2769 and 2949; removed in
 * libuv 1.45 by pull request 3879). Here the sender's one write(2) is its
 * last touch of anything shared: there is no state between two stores to
 * wait for.
 *
 * Wake-ups coalesce: any number of sends before the loop looks run the
 * callback once. The sender publishes its work (under a lock of the
 * caller's) before tc_wake_send; the loop clears the eventfd before the
 * callback runs, so work published after the callback took its share
 * brings another callback. */
#ifndef TC_STORE_WAKE_H
#define TC_STORE_WAKE_H

#include <uv.h>

typedef struct tc_wake tc_wake;

/* Runs on the loop thread after one or more tc_wake_send. */
typedef void (*tc_wake_cb)(void *data);

/* Opens a wake-up on loop; cb(data) runs on the loop thread. The handle
 * keeps the loop alive, as a uv_async_t does. Returns 0 and *out (close it
 * with tc_wake_close), or TC_EIO when no eventfd can be made (errno says
 * why). */
int tc_wake_open(uv_loop_t *loop, tc_wake_cb cb, void *data, tc_wake **out);

/* Asks for the callback. Any thread, and async-signal-safe: one write(2).
 * Must not be called once tc_wake_close has begun. */
void tc_wake_send(tc_wake *w);

/* Loop thread: stops the callback at once and frees w when libuv has
 * closed its handle (w is unusable from now on). NULL is a no-op. */
void tc_wake_close(tc_wake *w);

#endif
