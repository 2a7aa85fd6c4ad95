#include "api/presence.h"

#include "core/clock.h"
#include "core/idmap.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The timer's period: pushes are coalesced to one per tick per table. */
#define PRESENCE_COALESCE_MS 200
/* Every this many ticks (1 s) an instance says again who is at its tables. */
#define RESEND_TICKS 5
/* How long what an instance said holds, in seconds (it says it every 1 s). */
#define PRESENCE_TTL_S 3
/* The most users one instance's signal may name (more are ignored). */
#define SIGNAL_MAX_USERS 1024
#define INST_MAX 40

typedef struct {
    int64_t user_id;
    unsigned streams; /* local: streams of this user here */
} local_user;

/* What another instance said of a table. */
typedef struct remote {
    struct remote *next;
    char inst[INST_MAX + 1];
    int64_t *users;
    size_t n;
    uint64_t expires; /* loop ms */
} remote;

typedef struct {
    int64_t user_id;
    int32_t seat;
    char *name;
} diner;

typedef struct table {
    tc_idmap_node node; /* in tables, by table id */
    int32_t table_id;
    unsigned streams; /* local streams, anonymous ones included */
    local_user *users;
    size_t n_users;
    bool users_changed; /* say it to the others at the next tick */
    remote *remotes;
    tc_buf sent; /* the presence last sent to a stream here */
    bool behind; /* some stream here may hold an older one than sent */
    bool dirty;  /* may differ from sent */
} table;

struct tc_presence {
    tc_app *app;
    char inst[INST_MAX + 1];
    tc_idmap tables; /* table by id: the tables with a stream here */
    uv_timer_t *timer;
    unsigned ticks;
    bool stopped;
};

static table *entry(tc_idmap_node *n)
{
    return n ? TC_IDMAP_ENTRY(n, table, node) : NULL;
}

static table *find(tc_presence *p, int32_t id)
{
    return entry(tc_idmap_find(&p->tables, id));
}

static void remote_free(remote *r)
{
    free(r->users);
    free(r);
}

static void table_free(table *t)
{
    for (remote *r = t->remotes, *next; r; r = next) {
        next = r->next;
        remote_free(r);
    }
    free(t->users);
    tc_buf_free(&t->sent);
    free(t);
}

/* ===== merged state ============================================================ */

static bool online(const table *t, int64_t user_id)
{
    for (size_t i = 0; i < t->n_users; i++)
        if (t->users[i].user_id == user_id) return true;
    for (const remote *r = t->remotes; r; r = r->next)
        for (size_t i = 0; i < r->n; i++)
            if (r->users[i] == user_id) return true;
    return false;
}

/* Distinct users online: here, or at an instance that said so. */
static size_t online_count(const table *t)
{
    size_t n = t->n_users;
    for (const remote *r = t->remotes; r; r = r->next)
        for (size_t i = 0; i < r->n; i++) {
            bool seen = false;
            for (size_t k = 0; k < t->n_users && !seen; k++)
                seen = t->users[k].user_id == r->users[i];
            for (const remote *q = t->remotes; q != r && !seen; q = q->next)
                for (size_t k = 0; k < q->n && !seen; k++)
                    seen = q->users[k] == r->users[i];
            for (size_t k = 0; k < i && !seen; k++)
                seen = r->users[k] == r->users[i];
            if (!seen) n++;
        }
    return n;
}

/* The presence object; diners from d (n of them), online as t says (NULL:
 * nobody here or elsewhere is known to be online). */
static void render(const table *t, int32_t table_id, const tc_diner *d, size_t n, tc_buf *out)
{
    tc_buf_append_str(out, "{\"tableId\":");
    tc_json_int(out, table_id);
    tc_buf_append_str(out, ",\"online\":");
    tc_json_int(out, t ? (int64_t)online_count(t) : 0);
    tc_buf_append_str(out, ",\"diners\":[");
    for (size_t i = 0; i < n; i++) {
        tc_buf_append_str(out, i ? ",{\"userId\":" : "{\"userId\":");
        tc_json_int(out, d[i].user_id);
        tc_buf_append_str(out, ",\"seat\":");
        tc_json_int(out, d[i].seat);
        tc_buf_append_str(out, ",\"name\":");
        tc_diner_name_json(&d[i], out);
        tc_buf_append_str(out, t && online(t, d[i].user_id) ? ",\"online\":true}"
                                                            : ",\"online\":false}");
    }
    tc_buf_append_str(out, "]}");
}

static bool same(const tc_buf *a, const tc_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->base, b->base, a->len) == 0);
}

/* Remembers now (taken) as the presence last sent here. */
static void set_sent(table *t, tc_buf *now)
{
    tc_buf_free(&t->sent);
    t->sent = *now;
    *now = (tc_buf)TC_BUF_INIT;
}

/* Pushes t's presence to its streams here when one of them may not have it:
 * it changed since the last one sent, or a newer one went to a new stream
 * only. */
static void flush(tc_presence *p, table *t)
{
    const tc_diner *d;
    size_t n;
    t->dirty = false;
    /* Not read yet: the first stream's join reads it (and the feed says). */
    if (!tc_store_diners_known(p->app->store, t->table_id, &d, &n)) return;
    tc_buf now = TC_BUF_INIT;
    render(t, t->table_id, d, n, &now);
    if (t->behind || !same(&now, &t->sent)) {
        tc_streams_send_event(p->app->streams, t->table_id, TC_WIRE_PRESENCE,
                              TC_WIRE_PRESENCE_MESSAGE, (tc_view){now.base, now.len},
                              tc_clock_epoch_ms(), true);
        t->behind = false;
        set_sent(t, &now);
    }
    tc_buf_free(&now);
}

/* ===== telling the others ====================================================== */

/* Whether anyone else hears what this instance says: with one instance
 * (SQLite) a signal would only come back to be ignored as our own. */
static bool others_listen(const tc_presence *p)
{
    return p->app->store && tc_store_shared(p->app->store);
}

static void say(tc_presence *p, table *t)
{
    t->users_changed = false;
    if (!others_listen(p)) return;
    tc_buf msg = TC_BUF_INIT;
    tc_buf_append_str(&msg, "{\"inst\":");
    tc_json_cstr_or_null(&msg, p->inst);
    tc_buf_append_str(&msg, ",\"users\":[");
    for (size_t i = 0; i < t->n_users; i++) {
        if (i) tc_buf_append(&msg, ",", 1);
        tc_json_int(&msg, t->users[i].user_id);
    }
    tc_buf_append_str(&msg, "],\"ttl\":");
    tc_json_int(&msg, PRESENCE_TTL_S);
    tc_buf_append(&msg, "}", 1);
    tc_store_signal(p->app->store, t->table_id, msg.base, msg.len);
    tc_buf_free(&msg);
}

/* The table's diners changed here (a new seat, a name): the others read
 * them again. */
static void say_diners(tc_presence *p, int32_t table_id)
{
    if (!others_listen(p)) return;
    tc_buf msg = TC_BUF_INIT;
    tc_buf_append_str(&msg, "{\"inst\":");
    tc_json_cstr_or_null(&msg, p->inst);
    tc_buf_append_str(&msg, ",\"diners\":true}");
    tc_store_signal(p->app->store, table_id, msg.base, msg.len);
    tc_buf_free(&msg);
}

/* What another instance said of a table followed here: who is online
 * there, or that the table's diners changed. */
static void on_signal(void *ctx, int32_t table_id, const char *msg, size_t len)
{
    tc_presence *p = ctx;
    if (p->stopped) return;
    json_t *j = json_loadb(msg, len, 0, NULL);
    json_t *inst = json_object_get(j, "inst"), *users = json_object_get(j, "users"),
           *ttl = json_object_get(j, "ttl");
    if (!json_is_string(inst) || json_string_length(inst) > INST_MAX ||
        strcmp(json_string_value(inst), p->inst) == 0) {
        json_decref(j); /* malformed, or our own */
        return;
    }
    if (json_is_true(json_object_get(j, "diners"))) {
        json_decref(j);
        /* Read again; the diners feed marks the table when they differ. */
        tc_store_diners_reread(p->app->store, table_id);
        return;
    }
    table *t = find(p, table_id);
    if (t == NULL || !json_is_array(users) || !json_is_integer(ttl)) {
        json_decref(j);
        return;
    }
    remote **pp = &t->remotes;
    while (*pp && strcmp((*pp)->inst, json_string_value(inst)) != 0)
        pp = &(*pp)->next;
    remote *r = *pp;
    if (r == NULL) {
        r = tc_xcalloc(1, sizeof *r);
        snprintf(r->inst, sizeof r->inst, "%s", json_string_value(inst));
        *pp = r;
    }
    size_t n =
        json_array_size(users) < SIGNAL_MAX_USERS ? json_array_size(users) : SIGNAL_MAX_USERS;
    free(r->users);
    r->users = tc_xcalloc(n ? n : 1, sizeof *r->users);
    r->n = 0;
    for (size_t i = 0; i < n; i++)
        if (json_is_integer(json_array_get(users, i)))
            r->users[r->n++] = json_integer_value(json_array_get(users, i));
    json_int_t secs = json_integer_value(ttl);
    if (secs < 1 || secs > 60) secs = PRESENCE_TTL_S;
    r->expires = uv_now(p->app->loop) + (uint64_t)secs * 1000u;
    if (r->n == 0) {
        *pp = r->next; /* left: forget it now */
        remote_free(r);
    }
    t->dirty = true;
    json_decref(j);
}

/* Drops what expired: an instance that stopped saying (killed). */
static void expire(tc_presence *p, table *t)
{
    uint64_t now = uv_now(p->app->loop);
    for (remote **pp = &t->remotes; *pp;) {
        if ((*pp)->expires <= now) {
            remote *r = *pp;
            *pp = r->next;
            remote_free(r);
            t->dirty = true;
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void on_tick(uv_timer_t *h)
{
    tc_presence *p = h->data;
    bool resend = ++p->ticks % RESEND_TICKS == 0;
    size_t pos = 0;
    for (table *t = entry(tc_idmap_next(&p->tables, &pos, NULL)); t;
         t = entry(tc_idmap_next(&p->tables, &pos, &t->node))) {
        if (t->users_changed || (resend && t->n_users > 0)) say(p, t);
        if (resend) expire(p, t);
        if (t->dirty) flush(p, t);
    }
}

/* ===== the live layer's calls ================================================== */

/* The store's diners feed: a table's seats or names changed. */
static void on_diners(void *ctx, int32_t table_id, bool mine)
{
    tc_presence *p = ctx;
    if (p->stopped) return;
    table *t = find(p, table_id);
    if (t) t->dirty = true;
    if (mine) say_diners(p, table_id);
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

tc_presence *tc_presence_new(tc_app *app)
{
    tc_presence *p = tc_xcalloc(1, sizeof *p);
    p->app = app;
    tc_idmap_init(&p->tables);
    /* Unique enough among instances: the process and the moment it started. */
    snprintf(p->inst, sizeof p->inst, "%ld-%llx", (long)getpid(), (unsigned long long)uv_hrtime());
    p->timer = tc_xcalloc(1, sizeof *p->timer);
    uv_timer_init(app->loop, p->timer);
    p->timer->data = p;
    tc_store_set_signal_feed(app->store, on_signal, p);
    tc_store_set_diners_feed(app->store, on_diners, p);
    return p;
}

void tc_presence_stop(tc_presence *p)
{
    if (p == NULL || p->stopped) return;
    p->stopped = true;
    if (p->app->store) {
        tc_store_set_signal_feed(p->app->store, NULL, NULL);
        tc_store_set_diners_feed(p->app->store, NULL, NULL);
    }
    uv_close((uv_handle_t *)p->timer, timer_closed);
    p->timer = NULL;
}

void tc_presence_free(tc_presence *p)
{
    if (p == NULL) return;
    size_t pos = 0;
    for (tc_idmap_node *n = tc_idmap_next(&p->tables, &pos, NULL), *nx; n; n = nx) {
        nx = tc_idmap_next(&p->tables, &pos, n);
        table_free(entry(n));
    }
    tc_idmap_free(&p->tables);
    free(p);
}

void tc_presence_enter(tc_presence *p, int32_t table_id, const tc_identity *who)
{
    if (p->stopped) return;
    table *t = find(p, table_id);
    if (t == NULL) {
        t = tc_xcalloc(1, sizeof *t);
        t->table_id = table_id;
        tc_idmap_add(&p->tables, &t->node, table_id);
        if (p->tables.count == 1)
            uv_timer_start(p->timer, on_tick, PRESENCE_COALESCE_MS, PRESENCE_COALESCE_MS);
    }
    t->streams++;
    if (!who->has_user_id) return;
    for (size_t i = 0; i < t->n_users; i++)
        if (t->users[i].user_id == who->user_id) {
            t->users[i].streams++;
            return;
        }
    t->users = tc_xrealloc(t->users, (t->n_users + 1) * sizeof *t->users);
    t->users[t->n_users++] = (local_user){who->user_id, 1};
    t->users_changed = t->dirty = true;
}

void tc_presence_leave(tc_presence *p, int32_t table_id, const tc_identity *who)
{
    table *t = find(p, table_id);
    if (t == NULL) return;
    if (who->has_user_id)
        for (size_t i = 0; i < t->n_users; i++)
            if (t->users[i].user_id == who->user_id && --t->users[i].streams == 0) {
                t->users[i] = t->users[--t->n_users];
                t->users_changed = t->dirty = true;
                break;
            }
    if (--t->streams > 0) return;
    /* No stream here any more: nobody to push to. The others hear we left. */
    if (!p->stopped) say(p, t);
    tc_idmap_remove(&p->tables, &t->node);
    table_free(t);
    if (p->tables.count == 0 && !p->stopped) uv_timer_stop(p->timer);
}

void tc_presence_json(tc_presence *p, int32_t table_id, const tc_diner *list, size_t n, tc_buf *out)
{
    render(find(p, table_id), table_id, list, n, out);
}

void tc_presence_send(tc_presence *p, tc_stream *s)
{
    table *t = find(p, tc_stream_table(s));
    const tc_diner *d;
    size_t n;
    if (t == NULL || !tc_store_diners_known(p->app->store, t->table_id, &d, &n)) return;
    tc_buf now = TC_BUF_INIT;
    render(t, t->table_id, d, n, &now);
    tc_stream_send_event(s, TC_WIRE_PRESENCE, TC_WIRE_PRESENCE_MESSAGE,
                         (tc_view){now.base, now.len}, tc_clock_epoch_ms());
    /* The others here got what was sent before (nothing yet: none needs
     * it again); when that is older, the next tick pushes this to all. */
    if (t->sent.len > 0 && !same(&now, &t->sent)) t->behind = t->dirty = true;
    set_sent(t, &now);
    tc_buf_free(&now);
}
