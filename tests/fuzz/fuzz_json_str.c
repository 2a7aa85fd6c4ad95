/* fuzz_json_str.c — libFuzzer driver for the JSON string writer
 * (tc_json_str, src/core/json.c).
 *
 * The input is written as a JSON string and parsed back by jansson
 * (JSON_DECODE_ANY | JSON_ALLOW_NUL): it must always parse (it ends up in
 * stored carts). For valid UTF-8 input the string read back is the input
 * byte for byte; for invalid UTF-8, it is the input with every byte that
 * starts no valid sequence replaced by U+FFFD (EF BF BD) and every valid
 * sequence kept. The output has no raw byte below 0x20, and is the plain
 * bytes in quotes when nothing needs escaping. Appending keeps what the
 * buffer held. tc_utf8_count agrees with jansson's UTF-8 check. */
#include "core/json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *why)
{
    fprintf(stderr, "property failed: %s\n", why);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    tc_buf out = TC_BUF_INIT;
    tc_buf_append(&out, "[", 1);
    tc_json_str(&out, s, size);
    if (out.len < 3 || out.base[0] != '[' || out.base[1] != '"' || out.base[out.len - 1] != '"')
        fail("not a quoted string after what the buffer held");
    for (size_t i = 0; i < out.len; i++)
        if ((unsigned char)out.base[i] < 0x20) fail("raw control byte in the output");
    tc_buf_append(&out, "]", 1);

    /* What it must read back as. */
    tc_buf want = TC_BUF_INIT;
    bool plain = true;
    for (size_t i = 0; i < size;) {
        unsigned char c = data[i];
        long one = -1;
        for (size_t len = 1; len <= 4 && i + len <= size && one < 0; len++)
            if (tc_utf8_count(s + i, len) == 1) one = (long)len;
        if (one > 0) {
            tc_buf_append(&want, s + i, (size_t)one);
            if (c < 0x20 || c == '"' || c == '\\') plain = false;
            i += (size_t)one;
        } else {
            tc_buf_append(&want, "\xEF\xBF\xBD", 3);
            plain = false;
            i++;
        }
    }
    if (plain && (out.len != size + 4 || memcmp(out.base + 2, s, size) != 0))
        fail("plain text was changed");

    /* jansson's own UTF-8 check agrees with ours on what is valid. */
    json_t *js = json_stringn(s, size);
    if ((js != NULL) != (tc_utf8_count(s, size) >= 0)) fail("tc_utf8_count disagrees with jansson");
    json_decref(js);

    json_error_t je;
    json_t *j = json_loadb(out.base, out.len, JSON_ALLOW_NUL, &je);
    if (!json_is_array(j) || json_array_size(j) != 1 || !json_is_string(json_array_get(j, 0))) {
        fprintf(stderr, "jansson: %s\n", j ? "not one string" : je.text);
        fail("output does not parse");
    }
    json_t *str = json_array_get(j, 0);
    if (json_string_length(str) != want.len ||
        memcmp(json_string_value(str), want.base ? want.base : "", want.len) != 0)
        fail("read back differs from the input (invalid bytes as U+FFFD)");
    if (tc_utf8_count(s, size) >= 0 &&
        (json_string_length(str) != size || memcmp(json_string_value(str), s, size) != 0))
        fail("valid UTF-8 not read back byte for byte");
    json_decref(j);
    tc_buf_free(&want);
    tc_buf_free(&out);
    return 0;
}
