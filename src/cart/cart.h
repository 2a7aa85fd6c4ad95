/* cart.h — the cart of one table and its rules (SPEC §1–3). Pure: no I/O, no
 * clock, no globals. Every rule about quantities, lines, remarks, totals and
 * versions lives here and only here. */
#ifndef TC_CART_CART_H
#define TC_CART_CART_H

#include "cart/menu.h"
#include "cart/money.h"
#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

/* One diner's part of a line: who added it (has_user_id false: added
 * without identity) and how many portions. */
typedef struct {
    bool has_user_id;
    int64_t user_id;
    int32_t quantity;
} tc_cart_share;

typedef struct {
    int32_t cuisine_id;
    char *cuisine_name;
    int32_t cuisine_type;
    char *cuisine_image; /* may be NULL */
    tc_cents unit_price;
    int32_t quantity;
    bool has_user_id;
    int64_t add_user_id;
    char *add_user_phone; /* may be NULL */
    char *remark;         /* may be NULL */
    /* Who added how much, in the order each first added; the quantities sum
     * to quantity. Owned by the item. */
    tc_cart_share *shares;
    size_t n_shares;
    bool has_remark_user; /* who wrote the current remark (false: nobody known) */
    int64_t remark_user_id;
} tc_cart_item;

typedef struct tc_cart tc_cart;

/* The caller's identity, as far as it is known (all optional). */
typedef struct {
    bool has_user_id;
    int64_t user_id;
    const char *phone; /* NULL when unknown; borrowed */
} tc_identity;

typedef enum { TC_OP_ADD, TC_OP_UPDATE, TC_OP_REMOVE, TC_OP_CLEAR } tc_op_kind;

/* One change, as validated input. Strings are borrowed for the call. */
typedef struct {
    tc_op_kind kind;
    int32_t table_id;
    int32_t cuisine_id;     /* ADD, UPDATE, REMOVE */
    int32_t quantity;       /* ADD: 1..99; UPDATE: 0..99 (0 removes) */
    bool keep_quantity;     /* UPDATE: only the remark is set */
    const char *remark;     /* ADD, UPDATE; NULL keeps the line's remark, "" clears it */
    tc_identity who;        /* the caller: shares, remarkUserId */
    int64_t expect_version; /* If-Match; -1 when unconditional */
    uint64_t origin;        /* id of the connection that asked; 0 = none.
                               Not used by the rules: carried to the change feed */
    /* Idempotency-Key, scoped to caller, table, method and path, and whose
     * it is; NULL = none. Not used by the rules: the store remembers the
     * answer (store/idem.h). */
    const char *idem_key, *idem_caller;
} tc_op;

typedef struct {
    int32_t max_quantity; /* TC_CART_MAX_QUANTITY */
    int32_t max_lines;    /* TC_CART_MAX_LINES */
    int32_t max_remark;   /* TC_CART_MAX_REMARK, in code points */
} tc_cart_limits;

/* The limits of SPEC §2 (the seed's rules). */
#define TC_CART_MAX_QUANTITY 99 /* a line's quantity: 1..99 */
#define TC_CART_MAX_LINES 100   /* distinct dishes in one cart */
#define TC_CART_MAX_REMARK 200  /* characters (code points) of a remark */

#define TC_CART_LIMITS_DEFAULT                                                                     \
    {                                                                                              \
        TC_CART_MAX_QUANTITY, TC_CART_MAX_LINES, TC_CART_MAX_REMARK                                \
    }

/* A new empty cart for table t: version 0, updated_at -1 (JSON null). */
tc_cart *tc_cart_new(const tc_table *t);
/* A deep copy of c (lines, names, remarks, shares), same version. Both are
 * freed with tc_cart_free, which takes NULL. */
tc_cart *tc_cart_clone(const tc_cart *c);
void tc_cart_free(tc_cart *c);

/* Readers. tc_cart_item_at gives line i in the cart's order (NULL past the
 * end), borrowed until c is next changed or freed. The totals are computed
 * over the lines: the amount in cents, the quantity in units. */
int32_t tc_cart_table_id(const tc_cart *c);
int64_t tc_cart_version(const tc_cart *c);
int64_t tc_cart_updated_at(const tc_cart *c); /* epoch ms, -1 = never */
size_t tc_cart_item_count(const tc_cart *c);
const tc_cart_item *tc_cart_item_at(const tc_cart *c, size_t i);
tc_cents tc_cart_total_amount(const tc_cart *c);
int64_t tc_cart_total_quantity(const tc_cart *c);

/* Applies op to c using names and prices from menu (never from the request).
 * Returns 0 when c changed (version + 1, updated_at = now_ms),
 * TC_UNCHANGED when the op was valid but changed nothing (c untouched),
 * or a negative code with err saying why (core/text.h), c untouched:
 *   TC_ECONFLICT  expect_version >= 0 and != version
 *   TC_ENOTFOUND  cuisine unknown or of another store; UPDATE/REMOVE of a line not in the cart
 *   TC_ESOLDOUT   ADD (or an UPDATE raising the quantity) of a dish not available
 *   TC_EINVAL     quantity out of range, remark too long or not UTF-8, add past max_quantity
 *   TC_ELIMIT     a new line past max_lines
 * Shares: an ADD adds to the caller's share; an UPDATE that lowers the
 * quantity takes from the caller's share first, then from the most recently
 * added other shares; one that raises it adds to the caller's. A line that
 * changes is re-priced at the menu's current price (when the menu still has
 * the dish). A non-NULL remark replaces the line's and records who wrote it.
 * Who sits at the table is not the cart's (cart/diner.h). */
int tc_cart_apply(tc_cart *c, const tc_op *op, const tc_menu *menu, const tc_cart_limits *lim,
                  int64_t now_ms, tc_errmsg *err);

/* The checks of tc_cart_apply that no cart's content changes: the op's
 * shape (quantity range, remark, kind) and, for an ADD, a dish of the
 * table's store that is available. Returns 0 when op passes them, so that
 * a refusal of tc_cart_apply came from the cart (its version under
 * If-Match, its lines, a limit) and may differ on a newer cart; otherwise
 * the refusal, err filled, which tc_cart_apply gives on every cart (an
 * ADD's dish after If-Match). Pure, like tc_cart_apply. */
int tc_cart_check_op(const tc_op *op, const tc_menu *menu, const tc_cart_limits *lim,
                     tc_errmsg *err);

/* Appends the cart DTO (SPEC §1, seed §4.1) as one line of JSON:
 * {"tableId":123,"tableNumber":"A01","storeId":1,"items":[...],"totalAmount":76.00,
 *  "totalQuantity":2,"version":3,"updatedAt":1704067200000}
 * beyond the seed: each item's "shares" and "remarkUserId" (docs/api.md).
 * tableNumber and storeId come from t. */
void tc_cart_to_json(const tc_cart *c, const tc_table *t, tc_buf *out);

/* Parses what tc_cart_to_json wrote (the stored form). A line stored without
 * shares (before they existed) is all its first adder's. Returns 0 and a new
 * cart in *out, or TC_EINVAL. */
int tc_cart_from_json(const char *text, size_t len, tc_cart **out);

/* Appends c in a compact binary form of our own (layout in cart.c): what
 * tc_cart_unpack reads back to the same cart much faster than the JSON is
 * parsed. Instances send it beside the DTO (store/redis_wire.h), so that a
 * cart changed on another instance costs no JSON parse here. Not stored. */
void tc_cart_pack(const tc_cart *c, tc_buf *out);

/* Reads what tc_cart_pack wrote (len bytes, exactly), with the checks
 * tc_cart_from_json makes (valid UTF-8 without NUL in every string, a name
 * for each line, one line per dish, shares adding up to the quantity, a
 * bounded total). Returns 0 and a new cart in *out, or TC_EINVAL. */
int tc_cart_unpack(const char *p, size_t len, tc_cart **out);

#endif
