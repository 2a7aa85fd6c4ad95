/* command.h — the one reader of cart commands. A REST body (with its query
 * string) and a WebSocket message's data both become a tc_op here, through
 * one table of the four commands of SPEC §3/§5 and their fields: which are
 * required, what an integer may hold, where a field may come from, and the
 * messages that name it. To change how a field of a command is validated,
 * change its row here; the cart rules (ranges, sold out) are in cart/. */
#ifndef TC_API_COMMAND_H
#define TC_API_COMMAND_H

#include "cart/cart.h"
#include "core/addr.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http.h"

#include <jansson.h>

/* One command: its operation and its WebSocket message type. */
typedef struct tc_command tc_command;

/* Where the fields are read from. */
typedef struct {
    const json_t *obj;        /* the JSON object (REST body, WS message data); may be NULL */
    const tc_http_req *query; /* REST: tableId and cuisineId may come from the query
                               * string, which wins over the body; NULL for WS */
    tc_view form;             /* REST DELETE: a form-encoded body (base NULL: none), read
                               * as the query string is, after it */
} tc_command_source;

/* The command of an operation (always found). */
const tc_command *tc_command_of(tc_op_kind kind);
/* The command of a WebSocket message type ("add_item"), or NULL. */
const tc_command *tc_command_by_type(const char *type);
/* Its WebSocket type ("add_item") and operation. */
const char *tc_command_type(const tc_command *c);
tc_op_kind tc_command_kind(const tc_command *c);
/* True when the command reads any field besides tableId (all but clear). */
bool tc_command_has_fields(const tc_command *c);
/* Its REST route (SPEC §3): the method, a TC_M_ bit of http/router.h, and
 * the path below the API prefix ("/store/order/cart/add"). */
unsigned tc_command_method(const tc_command *c);
const char *tc_command_path(const tc_command *c);

/* The longest Idempotency-Key (REST header, WebSocket "idempotencyKey"). */
#define TC_COMMAND_IDEM_KEY_MAX 255
/* Whether a key of len bytes may be used: 1..TC_COMMAND_IDEM_KEY_MAX. */
bool tc_command_idem_key_ok(size_t len);

/* An Idempotency-Key as the store remembers it (tc_op.idem_key), appended
 * to scoped, and whose it is (tc_op.idem_caller: the per-caller budget),
 * appended to caller. The key is the caller's own, for one table and one
 * command, named by its REST method and route under prefix (the API
 * prefix) whether it came over REST or as a WebSocket message: another
 * diner reusing a key neither replays this answer nor loses their change,
 * and a change sent over the WebSocket and retried over HTTP (or the other
 * way) is applied once. The caller: the user id, else the client address
 * (client; borrowed). */
void tc_command_idem_scope(const tc_command *c, const char *prefix, const tc_identity *who,
                           const tc_addr *client, int32_t table_id, tc_view key, tc_buf *scoped,
                           tc_buf *caller);

/* Reads tableId (REST: query, else body). Returns 0 with *table_id, or
 * TC_EINVAL with err naming the field. */
int tc_command_read_table(const tc_command_source *src, int32_t *table_id, tc_errmsg *err);

/* Reads the command's fields into op (kind, cuisine_id, quantity, remark; the
 * caller sets table_id, who, origin and expect_version). op->remark borrows
 * from src->obj. Returns 0, or TC_EINVAL with err naming the field. */
int tc_command_read(const tc_command *c, const tc_command_source *src, tc_op *op, tc_errmsg *err);

#endif
