/* test_buf.c — the byte buffer, views and refcounted bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"

#include <string.h>

static void test_views(void **state)
{
    (void)state;
    tc_view v = tc_view_of("Content-Type");
    assert_int_equal(v.len, 12);
    assert_true(tc_view_eq(v, "Content-Type"));
    assert_false(tc_view_eq(v, "content-type"));
    assert_false(tc_view_eq(v, "Content-Typ"));
    assert_false(tc_view_eq(v, "Content-Types"));
    assert_true(tc_view_ieq(v, "content-type"));
    assert_true(tc_view_ieq(v, "CONTENT-TYPE"));
    assert_false(tc_view_ieq(v, "content-typ"));
    assert_false(tc_view_ieq(v, "content-typex"));
    /* A view is not NUL-terminated: only len bytes count. */
    tc_view part = {"abcdef", 3};
    assert_true(tc_view_eq(part, "abc"));
    assert_true(tc_view_ieq(part, "ABC"));
    assert_false(tc_view_eq(part, "abcdef"));
    tc_view null = tc_view_of(NULL);
    assert_null(null.base);
    assert_int_equal(null.len, 0);
    assert_true(tc_view_eq((tc_view){"", 0}, ""));
}

static void test_append_and_cstr(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    assert_null(b.base);
    assert_string_equal(tc_buf_cstr(&b), ""); /* reserves on an empty buffer */
    assert_non_null(b.base);
    assert_int_equal(b.len, 0);
    tc_buf_append(&b, "ab", 2);
    tc_buf_append_str(&b, "cd");
    tc_buf_append(&b, "zz", 0);
    assert_int_equal(b.len, 4);
    assert_true(b.cap > b.len);
    assert_int_equal(b.base[4], '\0'); /* always terminated */
    assert_string_equal(tc_buf_cstr(&b), "abcd");
    tc_buf_append(&b, "\0x", 2);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.base, "abcd\0x", 6);
    tc_buf_free(&b);
    assert_null(b.base);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    tc_buf_free(&b); /* twice is fine */
    tc_buf_append_str(&b, "again");
    assert_string_equal(tc_buf_cstr(&b), "again");
    tc_buf_free(&b);
}

static void test_grow_large(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    char chunk[1000];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('a' + i % 26);
    for (int i = 0; i < 300; i++)
        tc_buf_append(&b, chunk, sizeof chunk);
    assert_int_equal(b.len, 300000);
    assert_true(b.cap >= 300001);
    for (int i = 0; i < 300; i++)
        assert_memory_equal(b.base + i * 1000, chunk, sizeof chunk);
    assert_int_equal(b.base[b.len], '\0');
    tc_buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_reserve(&b, 100);
    assert_true(b.cap >= 101);
    assert_int_equal(b.len, 0);
    char *base = b.base;
    size_t cap = b.cap;
    tc_buf_append(&b, "0123456789", 10);
    tc_buf_reserve(&b, 90);
    assert_ptr_equal(b.base, base); /* already room: no move */
    assert_int_equal(b.cap, cap);
    tc_buf_reserve(&b, 0);
    assert_ptr_equal(b.base, base);
    tc_buf_free(&b);
}

static void test_appendf(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_appendf(&b, "%d %s", 42, "x");
    tc_buf_appendf(&b, "|%05.1f|", 3.14159);
    tc_buf_appendf(&b, "%s", ""); /* nothing */
    assert_string_equal(tc_buf_cstr(&b), "42 x|003.1|");
    assert_int_equal(b.len, 11);
    /* Longer than any initial block. */
    tc_buf_reset(&b);
    tc_buf_appendf(&b, "%500s", "end");
    assert_int_equal(b.len, 500);
    assert_string_equal(b.base + 497, "end");
    tc_buf_free(&b);
}

static void test_consume_and_reset(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_str(&b, "hello world");
    tc_buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.base, "world");
    tc_buf_consume(&b, 0);
    assert_string_equal(b.base, "world");
    tc_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.base, "");
    tc_buf_append_str(&b, "abc");
    tc_buf_consume(&b, 10); /* more than len empties */
    assert_int_equal(b.len, 0);
    tc_buf empty = TC_BUF_INIT;
    tc_buf_consume(&empty, 0); /* no block, no crash */
    assert_null(empty.base);

    tc_buf_append_str(&b, "abc");
    size_t cap = b.cap;
    tc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, cap); /* keeps its block */
    assert_string_equal(tc_buf_cstr(&b), "");
    tc_buf_free(&b);
}

static void test_rbuf(void **state)
{
    (void)state;
    tc_rbuf *r = tc_rbuf_new("frame", 5);
    assert_int_equal(r->refs, 1);
    assert_int_equal(r->len, 5);
    assert_memory_equal(r->data, "frame", 5);
    assert_int_equal(r->data[5], '\0');
    assert_ptr_equal(tc_rbuf_ref(r), r);
    assert_ptr_equal(tc_rbuf_ref(r), r);
    assert_int_equal(r->refs, 3);
    tc_rbuf_unref(r);
    tc_rbuf_unref(r);
    assert_int_equal(r->refs, 1);
    assert_memory_equal(r->data, "frame", 5);
    tc_rbuf_unref(r); /* freed: ASan would report a leak otherwise */
    tc_rbuf_unref(NULL);

    tc_rbuf *e = tc_rbuf_new(NULL, 0);
    assert_int_equal(e->len, 0);
    assert_int_equal(e->data[0], '\0');
    tc_rbuf_unref(e);

    /* A copy: the source may change afterwards. */
    char src[4] = "abc";
    tc_rbuf *c = tc_rbuf_new(src, 3);
    src[0] = 'X';
    assert_memory_equal(c->data, "abc", 3);
    tc_rbuf_unref(c);
}

static void test_rbuf_concat(void **state)
{
    (void)state;
    char part[4] = "abc";
    tc_view parts[] = {{"12", 2}, {"", 0}, {part, 3}, {"\r\n", 2}};
    tc_rbuf *r = tc_rbuf_concat(parts, 4);
    part[0] = 'X'; /* a copy */
    assert_int_equal(r->refs, 1);
    assert_int_equal(r->len, 7);
    assert_memory_equal(r->data, "12abc\r\n", 8); /* NUL-terminated */
    tc_rbuf_unref(r);
    tc_rbuf *e = tc_rbuf_concat(NULL, 0);
    assert_int_equal(e->len, 0);
    assert_int_equal(e->data[0], '\0');
    tc_rbuf_unref(e);
}

static void test_hex_text(void **state)
{
    (void)state;
    char out[TC_HEX_TEXT_MAX];
    assert_int_equal(tc_hex_text(0, out), 1);
    assert_memory_equal(out, "0", 1);
    assert_int_equal(tc_hex_text(15, out), 1);
    assert_memory_equal(out, "f", 1);
    assert_int_equal(tc_hex_text(16, out), 2);
    assert_memory_equal(out, "10", 2);
    assert_int_equal(tc_hex_text(0x1a2b, out), 4);
    assert_memory_equal(out, "1a2b", 4);
    assert_int_equal(tc_hex_text(UINT64_MAX, out), 16);
    assert_memory_equal(out, "ffffffffffffffff", 16);
}

static void test_append_numbers(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_dec(&b, 0);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_dec(&b, -42);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_dec(&b, INT64_MAX);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_dec(&b, INT64_MIN);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_udec(&b, UINT64_MAX);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_hex(&b, 0);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_hex(&b, 0x1a2b);
    tc_buf_append(&b, ",", 1);
    tc_buf_append_hex(&b, UINT64_MAX);
    assert_string_equal(tc_buf_cstr(&b), "0,-42,9223372036854775807,-9223372036854775808,"
                                         "18446744073709551615,0,1a2b,ffffffffffffffff");
    tc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_numbers),    cmocka_unit_test(test_views),
        cmocka_unit_test(test_append_and_cstr),   cmocka_unit_test(test_grow_large),
        cmocka_unit_test(test_reserve),           cmocka_unit_test(test_appendf),
        cmocka_unit_test(test_consume_and_reset), cmocka_unit_test(test_rbuf),
        cmocka_unit_test(test_rbuf_concat),       cmocka_unit_test(test_hex_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
