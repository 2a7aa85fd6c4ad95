/* backend.h — what a store backend implements (internal to src/store).
 *
 * store.c owns the tc_store, the served menu and the change feed, and picks a
 * backend by the URL's scheme; a backend only moves carts and menu rows in
 * and out of its database. Adding one = one vtable + one line in store.c's
 * table, as SQLite and Redis are; no caller changes. */
#ifndef TC_STORE_BACKEND_H
#define TC_STORE_BACKEND_H

#include "store/store.h"

struct tc_store {
    const struct tc_store_backend *be;
    void *impl; /* the backend's state */
    uv_loop_t *loop;
    tc_menu *menu; /* served menu, frozen; replaced after an import */
    tc_store_feed_cb feed;
    void *feed_ctx;
};

typedef struct tc_store_backend {
    /* URL scheme without the colon: "sqlite" matches "sqlite:PATH". */
    const char *scheme;
    /* Connects using the part of the URL after "scheme:" and sets s->impl.
     * Returns 0 or a negative code with err. */
    int (*open)(tc_store *s, const char *rest, tc_errmsg *err);
    /* Releases s->impl. */
    void (*close)(tc_store *s);
    /* Builds a new frozen menu from the database into *out (caller frees). */
    int (*load_menu)(tc_store *s, tc_menu **out, tc_errmsg *err);
    /* Upserts every row of m in one transaction. */
    int (*import_menu)(tc_store *s, const tc_menu *m, tc_errmsg *err);
    /* As tc_store_get / tc_store_mutate; the table is known to exist in
     * s->menu. A mutate that changed the cart calls tc_store_emit_feed after
     * the change is durable and before cb. */
    void (*get)(tc_store *s, const tc_table *t, tc_store_cb cb, void *ctx);
    void (*mutate)(tc_store *s, const tc_table *t, const tc_op *op, const tc_cart_limits *lim,
                   tc_store_cb cb, void *ctx);
    int (*ping)(tc_store *s);
} tc_store_backend;

/* Opens a store on backend be, as tc_store_open does once the URL's scheme
 * has picked it: rest is the URL after "scheme:". Then loads the menu (on
 * failure the backend is closed again). Returns 0 and *out, or the backend's
 * negative code with err. Also the seam for unit tests to plug in a fake
 * backend. */
int tc_store_open_backend(const tc_store_backend *be, const char *rest, uv_loop_t *loop,
                          tc_store **out, tc_errmsg *err);

/* Delivers a committed change to the feed, if one is set. */
void tc_store_emit_feed(tc_store *s, const tc_cart *cart, uint64_t origin);

extern const tc_store_backend tc_store_backend_sqlite;
extern const tc_store_backend tc_store_backend_redis;

#endif
