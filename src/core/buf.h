/* buf.h — the one byte-buffer type, the one view type, and refcounted bytes.
 *
 * tc_buf owns a growable heap block (base may be NULL while cap is 0).
 * tc_view borrows bytes owned by someone else.
 * tc_rbuf is an immutable, reference-counted block: a frame encoded once and
 * shared by every subscriber queue that holds a reference. */
#ifndef TC_CORE_BUF_H
#define TC_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *base;
    size_t len;
} tc_view;

typedef struct {
    char *base;
    size_t len;
    size_t cap;
} tc_buf;

#define TC_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

static inline tc_view tc_view_of(const char *s)
{
    tc_view v = {s, s ? strlen(s) : 0};
    return v;
}

/* True when v holds exactly the NUL-terminated string s. */
static inline bool tc_view_eq(tc_view v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.base, s, n) == 0;
}

/* Same, ignoring ASCII case. */
bool tc_view_ieq(tc_view v, const char *s);

/* Releases the block; b is empty and reusable afterwards. */
void tc_buf_free(tc_buf *b);
/* Ensures room for `extra` more bytes plus a NUL terminator. */
void tc_buf_reserve(tc_buf *b, size_t extra);
/* Same, for a buffer whose content never passes max_len bytes: the block
 * grows by doubling but never past max_len + 1 bytes while the content fits,
 * so its heap is bounded by the limit rather than twice it. */
void tc_buf_reserve_upto(tc_buf *b, size_t extra, size_t max_len);
/* Append n bytes of data, the string s (without its NUL), or printf's
 * output; the buffer grows as needed (never fails) and stays
 * NUL-terminated. */
void tc_buf_append(tc_buf *b, const void *data, size_t n);
void tc_buf_append_str(tc_buf *b, const char *s);
/* For a secret: appends the value of environment variable name to b (b
 * NULL: drops it) and wipes it from the environment, the memory that
 * /proc/PID/environ shows included. Returns whether it was set. */
bool tc_buf_take_env(tc_buf *b, const char *name);
void tc_buf_appendf(tc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends v in decimal, and n in lower-case hex: without printf, for the
 * paths every change takes. */
void tc_buf_append_dec(tc_buf *b, int64_t v);
void tc_buf_append_udec(tc_buf *b, uint64_t v);
void tc_buf_append_hex(tc_buf *b, uint64_t n);
/* Writes v in lowercase hex (no leading zeros, "0" for zero) to out, which
 * has room for TC_HEX_TEXT_MAX bytes; returns the digits written (no NUL). */
#define TC_HEX_TEXT_MAX 16
size_t tc_hex_text(uint64_t v, char *out);
/* Drops the first n bytes (n <= len). */
void tc_buf_consume(tc_buf *b, size_t n);
/* Empties b but keeps its block. */
static inline void tc_buf_reset(tc_buf *b)
{
    b->len = 0;
}
/* The buffer's bytes, NUL-terminated (reserves the terminator if needed). */
const char *tc_buf_cstr(tc_buf *b);

typedef struct {
    unsigned refs;
    size_t len;
    char data[];
} tc_rbuf;

/* New rbuf holding a copy of data, with one reference (the caller's). */
tc_rbuf *tc_rbuf_new(const void *data, size_t n);
/* New rbuf holding copies of the n parts one after the other (one
 * allocation), with one reference (the caller's). */
tc_rbuf *tc_rbuf_concat(const tc_view *parts, size_t n);
/* Adds a reference and returns r. */
tc_rbuf *tc_rbuf_ref(tc_rbuf *r);
/* Drops a reference; frees at zero. NULL is fine. */
void tc_rbuf_unref(tc_rbuf *r);

#endif
