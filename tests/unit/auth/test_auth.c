/* test_auth.c — SPEC §6: the secret rules, HS256 token verification (every
 * refusal with its message), who a request says it is under --auth jwt and
 * --auth none, the table/store scope, and reading the secret.
 *
 * Tokens are built here with libjwt itself (jwt_new, jwt_add_grant*,
 * jwt_set_alg, jwt_encode_str), so the code under test never signs what it
 * then verifies, except in the round-trip test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "support/http_req.h"

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef" /* exactly 32 bytes */
#define OTHER "fedcba9876543210fedcba9876543210"  /* another 32-byte key */
#define NOW ((int64_t)1700000000)

/* ---------------------------------------------------------------------------
 * helpers
 * ------------------------------------------------------------------------- */

static tc_auth *jwt_auth(void)
{
    tc_auth *a = NULL;
    tc_errmsg err = {0};
    int rc = tc_auth_new(TC_AUTH_JWT, SECRET, strlen(SECRET), &a, &err);
    if (rc != 0) fail_msg("tc_auth_new: %s", err.text);
    return a;
}

static tc_auth *none_auth(void)
{
    tc_auth *a = NULL;
    tc_errmsg err = {0};
    assert_int_equal(tc_auth_new(TC_AUTH_NONE, NULL, 0, &a, &err), 0);
    return a;
}

/* A token with these claims (a JSON object), this alg and key, made by
 * libjwt. alg JWT_ALG_NONE: no jwt_set_alg call at all (libjwt's default). */
static char *make_token(jwt_alg_t alg, const char *key, const char *claims_json)
{
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_new(&jwt), 0);
    assert_int_equal(jwt_add_grants_json(jwt, claims_json), 0);
    if (alg != JWT_ALG_NONE)
        assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key, (int)strlen(key)), 0);
    char *tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    assert_non_null(tok);
    return tok;
}

/* A good HS256 token with the test secret. */
static char *good_token(const char *claims_json)
{
    return make_token(JWT_ALG_HS256, SECRET, claims_json);
}

typedef struct {
    int rc;
    tc_claims c;
    tc_errmsg err;
} verdict;

static verdict verify_at(const char *tok, size_t len, int64_t now)
{
    tc_auth *a = jwt_auth();
    verdict v;
    memset(&v, 0, sizeof v);
    memset(&v.c, 0x5a, sizeof v.c); /* garbage: every field must be set */
    v.rc = tc_auth_verify(a, tok, len, now, &v.c, &v.err);
    tc_auth_free(a);
    return v;
}

static verdict verify(const char *tok)
{
    return verify_at(tok, strlen(tok), NOW);
}

/* The token (made from claims_json with the test secret) is refused with
 * exactly this message. */
static void refused_claims(const char *claims_json, const char *message)
{
    char *tok = good_token(claims_json);
    verdict v = verify(tok);
    if (v.rc != TC_EAUTH)
        fail_msg("%s: got rc %d (%s), want TC_EAUTH '%s'", claims_json, v.rc, v.err.text, message);
    assert_string_equal(v.err.text, message);
    free(tok);
}

/* The token is accepted; its claims are returned. */
static tc_claims accepted_claims(const char *claims_json)
{
    char *tok = good_token(claims_json);
    verdict v = verify(tok);
    if (v.rc != 0) fail_msg("%s: refused: %s", claims_json, v.err.text);
    free(tok);
    return v.c;
}

/* ---------------------------------------------------------------------------
 * tc_auth_new
 * ------------------------------------------------------------------------- */

static void test_new_secret_length(void **state)
{
    (void)state;
    tc_auth *a = (tc_auth *)0x1;
    tc_errmsg err = {0};
    /* 31 bytes: one short. */
    assert_int_equal(tc_auth_new(TC_AUTH_JWT, SECRET, 31, &a, &err), TC_EINVAL);
    assert_string_equal(err.text, "the JWT secret must be at least 32 bytes");
    assert_ptr_equal(a, (tc_auth *)0x1); /* untouched */
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_new(TC_AUTH_JWT, NULL, 0, &a, &err), TC_EINVAL);
    assert_string_equal(err.text, "the JWT secret must be at least 32 bytes");
    assert_int_equal(tc_auth_new(TC_AUTH_JWT, "", 0, &a, &err), TC_EINVAL);

    /* 32 bytes: enough. */
    a = NULL;
    assert_int_equal(tc_auth_new(TC_AUTH_JWT, SECRET, 32, &a, &err), 0);
    assert_non_null(a);
    assert_int_equal(tc_auth_mode_of(a), TC_AUTH_JWT);
    tc_auth_free(a);

    /* The secret is copied: the caller's buffer may change afterwards. */
    char buf[40];
    memcpy(buf, SECRET, 32);
    a = NULL;
    assert_int_equal(tc_auth_new(TC_AUTH_JWT, buf, 32, &a, &err), 0);
    memset(buf, 'x', sizeof buf);
    char *tok = good_token("{\"userId\":5,\"exp\":1700000100}");
    tc_claims c;
    assert_int_equal(tc_auth_verify(a, tok, strlen(tok), NOW, &c, &err), 0);
    assert_int_equal(c.user_id, 5);
    free(tok);
    tc_auth_free(a);

    /* none needs no secret. */
    a = NULL;
    assert_int_equal(tc_auth_new(TC_AUTH_NONE, NULL, 0, &a, &err), 0);
    assert_int_equal(tc_auth_mode_of(a), TC_AUTH_NONE);
    tc_auth_free(a);
    tc_auth_free(NULL);
}

/* ---------------------------------------------------------------------------
 * tc_auth_sign -> tc_auth_verify
 * ------------------------------------------------------------------------- */

static void test_sign_verify_round_trip(void **state)
{
    (void)state;
    tc_auth *a = jwt_auth();
    tc_errmsg err = {0};

    tc_claims in = {.user_id = 100, .exp = NOW + 14400, .table_id = 123, .store_id = 0};
    snprintf(in.phone, sizeof in.phone, "%s", "13800138000");
    tc_buf tok = TC_BUF_INIT;
    assert_int_equal(tc_auth_sign(a, &in, &tok, &err), 0);
    assert_true(tok.len > 0);

    tc_claims out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tc_auth_verify(a, tok.base, tok.len, NOW, &out, &err), 0);
    assert_int_equal(out.user_id, 100);
    assert_string_equal(out.phone, "13800138000");
    assert_int_equal(out.exp, NOW + 14400);
    assert_int_equal(out.table_id, 123);
    assert_int_equal(out.store_id, 0);

    /* What libjwt sees in it: HS256 with our key, and exactly these claims. */
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_decode(&jwt, tc_buf_cstr(&tok), (const unsigned char *)SECRET, 32), 0);
    assert_int_equal(jwt_get_alg(jwt), JWT_ALG_HS256);
    assert_int_equal(jwt_get_grant_int(jwt, "userId"), 100);
    assert_string_equal(jwt_get_grant(jwt, "phone"), "13800138000");
    assert_int_equal(jwt_get_grant_int(jwt, "tableId"), 123);
    assert_int_equal(jwt_get_grant_int(jwt, "exp"), NOW + 14400);
    assert_null(jwt_get_grant(jwt, "storeId"));
    jwt_free(jwt);
    /* Not with another key. */
    jwt = NULL;
    assert_int_not_equal(jwt_decode(&jwt, tc_buf_cstr(&tok), (const unsigned char *)OTHER, 32), 0);
    jwt_free(jwt);
    tc_buf_free(&tok);

    /* A store-scoped token, no phone. */
    tc_claims s = {.user_id = 7, .exp = NOW + 60, .store_id = 2};
    assert_int_equal(tc_auth_sign(a, &s, &tok, &err), 0);
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(tc_auth_verify(a, tok.base, tok.len, NOW, &out, &err), 0);
    assert_int_equal(out.user_id, 7);
    assert_string_equal(out.phone, "");
    assert_int_equal(out.exp, NOW + 60);
    assert_int_equal(out.table_id, 0);
    assert_int_equal(out.store_id, 2);
    /* ...which is expired at its exp. */
    assert_int_equal(tc_auth_verify(a, tok.base, tok.len, NOW + 60, &out, &err), TC_EAUTH);
    assert_string_equal(err.text, "token expired");
    tc_buf_free(&tok);
    tc_auth_free(a);

    /* --auth none cannot sign or verify. */
    tc_auth *n = none_auth();
    assert_int_equal(tc_auth_sign(n, &in, &tok, &err), TC_EINVAL);
    assert_int_equal(tok.len, 0);
    assert_int_equal(tc_auth_verify(n, "a.b.c", 5, NOW, &out, &err), TC_EAUTH);
    tc_auth_free(n);
}

/* ---------------------------------------------------------------------------
 * algorithms, keys, signatures
 * ------------------------------------------------------------------------- */

#define CLAIMS_OK "{\"userId\":100,\"phone\":\"13800138000\",\"exp\":1700003600}"

static void test_alg_none_refused(void **state)
{
    (void)state;
    /* libjwt's default alg is none: header {"alg":"none"}, empty signature. */
    char *tok = make_token(JWT_ALG_NONE, NULL, CLAIMS_OK);
    assert_non_null(strstr(tok, "."));
    assert_int_equal(tok[strlen(tok) - 1], '.'); /* really unsigned */
    verdict v = verify(tok);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");

    /* The same with a signature of a good token glued on. */
    char *good = good_token(CLAIMS_OK);
    const char *sig = strrchr(good, '.') + 1;
    char glued[4096];
    snprintf(glued, sizeof glued, "%s%s", tok, sig);
    v = verify(glued);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");
    free(good);
    free(tok);
}

static void test_hs512_same_key_refused(void **state)
{
    (void)state;
    char *tok = make_token(JWT_ALG_HS512, SECRET, CLAIMS_OK);
    /* libjwt 1.10 itself would take it with our key: the check is ours. */
    jwt_t *jwt = NULL;
    assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, 32), 0);
    jwt_free(jwt);
    verdict v = verify(tok);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token: only HS256 is accepted");
    free(tok);
}

static void test_hs384_refused(void **state)
{
    (void)state;
    char *tok = make_token(JWT_ALG_HS384, SECRET, CLAIMS_OK);
    verdict v = verify(tok);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token: only HS256 is accepted");
    free(tok);
}

static void test_wrong_key_refused(void **state)
{
    (void)state;
    char *tok = make_token(JWT_ALG_HS256, OTHER, CLAIMS_OK);
    verdict v = verify(tok);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");
    free(tok);
    /* The same claims with the right key pass (the key is the only change). */
    tc_claims c = accepted_claims(CLAIMS_OK);
    assert_int_equal(c.user_id, 100);
}

static void flip(char *p)
{
    *p = *p == 'A' ? 'B' : 'A';
}

static void test_tampered_refused(void **state)
{
    (void)state;
    char *tok = good_token(CLAIMS_OK);
    assert_int_equal(verify(tok).rc, 0);
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    assert_true(dot2 - dot1 > 20);

    /* One character of the payload flipped. */
    char *t1 = strdup(tok);
    flip(t1 + (dot1 - tok) + 10);
    verdict v = verify(t1);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");

    /* One character of the signature flipped. */
    char *t2 = strdup(tok);
    flip(t2 + (dot2 - tok) + 10);
    v = verify(t2);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");

    /* Another user's payload under this token's signature. */
    char *other = good_token("{\"userId\":101,\"phone\":\"13800138000\",\"exp\":1700003600}");
    char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
    char spliced[4096];
    snprintf(spliced, sizeof spliced, "%.*s%.*s%s", (int)(dot1 - tok), tok, (int)(o2 - o1), o1,
             dot2);
    assert_string_not_equal(spliced, tok);
    v = verify(spliced);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");

    free(other);
    free(t1);
    free(t2);
    free(tok);
}

static void test_garbage_refused(void **state)
{
    (void)state;
    const char *bad[] = {"abc",          "a.b.c",
                         "..",           "...",
                         "a.b",          "eyJhbGciOiJIUzI1NiJ9..",
                         "Bearer x.y.z", "\xff\xfe.\x01.\x02"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        verdict v = verify(bad[i]);
        if (v.rc != TC_EAUTH) fail_msg("'%s' got %d", bad[i], v.rc);
        assert_string_equal(v.err.text, "invalid token");
    }
    /* Empty. */
    verdict v = verify_at("", 0, NOW);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");

    /* A good token followed by a NUL and more bytes (len counts them all). */
    char *tok = good_token(CLAIMS_OK);
    size_t n = strlen(tok);
    char *withnul = malloc(n + 3);
    memcpy(withnul, tok, n);
    memcpy(withnul + n, "\0zz", 3);
    v = verify_at(withnul, n + 3, NOW);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");
    /* ...the same bytes without the tail pass. */
    assert_int_equal(verify_at(withnul, n, NOW).rc, 0);
    free(withnul);
    free(tok);
}

/* Valid tokens just under and just over 4096 bytes: the size is the only
 * reason to refuse the second. */
static void test_token_size_limit(void **state)
{
    (void)state;
    char *under = NULL, *over = NULL;
    char claims[8192], pad[6000];
    for (size_t k = 2800; k < 3300 && (under == NULL || over == NULL); k++) {
        memset(pad, 'x', k);
        pad[k] = '\0';
        snprintf(claims, sizeof claims, "{\"userId\":9,\"exp\":1700003600,\"pad\":\"%s\"}", pad);
        char *t = good_token(claims);
        size_t n = strlen(t);
        if (n <= 4096 && n >= 4090) {
            free(under);
            under = t;
        } else if (n > 4096 && n <= 4100 && over == NULL) {
            over = t;
        } else {
            free(t);
        }
    }
    assert_non_null(under);
    assert_non_null(over);
    verdict v = verify(under);
    if (v.rc != 0) fail_msg("%zu-byte token refused: %s", strlen(under), v.err.text);
    assert_int_equal(v.c.user_id, 9);
    v = verify(over);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "invalid token");
    free(under);
    free(over);
}

/* ---------------------------------------------------------------------------
 * exp
 * ------------------------------------------------------------------------- */

static void test_exp(void **state)
{
    (void)state;
    refused_claims("{\"userId\":100}", "token has no exp");
    refused_claims("{\"userId\":100,\"exp\":\"1700003600\"}", "token has no exp");
    refused_claims("{\"userId\":100,\"exp\":null}", "token has no exp");
    refused_claims("{\"userId\":100,\"exp\":1699999999}", "token expired"); /* in the past */
    refused_claims("{\"userId\":100,\"exp\":1}", "token expired");
    refused_claims("{\"userId\":100,\"exp\":1700000000}", "token expired"); /* == now */
    tc_claims c = accepted_claims("{\"userId\":100,\"exp\":1700000001}");   /* now + 1 */
    assert_int_equal(c.exp, NOW + 1);

    /* The clock is the one given: the same token, a second later, is expired. */
    char *tok = good_token("{\"userId\":100,\"exp\":1700000001}");
    assert_int_equal(verify_at(tok, strlen(tok), NOW).rc, 0);
    verdict v = verify_at(tok, strlen(tok), NOW + 1);
    assert_int_equal(v.rc, TC_EAUTH);
    assert_string_equal(v.err.text, "token expired");
    free(tok);
}

/* ---------------------------------------------------------------------------
 * alg is case-sensitive; nbf
 * ------------------------------------------------------------------------- */

/* base64url without padding of n bytes, appended to out. */
static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
    unsigned char enc[1024];
    assert_true(4 * ((n + 2) / 3) + 1 <= sizeof enc);
    int len = EVP_EncodeBlock(enc, in, (int)n);
    size_t o = strlen(out);
    for (int i = 0; i < len && enc[i] != '='; i++) {
        assert_true(o + 1 < cap);
        out[o++] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : (char)enc[i];
    }
    out[o] = '\0';
}

/* A token with this header and these claims, signed HMAC-SHA256 with key
 * whatever the header says: libjwt would not write a lower-case alg. */
static void hs256_with_header(const char *header, const char *claims, const char *key, char *out,
                              size_t cap)
{
    out[0] = '\0';
    b64url((const unsigned char *)header, strlen(header), out, cap);
    strcat(out, ".");
    b64url((const unsigned char *)claims, strlen(claims), out, cap);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)out,
                         strlen(out), mac, &mac_len));
    strcat(out, ".");
    b64url(mac, mac_len, out, cap);
}

static void test_alg_is_case_sensitive(void **state)
{
    (void)state;
    char tok[1024];
    /* The literal "HS256" passes (and proves the helper signs right). */
    hs256_with_header("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", CLAIMS_OK, SECRET, tok, sizeof tok);
    verdict v = verify(tok);
    if (v.rc != 0) fail_msg("HS256 refused: %s", v.err.text);
    const char *algs[] = {"hs256", "Hs256", "hS256", "HS256\\u0000"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char header[128];
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[i]);
        hs256_with_header(header, CLAIMS_OK, SECRET, tok, sizeof tok);
        v = verify(tok);
        if (v.rc != TC_EAUTH) fail_msg("alg %s: got %d", algs[i], v.rc);
        if (i < 3) assert_string_equal(v.err.text, "invalid token: only HS256 is accepted");
    }
}

/* A critical extension we do not know (any, since we know none) makes the
 * token unusable (RFC 7515 §4.1.11); the same header without crit passes. */
static void test_crit_header_refused(void **state)
{
    (void)state;
    char tok[1024];
    hs256_with_header("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"b64\":true}", CLAIMS_OK, SECRET, tok,
                      sizeof tok);
    assert_int_equal(verify(tok).rc, 0);
    const char *crits[] = {"[\"b64\"]", "[\"exp\"]", "[]", "\"b64\""};
    for (size_t i = 0; i < sizeof crits / sizeof crits[0]; i++) {
        char header[128];
        snprintf(header, sizeof header,
                 "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"b64\":true,\"crit\":%s}", crits[i]);
        hs256_with_header(header, CLAIMS_OK, SECRET, tok, sizeof tok);
        verdict v = verify(tok);
        if (v.rc != TC_EAUTH) fail_msg("crit %s: got %d", crits[i], v.rc);
        assert_string_equal(v.err.text, "invalid token");
    }
}

static void test_nbf(void **state)
{
    (void)state;
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":1700000001}",
                   "token is not yet valid (nbf)");
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":1700000000.5}",
                   "token is not yet valid (nbf)");
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":1e300}",
                   "token is not yet valid (nbf)");
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":\"1\"}", "token has a bad nbf");
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":true}", "token has a bad nbf");
    refused_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":{}}", "token has a bad nbf");
    /* now, the past, or absent/null: valid */
    accepted_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":1700000000}");
    accepted_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":1600000000}");
    accepted_claims("{\"userId\":100,\"exp\":1700003600,\"nbf\":null}");
    accepted_claims("{\"userId\":100,\"exp\":1700003600}");

    /* The clock is the one given: the same token becomes valid at its nbf. */
    char *tok = good_token("{\"userId\":100,\"exp\":1700003600,\"nbf\":1700000010}");
    assert_int_equal(verify_at(tok, strlen(tok), NOW + 9).rc, TC_EAUTH);
    assert_int_equal(verify_at(tok, strlen(tok), NOW + 10).rc, 0);
    free(tok);
}

/* ---------------------------------------------------------------------------
 * userId / sub, phone
 * ------------------------------------------------------------------------- */

static void test_user_id(void **state)
{
    (void)state;
    tc_claims c = accepted_claims("{\"userId\":100,\"exp\":1700003600}");
    assert_int_equal(c.user_id, 100);
    c = accepted_claims("{\"userId\":\"100\",\"exp\":1700003600}"); /* digit string */
    assert_int_equal(c.user_id, 100);
    c = accepted_claims("{\"userId\":2147483647,\"exp\":1700003600}");
    assert_int_equal(c.user_id, INT32_MAX);
    /* No userId: sub, a number or (as JWT has it) a string of digits. */
    c = accepted_claims("{\"sub\":42,\"exp\":1700003600}");
    assert_int_equal(c.user_id, 42);
    c = accepted_claims("{\"sub\":\"42\",\"exp\":1700003600}");
    assert_int_equal(c.user_id, 42);
    /* userId wins over sub. */
    c = accepted_claims("{\"userId\":100,\"sub\":\"42\",\"exp\":1700003600}");
    assert_int_equal(c.user_id, 100);

    refused_claims("{\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"sub\":\"alice\",\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"sub\":\"\",\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":0,\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":-5,\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":2147483648,\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":\"2147483648\",\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":\"12a\",\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":true,\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":1.5,\"exp\":1700003600}", "token has no userId");
    refused_claims("{\"userId\":null,\"exp\":1700003600}", "token has no userId");
}

static void test_phone(void **state)
{
    (void)state;
    tc_claims c = accepted_claims("{\"userId\":1,\"phone\":\"13800138000\",\"exp\":1700003600}");
    assert_string_equal(c.phone, "13800138000");
    c = accepted_claims("{\"userId\":1,\"phone\":\"+86 138-0013-8000\",\"exp\":1700003600}");
    assert_string_equal(c.phone, "+86 138-0013-8000");
    c = accepted_claims("{\"userId\":1,\"exp\":1700003600}");
    assert_string_equal(c.phone, "");
    c = accepted_claims("{\"userId\":1,\"phone\":13800138000,\"exp\":1700003600}"); /* not text */
    assert_string_equal(c.phone, "");
    /* TC_AUTH_PHONE_MAX characters at most, as for X-User-Phone. */
    c = accepted_claims("{\"userId\":1,\"phone\":\"12345678901234567890123456789012\","
                        "\"exp\":1700003600}");
    assert_string_equal(c.phone, "12345678901234567890123456789012");
    c = accepted_claims("{\"userId\":1,\"phone\":\"123456789012345678901234567890123\","
                        "\"exp\":1700003600}"); /* 33 characters: not taken */
    assert_string_equal(c.phone, "");
    /* Characters, not bytes: 32 of three bytes each (96 bytes) are taken
     * whole, as X-User-Phone takes them; 33 are not. */
    char json[512], want[200] = "";
    for (int i = 0; i < TC_AUTH_PHONE_MAX; i++)
        strcat(want, "\xe4\xb8\x80"); /* U+4E00 */
    snprintf(json, sizeof json, "{\"userId\":1,\"phone\":\"%s\",\"exp\":1700003600}", want);
    c = accepted_claims(json);
    assert_string_equal(c.phone, want);
    snprintf(json, sizeof json, "{\"userId\":1,\"phone\":\"%s\xe4\xb8\x80\",\"exp\":1700003600}",
             want);
    c = accepted_claims(json);
    assert_string_equal(c.phone, "");
    /* Four-byte characters too (128 bytes). */
    want[0] = '\0';
    for (int i = 0; i < TC_AUTH_PHONE_MAX; i++)
        strcat(want, "\xf0\x9f\x93\x9e"); /* U+1F4DE */
    snprintf(json, sizeof json, "{\"userId\":1,\"phone\":\"%s\",\"exp\":1700003600}", want);
    c = accepted_claims(json);
    assert_string_equal(c.phone, want);
}

/* ---------------------------------------------------------------------------
 * tableId / storeId
 * ------------------------------------------------------------------------- */

static void test_scope_claims(void **state)
{
    (void)state;
    tc_claims c = accepted_claims("{\"userId\":1,\"tableId\":123,\"exp\":1700003600}");
    assert_int_equal(c.table_id, 123);
    assert_int_equal(c.store_id, 0);
    c = accepted_claims("{\"userId\":1,\"tableId\":\"123\",\"exp\":1700003600}");
    assert_int_equal(c.table_id, 123);
    assert_int_equal(c.store_id, 0);
    c = accepted_claims("{\"userId\":1,\"storeId\":2,\"exp\":1700003600}");
    assert_int_equal(c.table_id, 0);
    assert_int_equal(c.store_id, 2);
    c = accepted_claims("{\"userId\":1,\"storeId\":\"2\",\"exp\":1700003600}");
    assert_int_equal(c.store_id, 2);
    c = accepted_claims("{\"userId\":1,\"exp\":1700003600}");
    assert_int_equal(c.table_id, 0);
    assert_int_equal(c.store_id, 0);

    refused_claims("{\"userId\":1,\"tableId\":\"abc\",\"exp\":1700003600}",
                   "token has a bad tableId");
    refused_claims("{\"userId\":1,\"tableId\":0,\"exp\":1700003600}", "token has a bad tableId");
    refused_claims("{\"userId\":1,\"tableId\":-123,\"exp\":1700003600}", "token has a bad tableId");
    refused_claims("{\"userId\":1,\"tableId\":2147483648,\"exp\":1700003600}",
                   "token has a bad tableId");
    refused_claims("{\"userId\":1,\"tableId\":[123],\"exp\":1700003600}",
                   "token has a bad tableId");
    refused_claims("{\"userId\":1,\"storeId\":\"x\",\"exp\":1700003600}",
                   "token has a bad storeId");
    refused_claims("{\"userId\":1,\"storeId\":0,\"exp\":1700003600}", "token has a bad storeId");
    /* null is not an absent claim: it would open every table. */
    refused_claims("{\"userId\":1,\"tableId\":null,\"exp\":1700003600}", "token has a bad tableId");
    refused_claims("{\"userId\":1,\"storeId\":null,\"exp\":1700003600}", "token has a bad storeId");
}

/* ---------------------------------------------------------------------------
 * tc_auth_identify: requests through the real parser
 * ------------------------------------------------------------------------- */

typedef struct {
    int rc;
    tc_principal p;
    char phone[64]; /* a copy of p.who.phone, "" when NULL */
    bool has_phone;
    tc_errmsg err;
} ident;

static ident identify(const tc_auth *a, int64_t now, const char *target, const char *headers)
{
    req_t q = make_req(target, headers);
    ident id;
    memset(&id, 0, sizeof id);
    memset(&id.p, 0x5a, sizeof id.p);
    tc_buf phone = TC_BUF_INIT;
    id.rc = tc_auth_identify(a, q.r, now, &id.p, &phone, &id.err);
    tc_http_free(q.p); /* nothing may point into the request afterwards */
    id.has_phone = id.p.who.phone != NULL;
    if (id.has_phone) snprintf(id.phone, sizeof id.phone, "%s", id.p.who.phone);
    id.p.who.phone = NULL;
    tc_buf_free(&phone);
    return id;
}

static void test_identify_jwt(void **state)
{
    (void)state;
    tc_auth *a = jwt_auth();
    char *t1 =
        good_token("{\"userId\":1,\"phone\":\"13800000001\",\"tableId\":123,\"exp\":1700003600}");
    char *t2 = good_token("{\"userId\":2,\"storeId\":2,\"exp\":1700007200}");
    char target[6000], headers[6000];

    /* Authorization: Bearer. */
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", t1);
    ident id = identify(a, NOW, "/api/store/order/cart/123", headers);
    if (id.rc) fail_msg("%s", id.err.text);
    assert_true(id.p.who.has_user_id);
    assert_int_equal(id.p.who.user_id, 1);
    assert_true(id.has_phone);
    assert_string_equal(id.phone, "13800000001");
    assert_int_equal(id.p.expires_s, 1700003600);
    assert_int_equal(id.p.table_id, 123);
    assert_int_equal(id.p.store_id, 0);

    /* The scheme is case-insensitive. */
    snprintf(headers, sizeof headers, "Authorization: bearer %s\r\n", t1);
    id = identify(a, NOW, "/x", headers);
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.p.who.user_id, 1);
    /* One or more spaces after it (RFC 6750 §2.1: 1*SP). */
    snprintf(headers, sizeof headers, "Authorization: Bearer   %s\r\n", t1);
    id = identify(a, NOW, "/x", headers);
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.p.who.user_id, 1);

    /* ?token= alone. */
    snprintf(target, sizeof target, "/api/store/order/sse/200?token=%s", t2);
    id = identify(a, NOW, target, "");
    if (id.rc) fail_msg("%s", id.err.text);
    assert_int_equal(id.p.who.user_id, 2);
    assert_false(id.has_phone);
    assert_int_equal(id.p.expires_s, 1700007200);
    assert_int_equal(id.p.table_id, 0);
    assert_int_equal(id.p.store_id, 2);

    /* Both: the header wins. */
    snprintf(target, sizeof target, "/x?a=1&token=%s&b=2", t2);
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", t1);
    id = identify(a, NOW, target, headers);
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.p.who.user_id, 1);
    /* ...even when the header's token is bad and the query's is good. */
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", "x.y.z");
    id = identify(a, NOW, target, headers);
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "invalid token");

    /* Identity headers do not count under jwt. */
    snprintf(headers, sizeof headers,
             "Authorization: Bearer %s\r\nX-User-Id: 999\r\nX-User-Phone: 13999999999\r\n", t1);
    id = identify(a, NOW, "/x?userId=888&phone=1", headers);
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.p.who.user_id, 1);
    assert_string_equal(id.phone, "13800000001");

    /* No token at all: 401 even with identity headers. */
    id = identify(a, NOW, "/x?userId=5", "X-User-Id: 5\r\n");
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "a token is required (Authorization: Bearer)");

    /* Another scheme: 401 "a token is required", even with a good ?token=. */
    snprintf(target, sizeof target, "/x?token=%s", t2);
    id = identify(a, NOW, target, "Authorization: Basic dXNlcjpwYXNzd29yZA==\r\n");
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "a token is required (Authorization: Bearer)");
    id = identify(a, NOW, "/x", "Authorization: Bearer\r\n");
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "a token is required (Authorization: Bearer)");

    /* Empty ?token=. */
    id = identify(a, NOW, "/x?token=", "");
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "invalid token");

    /* Expired by the clock given. */
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", t1);
    id = identify(a, 1700003600, "/x", headers);
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "token expired");

    /* HS512 in the header. */
    char *t512 = make_token(JWT_ALG_HS512, SECRET, "{\"userId\":1,\"exp\":1700003600}");
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", t512);
    id = identify(a, NOW, "/x", headers);
    assert_int_equal(id.rc, TC_EAUTH);
    assert_string_equal(id.err.text, "invalid token: only HS256 is accepted");

    free(t512);
    free(t1);
    free(t2);
    tc_auth_free(a);
}

static void test_identify_none(void **state)
{
    (void)state;
    tc_auth *a = none_auth();
    ident id = identify(a, NOW, "/x", "X-User-Id: 7\r\nX-User-Phone: 13900000007\r\n");
    if (id.rc) fail_msg("%s", id.err.text);
    assert_true(id.p.who.has_user_id);
    assert_int_equal(id.p.who.user_id, 7);
    assert_true(id.has_phone);
    assert_string_equal(id.phone, "13900000007");
    assert_true(id.p.expires_s == INT64_MAX);
    assert_int_equal(id.p.table_id, 0);
    assert_int_equal(id.p.store_id, 0);

    /* Query parameters; a header wins over them. */
    id = identify(a, NOW, "/x?userId=8&phone=13900000008", "");
    assert_int_equal(id.rc, 0);
    assert_int_equal(id.p.who.user_id, 8);
    assert_string_equal(id.phone, "13900000008");
    id = identify(a, NOW, "/x?userId=8", "X-User-Id: 9\r\n");
    assert_int_equal(id.p.who.user_id, 9);

    /* Nobody: fine, no identity. */
    id = identify(a, NOW, "/x", "");
    assert_int_equal(id.rc, 0);
    assert_false(id.p.who.has_user_id);
    assert_false(id.has_phone);

    /* A token means nothing under none. */
    char *t = good_token("{\"userId\":1,\"exp\":1700003600}");
    char headers[2048];
    snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", t);
    id = identify(a, NOW, "/x", headers);
    assert_int_equal(id.rc, 0);
    assert_false(id.p.who.has_user_id);
    free(t);

    /* A bad identity header: 400. */
    id = identify(a, NOW, "/x", "X-User-Id: abc\r\n");
    assert_int_equal(id.rc, TC_EINVAL);
    assert_non_null(strstr(id.err.text, "X-User-Id"));
    tc_auth_free(a);
}

/* ---------------------------------------------------------------------------
 * tc_auth_allow
 * ------------------------------------------------------------------------- */

static tc_menu *test_menu(void)
{
    const char *text =
        "{\"stores\":["
        "{\"storeId\":1,\"name\":\"One\",\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},"
        "{\"tableId\":124,\"tableNumber\":\"A02\"}],\"cuisines\":[]},"
        "{\"storeId\":2,\"name\":\"Two\",\"tables\":[{\"tableId\":200,\"tableNumber\":\"B01\"}],"
        "\"cuisines\":[]}]}";
    tc_menu *m = NULL;
    tc_errmsg err = {0};
    if (tc_menu_parse(text, strlen(text), &m, &err) != 0) fail_msg("menu: %s", err.text);
    return m;
}

static void allowed(const tc_principal *p, const tc_menu *m, int32_t table)
{
    tc_errmsg err = {0};
    int rc = tc_auth_allow(p, m, table, &err);
    if (rc != 0) fail_msg("table %d: %d %s", table, rc, err.text);
}

static void forbidden(const tc_principal *p, const tc_menu *m, int32_t table)
{
    tc_errmsg err = {0};
    assert_int_equal(tc_auth_allow(p, m, table, &err), TC_EFORBIDDEN);
    char want[64];
    snprintf(want, sizeof want, "token is not valid for table %d", table);
    assert_string_equal(err.text, want);
}

static void not_found(const tc_principal *p, const tc_menu *m, int32_t table)
{
    tc_errmsg err = {0};
    assert_int_equal(tc_auth_allow(p, m, table, &err), TC_ENOTFOUND);
    char want[64];
    snprintf(want, sizeof want, "table %d not found", table);
    assert_string_equal(err.text, want);
}

static void test_allow(void **state)
{
    (void)state;
    tc_menu *m = test_menu();
    tc_principal any = {.expires_s = INT64_MAX};
    tc_principal t123 = {.expires_s = NOW + 10, .table_id = 123};
    tc_principal s1 = {.expires_s = NOW + 10, .store_id = 1};
    tc_principal s2 = {.expires_s = NOW + 10, .store_id = 2};
    tc_principal gone = {.expires_s = NOW + 10, .table_id = 999}; /* a table not in the menu */

    allowed(&any, m, 123);
    allowed(&any, m, 124);
    allowed(&any, m, 200);
    not_found(&any, m, 999);

    allowed(&t123, m, 123);
    forbidden(&t123, m, 124);
    forbidden(&t123, m, 200);
    not_found(&t123, m, 999); /* 404 before 403 */

    allowed(&s1, m, 123);
    allowed(&s1, m, 124);
    forbidden(&s1, m, 200);
    allowed(&s2, m, 200);
    forbidden(&s2, m, 123);
    forbidden(&s2, m, 124);
    not_found(&s2, m, 999);

    forbidden(&gone, m, 123);
    not_found(&gone, m, 999); /* the table is checked first */
    tc_menu_free(m);
}

/* ---------------------------------------------------------------------------
 * tc_auth_load_secret
 * ------------------------------------------------------------------------- */

static char *temp_file(const char *content, size_t len)
{
    char *path = strdup("/tmp/tc_auth_secret_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_load_secret(void **state)
{
    (void)state;
    tc_buf out = TC_BUF_INIT;
    tc_errmsg err = {0};
    unsetenv("TABLECART_JWT_SECRET");

    /* From a file, the trailing newline dropped. */
    char *f = temp_file(SECRET "\n", 33);
    assert_int_equal(tc_auth_load_secret(f, &out, &err), 0);
    assert_int_equal(out.len, 32);
    assert_memory_equal(out.base, SECRET, 32);
    /* The file wins over the environment, whose secret is wiped all the
     * same. */
    setenv("TABLECART_JWT_SECRET", OTHER, 1);
    assert_int_equal(tc_auth_load_secret(f, &out, &err), 0);
    assert_int_equal(out.len, 32);
    assert_memory_equal(out.base, SECRET, 32);
    assert_null(getenv("TABLECART_JWT_SECRET"));
    unlink(f);
    free(f);

    /* CRLF and spaces at the end go too; inside they stay. */
    f = temp_file("  " SECRET " x\r\n \t", 40);
    assert_int_equal(tc_auth_load_secret(f, &out, &err), 0);
    assert_int_equal(out.len, 36);
    assert_memory_equal(out.base, "  " SECRET " x", 36);
    unlink(f);
    free(f);

    /* From the environment, and wiped from it. */
    setenv("TABLECART_JWT_SECRET", OTHER, 1);
    assert_int_equal(tc_auth_load_secret(NULL, &out, &err), 0);
    assert_null(getenv("TABLECART_JWT_SECRET"));
    assert_int_equal(out.len, 32);
    assert_memory_equal(out.base, OTHER, 32);
    setenv("TABLECART_JWT_SECRET", OTHER "\n", 1);
    assert_int_equal(tc_auth_load_secret(NULL, &out, &err), 0);
    assert_int_equal(out.len, 32);

    /* Too short: 31 bytes and a newline, in a file and in the environment. */
    f = temp_file(SECRET, 31);
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_load_secret(f, &out, &err), TC_EINVAL);
    assert_string_equal(err.text, "the JWT secret must be at least 32 bytes");
    unlink(f);
    free(f);
    f = temp_file("0123456789abcdef0123456789abcde\n", 32);
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_load_secret(f, &out, &err), TC_EINVAL);
    assert_string_equal(err.text, "the JWT secret must be at least 32 bytes");
    unlink(f);
    free(f);
    setenv("TABLECART_JWT_SECRET", "short", 1);
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_load_secret(NULL, &out, &err), TC_EINVAL);
    assert_string_equal(err.text, "the JWT secret must be at least 32 bytes");
    setenv("TABLECART_JWT_SECRET", "", 1);
    assert_int_equal(tc_auth_load_secret(NULL, &out, &err), TC_EINVAL);

    /* No file. */
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_load_secret("/nonexistent/tablecart/secret", &out, &err), TC_EINVAL);
    assert_string_equal(err.text, "--jwt-secret-file: cannot open /nonexistent/tablecart/secret");

    /* Neither. */
    unsetenv("TABLECART_JWT_SECRET");
    memset(&err, 0, sizeof err);
    assert_int_equal(tc_auth_load_secret(NULL, &out, &err), TC_EINVAL);
    assert_string_equal(err.text, "--auth jwt needs --jwt-secret-file or TABLECART_JWT_SECRET");
    tc_buf_free(&out);
}

static void test_now(void **state)
{
    (void)state;
    /* The same clock as tc_auth_now: time() reads a coarser clock that can
     * still show the previous second right after a boundary. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t before = (int64_t)ts.tv_sec;
    int64_t n = tc_auth_now();
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t after = (int64_t)ts.tv_sec;
    assert_true(n >= before && n <= after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_secret_length),
        cmocka_unit_test(test_sign_verify_round_trip),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_hs512_same_key_refused),
        cmocka_unit_test(test_hs384_refused),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_tampered_refused),
        cmocka_unit_test(test_garbage_refused),
        cmocka_unit_test(test_token_size_limit),
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_user_id),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_scope_claims),
        cmocka_unit_test(test_identify_jwt),
        cmocka_unit_test(test_identify_none),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_load_secret),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_alg_is_case_sensitive),
        cmocka_unit_test(test_crit_header_refused),
        cmocka_unit_test(test_nbf),
    };
    return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
