/* test_idmap.c — core/idmap: find, add, remove, growth past the first
 * buckets, and iteration that visits every node once, also while removing
 * the node it is at. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/idmap.h"

#include <stdlib.h>

typedef struct {
    int payload;
    tc_idmap_node node;
} item;

enum { N = 5000 };

static void test_find_add_remove_and_grow(void **state)
{
    (void)state;
    tc_idmap m;
    tc_idmap_init(&m);
    item *items = calloc(N, sizeof *items);
    assert_null(tc_idmap_find(&m, 1));
    for (int i = 0; i < N; i++) {
        items[i].payload = i;
        tc_idmap_add(&m, &items[i].node, (int32_t)(i * 7 + 1)); /* spread, many buckets */
    }
    assert_int_equal(m.count, N);
    assert_true(m.n_buckets >= N);
    for (int i = 0; i < N; i++) {
        tc_idmap_node *n = tc_idmap_find(&m, (int32_t)(i * 7 + 1));
        assert_non_null(n);
        assert_int_equal(TC_IDMAP_ENTRY(n, item, node)->payload, i);
    }
    assert_null(tc_idmap_find(&m, 3)); /* 3 = 0 * 7 + 3: never added */
    for (int i = 0; i < N; i += 2)
        tc_idmap_remove(&m, &items[i].node);
    assert_int_equal(m.count, N / 2);
    for (int i = 0; i < N; i++)
        assert_true((tc_idmap_find(&m, (int32_t)(i * 7 + 1)) != NULL) == (i % 2 == 1));
    tc_idmap_free(&m);
    free(items);
}

static void test_iteration_visits_each_once_while_removing(void **state)
{
    (void)state;
    tc_idmap m;
    tc_idmap_init(&m);
    item *items = calloc(N, sizeof *items);
    for (int i = 0; i < N; i++) {
        items[i].payload = i;
        tc_idmap_add(&m, &items[i].node, (int32_t)(i % 2 ? i : -i - 1)); /* negative ids too */
    }
    char *seen = calloc(N, 1);
    size_t pos = 0, visited = 0;
    for (tc_idmap_node *n = tc_idmap_next(&m, &pos, NULL), *nx; n; n = nx) {
        nx = tc_idmap_next(&m, &pos, n);
        item *it = TC_IDMAP_ENTRY(n, item, node);
        assert_int_equal(seen[it->payload], 0);
        seen[it->payload] = 1;
        visited++;
        if (it->payload % 3 == 0) tc_idmap_remove(&m, n); /* the node it is at */
    }
    assert_int_equal(visited, N);
    assert_int_equal(m.count, N - (N + 2) / 3);
    pos = 0;
    visited = 0;
    for (tc_idmap_node *n = tc_idmap_next(&m, &pos, NULL); n; n = tc_idmap_next(&m, &pos, n)) {
        assert_int_not_equal(TC_IDMAP_ENTRY(n, item, node)->payload % 3, 0);
        visited++;
    }
    assert_int_equal(visited, m.count);
    tc_idmap_free(&m);
    free(seen);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_add_remove_and_grow),
        cmocka_unit_test(test_iteration_visits_each_once_while_removing),
    };
    return cmocka_run_group_tests_name("idmap", tests, NULL, NULL);
}
