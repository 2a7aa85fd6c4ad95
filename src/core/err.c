#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tc_strerror(int code)
{
    switch (code) {
#define TC_ERR_CASE(name, value, text)                                                             \
    case value:                                                                                    \
        return text;
        TC_ERRORS(TC_ERR_CASE)
#undef TC_ERR_CASE
    case TC_UNCHANGED:
        return "unchanged";
    default:
        return "unknown error";
    }
}

int tc_errmsg_set(tc_errmsg *m, int code, const char *fmt, ...)
{
    if (m != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->text, sizeof m->text, fmt, ap);
        va_end(ap);
        m->zh[0] = '\0';
        m->id = 0;
    }
    return code;
}

const char *tc_url_shown(const char *url)
{
    return strpbrk(url, "@?#") ? "(a URL with '@', '?' or '#', not shown)" : url;
}
