#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *oom(size_t n)
{
    fprintf(stderr, "tablecart: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tc_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *tc_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : oom(count * size);
}

void *tc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *tc_xstrndup(const char *s, size_t n)
{
    char *d = tc_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tc_xstrdup(const char *s)
{
    return s ? tc_xstrndup(s, strlen(s)) : NULL;
}
