/* test_ws.c — WebSocket handshake values, shared frames and the session glue
 * over wslay, byte by byte. Client frames are built here, masked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "push/ws.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- harness --------------------------------------------------------------- */

typedef struct {
    tc_ws *ws;
    tc_buf out;   /* every byte written, in order */
    tc_buf texts; /* every on_text payload, each followed by '|' */
    int ntexts;
    int nclosed;
    uint16_t code;
    bool echo;          /* on_text answers with the same text */
    bool close_on_text; /* on_text starts a close (1000) */
    bool free_on_text;
    bool free_on_close;
    bool hold;          /* hold_close's answer */
    tc_ws_callbacks cb; /* kept by the session: lives as long as r */
} rec;

static void rec_write(void *ctx, const char *data, size_t len)
{
    rec *r = ctx;
    tc_buf_append(&r->out, data, len);
}

static void rec_text(void *ctx, const char *data, size_t len)
{
    rec *r = ctx;
    tc_buf_append(&r->texts, data, len);
    tc_buf_append(&r->texts, "|", 1);
    r->ntexts++;
    if (r->echo) assert_int_equal(tc_ws_send_text(r->ws, data, len), 0);
    if (r->close_on_text) assert_int_equal(tc_ws_close(r->ws, 1000, NULL), 0);
    if (r->free_on_text) {
        tc_ws_free(r->ws);
        r->ws = NULL;
    }
}

static void rec_closed(void *ctx, uint16_t code)
{
    rec *r = ctx;
    r->nclosed++;
    r->code = code;
    if (r->free_on_close) {
        tc_ws_free(r->ws);
        r->ws = NULL;
    }
}

static bool rec_hold(void *ctx)
{
    rec *r = ctx;
    return r->hold;
}

static rec *rec_new(size_t max_message)
{
    rec *r = calloc(1, sizeof *r);
    r->cb = (tc_ws_callbacks){rec_write, rec_text, rec_closed, max_message, NULL};
    r->ws = tc_ws_new(&r->cb, r, 0);
    return r;
}

static void rec_free(rec *r)
{
    tc_ws_free(r->ws);
    tc_buf_free(&r->out);
    tc_buf_free(&r->texts);
    free(r);
}

static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends one client frame: first byte b0 (FIN/RSV/opcode), masked payload. */
static void frame(tc_buf *b, unsigned b0, const void *payload, size_t len)
{
    unsigned char h[14];
    size_t n = 0;
    h[n++] = (unsigned char)b0;
    if (len < 126) {
        h[n++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (unsigned char)(len >> 8);
        h[n++] = (unsigned char)len;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[n++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(h + n, mask_key, 4);
    n += 4;
    tc_buf_append(b, h, n);
    const unsigned char *p = payload;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)(p[i] ^ mask_key[i % 4]);
        tc_buf_append(b, &c, 1);
    }
}

static void close_frame(tc_buf *b, uint16_t code, const char *reason)
{
    unsigned char p[128] = {(unsigned char)(code >> 8), (unsigned char)code};
    size_t n = strlen(reason);
    memcpy(p + 2, reason, n);
    frame(b, 0x88, p, n + 2);
}

/* Feeds b one byte at a time; stops at the first non-zero result. */
static int feed_bytewise(rec *r, const tc_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        int rc = tc_ws_feed(r->ws, b->base + i, 1);
        if (rc != 0) return rc;
    }
    return 0;
}

static int feed_all(rec *r, const tc_buf *b)
{
    return tc_ws_feed(r->ws, b->base, b->len);
}

#define assert_out(r, lit)                                                                         \
    do {                                                                                           \
        assert_int_equal((r)->out.len, sizeof(lit) - 1);                                           \
        assert_memory_equal((r)->out.base, lit, sizeof(lit) - 1);                                  \
    } while (0)

/* A violation: exactly the close frame 0x88 0x02 <code>, on_closed(code), err. */
static void check_violation(const tc_buf *in, size_t max_message, uint16_t code, int err,
                            bool bytewise)
{
    rec *r = rec_new(max_message);
    int rc = bytewise ? feed_bytewise(r, in) : feed_all(r, in);
    assert_int_equal(rc, err);
    unsigned char want[4] = {0x88, 0x02, (unsigned char)(code >> 8), (unsigned char)code};
    assert_int_equal(r->out.len, 4);
    assert_memory_equal(r->out.base, want, 4);
    assert_int_equal(r->nclosed, 1);
    assert_int_equal(r->code, code);
    assert_int_equal(r->ntexts, 0);
    assert_true(tc_ws_close_sent(r->ws));
    assert_false(tc_ws_can_inject(r->ws));
    /* the session is over */
    assert_int_equal(tc_ws_feed(r->ws, "x", 1), TC_ECLOSED);
    assert_int_equal(tc_ws_send_text(r->ws, "x", 1), TC_ECLOSED);
    assert_int_equal(r->out.len, 4);
    assert_int_equal(r->nclosed, 1);
    rec_free(r);
}

static void check_violation_both(const tc_buf *in, size_t max_message, uint16_t code, int err)
{
    check_violation(in, max_message, code, err, false);
    check_violation(in, max_message, code, err, true);
}

/* --- handshake values ------------------------------------------------------ */

static void test_accept_key_rfc_sample(void **state)
{
    (void)state;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char out[29];
    memset(out, 'z', sizeof out);
    tc_ws_accept_key(key, strlen(key), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_key_valid(void **state)
{
    (void)state;
    const char *ok[] = {
        "dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAA==", "+/+/+/+/+/+/+/+/+/+/+w=="};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_int_equal(tc_ws_key_valid(ok[i], strlen(ok[i])), 0);
    const char *bad[] = {"",
                         "dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
                         "dGhlIHNhbXBsZSBub25jZQ=",    /* one pad */
                         "dGhlIHNhbXBsZSBub25jZQ===",  /* 25 chars */
                         "dGhlIHNhbXBsZSBub25jZQAA",   /* 18 bytes */
                         "dGhlIHNhbXBsZSBub25j",       /* 15 bytes */
                         "dGhlIHNhbXBsZSBub25jZQ-=",   /* pad in the wrong place */
                         "dGhlIHNhbXBsZSBub25j-Q==",   /* base64url character */
                         "dGhlIHNhbXBsZSBub25j ZQ==",  /* space */
                         "dGhlIHNhbXBsZSBub25jZQ==\r", /* trailing CR */
                         "dGhlIHNhbXBsZSBub2=jZQ=="};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(tc_ws_key_valid(bad[i], strlen(bad[i])), TC_EINVAL);
    /* a NUL inside the length is not base64 */
    assert_int_equal(tc_ws_key_valid("dGhlIHNhbXBsZSBub25jZ\0==", 24), TC_EINVAL);
}

/* --- shared text frames ---------------------------------------------------- */

static void test_text_frame_lengths(void **state)
{
    (void)state;
    tc_rbuf *f = tc_ws_text_frame("Hello", 5);
    assert_int_equal(f->len, 7);
    assert_memory_equal(f->data, "\x81\x05Hello", 7);
    tc_rbuf_unref(f);

    f = tc_ws_text_frame(NULL, 0);
    assert_int_equal(f->len, 2);
    assert_memory_equal(f->data, "\x81\x00", 2);
    tc_rbuf_unref(f);

    static char p[70000];
    memset(p, 'a', sizeof p);
    f = tc_ws_text_frame(p, 125);
    assert_int_equal(f->len, 127);
    assert_memory_equal(f->data, "\x81\x7d", 2);
    tc_rbuf_unref(f);

    f = tc_ws_text_frame(p, 126);
    assert_int_equal(f->len, 130);
    assert_memory_equal(f->data, "\x81\x7e\x00\x7e", 4);
    assert_memory_equal(f->data + 4, p, 126);
    tc_rbuf_unref(f);

    f = tc_ws_text_frame(p, 65535);
    assert_int_equal(f->len, 65539);
    assert_memory_equal(f->data, "\x81\x7e\xff\xff", 4);
    tc_rbuf_unref(f);

    f = tc_ws_text_frame(p, 70000); /* 0x11170 */
    assert_int_equal(f->len, 70010);
    assert_memory_equal(f->data, "\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10);
    assert_memory_equal(f->data + 10, p, 70000);
    tc_rbuf_unref(f);
}

/* --- receiving ------------------------------------------------------------- */

static void test_rfc_masked_hello_bytewise(void **state)
{
    (void)state;
    /* RFC 6455 §5.7: a single-frame masked text message "Hello" */
    static const char hello[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    tc_buf in = TC_BUF_INIT;
    tc_buf_append(&in, hello, sizeof hello - 1);
    rec *r = rec_new(65536);
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_int_equal(r->ntexts, 1);
    assert_int_equal(r->texts.len, 6);
    assert_memory_equal(r->texts.base, "Hello|", 6);
    assert_int_equal(r->out.len, 0);
    assert_int_equal(r->nclosed, 0);
    assert_true(tc_ws_can_inject(r->ws));
    assert_false(tc_ws_close_sent(r->ws));
    rec_free(r);
    tc_buf_free(&in);
}

static void test_several_messages_one_feed(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    const char *json = "{\"type\":\"add_item\",\"data\":{\"cuisineId\":3,\"quantity\":1}}";
    frame(&in, 0x81, json, strlen(json));
    frame(&in, 0x81, "", 0);
    frame(&in, 0x81, "{\"type\":\"heartbeat\"}", 20);
    rec *r = rec_new(65536);
    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(r->ntexts, 3);
    tc_buf want = TC_BUF_INIT;
    tc_buf_appendf(&want, "%s||{\"type\":\"heartbeat\"}|", json);
    assert_int_equal(r->texts.len, want.len);
    assert_memory_equal(r->texts.base, want.base, want.len);
    /* and the same bytes in odd splits */
    rec *r2 = rec_new(65536);
    for (size_t i = 0, step = 1; i < in.len; i += step, step = step % 7 + 3) {
        size_t n = i + step <= in.len ? step : in.len - i;
        assert_int_equal(tc_ws_feed(r2->ws, in.base + i, n), 0);
    }
    assert_int_equal(r2->ntexts, 3);
    assert_memory_equal(r2->texts.base, want.base, want.len);
    rec_free(r2);
    rec_free(r);
    tc_buf_free(&want);
    tc_buf_free(&in);
}

static void test_fragmented_with_ping_between(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x01, "Hel", 3); /* text, not FIN */
    frame(&in, 0x89, "Hi", 2);  /* ping between fragments */
    frame(&in, 0x00, "l", 1);   /* continuation */
    frame(&in, 0x00, "", 0);    /* empty continuation */
    frame(&in, 0x80, "o", 1);   /* final continuation */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        rec *r = rec_new(65536);
        assert_int_equal(bytewise ? feed_bytewise(r, &in) : feed_all(r, &in), 0);
        assert_int_equal(r->ntexts, 1);
        assert_int_equal(r->texts.len, 6);
        assert_memory_equal(r->texts.base, "Hello|", 6);
        assert_out(r, "\x8a\x02Hi"); /* the pong */
        assert_int_equal(r->nclosed, 0);
        rec_free(r);
    }
    tc_buf_free(&in);
}

static void test_ping_pong(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x89, "Hello", 5);
    frame(&in, 0x89, "", 0);
    frame(&in, 0x8a, "unsolicited", 11); /* a pong: ignored */
    rec *r = rec_new(65536);
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_out(r, "\x8a\x05Hello\x8a\x00");
    assert_int_equal(r->ntexts, 0);
    assert_int_equal(r->nclosed, 0);
    rec_free(r);
    tc_buf_free(&in);
}

/* Several pings in one feed get one pong, for the newest; fed one at a time,
 * each gets its own. */
static void test_pongs_coalesced(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    char p[8];
    for (int i = 0; i < 100; i++) {
        int n = snprintf(p, sizeof p, "p%d", i);
        frame(&in, 0x89, p, (size_t)n);
    }
    rec *r = rec_new(65536);
    assert_int_equal(feed_all(r, &in), 0);
    assert_out(r, "\x8a\x03p99");
    /* a ping split across two feeds is answered once it is complete */
    tc_buf_reset(&r->out);
    tc_buf_free(&in);
    frame(&in, 0x89, "last", 4);
    assert_int_equal(tc_ws_feed(r->ws, in.base, 3), 0);
    assert_int_equal(r->out.len, 0);
    assert_int_equal(tc_ws_feed(r->ws, in.base + 3, in.len - 3), 0);
    assert_out(r, "\x8a\x04last");
    assert_int_equal(r->nclosed, 0);
    rec_free(r);
    tc_buf_free(&in);
}

/* A peer that keeps us dropping pongs, feed after feed, is closed with 1008;
 * a feed with one ping or none in between resets the count. */
static void test_ping_flood_1008(void **state)
{
    (void)state;
    tc_buf burst = TC_BUF_INIT, one = TC_BUF_INIT;
    for (int i = 0; i < 501; i++)
        frame(&burst, 0x89, "", 0); /* drops 500 pongs */
    frame(&one, 0x89, "", 0);
    rec *r = rec_new(65536);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(feed_all(r, &burst), 0);
        assert_int_equal(feed_all(r, &one), 0);
    }
    assert_int_equal(r->nclosed, 0);
    assert_int_equal(r->out.len, 20 * 2); /* a pong per feed */
    assert_int_equal(feed_all(r, &burst), 0);
    assert_int_equal(feed_all(r, &burst), 0); /* 1000 dropped: still fine */
    tc_buf_reset(&r->out);
    assert_int_equal(feed_all(r, &burst), TC_EPROTO);
    assert_out(r, "\x88\x02\x03\xf0"); /* the close, no pong */
    assert_int_equal(r->nclosed, 1);
    assert_int_equal(r->code, 1008);
    rec_free(r);
    tc_buf_free(&burst);
    tc_buf_free(&one);
}

/* Pings with what wslay would refuse: reserved bits, no mask. */
static void test_bad_ping_1002(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0xc9, "", 0);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);
    tc_buf_append(&in, "\x89\x01x", 3);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);
}

static void test_large_message_64bit_length(void **state)
{
    (void)state;
    size_t n = 70000;
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, p, n);
    rec *r = rec_new(n);
    /* 1000-byte reads, as a socket would give */
    for (size_t i = 0; i < in.len; i += 1000) {
        size_t k = in.len - i < 1000 ? in.len - i : 1000;
        assert_int_equal(tc_ws_feed(r->ws, in.base + i, k), 0);
    }
    assert_int_equal(r->ntexts, 1);
    assert_int_equal(r->texts.len, n + 1);
    assert_memory_equal(r->texts.base, p, n);
    rec_free(r);
    tc_buf_free(&in);
    free(p);
}

static void test_utf8_split_across_fragments(void **state)
{
    (void)state;
    /* "€" = E2 82 AC, cut inside the sequence; "连" = E8 BF 9E too */
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x01, "a\xe2", 2);
    frame(&in, 0x00, "\x82", 1);
    frame(&in, 0x00, "\xac\xe8\xbf", 3);
    frame(&in, 0x80, "\x9e", 1);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        rec *r = rec_new(65536);
        assert_int_equal(bytewise ? feed_bytewise(r, &in) : feed_all(r, &in), 0);
        assert_int_equal(r->ntexts, 1);
        assert_memory_equal(r->texts.base, "a€连|", 8);
        assert_int_equal(r->out.len, 0);
        rec_free(r);
    }
    tc_buf_free(&in);
}

/* --- protocol violations --------------------------------------------------- */

static void test_unmasked_frame_1002(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    tc_buf_append(&in, "\x81\x05Hello", 7);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);
}

static void test_reserved_bits_1002(void **state)
{
    (void)state;
    unsigned rsv[] = {0x40, 0x20, 0x10};
    for (size_t i = 0; i < 3; i++) {
        tc_buf in = TC_BUF_INIT;
        frame(&in, 0x81 | rsv[i], "Hello", 5);
        check_violation_both(&in, 65536, 1002, TC_EPROTO);
        tc_buf_free(&in);
    }
}

static void test_unknown_opcodes_1002(void **state)
{
    (void)state;
    unsigned ops[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        tc_buf in = TC_BUF_INIT;
        frame(&in, 0x80 | ops[i], "x", 1);
        check_violation_both(&in, 65536, 1002, TC_EPROTO);
        tc_buf_free(&in);
    }
}

static void test_bad_fragmentation_1002(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x80, "x", 1); /* continuation with nothing to continue */
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    frame(&in, 0x01, "a", 1); /* a new text message inside a fragmented one */
    frame(&in, 0x81, "b", 1);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    frame(&in, 0x09, "", 0); /* fragmented ping */
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    static char big[126];
    memset(big, 'p', sizeof big);
    frame(&in, 0x89, big, sizeof big); /* control frame over 125 bytes */
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);
}

static void test_bad_lengths_and_close_payloads_1002(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    /* length 5 in the 16-bit form */
    tc_buf_append(&in, "\x81\xfe\x00\x05\x37\xfa\x21\x3d", 8);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    /* length 200 in the 64-bit form */
    tc_buf_append(&in, "\x81\xff\x00\x00\x00\x00\x00\x00\x00\xc8\x37\xfa\x21\x3d", 14);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    /* 64-bit length with the top bit set */
    tc_buf_append(&in, "\x81\xff\x80\x00\x00\x00\x00\x00\x00\x01\x37\xfa\x21\x3d", 14);
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    frame(&in, 0x88, "\x03", 1); /* a close payload of one byte */
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    close_frame(&in, 1005, ""); /* a code that must not be sent */
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);

    close_frame(&in, 999, "");
    check_violation_both(&in, 65536, 1002, TC_EPROTO);
    tc_buf_free(&in);
}

static void test_binary_1003(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x82, "\x00\x01\x02", 3);
    check_violation_both(&in, 65536, 1003, TC_EMEDIA);
    tc_buf_free(&in);

    frame(&in, 0x02, "\x00", 1); /* first fragment of a binary message */
    frame(&in, 0x80, "\x00", 1);
    check_violation_both(&in, 65536, 1003, TC_EMEDIA);
    tc_buf_free(&in);

    frame(&in, 0x82, "", 0);
    check_violation_both(&in, 65536, 1003, TC_EMEDIA);
    tc_buf_free(&in);
}

static void test_invalid_utf8_1007(void **state)
{
    (void)state;
    const char *bad[] = {
        "\xff",             /* never valid */
        "a\xc3\x28",        /* bad continuation */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ok\xe2\x82",       /* truncated at the end of the message */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tc_buf in = TC_BUF_INIT;
        frame(&in, 0x81, bad[i], strlen(bad[i]));
        check_violation_both(&in, 65536, 1007, TC_EINVAL);
        tc_buf_free(&in);
    }
    /* split across fragments, invalid once joined */
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x01, "a\xe2", 2);
    frame(&in, 0x80, "(", 1);
    check_violation_both(&in, 65536, 1007, TC_EINVAL);
    tc_buf_free(&in);
    /* fragments each fine, the message ends inside a sequence */
    frame(&in, 0x01, "a", 1);
    frame(&in, 0x80, "\xe2\x82", 2);
    check_violation_both(&in, 65536, 1007, TC_EINVAL);
    tc_buf_free(&in);
    /* close reasons that are not UTF-8 (wslay does not check those) */
    const char *bad_reasons[] = {"\xff", "ok\xe2\x82", "\xed\xbf\xbf", "\xe0\x80\x80"};
    for (size_t i = 0; i < sizeof bad_reasons / sizeof *bad_reasons; i++) {
        close_frame(&in, 1000, bad_reasons[i]);
        check_violation_both(&in, 65536, 1007, TC_EINVAL);
        tc_buf_free(&in);
    }
}

static void test_oversize_1009(void **state)
{
    (void)state;
    static char p[40];
    memset(p, 'x', sizeof p);
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, p, 17);
    check_violation_both(&in, 16, 1009, TC_ETOOBIG);
    tc_buf_free(&in);

    /* each fragment fits, the message does not */
    frame(&in, 0x01, p, 10);
    frame(&in, 0x80, p, 10);
    check_violation_both(&in, 16, 1009, TC_ETOOBIG);
    tc_buf_free(&in);

    /* a 64-bit length far over the limit is refused at its first payload
     * byte, before anything is buffered */
    tc_buf_append(&in, "\x81\xff\x00\x00\x00\x01\x00\x00\x00\x00\x37\xfa\x21\x3d", 14);
    tc_buf_append(&in, "x", 1);
    check_violation_both(&in, 65536, 1009, TC_ETOOBIG);
    tc_buf_free(&in);

    /* many small fragments count together, also empty ones in between */
    for (int i = 0; i < 17; i++) {
        frame(&in, i ? 0x00 : 0x01, p, 1);
        frame(&in, 0x00, p, 0);
    }
    check_violation_both(&in, 16, 1009, TC_ETOOBIG);
    tc_buf_free(&in);

    /* exactly the limit is fine */
    frame(&in, 0x01, p, 6);
    frame(&in, 0x80, p, 10);
    rec *r = rec_new(16);
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_int_equal(r->ntexts, 1);
    assert_int_equal(r->nclosed, 0);
    rec_free(r);
    tc_buf_free(&in);
}

static void test_message_before_violation_is_delivered(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "first", 5);
    frame(&in, 0x89, "", 0);
    frame(&in, 0x82, "bin", 3);
    frame(&in, 0x81, "never", 5);
    rec *r = rec_new(65536);
    assert_int_equal(feed_all(r, &in), TC_EMEDIA);
    assert_int_equal(r->ntexts, 1);
    assert_memory_equal(r->texts.base, "first|", 6);
    /* once a close is queued wslay drops the other queued control frames
     * (the pong): only the close goes out */
    assert_out(r, "\x88\x02\x03\xeb");
    assert_int_equal(r->code, 1003);
    rec_free(r);
    tc_buf_free(&in);
}

/* --- closing --------------------------------------------------------------- */

static void test_client_close_is_echoed(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    close_frame(&in, 1000, "bye");
    frame(&in, 0x81, "after", 5); /* ignored */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        rec *r = rec_new(65536);
        int rc = bytewise ? feed_bytewise(r, &in) : feed_all(r, &in);
        if (bytewise) {
            assert_int_equal(rc, TC_ECLOSED); /* the bytes after the close */
        } else {
            assert_int_equal(rc, 0);
        }
        assert_out(r, "\x88\x05\x03\xe8"
                      "bye");
        assert_int_equal(r->nclosed, 1);
        assert_int_equal(r->code, 1000);
        assert_int_equal(r->ntexts, 0);
        assert_true(tc_ws_close_sent(r->ws));
        assert_int_equal(tc_ws_close(r->ws, 1000, NULL), TC_ECLOSED);
        rec_free(r);
    }
    tc_buf_free(&in);

    /* a close without a code is answered without one; on_closed gets 1005 */
    frame(&in, 0x88, "", 0);
    rec *r = rec_new(65536);
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_out(r, "\x88\x00");
    assert_int_equal(r->code, 1005);
    rec_free(r);
    tc_buf_free(&in);

    /* a UTF-8 reason, here cut inside a character when fed bytewise */
    close_frame(&in, 1000, "再见");
    r = rec_new(65536);
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_out(r, "\x88\x08\x03\xe8再见");
    assert_int_equal(r->code, 1000);
    rec_free(r);
    tc_buf_free(&in);

    /* an application code is echoed too */
    close_frame(&in, 4001, "");
    r = rec_new(65536);
    assert_int_equal(feed_all(r, &in), 0);
    assert_out(r, "\x88\x02\x0f\xa1");
    assert_int_equal(r->code, 4001);
    rec_free(r);
    tc_buf_free(&in);
}

/* A ping and a message, then the peer's close, in one read (and byte by
 * byte): the pong and the answer go out before the echo of the close. */
static void test_answers_go_before_the_close_echo(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x89, "P", 1);
    frame(&in, 0x81, "hi", 2);
    close_frame(&in, 1000, "");
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        rec *r = rec_new(65536);
        r->echo = true;
        assert_int_equal(bytewise ? feed_bytewise(r, &in) : feed_all(r, &in), 0);
        assert_out(r, "\x8a\x01P\x81\x02hi\x88\x02\x03\xe8");
        assert_int_equal(r->ntexts, 1);
        assert_int_equal(r->nclosed, 1);
        assert_int_equal(r->code, 1000);
        rec_free(r);
    }
    tc_buf_free(&in);
}

/* A message, then the peer's close and bytes after it, while the caller
 * still owes answers (hold_close): the close is kept unread, whatever comes
 * after it too, until tc_ws_resume; then the answer written meanwhile goes
 * out before its echo. */
static void test_close_held_until_resume(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "hi", 2);
    close_frame(&in, 1000, "");
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        rec *r = rec_new(65536);
        r->cb.hold_close = rec_hold;
        r->hold = true;
        assert_int_equal(bytewise ? feed_bytewise(r, &in) : feed_all(r, &in), 0);
        assert_int_equal(r->ntexts, 1);
        assert_out(r, "");
        assert_true(tc_ws_close_held(r->ws));
        assert_int_equal(tc_ws_feed(r->ws, "\x81", 1), 0); /* after the close: kept */
        assert_int_equal(tc_ws_resume(r->ws), 0);          /* still held */
        assert_true(tc_ws_close_held(r->ws));
        assert_int_equal(r->nclosed, 0);
        assert_int_equal(tc_ws_send_text(r->ws, "ok", 2), 0); /* the answer */
        assert_out(r, "\x81\x02ok");
        r->hold = false;
        assert_int_equal(tc_ws_resume(r->ws), 0);
        assert_out(r, "\x81\x02ok\x88\x02\x03\xe8");
        assert_false(tc_ws_close_held(r->ws));
        assert_int_equal(r->nclosed, 1);
        assert_int_equal(r->code, 1000);
        assert_int_equal(r->ntexts, 1);
        rec_free(r);
    }
    tc_buf_free(&in);
}

static void test_server_close_completes_on_peer_close(void **state)
{
    (void)state;
    rec *r = rec_new(65536);
    assert_int_equal(tc_ws_close(r->ws, 1001, "going away"), 0);
    assert_out(r, "\x88\x0c\x03\xe9going away");
    assert_true(tc_ws_close_sent(r->ws));
    assert_false(tc_ws_can_inject(r->ws));
    assert_int_equal(r->nclosed, 0);
    assert_int_equal(tc_ws_close(r->ws, 1000, NULL), TC_ECLOSED);
    assert_int_equal(tc_ws_send_text(r->ws, "x", 1), TC_ECLOSED);
    assert_int_equal(tc_ws_send_ping(r->ws), TC_ECLOSED);

    /* late traffic from the peer: a message (dropped) and a ping (no pong
     * after our close), then its close: nothing more is written */
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "late", 4);
    frame(&in, 0x89, "p", 1);
    close_frame(&in, 1001, "");
    assert_int_equal(feed_bytewise(r, &in), 0);
    assert_int_equal(r->ntexts, 0);
    assert_int_equal(r->out.len, 14);
    assert_int_equal(r->nclosed, 1);
    assert_int_equal(r->code, 1001);
    assert_int_equal(tc_ws_feed(r->ws, "x", 1), TC_ECLOSED);
    rec_free(r);
    tc_buf_free(&in);
}

static void test_server_close_then_violation(void **state)
{
    (void)state;
    rec *r = rec_new(65536);
    assert_int_equal(tc_ws_close(r->ws, 1000, NULL), 0);
    tc_buf in = TC_BUF_INIT;
    tc_buf_append(&in, "\x81\x01x", 3); /* unmasked */
    assert_int_equal(feed_all(r, &in), TC_EPROTO);
    assert_out(r, "\x88\x02\x03\xe8"); /* no second close frame */
    assert_int_equal(r->nclosed, 1);
    assert_int_equal(r->code, 1000);
    rec_free(r);
    tc_buf_free(&in);
}

static void test_close_reason_limits(void **state)
{
    (void)state;
    rec *r = rec_new(65536);
    char reason[125];
    memset(reason, 'r', 124);
    reason[124] = '\0';
    assert_int_equal(tc_ws_close(r->ws, 1000, reason), TC_EINVAL);
    assert_int_equal(r->out.len, 0);
    reason[123] = '\0';
    assert_int_equal(tc_ws_close(r->ws, 1000, reason), 0);
    assert_int_equal(r->out.len, 2 + 125);
    assert_memory_equal(r->out.base, "\x88\x7d\x03\xe8", 4);
    rec_free(r);

    r = rec_new(65536);
    assert_int_equal(tc_ws_close(r->ws, 0, NULL), 0);
    assert_out(r, "\x88\x00");
    rec_free(r);
}

/* --- sending --------------------------------------------------------------- */

static void test_send_text_and_ping(void **state)
{
    (void)state;
    rec *r = rec_new(65536);
    assert_int_equal(tc_ws_send_text(r->ws, "{\"a\":1}", 7), 0);
    assert_int_equal(tc_ws_send_ping(r->ws), 0);
    assert_out(r, "\x81\x07{\"a\":1}\x89\x00");
    assert_true(tc_ws_can_inject(r->ws));

    /* a long message: 16-bit length, same bytes as the shared encoder */
    static char p[300];
    memset(p, 'q', sizeof p);
    tc_buf_reset(&r->out);
    assert_int_equal(tc_ws_send_text(r->ws, p, sizeof p), 0);
    tc_rbuf *shared = tc_ws_text_frame(p, sizeof p);
    assert_int_equal(r->out.len, shared->len);
    assert_memory_equal(r->out.base, shared->data, shared->len);
    tc_rbuf_unref(shared);
    rec_free(r);
}

static void test_reply_from_on_text(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "one", 3);
    frame(&in, 0x89, "", 0);
    frame(&in, 0x81, "two", 3);
    rec *r = rec_new(65536);
    r->echo = true;
    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(r->ntexts, 2);
    /* all of it is out when tc_ws_feed returns; the pong jumps the queue */
    assert_out(r, "\x8a\x00\x81\x03one\x81\x03two");
    assert_true(tc_ws_can_inject(r->ws));
    rec_free(r);
    tc_buf_free(&in);
}

static void test_close_from_on_text(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "one", 3);
    frame(&in, 0x81, "two", 3); /* dropped: our close is queued */
    rec *r = rec_new(65536);
    r->close_on_text = true;
    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(r->ntexts, 1);
    assert_out(r, "\x88\x02\x03\xe8");
    assert_int_equal(r->nclosed, 0);
    tc_buf_free(&in);
    close_frame(&in, 1000, "");
    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(r->nclosed, 1);
    assert_int_equal(r->code, 1000);
    assert_int_equal(r->out.len, 4);
    rec_free(r);
    tc_buf_free(&in);
}

/* --- lifetime -------------------------------------------------------------- */

static void test_free_inside_callbacks(void **state)
{
    (void)state;
    tc_buf in = TC_BUF_INIT;
    frame(&in, 0x81, "one", 3);
    frame(&in, 0x81, "two", 3);
    rec *r = rec_new(65536);
    r->free_on_text = true;
    assert_int_equal(feed_all(r, &in), TC_ECLOSED);
    assert_null(r->ws);
    assert_int_equal(r->ntexts, 1); /* no callback after the free */
    rec_free(r);
    tc_buf_free(&in);

    tc_buf_append(&in, "\x81\x01x", 3);
    r = rec_new(65536);
    r->free_on_close = true;
    assert_int_equal(feed_all(r, &in), TC_EPROTO);
    assert_null(r->ws);
    assert_int_equal(r->nclosed, 1);
    rec_free(r);
    tc_buf_free(&in);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Counts the bytes held by live allocations, by interposing glibc's malloc
 * family (the sanitizers bring their own allocator: not in that build). */
#define COUNT_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
static long live_bytes;

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    live_bytes += (long)malloc_usable_size(p);
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    live_bytes += (long)malloc_usable_size(p);
    return p;
}

void *realloc(void *old, size_t n)
{
    long was = (long)malloc_usable_size(old);
    void *p = __libc_realloc(old, n);
    if (p != NULL || n == 0) live_bytes += (long)malloc_usable_size(p) - was;
    return p;
}

void free(void *p)
{
    live_bytes -= (long)malloc_usable_size(p);
    __libc_free(p);
}
#endif

static void test_idle_session_is_small(void **state)
{
    (void)state;
#ifndef COUNT_ALLOCS
    skip();
#else
    tc_buf in = TC_BUF_INIT, ping = TC_BUF_INIT, frag1 = TC_BUF_INIT, frag2 = TC_BUF_INIT;
    frame(&in, 0x81, "Hello", 5);
    frame(&ping, 0x89, "", 0);
    frame(&frag1, 0x01, "Hel", 3);
    frame(&frag2, 0x80, "lo", 2);
    rec *r = rec_new(65536);
    tc_buf_reserve(&r->out, 4096);
    tc_buf_reserve(&r->texts, 4096);

    long base = live_bytes;
    tc_ws_free(r->ws);
    long session = base - live_bytes; /* a fresh session */
    r->ws = tc_ws_new(&r->cb, r, 0);
    assert_true(session > 0 && session <= 40); /* 32 bytes: a 48-byte chunk */

    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(feed_all(r, &ping), 0);
    assert_int_equal(tc_ws_send_text(r->ws, "reply", 5), 0);
    assert_int_equal(tc_ws_send_ping(r->ws), 0);
    assert_int_equal(live_bytes, base); /* idle again: nothing kept */

    /* while a fragmented message is open, wslay's context is kept */
    assert_int_equal(feed_all(r, &frag1), 0);
    assert_true(live_bytes - base > 4096);
    /* half a header counts as open too */
    assert_int_equal(tc_ws_feed(r->ws, frag2.base, 1), 0);
    assert_true(live_bytes - base > 4096);
    assert_int_equal(tc_ws_feed(r->ws, frag2.base + 1, frag2.len - 1), 0);
    assert_int_equal(r->ntexts, 2);
    assert_int_equal(live_bytes, base);
    rec_free(r);
    tc_buf_free(&in);
    tc_buf_free(&ping);
    tc_buf_free(&frag1);
    tc_buf_free(&frag2);
#endif
}

/* The heap a message holds: one block that grows with arriving payload and
 * never past max_message + 1 bytes, however it is fragmented; a declared
 * frame length is not allocated before its payload. */
static void test_fragments_held_in_one_block(void **state)
{
    (void)state;
#ifndef COUNT_ALLOCS
    skip();
#else
    static char p[4096];
    memset(p, 'x', sizeof p);
    rec *r = rec_new(4096);
    tc_buf_reserve(&r->out, 4096);
    tc_buf_reserve(&r->texts, 3 * 4096);
    tc_buf in = TC_BUF_INIT;
    tc_buf_reserve(&in, 4096 + 16);
    frame(&in, 0x01, p, 1);
    assert_int_equal(feed_all(r, &in), 0);
    long base = live_bytes; /* wslay's context, the first byte */
    for (int i = 1; i < 4095; i++) {
        tc_buf_reset(&in);
        frame(&in, 0x00, p, 1);
        assert_int_equal(feed_all(r, &in), 0);
    }
    /* 4095 one-byte fragments: the block grew to 4097 bytes, nothing per
     * fragment (wslay kept ~100 bytes each) */
    assert_true(live_bytes - base <= 4096 + 64);
    tc_buf_reset(&in);
    frame(&in, 0x80, p, 1);
    assert_int_equal(feed_all(r, &in), 0);
    assert_int_equal(r->ntexts, 1);
    assert_int_equal(r->texts.len, 4097);

    /* a header declaring 4000 bytes, then one byte of payload */
    long idle = live_bytes;
    tc_buf_reset(&in);
    frame(&in, 0x81, p, 4000);
    assert_int_equal(tc_ws_feed(r->ws, in.base, 8 + 1), 0);
    long ctx = live_bytes - idle;
    assert_true(ctx > 4096); /* wslay's context */
    assert_int_equal(tc_ws_feed(r->ws, in.base + 9, 1000), 0);
    assert_true(live_bytes - idle - ctx < 1024 + 64 + 64); /* grows as it arrives */
    assert_int_equal(tc_ws_feed(r->ws, in.base + 1009, in.len - 1009), 0);
    assert_int_equal(r->ntexts, 2);
    assert_int_equal(live_bytes, idle);
    rec_free(r);
    tc_buf_free(&in);
#endif
}

static void test_ws_message(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_ws_message(&b, "connected", "连接成功", NULL, 0, 1704067200000LL);
    assert_string_equal(tc_buf_cstr(&b), "{\"type\":\"connected\",\"message\":\"连接成功\","
                                         "\"data\":null,\"timestamp\":1704067200000}");
    tc_buf_reset(&b);
    tc_ws_message(&b, "error", "quantity must be \"1..99\"", NULL, 0, 0);
    assert_string_equal(tc_buf_cstr(&b), "{\"type\":\"error\","
                                         "\"message\":\"quantity must be \\\"1..99\\\"\","
                                         "\"data\":null,\"timestamp\":0}");
    tc_buf_reset(&b);
    tc_ws_message(&b, "add_item_success", NULL, "{\"a\":1}xx", 7, -1);
    assert_string_equal(tc_buf_cstr(&b), "{\"type\":\"add_item_success\",\"message\":null,"
                                         "\"data\":{\"a\":1},\"timestamp\":-1}");
    tc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_sample),
        cmocka_unit_test(test_key_valid),
        cmocka_unit_test(test_text_frame_lengths),
        cmocka_unit_test(test_ws_message),
        cmocka_unit_test(test_rfc_masked_hello_bytewise),
        cmocka_unit_test(test_several_messages_one_feed),
        cmocka_unit_test(test_fragmented_with_ping_between),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_pongs_coalesced),
        cmocka_unit_test(test_ping_flood_1008),
        cmocka_unit_test(test_bad_ping_1002),
        cmocka_unit_test(test_large_message_64bit_length),
        cmocka_unit_test(test_utf8_split_across_fragments),
        cmocka_unit_test(test_unmasked_frame_1002),
        cmocka_unit_test(test_reserved_bits_1002),
        cmocka_unit_test(test_unknown_opcodes_1002),
        cmocka_unit_test(test_bad_fragmentation_1002),
        cmocka_unit_test(test_bad_lengths_and_close_payloads_1002),
        cmocka_unit_test(test_binary_1003),
        cmocka_unit_test(test_invalid_utf8_1007),
        cmocka_unit_test(test_oversize_1009),
        cmocka_unit_test(test_message_before_violation_is_delivered),
        cmocka_unit_test(test_client_close_is_echoed),
        cmocka_unit_test(test_answers_go_before_the_close_echo),
        cmocka_unit_test(test_close_held_until_resume),
        cmocka_unit_test(test_server_close_completes_on_peer_close),
        cmocka_unit_test(test_server_close_then_violation),
        cmocka_unit_test(test_close_reason_limits),
        cmocka_unit_test(test_send_text_and_ping),
        cmocka_unit_test(test_reply_from_on_text),
        cmocka_unit_test(test_close_from_on_text),
        cmocka_unit_test(test_free_inside_callbacks),
        cmocka_unit_test(test_idle_session_is_small),
        cmocka_unit_test(test_fragments_held_in_one_block),
    };
    return cmocka_run_group_tests_name("push/ws", tests, NULL, NULL);
}
