/* parse.h — integers from text the way the original Jackson service read
 * them: optional '-', decimal digits only ("1e2", "1.5", " 7" are refused),
 * with a message naming the field. Used for path segments, query parameters,
 * identity headers and the string form of JSON integers. */
#ifndef TC_CORE_PARSE_H
#define TC_CORE_PARSE_H

#include "core/buf.h"
#include "core/err.h"

#include <stdint.h>

/* The value of hexadecimal digit c (either case), or -1: for percent-escapes
 * (the HTTP layer's decoding, the log's redaction, which must decode alike).
 * Inline: the log links without the rest of this module. */
static inline int tc_hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* What an integer field may hold. */
typedef enum {
    TC_IN_ID,      /* 1 .. 2^31-1: "tableId must be a positive integer" */
    TC_IN_QUANTITY /* any 32-bit integer; the cart rules check the range */
} tc_in_kind;

/* Parses text as an integer of kind. Returns 0 with *out, or TC_EINVAL with
 * err (may be NULL) naming field. */
int tc_parse_int(tc_view text, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err);

/* Checks a value already read as a number against kind; same results. */
int tc_parse_int_range(int64_t v, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err);

/* The refusal for a value that is no integer of kind (a JSON true, 1.5):
 * TC_EINVAL with err naming field. */
int tc_parse_int_refuse(const char *field, tc_in_kind kind, tc_errmsg *err);

#endif
