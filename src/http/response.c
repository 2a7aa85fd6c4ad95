#include "http/response.h"

#include "core/clock.h"
#include "core/json.h"

#include <string.h>
#include <time.h>

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

void tc_http_date(int64_t t, char out[TC_HTTP_DATE_LEN + 1])
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int year = tm.tm_year + 1900;
    char *p = out;
    memcpy(p, days + 3 * tm.tm_wday, 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    *p++ = (char)('0' + tm.tm_mday / 10);
    *p++ = (char)('0' + tm.tm_mday % 10);
    *p++ = ' ';
    memcpy(p, months + 3 * tm.tm_mon, 3);
    p += 3;
    *p++ = ' ';
    for (int d = 1000; d > 0; d /= 10)
        *p++ = (char)('0' + year / d % 10);
    const int hms[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
    for (int i = 0; i < 3; i++) {
        *p++ = i ? ':' : ' ';
        *p++ = (char)('0' + hms[i] / 10);
        *p++ = (char)('0' + hms[i] % 10);
    }
    memcpy(p, " GMT", 5);
}

void tc_resp_start(tc_buf *out, int status)
{
    /* RFC 9110 §6.6.1: a server with a clock sends Date. Answers are
     * written on the loop thread only, so one cache, formatted once a
     * second, serves them all. */
    static int64_t date_at = -1;
    static char date[TC_HTTP_DATE_LEN + 1];
    int64_t now = tc_clock_epoch_s();
    if (now != date_at) {
        tc_http_date(now, date);
        date_at = now;
    }
    tc_buf_append_str(out, "HTTP/1.1 ");
    tc_buf_append_dec(out, status);
    tc_buf_append(out, " ", 1);
    tc_buf_append_str(out, tc_http_reason(status));
    tc_buf_append_str(out, "\r\nServer: tablecart\r\nDate: ");
    tc_buf_append(out, date, TC_HTTP_DATE_LEN);
    tc_buf_append(out, "\r\n", 2);
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
