#include "core/log.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/parse.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

/* At in + i, the start of a query parameter (after '?', '&' or ';'): when
 * its name, percent-decoded as the server decodes it, ends in "token"
 * ("%74oken", "tok%65n"), how many bytes the name and its '=' take; else 0.
 * Plain names are left to the "token=" rule. */
static size_t encoded_token_name(const char *in, size_t len, size_t i)
{
    if (i == 0 || !strchr("?&;", in[i - 1])) return 0;
    char tail[5]; /* the decoded name's last five bytes, a ring */
    size_t j = i, n = 0;
    bool escaped = false;
    while (j < len && in[j] != '=' && !strchr("&;# \t\r\n\"'", in[j])) {
        char c = in[j++];
        int hi, lo;
        if (c == '%' && j + 1 < len && (hi = tc_hex_digit(in[j])) >= 0 &&
            (lo = tc_hex_digit(in[j + 1])) >= 0) {
            c = (char)(hi * 16 + lo);
            j += 2;
            escaped = true;
        }
        tail[n++ % 5] = c;
    }
    if (!escaped || j >= len || in[j] != '=' || n < 5) return 0;
    for (size_t k = 0; k < 5; k++)
        if ((tail[(n + k) % 5] | 0x20) != "token"[k]) return 0;
    return j + 1 - i;
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
        } else if ((keep = encoded_token_name(in, len, i)) > 0) {
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

/* The buffered lines belong to the thread that began the first of them (the
 * loop's); set once, before `owned` says so. */
static pthread_t owner;
static atomic_bool owned;

static bool on_owner_thread(void)
{
    return atomic_load_explicit(&owned, memory_order_acquire) &&
           pthread_equal(owner, pthread_self());
}

/* Written once it holds this much, or at the end of the loop turn. */
#define FLUSH_AT 16384
/* What waits for a stderr that is not being read, at most; the lines past
 * it are dropped and counted. */
#define PENDING_MAX (1u << 20)

static tc_buf pending;
/* The last flush found stderr full: the next is at the end of the turn. */
static bool stalled;
static uint64_t dropped;
/* Set by tc_log_nonblocking: how the owner writes without blocking. */
static enum { OUT_BLOCKING, OUT_PIPE, OUT_SOCKET } out_mode = OUT_BLOCKING;
static int out_fd = STDERR_FILENO;

void tc_log_nonblocking(void)
{
    owner = pthread_self();
    atomic_store_explicit(&owned, true, memory_order_release);
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) return;
    if (S_ISSOCK(st.st_mode)) {
        out_mode = OUT_SOCKET; /* journald's stream: send() can say not now */
    } else if (S_ISFIFO(st.st_mode)) {
        /* A description of our own: O_NONBLOCK on the inherited one would
         * reach whoever shares it. */
        int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            out_fd = fd;
            out_mode = OUT_PIPE;
        }
    }
}

static ssize_t out(const char *p, size_t n)
{
    if (out_mode == OUT_SOCKET) return send(STDERR_FILENO, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    return write(out_fd, p, n);
}

/* The line that starts at pending.base + start was just added: it stays,
 * unless the lines waiting for stderr are past PENDING_MAX. */
static void keep_or_drop(size_t start)
{
    if (pending.len <= PENDING_MAX) return;
    pending.len = start;
    dropped++;
}

void tc_log(enum tc_log_level level, const char *fmt, ...)
{
    if (level < min_level) return;
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
    if (on_owner_thread()) {
        /* After the buffered lines, and like them never blocking the loop. */
        size_t start = pending.len;
        tc_buf_append_str(&pending, line);
        tc_buf_append(&pending, "\n", 1);
        keep_or_drop(start);
        if (!stalled) tc_log_flush();
        return;
    }
    fprintf(stderr, "%s\n", line);
}

/* ===== buffered lines =========================================================== */

/* Where the line being built began. */
static size_t line_start;
/* "YYYY-MM-DDTHH:MM:SS." of the second last formatted, and that second. */
static char second_text[24];
static size_t second_len;
static time_t second_of = -1;

tc_buf *tc_log_begin(enum tc_log_level level)
{
    if (level < min_level) return NULL;
    if (!atomic_load_explicit(&owned, memory_order_relaxed)) {
        owner = pthread_self();
        atomic_store_explicit(&owned, true, memory_order_release);
    }
    line_start = pending.len;
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
    keep_or_drop(line_start);
    if (b->len >= FLUSH_AT && !stalled) tc_log_flush();
}

void tc_log_flush(void)
{
    size_t off = 0;
    while (off < pending.len) {
        ssize_t n = out(pending.base + off, pending.len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* Full: the rest waits for a later turn. */
            memmove(pending.base, pending.base + off, pending.len - off);
            pending.len -= off;
            stalled = true;
            return;
        }
        break; /* stderr gone: drop the lines, never block the loop on it */
    }
    pending.len = 0;
    stalled = false;
    if (dropped) {
        uint64_t n = dropped;
        dropped = 0;
        tc_buf *b = tc_log_begin(TC_LOG_WARN);
        if (b == NULL) return;
        tc_buf_append_str(b, "log: ");
        tc_buf_append_udec(b, n);
        tc_buf_append_str(b, " lines dropped: stderr was not being read");
        tc_log_end(b);
        tc_log_flush();
    }
}
