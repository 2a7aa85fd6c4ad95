/* test_stream.c — SSE and WebSocket streams on real connections of a real
 * loop: what a stream writes first, the order of snapshot and updates and
 * the versions it skips, heartbeats and pings, conflation for a client that
 * does not read, and every way a stream ends (peer gone, lifetime, restart,
 * shutdown) releasing it exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support/uv_harness.h"

#include "core/wire.h"
#include "push/stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_CLIENTS 4
#define TABLE 7
#define OTHER_TABLE 8
#define TS 1704067200000LL
#define EXPIRED "stream lifetime over"

typedef struct {
    tl_env e;
    tc_streams *ss;
    tl_client cl[N_CLIENTS];
    tc_stream *st[N_CLIENTS];
    int n_streams;
    tc_stream_params next; /* the parameters of the next stream */
    int frees, follow_on, follow_off;
    bool busy;      /* the layer above is still answering */
    bool full;      /* ... and holds all the answers it may */
    int64_t snap_v; /* > 0: the WebSocket's snapshot, queued before its early bytes */
    tc_buf text;    /* the WebSocket messages the layer above heard, each + "|" */
} fixture;

static const char *cart_json(int64_t v);
static tc_view jv(const char *s);

/* ===== the layer above ========================================================= */

static void h_text(void *ctx, tc_stream *s, const char *data, size_t len)
{
    fixture *f = ctx;
    (void)s;
    tc_buf_append(&f->text, data, len);
    tc_buf_append_str(&f->text, "|");
}

static void h_free(void *ctx, tc_stream *s)
{
    fixture *f = ctx;
    /* The layer above's bytes are still there, as they were written. */
    assert_int_equal(*(uint64_t *)tc_stream_user(s), 0x5eed);
    f->frees++;
}

static bool h_busy(void *ctx, tc_stream *s)
{
    (void)s;
    return ((fixture *)ctx)->busy;
}

static bool h_full(void *ctx, tc_stream *s)
{
    (void)s;
    return ((fixture *)ctx)->full;
}

static const tc_stream_hooks hooks = {
    .on_text = h_text, .on_free = h_free, .busy = h_busy, .full = h_full};

static void follow(void *ctx, int32_t table_id, bool on)
{
    fixture *f = ctx;
    assert_true(table_id == TABLE || table_id == OTHER_TABLE);
    if (on)
        f->follow_on++;
    else
        f->follow_off++;
}

/* The connection's first protocol: its first byte picks the stream, as the
 * HTTP layer would after a request ('S' SSE chunked, 'H' SSE HTTP/1.0, 'W'
 * WebSocket). */
static void pick_read(tc_conn *c, const char *data, size_t len)
{
    fixture *f = tc_conn_state(c);
    assert_true(len >= 1);
    tc_stream_params p = f->next;
    p.user_size = 8;
    tc_stream *s;
    if (data[0] == 'W') {
        tc_conn_pause(c); /* as for the snapshot */
        s = tc_stream_ws(f->ss, c, &p);
        *(uint64_t *)tc_stream_user(s) = 0x5eed;
        if (f->snap_v > 0) tc_stream_send_cart(s, f->snap_v, jv(cart_json(f->snap_v)), TS);
        tc_stream_ws_feed(s, (tc_view){data + 1, len - 1});
    } else {
        p.chunked = data[0] == 'S';
        s = tc_stream_sse(f->ss, c, &p);
        *(uint64_t *)tc_stream_user(s) = 0x5eed;
    }
    f->st[f->n_streams++] = s;
}

static void pick_closed(tc_conn *c)
{
    (void)c;
}

static const tc_proto pick_proto = {.name = "pick", .on_read = pick_read, .on_closed = pick_closed};

static void *new_state(tc_conn *c, void *app)
{
    (void)c;
    return app;
}

static fixture *start(uint64_t heartbeat_ms, uint64_t ws_ping_ms, size_t max_queue)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    tc_streams_opts so = {.hooks = &hooks,
                          .hooks_ctx = f,
                          .heartbeat_ms = heartbeat_ms,
                          .ws_ping_ms = ws_ping_ms,
                          .ws_max_message = 1024,
                          .expired_reason = EXPIRED,
                          .follow = follow,
                          .follow_ctx = f};
    f->ss = tc_streams_new(&f->e.loop, &so);
    tc_server_opts o = {.initial_proto = &pick_proto,
                        .new_state = new_state,
                        .app = f,
                        .conn_tail = TC_STREAM_CONN_TAIL,
                        .tail_ctx = f->ss,
                        .max_queue = max_queue};
    tl_server_start(&f->e, o);
    f->next = (tc_stream_params){.table_id = TABLE, .shown_version = -1};
    return f;
}

/* Every stream must be gone (released exactly once) when this is called. */
static void finish(fixture *f)
{
    tl_finish(&f->e, f->cl, N_CLIENTS);
    assert_int_equal(f->frees, f->n_streams);
    assert_int_equal(f->follow_on, f->n_streams);
    assert_int_equal(f->follow_off, f->n_streams);
    const tc_streams_stats *st = tc_streams_stats_of(f->ss);
    assert_int_equal(st->open_sse, 0);
    assert_int_equal(st->open_ws, 0);
    tc_streams_free(f->ss);
    tc_buf_free(&f->text);
    free(f);
}

/* Connects client i, sends its kind and waits for its stream. */
static tc_stream *open_stream(fixture *f, int i, const char *kind)
{
    f->cl[i].close_on_eof = true; /* as a browser would: the server waits for it */
    tl_client_connect(&f->e, &f->cl[i]);
    tl_client_send_str(&f->cl[i], kind);
    TL_RUN_UNTIL(&f->e, f->n_streams == i + 1);
    return f->st[i];
}

/* ===== expected bytes ========================================================== */

static const char *cart_json(int64_t v)
{
    static char buf[8][64];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 64, "{\"tableId\":7,\"version\":%lld}", (long long)v);
    return b;
}

static tc_view jv(const char *s)
{
    return (tc_view){s, strlen(s)};
}

static size_t publish(fixture *f, int32_t table, int64_t v, uint64_t origin)
{
    return tc_streams_publish(f->ss, table, v, jv(cart_json(v)), origin, TS, 0);
}

/* Appends body as one HTTP/1.1 chunk. */
static void chunk(tc_buf *b, const char *body)
{
    char head[32];
    snprintf(head, sizeof head, "%zx\r\n", strlen(body));
    tc_buf_append_str(b, head);
    tc_buf_append_str(b, body);
    tc_buf_append_str(b, "\r\n");
}

#define HELLO "retry:3000\nevent:connected\ndata:" TC_WIRE_CONNECTED_MESSAGE "\n\n"
#define HEARTBEAT "event:heartbeat\ndata:ping\n\n"

static void sse_cart(tc_buf *b, int64_t v, bool chunked)
{
    char ev[160];
    snprintf(ev, sizeof ev, "event:cart_update\nid:%lld\ndata:%s\n\n", (long long)v, cart_json(v));
    if (chunked)
        chunk(b, ev);
    else
        tc_buf_append_str(b, ev);
}

/* Waits until client i received exactly want (and nothing more so far). */
static void expect_bytes(fixture *f, int i, const tc_buf *want)
{
    tl_client *cl = &f->cl[i];
    TL_RUN_UNTIL(&f->e, cl->in.len >= want->len);
    assert_int_equal(cl->in.len, want->len);
    assert_memory_equal(cl->in.base, want->base, want->len);
}

/* A server frame of the client's bytes from *off: its first byte and payload. */
typedef struct {
    unsigned b0;
    const char *payload;
    size_t len;
    size_t end;
} srv_frame;

/* True when a whole frame is there (TL_RUN_UNTIL evaluates it again: it
 * moves nothing; fr->end is where the next frame starts). */
static bool next_frame(tl_client *cl, const size_t *off, srv_frame *fr)
{
    const unsigned char *p = (const unsigned char *)cl->in.base + *off;
    size_t avail = cl->in.len - *off, hl = 2, len;
    if (avail < 2) return false;
    assert_int_equal(p[1] & 0x80, 0); /* a server never masks */
    len = p[1] & 0x7f;
    if (len == 126) {
        if (avail < 4) return false;
        len = (size_t)p[2] << 8 | p[3];
        hl = 4;
    }
    assert_true(len < 126 || (p[1] & 0x7f) == 126);
    if (avail < hl + len) return false;
    fr->b0 = p[0];
    fr->payload = (const char *)p + hl;
    fr->len = len;
    fr->end = *off + hl + len;
    return true;
}

/* Waits for the next frame of client i after *off, moves *off past it and
 * returns it (its payload points into the client's buffer). */
static srv_frame frame_of(fixture *f, int i, size_t *off)
{
    srv_frame fr;
    size_t o = *off;
    TL_RUN_UNTIL(&f->e, next_frame(&f->cl[i], &o, &fr));
    *off = fr.end;
    return fr;
}

/* Waits for the next frame of client i and checks it is a text frame with
 * exactly want. */
static void expect_text(fixture *f, int i, size_t *off, const char *want)
{
    srv_frame fr = frame_of(f, i, off);
    assert_int_equal(fr.b0, 0x81);
    char *got = strndup(fr.payload, fr.len);
    assert_string_equal(got, want);
    free(got);
}

/* Waits for the next frame of client i: a close with code and reason. */
static void expect_close(fixture *f, int i, size_t *off, uint16_t code, const char *reason)
{
    srv_frame fr = frame_of(f, i, off);
    assert_int_equal(fr.b0, 0x88);
    assert_int_equal(fr.len, 2 + strlen(reason));
    assert_int_equal((unsigned char)fr.payload[0] << 8 | (unsigned char)fr.payload[1], code);
    assert_memory_equal(fr.payload + 2, reason, strlen(reason));
}

static char *ws_cart(int64_t v, int64_t ts)
{
    static char b[4][200];
    static int k;
    char *out = b[k++ % 4];
    snprintf(out, 200,
             "{\"type\":\"cart_update\",\"message\":\"%s\",\"data\":%s,\"timestamp\":%lld}",
             TC_WIRE_CART_UPDATE_MESSAGE, cart_json(v), (long long)ts);
    return out;
}

/* The connected message: its timestamp is the clock's, checked for shape. */
static void expect_connected(fixture *f, int i, size_t *off)
{
    srv_frame fr = frame_of(f, i, off);
    assert_int_equal(fr.b0, 0x81);
    const char *head =
        "{\"type\":\"connected\",\"message\":\"" TC_WIRE_CONNECTED_MESSAGE "\",\"data\":null,"
        "\"timestamp\":";
    assert_true(fr.len == strlen(head) + 14);
    assert_memory_equal(fr.payload, head, strlen(head));
    assert_int_equal(fr.payload[fr.len - 1], '}');
}

static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Sends one masked client frame. */
static void client_frame(tl_client *cl, unsigned b0, const void *payload, size_t len)
{
    assert_true(len < 126);
    unsigned char b[140] = {(unsigned char)b0, (unsigned char)(0x80 | len)};
    memcpy(b + 2, mask_key, 4);
    for (size_t i = 0; i < len; i++)
        b[6 + i] = (unsigned char)(((const unsigned char *)payload)[i] ^ mask_key[i % 4]);
    tl_client_send(cl, (const char *)b, 6 + len);
}

static void client_close(tl_client *cl, uint16_t code)
{
    unsigned char p[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    client_frame(cl, 0x88, p, 2);
}

/* ===== SSE ===================================================================== */

static void test_sse_snapshot_then_newer_updates_only(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    tc_stream *s = open_stream(f, 0, "S");
    f->next.table_id = OTHER_TABLE;
    open_stream(f, 1, "S"); /* another table's */
    assert_false(tc_stream_is_ws(s));
    assert_int_equal(tc_stream_table(s), TABLE);
    assert_true(tc_stream_is_open(s));
    assert_true(tc_streams_has_table(f->ss, TABLE));
    assert_false(tc_streams_has_table(f->ss, 9));

    tc_buf want = TC_BUF_INIT;
    chunk(&want, HELLO);
    expect_bytes(f, 0, &want);

    tc_stream_send_cart(s, 3, jv(cart_json(3)), TS); /* the snapshot */
    sse_cart(&want, 3, true);
    tc_stream_send_cart(s, 3, jv(cart_json(3)), TS); /* sent already */
    publish(f, TABLE, 3, 0);                         /* the same version */
    publish(f, TABLE, 2, 0);                         /* older */
    publish(f, OTHER_TABLE, 9, 0);                   /* another table */
    publish(f, TABLE, 4, 0);
    sse_cart(&want, 4, true);
    publish(f, TABLE, 5, tc_stream_conn_id(s)); /* its own change */
    publish(f, TABLE, 6, 0);
    sse_cart(&want, 6, true);
    expect_bytes(f, 0, &want);
    const tc_streams_stats *st = tc_streams_stats_of(f->ss);
    assert_int_equal(st->events_sse, 4); /* 3 here, 1 on the other table */
    assert_int_equal(st->open_sse, 2);
    assert_int_equal(st->open_ws, 0);

    /* The peer goes: released once, its table no longer followed. */
    tl_client_close(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    assert_int_equal(f->follow_off, 1);
    assert_int_equal(st->open_sse, 1);
    assert_false(tc_streams_has_table(f->ss, TABLE));
    assert_int_equal(publish(f, TABLE, 7, 0), 0);
    tc_buf_free(&want);
    finish(f);
}

static void test_sse_http10_and_shutdown_ends(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    tc_stream *s10 = open_stream(f, 0, "H");
    tc_stream *s11 = open_stream(f, 1, "S");
    tc_stream_send_cart(s10, 1, jv(cart_json(1)), TS);
    tc_stream_send_cart(s11, 1, jv(cart_json(1)), TS);
    tc_buf w10 = TC_BUF_INIT, w11 = TC_BUF_INIT;
    tc_buf_append_str(&w10, HELLO);
    sse_cart(&w10, 1, false);
    chunk(&w11, HELLO);
    sse_cart(&w11, 1, true);
    expect_bytes(f, 0, &w10);
    expect_bytes(f, 1, &w11);

    /* Shutdown: the chunked stream gets its last chunk, both are closed. */
    tc_server_shutdown(f->e.srv, 0, NULL, NULL);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof && f->cl[1].eof);
    tc_buf_append_str(&w11, "0\r\n\r\n");
    expect_bytes(f, 0, &w10);
    expect_bytes(f, 1, &w11);
    TL_RUN_UNTIL(&f->e, f->frees == 2);
    tc_buf_free(&w10);
    tc_buf_free(&w11);
    finish(f);
}

static void test_sse_last_event_id(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    f->next.shown_version = 5;
    tc_stream *same = open_stream(f, 0, "S");
    tc_stream *older = open_stream(f, 1, "S");
    f->next.shown_version = 9;
    tc_stream *newer = open_stream(f, 2, "S");

    tc_stream_send_cart(same, 5, jv(cart_json(5)), TS); /* shows it already */
    tc_stream_send_cart(older, 4, jv(cart_json(4)), TS);
    tc_stream_send_cart(newer, 4, jv(cart_json(4)), TS);
    publish(f, TABLE, 5, 0);
    publish(f, TABLE, 6, 0);

    tc_buf w0 = TC_BUF_INIT, w1 = TC_BUF_INIT;
    chunk(&w0, HELLO);
    chunk(&w1, HELLO);
    sse_cart(&w0, 6, true);
    sse_cart(&w1, 4, true);
    sse_cart(&w1, 5, true);
    sse_cart(&w1, 6, true);
    expect_bytes(f, 0, &w0);
    expect_bytes(f, 1, &w1);
    expect_bytes(f, 2, &w1); /* a newer id than any: the same as an older one */
    tc_buf_free(&w0);
    tc_buf_free(&w1);
    finish(f);
}

static void test_sse_heartbeat(void **state)
{
    (void)state;
    fixture *f = start(50, 30000, 0);
    open_stream(f, 0, "S");
    open_stream(f, 1, "H");
    tc_buf w0 = TC_BUF_INIT, w1 = TC_BUF_INIT;
    chunk(&w0, HELLO);
    chunk(&w0, HEARTBEAT);
    tc_buf_append_str(&w1, HELLO HEARTBEAT);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len >= w0.len && f->cl[1].in.len >= w1.len);
    assert_memory_equal(f->cl[0].in.base, w0.base, w0.len);
    assert_memory_equal(f->cl[1].in.base, w1.base, w1.len);
    tc_streams_stop(f->ss);
    tc_buf_free(&w0);
    tc_buf_free(&w1);
    finish(f);
}

static void test_sse_lifetime_ends_stream(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    f->next.lifetime_ms = 100;
    open_stream(f, 0, "S");
    tc_buf w = TC_BUF_INIT;
    chunk(&w, HELLO);
    tc_buf_append_str(&w, "0\r\n\r\n");
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    expect_bytes(f, 0, &w);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    tc_buf_free(&w);
    finish(f);
}

/* A client that does not read keeps only the newest pending cart; when it
 * reads again it gets a well-formed stream ending at the latest. */
static void test_sse_slow_reader_is_conflated(void **state)
{
    (void)state;
    enum { N = 600, BIG = 32 * 1024 };
    fixture *f = start(60000, 30000, 8u << 20);
    f->cl[0].no_read = true;
    tc_stream *s = open_stream(f, 0, "S");
    tc_conn *c = tc_conn_of_tail(s);
    char *json = malloc(BIG);
    for (int64_t v = 1; v <= N; v++) {
        int n = snprintf(json, BIG, "{\"version\":%lld,\"pad\":\"", (long long)v);
        memset(json + n, 'x', (size_t)(BIG - n - 2));
        memcpy(json + BIG - 2, "\"}", 2);
        tc_streams_publish(f->ss, TABLE, v, (tc_view){json, BIG}, 0, TS, 0);
        /* Let the socket take what it will. */
        uv_run(&f->e.loop, UV_RUN_NOWAIT);
    }
    /* Unconflated, the queue would hold ~N carts, minus what the kernel took. */
    assert_true(tc_conn_queued_heap(c) < 4 * BIG);
    assert_false(tc_conn_is_closing(c));
    tl_client_read_start(&f->cl[0]);
    char tail[64];
    snprintf(tail, sizeof tail, "id:%d\ndata:{\"version\":%d,", N, N);
    size_t tail_len = strlen(tail);
    TL_RUN_UNTIL(&f->e, f->cl[0].in.len > BIG + 200 &&
                            memmem(f->cl[0].in.base + f->cl[0].in.len - BIG - 200, BIG + 200, tail,
                                   tail_len) != NULL &&
                            f->cl[0].in.base[f->cl[0].in.len - 1] == '\n');
    /* Parse it: the hello chunk, then whole cart chunks of increasing ids. */
    const char *p = f->cl[0].in.base, *end = p + f->cl[0].in.len;
    int events = 0;
    long last = 0;
    bool first = true;
    while (p < end) {
        char *after;
        unsigned long n = strtoul(p, &after, 16);
        assert_memory_equal(after, "\r\n", 2);
        const char *body = after + 2;
        assert_true(body + n + 2 <= end);
        assert_memory_equal(body + n, "\r\n", 2);
        if (first) {
            assert_int_equal(n, strlen(HELLO));
            assert_memory_equal(body, HELLO, n);
            first = false;
        } else {
            long id = 0;
            assert_int_equal(sscanf(body, "event:cart_update\nid:%ld\n", &id), 1);
            assert_true(id > last);
            char head[80];
            int hn = snprintf(head, sizeof head, "data:{\"version\":%ld,", id);
            assert_non_null(memmem(body, n, head, (size_t)hn));
            last = id;
            events++;
        }
        p = body + n + 2;
    }
    assert_int_equal(last, N);
    assert_true(events < N);
    free(json);
    finish(f);
}

/* ===== WebSocket =============================================================== */

static void test_ws_snapshot_updates_and_replies(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    tc_stream *s = open_stream(f, 0, "W");
    assert_true(tc_stream_is_ws(s));
    assert_true(tc_stream_is_open(s));
    size_t off = 0;
    expect_connected(f, 0, &off);

    tc_stream_send_cart(s, 3, jv(cart_json(3)), TS);
    expect_text(f, 0, &off, ws_cart(3, TS));
    publish(f, TABLE, 3, 0);
    publish(f, TABLE, 2, 0);
    publish(f, TABLE, 4, tc_stream_conn_id(s)); /* its own change */
    publish(f, TABLE, 5, 0);
    expect_text(f, 0, &off, ws_cart(5, TS));

    /* A message reaches the layer above. */
    client_frame(&f->cl[0], 0x81, "hello", 5);
    TL_RUN_UNTIL(&f->e, f->text.len == 6);
    assert_string_equal(tc_buf_cstr(&f->text), "hello|");

    /* An answer carrying the cart of version 7 counts it as sent. */
    assert_false(
        tc_stream_ws_reply(s, "add_item_success", "ok", cart_json(7), strlen(cart_json(7)), 7));
    assert_int_equal(frame_of(f, 0, &off).b0, 0x81);
    publish(f, TABLE, 7, 0);
    /* One older than what was sent: stale, and counted as what it shows. */
    assert_true(tc_stream_ws_reply(s, "x", NULL, cart_json(6), strlen(cart_json(6)), 6));
    frame_of(f, 0, &off);
    publish(f, TABLE, 7, 0); /* must be sent again: the client shows 6 */
    expect_text(f, 0, &off, ws_cart(7, TS));
    assert_int_equal(tc_streams_stats_of(f->ss)->events_ws, 3);

    /* The client closes: echoed, then the connection goes, released once. */
    client_close(&f->cl[0], 1000);
    expect_close(f, 0, &off, 1000, "");
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    assert_int_equal(f->follow_off, 1);
    assert_int_equal(tc_streams_stats_of(f->ss)->open_ws, 0);
    finish(f);
}

static void test_ws_shutdown_1001(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    open_stream(f, 0, "W");
    size_t off = 0;
    expect_connected(f, 0, &off);
    tc_server_shutdown(f->e.srv, 0, NULL, NULL);
    expect_close(f, 0, &off, 1001, "server shutting down");
    client_close(&f->cl[0], 1001);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    finish(f);
}

static void test_ws_lifetime_1008(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    f->next.lifetime_ms = 100;
    open_stream(f, 0, "W");
    size_t off = 0;
    expect_connected(f, 0, &off);
    expect_close(f, 0, &off, 1008, EXPIRED);
    client_close(&f->cl[0], 1008);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    finish(f);
}

static void test_ws_ping_then_silent_peer_dropped(void **state)
{
    (void)state;
    /* A period of 400 ms: a loop held up past the silence limit (2.5
     * periods) before the first ping went out would drop the peer unpinged
     * (seen once at 100 ms, with a load average of 7 on two cores). */
    fixture *f = start(60000, 400, 0);
    open_stream(f, 0, "W");
    size_t off = 0;
    expect_connected(f, 0, &off);
    srv_frame fr = frame_of(f, 0, &off);
    assert_int_equal(fr.b0, 0x89);
    assert_int_equal(fr.len, 0);
    /* Silent for 2.5 periods: dropped, released. */
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err);
    finish(f);
}

/* Bytes waiting unread at the silence limit put it off once (the loop may
 * have been held up: timers run before reads); still unread at the next
 * limit, they keep the peer no longer: a stream that does not read them is
 * dropped. */
static void test_ws_unread_bytes_put_the_silence_off_once(void **state)
{
    (void)state;
    fixture *f = start(60000, 200, 0);
    uint64_t opened = uv_now(&f->e.loop);
    tc_stream *s = open_stream(f, 0, "W");
    size_t off = 0;
    expect_connected(f, 0, &off);
    tc_conn_pause(tc_conn_of_tail(s));
    client_frame(&f->cl[0], 0x81, "late", 4);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    uint64_t took = uv_now(&f->e.loop) - opened;
    /* Two silence limits of 2.5 periods (500 ms, in 32 ms units rounded
     * down), not one. */
    assert_true(took >= 2 * 16 * 32);
    assert_true(took < 2000);
    assert_int_equal(f->text.len, 0); /* never read */
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err);
    finish(f);
}

/* Bytes the client sent right behind its handshake are read after the
 * snapshot was queued, so their answers follow it. */
static void test_ws_early_bytes_after_snapshot(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    f->snap_v = 2;
    tl_client_connect(&f->e, &f->cl[0]);
    unsigned char b[32] = {'W', 0x81, 0x80 | 5};
    memcpy(b + 3, mask_key, 4);
    for (size_t i = 0; i < 5; i++)
        b[7 + i] = (unsigned char)("early"[i] ^ mask_key[i % 4]);
    tl_client_send(&f->cl[0], (const char *)b, 12);
    TL_RUN_UNTIL(&f->e, f->text.len == 6);
    assert_string_equal(tc_buf_cstr(&f->text), "early|");
    size_t off = 0;
    expect_connected(f, 0, &off);
    expect_text(f, 0, &off, ws_cart(2, TS));
    /* Reading goes on. */
    client_frame(&f->cl[0], 0x81, "next", 4);
    TL_RUN_UNTIL(&f->e, f->text.len == 11);
    assert_string_equal(tc_buf_cstr(&f->text), "early|next|");
    finish(f);
}

/* Opens client 0's WebSocket and sends a command the layer above is still
 * answering (f->busy): the command is read, its answer not given yet.
 * *off is past the connected message. */
static tc_stream *ws_answering(fixture *f, size_t *off)
{
    tc_stream *s = open_stream(f, 0, "W");
    expect_connected(f, 0, off);
    f->busy = true;
    client_frame(&f->cl[0], 0x81, "cmd", 3);
    return s;
}

/* The client's close waits, unread, for the answers of what came before
 * it; tc_stream_ws_idle lets it in. */
static void test_ws_close_waits_for_answers(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    size_t off = 0;
    tc_stream *s = ws_answering(f, &off);
    client_close(&f->cl[0], 1000);
    TL_RUN_UNTIL(&f->e, f->text.len == 4);
    /* Something published meanwhile is written: the close is not read yet. */
    publish(f, TABLE, 1, 0);
    expect_text(f, 0, &off, ws_cart(1, TS));
    assert_true(tc_stream_is_open(s));
    assert_false(tc_stream_ws_reply(s, "clear_cart_success", "ok", NULL, 0, -1));
    f->busy = false;
    tc_stream_ws_idle(s);
    assert_int_equal(frame_of(f, 0, &off).b0, 0x81);
    expect_close(f, 0, &off, 1000, "");
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    finish(f);
}

/* While the layer above is full, the messages after the one that filled it
 * wait unread; tc_stream_ws_idle hands them over, in order, and reading
 * goes on. */
static void test_ws_full_holds_the_next_messages(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    size_t off = 0;
    tc_stream *s = ws_answering(f, &off);
    TL_RUN_UNTIL(&f->e, f->text.len == 4);
    f->full = true;
    client_frame(&f->cl[0], 0x81, "a", 1);
    client_frame(&f->cl[0], 0x81, "b", 1);
    /* The loop goes on (a cart published reaches the client), the messages
     * are not handed over. */
    publish(f, TABLE, 1, 0);
    expect_text(f, 0, &off, ws_cart(1, TS));
    assert_string_equal(tc_buf_cstr(&f->text), "cmd|");
    f->busy = f->full = false;
    tc_stream_ws_idle(s);
    TL_RUN_UNTIL(&f->e, f->text.len == 8);
    assert_string_equal(tc_buf_cstr(&f->text), "cmd|a|b|");
    client_frame(&f->cl[0], 0x81, "c", 1);
    TL_RUN_UNTIL(&f->e, f->text.len == 10);
    assert_string_equal(tc_buf_cstr(&f->text), "cmd|a|b|c|");
    finish(f);
}

/* At shutdown a WebSocket still being answered gets its answers, then the
 * 1001. */
static void test_ws_shutdown_waits_for_answers(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    size_t off = 0;
    tc_stream *s = ws_answering(f, &off);
    TL_RUN_UNTIL(&f->e, f->text.len == 4);
    tc_server_shutdown(f->e.srv, 5000, NULL, NULL);
    tc_stream_hold(s);
    /* Give the loop a turn: no close may come before the answer. */
    publish(f, TABLE, 1, 0);
    expect_text(f, 0, &off, ws_cart(1, TS));
    assert_int_equal(f->cl[0].in.len, off);
    char want[200];
    snprintf(want, sizeof want, "{\"type\":\"a\",\"message\":null,\"data\":null,\"timestamp\":");
    assert_false(tc_stream_ws_reply(s, "a", NULL, NULL, 0, -1));
    f->busy = false;
    tc_stream_ws_idle(s);
    tc_stream_release(s);
    srv_frame fr = frame_of(f, 0, &off);
    assert_int_equal(fr.b0, 0x81);
    assert_memory_equal(fr.payload, want, strlen(want));
    expect_close(f, 0, &off, 1001, "server shutting down");
    /* The client's answer completes the handshake: a clean close, not a
     * drop after WS_CLOSE_WAIT_MS of a peer deemed silent. */
    client_close(&f->cl[0], 1001);
    TL_RUN_UNTIL(&f->e, f->cl[0].eof || f->cl[0].read_err);
    assert_int_equal(f->cl[0].read_err, 0);
    assert_true(f->cl[0].eof);
    assert_int_equal(f->cl[0].in.len, off);
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    finish(f);
}

/* A close the layer above asks for (a policy close, a restart's 1012) waits
 * for the peer's answer as long as the server's own closes do: a peer that
 * never answers is dropped after WS_CLOSE_WAIT_MS (2 s), not at its next
 * ping (30 s here). */
static void test_ws_close_unanswered_is_dropped(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    tc_stream *s = open_stream(f, 0, "W");
    tc_stream *r = open_stream(f, 1, "W");
    size_t off = 0, off1 = 0;
    expect_connected(f, 0, &off);
    expect_connected(f, 1, &off1);
    tc_stream_ws_close(s, 1008, "too many commands");
    expect_close(f, 0, &off, 1008, "too many commands");
    assert_false(tc_stream_is_open(s));
    assert_true(tc_stream_is_open(r));
    /* A cart for a socket whose close is sent is not sent, nor counted. */
    uint64_t sent = tc_streams_stats_of(f->ss)->events_ws;
    publish(f, TABLE, 1, 0);
    expect_text(f, 1, &off1, ws_cart(1, TS));
    assert_int_equal(tc_streams_stats_of(f->ss)->events_ws, sent + 1);
    assert_int_equal(tc_streams_restart(f->ss, TABLE, "cart reset, reconnect"), 1);
    expect_close(f, 1, &off1, 1012, "cart reset, reconnect");
    /* Neither client answers. */
    TL_RUN_UNTIL(&f->e, f->frees == 2);
    finish(f);
}

/* A client that does not read what cannot be conflated is closed at the
 * queue cap, counted, and released. */
static void test_slow_client_closed_and_counted(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 256 * 1024);
    f->cl[0].no_read = true;
    open_stream(f, 0, "W");
    char *big = malloc(16 * 1024 + 3);
    big[0] = '"';
    memset(big + 1, 'y', 16 * 1024);
    big[16 * 1024 + 1] = '"';
    big[16 * 1024 + 2] = 0;
    for (int i = 0; i < 2000 && f->frees == 0; i++) {
        tc_streams_send_event(f->ss, TABLE, "presence", NULL, jv(big), TS, false);
        uv_run(&f->e.loop, UV_RUN_NOWAIT);
    }
    TL_RUN_UNTIL(&f->e, f->frees == 1);
    assert_int_equal(tc_streams_stats_of(f->ss)->slow_closed, 1);
    assert_int_equal(tc_streams_stats_of(f->ss)->open_ws, 0);
    free(big);
    finish(f);
}

/* ===== both ==================================================================== */

static void test_restart_ends_the_tables_streams(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    open_stream(f, 0, "S");
    open_stream(f, 1, "W");
    f->next.table_id = OTHER_TABLE;
    open_stream(f, 2, "S");
    size_t off = 0;
    expect_connected(f, 1, &off);
    assert_int_equal(tc_streams_restart(f->ss, TABLE, "cart reset, reconnect"), 2);
    tc_buf w = TC_BUF_INIT;
    chunk(&w, HELLO);
    tc_buf_append_str(&w, "0\r\n\r\n");
    TL_RUN_UNTIL(&f->e, f->cl[0].eof);
    expect_bytes(f, 0, &w);
    expect_close(f, 1, &off, 1012, "cart reset, reconnect");
    client_close(&f->cl[1], 1012);
    TL_RUN_UNTIL(&f->e, f->frees == 2);
    assert_int_equal(tc_streams_restart(f->ss, TABLE, "again"), 0);
    /* The other table's stream goes on. */
    assert_true(tc_stream_is_open(f->st[2]));
    tc_buf_free(&w);
    finish(f);
}

/* Events go out in order with carts. One that every stream gets after its
 * snapshot anyway (presence: after_cart) skips the streams that have had no
 * cart yet; another (menu_update) does not. */
static void test_send_event_in_order(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    open_stream(f, 0, "S");
    tc_stream *ws = open_stream(f, 1, "W");
    size_t off = 0;
    expect_connected(f, 1, &off);
    assert_int_equal(
        tc_streams_send_event(f->ss, TABLE, "menu_update", "menu", jv("{}"), TS, false), 2);
    assert_int_equal(tc_streams_send_event(f->ss, TABLE, "presence", "who", jv("[0]"), TS, true),
                     0);
    publish(f, TABLE, 1, 0);
    assert_int_equal(tc_streams_send_event(f->ss, TABLE, "presence", "who", jv("[1]"), TS, true),
                     2);
    tc_stream_send_event(ws, "menu_update", "menu", jv("{}"), TS);
    tc_buf w = TC_BUF_INIT;
    chunk(&w, HELLO);
    chunk(&w, "event:menu_update\ndata:{}\n\n");
    sse_cart(&w, 1, true);
    chunk(&w, "event:presence\ndata:[1]\n\n");
    expect_bytes(f, 0, &w);
    char menu[200], who[200];
    snprintf(menu, sizeof menu,
             "{\"type\":\"menu_update\",\"message\":\"menu\",\"data\":{},\"timestamp\":%lld}", TS);
    snprintf(who, sizeof who,
             "{\"type\":\"presence\",\"message\":\"who\",\"data\":[1],\"timestamp\":%lld}", TS);
    expect_text(f, 1, &off, menu);
    expect_text(f, 1, &off, ws_cart(1, TS));
    expect_text(f, 1, &off, who);
    expect_text(f, 1, &off, menu);
    tc_buf_free(&w);
    finish(f);
}

/* A hold keeps the stream (not its connection) until it is given back. */
static void test_hold_outlives_the_connection(void **state)
{
    (void)state;
    fixture *f = start(60000, 30000, 0);
    tc_stream *s = open_stream(f, 0, "W");
    size_t off = 0;
    expect_connected(f, 0, &off);
    tc_stream_hold(s);
    tl_client_reset(&f->cl[0]);
    TL_RUN_UNTIL(&f->e, f->follow_off == 1);
    assert_false(tc_stream_is_open(s));
    assert_int_equal(f->frees, 0);
    /* Nothing is written, nothing breaks. */
    tc_stream_send_cart(s, 9, jv(cart_json(9)), TS);
    assert_false(tc_stream_ws_reply(s, "x", NULL, NULL, 0, -1));
    tc_stream_ws_close(s, 1000, "");
    tc_stream_ws_idle(s);
    assert_int_equal(tc_stream_table(s), TABLE);
    tc_stream_release(s);
    assert_int_equal(f->frees, 1);
    finish(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_snapshot_then_newer_updates_only),
        cmocka_unit_test(test_sse_http10_and_shutdown_ends),
        cmocka_unit_test(test_sse_last_event_id),
        cmocka_unit_test(test_sse_heartbeat),
        cmocka_unit_test(test_sse_lifetime_ends_stream),
        cmocka_unit_test(test_sse_slow_reader_is_conflated),
        cmocka_unit_test(test_ws_snapshot_updates_and_replies),
        cmocka_unit_test(test_ws_shutdown_1001),
        cmocka_unit_test(test_ws_lifetime_1008),
        cmocka_unit_test(test_ws_ping_then_silent_peer_dropped),
        cmocka_unit_test(test_ws_unread_bytes_put_the_silence_off_once),
        cmocka_unit_test(test_ws_early_bytes_after_snapshot),
        cmocka_unit_test(test_ws_close_waits_for_answers),
        cmocka_unit_test(test_ws_full_holds_the_next_messages),
        cmocka_unit_test(test_ws_shutdown_waits_for_answers),
        cmocka_unit_test(test_ws_close_unanswered_is_dropped),
        cmocka_unit_test(test_slow_client_closed_and_counted),
        cmocka_unit_test(test_restart_ends_the_tables_streams),
        cmocka_unit_test(test_send_event_in_order),
        cmocka_unit_test(test_hold_outlives_the_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
