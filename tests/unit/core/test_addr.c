/* test_addr.c — addresses and CIDR ranges (v4, v6, v4-mapped), loopback, and
 * the client an X-Forwarded-For names behind trusted proxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/addr.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static tc_addr A(const char *s)
{
    tc_addr a;
    assert_int_equal(tc_addr_parse(s, strlen(s), &a), 0);
    return a;
}

static const char *str(const tc_addr *a)
{
    static char buf[TC_ADDR_STRLEN];
    return tc_addr_str(a, buf, sizeof buf);
}

/* len bytes are the address: a NUL inside them does not end it early
 * (found by tests/fuzz/fuzz_addr.c). */
static void test_parse_nul_inside(void **state)
{
    (void)state;
    static const char v6[] = "2001:db8::1\0:d", v4[] = "10.0.0.1\0junk";
    tc_addr a;
    assert_int_equal(tc_addr_parse(v6, sizeof v6 - 1, &a), TC_EINVAL);
    assert_int_equal(tc_addr_parse(v4, sizeof v4 - 1, &a), TC_EINVAL);
    assert_int_equal(tc_addr_parse(v4, 8, &a), 0);
    assert_string_equal(str(&a), "10.0.0.1");
    tc_view xff = {"203.0.113.5\0, 10.0.0.2", 22};
    tc_cidr lan;
    assert_int_equal(tc_cidr_parse("10.0.0.0/8", &lan), 0);
    tc_addr peer = A("10.0.0.1"), out;
    tc_addr_forwarded(xff, &lan, 1, &peer, &out);
    assert_string_equal(str(&out), "10.0.0.2");
}

static void test_parse_and_format(void **state)
{
    (void)state;
    tc_addr a = A("203.0.113.5");
    assert_int_equal(a.family, 4);
    assert_string_equal(str(&a), "203.0.113.5");
    a = A("2001:db8::1");
    assert_int_equal(a.family, 6);
    assert_string_equal(str(&a), "2001:db8::1");
    /* A v4-mapped v6 address is the v4 caller. */
    tc_addr m = A("::ffff:203.0.113.5"), v4 = A("203.0.113.5");
    assert_true(tc_addr_eq(&m, &v4));
    assert_int_equal(tc_addr_parse("", 0, &a), TC_EINVAL);
    assert_int_equal(tc_addr_parse("1.2.3", 5, &a), TC_EINVAL);
    assert_int_equal(tc_addr_parse("[::1]", 5, &a), TC_EINVAL);
    assert_int_equal(tc_addr_parse("1.2.3.4:80", 10, &a), TC_EINVAL);
    a = A("127.9.9.9");
    assert_true(tc_addr_is_loopback(&a));
    a = A("::1");
    assert_true(tc_addr_is_loopback(&a));
    a = A("128.0.0.1");
    assert_false(tc_addr_is_loopback(&a));
}

/* Written without printf, the text is libc's inet_ntop's (RFC 5952: lowercase,
 * no leading zeros, the longest run of zero groups, the first of equal
 * ones, as "::", a single zero group kept), checked on fixed cases and on
 * addresses made of random groups, most of them zero. The v4-compatible
 * ::a.b.c.d, which inet_ntop writes in dotted form, is left out. */
static void test_format_is_inet_ntop(void **state)
{
    (void)state;
    const char *fixed[] = {"::",
                           "::1",
                           "1::",
                           "1::1",
                           "2001:db8::1:0:0:1",
                           "2001:db8:0:1:1:1:1:1",
                           "fe80::1:2",
                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                           "0.0.0.0",
                           "255.255.255.255",
                           "10.0.100.9"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        tc_addr a = A(fixed[i]);
        assert_string_equal(str(&a), fixed[i]);
    }
    srand(7);
    for (int n = 0; n < 20000; n++) {
        tc_addr a = {.family = 6};
        for (int g = 0; g < 8; g++) {
            unsigned v = rand() % 3 ? 0u : (unsigned)rand() & 0xffffu;
            a.b[2 * g] = (unsigned char)(v >> 8);
            a.b[2 * g + 1] = (unsigned char)v;
        }
        static const unsigned char zero12[12];
        if (memcmp(a.b, zero12, 12) == 0) continue;
        char want[INET6_ADDRSTRLEN];
        assert_non_null(inet_ntop(AF_INET6, a.b, want, sizeof want));
        assert_string_equal(str(&a), want);
    }
    tc_addr v4 = {.family = 4, .b = {1, 22, 133, 0}};
    assert_string_equal(str(&v4), "1.22.133.0");
    tc_addr none = {0};
    assert_string_equal(str(&none), "?");
    char small[5];
    assert_string_equal(tc_addr_str(&v4, small, sizeof small), "1.22");
}

static void test_cidr(void **state)
{
    (void)state;
    tc_cidr c;
    assert_int_equal(tc_cidr_parse("10.0.0.0/8", &c), 0);
    tc_addr in = A("10.200.1.1"), out = A("11.0.0.1"), v6 = A("::1");
    assert_true(tc_cidr_match(&c, &in));
    assert_false(tc_cidr_match(&c, &out));
    assert_false(tc_cidr_match(&c, &v6));
    assert_int_equal(tc_cidr_parse("192.168.1.77/25", &c), 0); /* host bits ignored */
    tc_addr lo = A("192.168.1.1"), hi = A("192.168.1.129");
    assert_true(tc_cidr_match(&c, &lo));
    assert_false(tc_cidr_match(&c, &hi));
    assert_int_equal(tc_cidr_parse("127.0.0.1", &c), 0); /* a bare address: /32 */
    assert_int_equal(c.bits, 32);
    assert_int_equal(tc_cidr_parse("fd00::/8", &c), 0);
    tc_addr ula = A("fd12::5");
    assert_true(tc_cidr_match(&c, &ula));
    assert_int_equal(tc_cidr_parse("0.0.0.0/0", &c), 0);
    assert_true(tc_cidr_match(&c, &out));
    assert_int_equal(tc_cidr_parse("10.0.0.0/33", &c), TC_EINVAL);
    assert_int_equal(tc_cidr_parse("10.0.0.0/", &c), TC_EINVAL);
    assert_int_equal(tc_cidr_parse("10.0.0.0/-1", &c), TC_EINVAL);
    assert_int_equal(tc_cidr_parse("example.com", &c), TC_EINVAL);
}

static const char *fwd(const char *xff)
{
    static tc_cidr trusted[2];
    tc_cidr_parse("127.0.0.1", &trusted[0]);
    tc_cidr_parse("10.0.0.0/8", &trusted[1]);
    tc_addr peer = A("127.0.0.1"), out;
    tc_addr_forwarded((tc_view){xff, strlen(xff)}, trusted, 2, &peer, &out);
    return str(&out);
}

static void test_forwarded_rightmost_untrusted(void **state)
{
    (void)state;
    assert_string_equal(fwd(""), "127.0.0.1");
    assert_string_equal(fwd("203.0.113.5"), "203.0.113.5");
    assert_string_equal(fwd(" 203.0.113.5 , 10.1.1.1"), "203.0.113.5");
    /* A client cannot pick its address by writing one on the left. */
    assert_string_equal(fwd("1.1.1.1, 203.0.113.5"), "203.0.113.5");
    /* Every hop trusted: the leftmost. */
    assert_string_equal(fwd("10.2.2.2, 10.1.1.1"), "10.2.2.2");
    /* A hop that does not parse: the trusted hop to its right. */
    assert_string_equal(fwd("203.0.113.5, garbage, 10.1.1.1"), "10.1.1.1");
    assert_string_equal(fwd("unknown"), "127.0.0.1");
    assert_string_equal(fwd("203.0.113.5,,"), "203.0.113.5");
    assert_string_equal(fwd("2001:db8::7"), "2001:db8::7");
    /* A port some proxies add is not part of the address. */
    assert_string_equal(fwd("203.0.113.5:4711"), "203.0.113.5");
    assert_string_equal(fwd("1.1.1.1, 203.0.113.5:4711, 10.1.1.1:80"), "203.0.113.5");
    assert_string_equal(fwd("[2001:db8::7]:4711"), "2001:db8::7");
    assert_string_equal(fwd("[2001:db8::7]"), "2001:db8::7");
    assert_string_equal(fwd("203.0.113.5:"), "127.0.0.1");
    assert_string_equal(fwd("203.0.113.5:47x1"), "127.0.0.1");
    assert_string_equal(fwd("[2001:db8::7]4711"), "127.0.0.1");
    assert_string_equal(fwd("[2001:db8::7"), "127.0.0.1");
    assert_string_equal(fwd("2001:db8::7:x"), "127.0.0.1");
}

/* The per-address limits count an IPv6 client by its /64, IPv4 and ::1 as
 * they are. */
static void test_limit_key(void **state)
{
    (void)state;
    tc_addr a = A("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), b = A("2001:db8:1:2::7");
    tc_addr other = A("2001:db8:1:3::7");
    tc_addr ka = tc_addr_limit_key(&a), kb = tc_addr_limit_key(&b), ko = tc_addr_limit_key(&other);
    assert_true(tc_addr_eq(&ka, &kb));
    assert_false(tc_addr_eq(&ka, &ko));
    assert_string_equal(str(&ka), "2001:db8:1:2::");
    tc_addr v4 = A("203.0.113.5"), k4 = tc_addr_limit_key(&v4);
    assert_string_equal(str(&k4), "203.0.113.5");
    tc_addr mapped = A("::ffff:203.0.113.6"), km = tc_addr_limit_key(&mapped);
    assert_string_equal(str(&km), "203.0.113.6");
    tc_addr lo = A("::1"), kl = tc_addr_limit_key(&lo);
    assert_string_equal(str(&kl), "::1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
        cmocka_unit_test(test_format_is_inet_ntop),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_forwarded_rightmost_untrusted),
        cmocka_unit_test(test_limit_key),
        cmocka_unit_test(test_parse_nul_inside),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
