#include "api/input.h"

#include "core/json.h"

#include <limits.h>
#include <string.h>

int tc_input_int(const json_t *obj, const char *field, tc_in_kind kind, bool required, int64_t *out,
                 bool *present, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, field);
    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        if (required) return tc_errmsg_set(err, TC_EINVAL, "%s is required", field);
        return 0;
    }
    if (json_is_integer(v)) return tc_parse_int_range(json_integer_value(v), field, kind, out, err);
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
