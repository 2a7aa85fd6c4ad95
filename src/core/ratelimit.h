/* ratelimit.h — token buckets: one bucket (pure arithmetic on a clock the
 * caller passes in) and a table of buckets by key (caller, table, address).
 * No I/O, no clock of its own. */
#ifndef TC_CORE_RATELIMIT_H
#define TC_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bucket holds up to burst tokens and gains rate tokens per second. It
 * counts in thousandths of a token, so one token per second is one unit per
 * millisecond and the arithmetic stays in integers. */
typedef struct {
    uint64_t milli; /* thousandths of a token held at at_ms */
    uint64_t at_ms;
} tc_bucket;

/* A full bucket at now_ms. */
void tc_bucket_init(tc_bucket *b, uint32_t burst, uint64_t now_ms);
/* Takes one token at now_ms (a clock that never goes back; an earlier time
 * counts as now). Returns 0 when taken, else the milliseconds until a token
 * will be there (at least 1), and takes nothing. rate 0 means no limit. */
uint64_t tc_bucket_take(tc_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);
/* True when the bucket has refilled to burst by now_ms (forgetting it loses
 * nothing). */
bool tc_bucket_full(const tc_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms);

/* Retry-After in whole seconds for a wait in milliseconds (rounded up, at
 * least 1). */
uint32_t tc_retry_after_s(uint64_t wait_ms);

/* Buckets by key (bytes). A key's bucket is created full on first use and
 * forgotten once full again, so memory follows the callers that are
 * actually being limited. At most max_keys buckets are kept: past that (after
 * dropping the full ones) a new key is let through untracked rather than
 * refused (a flood of invented keys must not lock out real callers). */
typedef struct tc_ratelimit tc_ratelimit;

/* rate per second, burst tokens; rate 0: every take succeeds. Never fails
 * (out of memory aborts). Owned by the caller: tc_ratelimit_free. */
tc_ratelimit *tc_ratelimit_new(uint32_t rate, uint32_t burst, size_t max_keys);
void tc_ratelimit_free(tc_ratelimit *rl);
/* Takes a token from key's bucket: 0, or milliseconds to wait (see
 * tc_bucket_take). key is copied when a bucket is created. */
uint64_t tc_ratelimit_take(tc_ratelimit *rl, const void *key, size_t len, uint64_t now_ms);
/* Buckets held now. */
size_t tc_ratelimit_size(const tc_ratelimit *rl);

#endif
