#include "store/idem.h"

#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

/* Hash buckets of the key index and of the caller index (powers of two; the
 * chains grow, the tables do not: a few thousand entries is the usual). */
#define KEY_BUCKETS 4096
#define CALLER_BUCKETS 1024

typedef struct caller caller;

typedef struct entry {
    struct entry *chain;         /* same key bucket */
    struct entry *older, *newer; /* all entries, insertion order */
    struct entry *c_older, *c_newer;
    caller *owner;
    uint64_t hash;
    int64_t expires_ms;
    size_t cost;
    tc_idem_answer answer;
    size_t key_len;
    char key[];
} entry;

struct caller {
    caller *chain;
    entry *oldest, *newest;
    size_t bytes;
    uint64_t hash;
    size_t name_len;
    char name[];
};

struct tc_idem {
    entry *keys[KEY_BUCKETS];
    caller *callers[CALLER_BUCKETS];
    entry *oldest, *newest;
    size_t bytes, max_bytes, max_caller_bytes;
    uint64_t evicted;
    tc_buf dropped; /* keys forgotten for a budget since tc_idem_take_dropped */
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

tc_idem *tc_idem_new(size_t max_bytes, size_t max_caller_bytes)
{
    tc_idem *d = tc_xcalloc(1, sizeof *d);
    d->max_bytes = max_bytes;
    d->max_caller_bytes = max_caller_bytes;
    return d;
}

static entry **find(tc_idem *d, tc_view key, uint64_t h)
{
    entry **pp = &d->keys[h & (KEY_BUCKETS - 1)];
    while (*pp && ((*pp)->hash != h || (*pp)->key_len != key.len ||
                   memcmp((*pp)->key, key.base, key.len) != 0))
        pp = &(*pp)->chain;
    return pp;
}

static caller *caller_of(tc_idem *d, tc_view name)
{
    uint64_t h = fnv1a(name.base, name.len);
    caller **pp = &d->callers[h & (CALLER_BUCKETS - 1)];
    for (caller *c = *pp; c; c = c->chain)
        if (c->hash == h && c->name_len == name.len && memcmp(c->name, name.base, name.len) == 0)
            return c;
    caller *c = tc_xcalloc(1, sizeof *c + name.len);
    c->hash = h;
    c->name_len = name.len;
    memcpy(c->name, name.base, name.len);
    c->chain = *pp;
    *pp = c;
    /* The record is the caller's heap too, in its share and overall. */
    c->bytes = tc_heap_cost(sizeof *c + name.len);
    d->bytes += c->bytes;
    return c;
}

static void caller_drop_if_empty(tc_idem *d, caller *c)
{
    if (c->oldest) return;
    caller **pp = &d->callers[c->hash & (CALLER_BUCKETS - 1)];
    while (*pp != c)
        pp = &(*pp)->chain;
    *pp = c->chain;
    d->bytes -= c->bytes; /* its record alone, now */
    free(c);
}

static void remove_entry(tc_idem *d, entry *e);

/* Forgets e before its time, for a budget: its key is listed for the store,
 * whose saved copy must go too. */
static void drop_entry(tc_idem *d, entry *e)
{
    tc_buf_append(&d->dropped, e->key, e->key_len);
    tc_buf_append(&d->dropped, "", 1);
    remove_entry(d, e);
}

static void remove_entry(tc_idem *d, entry *e)
{
    entry **pp = find(d, (tc_view){e->key, e->key_len}, e->hash);
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        d->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        d->newest = e->older;
    caller *c = e->owner;
    if (e->c_older)
        e->c_older->c_newer = e->c_newer;
    else
        c->oldest = e->c_newer;
    if (e->c_newer)
        e->c_newer->c_older = e->c_older;
    else
        c->newest = e->c_older;
    c->bytes -= e->cost;
    d->bytes -= e->cost;
    tc_rbuf_unref(e->answer.json);
    free(e);
    caller_drop_if_empty(d, c);
}

void tc_idem_free(tc_idem *d)
{
    if (!d) return;
    while (d->oldest)
        remove_entry(d, d->oldest);
    tc_buf_free(&d->dropped);
    free(d);
}

const tc_idem_answer *tc_idem_get(tc_idem *d, tc_view key, int64_t now_ms)
{
    entry *e = *find(d, key, fnv1a(key.base, key.len));
    return e && e->expires_ms > now_ms ? &e->answer : NULL;
}

void tc_idem_put(tc_idem *d, tc_view caller_name, tc_view key, int64_t version, tc_rbuf *json,
                 int64_t expires_ms, int64_t now_ms)
{
    /* Expiry follows insertion closely (one TTL): the oldest go first. */
    while (d->oldest && d->oldest->expires_ms <= now_ms)
        remove_entry(d, d->oldest);
    uint64_t h = fnv1a(key.base, key.len);
    entry *old = *find(d, key, h);
    if (old) remove_entry(d, old);

    entry *e = tc_xcalloc(1, sizeof *e + key.len);
    e->hash = h;
    e->expires_ms = expires_ms;
    e->key_len = key.len;
    memcpy(e->key, key.base, key.len);
    e->answer.version = version;
    e->answer.json = tc_rbuf_ref(json);
    e->cost = tc_heap_cost(sizeof *e + key.len) + tc_heap_cost(sizeof *json + json->len);
    caller *c = caller_of(d, caller_name);
    e->owner = c;
    /* A caller past its share forgets its own oldest answers, nobody else's.
     * Its record goes with its last answer: then there is nothing left. */
    while (c->oldest && c->bytes + e->cost > d->max_caller_bytes) {
        bool last = c->oldest == c->newest;
        drop_entry(d, c->oldest);
        if (last) break;
    }
    /* The caller may have been emptied and freed above: look it up again. */
    c = caller_of(d, caller_name);
    e->owner = c;
    while (d->oldest && d->bytes + e->cost > d->max_bytes) {
        drop_entry(d, d->oldest);
        d->evicted++;
        c = caller_of(d, caller_name);
        e->owner = c;
    }
    entry **pp = find(d, key, h);
    e->chain = *pp;
    *pp = e;
    e->older = d->newest;
    if (d->newest)
        d->newest->newer = e;
    else
        d->oldest = e;
    d->newest = e;
    e->c_older = c->newest;
    if (c->newest)
        c->newest->c_newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->bytes += e->cost;
    d->bytes += e->cost;
}

void tc_idem_forget(tc_idem *d, tc_view key)
{
    entry *e = *find(d, key, fnv1a(key.base, key.len));
    if (e) remove_entry(d, e);
}

size_t tc_idem_bytes(const tc_idem *d)
{
    return d->bytes;
}

void tc_idem_take_dropped(tc_idem *d, tc_buf *out)
{
    *out = d->dropped;
    d->dropped = (tc_buf){0};
}

uint64_t tc_idem_evicted(const tc_idem *d)
{
    return d->evicted;
}
