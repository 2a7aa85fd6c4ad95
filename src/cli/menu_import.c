/* menu_import.c — `tablecart menu import FILE`, and reading and importing a
 * menu file (serve does it at start for --menu or the demo menu). */
#include "cli/cli.h"

#include "cart/menu.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SQLITE_SCHEME "sqlite:"

int tc_cli_load_menu(const char *path, tc_menu **out, tc_errmsg *err)
{
    tc_buf text = TC_BUF_INIT;
    int r = tc_cli_read_file(path, TC_CLI_MENU_FILE_MAX, &text, err);
    if (r == 0) {
        tc_errmsg perr;
        r = tc_menu_parse(text.base ? text.base : "", text.len, out, &perr);
        if (r) tc_errmsg_set(err, r, "%s: %s", path, perr.text);
    }
    tc_buf_free(&text);
    return r;
}

int tc_cli_import_menu(tc_store *store, const tc_menu *menu, const char *path, tc_errmsg *err)
{
    int r = tc_store_import_menu(store, menu, err);
    if (r == 0)
        tc_log_info("menu %s imported: %zu stores, %zu tables, %zu dishes", path,
                    tc_menu_store_count(menu), tc_menu_table_count(menu),
                    tc_menu_cuisine_count(menu));
    return r;
}

/* Removes the SQLite database at path and its companions (after an import
 * that failed on a database this command created). */
static void remove_database(const char *path)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char name[4096];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if ((size_t)snprintf(name, sizeof name, "%s%s", path, suffixes[i]) < sizeof name)
            unlink(name);
    }
}

int tc_cli_menu_import(const tc_config *cfg)
{
    tc_errmsg err;
    tc_menu *menu = NULL;
    if (tc_store_check_url(cfg->store_url, &err) != 0 ||
        tc_cli_load_menu(cfg->import_file, &menu, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return TC_EXIT_USAGE;
    }
    /* A SQLite file that did not exist is the store's to create, and ours to
     * remove if the import fails. */
    const char *db = strncmp(cfg->store_url, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0
                         ? cfg->store_url + strlen(SQLITE_SCHEME)
                         : NULL;
    bool created = db && access(db, F_OK) != 0;
    uv_loop_t *loop = uv_default_loop();
    tc_store *store;
    tc_buf password = TC_BUF_INIT;
    if (tc_cli_redis_password(cfg, &password) != 0) {
        tc_menu_free(menu);
        return TC_EXIT_USAGE;
    }
    tc_store_opts so = {.redis_password = password.base};
    int r = tc_store_open(cfg->store_url, &so, loop, &store, &err);
    bool refused = r == TC_EINVAL; /* a bad setup, refused before anything was contacted */
    if (password.base) explicit_bzero(password.base, password.cap);
    tc_buf_free(&password);
    if (r == 0) {
        r = tc_cli_import_menu(store, menu, cfg->import_file, &err);
        tc_store_close(store);
        uv_run(loop, UV_RUN_DEFAULT);
    }
    tc_menu_free(menu);
    if (r) {
        if (created) remove_database(db);
        fprintf(stderr, "tablecart: %s\n", err.text);
        return refused ? TC_EXIT_USAGE : TC_EXIT_FAIL;
    }
    return TC_EXIT_OK;
}
