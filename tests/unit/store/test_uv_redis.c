/* test_uv_redis.c — hiredis's async context on a libuv loop (store/uv_redis):
 * what tc_uv_redis_attach answers, and that freeing the context releases
 * every handle the adapter opened (uv_loop_close succeeds). No Redis is
 * needed: the context connects to a socket of the test that listens and
 * never answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "store/uv_redis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A socket listening on 127.0.0.1:0; its port in *port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t n = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static redisAsyncContext *connect_to(int port)
{
    redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", port);
    assert_non_null(ac);
    assert_int_equal(ac->err, 0);
    return ac;
}

static void finish_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT); /* the adapter's close callbacks */
    assert_int_equal(uv_loop_close(loop), 0);
}

/* Attached once: 0; a second attach is refused with TC_EINVAL and changes
 * nothing; redisAsyncFree then closes the adapter's three handles. */
static void test_attach_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int port, lfd = listener(&port);
    redisAsyncContext *ac = connect_to(port);
    assert_int_equal(tc_uv_redis_attach(ac, &loop), 0);
    void *data = ac->ev.data;
    assert_non_null(data);
    assert_int_equal(tc_uv_redis_attach(ac, &loop), TC_EINVAL);
    assert_ptr_equal(ac->ev.data, data);
    redisAsyncFree(ac);
    finish_loop(&loop);
    close(lfd);
}

/* A descriptor epoll cannot watch (here /dev/null in the context's place):
 * TC_EIO, and the context is left without an event library for its owner
 * to free. */
static void test_attach_unpollable(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int port, lfd = listener(&port);
    redisAsyncContext *ac = connect_to(port);
    int null = open("/dev/null", O_RDWR);
    assert_true(null >= 0);
    assert_true(dup2(null, ac->c.fd) >= 0);
    close(null);
    assert_int_equal(tc_uv_redis_attach(ac, &loop), TC_EIO);
    assert_null(ac->ev.data);
    redisAsyncFree(ac);
    finish_loop(&loop);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attach_once),
        cmocka_unit_test(test_attach_unpollable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
