/* test_http.c — request parsing glue over http-parser: heads, bodies, limits,
 * pipelining, upgrades, byte-at-a-time input, query and escape decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const tc_http_limits lim = {16 * 1024, 64 * 1024};

/* Feeds all of s in one call. */
static int feed_all(tc_http_parser *p, const char *s, size_t len, size_t *used)
{
    return tc_http_feed(p, s, len, used);
}

/* Feeds s one byte at a time until the parser answers something other than
 * MORE; *used is the total number of bytes consumed. */
static int feed_bytes(tc_http_parser *p, const char *s, size_t len, size_t *used)
{
    *used = 0;
    for (size_t i = 0; i < len; i++) {
        size_t u = 0;
        int rc = tc_http_feed(p, s + i, 1, &u);
        *used += u;
        if (rc != TC_HTTP_MORE) return rc;
    }
    return TC_HTTP_MORE;
}

/* Feeds s one byte at a time when bytewise, else in one call. */
static int feed_mode(tc_http_parser *p, const char *s, size_t len, int bytewise, size_t *used)
{
    return bytewise ? feed_bytes(p, s, len, used) : feed_all(p, s, len, used);
}

static void assert_view(tc_view v, const char *want)
{
    size_t n = strlen(want);
    if (v.len != n || memcmp(v.base, want, n) != 0)
        fail_msg("view '%.*s' != '%s'", (int)v.len, v.base, want);
}

static const char get_req[] = "GET /api/store/order/cart/123?userId=7&phone=138 HTTP/1.1\r\n"
                              "Host: example.com\r\n"
                              "X-User-Id: 42\r\n"
                              "Accept: */*\r\n"
                              "\r\n";

static void check_get(tc_http_req *r)
{
    assert_int_equal(r->method, HTTP_GET);
    assert_string_equal(r->method_name, "GET");
    assert_int_equal(r->http_major, 1);
    assert_int_equal(r->http_minor, 1);
    assert_view(r->target, "/api/store/order/cart/123?userId=7&phone=138");
    assert_view(r->path, "/api/store/order/cart/123");
    assert_view(r->query, "userId=7&phone=138");
    assert_int_equal(r->n_headers, 3);
    assert_view(r->headers[0].name, "Host");
    assert_view(r->headers[0].value, "example.com");
    assert_view(r->headers[1].name, "X-User-Id");
    assert_view(r->headers[1].value, "42");
    assert_view(r->headers[2].name, "Accept");
    assert_view(r->headers[2].value, "*/*");
    assert_int_equal(r->body.len, 0);
    assert_true(r->keep_alive);
    assert_false(r->upgrade);
}

static void test_get_parsed(void **state)
{
    (void)state;
    tc_http_parser *p = tc_http_new(&lim);
    assert_false(tc_http_started(p));
    size_t used;
    assert_int_equal(feed_all(p, get_req, sizeof get_req - 1, &used), TC_HTTP_DONE);
    assert_int_equal(used, sizeof get_req - 1);
    assert_true(tc_http_started(p));
    check_get(tc_http_request(p));
    /* Feeding after DONE consumes nothing. */
    assert_int_equal(tc_http_feed(p, "GET", 3, &used), TC_HTTP_DONE);
    assert_int_equal(used, 0);
    tc_http_free(p);
}

static void test_get_byte_by_byte(void **state)
{
    (void)state;
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_bytes(p, get_req, sizeof get_req - 1, &used), TC_HTTP_DONE);
    assert_int_equal(used, sizeof get_req - 1);
    check_get(tc_http_request(p));
    tc_http_free(p);
}

static void test_started_after_first_byte(void **state)
{
    (void)state;
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(tc_http_feed(p, "G", 1, &used), TC_HTTP_MORE);
    assert_int_equal(used, 1);
    assert_true(tc_http_started(p));
    tc_http_free(p);
}

static void test_no_query(void **state)
{
    (void)state;
    const char req[] = "GET /healthz HTTP/1.1\r\n\r\n";
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(p, req, sizeof req - 1, &used), TC_HTTP_DONE);
    tc_http_req *r = tc_http_request(p);
    assert_view(r->path, "/healthz");
    assert_int_equal(r->query.len, 0);
    assert_non_null(r->query.base);
    assert_int_equal(r->n_headers, 0);
    assert_null(tc_http_header_get(r, "Host"));
    tc_buf out = TC_BUF_INIT;
    assert_false(tc_http_query_get(r, "x", &out));
    tc_buf_free(&out);
    tc_http_free(p);
}

static const char post_req[] = "POST /api/store/order/cart/add HTTP/1.1\r\n"
                               "Host: x\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 41\r\n"
                               "\r\n"
                               "{\"tableId\":123,\"cuisineId\":1001,\"qty\":1}";

static void test_post_content_length(void **state)
{
    (void)state;
    assert_int_equal(strlen("{\"tableId\":123,\"cuisineId\":1001,\"qty\":1}"), 40);
    /* 41 declared: one more byte needed. */
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(p, post_req, sizeof post_req - 1, &used), TC_HTTP_MORE);
    assert_int_equal(used, sizeof post_req - 1);
    assert_int_equal(tc_http_feed(p, "\n", 1, &used), TC_HTTP_DONE);
    assert_int_equal(used, 1);
    tc_http_req *r = tc_http_request(p);
    assert_int_equal(r->method, HTTP_POST);
    assert_string_equal(r->method_name, "POST");
    assert_int_equal(r->body.len, 41);
    assert_memory_equal(r->body.base, "{\"tableId\":123,\"cuisineId\":1001,\"qty\":1}\n", 41);
    assert_view(*tc_http_header_get(r, "content-type"), "application/json");
    tc_http_free(p);

    /* The same, byte by byte. */
    p = tc_http_new(&lim);
    assert_int_equal(feed_bytes(p, post_req, sizeof post_req - 1, &used), TC_HTTP_MORE);
    assert_int_equal(used, sizeof post_req - 1);
    assert_int_equal(tc_http_feed(p, "\n", 1, &used), TC_HTTP_DONE);
    assert_int_equal(tc_http_request(p)->body.len, 41);
    tc_http_free(p);
}

static void test_chunked_body(void **state)
{
    (void)state;
    const char req[] = "PUT /api/store/order/cart/update HTTP/1.1\r\n"
                       "Host: x\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "\r\n"
                       "5\r\nhello\r\n"
                       "7\r\n, world\r\n"
                       "0\r\n\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        int rc = feed_mode(p, req, sizeof req - 1, bytewise, &used);
        assert_int_equal(rc, TC_HTTP_DONE);
        assert_int_equal(used, sizeof req - 1);
        tc_http_req *r = tc_http_request(p);
        assert_int_equal(r->method, HTTP_PUT);
        assert_int_equal(r->body.len, 12);
        assert_memory_equal(r->body.base, "hello, world", 12);
        assert_true(r->keep_alive);
        tc_http_free(p);
    }
}

/* RFC 9110 §6.5: a chunked trailer's fields are not headers. */
static void test_trailer_fields_are_not_headers(void **state)
{
    (void)state;
    const char req[] = "POST /api/store/order/cart/add HTTP/1.1\r\n"
                       "Host: x\r\n"
                       "Transfer-Encoding: chunked\r\n"
                       "\r\n"
                       "2\r\n{}\r\n"
                       "0\r\n"
                       "X-User-Id: 777\r\n"
                       "Content-Type: application/json\r\n"
                       "\r\n"
                       "GET / HTTP/1.1\r\n\r\n";
    size_t one = sizeof req - 1 - strlen("GET / HTTP/1.1\r\n\r\n");
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        int rc = feed_mode(p, req, sizeof req - 1, bytewise, &used);
        assert_int_equal(rc, TC_HTTP_DONE);
        assert_int_equal(used, one);
        tc_http_req *r = tc_http_request(p);
        assert_int_equal(r->n_headers, 2);
        assert_view(r->headers[0].name, "Host");
        assert_view(r->headers[1].name, "Transfer-Encoding");
        assert_null(tc_http_header_get(r, "X-User-Id"));
        assert_null(tc_http_header_get(r, "Content-Type"));
        assert_int_equal(r->body.len, 2);
        assert_true(r->keep_alive);
        tc_http_free(p);
    }
}

/* Trailer bytes still count against the head limit. */
static void test_trailer_counts_against_head_limit(void **state)
{
    (void)state;
    static const tc_http_limits small = {256, 1024};
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
                     "X-Pad: %0300d\r\n\r\n",
                     0);
    tc_http_parser *p = tc_http_new(&small);
    size_t used;
    assert_int_equal(feed_all(p, req, (size_t)n, &used), 431);
    tc_http_free(p);
}

static void test_http_versions(void **state)
{
    (void)state;
    const char *refused[] = {"HTTP/9.9", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9",
                             "HTTP/3.1", "HTTP/1.9", "HTTP/0.0"};
    char req[128];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            int n = snprintf(req, sizeof req, "GET /healthz %s\r\nHost: x\r\n\r\n", refused[i]);
            tc_http_parser *p = tc_http_new(&lim);
            size_t used;
            int rc = feed_mode(p, req, (size_t)n, bytewise, &used);
            if (rc != 505) fail_msg("%s: got %d, want 505", refused[i], rc);
            tc_http_free(p);
        }
    }
    const char *served[] = {"HTTP/1.0", "HTTP/1.1"};
    for (size_t i = 0; i < 2; i++) {
        int n = snprintf(req, sizeof req, "GET /healthz %s\r\nHost: x\r\n\r\n", served[i]);
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        assert_int_equal(feed_all(p, req, (size_t)n, &used), TC_HTTP_DONE);
        assert_int_equal(tc_http_request(p)->http_minor, i);
        tc_http_free(p);
    }
}

static void test_pipelined(void **state)
{
    (void)state;
    const char first[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char second[] = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok";
    char both[256];
    snprintf(both, sizeof both, "%s%s", first, second);
    size_t total = strlen(both);

    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(p, both, total, &used), TC_HTTP_DONE);
    assert_int_equal(used, sizeof first - 1);
    assert_view(tc_http_request(p)->path, "/a");
    tc_http_free(p);

    /* The rest is a whole request for a fresh parser. */
    p = tc_http_new(&lim);
    assert_int_equal(feed_all(p, both + used, total - used, &used), TC_HTTP_DONE);
    assert_int_equal(used, sizeof second - 1);
    tc_http_req *r = tc_http_request(p);
    assert_view(r->path, "/b");
    assert_int_equal(r->body.len, 2);
    assert_memory_equal(r->body.base, "ok", 2);
    tc_http_free(p);
}

static tc_http_req *parse_ok(tc_http_parser **pp, const char *req)
{
    *pp = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(*pp, req, strlen(req), &used), TC_HTTP_DONE);
    assert_int_equal(used, strlen(req));
    return tc_http_request(*pp);
}

static void test_keep_alive_by_version(void **state)
{
    (void)state;
    tc_http_parser *p;
    tc_http_req *r = parse_ok(&p, "GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(r->http_major, 1);
    assert_int_equal(r->http_minor, 0);
    assert_false(r->keep_alive);
    tc_http_free(p);

    r = parse_ok(&p, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_true(r->keep_alive);
    tc_http_free(p);

    r = parse_ok(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_true(r->keep_alive);
    tc_http_free(p);

    r = parse_ok(&p, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_false(r->keep_alive);
    tc_http_free(p);

    r = parse_ok(&p, "GET / HTTP/1.1\r\n\r\n");
    assert_true(r->keep_alive);
    tc_http_free(p);
}

static void test_upgrade(void **state)
{
    (void)state;
    const char head[] = "GET /ws/cart/123 HTTP/1.1\r\n"
                        "Host: x\r\n"
                        "Connection: Upgrade\r\n"
                        "Upgrade: websocket\r\n"
                        "Sec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "\r\n";
    const char frame[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    char all[512];
    memcpy(all, head, sizeof head - 1);
    memcpy(all + sizeof head - 1, frame, sizeof frame - 1);
    size_t total = sizeof head - 1 + sizeof frame - 1;

    for (int bytewise = 0; bytewise < 2; bytewise++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        int rc = feed_mode(p, all, total, bytewise, &used);
        assert_int_equal(rc, TC_HTTP_DONE);
        assert_int_equal(used, sizeof head - 1);
        tc_http_req *r = tc_http_request(p);
        assert_true(r->upgrade);
        assert_view(r->path, "/ws/cart/123");
        assert_view(*tc_http_header_get(r, "sec-websocket-key"), "dGhlIHNhbXBsZSBub25jZQ==");
        tc_http_free(p);
    }
}

/* A head of about `size` bytes: one long header. */
static char *big_head(size_t size)
{
    char *s = malloc(size + 64);
    int n = snprintf(s, size + 64, "GET / HTTP/1.1\r\nX-Big: ");
    size_t i = (size_t)n;
    while (i < size)
        s[i++] = 'a';
    memcpy(s + i, "\r\n\r\n", 5);
    return s;
}

static void test_head_too_large_one_feed(void **state)
{
    (void)state;
    char *s = big_head(20 * 1024);
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(p, s, strlen(s), &used), 431);
    /* Sticky. */
    assert_int_equal(tc_http_feed(p, "\r\n", 2, &used), 431);
    assert_int_equal(used, 0);
    tc_http_free(p);
    free(s);
}

static void test_head_too_large_many_feeds(void **state)
{
    (void)state;
    char *s = big_head(20 * 1024);
    size_t len = strlen(s);
    /* In 100-byte pieces, and byte by byte. */
    tc_http_parser *p = tc_http_new(&lim);
    int rc = TC_HTTP_MORE;
    size_t off = 0, used;
    while (rc == TC_HTTP_MORE && off < len) {
        size_t n = len - off < 100 ? len - off : 100;
        rc = tc_http_feed(p, s + off, n, &used);
        off += n;
    }
    assert_int_equal(rc, 431);
    assert_true(off <= 16 * 1024 + 200);
    tc_http_free(p);

    p = tc_http_new(&lim);
    assert_int_equal(feed_bytes(p, s, len, &used), 431);
    /* Refused within a request line's worth of the limit, not at the end. */
    assert_true(used <= 16 * 1024 + 64);
    tc_http_free(p);
    free(s);
}

static void test_many_small_headers_too_large(void **state)
{
    (void)state;
    /* Short lines: the ": " and CRLF count too. */
    tc_http_limits small = {256, 1024};
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_str(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 60; i++)
        tc_buf_append_str(&b, "A: b\r\n");
    tc_buf_append_str(&b, "\r\n");
    tc_http_parser *p = tc_http_new(&small);
    size_t used;
    assert_int_equal(feed_all(p, b.base, b.len, &used), 431);
    tc_http_free(p);
    tc_buf_free(&b);
}

static void test_head_at_limit_ok(void **state)
{
    (void)state;
    tc_http_limits small = {64 + TC_HTTP_HEADER_COST, 1024};
    /* target "/" (1) + "X-A" (3) + 4 + value: 1 + 3 + 4 + 56 = 64, plus the
     * header's records. */
    char req[256];
    char val[57];
    memset(val, 'v', 56);
    val[56] = '\0';
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-A: %s\r\n\r\n", val);
    tc_http_parser *p = tc_http_new(&small);
    size_t used;
    assert_int_equal(feed_all(p, req, strlen(req), &used), TC_HTTP_DONE);
    tc_http_free(p);
    /* One more byte of value is over. */
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-A: %sv\r\n\r\n", val);
    p = tc_http_new(&small);
    assert_int_equal(feed_all(p, req, strlen(req), &used), 431);
    tc_http_free(p);
}

static void test_content_length_too_large(void **state)
{
    (void)state;
    tc_http_limits small = {1024, 10};
    const char req[] = "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
    tc_http_parser *p = tc_http_new(&small);
    size_t used;
    /* Refused at the end of the head, before any body byte. */
    assert_int_equal(feed_all(p, req, sizeof req - 1, &used), 413);
    tc_http_free(p);

    const char ok[] = "POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
    p = tc_http_new(&small);
    assert_int_equal(feed_all(p, ok, sizeof ok - 1, &used), TC_HTTP_DONE);
    assert_int_equal(tc_http_request(p)->body.len, 10);
    tc_http_free(p);

    /* Default limit: a huge declared length. */
    const char huge[] = "POST /x HTTP/1.1\r\nContent-Length: 65537\r\n\r\n";
    p = tc_http_new(&lim);
    assert_int_equal(feed_all(p, huge, sizeof huge - 1, &used), 413);
    tc_http_free(p);
}

static void test_chunked_too_large(void **state)
{
    (void)state;
    tc_http_limits small = {1024, 10};
    const char req[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "6\r\nabcdef\r\n"
                       "5\r\nghijk\r\n"
                       "0\r\n\r\n";
    tc_http_parser *p = tc_http_new(&small);
    size_t used;
    assert_int_equal(feed_all(p, req, sizeof req - 1, &used), 413);
    tc_http_free(p);

    p = tc_http_new(&small);
    assert_int_equal(feed_bytes(p, req, sizeof req - 1, &used), 413);
    tc_http_free(p);
}

static void test_garbage(void **state)
{
    (void)state;
    const char *bad[] = {
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS ClientHello */
        "HELLO WORLD\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET / HTTX/1.1\r\n\r\n", /* http-parser alone takes it (non-strict build) */
        "GET /a b HTTP/1.1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        "GET / HTTP/1.1\r\nIf-None-Match : \"v2\"\r\n\r\n", /* RFC 9112 §5.1 */
        "GET / HTTP/1.1\r\nX-User Id: 5\r\n\r\n",
        "GET / HTTP/1.1\r\nX-User-Id\t: 5\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        int rc = feed_all(p, bad[i], strlen(bad[i]), &used);
        if (rc != 400) fail_msg("input %zu: got %d, want 400", i, rc);
        tc_http_free(p);
    }
}

static void test_transfer_codings(void **state)
{
    (void)state;
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    const char gz[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
    assert_int_equal(feed_all(p, gz, sizeof gz - 1, &used), 501);
    tc_http_free(p);
    /* Both framings at once (a smuggling attempt) is malformed. */
    const char both[] =
        "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        "0\r\n\r\n";
    p = tc_http_new(&lim);
    assert_int_equal(feed_all(p, both, sizeof both - 1, &used), 400);
    tc_http_free(p);
    /* Only "chunked" alone is a coding we know: one before it is 501 too
     * (http-parser alone takes any list that ends in chunked), in one
     * header or over two. */
    const char *unknown[] = {
        "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding: foo,chunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding: identity , chunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        p = tc_http_new(&lim);
        int rc = feed_all(p, unknown[i], strlen(unknown[i]), &used);
        if (rc != 501) fail_msg("input %zu: got %d, want 501", i, rc);
        tc_http_free(p);
    }
    /* chunked alone, in any case, with spaces around it. */
    const char *known[] = {
        "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding:  CHUNKED \r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        p = tc_http_new(&lim);
        int rc = feed_all(p, known[i], strlen(known[i]), &used);
        if (rc != TC_HTTP_DONE) fail_msg("input %zu: got %d, want done", i, rc);
        assert_int_equal(tc_http_request(p)->body.len, 2);
        tc_http_free(p);
    }
}

static tc_http_req *req_with_query(tc_http_parser **pp, const char *query)
{
    char req[512];
    snprintf(req, sizeof req, "GET /x?%s HTTP/1.1\r\n\r\n", query);
    return parse_ok(pp, req);
}

static void test_query_get(void **state)
{
    (void)state;
    tc_http_parser *p;
    tc_http_req *r = req_with_query(&p, "a=1&phone=%2B86+138%200&empty=&flag&name=%E5%AE%AB&a=2");
    tc_buf out = TC_BUF_INIT;
    assert_true(tc_http_query_get(r, "a", &out));
    assert_string_equal(tc_buf_cstr(&out), "1"); /* the first wins */
    assert_true(tc_http_query_get(r, "phone", &out));
    assert_string_equal(tc_buf_cstr(&out), "+86 138 0");
    assert_true(tc_http_query_get(r, "empty", &out));
    assert_int_equal(out.len, 0);
    assert_true(tc_http_query_get(r, "flag", &out));
    assert_int_equal(out.len, 0);
    assert_true(tc_http_query_get(r, "name", &out));
    assert_string_equal(tc_buf_cstr(&out), "宫");
    assert_false(tc_http_query_get(r, "ph", &out));
    assert_false(tc_http_query_get(r, "Phone", &out));
    assert_false(tc_http_query_get(r, "missing", &out));
    tc_buf_free(&out);
    tc_http_free(p);

    /* Names are percent-decoded as values are: the first that decodes to
     * the name wins, escaped or not. */
    r = req_with_query(&p, "tabl%65Id=123&tableId=9&%74oken%3d=x&my+id=7&%E5%AE%AB=1&c%4=2&c%=3");
    assert_true(tc_http_query_get(r, "tableId", &out));
    assert_string_equal(tc_buf_cstr(&out), "123");
    assert_false(tc_http_query_get(r, "token", &out));
    assert_true(tc_http_query_get(r, "token=", &out));
    assert_string_equal(tc_buf_cstr(&out), "x");
    assert_true(tc_http_query_get(r, "my id", &out));
    assert_string_equal(tc_buf_cstr(&out), "7");
    assert_true(tc_http_query_get(r, "宫", &out));
    assert_string_equal(tc_buf_cstr(&out), "1");
    assert_false(tc_http_query_get(r, "c", &out));
    assert_false(tc_http_query_get(r, "tabl", &out));
    assert_false(tc_http_query_get(r, "tableIdx", &out));
    tc_buf_free(&out);
    tc_http_free(p);

    r = req_with_query(&p, "bad=%zz&good=1");
    assert_false(tc_http_query_get(r, "bad", &out));
    assert_true(tc_http_query_get(r, "good", &out));
    assert_string_equal(tc_buf_cstr(&out), "1");
    tc_buf_free(&out);
    tc_http_free(p);
}

/* If-None-Match by RFC 9110's weak comparison: "*", or a list member with
 * the same opaque tag, W/ or not on either side; a malformed member
 * matches nothing and does not hide the next one. */
static void test_none_match(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        bool hit;
    } cases[] = {
        {"\"v12\"", true},
        {"W/\"v12\"", true},
        {"*", true},
        {" * ", true},
        {"\"x\", \"v12\"", true},
        {"\"x\",\"v12\" , \"y\"", true},
        {",,\"v12\",", true},
        {"\"a,b\", W/\"v12\"", true},
        {"junk, \"v12\"", true},
        {"\"v12\"x, \"v12\"", true},
        {"\"v1\"", false},
        {"\"v12", false},
        {"v12", false},
        {"\"v120\"", false},
        {"\"V12\"", false},
        {"*x", false},
        {"\"v12\"x", false},
        {"w/\"v12\"", false},
        {"", false},
        {" , ", false},
        {"\"", false},
        {"W/", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_view v = {cases[i].value, strlen(cases[i].value)};
        if (tc_http_none_match(v, (tc_view){"\"v12\"", 5}) != cases[i].hit)
            fail_msg("'%s' against \"v12\": expected %d", cases[i].value, cases[i].hit);
        /* A weak tag of ours compares the same. */
        if (tc_http_none_match(v, (tc_view){"W/\"v12\"", 7}) != cases[i].hit)
            fail_msg("'%s' against W/\"v12\": expected %d", cases[i].value, cases[i].hit);
    }
}

static void check_query(const char *query, const char *bad_name)
{
    tc_http_parser *p;
    tc_http_req *r = req_with_query(&p, query);
    tc_view bad = {NULL, 0};
    bool ok = tc_http_query_check(r, &bad);
    if (bad_name == NULL) {
        if (!ok) fail_msg("'%s' refused at '%.*s'", query, (int)bad.len, bad.base);
    } else {
        if (ok) fail_msg("'%s' passed", query);
        assert_view(bad, bad_name);
    }
    tc_http_free(p);
}

static void test_query_check(void **state)
{
    (void)state;
    check_query("", NULL);
    check_query("a=1&phone=%2B86+138%200&empty=&flag&name=%E5%AE%AB&%41=b", NULL);
    check_query("&&a=1&", NULL);
    check_query("tableId=%zz", "tableId");
    check_query("x=1&tableId=%4", "tableId");
    check_query("phone=138%", "phone");
    check_query("a=%G0", "a");
    check_query("q=%%41", "q");
    check_query("a=1&%zz=1&b=%zz", "%zz"); /* a name that does not decode is named as sent */
    check_query("ok&bad%=", "bad%");
    check_query("a=%41&b=%4g", "b");
}

static void test_bad_name(void **state)
{
    (void)state;
    char out[TC_HTTP_BAD_NAME_MAX + 1];
    char long_name[100];
    memset(long_name, 'n', sizeof long_name);
    assert_string_equal(tc_http_bad_name((tc_view){"tableId=1", 7}, out), "tableId");
    assert_string_equal(tc_http_bad_name((tc_view){NULL, 0}, out), "");
    const char *got = tc_http_bad_name((tc_view){long_name, sizeof long_name}, out);
    assert_ptr_equal(got, out);
    assert_int_equal(strlen(got), TC_HTTP_BAD_NAME_MAX);
    assert_int_equal(TC_HTTP_BAD_NAME_MAX, 64);
}

static bool unescape(const char *in, bool plus, tc_buf *out)
{
    return tc_http_unescape(tc_view_of(in), plus, out);
}

static void test_unescape(void **state)
{
    (void)state;
    tc_buf out = TC_BUF_INIT;
    assert_true(unescape("a%20b+c", false, &out));
    assert_string_equal(tc_buf_cstr(&out), "a b+c");
    assert_true(unescape("a%20b+c", true, &out));
    assert_string_equal(tc_buf_cstr(&out), "a b c");
    assert_true(unescape("%41%4a%4A%7e", false, &out));
    assert_string_equal(tc_buf_cstr(&out), "AJJ~");
    assert_true(unescape("%2525", false, &out));
    assert_string_equal(tc_buf_cstr(&out), "%25"); /* decoded once */
    assert_true(unescape("", false, &out));
    assert_int_equal(out.len, 0);
    assert_true(unescape("x%00y", false, &out));
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.base, "x\0y", 3);

    assert_false(unescape("%", false, &out));
    assert_false(unescape("%4", false, &out));
    assert_false(unescape("%zz", false, &out));
    assert_false(unescape("%4z", false, &out));
    assert_false(unescape("%z4", false, &out));
    assert_false(unescape("abc%", true, &out));
    assert_false(unescape("abc%2", true, &out));
    tc_buf_free(&out);
}

/* A path for routing: decoded but for the escapes that would split or cut a
 * segment. */
static void test_unescape_path(void **state)
{
    (void)state;
    tc_buf out = TC_BUF_INIT;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"/api/store/order/cart/%3123", "/api/store/order/cart/123"},
        {"/%61pi/x+y%20z", "/api/x+y z"},
        {"/cart/1%2F2%2f3", "/cart/1%2F2%2f3"},
        {"/cart/1%002", "/cart/1%002"},
        {"/cart/%252F", "/cart/%2F"}, /* decoded once */
        {"/plain", "/plain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_true(tc_http_unescape_path(tc_view_of(cases[i].in), &out));
        assert_string_equal(tc_buf_cstr(&out), cases[i].want);
    }
    assert_false(tc_http_unescape_path(tc_view_of("/cart/%zz"), &out));
    assert_false(tc_http_unescape_path(tc_view_of("/cart/%3"), &out));
    tc_buf_free(&out);
}

static void test_header_case_insensitive(void **state)
{
    (void)state;
    tc_http_parser *p;
    tc_http_req *r = parse_ok(&p, "GET / HTTP/1.1\r\n"
                                  "X-User-Phone: 138\r\n"
                                  "content-TYPE: text/plain\r\n"
                                  "X-Dup: one\r\n"
                                  "x-dup: two\r\n"
                                  "\r\n");
    assert_view(*tc_http_header_get(r, "x-user-phone"), "138");
    assert_view(*tc_http_header_get(r, "X-USER-PHONE"), "138");
    assert_view(*tc_http_header_get(r, "Content-Type"), "text/plain");
    assert_view(*tc_http_header_get(r, "X-DUP"), "one"); /* the first */
    assert_null(tc_http_header_get(r, "X-User"));
    assert_null(tc_http_header_get(r, "X-User-Phone-2"));
    /* All lines of a name as one list, in order (RFC 9110 §5.3). */
    tc_buf all = TC_BUF_INIT;
    assert_int_equal(tc_http_header_join(r, "X-Dup", &all), 2);
    assert_string_equal(tc_buf_cstr(&all), "one, two");
    tc_buf_reset(&all);
    assert_int_equal(tc_http_header_join(r, "content-type", &all), 1);
    assert_string_equal(tc_buf_cstr(&all), "text/plain");
    tc_buf_reset(&all);
    assert_int_equal(tc_http_header_join(r, "X-None", &all), 0);
    assert_int_equal(all.len, 0);
    tc_buf_free(&all);
    tc_http_free(p);
}

/* RFC 9110 §5.5: whitespace around a value is not part of it, also when the
 * value arrives a byte at a time. */
static void test_header_value_whitespace_trimmed(void **state)
{
    (void)state;
    const char req[] = "GET / HTTP/1.1\r\n"
                       "If-Match: \"v9\" \r\n"
                       "X-User-Id: \t5 \t \r\n"
                       "X-Empty:  \t \r\n"
                       "X-Inner: a  b\r\n"
                       "\r\n";
    for (int bytewise = 0; bytewise <= 1; bytewise++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        assert_int_equal(feed_mode(p, req, sizeof req - 1, bytewise, &used), TC_HTTP_DONE);
        tc_http_req *r = tc_http_request(p);
        assert_view(*tc_http_header_get(r, "If-Match"), "\"v9\"");
        assert_view(*tc_http_header_get(r, "X-User-Id"), "5");
        assert_view(*tc_http_header_get(r, "X-Empty"), "");
        assert_view(*tc_http_header_get(r, "X-Inner"), "a  b");
        tc_http_free(p);
    }
}

/* RFC 9110 §10.1.1: 100 Continue is owed once, to an HTTP/1.1 client that
 * sent the head alone with a body to come. */
static void test_take_continue(void **state)
{
    (void)state;
    static const struct {
        const char *head;
        int want;
    } cases[] = {
        {"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 1},
        {"POST /x HTTP/1.1\r\nexpect: 100-CONTINUE \r\nTransfer-Encoding: chunked\r\n\r\n", 1},
        {"POST /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 0},
        {"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 0},
        {"POST /x HTTP/1.1\r\nExpect: 100-continue, x\r\nContent-Length: 2\r\n\r\n", 0},
        {"POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\na", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_http_parser *p = tc_http_new(&lim);
        size_t used;
        assert_int_equal(feed_all(p, cases[i].head, strlen(cases[i].head), &used), TC_HTTP_MORE);
        if (tc_http_take_continue(p) != cases[i].want) fail_msg("case %zu", i);
        assert_false(tc_http_take_continue(p)); /* once */
        tc_http_free(p);
    }
    /* Head and body at once: answered without it. */
    const char all[] = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab";
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(feed_all(p, all, sizeof all - 1, &used), TC_HTTP_DONE);
    assert_false(tc_http_take_continue(p));
    tc_http_free(p);
    /* No body to wait for. */
    const char empty[] = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
    p = tc_http_new(&lim);
    assert_int_equal(feed_all(p, empty, sizeof empty - 1, &used), TC_HTTP_DONE);
    assert_false(tc_http_take_continue(p));
    tc_http_free(p);
}

/* RFC 9112 §3.2.2: an absolute-form target's path and query are those after
 * its scheme and authority; the target stays as sent. */
static void test_absolute_form(void **state)
{
    (void)state;
    static const struct {
        const char *target, *path, *query;
    } cases[] = {
        {"http://example.com/a/b?x=1", "/a/b", "x=1"},
        {"HTTPS://example.com:8443/a", "/a", ""},
        {"http://example.com", "/", ""},
        {"http://example.com?table=1", "/", "table=1"},
        {"http://user@[::1]:80/p", "/p", ""},
        {"/http://example.com/a", "/http://example.com/a", ""}, /* origin-form: as it is */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n\r\n", cases[i].target);
        tc_http_parser *p;
        tc_http_req *r = parse_ok(&p, req);
        assert_view(r->target, cases[i].target);
        assert_view(r->path, cases[i].path);
        assert_view(r->query, cases[i].query);
        tc_http_free(p);
    }
}

static void test_free_null_and_unfinished(void **state)
{
    (void)state;
    tc_http_free(NULL);
    tc_http_parser *p = tc_http_new(&lim);
    size_t used;
    const char part[] = "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
    assert_int_equal(tc_http_feed(p, part, sizeof part - 1, &used), TC_HTTP_MORE);
    assert_int_equal(used, sizeof part - 1);
    tc_http_free(p); /* nothing leaks (checked under ASan) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_parsed),
        cmocka_unit_test(test_get_byte_by_byte),
        cmocka_unit_test(test_started_after_first_byte),
        cmocka_unit_test(test_no_query),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_trailer_fields_are_not_headers),
        cmocka_unit_test(test_trailer_counts_against_head_limit),
        cmocka_unit_test(test_http_versions),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_keep_alive_by_version),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_head_too_large_one_feed),
        cmocka_unit_test(test_head_too_large_many_feeds),
        cmocka_unit_test(test_many_small_headers_too_large),
        cmocka_unit_test(test_head_at_limit_ok),
        cmocka_unit_test(test_content_length_too_large),
        cmocka_unit_test(test_chunked_too_large),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_transfer_codings),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_none_match),
        cmocka_unit_test(test_query_check),
        cmocka_unit_test(test_bad_name),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_unescape_path),
        cmocka_unit_test(test_header_case_insensitive),
        cmocka_unit_test(test_header_value_whitespace_trimmed),
        cmocka_unit_test(test_take_continue),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_free_null_and_unfinished),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
