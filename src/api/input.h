/* input.h — reading client input the way the original Jackson service did:
 * an integer field may be a JSON integer or a string holding one ("123");
 * 1.5, true, "abc", "1e2" are refused with a message naming the field.
 * Shared by the REST handlers and the WebSocket commands. */
#ifndef TC_API_INPUT_H
#define TC_API_INPUT_H

#include "cart/cart.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* What an integer field may hold. */
typedef enum {
    TC_IN_ID,      /* 1 .. 2^31-1: "tableId must be a positive integer" */
    TC_IN_QUANTITY /* any 32-bit integer; the cart rules check the range */
} tc_in_kind;

/* Parses decimal text (optional leading '-', digits only). Returns 0, or
 * TC_EINVAL with err naming field. */
int tc_input_int_text(tc_view text, const char *field, tc_in_kind kind, int64_t *out,
                      tc_errmsg *err);

/* Reads obj[field]. Absent or null: *present = false and 0 (or TC_EINVAL
 * "FIELD is required" when required). */
int tc_input_int(const json_t *obj, const char *field, tc_in_kind kind, bool required, int64_t *out,
                 bool *present, tc_errmsg *err);

/* Reads an optional string field; *out is NULL when absent or null (borrowed
 * from obj). A non-string is TC_EINVAL. */
int tc_input_str(const json_t *obj, const char *field, const char **out, tc_errmsg *err);

/* Parses a JSON object from body. TC_EINVAL "request body is not valid
 * JSON" / "request body must be a JSON object". Caller decrefs *out. */
int tc_input_object(const char *body, size_t len, json_t **out, tc_errmsg *err);

/* The caller's identity under --auth none: X-User-Id / X-User-Phone headers,
 * else userId / phone query parameters (a header wins). The user id must be a
 * positive 32-bit integer, the phone at most 32 characters of UTF-8. The
 * phone's bytes are kept in phone (who->phone points into it). */
int tc_input_identity(const tc_http_req *r, tc_identity *who, tc_buf *phone, tc_errmsg *err);

#endif
