/* fuzz_addr.c — libFuzzer driver for client addresses (src/core/addr.c).
 *
 * Byte 0 is a mode. 0: the rest goes to tc_addr_parse (it must agree with
 * inet_pton, and an address parsed is written by tc_addr_str to text that
 * parses to the same address, ::ffff:a.b.c.d as a.b.c.d) and, NUL-cut, to
 * tc_cidr_parse (the prefix is at most the family's width; the range
 * matches its own address and every address that agrees with it on the
 * prefix bits, and no address that differs in one of them; a refusal leaves
 * nothing but zeros). 1: tc_addr_forwarded: the rest is "peer \n trusted
 * ranges, space separated \n X-Forwarded-For": the client chosen is the peer
 * or one of the hops; when a hop is chosen every hop right of it parses and
 * is trusted, the peer too, and either the hop is not trusted, or it is
 * the leftmost hop, or the one left of it does not parse; when the peer is
 * chosen the rightmost hop does not parse (or there is none). */
#include "core/addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *why)
{
    fprintf(stderr, "property failed: %s\n", why);
    abort();
}

static void round_trip(const tc_addr *a)
{
    char s[TC_ADDR_STRLEN];
    tc_addr_str(a, s, sizeof s);
    tc_addr b;
    if (tc_addr_parse(s, strlen(s), &b) != 0) fail("tc_addr_str wrote text that does not parse");
    if (!tc_addr_eq(a, &b)) fail("parse(str(a)) != a");
}

static bool bit(const unsigned char *b, unsigned i)
{
    return b[i / 8] >> (7 - i % 8) & 1;
}

static void fuzz_parse(const char *p, size_t n)
{
    tc_addr a;
    int rc = tc_addr_parse(p, n, &a);
    char tmp[64];
    unsigned char raw[16];
    bool pton = false;
    if (n > 0 && n < sizeof tmp && !memchr(p, 0, n)) {
        memcpy(tmp, p, n);
        tmp[n] = 0;
        pton = inet_pton(AF_INET, tmp, raw) == 1 || inet_pton(AF_INET6, tmp, raw) == 1;
    }
    if (n < TC_ADDR_STRLEN && (rc == 0) != pton) fail("tc_addr_parse and inet_pton disagree");
    if (rc == 0) {
        if (a.family != 4 && a.family != 6) fail("parsed address without a family");
        round_trip(&a);
        tc_addr k = tc_addr_limit_key(&a);
        if (k.family != a.family) fail("limit key changed the family");
        round_trip(&k);
    }

    char s[4097];
    size_t m = n < 4096 ? n : 4096;
    memcpy(s, p, m);
    s[m] = 0;
    tc_cidr c;
    memset(&c, 0x5a, sizeof c);
    if (tc_cidr_parse(s, &c) != 0) return;
    unsigned width = c.net.family == 4 ? 32 : 128;
    if (c.net.family != 4 && c.net.family != 6) fail("range without a family");
    if (c.bits > width) fail("prefix longer than the address");
    if (!tc_cidr_match(&c, &c.net)) fail("a range does not match its own address");
    /* Flip one bit: inside the prefix it must not match, below it must. */
    for (unsigned i = 0; i < width; i += 1 + (width == 128) * 2) {
        tc_addr x = c.net;
        x.b[i / 8] ^= (unsigned char)(0x80 >> (i % 8));
        bool in = tc_cidr_match(&c, &x);
        if (in != (i >= c.bits)) fail("tc_cidr_match disagrees with the prefix bits");
        if (bit(x.b, i) == bit(c.net.b, i)) fail("flip did nothing");
    }
    tc_addr other = c.net;
    other.family = c.net.family == 4 ? 6 : 4;
    if (tc_cidr_match(&c, &other)) fail("a range matched the other family");
}

typedef struct {
    bool ok;
    tc_addr a;
} hop;

static void fuzz_forwarded(const char *p, size_t n)
{
    const char *nl1 = memchr(p, '\n', n);
    if (!nl1) return;
    const char *nl2 = memchr(nl1 + 1, '\n', n - (size_t)(nl1 + 1 - p));
    if (!nl2) return;
    tc_addr peer;
    if (tc_addr_parse(p, (size_t)(nl1 - p), &peer) != 0) return;
    tc_cidr trusted[8];
    size_t nt = 0;
    char buf[256];
    const char *t = nl1 + 1;
    while (t < nl2 && nt < 8) {
        const char *e = memchr(t, ' ', (size_t)(nl2 - t));
        if (!e) e = nl2;
        size_t len = (size_t)(e - t);
        if (len > 0 && len < sizeof buf) {
            memcpy(buf, t, len);
            buf[len] = 0;
            if (tc_cidr_parse(buf, &trusted[nt]) == 0) nt++;
        }
        t = e + 1;
    }
    tc_view xff = {nl2 + 1, n - (size_t)(nl2 + 1 - p)};
    tc_addr out;
    tc_addr_forwarded(xff, trusted, nt, &peer, &out);

    /* The hops, left to right, read here as documented. */
    hop hops[4096];
    size_t nh = 0;
    const char *s = xff.base, *end = xff.base + xff.len;
    while (s <= end && nh < sizeof hops / sizeof hops[0]) {
        const char *e = memchr(s, ',', (size_t)(end - s));
        if (!e) e = end;
        const char *b = s, *f = e;
        while (b < f && (*b == ' ' || *b == '\t'))
            b++;
        while (f > b && (f[-1] == ' ' || f[-1] == '\t'))
            f--;
        if (f > b) {
            hop h = {false, {0, {0}}};
            size_t len = (size_t)(f - b);
            if (tc_addr_parse(b, len, &h.a) == 0) {
                h.ok = true;
            } else if (len > 2 && b[0] == '[') {
                const char *cl = memchr(b, ']', len);
                size_t k = cl ? (size_t)(f - cl - 1) : 0;
                bool port = k == 0 || (cl[1] == ':' && k > 1);
                for (size_t d = 2; port && k > 0 && d <= k; d++)
                    port = cl[d] >= '0' && cl[d] <= '9';
                h.ok = cl && port && tc_addr_parse(b + 1, (size_t)(cl - b - 1), &h.a) == 0;
            } else {
                const char *c = memchr(b, ':', len);
                if (c && !memchr(c + 1, ':', (size_t)(f - c - 1)) && f - c > 1) {
                    bool digits = true;
                    for (const char *d = c + 1; d < f; d++)
                        digits = digits && *d >= '0' && *d <= '9';
                    h.ok = digits && tc_addr_parse(b, (size_t)(c - b), &h.a) == 0;
                }
            }
            hops[nh++] = h;
        }
        s = e + 1;
    }
    if (nh == sizeof hops / sizeof hops[0]) return;
    if (!tc_cidr_any(trusted, nt, &peer)) return; /* the server asks only for a trusted peer */
    /* Walk from the right: the expected choice. */
    tc_addr want = peer;
    for (size_t i = nh; i-- > 0;) {
        if (!hops[i].ok) break;
        want = hops[i].a;
        if (!tc_cidr_any(trusted, nt, &hops[i].a)) break;
    }
    bool is_hop = false;
    for (size_t i = 0; i < nh; i++)
        is_hop = is_hop || (hops[i].ok && tc_addr_eq(&hops[i].a, &out));
    if (!tc_addr_eq(&out, &peer) && !is_hop) fail("the client is neither the peer nor a hop");
    if (!tc_addr_eq(&out, &want)) fail("the client is not the first untrusted hop from the right");
    round_trip(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1)
        fuzz_forwarded((const char *)data + 1, size - 1);
    else
        fuzz_parse((const char *)data + 1, size - 1);
    return 0;
}
