/* idem.h — remembered answers for Idempotency-Key (SPEC §3): a 2xx answer
 * to a change is remembered for 24 h and replayed for a retry with the same
 * key, so a retried change applies once.
 *
 * The store keeps them: the change pipeline looks a key up in order with
 * the table's other changes (so a retry racing its original is a replay,
 * not a second change), and a new answer is saved in the same transaction as
 * the change it answers (so a crash keeps both or neither). This module is
 * the in-memory index: bounded in heap bytes overall and per caller. A
 * caller past its own budget forgets its own oldest answers first, so no
 * caller can push out another's; only when the overall budget is full are
 * the oldest answers of anyone forgotten (counted in tc_idem_evicted). */
#ifndef TC_STORE_IDEM_H
#define TC_STORE_IDEM_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tc_idem tc_idem;

/* A remembered answer: the cart version and DTO the change was answered
 * with (the envelope and ETag are rebuilt from them, byte for byte). */
typedef struct {
    int64_t version;
    tc_rbuf *json; /* borrowed from the index */
} tc_idem_answer;

/* max_bytes: the heap all answers may hold; max_caller_bytes: one caller's
 * share of it. Both count each entry's struct, key and DTO, and the record
 * of each caller that has an answer (its name and links). */
tc_idem *tc_idem_new(size_t max_bytes, size_t max_caller_bytes);
void tc_idem_free(tc_idem *d);

/* The answer remembered for key, if it expires after now_ms; else NULL.
 * Borrowed until the next put or forget. */
const tc_idem_answer *tc_idem_get(tc_idem *d, tc_view key, int64_t now_ms);

/* Remembers an answer for key (copied) on behalf of caller (copied), until
 * expires_ms (epoch ms); takes a new reference to json. A key already known
 * is replaced. Entries already expired at now_ms are dropped first. */
void tc_idem_put(tc_idem *d, tc_view caller, tc_view key, int64_t version, tc_rbuf *json,
                 int64_t expires_ms, int64_t now_ms);

/* Forgets key (a change whose save failed). */
void tc_idem_forget(tc_idem *d, tc_view key);

/* Moves to *out (the caller frees it with tc_buf_free) the keys forgotten
 * for a budget since the last call, each ended by a NUL; not those that
 * expired, were replaced or were forgotten with tc_idem_forget. The store
 * deletes their saved copies, so what it saves stays bounded like this
 * index. */
void tc_idem_take_dropped(tc_idem *d, tc_buf *out);

/* Heap held now, and how many answers were forgotten before their time
 * because the overall budget was full. */
size_t tc_idem_bytes(const tc_idem *d);
uint64_t tc_idem_evicted(const tc_idem *d);

#endif
