/* store.c — the store: the backend by the URL's scheme, the served menu, the
 * change feed, and the change pipeline (store.h says what it promises).
 *
 * Per table, requests wait in one FIFO. A table is COLD until its cart was
 * loaded (one load job), READY while nothing is being saved, SAVING while a
 * batch of its changes is on its way to disk. In READY, gets at the head of
 * the queue are answered from memory; then up to BATCH_MAX changes are
 * applied in order to a copy of the cart, each new version encoded once, and
 * the last one handed to the backend as one save. Everything in the batch is
 * answered, and every new version fed, when the save is durable — nothing a
 * crash could take back is ever shown; a failed save answers TC_ESTORE to
 * the whole batch and the cart in memory stays as it was. One save per
 * table at a time keeps versions strictly increasing without gaps; saves of
 * many tables share a transaction in the backend (group commit). */
#include "store/backend.h"

#include "core/clock.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* The most changes of one table applied and saved together: bounds how long
 * a get queued behind a burst of changes waits. */
#define BATCH_MAX 64
/* The table index starts with this many buckets and doubles as it fills. */
#define TABLES_MIN_BUCKETS 64

static const tc_store_backend *const backends[] = {
    &tc_store_backend_sqlite,
    &tc_store_backend_redis,
};

/* ===== requests and tables ===================================================== */

typedef struct request {
    struct request *next;
    bool is_get;
    tc_op op; /* strings point into remark and phone */
    char *remark, *phone;
    tc_cart_limits lim;
    tc_store_cb cb;
    void *ctx;
    /* once applied in a batch */
    int status;
    tc_errmsg err;
    tc_cart *result; /* the cart after this change, if it changed it */
    tc_rbuf *json;   /* its DTO */
} request;

typedef enum { T_COLD, T_LOADING, T_READY, T_SAVING } table_phase;

typedef struct table_state {
    struct table_state *chain;
    int32_t table_id;
    table_phase phase;
    bool pumping;  /* pump() is on the stack for this table */
    tc_cart *cart; /* committed; NULL until loaded */
    tc_rbuf *json; /* its DTO */
    request *head, *tail;
    request *batch; /* being saved, in order */
    tc_cart *work;  /* the cart after the batch */
} table_state;

struct tc_store_pipeline {
    table_state **buckets;
    size_t n_buckets, n_tables;
};

static size_t bucket_of(size_t n_buckets, int32_t id)
{
    return ((uint32_t)id * 2654435761u) & (n_buckets - 1);
}

static table_state *table_get(tc_store_pipeline *p, int32_t id)
{
    table_state **pp = &p->buckets[bucket_of(p->n_buckets, id)];
    for (table_state *t = *pp; t; t = t->chain)
        if (t->table_id == id) return t;
    if (p->n_tables + 1 > p->n_buckets) {
        size_t nb = p->n_buckets * 2;
        table_state **b = tc_xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < p->n_buckets; i++)
            for (table_state *t = p->buckets[i], *next; t; t = next) {
                next = t->chain;
                size_t k = bucket_of(nb, t->table_id);
                t->chain = b[k];
                b[k] = t;
            }
        free(p->buckets);
        p->buckets = b;
        p->n_buckets = nb;
        pp = &p->buckets[bucket_of(nb, id)];
    }
    table_state *t = tc_xcalloc(1, sizeof *t);
    t->table_id = id;
    t->chain = *pp;
    *pp = t;
    p->n_tables++;
    return t;
}

static void request_free(request *r)
{
    free(r->remark);
    free(r->phone);
    tc_cart_free(r->result);
    tc_rbuf_unref(r->json);
    free(r);
}

/* Calls r's callback (unless the store is closing) and frees r. */
static void answer(tc_store *s, request *r, int status, const tc_cart *cart, tc_rbuf *json,
                   const tc_errmsg *err)
{
    if (!s->closing) {
        tc_store_cart c = {cart, json};
        r->cb(r->ctx, status, cart ? &c : NULL, err);
    }
    request_free(r);
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

tc_rbuf *tc_store_encode(const tc_store *s, const tc_cart *cart)
{
    tc_buf out = TC_BUF_INIT;
    tc_cart_to_json(cart, tc_menu_table(s->menu, tc_cart_table_id(cart)), &out);
    tc_rbuf *r = tc_rbuf_new(out.base, out.len);
    tc_buf_free(&out);
    return r;
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
        }
        if (c) {
            t->cart = c;
            t->json = tc_store_encode(s, c);
        }
    }
    tc_buf_free(&j->row);
    free(j);
    if (t->cart) {
        t->phase = T_READY;
    } else {
        /* Nobody waits for a read that failed: every queued request hears
         * why, and the next one tries again. */
        t->phase = T_COLD;
        for (request *r = t->head, *next; r; r = next) {
            next = r->next;
            answer_failed(s, r, &err);
        }
        t->head = t->tail = NULL;
        return;
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

static void saved(tc_store_job *j)
{
    tc_store *s = j->ctx;
    table_state *t = table_get(s->pipe, j->table_id);
    request *batch = t->batch;
    t->batch = NULL;
    if (j->status == 0) {
        /* Durable: the batch's carts are the truth now. Each answer shows the
         * cart as of its own change; the batch is freed after all of them. */
        tc_cart *prev_cart = t->cart;
        tc_rbuf *prev_json = t->json;
        t->cart = t->work;
        t->json = tc_rbuf_ref(j->json);
        const tc_cart *shown = prev_cart;
        tc_rbuf *shown_json = prev_json;
        for (request *r = batch; r; r = r->next) {
            if (r->status == 0) {
                shown = r->result;
                shown_json = r->json;
                if (s->feed && !s->closing) {
                    tc_store_cart c = {r->result, r->json};
                    s->feed(s->feed_ctx, &c, r->op.origin);
                }
            }
            if (s->closing) continue;
            if (r->status == 0 || r->status == TC_UNCHANGED) {
                tc_store_cart c = {shown, shown_json};
                r->cb(r->ctx, r->status, &c, NULL);
            } else {
                r->cb(r->ctx, r->status, NULL, &r->err);
            }
        }
        free_all(batch);
        tc_cart_free(prev_cart);
        tc_rbuf_unref(prev_json);
    } else {
        tc_cart_free(t->work);
        for (request *r = batch, *next; r; r = next) {
            next = r->next;
            answer_failed(s, r, &j->err);
        }
    }
    t->work = NULL;
    tc_rbuf_unref(j->json);
    free(j);
    t->phase = T_READY;
    pump(s, t);
}

/* Applies up to BATCH_MAX changes at the head of t's queue to a copy of its
 * cart. Returns true when one of them changed it (a save is needed). */
static bool apply_batch(tc_store *s, table_state *t)
{
    tc_cart *work = tc_cart_clone(t->cart);
    request **tail = &t->batch;
    bool changed = false;
    for (int n = 0; n < BATCH_MAX && t->head && !t->head->is_get; n++) {
        request *r = t->head;
        t->head = r->next;
        if (t->head == NULL) t->tail = NULL;
        r->next = NULL;
        *tail = r;
        tail = &r->next;
        r->status = tc_cart_apply(work, &r->op, s->menu, &r->lim, tc_clock_epoch_ms(), &r->err);
        if (r->status == 0) {
            r->result = tc_cart_clone(work);
            r->json = tc_store_encode(s, work);
            changed = true;
        }
    }
    t->work = work;
    return changed;
}

/* Moves t's queue along as far as it can. Re-entered from an answer's
 * callback (which may queue more for t) or from a backend that finishes a job
 * at once, it returns and the running pump goes on. */
static void pump(tc_store *s, table_state *t)
{
    if (t->pumping || s->closing) return;
    t->pumping = true;
    while (t->head && t->phase != T_LOADING && t->phase != T_SAVING) {
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
            for (request *r = t->batch; r; r = r->next)
                if (r->status == 0) last = r;
            tc_store_job *j = tc_xcalloc(1, sizeof *j);
            j->kind = TC_JOB_SAVE;
            j->table_id = t->table_id;
            j->version = tc_cart_version(last->result);
            j->updated_at = tc_cart_updated_at(last->result);
            j->json = tc_rbuf_ref(last->json);
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
            else
                answer(s, r, r->status, NULL, NULL, &r->err);
        }
    }
    t->pumping = false;
}

static void enqueue(tc_store *s, request *r)
{
    table_state *t = table_get(s->pipe, r->op.table_id);
    if (t->tail)
        t->tail->next = r;
    else
        t->head = r;
    t->tail = r;
    pump(s, t);
}

static void pipeline_free(tc_store *s)
{
    tc_store_pipeline *p = s->pipe;
    if (!p) return;
    for (size_t i = 0; i < p->n_buckets; i++)
        for (table_state *t = p->buckets[i], *next; t; t = next) {
            next = t->chain;
            free_all(t->head);
            free_all(t->batch);
            tc_cart_free(t->work);
            tc_cart_free(t->cart);
            tc_rbuf_unref(t->json);
            free(t);
        }
    free(p->buckets);
    free(p);
    s->pipe = NULL;
}

/* ===== self-managed backends =================================================== */

typedef struct {
    tc_store *s;
    tc_store_cb cb;
    void *ctx;
} be_call;

static void be_answered(void *ctx, int status, const tc_cart *cart, const tc_errmsg *err)
{
    be_call *call = ctx;
    if (cart) {
        tc_rbuf *json = tc_store_encode(call->s, cart);
        tc_store_cart c = {cart, json};
        call->cb(call->ctx, status, &c, err);
        tc_rbuf_unref(json);
    } else {
        call->cb(call->ctx, status, NULL, err);
    }
    free(call);
}

static be_call *be_call_new(tc_store *s, tc_store_cb cb, void *ctx)
{
    be_call *call = tc_xcalloc(1, sizeof *call);
    call->s = s;
    call->cb = cb;
    call->ctx = ctx;
    return call;
}

void tc_store_emit_feed(tc_store *s, const tc_cart *cart, uint64_t origin)
{
    if (s->feed == NULL) return;
    tc_rbuf *json = tc_store_encode(s, cart);
    tc_store_cart c = {cart, json};
    s->feed(s->feed_ctx, &c, origin);
    tc_rbuf_unref(json);
}

/* ===== the store =============================================================== */

int tc_store_open(const char *url, const tc_store_opts *opts, uv_loop_t *loop, tc_store **out,
                  tc_errmsg *err)
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
    return tc_store_open_backend(be, colon + 1, opts, loop, out, err);
}

int tc_store_open_backend(const tc_store_backend *be, const char *rest, const tc_store_opts *opts,
                          uv_loop_t *loop, tc_store **out, tc_errmsg *err)
{
    tc_store *s = tc_xcalloc(1, sizeof *s);
    s->be = be;
    s->loop = loop;
    if (opts) s->opts = *opts;
    int rc = be->open(s, rest, err);
    if (rc == 0) {
        rc = be->load_menu(s, &s->menu, err);
        if (rc != 0) {
            s->closing = true;
            be->close(s);
        }
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    if (be->submit) {
        s->pipe = tc_xcalloc(1, sizeof *s->pipe);
        s->pipe->n_buckets = TABLES_MIN_BUCKETS;
        s->pipe->buckets = tc_xcalloc(TABLES_MIN_BUCKETS, sizeof *s->pipe->buckets);
    }
    *out = s;
    return 0;
}

void tc_store_close(tc_store *s)
{
    if (s == NULL) return;
    s->closing = true;
    s->be->close(s);
    pipeline_free(s);
    tc_menu_free(s->menu);
    free(s);
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

/* Answers TC_ENOTFOUND and returns NULL for a table the menu does not have. */
static const tc_table *known_table(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx)
{
    const tc_table *t = tc_menu_table(s->menu, table_id);
    if (t == NULL) {
        tc_errmsg err;
        tc_errmsg_set(&err, TC_ENOTFOUND, "table %d not found", (int)table_id);
        cb(ctx, TC_ENOTFOUND, NULL, &err);
    }
    return t;
}

void tc_store_get(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx)
{
    const tc_table *t = known_table(s, table_id, cb, ctx);
    if (t == NULL) return;
    if (!s->be->submit) {
        s->be->get(s, t, be_answered, be_call_new(s, cb, ctx));
        return;
    }
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
    const tc_table *t = known_table(s, op->table_id, cb, ctx);
    if (t == NULL) return;
    if (!s->be->submit) {
        s->be->mutate(s, t, op, lim, be_answered, be_call_new(s, cb, ctx));
        return;
    }
    request *r = tc_xcalloc(1, sizeof *r);
    r->op = *op;
    r->remark = op->remark ? tc_xstrdup(op->remark) : NULL;
    r->phone = op->who.phone ? tc_xstrdup(op->who.phone) : NULL;
    r->op.remark = r->remark;
    r->op.who.phone = r->phone;
    r->lim = *lim;
    r->cb = cb;
    r->ctx = ctx;
    enqueue(s, r);
}

int tc_store_ping(tc_store *s)
{
    return s->be->ping(s);
}
