/* input.h — reading client input the way the original Jackson service did:
 * an integer field may be a JSON integer or a string holding one ("123");
 * 1.5, true, "abc", "1e2" are refused with a message naming the field.
 * Shared by the REST handlers and the WebSocket commands. */
#ifndef TC_API_INPUT_H
#define TC_API_INPUT_H

#include "cart/cart.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/parse.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Reads obj[field]. Absent or null: *present = false and 0 (or TC_EINVAL
 * "FIELD is required" when required). */
int tc_input_int(const json_t *obj, const char *field, tc_in_kind kind, bool required, int64_t *out,
                 bool *present, tc_errmsg *err);

/* Reads an optional string field; *out is NULL when absent or null (borrowed
 * from obj). A non-string is TC_EINVAL. */
int tc_input_str(const json_t *obj, const char *field, const char **out, tc_errmsg *err);

/* Where a JSON object comes from: its refusals name it. */
typedef enum { TC_INPUT_BODY, TC_INPUT_MESSAGE } tc_input_from;

/* Parses a JSON object from body (a request body's one leading UTF-8 byte
 * order mark is skipped, as Jackson did). TC_EINVAL, from a request body: "request
 * body is not valid JSON" / "duplicate key 'NAME' in request body" /
 * "request body must be a JSON object"; from a WebSocket message: "message
 * is not a valid JSON object" / "duplicate key 'NAME' in message". Caller
 * decrefs *out. */
int tc_input_object(const char *body, size_t len, tc_input_from from, json_t **out, tc_errmsg *err);

#endif
