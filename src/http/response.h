/* response.h — writes HTTP/1.1 responses and the JSON envelope the seed's
 * clients read: {"code":200,"success":true,"message":"操作成功","data":…}. */
#ifndef TC_HTTP_RESPONSE_H
#define TC_HTTP_RESPONSE_H

#include "core/buf.h"
#include "core/wire.h" /* TC_WIRE_OK_MESSAGE for envelopes */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "OK", "Not Found", ... for a status code. */
const char *tc_http_reason(int status);

/* Starts a response: status line plus the headers every response carries,
 * Server and Date (RFC 9110 §6.6.1 asks a server with a clock for it, and
 * the original Spring service sent it; formatted once a second). On the
 * loop thread only. */
void tc_resp_start(tc_buf *out, int status);

/* The length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
#define TC_HTTP_DATE_LEN 29

/* Writes epoch second t as an IMF-fixdate (RFC 9110 §5.6.7) into out,
 * NUL-terminated. */
void tc_http_date(int64_t t, char out[TC_HTTP_DATE_LEN + 1]);
/* Appends "name: value\r\n" (value a string, or a view). */
void tc_resp_header(tc_buf *out, const char *name, const char *value);
void tc_resp_headerv(tc_buf *out, const char *name, tc_view value);
/* Ends the head with Connection (keep-alive or close) and Content-Length,
 * then appends body (len may be 0; body may be NULL when head_only). */
void tc_resp_end(tc_buf *out, bool keep_alive, const char *body, size_t len, bool head_only);

/* Appends an envelope with data (raw JSON, or "null" when data is NULL). */
void tc_envelope(tc_buf *out, int code, const char *message, const char *data, size_t data_len);

#endif
