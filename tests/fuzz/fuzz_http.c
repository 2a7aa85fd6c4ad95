/* fuzz_http.c — libFuzzer driver for the HTTP request parser glue
 * (src/http/http.c).
 *
 * The first input byte picks a split point; the rest is fed to one parser in
 * two calls split there, and to a second parser one byte at a time. Both must
 * agree (both need more, both complete with the same bytes consumed and the
 * same request, or both refuse with one of the documented statuses), which also exercises every
 * callback path under ASan/UBSan. A complete request's views, headers and query are then read back.
 */
#include "http/http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Small limits so that short inputs reach the 413 and 431 paths. */
static const tc_http_limits lim = {512, 256};

typedef struct {
    int rc;
    size_t used;
} outcome;

static outcome feed_split(tc_http_parser *p, const char *d, size_t n, size_t split)
{
    outcome o = {TC_HTTP_MORE, 0};
    size_t u = 0;
    o.rc = tc_http_feed(p, d, split, &u);
    o.used = u;
    if (o.rc == TC_HTTP_MORE && split < n) {
        o.rc = tc_http_feed(p, d + split, n - split, &u);
        o.used += u;
    }
    return o;
}

static outcome feed_bytes(tc_http_parser *p, const char *d, size_t n)
{
    outcome o = {TC_HTTP_MORE, 0};
    for (size_t i = 0; i < n && o.rc == TC_HTTP_MORE; i++) {
        size_t u = 0;
        o.rc = tc_http_feed(p, d + i, 1, &u);
        o.used += u;
    }
    return o;
}

static bool view_same(tc_view a, tc_view b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static void check_same(const tc_http_req *a, const tc_http_req *b)
{
    if (a->method != b->method || a->http_major != b->http_major ||
        a->http_minor != b->http_minor || a->keep_alive != b->keep_alive ||
        a->upgrade != b->upgrade || !view_same(a->target, b->target) ||
        !view_same(a->path, b->path) || !view_same(a->query, b->query) ||
        a->n_headers != b->n_headers || a->body.len != b->body.len ||
        (a->body.len && memcmp(a->body.base, b->body.base, a->body.len) != 0)) {
        fprintf(stderr, "split and byte-by-byte parses differ\n");
        abort();
    }
    for (size_t i = 0; i < a->n_headers; i++)
        if (!view_same(a->headers[i].name, b->headers[i].name) ||
            !view_same(a->headers[i].value, b->headers[i].value)) {
            fprintf(stderr, "header %zu differs\n", i);
            abort();
        }
}

static void read_back(const tc_http_req *r)
{
    /* Touch every byte of every view (ASan checks the bounds). */
    volatile unsigned sum = 0;
    for (size_t i = 0; i < r->target.len; i++)
        sum += (unsigned char)r->target.base[i];
    for (size_t i = 0; i < r->n_headers; i++) {
        for (size_t k = 0; k < r->headers[i].name.len; k++)
            sum += (unsigned char)r->headers[i].name.base[k];
        for (size_t k = 0; k < r->headers[i].value.len; k++)
            sum += (unsigned char)r->headers[i].value.base[k];
    }
    (void)sum;
    (void)tc_http_header_get(r, "content-type");
    (void)tc_http_header_get(r, "X-User-Id");
    tc_buf out = TC_BUF_INIT;
    static const char *names[] = {"userId", "phone", "tableId", "token", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        tc_http_query_get(r, names[i], &out);
    tc_http_unescape(r->path, false, &out);
    tc_http_unescape(r->query, true, &out);
    tc_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t split = data[0];
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    if (split > n) split = n;

    tc_http_parser *a = tc_http_new(&lim);
    tc_http_parser *b = tc_http_new(&lim);
    outcome oa = feed_split(a, d, n, split);
    outcome ob = feed_bytes(b, d, n);
    /* Both refusing is agreement: when an input is both too big and
     * malformed, which one is noticed first depends on where http-parser's
     * data callbacks fall, i.e. on the split. */
    bool both_errors = oa.rc > TC_HTTP_DONE && ob.rc > TC_HTTP_DONE;
    if (oa.rc != ob.rc && !both_errors) {
        fprintf(stderr, "status differs: split %d, byte-by-byte %d\n", oa.rc, ob.rc);
        abort();
    }
    if (oa.rc == TC_HTTP_DONE) {
        if (oa.used != ob.used) {
            fprintf(stderr, "used differs: split %zu, byte-by-byte %zu\n", oa.used, ob.used);
            abort();
        }
        check_same(tc_http_request(a), tc_http_request(b));
        read_back(tc_http_request(a));
        /* Only HTTP/1.0 and 1.1 are ever handed on (others are 505). */
        const tc_http_req *ra = tc_http_request(a);
        if (ra->http_major != 1 || ra->http_minor > 1) abort();
        /* A query that checks out decodes every parameter; one that does not
         * names a parameter of the query. */
        tc_view bad = {NULL, 0};
        if (!tc_http_query_check(ra, &bad) &&
            (bad.base < ra->query.base || bad.base + bad.len > ra->query.base + ra->query.len))
            abort();
        /* After DONE nothing more is consumed. */
        size_t u = 1;
        if (tc_http_feed(a, "GET", 3, &u) != TC_HTTP_DONE || u != 0) abort();
    } else if (oa.rc != TC_HTTP_MORE) {
        for (int k = 0; k < 2; k++) {
            int rc = k ? ob.rc : oa.rc;
            if (rc != 400 && rc != 413 && rc != 431 && rc != 501 && rc != 505) {
                fprintf(stderr, "unexpected status %d\n", rc);
                abort();
            }
        }
    }
    tc_http_free(a);
    tc_http_free(b);
    return 0;
}
