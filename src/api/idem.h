/* idem.h — remembered answers for the Idempotency-Key header (SPEC §3): a
 * 2xx answer to a mutation is kept per method + path + key for a while
 * (24 h) and replayed for a retry, so a retried change applies once.
 *
 * Kept in memory, bounded in count (oldest forgotten first): a restart
 * forgets them. See docs/api.md. */
#ifndef TC_API_IDEM_H
#define TC_API_IDEM_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tc_idem tc_idem;

typedef struct {
    int status;
    tc_buf headers; /* extra header lines */
    tc_buf body;
} tc_idem_answer;

tc_idem *tc_idem_new(size_t max_entries, uint64_t ttl_ms);
void tc_idem_free(tc_idem *d);

/* The remembered answer for (method, path, key) still valid at now_ms, or
 * NULL. Borrowed until the next put. */
const tc_idem_answer *tc_idem_get(tc_idem *d, tc_view method, tc_view path, tc_view key,
                                  uint64_t now_ms);
/* Remembers an answer (copies everything). */
void tc_idem_put(tc_idem *d, tc_view method, tc_view path, tc_view key, int status,
                 const char *headers, const char *body, size_t len, uint64_t now_ms);

#endif
