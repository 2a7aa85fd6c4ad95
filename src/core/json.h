/* json.h — the small JSON writer used for every response we build (jansson
 * parses input; it cannot print money with exactly two decimals, so output is
 * ours). Strings are escaped per RFC 8259; non-ASCII UTF-8 passes through. */
#ifndef TC_CORE_JSON_H
#define TC_CORE_JSON_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Appends s (n bytes) as a quoted JSON string. */
void tc_json_str(tc_buf *out, const char *s, size_t n);
/* Appends s as a quoted string, or null when s is NULL. */
void tc_json_cstr_or_null(tc_buf *out, const char *s);
/* Room for any int64_t in decimal, sign and NUL included. */
#define TC_JSON_INT_MAX 21
/* Writes v in decimal to out (not NUL-terminated); returns the length. */
size_t tc_json_int_text(int64_t v, char out[TC_JSON_INT_MAX]);
/* Appends v in decimal. */
void tc_json_int(tc_buf *out, int64_t v);
/* Appends raw, already-encoded JSON (len bytes), or null when raw is NULL. */
void tc_json_raw_or_null(tc_buf *out, const char *raw, size_t len);

/* Checks that s is valid UTF-8 (no overlongs, no surrogates). On success
 * returns the number of code points; on failure -1. */
long tc_utf8_count(const char *s, size_t n);
/* True when s (n bytes of UTF-8) holds a control character: C0, DEL, or C1
 * (U+0080..U+009F). */
bool tc_utf8_has_control(const char *s, size_t n);

#endif
