/* test_sse.c — SSE event framing, byte by byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "push/sse.h"

#include <stdio.h>
#include <string.h>

/* Checks the whole chunk: "<hex len>\r\n" body "\r\n", with body == want. */
static void assert_frame(tc_sse_frame f, const char *want)
{
    size_t n = strlen(want);
    char head[32];
    int hn = snprintf(head, sizeof head, "%zx\r\n", n);
    assert_non_null(f.buf);
    assert_int_equal(f.body_off, (size_t)hn);
    assert_int_equal(f.body_len, n);
    assert_int_equal(f.buf->len, (size_t)hn + n + 2);
    assert_memory_equal(f.buf->data, head, (size_t)hn);
    assert_memory_equal(f.buf->data + f.body_off, want, n);
    assert_memory_equal(f.buf->data + f.body_off + n, "\r\n", 2);
}

static void test_connected_with_retry(void **state)
{
    (void)state;
    const char *msg = "连接成功";
    tc_sse_frame f = tc_sse_frame_new("connected", NULL, msg, strlen(msg), 3000);
    /* No space after a colon, as Spring's SseEmitter writes them. */
    const char *want = "retry:3000\nevent:connected\ndata:连接成功\n\n";
    assert_frame(f, want);
    /* 11 + 16 + 18 + 1 = 46 bytes = 0x2e */
    assert_int_equal(strlen(want), 46);
    assert_memory_equal(f.buf->data, "2e\r\n", 4);
    tc_sse_frame_release(&f);
    assert_null(f.buf);
    tc_sse_frame_release(&f); /* twice is harmless */
}

static void test_heartbeat_exact_bytes(void **state)
{
    (void)state;
    tc_sse_frame f = tc_sse_frame_new("heartbeat", NULL, "ping", 4, -1);
    const char want[] = "1b\r\nevent:heartbeat\ndata:ping\n\n\r\n";
    assert_int_equal(f.buf->len, sizeof want - 1);
    assert_memory_equal(f.buf->data, want, sizeof want - 1);
    assert_int_equal(f.body_off, 4);
    assert_int_equal(f.body_len, 27);
    tc_sse_frame_release(&f);
}

static void test_cart_update_json_stays_one_line(void **state)
{
    (void)state;
    /* The remark holds a newline, escaped by the JSON writer as backslash-n:
     * the data is still one line. */
    const char *json = "{\"tableId\":\"T1\",\"version\":7,\"items\":[{\"cuisineId\":3,"
                       "\"quantity\":2,\"remark\":\"no onion\\nextra hot\"}]}";
    tc_sse_frame f = tc_sse_frame_new("cart_update", "7", json, strlen(json), -1);
    char want[512];
    snprintf(want, sizeof want, "event:cart_update\nid:7\ndata:%s\n\n", json);
    assert_frame(f, want);
    tc_sse_frame_release(&f);
}

static void test_multiline_data(void **state)
{
    (void)state;
    tc_sse_frame f = tc_sse_frame_new("cart_update", "8", "a\nb\r\nc", 6, -1);
    assert_frame(f, "event:cart_update\nid:8\ndata:a\ndata:b\ndata:c\n\n");
    tc_sse_frame_release(&f);

    /* a lone CR ends a line too; a trailing line end gives a last empty line,
     * so the browser rebuilds the data exactly */
    f = tc_sse_frame_new("x", NULL, "a\rb\n", 4, -1);
    assert_frame(f, "event:x\ndata:a\ndata:b\ndata:\n\n");
    tc_sse_frame_release(&f);

    f = tc_sse_frame_new("x", NULL, "\r\n\n\r", 4, -1);
    assert_frame(f, "event:x\ndata:\ndata:\ndata:\ndata:\n\n");
    tc_sse_frame_release(&f);

    /* only the first line end of "\r\r\n" pairs with nothing */
    f = tc_sse_frame_new("x", NULL, "a\r\r\nb", 5, -1);
    assert_frame(f, "event:x\ndata:a\ndata:\ndata:b\n\n");
    tc_sse_frame_release(&f);
}

static void test_empty_data_and_no_event(void **state)
{
    (void)state;
    tc_sse_frame f = tc_sse_frame_new(NULL, NULL, NULL, 0, -1);
    assert_frame(f, "data:\n\n");
    tc_sse_frame_release(&f);
    f = tc_sse_frame_new("e", "", "", 0, 0);
    assert_frame(f, "retry:0\nevent:e\nid:\ndata:\n\n");
    tc_sse_frame_release(&f);
}

static void test_data_with_nul_and_leading_space(void **state)
{
    (void)state;
    /* A line that begins with a space keeps the separator's space before
     * it: a parser drops one space after the colon, and keeps the line's. */
    tc_sse_frame f = tc_sse_frame_new("e", NULL, " a\0b\n  c\nd", 10, -1);
    const char want[] = "event:e\ndata:  a\0b\ndata:   c\ndata:d\n\n";
    assert_int_equal(f.body_len, sizeof want - 1);
    assert_memory_equal(f.buf->data + f.body_off, want, sizeof want - 1);
    tc_sse_frame_release(&f);
}

static void test_large_event_hex(void **state)
{
    (void)state;
    static char big[5000];
    memset(big, 'x', sizeof big);
    tc_sse_frame f = tc_sse_frame_new("cart_update", "123", big, sizeof big, -1);
    /* 18 + 7 + 5 + 5000 + 1 + 1 = 5032 = 0x13a8 */
    assert_int_equal(f.body_len, 5032);
    assert_memory_equal(f.buf->data, "13a8\r\n", 6);
    assert_memory_equal(f.buf->data + f.buf->len - 4, "\n\n\r\n", 4);
    tc_sse_frame_release(&f);
}

static void test_shared_refcount(void **state)
{
    (void)state;
    tc_sse_frame f = tc_sse_frame_new("heartbeat", NULL, "ping", 4, -1);
    tc_rbuf *sub1 = tc_rbuf_ref(f.buf);
    tc_rbuf *sub2 = tc_rbuf_ref(f.buf);
    assert_int_equal(f.buf->refs, 3);
    tc_sse_frame_release(&f);
    assert_int_equal(sub1->refs, 2);
    tc_rbuf_unref(sub1);
    assert_memory_equal(sub2->data, "1b\r\n", 4);
    tc_rbuf_unref(sub2);
}

static void test_last_chunk(void **state)
{
    (void)state;
    tc_view v = tc_sse_last_chunk();
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.base, "0\r\n\r\n", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connected_with_retry),
        cmocka_unit_test(test_heartbeat_exact_bytes),
        cmocka_unit_test(test_cart_update_json_stays_one_line),
        cmocka_unit_test(test_multiline_data),
        cmocka_unit_test(test_empty_data_and_no_event),
        cmocka_unit_test(test_data_with_nul_and_leading_space),
        cmocka_unit_test(test_large_event_hex),
        cmocka_unit_test(test_shared_refcount),
        cmocka_unit_test(test_last_chunk),
    };
    return cmocka_run_group_tests_name("push/sse", tests, NULL, NULL);
}
