/* fuzz_input.c — libFuzzer driver for the typed input of bodies and
 * WebSocket commands (src/api/input.c) and integers from text
 * (tc_parse_int, src/core/parse.c).
 *
 * Byte 0 is a mode. Even: the rest is a body for tc_input_object (bit 1:
 * from a WebSocket message, else a request body): it is accepted when
 * jansson (rejecting duplicate keys) reads a JSON object, and otherwise
 * only when jansson stopped at a number out of its range (read as a value
 * that is no number, src/api/input.c); a refusal is TC_EINVAL with one of
 * the documented messages of its source (a duplicate key refusal when
 * jansson found one, or maybe one past such a number; a named key at most
 * 64 bytes) and leaves *out untouched. Then every field of an accepted body (and "absent") is read
 * with tc_input_int as an id and as a quantity, required or not, and with
 * tc_input_str. Odd: the rest is text for tc_parse_int, as an id and as a
 * quantity. Everywhere: a refusal is TC_EINVAL with a message and leaves
 * *out untouched; an accepted integer is in its kind's range (id
 * 1..2^31-1, quantity 32-bit) and equal to what the text or JSON says
 * (text: optional '-', 1..12 digits). */
#include "api/input.h"
#include "core/text.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL ((int64_t)0x5a5a5a5a5a5a5a5a)

static void fail(const char *why)
{
    fprintf(stderr, "property failed: %s\n", why);
    abort();
}

/* What the text says: false when it is no integer of the documented form. */
static bool text_value(const char *s, size_t n, int64_t *v)
{
    size_t i = s && n > 0 && s[0] == '-';
    if (i == n || n - i > 12) return false;
    int64_t x = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = s[0] == '-' ? -x : x;
    return true;
}

static bool in_range(int64_t v, tc_in_kind kind)
{
    return kind == TC_IN_ID ? v >= 1 && v <= INT32_MAX : v >= INT32_MIN && v <= INT32_MAX;
}

static void check(int rc, const tc_errmsg *err, int64_t got, bool says, int64_t want,
                  tc_in_kind kind)
{
    bool ok = says && in_range(want, kind);
    if (rc == 0) {
        if (!ok) fail("accepted what is no integer of its kind");
        if (got != want) fail("accepted value differs from what the input says");
    } else {
        if (rc != TC_EINVAL) fail("refusal is not TC_EINVAL");
        if (err->text[0] == '\0' || err->zh[0] == '\0') fail("refusal without a message");
        if (got != SENTINEL) fail("refusal changed *out");
        if (ok) fail("refused an integer of its kind");
    }
}

static void fuzz_text(const char *s, size_t n)
{
    int64_t want = 0;
    bool says = text_value(s, n, &want);
    for (int k = 0; k < 2; k++) {
        tc_in_kind kind = k ? TC_IN_QUANTITY : TC_IN_ID;
        int64_t got = SENTINEL;
        tc_errmsg err;
        memset(&err, 0, sizeof err);
        int rc = tc_parse_int((tc_view){s, n}, "quantity", kind, &got, &err);
        check(rc, &err, got, says, want, kind);
    }
}

static void fuzz_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    bool absent = v == NULL || json_is_null(v);
    for (int k = 0; k < 4; k++) {
        tc_in_kind kind = k & 1 ? TC_IN_QUANTITY : TC_IN_ID;
        bool required = k & 2;
        int64_t got = SENTINEL, want = 0;
        bool present = !absent, says = false;
        tc_errmsg err;
        memset(&err, 0, sizeof err);
        int rc = tc_input_int(obj, key, kind, required, &got, &present, &err);
        if (present == absent) fail("present wrong");
        if (absent) {
            if (got != SENTINEL) fail("absent field changed *out");
            if (required != (rc != 0)) fail("absent field: refusal only when required");
            if (rc && (rc != TC_EINVAL || err.text[0] == '\0')) fail("required without a message");
            continue;
        }
        if (json_is_integer(v)) {
            want = json_integer_value(v);
            says = true;
        } else if (json_is_real(v)) {
            /* A whole number written as a real (1001.0, 4e0) is that integer
             * (docs/api.md, "Integer fields"). */
            double d = json_real_value(v);
            says = d >= -9e15 && d <= 9e15 && d - (double)(int64_t)d == 0.0;
            if (says) want = (int64_t)d;
        } else if (json_is_string(v)) {
            says = text_value(json_string_value(v), json_string_length(v), &want);
        }
        check(rc, &err, got, says, want, kind);
    }
    const char *str = (const char *)1;
    tc_errmsg err;
    memset(&err, 0, sizeof err);
    int rc = tc_input_str(obj, key, &str, &err);
    if (json_is_string(v)) {
        if (rc != 0 || str != json_string_value(v)) fail("string field not read");
    } else if (absent) {
        if (rc != 0 || str != NULL) fail("absent string not NULL");
    } else if (rc != TC_EINVAL || err.text[0] == '\0' || str != NULL) {
        fail("non-string refusal wrong");
    }
}

static void fuzz_body(const char *s, size_t n, tc_input_from from)
{
    json_t *out = (json_t *)&out, *j;
    tc_errmsg err;
    memset(&err, 0, sizeof err);
    int rc = tc_input_object(s, n, from, &out, &err);
    /* A request body may open with one UTF-8 byte order mark, which is not
     * part of its JSON (docs/api.md); a WebSocket message may not. */
    if (from == TC_INPUT_BODY && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3;
        n -= 3;
    }
    json_error_t je;
    json_t *ref = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    bool ref_dup = ref == NULL && json_error_code(&je) == json_error_duplicate_key;
    bool ref_overflow = ref == NULL && json_error_code(&je) == json_error_numeric_overflow;
    bool body = from == TC_INPUT_BODY;
    int dup = body ? TC_T_DUP_KEY : TC_T_WS_DUP_KEY;
    int dup_any = body ? TC_T_DUP_KEY_ANY : TC_T_WS_DUP_KEY_ANY;
    if (rc != 0) {
        if (out != (json_t *)&out) fail("refusal changed *out");
        if (rc != TC_EINVAL || err.text[0] == '\0') fail("body refusal without a message");
        if (json_is_object(ref)) fail("refused a JSON object");
        bool named_dup = err.id == dup || err.id == dup_any;
        if (!named_dup && (body ? err.id != TC_T_BODY_NOT_JSON && err.id != TC_T_BODY_NOT_OBJECT
                                : err.id != TC_T_WS_NOT_JSON))
            fail("refusal is none of the documented messages of its source");
        if (ref_dup && !named_dup) fail("duplicate key not named");
        if (named_dup && !ref_dup && !ref_overflow)
            fail("duplicate key refusal for a body without one");
        if (err.id == dup) {
            /* The key named is the one jansson found twice, at most 64 bytes. */
            static const char pre[] = "duplicate key '";
            const char *post = body ? "' in request body" : "' in message";
            size_t len = strlen(err.text), plen = strlen(post);
            if (strncmp(err.text, pre, sizeof pre - 1) != 0 || len < sizeof pre - 1 + plen ||
                strcmp(err.text + len - plen, post) != 0)
                fail("duplicate key message malformed");
            if (len - (sizeof pre - 1) - plen > 64) fail("named key too long");
        }
        json_decref(ref);
        return;
    }
    if (ref == NULL ? !ref_overflow : !json_is_object(ref))
        fail("accepted what is not a JSON object");
    if (ref != NULL && !json_equal(ref, out)) fail("accepted object differs from jansson's");
    j = out;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) fuzz_field(j, key);
    fuzz_field(j, "tableId");
    json_decref(j);
    json_decref(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1)
        fuzz_text((const char *)data + 1, size - 1);
    else
        fuzz_body((const char *)data + 1, size - 1,
                  (data[0] & 2) ? TC_INPUT_MESSAGE : TC_INPUT_BODY);
    return 0;
}
