/* diner.h — who sits at a table (docs/api.md, "Presence"). Pure: no I/O.
 *
 * Seats and names are not part of the cart: opening a stream never changes
 * a cart's version. They are kept per table by the store (store.h,
 * tc_store_diners), which gives seats 1, 2, 3, … in the order diners first
 * join, at most TC_DINER_MAX_SEATS per table, and keeps a seat for its
 * userId for the sitting: a party's meal, until the table was away (no
 * stream of it anywhere) for the sitting gap and a diner is seated again.
 * This module holds the rules that need no store: the list's type, the name
 * rule, the default name and the sitting's clock. */
#ifndef TC_CART_DINER_H
#define TC_CART_DINER_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seats at one table: later diners count as online but get no seat. */
#define TC_DINER_MAX_SEATS 50
/* Characters (code points) of a diner's name. */
#define TC_DINER_MAX_NAME 12

/* One seated diner. name is NULL until the diner set one: it reads
 * "{seat}号" then (tc_diner_name). Lists are in seat order. */
typedef struct {
    int64_t user_id;
    int32_t seat;
    char *name; /* owned by the list it is in */
} tc_diner;

/* The name a diner has: d->name, or "{seat}号" for none, appended to out
 * as a JSON string. */
void tc_diner_name_json(const tc_diner *d, tc_buf *out);

/* Checks a name a diner asked for: without leading and trailing spaces
 * (ASCII and U+3000), 1..TC_DINER_MAX_NAME characters and no control
 * character (else TC_T_NAME_LEN), and no text direction or zero-width
 * character (else TC_T_NAME_INVISIBLE): U+061C, U+200B..U+200F,
 * U+202A..U+202E, U+2060, U+2066..U+2069, U+FEFF, which would reorder or
 * hide what other diners' pages show next to the name. Returns 0 with the
 * trimmed name in *out (new, caller frees), or TC_EINVAL with err. name may
 * be NULL (refused). */
int tc_diner_name_check(const char *name, char **out, tc_errmsg *err);

/* The diner of user_id in list (n of them), or NULL. */
const tc_diner *tc_diner_find(const tc_diner *list, size_t n, int64_t user_id);

/* True when both lists hold the same diners, seats and names. */
bool tc_diners_equal(const tc_diner *a, size_t na, const tc_diner *b, size_t nb);

/* A deep copy of list (n of them; NULL when n is 0), and its release. */
tc_diner *tc_diners_copy(const tc_diner *list, size_t n);
void tc_diners_free(tc_diner *list, size_t n);

/* Sittings. A table's diners were last known active at active_ms (epoch
 * ms, as the store keeps it; < 0: not known — a table of a database written
 * before sittings, which counts as active now). True when at now_ms the table
 * was away for at least gap_ms (> 0): the next seat forgets the table's seats
 * and names first. Always false with gap_ms 0 (seats kept for good). */
bool tc_sitting_over(int64_t now_ms, int64_t active_ms, int64_t gap_ms);

/* How often (ms) an instance with a stream of a table tells the store the
 * table is active: a quarter of gap_ms (> 0), at least 1. */
int64_t tc_sitting_touch_ms(int64_t gap_ms);

/* How often (ms) the instance looks for tables due to be told: half the
 * touch period, at most 1 s and at least 1 ms. So while anyone is at a table
 * its stored activity time is never older than touch + sweep (under half a
 * gap) plus one store round trip. */
int64_t tc_sitting_sweep_ms(int64_t gap_ms);

#endif
