/* files.c — the files the commands read: resources shipped beside the
 * binary, and whole files (menu files). */
#include "cli/cli.h"

#include "core/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The binary's own folder and three above it: build/tablecart and
 * build/asan/tablecart both find the repository's web/ and data/. */
#define RESOURCE_LEVELS 4

char *tc_cli_find_beside_binary(const char *rel)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < RESOURCE_LEVELS; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/%s", exe, rel);
            if (access(cand, R_OK) == 0) return tc_xstrdup(cand);
        }
    }
    return NULL;
}

char *tc_cli_find_resource(const char *rel)
{
    char *found = tc_cli_find_beside_binary(rel);
    if (found) return found;
    return access(rel, R_OK) == 0 ? tc_xstrdup(rel) : NULL;
}

int tc_cli_read_file(const char *path, tc_buf *out, tc_errmsg *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tc_errmsg_set(err, TC_EIO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        tc_buf_append(out, chunk, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? tc_errmsg_set(err, TC_EIO, "%s: cannot read", path) : 0;
}
