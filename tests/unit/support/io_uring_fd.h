/* io_uring_fd.h — for unit tests of code on io_uring: makes this process's
 * rings stop working, as a ring the kernel no longer serves would, by putting
 * /dev/null in place of their descriptors (io_uring_enter then fails). Include
 * after <cmocka.h>. */
#ifndef TC_TEST_IO_URING_FD_H
#define TC_TEST_IO_URING_FD_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Replaces every io_uring descriptor of this process with /dev/null.
 * Returns how many it replaced. */
static inline int tl_break_io_urings(void)
{
    int broken = 0;
    for (int fd = 3; fd < 1024; fd++) {
        char path[64], link[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0) continue;
        link[n] = '\0';
        if (strcmp(link, "anon_inode:[io_uring]") != 0) continue;
        int null = open("/dev/null", O_RDWR);
        assert_true(null >= 0);
        assert_int_equal(dup2(null, fd), fd);
        close(null);
        broken++;
    }
    return broken;
}

#endif
