/* test_metrics.c — the Prometheus text of tc_metrics: answers by method and
 * code, connections by kind, the histograms rendered cumulative, build info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/metrics.h"
#include "http/router.h"

#include <string.h>

static const char *render(const tc_metrics *m, const tc_streams_stats *st, uint64_t open,
                          tc_buf *out)
{
    tc_buf_reset(out);
    tc_metrics_render(m, st, open, out);
    return tc_buf_cstr(out);
}

/* Asserts that text holds line as a whole line. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n') return;
    fail_msg("no line \"%s\" in:\n%s", line, text);
}

/* assert_line for each of the NULL-terminated lines. */
static void assert_lines(const char *text, const char *const *lines)
{
    for (; *lines; lines++)
        assert_line(text, *lines);
}

static void test_answers_by_method_and_code(void **state)
{
    (void)state;
    static tc_metrics m;
    tc_metrics_init(&m, "9.8.7");
    tc_streams_stats st = {.open_sse = 2, .open_ws = 1};
    for (int i = 0; i < 3; i++)
        tc_metrics_count_answer(&m, TC_M_POST, 200);
    tc_metrics_count_answer(&m, TC_M_GET, 404);
    tc_metrics_count_answer(&m, 0, 400);       /* an unread request line */
    tc_metrics_count_answer(&m, TC_M_GET, 99); /* out of range: not counted */
    tc_metrics_count_answer(&m, TC_M_GET, 600);
    tc_buf out = TC_BUF_INIT;
    const char *t = render(&m, &st, 7, &out);
    assert_lines(
        t, (const char *const[]){"tablecart_build_info{version=\"9.8.7\"} 1",
                                 "tablecart_http_requests_total{method=\"POST\",code=\"200\"} 3",
                                 "tablecart_http_requests_total{method=\"GET\",code=\"404\"} 1",
                                 "tablecart_http_requests_total{method=\"other\",code=\"400\"} 1",
                                 "tablecart_connections{kind=\"http\"} 4",
                                 "tablecart_connections{kind=\"sse\"} 2",
                                 "tablecart_connections{kind=\"ws\"} 1", NULL});
    /* 3 answers in 3 lines: nothing else was counted */
    size_t lines = 0;
    for (const char *p = strstr(t, "\ntablecart_http_requests_total{"); p;
         p = strstr(p + 1, "\ntablecart_http_requests_total{"))
        lines++;
    assert_int_equal(lines, 3);
    assert_null(strstr(t, "kind=\"all\""));
    /* fewer connections than streams (a closing stream): http is 0, never negative */
    t = render(&m, &st, 2, &out);
    assert_line(t, "tablecart_connections{kind=\"http\"} 0");
    tc_buf_free(&out);
}

static void test_histograms_are_cumulative(void **state)
{
    (void)state;
    static tc_metrics m;
    tc_metrics_init(&m, "1");
    tc_streams_stats st = {0};
    tc_metrics_observe_delivery(&m, 300000);      /* 0.3 ms */
    tc_metrics_observe_delivery(&m, 300000);      /* 0.3 ms */
    tc_metrics_observe_delivery(&m, 20000000);    /* 20 ms */
    tc_metrics_observe_delivery(&m, 3000000000u); /* 3 s: only +Inf */
    tc_metrics_observe_store(&m, 0.002, 0);
    tc_buf out = TC_BUF_INIT;
    const char *t = render(&m, &st, 0, &out);
    /* cumulative buckets; every family with its HELP and TYPE */
    assert_lines(
        t, (const char *const[]){"# TYPE tablecart_delivery_latency_seconds histogram",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"0.00025\"} 0",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"0.0005\"} 2",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"0.01\"} 2",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"0.025\"} 3",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"1\"} 3",
                                 "tablecart_delivery_latency_seconds_bucket{le=\"+Inf\"} 4",
                                 "tablecart_delivery_latency_seconds_count 4",
                                 "tablecart_delivery_latency_seconds_sum 3.020600",
                                 "tablecart_store_latency_seconds_bucket{le=\"0.001\"} 0",
                                 "tablecart_store_latency_seconds_bucket{le=\"0.005\"} 1",
                                 "tablecart_store_latency_seconds_bucket{le=\"+Inf\"} 1",
                                 "# HELP process_open_fds Number of open file descriptors.",
                                 "# TYPE process_cpu_seconds_total counter", NULL});
    tc_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_by_method_and_code),
        cmocka_unit_test(test_histograms_are_cumulative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
