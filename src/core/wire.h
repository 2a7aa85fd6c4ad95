/* wire.h — the fixed words of the contract (SPEC §3–5) in one place: SSE
 * event names, WebSocket message types, and the fixed messages the original
 * service sent. Clients match on these strings; change none of them. */
#ifndef TC_CORE_WIRE_H
#define TC_CORE_WIRE_H

/* The REST envelope's message on success (SPEC §3). */
#define TC_WIRE_OK_MESSAGE "操作成功"

/* SSE events (SPEC §4) and the WebSocket server messages of the same name
 * (SPEC §5). */
#define TC_WIRE_CONNECTED "connected"
#define TC_WIRE_CONNECTED_MESSAGE "连接成功"
#define TC_WIRE_CART_UPDATE "cart_update"
#define TC_WIRE_CART_UPDATE_MESSAGE "购物车更新"
#define TC_WIRE_HEARTBEAT "heartbeat"
#define TC_WIRE_HEARTBEAT_DATA "ping" /* the SSE heartbeat's data */
#define TC_WIRE_PONG_MESSAGE "pong"   /* the WS answer to a heartbeat message */
#define TC_WIRE_ERROR "error"
/* A command's answer is its type with this suffix: add_item_success. */
#define TC_WIRE_SUCCESS_SUFFIX "_success"

/* WebSocket commands (SPEC §5). */
#define TC_WIRE_ADD_ITEM "add_item"
#define TC_WIRE_UPDATE_QUANTITY "update_quantity"
#define TC_WIRE_REMOVE_ITEM "remove_item"
#define TC_WIRE_CLEAR_CART "clear_cart"

/* Beyond the seed (docs/api.md): who is at the table, the menu changed, and
 * the WebSocket command that sets one's name. */
#define TC_WIRE_PRESENCE "presence"
#define TC_WIRE_PRESENCE_MESSAGE "在线"
#define TC_WIRE_MENU_UPDATE "menu_update"
#define TC_WIRE_MENU_UPDATE_MESSAGE "菜单更新"
#define TC_WIRE_SET_NAME "set_name"
/* A cart command's optional Idempotency-Key (beyond the seed: docs/api.md). */
#define TC_WIRE_IDEM_KEY "idempotencyKey"

/* The SSE reconnect delay sent once with the first event, in ms (SPEC §4). */
#define TC_WIRE_SSE_RETRY_MS 3000

#endif
