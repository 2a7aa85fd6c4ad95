#include "api/metrics.h"

#include "core/err.h"

const double tc_metrics_latency_bounds[TC_LATENCY_BUCKETS] = {0.0001, 0.0005, 0.001, 0.005,
                                                              0.01,   0.05,   0.1,   1.0};

void tc_metrics_observe_store(tc_metrics *m, double seconds, int status)
{
    m->store_calls++;
    if (status == TC_ESTORE || status == TC_EIO) m->store_errors++;
    m->store_seconds_sum += seconds;
    for (int i = 0; i < TC_LATENCY_BUCKETS; i++)
        if (seconds <= tc_metrics_latency_bounds[i]) m->store_buckets[i]++;
}

void tc_metrics_count_answer(tc_metrics *m, int status)
{
    m->http_requests++;
    if (status >= 400) m->http_errors++;
}

void tc_metrics_render(const tc_metrics *m, const tc_streams_stats *st, uint64_t open_conns,
                       tc_buf *out)
{
    static const char *kinds[4] = {"add", "update", "remove", "clear"};
    tc_buf_appendf(out,
                   "# HELP tablecart_connections Open connections by kind.\n"
                   "# TYPE tablecart_connections gauge\n"
                   "tablecart_connections{kind=\"sse\"} %llu\n"
                   "tablecart_connections{kind=\"ws\"} %llu\n"
                   "tablecart_connections{kind=\"all\"} %llu\n",
                   (unsigned long long)st->open_sse, (unsigned long long)st->open_ws,
                   (unsigned long long)open_conns);
    tc_buf_appendf(out,
                   "# HELP tablecart_http_requests_total HTTP requests answered.\n"
                   "# TYPE tablecart_http_requests_total counter\n"
                   "tablecart_http_requests_total %llu\n"
                   "# HELP tablecart_http_errors_total HTTP answers with status >= 400.\n"
                   "# TYPE tablecart_http_errors_total counter\n"
                   "tablecart_http_errors_total %llu\n",
                   (unsigned long long)m->http_requests, (unsigned long long)m->http_errors);
    tc_buf_append_str(out, "# HELP tablecart_mutations_total Cart changes applied.\n"
                           "# TYPE tablecart_mutations_total counter\n");
    for (int i = 0; i < 4; i++)
        tc_buf_appendf(out, "tablecart_mutations_total{op=\"%s\"} %llu\n", kinds[i],
                       (unsigned long long)m->mutations[i]);
    tc_buf_appendf(out,
                   "# HELP tablecart_mutations_rejected_total Changes refused (invalid, conflict, "
                   "store error).\n"
                   "# TYPE tablecart_mutations_rejected_total counter\n"
                   "tablecart_mutations_rejected_total %llu\n"
                   "# HELP tablecart_events_sent_total Events queued to subscribers.\n"
                   "# TYPE tablecart_events_sent_total counter\n"
                   "tablecart_events_sent_total{kind=\"sse\"} %llu\n"
                   "tablecart_events_sent_total{kind=\"ws\"} %llu\n"
                   "# HELP tablecart_slow_clients_closed_total Subscribers closed for not "
                   "reading.\n"
                   "# TYPE tablecart_slow_clients_closed_total counter\n"
                   "tablecart_slow_clients_closed_total %llu\n"
                   "# HELP tablecart_store_errors_total Store calls that failed.\n"
                   "# TYPE tablecart_store_errors_total counter\n"
                   "tablecart_store_errors_total %llu\n",
                   (unsigned long long)m->mutations_rejected, (unsigned long long)st->events_sse,
                   (unsigned long long)st->events_ws, (unsigned long long)st->slow_closed,
                   (unsigned long long)m->store_errors);
    tc_buf_append_str(out, "# HELP tablecart_store_latency_seconds Store call latency.\n"
                           "# TYPE tablecart_store_latency_seconds histogram\n");
    for (int i = 0; i < TC_LATENCY_BUCKETS; i++)
        tc_buf_appendf(out, "tablecart_store_latency_seconds_bucket{le=\"%g\"} %llu\n",
                       tc_metrics_latency_bounds[i], (unsigned long long)m->store_buckets[i]);
    tc_buf_appendf(out,
                   "tablecart_store_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                   "tablecart_store_latency_seconds_sum %.6f\n"
                   "tablecart_store_latency_seconds_count %llu\n",
                   (unsigned long long)m->store_calls, m->store_seconds_sum,
                   (unsigned long long)m->store_calls);
}
