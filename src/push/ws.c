/* ws.c — WebSocket sessions over wslay (ws.h says what it promises).
 *
 * Longer than 500 lines on purpose: besides the glue to wslay it holds the
 * guards that must see every frame header before wslay does (pings answered
 * and coalesced here, fragments reassembled into one capped block, declared
 * lengths never allocated up front), and they share the session's state. */
#include "push/ws.h"

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"

#include <openssl/evp.h>
#include <wslay/wslay.h>

#include <stdlib.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* --- handshake values ------------------------------------------------------ */

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int tc_ws_key_valid(const char *key, size_t len)
{
    /* 16 bytes encode to 22 characters and two pads. Like common decoders we
     * ignore the 4 unused bits of the last character. */
    if (key == NULL || len != 24 || key[22] != '=' || key[23] != '=') return TC_EINVAL;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key[i])) return TC_EINVAL;
    return 0;
}

/* OpenSSL 3's SHA-1, fetched once (tc_ws_prepare). A digest named by
 * EVP_sha1() is fetched again at every handshake, and the first one pages in
 * about 2 MB of libcrypto (the provider machinery) in the middle of serving:
 * 100 bytes per connection in an idle benchmark of 19,000 WebSockets. */
static EVP_MD *sha1_md;

static void sha1_accept(const char *key, size_t len, char out[29])
{
    unsigned char in[128], md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (len > sizeof in - (sizeof WS_GUID - 1)) len = sizeof in - (sizeof WS_GUID - 1);
    memcpy(in, key, len);
    memcpy(in + len, WS_GUID, sizeof WS_GUID - 1);
    if (EVP_Digest(in, len + sizeof WS_GUID - 1, md, &md_len, sha1_md, NULL) != 1 || md_len != 20) {
        /* Only an allocation failure inside libcrypto gets here. */
        tc_log_error("ws: SHA-1 failed");
        abort();
    }
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars + NUL */
}

void tc_ws_prepare(void)
{
    if (sha1_md) return;
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
    char out[29];
    /* RFC 6455, section 1.3: the handshake's own example, as a self-test. */
    if (sha1_md) sha1_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    if (sha1_md == NULL || strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0) {
        tc_log_error("ws: OpenSSL has no working SHA-1");
        abort();
    }
}

void tc_ws_release(void)
{
    EVP_MD_free(sha1_md);
    sha1_md = NULL;
}

void tc_ws_accept_key(const char *key, size_t len, char out[29])
{
    tc_ws_prepare();
    sha1_accept(key, len, out);
}

/* The header of an unmasked, unfragmented server frame of opcode carrying
 * len bytes, into head; returns its length. */
static size_t frame_head(unsigned char head[10], unsigned opcode, size_t len)
{
    size_t hn;
    head[0] = (unsigned char)(0x80u | opcode); /* FIN */
    if (len < 126) {
        head[1] = (unsigned char)len;
        hn = 2;
    } else if (len <= 0xffff) {
        head[1] = 126;
        head[2] = (unsigned char)(len >> 8);
        head[3] = (unsigned char)len;
        hn = 4;
    } else {
        uint64_t n = len;
        head[1] = 127;
        for (int i = 0; i < 8; i++)
            head[2 + i] = (unsigned char)(n >> (56 - 8 * i));
        hn = 10;
    }
    return hn;
}

tc_rbuf *tc_ws_text_frame(const char *payload, size_t len)
{
    unsigned char head[10];
    size_t hn = frame_head(head, 0x1, len);
    tc_view parts[] = {{(const char *)head, hn}, {payload, len}};
    return tc_rbuf_concat(parts, 2);
}

void tc_ws_message(tc_buf *out, const char *type, const char *message, const char *data,
                   size_t data_len, int64_t timestamp_ms)
{
    tc_buf_append_str(out, "{\"type\":");
    tc_json_cstr_or_null(out, type);
    tc_buf_append_str(out, ",\"message\":");
    tc_json_cstr_or_null(out, message);
    tc_buf_append_str(out, ",\"data\":");
    tc_json_raw_or_null(out, data, data_len);
    tc_buf_append_str(out, ",\"timestamp\":");
    tc_json_int(out, timestamp_ms);
    tc_buf_append_str(out, "}");
}

/* --- session ----------------------------------------------------------------- */

/* What a session needs only while a frame, a fragmented message or a send
 * is in progress, allocated then and freed as soon as none is (see
 * release_if_idle): wslay's context, where the input stands, the text
 * message being received (all its fragments in one block that never grows
 * past max_message + 1 bytes: wslay buffers nothing, no_buffering), a ping
 * being received and the pong answering the newest complete ping. Zeroed,
 * it is what an idle session would hold. */
typedef struct {
    /* wslay's context (~9.4 KB of buffers). */
    wslay_event_context_ptr ev;
    /* Input of the running tc_ws_feed, handed to wslay by recv_cb. */
    const unsigned char *in;
    size_t in_len;
    /* Where the input stands in the frame sequence: header bytes seen so far
     * of the current frame, or payload bytes still to come. It lets recv_cb
     * hand wslay one frame at a time, so that at a frame boundary wslay holds
     * no unparsed bytes and this state may be dropped. */
    uint64_t payload_left;
    unsigned char hdr[14];
    unsigned char hdr_len;
    unsigned char hdr_total; /* 0 until the first two header bytes are in */
    /* Our own UTF-8 check of a close frame's reason (wslay 1.1.1 checks text
     * messages but not close reasons): payload offset and decoder state. */
    unsigned char close_off;
    unsigned char u8_need;      /* continuation bytes still expected */
    unsigned char u8_lo, u8_hi; /* range of the next continuation byte */
    bool in_close;              /* the frame being received is a close */
    bool in_text;               /* ... a text frame or a continuation */
    /* Pings are ours, not wslay's (which would queue a pong per ping): the
     * frame being received is a ping; a pong is still to be written; the
     * running tc_ws_feed dropped one. */
    bool in_ping, pong_pending, dropped;
    /* The peer's close is next while answers are queued: tc_ws_feed writes
     * them first (wslay would send its echo ahead of them and then drop
     * them); close_let_in: done, the close may go to wslay. */
    bool close_waits, close_let_in;
    /* The peer's close waits for the caller (hold_close): it and the bytes
     * after it, unread until tc_ws_resume. */
    bool close_held;
    tc_buf held;
    bool msg_open; /* a fragmented text message is in progress */
    tc_buf msg;
    unsigned char ping[125], pong[125];
    unsigned char ping_len, pong_len;
} ws_act;

/* One per idle WebSocket, so it keeps only what outlives a frame
 * (docs/memory.md): 32 bytes, then the caller's extra bytes. */
struct tc_ws {
    const tc_ws_callbacks *cb; /* static: the same for every session of a server */
    void *ctx;
    ws_act *a; /* NULL while idle */
    /* Pings answered by a later one (their pong dropped), reads in a row
     * (saturating; over TC_WS_MAX_COALESCED_PINGS the peer is closed). */
    uint16_t pings_dropped;
    uint16_t fail_code;    /* violation found here rather than by wslay */
    uint16_t sent_code;    /* code of our close frame, once close_sent */
    uint8_t busy;          /* nesting depth of public calls */
    bool feeding : 1;      /* inside wslay_event_recv: sends wait for settle */
    bool sending : 1;      /* inside wslay_event_send */
    bool close_queued : 1; /* tc_ws_close called: drop further messages */
    bool close_sent : 1;
    bool finished : 1; /* on_closed called */
    bool doomed : 1;   /* tc_ws_free called from a callback */
};

static ssize_t recv_cb(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *user);
static ssize_t send_cb(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
                       void *user);
static void frame_start_cb(wslay_event_context_ptr ev,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user);
static void frame_chunk_cb(wslay_event_context_ptr ev,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user);
static void frame_end_cb(wslay_event_context_ptr ev, void *user);
static void msg_cb(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user);

static const struct wslay_event_callbacks wslay_cbs = {
    recv_cb, send_cb, NULL, frame_start_cb, frame_chunk_cb, frame_end_cb, msg_cb,
};

static void ensure_ev(tc_ws *ws)
{
    if (ws->a != NULL) return;
    ws->a = tc_xcalloc(1, sizeof *ws->a);
    if (wslay_event_context_server_init(&ws->a->ev, &wslay_cbs, ws) != 0) {
        tc_log_error("ws: out of memory");
        abort();
    }
    wslay_event_config_set_max_recv_msg_length(ws->a->ev, ws->cb->max_message);
    /* wslay would keep a block per fragment and allocate a frame's declared
     * length before its payload arrives: we reassemble into a->msg. */
    wslay_event_config_set_no_buffering(ws->a->ev, 1);
    /* A fresh context must not send a second close (e.g. echo the peer's
     * close answering ours): it learns from us that ours is out. */
    if (ws->close_sent) wslay_event_shutdown_write(ws->a->ev);
}

static void free_act(tc_ws *ws)
{
    if (ws->a == NULL) return;
    wslay_event_context_free(ws->a->ev);
    tc_buf_free(&ws->a->msg);
    tc_buf_free(&ws->a->held);
    free(ws->a);
    ws->a = NULL;
}

/* Drops wslay's context and our buffers when they hold nothing we would
 * lose: no partial frame, no fragmented message, nothing queued to send. */
static void release_if_idle(tc_ws *ws)
{
    ws_act *a = ws->a;
    if (a == NULL) return;
    bool idle =
        ws->finished || (a->hdr_len == 0 && a->payload_left == 0 && !a->msg_open &&
                         !a->pong_pending && !a->close_held && !wslay_event_want_write(a->ev));
    if (idle) free_act(ws);
}

static void destroy(tc_ws *ws)
{
    free_act(ws);
    free(ws);
}

static void enter(tc_ws *ws)
{
    ws->busy++;
}

/* Ends a public call; the outermost one frees a doomed session. Returns rc. */
static int leave(tc_ws *ws, int rc)
{
    if (--ws->busy > 0) return rc;
    if (ws->doomed) {
        destroy(ws);
    } else {
        release_if_idle(ws);
    }
    return rc;
}

/* Queues our close for a violation found here and stops reading. */
static void fail(tc_ws *ws, uint16_t code)
{
    if (ws->fail_code == 0) ws->fail_code = code;
    /* Fails harmlessly (NO_MORE_MSG) when a close is queued or sent already. */
    (void)wslay_event_queue_close(ws->a->ev, code, NULL, 0);
    wslay_event_shutdown_read(ws->a->ev);
}

static void flush(tc_ws *ws)
{
    if (!wslay_event_want_write(ws->a->ev)) return;
    ws->sending = true;
    /* send_cb takes everything, so this only fails when out of memory, in
     * which case wslay has disabled writing: the session will end by timeout. */
    if (wslay_event_send(ws->a->ev) != 0) tc_log_warn("ws: wslay_event_send failed");
    ws->sending = false;
    if (!ws->close_sent && wslay_event_get_close_sent(ws->a->ev)) {
        ws->close_sent = true;
        ws->sent_code = wslay_event_get_status_code_sent(ws->a->ev);
    }
}

static void finish(tc_ws *ws, uint16_t code)
{
    if (ws->finished) return;
    ws->finished = true;
    if (!ws->doomed) ws->cb->on_closed(ws->ctx, code);
}

static int err_of(uint16_t code)
{
    switch (code) {
    case WSLAY_CODE_UNSUPPORTED_DATA:
        return TC_EMEDIA;
    case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
        return TC_EINVAL;
    case WSLAY_CODE_MESSAGE_TOO_BIG:
        return TC_ETOOBIG;
    default:
        return TC_EPROTO;
    }
}

/* Follows the input header by header. Returns how many of the avail bytes at
 * p wslay may read now: the rest of the current header or payload, never past
 * its end. Returns 0 after queueing a 1002 close for a header wslay would
 * reject without a close code (fragmented or over-long control frame, a
 * one-byte close payload, a length not in its shortest form), and 0 with
 * close_waits set when the peer's close is next while answers are queued. */
static size_t track(tc_ws *ws, const unsigned char *p, size_t avail)
{
    if (ws->a->hdr_len == 0 && ws->a->payload_left > 0) {
        size_t n = ws->a->payload_left < avail ? (size_t)ws->a->payload_left : avail;
        ws->a->payload_left -= n;
        return n;
    }
    size_t n = 0;
    if (ws->a->hdr_len == 0 && avail > 0 && (p[0] & 0x0fu) == WSLAY_CONNECTION_CLOSE &&
        !ws->a->close_let_in) {
        if (ws->cb->hold_close && ws->cb->hold_close(ws->ctx)) {
            ws->a->close_held = true;
            return 0;
        }
        if (ws->a->pong_pending || wslay_event_want_write(ws->a->ev)) {
            ws->a->close_waits = true;
            return 0;
        }
    }
    while (n < avail) {
        ws->a->hdr[ws->a->hdr_len++] = p[n++];
        unsigned len7 = ws->a->hdr[1] & 0x7fu, ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        /* The first byte says whether wslay sees this frame at all. */
        if (ws->a->hdr_len == 1) ws->a->in_ping = (ws->a->hdr[0] & 0x0fu) == WSLAY_PING;
        if (ws->a->hdr_len == 2) {
            unsigned op = ws->a->hdr[0] & 0x0fu, fin = ws->a->hdr[0] & 0x80u;
            /* For a ping, also what wslay would check: reserved bits, mask. */
            bool bad_ping = ws->a->in_ping && ((ws->a->hdr[0] & 0x70u) || !(ws->a->hdr[1] & 0x80u));
            if (bad_ping || ((op & 0x8u) &&
                             (!fin || len7 > 125 || (op == WSLAY_CONNECTION_CLOSE && len7 == 1)))) {
                fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
                return 0;
            }
            ws->a->hdr_total = (unsigned char)(2 + ext + ((ws->a->hdr[1] & 0x80u) ? 4 : 0));
            ws->a->payload_left = len7;
        }
        if (ws->a->hdr_len < 2) continue;
        if (ext > 0 && ws->a->hdr_len == 2 + ext) {
            /* Checked before wslay sees the last length byte: it would close
             * without a code. */
            uint64_t plen = 0;
            for (unsigned i = 0; i < ext; i++)
                plen = plen << 8 | ws->a->hdr[2 + i];
            if ((ext == 2 && plen < 126) || (ext == 8 && (plen <= 0xffff || plen >> 63 != 0))) {
                fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
                return 0;
            }
            ws->a->payload_left = plen;
        }
        if (ws->a->hdr_len < ws->a->hdr_total) continue;
        ws->a->hdr_len = ws->a->hdr_total = 0;
        break; /* let wslay take the header before any payload */
    }
    return n;
}

/* Takes n bytes of a ping frame that track() just passed (payload bytes when
 * payload is set, else header bytes); at its end the ping's payload becomes
 * the pending pong, replacing an older one (RFC 6455 5.5.3 lets a pong
 * answer only the most recent ping). */
static void take_ping(tc_ws *ws, const unsigned char *p, size_t n, bool payload)
{
    ws_act *k = ws->a;
    if (!payload) {
        if (ws->a->hdr_len > 0) return; /* the header is not complete yet */
        k->ping_len = 0;
    }
    for (size_t i = 0; payload && i < n; i++, k->ping_len++)
        k->ping[k->ping_len] = p[i] ^ ws->a->hdr[2 + k->ping_len % 4]; /* no extended length */
    if (ws->a->payload_left > 0) return;
    memcpy(k->pong, k->ping, k->ping_len);
    k->pong_len = k->ping_len;
    if (ws->a->pong_pending) {
        if (ws->pings_dropped < UINT16_MAX) ws->pings_dropped++;
        ws->a->dropped = true;
    }
    ws->a->pong_pending = true;
    ws->a->in_ping = false;
}

static ssize_t recv_cb(wslay_event_context_ptr ev, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    tc_ws *ws = user;
    size_t n = 0;
    while (ws->a->in_len > 0 && ws->fail_code == 0 && !ws->doomed && !ws->a->close_held) {
        bool payload = ws->a->hdr_len == 0 && ws->a->payload_left > 0;
        n = track(ws, ws->a->in, ws->a->in_len < len ? ws->a->in_len : len);
        if (n == 0 || !ws->a->in_ping) break;
        take_ping(ws, ws->a->in, n, payload);
        ws->a->in += n;
        ws->a->in_len -= n;
        n = 0;
    }
    if (n == 0) {
        wslay_event_set_error(ev, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, ws->a->in, n);
    ws->a->in += n;
    ws->a->in_len -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ev, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)ev;
    (void)flags;
    tc_ws *ws = user;
    if (!ws->doomed) ws->cb->write(ws->ctx, (const char *)data, len);
    return (ssize_t)len;
}

static void frame_start_cb(wslay_event_context_ptr ev,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user)
{
    (void)ev;
    tc_ws *ws = user;
    ws->a->in_close = arg->opcode == WSLAY_CONNECTION_CLOSE;
    if (ws->a->in_close) {
        ws->a->close_off = 0;
        ws->a->u8_need = 0;
    }
    if (wslay_is_ctrl_frame(arg->opcode)) return;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        /* Refused at its first frame, before wslay buffers any of it. */
        fail(ws, WSLAY_CODE_UNSUPPORTED_DATA);
        return;
    }
    ws->a->msg_open = !arg->fin;
    tc_buf *msg = &ws->a->msg;
    if (arg->opcode == WSLAY_TEXT_FRAME) tc_buf_reset(msg);
    /* wslay checks each frame's length; the message's is ours. Nothing is
     * allocated for the frame until its payload arrives. */
    if (msg->len + arg->payload_length > ws->cb->max_message) {
        fail(ws, WSLAY_CODE_MESSAGE_TOO_BIG);
        return;
    }
    ws->a->in_text = true;
}

/* One step of a strict UTF-8 decoder (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). Returns false on an invalid byte. */
static bool utf8_step(tc_ws *ws, unsigned char c)
{
    if (ws->a->u8_need > 0) {
        if (c < ws->a->u8_lo || c > ws->a->u8_hi) return false;
        ws->a->u8_need--;
        ws->a->u8_lo = 0x80;
        ws->a->u8_hi = 0xbf;
        return true;
    }
    ws->a->u8_lo = 0x80;
    ws->a->u8_hi = 0xbf;
    if (c < 0x80) return true;
    if (c >= 0xc2 && c <= 0xdf) {
        ws->a->u8_need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        ws->a->u8_need = 2;
        if (c == 0xe0) ws->a->u8_lo = 0xa0;
        if (c == 0xed) ws->a->u8_hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        ws->a->u8_need = 3;
        if (c == 0xf0) ws->a->u8_lo = 0x90;
        if (c == 0xf4) ws->a->u8_hi = 0x8f;
    } else {
        return false;
    }
    return true;
}

static void frame_chunk_cb(wslay_event_context_ptr ev,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *user)
{
    (void)ev;
    tc_ws *ws = user;
    if (ws->a->in_text && ws->fail_code == 0) {
        tc_buf *msg = &ws->a->msg;
        tc_buf_reserve_upto(msg, arg->data_length, ws->cb->max_message);
        tc_buf_append(msg, arg->data, arg->data_length);
        return;
    }
    if (!ws->a->in_close) return;
    for (size_t i = 0; i < arg->data_length; i++) {
        /* the first two bytes are the code; the reason follows (<= 123 bytes) */
        if (ws->a->close_off < 2) {
            ws->a->close_off++;
        } else if (!utf8_step(ws, arg->data[i])) {
            ws->a->in_close = false;
            fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
            return;
        }
    }
}

static void frame_end_cb(wslay_event_context_ptr ev, void *user)
{
    (void)ev;
    tc_ws *ws = user;
    if (ws->a->in_close && ws->a->u8_need > 0) fail(ws, WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA);
    ws->a->in_close = false;
    ws->a->in_text = false;
}

static void msg_cb(wslay_event_context_ptr ev, const struct wslay_event_on_msg_recv_arg *arg,
                   void *user)
{
    (void)ev;
    tc_ws *ws = user;
    if (arg->opcode != WSLAY_TEXT_FRAME) return; /* pong, close: wslay answers */
    tc_buf *msg = &ws->a->msg;
    if (!(ws->fail_code || ws->close_queued || ws->close_sent || ws->doomed))
        ws->cb->on_text(ws->ctx, msg->base ? msg->base : "", msg->len);
    /* on_text may have doomed the session: it is freed later, by leave(). */
    tc_buf_free(msg);
}

tc_ws *tc_ws_new(const tc_ws_callbacks *cb, void *ctx, size_t extra)
{
    tc_ws *ws = tc_xcalloc(1, sizeof *ws + extra);
    ws->cb = cb;
    ws->ctx = ctx;
    return ws;
}

void *tc_ws_extra(tc_ws *ws)
{
    return ws + 1;
}

void tc_ws_free(tc_ws *ws)
{
    if (ws == NULL) return;
    if (ws->busy > 0) {
        ws->doomed = true;
        return;
    }
    destroy(ws);
}

/* One pong per read at most, answering its newest ping; a peer that keeps
 * making us drop answers is flooding and is closed with 1008. */
static void answer_pings(tc_ws *ws)
{
    if (!ws->a->dropped) ws->pings_dropped = 0;
    ws->a->dropped = false;
    if (ws->pings_dropped > TC_WS_MAX_COALESCED_PINGS && ws->fail_code == 0)
        fail(ws, WSLAY_CODE_POLICY_VIOLATION);
    if (!ws->a->pong_pending) return;
    ws->a->pong_pending = false;
    if (ws->fail_code || ws->close_queued || ws->close_sent) return;
    struct wslay_event_msg m = {WSLAY_PONG, ws->a->pong, ws->a->pong_len};
    /* Fails harmlessly (NO_MORE_MSG) once the peer's close was echoed. */
    (void)wslay_event_queue_msg(ws->a->ev, &m);
}

/* After wslay_event_recv: writes what is queued, then ends the session if a
 * close arrived or a violation stopped reading. Returns tc_ws_feed's result. */
static int settle(tc_ws *ws)
{
    bool ours_first = ws->close_sent || ws->close_queued;
    answer_pings(ws);
    flush(ws);
    /* A bad close reason still counts as a received close for wslay. */
    if (wslay_event_get_close_received(ws->a->ev) && ws->fail_code == 0) {
        finish(ws, ours_first ? ws->sent_code : wslay_event_get_status_code_received(ws->a->ev));
        return 0;
    }
    if (wslay_event_get_read_enabled(ws->a->ev)) return 0;
    /* Reading stopped without a close: a violation, ours or wslay's. */
    uint16_t code = ws->fail_code;
    if (code == 0) code = (!ours_first && ws->close_sent) ? ws->sent_code : 1002;
    finish(ws, ws->close_sent ? ws->sent_code : code);
    return err_of(code);
}

int tc_ws_feed(tc_ws *ws, const char *data, size_t len)
{
    if (ws->finished || ws->doomed) return TC_ECLOSED;
    if (len == 0) return 0;
    if (ws->a && ws->a->close_held) {
        /* After the held close: kept behind it. */
        tc_buf_append(&ws->a->held, data, len);
        return 0;
    }
    enter(ws);
    ensure_ev(ws);
    ws->a->in = (const unsigned char *)data;
    ws->a->in_len = len;
    ws->feeding = true;
    int r = 0;
    while (ws->a->in_len > 0 && !ws->doomed && wslay_event_get_read_enabled(ws->a->ev)) {
        size_t before = ws->a->in_len;
        /* recv_cb hands out one header or payload at a time and wslay stops
         * at the first short read, so it takes several rounds. */
        r = wslay_event_recv(ws->a->ev);
        if (r != 0) break;
        if (ws->a->close_held) {
            /* The close and what follows wait for tc_ws_resume. */
            tc_buf_append(&ws->a->held, (const char *)ws->a->in, ws->a->in_len);
            ws->a->in_len = 0;
            break;
        }
        if (ws->a->close_waits) {
            /* What came before the peer's close is answered before its
             * echo (RFC 6455 5.5.2: a ping before a close is owed its pong). */
            ws->a->close_waits = false;
            ws->a->close_let_in = true;
            answer_pings(ws);
            flush(ws);
            continue;
        }
        if (ws->a->in_len == before && ws->fail_code == 0 &&
            wslay_event_get_read_enabled(ws->a->ev)) {
            /* Never seen: wslay wanted no input although it has some. Stop
             * rather than drop bytes or spin. */
            tc_log_error("ws: wslay made no progress");
            fail(ws, WSLAY_CODE_INTERNAL_SERVER_ERROR);
        }
        if (ws->a->in_len == before) break;
    }
    ws->feeding = false;
    ws->a->in = NULL;
    ws->a->in_len = 0;
    if (r != 0) {
        /* Out of memory, or a header wslay refused that track() let through:
         * wslay queued a code-less close and stopped reading. */
        tc_log_warn("ws: wslay_event_recv failed (%d)", r);
        fail(ws, WSLAY_CODE_PROTOCOL_ERROR);
    }
    int rc = ws->doomed ? TC_ECLOSED : settle(ws);
    return leave(ws, rc);
}

bool tc_ws_close_held(const tc_ws *ws)
{
    return ws->a != NULL && ws->a->close_held;
}

int tc_ws_resume(tc_ws *ws)
{
    if (!tc_ws_close_held(ws)) return 0;
    tc_buf held = ws->a->held;
    ws->a->held = (tc_buf)TC_BUF_INIT;
    ws->a->close_held = false;
    int rc = tc_ws_feed(ws, held.base, held.len);
    tc_buf_free(&held);
    return rc;
}

static int queue_and_flush(tc_ws *ws, uint8_t opcode, const char *data, size_t len)
{
    if (ws->finished || ws->doomed || ws->close_queued || ws->close_sent) return TC_ECLOSED;
    if (ws->a == NULL) {
        /* Idle: nothing of ours is queued or half-written, so the frame goes
         * out as wslay would write it, without its ~9.4 KB context (which,
         * made and freed for every socket's first message, would leave the
         * heap fragmented). */
        unsigned char head[10];
        size_t hn = frame_head(head, opcode, len);
        enter(ws);
        ws->cb->write(ws->ctx, (const char *)head, hn);
        if (len && !ws->doomed) ws->cb->write(ws->ctx, data, len);
        return leave(ws, 0);
    }
    enter(ws);
    ensure_ev(ws);
    struct wslay_event_msg m = {opcode, (const uint8_t *)data, len};
    int rc = wslay_event_queue_msg(ws->a->ev, &m) == 0 ? 0 : TC_ECLOSED;
    if (rc == 0 && !ws->feeding) flush(ws);
    return leave(ws, rc);
}

int tc_ws_send_text(tc_ws *ws, const char *data, size_t len)
{
    return queue_and_flush(ws, WSLAY_TEXT_FRAME, data, len);
}

int tc_ws_send_ping(tc_ws *ws)
{
    return queue_and_flush(ws, WSLAY_PING, NULL, 0);
}

int tc_ws_close(tc_ws *ws, uint16_t code, const char *reason)
{
    if (ws->finished || ws->doomed || ws->close_queued || ws->close_sent) return TC_ECLOSED;
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) return TC_EINVAL;
    enter(ws);
    ensure_ev(ws);
    int rc = TC_ECLOSED;
    if (wslay_event_queue_close(ws->a->ev, code, (const uint8_t *)reason, rlen) == 0) {
        ws->close_queued = true;
        rc = 0;
        if (!ws->feeding) flush(ws);
    }
    return leave(ws, rc);
}

bool tc_ws_can_inject(const tc_ws *ws)
{
    if (ws->finished || ws->close_queued || ws->close_sent || ws->sending) return false;
    return ws->a == NULL || !wslay_event_want_write(ws->a->ev);
}

bool tc_ws_close_sent(const tc_ws *ws)
{
    return ws->close_sent;
}
