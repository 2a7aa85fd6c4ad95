/* hub.h — who listens to which table, and the fan-out of a change to them.
 *
 * A subscriber is a small struct embedded in the connection's protocol state
 * (intrusive list: subscribing allocates nothing per connection). A change is
 * encoded once per wire format — one SSE frame, one WebSocket frame — and
 * every subscriber's write queue takes a reference to the same bytes. */
#ifndef TC_PUSH_HUB_H
#define TC_PUSH_HUB_H

#include "core/buf.h"
#include "push/sse.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct tc_hub tc_hub;
typedef struct tc_sub tc_sub;
typedef struct tc_hub_event tc_hub_event;

typedef enum { TC_SUB_SSE, TC_SUB_WS } tc_sub_kind;

/* One per connection, so it keeps only what the hub needs to find it: what
 * to deliver and whom to skip is asked of the hub's tc_hub_ops. */
struct tc_sub {
    tc_sub *prev, *next; /* the table's list; owned by the hub while subscribed */
    int32_t table_id;
    uint8_t kind;  /* tc_sub_kind */
    uint8_t owner; /* the subscriber's own bits; the hub never touches them */
};

/* What the hub calls back, the same for every subscriber. */
typedef struct {
    void (*deliver)(tc_sub *s, tc_hub_event *ev);
    /* The id of s's connection: a change whose origin it is is not sent to s. */
    uint64_t (*conn_id)(const tc_sub *s);
} tc_hub_ops;

/* One change being fanned out; the frames are built on first use. */
struct tc_hub_event {
    int32_t table_id;
    int64_t version; /* the cart's version, the SSE id */
    tc_view json;    /* the cart DTO, already encoded; borrowed for the publish */
    uint64_t origin;
    int64_t timestamp_ms;
    tc_sse_frame sse; /* event:cart_update, id:version */
    tc_rbuf *ws;      /* {"type":"cart_update",...} text frame */
};

/* ops is static (kept, not copied). */
tc_hub *tc_hub_new(const tc_hub_ops *ops);
/* Every subscriber must have unsubscribed. */
void tc_hub_free(tc_hub *h);

/* Adds s (its table_id and kind set) to its table. */
void tc_hub_subscribe(tc_hub *h, tc_sub *s);
/* Removes s; safe to call during a publish (from deliver) and twice. */
void tc_hub_unsubscribe(tc_hub *h, tc_sub *s);

/* Delivers the new state of table_id's cart (version, its JSON; borrowed for
 * the call) to every subscriber of the table except the one whose conn_id
 * equals origin (0: none). Returns how many were delivered to. */
size_t tc_hub_publish(tc_hub *h, int32_t table_id, int64_t version, tc_view json, uint64_t origin,
                      int64_t now_ms);

/* Calls fn for every subscriber of table_id. fn may unsubscribe s. */
void tc_hub_each_of_table(tc_hub *h, int32_t table_id, void (*fn)(tc_sub *s, void *ctx), void *ctx);
/* True when table_id has a subscriber. */
bool tc_hub_has_table(tc_hub *h, int32_t table_id);

/* Calls fn for every subscriber of `kind` (heartbeats, pings, shutdown). fn
 * may unsubscribe s. */
void tc_hub_foreach(tc_hub *h, tc_sub_kind kind, void (*fn)(tc_sub *s, void *ctx), void *ctx);

/* How many subscribers of `kind` the hub holds now. */
size_t tc_hub_count(const tc_hub *h, tc_sub_kind kind);

/* The shared frames of an event (built once, then cached in ev). Both are
 * borrowed for the deliver call: the hub releases them after the publish,
 * so a subscriber that queues one takes its own reference (tc_rbuf_ref,
 * as tc_conn_write_cart does). */
const tc_sse_frame *tc_hub_event_sse(tc_hub_event *ev);
tc_rbuf *tc_hub_event_ws(tc_hub_event *ev);

#endif
