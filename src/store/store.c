/* store.c — the store: the backend by the URL's scheme, the served menu, the
 * change feed, and the change pipeline (store.h says what it promises).
 *
 * Longer than 500 lines on purpose: the pipeline is one state machine over
 * one table state (queue, load, apply, save, lost race, offered cart,
 * remembered answers), and its parts only make sense read together.
 *
 * Per table, requests wait in one FIFO. A table is COLD until its cart was
 * loaded (one load job), READY while nothing is being saved, SAVING while a
 * batch of its changes is on its way to disk. In READY, gets at the head of
 * the queue are answered from memory; then up to BATCH_MAX changes are
 * applied in order to a copy of the cart, each new version encoded once, and
 * the last one handed to the backend as one save. Everything in the batch is
 * answered, and every new version fed, when the save is durable — nothing a
 * crash could take back is ever shown; a failed save answers TC_ESTORE to
 * the whole batch and the cart in memory stays as it was (where others
 * write too, the save may have landed: the cart is read again). One save per
 * table at a time keeps versions strictly increasing without gaps; saves of
 * many tables share a transaction in the backend (group commit).
 *
 * Where other processes write too (Redis), a save is a compare-and-set
 * against the version the batch was applied to. A lost race (TC_ECONFLICT)
 * drops the cart in memory, reloads it and applies the batch again, at most
 * MAX_CONFLICTS times per change. An answer the cart in memory decides
 * without changing it (unchanged, or refused because of its content) waits
 * for a save that writes nothing and only compares the version, since that
 * cart may be behind the stored one. Carts the others wrote are offered by
 * the backend (tc_store_offer). Per table the feed sees every version at most
 * once and in increasing order: a version not above the highest one fed
 * (seen) is never fed; and none is skipped while the backend hears every
 * change (feed order, t->late: a cart read after a lost race waits for the
 * messages of the versions below it). */
#include "store/backend.h"

#include "core/clock.h"
#include "core/idmap.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"

#include <stdlib.h>
#include <string.h>

/* The most changes of one table applied and saved together: bounds how long
 * a get queued behind a burst of changes waits. */
#define BATCH_MAX 64
/* Lost compare-and-set races of one change before it gives up with "store
 * busy": each means another instance changed the table in between, so 16 in
 * a row means it changes far faster than people order, and the caller's
 * retry is better than holding the table's queue longer. */
#define MAX_CONFLICTS 16

static const tc_store_backend *const backends[] = {
    &tc_store_backend_sqlite,
    &tc_store_backend_redis,
};

/* ===== requests and tables ===================================================== */

typedef struct request {
    struct request *next;
    bool is_get;
    tc_op op; /* strings point into remark, phone and the idem copies */
    char *remark, *phone, *idem_key, *idem_caller;
    tc_cart_limits lim;
    tc_store_cb cb;
    void *ctx;
    int conflicts; /* saves of its batch that lost the race */
    /* once applied in a batch */
    int status;
    tc_errmsg err;
    tc_cart *result; /* the cart after this change, if it changed it */
    tc_rbuf *json;   /* its DTO; or a replayed answer's */
    int64_t version; /* a replayed answer's version */
} request;

typedef enum { T_COLD, T_LOADING, T_READY, T_SAVING } table_phase;

/* A version of a table known here but not fed yet, because a version below
 * it was not fed either (a gap): the stored cart read after a lost race
 * (origin 0), or this instance's own change written on top of it. */
typedef struct late_feed {
    struct late_feed *next;
    tc_cart *cart; /* owned */
    tc_rbuf *json;
    int64_t version, at;
    uint64_t origin;
} late_feed;

typedef struct table_state {
    tc_idmap_node node; /* in the pipeline's index, by table id */
    int32_t table_id;
    table_phase phase;
    bool pumping;  /* pump() is on the stack for this table */
    bool fresh;    /* cart was just read or saved: usable while not current */
    tc_cart *cart; /* committed; NULL until loaded (and in T_COLD) */
    tc_rbuf *json; /* its DTO */
    request *head, *tail;
    request *batch;          /* being saved, in order */
    tc_cart *work;           /* the cart after the batch */
    tc_store_idem_rec *idem; /* the batch's answers to remember */
    /* offered while loading or saving: replaces cart when that ends, if
     * still the newest */
    tc_cart *newer;
    tc_rbuf *newer_json;
    /* offered as JSON while idle, newer than cart (then NULL): parsed only
     * when a request needs it, so a table changed elsewhere again and again
     * costs no parse here; lazy_pack, when the backend had it, is the same
     * cart packed (tc_cart_pack), read instead of the JSON */
    tc_rbuf *lazy;
    char *lazy_pack;
    size_t lazy_pack_len;
    int64_t seen; /* the highest version fed; -1: none */
    /* that version's updatedAt (-1: null), TC_STORE_AT_UNKNOWN when not known: two
     * carts of one version with different updatedAt are two writes, the
     * first lost by the store (rewritten) */
    int64_t seen_at;
    /* the menu renamed or moved the table while a batch, encoded before,
     * was being saved: the cart it leaves is encoded again */
    bool renamed;
    /* versions above seen + 1 known here but not fed yet, in increasing
     * order: the messages of the versions between are on their way (feed
     * order, below) */
    late_feed *late;
} table_state;

struct tc_store_pipeline {
    tc_idmap tables; /* table_state by table id */
    /* The changes (not gets) in the tables' queues, waiting for a read or a
     * save of their table on its way: up on enqueue and when a lost race
     * puts a batch back, down when a batch takes them or a failed read
     * answers them (tc_store_queued_changes). */
    size_t queued;
};

static table_state *table_get(tc_store_pipeline *p, int32_t id)
{
    tc_idmap_node *n = tc_idmap_find(&p->tables, id);
    if (n) return TC_IDMAP_ENTRY(n, table_state, node);
    table_state *t = tc_xcalloc(1, sizeof *t);
    t->table_id = id;
    t->seen = -1;
    t->seen_at = TC_STORE_AT_UNKNOWN;
    tc_idmap_add(&p->tables, &t->node, id);
    return t;
}

/* A change left its table's queue. The count never goes below 0: a change
 * leaving that did not enter is a bug, logged (tests/unit/store/test_store.c
 * checks the count). */
static void unqueued(tc_store_pipeline *p)
{
    if (p->queued == 0) {
        tc_log_error("store: a change left a queue it was not counted in");
        return;
    }
    p->queued--;
}

static void request_free(request *r)
{
    free(r->idem_key);
    free(r->idem_caller);
    free(r->remark);
    free(r->phone);
    tc_cart_free(r->result);
    tc_rbuf_unref(r->json);
    free(r);
}

/* Tells the callback of a request the store still holds as it closes (or
 * one made after it began to) that no answer comes: TC_ECLOSED, so that the
 * caller frees what it holds for the answer. */
static void tell_closed(tc_store_cb cb, void *ctx)
{
    tc_errmsg err;
    tc_errmsg_set(&err, TC_ECLOSED, "store: closed before answering");
    cb(ctx, TC_ECLOSED, NULL, &err);
}

/* Calls r's callback; r stays as it is. A TC_STORE_REPLAYED answer is r's
 * remembered JSON and version. While the store closes, the answer is
 * TC_ECLOSED whatever it would have been. */
static void reply(tc_store *s, const request *r, int status, const tc_cart *cart, tc_rbuf *json,
                  const tc_errmsg *err)
{
    if (s->closing) {
        tell_closed(r->cb, r->ctx);
        return;
    }
    if (status == TC_STORE_REPLAYED) {
        tc_store_cart c = {NULL, r->json, r->version, r->op.table_id, false};
        r->cb(r->ctx, status, &c, NULL);
        return;
    }
    tc_store_cart c = {cart, json, cart ? tc_cart_version(cart) : -1, r->op.table_id, false};
    r->cb(r->ctx, status, cart ? &c : NULL, err);
}

/* Calls r's callback (TC_ECLOSED while the store closes) and frees r. */
static void answer(tc_store *s, request *r, int status, const tc_cart *cart, tc_rbuf *json,
                   const tc_errmsg *err)
{
    reply(s, r, status, cart, json, err);
    request_free(r);
}

/* The answer to a change whose key was answered before. */
static void answer_replay(tc_store *s, request *r)
{
    answer(s, r, TC_STORE_REPLAYED, NULL, NULL, NULL);
}

static void idem_recs_free(tc_store_idem_rec *rec)
{
    for (tc_store_idem_rec *next; rec; rec = next) {
        next = rec->next;
        free(rec->key);
        free(rec->caller);
        tc_rbuf_unref(rec->json);
        free(rec);
    }
}

/* The answers the batch remembered were never given: forget them. */
static void idem_forget_batch(tc_store *s, table_state *t)
{
    for (tc_store_idem_rec *rec = t->idem; rec; rec = rec->next)
        if (!rec->probe) tc_idem_forget(s->idem, tc_view_of(rec->key));
    idem_recs_free(t->idem);
    t->idem = NULL;
}

static void answer_failed(tc_store *s, request *r, const tc_errmsg *err)
{
    answer(s, r, TC_ESTORE, NULL, NULL, err);
}

static void free_all(request *r)
{
    for (request *next; r; r = next) {
        next = r->next;
        request_free(r);
    }
}

/* Hands version v (its DTO json; cart, when parsed; at, its updatedAt) to
 * the feed when it is above every one fed for t. */
static void feed_now(tc_store *s, table_state *t, const tc_cart *cart, tc_rbuf *json, int64_t v,
                     int64_t at, uint64_t origin)
{
    if (v <= t->seen) return;
    t->seen = v;
    t->seen_at = at;
    if (s->feed && !s->closing) {
        tc_store_cart c = {cart, json, v, t->table_id, false};
        s->feed(s->feed_ctx, &c, origin);
    }
}

/* Feed order. Versions of a table go up by one per change, and the feed
 * must see them all: where others write too, the cart read after a lost
 * race (on the command connection) may be ahead of the messages of the
 * versions between (on the subscriber connection). While the table is
 * current those messages are on their way, so that cart and the changes
 * this instance writes on top of it wait in t->late, and each is fed as
 * soon as the version below it was. A message of a later version (another
 * instance's or this one's: pub/sub keeps the order of the writes) proves
 * the versions below it that did not come never will (a writer that did not
 * publish): those waiting below it are fed then, gap or not; and so is all
 * of t->late when the table's changes may go unheard (tc_store_unheard, a
 * read by the backend, the table not current). */

/* Feeds t's waiting versions that may go now: each whose version below was
 * fed, and, gap or not, each below `below`. */
/* Takes t's first waiting version off the list and frees it. */
static void late_drop_first(table_state *t)
{
    late_feed *l = t->late;
    t->late = l->next;
    tc_cart_free(l->cart);
    tc_rbuf_unref(l->json);
    free(l);
}

static void feed_late(tc_store *s, table_state *t, int64_t below)
{
    while (t->late && (t->late->version <= t->seen + 1 || t->late->version < below)) {
        late_feed *l = t->late;
        feed_now(s, t, l->cart, l->json, l->version, l->at, l->origin);
        late_drop_first(t);
    }
}

/* The highest version waiting (t->late is not empty). */
static int64_t late_last(const table_state *t)
{
    const late_feed *l = t->late;
    while (l->next)
        l = l->next;
    return l->version;
}

static void late_free(table_state *t)
{
    while (t->late)
        late_drop_first(t);
}

/* Puts cart (copied) in t's waiting versions, in order, unless there. */
static void late_add(table_state *t, const tc_cart *cart, tc_rbuf *json, uint64_t origin)
{
    int64_t v = tc_cart_version(cart);
    late_feed **at = &t->late;
    while (*at && (*at)->version < v)
        at = &(*at)->next;
    if (*at && (*at)->version == v) return;
    late_feed *l = tc_xcalloc(1, sizeof *l);
    l->cart = tc_cart_clone(cart);
    l->json = tc_rbuf_ref(json);
    l->version = v;
    l->at = tc_cart_updated_at(cart);
    l->origin = origin;
    l->next = *at;
    *at = l;
}

/* Version v, written elsewhere, was heard (its message, in order): the
 * versions waiting below it are fed first, then v, then those above it
 * that may go. */
static void feed_version(tc_store *s, table_state *t, const tc_cart *cart, tc_rbuf *json, int64_t v,
                         int64_t at, uint64_t origin)
{
    feed_late(s, t, v);
    feed_now(s, t, cart, json, v, at, origin);
    feed_late(s, t, INT64_MIN);
}

static void feed_new(tc_store *s, table_state *t, const tc_cart *cart, tc_rbuf *json,
                     uint64_t origin)
{
    feed_version(s, t, cart, json, tc_cart_version(cart), tc_cart_updated_at(cart), origin);
}

/* This instance's own change (cart, json, origin) is durable: fed now, or
 * after the versions below it when some are still on their way. */
static void feed_own(tc_store *s, table_state *t, const tc_cart *cart, tc_rbuf *json,
                     uint64_t origin)
{
    if (t->late == NULL) {
        feed_now(s, t, cart, json, tc_cart_version(cart), tc_cart_updated_at(cart), origin);
        return;
    }
    late_add(t, cart, json, origin);
    feed_late(s, t, INT64_MIN);
}

/* Whether cart c, of the version last fed for t, is another write of it
 * than the one fed: the store lost that one, and the same version was
 * written again (by another instance, from the cart the store kept). */
static bool other_write(const table_state *t, int64_t version, int64_t updated_at)
{
    return version == t->seen && t->seen_at != TC_STORE_AT_UNKNOWN &&
           updated_at != TC_STORE_AT_UNKNOWN && updated_at != t->seen_at;
}

static bool rewritten(const table_state *t, const tc_cart *c)
{
    return other_write(t, tc_cart_version(c), tc_cart_updated_at(c));
}

/* The stored cart read for t is older than a version fed for it, or another
 * write of that version (rewritten): the store lost the table's cart. Its
 * version is the truth from now on, and the feed is told it went back. */
static void feed_reset(tc_store *s, table_state *t, const tc_cart *cart, tc_rbuf *json)
{
    int64_t v = tc_cart_version(cart);
    late_free(t); /* versions the store lost: the streams start over */
    if (v < t->seen)
        tc_log_warn("store: table %d: the stored cart is at version %lld, below %lld seen before; "
                    "the store lost it, its streams start over",
                    (int)t->table_id, (long long)v, (long long)t->seen);
    else
        tc_log_warn("store: table %d: the stored cart at version %lld is not the one seen before "
                    "(another updatedAt); the store lost it, its streams start over",
                    (int)t->table_id, (long long)v);
    t->seen = v;
    t->seen_at = tc_cart_updated_at(cart);
    if (s->feed && !s->closing) {
        tc_store_cart c = {cart, json, v, t->table_id, true};
        s->feed(s->feed_ctx, &c, 0);
    }
}

/* Makes cart (and json, both owned) t's cart in memory. */
static void set_cart(table_state *t, tc_cart *cart, tc_rbuf *json)
{
    tc_cart_free(t->cart);
    tc_rbuf_unref(t->json);
    tc_rbuf_unref(t->lazy);
    t->lazy = NULL;
    free(t->lazy_pack);
    t->lazy_pack = NULL;
    t->cart = cart;
    t->json = json;
}

/* The cart offered: from its packed form when there is one, else from its
 * JSON. */
static int read_offered(const char *json, size_t len, const char *pack, size_t pack_len,
                        tc_cart **out)
{
    return pack ? tc_cart_unpack(pack, pack_len, out) : tc_cart_from_json(json, len, out);
}

/* Reads the cart offered without a cart (t->lazy, t->lazy_pack) into t's
 * cart; one that cannot be read is dropped and the table read again. */
static void take_lazy(table_state *t)
{
    tc_rbuf *dto = t->lazy;
    char *pack = t->lazy_pack;
    t->lazy = NULL;
    t->lazy_pack = NULL;
    tc_cart *c = NULL;
    int rc = read_offered(dto->data, dto->len, pack, t->lazy_pack_len, &c);
    free(pack);
    if (rc == 0 && tc_cart_table_id(c) == t->table_id && tc_cart_version(c) == t->seen) {
        set_cart(t, c, dto);
        return;
    }
    tc_log_warn("store: an offered cart of table %d is unreadable; reading it again",
                (int)t->table_id);
    tc_cart_free(c);
    tc_rbuf_unref(dto);
    set_cart(t, NULL, NULL);
    t->phase = T_COLD;
    late_free(t); /* none above a cart offered as JSON, which was newer */
    t->seen = -1; /* its version was no truth either: the read sets it */
    t->seen_at = TC_STORE_AT_UNKNOWN;
}

static void drop_newer(table_state *t)
{
    tc_cart_free(t->newer);
    tc_rbuf_unref(t->newer_json);
    t->newer = NULL;
    t->newer_json = NULL;
}

/* Takes the cart offered meanwhile, if any, and when newer than cart (owned,
 * may be NULL); returns the one kept, the other freed. *json follows. */
static tc_cart *take_newer(table_state *t, tc_cart *cart, tc_rbuf **json)
{
    tc_cart *newer = t->newer;
    tc_rbuf *newer_json = t->newer_json;
    if (newer == NULL) return cart;
    if (cart != NULL && tc_cart_version(cart) >= tc_cart_version(newer)) {
        drop_newer(t);
        return cart;
    }
    t->newer = NULL;
    t->newer_json = NULL;
    tc_cart_free(cart);
    tc_rbuf_unref(*json);
    *json = newer_json;
    return newer;
}

/* A cart offered while a save of t was on its way (fed already), if any,
 * is t's cart in memory from now on. */
static void serve_newer(table_state *t)
{
    tc_rbuf *json = NULL;
    tc_cart *newer = take_newer(t, NULL, &json);
    if (newer) set_cart(t, newer, json);
}

tc_rbuf *tc_store_encode(const tc_store *s, const tc_cart *cart)
{
    tc_buf out = TC_BUF_INIT;
    /* Room for the usual cart at once: a line takes 200–300 bytes. */
    tc_buf_reserve(&out, 256 + 320 * tc_cart_item_count(cart));
    tc_cart_to_json(cart, tc_menu_table(s->menu, tc_cart_table_id(cart)), &out);
    tc_rbuf *r = tc_rbuf_new(out.base, out.len);
    tc_buf_free(&out);
    return r;
}

static bool same_table(const tc_table *a, const tc_table *b)
{
    if (a == NULL || b == NULL) return a == b;
    return a->store_id == b->store_id &&
           (a->table_number == b->table_number ||
            (a->table_number && b->table_number && strcmp(a->table_number, b->table_number) == 0));
}

void tc_store_menu_reencode(tc_store *s, const tc_menu *old)
{
    if (s->pipe == NULL) return;
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&s->pipe->tables, &pos, NULL); n;
         n = tc_idmap_next(&s->pipe->tables, &pos, n)) {
        table_state *t = TC_IDMAP_ENTRY(n, table_state, node);
        if (same_table(tc_menu_table(old, t->table_id), tc_menu_table(s->menu, t->table_id)))
            continue;
        /* Another instance's cart kept as it came names the table as that
         * instance's menu did: read now, encoded below. */
        if (t->lazy) take_lazy(t);
        if (t->cart && t->json) {
            tc_rbuf_unref(t->json);
            t->json = tc_store_encode(s, t->cart);
        }
        if (t->newer && t->newer_json) {
            tc_rbuf_unref(t->newer_json);
            t->newer_json = tc_store_encode(s, t->newer);
        }
        if (t->batch) t->renamed = true;
    }
}

static void pump(tc_store *s, table_state *t);

/* ===== load ==================================================================== */

static void loaded(tc_store_job *j)
{
    tc_store *s = j->ctx;
    table_state *t = table_get(s->pipe, j->table_id);
    int rc = j->status;
    tc_errmsg err = j->err;
    if (rc == 0 && !s->closing) {
        tc_cart *c = NULL;
        const tc_table *tab = tc_menu_table(s->menu, j->table_id);
        if (!j->found) {
            c = tc_cart_new(tab);
        } else if (tc_cart_from_json(j->row.base ? j->row.base : "", j->row.len, &c) != 0 ||
                   tc_cart_table_id(c) != j->table_id) {
            tc_cart_free(c);
            c = NULL;
            rc = tc_errmsg_set(&err, TC_ESTORE, "store: stored cart of table %d is unreadable",
                               (int)j->table_id);
            tc_log_error("%s", err.text);
        }
        if (c) {
            /* A cart offered while this read was on its way may be newer. */
            tc_rbuf *json = NULL;
            tc_cart *loaded_cart = c;
            c = take_newer(t, c, &json);
            if (c == loaded_cart) {
                json = tc_store_encode(s, c);
                int64_t v = tc_cart_version(c);
                bool current = s->be->current != NULL && s->be->current(s, t->table_id);
                /* Not current: the versions between may never come. Below
                 * a version waiting: the store lost it (a reset, below). */
                if (!current || (t->late && v < late_last(t))) feed_late(s, t, INT64_MAX);
                /* Changed elsewhere since this process last fed the table
                 * (after a lost race, or while not current): feed it — when
                 * current, once the versions between were (feed order). The
                 * first read of a table feeds nothing — whoever watches it
                 * started from this very read. */
                bool waits = false;
                if (v < t->seen || rewritten(t, c)) {
                    feed_reset(s, t, c, json);
                } else if (t->seen >= 0 && current && (t->late || v > t->seen + 1)) {
                    late_add(t, c, json, 0);
                    feed_late(s, t, INT64_MIN);
                    waits = t->late != NULL;
                } else if (t->seen >= 0) {
                    feed_new(s, t, c, json, 0);
                }
                if (!waits && t->seen < v) {
                    t->seen = tc_cart_version(c);
                    t->seen_at = tc_cart_updated_at(c);
                }
            }
            set_cart(t, c, json);
            t->fresh = true;
        }
    }
    tc_buf_free(&j->row);
    free(j);
    if (t->cart) {
        t->phase = T_READY;
    } else {
        /* Nobody waits for a read that failed: every queued request hears
         * why, and the next one tries again. The queue is detached first: an
         * answer may queue more. */
        drop_newer(t);
        t->phase = T_COLD;
        request *failed = t->head;
        t->head = t->tail = NULL;
        for (request *r = failed, *next; r; r = next) {
            next = r->next;
            if (!r->is_get) unqueued(s->pipe);
            answer_failed(s, r, &err);
        }
    }
    pump(s, t);
}

static void start_load(tc_store *s, table_state *t)
{
    tc_store_job *j = tc_xcalloc(1, sizeof *j);
    j->kind = TC_JOB_LOAD;
    j->table_id = t->table_id;
    j->done = loaded;
    j->ctx = s;
    t->phase = T_LOADING;
    s->be->submit(s, j);
}

/* ===== apply and save ========================================================== */

/* Drops t's cart in memory (it is not what is stored any more). */
static void forget_cart(table_state *t)
{
    set_cart(t, NULL, NULL);
    t->phase = T_COLD;
}

/* t's save lost the race: another process changed the table since its cart
 * was read (drop_cart), or answered one of the batch's keys (the cart
 * stays). The batch goes back to the head of the queue, to be applied again;
 * a change that lost too often gives up. */
static void conflicted(tc_store *s, table_state *t, request *batch, bool drop_cart)
{
    idem_forget_batch(s, t);
    request *retry = NULL, *retry_last = NULL, *give_up = NULL, **give_up_tail = &give_up;
    for (request *r = batch, *next; r; r = next) {
        next = r->next;
        r->next = NULL;
        tc_cart_free(r->result);
        tc_rbuf_unref(r->json);
        r->result = NULL;
        r->json = NULL;
        r->status = 0;
        if (++r->conflicts < MAX_CONFLICTS) {
            s->pipe->queued++;
            if (retry_last)
                retry_last->next = r;
            else
                retry = r;
            retry_last = r;
        } else {
            *give_up_tail = r;
            give_up_tail = &r->next;
        }
    }
    if (retry) {
        retry_last->next = t->head;
        if (t->head == NULL) t->tail = retry_last;
        t->head = retry;
    }
    if (drop_cart)
        forget_cart(t);
    else
        t->phase = T_READY;
    if (give_up == NULL) return;
    tc_log_warn("store: table %d: gave up after %d conflicting writes", (int)t->table_id,
                MAX_CONFLICTS);
    tc_errmsg busy;
    tc_errmsg_say(&busy, TC_ESTORE, TC_T_STORE_BUSY, (int)t->table_id);
    /* The oldest changes lost most often: answering them first keeps the
     * table's order. */
    for (request *r = give_up, *next; r; r = next) {
        next = r->next;
        answer_failed(s, r, &busy);
    }
}

static void saved(tc_store_job *j)
{
    tc_store *s = j->ctx;
    table_state *t = table_get(s->pipe, j->table_id);
    request *batch = t->batch;
    t->batch = NULL;
    tc_cart *work = t->work;
    t->work = NULL;
    bool renamed = t->renamed;
    t->renamed = false;
    if (j->status == 0) {
        /* Durable: the batch's carts are the truth now — unless a newer one
         * written elsewhere was offered meanwhile. Each answer shows the cart
         * as of its own change; the batch is freed after all of them. */
        tc_cart *prev_cart = NULL;
        tc_rbuf *prev_json = NULL;
        const tc_cart *shown = t->cart;
        tc_rbuf *shown_json = t->json;
        if (j->version >= 0) {
            prev_cart = t->cart;
            prev_json = t->json;
            tc_rbuf *json = tc_rbuf_ref(j->json);
            t->cart = take_newer(t, work, &json);
            t->json = json;
            work = NULL;
            if (renamed) {
                /* The batch's DTOs name the table as the old menu did; its
                 * answers and pushes say what the change did then, the cart
                 * served from now on is named as the menu has it now. */
                tc_rbuf_unref(t->json);
                t->json = tc_store_encode(s, t->cart);
            }
        } /* else only answers were saved, or the version compared: the cart
           * did not change, and the answers show it as compared */
        t->fresh = true;
        /* Each change's caller first, then its subscribers: the caller waits
         * for one answer, while a feed may be thousands of writes (a
         * publisher answered after them could not send its next change
         * meanwhile). Change by change, so that a connection that is both
         * a caller and a subscriber still sees versions in order. */
        for (request *r = batch; r; r = r->next) {
            if (r->status == 0) {
                shown = r->result;
                shown_json = r->json;
            }
            if (r->status == 0 || r->status == TC_UNCHANGED)
                reply(s, r, r->status, shown, shown_json, NULL);
            else
                reply(s, r, r->status, NULL, NULL, &r->err); /* also TC_STORE_REPLAYED */
            if (r->status == 0) feed_own(s, t, r->result, r->json, r->op.origin);
        }
        if (j->version < 0) {
            /* A newer cart offered meanwhile is the one to serve now. */
            serve_newer(t);
        }
        free_all(batch);
        tc_cart_free(work);
        tc_cart_free(prev_cart);
        tc_rbuf_unref(prev_json);
        idem_recs_free(t->idem);
        t->idem = NULL;
        t->phase = T_READY;
    } else if (j->status == TC_ECONFLICT && !s->closing) {
        tc_cart_free(work);
        conflicted(s, t, batch, true);
    } else if (j->status == TC_JOB_KNOWN && !s->closing) {
        /* Another process answered some of these keys: remember its answers,
         * so that applying the batch again replays them — in place of the
         * batch's own (forgotten first), and before anyone is answered: a
         * change that gives up may get a retry queued under its callback. */
        tc_cart_free(work);
        idem_forget_batch(s, t);
        int64_t now = tc_clock_epoch_ms();
        for (tc_store_idem_rec *rec = j->known; rec; rec = rec->next)
            tc_idem_put(s->idem, tc_view_of(rec->caller), tc_view_of(rec->key), rec->version,
                        rec->json, rec->expires_ms, now);
        /* Nothing was written: the cart stays, or a newer one offered
         * meanwhile, which the batch is applied to again. */
        serve_newer(t);
        conflicted(s, t, batch, false);
    } else {
        tc_cart_free(work);
        idem_forget_batch(s, t);
        bool unknown = s->be->current != NULL && !s->closing;
        if (unknown) {
            /* Where others write too, a save that failed may still have
             * landed (its reply was lost with the connection), and its
             * message would be skipped as this process's own: what is
             * stored is unknown, so the cart is read again before its next
             * use — and now, for its subscribers, if it has any. */
            drop_newer(t);
            forget_cart(t);
        } else {
            /* The cart in memory stays, or a newer one offered meanwhile. */
            serve_newer(t);
            t->phase = T_READY;
        }
        for (request *r = batch, *next; r; r = next) {
            next = r->next;
            answer_failed(s, r, &j->err);
        }
        /* An answer may have queued a request, which started the read. A
         * read that cannot be sent now fails at once; the backend reads its
         * followed tables again when it can (tc_store_offer). */
        if (unknown && t->phase == T_COLD && tc_store_following(s, t->table_id) > 0)
            start_load(s, t);
    }
    tc_rbuf_unref(j->json);
    free(j->earlier);
    idem_recs_free(j->known);
    tc_buf_free(&j->idem_dropped);
    free(j);
    pump(s, t);
}

/* Remembers r's answer (the cart as r leaves it) at once, so that a retry
 * later in the queue is a replay, and adds it to the batch's save; a failed
 * or lost save forgets it again. */
static void remember(tc_store *s, table_state *t, request *r, const tc_cart *work, int64_t now)
{
    tc_store_idem_rec *rec = tc_xcalloc(1, sizeof *rec);
    rec->key = tc_xstrdup(r->idem_key);
    rec->caller = tc_xstrdup(r->idem_caller ? r->idem_caller : "");
    rec->version = tc_cart_version(work);
    if (r->json) {
        rec->json = tc_rbuf_ref(r->json);
    } else {
        /* Unchanged: the answer shows the cart as the batch has it so far. */
        request *last = NULL;
        for (request *q = t->batch; q && q != r; q = q->next)
            if (q->status == 0) last = q;
        rec->json = tc_rbuf_ref(last ? last->json : t->json);
    }
    rec->expires_ms = now + TC_STORE_IDEM_TTL_MS;
    rec->next = t->idem;
    t->idem = rec;
    tc_idem_put(s->idem, tc_view_of(rec->caller), tc_view_of(rec->key), rec->version, rec->json,
                rec->expires_ms, now);
}

/* r's keyed change was refused here; the save asks whether another process
 * answered that key (a change it made, which a retry must replay). */
static void probe(table_state *t, const request *r)
{
    tc_store_idem_rec *rec = tc_xcalloc(1, sizeof *rec);
    rec->key = tc_xstrdup(r->idem_key);
    rec->caller = tc_xstrdup(r->idem_caller ? r->idem_caller : "");
    rec->probe = true;
    rec->next = t->idem;
    t->idem = rec;
}

/* Whether r's answer, as applied to the cart in memory, depends on that
 * cart's content: it changed nothing, or it was refused by If-Match, for a
 * line not in the cart or for a limit the cart's lines reach. A refusal
 * that no cart could change (a bad quantity, an unknown or sold-out dish)
 * does not. */
static bool depends_on_cart(const tc_store *s, const request *r)
{
    if (r->status == TC_UNCHANGED || r->status == TC_ECONFLICT) return true;
    if (r->status >= 0) return false; /* changed (saved anyway) or replayed */
    tc_errmsg err;
    return tc_cart_check_op(&r->op, s->menu, &r->lim, &err) == 0;
}

/* Applies up to BATCH_MAX changes at the head of t's queue to a copy of its
 * cart. Returns true when a save is needed: one of them changed it, answers
 * are to be remembered or probed, or an answer needs the stored version
 * compared. */
static bool apply_batch(tc_store *s, table_state *t)
{
    tc_cart *work = tc_cart_clone(t->cart);
    request **tail = &t->batch;
    bool changed = false;
    /* Where others write too, the cart in memory may be behind the stored
     * one for as long as their change's message takes to arrive: an answer
     * that depends on its content is given only once a save that writes
     * nothing (version -1) found the stored version still the one in
     * memory. Otherwise that save loses its race and the batch is applied
     * again to the stored cart. A cart read or saved by this very pump is
     * as recent as that compare would be. */
    bool compare = false;
    bool may_be_behind = s->be->current != NULL && !t->fresh;
    for (int n = 0; n < BATCH_MAX && t->head && !t->head->is_get; n++) {
        request *r = t->head;
        t->head = r->next;
        if (t->head == NULL) t->tail = NULL;
        unqueued(s->pipe);
        r->next = NULL;
        *tail = r;
        tail = &r->next;
        int64_t now = tc_clock_epoch_ms();
        const tc_idem_answer *seen =
            r->idem_key ? tc_idem_get(s->idem, tc_view_of(r->idem_key), now) : NULL;
        if (seen) {
            /* A retry: the first answer again, nothing applied. */
            r->status = TC_STORE_REPLAYED;
            r->version = seen->version;
            r->json = tc_rbuf_ref(seen->json);
            continue;
        }
        r->status = tc_cart_apply(work, &r->op, s->menu, &r->lim, now, &r->err);
        if (r->status == 0) {
            r->result = tc_cart_clone(work);
            r->json = tc_store_encode(s, work);
            changed = true;
        }
        if (r->idem_key && (r->status == 0 || r->status == TC_UNCHANGED))
            remember(s, t, r, work, now);
        else if (r->idem_key && s->be->shared_idem)
            probe(t, r);
        if (may_be_behind && !compare) compare = depends_on_cart(s, r);
    }
    t->work = work;
    return changed || t->idem != NULL || compare;
}

/* Moves t's queue along as far as it can. Re-entered from an answer's
 * callback (which may queue more for t) or from a backend that finishes a job
 * at once, it returns and the running pump goes on. */
static void pump(tc_store *s, table_state *t)
{
    if (t->pumping || s->closing) return;
    t->pumping = true;
    while (t->head && t->phase != T_LOADING && t->phase != T_SAVING) {
        if (t->phase == T_READY && !t->fresh && s->be->current && !s->be->current(s, t->table_id)) {
            feed_late(s, t, INT64_MAX); /* the versions between may never come */
            forget_cart(t);             /* changes made elsewhere may have gone unheard */
        }
        if (t->lazy) take_lazy(t);
        if (t->phase == T_COLD) {
            start_load(s, t);
            continue;
        }
        if (t->head->is_get) {
            request *r = t->head;
            t->head = r->next;
            if (t->head == NULL) t->tail = NULL;
            answer(s, r, 0, t->cart, t->json, NULL);
            continue;
        }
        if (apply_batch(s, t)) {
            request *last = NULL;
            size_t n_changed = 0;
            for (request *r = t->batch; r; r = r->next)
                if (r->status == 0) {
                    last = r;
                    n_changed++;
                }
            tc_store_job *j = tc_xcalloc(1, sizeof *j);
            if (n_changed > 1 && s->be->current) {
                /* The versions before the last: a backend shared with other
                 * writers (one that says which tables are current) publishes
                 * each of them too; none other needs them. */
                tc_store_earlier *e = tc_xcalloc(n_changed - 1, sizeof *e);
                size_t n = 0;
                for (request *r = t->batch; r != last; r = r->next)
                    if (r->status == 0)
                        e[n++] = (tc_store_earlier){r->result, r->json, r->op.origin};
                j->earlier = e;
                j->n_earlier = n;
            }
            j->kind = TC_JOB_SAVE;
            j->table_id = t->table_id;
            j->version = last ? tc_cart_version(last->result) : -1;
            j->updated_at = last ? tc_cart_updated_at(last->result) : -1;
            j->json = last ? tc_rbuf_ref(last->json) : NULL;
            j->cart = last ? last->result : NULL;
            j->expect_version = tc_cart_version(t->cart);
            j->expect_updated_at = tc_cart_updated_at(t->cart);
            j->origin = last ? last->op.origin : 0;
            j->idem = t->idem;
            tc_idem_take_dropped(s->idem, &j->idem_dropped);
            j->done = saved;
            j->ctx = s;
            t->phase = T_SAVING;
            s->be->submit(s, j);
            continue;
        }
        /* Nothing changed: every answer is about the committed cart. */
        tc_cart_free(t->work);
        t->work = NULL;
        request *batch = t->batch;
        t->batch = NULL;
        for (request *r = batch, *next; r; r = next) {
            next = r->next;
            if (r->status == TC_UNCHANGED)
                answer(s, r, TC_UNCHANGED, t->cart, t->json, NULL);
            else if (r->status == TC_STORE_REPLAYED)
                answer_replay(s, r);
            else
                answer(s, r, r->status, NULL, NULL, &r->err);
        }
    }
    /* What was read or saved just now served the requests waiting for it;
     * later ones read again while the backend is not current. */
    t->fresh = false;
    t->pumping = false;
}

static void enqueue(tc_store *s, request *r)
{
    table_state *t = table_get(s->pipe, r->op.table_id);
    if (!r->is_get) s->pipe->queued++;
    if (t->tail)
        t->tail->next = r;
    else
        t->head = r;
    t->tail = r;
    pump(s, t);
}

/* Every request still queued or in a batch is told the store closed (its
 * callback is its caller's only way to free what waits for the answer). */
static void answer_closed(tc_store *s, request *r)
{
    for (request *next; r; r = next) {
        next = r->next;
        answer(s, r, TC_ECLOSED, NULL, NULL, NULL);
    }
}

static void pipeline_free(tc_store *s)
{
    tc_store_pipeline *p = s->pipe;
    if (!p) return;
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&p->tables, &pos, NULL), *nx; n; n = nx) {
        nx = tc_idmap_next(&p->tables, &pos, n);
        table_state *t = TC_IDMAP_ENTRY(n, table_state, node);
        request *head = t->head, *batch = t->batch;
        t->head = t->tail = t->batch = NULL;
        answer_closed(s, batch);
        answer_closed(s, head);
        idem_recs_free(t->idem);
        tc_cart_free(t->work);
        tc_cart_free(t->cart);
        tc_rbuf_unref(t->json);
        tc_cart_free(t->newer);
        tc_rbuf_unref(t->newer_json);
        tc_rbuf_unref(t->lazy);
        free(t->lazy_pack);
        late_free(t);
        free(t);
    }
    tc_idmap_free(&p->tables);
    free(p);
    s->pipe = NULL;
}

/* ===== carts written elsewhere ================================================= */

void tc_store_offer(tc_store *s, tc_cart *cart, const char *json, size_t len)
{
    int32_t id = tc_cart_table_id(cart);
    table_state *t = NULL;
    if (!s->closing && tc_menu_table(s->menu, id) != NULL) t = table_get(s->pipe, id);
    if (t == NULL || tc_cart_version(cart) <= t->seen) {
        tc_cart_free(cart);
        return;
    }
    tc_rbuf *dto = tc_rbuf_new(json, len);
    if (t->cart && tc_cart_version(t->cart) >= tc_cart_version(cart)) {
        /* A version between the one fed and the cart in memory (read after
         * a lost race, or written here on top of it): fed, not kept. */
        feed_new(s, t, cart, dto, 0);
        tc_cart_free(cart);
        tc_rbuf_unref(dto);
        return;
    }
    if (t->phase == T_LOADING || t->phase == T_SAVING) {
        /* Taken when the job ends; a save expecting an older version loses
         * its race and is applied again. */
        drop_newer(t);
        t->newer = cart;
        t->newer_json = dto;
    } else {
        set_cart(t, cart, dto);
        t->phase = T_READY;
    }
    feed_new(s, t, cart, dto, 0);
}

void tc_store_offer_json(tc_store *s, int32_t table_id, int64_t version, int64_t updated_at,
                         const char *json, size_t len, const char *pack, size_t pack_len)
{
    if (s->closing || tc_menu_table(s->menu, table_id) == NULL) return;
    table_state *t = table_get(s->pipe, table_id);
    if (version <= t->seen) return; /* known already: no parse */
    if (t->cart && tc_cart_version(t->cart) >= version) {
        /* Between the one fed and the cart in memory: fed, not kept. */
        tc_rbuf *dto = tc_rbuf_new(json, len);
        feed_version(s, t, NULL, dto, version, updated_at, 0);
        tc_rbuf_unref(dto);
        return;
    }
    if (!t->pumping && (t->phase == T_READY || t->phase == T_COLD)) {
        /* Idle: kept and fed as it is, parsed when a request needs it. */
        tc_rbuf *dto = tc_rbuf_new(json, len);
        set_cart(t, NULL, NULL);
        t->lazy = dto;
        if (pack) {
            t->lazy_pack = tc_xmalloc(pack_len);
            memcpy(t->lazy_pack, pack, pack_len);
            t->lazy_pack_len = pack_len;
        }
        t->phase = T_READY;
        feed_version(s, t, NULL, dto, version, updated_at, 0);
        return;
    }
    tc_cart *c = NULL;
    if (read_offered(json, len, pack, pack_len, &c) != 0 || tc_cart_table_id(c) != table_id ||
        tc_cart_version(c) != version) {
        tc_log_warn("store: an offered cart of table %d is unreadable", (int)table_id);
        tc_cart_free(c);
        return;
    }
    tc_store_offer(s, c, json, len);
}

void tc_store_heard_own(tc_store *s, int32_t table_id, int64_t version, int64_t updated_at)
{
    tc_idmap_node *n = s->pipe && !s->closing ? tc_idmap_find(&s->pipe->tables, table_id) : NULL;
    if (n == NULL) return;
    table_state *t = TC_IDMAP_ENTRY(n, table_state, node);
    /* Every message published before this one was heard: what waits up to
     * its version goes now (feed order), this change among them when its
     * reply came first. */
    feed_late(s, t, version + 1);
    /* Only the save on its way, and only when the message is its write:
     * the cart after the batch, at that version and updatedAt. */
    if (t->phase != T_SAVING || t->work == NULL || tc_cart_version(t->work) != version ||
        (updated_at != TC_STORE_AT_UNKNOWN && updated_at != tc_cart_updated_at(t->work)))
        return;
    for (const request *r = t->batch; r; r = r->next)
        if (r->status == 0) feed_own(s, t, r->result, r->json, r->op.origin);
}

void tc_store_unheard(tc_store *s)
{
    if (s->pipe == NULL || s->closing) return;
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&s->pipe->tables, &pos, NULL); n;
         n = tc_idmap_next(&s->pipe->tables, &pos, n))
        feed_late(s, TC_IDMAP_ENTRY(n, table_state, node), INT64_MAX);
}

int64_t tc_store_seen(const tc_store *s, int32_t table_id)
{
    tc_idmap_node *n = s->pipe ? tc_idmap_find(&s->pipe->tables, table_id) : NULL;
    return n ? TC_IDMAP_ENTRY(n, table_state, node)->seen : -1;
}

bool tc_store_seen_other(const tc_store *s, int32_t table_id, int64_t version, int64_t updated_at)
{
    tc_idmap_node *n = s->pipe ? tc_idmap_find(&s->pipe->tables, table_id) : NULL;
    return n && other_write(TC_IDMAP_ENTRY(n, table_state, node), version, updated_at);
}

void tc_store_offer_read(tc_store *s, int32_t table_id, int64_t asked_at, const char *json,
                         size_t len)
{
    const tc_table *tab = tc_menu_table(s->menu, table_id);
    if (s->closing || tab == NULL) return;
    tc_cart *c = NULL;
    if (json == NULL) {
        c = tc_cart_new(tab);
    } else if (tc_cart_from_json(json, len, &c) != 0 || tc_cart_table_id(c) != table_id) {
        tc_log_warn("store: an offered cart of table %d is unreadable", (int)table_id);
        tc_cart_free(c);
        return;
    }
    table_state *t = table_get(s->pipe, table_id);
    /* The table was not current: what waits for the versions between goes
     * now (feed order). */
    feed_late(s, t, INT64_MAX);
    /* The cart as stored (a read, not a change being told) names the table
     * as the menu did when it was last changed: it is encoded with the menu
     * served now, as a cart loaded by a job is. */
    if (tc_cart_version(c) > t->seen) {
        tc_rbuf *dto = tc_store_encode(s, c);
        tc_store_offer(s, c, dto->data, dto->len);
        tc_rbuf_unref(dto);
        return;
    }
    /* Older than what was fed, but not than what was fed when it was asked
     * for: a change came over another connection meanwhile, no loss. The
     * version fed, written again with another updatedAt, is a loss. */
    bool overtaken = tc_cart_version(c) >= asked_at;
    bool lost = rewritten(t, c) || (tc_cart_version(c) < t->seen && !overtaken);
    if (!lost || t->pumping || (t->phase != T_READY && t->phase != T_COLD)) {
        tc_cart_free(c);
        return;
    }
    drop_newer(t);
    set_cart(t, c, tc_store_encode(s, c));
    t->phase = T_READY;
    feed_reset(s, t, t->cart, t->json);
}

/* ===== the store =============================================================== */

/* The backend of url's scheme, and *rest the part after "scheme:"; NULL with
 * err when no backend takes it. */
static const tc_store_backend *backend_of(const char *url, const char **rest, tc_errmsg *err)
{
    const char *colon = url ? strchr(url, ':') : NULL;
    for (size_t i = 0; colon && i < sizeof backends / sizeof backends[0]; i++) {
        size_t n = strlen(backends[i]->scheme);
        if ((size_t)(colon - url) == n && memcmp(url, backends[i]->scheme, n) == 0) {
            *rest = colon + 1;
            return backends[i];
        }
    }
    tc_errmsg_set(err, TC_EINVAL,
                  "store: unsupported URL '%s' (expected sqlite:PATH or redis://HOST:PORT)",
                  url ? tc_url_shown(url) : "");
    return NULL;
}

int tc_store_check_url(const char *url, tc_errmsg *err)
{
    const char *rest;
    const tc_store_backend *be = backend_of(url, &rest, err);
    if (be == NULL) return TC_EINVAL;
    return be->check_url ? be->check_url(rest, err) : 0;
}

int tc_store_open(const char *url, const tc_store_opts *opts, uv_loop_t *loop, tc_store **out,
                  tc_errmsg *err)
{
    const char *rest;
    const tc_store_backend *be = backend_of(url, &rest, err);
    if (be == NULL) return TC_EINVAL;
    return tc_store_open_backend(be, rest, opts, loop, out, err);
}

int tc_store_open_backend(const tc_store_backend *be, const char *rest, const tc_store_opts *opts,
                          uv_loop_t *loop, tc_store **out, tc_errmsg *err)
{
    tc_store *s = tc_xcalloc(1, sizeof *s);
    s->be = be;
    s->loop = loop;
    if (opts) s->opts = *opts;
    int rc = be->open(s, rest, err);
    s->opts.redis_password = NULL; /* the caller's, only for open */
    if (rc == 0) {
        rc = be->load_menu(s, &s->menu, err);
        if (rc != 0) {
            s->closing = true;
            be->close(s);
        }
    }
    s->idem = tc_idem_new(TC_STORE_IDEM_MAX_BYTES, TC_STORE_IDEM_CALLER_BYTES);
    if (rc == 0 && be->load_idem) {
        rc = be->load_idem(s, s->idem, tc_clock_epoch_ms(), err);
        if (rc != 0) {
            s->closing = true;
            be->close(s);
            tc_menu_free(s->menu);
        }
    }
    if (rc != 0) {
        tc_idem_free(s->idem);
        free(s);
        return rc;
    }
    s->pipe = tc_xcalloc(1, sizeof *s->pipe);
    tc_idmap_init(&s->pipe->tables);
    tc_store_relay_open(s);
    tc_store_diners_open(s);
    *out = s;
    return 0;
}

void tc_store_close(tc_store *s)
{
    if (s == NULL) return;
    s->closing = true;
    s->be->close(s);
    tc_store_relay_close(s);
    tc_store_diners_close(s);
    pipeline_free(s);
    tc_idem_free(s->idem);
    tc_menu_free(s->menu);
    free(s);
}

size_t tc_store_idem_bytes(const tc_store *s)
{
    return tc_idem_bytes(s->idem);
}

void tc_store_set_feed(tc_store *s, tc_store_feed_cb cb, void *ctx)
{
    s->feed = cb;
    s->feed_ctx = ctx;
}

const tc_menu *tc_store_menu(const tc_store *s)
{
    return s->menu;
}

bool tc_store_menu_empty(const tc_store *s)
{
    return tc_menu_store_count(s->menu) == 0;
}

bool tc_store_threaded(const tc_store *s)
{
    return s->be->threaded;
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
    tc_store_relay_menu_changed(s);
    return 0;
}

/* Answers TC_ENOTFOUND and returns NULL for a table the menu does not have. */
static const tc_table *known_table(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx)
{
    const tc_table *t = tc_menu_table(s->menu, table_id);
    if (t == NULL) {
        tc_errmsg err;
        tc_errmsg_say(&err, TC_ENOTFOUND, TC_T_TABLE_NOT_FOUND, (int)table_id);
        cb(ctx, TC_ENOTFOUND, NULL, &err);
    }
    return t;
}

void tc_store_get(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx)
{
    if (s->closing) {
        tell_closed(cb, ctx);
        return;
    }
    const tc_table *t = known_table(s, table_id, cb, ctx);
    if (t == NULL) return;
    request *r = tc_xcalloc(1, sizeof *r);
    r->is_get = true;
    r->op.table_id = table_id;
    r->cb = cb;
    r->ctx = ctx;
    enqueue(s, r);
}

void tc_store_mutate(tc_store *s, const tc_op *op, const tc_cart_limits *lim, tc_store_cb cb,
                     void *ctx)
{
    if (s->closing) {
        tell_closed(cb, ctx);
        return;
    }
    const tc_table *t = known_table(s, op->table_id, cb, ctx);
    if (t == NULL) return;
    request *r = tc_xcalloc(1, sizeof *r);
    r->op = *op;
    r->remark = op->remark ? tc_xstrdup(op->remark) : NULL;
    r->phone = op->who.phone ? tc_xstrdup(op->who.phone) : NULL;
    r->idem_key = op->idem_key ? tc_xstrdup(op->idem_key) : NULL;
    r->idem_caller = op->idem_caller ? tc_xstrdup(op->idem_caller) : NULL;
    r->op.remark = r->remark;
    r->op.who.phone = r->phone;
    r->op.idem_key = r->idem_key;
    r->op.idem_caller = r->idem_caller;
    r->lim = *lim;
    r->cb = cb;
    r->ctx = ctx;
    enqueue(s, r);
}

size_t tc_store_queued_changes(const tc_store *s)
{
    return s->pipe ? s->pipe->queued : 0;
}

void tc_store_metrics(tc_store *s, tc_buf *out)
{
    tc_buf_appendf(out,
                   "# HELP tablecart_store_queued_changes Cart changes waiting in their table's "
                   "queue behind a save or read of that table on its way.\n"
                   "# TYPE tablecart_store_queued_changes gauge\n"
                   "tablecart_store_queued_changes %zu\n",
                   tc_store_queued_changes(s));
    if (s->be->metrics) s->be->metrics(s, out);
}

int tc_store_ping(tc_store *s)
{
    return s->be->ping(s);
}
