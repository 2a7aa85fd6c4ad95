#include "core/idmap.h"

#include "core/mem.h"

#include <stdlib.h>

#define MIN_BUCKETS 64

static size_t bucket_of(size_t n_buckets, int32_t id)
{
    return ((uint32_t)id * 2654435761u) & (n_buckets - 1);
}

void tc_idmap_init(tc_idmap *m)
{
    m->n_buckets = MIN_BUCKETS;
    m->count = 0;
    m->buckets = tc_xcalloc(MIN_BUCKETS, sizeof *m->buckets);
}

void tc_idmap_free(tc_idmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = m->count = 0;
}

tc_idmap_node *tc_idmap_find(const tc_idmap *m, int32_t id)
{
    tc_idmap_node *n = m->buckets[bucket_of(m->n_buckets, id)];
    while (n && n->id != id)
        n = n->chain;
    return n;
}

static void grow(tc_idmap *m)
{
    size_t nb = m->n_buckets * 2;
    tc_idmap_node **b = tc_xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->n_buckets; i++)
        for (tc_idmap_node *n = m->buckets[i], *next; n; n = next) {
            next = n->chain;
            size_t k = bucket_of(nb, n->id);
            n->chain = b[k];
            b[k] = n;
        }
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = nb;
}

void tc_idmap_add(tc_idmap *m, tc_idmap_node *n, int32_t id)
{
    if (m->count + 1 > m->n_buckets) grow(m);
    tc_idmap_node **pp = &m->buckets[bucket_of(m->n_buckets, id)];
    n->id = id;
    n->chain = *pp;
    *pp = n;
    m->count++;
}

void tc_idmap_remove(tc_idmap *m, tc_idmap_node *n)
{
    tc_idmap_node **pp = &m->buckets[bucket_of(m->n_buckets, n->id)];
    while (*pp && *pp != n)
        pp = &(*pp)->chain;
    if (*pp == NULL) return; /* not in the map */
    *pp = n->chain;
    n->chain = NULL;
    m->count--;
}

tc_idmap_node *tc_idmap_next(const tc_idmap *m, size_t *pos, const tc_idmap_node *after)
{
    if (after && after->chain) return after->chain;
    for (size_t b = after ? *pos + 1 : 0; b < m->n_buckets; b++)
        if (m->buckets[b]) {
            *pos = b;
            return m->buckets[b];
        }
    return NULL;
}
