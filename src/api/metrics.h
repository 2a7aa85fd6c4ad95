/* metrics.h — counters for GET /metrics (Prometheus text format 0.0.4, the
 * names in docs/operations.md). Plain counters bumped on the loop thread; no
 * locks needed. Every observation is a few additions: nothing here formats
 * or writes until a scrape renders. */
#ifndef TC_API_METRICS_H
#define TC_API_METRICS_H

#include "core/buf.h"
#include "push/stream.h"

#include <stdint.h>

#define TC_LATENCY_BUCKETS 8
#define TC_DELIVERY_BUCKETS 12
/* GET, HEAD, POST, PUT, DELETE, OPTIONS and "other" (any other method, or a
 * request whose line could not be read). */
#define TC_METRICS_METHODS 7
/* Statuses 100 to 599, one counter each per method. */
#define TC_METRICS_STATUS_MIN 100
#define TC_METRICS_STATUSES 500

struct tc_metrics {
    const char *version; /* tablecart_build_info{version}; static */
    double start_time_s; /* process_start_time_seconds: Unix time at tc_metrics_init */
    uint64_t http_answers[TC_METRICS_METHODS][TC_METRICS_STATUSES]; /* by method and status */
    uint64_t mutations[4]; /* by tc_op_kind, applied (changed the cart) */
    uint64_t mutations_rejected;
    uint64_t store_calls;
    uint64_t store_errors;
    double store_seconds_sum;
    uint64_t store_buckets[TC_LATENCY_BUCKETS]; /* per bucket (not cumulative) */
    uint64_t delivery_count;
    double delivery_seconds_sum;
    uint64_t delivery_buckets[TC_DELIVERY_BUCKETS]; /* per bucket (not cumulative) */
};

typedef struct tc_metrics tc_metrics;

/* Zeroes m and notes the start time; version (static) is the build's. */
void tc_metrics_init(tc_metrics *m, const char *version);
/* Counts one store call that took seconds; a status of TC_ESTORE or TC_EIO
 * also counts as a store error. */
void tc_metrics_observe_store(tc_metrics *m, double seconds, int status);
/* Counts one HTTP answer of status to a request of method_bit (a TC_M_* bit,
 * 0: another method or none). A status outside 100-599 is not counted. */
void tc_metrics_count_answer(tc_metrics *m, unsigned method_bit, int status);
/* A committed change reached a subscriber's socket latency_ns after its
 * commit (the server's on_delivered hook). */
void tc_metrics_observe_delivery(tc_metrics *m, uint64_t latency_ns);
/* Appends the Prometheus exposition of m, of the streams' counters st and of
 * the process (CPU, memory, descriptors, read from /proc and getrusage);
 * open_conns is the server's count of open connections. */
void tc_metrics_render(const tc_metrics *m, const tc_streams_stats *st, uint64_t open_conns,
                       tc_buf *out);

#endif
