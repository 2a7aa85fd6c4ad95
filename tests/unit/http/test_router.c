/* test_router.c — method + path matching, parameters, 404 vs 405, Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/router.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

/* Distinct handlers, told apart by address. */
static void h_cart(tc_http_exchange *x)
{
    (void)x;
}
static void h_add(tc_http_exchange *x)
{
    (void)x;
}
static void h_update(tc_http_exchange *x)
{
    (void)x;
}
static void h_two(tc_http_exchange *x)
{
    (void)x;
}
static void h_ws(tc_http_exchange *x)
{
    (void)x;
}
static void h_cart_delete(tc_http_exchange *x)
{
    (void)x;
}

static tc_router *make(void)
{
    tc_router *r = tc_router_new();
    tc_router_add(r, TC_M_GET, "/api", "/store/order/cart/{}", h_cart);
    tc_router_add(r, TC_M_POST, "/api", "/store/order/cart/add", h_add);
    tc_router_add(r, TC_M_PUT, "/api", "/store/order/cart/update", h_update);
    tc_router_add(r, TC_M_GET | TC_M_POST, "/api", "/a/{}/b/{}", h_two);
    tc_router_add(r, TC_M_GET, "", "/ws/cart/{}", h_ws);
    return r;
}

static void match(const tc_router *r, unsigned bit, const char *path, tc_route_match *m)
{
    tc_view v = {path, strlen(path)};
    tc_router_match(r, bit, v, m);
}

static void assert_param(tc_view v, const char *want)
{
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.base, want, v.len);
}

static void test_method_bits(void **state)
{
    (void)state;
    assert_int_equal(tc_router_method_bit(HTTP_GET), TC_M_GET);
    assert_int_equal(tc_router_method_bit(HTTP_HEAD), TC_M_HEAD);
    assert_int_equal(tc_router_method_bit(HTTP_POST), TC_M_POST);
    assert_int_equal(tc_router_method_bit(HTTP_PUT), TC_M_PUT);
    assert_int_equal(tc_router_method_bit(HTTP_DELETE), TC_M_DELETE);
    assert_int_equal(tc_router_method_bit(HTTP_OPTIONS), TC_M_OPTIONS);
    assert_int_equal(tc_router_method_bit(HTTP_PATCH), 0);
    assert_int_equal(tc_router_method_bit(HTTP_CONNECT), 0);
}

static void test_params_captured(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    const char *path = "/api/store/order/cart/123";
    match(r, TC_M_GET, path, &m);
    assert_ptr_equal(m.handler, h_cart);
    assert_int_equal(m.n_params, 1);
    assert_param(m.params[0], "123");
    /* The parameter is a view into the path itself. */
    assert_ptr_equal(m.params[0].base, path + strlen("/api/store/order/cart/"));
    assert_int_equal(m.allowed, TC_M_GET | TC_M_HEAD);

    match(r, TC_M_POST, "/api/a/x%20y/b/42", &m);
    assert_ptr_equal(m.handler, h_two);
    assert_int_equal(m.n_params, 2);
    assert_param(m.params[0], "x%20y"); /* not decoded */
    assert_param(m.params[1], "42");

    /* A literal path is never taken for a parameter: GET of the POST route
     * "add" is a 405 with Allow: POST, not the {} route with param "add". */
    match(r, TC_M_GET, "/api/store/order/cart/add", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_POST);
    match(r, TC_M_POST, "/api/store/order/cart/add", &m);
    assert_ptr_equal(m.handler, h_add);
    assert_int_equal(m.n_params, 0);
    tc_router_free(r);
}

static void test_prefix(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    match(r, TC_M_GET, "/store/order/cart/123", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    match(r, TC_M_GET, "/ws/cart/9", &m);
    assert_ptr_equal(m.handler, h_ws);
    assert_param(m.params[0], "9");
    match(r, TC_M_GET, "/api/ws/cart/9", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    tc_router_free(r);

    /* Another prefix. */
    r = tc_router_new();
    tc_router_add(r, TC_M_GET, "/v2/x", "/cart/{}", h_cart);
    match(r, TC_M_GET, "/v2/x/cart/5", &m);
    assert_ptr_equal(m.handler, h_cart);
    match(r, TC_M_GET, "/api/cart/5", &m);
    assert_null(m.handler);
    tc_router_free(r);
}

static void test_404_vs_405(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    match(r, TC_M_GET, "/api/nope", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    assert_int_equal(m.n_params, 0);

    match(r, TC_M_DELETE, "/api/store/order/cart/123", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_GET | TC_M_HEAD);

    match(r, TC_M_GET, "/api/store/order/cart/update", &m);
    assert_null(m.handler); /* a fixed path: {} does not match "update" */
    assert_int_equal(m.allowed, TC_M_PUT);
    match(r, TC_M_DELETE, "/api/store/order/cart/update", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_PUT);
    /* The {} route still takes every other segment. */
    match(r, TC_M_GET, "/api/store/order/cart/updates", &m);
    assert_ptr_equal(m.handler, h_cart);

    /* A method the router does not know (bit 0) is a 405 on a known path. */
    match(r, 0, "/api/store/order/cart/add", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_POST);
    tc_router_free(r);
}

static void test_head_implied_by_get(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    match(r, TC_M_HEAD, "/api/store/order/cart/7", &m);
    assert_ptr_equal(m.handler, h_cart);
    assert_param(m.params[0], "7");
    /* but not by POST. */
    tc_router *r2 = tc_router_new();
    tc_router_add(r2, TC_M_POST, "", "/p", h_add);
    match(r2, TC_M_HEAD, "/p", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_POST);
    tc_router_free(r2);
    tc_router_free(r);
}

static void test_first_registered_wins(void **state)
{
    (void)state;
    tc_router *r = tc_router_new();
    tc_router_add(r, TC_M_GET, "", "/c/{}", h_cart);
    tc_router_add(r, TC_M_GET | TC_M_DELETE, "", "/c/{}", h_cart_delete);
    tc_route_match m;
    match(r, TC_M_GET, "/c/1", &m);
    assert_ptr_equal(m.handler, h_cart);
    match(r, TC_M_DELETE, "/c/1", &m);
    assert_ptr_equal(m.handler, h_cart_delete);
    assert_int_equal(m.allowed, TC_M_GET | TC_M_HEAD | TC_M_DELETE);
    tc_router_free(r);
}

static void test_segments(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    /* An empty segment does not match {}. */
    match(r, TC_M_GET, "/api/store/order/cart/", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    match(r, TC_M_GET, "/api/a//b/1", &m);
    assert_null(m.handler);
    match(r, TC_M_GET, "/api/a/1/b/", &m);
    assert_null(m.handler);
    /* {} takes one segment, not two. */
    match(r, TC_M_GET, "/api/store/order/cart/1/2", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    /* Missing segment, longer literal. */
    match(r, TC_M_GET, "/ws/cart", &m);
    assert_null(m.handler);
    match(r, TC_M_POST, "/api/store/order/cart/addx", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_GET | TC_M_HEAD);
    match(r, TC_M_POST, "/api/store/order/cart/ad", &m);
    assert_null(m.handler);
    /* Case matters in paths. */
    match(r, TC_M_GET, "/API/store/order/cart/1", &m);
    assert_null(m.handler);
    /* Empty path. */
    match(r, TC_M_GET, "", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    tc_router_free(r);
}

/* One trailing slash is ignored, as Spring MVC 5 (the original service)
 * matched it; two are not, and a path that matches as written wins. */
static void test_trailing_slash(void **state)
{
    (void)state;
    tc_router *r = make();
    tc_route_match m;
    match(r, TC_M_GET, "/ws/cart/1/", &m);
    assert_ptr_equal(m.handler, h_ws);
    assert_int_equal(m.n_params, 1);
    assert_param(m.params[0], "1");
    match(r, TC_M_GET, "/api/store/order/cart/123/", &m);
    assert_ptr_equal(m.handler, h_cart);
    assert_param(m.params[0], "123");
    match(r, TC_M_POST, "/api/store/order/cart/add/", &m);
    assert_ptr_equal(m.handler, h_add);
    assert_int_equal(m.n_params, 0);
    match(r, TC_M_GET, "/api/a/1/b/2/", &m);
    assert_ptr_equal(m.handler, h_two);
    assert_param(m.params[0], "1");
    assert_param(m.params[1], "2");
    /* 405 from the path without its slash, with its methods. */
    match(r, TC_M_DELETE, "/api/store/order/cart/add/", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_POST);
    /* Two slashes, or a slash alone, are not trimmed. */
    match(r, TC_M_GET, "/api/store/order/cart/123//", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    match(r, TC_M_GET, "/", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    /* The empty segment before the slash is still no parameter. */
    match(r, TC_M_GET, "/api/store/order/cart/", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, 0);
    tc_router_free(r);

    /* A path that matches as written is not trimmed: its own route, or its
     * own 405, even where the path without the slash has the method. */
    r = tc_router_new();
    tc_router_add(r, TC_M_GET, "", "/x", h_cart);
    tc_router_add(r, TC_M_GET, "", "/x/", h_add);
    tc_router_add(r, TC_M_GET, "", "/y", h_cart);
    tc_router_add(r, TC_M_POST, "", "/y/", h_add);
    match(r, TC_M_GET, "/x/", &m);
    assert_ptr_equal(m.handler, h_add);
    match(r, TC_M_GET, "/y/", &m);
    assert_null(m.handler);
    assert_int_equal(m.allowed, TC_M_POST);
    match(r, TC_M_GET, "/y", &m);
    assert_ptr_equal(m.handler, h_cart);
    tc_router_free(r);
}

static void allow(unsigned methods, const char *want)
{
    tc_buf b = TC_BUF_INIT;
    tc_router_allow_header(methods, &b);
    assert_string_equal(tc_buf_cstr(&b), want);
    tc_buf_free(&b);
}

static void test_allow_header(void **state)
{
    (void)state;
    allow(TC_M_GET | TC_M_HEAD, "GET, HEAD");
    allow(TC_M_POST, "POST");
    allow(TC_M_DELETE | TC_M_PUT | TC_M_GET, "GET, PUT, DELETE");
    allow(TC_M_GET | TC_M_HEAD | TC_M_POST | TC_M_PUT | TC_M_DELETE | TC_M_OPTIONS,
          "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    allow(0, "");
    /* Appends. */
    tc_buf b = TC_BUF_INIT;
    tc_buf_append_str(&b, "Allow: ");
    tc_router_allow_header(TC_M_OPTIONS | TC_M_POST, &b);
    assert_string_equal(tc_buf_cstr(&b), "Allow: POST, OPTIONS");
    tc_buf_free(&b);
}

static void test_strings_copied(void **state)
{
    (void)state;
    char prefix[16] = "/api", pattern[32] = "/x/{}";
    tc_router *r = tc_router_new();
    tc_router_add(r, TC_M_GET, prefix, pattern, h_cart);
    memset(prefix, 'z', sizeof prefix - 1);
    memset(pattern, 'z', sizeof pattern - 1);
    tc_route_match m;
    match(r, TC_M_GET, "/api/x/1", &m);
    assert_ptr_equal(m.handler, h_cart);
    tc_router_free(r);
    tc_router_free(NULL);
}

static void test_many_routes(void **state)
{
    (void)state;
    /* Past the initial capacity. */
    tc_router *r = tc_router_new();
    char pat[32];
    for (int i = 0; i < 40; i++) {
        snprintf(pat, sizeof pat, "/r%d/{}", i);
        tc_router_add(r, TC_M_GET, "", pat, i == 39 ? h_two : h_cart);
    }
    tc_route_match m;
    match(r, TC_M_GET, "/r39/x", &m);
    assert_ptr_equal(m.handler, h_two);
    match(r, TC_M_GET, "/r3/x", &m);
    assert_ptr_equal(m.handler, h_cart);
    match(r, TC_M_GET, "/r40/x", &m);
    assert_null(m.handler);
    tc_router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_bits),
        cmocka_unit_test(test_params_captured),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_404_vs_405),
        cmocka_unit_test(test_head_implied_by_get),
        cmocka_unit_test(test_first_registered_wins),
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_allow_header),
        cmocka_unit_test(test_strings_copied),
        cmocka_unit_test(test_many_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
