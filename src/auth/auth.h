/* auth.h — who is asking, and may they touch this table (SPEC §6).
 *
 * --auth jwt: an HS256 token (Authorization: Bearer …, or ?token=… for
 * EventSource and WebSocket, which cannot set headers) carries userId (or
 * sub), phone, exp (required) and optionally tableId or storeId, which limit
 * it to that table or that restaurant's tables.
 * --auth none: the identity comes from X-User-Id / X-User-Phone headers or
 * userId / phone query parameters, and every table is open.
 *
 * Token checks are done by us, not left to libjwt 1.10, which decodes alg
 * none without a key, accepts HS512 for an HS256 key, reads alg ignoring case
 * and never checks exp or nbf. */
#ifndef TC_AUTH_AUTH_H
#define TC_AUTH_AUTH_H

#include "cart/cart.h"
#include "cart/menu.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "http/http.h"

#include <stdint.h>

/* Shortest accepted secret, in bytes (HS256 wants 256 bits of key). */
#define TC_AUTH_MIN_SECRET 32
/* Longest phone a caller may give (X-User-Phone, phone, a token's phone), in
 * characters of UTF-8. */
#define TC_AUTH_PHONE_MAX 32

typedef struct tc_auth tc_auth;

/* What a verified token says. */
typedef struct {
    int64_t user_id;                       /* userId, else sub */
    char phone[TC_AUTH_PHONE_MAX * 4 + 1]; /* "" when absent; up to 4 bytes a character */
    int64_t exp;                           /* epoch seconds */
    int32_t table_id;                      /* 0: any table */
    int32_t store_id;                      /* 0: any store */
} tc_claims;

/* A caller: identity, how long it holds, and where it may go. */
typedef struct {
    tc_identity who;
    int64_t expires_s; /* epoch seconds; INT64_MAX under --auth none */
    int32_t table_id;  /* the token's table scope; 0 = any */
    int32_t store_id;  /* the token's store scope; 0 = any */
} tc_principal;

/* mode none: secret ignored. mode jwt: secret of at least TC_AUTH_MIN_SECRET
 * bytes (copied). Returns 0 and *out, or TC_EINVAL with err. */
int tc_auth_new(tc_auth_mode mode, const char *secret, size_t len, tc_auth **out, tc_errmsg *err);
/* Frees a and its copy of the secret; NULL is fine. */
void tc_auth_free(tc_auth *a);
/* The mode a was made with. */
tc_auth_mode tc_auth_mode_of(const tc_auth *a);

/* Reads the secret from the file named by --jwt-secret-file, else from the
 * environment variable TABLECART_JWT_SECRET; trailing whitespace (a newline)
 * is dropped. Returns 0 with the secret in out, or TC_EINVAL with err. */
int tc_auth_load_secret(const char *file, tc_buf *out, tc_errmsg *err);

/* Verifies token (len bytes) at now_s: HS256 only (the header's alg is the
 * literal "HS256"), a good signature, exp present and in the future, nbf (if
 * any) a number not after now_s, userId/sub a positive 32-bit integer (number or
 * digits). Returns 0 with claims, or TC_EAUTH with err saying why. */
int tc_auth_verify(const tc_auth *a, const char *token, size_t len, int64_t now_s, tc_claims *out,
                   tc_errmsg *err);

/* Signs a token with the given claims (table_id / store_id 0 = absent).
 * Appends it to out. Returns 0, or TC_EINVAL (not in jwt mode). */
int tc_auth_sign(const tc_auth *a, const tc_claims *c, tc_buf *out, tc_errmsg *err);

/* Who is asking: jwt mode verifies the token (Authorization: Bearer …, else
 * ?token=); none mode reads X-User-Id / X-User-Phone (or userId / phone).
 * Fills p (p->who.phone points into phone). Returns 0, TC_EAUTH (401) for a
 * missing, bad or expired token, or TC_EINVAL (400) for a bad identity
 * header under --auth none; err says why. */
int tc_auth_identify(const tc_auth *a, const tc_http_req *r, int64_t now_s, tc_principal *p,
                     tc_buf *phone, tc_errmsg *err);

/* The caller's identity under --auth none: X-User-Id / X-User-Phone headers,
 * else userId / phone query parameters (a header wins). The user id must be a
 * positive 32-bit integer, the phone at most 32 characters of UTF-8. The
 * phone's bytes are kept in phone (who->phone points into it). Returns 0 or
 * TC_EINVAL with err naming the header or parameter. */
int tc_auth_header_identity(const tc_http_req *r, tc_identity *who, tc_buf *phone, tc_errmsg *err);

/* May p touch table_id? Returns 0, TC_ENOTFOUND (404) when menu has no such
 * table, or TC_EFORBIDDEN (403) when it is outside the token's scope. */
int tc_auth_allow(const tc_principal *p, const tc_menu *menu, int32_t table_id, tc_errmsg *err);

/* Epoch seconds now (the clock the checks above are given). */
int64_t tc_auth_now(void);

#endif
