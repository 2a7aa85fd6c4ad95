/* sse.h — Server-Sent Events framing, I/O-free.
 *
 * An event is encoded once into a refcounted buffer and shared by every
 * subscriber of a table. The buffer holds the event wrapped as one HTTP/1.1
 * chunk ("<hex len>\r\n" event "\r\n"), so a chunked stream writes all of it
 * and an HTTP/1.0 (close-delimited) stream writes only the event itself,
 * [body_off, body_off + body_len). */
#ifndef TC_PUSH_SSE_H
#define TC_PUSH_SSE_H

#include "core/buf.h"

#include <stddef.h>

/* One encoded event. buf holds one reference (the frame's own); body_off and
 * body_len locate the event bytes inside buf->data. */
typedef struct {
    tc_rbuf *buf;
    size_t body_off;
    size_t body_len;
} tc_sse_frame;

/* Encodes one event, each field with no space after its colon, as Spring's
 * SseEmitter (the original service) writes them:
 *   "retry:N\n"       only when retry >= 0 (sent once, on the first event)
 *   "event:NAME\n"    only when event is not NULL
 *   "id:ID\n"         only when id is not NULL
 *   "data:LINE\n"     once per line of data ("data: LINE\n" when LINE begins
 *                     with a space, so that a parser keeps it); "\n", "\r\n"
 *                     and a lone "\r" all end a line, so data = "a\nb\r\nc"
 *                     gives three data: lines and empty data gives one empty
 *                     data: line
 *   "\n"              end of event
 * event and id must not contain CR, LF or NUL nor begin with a space (they are
 * our own constants and versions); data (len bytes, NULL allowed when len is 0) is copied.
 * Returns the frame; the caller owns its reference and gives it back with
 * tc_sse_frame_release (take more with tc_rbuf_ref(frame.buf)). Never fails
 * (out of memory aborts). */
tc_sse_frame tc_sse_frame_new(const char *event, const char *id, const char *data, size_t len,
                              int retry);

/* Drops the frame's reference to its buffer (frees it when it was the last)
 * and clears f. Safe on an already released frame. */
void tc_sse_frame_release(tc_sse_frame *f);

/* The terminating chunk "0\r\n\r\n" of a chunked stream, as a view of static
 * bytes (never freed). */
tc_view tc_sse_last_chunk(void);

#endif
