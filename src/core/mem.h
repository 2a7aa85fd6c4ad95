/* mem.h — allocation that never returns NULL.
 *
 * Out of memory is not an error we can answer well from inside a request, so
 * every allocation goes through these and aborts in one place. */
#ifndef TC_CORE_MEM_H
#define TC_CORE_MEM_H

#include <stddef.h>

void *tc_xmalloc(size_t n);
void *tc_xcalloc(size_t count, size_t size);
void *tc_xrealloc(void *p, size_t n);
/* Copies s (NULL gives NULL). Caller frees. */
char *tc_xstrdup(const char *s);
/* Copies n bytes of s and a NUL. Caller frees. */
char *tc_xstrndup(const char *s, size_t n);

#endif
