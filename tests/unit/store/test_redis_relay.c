/* test_redis_relay.c — the Redis backend's side of store/relay.c, against a
 * real redis-server this test starts (a free port on 127.0.0.1, no disk):
 * two stores on one loop are two instances. A signal reaches every instance
 * that follows its table, the sender included, and no other; following is
 * one SUBSCRIBE per table (PUBSUB NUMSUB); `menu import` makes both
 * instances read the menu again and replace the served one (an import that
 * changes nothing replaces nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/backend.h"
#include "store/redis_sync.h"
#include "support/uv_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char menu_text[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo\","
    "\"tables\":[{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,\"tableNumber\":"
    "\"A02\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"unitPrice\":38.00}]}]}";

static const char menu_more[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo\","
    "\"tables\":[{\"tableId\":125,\"tableNumber\":\"A03\"}],\"cuisines\":[]}]}";

/* ===== the redis-server of this file ========================================== */

static struct {
    pid_t pid;
    int port;
    char dir[32];
    char url[64];
    tc_redis_url u;
} R;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A blocking connection for the test's own questions; NULL while Redis
 * does not answer yet. */
static redisContext *redis_sync(void)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", R.port, tv);
    if (c == NULL || c->err) {
        redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int redis_start(void **state)
{
    (void)state;
    R.port = free_port();
    snprintf(R.dir, sizeof R.dir, "/tmp/tc-redis-XXXXXX");
    assert_non_null(mkdtemp(R.dir));
    char port[16];
    snprintf(port, sizeof port, "%d", R.port);
    char *argv[] = {"redis-server", "--port", port,           "--bind", "127.0.0.1", "--save", "",
                    "--dir",        R.dir,    "--appendonly", "no",     NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    assert_int_equal(posix_spawnp(&R.pid, "redis-server", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    /* Ready when it answers PING: polled, at most 5 s. */
    redisContext *c = NULL;
    for (int i = 0; i < 500 && (c = redis_sync()) == NULL; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    assert_non_null(c);
    redisFree(c);
    snprintf(R.url, sizeof R.url, "redis://127.0.0.1:%d", R.port);
    tc_errmsg err = {0};
    assert_int_equal(tc_redis_url_parse(R.url + 6, &R.u, &err), 0);
    return 0;
}

static int redis_stop(void **state)
{
    (void)state;
    kill(R.pid, SIGKILL);
    waitpid(R.pid, NULL, 0);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", R.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static long long numsub(int32_t table_id)
{
    redisContext *c = redis_sync();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "PUBSUB NUMSUB tablecart:table:%d", (int)table_id);
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    long long n = r->element[1]->integer;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

static void import(const char *text)
{
    tc_menu *m;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(text, strlen(text), &m, &err), 0);
    assert_int_equal(tc_redis_sync_import_menu(&R.u, R.url, m, &err), 0);
    tc_menu_free(m);
}

/* ===== two instances ========================================================== */

typedef struct {
    tc_store *s;
    char fed[256]; /* "123:hi " per signal fed */
    int signals, menus;
} instance;

typedef struct {
    tl_env e;
    instance a, b;
} fixture;

static void on_signal(void *ctx, int32_t id, const char *msg, size_t len)
{
    instance *i = ctx;
    size_t n = strlen(i->fed);
    snprintf(i->fed + n, sizeof i->fed - n, "%d:%.*s ", (int)id, (int)len, msg);
    i->signals++;
}

static void on_menu(void *ctx)
{
    ((instance *)ctx)->menus++;
}

static void open_instance(fixture *f, instance *i)
{
    tc_errmsg err = {0};
    assert_int_equal(tc_store_open(R.url, NULL, &f->e.loop, &i->s, &err), 0);
    tc_store_set_signal_feed(i->s, on_signal, i);
    tc_store_set_menu_feed(i->s, on_menu, i);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    tl_init(&f->e);
    redisContext *c = redis_sync();
    freeReplyObject(redisCommand(c, "FLUSHALL"));
    redisFree(c);
    import(menu_text);
    open_instance(f, &f->a);
    open_instance(f, &f->b);
    /* Both current: connected, subscribed, resynced. */
    TL_RUN_UNTIL(&f->e, tc_store_ping(f->a.s) == 0 && tc_store_ping(f->b.s) == 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tc_store_close(f->a.s);
    tc_store_close(f->b.s);
    uv_run(&f->e.loop, UV_RUN_DEFAULT); /* until the links are gone */
    tl_finish(&f->e, NULL, 0);
    free(f);
    return 0;
}

/* ===== tests ================================================================== */

static void test_signals_reach_the_followers_only(void **state)
{
    fixture *f = *state;
    tc_store_follow(f->b.s, 123);
    tc_store_follow(f->b.s, 123); /* nested: still one subscription */
    TL_RUN_UNTIL(&f->e, numsub(123) == 1);
    tc_store_signal(f->a.s, 124, "x", 1); /* nobody follows 124 */
    tc_store_signal(f->a.s, 123, "hello", 5);
    TL_RUN_UNTIL(&f->e, f->b.signals == 1);
    assert_string_equal(f->b.fed, "123:hello ");

    tc_store_follow(f->a.s, 123); /* the sender hears its own signals too */
    TL_RUN_UNTIL(&f->e, numsub(123) == 2);
    tc_store_signal(f->a.s, 123, "again", 5);
    TL_RUN_UNTIL(&f->e, f->a.signals == 1 && f->b.signals == 2);
    assert_string_equal(f->a.fed, "123:again ");
    assert_string_equal(f->b.fed, "123:hello 123:again ");

    tc_store_unfollow(f->b.s, 123);
    assert_int_equal(numsub(123), 2); /* one follow is left */
    tc_store_unfollow(f->b.s, 123);
    TL_RUN_UNTIL(&f->e, numsub(123) == 1);
    tc_store_signal(f->b.s, 123, "third", 5); /* a non-follower may send */
    TL_RUN_UNTIL(&f->e, f->a.signals == 2);
    assert_string_equal(f->a.fed, "123:again 123:third ");
    assert_string_equal(f->b.fed, "123:hello 123:again ");
    assert_int_equal(numsub(124), 0);
}

static void test_follow_unfollow_follow_at_once(void **state)
{
    fixture *f = *state;
    /* Before any confirmation comes: the channel ends up subscribed once. */
    tc_store_follow(f->b.s, 123);
    tc_store_unfollow(f->b.s, 123);
    tc_store_follow(f->b.s, 123);
    tc_store_unfollow(f->b.s, 123);
    tc_store_follow(f->b.s, 123);
    TL_RUN_UNTIL(&f->e, numsub(123) == 1);
    tc_store_signal(f->a.s, 123, "on", 2);
    TL_RUN_UNTIL(&f->e, f->b.signals == 1);
    assert_string_equal(f->b.fed, "123:on ");
}

static void test_menu_import_replaces_the_served_menu(void **state)
{
    fixture *f = *state;
    assert_null(tc_menu_table(tc_store_menu(f->a.s), 125));
    import(menu_text); /* the same menu: read again, nothing replaced */
    import(menu_more);
    TL_RUN_UNTIL(&f->e, f->a.menus >= 1 && f->b.menus >= 1);
    const tc_table *t = tc_menu_table(tc_store_menu(f->b.s), 125);
    assert_non_null(t);
    assert_string_equal(t->table_number, "A03");
    assert_non_null(tc_menu_table(tc_store_menu(f->a.s), 125));
    assert_non_null(tc_menu_table(tc_store_menu(f->a.s), 123)); /* merged, not replaced */
    /* The second read (for the second message) was sent when the first was
     * answered; each instance's own signal, sent after it on the same
     * connection, comes back after its answer: one replacement each. */
    tc_store_follow(f->a.s, 124);
    tc_store_follow(f->b.s, 124);
    TL_RUN_UNTIL(&f->e, numsub(124) == 2);
    tc_store_signal(f->a.s, 124, "za", 2);
    tc_store_signal(f->b.s, 124, "zb", 2);
    TL_RUN_UNTIL(&f->e, f->a.signals == 2 && f->b.signals == 2);
    assert_int_equal(f->a.menus, 1);
    assert_int_equal(f->b.menus, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signals_reach_the_followers_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_follow_unfollow_follow_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_menu_import_replaces_the_served_menu, setup, teardown),
    };
    return cmocka_run_group_tests(tests, redis_start, redis_stop);
}
