/* relay.c — what instances tell each other besides carts: which tables
 * this instance follows, short signals about a table, and the menu feed
 * (store.h, "what instances tell each other").
 *
 * Follow counts live in a core/idmap by table id; the backend hears
 * only a table's first follow and last unfollow. Signals go to the backend
 * when it has a signal hook (Redis: over the network, back to every
 * follower); otherwise they stay in this process and are handed to the feed
 * from a uv_async callback, so the feed never runs under tc_store_signal. */
#include "store/backend.h"

#include "core/idmap.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

typedef struct follow {
    tc_idmap_node node; /* in follows, by table id */
    int32_t table_id;
    unsigned count;
} follow;

typedef struct pending {
    struct pending *next;
    int32_t table_id;
    size_t len;
    char msg[]; /* len bytes and a NUL */
} pending;

struct tc_store_relay {
    tc_store *store;      /* NULL once closing: the async handle outlives it */
    tc_idmap follows;     /* follow by table id */
    pending *head, *tail; /* local signals not yet fed */
    uv_async_t wake;
    tc_store_signal_cb signal_cb;
    void *signal_ctx;
    tc_store_menu_cb menu_cb;
    void *menu_ctx;
};

static follow *follow_of(const tc_store_relay *r, int32_t id)
{
    tc_idmap_node *n = tc_idmap_find(&r->follows, id);
    return n ? TC_IDMAP_ENTRY(n, follow, node) : NULL;
}

static void pending_free(pending *p)
{
    while (p) {
        pending *next = p->next;
        free(p);
        p = next;
    }
}

static void on_wake(uv_async_t *h)
{
    tc_store_relay *r = h->data;
    pending *p = r->head;
    r->head = r->tail = NULL;
    for (pending *q = p; q && r->store; q = q->next)
        if (r->signal_cb) r->signal_cb(r->signal_ctx, q->table_id, q->msg, q->len);
    pending_free(p);
}

static void on_closed(uv_handle_t *h)
{
    tc_store_relay *r = h->data;
    pending_free(r->head);
    free(r);
}

void tc_store_relay_open(tc_store *s)
{
    tc_store_relay *r = tc_xcalloc(1, sizeof *r);
    r->store = s;
    tc_idmap_init(&r->follows);
    uv_async_init(s->loop, &r->wake, on_wake);
    r->wake.data = r;
    uv_unref((uv_handle_t *)&r->wake); /* pending signals do not keep a loop alive */
    s->relay = r;
}

void tc_store_relay_close(tc_store *s)
{
    tc_store_relay *r = s->relay;
    if (r == NULL) return;
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&r->follows, &pos, NULL), *nx; n; n = nx) {
        nx = tc_idmap_next(&r->follows, &pos, n);
        free(TC_IDMAP_ENTRY(n, follow, node));
    }
    tc_idmap_free(&r->follows);
    r->store = NULL;
    s->relay = NULL;
    uv_close((uv_handle_t *)&r->wake, on_closed);
}

void tc_store_follow(tc_store *s, int32_t table_id)
{
    tc_store_relay *r = s->relay;
    follow *f = follow_of(r, table_id);
    if (f) {
        f->count++;
        return;
    }
    f = tc_xcalloc(1, sizeof *f);
    f->table_id = table_id;
    f->count = 1;
    tc_idmap_add(&r->follows, &f->node, table_id);
    if (s->be->follow && !s->closing) s->be->follow(s, table_id, true);
    tc_store_diners_followed(s, table_id);
}

void tc_store_unfollow(tc_store *s, int32_t table_id)
{
    tc_store_relay *r = s->relay;
    follow *f = follow_of(r, table_id);
    if (f == NULL) return; /* unbalanced: nothing to undo */
    if (--f->count > 0) return;
    tc_idmap_remove(&r->follows, &f->node);
    free(f);
    if (s->be->follow && !s->closing) s->be->follow(s, table_id, false);
    tc_store_diners_unfollowed(s, table_id);
}

unsigned tc_store_following(const tc_store *s, int32_t table_id)
{
    follow *f = follow_of(s->relay, table_id);
    return f ? f->count : 0;
}

bool tc_store_shared(const tc_store *s)
{
    return s->be->signal != NULL;
}

void tc_store_set_signal_feed(tc_store *s, tc_store_signal_cb cb, void *ctx)
{
    s->relay->signal_cb = cb;
    s->relay->signal_ctx = ctx;
}

void tc_store_signal(tc_store *s, int32_t table_id, const char *msg, size_t len)
{
    if (s->closing) return;
    if (s->be->signal) {
        s->be->signal(s, table_id, msg, len);
        return;
    }
    tc_store_relay *r = s->relay;
    pending *p = tc_xmalloc(sizeof *p + len + 1);
    p->next = NULL;
    p->table_id = table_id;
    p->len = len;
    memcpy(p->msg, msg, len);
    p->msg[len] = '\0';
    if (r->tail)
        r->tail->next = p;
    else
        r->head = p;
    r->tail = p;
    uv_async_send(&r->wake);
}

void tc_store_signalled(tc_store *s, int32_t table_id, const char *msg, size_t len)
{
    tc_store_relay *r = s->relay;
    if (!s->closing && r->signal_cb) r->signal_cb(r->signal_ctx, table_id, msg, len);
}

void tc_store_set_menu_feed(tc_store *s, tc_store_menu_cb cb, void *ctx)
{
    s->relay->menu_cb = cb;
    s->relay->menu_ctx = ctx;
}

void tc_store_relay_menu_changed(tc_store *s)
{
    tc_store_relay *r = s->relay;
    if (!s->closing && r->menu_cb) r->menu_cb(r->menu_ctx);
}

void tc_store_menu_replace(tc_store *s, tc_menu *m)
{
    tc_menu *old = s->menu;
    s->menu = m;
    tc_store_menu_reencode(s, old);
    tc_menu_free(old);
    tc_store_relay_menu_changed(s);
}
