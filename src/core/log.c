#include "core/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static enum tc_log_level min_level = TC_LOG_INFO;

void tc_log_set_level(enum tc_log_level level)
{
    min_level = level;
}

bool tc_log_enabled(enum tc_log_level level)
{
    return level >= min_level;
}

static const char REDACTED[] = "[redacted]";

static bool base64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Where a secret that starts at `at` ends: a query value ends at '&', '#',
 * whitespace or a quote; a header value at the end of the line. */
static size_t secret_end(const char *in, size_t len, size_t at, bool to_line_end)
{
    size_t j = at;
    while (j < len && in[j] != '\r' && in[j] != '\n' && (to_line_end || !strchr("& \t#\"'", in[j])))
        j++;
    return j;
}

/* How long the JWT-shaped run at in + i is (three base64url parts starting
 * "eyJ", the encoding of '{"'), or 0. */
static size_t jwt_at(const char *in, size_t len, size_t i)
{
    if (len - i < 3 || memcmp(in + i, "eyJ", 3) != 0 || (i > 0 && base64url_char(in[i - 1])))
        return 0;
    size_t j = i, dots = 0;
    while (j < len && (base64url_char(in[j]) || (in[j] == '.' && dots < 2))) {
        if (in[j] == '.') dots++;
        j++;
    }
    return dots == 2 ? j - i : 0;
}

static bool starts_with_ci(const char *in, size_t len, size_t i, const char *word)
{
    size_t n = strlen(word);
    return len - i >= n && strncasecmp(in + i, word, n) == 0;
}

size_t tc_log_redact(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0) return 0;
#define PUT(p, n)                                                                                  \
    do {                                                                                           \
        size_t n_ = (n) < cap - 1 - o ? (n) : cap - 1 - o;                                         \
        memcpy(out + o, (p), n_);                                                                  \
        o += n_;                                                                                   \
    } while (0)
    for (size_t i = 0; i < len;) {
        size_t keep = 0, end = 0, n;
        if (starts_with_ci(in, len, i, "token=")) {
            keep = 6; /* token=, access_token=, id_token=: the value goes */
            end = secret_end(in, len, i + keep, false);
        } else if ((i == 0 || !base64url_char(in[i - 1])) &&
                   starts_with_ci(in, len, i, "bearer ")) {
            keep = 7;
            end = secret_end(in, len, i + keep, false);
        } else if (starts_with_ci(in, len, i, "authorization:")) {
            keep = 14;
            while (i + keep < len && in[i + keep] == ' ')
                keep++;
            end = secret_end(in, len, i + keep, true);
        } else if ((n = jwt_at(in, len, i)) > 0) {
            end = i + n;
        }
        if (end > i + keep) {
            PUT(in + i, keep);
            PUT(REDACTED, sizeof REDACTED - 1);
            i = end;
        } else {
            PUT(in + i, (size_t)1);
            i++;
        }
    }
#undef PUT
    out[o] = '\0';
    return o;
}

void tc_log(enum tc_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < min_level) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[1024], msg[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0) m = 0;
    if ((size_t)m >= sizeof msg) m = (int)sizeof msg - 1;
    /* Every line: a token (?token=, Authorization, any JWT) is never written. */
    if (n > 0 && (size_t)n < sizeof line)
        tc_log_redact(msg, (size_t)m, line + n, sizeof line - (size_t)n);
    fprintf(stderr, "%s\n", line);
}
