/* addr.h — client addresses for limits: IPv4/IPv6 addresses, CIDR ranges
 * (--trusted-proxy), loopback, and the client named by X-Forwarded-For.
 * I/O-free. */
#ifndef TC_CORE_ADDR_H
#define TC_CORE_ADDR_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

/* An address without its port. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * is stored as the IPv4 address, so both spellings are one caller. */
typedef struct {
    unsigned char family; /* 4 or 6; 0: unknown */
    unsigned char b[16];  /* 4 or 16 bytes used */
} tc_addr;

typedef struct {
    tc_addr net;
    unsigned bits; /* prefix length: 0..32 or 0..128 */
} tc_cidr;

/* Room for tc_addr_str's text. */
#define TC_ADDR_STRLEN 48

/* Parses "1.2.3.4" or "2001:db8::1" (len bytes, no brackets, no port, no NUL).
 * Returns 0 and *out, or TC_EINVAL. */
int tc_addr_parse(const char *s, size_t len, tc_addr *out);
/* The address of a sockaddr_in/sockaddr_in6; family 0 for anything else. */
void tc_addr_from_sockaddr(const struct sockaddr *sa, tc_addr *out);
/* "1.2.3.4", "2001:db8::1", or "?" for an unknown address; returns out. */
const char *tc_addr_str(const tc_addr *a, char *out, size_t len);
/* True when a and b are the same family and address. */
bool tc_addr_eq(const tc_addr *a, const tc_addr *b);
/* 127.0.0.0/8 or ::1. */
bool tc_addr_is_loopback(const tc_addr *a);
/* What the per-address limits count a as: an IPv4 address as it is; an IPv6
 * one by its /64, the network one site gets and in which a host takes any
 * address it likes (RFC 4291 §2.5.1, RFC 8981), so that stepping through
 * addresses does not escape the caps; ::1 as it is. */
tc_addr tc_addr_limit_key(const tc_addr *a);

/* Parses "10.0.0.0/8", "fd00::/8", or a bare address (a range of one).
 * Host bits set below the prefix are ignored. Returns 0 or TC_EINVAL. */
int tc_cidr_parse(const char *s, tc_cidr *out);
/* True when a is in the range c (same family; an unknown address is in
 * none). */
bool tc_cidr_match(const tc_cidr *c, const tc_addr *a);
/* True when a is in one of the n ranges. */
bool tc_cidr_any(const tc_cidr *list, size_t n, const tc_addr *a);

/* The client of a request that came from peer, a trusted proxy, with the
 * X-Forwarded-For value xff (all its lines joined): walking the list from
 * the right, the first hop that is not a trusted proxy. A hop may carry a
 * port ("203.0.113.5:4711", "[2001:db8::7]:4711"). If every hop is trusted,
 * the leftmost one; if a hop does not parse, the trusted hop to its right
 * (or peer). Empty xff: peer. */
void tc_addr_forwarded(tc_view xff, const tc_cidr *trusted, size_t n, const tc_addr *peer,
                       tc_addr *out);

#endif
