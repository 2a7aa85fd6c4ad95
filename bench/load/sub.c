/* Subscribers: open an SSE stream or a WebSocket, parse what arrives, and count each
 * change delivered (latency, gaps, duplicates) against the table's publish times. */
#include "load.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum sub_state { S_HEAD, S_STREAM, S_DONE };
enum event { EV_NONE, EV_CONNECTED, EV_CART, EV_MESSAGE };

struct sub {
    struct conn c; /* first */
    struct table *t;
    uint8_t state;
    bool chunked, ready, synced;
    uint8_t ev;     /* SSE: the event being read */
    int64_t ev_id;  /* SSE: its id: (tablecart: the cart version) */
    int64_t base;   /* tablecart: the version of the first cart_update */
    int64_t last_k; /* the newest change seen */
    struct dechunk dc;
    struct bytes carry; /* head, partial line or partial frame */
    struct bytes msg;   /* WebSocket: fragments of a message */
    char accept[29];    /* WebSocket: the Sec-WebSocket-Accept we expect */
};

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void ws_make_key(char key[25], char accept[29])
{
    unsigned char raw[16], dig[SHA_DIGEST_LENGTH];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)rand();
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
    char cat[24 + sizeof WS_GUID];
    memcpy(cat, key, 24);
    memcpy(cat + 24, WS_GUID, sizeof WS_GUID);
    SHA1((unsigned char *)cat, 24 + sizeof WS_GUID - 1, dig);
    EVP_EncodeBlock((unsigned char *)accept, dig, sizeof dig);
}

static void ready(struct sub *s)
{
    if (s->ready) return;
    s->ready = true;
    on_sub_ready();
}

static void synced(struct sub *s)
{
    s->synced = true;
    s->t->synced++;
    on_sub_synced();
}

/* Change k of the subscriber's table arrived at now. */
static void delivered(struct sub *s, int64_t k, uint64_t now)
{
    struct table *t = s->t;
    if (k < 1 || k > (int64_t)t->sent) {
        st.unexpected++;
        return;
    }
    if (k <= s->last_k) {
        st.dups++;
        return;
    }
    st.gaps += (uint64_t)(k - s->last_k - 1);
    if (s->last_k == 0) st.subs_delivered++;
    s->last_k = k;
    st.received++;
    sample_add(&st.lat, &st.nlat, &st.caplat, now - t->t_send[k]);
}

/* tablecart: the cart's version v arrived in a cart_update. */
static void cart_update(struct sub *s, int64_t v, uint64_t now)
{
    if (!s->synced) {
        s->base = v;
        s->last_k = 0;
        synced(s);
        return;
    }
    delivered(s, v - s->base, now);
}

/* nchan: a message body "k=<k> r=<run id> t=<table> ..." arrived. */
static void nchan_message(struct sub *s, const char *p, size_t n, uint64_t now)
{
    ready(s);
    if (n < 4 || memcmp(p, "k=", 2) != 0) {
        st.unexpected++;
        return;
    }
    int64_t k = strtoll(p + 2, NULL, 10);
    const char *r = memmem(p, n, " r=", 3);
    if (!r || (size_t)(p + n - r) < 3 + 16 || memcmp(r + 3, run_id, 16) != 0) {
        st.stale++;
        return;
    }
    if (k == 0) {
        if (!s->synced) synced(s);
        return;
    }
    if (s->synced) delivered(s, k, now);
}

/* --- SSE ----------------------------------------------------------------------- */

static bool starts(const char *p, size_t n, const char *prefix)
{
    size_t l = strlen(prefix);
    return n >= l && memcmp(p, prefix, l) == 0;
}

static void sse_line(struct sub *s, const char *p, size_t n, uint64_t now)
{
    if (n == 0) { /* end of an event */
        st.events++;
        if (s->ev == EV_CONNECTED)
            ready(s);
        else if (s->ev == EV_CART)
            cart_update(s, s->ev_id, now);
        s->ev = EV_NONE;
        return;
    }
    if (p[0] == ':') return;
    if (starts(p, n, "event:")) {
        const char *v = p + 6;
        size_t vl = n - 6;
        if (vl && *v == ' ') v++, vl--;
        s->ev = vl == 9 && memcmp(v, "connected", 9) == 0       ? EV_CONNECTED
                : vl == 11 && memcmp(v, "cart_update", 11) == 0 ? EV_CART
                                                                : EV_MESSAGE;
    } else if (starts(p, n, "id:")) {
        s->ev_id = strtoll(p + 3, NULL, 10);
    } else if (starts(p, n, "data:") && opt.target == TARGET_NCHAN) {
        const char *v = p + 5;
        size_t vl = n - 5;
        if (vl && *v == ' ') v++, vl--;
        nchan_message(s, v, vl, now);
    }
}

/* Stream bytes (after de-chunking); lines end in LF or CRLF. */
static void sse_feed(struct sub *s, const char *p, size_t n, uint64_t now)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        if (!nl) {
            bytes_append(&s->carry, p, n);
            return;
        }
        size_t len = (size_t)(nl - p);
        const char *line = p;
        if (s->carry.len) {
            bytes_append(&s->carry, p, len);
            line = s->carry.base;
            len = s->carry.len;
        }
        if (len && line[len - 1] == '\r') len--;
        sse_line(s, line, len, now);
        s->carry.len = 0;
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
}

/* --- WebSocket ----------------------------------------------------------------- */

/* Sends a masked control frame (pong or close) with the payload p. */
static void ws_send(struct sub *s, uint8_t opcode, const char *p, size_t n)
{
    char f[6 + 125];
    if (n > 125) n = 125;
    uint32_t mask = (uint32_t)rand();
    f[0] = (char)(0x80 | opcode);
    f[1] = (char)(0x80 | n);
    memcpy(f + 2, &mask, 4);
    for (size_t i = 0; i < n; i++)
        f[6 + i] = (char)(p[i] ^ f[2 + i % 4]);
    conn_write(&s->c, f, 6 + n);
}

static void ws_message(struct sub *s, const char *p, size_t n, uint64_t now)
{
    st.events++;
    if (opt.target == TARGET_NCHAN) {
        nchan_message(s, p, n, now);
        return;
    }
    const char *type = memmem(p, n, "\"type\":\"", 8);
    if (!type) return;
    type += 8;
    size_t left = (size_t)(p + n - type);
    if (starts(type, left, "connected\"")) {
        ready(s);
    } else if (starts(type, left, "cart_update\"")) {
        const char *v = memmem(p, n, "\"version\":", 10);
        if (v) cart_update(s, strtoll(v + 10, NULL, 10), now);
    }
}

/* Parses whole frames from p; returns how many bytes it used, or -1 to close. */
static long ws_frames(struct sub *s, const char *p, size_t n, uint64_t now)
{
    size_t off = 0;
    while (n - off >= 2) {
        const unsigned char *h = (const unsigned char *)p + off;
        uint8_t op = h[0] & 0x0f;
        bool fin = h[0] & 0x80, masked = h[1] & 0x80;
        uint64_t len = h[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n - off < 4) break;
            len = (uint64_t)h[2] << 8 | h[3];
            hl = 4;
        } else if (len == 127) {
            if (n - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | h[2 + i];
            hl = 10;
        }
        if (len > (1u << 24)) return -1;
        size_t mk = masked ? 4 : 0;
        if (n - off < hl + mk + len) break;
        char *payload = (char *)p + off + hl + mk;
        if (masked) /* servers do not mask; tolerate it anyway */
            for (size_t i = 0; i < len; i++)
                payload[i] = (char)(payload[i] ^ h[hl + i % 4]);
        off += hl + mk + (size_t)len;
        if (op == 0x9) {
            ws_send(s, 0xA, payload, (size_t)len);
        } else if (op == 0x8) {
            ws_send(s, 0x8, payload, len >= 2 ? 2 : 0);
            return -1;
        } else if (op == 0x1 || op == 0x2 || op == 0x0) {
            if (fin && op != 0 && s->msg.len == 0) {
                ws_message(s, payload, (size_t)len, now);
            } else {
                bytes_append(&s->msg, payload, (size_t)len);
                if (fin) {
                    ws_message(s, s->msg.base, s->msg.len, now);
                    s->msg.len = 0;
                }
            }
        }
    }
    return (long)off;
}

static bool ws_feed(struct sub *s, char *p, size_t n, uint64_t now)
{
    if (s->carry.len) {
        bytes_append(&s->carry, p, n);
        long used = ws_frames(s, s->carry.base, s->carry.len, now);
        if (used < 0) return false;
        bytes_consume(&s->carry, (size_t)used);
        return true;
    }
    long used = ws_frames(s, p, n, now);
    if (used < 0) return false;
    bytes_append(&s->carry, p + used, n - (size_t)used);
    return true;
}

/* --- the connection ------------------------------------------------------------ */

struct feed_ctx {
    struct sub *s;
    uint64_t now;
};

static void chunk_out(void *ctx, const char *p, size_t n)
{
    struct feed_ctx *f = ctx;
    sse_feed(f->s, p, n, f->now);
}

static void sub_end(struct sub *s, bool failed)
{
    if (s->state == S_DONE) return;
    if (failed && !s->ready)
        on_sub_failed();
    else
        st.closed_by_server++;
    s->state = S_DONE;
    bytes_free(&s->carry);
    bytes_free(&s->msg);
    conn_close(&s->c);
}

static bool body(struct sub *s, char *p, size_t n, uint64_t now)
{
    if (opt.transport == TR_WS) return ws_feed(s, p, n, now);
    if (!s->chunked) {
        sse_feed(s, p, n, now);
        return true;
    }
    struct feed_ctx f = {s, now};
    return dechunk_feed(&s->dc, p, n, chunk_out, &f);
}

static void sub_read(struct conn *c, const char *p, size_t n, uint64_t now)
{
    struct sub *s = (struct sub *)c;
    if (n == 0) {
        sub_end(s, true);
        return;
    }
    if (s->state == S_STREAM) {
        if (!body(s, (char *)p, n, now)) sub_end(s, false);
        return;
    }
    bytes_append(&s->carry, p, n);
    struct http_head h;
    long hl = http_head_parse(s->carry.base, s->carry.len, &h);
    if (hl == 0) return;
    bool ws = opt.transport == TR_WS;
    bool good = hl > 0 && (ws ? h.status == 101 && h.ws_accept_len == 28 &&
                                    memcmp(h.ws_accept, s->accept, 28) == 0
                              : h.status == 200);
    if (!good) {
        st.head_errors++;
        if (hl > 0 && h.status) st.last_error = "subscriber refused (status not 200/101)";
        sub_end(s, true);
        return;
    }
    s->state = S_STREAM;
    s->chunked = h.chunked;
    if (opt.target == TARGET_NCHAN)
        ready(s); /* nchan sends no welcome event: the response is the signal */
    size_t rest = s->carry.len - (size_t)hl;
    struct bytes b = s->carry;
    s->carry = (struct bytes){0};
    if (rest && !body(s, b.base + hl, rest, now)) sub_end(s, false);
    bytes_free(&b);
}

static void sub_connected(struct conn *c, int status)
{
    struct sub *s = (struct sub *)c;
    if (status < 0) {
        sub_end(s, true);
        return;
    }
    char req[512];
    int n;
    /* A diner's page says who it is (and the yardstick's subscribers do): the
     * stream then takes part in presence, as in real use. */
    const char *host = "Host: 127.0.0.1\r\nUser-Agent: tcload\r\nX-User-Id: 1\r\n";
    if (opt.transport == TR_WS) {
        char key[25];
        ws_make_key(key, s->accept);
        const char *path = opt.target == TARGET_NCHAN ? "/sub/" : "/ws/cart/";
        n = snprintf(req, sizeof req,
                     "GET %s%d HTTP/1.1\r\n%sUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     path, s->t->id, host, key);
    } else {
        const char *path = opt.target == TARGET_NCHAN ? "/sub/" : "/api/store/order/sse/";
        n = snprintf(req, sizeof req, "GET %s%d HTTP/1.1\r\n%sAccept: text/event-stream\r\n\r\n",
                     path, s->t->id, host);
    }
    conn_write(c, req, (size_t)n);
}

static void sub_closed(struct conn *c, int status)
{
    (void)c;
    (void)status;
    /* Subscribers live until the process exits: the struct stays allocated. */
}

bool sub_start(struct table *t, uint32_t i)
{
    struct sub *s = xcalloc(1, sizeof *s);
    s->t = t;
    s->c.on_connect = sub_connected;
    s->c.on_read = sub_read;
    s->c.on_close = sub_closed;
    int rc = conn_start(&s->c, i);
    if (rc < 0) {
        st.last_error = uv_strerror(rc);
        if (!s->c.closing) /* else its close callback still comes: leave it to the exit */
            free(s);
        return false;
    }
    return true;
}
