/* session.h — HTTP/1.x over one connection: parse, route, answer, keep-alive,
 * pipelining, timeouts, CORS, and handing the connection over to SSE or
 * WebSocket.
 *
 * Each request becomes a tc_http_exchange handed to a route handler. The
 * handler answers with tc_http_reply* now or later (the store is
 * asynchronous), or takes the connection over with tc_http_takeover. Reading
 * is paused while an exchange is open, so requests are answered in order. */
#ifndef TC_HTTP_SESSION_H
#define TC_HTTP_SESSION_H

#include "http/http.h"
#include "http/router.h"
#include "net/conn.h"

/* One HTTP answer, as the site's on_answer hook hears it (valid during the
 * call only). */
typedef struct {
    const char *method;   /* "GET", ...; "-" when the request line was not read */
    unsigned method_bit;  /* TC_M_* of method, 0 for another or an unread one */
    tc_view target;       /* the request target as sent (path?query); empty when unread */
    int status;           /* 101 and a stream's 200 included */
    size_t bytes;         /* bytes of the answer queued (a stream or upgrade: its head) */
    uint64_t duration_ns; /* from the request's first bytes read to the answer */
    tc_conn *conn;        /* the connection (tc_conn_client names the client) */
    /* a connection refused before any request (tc_http_refuse): counted, not
     * logged line by line (net/ logs refusals at most once a second) */
    bool refused;
} tc_http_answer;

/* What every session of a listener shares. Owned by the caller; outlives the
 * server. */
typedef struct {
    tc_router *router;
    tc_http_handler fallback; /* GET/HEAD for paths no route knows (static files); may be NULL */
    tc_http_limits limits;
    uint64_t request_timeout_ms;
    uint64_t idle_timeout_ms;
    const char *const *cors_origins;
    size_t n_cors;
    const char *web_dir; /* the folder of static files, or NULL: none (for the fallback) */
    void *app;           /* handed to handlers as x->app */
    /* Called once for every answer written — handlers', errors of parsing,
     * refusals, takeovers (101, a stream's 200; not a stream's events) — the
     * one place answers are counted and logged. May be NULL. */
    void (*on_answer)(void *app, const tc_http_answer *a);
} tc_http_site;

struct tc_http_exchange {
    const tc_http_site *site;
    tc_conn *conn;    /* referenced until the exchange ends */
    tc_http_req *req; /* valid until the exchange ends, even if the connection goes first */
    tc_route_match route;
    void *app;
    bool head_only;                  /* HEAD: answer without a body */
    const char *cors;                /* the request's Origin when it is allowed, else NULL */
    struct tc_http_session *session; /* NULL once the connection is gone */
};

/* The protocol and state constructor for tc_server_opts (app = tc_http_site*).
 * tc_http_session_new makes the HTTP state of a new connection c and arms
 * its keep-alive deadline; site (a tc_http_site*) is borrowed and must
 * outlive c. The state is the connection's: tc_http_proto's on_closed (or
 * the takeover by a stream) frees it. */
extern const tc_proto tc_http_proto;
void *tc_http_session_new(tc_conn *c, void *site);

/* Answers x with status, an optional content type, optional extra header
 * lines (each "Name: value\r\n"), and a body. Ends x: it is freed. If the
 * connection is gone the answer is dropped. */
void tc_http_reply(tc_http_exchange *x, int status, const char *content_type,
                   const char *extra_headers, const char *body, size_t len);
/* Ends x without an answer: for a handler told that none will come (the
 * store closed holding its request, TC_ECLOSED). A connection still open is
 * closed, so that the client knows nothing was answered. Frees x. */
void tc_http_abandon(tc_http_exchange *x);
/* Answers with the JSON envelope: success (2xx) carries data (raw JSON), an
 * error carries message and data null. */
void tc_http_reply_envelope(tc_http_exchange *x, int status, const char *message, const char *data,
                            size_t data_len, const char *extra_headers);
/* Answers a HEAD of a stream (SSE) with the head GET would get — 200,
 * content_type, extra header lines, the framing of tc_http_stream_head_end —
 * and no body; the connection then goes on as HTTP when that head says
 * keep-alive, else it is closed. */
void tc_http_reply_stream_head(tc_http_exchange *x, const char *content_type,
                               const char *extra_headers);

/* True when a stream (SSE) answered to r is sent chunked: on HTTP/1.1. An
 * HTTP/1.0 stream ends with the connection. */
bool tc_http_stream_chunked(const tc_http_req *r);
/* Appends the lines that end the head of a stream answered to r, for GET and
 * HEAD alike: Transfer-Encoding when tc_http_stream_chunked, Connection
 * (keep-alive when chunked, r asked for it and keep_alive allows it, else
 * close), and the blank line. */
void tc_http_stream_head_end(const tc_http_req *r, bool keep_alive, tc_buf *out);
/* An error envelope whose message is m's (core/text.h) in the language the
 * request asks for; code names the failure when m has no message. */
void tc_http_reply_errmsg(tc_http_exchange *x, int status, int code, const tc_errmsg *m);
/* An error envelope with catalogue text id (its parameters follow) in the
 * request's language. */
void tc_http_reply_say(tc_http_exchange *x, int status, tc_text id, ...);

/* Hands the connection to another protocol: writes head (the response head
 * of status, e.g. 101 or a stream's 200; NULL: nothing to write), ends the
 * HTTP session and frees x.
 * Bytes that arrived after the request head are appended to leftover (may be
 * NULL). Until the caller calls tc_conn_set_proto the connection speaks no
 * protocol (reads are dropped, its state is NULL). Returns the connection. */
tc_conn *tc_http_takeover(tc_http_exchange *x, int status, const tc_buf *head, tc_buf *leftover);

/* tc_server_opts.refuse, its ctx the site (a tc_http_site): writes a status
 * (429, 503) envelope with Retry-After and Connection: close to a
 * connection that gets no session, and tells the site's on_answer (no
 * request: method "-"). message is net/'s English reason; the envelope says
 * it in Chinese (no request was read to ask for another language). */
void tc_http_refuse(void *site, tc_conn *c, int status, uint32_t retry_after_s,
                    const char *message);

/* Adds x's CORS headers to out: none without --cors-origin; else Vary:
 * Origin, and for an allowed origin (x->cors) Access-Control-Allow-Origin and
 * -Expose-Headers. */
void tc_http_cors_headers(const tc_http_exchange *x, tc_buf *out);

#endif
