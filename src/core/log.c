#include "core/log.h"

#include "core/buf.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum tc_log_level min_level = TC_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tc_log_set_level(enum tc_log_level level)
{
    min_level = level;
}

int tc_log_level_parse(const char *name, enum tc_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum tc_log_level)i;
            return 0;
        }
    return TC_EINVAL;
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
    if (level < min_level) return;
    tc_log_flush(); /* buffered lines come first */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char line[1024], msg[1024];
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), level_names[level]);
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

/* ===== buffered lines =========================================================== */

/* Written once it holds this much, or at the end of the loop turn. */
#define FLUSH_AT 16384

/* Per thread: the loop's buffer is the loop's alone. The store's writer and
 * checkpointer threads only ever call tc_log, whose flush of "buffered lines
 * first" then finds their own (empty) buffer instead of writing and emptying
 * the loop's under its appends. */
static _Thread_local tc_buf pending;
/* "YYYY-MM-DDTHH:MM:SS." of the second last formatted, and that second. */
static _Thread_local char second_text[24];
static _Thread_local size_t second_len;
static _Thread_local time_t second_of = -1;

tc_buf *tc_log_begin(enum tc_log_level level)
{
    if (level < min_level) return NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != second_of) {
        /* once a second, not per line */
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        second_len = strftime(second_text, sizeof second_text, "%Y-%m-%dT%H:%M:%S.", &tm);
        second_of = tv.tv_sec;
    }
    tc_buf_append(&pending, second_text, second_len);
    long ms = (long)(tv.tv_usec / 1000);
    char tail[3] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10)};
    tc_buf_append(&pending, tail, sizeof tail);
    tc_buf_append_str(&pending, "Z ");
    tc_buf_append_str(&pending, level_names[level]);
    tc_buf_append(&pending, " ", 1);
    return &pending;
}

void tc_log_end(tc_buf *b)
{
    tc_buf_append(b, "\n", 1);
    if (b->len >= FLUSH_AT) tc_log_flush();
}

void tc_log_flush(void)
{
    size_t off = 0;
    while (off < pending.len) {
        ssize_t n = write(STDERR_FILENO, pending.base + off, pending.len - off);
        if (n <= 0) break; /* stderr gone: drop the lines, never block the loop on it */
        off += (size_t)n;
    }
    pending.len = 0;
}
