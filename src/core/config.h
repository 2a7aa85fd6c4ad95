/* config.h — the command line of SPEC §9: flags, their environment variables
 * (--sse-timeout <-> TABLECART_SSE_TIMEOUT; a flag wins over its variable),
 * defaults and validation. */
#ifndef TC_CORE_CONFIG_H
#define TC_CORE_CONFIG_H

#include "core/addr.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TC_CMD_SERVE, TC_CMD_TOKEN, TC_CMD_MENU_IMPORT, TC_CMD_HELP, TC_CMD_VERSION } tc_cmd;
typedef enum { TC_AUTH_NONE, TC_AUTH_JWT } tc_auth_mode;
/* What an acknowledged change survives (--durability, docs/operations.md).
 * process: a crash of the process (kill -9); the disk is synced at least once
 * a second, so a power loss costs at most the last second. power: every
 * change is synced before it is acknowledged. */
typedef enum { TC_DURABLE_PROCESS, TC_DURABLE_POWER } tc_durability;

#define TC_MAX_CORS 16
#define TC_MAX_PROXIES 16

typedef struct {
    tc_cmd cmd;
    /* serve */
    char listen_host[64];
    int listen_port;
    const char *store_url;      /* "sqlite:./tablecart.db" */
    const char *menu_file;      /* NULL: none (demo menu on an empty store) */
    const char *api_prefix;     /* "/api"; "" allowed */
    unsigned heartbeat_s;       /* 30 */
    unsigned sse_timeout_s;     /* 1800 */
    unsigned ws_ping_s;         /* 30 */
    size_t ws_max_message;      /* 65536 */
    unsigned request_timeout_s; /* 10: a whole request head+body must arrive in this */
    unsigned idle_timeout_s;    /* 60: an idle keep-alive connection is closed after this */
    /* 1800: a table nobody had a stream of for this long starts a new sitting
     * at its next seat (seats and names forgotten); 0: seats are kept for good */
    unsigned sitting_gap_s;
    tc_auth_mode auth;
    tc_durability durability; /* process */
    const char *jwt_secret_file;
    const char *redis_password_file; /* NULL: TABLECART_REDIS_PASSWORD, else none */
    const char *cors_origins[TC_MAX_CORS];
    size_t n_cors;
    const char *web_dir; /* NULL: web/ beside the binary or above it, never ./web */
    size_t max_head;     /* 16 KiB */
    size_t max_body;     /* 64 KiB */
    /* Hostile clients (docs/operations.md, "Limits"): 0 turns a limit off. */
    uint32_t rate_changes;     /* 20 changes/s per caller and table, burst twice that */
    uint32_t rate_conns;       /* 50 new connections/s per client address, burst twice */
    uint32_t max_conns_per_ip; /* 256 open connections per client address */
    uint32_t max_conns;        /* 0: the descriptor limit minus a reserve */
    bool exempt_loopback;      /* true: 127.0.0.0/8 and ::1 skip the per-address limits */
    bool access_log;           /* true (--access-log on): a log line per HTTP answer */
    bool io_uring;             /* true (--io-uring on): sends batched per loop turn */
    bool share_core;           /* true (--share-core on): threads on one core while idle-ish */
    tc_cidr trusted_proxies[TC_MAX_PROXIES];
    size_t n_trusted_proxies;
    /* token */
    int64_t token_user;
    const char *token_phone;
    int64_t token_table, token_store;
    unsigned token_ttl_s;
    /* menu import */
    const char *import_file;
    char *cors_env; /* owned copy of TABLECART_CORS_ORIGIN, split in place */
} tc_config;

/* Parses argv (and the environment) into cfg. Returns 0, or TC_EINVAL with a
 * one-line message naming the flag in err (the caller exits 2). Strings in cfg
 * point into argv, the environment, or cfg->cors_env; release them with
 * tc_config_free before cfg goes away or is parsed into again. */
int tc_config_parse(tc_config *cfg, int argc, char **argv, tc_errmsg *err);

/* Releases what tc_config_parse allocated. */
void tc_config_free(tc_config *cfg);

/* The usage text for --help. */
const char *tc_config_usage(void);

#endif
