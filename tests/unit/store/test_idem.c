/* test_idem.c — the index of remembered Idempotency-Key answers: lookup and
 * expiry, replacement, the per-caller budget (a caller pushes out only its
 * own answers), and the overall budget (the oldest of anyone, counted),
 * callers' records counted in both; the
 * keys forgotten for a budget, and only those, listed for the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/mem.h"
#include "store/idem.h"

#include <stdio.h>
#include <string.h>

#define NOW 1704067200000LL
#define DAY (24LL * 3600 * 1000)

static tc_rbuf *json_of_size(size_t n)
{
    char buf[4096];
    memset(buf, 'x', n);
    return tc_rbuf_new(buf, n);
}

/* The keys tc_idem_take_dropped hands over, joined with commas. */
static void take_dropped(tc_idem *d, char *out, size_t cap)
{
    tc_buf gone = TC_BUF_INIT;
    tc_idem_take_dropped(d, &gone);
    out[0] = '\0';
    for (size_t at = 0; at < gone.len; at += strlen(gone.base + at) + 1) {
        assert_true(strlen(out) + strlen(gone.base + at) + 2 <= cap);
        if (at > 0) strcat(out, ",");
        strcat(out, gone.base + at);
    }
    tc_buf_free(&gone);
}

/* The heap a caller's lone answer costs with this key and DTO, its record
 * included: what the budgets count. */
static size_t one_cost(tc_idem *probe, const char *key, tc_rbuf *json)
{
    size_t before = tc_idem_bytes(probe);
    tc_idem_put(probe, tc_view_of("probe"), tc_view_of(key), 1, json, NOW + DAY, NOW);
    size_t cost = tc_idem_bytes(probe) - before;
    tc_idem_forget(probe, tc_view_of(key));
    return cost;
}

/* The heap of caller's record alone: its first answer's cost less its
 * second's (the same key length and DTO). */
static size_t record_cost(tc_idem *probe, const char *caller, tc_rbuf *json)
{
    size_t before = tc_idem_bytes(probe);
    tc_idem_put(probe, tc_view_of(caller), tc_view_of("r-0"), 1, json, NOW + DAY, NOW);
    size_t first = tc_idem_bytes(probe) - before;
    tc_idem_put(probe, tc_view_of(caller), tc_view_of("r-1"), 1, json, NOW + DAY, NOW);
    size_t second = tc_idem_bytes(probe) - before - first;
    tc_idem_forget(probe, tc_view_of("r-0"));
    tc_idem_forget(probe, tc_view_of("r-1"));
    assert_int_equal(tc_idem_bytes(probe), before);
    return first - second;
}

static void test_get_put_expire_replace_forget(void **state)
{
    (void)state;
    tc_idem *d = tc_idem_new(1u << 20, 1u << 20);
    tc_rbuf *a = tc_rbuf_new("{\"v\":1}", 7), *b = tc_rbuf_new("{\"v\":2}", 7);
    assert_null(tc_idem_get(d, tc_view_of("k"), NOW));
    tc_idem_put(d, tc_view_of("u:1"), tc_view_of("k"), 1, a, NOW + 1000, NOW);
    const tc_idem_answer *got = tc_idem_get(d, tc_view_of("k"), NOW);
    assert_non_null(got);
    assert_int_equal(got->version, 1);
    assert_ptr_equal(got->json, a); /* shared, not copied */
    assert_int_equal(a->refs, 2);
    /* Expired at its time, not before. */
    assert_non_null(tc_idem_get(d, tc_view_of("k"), NOW + 999));
    assert_null(tc_idem_get(d, tc_view_of("k"), NOW + 1000));
    /* Replaced by a second put of the same key. */
    tc_idem_put(d, tc_view_of("u:1"), tc_view_of("k"), 2, b, NOW + DAY, NOW);
    assert_int_equal(tc_idem_get(d, tc_view_of("k"), NOW)->version, 2);
    assert_int_equal(a->refs, 1);
    /* Keys differ by every byte. */
    assert_null(tc_idem_get(d, tc_view_of("K"), NOW));
    assert_null(tc_idem_get(d, tc_view_of("k "), NOW));
    tc_idem_forget(d, tc_view_of("k"));
    assert_null(tc_idem_get(d, tc_view_of("k"), NOW));
    assert_int_equal(tc_idem_bytes(d), 0);
    assert_int_equal(b->refs, 1);
    tc_idem_forget(d, tc_view_of("nothing")); /* harmless */
    /* Expired, replaced, forgotten: nothing the store must delete. */
    char gone[64];
    take_dropped(d, gone, sizeof gone);
    assert_string_equal(gone, "");
    tc_idem_free(d);
    tc_rbuf_unref(a);
    tc_rbuf_unref(b);
}

static void test_a_caller_pushes_out_only_its_own(void **state)
{
    (void)state;
    tc_rbuf *json = json_of_size(1000);
    tc_idem *probe = tc_idem_new(1u << 20, 1u << 20);
    size_t cost = one_cost(probe, "b-0000", json), record = record_cost(probe, "u:B", json);
    tc_idem_free(probe);
    /* Room for 3 answers per caller, 100 overall. */
    tc_idem *d = tc_idem_new(100 * cost, 3 * cost);
    tc_idem_put(d, tc_view_of("u:A"), tc_view_of("a-0000"), 7, json, NOW + DAY, NOW);
    char key[16];
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "b-%04d", i);
        tc_idem_put(d, tc_view_of("u:B"), tc_view_of(key), i, json, NOW + DAY, NOW);
    }
    /* A's answer survived 50 of B's; B keeps its newest 3. */
    assert_non_null(tc_idem_get(d, tc_view_of("a-0000"), NOW));
    assert_int_equal(tc_idem_get(d, tc_view_of("a-0000"), NOW)->version, 7);
    assert_null(tc_idem_get(d, tc_view_of("b-0046"), NOW));
    for (int i = 47; i < 50; i++) {
        snprintf(key, sizeof key, "b-%04d", i);
        assert_non_null(tc_idem_get(d, tc_view_of(key), NOW));
    }
    /* Four answers and two callers' records. */
    assert_int_equal(tc_idem_bytes(d), 4 * (cost - record) + 2 * record);
    assert_int_equal(tc_idem_evicted(d), 0); /* B's own, not counted as early loss */
    /* The 47 B forgot are listed for the store, oldest first, once. */
    char gone[47 * 7 + 1], want[47 * 7 + 1] = "";
    for (int i = 0; i < 47; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%sb-%04d", i ? "," : "", i);
    take_dropped(d, gone, sizeof gone);
    assert_string_equal(gone, want);
    take_dropped(d, gone, sizeof gone);
    assert_string_equal(gone, "");
    tc_idem_free(d);
    assert_int_equal(json->refs, 1);
    tc_rbuf_unref(json);
}

/* An answer that needs every older answer of its caller forgotten: the
 * caller's record goes with its last answer and is made again for the new
 * one (under ASan, a read of the freed record fails here). */
static void test_a_big_answer_pushes_out_all_of_its_callers(void **state)
{
    (void)state;
    tc_rbuf *small = json_of_size(1000), *big = json_of_size(2500);
    tc_idem *probe = tc_idem_new(1u << 20, 1u << 20);
    size_t cost = one_cost(probe, "s-0", small), big_cost = one_cost(probe, "big", big);
    tc_idem_free(probe);
    assert_true(big_cost > 2 * cost && big_cost <= 3 * cost);
    tc_idem *d = tc_idem_new(100 * cost, 3 * cost);
    tc_idem_put(d, tc_view_of("u:B"), tc_view_of("b-0"), 9, small, NOW + DAY, NOW);
    tc_idem_put(d, tc_view_of("u:A"), tc_view_of("s-0"), 1, small, NOW + DAY, NOW);
    tc_idem_put(d, tc_view_of("u:A"), tc_view_of("s-1"), 2, small, NOW + DAY, NOW);
    tc_idem_put(d, tc_view_of("u:A"), tc_view_of("big"), 3, big, NOW + DAY, NOW);
    assert_null(tc_idem_get(d, tc_view_of("s-0"), NOW));
    assert_null(tc_idem_get(d, tc_view_of("s-1"), NOW));
    assert_int_equal(tc_idem_get(d, tc_view_of("big"), NOW)->version, 3);
    assert_int_equal(tc_idem_get(d, tc_view_of("b-0"), NOW)->version, 9);
    assert_int_equal(tc_idem_bytes(d), cost + big_cost);
    /* A's share is counted from the big answer alone: the next small one
     * (past the share with it) pushes it out, and A's record is reused. */
    tc_idem_put(d, tc_view_of("u:A"), tc_view_of("s-2"), 4, small, NOW + DAY, NOW);
    assert_null(tc_idem_get(d, tc_view_of("big"), NOW));
    assert_int_equal(tc_idem_get(d, tc_view_of("s-2"), NOW)->version, 4);
    assert_int_equal(tc_idem_bytes(d), 2 * cost);
    tc_idem_free(d);
    assert_int_equal(small->refs, 1);
    assert_int_equal(big->refs, 1);
    tc_rbuf_unref(small);
    tc_rbuf_unref(big);
}

static void test_overall_budget_forgets_the_oldest_and_counts(void **state)
{
    (void)state;
    tc_rbuf *json = json_of_size(500);
    tc_idem *probe = tc_idem_new(1u << 20, 1u << 20);
    size_t cost = one_cost(probe, "k-0000", json);
    tc_idem_free(probe);
    tc_idem *d = tc_idem_new(5 * cost, 5 * cost);
    char key[16], who[16];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k-%04d", i);
        snprintf(who, sizeof who, "u:%d", i);
        tc_idem_put(d, tc_view_of(who), tc_view_of(key), i, json, NOW + DAY + i, NOW);
        assert_true(tc_idem_bytes(d) <= 5 * cost); /* records included: never more */
    }
    assert_int_equal(tc_idem_evicted(d), 3);
    assert_int_equal(tc_idem_bytes(d), 5 * cost);
    char gone[64];
    take_dropped(d, gone, sizeof gone);
    assert_string_equal(gone, "k-0000,k-0001,k-0002");
    assert_null(tc_idem_get(d, tc_view_of("k-0002"), NOW));
    assert_non_null(tc_idem_get(d, tc_view_of("k-0003"), NOW));
    /* Expired answers go first, without counting as early. */
    tc_idem_put(d, tc_view_of("u:9"), tc_view_of("k-0009"), 9, json, NOW + 2 * DAY, NOW + DAY + 5);
    assert_int_equal(tc_idem_evicted(d), 3);
    assert_non_null(tc_idem_get(d, tc_view_of("k-0009"), NOW + DAY + 5));
    assert_non_null(tc_idem_get(d, tc_view_of("k-0007"), NOW + DAY + 5));
    assert_null(tc_idem_get(d, tc_view_of("k-0005"), NOW + DAY + 5));
    take_dropped(d, gone, sizeof gone); /* expired, not dropped: the store prunes those */
    assert_string_equal(gone, "");
    tc_idem_free(d);
    tc_rbuf_unref(json);
}

/* A caller's record (its name and links) is heap the budgets count too: it
 * is there as long as the caller has an answer, and with one short answer
 * per caller it is a tenth of what the index holds (the overall budget's
 * test above then holds exactly its 5 lone answers and their records). */
static void test_a_callers_record_is_counted(void **state)
{
    (void)state;
    tc_rbuf *json = json_of_size(500);
    tc_idem *probe = tc_idem_new(1u << 20, 1u << 20);
    char long_name[256];
    memset(long_name, 'u', 200);
    long_name[200] = '\0';
    size_t short_rec = record_cost(probe, "u:1", json),
           long_rec = record_cost(probe, long_name, json);
    /* The record holds the name: 197 more bytes of it, within one 16-byte
     * chunk step. */
    assert_true(short_rec >= 32);
    assert_true(long_rec >= short_rec + 197 - 15 && long_rec <= short_rec + 197 + 15);
    tc_idem_free(probe);
    tc_rbuf_unref(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_expire_replace_forget),
        cmocka_unit_test(test_a_caller_pushes_out_only_its_own),
        cmocka_unit_test(test_a_big_answer_pushes_out_all_of_its_callers),
        cmocka_unit_test(test_overall_budget_forgets_the_oldest_and_counts),
        cmocka_unit_test(test_a_callers_record_is_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
