/* mem.h — allocation that never returns NULL.
 *
 * Out of memory is not an error we can answer well from inside a request, so
 * every allocation goes through these and aborts in one place. */
#ifndef TC_CORE_MEM_H
#define TC_CORE_MEM_H

#include <stddef.h>

/* malloc, calloc and realloc that never return NULL: out of memory prints
 * the size asked for and aborts. A size of 0 is taken as 1, so the result
 * is never NULL either way. Caller frees with free(). */
void *tc_xmalloc(size_t n);
void *tc_xcalloc(size_t count, size_t size);
void *tc_xrealloc(void *p, size_t n);
/* Copies s (NULL gives NULL). Caller frees. */
char *tc_xstrdup(const char *s);
/* Copies n bytes of s and a NUL. Caller frees. */
char *tc_xstrndup(const char *s, size_t n);

/* What an allocation of n bytes costs in heap: glibc malloc's chunk (an
 * 8-byte header, rounded up to 16 bytes, at least 32). Memory limits count
 * this, not payload bytes: a 2-byte buffer is a 32-byte chunk. */
static inline size_t tc_heap_cost(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

#endif
