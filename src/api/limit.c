#include "api/limit.h"

#include "core/json.h"
#include "core/ratelimit.h"

#include <string.h>

/* Distinct (caller, table) buckets kept at once; a bucket lives only while it
 * is not full (burst / rate seconds after its caller's last change). */
#define MAX_CHANGE_KEYS 200000

tc_ratelimit *tc_limit_changes_new(const tc_config *cfg)
{
    if (cfg->rate_changes == 0) return NULL;
    return tc_ratelimit_new(cfg->rate_changes, 2 * cfg->rate_changes, MAX_CHANGE_KEYS);
}

uint32_t tc_limit_change(tc_app *app, const tc_identity *who, const tc_addr *client,
                         int32_t table_id)
{
    if (app->change_limit == NULL) return 0;
    /* The bucket's key: "u<user> t<table>", or 'a', the address's family and
     * bytes (tc_addr_limit_key's), then " t<table>". Built without printf: it runs for every
     * change. */
    char key[2 + TC_JSON_INT_MAX + 1 + sizeof client->b + 2 + TC_JSON_INT_MAX];
    size_t n = 0;
    if (who->has_user_id) {
        key[n++] = 'u';
        n += tc_json_int_text(who->user_id, key + n);
    } else {
        /* As the per-address limits count it: IPv6 by its /64. */
        tc_addr a = tc_addr_limit_key(client);
        key[n++] = 'a';
        key[n++] = (char)a.family;
        size_t alen = a.family == 4 ? 4 : sizeof a.b;
        memcpy(key + n, a.b, alen);
        n += alen;
    }
    key[n++] = ' ';
    key[n++] = 't';
    n += tc_json_int_text(table_id, key + n);
    uint64_t wait = tc_ratelimit_take(app->change_limit, key, n, uv_now(app->loop));
    return wait ? tc_retry_after_s(wait) : 0;
}
