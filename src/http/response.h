/* response.h — writes HTTP/1.1 responses and the JSON envelope the seed's
 * clients read: {"code":200,"success":true,"message":"操作成功","data":…}. */
#ifndef TC_HTTP_RESPONSE_H
#define TC_HTTP_RESPONSE_H

#include "core/buf.h"
#include "core/wire.h" /* TC_WIRE_OK_MESSAGE for envelopes */

#include <stdbool.h>
#include <stddef.h>

/* "OK", "Not Found", ... for a status code. */
const char *tc_http_reason(int status);

/* Starts a response: status line plus the headers every response carries
 * (Date is omitted on purpose: clients do not need it and it costs a
 * syscall-free but non-trivial format per response). */
void tc_resp_start(tc_buf *out, int status);
/* Appends "name: value\r\n" (value a string, or a view). */
void tc_resp_header(tc_buf *out, const char *name, const char *value);
void tc_resp_headerv(tc_buf *out, const char *name, tc_view value);
/* Ends the head with Connection (keep-alive or close) and Content-Length,
 * then appends body (len may be 0; body may be NULL when head_only). */
void tc_resp_end(tc_buf *out, bool keep_alive, const char *body, size_t len, bool head_only);

/* Appends an envelope with data (raw JSON, or "null" when data is NULL). */
void tc_envelope(tc_buf *out, int code, const char *message, const char *data, size_t data_len);

#endif
