/* http.h — HTTP/1.x request parsing glue over http-parser. I/O-free: bytes in,
 * a complete request (or an error status) out.
 *
 * One tc_http_parser serves one connection, one request at a time. It is
 * allocated when a request starts and freed when it is answered, so an idle
 * keep-alive connection holds no parser. */
#ifndef TC_HTTP_HTTP_H
#define TC_HTTP_HTTP_H

#include "core/buf.h"
#include "core/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each header also counts this many bytes against max_head: the heap of the
 * two records the parser keeps for it. With the head's bytes in one block of
 * at most max_head + 1 and the body's in one of at most max_body + 1, a
 * request's heap is bounded by its limits, not by how it is cut up. */
#define TC_HTTP_HEADER_COST 64

typedef struct {
    size_t max_head; /* target + headers as counted (each header + 4 + its cost), 16 KiB */
    size_t max_body; /* bytes (64 KiB) */
} tc_http_limits;

typedef struct {
    tc_view name;
    tc_view value;
} tc_http_header;

/* A parsed request. Views point into storage owned by the parser and live
 * until tc_http_free or the next tc_http_reset. */
typedef struct {
    int method; /* enum http_method (HTTP_GET ...) */
    const char *method_name;
    unsigned short http_major, http_minor;
    tc_view target; /* as sent: path?query, or absolute-form http://host/path?query */
    tc_view path;   /* without scheme and host; as sent, routed by tc_http_unescape_path */
    tc_view query;  /* without '?', empty when none */
    tc_http_header *headers;
    size_t n_headers;
    tc_buf body;
    bool keep_alive; /* what the client asked for, by version and Connection */
    bool upgrade;    /* Connection: upgrade + Upgrade: ... (the rest is not HTTP) */
} tc_http_req;

typedef struct tc_http_parser tc_http_parser;

enum {
    TC_HTTP_MORE = 0, /* need more bytes */
    TC_HTTP_DONE = 1  /* a whole request is ready in tc_http_request() */
};

/* A parser for one request. Free with tc_http_free. */
tc_http_parser *tc_http_new(const tc_http_limits *lim);
void tc_http_free(tc_http_parser *p);

/* Feeds bytes. Sets *used to how many were consumed (after DONE the rest
 * belongs to the next request, or to the WebSocket layer after an upgrade).
 * Returns TC_HTTP_MORE, TC_HTTP_DONE, or an HTTP error status to answer with
 * before closing: 400 malformed, 413 body too large, 431 head too large,
 * 501 unsupported transfer coding, 505 an HTTP version other than 1.0/1.1.
 * Fields of a chunked trailer are read past, never taken as headers. */
int tc_http_feed(tc_http_parser *p, const char *data, size_t len, size_t *used);

/* True once any byte of a request has been fed (for timeouts). */
bool tc_http_started(const tc_http_parser *p);

/* True once per request, after a feed that answered TC_HTTP_MORE, when the
 * client waits for "100 Continue" before it sends the body (RFC 9110
 * §10.1.1): an HTTP/1.1 head with "Expect: 100-continue" (any case) and a
 * body to come is complete, and no byte of that body has arrived. The caller
 * writes the interim answer; later calls return false. */
bool tc_http_take_continue(tc_http_parser *p);

/* The request after TC_HTTP_DONE; borrowed from p. */
tc_http_req *tc_http_request(tc_http_parser *p);

/* The language the request asks for (Accept-Language, core/text.h). */
tc_lang tc_http_lang(const tc_http_req *r);
/* The same for a request refused while it arrived: read from the headers
 * when its head was complete, else Chinese. */
tc_lang tc_http_head_lang(const tc_http_parser *p);
/* For a request refused while it arrived (p may be NULL): once its head is
 * complete, sets *value to the first header named `name` (ASCII
 * case-insensitive; a view into p, valid until tc_http_free) and returns
 * true. False when the head is not complete or has no such header. */
bool tc_http_head_header(const tc_http_parser *p, const char *name, tc_view *value);
/* For a request refused while it arrived (p may be NULL): true when its
 * request line named the method HEAD (its target had begun), so that the
 * refusal is answered without a body. */
bool tc_http_head_is_head(const tc_http_parser *p);

/* First header named `name` (ASCII case-insensitive), or NULL. */
const tc_view *tc_http_header_get(const tc_http_req *r, const char *name);

/* True when an If-None-Match value matches etag (an entity-tag with its
 * quotes, "\"v12\""), by RFC 9110's weak comparison: the value is "*", or a
 * list of which one entity-tag has etag's opaque tag, with or without W/.
 * A malformed member matches nothing. */
bool tc_http_none_match(tc_view value, tc_view etag);
/* Every header named `name`, in order, appended to out as one list joined
 * with ", " (RFC 9110 §5.3: lines of a list header are one list). Returns
 * how many there were. */
size_t tc_http_header_join(const tc_http_req *r, const char *name, tc_buf *out);

/* Finds query parameter `name` in r->query and percent-decodes its value into
 * out (reset first). Returns true when present. */
bool tc_http_query_get(const tc_http_req *r, const char *name, tc_buf *out);

/* True when every name and value of r->query percent-decodes. Otherwise
 * false with *bad set to the raw name of the first parameter that does not
 * (a view into r). */
bool tc_http_query_check(const tc_http_req *r, tc_view *bad);

/* The same two over name=value pairs in any buffer (an
 * application/x-www-form-urlencoded body has a query string's syntax):
 * tc_http_form_get finds `name` and decodes its value into out (reset first),
 * true when present; tc_http_form_check is true when every pair decodes,
 * else false with *bad the raw name of the first that does not (a view
 * into form). */
bool tc_http_form_get(tc_view form, const char *name, tc_buf *out);
bool tc_http_form_check(tc_view form, tc_view *bad);

/* How an error message quotes the *bad of tc_http_query_check or
 * tc_http_form_check: its first TC_HTTP_BAD_NAME_MAX bytes, written into out
 * with a NUL. Returns out. */
#define TC_HTTP_BAD_NAME_MAX 64
const char *tc_http_bad_name(tc_view bad, char out[TC_HTTP_BAD_NAME_MAX + 1]);

/* Percent-decodes a path segment or query value ('+' stays '+' in paths and
 * becomes ' ' when plus_is_space). Returns false on a malformed escape. */
bool tc_http_unescape(tc_view in, bool plus_is_space, tc_buf *out);

/* Percent-decodes a whole path for routing into out (reset first), but for
 * "%2F" and "%00", kept as they are: an escaped '/' belongs to its segment,
 * and no segment holds a NUL. Returns false on a malformed escape. */
bool tc_http_unescape_path(tc_view path, tc_buf *out);

#endif
