/* http_req.h — for unit tests: a GET request built by the real parser
 * (src/http/http.h), so code that reads tc_http_req is tested on what the
 * server would really hand it. Include after <cmocka.h>. */
#ifndef TC_TEST_HTTP_REQ_H
#define TC_TEST_HTTP_REQ_H

#include "http/http.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    tc_http_parser *p; /* free with tc_http_free(q.p); q.r points into it */
    tc_http_req *r;
} req_t;

/* "GET target HTTP/1.1" with Host and the given header lines (each ending in
 * CRLF); asserts that the parser took all of it as one request. */
static inline req_t make_req(const char *target, const char *headers)
{
    static const tc_http_limits lim = {16 * 1024, 64 * 1024};
    char text[12000];
    snprintf(text, sizeof text, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, headers);
    req_t q;
    q.p = tc_http_new(&lim);
    size_t used;
    assert_int_equal(tc_http_feed(q.p, text, strlen(text), &used), TC_HTTP_DONE);
    assert_int_equal(used, strlen(text));
    q.r = tc_http_request(q.p);
    return q;
}

#endif
