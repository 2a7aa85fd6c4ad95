/* test_config.c — the command line of SPEC §9: defaults, every flag, the
 * --flag=value form, environment variables, and the messages for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Removes every TABLECART_* variable so the host's environment cannot leak
 * into a test. */
static int clean_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "TABLECART_", 10) == 0) {
                const char *eq = strchr(*e, '=');
                size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
                if (n >= sizeof name) n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                break;
            }
        }
        if (name[0] == '\0') return 0;
        unsetenv(name);
    }
}

#define ARGV(...) ((char *[]){"tablecart", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"tablecart", __VA_ARGS__}) / sizeof(char *)))
/* Parses; asserts success. */
#define PARSE_OK(cfg, ...)                                                                         \
    do {                                                                                           \
        tc_errmsg err_ = {0};                                                                      \
        int rc_ = tc_config_parse((cfg), ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &err_);             \
        if (rc_ != 0) fail_msg("parse failed (%d): %s", rc_, err_.text);                           \
    } while (0)
/* Parses; asserts TC_EINVAL with exactly `msg`. */
#define PARSE_ERR(msg, ...)                                                                        \
    do {                                                                                           \
        tc_config cfg_;                                                                            \
        tc_errmsg err_ = {0};                                                                      \
        int rc_ = tc_config_parse(&cfg_, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), &err_);             \
        assert_int_equal(rc_, TC_EINVAL);                                                          \
        assert_string_equal(err_.text, (msg));                                                     \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve");
    assert_int_equal(c.cmd, TC_CMD_SERVE);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.store_url, "sqlite:./tablecart.db");
    assert_null(c.menu_file);
    assert_string_equal(c.api_prefix, "/api");
    assert_int_equal(c.heartbeat_s, 30);
    assert_int_equal(c.sse_timeout_s, 1800);
    assert_int_equal(c.ws_ping_s, 30);
    assert_int_equal(c.ws_max_message, 65536);
    assert_int_equal(c.request_timeout_s, 10);
    assert_int_equal(c.idle_timeout_s, 60);
    assert_int_equal(c.auth, TC_AUTH_NONE);
    assert_null(c.jwt_secret_file);
    assert_int_equal(c.n_cors, 0);
    assert_null(c.web_dir);
    assert_int_equal(c.max_head, 16 * 1024);
    assert_int_equal(c.max_body, 64 * 1024);
    assert_null(c.import_file);
    assert_true(c.access_log);
}

static void test_access_log(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--access-log", "off");
    assert_false(c.access_log);
    PARSE_OK(&c, "serve", "--access-log=on");
    assert_true(c.access_log);
    setenv("TABLECART_ACCESS_LOG", "off", 1);
    PARSE_OK(&c, "serve");
    assert_false(c.access_log);
    PARSE_OK(&c, "serve", "--access-log", "on"); /* the flag wins */
    assert_true(c.access_log);
    unsetenv("TABLECART_ACCESS_LOG");
    PARSE_ERR("--access-log: expected on or off, got 'yes'", "serve", "--access-log", "yes");
    PARSE_ERR("--access-log: missing value", "serve", "--access-log");
    PARSE_ERR("unknown flag --access-log", "token", "--user", "1", "--access-log", "off");
}

static void test_io_uring(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve");
    assert_true(c.io_uring);
    PARSE_OK(&c, "serve", "--io-uring", "off");
    assert_false(c.io_uring);
    assert_true(c.access_log); /* its own switch */
    setenv("TABLECART_IO_URING", "off", 1);
    PARSE_OK(&c, "serve");
    assert_false(c.io_uring);
    PARSE_OK(&c, "serve", "--io-uring=on"); /* the flag wins */
    assert_true(c.io_uring);
    unsetenv("TABLECART_IO_URING");
    PARSE_ERR("--io-uring: expected on or off, got 'no'", "serve", "--io-uring", "no");
    PARSE_ERR("unknown flag --io-uring", "menu", "import", "m.json", "--io-uring", "off");
}

static void test_share_core(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve");
    assert_true(c.share_core);
    PARSE_OK(&c, "serve", "--share-core", "off");
    assert_false(c.share_core);
    assert_true(c.io_uring); /* its own switch */
    setenv("TABLECART_SHARE_CORE", "off", 1);
    PARSE_OK(&c, "serve");
    assert_false(c.share_core);
    PARSE_OK(&c, "serve", "--share-core=on"); /* the flag wins */
    assert_true(c.share_core);
    unsetenv("TABLECART_SHARE_CORE");
    PARSE_ERR("--share-core: expected on or off, got 'yes'", "serve", "--share-core", "yes");
    PARSE_ERR("unknown flag --share-core", "token", "--user", "1", "--share-core", "off");
}

static void test_every_serve_flag(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--listen", "0.0.0.0:9000", "--store", "sqlite:/var/lib/tc.db", "--menu",
             "m.json", "--api-prefix", "/v1", "--heartbeat", "5", "--sse-timeout", "60",
             "--ws-ping", "7", "--ws-max-message", "1024", "--request-timeout", "3",
             "--idle-timeout", "9", "--auth", "jwt", "--jwt-secret-file", "/etc/secret",
             "--cors-origin", "https://a.example", "--web", "/srv/web");
    assert_int_equal(c.cmd, TC_CMD_SERVE);
    assert_string_equal(c.listen_host, "0.0.0.0");
    assert_int_equal(c.listen_port, 9000);
    assert_string_equal(c.store_url, "sqlite:/var/lib/tc.db");
    assert_string_equal(c.menu_file, "m.json");
    assert_string_equal(c.api_prefix, "/v1");
    assert_int_equal(c.heartbeat_s, 5);
    assert_int_equal(c.sse_timeout_s, 60);
    assert_int_equal(c.ws_ping_s, 7);
    assert_int_equal(c.ws_max_message, 1024);
    assert_int_equal(c.request_timeout_s, 3);
    assert_int_equal(c.idle_timeout_s, 9);
    assert_int_equal(c.auth, TC_AUTH_JWT);
    assert_string_equal(c.jwt_secret_file, "/etc/secret");
    assert_int_equal(c.n_cors, 1);
    assert_string_equal(c.cors_origins[0], "https://a.example");
    assert_string_equal(c.web_dir, "/srv/web");

    PARSE_OK(&c, "serve", "--auth", "none");
    assert_int_equal(c.auth, TC_AUTH_NONE);
    assert_int_equal(c.durability, TC_DURABLE_PROCESS); /* the default */
    PARSE_OK(&c, "serve", "--durability", "power");
    assert_int_equal(c.durability, TC_DURABLE_POWER);
    PARSE_OK(&c, "serve", "--durability=process");
    assert_int_equal(c.durability, TC_DURABLE_PROCESS);
}

static void test_equals_form(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--heartbeat=12", "--listen=127.0.0.2:0",
             "--api-prefix=", "--store=sqlite:/tmp/x=y.db", "--cors-origin=http://b");
    assert_int_equal(c.heartbeat_s, 12);
    assert_string_equal(c.listen_host, "127.0.0.2");
    assert_int_equal(c.listen_port, 0);
    assert_string_equal(c.api_prefix, "");
    assert_string_equal(c.store_url, "sqlite:/tmp/x=y.db"); /* only the first '=' splits */
    assert_int_equal(c.n_cors, 1);
    assert_string_equal(c.cors_origins[0], "http://b");
}

static void test_api_prefix(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--api-prefix", "/");
    assert_string_equal(c.api_prefix, "");
    PARSE_OK(&c, "serve", "--api-prefix", "");
    assert_string_equal(c.api_prefix, "");
    PARSE_OK(&c, "serve", "--api-prefix", "/a/b");
    assert_string_equal(c.api_prefix, "/a/b");
    PARSE_ERR("--api-prefix: must be empty or start with / and not end with /", "serve",
              "--api-prefix", "api");
    PARSE_ERR("--api-prefix: must be empty or start with / and not end with /", "serve",
              "--api-prefix", "/api/");
}

static void test_store(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--store", "sqlite::memory:");
    assert_string_equal(c.store_url, "sqlite::memory:");
    PARSE_OK(&c, "serve", "--store", "redis://127.0.0.1:6379");
    assert_string_equal(c.store_url, "redis://127.0.0.1:6379");
    PARSE_ERR("--store: expected sqlite:PATH or redis://HOST:PORT, got 'redis://'", "serve",
              "--store", "redis://");
    PARSE_ERR("--store: expected sqlite:PATH or redis://HOST:PORT, got 'sqlite:'", "serve",
              "--store", "sqlite:");
    PARSE_ERR("--store: expected sqlite:PATH or redis://HOST:PORT, got 'mysql://x'", "serve",
              "--store", "mysql://x");
    PARSE_ERR("--store: expected sqlite:PATH or redis://HOST:PORT, got ''", "menu", "import", "f",
              "--store=");
}

static void test_env(void **state)
{
    (void)state;
    tc_config c;
    setenv("TABLECART_SSE_TIMEOUT", "5", 1);
    PARSE_OK(&c, "serve");
    assert_int_equal(c.sse_timeout_s, 5);
    /* The flag wins. */
    PARSE_OK(&c, "serve", "--sse-timeout", "7");
    assert_int_equal(c.sse_timeout_s, 7);
    PARSE_OK(&c, "serve", "--sse-timeout=8");
    assert_int_equal(c.sse_timeout_s, 8);
    unsetenv("TABLECART_SSE_TIMEOUT");

    setenv("TABLECART_LISTEN", "[::1]:0", 1);
    setenv("TABLECART_API_PREFIX", "/x", 1);
    setenv("TABLECART_WS_MAX_MESSAGE", "4096", 1);
    setenv("TABLECART_AUTH", "jwt", 1);
    setenv("TABLECART_JWT_SECRET_FILE", "/s", 1);
    setenv("TABLECART_STORE", "sqlite:/tmp/env.db", 1);
    PARSE_OK(&c, "serve");
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 0);
    assert_string_equal(c.api_prefix, "/x");
    assert_int_equal(c.ws_max_message, 4096);
    assert_int_equal(c.auth, TC_AUTH_JWT);
    assert_string_equal(c.jwt_secret_file, "/s");
    assert_string_equal(c.store_url, "sqlite:/tmp/env.db");
    PARSE_OK(&c, "serve", "--listen", "127.0.0.1:1", "--auth=none");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 1);
    assert_int_equal(c.auth, TC_AUTH_NONE);
}

static void test_env_bad_value_names_variable(void **state)
{
    (void)state;
    setenv("TABLECART_HEARTBEAT", "soon", 1);
    PARSE_ERR(
        "TABLECART_HEARTBEAT: expected a whole number of seconds from 1 to 31536000, got 'soon'",
        "serve");
    unsetenv("TABLECART_HEARTBEAT");
    setenv("TABLECART_AUTH", "basic", 1);
    PARSE_ERR("TABLECART_AUTH: expected none or jwt, got 'basic'", "serve");
}

static void test_env_only_for_its_command(void **state)
{
    (void)state;
    /* A serve variable does not break `token`. */
    setenv("TABLECART_HEARTBEAT", "soon", 1);
    tc_config c;
    PARSE_OK(&c, "token", "--user", "1");
    assert_int_equal(c.cmd, TC_CMD_TOKEN);
}

static void test_bad_seconds(void **state)
{
    (void)state;
    const char *flags[] = {"--heartbeat", "--sse-timeout", "--ws-ping", "--request-timeout",
                           "--idle-timeout"};
    const char *bad[] = {"0",  "-1", "abc",  "1.5",      " 5",
                         "5s", "",   "0x10", "31536001", "99999999999999999999999"};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            char want[160];
            snprintf(want, sizeof want,
                     "%s: expected a whole number of seconds from 1 to 31536000, got '%s'",
                     flags[f], bad[b]);
            PARSE_ERR(want, "serve", (char *)flags[f], (char *)bad[b]);
        }
    }
    tc_config c;
    PARSE_OK(&c, "serve", "--heartbeat", "31536000", "--ws-ping", "0030");
    assert_int_equal(c.heartbeat_s, 31536000);
    assert_int_equal(c.ws_ping_s, 30);
    PARSE_ERR("--ttl: expected a whole number of seconds from 1 to 31536000, got '0'", "token",
              "--user", "1", "--ttl", "0");
}

/* --sitting-gap: 1800 s by default; 0 is a value (seats kept for good). */
static void test_sitting_gap(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve");
    assert_int_equal(c.sitting_gap_s, 1800);
    PARSE_OK(&c, "serve", "--sitting-gap", "0");
    assert_int_equal(c.sitting_gap_s, 0);
    PARSE_OK(&c, "serve", "--sitting-gap=90");
    assert_int_equal(c.sitting_gap_s, 90);
    setenv("TABLECART_SITTING_GAP", "7", 1);
    PARSE_OK(&c, "serve");
    assert_int_equal(c.sitting_gap_s, 7);
    unsetenv("TABLECART_SITTING_GAP");
    const char *bad[] = {"-1", "abc", "1.5", "", "31536001"};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        char want[160];
        snprintf(want, sizeof want,
                 "--sitting-gap: expected a whole number of seconds from 0 to 31536000, got '%s'",
                 bad[b]);
        PARSE_ERR(want, "serve", "--sitting-gap", (char *)bad[b]);
    }
    PARSE_ERR("unknown flag --sitting-gap", "token", "--user", "1", "--sitting-gap", "5");
}

static void test_bad_bytes(void **state)
{
    (void)state;
    const char *bad[] = {"127", "0", "16777217", "1k", "-128", ""};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        char want[160];
        snprintf(want, sizeof want,
                 "--ws-max-message: expected bytes between 128 and 16777216, got '%s'", bad[b]);
        PARSE_ERR(want, "serve", "--ws-max-message", (char *)bad[b]);
    }
    tc_config c;
    PARSE_OK(&c, "serve", "--ws-max-message", "128");
    assert_int_equal(c.ws_max_message, 128);
    PARSE_OK(&c, "serve", "--ws-max-message", "16777216");
    assert_int_equal(c.ws_max_message, 16777216);
}

static void test_listen(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--listen", "[::1]:0");
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 0);
    PARSE_OK(&c, "serve", "--listen", "[::]:65535");
    assert_string_equal(c.listen_host, "::");
    assert_int_equal(c.listen_port, 65535);
    PARSE_OK(&c, "serve", "--listen", "127.0.0.1:0");
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 0);

    const char *bad[] = {"8080",    ":8080",     "host:", "host:65536",
                         "host:-1", "host:http", "[]:80", "x:8080 "};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        char want[160];
        snprintf(want, sizeof want, "--listen: expected HOST:PORT, got '%s'", bad[b]);
        PARSE_ERR(want, "serve", "--listen", (char *)bad[b]);
    }
    /* A host that does not fit. */
    char longhost[100];
    memset(longhost, 'h', 70);
    strcpy(longhost + 70, ":1");
    char want[200];
    snprintf(want, sizeof want, "--listen: expected HOST:PORT, got '%s'", longhost);
    PARSE_ERR(want, "serve", "--listen", longhost);

    /* HOST is an address, checked here (exit 2, before the store is
     * opened), not when the socket is made (that was exit 1, after an
     * empty database had been given the demo menu). */
    const char *not_addr[] = {"localhost", "nope", "999.1.1.1",  "127.0.0.1.5",
                              "::1::2",    "[::1", "example.com"};
    for (size_t b = 0; b < sizeof not_addr / sizeof not_addr[0]; b++) {
        char arg[80], msg[200];
        const char *h = not_addr[b];
        snprintf(arg, sizeof arg, "%s:8080", h);
        snprintf(msg, sizeof msg,
                 "--listen: HOST must be an IPv4 or IPv6 address ([::1]:8080), got '%s'", arg);
        PARSE_ERR(msg, "serve", "--listen", arg);
    }
    PARSE_OK(&c, "serve", "--listen", "[fe80::1%lo]:0");
    assert_string_equal(c.listen_host, "fe80::1%lo");
    PARSE_OK(&c, "serve", "--listen", "::1:0");
    assert_string_equal(c.listen_host, "::1");
    PARSE_OK(&c, "serve", "--listen", "0.0.0.0:0");
    assert_string_equal(c.listen_host, "0.0.0.0");
}

static void test_bad_auth_and_cors(void **state)
{
    (void)state;
    PARSE_ERR("--auth: expected none or jwt, got 'JWT'", "serve", "--auth", "JWT");
    PARSE_ERR("--durability: expected process or power, got 'disk'", "serve", "--durability",
              "disk");
    PARSE_ERR("--auth: expected none or jwt, got ''", "serve", "--auth=");
    PARSE_ERR("--cors-origin: empty origin", "serve", "--cors-origin", "");
    PARSE_ERR("--cors-origin: an origin has no spaces, got 'https://a.example '", "serve",
              "--cors-origin", "https://a.example ");
}

static void test_cors_repeated(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "serve", "--cors-origin", "https://a", "--cors-origin=https://b", "--cors-origin",
             "http://localhost:3000");
    assert_int_equal(c.n_cors, 3);
    assert_string_equal(c.cors_origins[0], "https://a");
    assert_string_equal(c.cors_origins[1], "https://b");
    assert_string_equal(c.cors_origins[2], "http://localhost:3000");

    /* At most TC_MAX_CORS. */
    char *argv[2 + 2 * (TC_MAX_CORS + 1) + 1];
    int argc = 0;
    argv[argc++] = "tablecart";
    argv[argc++] = "serve";
    for (int i = 0; i < TC_MAX_CORS + 1; i++) {
        argv[argc++] = "--cors-origin";
        argv[argc++] = "https://x";
    }
    argv[argc] = NULL;
    tc_errmsg err = {0};
    assert_int_equal(tc_config_parse(&c, argc - 2, argv, &err), 0);
    assert_int_equal(c.n_cors, TC_MAX_CORS);
    assert_int_equal(tc_config_parse(&c, argc, argv, &err), TC_EINVAL);
    assert_string_equal(err.text, "--cors-origin: at most 16 origins");
}

static void test_cors_env_list(void **state)
{
    (void)state;
    tc_config c;
    setenv("TABLECART_CORS_ORIGIN", "https://a.example, https://b.example,,http://c", 1);
    PARSE_OK(&c, "serve");
    assert_int_equal(c.n_cors, 3);
    assert_string_equal(c.cors_origins[0], "https://a.example");
    assert_string_equal(c.cors_origins[1], "https://b.example");
    assert_string_equal(c.cors_origins[2], "http://c");
    tc_config_free(&c);
    /* Spaces after an origin too (it was kept with them and matched nothing). */
    setenv("TABLECART_CORS_ORIGIN", "https://a.example , https://b.example\t, ,", 1);
    PARSE_OK(&c, "serve");
    assert_int_equal(c.n_cors, 2);
    assert_string_equal(c.cors_origins[0], "https://a.example");
    assert_string_equal(c.cors_origins[1], "https://b.example");
    tc_config_free(&c);
    setenv("TABLECART_CORS_ORIGIN", "https://a.example, https://b.example,,http://c", 1);
    /* Flags replace the environment's list. */
    PARSE_OK(&c, "serve", "--cors-origin", "https://z", "--cors-origin", "https://y");
    assert_int_equal(c.n_cors, 2);
    assert_string_equal(c.cors_origins[0], "https://z");
    assert_string_equal(c.cors_origins[1], "https://y");
    tc_config_free(&c);
}

/* --trusted-proxy's list reads as --cors-origin's: spaces around an entry
 * are not part of it (it was refused, "got '127.0.0.1 '"). */
static void test_trusted_proxy_env_list(void **state)
{
    (void)state;
    tc_config c;
    setenv("TABLECART_TRUSTED_PROXY", "127.0.0.1 , 10.0.0.0/8\t,, ::1", 1);
    PARSE_OK(&c, "serve");
    assert_int_equal(c.n_trusted_proxies, 3);
    tc_config_free(&c);
    unsetenv("TABLECART_TRUSTED_PROXY");
}

static void test_bad_env_overridden_by_flag(void **state)
{
    (void)state;
    tc_config c;
    setenv("TABLECART_HEARTBEAT", "abc", 1);
    PARSE_OK(&c, "serve", "--heartbeat", "5");
    assert_int_equal(c.heartbeat_s, 5);
    PARSE_OK(&c, "serve", "--heartbeat=7");
    assert_int_equal(c.heartbeat_s, 7);
    PARSE_ERR(
        "TABLECART_HEARTBEAT: expected a whole number of seconds from 1 to 31536000, got 'abc'",
        "serve");
}

static void test_unknown_and_misplaced(void **state)
{
    (void)state;
    PARSE_ERR("unknown flag --bogus", "serve", "--bogus", "1");
    PARSE_ERR("unknown flag --bogus", "serve", "--bogus=1");
    PARSE_ERR("unknown flag --Heartbeat", "serve", "--Heartbeat", "1");
    /* A flag of another command. */
    PARSE_ERR("unknown flag --user", "serve", "--user", "1");
    PARSE_ERR("unknown flag --heartbeat", "token", "--user", "1", "--heartbeat", "5");
    PARSE_ERR("unknown flag --menu", "menu", "import", "f.json", "--menu", "x");
    PARSE_ERR("unexpected argument 'extra'", "serve", "extra");
    PARSE_ERR("--heartbeat: missing value", "serve", "--heartbeat");
    PARSE_ERR("unknown command 'start' (try --help)", "start");
    tc_config c;
    tc_errmsg err = {0};
    assert_int_equal(tc_config_parse(&c, 1, ARGV(NULL), &err), TC_EINVAL);
    assert_string_equal(err.text, "missing command (try --help)");
}

static void test_help_version(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "--help");
    assert_int_equal(c.cmd, TC_CMD_HELP);
    PARSE_OK(&c, "-h");
    assert_int_equal(c.cmd, TC_CMD_HELP);
    PARSE_OK(&c, "--version");
    assert_int_equal(c.cmd, TC_CMD_VERSION);
    PARSE_OK(&c, "serve", "--heartbeat", "5", "--help");
    assert_int_equal(c.cmd, TC_CMD_HELP);
    const char *u = tc_config_usage();
    assert_non_null(strstr(u, "--sse-timeout"));
    assert_non_null(strstr(u, "TABLECART_SSE_TIMEOUT"));
    /* The exemption is tc_addr_is_loopback's: all of 127.0.0.0/8, and ::1. */
    assert_non_null(strstr(u, "127.0.0.0/8 and ::1 skip the per-address limits"));
}

static void test_menu_import(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "menu", "import", "data/demo-menu.json");
    assert_int_equal(c.cmd, TC_CMD_MENU_IMPORT);
    assert_string_equal(c.import_file, "data/demo-menu.json");
    assert_string_equal(c.store_url, "sqlite:./tablecart.db");
    PARSE_OK(&c, "menu", "import", "--store", "sqlite:/tmp/t.db", "m.json");
    assert_string_equal(c.import_file, "m.json");
    assert_string_equal(c.store_url, "sqlite:/tmp/t.db");
    PARSE_ERR("menu import: missing FILE", "menu", "import");
    PARSE_ERR("menu: expected 'menu import FILE'", "menu");
    PARSE_ERR("menu: expected 'menu import FILE'", "menu", "export", "x");
    PARSE_ERR("unexpected argument 'b.json'", "menu", "import", "a.json", "b.json");
}

static void test_token(void **state)
{
    (void)state;
    tc_config c;
    PARSE_OK(&c, "token", "--user", "100", "--phone", "13800138000", "--table", "123", "--ttl",
             "60", "--jwt-secret-file", "/k");
    assert_int_equal(c.cmd, TC_CMD_TOKEN);
    assert_int_equal(c.token_user, 100);
    assert_string_equal(c.token_phone, "13800138000");
    assert_int_equal(c.token_table, 123);
    assert_int_equal(c.token_store, 0);
    assert_int_equal(c.token_ttl_s, 60);
    assert_string_equal(c.jwt_secret_file, "/k");

    /* `token --store 3` is a restaurant id, not a store URL. */
    PARSE_OK(&c, "token", "--user", "1", "--store", "3");
    assert_int_equal(c.token_store, 3);
    assert_int_equal(c.token_table, 0);
    assert_string_equal(c.store_url, "sqlite:./tablecart.db");
    PARSE_OK(&c, "token", "--user=1", "--store=2147483647");
    assert_int_equal(c.token_store, INT32_MAX);
    assert_int_equal(c.token_ttl_s, 4 * 3600); /* default */

    /* Its variable is TABLECART_STORE_ID (docs/auth.md): TABLECART_STORE is
     * serve's store URL, which a token ignores. */
    setenv("TABLECART_STORE", "sqlite:/elsewhere.db", 1);
    setenv("TABLECART_STORE_ID", "4", 1);
    PARSE_OK(&c, "token", "--user", "1");
    assert_int_equal(c.token_store, 4);
    unsetenv("TABLECART_STORE");
    unsetenv("TABLECART_STORE_ID");

    PARSE_ERR("token: --user is required", "token", "--table", "1");
    PARSE_ERR("token: give --table or --store, not both", "token", "--user", "1", "--table", "1",
              "--store", "1");
}

static void test_bad_ids(void **state)
{
    (void)state;
    const char *bad[] = {"0", "-1", "2147483648", "abc", "1.0", ""};
    const char *flags[] = {"--user", "--table"};
    for (size_t f = 0; f < 2; f++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            char want[160];
            snprintf(want, sizeof want, "%s: expected a positive 32-bit integer, got '%s'",
                     flags[f], bad[b]);
            PARSE_ERR(want, "token", "--user", "5", (char *)flags[f], (char *)bad[b]);
        }
    }
}

/* `token --store` is a restaurant id; messages name the flag as typed. */
static void test_token_store_bad_value_names_store(void **state)
{
    (void)state;
    PARSE_ERR("--store: expected a positive 32-bit integer, got 'abc'", "token", "--user", "1",
              "--store", "abc");
    PARSE_ERR("--store: missing value", "token", "--user", "1", "--store");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, clean_env, clean_env)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_access_log),
        T(test_io_uring),
        T(test_share_core),
        T(test_every_serve_flag),
        T(test_equals_form),
        T(test_api_prefix),
        T(test_store),
        T(test_env),
        T(test_env_bad_value_names_variable),
        T(test_env_only_for_its_command),
        T(test_bad_seconds),
        T(test_sitting_gap),
        T(test_bad_bytes),
        T(test_listen),
        T(test_bad_auth_and_cors),
        T(test_cors_repeated),
        T(test_cors_env_list),
        T(test_trusted_proxy_env_list),
        T(test_bad_env_overridden_by_flag),
        T(test_unknown_and_misplaced),
        T(test_help_version),
        T(test_menu_import),
        T(test_token),
        T(test_bad_ids),
        T(test_token_store_bad_value_names_store),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
