/* ws_cmd.h — the WebSocket commands of SPEC §5: a client's message is read
 * by the one command reader (api/command), applied through ops as whoever
 * opened the socket, and answered TYPE_success with the cart or error. */
#ifndef TC_API_WS_CMD_H
#define TC_API_WS_CMD_H

#include "api/app.h"
#include "cart/cart.h"
#include "core/text.h"
#include "push/stream.h"

/* A client's state for its commands, kept in its stream's block
 * (tc_stream_user, TC_WS_CMD_CLIENT_SIZE bytes): the identity the socket
 * was opened with, its token's expiry and the language of its error
 * messages (the upgrade request's Accept-Language), what it was refused in
 * a row, the answers held back. */
#define TC_WS_CMD_CLIENT_SIZE 32

/* The reason of the 1008 close of a socket whose token expired. */
#define TC_WS_CMD_EXPIRED_REASON "token expired"
/* The reason of the 1012 close of every socket of a table whose stored cart
 * went back to an older version (the store lost it): reconnect and read it. */
#define TC_WS_CART_RESET_REASON "cart reset, reconnect"

/* Fills the zeroed client at mem (who->phone copied). expires_s: the
 * token's exp, epoch seconds (INT64_MAX: none); a message that arrives at
 * or after it is not carried out: the socket is closed with 1008 and
 * TC_WS_CMD_EXPIRED_REASON (the stream's own lifetime end, rounded up to
 * its timer's resolution, closes it the same way). */
void tc_ws_cmd_client_init(void *mem, const tc_identity *who, int64_t expires_s, tc_lang lang);
/* The identity of the client at mem; its phone is not set. */
tc_identity tc_ws_cmd_client_who(const void *mem);
/* True while a command's answer is still to come (the store's, or one
 * queued behind it): the socket's close waits for it (tc_stream_ws_idle). */
bool tc_ws_cmd_busy(const void *mem);
/* True while the answers held behind a store call's are as many
 * (TC_WS_CMD_HELD_MAX) or as large (TC_WS_CMD_HELD_BYTES) as a socket may
 * hold: its next messages wait unread until they are sent (docs/memory.md:
 * a client that floods a socket whose command is with the store). */
bool tc_ws_cmd_full(const void *mem);
#define TC_WS_CMD_HELD_MAX 64
#define TC_WS_CMD_HELD_BYTES (256 * 1024)
/* Releases what the client at mem holds (not mem itself). */
void tc_ws_cmd_client_free(void *mem);
/* A text message from the client of stream s (its tc_stream_user). */
void tc_ws_cmd_text(tc_app *app, tc_stream *s, const char *data, size_t len);

#endif
