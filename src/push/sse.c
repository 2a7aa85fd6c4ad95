#include "push/sse.h"

#include <assert.h>
#include <stdio.h>

/* Appends "data:LINE\n" for one line: no space after the colon, as Spring's
 * SseEmitter writes it (a client parsing the original service's bytes by
 * hand may take everything after "data:"), except before a line that begins
 * with a space, which a parser would otherwise take as the separator. */
static void append_data_line(tc_buf *b, const char *line, size_t len)
{
    if (len > 0 && line[0] == ' ')
        tc_buf_append(b, "data: ", 6);
    else
        tc_buf_append(b, "data:", 5);
    tc_buf_append(b, line, len);
    tc_buf_append(b, "\n", 1);
}

/* Appends a data: line for every line of data. A line ends at "\r\n", "\n"
 * or a lone "\r" (the three line ends of the SSE grammar): a browser rebuilds
 * data by joining the data: lines with "\n", so any other choice would either
 * lose a line break or let a CR inside data end the field early. */
static void append_data_lines(tc_buf *b, const char *data, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] != '\n' && data[i] != '\r') continue;
        append_data_line(b, data + start, i - start);
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n') i++;
        start = i + 1;
    }
    append_data_line(b, data + start, len - start);
}

/* event and id: one line that does not begin with a space (written after
 * the colon with none between). */
static bool is_single_line(const char *s)
{
    return s == NULL || (strpbrk(s, "\r\n") == NULL && s[0] != ' ');
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
        tc_buf_append_str(&body, "retry:");
        tc_buf_append_dec(&body, retry);
        tc_buf_append(&body, "\n", 1);
    }
    if (event != NULL) {
        tc_buf_append_str(&body, "event:");
        tc_buf_append_str(&body, event);
        tc_buf_append(&body, "\n", 1);
    }
    if (id != NULL) {
        tc_buf_append_str(&body, "id:");
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
