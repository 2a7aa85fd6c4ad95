/* Client TCP connections on the loop, HTTP response heads, chunked bodies. */
#include "load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("tcload: out of memory\n", stderr);
        abort();
    }
    return p;
}

void bytes_append(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *nb = realloc(b->base, cap);
        if (!nb) {
            fputs("tcload: out of memory\n", stderr);
            abort();
        }
        b->base = nb;
        b->cap = cap;
    }
    memcpy(b->base + b->len, p, n);
    b->len += n;
}

void bytes_consume(struct bytes *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

void bytes_free(struct bytes *b)
{
    free(b->base);
    *b = (struct bytes){0};
}

/* One read buffer for every connection: the loop is single-threaded and a read
 * callback always runs right after its alloc callback. */
static char read_buf[65536];

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    if (nread == 0) return;
    if (nread < 0) {
        if (nread != UV_EOF) st.last_error = uv_strerror((int)nread);
        c->on_read(c, NULL, 0, uv_hrtime());
        return;
    }
    c->on_read(c, buf->base, (size_t)nread, uv_hrtime());
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (status == 0) {
        c->open = true;
        uv_tcp_nodelay(&c->tcp, 1);
        status = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    }
    if (status < 0) st.last_error = uv_strerror(status);
    if (status == UV_ECANCELED) return;
    c->on_connect(c, status);
}

int conn_start(struct conn *c, uint32_t src_index)
{
    c->open = c->closing = false;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return uv_translate_sys_error(errno);
    if (opt.src_ips > 0) {
        /* Many connections from one address make connect() search long for a free
         * port: spread them over 127.0.0.1..K, the port picked at connect time. */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + src_index % opt.src_ips);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            int e = errno;
            close(fd);
            return uv_translate_sys_error(e);
        }
    }
    int rc = uv_tcp_init(loop, &c->tcp);
    if (rc == 0) rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    struct sockaddr_in dst;
    uv_ip4_addr("127.0.0.1", c->port ? c->port : opt.port, &dst);
    c->creq.data = c;
    rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&dst, connect_cb);
    if (rc < 0) conn_close(c);
    return rc;
}

struct write_req {
    uv_write_t req;
    struct conn *c;
    char data[];
};

static void write_cb(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && status != UV_ECANCELED) {
        st.last_error = uv_strerror(status);
        conn_close(w->c);
    }
    free(w);
}

void conn_write(struct conn *c, const char *p, size_t n)
{
    if (!c->open || c->closing) return;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    int done = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (done == (int)n) return;
    if (done < 0 && done != UV_EAGAIN) {
        st.last_error = uv_strerror(done);
        conn_close(c);
        return;
    }
    size_t off = done > 0 ? (size_t)done : 0;
    struct write_req *w = xcalloc(1, sizeof *w + n - off);
    w->c = c;
    memcpy(w->data, p + off, n - off);
    b = uv_buf_init(w->data, (unsigned)(n - off));
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
    if (rc < 0) {
        free(w);
        st.last_error = uv_strerror(rc);
        conn_close(c);
    }
}

static void close_cb(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    c->open = false;
    if (c->on_close) c->on_close(c, 0);
}

void conn_close(struct conn *c)
{
    if (c->closing) return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, close_cb);
}

/* --- HTTP response heads ---------------------------------------------------- */

static bool header_is(const char *line, size_t len, const char *name, const char **val,
                      size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0) return false;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *vlen = (size_t)(end - v);
    return true;
}

long http_head_parse(const char *p, size_t n, struct http_head *h)
{
    *h = (struct http_head){.content_length = -1};
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) return n > 16384 ? -1 : 0;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0) return -1;
    h->status = atoi(p + 9);
    const char *line = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
    while (line < end + 2) {
        const char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        size_t len = (size_t)(eol - line);
        const char *v;
        size_t vl;
        if (header_is(line, len, "Content-Length", &v, &vl))
            h->content_length = atoll(v);
        else if (header_is(line, len, "Transfer-Encoding", &v, &vl))
            h->chunked = vl >= 7 && strncasecmp(v + vl - 7, "chunked", 7) == 0;
        else if (header_is(line, len, "Connection", &v, &vl))
            h->close = vl == 5 && strncasecmp(v, "close", 5) == 0;
        else if (header_is(line, len, "Sec-WebSocket-Accept", &v, &vl)) {
            h->ws_accept = v;
            h->ws_accept_len = vl;
        }
        line = eol + 2;
    }
    return (long)(end + 4 - p);
}

/* --- chunked bodies ----------------------------------------------------------- */

enum { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_DONE };

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool dechunk_feed(struct dechunk *d, const char *p, size_t n, dechunk_out out, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        switch (d->state) {
        case CH_SIZE: {
            char ch = p[i++];
            int v = hexval(ch);
            if (v >= 0) {
                if (d->left > (UINT64_MAX >> 4)) return false;
                d->left = d->left * 16 + (uint64_t)v;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                d->state = CH_EXT;
            } else if (ch == '\n') {
                d->state = d->left ? CH_DATA : CH_DONE;
            } else if (ch != '\r') {
                return false;
            }
            break;
        }
        case CH_EXT:
            if (p[i++] == '\n') d->state = d->left ? CH_DATA : CH_DONE;
            break;
        case CH_DATA: {
            size_t take = n - i < d->left ? n - i : (size_t)d->left;
            out(ctx, p + i, take);
            i += take;
            d->left -= take;
            if (d->left == 0) d->state = CH_DATA_END;
            break;
        }
        case CH_DATA_END:
            if (p[i++] == '\n') d->state = CH_SIZE;
            break;
        default:
            return false;
        }
    }
    return d->state != CH_DONE;
}
