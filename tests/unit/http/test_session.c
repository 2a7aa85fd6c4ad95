/* test_session.c — tc_http_proto on an in-process server with a test router:
 * pipelining (also with a handler that answers later), keep-alive, Connection:
 * close and HTTP/1.0, takeover (leftover bytes, a close before the new
 * protocol is set), HEAD, the request and idle timeouts, the head and body
 * limits, and an answer that comes after the client vanished. Every answer is
 * checked byte for byte as the client received it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/session.h"
#include "net/server.h"
#include "support/http_date.h"
#include "support/uv_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tl_env e;
    tl_client cl[1];
    tc_http_site site;
    int accepted;
    tc_buf log;             /* "h:a" when a handler starts, "r:a" when it answers */
    tc_http_exchange *held; /* an exchange a handler answers later */
    const char *held_body;  /* what the timer answers it with */
    uv_timer_t timer;       /* answers `held` from the loop */
    bool abort_on_takeover; /* /ws closes the connection before a new protocol */
    tc_buf leftover;        /* what tc_http_takeover handed over */
    tc_conn *taken;         /* a taken-over connection (referenced) */
    tc_buf taken_got;       /* bytes read by the new protocol */
    tc_buf received;        /* the client's bytes, Date lines out (received()) */
    int taken_closed;       /* its on_closed calls */
    int bigs;               /* /big's handler calls */
} fixture;

static fixture *fx(tc_http_exchange *x)
{
    return x->app;
}

static void logf_(fixture *f, const char *what, tc_http_exchange *x)
{
    tc_buf_appendf(&f->log, "%s:%.*s ", what, (int)x->req->path.len - 1, x->req->path.base + 1);
}

static void answer(tc_http_exchange *x, const char *body)
{
    logf_(fx(x), "r", x);
    tc_http_reply(x, 200, "text/plain", NULL, body, strlen(body));
}

static void h_a(tc_http_exchange *x)
{
    logf_(fx(x), "h", x);
    answer(x, "a");
}

static void h_c(tc_http_exchange *x)
{
    logf_(fx(x), "h", x);
    answer(x, "c");
}

static void on_timer(uv_timer_t *t)
{
    fixture *f = t->data;
    tc_http_exchange *x = f->held;
    f->held = NULL;
    answer(x, f->held_body);
}

/* Answers from a timer, after the read that brought the request is over. */
static void h_slow(tc_http_exchange *x)
{
    fixture *f = fx(x);
    logf_(f, "h", x);
    f->held = x;
    f->held_body = "slow";
    uv_timer_start(&f->timer, on_timer, 1, 0);
}

/* Never answers by itself: the test does. */
static void h_hold(tc_http_exchange *x)
{
    fixture *f = fx(x);
    logf_(f, "h", x);
    f->held = x;
}

static void h_echo(tc_http_exchange *x)
{
    logf_(fx(x), "h", x);
    tc_http_reply(x, 200, "text/plain", NULL, x->req->body.base, x->req->body.len);
}

/* /big's answer: 64 KiB, a pattern the client checks byte for byte. */
#define BIG_LEN (64 * 1024)
static char big_body[BIG_LEN];

static void h_big(tc_http_exchange *x)
{
    fx(x)->bigs++;
    tc_http_reply(x, 200, "text/plain", NULL, big_body, BIG_LEN);
}

/* The protocol a taken-over connection is given: records what it reads. */
static void t_read(tc_conn *c, const char *data, size_t len)
{
    fixture *f = tc_conn_state(c);
    tc_buf_append(&f->taken_got, data, len);
}

static void t_closed(tc_conn *c)
{
    fixture *f = tc_conn_state(c);
    f->taken_closed++;
}

static const tc_proto taken_proto = {.name = "taken", .on_read = t_read, .on_closed = t_closed};

static void take(fixture *f, tc_http_exchange *x)
{
    tc_conn *c = tc_http_takeover(x, 101, NULL, &f->leftover);
    assert_null(tc_conn_state(c));
    if (f->abort_on_takeover) {
        tc_conn_abort(c);
        return;
    }
    tc_conn_set_proto(c, &taken_proto, f);
}

static void h_ws(tc_http_exchange *x)
{
    fixture *f = fx(x);
    logf_(f, "h", x);
    take(f, x);
}

/* Takes over from a timer, the way an endpoint does after an async store
 * call, but keeps the connection without a protocol: the test decides. */
static void on_takeover_timer(uv_timer_t *t)
{
    fixture *f = t->data;
    tc_http_exchange *x = f->held;
    f->held = NULL;
    f->taken = tc_http_takeover(x, 101, NULL, &f->leftover);
    tc_conn_ref(f->taken);
}

static void h_ws_later(tc_http_exchange *x)
{
    fixture *f = fx(x);
    logf_(f, "h", x);
    f->held = x;
    uv_timer_start(&f->timer, on_takeover_timer, 1, 0);
}

static void *new_state(tc_conn *c, void *app)
{
    fixture *f = app;
    f->accepted++;
    return tc_http_session_new(c, &f->site);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    uv_timer_init(&f->e.loop, &f->timer);
    f->timer.data = f;
    tc_router *r = tc_router_new();
    tc_router_add(r, TC_M_GET, "", "/a", h_a);
    tc_router_add(r, TC_M_GET, "", "/c", h_c);
    tc_router_add(r, TC_M_GET, "", "/slow", h_slow);
    tc_router_add(r, TC_M_GET, "", "/hold", h_hold);
    tc_router_add(r, TC_M_GET, "", "/ws", h_ws);
    tc_router_add(r, TC_M_GET, "", "/ws-later", h_ws_later);
    tc_router_add(r, TC_M_POST, "", "/echo", h_echo);
    tc_router_add(r, TC_M_GET, "", "/big", h_big);
    for (size_t i = 0; i < BIG_LEN; i++)
        big_body[i] = (char)('a' + i % 26);
    f->site = (tc_http_site){.router = r,
                             .limits = {.max_head = 512, .max_body = 32},
                             .request_timeout_ms = 10000,
                             .idle_timeout_ms = 10000,
                             .app = f};
    tc_server_opts o = {
        .initial_proto = &tc_http_proto, .new_state = new_state, .app = f, .max_queue = 1 << 20};
    tl_server_start(&f->e, o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tl_finish(&f->e, f->cl, 1);
    tc_router_free(f->site.router);
    tc_buf_free(&f->log);
    tc_buf_free(&f->leftover);
    tc_buf_free(&f->taken_got);
    tc_buf_free(&f->received);
    free(f);
    return 0;
}

static tl_client *connect_client(fixture *f)
{
    tl_client *cl = &f->cl[0];
    tl_client_connect(&f->e, cl);
    TL_RUN_UNTIL(&f->e, f->accepted == 1);
    return cl;
}

#define OK_HEAD(conn, len)                                                                         \
    "HTTP/1.1 200 OK\r\nServer: tablecart\r\nContent-Type: text/plain\r\nConnection: " conn        \
    "\r\nContent-Length: " len "\r\n\r\n"
#define OK_KA(len, body) OK_HEAD("keep-alive", len) body
#define OK_CLOSE(len, body) OK_HEAD("close", len) body
#define ERROR_ANSWER(status_line, len, body)                                                       \
    "HTTP/1.1 " status_line "\r\nServer: tablecart\r\n"                                            \
    "Content-Type: application/json;charset=UTF-8\r\nConnection: close\r\n"                        \
    "Content-Length: " len "\r\n\r\n" body

/* What the client received, with its answers' Date lines checked and taken
 * out (into f->received). */
static const char *received(fixture *f)
{
    tl_client *cl = &f->cl[0];
    tc_buf_reset(&f->received);
    tc_buf_append(&f->received, cl->in.base ? cl->in.base : "", cl->in.len);
    tl_strip_dates(&f->received);
    return tc_buf_cstr(&f->received);
}

/* Waits until the client has received exactly `want` (and not more). */
static void expect_text(fixture *f, const char *want)
{
    tl_client *cl = &f->cl[0];
    size_t len = strlen(want) + tl_answers_in(want) * TL_DATE_LINE;
    TL_RUN_UNTIL(&f->e, cl->in.len >= len || cl->eof || cl->read_err);
    assert_string_equal(received(f), want);
}

/* Waits for the server's FIN; the bytes received must be exactly `want`. */
static void expect_text_then_eof(fixture *f, const char *want)
{
    tl_client *cl = &f->cl[0];
    TL_RUN_UNTIL(&f->e, cl->eof || cl->read_err);
    assert_int_equal(cl->read_err, 0);
    assert_string_equal(received(f), want);
}

/* --- pipelining, keep-alive ------------------------------------------------ */

static void test_pipelined_requests_answered_in_order(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(f, OK_KA("1", "a") OK_KA("4", "slow") OK_KA("1", "c"));
    /* /c's handler ran only once /slow had answered from its timer. */
    assert_string_equal(tc_buf_cstr(&f->log), "h:a r:a h:slow r:slow h:c r:c ");
    assert_false(cl->eof);
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
}

static void test_pipelined_across_writes(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    /* The second request arrives in pieces while the first is still open. */
    tl_client_send_str(cl, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /");
    /* The handler ran (its 1 ms timer may already have answered on a busy
     * machine, and cleared held: wait for the log, not for held). */
    TL_RUN_UNTIL(&f->e, strstr(tc_buf_cstr(&f->log), "h:slow") != NULL);
    tl_client_send_str(cl, "c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(f, OK_KA("4", "slow") OK_KA("1", "c"));
    assert_string_equal(tc_buf_cstr(&f->log), "h:slow r:slow h:c r:c ");
}

/* Runs the loop without waiting until it has nothing to do: n turns in a
 * row in which /big's handler did not run (nothing on loopback changes while
 * the client reads nothing). */
static void run_until_quiet(fixture *f, int n)
{
    int last = -1, same = 0;
    tl_arm(&f->e);
    while (same < n && !f->e.expired) {
        uv_run(&f->e.loop, UV_RUN_NOWAIT);
        same = f->bigs == last ? same + 1 : 0;
        last = f->bigs;
    }
    uv_timer_stop(&f->e.deadline);
    assert_false(f->e.expired);
}

static void test_pipelining_client_that_reads_late_gets_every_answer(void **state)
{
    fixture *f = *state;
    enum { N = 400 }; /* 25 MiB of answers: past the socket buffers and the 1 MiB queue */
    f->cl[0].no_read = true;
    tl_client *cl = connect_client(f);
    static const char req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    tc_buf all = TC_BUF_INIT;
    for (int i = 0; i < N; i++)
        tc_buf_append(&all, req, sizeof req - 1);
    tl_client_send(cl, all.base, all.len);
    tc_buf_free(&all);
    /* While the client reads nothing, the server answers what the socket
     * takes plus one queued answer and holds the other requests: the
     * connection stays (before, it was closed as a slow client at the
     * queue's cap). */
    run_until_quiet(f, 50);
    assert_int_equal(tc_server_conn_count(f->e.srv), 1);
    assert_true(f->bigs >= 1 && f->bigs < N);
    /* Once it reads, every answer comes, whole and in order. */
    static const char head[] = OK_HEAD("keep-alive", "65536");
    const size_t one = sizeof head - 1 + BIG_LEN;
    tl_client_read_start(cl);
    TL_RUN_UNTIL(&f->e, cl->in.len >= N * (one + TL_DATE_LINE) || cl->eof || cl->read_err);
    assert_int_equal(cl->in.len, N * (one + TL_DATE_LINE));
    received(f);
    assert_int_equal(f->received.len, N * one);
    for (int i = 0; i < N; i++) {
        const char *a = f->received.base + (size_t)i * one;
        assert_memory_equal(a, head, sizeof head - 1);
        assert_memory_equal(a + sizeof head - 1, big_body, BIG_LEN);
    }
    assert_int_equal(f->bigs, N);
    assert_false(cl->eof);
}

static void test_keep_alive_serves_the_next_request(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(f, OK_KA("1", "a"));
    tl_client_send_str(cl, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(f, OK_KA("1", "a") OK_KA("1", "c"));
    assert_false(cl->eof);
    assert_int_equal(f->accepted, 1);
}

static void test_connection_close(void **state)
{
    fixture *f = *state;
    f->cl[0].close_on_eof = true;
    tl_client *cl = connect_client(f);
    /* The pipelined request after the closing one is never answered. */
    tl_client_send_str(cl, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                           "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text_then_eof(f, OK_CLOSE("1", "a"));
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    assert_string_equal(tc_buf_cstr(&f->log), "h:a r:a ");
}

static void test_http10_closes_unless_keep_alive(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect_text(f, OK_KA("1", "a"));
    tl_client_send_str(cl, "GET /c HTTP/1.0\r\n\r\n");
    expect_text_then_eof(f, OK_KA("1", "a") OK_CLOSE("1", "c"));
}

static void test_head_has_no_body(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    /* GET's Content-Length, no body: the next answer follows the head. */
    expect_text(f, OK_KA("1", "") OK_KA("1", "c"));
}

/* --- takeover ------------------------------------------------------------- */

static void test_takeover_hands_over_leftover(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                           "Upgrade: test\r\n\r\nHELLO");
    TL_RUN_UNTIL(&f->e, f->leftover.len > 0);
    assert_string_equal(tc_buf_cstr(&f->leftover), "HELLO");
    tl_client_send_str(cl, "WORLD");
    TL_RUN_UNTIL(&f->e, f->taken_got.len == 5);
    assert_string_equal(tc_buf_cstr(&f->taken_got), "WORLD");
    assert_int_equal(cl->in.len, 0); /* HTTP answered nothing */
    tl_client_close(cl);
    TL_RUN_UNTIL(&f->e, f->taken_closed == 1);
    assert_int_equal(tc_server_conn_count(f->e.srv), 0);
}

static void test_abort_right_after_takeover(void **state)
{
    fixture *f = *state;
    f->abort_on_takeover = true;
    tl_client *cl = connect_client(f);
    /* A pipelined request behind it must not be served by the freed session. */
    tl_client_send_str(cl, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    TL_RUN_UNTIL(&f->e, cl->eof || cl->read_err);
    assert_int_equal(cl->in.len, 0);
    assert_string_equal(tc_buf_cstr(&f->leftover), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_string_equal(tc_buf_cstr(&f->log), "h:ws ");
    assert_int_equal(f->taken_closed, 0);
}

static void test_peer_leaves_between_takeover_and_new_proto(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /ws-later HTTP/1.1\r\nHost: x\r\n\r\n");
    TL_RUN_UNTIL(&f->e, f->taken != NULL);
    /* Taken over, no protocol yet: bytes are dropped, a reset closes it. */
    tl_client_send_str(cl, "ignored");
    tl_client_reset(cl);
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    assert_true(tc_conn_is_closing(f->taken));
    assert_null(tc_conn_state(f->taken));
    assert_int_equal(f->leftover.len, 0);
    tc_conn_unref(f->taken); /* what the endpoint does when it sees it closing */
}

/* --- timeouts and limits ---------------------------------------------------- */

static void test_request_timeout_answers_408(void **state)
{
    fixture *f = *state;
    f->site.request_timeout_ms = 1;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /a HTTP/1.1\r\nHost:");
    /* The head never arrived: no Accept-Language was read, so Chinese. */
    expect_text_then_eof(f, ERROR_ANSWER("408 Request Timeout", "65",
                                         "{\"code\":408,\"success\":false,"
                                         "\"message\":\"请求超时\","
                                         "\"data\":null}"));
    assert_int_equal(f->log.len, 0);
}

static void test_idle_timeout_closes(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text(f, OK_KA("1", "a"));
    /* From the next answer on, an idle keep-alive connection ends at once. */
    f->site.idle_timeout_ms = 1;
    tl_client_send_str(cl, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_text_then_eof(f, OK_KA("1", "a") OK_KA("1", "c"));
}

static void test_head_too_large_431(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    char req[700];
    char filler[600];
    memset(filler, 'v', sizeof filler - 1);
    filler[sizeof filler - 1] = '\0';
    snprintf(req, sizeof req, "GET /a HTTP/1.1\r\nX-Big: %s\r\n\r\n", filler);
    tl_client_send_str(cl, req);
    expect_text_then_eof(f, ERROR_ANSWER("431 Request Header Fields Too Large", "68",
                                         "{\"code\":431,\"success\":false,"
                                         "\"message\":\"请求头太大\","
                                         "\"data\":null}"));
    assert_int_equal(f->log.len, 0);
}

static void test_body_limit_413(void **state)
{
    fixture *f = *state;
    tl_client *cl = connect_client(f);
    /* Exactly the limit (32 bytes) is fine; one more is not. */
    tl_client_send_str(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 32\r\n\r\n"
                           "0123456789abcdef0123456789abcdef");
    expect_text(f, OK_KA("32", "0123456789abcdef0123456789abcdef"));
    /* The head arrived: its Accept-Language decides the language. */
    tl_client_send_str(cl, "POST /echo HTTP/1.1\r\nHost: x\r\nAccept-Language: en-US\r\n"
                           "Content-Length: 33\r\n\r\n");
    expect_text_then_eof(f, OK_KA("32", "0123456789abcdef0123456789abcdef") ERROR_ANSWER(
                                "413 Payload Too Large", "90",
                                "{\"code\":413,\"success\":false,"
                                "\"message\":\"request body is larger than the limit\","
                                "\"data\":null}"));
    assert_string_equal(tc_buf_cstr(&f->log), "h:echo ");
}

/* --- the client vanishes ----------------------------------------------------- */

/* Sends GET /hold and returns its exchange, open and taken from f->held. */
static tc_http_exchange *hold_request(fixture *f)
{
    tl_client *cl = connect_client(f);
    tl_client_send_str(cl, "GET /hold HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v7\"\r\n\r\n");
    TL_RUN_UNTIL(&f->e, f->held != NULL);
    tc_http_exchange *x = f->held;
    f->held = NULL;
    return x;
}

/* A reset while an exchange is open closes the connection (reading goes on
 * while it is open, or the answer's write fails); the answer is dropped. */
static void test_answer_after_client_reset(void **state)
{
    fixture *f = *state;
    tc_http_exchange *x = hold_request(f);
    tl_client_reset(&f->cl[0]);
    answer(x, "too late");
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    assert_string_equal(tc_buf_cstr(&f->log), "h:hold r:hold ");
}

/* The connection was closed under an open exchange (here: the shutdown's
 * grace ran out): the request stays readable until the exchange ends (a REST
 * handler reads If-None-Match when the store answers), and the handler's
 * later answer is dropped. */
static void test_late_answer_after_connection_closed(void **state)
{
    fixture *f = *state;
    tl_client *cl = &f->cl[0];
    tc_http_exchange *x = hold_request(f);
    tc_server_shutdown(f->e.srv, 0, NULL, NULL);
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
    TL_RUN_UNTIL(&f->e, cl->eof || cl->read_err);
    assert_null(x->session); /* the session is gone; the exchange keeps its conn */
    assert_true(tc_conn_is_closing(x->conn));
    assert_true(tc_view_eq(x->req->path, "/hold"));
    const tc_view *inm = tc_http_header_get(x->req, "If-None-Match");
    assert_non_null(inm);
    assert_true(tc_view_eq(*inm, "\"v7\""));
    answer(x, "too late"); /* dropped, and x freed with its reference */
    assert_int_equal(cl->in.len, 0);
    assert_string_equal(tc_buf_cstr(&f->log), "h:hold r:hold ");
}

/* Stopping with requests pipelined behind an open one: those already read
 * are answered too, in order, the last with Connection: close, and the
 * connection closes after it. */
static void test_shutdown_answers_the_requests_already_read(void **state)
{
    fixture *f = *state;
    connect_client(f);
    tl_client_send_str(&f->cl[0], "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    TL_RUN_UNTIL(&f->e, f->held != NULL);
    tc_http_exchange *x = f->held;
    f->held = NULL;
    tc_server_shutdown(f->e.srv, 5000, NULL, NULL);
    answer(x, "hold");
    expect_text_then_eof(f, OK_KA("4", "hold") OK_KA("1", "a") OK_CLOSE("1", "c"));
    assert_string_equal(tc_buf_cstr(&f->log), "h:hold r:hold h:a r:a h:c r:c ");
    TL_RUN_UNTIL(&f->e, tc_server_conn_count(f->e.srv) == 0);
}

/* Stopping closes an idle keep-alive connection at once, and one whose
 * request is only half sent (not a request received). */
static void test_shutdown_closes_idle_and_half_sent(void **state)
{
    fixture *f = *state;
    connect_client(f);
    tl_client_send_str(&f->cl[0], "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /c HT");
    TL_RUN_UNTIL(&f->e, strstr(tc_buf_cstr(&f->log), "r:a") != NULL);
    tc_server_shutdown(f->e.srv, 5000, NULL, NULL);
    expect_text_then_eof(f, OK_KA("1", "a"));
    assert_string_equal(tc_buf_cstr(&f->log), "h:a r:a ");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_pipelined_requests_answered_in_order),
        T(test_pipelined_across_writes),
        T(test_pipelining_client_that_reads_late_gets_every_answer),
        T(test_keep_alive_serves_the_next_request),
        T(test_connection_close),
        T(test_http10_closes_unless_keep_alive),
        T(test_head_has_no_body),
        T(test_takeover_hands_over_leftover),
        T(test_abort_right_after_takeover),
        T(test_peer_leaves_between_takeover_and_new_proto),
        T(test_request_timeout_answers_408),
        T(test_idle_timeout_closes),
        T(test_head_too_large_431),
        T(test_body_limit_413),
        T(test_answer_after_client_reset),
        T(test_late_answer_after_connection_closed),
        T(test_shutdown_answers_the_requests_already_read),
        T(test_shutdown_closes_idle_and_half_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
