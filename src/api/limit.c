#include "api/limit.h"

#include "core/ratelimit.h"

#include <stdio.h>

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
    char key[96];
    int n;
    if (who->has_user_id) {
        n = snprintf(key, sizeof key, "u%lld t%d", (long long)who->user_id, table_id);
    } else {
        char host[TC_ADDR_STRLEN];
        n = snprintf(key, sizeof key, "a%s t%d", tc_addr_str(client, host, sizeof host), table_id);
    }
    uint64_t wait = tc_ratelimit_take(app->change_limit, key, (size_t)n, uv_now(app->loop));
    return wait ? tc_retry_after_s(wait) : 0;
}
