/* idmap.h — a hash of nodes keyed by a 32-bit id (a table id): chained,
 * doubling as it fills, so a lookup stays O(1) at tens of thousands of
 * tables. Intrusive: the caller embeds a tc_idmap_node in its own struct,
 * owns it, and gets back to the struct with TC_IDMAP_ENTRY. The map owns
 * only its bucket array. I/O-free; one thread. */
#ifndef TC_CORE_IDMAP_H
#define TC_CORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tc_idmap_node {
    struct tc_idmap_node *chain;
    int32_t id;
} tc_idmap_node;

typedef struct {
    tc_idmap_node **buckets;
    size_t n_buckets, count;
} tc_idmap;

/* The struct of type `type` whose member `member` is node n. */
#define TC_IDMAP_ENTRY(n, type, member) ((type *)(void *)((char *)(n)-offsetof(type, member)))

/* An empty map (a small bucket array is allocated). */
void tc_idmap_init(tc_idmap *m);
/* Frees the bucket array; the nodes are the caller's. */
void tc_idmap_free(tc_idmap *m);
/* The node with id, or NULL. */
tc_idmap_node *tc_idmap_find(const tc_idmap *m, int32_t id);
/* Adds n under id, which must not be in the map. May grow the buckets. */
void tc_idmap_add(tc_idmap *m, tc_idmap_node *n, int32_t id);
/* Takes n (in the map) out. */
void tc_idmap_remove(tc_idmap *m, tc_idmap_node *n);
/* Iteration in no particular order:
 *     size_t pos = 0;
 *     for (tc_idmap_node *n = tc_idmap_next(m, &pos, NULL), *nx; n; n = nx) {
 *         nx = tc_idmap_next(m, &pos, n);
 *         ... (may remove or free n, nothing else; may add nothing)
 *     }
 * Returns the node after `after` (NULL: the first), or NULL at the end. */
tc_idmap_node *tc_idmap_next(const tc_idmap *m, size_t *pos, const tc_idmap_node *after);

#endif
