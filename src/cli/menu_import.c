/* menu_import.c — `tablecart menu import FILE`, and importing a menu file
 * (serve does it at start for --menu or the demo menu). */
#include "cli/cli.h"

#include "cart/menu.h"
#include "core/log.h"

#include <stdio.h>

int tc_cli_import_menu_file(tc_store *store, const char *path, tc_errmsg *err)
{
    tc_buf text = TC_BUF_INIT;
    int r = tc_cli_read_file(path, &text, err);
    tc_menu *menu = NULL;
    if (r == 0) {
        tc_errmsg perr;
        r = tc_menu_parse(text.base ? text.base : "", text.len, &menu, &perr);
        if (r) tc_errmsg_set(err, r, "%s: %s", path, perr.text);
    }
    if (r == 0) r = tc_store_import_menu(store, menu, err);
    if (r == 0)
        tc_log_info("menu %s imported: %zu stores, %zu tables, %zu dishes", path,
                    tc_menu_store_count(menu), tc_menu_table_count(menu),
                    tc_menu_cuisine_count(menu));
    tc_menu_free(menu);
    tc_buf_free(&text);
    return r;
}

int tc_cli_menu_import(const tc_config *cfg)
{
    uv_loop_t *loop = uv_default_loop();
    tc_store *store;
    tc_errmsg err;
    tc_buf password = TC_BUF_INIT;
    if (tc_cli_redis_password(cfg, &password) != 0) return TC_EXIT_USAGE;
    tc_store_opts so = {.redis_password = password.base};
    int opened = tc_store_open(cfg->store_url, &so, loop, &store, &err);
    if (password.base) explicit_bzero(password.base, password.cap);
    tc_buf_free(&password);
    if (opened != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return TC_EXIT_FAIL;
    }
    int r = tc_cli_import_menu_file(store, cfg->import_file, &err);
    tc_store_close(store);
    uv_run(loop, UV_RUN_DEFAULT);
    if (r) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        return TC_EXIT_FAIL;
    }
    return TC_EXIT_OK;
}
