#include "api/metrics.h"

#include "core/err.h"
#include "http/router.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

/* Upper bounds, in seconds, of the store latency histogram's buckets. */
static const double latency_bounds[TC_LATENCY_BUCKETS] = {0.0001, 0.0005, 0.001, 0.005,
                                                          0.01,   0.05,   0.1,   1.0};
/* Upper bounds, in seconds, of the delivery latency histogram's buckets: from
 * a quarter of a millisecond on one machine to a second through a slow
 * reader's queue. */
static const double delivery_bounds[TC_DELIVERY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};

static const char *const method_names[TC_METRICS_METHODS] = {"GET",    "HEAD",    "POST", "PUT",
                                                             "DELETE", "OPTIONS", "other"};
static const unsigned method_bits[TC_METRICS_METHODS - 1] = {TC_M_GET, TC_M_HEAD,   TC_M_POST,
                                                             TC_M_PUT, TC_M_DELETE, TC_M_OPTIONS};

#define NS_PER_S 1e9
#define US_PER_S 1e6

/* "# HELP name help\n# TYPE name type\n" */
static void head(tc_buf *out, const char *name, const char *type, const char *help)
{
    tc_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Counts one observation of seconds into per-bucket counts (a value above
 * every bound counts only in +Inf, that is in count). */
static void observe(double seconds, const double *bounds, uint64_t *buckets, int n)
{
    for (int i = 0; i < n; i++) {
        if (seconds <= bounds[i]) {
            buckets[i]++;
            return;
        }
    }
}

/* A histogram of per-bucket counts, rendered cumulative as Prometheus wants. */
static void histogram(tc_buf *out, const char *name, const char *help, const double *bounds,
                      const uint64_t *buckets, int n, uint64_t count, double sum)
{
    head(out, name, "histogram", help);
    uint64_t cum = 0;
    for (int i = 0; i < n; i++) {
        cum += buckets[i];
        tc_buf_appendf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                       (unsigned long long)cum);
    }
    tc_buf_appendf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                   (unsigned long long)count, name, sum, name, (unsigned long long)count);
}

void tc_metrics_init(tc_metrics *m, const char *version)
{
    memset(m, 0, sizeof *m);
    m->version = version;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    m->start_time_s = (double)tv.tv_sec + (double)tv.tv_usec / US_PER_S;
}

void tc_metrics_observe_store(tc_metrics *m, double seconds, int status)
{
    m->store_calls++;
    if (status == TC_ESTORE || status == TC_EIO) m->store_errors++;
    m->store_seconds_sum += seconds;
    observe(seconds, latency_bounds, m->store_buckets, TC_LATENCY_BUCKETS);
}

void tc_metrics_count_answer(tc_metrics *m, unsigned method_bit, int status)
{
    if (status < TC_METRICS_STATUS_MIN || status >= TC_METRICS_STATUS_MIN + TC_METRICS_STATUSES)
        return;
    size_t k = 0;
    while (k < TC_METRICS_METHODS - 1 && method_bits[k] != method_bit)
        k++;
    m->http_answers[k][status - TC_METRICS_STATUS_MIN]++;
}

void tc_metrics_observe_delivery(tc_metrics *m, uint64_t latency_ns)
{
    double s = (double)latency_ns / NS_PER_S;
    m->delivery_count++;
    m->delivery_seconds_sum += s;
    observe(s, delivery_bounds, m->delivery_buckets, TC_DELIVERY_BUCKETS);
}

static void counter(tc_buf *out, const char *name, const char *help, uint64_t v)
{
    head(out, name, "counter", help);
    tc_buf_appendf(out, "%s %llu\n", name, (unsigned long long)v);
}

/* The process's own figures, as every Prometheus client library names them. */
static void render_process(const tc_metrics *m, tc_buf *out)
{
    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / US_PER_S +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / US_PER_S;
    head(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
    tc_buf_appendf(out, "process_cpu_seconds_total %.6f\n", cpu);

    unsigned long long vsize_pages = 0, rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vsize_pages, &rss_pages) != 2) vsize_pages = rss_pages = 0;
        fclose(f);
    }
    unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
    head(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    tc_buf_appendf(out, "process_resident_memory_bytes %llu\n", rss_pages * page);
    head(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    tc_buf_appendf(out, "process_virtual_memory_bytes %llu\n", vsize_pages * page);

    unsigned long long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d)) != NULL;)
            if (e->d_name[0] != '.') fds++;
        closedir(d);
        fds--; /* the descriptor of the listing itself */
    }
    head(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    tc_buf_appendf(out, "process_open_fds %llu\n", fds);
    struct rlimit rl;
    head(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    tc_buf_appendf(out, "process_max_fds %llu\n",
                   getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (unsigned long long)rl.rlim_cur : 0ull);
    head(out, "process_start_time_seconds", "gauge",
         "Start time of the process since unix epoch in seconds.");
    tc_buf_appendf(out, "process_start_time_seconds %.3f\n", m->start_time_s);
}

void tc_metrics_render(const tc_metrics *m, const tc_streams_stats *st, uint64_t open_conns,
                       tc_buf *out)
{
    static const char *kinds[4] = {"add", "update", "remove", "clear"};
    head(out, "tablecart_build_info", "gauge", "The running build; the value is always 1.");
    tc_buf_appendf(out, "tablecart_build_info{version=\"%s\"} 1\n", m->version ? m->version : "");

    /* Each open connection is of one kind: a stream (sse, ws) or plain HTTP. */
    uint64_t streams = st->open_sse + st->open_ws;
    head(out, "tablecart_connections", "gauge",
         "Open client connections by kind: http (requests, keep-alive), sse, ws.");
    tc_buf_appendf(out,
                   "tablecart_connections{kind=\"http\"} %llu\n"
                   "tablecart_connections{kind=\"sse\"} %llu\n"
                   "tablecart_connections{kind=\"ws\"} %llu\n",
                   (unsigned long long)(open_conns > streams ? open_conns - streams : 0),
                   (unsigned long long)st->open_sse, (unsigned long long)st->open_ws);

    head(out, "tablecart_http_requests_total", "counter",
         "HTTP requests answered, by method and status code (a stream or upgrade counts once).");
    for (int k = 0; k < TC_METRICS_METHODS; k++)
        for (int c = 0; c < TC_METRICS_STATUSES; c++)
            if (m->http_answers[k][c])
                tc_buf_appendf(out,
                               "tablecart_http_requests_total{method=\"%s\",code=\"%d\"} %llu\n",
                               method_names[k], c + TC_METRICS_STATUS_MIN,
                               (unsigned long long)m->http_answers[k][c]);

    head(out, "tablecart_mutations_total", "counter", "Cart changes applied, by operation.");
    for (int i = 0; i < 4; i++)
        tc_buf_appendf(out, "tablecart_mutations_total{op=\"%s\"} %llu\n", kinds[i],
                       (unsigned long long)m->mutations[i]);
    counter(out, "tablecart_mutations_rejected_total",
            "Changes refused (invalid, conflict, store error).", m->mutations_rejected);
    head(out, "tablecart_events_sent_total", "counter", "Cart updates queued to subscribers.");
    tc_buf_appendf(out,
                   "tablecart_events_sent_total{kind=\"sse\"} %llu\n"
                   "tablecart_events_sent_total{kind=\"ws\"} %llu\n",
                   (unsigned long long)st->events_sse, (unsigned long long)st->events_ws);
    counter(out, "tablecart_slow_clients_closed_total", "Subscribers closed for not reading.",
            st->slow_closed);
    counter(out, "tablecart_store_errors_total", "Store calls that failed.", m->store_errors);

    histogram(out, "tablecart_store_latency_seconds", "Store call latency in seconds.",
              latency_bounds, m->store_buckets, TC_LATENCY_BUCKETS, m->store_calls,
              m->store_seconds_sum);
    histogram(out, "tablecart_delivery_latency_seconds",
              "From a change's commit to its cart update handed whole to a subscriber's socket.",
              delivery_bounds, m->delivery_buckets, TC_DELIVERY_BUCKETS, m->delivery_count,
              m->delivery_seconds_sum);

    render_process(m, out);
}
