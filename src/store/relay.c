/* relay.c — what instances tell each other besides carts: which tables
 * this instance follows, short signals about a table, and the menu feed
 * (store.h, "what instances tell each other").
 *
 * Follow counts live in a small chained hash by table id; the backend hears
 * only a table's first follow and last unfollow. Signals go to the backend
 * when it has a signal hook (Redis: over the network, back to every
 * follower); otherwise they stay in this process and are handed to the feed
 * from a uv_async callback, so the feed never runs under tc_store_signal. */
#include "store/backend.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

#define FOLLOW_BUCKETS_MIN 64

typedef struct follow {
    struct follow *chain;
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
    tc_store *store; /* NULL once closing: the async handle outlives it */
    follow **buckets;
    size_t n_buckets, n_follows;
    pending *head, *tail; /* local signals not yet fed */
    uv_async_t wake;
    tc_store_signal_cb signal_cb;
    void *signal_ctx;
    tc_store_menu_cb menu_cb;
    void *menu_ctx;
};

static size_t bucket_of(size_t n, int32_t id)
{
    return ((uint32_t)id * 2654435761u) & (n - 1);
}

static follow **follow_slot(tc_store_relay *r, int32_t id)
{
    follow **pp = &r->buckets[bucket_of(r->n_buckets, id)];
    while (*pp && (*pp)->table_id != id)
        pp = &(*pp)->chain;
    return pp;
}

static void grow(tc_store_relay *r)
{
    size_t nb = r->n_buckets * 2;
    follow **b = tc_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < r->n_buckets; i++)
        for (follow *f = r->buckets[i], *next; f; f = next) {
            next = f->chain;
            size_t k = bucket_of(nb, f->table_id);
            f->chain = b[k];
            b[k] = f;
        }
    free(r->buckets);
    r->buckets = b;
    r->n_buckets = nb;
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
    r->n_buckets = FOLLOW_BUCKETS_MIN;
    r->buckets = tc_xcalloc(r->n_buckets, sizeof *r->buckets);
    uv_async_init(s->loop, &r->wake, on_wake);
    r->wake.data = r;
    uv_unref((uv_handle_t *)&r->wake); /* pending signals do not keep a loop alive */
    s->relay = r;
}

void tc_store_relay_close(tc_store *s)
{
    tc_store_relay *r = s->relay;
    if (r == NULL) return;
    for (size_t i = 0; i < r->n_buckets; i++)
        for (follow *f = r->buckets[i], *next; f; f = next) {
            next = f->chain;
            free(f);
        }
    free(r->buckets);
    r->buckets = NULL;
    r->store = NULL;
    s->relay = NULL;
    uv_close((uv_handle_t *)&r->wake, on_closed);
}

void tc_store_follow(tc_store *s, int32_t table_id)
{
    tc_store_relay *r = s->relay;
    follow **pp = follow_slot(r, table_id);
    if (*pp) {
        (*pp)->count++;
        return;
    }
    if (r->n_follows + 1 > r->n_buckets) {
        grow(r);
        pp = follow_slot(r, table_id);
    }
    follow *f = tc_xcalloc(1, sizeof *f);
    f->table_id = table_id;
    f->count = 1;
    *pp = f;
    r->n_follows++;
    if (s->be->follow && !s->closing) s->be->follow(s, table_id, true);
}

void tc_store_unfollow(tc_store *s, int32_t table_id)
{
    tc_store_relay *r = s->relay;
    follow **pp = follow_slot(r, table_id);
    follow *f = *pp;
    if (f == NULL) return; /* unbalanced: nothing to undo */
    if (--f->count > 0) return;
    *pp = f->chain;
    free(f);
    r->n_follows--;
    if (s->be->follow && !s->closing) s->be->follow(s, table_id, false);
    tc_store_diners_unfollowed(s, table_id);
}

unsigned tc_store_following(const tc_store *s, int32_t table_id)
{
    follow *f = *follow_slot(s->relay, table_id);
    return f ? f->count : 0;
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
    tc_menu_free(s->menu);
    s->menu = m;
    tc_store_relay_menu_changed(s);
}
