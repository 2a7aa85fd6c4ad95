#include "push/hub.h"

#include "core/json.h"
#include "core/mem.h"
#include "core/wire.h"
#include "push/ws.h"

#include <stdlib.h>

/* Tables are few (hundreds per restaurant, thousands per deployment): a
 * chained hash of table id → list head. An empty list's node is freed. */
typedef struct table_node {
    struct table_node *chain;
    int32_t table_id;
    tc_sub *head;
} table_node;

struct tc_hub {
    const tc_hub_ops *ops;
    table_node **buckets;
    size_t n_buckets, n_tables;
    size_t counts[2];
    /* A publish in progress walks a list; an unsubscribe of the walker's next
     * subscriber moves this cursor instead of leaving it dangling. */
    tc_sub *cursor;
};

tc_hub *tc_hub_new(const tc_hub_ops *ops)
{
    tc_hub *h = tc_xcalloc(1, sizeof *h);
    h->ops = ops;
    h->n_buckets = 256;
    h->buckets = tc_xcalloc(h->n_buckets, sizeof *h->buckets);
    return h;
}

void tc_hub_free(tc_hub *h)
{
    if (!h) return;
    for (size_t i = 0; i < h->n_buckets; i++) {
        table_node *n = h->buckets[i];
        while (n) {
            table_node *next = n->chain;
            free(n);
            n = next;
        }
    }
    free(h->buckets);
    free(h);
}

static size_t bucket_of(const tc_hub *h, int32_t id)
{
    return ((uint32_t)id * 2654435761u) & (h->n_buckets - 1);
}

static table_node **find(tc_hub *h, int32_t id)
{
    table_node **pp = &h->buckets[bucket_of(h, id)];
    while (*pp && (*pp)->table_id != id)
        pp = &(*pp)->chain;
    return pp;
}

static void grow(tc_hub *h)
{
    size_t old = h->n_buckets;
    table_node **ob = h->buckets;
    h->n_buckets *= 2;
    h->buckets = tc_xcalloc(h->n_buckets, sizeof *h->buckets);
    for (size_t i = 0; i < old; i++) {
        table_node *n = ob[i];
        while (n) {
            table_node *next = n->chain;
            size_t b = bucket_of(h, n->table_id);
            n->chain = h->buckets[b];
            h->buckets[b] = n;
            n = next;
        }
    }
    free(ob);
}

void tc_hub_subscribe(tc_hub *h, tc_sub *s)
{
    table_node **pp = find(h, s->table_id);
    if (*pp == NULL) {
        if (h->n_tables + 1 > h->n_buckets) {
            grow(h);
            pp = find(h, s->table_id);
        }
        *pp = tc_xcalloc(1, sizeof **pp);
        (*pp)->table_id = s->table_id;
        h->n_tables++;
    }
    table_node *n = *pp;
    s->prev = NULL;
    s->next = n->head;
    if (n->head) n->head->prev = s;
    n->head = s;
    h->counts[s->kind]++;
}

void tc_hub_unsubscribe(tc_hub *h, tc_sub *s)
{
    table_node **pp = find(h, s->table_id);
    table_node *n = *pp;
    if (n == NULL) return;
    if (s->prev == NULL && n->head != s) return; /* not subscribed */
    if (h->cursor == s) h->cursor = s->next;
    if (s->prev)
        s->prev->next = s->next;
    else
        n->head = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = NULL;
    h->counts[s->kind]--;
    if (n->head == NULL) {
        *pp = n->chain;
        free(n);
        h->n_tables--;
    }
}

const tc_sse_frame *tc_hub_event_sse(tc_hub_event *ev)
{
    if (ev->sse.buf == NULL) {
        char id[24];
        size_t n = tc_json_int_text(ev->version, id);
        id[n] = '\0';
        ev->sse = tc_sse_frame_new(TC_WIRE_CART_UPDATE, id, ev->json.base, ev->json.len, -1);
    }
    return &ev->sse;
}

tc_rbuf *tc_hub_event_ws(tc_hub_event *ev)
{
    if (ev->ws == NULL) {
        tc_buf msg = TC_BUF_INIT;
        tc_buf_reserve(&msg, ev->json.len + 128); /* the envelope around it */
        tc_ws_message(&msg, TC_WIRE_CART_UPDATE, TC_WIRE_CART_UPDATE_MESSAGE, ev->json.base,
                      ev->json.len, ev->timestamp_ms);
        ev->ws = tc_ws_text_frame(msg.base, msg.len);
        tc_buf_free(&msg);
    }
    return ev->ws;
}

size_t tc_hub_publish(tc_hub *h, int32_t table_id, int64_t version, tc_view json, uint64_t origin,
                      int64_t now_ms)
{
    table_node *n = *find(h, table_id);
    if (n == NULL) return 0;
    tc_hub_event ev = {.table_id = table_id,
                       .version = version,
                       .json = json,
                       .origin = origin,
                       .timestamp_ms = now_ms};
    size_t delivered = 0;
    tc_sub *saved = h->cursor;
    for (tc_sub *s = n->head; s; s = h->cursor) {
        h->cursor = s->next;
        if (origin != 0 && h->ops->conn_id(s) == origin) continue;
        h->ops->deliver(s, &ev);
        delivered++;
    }
    h->cursor = saved;
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
    return delivered;
}

void tc_hub_each_of_table(tc_hub *h, int32_t table_id, void (*fn)(tc_sub *s, void *ctx), void *ctx)
{
    table_node *n = *find(h, table_id);
    if (n == NULL) return;
    tc_sub *saved = h->cursor;
    for (tc_sub *s = n->head; s; s = h->cursor) {
        h->cursor = s->next;
        fn(s, ctx);
    }
    h->cursor = saved;
}

bool tc_hub_has_table(tc_hub *h, int32_t table_id)
{
    return *find(h, table_id) != NULL;
}

void tc_hub_foreach(tc_hub *h, tc_sub_kind kind, void (*fn)(tc_sub *s, void *ctx), void *ctx)
{
    tc_sub *saved = h->cursor;
    for (size_t i = 0; i < h->n_buckets; i++) {
        table_node *n = h->buckets[i], *next_node;
        for (; n; n = next_node) {
            next_node = n->chain;
            /* fn may empty this table, freeing its node: the walk stops at the
             * list's end, and next_node was taken before. */
            for (tc_sub *s = n->head; s; s = h->cursor) {
                h->cursor = s->next;
                if (s->kind == kind) fn(s, ctx);
            }
        }
    }
    h->cursor = saved;
}

size_t tc_hub_count(const tc_hub *h, tc_sub_kind kind)
{
    return h->counts[kind];
}
