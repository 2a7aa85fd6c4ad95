/* main.c — flags → config → the command (src/cli) → its exit code. */
#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    tc_config cfg = {0};
    tc_errmsg err;
    tc_cli_open_std_fds();
    const char *lvl = getenv("TABLECART_LOG_LEVEL");
    enum tc_log_level level = TC_LOG_INFO;
    if (lvl && tc_log_level_parse(lvl, &level) != 0) {
        fprintf(stderr,
                "tablecart: TABLECART_LOG_LEVEL: expected debug, info, warn or error, got '%s'\n",
                lvl);
        return TC_EXIT_USAGE;
    }
    tc_log_set_level(level);
    int rc = TC_EXIT_USAGE;
    if (tc_config_parse(&cfg, argc, argv, &err) != 0) {
        fprintf(stderr, "tablecart: %s\n", err.text);
        tc_config_free(&cfg);
        return TC_EXIT_USAGE;
    }
    switch (cfg.cmd) {
    case TC_CMD_HELP:
        fputs(tc_config_usage(), stdout);
        rc = TC_EXIT_OK;
        break;
    case TC_CMD_VERSION:
        printf("tablecart %s\n", TC_VERSION);
        rc = TC_EXIT_OK;
        break;
    case TC_CMD_MENU_IMPORT:
        rc = tc_cli_menu_import(&cfg);
        break;
    case TC_CMD_TOKEN:
        rc = tc_cli_token(&cfg);
        break;
    case TC_CMD_SERVE:
        rc = tc_cli_serve(&cfg);
        break;
    }
    /* A command's output is what it is for (a token a script captures): one
     * that could not be written is a failure, not an empty success. The
     * server's own lines are logs; it serves whether they went out or not. */
    if (cfg.cmd != TC_CMD_SERVE && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "tablecart: cannot write to standard output: %s\n", strerror(errno));
        if (rc == TC_EXIT_OK) rc = TC_EXIT_FAIL;
    }
    tc_config_free(&cfg);
    return rc;
}
