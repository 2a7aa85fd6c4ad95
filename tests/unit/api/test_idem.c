/* test_idem.c — remembered answers for Idempotency-Key: keyed by method +
 * path + key, expiring by time, bounded by count (oldest first). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/idem.h"

#include <stdio.h>
#include <string.h>

#define DAY (24ull * 3600 * 1000)
#define T0 1704067200000ull

static tc_view V(const char *s)
{
    return tc_view_of(s);
}

static void put(tc_idem *d, const char *m, const char *p, const char *k, int status,
                const char *body, uint64_t now)
{
    tc_idem_put(d, V(m), V(p), V(k), status, NULL, body, strlen(body), now);
}

static const tc_idem_answer *get(tc_idem *d, const char *m, const char *p, const char *k,
                                 uint64_t now)
{
    return tc_idem_get(d, V(m), V(p), V(k), now);
}

static void test_put_get(void **state)
{
    (void)state;
    tc_idem *d = tc_idem_new(100, DAY);
    assert_null(get(d, "POST", "/api/store/order/cart/add", "k1", T0));
    const char *hdrs = "ETag: \"v1\"\r\n";
    const char body[] = "{\"code\":200}";
    char copy[sizeof body];
    memcpy(copy, body, sizeof body);
    tc_idem_put(d, V("POST"), V("/api/store/order/cart/add"), V("k1"), 200, hdrs, copy,
                sizeof body - 1, T0);
    memset(copy, 'x', sizeof copy - 1); /* everything was copied */
    const tc_idem_answer *a = get(d, "POST", "/api/store/order/cart/add", "k1", T0 + 1);
    assert_non_null(a);
    assert_int_equal(a->status, 200);
    assert_int_equal(a->headers.len, strlen(hdrs));
    assert_memory_equal(a->headers.base, hdrs, strlen(hdrs));
    assert_int_equal(a->body.len, sizeof body - 1);
    assert_memory_equal(a->body.base, body, sizeof body - 1);
    /* Again: a get does not consume it. */
    assert_non_null(get(d, "POST", "/api/store/order/cart/add", "k1", T0 + 2));

    /* No headers, empty body, binary body. */
    tc_idem_put(d, V("PUT"), V("/p"), V("k"), 201, NULL, "", 0, T0);
    a = get(d, "PUT", "/p", "k", T0);
    assert_non_null(a);
    assert_int_equal(a->status, 201);
    assert_int_equal(a->headers.len, 0);
    assert_int_equal(a->body.len, 0);
    tc_idem_put(d, V("PUT"), V("/b"), V("k"), 200, NULL, "a\0b", 3, T0);
    a = get(d, "PUT", "/b", "k", T0);
    assert_int_equal(a->body.len, 3);
    assert_memory_equal(a->body.base, "a\0b", 3);
    tc_idem_free(d);
    tc_idem_free(NULL);
}

static void test_no_collisions(void **state)
{
    (void)state;
    tc_idem *d = tc_idem_new(100, DAY);
    put(d, "POST", "/a", "k", 200, "1", T0);
    put(d, "PUT", "/a", "k", 200, "2", T0);
    put(d, "POST", "/b", "k", 200, "3", T0);
    put(d, "POST", "/a", "K", 200, "4", T0);
    /* The separator cannot be forged by moving bytes between the parts. */
    put(d, "POST", "/a\nk", "", 200, "5", T0);
    assert_string_equal(get(d, "POST", "/a", "k", T0)->body.base, "1");
    assert_string_equal(get(d, "PUT", "/a", "k", T0)->body.base, "2");
    assert_string_equal(get(d, "POST", "/b", "k", T0)->body.base, "3");
    assert_string_equal(get(d, "POST", "/a", "K", T0)->body.base, "4");
    assert_string_equal(get(d, "POST", "/a\nk", "", T0)->body.base, "5");
    assert_null(get(d, "DELETE", "/a", "k", T0));
    assert_null(get(d, "POST", "/a", "k2", T0));
    assert_null(get(d, "POST", "/a", "", T0));
    assert_null(get(d, "POST", "/a/", "k", T0));
    assert_null(get(d, "post", "/a", "k", T0));
    tc_idem_free(d);
}

static void test_expiry_by_time(void **state)
{
    (void)state;
    tc_idem *d = tc_idem_new(100, 1000);
    put(d, "POST", "/a", "old", 200, "old", T0);
    put(d, "POST", "/a", "new", 200, "new", T0 + 500);
    assert_non_null(get(d, "POST", "/a", "old", T0 + 999));
    /* Expired at exactly ttl. */
    assert_null(get(d, "POST", "/a", "old", T0 + 1000));
    assert_non_null(get(d, "POST", "/a", "new", T0 + 1000));
    assert_non_null(get(d, "POST", "/a", "new", T0 + 1499));
    assert_null(get(d, "POST", "/a", "new", T0 + 1500));
    /* A new put after everything expired works. */
    put(d, "POST", "/a", "old", 200, "again", T0 + 5000);
    assert_string_equal(get(d, "POST", "/a", "old", T0 + 5000)->body.base, "again");
    tc_idem_free(d);

    /* The 24 h of the spec. */
    d = tc_idem_new(10, DAY);
    put(d, "POST", "/a", "k", 200, "x", T0);
    assert_non_null(get(d, "POST", "/a", "k", T0 + DAY - 1));
    assert_null(get(d, "POST", "/a", "k", T0 + DAY));
    tc_idem_free(d);
}

static void test_eviction_by_count(void **state)
{
    (void)state;
    tc_idem *d = tc_idem_new(3, DAY);
    put(d, "POST", "/a", "1", 200, "1", T0);
    put(d, "POST", "/a", "2", 200, "2", T0 + 1);
    put(d, "POST", "/a", "3", 200, "3", T0 + 2);
    assert_non_null(get(d, "POST", "/a", "1", T0 + 3));
    put(d, "POST", "/a", "4", 200, "4", T0 + 3);
    /* The oldest went, even though it was just read. */
    assert_null(get(d, "POST", "/a", "1", T0 + 4));
    assert_non_null(get(d, "POST", "/a", "2", T0 + 4));
    assert_non_null(get(d, "POST", "/a", "3", T0 + 4));
    assert_non_null(get(d, "POST", "/a", "4", T0 + 4));
    put(d, "POST", "/a", "5", 200, "5", T0 + 5);
    put(d, "POST", "/a", "6", 200, "6", T0 + 6);
    assert_null(get(d, "POST", "/a", "2", T0 + 7));
    assert_null(get(d, "POST", "/a", "3", T0 + 7));
    assert_string_equal(get(d, "POST", "/a", "6", T0 + 7)->body.base, "6");
    tc_idem_free(d);
}

static void test_many_entries(void **state)
{
    (void)state;
    /* Lots of keys through a small table: chains and eviction together. */
    tc_idem *d = tc_idem_new(64, DAY);
    char key[32], body[32];
    for (uint64_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key-%d", (int)i);
        snprintf(body, sizeof body, "body-%d", (int)i);
        put(d, "POST", "/x", key, 200, body, T0 + i);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        const tc_idem_answer *a = get(d, "POST", "/x", key, T0 + 1000);
        if (i < 1000 - 64) {
            assert_null(a);
        } else {
            snprintf(body, sizeof body, "body-%d", i);
            assert_non_null(a);
            assert_string_equal(a->body.base, body);
        }
    }
    tc_idem_free(d); /* frees what is left (ASan checks) */
}

static void test_same_key_twice(void **state)
{
    (void)state;
    /* A second put for the same id (e.g. two racing first tries): the newer
     * answer is replayed. */
    tc_idem *d = tc_idem_new(10, DAY);
    put(d, "POST", "/a", "k", 200, "first", T0);
    put(d, "POST", "/a", "k", 200, "second", T0 + 1);
    assert_string_equal(get(d, "POST", "/a", "k", T0 + 2)->body.base, "second");
    tc_idem_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),        cmocka_unit_test(test_no_collisions),
        cmocka_unit_test(test_expiry_by_time), cmocka_unit_test(test_eviction_by_count),
        cmocka_unit_test(test_many_entries),   cmocka_unit_test(test_same_key_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
