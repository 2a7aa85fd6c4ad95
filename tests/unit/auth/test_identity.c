/* test_identity.c — the caller's identity under --auth none: X-User-Id /
 * X-User-Phone headers, else userId / phone query parameters, a header
 * winning, with the limits and messages of SPEC §6. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "support/http_req.h"

#include <string.h>

typedef struct {
    int rc;
    tc_identity who;
    tc_buf phone;
    tc_errmsg err;
} ident;

static ident identity(const char *target, const char *headers)
{
    req_t q = make_req(target, headers);
    ident id;
    memset(&id, 0, sizeof id);
    id.rc = tc_auth_header_identity(q.r, &id.who, &id.phone, &id.err);
    tc_http_free(q.p); /* nothing may point into the request afterwards */
    return id;
}

static void test_identity_header(void **state)
{
    (void)state;
    ident id = identity("/x", "X-User-Id: 100\r\nX-User-Phone: 13800138000\r\n");
    assert_int_equal(id.rc, 0);
    assert_true(id.who.has_user_id);
    assert_int_equal(id.who.user_id, 100);
    assert_string_equal(id.who.phone, "13800138000");
    tc_buf_free(&id.phone);

    /* Header names are case-insensitive. */
    id = identity("/x", "x-user-id: 5\r\nx-user-phone: 139\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 5);
    assert_string_equal(id.who.phone, "139");
    tc_buf_free(&id.phone);
}

static void test_identity_query(void **state)
{
    (void)state;
    ident id = identity("/x?userId=7&phone=%2B86+138", "");
    assert_int_equal(id.rc, 0);
    assert_true(id.who.has_user_id);
    assert_int_equal(id.who.user_id, 7);
    assert_string_equal(id.who.phone, "+86 138");
    tc_buf_free(&id.phone);

    id = identity("/x?userId=%2231%22", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "userId must be a positive integer");
    tc_buf_free(&id.phone);
}

static void test_identity_header_wins(void **state)
{
    (void)state;
    ident id = identity("/x?userId=7&phone=111", "X-User-Id: 8\r\nX-User-Phone: 222\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 8);
    assert_string_equal(id.who.phone, "222");
    tc_buf_free(&id.phone);

    /* Each field on its own: header id with query phone, and the reverse. */
    id = identity("/x?userId=7&phone=111", "X-User-Id: 8\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 8);
    assert_string_equal(id.who.phone, "111");
    tc_buf_free(&id.phone);
    id = identity("/x?userId=7&phone=111", "X-User-Phone: 222\r\n");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.who.user_id, 7);
    assert_string_equal(id.who.phone, "222");
    tc_buf_free(&id.phone);

    /* A bad header is an error even when the query is fine: it wins. */
    id = identity("/x?userId=7", "X-User-Id: abc\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Id must be a positive integer");
    assert_false(id.who.has_user_id);
    tc_buf_free(&id.phone);
}

static void test_identity_none(void **state)
{
    (void)state;
    ident id = identity("/x?tableId=1", "");
    assert_int_equal(id.rc, 0);
    assert_false(id.who.has_user_id);
    assert_null(id.who.phone);
    tc_buf_free(&id.phone);

    /* An empty phone is no phone. */
    id = identity("/x?phone=", "");
    assert_int_equal(id.rc, 0);
    assert_null(id.who.phone);
    tc_buf_free(&id.phone);
}

static void test_identity_bad(void **state)
{
    (void)state;
    const char *bad_ids[] = {"0", "-1", "2147483648", "1.5", "abc", ""};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        char h[64];
        snprintf(h, sizeof h, "X-User-Id: %s\r\n", bad_ids[i]);
        ident id = identity("/x", h);
        if (id.rc != TC_EINVAL) fail_msg("X-User-Id '%s': got %d", bad_ids[i], id.rc);
        assert_string_equal(id.err.text, "X-User-Id must be a positive integer");
        tc_buf_free(&id.phone);
    }
    ident id = identity("/x?userId=0", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "userId must be a positive integer");
    tc_buf_free(&id.phone);

    /* Phone: 32 characters (code points) at most, valid UTF-8, no NUL. */
    id = identity("/x", "X-User-Phone: 12345678901234567890123456789012\r\n");
    assert_int_equal(id.rc, 0);
    tc_buf_free(&id.phone);
    id = identity("/x", "X-User-Phone: 123456789012345678901234567890123\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);
    /* 32 Chinese characters are 96 bytes but 32 characters. */
    char q[512] = "/x?phone=";
    for (int i = 0; i < 32; i++)
        strcat(q, "%E5%AE%AB");
    id = identity(q, "");
    assert_int_equal(id.rc, 0);
    assert_int_equal(strlen(id.who.phone), 96);
    tc_buf_free(&id.phone);
    strcat(q, "1");
    id = identity(q, "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be at most 32 characters of text");
    tc_buf_free(&id.phone);

    /* Not text: says so, not that it is too long. */
    id = identity("/x?phone=%FF", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be valid UTF-8 text");
    tc_buf_free(&id.phone);
    id = identity("/x?phone=1%002", "");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "phone must be valid UTF-8 text");
    tc_buf_free(&id.phone);
    id = identity("/x", "X-User-Phone: \xC0\xAF\r\n"); /* overlong */
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Phone must be valid UTF-8 text");
    tc_buf_free(&id.phone);
    id = identity("/x", "X-User-Phone: 138\xFF\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_string_equal(id.err.text, "X-User-Phone must be valid UTF-8 text");
    tc_buf_free(&id.phone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_header),      cmocka_unit_test(test_identity_query),
        cmocka_unit_test(test_identity_header_wins), cmocka_unit_test(test_identity_none),
        cmocka_unit_test(test_identity_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
