#include "core/buf.h"

#include "core/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* A buffer's first block, doubled from there: the first small appends (a
 * number, a key) then cost no realloc each. */
#define BUF_MIN_CAP 64

bool tc_view_ieq(tc_view v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && strncasecmp(v.base, s, n) == 0;
}

void tc_buf_free(tc_buf *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

/* Grows b to hold need bytes, doubling, clamped to limit when need fits. */
static void grow(tc_buf *b, size_t need, size_t limit)
{
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : BUF_MIN_CAP;
    while (cap < need)
        cap *= 2;
    if (cap > limit && need <= limit) cap = limit;
    b->base = tc_xrealloc(b->base, cap);
    b->cap = cap;
}

void tc_buf_reserve(tc_buf *b, size_t extra)
{
    grow(b, b->len + extra + 1, SIZE_MAX);
}

void tc_buf_reserve_upto(tc_buf *b, size_t extra, size_t max_len)
{
    grow(b, b->len + extra + 1, max_len < SIZE_MAX ? max_len + 1 : SIZE_MAX);
}

void tc_buf_append(tc_buf *b, const void *data, size_t n)
{
    tc_buf_reserve(b, n);
    if (n) memcpy(b->base + b->len, data, n);
    b->len += n;
    b->base[b->len] = '\0';
}

/* Appends m in decimal, after a '-' when negative. */
static void append_magnitude(tc_buf *b, uint64_t m, bool negative)
{
    /* Digits come out backwards. */
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (negative) tmp[sizeof tmp - 1 - n++] = '-';
    tc_buf_append(b, tmp + sizeof tmp - n, n);
}

void tc_buf_append_dec(tc_buf *b, int64_t v)
{
    /* The magnitude is taken unsigned so that INT64_MIN has one. */
    append_magnitude(b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, v < 0);
}

void tc_buf_append_udec(tc_buf *b, uint64_t v)
{
    append_magnitude(b, v, false);
}

size_t tc_hex_text(uint64_t v, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 1;
    for (uint64_t x = v >> 4; x; x >>= 4)
        n++;
    for (size_t i = n; i-- > 0; v >>= 4)
        out[i] = digits[v & 15];
    return n;
}

void tc_buf_append_hex(tc_buf *b, uint64_t v)
{
    char tmp[TC_HEX_TEXT_MAX];
    tc_buf_append(b, tmp, tc_hex_text(v, tmp));
}

void tc_buf_append_str(tc_buf *b, const char *s)
{
    tc_buf_append(b, s, strlen(s));
}

bool tc_buf_take_env(tc_buf *b, const char *name)
{
    char *v = getenv(name);
    if (v == NULL) return false;
    if (b) tc_buf_append_str(b, v);
    explicit_bzero(v, strlen(v));
    unsetenv(name);
    return true;
}

void tc_buf_appendf(tc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    tc_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void tc_buf_consume(tc_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->base, b->base + n, b->len - n);
        b->len -= n;
    }
    if (b->base) b->base[b->len] = '\0';
}

const char *tc_buf_cstr(tc_buf *b)
{
    tc_buf_reserve(b, 0);
    b->base[b->len] = '\0';
    return b->base;
}

tc_rbuf *tc_rbuf_new(const void *data, size_t n)
{
    tc_rbuf *r = tc_xmalloc(sizeof *r + n + 1);
    r->refs = 1;
    r->len = n;
    if (n) memcpy(r->data, data, n);
    r->data[n] = '\0';
    return r;
}

tc_rbuf *tc_rbuf_concat(const tc_view *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].len;
    tc_rbuf *r = tc_xmalloc(sizeof *r + total + 1);
    r->refs = 1;
    r->len = total;
    char *at = r->data;
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len) memcpy(at, parts[i].base, parts[i].len);
        at += parts[i].len;
    }
    *at = '\0';
    return r;
}

tc_rbuf *tc_rbuf_ref(tc_rbuf *r)
{
    r->refs++;
    return r;
}

void tc_rbuf_unref(tc_rbuf *r)
{
    if (r != NULL && --r->refs == 0) free(r);
}
