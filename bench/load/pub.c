/* Publishers: keep-alive connections that write changes, one request at a time each.
 * tablecart: POST /api/store/order/cart/add (DELETE …/cart/clear once the cart is
 * full); nchan: POST /pub/{id} with "k=<k> r=<run id> t=<id>" padded to --payload. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pub {
    struct conn c;   /* first */
    struct table *t; /* in flight, or NULL */
    uint64_t t_write;
    bool up, warmup;
    struct bytes in;
};

static struct pub *pubs;
static uint32_t npubs, nup, nbusy;
static uint64_t failures; /* connection failures: reconnecting stops after too many */
char run_id[17];

static void pub_connect(struct pub *p);

uint32_t pubs_connected(void)
{
    return nup;
}

bool pubs_idle(void)
{
    return nbusy == 0;
}

/* The change in flight ended: ok tells whether the server took it. */
static void finish(struct pub *p, bool ok, int32_t qty, uint64_t now)
{
    struct table *t = p->t;
    if (!t) return;
    p->t = NULL;
    nbusy--;
    t->busy = false;
    if (ok && p->warmup) {
        p->warmup = false;
    } else if (ok) {
        t->ok++;
        st.ok++;
        if (qty >= 0) t->qty = qty;
        sample_add(&st.rtt, &st.nrtt, &st.caprtt, now - p->t_write);
    } else {
        st.failed_mut++;
    }
    on_pub_answer();
}

static void pub_down(struct pub *p)
{
    conn_close(&p->c);
}

static void pub_closed(struct conn *c, int status)
{
    (void)status;
    struct pub *p = (struct pub *)c;
    p->warmup = false;
    finish(p, false, -1, uv_hrtime());
    if (p->up) nup--;
    p->up = false;
    p->in.len = 0;
    if (++failures <= 1000) { /* bounded: a server that keeps closing ends the run */
        st.pub_reconnects++;
        pub_connect(p);
    }
}

static void pub_read(struct conn *c, const char *data, size_t n, uint64_t now)
{
    struct pub *p = (struct pub *)c;
    if (n == 0) {
        pub_down(p);
        return;
    }
    bytes_append(&p->in, data, n);
    while (p->in.len) {
        struct http_head h;
        long hl = http_head_parse(p->in.base, p->in.len, &h);
        if (hl == 0) return;
        if (hl < 0) {
            pub_down(p);
            return;
        }
        size_t total;
        if (h.chunked) {
            const char *end = memmem(p->in.base + hl, p->in.len - (size_t)hl, "0\r\n\r\n", 5);
            if (!end) return;
            total = (size_t)(end + 5 - p->in.base);
        } else {
            size_t cl = h.content_length > 0 ? (size_t)h.content_length : 0;
            if (p->in.len < (size_t)hl + cl) return;
            total = (size_t)hl + cl;
        }
        int32_t qty = -1;
        const char *q = memmem(p->in.base + hl, total - (size_t)hl, "\"totalQuantity\":", 16);
        if (q) qty = (int32_t)strtol(q + 16, NULL, 10);
        bool ok = h.status >= 200 && h.status < 300;
        if (!ok) st.last_error = "a publish was refused (status not 2xx)";
        bytes_consume(&p->in, total);
        finish(p, ok, qty, now);
        if (h.close) {
            pub_down(p);
            return;
        }
    }
}

static void pub_connected(struct conn *c, int status)
{
    struct pub *p = (struct pub *)c;
    if (status < 0) {
        pub_down(p);
        return;
    }
    p->up = true;
    nup++;
    if (nup == npubs) on_pubs_ready();
    on_pub_answer();
}

static void pub_connect(struct pub *p)
{
    p->c.on_connect = pub_connected;
    p->c.on_read = pub_read;
    p->c.on_close = pub_closed;
    p->c.port = opt.pub_port;
    if (conn_start(&p->c, 0) < 0 && !p->c.closing) failures++;
}

void pubs_start(uint32_t n)
{
    snprintf(run_id, sizeof run_id, "%016llx",
             (unsigned long long)(uv_hrtime() ^ ((uint64_t)rand() << 20)));
    npubs = n;
    pubs = xcalloc(n, sizeof *pubs);
    for (uint32_t i = 0; i < n; i++)
        pub_connect(&pubs[i]);
}

static struct pub *free_pub(void)
{
    static uint32_t next;
    for (uint32_t i = 0; i < npubs; i++) {
        struct pub *p = &pubs[(next + i) % npubs];
        if (p->up && !p->t && !p->c.closing) {
            next = (next + i + 1) % npubs;
            return p;
        }
    }
    return NULL;
}

/* Writes change k of table t on p. */
static void send_change(struct pub *p, struct table *t, uint32_t k)
{
    char req[1024], body[512];
    int n;
    if (opt.target == TARGET_NCHAN) {
        int bl = snprintf(body, sizeof body, "k=%u r=%s t=%d", k, run_id, t->id);
        size_t want = opt.payload < sizeof body ? opt.payload : sizeof body - 1;
        while ((size_t)bl < want)
            body[bl++] = 'x';
        n = snprintf(req, sizeof req,
                     "POST /pub/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%.*s",
                     t->id, bl, bl, body);
    } else if (t->qty >= (int32_t)opt.clear_at) {
        n = snprintf(req, sizeof req,
                     "DELETE /api/store/order/cart/clear?tableId=%d HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\nX-User-Id: 1\r\nContent-Length: 0\r\n\r\n",
                     t->id);
    } else {
        int bl = snprintf(body, sizeof body, "{\"tableId\":%d,\"cuisineId\":%d,\"quantity\":1}",
                          t->id, opt.cuisine);
        n = snprintf(req, sizeof req,
                     "POST /api/store/order/cart/add HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "X-User-Id: 1\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     bl, body);
    }
    if (k >= t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        while (cap <= k)
            cap *= 2;
        uint64_t *nt = realloc(t->t_send, cap * sizeof *nt);
        if (!nt) abort();
        t->t_send = nt;
        t->cap = cap;
    }
    p->t = t;
    nbusy++;
    t->busy = true;
    t->sent = k;
    p->t_write = uv_hrtime();
    t->t_send[k] = p->t_write;
    conn_write(&p->c, req, (size_t)n);
}

bool pub_send(struct table *t, uint64_t now)
{
    (void)now;
    struct pub *p = free_pub();
    if (!p) return false;
    /* tablecart: the k-th accepted change makes version base+k, so a refused one's k is
     * reused; nchan: every message carries its own k. */
    uint32_t k = opt.target == TARGET_NCHAN ? t->sent + 1 : t->ok + 1;
    st.sent++;
    send_change(p, t, k);
    return true;
}

bool pub_send_warmup(struct table *t)
{
    struct pub *p = free_pub();
    if (!p) return false;
    p->warmup = true; /* not a change of the run: not counted */
    send_change(p, t, 0);
    return true;
}
