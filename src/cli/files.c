/* files.c — the files the commands read: resources shipped beside the
 * binary, and whole files (menu files); the standard descriptors. */
#include "cli/cli.h"

#include "core/mem.h"
#include "store/redis_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tc_cli_open_std_fds(void)
{
    for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        /* The lowest free number: fd itself. */
        int got = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
        if (got != fd) {
            if (got >= 0) close(got);
            _exit(TC_EXIT_FAIL); /* cannot happen: fd was free */
        }
    }
}

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
            /* A checkout or a build tree: rel as it is; `make install`:
             * PREFIX/share/tablecart/rel beside PREFIX/bin. */
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/%s", exe, rel);
            if (access(cand, R_OK) == 0) return tc_xstrdup(cand);
            snprintf(cand, sizeof cand, "%s/share/tablecart/%s", exe, rel);
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

int tc_cli_read_file(const char *path, size_t max, tc_buf *out, tc_errmsg *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tc_errmsg_set(err, TC_EIO, "%s: cannot open: %s", path, strerror(errno));
    char chunk[8192];
    size_t n, got = 0;
    errno = 0;
    while (got <= max && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        tc_buf_append(out, chunk, n);
        got += n;
    }
    /* errno before fclose or anything else sets it (EIO should it say nothing). */
    int bad = ferror(f) ? (errno ? errno : EIO) : 0;
    explicit_bzero(chunk, sizeof chunk); /* it may have held a secret */
    fclose(f);
    if (bad) return tc_errmsg_set(err, TC_EIO, "%s: cannot read: %s", path, strerror(bad));
    if (got > max) return tc_errmsg_set(err, TC_ELIMIT, "%s: larger than %zu bytes", path, max);
    return 0;
}

static int read_redis_password(const tc_config *cfg, tc_buf *out)
{
    tc_buf_reset(out);
    if (strncmp(cfg->store_url, "redis:", 6) != 0) return 0;
    const char *src = "TABLECART_REDIS_PASSWORD";
    if (cfg->redis_password_file) {
        tc_buf_take_env(NULL, src); /* wiped, whichever gives the password */
        tc_errmsg err;
        src = cfg->redis_password_file;
        /* Room for the longest password and its line end, reserved at
         * once: no copy of it is left behind by a realloc. */
        tc_buf_reserve(out, TC_REDIS_PASSWORD_SIZE + 8192);
        int rc = tc_cli_read_file(src, TC_REDIS_PASSWORD_SIZE + 1, out, &err);
        if (rc != 0 && rc != TC_ELIMIT) { /* too long: said below */
            fprintf(stderr, "tablecart: --redis-password-file: %s\n", err.text);
            return -1;
        }
        if (out->len > 0 && out->base[out->len - 1] == '\n') out->len--;
        if (out->len > 0 && out->base[out->len - 1] == '\r') out->len--;
        if (out->len == 0) {
            fprintf(stderr, "tablecart: --redis-password-file: %s is empty\n", src);
            return -1;
        }
    } else {
        if (!tc_buf_take_env(out, src) || out->len == 0) return 0;
    }
    if (out->len >= TC_REDIS_PASSWORD_SIZE || memchr(out->base, '\0', out->len) ||
        memchr(out->base, '\n', out->len)) {
        fprintf(stderr, "tablecart: %s: the Redis password must be one line of at most %d bytes\n",
                src, TC_REDIS_PASSWORD_SIZE - 1);
        return -1;
    }
    tc_buf_cstr(out);
    return 0;
}

int tc_cli_redis_password(const tc_config *cfg, tc_buf *out)
{
    int rc = read_redis_password(cfg, out);
    if (rc != 0) {
        if (out->base) explicit_bzero(out->base, out->cap);
        tc_buf_free(out);
    }
    return rc;
}
