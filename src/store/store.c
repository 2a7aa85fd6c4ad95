#include "store/backend.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

static const tc_store_backend *const backends[] = {
    &tc_store_backend_sqlite,
    &tc_store_backend_redis,
};

int tc_store_open(const char *url, uv_loop_t *loop, tc_store **out, tc_errmsg *err)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    const tc_store_backend *be = NULL;
    for (size_t i = 0; colon && i < sizeof backends / sizeof backends[0]; i++) {
        size_t n = strlen(backends[i]->scheme);
        if ((size_t)(colon - url) == n && memcmp(url, backends[i]->scheme, n) == 0)
            be = backends[i];
    }
    if (be == NULL)
        return tc_errmsg_set(
            err, TC_EINVAL,
            "store: unsupported URL '%s' (expected sqlite:PATH or redis://HOST:PORT)",
            url ? url : "");
    return tc_store_open_backend(be, colon + 1, loop, out, err);
}

int tc_store_open_backend(const tc_store_backend *be, const char *rest, uv_loop_t *loop,
                          tc_store **out, tc_errmsg *err)
{
    tc_store *s = tc_xcalloc(1, sizeof *s);
    s->be = be;
    s->loop = loop;
    int rc = be->open(s, rest, err);
    if (rc == 0) {
        rc = be->load_menu(s, &s->menu, err);
        if (rc != 0) be->close(s);
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void tc_store_close(tc_store *s)
{
    if (s == NULL) return;
    s->be->close(s);
    tc_menu_free(s->menu);
    free(s);
}

void tc_store_set_feed(tc_store *s, tc_store_feed_cb cb, void *ctx)
{
    s->feed = cb;
    s->feed_ctx = ctx;
}

void tc_store_emit_feed(tc_store *s, const tc_cart *cart, uint64_t origin)
{
    if (s->feed != NULL) s->feed(s->feed_ctx, cart, origin);
}

const tc_menu *tc_store_menu(const tc_store *s)
{
    return s->menu;
}

bool tc_store_menu_empty(const tc_store *s)
{
    return tc_menu_store_count(s->menu) == 0;
}

int tc_store_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err)
{
    int rc = s->be->import_menu(s, m, err);
    if (rc != 0) return rc;
    tc_menu *fresh;
    rc = s->be->load_menu(s, &fresh, err);
    if (rc != 0) return rc;
    tc_menu_free(s->menu);
    s->menu = fresh;
    return 0;
}

void tc_store_get(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx)
{
    const tc_table *t = tc_menu_table(s->menu, table_id);
    if (t == NULL) {
        tc_errmsg err;
        tc_errmsg_set(&err, TC_ENOTFOUND, "table %d not found", (int)table_id);
        cb(ctx, TC_ENOTFOUND, NULL, &err);
        return;
    }
    s->be->get(s, t, cb, ctx);
}

void tc_store_mutate(tc_store *s, const tc_op *op, const tc_cart_limits *lim, tc_store_cb cb,
                     void *ctx)
{
    const tc_table *t = tc_menu_table(s->menu, op->table_id);
    if (t == NULL) {
        tc_errmsg err;
        tc_errmsg_set(&err, TC_ENOTFOUND, "table %d not found", (int)op->table_id);
        cb(ctx, TC_ENOTFOUND, NULL, &err);
        return;
    }
    s->be->mutate(s, t, op, lim, cb, ctx);
}

int tc_store_ping(tc_store *s)
{
    return s->be->ping(s);
}
