/* fuzz_auth.c — libFuzzer driver for token verification (tc_auth_verify,
 * --auth jwt with a fixed secret) and the --auth none identity headers
 * (tc_auth_header_identity), src/auth/auth.c.
 *
 * Byte 0 is a mode. 0 (mod 3): the rest is a token as sent. 1: the rest is
 * "header JSON \n payload JSON", base64url-encoded and signed here with the
 * server's secret (so the claim checks are reached); 2: the same signed with
 * another secret. Every accepted token must be three segments whose
 * signature is HMAC-SHA256 with the server's secret of the first two (checked
 * with OpenSSL, not libjwt), whose header says alg "HS256" and no crit, and
 * whose payload (decoded here) has exp a number after now and at most 1e15,
 * nbf absent, null or not after now, userId (else sub) a positive 32-bit id
 * equal to the claims', tableId/storeId ids equal to the claims' (0 when
 * absent), and a phone that is the payload's when it is valid UTF-8 of at
 * most 32 characters ("" otherwise). A refusal is TC_EAUTH with a message.
 * Mode 1 with the header {"alg":"HS256","typ":"JWT"}: the verdict must be
 * the one those rules give (nothing valid is refused).
 *
 * Modes 3..5: identity. The rest is split at '\n' into X-User-Id,
 * X-User-Phone and the query (bits of byte 0 / 6 say which headers are
 * present). A success: has_user_id exactly when an id was given, the id is
 * the text's value (optional '-', 1..12 digits, 1..2^31-1), the phone is the
 * given bytes, valid UTF-8 without NUL of at most 32 characters, NULL when
 * empty. A refusal is TC_EINVAL with a message. */
#include "auth/auth.h"
#include "core/json.h"

#include <jansson.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000

static const char secret[] = "fuzz-secret-0123456789abcdef0123456789";
static const char other[] = "another-secret-0123456789abcdef012345";

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64_encode(tc_buf *out, const unsigned char *p, size_t n)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        char c[4] = {b64url[v >> 18], b64url[v >> 12 & 63], b64url[v >> 6 & 63], b64url[v & 63]};
        tc_buf_append(out, c, 4);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        char c[2] = {b64url[v >> 18], b64url[v >> 12 & 63]};
        tc_buf_append(out, c, 2);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        char c[3] = {b64url[v >> 18], b64url[v >> 12 & 63], b64url[v >> 6 & 63]};
        tc_buf_append(out, c, 3);
    }
}

static int b64_val(char c)
{
    const char *at = c ? strchr(b64url, c) : NULL;
    return at ? (int)(at - b64url) : -1;
}

/* Lenient decode (padding and non-alphabet bytes end it): what any decoder
 * would make of a segment libjwt took. Returns false on no alphabet at all. */
static void b64_decode(const char *s, size_t n, tc_buf *out)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) break;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)(acc >> bits & 0xff);
            tc_buf_append(out, &ch, 1);
        }
    }
}

static void sign(const char *key, const char *msg, size_t n, tc_buf *out)
{
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, n, mac, &len);
    b64_encode(out, mac, len);
}

/* A positive 32-bit id from a JSON integer or a string of 1..12 digits. */
static bool id_of(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 1 || x > INT32_MAX) return false;
        *out = x;
        return true;
    }
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > 12) return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        x = x * 10 + (s[i] - '0');
    }
    if (x < 1 || x > INT32_MAX) return false;
    *out = x;
    return true;
}

/* The verdict the documented rules give for payload claims (TC_EAUTH or 0),
 * and the claims they give. */
static int model_claims(json_t *c, tc_claims *m)
{
    memset(m, 0, sizeof *m);
    if (!json_is_object(c)) return TC_EAUTH;
    json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
    if (!json_is_number(exp)) return TC_EAUTH;
    double e = json_number_value(exp);
    if (e < 0 || e > 1e15) return TC_EAUTH;
    m->exp = (int64_t)e;
    if (m->exp <= NOW) return TC_EAUTH;
    if (nbf && !json_is_null(nbf) && !json_is_number(nbf)) return TC_EAUTH;
    if (json_is_number(nbf) && json_number_value(nbf) > NOW) return TC_EAUTH;
    if (!id_of(json_object_get(c, "userId"), &m->user_id) &&
        !id_of(json_object_get(c, "sub"), &m->user_id))
        return TC_EAUTH;
    json_t *phone = json_object_get(c, "phone");
    if (json_is_string(phone)) {
        long chars = tc_utf8_count(json_string_value(phone), json_string_length(phone));
        if (chars >= 0 && chars <= TC_AUTH_PHONE_MAX &&
            strlen(json_string_value(phone)) == json_string_length(phone))
            snprintf(m->phone, sizeof m->phone, "%s", json_string_value(phone));
    }
    int64_t v;
    json_t *t = json_object_get(c, "tableId"), *s = json_object_get(c, "storeId");
    if (t) {
        if (!id_of(t, &v)) return TC_EAUTH;
        m->table_id = (int32_t)v;
    }
    if (s) {
        if (!id_of(s, &v)) return TC_EAUTH;
        m->store_id = (int32_t)v;
    }
    return 0;
}

static void fail(const char *why)
{
    fprintf(stderr, "property failed: %s\n", why);
    abort();
}

static void check_claims(const tc_claims *got, const tc_claims *want)
{
    if (got->user_id != want->user_id) fail("user id differs from the payload's");
    if (got->exp != want->exp) fail("exp differs from the payload's");
    if (got->table_id != want->table_id) fail("tableId differs from the payload's");
    if (got->store_id != want->store_id) fail("storeId differs from the payload's");
    if (strcmp(got->phone, want->phone) != 0) fail("phone differs from the payload's");
}

/* An accepted token: signed with our secret, HS256, claims as the rules say. */
static void check_accepted(const char *tok, size_t n, const tc_claims *got)
{
    const char *d1 = memchr(tok, '.', n);
    if (!d1) fail("accepted a token without a dot");
    const char *d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok));
    if (!d2) fail("accepted a token with one dot");
    if (memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - tok))) fail("accepted four segments");
    tc_buf mac = TC_BUF_INIT;
    sign(secret, tok, (size_t)(d2 - tok), &mac);
    size_t sig_len = n - (size_t)(d2 + 1 - tok);
    if (sig_len != mac.len || memcmp(d2 + 1, mac.base, mac.len) != 0)
        fail("accepted a token not signed with the secret");
    tc_buf_free(&mac);

    tc_buf head = TC_BUF_INIT, body = TC_BUF_INIT;
    b64_decode(tok, (size_t)(d1 - tok), &head);
    b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &body);
    json_t *h = json_loads(tc_buf_cstr(&head), 0, NULL);
    json_t *c = json_loads(tc_buf_cstr(&body), 0, NULL);
    if (!json_is_object(h)) fail("accepted a header that is no JSON object");
    if (!json_is_string(json_object_get(h, "alg")) ||
        strcmp(json_string_value(json_object_get(h, "alg")), "HS256") != 0)
        fail("accepted an alg that is not HS256");
    if (json_object_get(h, "crit")) fail("accepted a crit header");
    tc_claims want;
    if (model_claims(c, &want) != 0) fail("accepted claims the rules refuse");
    check_claims(got, &want);
    json_decref(h);
    json_decref(c);
    tc_buf_free(&head);
    tc_buf_free(&body);
}

static void fuzz_verify(const tc_auth *a, int mode, const char *p, size_t n)
{
    tc_buf tok = TC_BUF_INIT;
    const char *nl = memchr(p, '\n', n);
    bool canonical_head = false;
    json_t *payload = NULL;
    if (mode == 0 || nl == NULL) {
        mode = 0; /* a token as sent */
        tc_buf_append(&tok, p, n);
    } else {
        size_t hl = (size_t)(nl - p);
        b64_encode(&tok, (const unsigned char *)p, hl);
        tc_buf_append(&tok, ".", 1);
        b64_encode(&tok, (const unsigned char *)nl + 1, n - hl - 1);
        size_t signed_len = tok.len;
        tc_buf_append(&tok, ".", 1);
        sign(mode == 1 ? secret : other, tok.base, signed_len, &tok);
        static const char std_head[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        canonical_head = mode == 1 && hl == sizeof std_head - 1 && memcmp(p, std_head, hl) == 0 &&
                         !memchr(nl + 1, '\0', n - hl - 1);
        if (canonical_head) payload = json_loadb(nl + 1, n - hl - 1, 0, NULL);
    }
    tc_claims got, want;
    tc_errmsg err;
    memset(&err, 0, sizeof err);
    int rc = tc_auth_verify(a, tok.base ? tok.base : "", tok.len, NOW, &got, &err);
    if (rc == 0) {
        if (mode == 2) fail("accepted a token signed with another secret");
        check_accepted(tok.base, tok.len, &got);
    } else {
        if (rc != TC_EAUTH) fail("refusal is not TC_EAUTH");
        if (err.text[0] == '\0') fail("refusal without a message");
    }
    if (canonical_head && tok.len <= 4096) {
        int mrc = model_claims(payload, &want);
        if (mrc == 0 && rc != 0) fail("refused a good token signed with the secret");
        if (mrc != 0 && rc == 0) fail("accepted claims the rules refuse");
    }
    json_decref(payload);
    tc_buf_free(&tok);
}

/* The documented id: optional '-', 1..12 digits, value 1..2^31-1. */
static bool id_text(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    if (neg) i = 1;
    if (i == n || n - i > 12) return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (neg) v = -v;
    if (v < 1 || v > INT32_MAX) return false;
    *out = v;
    return true;
}

static void fuzz_identity(int flags, const char *p, size_t n)
{
    tc_view part[3] = {{"", 0}, {"", 0}, {"", 0}};
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n && k < 3; i++) {
        if (i == n || (p[i] == '\n' && k < 2)) {
            part[k++] = (tc_view){p + start, i - start};
            start = i + 1;
        }
    }
    tc_http_header hs[2];
    size_t nh = 0;
    bool has_id = flags & 1, has_phone = flags & 2;
    if (has_id) hs[nh++] = (tc_http_header){{"x-user-id", 9}, part[0]};
    if (has_phone) hs[nh++] = (tc_http_header){{"X-USER-PHONE", 12}, part[1]};
    tc_http_req r;
    memset(&r, 0, sizeof r);
    r.headers = hs;
    r.n_headers = nh;
    r.query = part[2];

    /* What the query says, read the way the handlers read it. */
    tc_buf qid = TC_BUF_INIT, qphone = TC_BUF_INIT;
    bool q_has_id = !has_id && tc_http_query_get(&r, "userId", &qid);
    bool q_has_phone = !has_phone && tc_http_query_get(&r, "phone", &qphone);

    tc_identity who;
    memset(&who, 0, sizeof who); /* as tc_auth_identify hands it */
    tc_buf phone = TC_BUF_INIT;
    tc_errmsg err;
    memset(&err, 0, sizeof err);
    int rc = tc_auth_header_identity(&r, &who, &phone, &err);

    int64_t want_id = 0;
    bool id_ok = true;
    if (has_id) id_ok = id_text(part[0].base, part[0].len, &want_id);
    if (q_has_id) id_ok = id_text(qid.base ? qid.base : "", qid.len, &want_id);
    const char *ph = NULL;
    size_t ph_len = 0;
    if (has_phone) {
        ph = part[1].base;
        ph_len = part[1].len;
    } else if (q_has_phone) {
        ph = qphone.base ? qphone.base : "";
        ph_len = qphone.len;
    }
    long chars = ph ? tc_utf8_count(ph, ph_len) : 0;
    bool phone_ok = !ph || (chars >= 0 && chars <= TC_AUTH_PHONE_MAX && !memchr(ph, 0, ph_len));
    if (rc == 0) {
        if (!id_ok || !phone_ok) fail("identity accepted against the rules");
        if (who.has_user_id != (has_id || q_has_id)) fail("has_user_id wrong");
        if (who.has_user_id && who.user_id != want_id) fail("user id differs from the text");
        if (ph_len == 0 && who.phone != NULL) fail("empty phone not NULL");
        if (ph_len > 0 && (who.phone == NULL || strlen(who.phone) != ph_len ||
                           memcmp(who.phone, ph, ph_len) != 0))
            fail("phone differs from the given bytes");
    } else {
        if (rc != TC_EINVAL) fail("identity refusal is not TC_EINVAL");
        if (err.text[0] == '\0') fail("identity refusal without a message");
        if (id_ok && phone_ok) fail("identity refused against the rules");
    }
    tc_buf_free(&phone);
    tc_buf_free(&qid);
    tc_buf_free(&qphone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tc_auth *a;
    if (a == NULL) {
        tc_errmsg err;
        if (tc_auth_new(TC_AUTH_JWT, secret, strlen(secret), &a, &err) != 0) abort();
    }
    if (size < 1) return 0;
    int mode = data[0] % 6;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if (mode < 3)
        fuzz_verify(a, mode, p, n);
    else
        fuzz_identity(data[0] / 6, p, n);
    return 0;
}
