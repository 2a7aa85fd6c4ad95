#include "cart/money.h"

#include "core/err.h"

#include <inttypes.h>
#include <math.h>

void tc_money_append(tc_buf *out, tc_cents c)
{
    /* Work on the magnitude as unsigned so INT64_MIN prints instead of
     * overflowing on negation. */
    uint64_t mag = c < 0 ? (uint64_t)0 - (uint64_t)c : (uint64_t)c;
    uint64_t frac = mag % TC_CENTS_PER_YUAN;
    /* Every cart line and total passes here: no printf on the per-change path. */
    if (c < 0) tc_buf_append(out, "-", 1);
    tc_buf_append_udec(out, mag / TC_CENTS_PER_YUAN);
    char cents[3] = {'.', (char)('0' + frac / 10), (char)('0' + frac % 10)};
    tc_buf_append(out, cents, sizeof cents);
}

int tc_money_from_yuan(double yuan, tc_cents *out)
{
    if (!isfinite(yuan) || yuan < 0) return TC_EINVAL;
    if (yuan > (double)TC_MONEY_MAX / TC_CENTS_PER_YUAN) return TC_EINVAL;
    double scaled = yuan * TC_CENTS_PER_YUAN;
    long long cents = llround(scaled);
    /* A decimal with at most two places, parsed to the nearest double, is
     * exactly the double nearest cents/100: division is correctly rounded, so
     * the two agree bit for bit. Anything with a third decimal (38.005) lands
     * on a different double and is refused, with no epsilon to tune. */
    if ((double)cents / TC_CENTS_PER_YUAN != yuan) return TC_EINVAL;
    if (cents > TC_MONEY_MAX) return TC_EINVAL;
    *out = (tc_cents)cents;
    return 0;
}
