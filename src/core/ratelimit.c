#include "core/ratelimit.h"

#include "core/mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One unit of tc_bucket.milli per token. */
#define MILLI 1000u
/* Chains of the key table: a power of two. */
#define SLOTS 4096u
/* How often full buckets are swept out, in ms of the caller's clock. */
#define SWEEP_MS 10000u

static uint64_t refilled(const tc_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)burst * MILLI;
    uint64_t elapsed = now_ms > b->at_ms ? now_ms - b->at_ms : 0;
    /* rate tokens per second = rate thousandths per millisecond. */
    if (elapsed >= cap / (rate ? rate : 1) + 1) return cap;
    uint64_t m = b->milli + elapsed * rate;
    return m > cap ? cap : m;
}

void tc_bucket_init(tc_bucket *b, uint32_t burst, uint64_t now_ms)
{
    b->milli = (uint64_t)burst * MILLI;
    b->at_ms = now_ms;
}

uint64_t tc_bucket_take(tc_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    if (rate == 0) return 0;
    if (now_ms < b->at_ms) now_ms = b->at_ms;
    b->milli = refilled(b, rate, burst, now_ms);
    b->at_ms = now_ms;
    if (b->milli >= MILLI) {
        b->milli -= MILLI;
        return 0;
    }
    uint64_t missing = MILLI - b->milli;
    return (missing + rate - 1) / rate;
}

bool tc_bucket_full(const tc_bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    return rate == 0 || refilled(b, rate, burst, now_ms) >= (uint64_t)burst * MILLI;
}

uint32_t tc_retry_after_s(uint64_t wait_ms)
{
    uint64_t s = (wait_ms + 999) / 1000;
    return s == 0 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

typedef struct entry {
    struct entry *next;
    tc_bucket b;
    size_t len;
    unsigned char key[]; /* len bytes */
} entry;

struct tc_ratelimit {
    uint32_t rate, burst;
    size_t max_keys, n;
    uint64_t last_sweep;
    entry *slots[SLOTS];
};

tc_ratelimit *tc_ratelimit_new(uint32_t rate, uint32_t burst, size_t max_keys)
{
    tc_ratelimit *rl = tc_xcalloc(1, sizeof *rl);
    rl->rate = rate;
    rl->burst = burst ? burst : 1;
    rl->max_keys = max_keys;
    return rl;
}

void tc_ratelimit_free(tc_ratelimit *rl)
{
    if (rl == NULL) return;
    for (size_t i = 0; i < SLOTS; i++) {
        for (entry *e = rl->slots[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(rl);
}

/* FNV-1a. */
static uint32_t hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

static void sweep(tc_ratelimit *rl, uint64_t now_ms)
{
    rl->last_sweep = now_ms;
    for (size_t i = 0; i < SLOTS; i++) {
        entry **pp = &rl->slots[i];
        while (*pp) {
            entry *e = *pp;
            if (tc_bucket_full(&e->b, rl->rate, rl->burst, now_ms)) {
                *pp = e->next;
                free(e);
                rl->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

uint64_t tc_ratelimit_take(tc_ratelimit *rl, const void *key, size_t len, uint64_t now_ms)
{
    if (rl->rate == 0) return 0;
    if (now_ms >= rl->last_sweep + SWEEP_MS) sweep(rl, now_ms);
    uint32_t slot = hash(key, len) & (SLOTS - 1);
    for (entry *e = rl->slots[slot]; e; e = e->next)
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return tc_bucket_take(&e->b, rl->rate, rl->burst, now_ms);
    if (rl->n >= rl->max_keys) {
        sweep(rl, now_ms);
        if (rl->n >= rl->max_keys) return 0;
    }
    entry *e = tc_xmalloc(sizeof *e + len);
    e->len = len;
    memcpy(e->key, key, len);
    tc_bucket_init(&e->b, rl->burst, now_ms);
    e->next = rl->slots[slot];
    rl->slots[slot] = e;
    rl->n++;
    return tc_bucket_take(&e->b, rl->rate, rl->burst, now_ms);
}

size_t tc_ratelimit_size(const tc_ratelimit *rl)
{
    return rl->n;
}
