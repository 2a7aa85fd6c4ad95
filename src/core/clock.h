/* clock.h — wall-clock time for what goes on the wire (timestamps, token
 * expiry). Loop-relative timing uses uv_now instead. */
#ifndef TC_CORE_CLOCK_H
#define TC_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t tc_clock_epoch_ms(void);
/* Seconds since the Unix epoch. */
int64_t tc_clock_epoch_s(void);

#endif
