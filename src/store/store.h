/* store.h — where carts and menus live. Asynchronous by contract: SQLite
 * answers before the call returns, Redis when its script answers; callers
 * never know which.
 *
 * Every committed change is also delivered to the change feed (set with
 * tc_store_set_feed). In SQLite mode the feed runs right after commit, before
 * the mutate callback; in Redis mode it comes from pub/sub. The hub listens to
 * the feed; nothing else publishes changes. */
#ifndef TC_STORE_STORE_H
#define TC_STORE_STORE_H

#include "cart/cart.h"
#include "cart/menu.h"
#include "core/err.h"

#include <uv.h>

typedef struct tc_store tc_store;

/* Result of a get or mutate. status: 0 changed, TC_UNCHANGED, or a negative
 * tc_err with err filled. cart is the cart after the call (NULL on error) and
 * is borrowed: valid only during the callback. */
typedef void (*tc_store_cb)(void *ctx, int status, const tc_cart *cart, const tc_errmsg *err);

/* A change committed to table cart->table_id. origin: the op's origin. cart
 * borrowed for the call. */
typedef void (*tc_store_feed_cb)(void *ctx, const tc_cart *cart, uint64_t origin);

/* Opens "sqlite:PATH" or "redis://HOST:PORT[/DB]" (the scheme picks the
 * backend). Loads the menu into memory. Returns 0 and *out, or a negative
 * code with err naming what failed (TC_EINVAL for an unknown scheme). */
int tc_store_open(const char *url, uv_loop_t *loop, tc_store **out, tc_errmsg *err);
/* Flushes and closes. Pending callbacks are not called after this. A backend
 * with connections of its own (Redis) may keep the loop running briefly, so a
 * write already sent is answered before it disconnects. */
void tc_store_close(tc_store *s);

void tc_store_set_feed(tc_store *s, tc_store_feed_cb cb, void *ctx);

/* The menu currently served; borrowed, valid until the next import. */
const tc_menu *tc_store_menu(const tc_store *s);
/* True when the store holds no store/restaurant yet (first start). */
bool tc_store_menu_empty(const tc_store *s);

/* Loads or updates stores, tables and dishes from m in one transaction
 * (upsert by id; nothing is deleted), then reloads the served menu.
 * Returns 0 or TC_ESTORE with err. */
int tc_store_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err);

/* The cart of table_id (an empty version-0 cart if never touched);
 * TC_ENOTFOUND for an unknown table. */
void tc_store_get(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx);

/* Applies op atomically (tc_cart_apply inside a transaction) and makes it
 * durable before cb reports 0. op and its strings are borrowed for the call
 * only. */
void tc_store_mutate(tc_store *s, const tc_op *op, const tc_cart_limits *lim, tc_store_cb cb,
                     void *ctx);

/* 0 when the store answers, TC_ESTORE otherwise (for /healthz). */
int tc_store_ping(tc_store *s);

#endif
