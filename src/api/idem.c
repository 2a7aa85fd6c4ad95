#include "api/idem.h"

#include "core/mem.h"

#include <stdlib.h>

typedef struct entry {
    struct entry *chain;         /* same bucket */
    struct entry *older, *newer; /* insertion order = expiry order (one TTL for all) */
    uint64_t hash;
    uint64_t expires;
    tc_buf id; /* method \n path \n key */
    tc_idem_answer answer;
} entry;

struct tc_idem {
    entry **buckets;
    size_t n_buckets, count, max;
    uint64_t ttl;
    entry *oldest, *newest;
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void make_id(tc_buf *id, tc_view m, tc_view p, tc_view k)
{
    tc_buf_append(id, m.base, m.len);
    tc_buf_append(id, "\n", 1);
    tc_buf_append(id, p.base, p.len);
    tc_buf_append(id, "\n", 1);
    tc_buf_append(id, k.base, k.len);
}

tc_idem *tc_idem_new(size_t max_entries, uint64_t ttl_ms)
{
    tc_idem *d = tc_xcalloc(1, sizeof *d);
    d->n_buckets = 1;
    while (d->n_buckets < max_entries)
        d->n_buckets *= 2;
    d->buckets = tc_xcalloc(d->n_buckets, sizeof *d->buckets);
    d->max = max_entries;
    d->ttl = ttl_ms;
    return d;
}

static void unlink_entry(tc_idem *d, entry *e)
{
    entry **pp = &d->buckets[e->hash & (d->n_buckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        d->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        d->newest = e->older;
    tc_buf_free(&e->id);
    tc_buf_free(&e->answer.headers);
    tc_buf_free(&e->answer.body);
    free(e);
    d->count--;
}

void tc_idem_free(tc_idem *d)
{
    if (!d) return;
    while (d->oldest)
        unlink_entry(d, d->oldest);
    free(d->buckets);
    free(d);
}

static void expire(tc_idem *d, uint64_t now)
{
    while (d->oldest && (d->oldest->expires <= now || d->count > d->max))
        unlink_entry(d, d->oldest);
}

const tc_idem_answer *tc_idem_get(tc_idem *d, tc_view m, tc_view p, tc_view k, uint64_t now)
{
    expire(d, now);
    tc_buf id = TC_BUF_INIT;
    make_id(&id, m, p, k);
    uint64_t h = fnv1a(id.base, id.len);
    entry *e = d->buckets[h & (d->n_buckets - 1)];
    for (; e; e = e->chain)
        if (e->hash == h && e->id.len == id.len && memcmp(e->id.base, id.base, id.len) == 0) break;
    tc_buf_free(&id);
    return e ? &e->answer : NULL;
}

void tc_idem_put(tc_idem *d, tc_view m, tc_view p, tc_view k, int status, const char *headers,
                 const char *body, size_t len, uint64_t now)
{
    entry *e = tc_xcalloc(1, sizeof *e);
    make_id(&e->id, m, p, k);
    e->hash = fnv1a(e->id.base, e->id.len);
    e->expires = now + d->ttl;
    e->answer.status = status;
    if (headers) tc_buf_append_str(&e->answer.headers, headers);
    tc_buf_append(&e->answer.body, body, len);
    size_t b = e->hash & (d->n_buckets - 1);
    e->chain = d->buckets[b];
    d->buckets[b] = e;
    e->older = d->newest;
    if (d->newest)
        d->newest->newer = e;
    else
        d->oldest = e;
    d->newest = e;
    d->count++;
    expire(d, now);
}
