#include "cart/diner.h"

#include "core/json.h"
#include "core/mem.h"
#include "core/text.h"

#include <stdlib.h>
#include <string.h>

void tc_diner_name_json(const tc_diner *d, tc_buf *out)
{
    if (d->name) {
        tc_json_cstr_or_null(out, d->name);
        return;
    }
    tc_buf_append(out, "\"", 1);
    tc_buf_append_dec(out, d->seat);
    tc_buf_append_str(out, "号\"");
}

/* A space at s (ASCII space or tab, or U+3000, the full-width space) of
 * *len bytes. */
static bool is_space(const char *s, size_t n, size_t *len)
{
    if (n >= 1 && (*s == ' ' || *s == '\t')) {
        *len = 1;
        return true;
    }
    if (n >= 3 && (unsigned char)s[0] == 0xE3 && (unsigned char)s[1] == 0x80 &&
        (unsigned char)s[2] == 0x80) {
        *len = 3;
        return true;
    }
    return false;
}

/* A text direction or zero-width character at s (n bytes, valid UTF-8 as
 * tc_utf8_count found it): U+061C ARABIC LETTER MARK, U+200B..U+200D (zero
 * width space, non-joiner, joiner), U+200E/U+200F (LRM, RLM), U+202A..U+202E
 * (embeddings, overrides, PDF), U+2060 WORD JOINER, U+2066..U+2069
 * (isolates, PDI), U+FEFF (zero width no-break space). */
static bool is_invisible(const unsigned char *s, size_t n)
{
    if (n >= 2 && s[0] == 0xD8 && s[1] == 0x9C) return true; /* U+061C */
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x80)
        return (s[2] >= 0x8B && s[2] <= 0x8F) || (s[2] >= 0xAA && s[2] <= 0xAE);
    if (n >= 3 && s[0] == 0xE2 && s[1] == 0x81)
        return s[2] == 0xA0 || (s[2] >= 0xA6 && s[2] <= 0xA9);
    return n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF; /* U+FEFF */
}

int tc_diner_name_check(const char *name, char **out, tc_errmsg *err)
{
    if (name == NULL) return tc_errmsg_say(err, TC_EINVAL, TC_T_NAME_LEN);
    size_t k, n = strlen(name);
    while (is_space(name, n, &k))
        name += k, n -= k;
    for (;;) {
        if (n >= 1 && is_space(name + n - 1, 1, &k))
            n -= 1;
        else if (n >= 3 && is_space(name + n - 3, 3, &k) && k == 3) /* U+3000, not a space 3 back */
            n -= 3;
        else
            break;
    }
    long chars = tc_utf8_count(name, n);
    if (chars < 1 || chars > TC_DINER_MAX_NAME) return tc_errmsg_say(err, TC_EINVAL, TC_T_NAME_LEN);
    if (tc_utf8_has_control(name, n)) return tc_errmsg_say(err, TC_EINVAL, TC_T_NAME_LEN);
    for (size_t i = 0; i < n; i++)
        if (is_invisible((const unsigned char *)name + i, n - i))
            return tc_errmsg_say(err, TC_EINVAL, TC_T_NAME_INVISIBLE);
    *out = tc_xmalloc(n + 1);
    memcpy(*out, name, n);
    (*out)[n] = '\0';
    return 0;
}

const tc_diner *tc_diner_find(const tc_diner *list, size_t n, int64_t user_id)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].user_id == user_id) return &list[i];
    return NULL;
}

bool tc_diners_equal(const tc_diner *a, size_t na, const tc_diner *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].user_id != b[i].user_id || a[i].seat != b[i].seat) return false;
        if ((a[i].name == NULL) != (b[i].name == NULL)) return false;
        if (a[i].name && strcmp(a[i].name, b[i].name) != 0) return false;
    }
    return true;
}

tc_diner *tc_diners_copy(const tc_diner *list, size_t n)
{
    if (n == 0) return NULL;
    tc_diner *c = tc_xmalloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i] = list[i];
        c[i].name = list[i].name ? tc_xstrdup(list[i].name) : NULL;
    }
    return c;
}

void tc_diners_free(tc_diner *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
}

bool tc_sitting_over(int64_t now_ms, int64_t active_ms, int64_t gap_ms)
{
    return gap_ms > 0 && active_ms >= 0 && now_ms - active_ms >= gap_ms;
}

int64_t tc_sitting_touch_ms(int64_t gap_ms)
{
    return gap_ms / 4 > 0 ? gap_ms / 4 : 1;
}

int64_t tc_sitting_sweep_ms(int64_t gap_ms)
{
    int64_t half = tc_sitting_touch_ms(gap_ms) / 2;
    return half > 1000 ? 1000 : half > 0 ? half : 1;
}
