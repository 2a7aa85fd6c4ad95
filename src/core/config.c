#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_STR,
    OPT_SECONDS,
    OPT_SECONDS0,
    OPT_BYTES,
    OPT_ID,
    OPT_LISTEN,
    OPT_AUTH,
    OPT_DURABILITY,
    OPT_CORS,
    OPT_COUNT,
    OPT_CIDR,
    OPT_YESNO,
    OPT_ONOFF
} opt_kind;

typedef struct {
    const char *flag; /* without "--" */
    opt_kind kind;
    unsigned cmds; /* bit per tc_cmd that takes it */
} opt_spec;

/* Defaults; SPEC §2, §4, §5 and §9 give them, and --help repeats them. */
#define DEFAULT_PORT 8080          /* SPEC §9: --listen 127.0.0.1:8080 */
#define DEFAULT_HEARTBEAT_S 30     /* SPEC §4: an SSE heartbeat every 30 s, as the seed */
#define DEFAULT_SSE_TIMEOUT_S 1800 /* SPEC §4: a stream ends after 30 min, as the seed */
#define DEFAULT_WS_PING_S 30       /* SPEC §5: a ping every 30 s, a silent peer dropped at 75 s */
#define DEFAULT_WS_MAX_MESSAGE 65536 /* SPEC §5: a WebSocket message of at most 64 KiB */
#define DEFAULT_REQUEST_TIMEOUT_S 10 /* docs/api.md: a slow request head/body gets 408 */
#define DEFAULT_IDLE_TIMEOUT_S 60    /* docs/api.md: an idle keep-alive connection is closed */
/* docs/api.md, "Presence": a table away this long seats its next party from 1号
 * (longer than a pause in a meal, shorter than the time between two parties) */
#define DEFAULT_SITTING_GAP_S 1800
#define DEFAULT_MAX_HEAD (16 * 1024)   /* SPEC §2: request head 16 KiB */
#define DEFAULT_MAX_BODY (64 * 1024)   /* SPEC §2: request body 64 KiB */
#define DEFAULT_TOKEN_TTL_S (4 * 3600) /* docs/auth.md: a token lasts 4 h unless --ttl says */
/* docs/operations.md, "Limits": a diner taps a few times a second; the load
 * yardstick's publisher (one user) changes each table up to 20 times a second. */
#define DEFAULT_RATE_CHANGES 20
/* A page opens a handful of connections; a restaurant's diners often share
 * one public address (NAT). */
#define DEFAULT_RATE_CONNS 50
#define DEFAULT_MAX_CONNS_PER_IP 256

/* Bounds of the values a flag accepts. */
#define MAX_SECONDS 31536000           /* one year: any longer duration is a typo */
#define MIN_WS_MAX_MESSAGE 128u        /* below this not even a short command fits */
#define MAX_WS_MAX_MESSAGE (16u << 20) /* 16 MiB: what one connection may hold for a message */
#define MAX_PORT 65535                 /* the largest TCP port */
#define MAX_COUNT 10000000u            /* rates and connection counts: beyond is a typo */
/* The store URL schemes (store/store.c picks the backend by them). */
#define SQLITE_PREFIX "sqlite:"
#define REDIS_PREFIX "redis://"
#define PREFIX_LEN(p) (sizeof p - 1)

#define SERVE (1u << TC_CMD_SERVE)
#define TOKEN (1u << TC_CMD_TOKEN)
#define IMPORT (1u << TC_CMD_MENU_IMPORT)

static const opt_spec opts[] = {
    {"listen", OPT_LISTEN, SERVE},
    {"store", OPT_STR, SERVE | IMPORT},
    {"redis-password-file", OPT_STR, SERVE | IMPORT},
    {"menu", OPT_STR, SERVE},
    {"api-prefix", OPT_STR, SERVE},
    {"heartbeat", OPT_SECONDS, SERVE},
    {"sse-timeout", OPT_SECONDS, SERVE},
    {"ws-ping", OPT_SECONDS, SERVE},
    {"ws-max-message", OPT_BYTES, SERVE},
    {"request-timeout", OPT_SECONDS, SERVE},
    {"idle-timeout", OPT_SECONDS, SERVE},
    {"sitting-gap", OPT_SECONDS0, SERVE},
    {"auth", OPT_AUTH, SERVE},
    {"durability", OPT_DURABILITY, SERVE},
    {"jwt-secret-file", OPT_STR, SERVE | TOKEN},
    {"cors-origin", OPT_CORS, SERVE},
    {"web", OPT_STR, SERVE},
    {"rate-changes", OPT_COUNT, SERVE},
    {"rate-conns", OPT_COUNT, SERVE},
    {"max-conns-per-ip", OPT_COUNT, SERVE},
    {"max-conns", OPT_COUNT, SERVE},
    {"exempt-loopback", OPT_YESNO, SERVE},
    {"trusted-proxy", OPT_CIDR, SERVE},
    {"access-log", OPT_ONOFF, SERVE},
    {"io-uring", OPT_ONOFF, SERVE},
    {"share-core", OPT_ONOFF, SERVE},
    {"user", OPT_ID, TOKEN},
    {"phone", OPT_STR, TOKEN},
    {"table", OPT_ID, TOKEN},
    {"store-id", OPT_ID, TOKEN},
    {"ttl", OPT_SECONDS, TOKEN},
};

const char *tc_config_usage(void)
{
    return "tablecart — a real-time shared cart for restaurant table ordering\n"
           "\n"
           "usage:\n"
           "  tablecart serve [options]          serve the HTTP API, SSE, WebSocket and the web "
           "page\n"
           "  tablecart menu import FILE [--store URL] [--redis-password-file FILE]\n"
           "                                     load or update stores, tables and dishes\n"
           "  tablecart token --user ID [--phone P] [--table ID | --store ID] [--ttl SECONDS]\n"
           "                  [--jwt-secret-file FILE]   a token for --auth jwt\n"
           "  tablecart --help | --version\n"
           "\n"
           "serve options (each also read from TABLECART_<NAME>, e.g. TABLECART_SSE_TIMEOUT):\n"
           "  --listen HOST:PORT        127.0.0.1:8080; port 0 picks a free port\n"
           "  --store URL               sqlite:./tablecart.db, or redis://[USER@]HOST[:PORT][/DB]\n"
           "  --redis-password-file FILE  Redis password (or TABLECART_REDIS_PASSWORD)\n"
           "  --menu FILE               import this menu file at start\n"
           "  --api-prefix PATH         /api\n"
           "  --heartbeat SECONDS       30   SSE heartbeat interval\n"
           "  --sse-timeout SECONDS     1800 an SSE stream ends after this\n"
           "  --ws-ping SECONDS         30   WebSocket ping interval (idle drop at 2.5x)\n"
           "  --ws-max-message BYTES    65536\n"
           "  --request-timeout SECONDS 10   a request head and body must arrive within this\n"
           "  --idle-timeout SECONDS    60   idle keep-alive connections are closed after this\n"
           "  --sitting-gap SECONDS     1800 a table nobody was at for this long seats its next\n"
           "                            party from seat 1; 0: seats are kept for good\n"
           "  --auth none|jwt           none (development only) or jwt (HS256 tokens)\n"
           "  --durability process|power  process: a change survives kill -9, a power loss\n"
           "                            costs at most 1 s; power: synced before every answer\n"
           "  --jwt-secret-file FILE    (or TABLECART_JWT_SECRET)\n"
           "  --cors-origin ORIGIN      repeatable; TABLECART_CORS_ORIGIN takes a comma list\n"
           "  --web DIR                 the diners' page (default: web/ beside the binary)\n"
           "  --rate-changes N          20   changes/s per caller and table (burst 2N); 0: off\n"
           "  --rate-conns N            50   new connections/s per address (burst 2N); 0: off\n"
           "  --max-conns-per-ip N      256  open connections per address; 0: off\n"
           "  --max-conns N             0    all connections; 0: descriptor limit minus 64\n"
           "  --exempt-loopback yes|no  yes  127.0.0.0/8 and ::1 skip the per-address limits\n"
           "  --trusted-proxy CIDR      repeatable; its X-Forwarded-For names the client\n"
           "  --access-log on|off       on   a log line per HTTP answer (method, path, status,\n"
           "                            bytes, duration); streams log once, at their start\n"
           "  --io-uring on|off         on   a loop turn's sends in one system call (io_uring)\n"
           "                            where the kernel allows it; off: a send per write\n"
           "  --share-core on|off       on   with a sqlite: store, every thread on the loop's\n"
           "                            core while the server uses under a third of it; off:\n"
           "                            the kernel places the threads\n";
}

static void env_name(const char *flag, char *out, size_t n)
{
    size_t i = 0;
    const char *pre = "TABLECART_";
    for (; *pre && i + 1 < n; pre++)
        out[i++] = *pre;
    for (; *flag && i + 1 < n; flag++)
        out[i++] = *flag == '-' ? '_' : (char)toupper(*flag);
    out[i] = '\0';
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    if (v == NULL || !isdigit((unsigned char)v[0])) return -1;
    errno = 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x > max) return -1;
    *out = x;
    return 0;
}

/* "scheme://user:password@host...": the part before the host holds a colon. */
static bool url_has_password(const char *v)
{
    const char *p = strstr(v, "://");
    if (p == NULL) return false;
    p += 3;
    size_t auth = strcspn(p, "/");
    const char *at = memchr(p, '@', auth);
    return at != NULL && memchr(p, ':', (size_t)(at - p)) != NULL;
}

/* An IPv4 or IPv6 address as the listener takes it (an IPv6 one may name
 * its zone after '%'); --listen takes no host names. */
static bool is_ip_address(const char *h)
{
    unsigned char a[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, h, a) == 1) return true;
    char v6[INET6_ADDRSTRLEN];
    size_t n = strcspn(h, "%");
    if (n >= sizeof v6) return false;
    memcpy(v6, h, n);
    v6[n] = '\0';
    return inet_pton(AF_INET6, v6, a) == 1;
}
static int set_opt(tc_config *c, const opt_spec *o, const char *v, const char *src, tc_errmsg *err)
{
    uint64_t n;
    switch (o->kind) {
    case OPT_STR:
        if (strcmp(o->flag, "store") == 0) {
            if (url_has_password(v))
                return tc_errmsg_set(err, TC_EINVAL,
                                     "%s: a password in the URL is refused (it would show in ps "
                                     "and in logs): put it in --redis-password-file FILE or "
                                     "TABLECART_REDIS_PASSWORD",
                                     src);
            bool sqlite = strncmp(v, SQLITE_PREFIX, PREFIX_LEN(SQLITE_PREFIX)) == 0 &&
                          v[PREFIX_LEN(SQLITE_PREFIX)] != '\0';
            bool redis = strncmp(v, REDIS_PREFIX, PREFIX_LEN(REDIS_PREFIX)) == 0 &&
                         v[PREFIX_LEN(REDIS_PREFIX)] != '\0';
            if (!sqlite && !redis)
                return tc_errmsg_set(err, TC_EINVAL,
                                     "%s: expected sqlite:PATH or redis://HOST:PORT, got '%s'", src,
                                     tc_url_shown(v));
            c->store_url = v;
        } else if (strcmp(o->flag, "menu") == 0)
            c->menu_file = v;
        else if (strcmp(o->flag, "api-prefix") == 0) {
            size_t len = strlen(v);
            if ((len > 0 && v[0] != '/') || (len > 1 && v[len - 1] == '/'))
                return tc_errmsg_set(err, TC_EINVAL,
                                     "%s: must be empty or start with / and not end with /", src);
            c->api_prefix = strcmp(v, "/") == 0 ? "" : v;
        } else if (strcmp(o->flag, "jwt-secret-file") == 0)
            c->jwt_secret_file = v;
        else if (strcmp(o->flag, "redis-password-file") == 0)
            c->redis_password_file = v;
        else if (strcmp(o->flag, "web") == 0)
            c->web_dir = v;
        else if (strcmp(o->flag, "phone") == 0)
            c->token_phone = v;
        return 0;
    case OPT_SECONDS:
        if (parse_u64(v, MAX_SECONDS, &n) != 0 || n == 0)
            return tc_errmsg_set(err, TC_EINVAL,
                                 "%s: expected a whole number of seconds from 1 to %d, got '%s'",
                                 src, MAX_SECONDS, v);
        if (strcmp(o->flag, "heartbeat") == 0)
            c->heartbeat_s = (unsigned)n;
        else if (strcmp(o->flag, "sse-timeout") == 0)
            c->sse_timeout_s = (unsigned)n;
        else if (strcmp(o->flag, "ws-ping") == 0)
            c->ws_ping_s = (unsigned)n;
        else if (strcmp(o->flag, "request-timeout") == 0)
            c->request_timeout_s = (unsigned)n;
        else if (strcmp(o->flag, "idle-timeout") == 0)
            c->idle_timeout_s = (unsigned)n;
        else if (strcmp(o->flag, "ttl") == 0)
            c->token_ttl_s = (unsigned)n;
        return 0;
    case OPT_SECONDS0: /* --sitting-gap: 0 turns sittings off */
        if (parse_u64(v, MAX_SECONDS, &n) != 0)
            return tc_errmsg_set(err, TC_EINVAL,
                                 "%s: expected a whole number of seconds from 0 to %d, got '%s'",
                                 src, MAX_SECONDS, v);
        c->sitting_gap_s = (unsigned)n;
        return 0;
    case OPT_BYTES:
        if (parse_u64(v, MAX_WS_MAX_MESSAGE, &n) != 0 || n < MIN_WS_MAX_MESSAGE)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected bytes between %u and %u, got '%s'",
                                 src, MIN_WS_MAX_MESSAGE, MAX_WS_MAX_MESSAGE, v);
        c->ws_max_message = (size_t)n;
        return 0;
    case OPT_ID:
        if (parse_u64(v, INT32_MAX, &n) != 0 || n == 0)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected a positive 32-bit integer, got '%s'",
                                 src, v);
        if (strcmp(o->flag, "user") == 0)
            c->token_user = (int64_t)n;
        else if (strcmp(o->flag, "table") == 0)
            c->token_table = (int64_t)n;
        else
            c->token_store = (int64_t)n;
        return 0;
    case OPT_LISTEN: {
        const char *colon = strrchr(v, ':');
        if (colon == NULL || parse_u64(colon + 1, MAX_PORT, &n) != 0)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected HOST:PORT, got '%s'", src, v);
        const char *h = v;
        size_t hl = (size_t)(colon - v);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h++;
            hl -= 2;
        }
        if (hl == 0 || hl >= sizeof c->listen_host)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected HOST:PORT, got '%s'", src, v);
        memcpy(c->listen_host, h, hl);
        c->listen_host[hl] = '\0';
        if (!is_ip_address(c->listen_host))
            return tc_errmsg_set(err, TC_EINVAL,
                                 "%s: HOST must be an IPv4 or IPv6 address ([::1]:8080), got '%s'",
                                 src, v);
        c->listen_port = (int)n;
        return 0;
    }
    case OPT_AUTH:
        if (strcmp(v, "none") == 0)
            c->auth = TC_AUTH_NONE;
        else if (strcmp(v, "jwt") == 0)
            c->auth = TC_AUTH_JWT;
        else
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected none or jwt, got '%s'", src, v);
        return 0;
    case OPT_DURABILITY:
        if (strcmp(v, "process") == 0)
            c->durability = TC_DURABLE_PROCESS;
        else if (strcmp(v, "power") == 0)
            c->durability = TC_DURABLE_POWER;
        else
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected process or power, got '%s'", src, v);
        return 0;
    case OPT_COUNT:
        if (parse_u64(v, MAX_COUNT, &n) != 0)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected a whole number 0 to %u, got '%s'",
                                 src, MAX_COUNT, v);
        if (strcmp(o->flag, "rate-changes") == 0)
            c->rate_changes = (uint32_t)n;
        else if (strcmp(o->flag, "rate-conns") == 0)
            c->rate_conns = (uint32_t)n;
        else if (strcmp(o->flag, "max-conns-per-ip") == 0)
            c->max_conns_per_ip = (uint32_t)n;
        else
            c->max_conns = (uint32_t)n;
        return 0;
    case OPT_YESNO:
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected yes or no, got '%s'", src, v);
        c->exempt_loopback = strcmp(v, "yes") == 0;
        return 0;
    case OPT_ONOFF:
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0)
            return tc_errmsg_set(err, TC_EINVAL, "%s: expected on or off, got '%s'", src, v);
        if (strcmp(o->flag, "io-uring") == 0)
            c->io_uring = strcmp(v, "on") == 0;
        else if (strcmp(o->flag, "share-core") == 0)
            c->share_core = strcmp(v, "on") == 0;
        else
            c->access_log = strcmp(v, "on") == 0;
        return 0;
    case OPT_CIDR:
        if (c->n_trusted_proxies == TC_MAX_PROXIES)
            return tc_errmsg_set(err, TC_EINVAL, "%s: at most %d ranges", src, TC_MAX_PROXIES);
        if (tc_cidr_parse(v, &c->trusted_proxies[c->n_trusted_proxies]) != 0)
            return tc_errmsg_set(err, TC_EINVAL,
                                 "%s: expected an address or CIDR range (10.0.0.0/8), got '%s'",
                                 src, v);
        c->n_trusted_proxies++;
        return 0;
    case OPT_CORS:
        if (c->n_cors == TC_MAX_CORS)
            return tc_errmsg_set(err, TC_EINVAL, "%s: at most %d origins", src, TC_MAX_CORS);
        if (v[0] == '\0') return tc_errmsg_set(err, TC_EINVAL, "%s: empty origin", src);
        /* An origin has no spaces: one given with them would match nothing. */
        if (strpbrk(v, " \t"))
            return tc_errmsg_set(err, TC_EINVAL, "%s: an origin has no spaces, got '%s'", src, v);
        c->cors_origins[c->n_cors++] = v;
        return 0;
    }
    return 0;
}

static void defaults(tc_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->listen_host, "127.0.0.1");
    c->listen_port = DEFAULT_PORT;
    c->store_url = SQLITE_PREFIX "./tablecart.db";
    c->api_prefix = "/api";
    c->heartbeat_s = DEFAULT_HEARTBEAT_S;
    c->sse_timeout_s = DEFAULT_SSE_TIMEOUT_S;
    c->ws_ping_s = DEFAULT_WS_PING_S;
    c->ws_max_message = DEFAULT_WS_MAX_MESSAGE;
    c->request_timeout_s = DEFAULT_REQUEST_TIMEOUT_S;
    c->idle_timeout_s = DEFAULT_IDLE_TIMEOUT_S;
    c->sitting_gap_s = DEFAULT_SITTING_GAP_S;
    c->auth = TC_AUTH_NONE;
    c->durability = TC_DURABLE_PROCESS;
    c->max_head = DEFAULT_MAX_HEAD;
    c->max_body = DEFAULT_MAX_BODY;
    c->token_ttl_s = DEFAULT_TOKEN_TTL_S;
    c->rate_changes = DEFAULT_RATE_CHANGES;
    c->rate_conns = DEFAULT_RATE_CONNS;
    c->max_conns_per_ip = DEFAULT_MAX_CONNS_PER_IP;
    c->exempt_loopback = true;
    c->access_log = true;
    c->io_uring = true;
    c->share_core = true;
}

/* Sets each entry of list (a comma-separated environment value, cut in
 * place) for o: spaces and tabs around an entry are not part of it ("a ,
 * b"), and an empty entry (",,", ", ,") is skipped. */
static int set_list(tc_config *c, const opt_spec *o, char *list, const char *name, tc_errmsg *err)
{
    for (char *save, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (*tok == '\0') continue;
        int r = set_opt(c, o, tok, name, err);
        if (r) return r;
    }
    return 0;
}

/* The environment, for every flag not given on the command line (a flag
 * wins, and a bad variable it overrides is not an error). A comma list for
 * the repeatable --cors-origin and --trusted-proxy. */
static int apply_env(tc_config *c, unsigned cmdbit, const bool *given, tc_errmsg *err)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        if (!(opts[i].cmds & cmdbit) || given[i]) continue;
        char name[64];
        env_name(opts[i].flag, name, sizeof name);
        const char *v = getenv(name);
        if (v == NULL) continue;
        if (opts[i].kind == OPT_CORS) {
            free(c->cors_env);
            c->cors_env = strdup(v);
            if (c->cors_env == NULL)
                return tc_errmsg_set(err, TC_EINVAL, "%s: out of memory", name);
            int r = set_list(c, &opts[i], c->cors_env, name, err);
            if (r) return r;
            continue;
        }
        if (opts[i].kind == OPT_CIDR) {
            /* Ranges are parsed into cfg: the copy is not kept. */
            char *copy = strdup(v);
            if (copy == NULL) return tc_errmsg_set(err, TC_EINVAL, "%s: out of memory", name);
            int r = set_list(c, &opts[i], copy, name, err);
            free(copy);
            if (r) return r;
            continue;
        }
        int r = set_opt(c, &opts[i], v, name, err);
        if (r) return r;
    }
    return 0;
}

/* The spec of argv word `a` ("--name" or "--name=value") for this command, or
 * NULL. `token --store ID` names a restaurant, not a store URL. */
static const opt_spec *find_opt(const char *a, tc_cmd cmd)
{
    const char *name = a + 2;
    size_t nl = strcspn(name, "=");
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)nl, name);
    if (cmd == TC_CMD_TOKEN && strcmp(key, "store") == 0) strcpy(key, "store-id");
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++)
        if (strcmp(opts[k].flag, key) == 0 && (opts[k].cmds & (1u << cmd))) return &opts[k];
    return NULL;
}

void tc_config_free(tc_config *c)
{
    free(c->cors_env);
    c->cors_env = NULL;
}

int tc_config_parse(tc_config *c, int argc, char **argv, tc_errmsg *err)
{
    defaults(c);
    int i = 1;
    if (argc < 2) return tc_errmsg_set(err, TC_EINVAL, "missing command (try --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        c->cmd = TC_CMD_HELP;
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        c->cmd = TC_CMD_VERSION;
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        c->cmd = TC_CMD_SERVE;
        i = 2;
    } else if (strcmp(cmd, "token") == 0) {
        c->cmd = TC_CMD_TOKEN;
        i = 2;
    } else if (strcmp(cmd, "menu") == 0) {
        if (argc < 3 || strcmp(argv[2], "import") != 0)
            return tc_errmsg_set(err, TC_EINVAL, "menu: expected 'menu import FILE'");
        c->cmd = TC_CMD_MENU_IMPORT;
        i = 3;
    } else {
        return tc_errmsg_set(err, TC_EINVAL, "unknown command '%s' (try --help)", cmd);
    }
    unsigned cmdbit = 1u << c->cmd;
    bool given[sizeof opts / sizeof opts[0]] = {false};
    for (int k = i; k < argc; k++) {
        const opt_spec *o = strncmp(argv[k], "--", 2) == 0 ? find_opt(argv[k], c->cmd) : NULL;
        if (o) given[o - opts] = true;
    }
    int r = apply_env(c, cmdbit, given, err);
    if (r) return r;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            c->cmd = TC_CMD_HELP;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (c->cmd == TC_CMD_MENU_IMPORT && c->import_file == NULL) {
                c->import_file = a;
                continue;
            }
            return tc_errmsg_set(err, TC_EINVAL, "unexpected argument '%s'", a);
        }
        const char *name = a + 2;
        size_t nl = strcspn(name, "=");
        const char *val = name[nl] == '=' ? name + nl + 1 : NULL;
        const opt_spec *o = find_opt(a, c->cmd);
        /* Messages name the flag as the user typed it. */
        char src[80];
        snprintf(src, sizeof src, "--%.*s", (int)nl, name);
        if (o == NULL) return tc_errmsg_set(err, TC_EINVAL, "unknown flag %s", src);
        if (val == NULL) {
            if (i + 1 >= argc) return tc_errmsg_set(err, TC_EINVAL, "%s: missing value", src);
            val = argv[++i];
        }
        if ((r = set_opt(c, o, val, src, err)) != 0) return r;
    }
    if (c->cmd == TC_CMD_MENU_IMPORT && c->import_file == NULL)
        return tc_errmsg_set(err, TC_EINVAL, "menu import: missing FILE");
    if (c->cmd == TC_CMD_TOKEN && c->token_user == 0)
        return tc_errmsg_set(err, TC_EINVAL, "token: --user is required");
    if (c->cmd == TC_CMD_TOKEN && c->token_table && c->token_store)
        return tc_errmsg_set(err, TC_EINVAL, "token: give --table or --store, not both");
    return 0;
}
