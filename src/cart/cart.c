/* cart.c — the cart rules (cart/cart.h): add, update, remove, clear, the
 * limits, shares and remarks; the stored form (to and from JSON); and the
 * packed form instances exchange beside it.
 *
 * Longer than 500 lines on purpose: the rules and the stored form are read
 * together — every field a rule sets is one the stored form writes and
 * reads back, in both forms (the fuzzers check the round trips). */
#include "cart/cart.h"

#include "core/json.h"
#include "core/mem.h"
#include "core/text.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* First capacity of a cart's line array, doubled from there (a cart holds at
 * most max_lines). */
#define CART_MIN_LINES 8

/* Items live in one array in first-added order; a cart holds at most
 * max_lines of them, so linear search by cuisine id is the right tool. Totals
 * are computed on demand rather than cached, so they can never drift. */
struct tc_cart {
    int32_t table_id;
    int64_t version;
    int64_t updated_at;
    tc_cart_item *items;
    size_t n, cap;
};

tc_cart *tc_cart_new(const tc_table *t)
{
    tc_cart *c = tc_xcalloc(1, sizeof *c);
    c->table_id = t->table_id;
    c->updated_at = -1;
    return c;
}

static void item_copy(tc_cart_item *dst, const tc_cart_item *src)
{
    *dst = *src;
    dst->cuisine_name = tc_xstrdup(src->cuisine_name);
    dst->cuisine_image = tc_xstrdup(src->cuisine_image);
    dst->add_user_phone = tc_xstrdup(src->add_user_phone);
    dst->remark = tc_xstrdup(src->remark);
    dst->shares = NULL;
    if (src->n_shares) {
        dst->shares = tc_xmalloc(src->n_shares * sizeof *dst->shares);
        memcpy(dst->shares, src->shares, src->n_shares * sizeof *dst->shares);
    }
}

static void item_drop(tc_cart_item *it)
{
    free(it->cuisine_name);
    free(it->cuisine_image);
    free(it->add_user_phone);
    free(it->remark);
    free(it->shares);
}

tc_cart *tc_cart_clone(const tc_cart *c)
{
    tc_cart *d = tc_xcalloc(1, sizeof *d);
    d->table_id = c->table_id;
    d->version = c->version;
    d->updated_at = c->updated_at;
    if (c->n > 0) {
        d->items = tc_xmalloc(c->n * sizeof *d->items);
        d->cap = d->n = c->n;
        for (size_t i = 0; i < c->n; i++)
            item_copy(&d->items[i], &c->items[i]);
    }
    return d;
}

void tc_cart_free(tc_cart *c)
{
    if (c == NULL) return;
    for (size_t i = 0; i < c->n; i++)
        item_drop(&c->items[i]);
    free(c->items);
    free(c);
}

int32_t tc_cart_table_id(const tc_cart *c)
{
    return c->table_id;
}

int64_t tc_cart_version(const tc_cart *c)
{
    return c->version;
}

int64_t tc_cart_updated_at(const tc_cart *c)
{
    return c->updated_at;
}

size_t tc_cart_item_count(const tc_cart *c)
{
    return c->n;
}

const tc_cart_item *tc_cart_item_at(const tc_cart *c, size_t i)
{
    return i < c->n ? &c->items[i] : NULL;
}

/* Cannot overflow: every way into a cart (tc_cart_apply, tc_cart_from_json)
 * refuses a line that would take the cart total past TC_MONEY_MAX. */
static tc_cents subtotal(const tc_cart_item *it)
{
    return it->unit_price * (tc_cents)it->quantity;
}

tc_cents tc_cart_total_amount(const tc_cart *c)
{
    tc_cents sum = 0;
    for (size_t i = 0; i < c->n; i++)
        sum += subtotal(&c->items[i]);
    return sum;
}

int64_t tc_cart_total_quantity(const tc_cart *c)
{
    int64_t sum = 0;
    for (size_t i = 0; i < c->n; i++)
        sum += c->items[i].quantity;
    return sum;
}

/* --- rules --------------------------------------------------------------- */

static tc_cart_item *find_line(const tc_cart *c, int32_t cuisine_id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].cuisine_id == cuisine_id) return &c->items[i];
    return NULL;
}

/* The cart total if the line for `cuisine_id` had `quantity` at `price`
 * (a line not yet in the cart counts as added). Used to refuse a change that
 * would take the total past TC_MONEY_MAX, which only a pathological menu can
 * reach but which would otherwise print nonsense. */
static bool total_fits(const tc_cart *c, int32_t cuisine_id, tc_cents price, int32_t quantity)
{
    tc_cents sum = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].cuisine_id != cuisine_id) sum += subtotal(&c->items[i]);
    if (price < 0 || quantity < 0) return false;
    if (price > 0 && quantity > (TC_MONEY_MAX - sum) / price) return false;
    return sum + price * quantity <= TC_MONEY_MAX;
}

static void bump(tc_cart *c, int64_t now_ms)
{
    c->version++;
    c->updated_at = now_ms;
}

static int check_remark(const char *remark, const tc_cart_limits *lim, tc_errmsg *err)
{
    if (remark == NULL) return 0;
    long n = tc_utf8_count(remark, strlen(remark));
    if (n < 0) return tc_errmsg_say(err, TC_EINVAL, TC_T_REMARK_UTF8);
    if (n > lim->max_remark)
        return tc_errmsg_say(err, TC_EINVAL, TC_T_REMARK_LONG, (int)lim->max_remark);
    return 0;
}

/* --- shares ---------------------------------------------------------------- */

static bool same_diner(const tc_cart_share *sh, const tc_identity *who)
{
    return sh->has_user_id == who->has_user_id && (!sh->has_user_id || sh->user_id == who->user_id);
}

static void share_add(tc_cart_item *it, const tc_identity *who, int32_t q)
{
    for (size_t i = 0; i < it->n_shares; i++)
        if (same_diner(&it->shares[i], who)) {
            it->shares[i].quantity += q;
            return;
        }
    it->shares = tc_xrealloc(it->shares, (it->n_shares + 1) * sizeof *it->shares);
    it->shares[it->n_shares++] =
        (tc_cart_share){who->has_user_id, who->has_user_id ? who->user_id : 0, q};
}

/* Takes q portions away: the caller's own share first, then the most
 * recently added other shares. Emptied shares go. */
static void share_take(tc_cart_item *it, const tc_identity *who, int32_t q)
{
    for (size_t i = 0; i < it->n_shares && q > 0; i++)
        if (same_diner(&it->shares[i], who)) {
            int32_t k = it->shares[i].quantity < q ? it->shares[i].quantity : q;
            it->shares[i].quantity -= k;
            q -= k;
        }
    for (size_t i = it->n_shares; i-- > 0 && q > 0;) {
        int32_t k = it->shares[i].quantity < q ? it->shares[i].quantity : q;
        it->shares[i].quantity -= k;
        q -= k;
    }
    size_t n = 0;
    for (size_t i = 0; i < it->n_shares; i++)
        if (it->shares[i].quantity > 0) it->shares[n++] = it->shares[i];
    it->n_shares = n;
}

/* Sets the line's remark as written by who (NULL clears it; an add keeps
 * "" as the seed did, an update clears with it). */
static void set_remark(tc_cart_item *it, const char *remark, const tc_identity *who)
{
    free(it->remark);
    it->remark = tc_xstrdup(remark);
    it->has_remark_user = remark && remark[0] && who->has_user_id;
    it->remark_user_id = it->has_remark_user ? who->user_id : 0;
}

static bool same_text(const char *a, const char *b)
{
    if (a == NULL || b == NULL) return a == b;
    return strcmp(a, b) == 0;
}

/* The dish of a line as this table's menu has it now, or NULL. */
static const tc_cuisine *dish_of(const tc_menu *menu, const tc_table *t, int32_t cuisine_id)
{
    const tc_cuisine *d = tc_menu_cuisine(menu, cuisine_id);
    return d && t && d->store_id == t->store_id ? d : NULL;
}

/* The refusal for a line that is not in the cart, naming the dish when the
 * menu has it. */
static int not_in_cart(const tc_menu *menu, const tc_table *t, int32_t cuisine_id, tc_errmsg *err)
{
    const tc_cuisine *d = dish_of(menu, t, cuisine_id);
    if (d) return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_NOT_IN_CART, d->cuisine_name);
    return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_ID_NOT_IN_CART, (int)cuisine_id);
}

/* The dish an ADD of cuisine_id to table t takes: known to t's store and
 * available; otherwise NULL, with *rc and err. */
static const tc_cuisine *dish_to_add(const tc_menu *menu, const tc_table *t, int32_t cuisine_id,
                                     int *rc, tc_errmsg *err)
{
    /* A dish of another restaurant is as unknown to this table as one that
     * does not exist. */
    const tc_cuisine *dish = dish_of(menu, t, cuisine_id);
    if (dish == NULL) {
        *rc = tc_errmsg_say(err, TC_ENOTFOUND, TC_T_DISH_NOT_FOUND, (int)cuisine_id);
        return NULL;
    }
    if (!dish->available) {
        *rc = tc_errmsg_say(err, TC_ESOLDOUT, TC_T_SOLD_OUT, dish->cuisine_name);
        return NULL;
    }
    return dish;
}

static int apply_add(tc_cart *c, const tc_op *op, const tc_table *t, const tc_menu *menu,
                     const tc_cart_limits *lim, int64_t now_ms, tc_errmsg *err)
{
    int rc = 0;
    const tc_cuisine *dish = dish_to_add(menu, t, op->cuisine_id, &rc, err);
    if (dish == NULL) return rc;

    tc_cart_item *line = find_line(c, op->cuisine_id);
    if (line != NULL) {
        if (op->quantity > lim->max_quantity - line->quantity)
            return tc_errmsg_say(err, TC_EINVAL, TC_T_QTY_MAX, (int)lim->max_quantity,
                                 dish->cuisine_name);
        int32_t q = line->quantity + op->quantity;
        /* A line that changes is re-priced at the menu's current price. */
        if (!total_fits(c, op->cuisine_id, dish->unit_price, q))
            return tc_errmsg_say(err, TC_EINVAL, TC_T_TOTAL_MAX);
        line->quantity = q;
        line->unit_price = dish->unit_price;
        share_add(line, &op->who, op->quantity);
        if (op->remark != NULL) set_remark(line, op->remark, &op->who);
        bump(c, now_ms);
        return 0;
    }

    if (c->n >= (size_t)(lim->max_lines > 0 ? lim->max_lines : 0))
        return tc_errmsg_say(err, TC_ELIMIT, TC_T_LINES_MAX, (int)lim->max_lines);
    if (!total_fits(c, op->cuisine_id, dish->unit_price, op->quantity))
        return tc_errmsg_say(err, TC_EINVAL, TC_T_TOTAL_MAX);

    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : CART_MIN_LINES;
        c->items = tc_xrealloc(c->items, c->cap * sizeof *c->items);
    }
    /* Name, type, picture and price are a snapshot of the menu at the time
     * the line is created; the request never supplies them. */
    tc_cart_item *it = &c->items[c->n++];
    memset(it, 0, sizeof *it);
    it->cuisine_id = dish->cuisine_id;
    it->cuisine_name = tc_xstrdup(dish->cuisine_name);
    it->cuisine_type = dish->cuisine_type;
    it->cuisine_image = tc_xstrdup(dish->cuisine_image);
    it->unit_price = dish->unit_price;
    it->quantity = op->quantity;
    it->has_user_id = op->who.has_user_id;
    it->add_user_id = op->who.has_user_id ? op->who.user_id : 0;
    it->add_user_phone = tc_xstrdup(op->who.phone);
    /* The seed keeps a new line's remark as sent, "" included. */
    it->remark = tc_xstrdup(op->remark);
    it->has_remark_user = op->remark && op->remark[0] && op->who.has_user_id;
    it->remark_user_id = it->has_remark_user ? op->who.user_id : 0;
    share_add(it, &op->who, op->quantity);
    bump(c, now_ms);
    return 0;
}

static void remove_line(tc_cart *c, tc_cart_item *line)
{
    size_t i = (size_t)(line - c->items);
    item_drop(line);
    /* memmove, not swap-with-last: the other lines keep their order. */
    memmove(&c->items[i], &c->items[i + 1], (c->n - i - 1) * sizeof *c->items);
    c->n--;
}

static int apply_update(tc_cart *c, const tc_op *op, const tc_table *t, const tc_menu *menu,
                        int64_t now_ms, tc_errmsg *err)
{
    tc_cart_item *line = find_line(c, op->cuisine_id);
    if (line == NULL) return not_in_cart(menu, t, op->cuisine_id, err);
    int32_t q = op->keep_quantity ? line->quantity : op->quantity;
    const char *remark = op->remark && op->remark[0] ? op->remark : NULL;
    bool new_remark = op->remark != NULL && !same_text(remark, line->remark);
    if (q == line->quantity && !new_remark) return TC_UNCHANGED;
    if (q == 0) {
        remove_line(c, line);
        bump(c, now_ms);
        return 0;
    }
    const tc_cuisine *dish = dish_of(menu, t, op->cuisine_id);
    /* More of a dish the table's menu no longer has (gone, or the table
     * moved to another store) is refused as an add of it would be; less is
     * fine. */
    if (q > line->quantity && dish == NULL)
        return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_DISH_NOT_FOUND, (int)op->cuisine_id);
    if (q > line->quantity && !dish->available)
        return tc_errmsg_say(err, TC_ESOLDOUT, TC_T_SOLD_OUT, dish->cuisine_name);
    tc_cents price = dish ? dish->unit_price : line->unit_price;
    if (!total_fits(c, op->cuisine_id, price, q))
        return tc_errmsg_say(err, TC_EINVAL, TC_T_TOTAL_MAX);
    if (q > line->quantity)
        share_add(line, &op->who, q - line->quantity);
    else if (q < line->quantity)
        share_take(line, &op->who, line->quantity - q);
    line->quantity = q;
    line->unit_price = price;
    if (new_remark) set_remark(line, remark, &op->who);
    bump(c, now_ms);
    return 0;
}

/* The op's own shape: quantity range, remark, a known kind. */
static int check_shape(const tc_op *op, const tc_cart_limits *lim, tc_errmsg *err)
{
    int rc;
    switch (op->kind) {
    case TC_OP_ADD:
        if (op->quantity < 1 || op->quantity > lim->max_quantity)
            return tc_errmsg_say(err, TC_EINVAL, TC_T_QTY_RANGE, 1, (int)lim->max_quantity);
        if ((rc = check_remark(op->remark, lim, err)) != 0) return rc;
        break;
    case TC_OP_UPDATE:
        if (!op->keep_quantity && (op->quantity < 0 || op->quantity > lim->max_quantity))
            return tc_errmsg_say(err, TC_EINVAL, TC_T_QTY_RANGE, 0, (int)lim->max_quantity);
        if ((rc = check_remark(op->remark, lim, err)) != 0) return rc;
        break;
    case TC_OP_REMOVE:
    case TC_OP_CLEAR:
        break;
    default:
        return tc_errmsg_say(err, TC_EINVAL, TC_T_UNKNOWN_OP);
    }
    return 0;
}

int tc_cart_check_op(const tc_op *op, const tc_menu *menu, const tc_cart_limits *lim,
                     tc_errmsg *err)
{
    int rc = check_shape(op, lim, err);
    if (rc != 0 || op->kind != TC_OP_ADD) return rc;
    const tc_table *t = tc_menu_table(menu, op->table_id);
    if (t == NULL) return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_TABLE_NOT_FOUND, (int)op->table_id);
    return dish_to_add(menu, t, op->cuisine_id, &rc, err) ? 0 : rc;
}

int tc_cart_apply(tc_cart *c, const tc_op *op, const tc_menu *menu, const tc_cart_limits *lim,
                  int64_t now_ms, tc_errmsg *err)
{
    /* Every check comes before the first write, so a refused op leaves the
     * cart exactly as it was. Input shape first, then the If-Match
     * precondition, then rules that depend on the cart and the menu. */
    int rc = check_shape(op, lim, err);
    if (rc != 0) return rc;
    if (op->table_id != c->table_id)
        return tc_errmsg_say(err, TC_EINVAL, TC_T_TABLE_MISMATCH, (int)op->table_id,
                             (int)c->table_id);
    if (op->expect_version >= 0 && op->expect_version != c->version)
        return tc_errmsg_say(err, TC_ECONFLICT, TC_T_CONFLICT, (long long)c->version);

    const tc_table *t = tc_menu_table(menu, c->table_id);
    tc_cart_item *line;
    switch (op->kind) {
    case TC_OP_ADD:
        if (t == NULL)
            return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_TABLE_NOT_FOUND, (int)c->table_id);
        return apply_add(c, op, t, menu, lim, now_ms, err);
    case TC_OP_UPDATE:
        return apply_update(c, op, t, menu, now_ms, err);
    case TC_OP_REMOVE:
        line = find_line(c, op->cuisine_id);
        if (line == NULL) return not_in_cart(menu, t, op->cuisine_id, err);
        remove_line(c, line);
        bump(c, now_ms);
        return 0;
    case TC_OP_CLEAR:
        if (c->n == 0) return TC_UNCHANGED;
        for (size_t i = 0; i < c->n; i++)
            item_drop(&c->items[i]);
        c->n = 0;
        bump(c, now_ms);
        return 0;
    }
    return tc_errmsg_say(err, TC_EINVAL, TC_T_UNKNOWN_OP);
}

/* --- JSON ---------------------------------------------------------------- */

static void item_to_json(const tc_cart_item *it, tc_buf *out)
{
    tc_buf_append_str(out, "{\"cuisineId\":");
    tc_json_int(out, it->cuisine_id);
    tc_buf_append_str(out, ",\"cuisineName\":");
    tc_json_cstr_or_null(out, it->cuisine_name);
    tc_buf_append_str(out, ",\"cuisineType\":");
    tc_json_int(out, it->cuisine_type);
    tc_buf_append_str(out, ",\"cuisineImage\":");
    tc_json_cstr_or_null(out, it->cuisine_image);
    tc_buf_append_str(out, ",\"unitPrice\":");
    tc_money_append(out, it->unit_price);
    tc_buf_append_str(out, ",\"quantity\":");
    tc_json_int(out, it->quantity);
    tc_buf_append_str(out, ",\"subtotalAmount\":");
    tc_money_append(out, subtotal(it));
    tc_buf_append_str(out, ",\"addUserId\":");
    if (it->has_user_id)
        tc_json_int(out, it->add_user_id);
    else
        tc_buf_append_str(out, "null");
    tc_buf_append_str(out, ",\"addUserPhone\":");
    tc_json_cstr_or_null(out, it->add_user_phone);
    tc_buf_append_str(out, ",\"remark\":");
    tc_json_cstr_or_null(out, it->remark);
    tc_buf_append_str(out, ",\"shares\":[");
    for (size_t i = 0; i < it->n_shares; i++) {
        tc_buf_append_str(out, i ? ",{\"userId\":" : "{\"userId\":");
        if (it->shares[i].has_user_id)
            tc_json_int(out, it->shares[i].user_id);
        else
            tc_buf_append_str(out, "null");
        tc_buf_append_str(out, ",\"quantity\":");
        tc_json_int(out, it->shares[i].quantity);
        tc_buf_append(out, "}", 1);
    }
    tc_buf_append_str(out, "],\"remarkUserId\":");
    if (it->has_remark_user)
        tc_json_int(out, it->remark_user_id);
    else
        tc_buf_append_str(out, "null");
    tc_buf_append(out, "}", 1);
}

void tc_cart_to_json(const tc_cart *c, const tc_table *t, tc_buf *out)
{
    tc_buf_append_str(out, "{\"tableId\":");
    tc_json_int(out, c->table_id);
    tc_buf_append_str(out, ",\"tableNumber\":");
    tc_json_cstr_or_null(out, t ? t->table_number : NULL);
    tc_buf_append_str(out, ",\"storeId\":");
    if (t)
        tc_json_int(out, t->store_id);
    else
        tc_buf_append_str(out, "null");
    tc_buf_append_str(out, ",\"items\":[");
    for (size_t i = 0; i < c->n; i++) {
        if (i > 0) tc_buf_append(out, ",", 1);
        item_to_json(&c->items[i], out);
    }
    tc_buf_append_str(out, "],\"totalAmount\":");
    tc_money_append(out, tc_cart_total_amount(c));
    tc_buf_append_str(out, ",\"totalQuantity\":");
    tc_json_int(out, tc_cart_total_quantity(c));
    tc_buf_append_str(out, ",\"version\":");
    tc_json_int(out, c->version);
    tc_buf_append_str(out, ",\"updatedAt\":");
    if (c->updated_at >= 0)
        tc_json_int(out, c->updated_at);
    else
        tc_buf_append_str(out, "null");
    tc_buf_append(out, "}", 1);
}

/* Integer member within [lo, hi]. */
static bool int_in(json_t *obj, const char *key, json_int_t lo, json_int_t hi, json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return false;
    *out = json_integer_value(v);
    return *out >= lo && *out <= hi;
}

/* String member or null; *out is a copy (NULL for null or absent). */
static bool str_or_null(json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return true;
    if (!json_is_string(v)) return false;
    *out = tc_xstrdup(json_string_value(v));
    return true;
}

static bool shares_from_json(json_t *ji, tc_cart_item *it);

static bool item_from_json(json_t *ji, tc_cart_item *it)
{
    memset(it, 0, sizeof *it);
    json_int_t v;
    if (!json_is_object(ji)) return false;
    if (!int_in(ji, "cuisineId", 1, INT32_MAX, &v)) return false;
    it->cuisine_id = (int32_t)v;
    if (!int_in(ji, "cuisineType", INT32_MIN, INT32_MAX, &v)) return false;
    it->cuisine_type = (int32_t)v;
    if (!int_in(ji, "quantity", 1, INT32_MAX, &v)) return false;
    it->quantity = (int32_t)v;

    json_t *price = json_object_get(ji, "unitPrice");
    if (json_is_integer(price)) {
        if (json_integer_value(price) < 0 ||
            json_integer_value(price) > TC_MONEY_MAX / TC_CENTS_PER_YUAN)
            return false;
        it->unit_price = (tc_cents)json_integer_value(price) * TC_CENTS_PER_YUAN;
    } else if (!json_is_real(price) ||
               tc_money_from_yuan(json_real_value(price), &it->unit_price)) {
        return false;
    }

    json_t *uid = json_object_get(ji, "addUserId");
    if (json_is_integer(uid)) {
        it->has_user_id = true;
        it->add_user_id = json_integer_value(uid);
    } else if (uid != NULL && !json_is_null(uid)) {
        return false;
    }
    json_t *name = json_object_get(ji, "cuisineName");
    if (!json_is_string(name)) return false;
    it->cuisine_name = tc_xstrdup(json_string_value(name));
    json_t *ru = json_object_get(ji, "remarkUserId");
    if (json_is_integer(ru)) {
        it->has_remark_user = true;
        it->remark_user_id = json_integer_value(ru);
    } else if (ru != NULL && !json_is_null(ru)) {
        return false;
    }
    return str_or_null(ji, "cuisineImage", &it->cuisine_image) &&
           str_or_null(ji, "addUserPhone", &it->add_user_phone) &&
           str_or_null(ji, "remark", &it->remark) && shares_from_json(ji, it);
}

/* A line's shares; a line stored before shares existed is all its first
 * adder's. The shares must add up to the line's quantity (each is bounded by
 * it, not by the add limit: a stored line may hold more than one add may
 * give, and what is stored must read back). */
static bool shares_from_json(json_t *ji, tc_cart_item *it)
{
    json_t *arr = json_object_get(ji, "shares");
    if (arr == NULL) {
        tc_identity who = {it->has_user_id, it->add_user_id, NULL};
        share_add(it, &who, it->quantity);
        return true;
    }
    if (!json_is_array(arr) || json_array_size(arr) > (size_t)it->quantity) return false;
    int64_t sum = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *sh = json_array_get(arr, i), *uid = json_object_get(sh, "userId");
        json_int_t q;
        if (!json_is_object(sh) || !int_in(sh, "quantity", 1, it->quantity, &q)) return false;
        if (!json_is_integer(uid) && !json_is_null(uid)) return false;
        tc_identity who = {json_is_integer(uid), json_is_integer(uid) ? json_integer_value(uid) : 0,
                           NULL};
        share_add(it, &who, (int32_t)q);
        sum += q;
    }
    return sum == it->quantity;
}

int tc_cart_from_json(const char *text, size_t len, tc_cart **out)
{
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL) return TC_EINVAL;
    tc_cart *c = tc_xcalloc(1, sizeof *c);
    json_int_t v;
    json_t *items = json_object_get(root, "items");
    json_t *upd = json_object_get(root, "updatedAt");
    bool ok = json_is_object(root) && int_in(root, "tableId", 1, INT32_MAX, &v);
    if (ok) c->table_id = (int32_t)v;
    ok = ok && int_in(root, "version", 0, INT64_MAX, &v);
    if (ok) c->version = v;
    if (ok && json_is_integer(upd) && json_integer_value(upd) >= 0)
        c->updated_at = json_integer_value(upd);
    else if (ok && (upd == NULL || json_is_null(upd)))
        c->updated_at = -1;
    else
        ok = false;
    ok = ok && json_is_array(items);
    if (ok && json_array_size(items) > 0) {
        c->cap = json_array_size(items);
        c->items = tc_xcalloc(c->cap, sizeof *c->items);
    }
    for (size_t i = 0; ok && i < json_array_size(items); i++) {
        tc_cart_item *it = &c->items[c->n];
        /* The stored form is ours, but a cart must never break the
         * invariants the rules keep: one line per dish, a bounded total. */
        ok = item_from_json(json_array_get(items, i), it) && find_line(c, it->cuisine_id) == NULL &&
             total_fits(c, it->cuisine_id, it->unit_price, it->quantity);
        if (!ok)
            item_drop(it);
        else
            c->n++;
    }
    json_decref(root);
    if (!ok) {
        tc_cart_free(c);
        return TC_EINVAL;
    }
    *out = c;
    return 0;
}

/* --- the packed form ------------------------------------------------------ */

/* Layout (all integers little-endian, fixed width): "C1"; table id (i32),
 * version (i64), updatedAt (i64, -1 none), line count (u32); per line:
 * cuisine id, type (i32), unit price in cents (i64), quantity (i32), flags
 * (u8: 1 add user known, 2 remark user known), add user, remark user (i64),
 * name, image, phone, remark (each a u32 length, 0xffffffff for none, then
 * the bytes), share count (u32), per share: user known (u8), user (i64),
 * quantity (i32). */
#define PACK_MAGIC "C1"
#define PACK_NONE 0xffffffffu
/* The smallest packed line: 4 + 4 + 8 + 4 + 1 + 8 + 8 + 4 * 4 + 4 + 13. */
#define PACK_MIN_LINE 70

static void put_le(tc_buf *out, uint64_t v, size_t n)
{
    unsigned char b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    tc_buf_append(out, b, n);
}

static void put_str(tc_buf *out, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    put_le(out, s ? (uint64_t)n : PACK_NONE, 4);
    if (n) tc_buf_append(out, s, n);
}

void tc_cart_pack(const tc_cart *c, tc_buf *out)
{
    tc_buf_append(out, PACK_MAGIC, 2);
    put_le(out, (uint32_t)c->table_id, 4);
    put_le(out, (uint64_t)c->version, 8);
    put_le(out, (uint64_t)c->updated_at, 8);
    put_le(out, c->n, 4);
    for (size_t i = 0; i < c->n; i++) {
        const tc_cart_item *it = &c->items[i];
        put_le(out, (uint32_t)it->cuisine_id, 4);
        put_le(out, (uint32_t)it->cuisine_type, 4);
        put_le(out, (uint64_t)it->unit_price, 8);
        put_le(out, (uint32_t)it->quantity, 4);
        put_le(out, (it->has_user_id ? 1u : 0u) | (it->has_remark_user ? 2u : 0u), 1);
        put_le(out, (uint64_t)it->add_user_id, 8);
        put_le(out, (uint64_t)it->remark_user_id, 8);
        put_str(out, it->cuisine_name);
        put_str(out, it->cuisine_image);
        put_str(out, it->add_user_phone);
        put_str(out, it->remark);
        put_le(out, it->n_shares, 4);
        for (size_t k = 0; k < it->n_shares; k++) {
            put_le(out, it->shares[k].has_user_id ? 1u : 0u, 1);
            put_le(out, (uint64_t)it->shares[k].user_id, 8);
            put_le(out, (uint32_t)it->shares[k].quantity, 4);
        }
    }
}

/* A read position in packed bytes; ok turns false at the first read past
 * the end, and every later read gives 0. */
typedef struct {
    const unsigned char *p, *end;
    bool ok;
} reader;

static uint64_t get_le(reader *r, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) {
        r->ok = false;
        return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static int32_t get_i32(reader *r)
{
    return (int32_t)(uint32_t)get_le(r, 4);
}

static int64_t get_i64(reader *r)
{
    return (int64_t)get_le(r, 8);
}

/* A string as the JSON form would give it: valid UTF-8 without NUL. */
static bool get_str(reader *r, char **out, bool required)
{
    *out = NULL;
    uint32_t n = (uint32_t)get_le(r, 4);
    if (!r->ok) return false;
    if (n == PACK_NONE) return !required;
    if ((size_t)(r->end - r->p) < n) return r->ok = false;
    const char *s = (const char *)r->p;
    if (memchr(s, 0, n) || tc_utf8_count(s, n) < 0) return false;
    *out = tc_xmalloc((size_t)n + 1);
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    r->p += n;
    return true;
}

/* One line, with the checks tc_cart_from_json makes. */
static bool item_unpack(reader *r, tc_cart_item *it)
{
    memset(it, 0, sizeof *it);
    it->cuisine_id = get_i32(r);
    it->cuisine_type = get_i32(r);
    it->unit_price = get_i64(r);
    it->quantity = get_i32(r);
    unsigned flags = (unsigned)get_le(r, 1);
    it->has_user_id = flags & 1u;
    it->has_remark_user = (flags & 2u) != 0;
    it->add_user_id = get_i64(r);
    it->remark_user_id = get_i64(r);
    if (!r->ok || it->cuisine_id < 1 || it->quantity < 1 || it->unit_price < 0 ||
        it->unit_price > TC_MONEY_MAX || flags > 3u || (!it->has_user_id && it->add_user_id != 0) ||
        (!it->has_remark_user && it->remark_user_id != 0))
        return false;
    if (!get_str(r, &it->cuisine_name, true) || !get_str(r, &it->cuisine_image, false) ||
        !get_str(r, &it->add_user_phone, false) || !get_str(r, &it->remark, false))
        return false;
    uint32_t n = (uint32_t)get_le(r, 4);
    if (!r->ok || n > (uint32_t)it->quantity) return false;
    int64_t sum = 0;
    for (uint32_t k = 0; k < n; k++) {
        unsigned known = (unsigned)get_le(r, 1);
        int64_t user = get_i64(r);
        int32_t q = get_i32(r);
        if (!r->ok || known > 1u || (!known && user != 0) || q < 1 || q > it->quantity)
            return false;
        tc_identity who = {known == 1u, user, NULL};
        share_add(it, &who, q);
        sum += q;
    }
    return sum == it->quantity;
}

int tc_cart_unpack(const char *p, size_t len, tc_cart **out)
{
    reader r = {(const unsigned char *)p, (const unsigned char *)p + len, true};
    if (len < 2 || memcmp(p, PACK_MAGIC, 2) != 0) return TC_EINVAL;
    r.p += 2;
    tc_cart *c = tc_xcalloc(1, sizeof *c);
    c->table_id = get_i32(&r);
    c->version = get_i64(&r);
    c->updated_at = get_i64(&r);
    uint32_t n = (uint32_t)get_le(&r, 4);
    bool ok = r.ok && c->table_id >= 1 && c->version >= 0 && c->updated_at >= -1 &&
              n <= (size_t)(r.end - r.p) / PACK_MIN_LINE;
    if (ok && n > 0) {
        c->cap = n;
        c->items = tc_xcalloc(c->cap, sizeof *c->items);
    }
    for (uint32_t i = 0; ok && i < n; i++) {
        tc_cart_item *it = &c->items[c->n];
        ok = item_unpack(&r, it) && find_line(c, it->cuisine_id) == NULL &&
             total_fits(c, it->cuisine_id, it->unit_price, it->quantity);
        if (!ok)
            item_drop(it);
        else
            c->n++;
    }
    if (!ok || !r.ok || r.p != r.end) {
        tc_cart_free(c);
        return TC_EINVAL;
    }
    *out = c;
    return 0;
}
