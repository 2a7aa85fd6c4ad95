#include "core/json.h"

#include <inttypes.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one:
 * RFC 3629 ranges, so overlongs, surrogates and code points past U+10FFFF
 * are all refused. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char b0 = s[0];
    if (b0 < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0; /* overlong */
        if (b0 == 0xED) hi = 0x9F; /* surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90; /* overlong */
        if (b0 == 0xF4) hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

long tc_utf8_count(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0) return -1;
        i += len;
        count++;
    }
    return count;
}

bool tc_utf8_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7F || (b == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] < 0xA0))
            return true;
    }
    return false;
}

/* Writes the escape for a quote, a backslash or a control byte into tmp and
 * returns its length. */
static size_t escape_ascii(unsigned char ch, char tmp[6])
{
    static const char hex[] = "0123456789abcdef";
    char short_form = 0;
    switch (ch) {
    case '"':
        short_form = '"';
        break;
    case '\\':
        short_form = '\\';
        break;
    case '\b':
        short_form = 'b';
        break;
    case '\f':
        short_form = 'f';
        break;
    case '\n':
        short_form = 'n';
        break;
    case '\r':
        short_form = 'r';
        break;
    case '\t':
        short_form = 't';
        break;
    default:
        break;
    }
    tmp[0] = '\\';
    if (short_form) {
        tmp[1] = short_form;
        return 2;
    }
    tmp[1] = 'u';
    tmp[2] = '0';
    tmp[3] = '0';
    tmp[4] = hex[ch >> 4];
    tmp[5] = hex[ch & 0xF];
    return 6;
}

void tc_json_str(tc_buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    tc_buf_reserve(out, n + 2);
    tc_buf_append(out, "\"", 1);
    size_t run = 0; /* start of the stretch that can be copied as is */
    size_t i = 0;
    while (i < n) {
        unsigned char ch = p[i];
        char tmp[6];
        const char *esc = tmp;
        size_t esc_len;
        if (ch >= 0x20 && ch != '"' && ch != '\\') {
            if (ch < 0x80) {
                i++;
                continue;
            }
            size_t len = utf8_seq(p + i, n - i);
            if (len > 0) {
                i += len;
                continue;
            }
            /* An invalid byte (a phone number from a header, say) becomes
             * U+FFFD: what we write must always parse again, or a stored cart
             * would become unreadable. */
            esc = "\xEF\xBF\xBD";
            esc_len = 3;
        } else {
            esc_len = escape_ascii(ch, tmp);
        }
        tc_buf_append(out, s + run, i - run);
        tc_buf_append(out, esc, esc_len);
        i++;
        run = i;
    }
    tc_buf_append(out, s + run, n - run);
    tc_buf_append(out, "\"", 1);
}

void tc_json_cstr_or_null(tc_buf *out, const char *s)
{
    if (s == NULL)
        tc_buf_append(out, "null", 4);
    else
        tc_json_str(out, s, strlen(s));
}

size_t tc_json_int_text(int64_t v, char out[TC_JSON_INT_MAX])
{
    /* Digits are produced backwards from the magnitude, kept unsigned so that
     * INT64_MIN has one. */
    char tmp[TC_JSON_INT_MAX];
    size_t n = 0, len = 0;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (v < 0) out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

void tc_json_int(tc_buf *out, int64_t v)
{
    tc_buf_append_dec(out, v);
}

void tc_json_raw_or_null(tc_buf *out, const char *raw, size_t len)
{
    if (raw)
        tc_buf_append(out, raw, len);
    else
        tc_buf_append_str(out, "null");
}
