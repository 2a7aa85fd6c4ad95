/* money.h — exact money: integer cents inside, two decimals outside.
 *
 * JSON shows money as a number with exactly two decimals ("38.00"), as Java's
 * BigDecimal prints it. Never a float on the way out. */
#ifndef TC_CART_MONEY_H
#define TC_CART_MONEY_H

#include "core/buf.h"

#include <stdint.h>

typedef int64_t tc_cents;

/* Cents in a yuan: money has exactly two decimals. */
#define TC_CENTS_PER_YUAN 100

/* Largest amount we accept anywhere (a unit price, a total): 99,999,999.99. */
#define TC_MONEY_MAX ((tc_cents)9999999999)

/* Appends c as "<yuan>.<2 digits>" ("38.00", "0.30", "-1.05"). */
void tc_money_append(tc_buf *out, tc_cents c);

/* Converts a JSON number of yuan with at most two decimals to cents.
 * Returns 0, or TC_EINVAL if yuan is negative, over TC_MONEY_MAX, not finite,
 * or has more than two decimals (38.005). */
int tc_money_from_yuan(double yuan, tc_cents *out);

#endif
