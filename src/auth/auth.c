#include "auth/auth.h"

#include "core/clock.h"
#include "core/json.h"
#include "core/parse.h"
#include "core/text.h"
#include "core/mem.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX 4096

struct tc_auth {
    tc_auth_mode mode;
    unsigned char *secret;
    size_t secret_len;
};

int tc_auth_new(tc_auth_mode mode, const char *secret, size_t len, tc_auth **out, tc_errmsg *err)
{
    if (mode == TC_AUTH_JWT && (secret == NULL || len < TC_AUTH_MIN_SECRET))
        return tc_errmsg_set(err, TC_EINVAL, "the JWT secret must be at least %d bytes",
                             TC_AUTH_MIN_SECRET);
    tc_auth *a = tc_xcalloc(1, sizeof *a);
    a->mode = mode;
    if (mode == TC_AUTH_JWT) {
        a->secret = tc_xmalloc(len);
        memcpy(a->secret, secret, len);
        a->secret_len = len;
    }
    *out = a;
    return 0;
}

void tc_auth_free(tc_auth *a)
{
    if (!a) return;
    free(a->secret);
    free(a);
}

tc_auth_mode tc_auth_mode_of(const tc_auth *a)
{
    return a->mode;
}

int tc_auth_load_secret(const char *file, tc_buf *out, tc_errmsg *err)
{
    tc_buf_reset(out);
    /* The variable is wiped whichever gives the secret. */
    bool from_env = tc_buf_take_env(file ? NULL : out, "TABLECART_JWT_SECRET");
    if (file) {
        FILE *f = fopen(file, "rb");
        if (!f) return tc_errmsg_set(err, TC_EINVAL, "--jwt-secret-file: cannot open %s", file);
        char chunk[1024];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && out->len < 65536)
            tc_buf_append(out, chunk, n);
        explicit_bzero(chunk, sizeof chunk);
        int failed = ferror(f) ? errno : 0;
        fclose(f);
        if (failed)
            return tc_errmsg_set(err, TC_EINVAL, "--jwt-secret-file: cannot read %s: %s", file,
                                 strerror(failed));
    } else if (!from_env) {
        return tc_errmsg_set(err, TC_EINVAL,
                             "--auth jwt needs --jwt-secret-file or TABLECART_JWT_SECRET");
    }
    while (out->len > 0 && strchr(" \t\r\n", out->base[out->len - 1]))
        out->len--;
    if (out->len < TC_AUTH_MIN_SECRET)
        return tc_errmsg_set(err, TC_EINVAL, "the JWT secret must be at least %d bytes",
                             TC_AUTH_MIN_SECRET);
    return 0;
}

/* A positive 32-bit id from a JSON integer or a string of digits. */
static bool claim_id(json_t *v, int64_t *out)
{
    if (v == NULL) return false;
    tc_errmsg ignored;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 1 || x > INT32_MAX) return false;
        *out = x;
        return true;
    }
    if (json_is_string(v))
        return tc_parse_int((tc_view){json_string_value(v), json_string_length(v)}, "id", TC_IN_ID,
                            out, &ignored) == 0;
    return false;
}

int tc_auth_verify(const tc_auth *a, const char *token, size_t len, int64_t now_s, tc_claims *out,
                   tc_errmsg *err)
{
    if (a->mode != TC_AUTH_JWT) return tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_NOT_IN_USE);
    if (len == 0 || len > TOKEN_MAX || memchr(token, '\0', len))
        return tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_INVALID);
    char *text = tc_xstrndup(token, len);
    jwt_t *jwt = NULL;
    /* The key is always passed: without it libjwt accepts unsigned tokens. */
    int rc = jwt_decode(&jwt, text, a->secret, (int)a->secret_len);
    free(text);
    if (rc != 0 || jwt == NULL) {
        jwt_free(jwt);
        return tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_INVALID);
    }
    /* libjwt maps the header's alg to an enum ignoring case ("hs256"); JWS
     * names are case-sensitive (RFC 7515 §4.1.1), so the literal is checked. */
    const char *alg = jwt_get_header(jwt, "alg");
    if (jwt_get_alg(jwt) != JWT_ALG_HS256 || alg == NULL || strcmp(alg, "HS256") != 0) {
        jwt_free(jwt);
        return tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_ALG);
    }
    /* We understand no extension, so none may be critical (RFC 7515 §4.1.11). */
    char *crit = jwt_get_headers_json(jwt, "crit");
    if (crit != NULL) {
        free(crit);
        jwt_free(jwt);
        return tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_INVALID);
    }
    char *claims_json = jwt_get_grants_json(jwt, NULL);
    jwt_free(jwt);
    json_t *claims = claims_json ? json_loads(claims_json, 0, NULL) : NULL;
    free(claims_json);
    int r = 0;
    memset(out, 0, sizeof *out);
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    int64_t v = 0;
    if (!json_is_object(claims)) {
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_INVALID);
    } else if (!json_is_number(exp)) {
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_NO_EXP);
    } else if (json_number_value(exp) < 0 || json_number_value(exp) > 1e15) {
        /* Outside any plausible date (and outside int64 for the cast). */
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_BAD_EXP);
    } else if ((out->exp = (int64_t)json_number_value(exp)) <= now_s) {
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_EXPIRED);
    } else if (nbf && !json_is_null(nbf) && !json_is_number(nbf)) {
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_BAD_NBF);
    } else if (json_is_number(nbf) && json_number_value(nbf) > (double)now_s) {
        /* libjwt does not check nbf (RFC 7519 §4.1.5): not before this time. */
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_NBF);
    } else if (!claim_id(json_object_get(claims, "userId"), &out->user_id) &&
               !claim_id(json_object_get(claims, "sub"), &out->user_id)) {
        r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_NO_USER);
    } else {
        json_t *phone = json_object_get(claims, "phone");
        long chars = json_is_string(phone)
                         ? tc_utf8_count(json_string_value(phone), json_string_length(phone))
                         : -1;
        if (chars >= 0 && chars <= TC_AUTH_PHONE_MAX &&
            json_string_length(phone) < sizeof out->phone)
            snprintf(out->phone, sizeof out->phone, "%s", json_string_value(phone));
        json_t *t = json_object_get(claims, "tableId"), *s = json_object_get(claims, "storeId");
        /* A scope claim that is there must be an id: null is no way out. */
        if (t) {
            if (!claim_id(t, &v)) r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_BAD_TABLE);
            out->table_id = (int32_t)v;
        }
        if (r == 0 && s) {
            if (!claim_id(s, &v)) r = tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_BAD_STORE);
            out->store_id = (int32_t)v;
        }
    }
    json_decref(claims);
    return r;
}

int tc_auth_sign(const tc_auth *a, const tc_claims *c, tc_buf *out, tc_errmsg *err)
{
    if (a->mode != TC_AUTH_JWT) return tc_errmsg_set(err, TC_EINVAL, "no JWT secret configured");
    jwt_t *jwt = NULL;
    char *tok = NULL;
    if (jwt_new(&jwt) == 0 && jwt_add_grant_int(jwt, "userId", (long)c->user_id) == 0 &&
        (c->phone[0] == '\0' || jwt_add_grant(jwt, "phone", c->phone) == 0) &&
        (c->table_id == 0 || jwt_add_grant_int(jwt, "tableId", c->table_id) == 0) &&
        (c->store_id == 0 || jwt_add_grant_int(jwt, "storeId", c->store_id) == 0) &&
        jwt_add_grant_int(jwt, "exp", (long)c->exp) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, a->secret, (int)a->secret_len) == 0)
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (tok == NULL) return tc_errmsg_set(err, TC_EINVAL, "cannot sign the token");
    tc_buf_append_str(out, tok);
    free(tok);
    return 0;
}

/* The request's token: Authorization: Bearer …, else ?token=. */
static bool request_token(const tc_http_req *r, tc_buf *out)
{
    const tc_view *h = tc_http_header_get(r, "Authorization");
    if (h) {
        if (h->len > 7 && tc_view_ieq((tc_view){h->base, 7}, "Bearer ")) {
            size_t at = 7; /* 1*SP after the scheme (RFC 6750 §2.1) */
            while (at < h->len && h->base[at] == ' ')
                at++;
            tc_buf_append(out, h->base + at, h->len - at);
            return true;
        }
        return false;
    }
    return tc_http_query_get(r, "token", out);
}

int tc_auth_header_identity(const tc_http_req *r, tc_identity *who, tc_buf *phone, tc_errmsg *err)
{
    tc_buf q = TC_BUF_INIT;
    const tc_view *h = tc_http_header_get(r, "X-User-Id");
    int rc = 0;
    int64_t v = 0;
    if (h) {
        rc = tc_parse_int(*h, "X-User-Id", TC_IN_ID, &v, err);
        who->has_user_id = rc == 0;
    } else if (tc_http_query_get(r, "userId", &q)) {
        rc = tc_parse_int((tc_view){q.base ? q.base : "", q.len}, "userId", TC_IN_ID, &v, err);
        who->has_user_id = rc == 0;
    }
    who->user_id = v;
    tc_buf_free(&q);
    if (rc) return rc;
    const tc_view *p = tc_http_header_get(r, "X-User-Phone");
    const char *name = "X-User-Phone";
    if (p)
        tc_buf_append(phone, p->base, p->len);
    else if (tc_http_query_get(r, "phone", phone))
        name = "phone";
    else
        return 0;
    const char *bytes = phone->base ? phone->base : "";
    long n = tc_utf8_count(bytes, phone->len);
    if (n < 0 || memchr(bytes, 0, phone->len))
        return tc_errmsg_say(err, TC_EINVAL, TC_T_TEXT_NOT_UTF8, name);
    if (n > TC_AUTH_PHONE_MAX)
        return tc_errmsg_say(err, TC_EINVAL, TC_T_TEXT_TOO_LONG, name, TC_AUTH_PHONE_MAX);
    if (phone->len) who->phone = tc_buf_cstr(phone);
    return 0;
}

int tc_auth_identify(const tc_auth *a, const tc_http_req *r, int64_t now_s, tc_principal *p,
                     tc_buf *phone, tc_errmsg *err)
{
    memset(p, 0, sizeof *p);
    if (a->mode != TC_AUTH_JWT) {
        p->expires_s = INT64_MAX;
        return tc_auth_header_identity(r, &p->who, phone, err);
    }
    tc_claims c;
    tc_buf tok = TC_BUF_INIT;
    int rc = request_token(r, &tok)
                 ? tc_auth_verify(a, tok.base ? tok.base : "", tok.len, now_s, &c, err)
                 : tc_errmsg_say(err, TC_EAUTH, TC_T_TOKEN_REQUIRED);
    tc_buf_free(&tok);
    if (rc) return rc;
    p->who.has_user_id = true;
    p->who.user_id = c.user_id;
    if (c.phone[0]) {
        tc_buf_append_str(phone, c.phone);
        p->who.phone = tc_buf_cstr(phone);
    }
    p->expires_s = c.exp;
    p->table_id = c.table_id;
    p->store_id = c.store_id;
    return 0;
}

int tc_auth_allow(const tc_principal *p, const tc_menu *menu, int32_t table_id, tc_errmsg *err)
{
    const tc_table *t = tc_menu_table(menu, table_id);
    if (t == NULL) return tc_errmsg_say(err, TC_ENOTFOUND, TC_T_TABLE_NOT_FOUND, table_id);
    if ((p->table_id && p->table_id != table_id) || (p->store_id && p->store_id != t->store_id))
        return tc_errmsg_say(err, TC_EFORBIDDEN, TC_T_TOKEN_OTHER_TABLE, table_id);
    return 0;
}

int64_t tc_auth_now(void)
{
    return tc_clock_epoch_s();
}
