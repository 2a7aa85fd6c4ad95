/* metrics.h — counters for GET /metrics (Prometheus text format). Plain
 * counters bumped on the loop thread; no locks needed. */
#ifndef TC_API_METRICS_H
#define TC_API_METRICS_H

#include "core/buf.h"
#include "push/stream.h"

#include <stdint.h>

#define TC_LATENCY_BUCKETS 8

struct tc_metrics {
    uint64_t http_requests; /* every answer, counted where it is written */
    uint64_t http_errors;   /* answers >= 400 */
    uint64_t mutations[4];  /* by tc_op_kind, applied (changed the cart) */
    uint64_t mutations_rejected;
    uint64_t store_calls;
    uint64_t store_errors;
    double store_seconds_sum;
    uint64_t store_buckets[TC_LATENCY_BUCKETS]; /* cumulative counts per bound */
};

typedef struct tc_metrics tc_metrics;

/* Upper bounds, in seconds, of the store latency histogram's buckets. */
extern const double tc_metrics_latency_bounds[TC_LATENCY_BUCKETS];

void tc_metrics_observe_store(tc_metrics *m, double seconds, int status);
/* Counts one HTTP answer of status (the session's on_answer hook). */
void tc_metrics_count_answer(tc_metrics *m, int status);
/* Appends the Prometheus exposition of m and of the streams' counters st;
 * open_conns is the server's count. */
void tc_metrics_render(const tc_metrics *m, const tc_streams_stats *st, uint64_t open_conns,
                       tc_buf *out);

#endif
