/* ws_cmd.h — the WebSocket commands of SPEC §5: a client's message is read
 * by the one command reader (api/command), applied through ops as whoever
 * opened the socket, and answered TYPE_success with the cart or error. */
#ifndef TC_API_WS_CMD_H
#define TC_API_WS_CMD_H

#include "api/app.h"
#include "cart/cart.h"
#include "core/text.h"
#include "push/stream.h"

/* The hooks of a WebSocket stream whose ctx comes from tc_ws_cmd_client. */
extern const tc_stream_hooks tc_ws_cmd_hooks;

/* A client's state for its commands: the app, the identity the socket was
 * opened with (who->phone copied) and the language of its error messages
 * (the upgrade request's Accept-Language). Owned by the stream once
 * started: tc_ws_cmd_hooks.on_free frees it. */
void *tc_ws_cmd_client(tc_app *app, const tc_identity *who, tc_lang lang);

#endif
