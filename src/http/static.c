#include "http/static.h"

#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *tc_static_content_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".webp", "image/webp"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot, types[i].ext) == 0) return types[i].type;
    return "application/octet-stream";
}

static void not_found(tc_http_exchange *x)
{
    tc_http_reply_say(x, 404, TC_T_FILE_NOT_FOUND);
}

/* Without openat2 (a kernel before 5.6, a seccomp filter without it): sub
 * opened one part at a time from dir, each folder with O_NOFOLLOW | O_PATH |
 * O_DIRECTORY (a link is ENOTDIR) and the file with O_NOFOLLOW (a link is
 * ELOOP). Each part is looked up in the folder opened before it, so a folder
 * renamed or swapped for a link meanwhile changes nothing; a check of the
 * path by name (realpath) followed by an open by name did. No part may be
 * empty, "." or "..", as RESOLVE_BENEATH allows no way out. */
static int open_by_parts(int dir, const char *sub)
{
    if (!*sub) return openat(dir, ".", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int at = dir, fd = -1;
    for (const char *part = sub;;) {
        const char *slash = strchr(part, '/');
        size_t len = slash ? (size_t)(slash - part) : strlen(part);
        char name[NAME_MAX + 1];
        if (len == 0 || len > NAME_MAX ||
            (part[0] == '.' && (len == 1 || (len == 2 && part[1] == '.'))))
            break;
        memcpy(name, part, len);
        name[len] = '\0';
        if (!slash) {
            fd = openat(at, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
            break;
        }
        int next = openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (at != dir) close(at);
        at = next;
        if (at < 0) break;
        part = slash + 1;
    }
    if (at >= 0 && at != dir) close(at);
    return fd;
}

/* Opens sub (a path below the web folder, "" for the folder itself) for
 * reading. No symlink below the folder is followed — through one, a file
 * outside it or hidden in it would be served — and the open never waits (a
 * FIFO put there would stop the loop). -1 when it cannot be opened. */
static int open_below(const char *web_dir, const char *sub)
{
    int dir = open(web_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int fd = (int)syscall(SYS_openat2, dir, *sub ? sub : ".", &how, sizeof how);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) fd = open_by_parts(dir, sub);
    close(dir);
    return fd;
}

void tc_static_handler(tc_http_exchange *x)
{
    const char *web_dir = x->site->web_dir;
    tc_buf rel = TC_BUF_INIT, path = TC_BUF_INIT, body = TC_BUF_INIT, hdr = TC_BUF_INIT;
    if (!tc_http_unescape(x->req->path, false, &rel) || rel.len == 0 || rel.base[0] != '/' ||
        memchr(rel.base, '\0', rel.len) || strstr(rel.base, "/..") || strstr(rel.base, "//")) {
        tc_http_reply_say(x, 400, TC_T_BAD_PATH);
        goto out;
    }
    /* No web folder: no files at all. Hidden files (/.git, /.env) are never
     * part of the page. */
    if (web_dir == NULL || strstr(rel.base, "/.")) {
        not_found(x);
        goto out;
    }
    /* path: below the folder, without the leading '/'. */
    tc_buf_append(&path, rel.base + 1, rel.len - 1);
    if (path.len == 0 || path.base[path.len - 1] == '/') tc_buf_append_str(&path, "index.html");
    int fd = open_below(web_dir, tc_buf_cstr(&path));
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        tc_buf_append_str(&path, "/index.html");
        fd = open_below(web_dir, tc_buf_cstr(&path));
    }
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TC_STATIC_MAX_FILE) {
        if (fd >= 0) close(fd);
        not_found(x);
        goto out;
    }
    char etag[80];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    const char *type = tc_static_content_type(path.base);
    /* The page itself is revalidated each time so a new release shows at once;
     * assets may be cached for an hour. */
    bool is_html = strncmp(type, "text/html", 9) == 0;
    tc_buf_appendf(&hdr, "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n",
                   etag, is_html ? "no-cache" : "public, max-age=3600");
    const tc_view *inm = tc_http_header_get(x->req, "If-None-Match");
    if (inm && tc_http_none_match(*inm, (tc_view){etag, strlen(etag)})) {
        close(fd);
        tc_http_reply(x, 304, NULL, hdr.base, NULL, 0);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    tc_buf_reserve(&body, size);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, body.base + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    body.len = got;
    tc_http_reply(x, 200, type, hdr.base, body.base, body.len);
out:
    tc_buf_free(&rel);
    tc_buf_free(&path);
    tc_buf_free(&body);
    tc_buf_free(&hdr);
}
