#include "http/session.h"

#include "core/log.h"
#include "core/mem.h"
#include "http/response.h"
#include "net/server.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tc_http_session {
    tc_conn *conn;
    const tc_http_site *site;
    tc_http_parser *parser; /* NULL between requests */
    tc_http_exchange *x;    /* the open exchange, or NULL */
    tc_buf pending;         /* bytes read past the current request */
    bool in_loop;           /* process() is on the stack */
    bool waiting_turn;      /* had its share of this loop turn: tc_conn_defer'd */
    bool held;              /* the next request waits for the last answer to go out (on_drained) */
    uint64_t started_ns;    /* uv_hrtime when the current request's first bytes were read */
} tc_http_session;

/* An exchange and, once its connection is gone, the parser that holds its
 * request: x->req stays valid until the exchange ends, as session.h says,
 * even when the handler answers after the connection closed. */
typedef struct {
    tc_http_exchange pub; /* first: a tc_http_exchange* is an exchange* */
    tc_http_parser *orphan;
    uint64_t started_ns; /* the session's started_ns for this request */
    tc_buf route_path;   /* the path routed, percent-decoded: pub.route's params point here */
} exchange;

static void process(tc_http_session *s, const char *data, size_t len);

void *tc_http_session_new(tc_conn *c, void *site)
{
    tc_http_session *s = tc_xcalloc(1, sizeof *s);
    s->conn = c;
    s->site = site;
    tc_conn_set_deadline(c, s->site->idle_timeout_ms);
    return s;
}

static void session_free(tc_http_session *s)
{
    tc_http_free(s->parser);
    tc_buf_free(&s->pending);
    free(s);
}

/* --- answering ------------------------------------------------------------- */

/* The CORS headers of an answer of site to a request from origin, a listed
 * one (NULL: none, or another). A page reads only the response headers
 * exposed to it: ETag for If-Match and If-None-Match, Retry-After of a 429.
 * With any origin listed, every answer depends on the request's Origin, so
 * every one says Vary: Origin — else a shared cache could hand a listed
 * page the copy it kept of an answer without CORS headers (Fetch, "CORS
 * protocol and HTTP caches"). */
static void cors_for(const tc_http_site *site, const char *origin, tc_buf *out)
{
    if (site->n_cors == 0) return;
    if (origin) tc_resp_header(out, "Access-Control-Allow-Origin", origin);
    tc_resp_header(out, "Vary", "Origin");
    if (origin) tc_resp_header(out, "Access-Control-Expose-Headers", "ETag, Retry-After");
}

void tc_http_cors_headers(const tc_http_exchange *x, tc_buf *out)
{
    cors_for(x->site, x->cors, out);
}

static void exchange_free(tc_http_exchange *x)
{
    exchange *e = (exchange *)x;
    tc_http_free(e->orphan);
    tc_buf_free(&e->route_path);
    tc_conn_unref(x->conn);
    free(e);
}

/* After an answer: next request, or close. */
static void exchange_done(tc_http_session *s, bool keep_alive)
{
    s->x = NULL;
    tc_http_free(s->parser);
    s->parser = NULL;
    if (!keep_alive) {
        tc_conn_close(s->conn);
        return;
    }
    tc_conn_set_deadline(s->conn, s->site->idle_timeout_ms);
    if (s->in_loop) return; /* the loop in process() picks up pending bytes */
    process(s, NULL, 0);
}

bool tc_http_stream_chunked(const tc_http_req *r)
{
    return r->http_major == 1 && r->http_minor >= 1;
}

void tc_http_stream_head_end(const tc_http_req *r, bool keep_alive, tc_buf *out)
{
    bool chunked = tc_http_stream_chunked(r);
    if (chunked) tc_buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    tc_buf_append_str(out, chunked && r->keep_alive && keep_alive ? "Connection: keep-alive\r\n\r\n"
                                                                  : "Connection: close\r\n\r\n");
}

/* How a response is framed: a body with its length, or the head of a stream
 * answered to HEAD (what GET would say, with no body). */
typedef enum { FRAME_LENGTH, FRAME_STREAM_HEAD } framing;

/* Returns the bytes queued. req: the request, for FRAME_STREAM_HEAD. */
static size_t write_response(tc_conn *c, bool keep_alive, int status, const char *ctype,
                             const char *cors_and_extra, const char *body, size_t len,
                             bool head_only, framing fr, const tc_http_req *req)
{
    tc_buf out = TC_BUF_INIT;
    tc_buf_reserve(&out, 256 + len);
    tc_resp_start(&out, status);
    if (ctype) tc_resp_header(&out, "Content-Type", ctype);
    if (cors_and_extra) tc_buf_append_str(&out, cors_and_extra);
    if (fr == FRAME_STREAM_HEAD) {
        tc_http_stream_head_end(req, keep_alive, &out);
    } else if (status == 304 || status == 204) {
        tc_buf_append_str(&out, keep_alive ? "Connection: keep-alive\r\n\r\n"
                                           : "Connection: close\r\n\r\n");
    } else {
        tc_resp_end(&out, keep_alive, body, len, head_only);
    }
    tc_conn_write(c, out.base, out.len);
    size_t n = out.len;
    tc_buf_free(&out);
    return n;
}

/* Tells the site's on_answer hook about an answer to req (NULL: the request
 * was not read) that began at started_ns. */
static void count_answer_as(const tc_http_site *site, tc_conn *c, const tc_http_req *req,
                            uint64_t started_ns, int status, size_t bytes, bool refused)
{
    if (site->on_answer == NULL) return;
    tc_http_answer a = {
        .method = req ? req->method_name : "-",
        .method_bit = req ? tc_router_method_bit(req->method) : 0,
        .target = req ? req->target : (tc_view){"", 0},
        .status = status,
        .bytes = bytes,
        .duration_ns = started_ns ? uv_hrtime() - started_ns : 0,
        .conn = c,
        .refused = refused,
    };
    site->on_answer(site->app, &a);
}

static void count_answer(const tc_http_site *site, tc_conn *c, const tc_http_req *req,
                         uint64_t started_ns, int status, size_t bytes)
{
    count_answer_as(site, c, req, started_ns, status, bytes, false);
}

static void reply(tc_http_exchange *x, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len, framing fr)
{
    tc_http_session *s = x->session;
    uint64_t started = ((exchange *)x)->started_ns;
    if (s == NULL || tc_conn_is_closing(x->conn)) {
        count_answer(x->site, x->conn, x->req, started, status, 0);
        if (s) exchange_done(s, false);
        exchange_free(x);
        return;
    }
    /* Stopping: requests already read behind this one (pipelined) are
     * still answered, and the last answer closes. */
    bool keep_alive = x->req->keep_alive && status != 408 && status != 413 && status != 431 &&
                      (s->pending.len > 0 || !tc_server_is_shutting_down(tc_conn_server(x->conn)));
    /* A stream's head says close on HTTP/1.0 (GET's stream ends with the
     * connection): so does HEAD's, and it does. */
    if (fr == FRAME_STREAM_HEAD) keep_alive = keep_alive && tc_http_stream_chunked(x->req);
    tc_buf hdr = TC_BUF_INIT;
    tc_http_cors_headers(x, &hdr);
    if (extra_headers) tc_buf_append_str(&hdr, extra_headers);
    size_t sent = write_response(x->conn, keep_alive, status, content_type,
                                 hdr.len ? hdr.base : NULL, body, len, x->head_only, fr, x->req);
    tc_buf_free(&hdr);
    count_answer(x->site, x->conn, x->req, started, status, sent);
    exchange_done(s, keep_alive);
    exchange_free(x);
}

void tc_http_reply(tc_http_exchange *x, int status, const char *content_type,
                   const char *extra_headers, const char *body, size_t len)
{
    reply(x, status, content_type, extra_headers, body, len, FRAME_LENGTH);
}

void tc_http_abandon(tc_http_exchange *x)
{
    if (x->session) exchange_done(x->session, false);
    exchange_free(x);
}

void tc_http_reply_stream_head(tc_http_exchange *x, const char *content_type,
                               const char *extra_headers)
{
    reply(x, 200, content_type, extra_headers, NULL, 0, FRAME_STREAM_HEAD);
}

void tc_http_reply_envelope(tc_http_exchange *x, int status, const char *message, const char *data,
                            size_t data_len, const char *extra_headers)
{
    tc_buf body = TC_BUF_INIT;
    tc_buf_reserve(&body, data_len + 96); /* the envelope around data */
    tc_envelope(&body, status, message, status >= 200 && status < 300 ? data : NULL, data_len);
    tc_http_reply(x, status, "application/json;charset=UTF-8", extra_headers, body.base, body.len);
    tc_buf_free(&body);
}

void tc_http_reply_errmsg(tc_http_exchange *x, int status, int code, const tc_errmsg *m)
{
    tc_http_reply_envelope(x, status, tc_errmsg_text(m, code, tc_http_lang(x->req)), NULL, 0, NULL);
}

void tc_http_reply_say(tc_http_exchange *x, int status, tc_text id, ...)
{
    tc_errmsg m;
    va_list ap;
    va_start(ap, id);
    tc_errmsg_vsay(&m, TC_EINVAL, id, ap);
    va_end(ap);
    tc_http_reply_errmsg(x, status, TC_EINVAL, &m);
}

/* A refusal's envelope: net/'s English reason, said in lang, with site's
 * CORS headers for origin (site NULL: none, no request was read), without
 * the body when head_only (a HEAD); returns the bytes queued. */
static size_t refuse_in(tc_conn *c, int status, uint32_t retry_after_s, const char *message,
                        tc_lang lang, const tc_http_site *site, const char *origin, bool head_only)
{
    tc_buf body = TC_BUF_INIT, extra = TC_BUF_INIT;
    if (site) cors_for(site, origin, &extra);
    tc_buf_appendf(&extra, "Retry-After: %u\r\n", retry_after_s);
    tc_text id = tc_text_by_en(message);
    if (id != TC_T_NONE) message = tc_text_format(id, lang);
    tc_envelope(&body, status, message, NULL, 0);
    size_t n = write_response(c, false, status, "application/json;charset=UTF-8", extra.base,
                              body.base, body.len, head_only, FRAME_LENGTH, NULL);
    tc_buf_free(&body);
    tc_buf_free(&extra);
    return n;
}

void tc_http_refuse(void *site, tc_conn *c, int status, uint32_t retry_after_s, const char *message)
{
    size_t n = refuse_in(c, status, retry_after_s, message, TC_LANG_ZH, NULL, NULL, false);
    if (site) count_answer_as(site, c, NULL, 0, status, n, true);
}

/* What a connection speaks between tc_http_takeover and the new protocol's
 * tc_conn_set_proto: nothing. Its state is NULL, so a close in between never
 * reaches the session that the takeover freed. */
static void detached_read(tc_conn *c, const char *data, size_t len)
{
    (void)c;
    (void)data;
    (void)len;
}

static const tc_proto detached_proto = {.name = "detached", .on_read = detached_read};

tc_conn *tc_http_takeover(tc_http_exchange *x, int status, const tc_buf *head, tc_buf *leftover)
{
    tc_http_session *s = x->session;
    tc_conn *c = x->conn;
    if (head) tc_conn_write(c, head->base, head->len);
    count_answer(x->site, c, x->req, ((exchange *)x)->started_ns, status, head ? head->len : 0);
    if (s) {
        if (leftover && s->pending.len) tc_buf_append(leftover, s->pending.base, s->pending.len);
        s->x = NULL;
        if (s->in_loop) {
            /* process() is on the stack: it sees conn's proto changed and frees s. */
            s->conn = NULL;
        } else {
            session_free(s);
        }
    }
    tc_conn_set_proto(c, &detached_proto, NULL);
    tc_conn_set_deadline(c, 0);
    tc_conn_resume(c);
    exchange_free(x);
    return c;
}

/* --- requests -------------------------------------------------------------- */

/* The listed origin a request's Origin header (NULL: none) names, or NULL. */
static const char *allowed_origin(const tc_http_site *site, const tc_view *o)
{
    if (!o) return NULL;
    for (size_t i = 0; i < site->n_cors; i++)
        if (tc_view_eq(*o, site->cors_origins[i])) return site->cors_origins[i];
    return NULL;
}

static void preflight(tc_http_exchange *x)
{
    tc_buf h = TC_BUF_INIT;
    if (x->cors && tc_http_header_get(x->req, "Access-Control-Request-Method")) {
        tc_resp_header(&h, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
        tc_resp_header(&h, "Access-Control-Allow-Headers",
                       "Content-Type, Authorization, If-Match, If-None-Match, Idempotency-Key, "
                       "X-User-Id, X-User-Phone, Last-Event-ID");
        tc_resp_header(&h, "Access-Control-Max-Age", "600");
    }
    tc_resp_header(&h, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    tc_http_reply(x, 204, NULL, h.base, NULL, 0);
    tc_buf_free(&h);
}

/* From a trusted proxy, each request names its client (a keep-alive
 * connection of the proxy may carry another client's next request): over
 * that client's limits, answers 429 and closes. Returns true when it did. */
static bool refused_forwarded(tc_http_session *s, const tc_http_req *req)
{
    /* Every line of it: a proxy that adds a line of its own leaves the
     * client's forged one first. */
    tc_buf xff = TC_BUF_INIT;
    tc_http_header_join(req, "X-Forwarded-For", &xff);
    uint32_t retry;
    const char *why;
    int rc = tc_conn_forwarded(s->conn, (tc_view){xff.base ? xff.base : "", xff.len}, &retry, &why);
    tc_buf_free(&xff);
    if (rc == 0) return false;
    size_t sent = refuse_in(s->conn, 429, retry, why, tc_http_lang(req), s->site,
                            allowed_origin(s->site, tc_http_header_get(req, "Origin")),
                            req->method == HTTP_HEAD);
    count_answer(s->site, s->conn, req, s->started_ns, 429, sent);
    tc_http_free(s->parser);
    s->parser = NULL;
    tc_buf_reset(&s->pending);
    tc_conn_close(s->conn);
    return true;
}

static void dispatch(tc_http_session *s)
{
    tc_http_req *req = tc_http_request(s->parser);
    if (tc_conn_via_proxy(s->conn) && refused_forwarded(s, req)) return;
    exchange *e = tc_xcalloc(1, sizeof *e);
    tc_http_exchange *x = &e->pub;
    x->site = s->site;
    x->conn = s->conn;
    tc_conn_ref(s->conn);
    x->req = req;
    x->app = s->site->app;
    x->session = s;
    e->started_ns = s->started_ns;
    x->head_only = req->method == HTTP_HEAD;
    x->cors = allowed_origin(s->site, tc_http_header_get(req, "Origin"));
    s->x = x;
    tc_conn_set_deadline(s->conn, 0);
    unsigned bit = tc_router_method_bit(req->method);
    if (bit == TC_M_OPTIONS) {
        preflight(x);
        return;
    }
    tc_view bad;
    if (!tc_http_query_check(req, &bad)) {
        /* Rather than a parameter silently missing (?tableId=%zz). */
        char name[TC_HTTP_BAD_NAME_MAX + 1];
        tc_http_reply_say(x, 400, TC_T_BAD_QUERY, tc_http_bad_name(bad, name));
        return;
    }
    /* Routed by its decoded segments (/cart/%3123 is /cart/123); a malformed
     * escape is routed as sent and refused by whoever reads the segment. A
     * path without escapes (most) is routed as it is, with no copy. */
    tc_view route_path = req->path;
    if (memchr(req->path.base, '%', req->path.len) &&
        tc_http_unescape_path(req->path, &e->route_path))
        route_path = (tc_view){e->route_path.base, e->route_path.len};
    tc_router_match(s->site->router, bit, route_path, &x->route);
    if (x->route.handler) {
        x->route.handler(x);
        return;
    }
    if (x->route.allowed) {
        tc_buf allow = TC_BUF_INIT;
        tc_buf_append_str(&allow, "Allow: ");
        tc_router_allow_header(x->route.allowed | TC_M_OPTIONS, &allow);
        tc_buf_append_str(&allow, "\r\n");
        tc_buf path = TC_BUF_INIT;
        tc_buf_append(&path, req->path.base, req->path.len);
        tc_errmsg m;
        tc_errmsg_say(&m, TC_EMETHOD, TC_T_METHOD, req->method_name, tc_buf_cstr(&path));
        tc_http_reply_envelope(x, 405, tc_errmsg_text(&m, TC_EMETHOD, tc_http_lang(req)), NULL, 0,
                               allow.base);
        tc_buf_free(&allow);
        tc_buf_free(&path);
        return;
    }
    if ((bit == TC_M_GET || bit == TC_M_HEAD) && s->site->fallback) {
        s->site->fallback(x);
        return;
    }
    tc_buf path = TC_BUF_INIT;
    tc_buf_append(&path, req->path.base, req->path.len);
    tc_http_reply_say(x, 404, TC_T_NO_ROUTE, req->method_name, tc_buf_cstr(&path));
    tc_buf_free(&path);
}

/* A request we cannot parse: answer and close, whatever else was sent. */
static void fail(tc_http_session *s, int status)
{
    tc_text id = status == 413   ? TC_T_BODY_TOO_BIG
                 : status == 431 ? TC_T_HEAD_TOO_BIG
                 : status == 408 ? TC_T_TOO_SLOW
                 : status == 501 ? TC_T_CODING
                 : status == 505 ? TC_T_HTTP_VERSION
                                 : TC_T_MALFORMED;
    const char *msg = tc_text_format(id, tc_http_head_lang(s->parser));
    tc_buf body = TC_BUF_INIT, cors = TC_BUF_INIT;
    tc_envelope(&body, status, msg, NULL, 0);
    /* Once the head is read, a listed page can read why (a 413, a 408). */
    tc_view origin;
    bool has_origin = tc_http_head_header(s->parser, "Origin", &origin);
    cors_for(s->site, has_origin ? allowed_origin(s->site, &origin) : NULL, &cors);
    size_t sent = write_response(s->conn, false, status, "application/json;charset=UTF-8",
                                 cors.len ? cors.base : NULL, body.base, body.len,
                                 tc_http_head_is_head(s->parser), FRAME_LENGTH, NULL);
    tc_buf_free(&body);
    tc_buf_free(&cors);
    count_answer(s->site, s->conn, NULL, s->started_ns, status, sent);
    tc_http_free(s->parser);
    s->parser = NULL;
    tc_buf_reset(&s->pending);
    tc_conn_close(s->conn);
}

/* The interim answer to a client that waits before sending its body. */
static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void process(tc_http_session *s, const char *data, size_t len)
{
    tc_conn *c = s->conn;
    tc_buf work = TC_BUF_INIT; /* holds pipelined bytes taken from pending */
    s->in_loop = true;
    s->held = false; /* decided again below */
    for (;;) {
        if (tc_conn_is_closing(c)) break;
        if (s->x != NULL) {
            /* An exchange is open: keep the bytes for after its answer, and
             * read no more until then (a client that pipelines gets one
             * read's worth held, not an unbounded buffer). */
            if (len) {
                tc_buf_append(&s->pending, data, len);
                tc_conn_pause(c);
            }
            break;
        }
        if (len == 0) {
            if (s->pending.len == 0) break;
            tc_buf_free(&work);
            work = s->pending;
            s->pending = (tc_buf)TC_BUF_INIT;
            data = work.base;
            len = work.len;
        }
        if (s->parser == NULL && tc_conn_queued_heap(c) > 0) {
            /* The last answer waits for the client to read it: so does the
             * next request (on_drained). A client that pipelines has one
             * answer queued at a time, however many it sent and however
             * large the answers, and is never closed as slow for that. */
            if (len) tc_buf_append(&s->pending, data, len);
            s->held = true;
            tc_conn_pause(c);
            break;
        }
        if (s->parser == NULL) {
            if (!tc_conn_spend(c)) {
                /* This connection had its share of the loop turn: the rest
                 * waits, in order, for the next turn (on_ready). */
                if (len) tc_buf_append(&s->pending, data, len);
                s->waiting_turn = true;
                tc_conn_defer(c);
                break;
            }
            s->parser = tc_http_new(&s->site->limits);
            s->started_ns = uv_hrtime();
            tc_conn_set_deadline(c, s->site->request_timeout_ms);
        }
        size_t used;
        int r = tc_http_feed(s->parser, data, len, &used);
        if (r == TC_HTTP_MORE) {
            /* Not counted as an answer: the final one follows the body. */
            if (tc_http_take_continue(s->parser)) tc_conn_write(c, CONTINUE, sizeof CONTINUE - 1);
            len = 0;
            continue;
        }
        if (r != TC_HTTP_DONE) {
            fail(s, r);
            break;
        }
        /* What follows the request waits in pending: the next request's bytes,
         * or the WebSocket's after an upgrade (tc_http_takeover hands them on). */
        if (len > used) tc_buf_append(&s->pending, data + used, len - used);
        len = 0;
        /* Reading goes on while the exchange is open: stopping and starting
         * it costs two epoll_ctl calls per request. Bytes that arrive before
         * the answer are held and pause the connection (above). */
        dispatch(s);
        if (s->conn == NULL) {
            /* Taken over by SSE or WebSocket. */
            tc_buf_free(&work);
            session_free(s);
            return;
        }
    }
    s->in_loop = false;
    tc_buf_free(&work);
    if (s->x == NULL && !s->waiting_turn && !s->held && !tc_conn_is_closing(c)) tc_conn_resume(c);
}

static void on_read(tc_conn *c, const char *data, size_t len)
{
    process(tc_conn_state(c), data, len);
}

static void on_ready(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    s->waiting_turn = false;
    process(s, NULL, 0);
}

static void on_drained(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    if (s != NULL && s->held && !s->in_loop) process(s, NULL, 0);
}

static void on_eof(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    /* A client may half-close after its request: an open exchange is still
     * answered; otherwise what is queued is flushed before our side closes. */
    if (s->x == NULL) tc_conn_close(c);
}

static void on_deadline(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    if (s->x) return;
    if (s->parser && tc_http_started(s->parser)) {
        fail(s, 408);
    } else if (tc_conn_grace_unread(c)) {
        /* A request came before the close, not read yet: it is read next,
         * and its head has the request timeout, as any head. */
        tc_conn_set_deadline(c, s->site->request_timeout_ms);
    } else {
        tc_conn_close(c); /* idle keep-alive */
    }
}

static void on_shutdown(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    /* An open exchange finishes first, and so do the requests already read
     * behind it (pipelined, in pending): each answer says keep-alive while
     * more wait, the last one close (reply). The server's grace period
     * bounds it all. */
    if (s->x != NULL || s->in_loop) return;
    if (s->pending.len == 0) {
        tc_conn_close(c); /* idle, or a request half sent: not one received */
        return;
    }
    if (!s->waiting_turn && !s->held) process(s, NULL, 0);
}

static void on_closed(tc_conn *c)
{
    tc_http_session *s = tc_conn_state(c);
    if (s == NULL) return;
    if (s->x) {
        /* The handler's answer will be dropped; its request lives on. */
        s->x->session = NULL;
        ((exchange *)s->x)->orphan = s->parser;
        s->parser = NULL;
    }
    session_free(s);
}

const tc_proto tc_http_proto = {
    .name = "http",
    .on_read = on_read,
    .on_eof = on_eof,
    .on_deadline = on_deadline,
    .on_shutdown = on_shutdown,
    .on_closed = on_closed,
    .on_ready = on_ready,
    .on_drained = on_drained,
};
