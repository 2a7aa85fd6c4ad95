#include "http/response.h"

#include "core/json.h"

const char *tc_http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void tc_resp_start(tc_buf *out, int status)
{
    tc_buf_append_str(out, "HTTP/1.1 ");
    tc_buf_append_dec(out, status);
    tc_buf_append(out, " ", 1);
    tc_buf_append_str(out, tc_http_reason(status));
    tc_buf_append_str(out, "\r\nServer: tablecart\r\n");
}

void tc_resp_header(tc_buf *out, const char *name, const char *value)
{
    tc_resp_headerv(out, name, tc_view_of(value));
}

void tc_resp_headerv(tc_buf *out, const char *name, tc_view value)
{
    tc_buf_append_str(out, name);
    tc_buf_append(out, ": ", 2);
    tc_buf_append(out, value.base, value.len);
    tc_buf_append(out, "\r\n", 2);
}

void tc_resp_end(tc_buf *out, bool keep_alive, const char *body, size_t len, bool head_only)
{
    tc_buf_append_str(out, keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n");
    tc_buf_append_str(out, "Content-Length: ");
    tc_buf_append_dec(out, (int64_t)len);
    tc_buf_append_str(out, "\r\n\r\n");
    if (!head_only && len) tc_buf_append(out, body, len);
}

void tc_envelope(tc_buf *out, int code, const char *message, const char *data, size_t data_len)
{
    tc_buf_append_str(out, "{\"code\":");
    tc_buf_append_dec(out, code);
    tc_buf_append_str(out, code >= 200 && code < 300 ? ",\"success\":true,\"message\":"
                                                     : ",\"success\":false,\"message\":");
    tc_json_cstr_or_null(out, message);
    tc_buf_append_str(out, ",\"data\":");
    tc_json_raw_or_null(out, data, data_len);
    tc_buf_append_str(out, "}");
}
