/* cli.h — the commands of the tablecart binary (SPEC §9) and what they share.
 * main.c parses the config and calls one tc_cli_* command; each returns the
 * process's exit code and prints its own messages ("tablecart: ..." on
 * stderr). */
#ifndef TC_CLI_CLI_H
#define TC_CLI_CLI_H

#include "auth/auth.h"
#include "cart/menu.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "store/store.h"

#ifndef TC_VERSION
#define TC_VERSION "0.1.0"
#endif

/* Exit codes: what a script calling tablecart can tell apart. */
enum {
    TC_EXIT_OK = 0,    /* done */
    TC_EXIT_FAIL = 1,  /* a runtime failure: the store (or the import into it), the listener */
    TC_EXIT_USAGE = 2, /* a bad flag or setup, refused before anything ran */
};

/* `tablecart serve`: builds the app (store, menu, auth, routes, live push,
 * web folder), listens, and runs the loop until SIGTERM or SIGINT has shut it
 * down gracefully (SIGHUP is logged and otherwise ignored: logs go to
 * stderr). Returns TC_EXIT_OK after a clean stop, TC_EXIT_USAGE for a bad
 * --store URL, --web, --menu file, auth or Redis password setup,
 * TC_EXIT_FAIL when the store, the import or the listening socket fails. */
int tc_cli_serve(const tc_config *cfg);

/* `tablecart menu import FILE`: upserts the menu file into the store. The
 * file is read and checked before the store is opened, and a database file
 * this command created is removed again when the import fails: a failed
 * import leaves nothing behind. Returns TC_EXIT_OK, TC_EXIT_USAGE for a bad
 * --store URL, a missing or malformed file or a bad Redis password setup, or
 * TC_EXIT_FAIL when the store fails. */
int tc_cli_menu_import(const tc_config *cfg);

/* `tablecart token`: prints a token signed with the configured secret.
 * Returns TC_EXIT_OK, TC_EXIT_USAGE for a bad --phone or secret, or
 * TC_EXIT_FAIL when signing fails. */
int tc_cli_token(const tc_config *cfg);

/* --- shared by the commands ----------------------------------------------- */

/* Opens /dev/null on each of descriptors 0, 1 and 2 that is closed (a
 * process started with `<&- >&- 2>&-`), before anything else opens a file:
 * else the first descriptors opened (libuv's signal pipe, a socket, a
 * database) take those numbers, and log lines and the "listening on" line
 * are written into them. Called first by main. */
void tc_cli_open_std_fds(void);

/* Finds a file shipped with tablecart (data/demo-menu.json, web/): beside
 * the binary or up to three folders above it (build/, build/asan/), as rel
 * or as share/tablecart/rel (where `make install` puts it, beside
 * PREFIX/bin). Returns a new string (caller frees) or NULL. */
char *tc_cli_find_beside_binary(const char *rel);

/* As tc_cli_find_beside_binary, else rel in the working directory. Returns a
 * new string (caller frees) or NULL. */
char *tc_cli_find_resource(const char *rel);

/* Appends the whole file at path to out. Returns 0, TC_EIO with err
 * "PATH: cannot open: <reason>" or "PATH: cannot read: <reason>" (a folder:
 * "Is a directory"), or TC_ELIMIT when the file holds more than
 * max bytes (read no further than the first chunk past max: /dev/zero
 * fails, it does not fill memory). */
int tc_cli_read_file(const char *path, size_t max, tc_buf *out, tc_errmsg *err);

/* The largest menu file read (a menu of 10,000 tables and 1,000 dishes is
 * about 1 MiB). */
#define TC_CLI_MENU_FILE_MAX (64u << 20)

/* Reads and parses the menu file at path, touching no store. Returns 0 and
 * *out (free with tc_menu_free), or a negative code with err naming the file
 * and the place (a bad file is a bad value: the commands exit 2). */
int tc_cli_load_menu(const char *path, tc_menu **out, tc_errmsg *err);

/* Imports menu (read from path, named in the log line) into store and logs
 * what was imported. Returns 0, or a negative code with err. */
int tc_cli_import_menu(tc_store *store, const tc_menu *menu, const char *path, tc_errmsg *err);

/* The Redis password of a redis:// store into out: the file of
 * --redis-password-file (one line; a final newline is dropped), else
 * TABLECART_REDIS_PASSWORD, whose value is then wiped from this process's
 * environment (/proc/PID/environ). out stays empty for none or for another
 * store. Returns 0, or non-zero after printing why (exit 2; out is then
 * wiped and freed). After a 0 the caller wipes out (explicit_bzero) and
 * frees it. */
int tc_cli_redis_password(const tc_config *cfg, tc_buf *out);

/* The auth of cfg->auth; for jwt the secret from --jwt-secret-file or
 * TABLECART_JWT_SECRET (wiped from memory after use). Returns 0 and *out
 * (free with tc_auth_free), or non-zero after printing why. */
int tc_cli_make_auth(const tc_config *cfg, tc_auth **out);

#endif
