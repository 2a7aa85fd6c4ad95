/* test_files.c — the files the commands read (cli/files): tc_cli_read_file's
 * cap (exactly max is read, max + 1 is TC_ELIMIT, /dev/zero stops after the
 * first chunk past max) and its errors with their reasons; the Redis password
 * from --redis-password-file or the environment (one line, a final line end
 * dropped, the size limit, wiped from the environment); a resource found in
 * the working directory; closed standard descriptors opened on /dev/null. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/cli.h"
#include "core/err.h"
#include "store/redis_wire.h"
#include "support/tmp_dir.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return tt_dir_make(dir, sizeof dir, "tc-files");
}

static int teardown(void **state)
{
    (void)state;
    return tt_dir_remove(dir);
}

/* dir/name holding len bytes of data; the path in path. */
static void put(const char *name, const void *data, size_t len, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_read_whole_file_appends(void **state)
{
    (void)state;
    /* Several chunks (8 KiB each), and a byte pattern that shows order. */
    size_t len = 20000;
    unsigned char *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + i / 251);
    char path[128];
    put("big", data, len, path, sizeof path);
    tc_buf out = TC_BUF_INIT;
    tc_buf_append_str(&out, "head:");
    tc_errmsg err;
    assert_int_equal(tc_cli_read_file(path, len, &out, &err), 0);
    assert_int_equal(out.len, 5 + len);
    assert_memory_equal(out.base, "head:", 5);
    assert_memory_equal(out.base + 5, data, len);
    tc_buf_free(&out);
    free(data);
}

static void test_empty_file(void **state)
{
    (void)state;
    char path[128];
    put("empty", "", 0, path, sizeof path);
    tc_buf out = TC_BUF_INIT;
    tc_errmsg err;
    assert_int_equal(tc_cli_read_file(path, 0, &out, &err), 0);
    assert_int_equal(out.len, 0);
    tc_buf_free(&out);
}

/* max bytes are read, max + 1 are refused; at the 8 KiB chunk's edges too. */
static void test_cap_is_exact(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 100, 8191, 8192, 8193, 16384};
    char *data = malloc(16385);
    memset(data, 'm', 16385);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t max = sizes[k];
        char path[128];
        put("exact", data, max, path, sizeof path);
        tc_buf out = TC_BUF_INIT;
        tc_errmsg err;
        assert_int_equal(tc_cli_read_file(path, max, &out, &err), 0);
        assert_int_equal(out.len, max);
        tc_buf_free(&out);

        put("over", data, max + 1, path, sizeof path);
        out = (tc_buf)TC_BUF_INIT;
        assert_int_equal(tc_cli_read_file(path, max, &out, &err), TC_ELIMIT);
        char want[256];
        snprintf(want, sizeof want, "%s: larger than %zu bytes", path, max);
        assert_string_equal(err.text, want);
        tc_buf_free(&out);
    }
    free(data);
}

/* An endless file fails after the first chunk past max: it does not fill
 * memory. */
static void test_endless_file_stops(void **state)
{
    (void)state;
    tc_buf out = TC_BUF_INIT;
    tc_errmsg err;
    assert_int_equal(tc_cli_read_file("/dev/zero", 100, &out, &err), TC_ELIMIT);
    assert_string_equal(err.text, "/dev/zero: larger than 100 bytes");
    assert_true(out.len > 100);
    assert_true(out.len <= 100 + 8192);
    tc_buf_free(&out);
}

static void test_errors_say_why(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/missing", dir);
    tc_buf out = TC_BUF_INIT;
    tc_errmsg err;
    assert_int_equal(tc_cli_read_file(path, 10, &out, &err), TC_EIO);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err.text, want);
    assert_int_equal(out.len, 0);

    /* A folder opens but cannot be read. */
    assert_int_equal(tc_cli_read_file(dir, 10, &out, &err), TC_EIO);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    assert_string_equal(err.text, want);
    assert_int_equal(out.len, 0);
    tc_buf_free(&out);
}

/* --- the Redis password ------------------------------------------------------ */

static int password_from_file(const char *content, size_t len, tc_buf *out)
{
    char path[128];
    put("pw", content, len, path, sizeof path);
    tc_config cfg = {.store_url = "redis://127.0.0.1:6379", .redis_password_file = path};
    *out = (tc_buf)TC_BUF_INIT;
    return tc_cli_redis_password(&cfg, out);
}

static void test_password_file_one_line(void **state)
{
    (void)state;
    tc_buf out;
    assert_int_equal(password_from_file("s3cret\n", 7, &out), 0);
    assert_int_equal(out.len, 6);
    assert_string_equal(out.base, "s3cret"); /* NUL-terminated */
    tc_buf_free(&out);

    assert_int_equal(password_from_file("s3cret\r\n", 8, &out), 0);
    assert_string_equal(out.base, "s3cret");
    tc_buf_free(&out);

    assert_int_equal(password_from_file("s3cret", 6, &out), 0);
    assert_string_equal(out.base, "s3cret");
    tc_buf_free(&out);
}

static void test_password_file_refusals(void **state)
{
    (void)state;
    tc_buf out;
    /* Refusals wipe and free out. */
    assert_int_not_equal(password_from_file("", 0, &out), 0);
    assert_null(out.base);
    assert_int_not_equal(password_from_file("\n", 1, &out), 0);
    assert_null(out.base);
    assert_int_not_equal(password_from_file("a\nb\n", 4, &out), 0);
    assert_null(out.base);
    assert_int_not_equal(password_from_file("a\0b", 3, &out), 0);
    assert_null(out.base);

    /* The longest: TC_REDIS_PASSWORD_SIZE - 1 bytes, with or without its line
     * end; one more is refused, and so is a file far longer. */
    char big[3 * 8192];
    memset(big, 'p', sizeof big);
    size_t longest = TC_REDIS_PASSWORD_SIZE - 1;
    big[longest] = '\n';
    assert_int_equal(password_from_file(big, longest + 1, &out), 0);
    assert_int_equal(out.len, longest);
    tc_buf_free(&out);
    assert_int_equal(password_from_file(big, longest, &out), 0);
    assert_int_equal(out.len, longest);
    tc_buf_free(&out);
    big[longest] = 'p';
    assert_int_not_equal(password_from_file(big, longest + 1, &out), 0);
    assert_null(out.base);
    assert_int_not_equal(password_from_file(big, sizeof big, &out), 0);
    assert_null(out.base);

    tc_config cfg = {.store_url = "redis://127.0.0.1:6379", .redis_password_file = "/nonexistent"};
    out = (tc_buf)TC_BUF_INIT;
    assert_int_not_equal(tc_cli_redis_password(&cfg, &out), 0);
    assert_null(out.base);
}

static void test_password_from_environment(void **state)
{
    (void)state;
    tc_config cfg = {.store_url = "redis://127.0.0.1:6379"};
    tc_buf out = TC_BUF_INIT;
    unsetenv("TABLECART_REDIS_PASSWORD");
    assert_int_equal(tc_cli_redis_password(&cfg, &out), 0);
    assert_int_equal(out.len, 0); /* none */

    setenv("TABLECART_REDIS_PASSWORD", "from-env", 1);
    assert_int_equal(tc_cli_redis_password(&cfg, &out), 0);
    assert_string_equal(out.base, "from-env");
    assert_null(getenv("TABLECART_REDIS_PASSWORD")); /* wiped */
    tc_buf_free(&out);

    /* Another store reads nothing, and leaves the variable alone. */
    tc_config sq = {.store_url = "sqlite:./x.db"};
    setenv("TABLECART_REDIS_PASSWORD", "kept", 1);
    out = (tc_buf)TC_BUF_INIT;
    assert_int_equal(tc_cli_redis_password(&sq, &out), 0);
    assert_int_equal(out.len, 0);
    assert_string_equal(getenv("TABLECART_REDIS_PASSWORD"), "kept");
    tc_buf_free(&out);
    unsetenv("TABLECART_REDIS_PASSWORD");
}

/* --- resources and descriptors ----------------------------------------------- */

static void test_resource_in_working_directory(void **state)
{
    (void)state;
    char path[128], cwd[4096];
    put("tc-only-here.txt", "x", 1, path, sizeof path);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    char *found = tc_cli_find_resource("tc-only-here.txt");
    assert_non_null(found);
    assert_string_equal(found, "tc-only-here.txt");
    free(found);
    assert_null(tc_cli_find_resource("tc-nowhere.txt"));
    assert_null(tc_cli_find_beside_binary("tc-nowhere.txt"));
    assert_int_equal(chdir(cwd), 0);
}

static void test_closed_std_fds_get_dev_null(void **state)
{
    (void)state;
    int saved = dup(STDIN_FILENO);
    assert_true(saved > STDERR_FILENO);
    assert_int_equal(close(STDIN_FILENO), 0);
    tc_cli_open_std_fds();
    struct stat got, null;
    assert_int_equal(fstat(STDIN_FILENO, &got), 0);
    assert_int_equal(stat("/dev/null", &null), 0);
    assert_int_equal(got.st_rdev, null.st_rdev);
    assert_int_equal(fcntl(STDIN_FILENO, F_GETFL) & O_ACCMODE, O_RDONLY);
    /* Open ones are left as they are. */
    tc_cli_open_std_fds();
    assert_int_equal(fcntl(saved, F_GETFD) != -1, 1);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_whole_file_appends),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_cap_is_exact),
        cmocka_unit_test(test_endless_file_stops),
        cmocka_unit_test(test_errors_say_why),
        cmocka_unit_test(test_password_file_one_line),
        cmocka_unit_test(test_password_file_refusals),
        cmocka_unit_test(test_password_from_environment),
        cmocka_unit_test(test_resource_in_working_directory),
        cmocka_unit_test(test_closed_std_fds_get_dev_null),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
