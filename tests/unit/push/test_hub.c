/* test_hub.c — subscribers per table, fan-out of a change with frames built
 * once and shared, unsubscribing during a publish or a walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/cart.h"
#include "cart/menu.h"
#include "push/hub.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1704067200000LL

/* Store 1 with tables 123 and 124, store 2 with table 200. */
static tc_menu *make_menu(void)
{
    tc_menu *m = tc_menu_new();
    tc_store_info s1 = {1, "Demo Kitchen"}, s2 = {2, "Other"};
    tc_menu_add_store(m, &s1);
    tc_menu_add_store(m, &s2);
    tc_table t1 = {123, "A01", 1}, t2 = {124, "A02", 1}, t3 = {200, "B01", 2};
    tc_menu_add_table(m, &t1);
    tc_menu_add_table(m, &t2);
    tc_menu_add_table(m, &t3);
    tc_cuisine c1 = {1001, 1, "宫保鸡丁", 1, "https://example.com/image.jpg", 3800, true, NULL};
    tc_cuisine c2 = {3001, 2, "Noodles", 1, NULL, 1900, true, NULL};
    tc_menu_add_cuisine(m, &c1);
    tc_menu_add_cuisine(m, &c2);
    tc_menu_freeze(m);
    return m;
}

/* Publishes a cart as the API does: its DTO rendered once, with its table
 * and version. */
static size_t publish_cart(tc_hub *h, const tc_cart *cart, const tc_table *t, uint64_t origin,
                           int64_t now_ms)
{
    tc_buf json = TC_BUF_INIT;
    tc_cart_to_json(cart, t, &json);
    size_t n = tc_hub_publish(h, tc_cart_table_id(cart), tc_cart_version(cart),
                              (tc_view){json.base, json.len}, origin, now_ms);
    tc_buf_free(&json);
    return n;
}

/* A cart of table_id with `qty` of dish `dish` added (version 1). */
static tc_cart *make_cart(const tc_menu *m, int32_t table_id, int32_t dish, int32_t qty)
{
    const tc_cart_limits lim = TC_CART_LIMITS_DEFAULT;
    tc_cart *c = tc_cart_new(tc_menu_table(m, table_id));
    tc_op op = {.kind = TC_OP_ADD,
                .table_id = table_id,
                .cuisine_id = dish,
                .quantity = qty,
                .remark = "少辣",
                .who = {true, 100, "13800138000"},
                .expect_version = -1};
    tc_errmsg err = {0};
    int rc = tc_cart_apply(c, &op, m, &lim, NOW, &err);
    if (rc != 0) fail_msg("tc_cart_apply: %d %s", rc, err.text);
    assert_int_equal(tc_cart_version(c), 1);
    return c;
}

/* A subscriber that records what it got. tc_sub first, so the deliver
 * callback can cast back. */
typedef struct rec rec;
struct rec {
    tc_sub sub;
    uint64_t conn_id; /* its connection: the hub skips changes it made */
    const char *name;
    tc_hub *hub;
    int calls;
    tc_rbuf *ws;  /* a reference taken during deliver */
    tc_rbuf *sse; /* same for the SSE frame's buffer */
    size_t sse_off, sse_len;
    tc_buf json; /* ev->json as seen */
    int64_t ts;
    /* What to do during deliver. */
    rec *unsub_other; /* unsubscribe this one */
    bool unsub_self;
    void (*then)(rec *r); /* called last, if set */
};

/* Delivery order, across subscribers. */
static const char *order[32];
static size_t n_order;

static void deliver(tc_sub *s, tc_hub_event *ev)
{
    rec *r = (rec *)s;
    r->calls++;
    if (n_order < 32) order[n_order++] = r->name;
    tc_buf_reset(&r->json);
    tc_buf_append(&r->json, ev->json.base, ev->json.len);
    r->ts = ev->timestamp_ms;
    const tc_sse_frame *f = tc_hub_event_sse(ev);
    tc_rbuf *w = tc_hub_event_ws(ev);
    assert_ptr_equal(tc_hub_event_sse(ev), f); /* cached in ev */
    assert_ptr_equal(tc_hub_event_ws(ev), w);
    tc_rbuf_unref(r->ws);
    tc_rbuf_unref(r->sse);
    r->ws = tc_rbuf_ref(w);
    r->sse = tc_rbuf_ref(f->buf);
    r->sse_off = f->body_off;
    r->sse_len = f->body_len;
    if (r->unsub_self) tc_hub_unsubscribe(r->hub, &r->sub);
    if (r->unsub_other) tc_hub_unsubscribe(r->hub, &r->unsub_other->sub);
    if (r->then) r->then(r);
}

static uint64_t rec_conn_id(const tc_sub *s)
{
    return ((const rec *)s)->conn_id;
}

static const tc_hub_ops rec_ops = {.deliver = deliver, .conn_id = rec_conn_id};

static void rec_init(rec *r, tc_hub *h, const char *name, int32_t table, tc_sub_kind kind,
                     uint64_t conn_id)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->hub = h;
    r->sub.table_id = table;
    r->sub.kind = (uint8_t)kind;
    r->conn_id = conn_id;
}

static void rec_done(rec *r)
{
    tc_rbuf_unref(r->ws);
    tc_rbuf_unref(r->sse);
    tc_buf_free(&r->json);
    r->ws = r->sse = NULL;
}

static int reset_order(void **state)
{
    (void)state;
    n_order = 0;
    return 0;
}

static void test_subscribe_counts(void **state)
{
    (void)state;
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, b, c, d;
    rec_init(&a, h, "a", 123, TC_SUB_SSE, 1);
    rec_init(&b, h, "b", 123, TC_SUB_WS, 2);
    rec_init(&c, h, "c", 124, TC_SUB_SSE, 3);
    rec_init(&d, h, "d", 200, TC_SUB_WS, 4);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 0);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 0);
    tc_hub_subscribe(h, &a.sub);
    tc_hub_subscribe(h, &b.sub);
    tc_hub_subscribe(h, &c.sub);
    tc_hub_subscribe(h, &d.sub);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 2);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 2);
    tc_hub_unsubscribe(h, &b.sub);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 1);
    tc_hub_unsubscribe(h, &b.sub); /* twice is harmless */
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 1);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 2);
    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_unsubscribe(h, &c.sub);
    tc_hub_unsubscribe(h, &c.sub); /* its table is gone now */
    tc_hub_unsubscribe(h, &d.sub);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 0);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 0);
    /* Re-subscribing after an unsubscribe works. */
    tc_hub_subscribe(h, &a.sub);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 1);
    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_free(h);
    tc_hub_free(NULL);
}

static void test_unsubscribe_never_subscribed(void **state)
{
    (void)state;
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, stranger;
    rec_init(&a, h, "a", 123, TC_SUB_SSE, 1);
    rec_init(&stranger, h, "s", 123, TC_SUB_SSE, 2);
    tc_hub_subscribe(h, &a.sub);
    tc_hub_unsubscribe(h, &stranger.sub); /* same table, not in its list */
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 1);
    rec_init(&stranger, h, "s", 999, TC_SUB_WS, 2);
    tc_hub_unsubscribe(h, &stranger.sub); /* unknown table */
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 0);
    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_free(h);
}

static void test_publish_reaches_table_except_origin(void **state)
{
    (void)state;
    tc_menu *m = make_menu();
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, b, c, other, far;
    rec_init(&a, h, "a", 123, TC_SUB_SSE, 11);
    rec_init(&b, h, "b", 123, TC_SUB_WS, 12);
    rec_init(&c, h, "c", 123, TC_SUB_WS, 13);
    rec_init(&other, h, "other", 124, TC_SUB_SSE, 14);
    rec_init(&far, h, "far", 200, TC_SUB_WS, 15);
    tc_hub_subscribe(h, &a.sub);
    tc_hub_subscribe(h, &b.sub);
    tc_hub_subscribe(h, &c.sub);
    tc_hub_subscribe(h, &other.sub);
    tc_hub_subscribe(h, &far.sub);

    tc_cart *cart = make_cart(m, 123, 1001, 2);
    const tc_table *t = tc_menu_table(m, 123);
    /* b asked for the change: everyone else at table 123 gets it. */
    assert_int_equal(publish_cart(h, cart, t, 12, NOW + 5), 2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(other.calls, 0);
    assert_int_equal(far.calls, 0);
    assert_int_equal(a.ts, NOW + 5);

    /* No origin (an HTTP mutation has no subscriber): all three. */
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 3);
    assert_int_equal(a.calls, 2);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 2);
    /* An origin that is nobody here. */
    assert_int_equal(publish_cart(h, cart, t, 999, NOW), 3);

    /* Another table. */
    tc_cart *cart2 = make_cart(m, 200, 3001, 1);
    assert_int_equal(publish_cart(h, cart2, tc_menu_table(m, 200), 0, NOW), 1);
    assert_int_equal(far.calls, 1);
    assert_int_equal(a.calls, 3);
    /* A table nobody listens to. */
    tc_cart *cart3 = make_cart(m, 124, 1001, 1);
    tc_hub_unsubscribe(h, &other.sub);
    assert_int_equal(publish_cart(h, cart3, tc_menu_table(m, 124), 0, NOW), 0);
    assert_int_equal(other.calls, 0);

    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_unsubscribe(h, &b.sub);
    tc_hub_unsubscribe(h, &c.sub);
    tc_hub_unsubscribe(h, &far.sub);
    rec_done(&a);
    rec_done(&b);
    rec_done(&c);
    rec_done(&other);
    rec_done(&far);
    tc_cart_free(cart);
    tc_cart_free(cart2);
    tc_cart_free(cart3);
    tc_hub_free(h);
    tc_menu_free(m);
}

/* Payload of a server text frame (unmasked, FIN, opcode 1). */
static tc_view ws_payload(const tc_rbuf *f)
{
    const unsigned char *d = (const unsigned char *)f->data;
    assert_true(f->len >= 2);
    assert_int_equal(d[0], 0x81);
    size_t len = d[1], hn = 2;
    assert_true(len < 127);
    if (len == 126) {
        len = (size_t)d[2] << 8 | d[3];
        hn = 4;
    }
    assert_int_equal(f->len, hn + len);
    return (tc_view){f->data + hn, len};
}

static void test_frames_built_once_and_shared(void **state)
{
    (void)state;
    tc_menu *m = make_menu();
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, b, c;
    rec_init(&a, h, "a", 123, TC_SUB_SSE, 1);
    rec_init(&b, h, "b", 123, TC_SUB_WS, 2);
    rec_init(&c, h, "c", 123, TC_SUB_WS, 3);
    tc_hub_subscribe(h, &a.sub);
    tc_hub_subscribe(h, &b.sub);
    tc_hub_subscribe(h, &c.sub);
    tc_cart *cart = make_cart(m, 123, 1001, 2);
    const tc_table *t = tc_menu_table(m, 123);
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 3);

    /* One WS frame and one SSE frame, shared by everyone. */
    assert_non_null(a.ws);
    assert_ptr_equal(a.ws, b.ws);
    assert_ptr_equal(b.ws, c.ws);
    assert_ptr_equal(a.sse, b.sse);
    assert_ptr_equal(b.sse, c.sse);
    /* After the publish only our references are left. */
    assert_int_equal(a.ws->refs, 3);
    assert_int_equal(a.sse->refs, 3);

    /* The event's JSON is the cart DTO. */
    tc_buf want = TC_BUF_INIT;
    tc_cart_to_json(cart, t, &want);
    assert_int_equal(a.json.len, want.len);
    assert_memory_equal(a.json.base, want.base, want.len);
    assert_non_null(strstr(tc_buf_cstr(&want), "\"tableNumber\":\"A01\""));
    assert_non_null(strstr(want.base, "\"totalAmount\":76.00"));

    /* SSE: cart_update with the version as id, the JSON on one data line. */
    tc_buf sse = TC_BUF_INIT;
    tc_buf_appendf(&sse, "event:cart_update\nid:1\ndata:%s\n\n", want.base);
    assert_int_equal(a.sse_len, sse.len);
    assert_memory_equal(a.sse->data + a.sse_off, sse.base, sse.len);

    /* WS: the envelope with 购物车更新 and the publish time. */
    tc_buf msg = TC_BUF_INIT;
    tc_buf_appendf(&msg,
                   "{\"type\":\"cart_update\",\"message\":\"购物车更新\",\"data\":%s,"
                   "\"timestamp\":%lld}",
                   want.base, (long long)NOW);
    tc_view p = ws_payload(a.ws);
    assert_int_equal(p.len, msg.len);
    assert_memory_equal(p.base, msg.base, msg.len);

    /* A second publish builds new frames. */
    tc_rbuf *old_ws = tc_rbuf_ref(a.ws);
    assert_int_equal(publish_cart(h, cart, t, 0, NOW + 1), 3);
    assert_ptr_not_equal(a.ws, old_ws);
    assert_ptr_equal(a.ws, c.ws);
    tc_rbuf_unref(old_ws);

    tc_buf_free(&want);
    tc_buf_free(&sse);
    tc_buf_free(&msg);
    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_unsubscribe(h, &b.sub);
    tc_hub_unsubscribe(h, &c.sub);
    rec_done(&a);
    rec_done(&b);
    rec_done(&c);
    tc_cart_free(cart);
    tc_hub_free(h);
    tc_menu_free(m);
}

static void test_frames_not_built_when_unused(void **state)
{
    (void)state;
    /* Built on first use: an event's frames are created lazily. */
    tc_menu *m = make_menu();
    tc_cart *cart = make_cart(m, 123, 1001, 1);
    tc_buf json = TC_BUF_INIT;
    tc_cart_to_json(cart, tc_menu_table(m, 123), &json);
    tc_hub_event ev = {.table_id = 123,
                       .version = tc_cart_version(cart),
                       .json = {json.base, json.len},
                       .timestamp_ms = 1};
    assert_null(ev.sse.buf);
    assert_null(ev.ws);
    const tc_sse_frame *f = tc_hub_event_sse(&ev);
    assert_non_null(f->buf);
    assert_null(ev.ws);
    tc_rbuf *w = tc_hub_event_ws(&ev);
    assert_ptr_equal(ev.ws, w);
    assert_int_equal(w->refs, 1);
    tc_buf_free(&json);
    tc_sse_frame_release(&ev.sse);
    tc_rbuf_unref(ev.ws);
    tc_cart_free(cart);
    tc_menu_free(m);
}

/* Delivery order is list order; find who comes after whom by publishing once. */
static void test_unsubscribe_self_and_next_in_deliver(void **state)
{
    (void)state;
    tc_menu *m = make_menu();
    tc_hub *h = tc_hub_new(&rec_ops);
    rec r[4];
    const char *names[] = {"r0", "r1", "r2", "r3"};
    for (int i = 0; i < 4; i++) {
        rec_init(&r[i], h, names[i], 123, i % 2 ? TC_SUB_WS : TC_SUB_SSE, (uint64_t)i + 1);
        tc_hub_subscribe(h, &r[i].sub);
    }
    tc_cart *cart = make_cart(m, 123, 1001, 1);
    const tc_table *t = tc_menu_table(m, 123);
    n_order = 0;
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 4);
    assert_int_equal(n_order, 4);
    /* Map delivery position -> rec. */
    rec *pos[4];
    for (size_t k = 0; k < 4; k++)
        for (int i = 0; i < 4; i++)
            if (strcmp(order[k], names[i]) == 0) pos[k] = &r[i];

    /* The first unsubscribes itself, the second unsubscribes the third. */
    pos[0]->unsub_self = true;
    pos[1]->unsub_other = pos[2];
    for (int i = 0; i < 4; i++)
        r[i].calls = 0;
    n_order = 0;
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 3);
    assert_int_equal(pos[0]->calls, 1);
    assert_int_equal(pos[1]->calls, 1);
    assert_int_equal(pos[2]->calls, 0); /* removed before its turn */
    assert_int_equal(pos[3]->calls, 1);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE) + tc_hub_count(h, TC_SUB_WS), 2);

    /* Only the two left get the next one. */
    pos[1]->unsub_other = NULL;
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 2);
    assert_int_equal(pos[0]->calls, 1);
    assert_int_equal(pos[2]->calls, 0);

    /* Everyone leaves during one publish: the table's node goes away under
     * the walk. */
    pos[1]->unsub_self = true;
    pos[3]->unsub_self = true;
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 2);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE) + tc_hub_count(h, TC_SUB_WS), 0);
    assert_int_equal(publish_cart(h, cart, t, 0, NOW), 0);

    for (int i = 0; i < 4; i++)
        rec_done(&r[i]);
    tc_cart_free(cart);
    tc_hub_free(h);
    tc_menu_free(m);
}

static void test_last_unsubscribes_next_which_is_the_last(void **state)
{
    (void)state;
    /* Two subscribers; the first removes the second (the last of the list)
     * and then itself. */
    tc_menu *m = make_menu();
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, b;
    rec_init(&a, h, "a", 123, TC_SUB_WS, 1);
    rec_init(&b, h, "b", 123, TC_SUB_WS, 2);
    tc_hub_subscribe(h, &a.sub);
    tc_hub_subscribe(h, &b.sub); /* b is at the head */
    b.unsub_other = &a;
    b.unsub_self = true;
    tc_cart *cart = make_cart(m, 123, 1001, 1);
    assert_int_equal(publish_cart(h, cart, tc_menu_table(m, 123), 0, NOW), 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.calls, 0);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 0);
    rec_done(&a);
    rec_done(&b);
    tc_cart_free(cart);
    tc_hub_free(h);
    tc_menu_free(m);
}

/* A deliver that publishes another table's change (a WS command answered
 * inside a push): the outer walk must go on where it was. */
static tc_cart *nested_cart;
static const tc_table *nested_table;
static void publish_nested(rec *r)
{
    if (r->calls == 1) publish_cart(r->hub, nested_cart, nested_table, 0, NOW);
}

static void test_nested_publish(void **state)
{
    (void)state;
    tc_menu *m = make_menu();
    tc_hub *h = tc_hub_new(&rec_ops);
    rec a, b, c, x, y;
    rec_init(&a, h, "a", 123, TC_SUB_SSE, 1);
    rec_init(&b, h, "b", 123, TC_SUB_SSE, 2);
    rec_init(&c, h, "c", 123, TC_SUB_SSE, 3);
    rec_init(&x, h, "x", 200, TC_SUB_WS, 4);
    rec_init(&y, h, "y", 200, TC_SUB_WS, 5);
    b.then = publish_nested;
    x.unsub_self = true; /* unsubscribes during the inner walk */
    tc_hub_subscribe(h, &a.sub);
    tc_hub_subscribe(h, &b.sub);
    tc_hub_subscribe(h, &c.sub);
    tc_hub_subscribe(h, &x.sub);
    tc_hub_subscribe(h, &y.sub);
    tc_cart *cart = make_cart(m, 123, 1001, 1);
    nested_cart = make_cart(m, 200, 3001, 1);
    nested_table = tc_menu_table(m, 200);
    assert_int_equal(publish_cart(h, cart, tc_menu_table(m, 123), 0, NOW), 3);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(x.calls, 1);
    assert_int_equal(y.calls, 1);
    tc_hub_unsubscribe(h, &a.sub);
    tc_hub_unsubscribe(h, &b.sub);
    tc_hub_unsubscribe(h, &c.sub);
    tc_hub_unsubscribe(h, &y.sub);
    rec *all[] = {&a, &b, &c, &x, &y};
    for (size_t i = 0; i < 5; i++)
        rec_done(all[i]);
    tc_cart_free(cart);
    tc_cart_free(nested_cart);
    tc_hub_free(h);
    tc_menu_free(m);
}

typedef struct {
    int seen;
    tc_hub *hub;
    bool unsubscribe;
    int32_t tables_seen[8];
} walk_ctx;

static void walk(tc_sub *s, void *p)
{
    walk_ctx *w = p;
    if (w->seen < 8) w->tables_seen[w->seen] = s->table_id;
    w->seen++;
    if (w->unsubscribe) tc_hub_unsubscribe(w->hub, s);
}

static void test_foreach_by_kind(void **state)
{
    (void)state;
    tc_hub *h = tc_hub_new(&rec_ops);
    rec r[6];
    int32_t tables[] = {123, 123, 124, 200, 200, 123};
    tc_sub_kind kinds[] = {TC_SUB_SSE, TC_SUB_WS, TC_SUB_SSE, TC_SUB_SSE, TC_SUB_WS, TC_SUB_SSE};
    for (int i = 0; i < 6; i++) {
        rec_init(&r[i], h, "r", tables[i], kinds[i], (uint64_t)i + 1);
        tc_hub_subscribe(h, &r[i].sub);
    }
    walk_ctx w = {.hub = h};
    tc_hub_foreach(h, TC_SUB_SSE, walk, &w);
    assert_int_equal(w.seen, 4);
    w = (walk_ctx){.hub = h};
    tc_hub_foreach(h, TC_SUB_WS, walk, &w);
    assert_int_equal(w.seen, 2);

    /* fn may unsubscribe s: every SSE subscriber leaves in one walk
     * (including the last ones of tables 124 and 200's lists). */
    w = (walk_ctx){.hub = h, .unsubscribe = true};
    tc_hub_foreach(h, TC_SUB_SSE, walk, &w);
    assert_int_equal(w.seen, 4);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE), 0);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 2);
    w = (walk_ctx){.hub = h};
    tc_hub_foreach(h, TC_SUB_SSE, walk, &w);
    assert_int_equal(w.seen, 0);
    /* And the WS ones, emptying every table. */
    w = (walk_ctx){.hub = h, .unsubscribe = true};
    tc_hub_foreach(h, TC_SUB_WS, walk, &w);
    assert_int_equal(w.seen, 2);
    assert_int_equal(tc_hub_count(h, TC_SUB_WS), 0);
    tc_hub_free(h);
}

static void test_many_tables(void **state)
{
    (void)state;
    /* More tables than the initial buckets: the hub grows and still finds
     * every one. */
    enum { N = 1000 };
    tc_menu *m = tc_menu_new();
    tc_store_info s = {1, "Big"};
    tc_menu_add_store(m, &s);
    char num[16];
    for (int32_t i = 0; i < N; i++) {
        snprintf(num, sizeof num, "T%d", (int)i);
        tc_table t = {i + 1, num, 1};
        tc_menu_add_table(m, &t);
    }
    tc_cuisine c = {1001, 1, "Rice", 1, NULL, 100, true, NULL};
    tc_menu_add_cuisine(m, &c);
    tc_menu_freeze(m);

    tc_hub *h = tc_hub_new(&rec_ops);
    rec *r = calloc(N, sizeof *r);
    for (int32_t i = 0; i < N; i++) {
        rec_init(&r[i], h, "r", i + 1, i % 3 ? TC_SUB_SSE : TC_SUB_WS, (uint64_t)i + 1);
        tc_hub_subscribe(h, &r[i].sub);
    }
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE) + tc_hub_count(h, TC_SUB_WS), N);
    int32_t probe[] = {1, 2, 257, 500, N};
    for (size_t k = 0; k < sizeof probe / sizeof probe[0]; k++) {
        tc_cart *cart = make_cart(m, probe[k], 1001, 1);
        assert_int_equal(publish_cart(h, cart, tc_menu_table(m, probe[k]), 0, NOW), 1);
        assert_int_equal(r[probe[k] - 1].calls, 1);
        tc_cart_free(cart);
    }
    walk_ctx w = {.hub = h, .unsubscribe = true};
    tc_hub_foreach(h, TC_SUB_SSE, walk, &w);
    tc_hub_foreach(h, TC_SUB_WS, walk, &w);
    assert_int_equal(w.seen, N);
    assert_int_equal(tc_hub_count(h, TC_SUB_SSE) + tc_hub_count(h, TC_SUB_WS), 0);
    for (int i = 0; i < N; i++)
        rec_done(&r[i]);
    free(r);
    tc_hub_free(h);
    tc_menu_free(m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, reset_order)
    const struct CMUnitTest tests[] = {
        T(test_subscribe_counts),
        T(test_unsubscribe_never_subscribed),
        T(test_publish_reaches_table_except_origin),
        T(test_frames_built_once_and_shared),
        T(test_frames_not_built_when_unused),
        T(test_unsubscribe_self_and_next_in_deliver),
        T(test_last_unsubscribes_next_which_is_the_last),
        T(test_nested_publish),
        T(test_foreach_by_kind),
        T(test_many_tables),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
