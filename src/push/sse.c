#include "push/sse.h"

#include <assert.h>
#include <stdio.h>

/* Appends "data: LINE\n" for every line of data. A line ends at "\r\n", "\n"
 * or a lone "\r" (the three line ends of the SSE grammar): a browser rebuilds
 * data by joining the data: lines with "\n", so any other choice would either
 * lose a line break or let a CR inside data end the field early. */
static void append_data_lines(tc_buf *b, const char *data, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n' && data[i] != '\r') continue;
        tc_buf_append(b, "data: ", 6);
        tc_buf_append(b, data + start, i - start);
        tc_buf_append(b, "\n", 1);
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') i++;
        start = i + 1;
    }
    tc_buf_append(b, "data: ", 6);
    tc_buf_append(b, data + start, len - start);
    tc_buf_append(b, "\n", 1);
}

static bool is_single_line(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

tc_sse_frame tc_sse_frame_new(const char *event, const char *id, const char *data, size_t len,
                              int retry)
{
    assert(is_single_line(event) && is_single_line(id));
    assert(data != NULL || len == 0);
    if (data == NULL) data = "";

    tc_buf body = TC_BUF_INIT;
    /* One allocation for the usual frame: a one-line payload and short
     * fields (more lines only grow it). */
    tc_buf_reserve(&body, len + 64 + (event ? strlen(event) : 0) + (id ? strlen(id) : 0));
    if (retry >= 0) {
        tc_buf_append_str(&body, "retry: ");
        tc_buf_append_dec(&body, retry);
        tc_buf_append(&body, "\n", 1);
    }
    if (event != NULL) {
        tc_buf_append_str(&body, "event: ");
        tc_buf_append_str(&body, event);
        tc_buf_append(&body, "\n", 1);
    }
    if (id != NULL) {
        tc_buf_append_str(&body, "id: ");
        tc_buf_append_str(&body, id);
        tc_buf_append(&body, "\n", 1);
    }
    append_data_lines(&body, data, len);
    tc_buf_append(&body, "\n", 1);

    /* The chunk: its size in hex, CRLF, the body, CRLF. */
    char head[TC_HEX_TEXT_MAX + 2];
    size_t hn = tc_hex_text(body.len, head);
    head[hn++] = '\r';
    head[hn++] = '\n';
    tc_view parts[] = {{head, hn}, {body.base, body.len}, {"\r\n", 2}};
    tc_sse_frame f = {tc_rbuf_concat(parts, 3), hn, body.len};
    tc_buf_free(&body);
    return f;
}

void tc_sse_frame_release(tc_sse_frame *f)
{
    tc_rbuf_unref(f->buf);
    f->buf = NULL;
    f->body_off = f->body_len = 0;
}

tc_view tc_sse_last_chunk(void)
{
    static const char last[] = "0\r\n\r\n";
    tc_view v = {last, sizeof last - 1};
    return v;
}
