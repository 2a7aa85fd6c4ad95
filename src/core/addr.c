#include "core/addr.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* ::ffff:0:0/96, the IPv4-mapped prefix. */
static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void set_v6(tc_addr *out, const unsigned char b[16])
{
    memset(out, 0, sizeof *out);
    if (memcmp(b, v4_mapped, sizeof v4_mapped) == 0) {
        out->family = 4;
        memcpy(out->b, b + 12, 4);
    } else {
        out->family = 6;
        memcpy(out->b, b, 16);
    }
}

int tc_addr_parse(const char *s, size_t len, tc_addr *out)
{
    char tmp[TC_ADDR_STRLEN];
    unsigned char b[16];
    /* A NUL inside would end the text inet_pton reads before len does. */
    if (len == 0 || len >= sizeof tmp || memchr(s, '\0', len)) return TC_EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, tmp, b) == 1) {
        out->family = 4;
        memcpy(out->b, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, tmp, b) == 1) {
        set_v6(out, b);
        return 0;
    }
    return TC_EINVAL;
}

void tc_addr_from_sockaddr(const struct sockaddr *sa, tc_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa->sa_family == AF_INET) {
        out->family = 4;
        memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        set_v6(out, ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr);
    }
}

/* RFC 5952: groups in lowercase hex without leading zeros, the longest run
 * of two or more zero groups (the first of equal ones) as "::". */
static char *put_v6(char *p, const unsigned char b[16])
{
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *p++ = ':';
            *p++ = ':';
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len) *p++ = ':';
        p += tc_hex_text(g[i], p);
    }
    return p;
}

const char *tc_addr_str(const tc_addr *a, char *out, size_t len)
{
    /* No printf (nor inet_ntop, which uses it): this runs for every request
     * with the access log on. */
    char tmp[TC_ADDR_STRLEN], *p = tmp;
    if (a->family == 4) {
        for (int i = 0; i < 4; i++) {
            if (i) *p++ = '.';
            p += tc_json_int_text(a->b[i], p);
        }
    } else if (a->family == 6) {
        p = put_v6(p, a->b);
    } else {
        *p++ = '?';
    }
    size_t n = (size_t)(p - tmp);
    if (len == 0) return out;
    if (n >= len) n = len - 1;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return out;
}

bool tc_addr_eq(const tc_addr *a, const tc_addr *b)
{
    return a->family == b->family && memcmp(a->b, b->b, a->family == 4 ? 4 : 16) == 0;
}

bool tc_addr_is_loopback(const tc_addr *a)
{
    static const unsigned char v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == 4) return a->b[0] == 127;
    return a->family == 6 && memcmp(a->b, v6_loop, 16) == 0;
}

int tc_cidr_parse(const char *s, tc_cidr *out)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    memset(out, 0, sizeof *out);
    if (tc_addr_parse(s, alen, &out->net) != 0) return TC_EINVAL;
    unsigned max = out->net.family == 4 ? 32 : 128;
    out->bits = max;
    if (slash) {
        const char *d = slash + 1;
        if (*d < '0' || *d > '9' || strlen(d) > 3) return TC_EINVAL;
        char *end;
        unsigned long v = strtoul(d, &end, 10);
        if (*end || v > max) return TC_EINVAL;
        out->bits = (unsigned)v;
    }
    return 0;
}

bool tc_cidr_match(const tc_cidr *c, const tc_addr *a)
{
    if (c->net.family != a->family || a->family == 0) return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, a->b, full) != 0) return false;
    if (rest == 0) return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (c->net.b[full] & mask) == (a->b[full] & mask);
}

bool tc_cidr_any(const tc_cidr *list, size_t n, const tc_addr *a)
{
    for (size_t i = 0; i < n; i++)
        if (tc_cidr_match(&list[i], a)) return true;
    return false;
}

tc_addr tc_addr_limit_key(const tc_addr *a)
{
    tc_addr k = *a;
    if (k.family == 6 && !tc_addr_is_loopback(&k)) memset(k.b + 8, 0, 8);
    return k;
}

/* Only digits, at least one. */
static bool all_digits(const char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9') return false;
    return true;
}

/* One hop of X-Forwarded-For: an address, or one with the port some proxies
 * add ("203.0.113.5:4711", "[2001:db8::7]:4711", "[2001:db8::7]"). */
static int parse_hop(const char *p, size_t n, tc_addr *out)
{
    if (tc_addr_parse(p, n, out) == 0) return 0;
    if (n > 2 && p[0] == '[') {
        const char *close = memchr(p, ']', n);
        if (close == NULL) return TC_EINVAL;
        size_t after = n - (size_t)(close + 1 - p);
        if (after > 0 && (close[1] != ':' || !all_digits(close + 2, after - 1))) return TC_EINVAL;
        return tc_addr_parse(p + 1, (size_t)(close - p - 1), out);
    }
    const char *colon = memchr(p, ':', n);
    if (colon == NULL || memchr(colon + 1, ':', n - (size_t)(colon + 1 - p)) != NULL)
        return TC_EINVAL; /* none, or an IPv6 address that did not parse */
    if (!all_digits(colon + 1, n - (size_t)(colon + 1 - p))) return TC_EINVAL;
    return tc_addr_parse(p, (size_t)(colon - p), out);
}

void tc_addr_forwarded(tc_view xff, const tc_cidr *trusted, size_t n, const tc_addr *peer,
                       tc_addr *out)
{
    *out = *peer;
    const char *end = xff.base + xff.len;
    while (end > xff.base) {
        const char *start = end;
        while (start > xff.base && start[-1] != ',')
            start--;
        const char *b = start, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        end = start > xff.base ? start - 1 : xff.base;
        if (b == e) continue; /* an empty element ("a,,b") says nothing */
        tc_addr hop;
        if (parse_hop(b, (size_t)(e - b), &hop) != 0) return;
        *out = hop;
        if (!tc_cidr_any(trusted, n, &hop)) return;
    }
}
