/* fuzz_lang.c — libFuzzer driver for Accept-Language (tc_lang_parse,
 * src/core/text.c).
 *
 * Any input gives zh or en, empty or missing gives zh. An independent
 * reading of RFC 9110 §12.5.4 (elements split at ',', the tag up to ';' or
 * whitespace, q a qvalue "0"/"0.ddd"/"1"/"1.000") decides the well-formed
 * values: en when an en tag ("en", "en-…", any case) has a q above every zh
 * tag's (q=0 is not wanted; equal q: the one listed first). The answer
 * does not change when the value is given with spaces around its commas, or
 * followed by a tag neither en nor zh. */
#include "core/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void fail(const char *why)
{
    fprintf(stderr, "property failed: %s\n", why);
    abort();
}

/* A qvalue in thousandths, or -1 if not one. */
static int qvalue(const char *s, size_t n)
{
    if (n == 0 || (s[0] != '0' && s[0] != '1')) return -1;
    int q = (s[0] - '0') * 1000;
    if (n == 1) return q;
    if (s[1] != '.' || n > 5) return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9') return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

static bool is_alpha_tag(const char *s, size_t n)
{
    if (n == 0) return false;
    if (n == 1 && s[0] == '*') return true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c == '-' && i > 0 && i + 1 < n);
        if (!ok) return false;
    }
    return true;
}

/* 1: en, 0: zh, -1: not well-formed (no verdict). */
static int model(const char *s, size_t n)
{
    int best_en = 0, best_zh = 0;
    size_t at_en = 0, at_zh = 0, index = 0;
    size_t i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && s[e] != ',')
            e++;
        size_t b = i, f = e;
        while (b < f && (s[b] == ' ' || s[b] == '\t'))
            b++;
        while (f > b && (s[f - 1] == ' ' || s[f - 1] == '\t'))
            f--;
        if (f > b) {
            size_t t = b;
            while (t < f && s[t] != ';')
                t++;
            if (!is_alpha_tag(s + b, t - b)) return -1;
            int q = 1000;
            if (t < f) {
                if (f - t < 3 || (s[t + 1] != 'q' && s[t + 1] != 'Q') || s[t + 2] != '=') return -1;
                q = qvalue(s + t + 3, f - t - 3);
                if (q < 0) return -1;
            }
            index++;
            size_t tl = t - b;
            bool en = tl >= 2 && strncasecmp(s + b, "en", 2) == 0 && (tl == 2 || s[b + 2] == '-');
            bool zh = tl >= 2 && strncasecmp(s + b, "zh", 2) == 0 && (tl == 2 || s[b + 2] == '-');
            if (en && q > best_en) {
                best_en = q;
                at_en = index;
            }
            if (zh && q > best_zh) {
                best_zh = q;
                at_zh = index;
            }
        }
        i = e + 1;
    }
    if (best_en == 0) return 0;
    return best_en > best_zh || (best_en == best_zh && at_en < at_zh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tc_lang l = tc_lang_parse(s, size);
    if (l != TC_LANG_ZH && l != TC_LANG_EN) fail("neither zh nor en");
    if (tc_lang_parse(NULL, 0) != TC_LANG_ZH || tc_lang_parse(s, 0) != TC_LANG_ZH)
        fail("empty is not zh");
    int m = model(s, size);
    if (m >= 0 && (int)l != m) fail("differs from RFC 9110's reading");
    if (m < 0) return 0;
    /* Spaces around commas, and a tag of another language, change nothing. */
    char *t = malloc(size * 3 + 16);
    size_t k = 0;
    for (size_t i = 0; i < size; i++) {
        if (s[i] == ',') {
            t[k++] = ' ';
            t[k++] = ',';
            t[k++] = '\t';
        } else {
            t[k++] = s[i];
        }
    }
    memcpy(t + k, ", fr;q=1", 8);
    if (tc_lang_parse(t, k) != l) fail("spaces around commas changed the answer");
    if (tc_lang_parse(t, k + 8) != l) fail("another language's tag changed the answer");
    free(t);
    return 0;
}
