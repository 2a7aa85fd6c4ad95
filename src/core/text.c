#include "core/text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The most parameters a catalogue text takes. */
#define TEXT_MAX_ARGS 4

typedef struct {
    const char *sig, *zh, *en;
} entry;

static const entry catalogue[TC_T_COUNT] = {
#define TC_TEXT_ENTRY(id, sig, zh, en) [id] = {sig, zh, en},
    TC_TEXTS(TC_TEXT_ENTRY)
#undef TC_TEXT_ENTRY
};

const char *tc_text_format(tc_text id, tc_lang lang)
{
    if ((int)id <= TC_T_NONE || id >= TC_T_COUNT) return NULL;
    return lang == TC_LANG_EN ? catalogue[id].en : catalogue[id].zh;
}

const char *tc_text_signature(tc_text id)
{
    if ((int)id <= TC_T_NONE || id >= TC_T_COUNT) return NULL;
    return catalogue[id].sig;
}

/* The request fields diners may meet in a message, by their Chinese names. */
static const char *const field_names[][2] = {
    {"tableId", "桌号"},       {"cuisineId", "菜品编号"}, {"quantity", "数量"},
    {"remark", "备注"},        {"name", "名字"},          {"userId", "用户编号"},
    {"X-User-Id", "用户编号"}, {"phone", "手机号"},       {"X-User-Phone", "手机号"},
};

/* The Chinese name of a request field ("tableId" → "桌号"); the field
 * itself when it has none. */
static const char *field_zh(const char *field)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (strcmp(field_names[i][0], field) == 0) return field_names[i][1];
    return field;
}

typedef struct {
    char kind; /* a signature letter */
    const char *s;
    long long n;
} arg;

/* Appends fmt with args to out (size bytes, always NUL-terminated). Only the
 * conversions the catalogue uses: %s %d %u %lld %%; a conversion takes the
 * next parameter. zh: a field's name is shown in Chinese. */
static void render(char *out, size_t size, const char *fmt, const arg *args, size_t n, bool zh)
{
    size_t len = 0, next = 0;
    out[0] = '\0';
    for (const char *p = fmt; *p && len + 1 < size; p++) {
        char piece[32];
        const char *add = piece;
        if (*p != '%') {
            out[len++] = *p;
            out[len] = '\0';
            continue;
        }
        p++;
        if (*p == '%') {
            add = "%";
        } else {
            if (*p == 'l') p += 2; /* %lld */
            if (next >= n) break;  /* a catalogue bug; the unit test rules it out */
            const arg *a = &args[next++];
            if (a->kind == 's')
                add = a->s;
            else if (a->kind == 'f')
                add = zh ? field_zh(a->s) : a->s;
            else
                snprintf(piece, sizeof piece, "%lld", a->n);
        }
        size_t k = strlen(add);
        if (k > size - 1 - len) k = size - 1 - len;
        memcpy(out + len, add, k);
        len += k;
        out[len] = '\0';
    }
}

int tc_errmsg_say(tc_errmsg *m, int code, tc_text id, ...)
{
    va_list ap;
    va_start(ap, id);
    tc_errmsg_vsay(m, code, id, ap);
    va_end(ap);
    return code;
}

tc_text tc_text_by_en(const char *en)
{
    for (int i = TC_T_NONE + 1; i < TC_T_COUNT; i++)
        if (catalogue[i].sig[0] == '\0' && strcmp(catalogue[i].en, en) == 0) return (tc_text)i;
    return TC_T_NONE;
}

int tc_errmsg_vsay(tc_errmsg *m, int code, tc_text id, va_list ap)
{
    const char *sig = tc_text_signature(id);
    if (m == NULL || sig == NULL) return code;
    arg args[TEXT_MAX_ARGS];
    size_t n = 0;
    for (; sig[n] && n < TEXT_MAX_ARGS; n++) {
        args[n].kind = sig[n];
        switch (sig[n]) {
        case 's':
        case 'f':
            args[n].s = va_arg(ap, const char *);
            if (args[n].s == NULL) args[n].s = "";
            break;
        case 'u':
            args[n].n = va_arg(ap, unsigned);
            break;
        case 'l':
            args[n].n = va_arg(ap, long long);
            break;
        default:
            args[n].n = va_arg(ap, int);
            break;
        }
    }
    render(m->text, sizeof m->text, catalogue[id].en, args, n, false);
    render(m->zh, sizeof m->zh, catalogue[id].zh, args, n, true);
    m->id = (int)id;
    return code;
}

/* What a diner reads for a developer text: the plain word for its code. */
static const char *code_zh(int code)
{
    switch (code) {
    case TC_ENOTFOUND:
        return "找不到";
    case TC_ECONFLICT:
        return tc_text_format(TC_T_CONFLICT, TC_LANG_ZH);
    case TC_ESTORE:
    case TC_EIO:
    case TC_ECLOSED:
        return tc_text_format(TC_T_STORE_DOWN, TC_LANG_ZH);
    case TC_EAUTH:
        return tc_text_format(TC_T_TOKEN_INVALID, TC_LANG_ZH);
    case TC_EFORBIDDEN:
        return "没有权限";
    case TC_EBUSY:
        return "操作太频繁，请稍后再试";
    case TC_ETOOBIG:
        return tc_text_format(TC_T_BODY_TOO_BIG, TC_LANG_ZH);
    case TC_ESOLDOUT:
        return "已售罄";
    default:
        return "请求有误";
    }
}

const char *tc_errmsg_text(const tc_errmsg *m, int code, tc_lang lang)
{
    if (m && m->id != 0 && m->zh[0]) return lang == TC_LANG_EN ? m->text : m->zh;
    if (lang == TC_LANG_EN) return m && m->text[0] ? m->text : tc_strerror(code);
    return code_zh(code);
}

/* ===== Accept-Language ====================================================== */

/* q of one ";q=…" parameter list (1 when absent; 0 for a malformed one). */
static int q_of(const char *s, const char *end)
{
    while (s < end) {
        while (s < end && (*s == ';' || *s == ' ' || *s == '\t'))
            s++;
        if (end - s >= 2 && (s[0] == 'q' || s[0] == 'Q') && s[1] == '=') {
            s += 2;
            /* q in thousandths: "1", "1.0", "0.8", "0.125" */
            if (s >= end || (*s != '0' && *s != '1')) return 0;
            int q = (*s - '0') * 1000, scale = 100;
            s++;
            if (s < end && *s == '.') {
                for (s++; s < end && *s >= '0' && *s <= '9' && scale > 0; s++, scale /= 10)
                    q += (*s - '0') * scale;
            }
            return q > 1000 ? 1000 : q;
        }
        while (s < end && *s != ';')
            s++;
    }
    return 1000;
}

/* True when the tag [s, e) is lang or lang-…, case-insensitively. */
static bool tag_is(const char *s, const char *e, const char *lang)
{
    size_t n = strlen(lang);
    if ((size_t)(e - s) < n) return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lang[i]) return false;
    return (size_t)(e - s) == n || s[n] == '-';
}

tc_lang tc_lang_parse(const char *value, size_t len)
{
    int best_en = 0, best_zh = 0;
    size_t at_en = 0, at_zh = 0, index = 0;
    const char *s = value, *end = value ? value + len : value;
    while (s && s < end) {
        while (s < end && (*s == ',' || *s == ' ' || *s == '\t'))
            s++;
        const char *e = s;
        while (e < end && *e != ',')
            e++;
        const char *tag_end = s;
        while (tag_end < e && *tag_end != ';' && *tag_end != ' ' && *tag_end != '\t')
            tag_end++;
        if (tag_end > s) {
            int q = q_of(tag_end, e);
            index++;
            if (tag_is(s, tag_end, "en") && q > best_en) {
                best_en = q;
                at_en = index;
            } else if (tag_is(s, tag_end, "zh") && q > best_zh) {
                best_zh = q;
                at_zh = index;
            }
        }
        s = e;
    }
    if (best_en == 0) return TC_LANG_ZH;
    if (best_en > best_zh || (best_en == best_zh && at_en < at_zh)) return TC_LANG_EN;
    return TC_LANG_ZH;
}
