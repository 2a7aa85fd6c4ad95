/* test_log.c — tc_log_redact: no token (query value, Authorization, any
 * JWT) ever reaches a log line; everything else is copied as it is. And the
 * buffered lines: nothing is written before tc_log_flush, then every line in
 * order, after an immediate line flushes what was buffered first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JWT                                                                                        \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOjEwMCwiZXhwIjoxfQ."                         \
    "wsQWmBov8h7cHo4JPm6051l5QdP75q58m8a9b88Io0s"

static void redacts(const char *in, const char *want)
{
    char out[512];
    size_t n = tc_log_redact(in, strlen(in), out, sizeof out);
    if (strcmp(out, want) != 0) fail_msg("'%s'\n -> '%s'\n want '%s'", in, out, want);
    assert_int_equal(n, strlen(want));
}

static void test_query_tokens(void **state)
{
    (void)state;
    redacts("GET /api/store/order/cart/123?token=" JWT "&x=1 -> 200",
            "GET /api/store/order/cart/123?token=[redacted]&x=1 -> 200");
    redacts("GET /x?a=1&token=abc&b=2 -> 200", "GET /x?a=1&token=[redacted]&b=2 -> 200");
    redacts("GET /x?token=abc -> 401", "GET /x?token=[redacted] -> 401");
    redacts("GET /x?TOKEN=abc#f", "GET /x?TOKEN=[redacted]#f");
    redacts("GET /x?access_token=abc&id_token=d",
            "GET /x?access_token=[redacted]&id_token=[redacted]");
    /* The server decodes a parameter's name: so does the redaction (the
     * token was logged whole, its first byte escaped too). */
    redacts("GET /x?%74oken=%65yJh.eyJ.sig&b=2", "GET /x?%74oken=[redacted]&b=2");
    redacts("GET /x?a=1&tok%65n=abc", "GET /x?a=1&tok%65n=[redacted]");
    redacts("GET /x?a=1;%54%4f%4B%45%4E=abc#f", "GET /x?a=1;%54%4f%4B%45%4E=[redacted]#f");
    redacts("GET /x?access_%74oken=abc", "GET /x?access_%74oken=[redacted]");
    redacts("GET /x?%74oke=abc&t%6Fkens=d", "GET /x?%74oke=abc&t%6Fkens=d"); /* other names */
    redacts("GET /x?%74oken", "GET /x?%74oken");                             /* no value */
    redacts("GET /x?token=&a=1", "GET /x?token=&a=1");                       /* nothing to hide */
    redacts("GET /x?token=%65yJ.a.b", "GET /x?token=[redacted]");
}

static void test_authorization_and_bearer(void **state)
{
    (void)state;
    redacts("Authorization: Bearer abc.def", "Authorization: [redacted]");
    redacts("authorization:Basic dXNlcjpwdw==\r\nHost: x", "authorization:[redacted]\r\nHost: x");
    redacts("got bearer abc.def here", "got bearer [redacted] here");
    redacts("Bearer " JWT, "Bearer [redacted]");
}

static void test_any_jwt(void **state)
{
    (void)state;
    redacts("GET /x?t=" JWT " -> 200", "GET /x?t=[redacted] -> 200");
    redacts("GET /x/" JWT "/y", "GET /x/[redacted]/y");
    redacts("eyJa.b", "eyJa.b"); /* two parts: not a JWT */
    redacts("xeyJa.b.c", "xeyJa.b.c");
}

static void test_everything_else_copied(void **state)
{
    (void)state;
    const char *same[] = {"", "GET /api/store/order/cart/123?userId=7 -> 200", "tokens=1 token",
                          "store: sqlite /tmp/t.db: wal",
                          "ws conn 7 /ws/cart/123: no answer, dropped"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        redacts(same[i], same[i]);
}

static void test_truncates_to_fit(void **state)
{
    (void)state;
    char out[12];
    assert_int_equal(tc_log_redact("0123456789abcdef", 16, out, sizeof out), 11);
    assert_string_equal(out, "0123456789a");
    assert_int_equal(tc_log_redact("?token=secret", 13, out, sizeof out), 11);
    assert_string_equal(out, "?token=[red");
    assert_int_equal(tc_log_redact("abc", 3, out, 1), 0);
    assert_string_equal(out, "");
}

/* Runs with stderr sent to a temporary file; returns what was written. */
static int saved_stderr = -1;
static FILE *capture;

static void capture_start(void)
{
    fflush(stderr);
    capture = tmpfile();
    assert_non_null(capture);
    saved_stderr = dup(STDERR_FILENO);
    assert_int_equal(dup2(fileno(capture), STDERR_FILENO), STDERR_FILENO);
}

static char *captured(void)
{
    fflush(stderr);
    fseek(capture, 0, SEEK_END);
    long n = ftell(capture);
    rewind(capture);
    char *text = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, capture), (size_t)n);
    return text;
}

static void capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    fclose(capture);
}

/* The line's text after "<time> " (the timestamp's shape is checked). */
static const char *after_time(const char *line)
{
    /* 2026-11-30T12:00:00.123Z */
    assert_true(strlen(line) > 25);
    assert_int_equal(line[4], '-');
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[19], '.');
    assert_int_equal(line[23], 'Z');
    assert_int_equal(line[24], ' ');
    return line + 25;
}

static void test_buffered_lines_wait_for_flush(void **state)
{
    (void)state;
    capture_start();
    tc_buf *b = tc_log_begin(TC_LOG_INFO);
    assert_non_null(b);
    tc_buf_append_str(b, "access one");
    tc_log_end(b);
    b = tc_log_begin(TC_LOG_WARN);
    tc_buf_append_str(b, "access two");
    tc_log_end(b);
    assert_null(tc_log_begin(TC_LOG_DEBUG)); /* below the level: nothing built */
    char *text = captured();
    assert_string_equal(text, ""); /* nothing before the flush */
    free(text);
    tc_log_info("immediate %d", 3); /* flushes the buffered lines first */
    text = captured();
    capture_end();
    char *l1 = text, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    assert_memory_equal(after_time(l1), "info access one\n", 16);
    assert_memory_equal(after_time(l2), "warn access two\n", 16);
    assert_string_equal(after_time(l3), "info immediate 3\n");
    free(text);
}

static void test_flush_writes_everything_once(void **state)
{
    (void)state;
    capture_start();
    for (int i = 0; i < 2000; i++) { /* past the 16 KiB threshold: written on the way */
        tc_buf *b = tc_log_begin(TC_LOG_ERROR);
        tc_buf_append_str(b, "x");
        tc_log_end(b);
    }
    tc_log_flush();
    tc_log_flush(); /* nothing left: writes nothing */
    char *text = captured();
    capture_end();
    size_t lines = 0;
    for (char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 2000);
    assert_int_equal(strlen(text), 2000 * strlen("2026-11-30T12:00:00.123Z error x\n"));
    free(text);
}

static void test_level_names(void **state)
{
    (void)state;
    const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        enum tc_log_level l = TC_LOG_ERROR;
        assert_int_equal(tc_log_level_parse(names[i], &l), 0);
        assert_int_equal(l, i);
    }
    const char *bad[] = {"", "DEBUG", "Info", "warning", "err", "info ", "verbose"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum tc_log_level l = TC_LOG_WARN;
        assert_int_equal(tc_log_level_parse(bad[i], &l), TC_EINVAL);
        assert_int_equal(l, TC_LOG_WARN);
    }
}

#define THREAD_LINES 3000

static void *log_from_another_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < THREAD_LINES; i++)
        tc_log_error("store: other thread");
    return NULL;
}

/* The store's threads log with tc_log (a failed commit, checkpoint or
 * sync) while the loop buffers its access lines: tc_log flushed the loop's
 * buffer from whatever thread it ran on, so two threads appended to, wrote
 * and emptied one tc_buf at once (lines lost or written twice, a realloc
 * under a writer; ThreadSanitizer reports it). Each line comes out once. */
static void test_lines_from_another_thread_leave_the_buffer_alone(void **state)
{
    (void)state;
    capture_start();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, log_from_another_thread, NULL), 0);
    for (int i = 0; i < THREAD_LINES; i++) {
        tc_buf *b = tc_log_begin(TC_LOG_INFO);
        tc_buf_append_str(b, "access loop");
        tc_log_end(b);
        if (i % 16 == 15) tc_log_flush(); /* a loop turn */
    }
    pthread_join(t, NULL);
    tc_log_flush();
    char *text = captured();
    capture_end();
    size_t loop = 0, other = 0;
    for (char *l = text, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
        *nl = '\0';
        const char *m = after_time(l);
        if (strcmp(m, "info access loop") == 0)
            loop++;
        else if (strcmp(m, "error store: other thread") == 0)
            other++;
        else
            fail_msg("a broken line: '%s'", l);
    }
    assert_int_equal(loop, THREAD_LINES);
    assert_int_equal(other, THREAD_LINES);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_tokens),
        cmocka_unit_test(test_authorization_and_bearer),
        cmocka_unit_test(test_any_jwt),
        cmocka_unit_test(test_everything_else_copied),
        cmocka_unit_test(test_truncates_to_fit),
        cmocka_unit_test(test_buffered_lines_wait_for_flush),
        cmocka_unit_test(test_flush_writes_everything_once),
        cmocka_unit_test(test_lines_from_another_thread_leave_the_buffer_alone),
        cmocka_unit_test(test_level_names),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
