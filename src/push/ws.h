/* ws.h — WebSocket (RFC 6455) handshake values, the server's frames and
 * message envelope, and server session glue over wslay, I/O-free: bytes
 * read from the socket go in through tc_ws_feed, bytes for the socket come
 * out through the write callback.
 *
 * wslay does the input framing and its checks (masking, reserved bits and
 * opcodes, fragmentation order, UTF-8 of text messages, frame size, close
 * codes, close echo). This module adds what wslay 1.1.1 leaves out: 1003 for
 * binary messages, 1007 for a close reason that is not UTF-8, 1002 (instead
 * of a close without a code) for malformed headers. It keeps wslay's ~8.5 KB
 * context only while a frame, a fragmented message or a send is in progress,
 * so an idle session costs 32 bytes.
 *
 * Memory a peer can make it hold is bounded whatever it sends: wslay runs
 * with no_buffering (it would keep a block per fragment and allocate a
 * frame's declared length up front); a text message is reassembled here into
 * one block that grows only as payload arrives and never past max_message + 1
 * bytes. Pings are answered here, not by wslay (which queues a pong per ping):
 * at most one pong per tc_ws_feed, for the newest ping (RFC 6455 5.5.3). */
#ifndef TC_PUSH_WS_H
#define TC_PUSH_WS_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Checks a Sec-WebSocket-Key header value (len bytes, no surrounding
 * whitespace): base64 of exactly 16 bytes, i.e. 22 base64 alphabet characters
 * then "==". Returns 0 when valid, TC_EINVAL otherwise. */
int tc_ws_key_valid(const char *key, size_t len);

/* Readies the handshake's SHA-1 (fetched from OpenSSL once and checked
 * against RFC 6455's example); aborts when OpenSSL has none. Call before
 * serving, so that the first handshake costs no more than the others;
 * tc_ws_accept_key calls it too. Idempotent. Loop thread only. */
void tc_ws_prepare(void);

/* Releases what tc_ws_prepare fetched. */
void tc_ws_release(void);

/* Writes the Sec-WebSocket-Accept value for key (len bytes, a valid key:
 * tc_ws_key_valid): base64 of the SHA-1 of key + the RFC 6455 GUID. out
 * receives 28 characters and a NUL. */
void tc_ws_accept_key(const char *key, size_t len, char out[29]);

/* Encodes one server-to-client text frame (FIN, opcode 1, unmasked) carrying
 * payload (len bytes, UTF-8; NULL allowed when len is 0), for writing the same
 * bytes to many sessions. Returns a new buffer with one reference, owned by
 * the caller (tc_rbuf_unref). Never fails (out of memory aborts). */
tc_rbuf *tc_ws_text_frame(const char *payload, size_t len);

/* Appends a WebSocket server message {"type":..,"message":..,"data":..,
 * "timestamp":..} (SPEC §5's envelope; type and message NULL for null) to
 * out: the payload of such a text frame. data is raw JSON, data_len bytes,
 * or NULL for null. */
void tc_ws_message(tc_buf *out, const char *type, const char *message, const char *data,
                   size_t data_len, int64_t timestamp_ms);

/* A peer whose pings we answer only in part (one pong per read, for the
 * newest ping) more than this many times in a row, read after read, is
 * flooding: closed with 1008. A read carrying one ping or none resets it. */
#define TC_WS_MAX_COALESCED_PINGS 1000

/* One server-side WebSocket session. Opaque. */
typedef struct tc_ws tc_ws;

/* What a session calls back, and its limit: the same for every session of a
 * server, so a session keeps only a pointer to it (it must outlive them). */
typedef struct {
    /* Bytes to put on the wire, in order. data is only valid during the call:
     * copy it. A frame may arrive in several calls (header, then payload). */
    void (*write)(void *ctx, const char *data, size_t len);
    /* A complete text message: all fragments reassembled, UTF-8 validated.
     * data (len bytes, not NUL-terminated) is only valid during the call. */
    void (*on_text)(void *ctx, const char *data, size_t len);
    /* The session is over, called exactly once: the peer's close arrived
     * (echoed already), or the peer's close answered ours, or a protocol
     * violation closed it (our close frame written already). code is the code
     * received for a peer-initiated close (1005 when it carried none), else
     * the code we sent. After it, the caller closes the socket. */
    void (*on_closed)(void *ctx, uint16_t code);
    /* Bounds a received message (all its fragments together); bigger closes
     * with 1009. */
    size_t max_message;
    /* May be NULL. Asked when the peer's close is next: true while answers to
     * messages already delivered are still to come. The close and what
     * follows it are then kept, unread (tc_ws_close_held), until
     * tc_ws_resume, so that those answers go out before its echo. */
    bool (*hold_close)(void *ctx);
} tc_ws_callbacks;

/* New session after the 101 answer went out. cb (all callbacks required) is
 * kept, not copied; ctx is passed back to every callback. extra bytes,
 * zeroed, are allocated with the session for the caller (tc_ws_extra): one
 * heap block instead of two. Returns the session, owned by the caller
 * (tc_ws_free, which frees the extra bytes too). Never fails (out of memory
 * aborts). */
tc_ws *tc_ws_new(const tc_ws_callbacks *cb, void *ctx, size_t extra);
/* The extra bytes asked for at tc_ws_new, 16-byte aligned. */
void *tc_ws_extra(tc_ws *ws);

/* Frees the session without writing anything (send a close first if the
 * peer should get one). NULL is fine. Called from inside one of the
 * session's own callbacks, it makes the session stop calling back and frees
 * it when the running tc_ws_* call returns. */
void tc_ws_free(tc_ws *ws);

/* Feeds len bytes read from the socket, split anywhere (one byte at a time is
 * fine); data is not kept after the call. Produces on_text for each complete
 * text message, writes pongs, and writes the close frame answering a peer's
 * close or a protocol violation (1002 unmasked frame, reserved bits, unknown
 * opcode, bad fragmentation or control frame, bad close payload; 1003 binary
 * message; 1007 invalid UTF-8; 1009 message over max_message) followed by
 * on_closed. Messages arriving after our close was queued are dropped. Bytes
 * queued by callbacks (tc_ws_send_text from on_text) go out before it returns,
 * with one pong answering the newest complete ping of data, if any (several
 * pings in one feed get one pong; see TC_WS_MAX_COALESCED_PINGS, 1008).
 * Returns 0 (also when the peer closed cleanly); after a violation, TC_EPROTO
 * (1002, 1008), TC_EMEDIA (1003), TC_EINVAL (1007) or TC_ETOOBIG (1009); TC_ECLOSED
 * when the session was already over (data ignored) or was freed by one of its
 * callbacks during this call (ws is gone then). */
int tc_ws_feed(tc_ws *ws, const char *data, size_t len);

/* True while the peer's close waits for hold_close: the caller should stop
 * reading and call tc_ws_resume once its answers are out. */
bool tc_ws_close_held(const tc_ws *ws);
/* Reads the held close (and what came after it) as tc_ws_feed would, unless
 * hold_close still says to wait. Returns tc_ws_feed's result (0 when nothing
 * was held). */
int tc_ws_resume(tc_ws *ws);

/* Queues one unfragmented text message (len bytes of UTF-8, copied) and
 * writes it (from inside tc_ws_feed's callbacks: before tc_ws_feed returns).
 * Returns 0, or TC_ECLOSED once a close was queued or the session is over. */
int tc_ws_send_text(tc_ws *ws, const char *data, size_t len);

/* Same for an empty ping (the peer's pong arrives through tc_ws_feed, with no
 * callback: any input counts as liveness for the caller). */
int tc_ws_send_ping(tc_ws *ws);

/* Starts the close handshake: writes a close frame with code (0: no code and
 * no reason) and reason (NUL-terminated UTF-8 up to 123 bytes, NULL for
 * none). on_closed(code) follows when the peer's close arrives through
 * tc_ws_feed; the caller should bound that wait with a timer. Returns 0,
 * TC_EINVAL for a too-long reason, TC_ECLOSED when a close was already queued
 * or the session is over. */
int tc_ws_close(tc_ws *ws, uint16_t code, const char *reason);

/* True when the caller may write a pre-encoded shared frame
 * (tc_ws_text_frame) directly on the socket now: none of the session's own
 * frames is queued or half-written, and no close has been queued. */
bool tc_ws_can_inject(const tc_ws *ws);

/* True once our close frame has been written (by tc_ws_close, a violation or
 * the echo of the peer's close). */
bool tc_ws_close_sent(const tc_ws *ws);

#endif
