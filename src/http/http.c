#include "http/http.h"

#include "core/mem.h"
#include "core/parse.h"

#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    size_t name_off, name_len, value_off, value_len;
} hdr_pos;

_Static_assert(sizeof(hdr_pos) + sizeof(tc_http_header) <= TC_HTTP_HEADER_COST,
               "TC_HTTP_HEADER_COST covers the records kept per header");

struct tc_http_parser {
    http_parser hp;
    tc_http_limits lim;
    tc_http_req req;
    /* The request line target and header bytes, in arrival order; views in
     * req are built from offsets once the head is complete, because appending
     * may move the block. */
    tc_buf head;
    size_t target_len;
    hdr_pos *hdrs;
    size_t n_hdrs, cap_hdrs;
    bool in_value; /* last callback was a header value */
    bool head_done;
    bool wants_continue; /* Expect: 100-continue, and no body byte yet (tc_http_take_continue) */
    bool done;
    bool started;
    int error_status;
    size_t head_bytes;
    /* Request-line check (see check_request_line). */
    unsigned char line_spaces, line_vpos;
    bool line_seen, line_done;
};

static tc_http_parser *of(http_parser *hp)
{
    return (tc_http_parser *)hp->data;
}

static int too_big_head(tc_http_parser *p, size_t more)
{
    p->head_bytes += more;
    if (p->head_bytes > p->lim.max_head) {
        p->error_status = 431;
        return -1;
    }
    return 0;
}

/* Head bytes go into one block that never grows past max_head + 1 bytes;
 * its first size takes a usual API request's head (target and header
 * bytes, no line ends) at once. */
#define HEAD_FIRST 256
static void head_append(tc_http_parser *p, const char *at, size_t len)
{
    if (p->head.cap == 0) {
        size_t first = p->lim.max_head < HEAD_FIRST ? p->lim.max_head : HEAD_FIRST;
        tc_buf_reserve_upto(&p->head, first, p->lim.max_head);
    }
    tc_buf_reserve_upto(&p->head, len, p->lim.max_head);
    tc_buf_append(&p->head, at, len);
}

static int on_message_begin(http_parser *hp)
{
    of(hp)->started = true;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
    tc_http_parser *p = of(hp);
    if (too_big_head(p, len)) return -1;
    head_append(p, at, len);
    p->target_len += len;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    tc_http_parser *p = of(hp);
    if (too_big_head(p, len)) return -1;
    /* Debian's non-strict http-parser takes a space as a name character, so
     * "If-None-Match : x" would be a header of another name; RFC 9112 §5.1
     * says such a request is refused. */
    if (memchr(at, ' ', len) || memchr(at, '\t', len)) {
        p->error_status = 400;
        return -1;
    }
    /* A field after the head is a chunked trailer's: RFC 9110 §6.5 forbids
     * taking it as a header (a trailer X-User-Id or Content-Type would
     * otherwise win). Its bytes still count against the head limit. */
    if (p->head_done) return 0;
    if (p->n_hdrs == 0 || p->in_value) {
        if (p->n_hdrs == p->cap_hdrs) {
            p->cap_hdrs = p->cap_hdrs ? p->cap_hdrs * 2 : 16;
            p->hdrs = tc_xrealloc(p->hdrs, p->cap_hdrs * sizeof *p->hdrs);
        }
        /* ": " and CRLF of each line count against the head limit too, and
         * the heap of the two records kept per header (hdr_pos, then the
         * request's tc_http_header). */
        if (too_big_head(p, 4 + TC_HTTP_HEADER_COST)) return -1;
        hdr_pos *h = &p->hdrs[p->n_hdrs++];
        h->name_off = p->head.len;
        h->name_len = 0;
        h->value_off = 0;
        h->value_len = 0;
        p->in_value = false;
    }
    head_append(p, at, len);
    p->hdrs[p->n_hdrs - 1].name_len += len;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    tc_http_parser *p = of(hp);
    if (too_big_head(p, len)) return -1;
    if (p->head_done) return 0; /* a trailer's (see on_header_field) */
    hdr_pos *h = &p->hdrs[p->n_hdrs - 1];
    if (!p->in_value) {
        h->value_off = p->head.len;
        p->in_value = true;
    }
    head_append(p, at, len);
    h->value_len += len;
    return 0;
}

/* Whether the request's Transfer-Encoding lists no coding but one
 * "chunked" (RFC 9112 §6.1: a server answers 501 to a coding it does not
 * understand). http-parser takes any list that ends in "chunked". */
static bool codings_known(const tc_http_parser *p)
{
    const char *base = p->head.base ? p->head.base : "";
    int chunked = 0;
    for (size_t i = 0; i < p->n_hdrs; i++) {
        const hdr_pos *h = &p->hdrs[i];
        if (!tc_view_ieq((tc_view){base + h->name_off, h->name_len}, "Transfer-Encoding")) continue;
        const char *v = base + h->value_off, *end = v + h->value_len;
        while (v < end) {
            const char *comma = memchr(v, ',', (size_t)(end - v));
            const char *e = comma ? comma : end;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            const char *last = e;
            while (last > v && (last[-1] == ' ' || last[-1] == '\t'))
                last--;
            if (last > v) { /* an empty element of the list is no coding */
                if (!tc_view_ieq((tc_view){v, (size_t)(last - v)}, "chunked")) return false;
                chunked++;
            }
            v = comma ? comma + 1 : end;
        }
    }
    return chunked <= 1;
}

static int on_headers_complete(http_parser *hp)
{
    tc_http_parser *p = of(hp);
    p->head_done = true;
    /* http-parser skips the whitespace before a value but keeps the one after
     * it, which RFC 9110 §5.5 says is not part of the value. */
    for (size_t i = 0; i < p->n_hdrs; i++) {
        hdr_pos *h = &p->hdrs[i];
        while (h->value_len > 0) {
            char last = p->head.base[h->value_off + h->value_len - 1];
            if (last != ' ' && last != '\t') break;
            h->value_len--;
        }
    }
    /* http-parser takes any digit.digit version; we speak 1.0 and 1.1 only. */
    if (hp->http_major != 1 || hp->http_minor > 1) {
        p->error_status = 505;
        return -1;
    }
    if (!codings_known(p)) {
        p->error_status = 501;
        return -1;
    }
    if (hp->content_length != ULLONG_MAX && hp->content_length > p->lim.max_body) {
        p->error_status = 413;
        return -1;
    }
    /* RFC 9110 §10.1.1: an HTTP/1.0 client's expectation is ignored, and one
     * without a body to send waits for nothing. */
    bool has_body =
        (hp->flags & F_CHUNKED) || (hp->content_length != ULLONG_MAX && hp->content_length > 0);
    tc_view expect;
    p->wants_continue = hp->http_minor == 1 && has_body &&
                        tc_http_head_header(p, "Expect", &expect) &&
                        tc_view_ieq(expect, "100-continue");
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    tc_http_parser *p = of(hp);
    p->wants_continue = false; /* the client did not wait */
    if (p->req.body.len + len > p->lim.max_body) {
        p->error_status = 413;
        return -1;
    }
    tc_buf_reserve_upto(&p->req.body, len, p->lim.max_body);
    tc_buf_append(&p->req.body, at, len);
    return 0;
}

/* The length of the "http://host:port" that begins an absolute-form target
 * (RFC 9112 §3.2.2: a server must accept one), else 0. */
static size_t scheme_and_authority(tc_view t)
{
    size_t n = 0;
    if (t.len >= 7 && strncasecmp(t.base, "http://", 7) == 0)
        n = 7;
    else if (t.len >= 8 && strncasecmp(t.base, "https://", 8) == 0)
        n = 8;
    else
        return 0;
    while (n < t.len && t.base[n] != '/' && t.base[n] != '?')
        n++;
    return n;
}

static void build_views(tc_http_parser *p)
{
    tc_http_req *r = &p->req;
    const char *base = p->head.base ? p->head.base : "";
    r->target = (tc_view){base, p->target_len};
    size_t skip = scheme_and_authority(r->target);
    tc_view rest = {r->target.base + skip, r->target.len - skip};
    const char *q = memchr(rest.base, '?', rest.len);
    if (q) {
        r->path = (tc_view){rest.base, (size_t)(q - rest.base)};
        r->query = (tc_view){q + 1, rest.len - r->path.len - 1};
    } else {
        r->path = rest;
        r->query = (tc_view){base, 0};
    }
    /* "http://host" and "http://host?x" name the root. */
    if (skip && r->path.len == 0) r->path = (tc_view){"/", 1};
    r->headers = tc_xcalloc(p->n_hdrs ? p->n_hdrs : 1, sizeof *r->headers);
    r->n_headers = p->n_hdrs;
    for (size_t i = 0; i < p->n_hdrs; i++) {
        r->headers[i].name = (tc_view){base + p->hdrs[i].name_off, p->hdrs[i].name_len};
        r->headers[i].value = (tc_view){base + p->hdrs[i].value_off, p->hdrs[i].value_len};
    }
}

static int on_message_complete(http_parser *hp)
{
    tc_http_parser *p = of(hp);
    tc_http_req *r = &p->req;
    p->done = true;
    r->method = (int)hp->method;
    r->method_name = http_method_str((enum http_method)hp->method);
    r->http_major = hp->http_major;
    r->http_minor = hp->http_minor;
    r->upgrade = hp->upgrade != 0;
    /* After an upgrade's head (a CONNECT's, whatever body it declares) the
     * bytes are not HTTP: a request not taken over is answered and closed,
     * never followed by what it carried read as another request. */
    r->keep_alive = http_should_keep_alive(hp) != 0 && !r->upgrade;
    build_views(p);
    /* Stop here: bytes after this request are the next request's. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

tc_http_parser *tc_http_new(const tc_http_limits *lim)
{
    tc_http_parser *p = tc_xcalloc(1, sizeof *p);
    p->lim = *lim;
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    return p;
}

void tc_http_free(tc_http_parser *p)
{
    if (p == NULL) return;
    tc_buf_free(&p->head);
    tc_buf_free(&p->req.body);
    free(p->req.headers);
    free(p->hdrs);
    free(p);
}

bool tc_http_started(const tc_http_parser *p)
{
    return p->started;
}

/* Debian builds http-parser without HTTP_PARSER_STRICT, which lets a
 * request line end in "HTTX/1.1". We check that the third field of the
 * request line starts with "HTTP/" ourselves; the rest is http-parser's. */
static bool check_request_line(tc_http_parser *p, const char *data, size_t len)
{
    static const char proto[] = "HTTP/";
    for (size_t i = 0; i < len && !p->line_done; i++) {
        char ch = data[i];
        if (!p->line_seen && (ch == '\r' || ch == '\n')) continue; /* leading empty lines */
        p->line_seen = true;
        if (ch == '\r' || ch == '\n') {
            p->line_done = true;
            return p->line_spaces == 2 && p->line_vpos == sizeof proto - 1;
        }
        if (ch == ' ') {
            if (++p->line_spaces > 2) return false;
        } else if (p->line_spaces == 2 && p->line_vpos < sizeof proto - 1) {
            if (ch != proto[p->line_vpos++]) return false;
        }
    }
    return true;
}

int tc_http_feed(tc_http_parser *p, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (p->done) return TC_HTTP_DONE;
    if (p->error_status) return p->error_status;
    if (!p->line_done && !check_request_line(p, data, len)) return p->error_status = 400;
    size_t n = http_parser_execute(&p->hp, &settings, data, len);
    *used = n;
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    if (p->done) {
        /* An upgrade ends HTTP at the end of the head: http-parser reports
         * the head length; the rest is the new protocol's. */
        return TC_HTTP_DONE;
    }
    if (p->error_status) return p->error_status;
    if (e != HPE_OK) {
        if (e == HPE_HEADER_OVERFLOW) return 431;
        if (e == HPE_INVALID_TRANSFER_ENCODING) return 501;
        return 400;
    }
    return TC_HTTP_MORE;
}

bool tc_http_take_continue(tc_http_parser *p)
{
    bool wants = p->wants_continue && !p->done && !p->error_status;
    p->wants_continue = false;
    return wants;
}

tc_http_req *tc_http_request(tc_http_parser *p)
{
    return &p->req;
}

tc_lang tc_http_lang(const tc_http_req *r)
{
    const tc_view *h = tc_http_header_get(r, "Accept-Language");
    return h ? tc_lang_parse(h->base, h->len) : TC_LANG_ZH;
}

static const char *skip_list_space(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

bool tc_http_none_match(tc_view value, tc_view etag)
{
    if (etag.len >= 2 && etag.base[0] == 'W' && etag.base[1] == '/') {
        etag.base += 2;
        etag.len -= 2;
    }
    const char *s = value.base, *end = s + value.len;
    while (s < end) {
        s = skip_list_space(s, end);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s == end) break;
        const char *member = s;
        bool hit = false;
        if (*s == '*') {
            s++;
            hit = true;
        } else {
            if (end - s >= 2 && s[0] == 'W' && s[1] == '/') s += 2;
            const char *close =
                s < end && *s == '"' ? memchr(s + 1, '"', (size_t)(end - s - 1)) : NULL;
            if (close) {
                hit = (size_t)(close + 1 - s) == etag.len && memcmp(s, etag.base, etag.len) == 0;
                s = close + 1;
            }
        }
        s = skip_list_space(s, end);
        if (s < end && *s != ',') {
            /* Not a member as a whole ("*x", a tag with a tail): skipped. */
            hit = false;
            while (s < end && *s != ',')
                s++;
        }
        if (hit) return true;
        if (s == member) s++;
    }
    return false;
}

bool tc_http_head_header(const tc_http_parser *p, const char *name, tc_view *value)
{
    if (p == NULL || !p->head_done) return false;
    const char *base = p->head.base ? p->head.base : "";
    for (size_t i = 0; i < p->n_hdrs; i++)
        if (tc_view_ieq((tc_view){base + p->hdrs[i].name_off, p->hdrs[i].name_len}, name)) {
            *value = (tc_view){base + p->hdrs[i].value_off, p->hdrs[i].value_len};
            return true;
        }
    return false;
}

bool tc_http_head_is_head(const tc_http_parser *p)
{
    /* http-parser guesses the method from its first letters; once the
     * target has begun, the method was read whole. */
    return p != NULL && p->target_len > 0 && p->hp.method == HTTP_HEAD;
}

tc_lang tc_http_head_lang(const tc_http_parser *p)
{
    tc_view v;
    return tc_http_head_header(p, "Accept-Language", &v) ? tc_lang_parse(v.base, v.len)
                                                         : TC_LANG_ZH;
}

const tc_view *tc_http_header_get(const tc_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->n_headers; i++)
        if (tc_view_ieq(r->headers[i].name, name)) return &r->headers[i].value;
    return NULL;
}

size_t tc_http_header_join(const tc_http_req *r, const char *name, tc_buf *out)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!tc_view_ieq(r->headers[i].name, name)) continue;
        if (n++ > 0) tc_buf_append(out, ", ", 2);
        tc_buf_append(out, r->headers[i].value.base, r->headers[i].value.len);
    }
    return n;
}

/* The character of in at *i, percent-decoded ('+' a space when
 * plus_is_space); *i moves to the last byte read. -1: a malformed escape. */
static int decode_at(tc_view in, size_t *i, bool plus_is_space)
{
    char c = in.base[*i];
    if (c == '+' && plus_is_space) return ' ';
    if (c != '%') return (unsigned char)c;
    if (*i + 2 >= in.len) return -1;
    int hi = tc_hex_digit(in.base[*i + 1]), lo = tc_hex_digit(in.base[*i + 2]);
    if (hi < 0 || lo < 0) return -1;
    *i += 2;
    return hi * 16 + lo;
}

/* tc_http_unescape; keep_sep keeps "%2F" and "%00" as they are. */
static bool unescape(tc_view in, bool plus_is_space, bool keep_sep, tc_buf *out)
{
    tc_buf_reset(out);
    tc_buf_reserve(out, in.len);
    for (size_t i = 0; i < in.len; i++) {
        size_t at = i;
        int d = decode_at(in, &i, plus_is_space);
        if (d < 0) return false;
        char ch = (char)d;
        if (keep_sep && i != at && (ch == '/' || ch == '\0'))
            tc_buf_append(out, in.base + at, 3);
        else
            tc_buf_append(out, &ch, 1);
    }
    tc_buf_cstr(out);
    return true;
}

bool tc_http_unescape(tc_view in, bool plus_is_space, tc_buf *out)
{
    return unescape(in, plus_is_space, false, out);
}

bool tc_http_unescape_path(tc_view path, tc_buf *out)
{
    return unescape(path, false, true, out);
}

/* Calls fn for each name=value pair of the query (value NULL without '=');
 * stops when fn returns false, and returns false then. */
typedef bool (*pair_fn)(tc_view name, const tc_view *value, void *ctx);

static bool each_pair(tc_view query, pair_fn fn, void *ctx)
{
    const char *s = query.base, *end = s + query.len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(pe - s));
        const char *ke = eq ? eq : pe;
        tc_view v = {eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0};
        if (!fn((tc_view){s, (size_t)(ke - s)}, eq ? &v : NULL, ctx)) return false;
        s = pe + 1;
    }
    return true;
}

typedef struct {
    tc_buf scratch;
    tc_view *bad;
} check_ctx;

static bool pair_decodes(tc_view name, const tc_view *value, void *ctx)
{
    check_ctx *k = ctx;
    if (tc_http_unescape(name, true, &k->scratch) &&
        (value == NULL || tc_http_unescape(*value, true, &k->scratch)))
        return true;
    *k->bad = name;
    return false;
}

bool tc_http_form_check(tc_view form, tc_view *bad)
{
    check_ctx k = {TC_BUF_INIT, bad};
    bool ok = each_pair(form, pair_decodes, &k);
    tc_buf_free(&k.scratch);
    return ok;
}

bool tc_http_query_check(const tc_http_req *r, tc_view *bad)
{
    return tc_http_form_check(r->query, bad);
}

const char *tc_http_bad_name(tc_view bad, char out[TC_HTTP_BAD_NAME_MAX + 1])
{
    size_t n = bad.len < TC_HTTP_BAD_NAME_MAX ? bad.len : TC_HTTP_BAD_NAME_MAX;
    if (n > 0) memcpy(out, bad.base, n);
    out[n] = '\0';
    return out;
}

typedef struct {
    const char *name;
    size_t nlen;
    tc_view value;
    bool found;
} find_ctx;

/* True when name, percent-decoded ('+' as a space), is want: a client may
 * escape any character of a name as of a value (tabl%65Id is tableId). */
static bool name_is(tc_view name, const char *want, size_t wlen)
{
    size_t w = 0;
    for (size_t i = 0; i < name.len; i++, w++) {
        int c = decode_at(name, &i, true);
        if (c < 0 || w >= wlen || c != (unsigned char)want[w]) return false;
    }
    return w == wlen;
}

static bool pair_find(tc_view name, const tc_view *value, void *ctx)
{
    find_ctx *f = ctx;
    if (!name_is(name, f->name, f->nlen)) return true;
    f->found = true;
    f->value = value ? *value : (tc_view){name.base + name.len, 0};
    return false;
}

bool tc_http_form_get(tc_view form, const char *name, tc_buf *out)
{
    find_ctx f = {name, strlen(name), {NULL, 0}, false};
    each_pair(form, pair_find, &f);
    return f.found && tc_http_unescape(f.value, true, out);
}

bool tc_http_query_get(const tc_http_req *r, const char *name, tc_buf *out)
{
    return tc_http_form_get(r->query, name, out);
}
