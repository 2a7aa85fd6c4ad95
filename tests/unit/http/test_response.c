/* test_response.c — the exact bytes of responses and of the JSON envelope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/response.h"
#include "support/http_date.h"

#include <string.h>

/* b is want plus one Date header per answer in it (checked, taken out). */
static void assert_buf(tc_buf *b, const char *want)
{
    assert_int_equal(tl_strip_dates(b), tl_answers_in(want));
    assert_int_equal(b->len, strlen(want));
    assert_string_equal(tc_buf_cstr(b), want);
}

static void test_reasons(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *reason;
    } t[] = {
        {101, "Switching Protocols"},
        {200, "OK"},
        {204, "No Content"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {426, "Upgrade Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
        {299, "Unknown"},
        {0, "Unknown"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_string_equal(tc_http_reason(t[i].status), t[i].reason);
}

static void test_date(void **state)
{
    (void)state;
    char d[TC_HTTP_DATE_LEN + 1];
    tc_http_date(784111777, d); /* RFC 9110 §5.6.7's example */
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    tc_http_date(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    tc_http_date(951868799, d);
    assert_string_equal(d, "Tue, 29 Feb 2000 23:59:59 GMT");
    tc_http_date(1798761599, d);
    assert_string_equal(d, "Thu, 31 Dec 2026 23:59:59 GMT");
    /* Every answer's head has one, right after Server. */
    tc_buf b = TC_BUF_INIT;
    tc_resp_start(&b, 200);
    assert_int_equal(b.len, strlen("HTTP/1.1 200 OK\r\nServer: tablecart\r\nDate: \r\n") +
                                TC_HTTP_DATE_LEN);
    assert_memory_equal(b.base, "HTTP/1.1 200 OK\r\nServer: tablecart\r\nDate: ", 42);
    tc_buf_free(&b);
}

static void test_full_response(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_resp_start(&b, 200);
    tc_resp_header(&b, "Content-Type", "application/json");
    tc_resp_headerv(&b, "ETag", (tc_view){"\"v3\"xyz", 4});
    const char body[] = "{\"a\":1}";
    tc_resp_end(&b, true, body, sizeof body - 1, false);
    assert_buf(&b, "HTTP/1.1 200 OK\r\n"
                   "Server: tablecart\r\n"
                   "Content-Type: application/json\r\n"
                   "ETag: \"v3\"\r\n"
                   "Connection: keep-alive\r\n"
                   "Content-Length: 7\r\n"
                   "\r\n"
                   "{\"a\":1}");
    tc_buf_free(&b);
}

static void test_close_and_head_only(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_resp_start(&b, 404);
    tc_resp_end(&b, false, "abc", 3, true);
    /* HEAD: the length of the body it would have, no body. */
    assert_buf(&b, "HTTP/1.1 404 Not Found\r\n"
                   "Server: tablecart\r\n"
                   "Connection: close\r\n"
                   "Content-Length: 3\r\n"
                   "\r\n");
    tc_buf_free(&b);

    tc_resp_start(&b, 304);
    tc_resp_end(&b, true, NULL, 0, false);
    assert_buf(&b, "HTTP/1.1 304 Not Modified\r\n"
                   "Server: tablecart\r\n"
                   "Connection: keep-alive\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
    tc_buf_free(&b);
}

static void test_appends(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_str(&b, "X");
    tc_resp_start(&b, 405);
    tc_resp_header(&b, "Allow", "GET, HEAD");
    tc_resp_header(&b, "X-Empty", "");
    tc_resp_end(&b, true, "", 0, false);
    assert_buf(&b, "XHTTP/1.1 405 Method Not Allowed\r\n"
                   "Server: tablecart\r\n"
                   "Allow: GET, HEAD\r\n"
                   "X-Empty: \r\n"
                   "Connection: keep-alive\r\n"
                   "Content-Length: 0\r\n"
                   "\r\n");
    tc_buf_free(&b);
}

static void test_envelope_success(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    const char data[] = "{\"tableId\":123,\"items\":[]}";
    tc_envelope(&b, 200, TC_WIRE_OK_MESSAGE, data, sizeof data - 1);
    assert_buf(&b, "{\"code\":200,\"success\":true,\"message\":\"操作成功\","
                   "\"data\":{\"tableId\":123,\"items\":[]}}");
    tc_buf_free(&b);

    /* Only data_len bytes of data. */
    tc_envelope(&b, 201, "ok", "[1,2]garbage", 5);
    assert_buf(&b, "{\"code\":201,\"success\":true,\"message\":\"ok\",\"data\":[1,2]}");
    tc_buf_free(&b);

    tc_envelope(&b, 200, TC_WIRE_OK_MESSAGE, NULL, 0);
    assert_buf(&b, "{\"code\":200,\"success\":true,\"message\":\"操作成功\",\"data\":null}");
    tc_buf_free(&b);
}

static void test_envelope_error(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_envelope(&b, 400, "quantity must be between 1 and 99", NULL, 0);
    assert_buf(&b, "{\"code\":400,\"success\":false,"
                   "\"message\":\"quantity must be between 1 and 99\",\"data\":null}");
    tc_buf_free(&b);

    /* Quotes, backslashes and control bytes are escaped; Chinese passes. */
    tc_envelope(&b, 404, "菜品 \"1001\" 不存在\\\n", NULL, 0);
    assert_buf(&b, "{\"code\":404,\"success\":false,"
                   "\"message\":\"菜品 \\\"1001\\\" 不存在\\\\\\n\",\"data\":null}");
    tc_buf_free(&b);

    tc_envelope(&b, 304, NULL, NULL, 0);
    assert_buf(&b, "{\"code\":304,\"success\":false,\"message\":null,\"data\":null}");
    tc_buf_free(&b);

    tc_envelope(&b, 503, "购物车暂不可用", NULL, 0);
    assert_buf(&b, "{\"code\":503,\"success\":false,\"message\":\"购物车暂不可用\",\"data\":null}");
    tc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reasons),        cmocka_unit_test(test_date),
        cmocka_unit_test(test_full_response),  cmocka_unit_test(test_close_and_head_only),
        cmocka_unit_test(test_appends),        cmocka_unit_test(test_envelope_success),
        cmocka_unit_test(test_envelope_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
