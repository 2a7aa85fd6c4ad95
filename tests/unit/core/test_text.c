/* The catalogue of diner texts (core/text.h): every message's Chinese and
 * English formats take the parameters its signature declares, in order, with
 * only the conversions the renderer knows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The signature letters a format's conversions stand for, in order
 * ("%s" → 's' or 'f', "%d" → 'd', "%u" → 'u', "%lld" → 'l'), into out;
 * -1 for a conversion the renderer does not know. */
static int conversions(const char *fmt, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') continue;
        p++;
        if (*p == '%') continue;
        char k;
        if (*p == 's')
            k = 's';
        else if (*p == 'd')
            k = 'd';
        else if (*p == 'u')
            k = 'u';
        else if (strncmp(p, "lld", 3) == 0)
            k = 'l', p += 2;
        else
            return -1;
        if (n + 1 >= size) return -1;
        out[n++] = k;
    }
    out[n] = '\0';
    return (int)n;
}

/* True when the conversions of a format fit sig's first letters. */
static bool fits(const char *conv, const char *sig)
{
    size_t n = strlen(conv);
    if (n > strlen(sig)) return false;
    for (size_t i = 0; i < n; i++) {
        char want = sig[i] == 'f' ? 's' : sig[i];
        if (conv[i] != want) return false;
    }
    return true;
}

static void test_formats_take_the_signature(void **state)
{
    (void)state;
    for (int id = TC_T_NONE + 1; id < TC_T_COUNT; id++) {
        const char *sig = tc_text_signature((tc_text)id);
        const char *zh = tc_text_format((tc_text)id, TC_LANG_ZH);
        const char *en = tc_text_format((tc_text)id, TC_LANG_EN);
        assert_non_null(sig);
        assert_non_null(zh);
        assert_non_null(en);
        assert_true(strlen(zh) > 0 && strlen(en) > 0);
        char zc[16], ec[16];
        if (conversions(zh, zc, sizeof zc) < 0 || !fits(zc, sig))
            fail_msg("text %d: Chinese \"%s\" does not take \"%s\"", id, zh, sig);
        if (conversions(en, ec, sizeof ec) < 0 || !fits(ec, sig))
            fail_msg("text %d: English \"%s\" does not take \"%s\"", id, en, sig);
        /* The English text is the full one: it shows every parameter; the
         * Chinese may leave out trailing ones (an id the name says). */
        if (strlen(ec) != strlen(sig))
            fail_msg("text %d: English \"%s\" leaves out parameters of \"%s\"", id, en, sig);
        for (const char *s = sig; *s; s++)
            assert_non_null(strchr("sfdul", *s));
    }
}

static void test_same_text_not_twice(void **state)
{
    (void)state;
    /* tc_text_by_en finds a text by its English: each English text once. */
    for (int a = TC_T_NONE + 1; a < TC_T_COUNT; a++)
        for (int b = a + 1; b < TC_T_COUNT; b++)
            if (strcmp(tc_text_format((tc_text)a, TC_LANG_EN),
                       tc_text_format((tc_text)b, TC_LANG_EN)) == 0)
                fail_msg("texts %d and %d have the same English", a, b);
}

static void test_rendered_in_both_languages(void **state)
{
    (void)state;
    tc_errmsg m;
    tc_errmsg_say(&m, TC_EINVAL, TC_T_TEXT_TOO_LONG, "remark", 200);
    assert_string_equal(tc_errmsg_text(&m, TC_EINVAL, TC_LANG_ZH), "备注最多 200 个字");
    assert_string_equal(tc_errmsg_text(&m, TC_EINVAL, TC_LANG_EN),
                        "remark must be at most 200 characters of text");
    tc_errmsg_say(&m, TC_EINVAL, TC_T_NO_ROUTE, "POST", "/api/nope");
    assert_string_equal(tc_errmsg_text(&m, TC_EINVAL, TC_LANG_ZH), "找不到这个地址");
    assert_string_equal(tc_errmsg_text(&m, TC_EINVAL, TC_LANG_EN), "no route for POST /api/nope");
    tc_errmsg_say(&m, TC_ELIMIT, TC_T_TABLE_FULL, 50);
    assert_string_equal(tc_errmsg_text(&m, TC_ELIMIT, TC_LANG_ZH), "这桌已坐满 50 人");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats_take_the_signature),
        cmocka_unit_test(test_same_text_not_twice),
        cmocka_unit_test(test_rendered_in_both_languages),
    };
    return cmocka_run_group_tests_name("core/text", tests, NULL, NULL);
}
