/* http_date.h — for unit tests of whole answers: every answer carries a
 * Date header (src/http/response.c), whose value is the second it was
 * written. Tests check it and take it out, then compare the rest byte for
 * byte. Include after <cmocka.h>. */
#ifndef TC_TEST_HTTP_DATE_H
#define TC_TEST_HTTP_DATE_H

#include "core/buf.h"
#include "core/clock.h"
#include "http/response.h"

#include <string.h>

/* The bytes of one Date line, "Date: " to its CRLF. */
#define TL_DATE_LINE (6 + TC_HTTP_DATE_LEN + 2)

/* Takes every "Date: …\r\n" header line out of b (in place), after checking
 * that its value is the IMF-fixdate of a second of the last ten. Returns how
 * many it took out. */
static inline int tl_strip_dates(tc_buf *b)
{
    static const char tag[] = "\r\nDate: ";
    const size_t tag_len = sizeof tag - 1, line = TL_DATE_LINE;
    int n = 0;
    size_t at = 0;
    while (b->len >= tag_len && at <= b->len - tag_len) {
        char *p = memmem(b->base + at, b->len - at, tag, tag_len);
        if (p == NULL) break;
        char *value = p + tag_len;
        assert_true((size_t)(value - b->base) + TC_HTTP_DATE_LEN + 2 <= b->len);
        assert_memory_equal(value + TC_HTTP_DATE_LEN, "\r\n", 2);
        int64_t now = tc_clock_epoch_s();
        bool known = false;
        for (int64_t t = now; t >= now - 10 && !known; t--) {
            char want[TC_HTTP_DATE_LEN + 1];
            tc_http_date(t, want);
            known = memcmp(value, want, TC_HTTP_DATE_LEN) == 0;
        }
        if (!known) fail_msg("Date: %.*s is not a second of the last ten", TC_HTTP_DATE_LEN, value);
        char *from = p + 2; /* the line after the CRLF that ends the one before */
        memmove(from, from + line, b->len - (size_t)(from - b->base) - line);
        b->len -= line;
        b->base[b->len] = '\0';
        at = (size_t)(from - b->base);
        n++;
    }
    return n;
}

/* How many answers text holds (its "HTTP/1.1 " status lines): each has one
 * Date line, which a text written without them leaves out. */
static inline size_t tl_answers_in(const char *text)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, "HTTP/1.1 ")) != NULL; p++)
        n++;
    return n;
}

#endif
