/* diners.c — who sits at each table, apart from the cart (store.h, "who
 * sits at a table"): the lists known in memory and the order of the calls.
 *
 * Per table, calls wait in one FIFO and at most one backend job is on its
 * way. A call the list in memory can answer (a GET, a JOIN of someone
 * seated already or at a full table, a NAME that changes nothing) is
 * answered from it; any other call becomes one job that changes the table's
 * diners in the database and brings back the whole list. So the first
 * stream of a table costs one job and every later stream of a seated diner
 * none, however many open together: they queue behind that first job.
 *
 * Sittings (store.h): while a table is followed here, a sweep every
 * tc_sitting_sweep_ms queues a TOUCH for it when the last step that told the
 * backend it is active is tc_sitting_touch_ms old, and its last unfollow
 * queues one more. The list in memory answers only while the table is
 * "current": followed here since such a step ended well. Otherwise the
 * backend's step decides, as the sitting may have ended meanwhile — unless
 * the table stayed followed here all along since such a step ("held"): its
 * touches failed (a store outage) while a diner was at the table, so a TOUCH
 * goes first, and the call then finds the sitting going on, however long
 * the outage. With another writer (Redis), such a TOUCH also goes as soon as
 * the table is read again after the outage (tc_store_diners_reread), ahead
 * of the other instances' seat steps. */
#include "store/backend.h"

#include "core/idmap.h"
#include "core/mem.h"
#include "core/text.h"

#include <stdlib.h>
#include <string.h>

typedef struct dcall {
    struct dcall *next;
    tc_diners_op op;
    bool keep; /* a TOUCH's tc_store_job.keep */
    int64_t user_id;
    char *name;
    tc_store_diners_cb cb;
    void *ctx;
} dcall;

typedef struct dtable {
    tc_idmap_node node; /* in tables, by table id */
    int32_t table_id;
    bool known;    /* list was read */
    bool stale;    /* read it again before answering from it */
    bool busy;     /* a job is on its way */
    bool for_head; /* ... and it answers the call at the head */
    bool reread;   /* read again once that job ended */
    bool current;  /* sittings: followed here since a step told the backend */
    bool touching; /* sittings: a TOUCH is queued or on its way */
    bool held;     /* sittings: followed here without a break since a step told the backend */
    bool retold;   /* sittings: a TOUCH went ahead of the call at the head */
    uint64_t told; /* sittings: loop ms of the last step telling the backend (or trying) */
    tc_diner *list;
    size_t n;
    dcall *head, *tail;
} dtable;

struct tc_store_seats {
    tc_idmap tables; /* dtable by table id: those whose diners were asked for */
    tc_store_diners_feed_cb feed;
    void *feed_ctx;
    int64_t gap_ms;    /* s->opts.sitting_gap_ms: 0, no sittings */
    uv_timer_t *sweep; /* sittings: the touches' sweep */
};

static dtable *find(tc_store_seats *d, int32_t id)
{
    tc_idmap_node *n = tc_idmap_find(&d->tables, id);
    return n ? TC_IDMAP_ENTRY(n, dtable, node) : NULL;
}

static dtable *table_of(tc_store_seats *d, int32_t id)
{
    dtable *t = find(d, id);
    if (t == NULL) {
        t = tc_xcalloc(1, sizeof *t);
        t->table_id = id;
        tc_idmap_add(&d->tables, &t->node, id);
    }
    return t;
}

/* Sittings are on, and the list in memory may not hold the table's sitting
 * (see above). */
static bool uncertain(const tc_store_seats *d, const dtable *t)
{
    return d->gap_ms > 0 && !t->current;
}

static void call_free(dcall *c)
{
    free(c->name);
    free(c);
}

/* Takes the call at t's head off the queue. */
static dcall *pop(dtable *t)
{
    dcall *c = t->head;
    t->head = c->next;
    if (t->head == NULL) t->tail = NULL;
    return c;
}

/* Tells cb that no answer comes: the store closed (or was closing when
 * asked), so that its caller frees what it holds for the answer. cb NULL:
 * the store's own call (a TOUCH), nobody to tell. */
static void tell_closed(tc_store_diners_cb cb, void *ctx)
{
    if (cb == NULL) return;
    tc_errmsg err;
    tc_errmsg_set(&err, TC_ECLOSED, "store: closed before answering");
    cb(ctx, TC_ECLOSED, NULL, 0, &err);
}

/* Answers c (already off the queue; TC_ECLOSED while the store closes) and
 * frees it. */
static void answer(tc_store *s, dtable *t, dcall *c, int status, const tc_errmsg *err)
{
    if (s->closing || c->cb == NULL)
        tell_closed(c->cb, c->ctx);
    else if (status < 0)
        c->cb(c->ctx, status, NULL, 0, err);
    else
        c->cb(c->ctx, status, t->list, t->n, NULL);
    call_free(c);
}

static void job_done(tc_store_job *j);

static void start_job(tc_store *s, dtable *t, tc_diners_op op, bool keep, int64_t user_id,
                      const char *name, bool for_head)
{
    tc_store_job *j = tc_xcalloc(1, sizeof *j);
    j->kind = TC_JOB_DINERS;
    j->table_id = t->table_id;
    j->diners_op = op;
    j->keep = keep;
    j->gap_ms = s->diners->gap_ms;
    j->user_id = user_id;
    j->name = name ? tc_xstrdup(name) : NULL;
    j->done = job_done;
    j->ctx = s;
    t->busy = true;
    t->for_head = for_head;
    t->reread = false; /* this job reads the latest list anyway */
    s->be->submit(s, j);
}

/* True when the list in memory answers c: *status is its answer. */
static bool from_memory(const tc_store_seats *seats, const dtable *t, const dcall *c, int *status)
{
    if (!t->known || t->stale || c->op == TC_DINERS_TOUCH || uncertain(seats, t)) return false;
    *status = TC_UNCHANGED;
    if (c->op == TC_DINERS_GET) {
        *status = 0;
        return true;
    }
    const tc_diner *d = tc_diner_find(t->list, t->n, c->user_id);
    if (c->op == TC_DINERS_JOIN) return d != NULL || t->n >= TC_DINER_MAX_SEATS;
    return d != NULL && d->name != NULL && strcmp(d->name, c->name) == 0;
}

/* Sittings: t was held here but its last step failed, so the backend's
 * activity time may be older than the gap although a diner never left: it
 * is told first (once per call), so that the call does not end the sitting. */
static bool retell_first(const tc_store_seats *d, const dtable *t)
{
    return d->gap_ms > 0 && t->held && !t->current && !t->retold && t->head->op != TC_DINERS_TOUCH;
}

/* Answers what memory can, in order, until a call needs a job. */
static void pump(tc_store *s, dtable *t)
{
    while (!t->busy && !s->closing) {
        if (t->head == NULL) {
            if (t->reread) start_job(s, t, TC_DINERS_GET, false, 0, NULL, false);
            return;
        }
        int rc;
        if (!from_memory(s->diners, t, t->head, &rc)) {
            if (retell_first(s->diners, t)) {
                t->retold = t->touching = true;
                start_job(s, t, TC_DINERS_TOUCH, true, 0, NULL, false);
            } else {
                start_job(s, t, t->head->op, t->head->keep, t->head->user_id, t->head->name, true);
            }
            return;
        }
        t->retold = false;
        answer(s, t, pop(t), rc, NULL);
    }
}

static void job_done(tc_store_job *j)
{
    tc_store *s = j->ctx;
    if (s->closing) {
        tc_diners_free(j->diners, j->n_diners);
        free(j->name);
        free(j);
        return;
    }
    dtable *t = table_of(s->diners, j->table_id);
    t->busy = false;
    bool changed = false;
    if (j->status == 0 || j->status == TC_ELIMIT) {
        changed = !t->known || !tc_diners_equal(t->list, t->n, j->diners, j->n_diners);
        tc_diners_free(t->list, t->n);
        t->list = j->diners;
        t->n = j->n_diners;
        j->diners = NULL;
        j->n_diners = 0;
        t->known = true;
        t->stale = false;
    }
    if (j->status == TC_ELIMIT)
        tc_errmsg_say(&j->err, TC_ELIMIT, TC_T_TABLE_FULL, TC_DINER_MAX_SEATS);
    if (j->diners_op != TC_DINERS_GET) {
        /* The backend was told the table is active, or failed to be: a
         * failed TOUCH is tried again a touch period later, not at every
         * sweep (a store outage costs no flood of jobs). */
        bool told = j->status == 0 || j->status == TC_ELIMIT;
        t->current = told && tc_store_following(s, t->table_id) > 0;
        if (t->current) t->held = true;
        t->told = uv_now(s->loop);
        if (j->diners_op == TC_DINERS_TOUCH) t->touching = false;
    }
    if (t->for_head) {
        int rc = j->status;
        if (rc == 0 && j->diners_op != TC_DINERS_GET && !j->wrote) rc = TC_UNCHANGED;
        t->retold = false;
        answer(s, t, pop(t), rc, &j->err);
    }
    bool mine = j->wrote;
    tc_diners_free(j->diners, j->n_diners);
    free(j->name);
    free(j);
    tc_store_seats *d = s->diners;
    if ((changed || mine) && d->feed && !s->closing) d->feed(d->feed_ctx, t->table_id, mine);
    pump(s, t);
}

/* Queues a call of t (cb NULL: the store's own, answered to nobody) and
 * answers what can be answered. */
static void enqueue(tc_store *s, dtable *t, tc_diners_op op, bool keep, int64_t user_id,
                    const char *name, tc_store_diners_cb cb, void *ctx)
{
    dcall *c = tc_xcalloc(1, sizeof *c);
    c->op = op;
    c->keep = keep;
    c->user_id = user_id;
    c->name = op == TC_DINERS_NAME && name ? tc_xstrdup(name) : NULL;
    if (op == TC_DINERS_NAME && c->name == NULL) c->name = tc_xstrdup("");
    c->cb = cb;
    c->ctx = ctx;
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    pump(s, t);
}

/* Sittings: tells the backend that t is active now (one TOUCH at a time).
 * keep: t was held here (a diner stayed all along), so the sitting goes on
 * however old the backend's activity time; otherwise a sitting found over
 * ends first, as at a seat step (a stream with no user, come after the gap,
 * does not bring the last party back). */
static void touch(tc_store *s, dtable *t, bool keep)
{
    if (t->touching || s->closing) return;
    t->touching = true;
    enqueue(s, t, TC_DINERS_TOUCH, keep, 0, NULL, NULL, NULL);
}

/* Sittings: touches every table followed here whose backend was last told
 * tc_sitting_touch_ms ago. */
static void on_sweep(uv_timer_t *h)
{
    tc_store *s = h->data;
    tc_store_seats *d = s->diners;
    if (s->closing) return;
    uint64_t now = uv_now(s->loop), every = (uint64_t)tc_sitting_touch_ms(d->gap_ms);
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&d->tables, &pos, NULL); n;
         n = tc_idmap_next(&d->tables, &pos, n)) {
        dtable *t = TC_IDMAP_ENTRY(n, dtable, node);
        if (now - t->told >= every && tc_store_following(s, t->table_id) > 0) touch(s, t, t->held);
    }
}

void tc_store_diners(tc_store *s, int32_t table_id, tc_diners_op op, int64_t user_id,
                     const char *name, tc_store_diners_cb cb, void *ctx)
{
    if (s->closing) {
        tell_closed(cb, ctx);
        return;
    }
    if (tc_menu_table(s->menu, table_id) == NULL) {
        tc_errmsg err;
        tc_errmsg_say(&err, TC_ENOTFOUND, TC_T_TABLE_NOT_FOUND, (int)table_id);
        cb(ctx, TC_ENOTFOUND, NULL, 0, &err);
        return;
    }
    enqueue(s, table_of(s->diners, table_id), op, false, user_id, name, cb, ctx);
}

bool tc_store_diners_known(const tc_store *s, int32_t table_id, const tc_diner **list, size_t *n)
{
    dtable *t = find(s->diners, table_id);
    if (t == NULL || !t->known) return false;
    *list = t->list;
    *n = t->n;
    return true;
}

void tc_store_diners_reread(tc_store *s, int32_t table_id)
{
    dtable *t = find(s->diners, table_id);
    if (t == NULL || !t->known || s->closing) return;
    t->reread = true;
    /* Sittings: a step of t failed while a diner stayed here (a store
     * outage, which may have outlasted the gap). The store answers again, so
     * it is told now, not at the sweep's touch a period later: another
     * instance's seat step would find the gap passed meanwhile. The TOUCH
     * reads the list too. */
    if (s->diners->gap_ms > 0 && t->held && !t->current) touch(s, t, true);
    pump(s, t);
}

void tc_store_diners_followed(tc_store *s, int32_t table_id)
{
    tc_store_seats *d = s->diners;
    if (d == NULL || d->gap_ms == 0 || s->closing) return;
    /* The stream's own JOIN (or GET) comes next: the sweep touches it from
     * one period after now on. */
    dtable *t = table_of(d, table_id);
    t->told = uv_now(s->loop);
}

void tc_store_diners_unfollowed(tc_store *s, int32_t table_id)
{
    tc_store_seats *d = s->diners;
    if (d == NULL) return;
    dtable *t = find(d, table_id);
    /* The only writer (no `current` hook) hears every change: never stale. */
    if (t && s->be->current != NULL) t->stale = true;
    if (t && d->gap_ms > 0) {
        /* Nobody here any more: away from now on, as the backend is told
         * (the sitting went on until now if a diner stayed all along). */
        bool keep = t->held;
        t->current = t->held = false;
        touch(s, t, keep);
    }
}

void tc_store_set_diners_feed(tc_store *s, tc_store_diners_feed_cb cb, void *ctx)
{
    s->diners->feed = cb;
    s->diners->feed_ctx = ctx;
}

void tc_store_diners_open(tc_store *s)
{
    tc_store_seats *d = tc_xcalloc(1, sizeof *d);
    s->diners = d;
    tc_idmap_init(&d->tables);
    d->gap_ms = s->opts.sitting_gap_ms > 0 ? s->opts.sitting_gap_ms : 0;
    if (d->gap_ms == 0) return;
    d->sweep = tc_xcalloc(1, sizeof *d->sweep);
    uv_timer_init(s->loop, d->sweep);
    d->sweep->data = s;
    uint64_t every = (uint64_t)tc_sitting_sweep_ms(d->gap_ms);
    uv_timer_start(d->sweep, on_sweep, every, every);
    uv_unref((uv_handle_t *)d->sweep); /* the sweep does not keep a loop alive */
}

static void sweep_closed(uv_handle_t *h)
{
    free(h);
}

void tc_store_diners_close(tc_store *s)
{
    tc_store_seats *d = s->diners;
    if (d == NULL) return;
    if (d->sweep) uv_close((uv_handle_t *)d->sweep, sweep_closed);
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&d->tables, &pos, NULL), *nx; n; n = nx) {
        nx = tc_idmap_next(&d->tables, &pos, n);
        dtable *t = TC_IDMAP_ENTRY(n, dtable, node);
        dcall *head = t->head;
        t->head = t->tail = NULL;
        for (dcall *c = head, *cn; c; c = cn) {
            cn = c->next;
            answer(s, t, c, TC_ECLOSED, NULL);
        }
        tc_diners_free(t->list, t->n);
        free(t);
    }
    tc_idmap_free(&d->tables);
    free(d);
    s->diners = NULL;
}
