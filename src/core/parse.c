#include "core/parse.h"

#include "core/text.h"

#include <stdbool.h>

/* More digits than any 32-bit value needs, with room for leading zeros;
 * longer text is refused before it could overflow int64_t. */
#define INT_TEXT_MAX_DIGITS 12

int tc_parse_int_refuse(const char *field, tc_in_kind kind, tc_errmsg *err)
{
    return tc_errmsg_say(err, TC_EINVAL, kind == TC_IN_ID ? TC_T_NOT_ID : TC_T_NOT_INT, field);
}

int tc_parse_int_range(int64_t v, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err)
{
    if (kind == TC_IN_ID && (v < 1 || v > INT32_MAX)) return tc_parse_int_refuse(field, kind, err);
    if (kind == TC_IN_QUANTITY && (v < INT32_MIN || v > INT32_MAX))
        return tc_parse_int_refuse(field, kind, err);
    *out = v;
    return 0;
}

int tc_parse_int(tc_view t, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err)
{
    size_t i = 0;
    bool neg = false;
    if (t.len > 0 && t.base[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == t.len || t.len - i > INT_TEXT_MAX_DIGITS) return tc_parse_int_refuse(field, kind, err);
    int64_t v = 0;
    for (; i < t.len; i++) {
        if (t.base[i] < '0' || t.base[i] > '9') return tc_parse_int_refuse(field, kind, err);
        v = v * 10 + (t.base[i] - '0');
    }
    return tc_parse_int_range(neg ? -v : v, field, kind, out, err);
}
