#include "api/input.h"

#include "core/json.h"
#include "core/mem.h"
#include "core/text.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The longest duplicate key a message names, in bytes. */
#define KEY_NAMED_MAX 64
/* How many numbers out of range a body may hold and still be read (each
 * costs one more parse of it); past that it is "not valid JSON". */
#define NUMBERS_OUT_OF_RANGE_MAX 16

int tc_input_int(const json_t *obj, const char *field, tc_in_kind kind, bool required, int64_t *out,
                 bool *present, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, field);
    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        if (required) return tc_errmsg_say(err, TC_EINVAL, TC_T_REQUIRED, field);
        return 0;
    }
    if (json_is_integer(v)) return tc_parse_int_range(json_integer_value(v), field, kind, out, err);
    if (json_is_real(v)) {
        /* A whole number written as a real (1001.0, 1e2), as Jackson took
         * it: Gson and other clients that keep numbers as doubles send ids
         * so. 1.5 stays refused (SPEC §2); the bounds keep the cast defined. */
        double d = json_real_value(v);
        if (d >= -9e15 && d <= 9e15 && d == (double)(int64_t)d)
            return tc_parse_int_range((int64_t)d, field, kind, out, err);
    }
    if (json_is_string(v))
        return tc_parse_int((tc_view){json_string_value(v), json_string_length(v)}, field, kind,
                            out, err);
    return tc_parse_int_refuse(field, kind, err);
}

int tc_input_str(const json_t *obj, const char *field, const char **out, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_string(v)) return tc_errmsg_say(err, TC_EINVAL, TC_T_NOT_STRING, field);
    *out = json_string_value(v);
    return 0;
}

/* jansson says "duplicate object key near '<the key as written>'": the key
 * is decoded from that JSON string to name it. A key too long to name (or
 * cut by jansson's 160-byte text) is not named. */
static int duplicate_key(const json_error_t *je, tc_input_from from, tc_errmsg *err)
{
    static const char near[] = " near '";
    const char *at = strstr(je->text, near);
    size_t len = at ? strlen(at + sizeof near - 1) : 0;
    json_t *key = NULL;
    if (len >= 3 && at[sizeof near - 1 + len - 1] == '\'')
        key = json_loadb(at + sizeof near - 1, len - 1, JSON_DECODE_ANY, NULL);
    int r;
    if (json_is_string(key) && json_string_length(key) <= KEY_NAMED_MAX &&
        strlen(json_string_value(key)) == json_string_length(key))
        r = tc_errmsg_say(err, TC_EINVAL, from == TC_INPUT_BODY ? TC_T_DUP_KEY : TC_T_WS_DUP_KEY,
                          json_string_value(key));
    else
        r = tc_errmsg_say(err, TC_EINVAL,
                          from == TC_INPUT_BODY ? TC_T_DUP_KEY_ANY : TC_T_WS_DUP_KEY_ANY);
    json_decref(key);
    return r;
}

/* A number out of jansson's range (an integer past 64 bits, 1e400) ends at
 * je->position: it is overwritten in text (a copy of the body) with "true"
 * and spaces, a value no field takes as a number, so the field is named by
 * its own reader ("quantity must be an integer", as for 9007199254740993)
 * and a field nobody reads is ignored, as any other value there. False
 * when no such number ends there. Every such number is at least 5 bytes
 * long (1e309; an integer needs 20 digits). */
static bool overwrite_number(char *text, const json_error_t *je)
{
    size_t end = (size_t)je->position, start = end;
    while (start > 0 && strchr("0123456789+-.eE", text[start - 1]) && text[start - 1] != '\0')
        start--;
    if (end - start < 4) return false;
    memcpy(text + start, "true", 4);
    memset(text + start + 4, ' ', end - start - 4);
    return true;
}

int tc_input_object(const char *body, size_t len, tc_input_from from, json_t **out, tc_errmsg *err)
{
    json_error_t je;
    /* One UTF-8 byte order mark at the start of a request body is skipped,
     * as Jackson (the original's reader of bodies) skipped it: .NET's
     * StreamWriter with Encoding.UTF8 and files saved by Notepad begin so.
     * A WebSocket message is text, not bytes: a mark there stays refused. */
    static const char bom[] = "\xef\xbb\xbf";
    if (from == TC_INPUT_BODY && body && len >= sizeof bom - 1 &&
        memcmp(body, bom, sizeof bom - 1) == 0) {
        body += sizeof bom - 1;
        len -= sizeof bom - 1;
    }
    /* Strings with NUL bytes are refused: nothing downstream could keep them. */
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    char *copy = NULL;
    for (int tries = 0; j == NULL && json_error_code(&je) == json_error_numeric_overflow &&
                        tries < NUMBERS_OUT_OF_RANGE_MAX && (size_t)je.position <= len;
         tries++) {
        if (copy == NULL) {
            copy = tc_xmalloc(len + 1);
            memcpy(copy, body, len);
            copy[len] = '\0';
        }
        if (!overwrite_number(copy, &je)) break;
        j = json_loadb(copy, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    }
    free(copy);
    if (j == NULL) {
        if (json_error_code(&je) == json_error_duplicate_key) return duplicate_key(&je, from, err);
        return tc_errmsg_say(err, TC_EINVAL,
                             from == TC_INPUT_BODY ? TC_T_BODY_NOT_JSON : TC_T_WS_NOT_JSON);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return tc_errmsg_say(err, TC_EINVAL,
                             from == TC_INPUT_BODY ? TC_T_BODY_NOT_OBJECT : TC_T_WS_NOT_JSON);
    }
    *out = j;
    return 0;
}
