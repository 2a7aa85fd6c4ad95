/* tcload — the project's load generator for push servers: tablecart (SSE at
 * /api/store/order/sse/{id}, WebSocket at /ws/cart/{id}, changes by REST) and
 * nginx + nchan (GET /sub/{id}, POST /pub/{id}) as the peer we compare with.
 *
 * One process, one libuv loop, IPv4 loopback only. Modes:
 *   idle    open N subscribers over T tables, report the server's RSS growth per connection;
 *   fanout  T tables x S subscribers, R changes/s for D seconds: deliveries, latency
 *           (publish write -> subscriber read, uv_hrtime), missing deliveries, gaps, and
 *           the server's CPU time; R = 0 means as fast as the publisher connections go.
 * Every phase has a deadline: the run always ends by itself. */
#ifndef TCLOAD_H
#define TCLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum target { TARGET_TABLECART, TARGET_NCHAN };
enum transport { TR_SSE, TR_WS };
enum mode { MODE_IDLE, MODE_FANOUT };

#define MAX_PIDS 16

struct options {
    enum mode mode;
    enum target target;
    enum transport transport;
    int32_t port;
    int pids[MAX_PIDS]; /* server processes whose CPU and RSS are measured */
    int npids;
    uint32_t conns;      /* idle: subscribers in all */
    uint32_t tables;     /* tables (channels) used, ids table_base .. table_base+tables-1 */
    uint32_t subs;       /* fanout: subscribers per table */
    int32_t table_base;  /* first table id */
    double rate;         /* fanout: changes per second offered; 0 = flat out */
    double duration;     /* fanout: seconds of publishing */
    double drain;        /* fanout: seconds to wait for late deliveries */
    double settle;       /* idle: seconds before the second RSS reading */
    double timeout;      /* connecting: seconds before giving up on the rest */
    uint32_t pub_conns;  /* publisher keep-alive connections (0: rate/8 within 8..256) */
    uint32_t payload;    /* nchan: message body size in bytes */
    uint32_t clear_at;   /* tablecart: clear the cart once it holds this many */
    int32_t cuisine;     /* tablecart: the dish added */
    uint32_t src_ips;    /* bind subscribers round-robin to 127.0.0.1..K (0: none) */
    double connect_rate; /* new subscriber connections per second */
    uint32_t max_inflight;
    int32_t pub_port;     /* fanout: publishers connect here (0: --port), e.g. another instance */
    bool go_signal;       /* fanout: once synced, print "synced" and wait for SIGUSR1 */
    const char *lat_file; /* fanout: the delivery latencies (uint32 microseconds) go here */
    bool quiet;
};

extern struct options opt;
extern uv_loop_t *loop;

/* A growable byte buffer; all functions abort on out of memory. */
struct bytes {
    char *base;
    size_t len, cap;
};
void bytes_append(struct bytes *b, const void *p, size_t n);
void bytes_consume(struct bytes *b, size_t n); /* drops the first n bytes */
void bytes_free(struct bytes *b);
void *xcalloc(size_t n, size_t size);

/* One table (nchan: channel). sent = k of the newest change written; t_send[k] = when. */
struct table {
    int32_t id;
    bool busy;       /* a change is in flight: at most one per table, so versions map to k */
    uint32_t sent;   /* k of the last change written */
    uint32_t ok;     /* changes the server accepted */
    uint32_t synced; /* subscribers that have their starting point */
    int32_t qty;     /* tablecart: quantity in the cart after the last answer */
    uint64_t *t_send;
    uint32_t cap;
};
extern struct table *tables;

/* Counters and samples of one run. */
struct stats {
    uint64_t started, ready, synced, failed, closed_by_server, head_errors;
    uint64_t planned, sent, ok, failed_mut, skipped, waited;
    uint64_t received, gaps, dups, unexpected, stale, events;
    uint64_t subs_delivered; /* subscribers that received at least one change */
    uint64_t pub_reconnects;
    uint32_t *lat; /* delivery latencies in microseconds */
    size_t nlat, caplat;
    uint32_t *rtt; /* publish round trips in microseconds */
    size_t nrtt, caprtt;
    const char *last_error;
};
extern struct stats st;
void sample_add(uint32_t **v, size_t *n, size_t *cap, uint64_t ns);

/* --- net.c: client TCP connections to 127.0.0.1:opt.port ------------------ */

struct conn;
typedef void (*conn_cb)(struct conn *c, int status);
/* p/n: bytes read at time now (uv_hrtime); n == 0 means the peer closed or failed. */
typedef void (*conn_read_cb)(struct conn *c, const char *p, size_t n, uint64_t now);

struct conn {
    uv_tcp_t tcp; /* first: the handle's address is the connection's */
    uv_connect_t creq;
    conn_cb on_connect;
    conn_read_cb on_read;
    conn_cb on_close; /* after the handle is closed; may free the conn */
    int32_t port;     /* 0: opt.port */
    bool open, closing;
};

/* Connects; src_index picks the source address when opt.src_ips > 0. Returns 0 or a
 * libuv error (then no callback runs). */
int conn_start(struct conn *c, uint32_t src_index);
/* Sends a copy of p; a write error closes the connection. */
void conn_write(struct conn *c, const char *p, size_t n);
void conn_close(struct conn *c);

/* A parsed HTTP response head. */
struct http_head {
    int status;
    int64_t content_length; /* -1 when absent */
    bool chunked, close;
    const char *ws_accept; /* points into the input; ws_accept_len bytes */
    size_t ws_accept_len;
};
/* Parses the head at p: returns its length (through the blank line), 0 when it is not
 * complete yet, -1 when it is not HTTP. */
long http_head_parse(const char *p, size_t n, struct http_head *h);

/* Chunked transfer-encoding, decoded incrementally; out gets the payload pieces. */
struct dechunk {
    uint8_t state;
    uint64_t left;
};
typedef void (*dechunk_out)(void *ctx, const char *p, size_t n);
/* Returns false once the stream is malformed or ended (last chunk). */
bool dechunk_feed(struct dechunk *d, const char *p, size_t n, dechunk_out out, void *ctx);

/* --- sub.c: subscribers ---------------------------------------------------- */

/* Opens subscriber number i of table t; returns false if it could not start. */
bool sub_start(struct table *t, uint32_t i);
void ws_make_key(char key[25], char accept[29]);

/* --- pub.c: publishers ----------------------------------------------------- */

void pubs_start(uint32_t n);
uint32_t pubs_connected(void);
bool pubs_idle(void); /* nothing in flight */
/* Sends change k of table t (nchan: message k, k 0 is the warm-up); false if no
 * publisher connection is free. */
bool pub_send(struct table *t, uint64_t now);
bool pub_send_warmup(struct table *t);
extern char run_id[17];

/* --- sched.c: the run ------------------------------------------------------ */

void on_sub_ready(void);  /* a subscriber got its first byte of stream (idle's signal) */
void on_sub_synced(void); /* a subscriber has its starting point (fanout's signal) */
void on_sub_failed(void); /* a subscriber could not connect or was refused */
void on_pub_answer(void); /* a publisher connection became free */
void on_pubs_ready(void);

#endif
