/* test_static.c — the web folder's Content-Type by file name (http/static);
 * serving itself is tested against the binary in test_static.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/static.h"

static void test_known_extensions(void **state)
{
    (void)state;
    assert_string_equal(tc_static_content_type("/web/index.html"), "text/html; charset=utf-8");
    assert_string_equal(tc_static_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(tc_static_content_type("app.mjs"), "text/javascript; charset=utf-8");
    assert_string_equal(tc_static_content_type("a.css"), "text/css; charset=utf-8");
    assert_string_equal(tc_static_content_type("menu.json"), "application/json");
    assert_string_equal(tc_static_content_type("logo.svg"), "image/svg+xml");
    assert_string_equal(tc_static_content_type("a.png"), "image/png");
    assert_string_equal(tc_static_content_type("a.jpg"), "image/jpeg");
    assert_string_equal(tc_static_content_type("a.jpeg"), "image/jpeg");
    assert_string_equal(tc_static_content_type("a.webp"), "image/webp");
    assert_string_equal(tc_static_content_type("a.gif"), "image/gif");
    assert_string_equal(tc_static_content_type("favicon.ico"), "image/x-icon");
    assert_string_equal(tc_static_content_type("robots.txt"), "text/plain; charset=utf-8");
    assert_string_equal(tc_static_content_type("f.woff2"), "font/woff2");
}

/* The last extension counts, in any case; none, or one not listed, is
 * application/octet-stream. */
static void test_last_extension_any_case(void **state)
{
    (void)state;
    assert_string_equal(tc_static_content_type("INDEX.HTML"), "text/html; charset=utf-8");
    assert_string_equal(tc_static_content_type("a.min.Js"), "text/javascript; charset=utf-8");
    assert_string_equal(tc_static_content_type("page.html.gz"), "application/octet-stream");
    assert_string_equal(tc_static_content_type("Makefile"), "application/octet-stream");
    assert_string_equal(tc_static_content_type("v1.2/README"), "application/octet-stream");
    assert_string_equal(tc_static_content_type("a.htm"), "application/octet-stream");
    assert_string_equal(tc_static_content_type(""), "application/octet-stream");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_extensions),
        cmocka_unit_test(test_last_extension_any_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
