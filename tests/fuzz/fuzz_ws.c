/* fuzz_ws.c — libFuzzer driver for the WebSocket session (tc_ws_feed).
 *
 * Input: one mode byte, one max-message byte, then the bytes "from the
 * client", fed in chunks whose size comes from the mode byte (0: one byte at
 * a time). The mode also makes on_text echo the message, free the session
 * from inside the callback, send a ping first, or start a close after the
 * first chunk, so the send and teardown paths run too.
 *
 * Output is not kept, but it is checked: everything the session writes must
 * be well-formed server frames (FIN, unmasked, opcode text/close/ping/pong,
 * control payloads <= 125, a valid close code), nothing after our close
 * frame, on_closed at most once and no on_text after it. */
#include "core/err.h"
#include "push/ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tc_ws *ws;
    unsigned mode;
    int texts;
    int closed;
    bool freed;
    tc_buf out;
} state;

static void on_write(void *ctx, const char *data, size_t len)
{
    state *s = ctx;
    tc_buf_append(&s->out, data, len);
}

static void on_text(void *ctx, const char *data, size_t len)
{
    state *s = ctx;
    if (s->closed) {
        fprintf(stderr, "on_text after on_closed\n");
        abort();
    }
    s->texts++;
    if (s->mode & 1) tc_ws_send_text(s->ws, data, len);
    if ((s->mode & 2) && s->texts == 2) {
        tc_ws_free(s->ws);
        s->freed = true;
    }
}

static void on_closed(void *ctx, uint16_t code)
{
    state *s = ctx;
    (void)code;
    if (s->closed++) {
        fprintf(stderr, "on_closed twice\n");
        abort();
    }
}

static bool valid_close_code(unsigned code)
{
    if (code >= 3000 && code <= 4999) return true;
    return code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006;
}

/* Checks the server's output stream frame by frame. */
static void check_output(const tc_buf *b)
{
    const unsigned char *p = (const unsigned char *)b->base;
    size_t i = 0, n = b->len;
    bool closed = false;
    while (i < n) {
        if (closed) {
            fprintf(stderr, "bytes after our close frame\n");
            abort();
        }
        if (n - i < 2) abort(); /* a truncated header */
        unsigned b0 = p[i], b1 = p[i + 1];
        unsigned op = b0 & 0x0f;
        if ((b0 & 0xf0) != 0x80 || (b1 & 0x80)) {
            fprintf(stderr, "bad server frame header %02x %02x\n", b0, b1);
            abort();
        }
        if (op != 1 && op != 8 && op != 9 && op != 10) {
            fprintf(stderr, "bad opcode %u\n", op);
            abort();
        }
        size_t len = b1 & 0x7f, hn = 2;
        if (len == 126) {
            if (n - i < 4) abort();
            len = (size_t)p[i + 2] << 8 | p[i + 3];
            hn = 4;
        } else if (len == 127) {
            if (n - i < 10) abort();
            len = 0;
            for (int k = 0; k < 8; k++)
                len = len << 8 | p[i + 2 + k];
            hn = 10;
        }
        if (op >= 8 && len > 125) abort();
        if (n - i - hn < len) {
            fprintf(stderr, "truncated frame payload\n");
            abort();
        }
        if (op == 8) {
            if (len == 1) abort();
            if (len >= 2) {
                unsigned code = (unsigned)p[i + hn] << 8 | p[i + hn + 1];
                if (!valid_close_code(code)) {
                    fprintf(stderr, "invalid close code %u sent\n", code);
                    abort();
                }
            }
            closed = true;
        }
        i += hn + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    state s;
    memset(&s, 0, sizeof s);
    s.mode = data[0];
    size_t max_message = 16 + (size_t)data[1] * 4;
    const char *d = (const char *)data + 2;
    size_t n = size - 2;
    size_t chunk = (s.mode >> 4) ? (size_t)(s.mode >> 4) * 7 : 1;

    tc_ws_callbacks cb = {on_write, on_text, on_closed, max_message, NULL};
    s.ws = tc_ws_new(&cb, &s, 0);
    if (s.mode & 4) tc_ws_send_ping(s.ws);
    bool over = false;
    for (size_t off = 0; off < n && !over;) {
        size_t k = n - off < chunk ? n - off : chunk;
        int rc = tc_ws_feed(s.ws, d + off, k);
        off += k;
        if (s.freed) {
            if (rc != TC_ECLOSED) abort();
            break;
        }
        if (rc == TC_ECLOSED || s.closed) over = true;
        if (rc != 0 && rc != TC_ECLOSED && rc != TC_EPROTO && rc != TC_EMEDIA && rc != TC_EINVAL &&
            rc != TC_ETOOBIG)
            abort();
        if (rc != 0 && rc != TC_ECLOSED && !s.closed) {
            fprintf(stderr, "violation %d without on_closed\n", rc);
            abort();
        }
        if ((s.mode & 8) && off == k) tc_ws_close(s.ws, 1000, "bye");
    }
    if (!s.freed) {
        /* A finished session takes nothing more. */
        if (s.closed && tc_ws_feed(s.ws, "\x81\x80\0\0\0\0", 6) != TC_ECLOSED) abort();
        tc_ws_free(s.ws);
    }
    check_output(&s.out);
    tc_buf_free(&s.out);
    return 0;
}
