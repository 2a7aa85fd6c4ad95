#include "api/input.h"

#include "core/json.h"

#include <limits.h>
#include <string.h>

static int bad(const char *field, tc_in_kind kind, tc_errmsg *err)
{
    return tc_errmsg_set(err, TC_EINVAL, "%s must be %s", field,
                         kind == TC_IN_ID ? "a positive integer" : "an integer");
}

static int in_range(int64_t v, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err)
{
    if (kind == TC_IN_ID && (v < 1 || v > INT32_MAX)) return bad(field, kind, err);
    if (kind == TC_IN_QUANTITY && (v < INT32_MIN || v > INT32_MAX)) return bad(field, kind, err);
    *out = v;
    return 0;
}

int tc_input_int_text(tc_view t, const char *field, tc_in_kind kind, int64_t *out, tc_errmsg *err)
{
    size_t i = 0;
    bool neg = false;
    if (t.len > 0 && t.base[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == t.len || t.len - i > 12) return bad(field, kind, err);
    int64_t v = 0;
    for (; i < t.len; i++) {
        if (t.base[i] < '0' || t.base[i] > '9') return bad(field, kind, err);
        v = v * 10 + (t.base[i] - '0');
    }
    return in_range(neg ? -v : v, field, kind, out, err);
}

int tc_input_int(const json_t *obj, const char *field, tc_in_kind kind, bool required, int64_t *out,
                 bool *present, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, field);
    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        if (required) return tc_errmsg_set(err, TC_EINVAL, "%s is required", field);
        return 0;
    }
    if (json_is_integer(v)) return in_range(json_integer_value(v), field, kind, out, err);
    if (json_is_string(v))
        return tc_input_int_text((tc_view){json_string_value(v), json_string_length(v)}, field,
                                 kind, out, err);
    return bad(field, kind, err);
}

int tc_input_str(const json_t *obj, const char *field, const char **out, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_string(v)) return tc_errmsg_set(err, TC_EINVAL, "%s must be a string", field);
    *out = json_string_value(v);
    return 0;
}

int tc_input_object(const char *body, size_t len, json_t **out, tc_errmsg *err)
{
    json_error_t je;
    /* Strings with NUL bytes are refused: nothing downstream could keep them. */
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (j == NULL) return tc_errmsg_set(err, TC_EINVAL, "request body is not valid JSON");
    if (!json_is_object(j)) {
        json_decref(j);
        return tc_errmsg_set(err, TC_EINVAL, "request body must be a JSON object");
    }
    *out = j;
    return 0;
}

#define PHONE_MAX 32

int tc_input_identity(const tc_http_req *r, tc_identity *who, tc_buf *phone, tc_errmsg *err)
{
    tc_buf q = TC_BUF_INIT;
    const tc_view *h = tc_http_header_get(r, "X-User-Id");
    int rc = 0;
    int64_t v = 0;
    if (h) {
        rc = tc_input_int_text(*h, "X-User-Id", TC_IN_ID, &v, err);
        who->has_user_id = rc == 0;
    } else if (tc_http_query_get(r, "userId", &q)) {
        rc = tc_input_int_text((tc_view){q.base ? q.base : "", q.len}, "userId", TC_IN_ID, &v, err);
        who->has_user_id = rc == 0;
    }
    who->user_id = v;
    tc_buf_free(&q);
    if (rc) return rc;
    const tc_view *p = tc_http_header_get(r, "X-User-Phone");
    const char *name = "X-User-Phone";
    if (p)
        tc_buf_append(phone, p->base, p->len);
    else if (tc_http_query_get(r, "phone", phone))
        name = "phone";
    else
        return 0;
    const char *bytes = phone->base ? phone->base : "";
    long n = tc_utf8_count(bytes, phone->len);
    if (n < 0 || n > PHONE_MAX || memchr(bytes, 0, phone->len))
        return tc_errmsg_set(err, TC_EINVAL, "%s must be at most %d characters of text", name,
                             PHONE_MAX);
    if (phone->len) who->phone = tc_buf_cstr(phone);
    return 0;
}
