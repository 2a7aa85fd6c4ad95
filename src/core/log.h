/* log.h — one line per event on stderr: "<iso-time> <level> <message>". */
#ifndef TC_CORE_LOG_H
#define TC_CORE_LOG_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

enum tc_log_level { TC_LOG_DEBUG, TC_LOG_INFO, TC_LOG_WARN, TC_LOG_ERROR };

/* Lines below this level are dropped (default TC_LOG_INFO). */
void tc_log_set_level(enum tc_log_level level);
/* The level named debug, info, warn or error (TABLECART_LOG_LEVEL) into
 * *out. Returns 0, or TC_EINVAL for any other name. */
int tc_log_level_parse(const char *name, enum tc_log_level *out);
/* Writes one line to stderr, with every secret redacted (tc_log_redact).
 * Any thread; on the thread of the buffered lines below, those are written
 * first. */
void tc_log(enum tc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copies in (len bytes) to out (cap bytes, NUL-terminated, truncated to fit)
 * with every secret replaced by "[redacted]": the value of a query parameter
 * whose name ends in "token" (token=…, access_token=…, and the name
 * percent-encoded as the server reads it: %74oken=…), what follows
 * "Bearer " and "Authorization:", and any JWT-shaped run (eyJ….….…).
 * I/O-free. Returns the length written. */
size_t tc_log_redact(const char *in, size_t len, char *out, size_t cap);

/* Lines written on every request (the access log) go through a buffer
 * instead: built without printf and written with one write(2) per loop turn
 * (the server calls tc_log_flush after each turn, and at exit). Loop thread
 * only; a crash loses at most the last turn's buffered lines. Usage:
 *     tc_buf *b = tc_log_begin(TC_LOG_INFO);   NULL: the level is off
 *     if (b) { tc_buf_append(b, ...); tc_log_end(b); }
 * Whatever is appended must hold no secret: pass request targets through
 * tc_log_redact first. The first thread to call tc_log_begin owns the
 * buffer; only it may call these three. */
tc_buf *tc_log_begin(enum tc_log_level level);
/* Ends the line begun by tc_log_begin; writes the buffer once it is large. */
void tc_log_end(tc_buf *b);
/* Writes every buffered line (cheap when there is none). */
void tc_log_flush(void);
/* From now on the calling thread (the loop's) never blocks on stderr: its
 * lines (tc_log's included) are written without blocking when stderr is a
 * pipe or a socket, and what a full stderr does not take waits for a later
 * flush, up to 1 MiB; lines past that are dropped, and a warn line says how
 * many once stderr takes lines again. Other threads' tc_log lines are
 * written as before. */
void tc_log_nonblocking(void);

#define tc_log_debug(...) tc_log(TC_LOG_DEBUG, __VA_ARGS__)
#define tc_log_info(...) tc_log(TC_LOG_INFO, __VA_ARGS__)
#define tc_log_warn(...) tc_log(TC_LOG_WARN, __VA_ARGS__)
#define tc_log_error(...) tc_log(TC_LOG_ERROR, __VA_ARGS__)

#endif
