/* token.c — `tablecart token`, and the auth of --auth (serve builds its own
 * with the same function). */
#include "cli/cli.h"

#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tc_cli_make_auth(const tc_config *cfg, tc_auth **out)
{
    tc_buf secret = TC_BUF_INIT;
    tc_errmsg err;
    int r = 0;
    if (cfg->auth == TC_AUTH_JWT)
        r = tc_auth_load_secret(cfg->jwt_secret_file, &secret, &err);
    else
        tc_buf_take_env(NULL, "TABLECART_JWT_SECRET"); /* unused, but wiped all the same */
    if (r == 0) r = tc_auth_new(cfg->auth, secret.base, secret.len, out, &err);
    /* Not left lying around in freed memory. */
    if (secret.base) explicit_bzero(secret.base, secret.cap);
    tc_buf_free(&secret);
    if (r) fprintf(stderr, "tablecart: %s\n", err.text);
    return r;
}

int tc_cli_token(const tc_config *cfg)
{
    if (cfg->token_phone) {
        /* The same rule as X-User-Phone, checked before anything is signed. */
        long n = tc_utf8_count(cfg->token_phone, strlen(cfg->token_phone));
        if (n < 0 || n > TC_AUTH_PHONE_MAX ||
            strlen(cfg->token_phone) >= sizeof((tc_claims){0}.phone)) {
            fprintf(stderr, "tablecart: --phone: at most %d characters of UTF-8\n",
                    TC_AUTH_PHONE_MAX);
            return TC_EXIT_USAGE;
        }
    }
    if (cfg->jwt_secret_file == NULL && getenv("TABLECART_JWT_SECRET") == NULL) {
        /* Named for this command: the user never typed --auth. */
        fprintf(stderr, "tablecart: token: no secret to sign with: give --jwt-secret-file FILE "
                        "(the file serve --auth jwt reads) or set TABLECART_JWT_SECRET\n");
        return TC_EXIT_USAGE;
    }
    tc_config jwt_cfg = *cfg;
    jwt_cfg.auth = TC_AUTH_JWT;
    tc_auth *auth;
    if (tc_cli_make_auth(&jwt_cfg, &auth) != 0) return TC_EXIT_USAGE;
    tc_claims c = {.user_id = cfg->token_user,
                   .exp = tc_auth_now() + (int64_t)cfg->token_ttl_s,
                   .table_id = (int32_t)cfg->token_table,
                   .store_id = (int32_t)cfg->token_store};
    if (cfg->token_phone) snprintf(c.phone, sizeof c.phone, "%s", cfg->token_phone);
    tc_buf tok = TC_BUF_INIT;
    tc_errmsg err;
    int r = tc_auth_sign(auth, &c, &tok, &err);
    if (r == 0)
        printf("%s\n", tc_buf_cstr(&tok));
    else
        fprintf(stderr, "tablecart: %s\n", err.text);
    tc_buf_free(&tok);
    tc_auth_free(auth);
    return r ? TC_EXIT_FAIL : TC_EXIT_OK;
}
