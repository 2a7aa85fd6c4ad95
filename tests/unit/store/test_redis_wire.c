#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/cart.h"
#include "store/redis_wire.h"

#include <stdio.h>
#include <string.h>

/* --- URL ----------------------------------------------------------------- */

static void url_ok(const char *rest, const char *host, int port, int db)
{
    tc_redis_url u;
    tc_errmsg err = {0};
    int rc = tc_redis_url_parse(rest, &u, &err);
    if (rc != 0) fail_msg("%s: %s", rest, err.text);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.db, db);
}

static void url_bad(const char *rest, const char *message)
{
    tc_redis_url u;
    tc_errmsg err = {0};
    assert_int_equal(tc_redis_url_parse(rest, &u, &err), TC_EINVAL);
    assert_string_equal(err.text, message);
}

static void test_url_forms(void **state)
{
    (void)state;
    url_ok("//127.0.0.1:6379", "127.0.0.1", 6379, 0);
    url_ok("//127.0.0.1", "127.0.0.1", 6379, 0);
    url_ok("//localhost:7000/", "localhost", 7000, 0);
    url_ok("//redis.internal:6380/3", "redis.internal", 6380, 3);
    url_ok("//10.0.0.5/15", "10.0.0.5", 6379, 15);
    url_ok("//[::1]:6379", "::1", 6379, 0);
    url_ok("//[::1]/2", "::1", 6379, 2);
    tc_redis_url u;
    tc_errmsg err = {0};
    assert_int_equal(tc_redis_url_parse("//app@redis.internal:6380/1", &u, &err), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.host, "redis.internal");
    assert_int_equal(u.port, 6380);
    assert_string_equal(u.password, "");
    url_ok("//h:1", "h", 1, 0);
    url_ok("//h:65535", "h", 65535, 0);
}

static void test_url_errors(void **state)
{
    (void)state;
    url_bad("127.0.0.1:6379", "store: redis:127.0.0.1:6379: expected redis://HOST:PORT");
    url_bad("//", "store: redis://: missing host");
    url_bad("//:6379", "store: redis://:6379: missing host");
    url_bad("//h:0", "store: redis://h:0: port must be 1-65535");
    url_bad("//h:65536", "store: redis://h:65536: port must be 1-65535");
    url_bad("//h:", "store: redis://h:: port must be 1-65535");
    url_bad("//h:63x9", "store: redis://h:63x9: port must be 1-65535");
    url_bad("//h:-1", "store: redis://h:-1: port must be 1-65535");
    url_bad("//h:6379/x", "store: redis://h:6379/x: database must be a number (/0, /1, ...)");
    url_bad("//h:6379/1/2", "store: redis://h:6379/1/2: database must be a number (/0, /1, ...)");
    url_bad("//h:6379/-1", "store: redis://h:6379/-1: database must be a number (/0, /1, ...)");
    /* A password in the URL is refused without echoing it. */
    url_bad("//user:s3cret@h:6379", TC_REDIS_NO_PASSWORD_IN_URL);
    url_bad("//:s3cret@h", TC_REDIS_NO_PASSWORD_IN_URL);
    /* Nor a URL that may hold one elsewhere: a message never shows a URL
     * with '@', '?' or '#'. */
    url_bad("//@h", "store: redis:(a URL with '@', '?' or '#', not shown): bad user before @");
    url_bad("//h/x@y", "store: redis:(a URL with '@', '?' or '#', not shown): bad user before @");
    url_bad("//h?x=1", "store: redis:(a URL with '@', '?' or '#', not shown): unsupported host (no "
                       "password or options)");
    url_bad("//h:6379/0?password=hunter2", "store: redis:(a URL with '@', '?' or '#', not shown): "
                                           "database must be a number (/0, /1, ...)");
    url_bad("//h:6379?password=hunter2",
            "store: redis:(a URL with '@', '?' or '#', not shown): port must be 1-65535");
    url_bad("/tc:hunter2@h:6379",
            "store: redis:(a URL with '@', '?' or '#', not shown): expected redis://HOST:PORT");
    url_bad("//[::1", "store: redis://[::1: missing ] after the address");
    url_bad("//[::1]x", "store: redis://[::1]x: expected :PORT after the host");
    char longhost[400] = "//";
    memset(longhost + 2, 'a', 300);
    longhost[302] = '\0';
    tc_redis_url u;
    tc_errmsg err;
    assert_int_equal(tc_redis_url_parse(longhost, &u, &err), TC_EINVAL);
    assert_non_null(strstr(err.text, "host name too long"));
}

static void test_cart_key(void **state)
{
    (void)state;
    char key[TC_REDIS_CART_KEY_SIZE];
    tc_redis_cart_key(123, key);
    assert_string_equal(key, "tablecart:cart:123");
    tc_redis_cart_key(INT32_MIN, key); /* the longest fits */
    assert_string_equal(key, "tablecart:cart:-2147483648");
}

static void test_channel(void **state)
{
    (void)state;
    tc_buf b = TC_BUF_INIT;
    tc_redis_table_channel_prefix(0, &b);
    assert_string_equal(tc_buf_cstr(&b), "tablecart:table:");
    tc_buf_reset(&b);
    tc_redis_table_channel_prefix(7, &b);
    assert_string_equal(tc_buf_cstr(&b), "tablecart:db7:table:");
    tc_buf_reset(&b);
    tc_redis_menu_channel(0, &b);
    assert_string_equal(tc_buf_cstr(&b), "tablecart:menu");
    tc_buf_reset(&b);
    tc_redis_menu_channel(7, &b);
    assert_string_equal(tc_buf_cstr(&b), "tablecart:db7:menu");
    tc_buf_free(&b);

    const char *pre = "tablecart:table:";
    size_t pl = strlen(pre);
    int32_t id = 0;
    assert_int_equal(tc_redis_channel_table("tablecart:table:123", 19, pre, pl, &id), 0);
    assert_int_equal(id, 123);
    assert_int_equal(tc_redis_channel_table("tablecart:table:2147483647", 26, pre, pl, &id), 0);
    assert_int_equal(id, INT32_MAX);
    const char *bad[] = {"tablecart:table:",   "tablecart:table:0123",       "tablecart:table:12x",
                         "tablecart:table:-1", "tablecart:table:2147483648", "tablecart:menu",
                         "tablecart:tablf:12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tc_redis_channel_table(bad[i], strlen(bad[i]), pre, pl, &id) != TC_EINVAL)
            fail_msg("accepted %s", bad[i]);
}

/* --- messages ------------------------------------------------------------ */

static void test_msg_round_trip(void **state)
{
    (void)state;
    const char *cart = "{\"tableId\":123,\"version\":1}";
    struct {
        uint64_t instance, origin;
        int64_t version;
    } cases[] = {{1, 0, 1}, {0x1edb510268d29542ull, 42, 7}, {UINT64_MAX, UINT64_MAX, INT64_MAX}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tc_buf b = TC_BUF_INIT;
        tc_redis_msg_header(&b, cases[i].instance, cases[i].origin, cases[i].version, NULL, 0);
        assert_int_equal(b.base[b.len - 1], '\n');
        tc_buf_append_str(&b, cart);
        tc_redis_msg m;
        assert_int_equal(tc_redis_msg_decode(b.base, b.len, &m), 0);
        assert_int_equal(m.kind, TC_REDIS_MSG_CART);
        assert_true(m.instance == cases[i].instance);
        assert_true(m.origin == cases[i].origin);
        assert_true(m.version == cases[i].version);
        assert_int_equal(m.body_len, strlen(cart));
        assert_memory_equal(m.body, cart, m.body_len);
        tc_buf_free(&b);
    }
    tc_buf b = TC_BUF_INIT;
    tc_redis_msg_header(&b, 0x00000000000000abull, 7, 12, NULL, 0);
    assert_string_equal(tc_buf_cstr(&b), "tc2 00000000000000ab 7 12\n");
    tc_buf_reset(&b);

    /* With the packed cart: any bytes, a newline and a NUL included. */
    tc_redis_msg_header(&b, 0x00000000000000abull, 7, 12, "p\n\0q", 4);
    assert_int_equal(b.len, 32);
    assert_memory_equal(b.base, "tc3 00000000000000ab 7 12 4\np\n\0q", 32);
    tc_buf_append_str(&b, cart);
    tc_redis_msg pm;
    assert_int_equal(tc_redis_msg_decode(b.base, b.len, &pm), 0);
    assert_int_equal(pm.kind, TC_REDIS_MSG_CART);
    assert_true(pm.version == 12 && pm.origin == 7 && pm.instance == 0xab);
    assert_int_equal(pm.pack_len, 4);
    assert_ptr_equal(pm.pack, b.base + 28);
    assert_int_equal(pm.body_len, strlen(cart));
    assert_memory_equal(pm.body, cart, pm.body_len);
    tc_buf_free(&b);

    tc_redis_msg m;
    assert_int_equal(tc_redis_msg_decode("ts1\n{\"who\":1}", 13, &m), 0);
    assert_int_equal(m.kind, TC_REDIS_MSG_SIGNAL);
    assert_int_equal(m.body_len, 9);
    assert_memory_equal(m.body, "{\"who\":1}", 9);
    assert_int_equal(tc_redis_msg_decode("ts1\n", 4, &m), 0);
    assert_int_equal(m.body_len, 0);
}

static void msg_bad(const char *text)
{
    tc_redis_msg m;
    if (tc_redis_msg_decode(text, strlen(text), &m) != TC_EINVAL) fail_msg("accepted %s", text);
}

static void test_msg_rejects(void **state)
{
    (void)state;
    msg_bad("");
    msg_bad("tc2 ");
    msg_bad("ts1");
    msg_bad("ts2\n{}");
    msg_bad("tc1 00000000000000ab 7\n{}"); /* the format before per-table channels */
    msg_bad("tc2 00000000000000ab 7\n{}");
    msg_bad("tc2 00000000000000AB 7 1\n{}");  /* uppercase hex */
    msg_bad("tc2 000000000000000ab 7 1\n{}"); /* 17 digits */
    msg_bad("tc2 0000000000000ab 7 1\n{}");   /* 15 digits */
    msg_bad("tc2 00000000000000ab  7 1\n{}");
    msg_bad("tc2 00000000000000ab 07 1\n{}");
    msg_bad("tc2 00000000000000ab 7 01\n{}");
    msg_bad("tc2 00000000000000ab \n{}");
    msg_bad("tc2 00000000000000ab 7 1");
    msg_bad("tc2 00000000000000ab 7 1 \n{}");
    msg_bad("tc2 00000000000000ab 18446744073709551616 1\n{}"); /* 2^64 */
    msg_bad("tc2 00000000000000ab 7 9223372036854775808\n{}");  /* 2^63 */
    msg_bad("tc2 00000000000000ab -1 1\n{}");
    msg_bad("tc2 00000000000000ab 1 -1\n{}");
    msg_bad("tc3 00000000000000ab 7 1\n{}");     /* no pack length */
    msg_bad("tc3 00000000000000ab 7 1 0\n{}");   /* an empty pack is a tc2 */
    msg_bad("tc3 00000000000000ab 7 1 03\nabc"); /* not canonical */
    msg_bad("tc3 00000000000000ab 7 1 4\nabc");  /* longer than the message */
    msg_bad("tc3 00000000000000ab 7 1 3 \nabc");
    /* An empty cart part still splits; the cart parser refuses it later. */
    tc_redis_msg m;
    assert_int_equal(tc_redis_msg_decode("tc2 00000000000000ab 0 0\n", 25, &m), 0);
    assert_int_equal(m.body_len, 0);
    assert_null(m.pack);
    assert_int_equal(tc_redis_msg_decode("tc3 00000000000000ab 0 0 3\nabc", 30, &m), 0);
    assert_int_equal(m.pack_len, 3);
    assert_int_equal(m.body_len, 0);
}

/* Whether body, heard as a change of version on table's channel, is fed. */
static bool fits(const char *body, int64_t version, int32_t table)
{
    tc_redis_msg m = {
        .kind = TC_REDIS_MSG_CART, .version = version, .body = body, .body_len = strlen(body)};
    return tc_redis_msg_cart_fits(&m, table);
}

static void test_msg_cart_fits(void **state)
{
    (void)state;
    /* What the encoder writes: a new cart (updatedAt null), then a changed one. */
    tc_table tab = {.table_id = 123, .table_number = "A01", .store_id = 1};
    tc_cart *c = tc_cart_new(&tab);
    tc_buf b = TC_BUF_INIT;
    tc_cart_to_json(c, &tab, &b);
    tc_cart_free(c);
    assert_true(fits(tc_buf_cstr(&b), 0, 123));
    assert_false(fits(b.base, 1, 123));
    assert_false(fits(b.base, 0, 124));
    tc_buf_free(&b);
    const char *v7 = "{\"tableId\":123,\"items\":[],\"version\":7,\"updatedAt\":1704067200000}";
    assert_true(fits(v7, 7, 123));
    assert_false(fits(v7, 77, 123));
    assert_false(fits(v7, 6, 123));
    assert_false(fits(v7, 7, 12));
    assert_false(fits(v7, 7, 1234));
    assert_true(fits("{\"tableId\":-5,\"version\":1,\"updatedAt\":1}", 1, -5));

    /* What no instance writes. */
    assert_false(fits("", 1, 123));
    assert_false(fits("{bad", 999, 123));
    assert_false(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":}", 7, 123));
    assert_false(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":12", 7, 123));
    assert_false(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":1x}", 7, 123));
    assert_false(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":nul}", 7, 123));
    assert_false(fits("{\"tableId\":123,\"updatedAt\":1}", 7, 123));
    assert_false(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":1} ", 7, 123));
    assert_true(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":null}", 7, 123));
    /* Head and tail may not share bytes. */
    assert_true(fits("{\"tableId\":7,\"version\":7,\"updatedAt\":1}", 7, 7));
    assert_true(fits("{\"tableId\":123,\"version\":7,\"updatedAt\":1}", 7, 123));
    /* A line break would end the SSE data line: an event of its own. */
    assert_false(
        fits("{\"tableId\":123,\"items\":[\n\nevent: x\n],\"version\":7,\"updatedAt\":1}", 7, 123));
    assert_false(fits("{\"tableId\":123,\"items\":[\r],\"version\":7,\"updatedAt\":1}", 7, 123));
    /* A signal is no cart. */
    tc_redis_msg sig = {.kind = TC_REDIS_MSG_SIGNAL, .body = v7, .body_len = strlen(v7)};
    assert_false(tc_redis_msg_cart_fits(&sig, 123));
}

static int64_t updated_at(const char *body)
{
    tc_redis_msg m = {
        .kind = TC_REDIS_MSG_CART, .version = 7, .body = body, .body_len = strlen(body)};
    return tc_redis_msg_updated_at(&m);
}

/* The updatedAt a change's cart ends with: what tells two writes of one
 * version apart (a version Redis lost, written again elsewhere). */
static void test_msg_updated_at(void **state)
{
    (void)state;
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updatedAt\":1704067200000}"),
                     1704067200000);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":0,\"updatedAt\":null}"), -1);
    assert_int_equal(updated_at("{\"updatedAt\":0}"), 0);
    assert_int_equal(updated_at("{\"updatedAt\":999999999999999999}"), 999999999999999999);
    /* Not known: no such tail, or a number too long to be one. */
    assert_int_equal(updated_at("{\"updatedAt\":1000000000000000000}"), INT64_MIN);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updatedAt\":}"), INT64_MIN);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updatedAt\":12"), INT64_MIN);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updatedAt\":1x}"), INT64_MIN);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updated\":12}"), INT64_MIN);
    assert_int_equal(updated_at("{\"tableId\":123,\"version\":7,\"updatedAt\":nul}"), INT64_MIN);
    assert_int_equal(updated_at("12}"), INT64_MIN);
    assert_int_equal(updated_at(""), INT64_MIN);
    const char *v7 = "{\"updatedAt\":5}";
    tc_redis_msg sig = {.kind = TC_REDIS_MSG_SIGNAL, .body = v7, .body_len = strlen(v7)};
    assert_int_equal(tc_redis_msg_updated_at(&sig), INT64_MIN);
}

/* --- menu ---------------------------------------------------------------- */

static const char menu_a[] =
    "{\"stores\":[{\"storeId\":2,\"name\":\"Two\",\"tables\":[{\"tableId\":200,\"tableNumber\":"
    "\"B01\"}],\"cuisines\":[{\"cuisineId\":2001,\"cuisineName\":\"面\",\"cuisineType\":1,"
    "\"unitPrice\":12}]},"
    "{\"storeId\":1,\"name\":\"Demo \\\"Kitchen\\\"\",\"tables\":[{\"tableId\":124,"
    "\"tableNumber\":\"A02\"},{\"tableId\":123,\"tableNumber\":\"A01\"}],"
    "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"cuisineImage\":\"https://example.com/a.jpg?x=1&y=2\",\"unitPrice\":38.00},"
    "{\"cuisineId\":1003,\"cuisineName\":\"夫妻肺片\",\"cuisineType\":2,\"unitPrice\":0.10,"
    "\"available\":false},"
    "{\"cuisineId\":1004,\"cuisineName\":\"贵\",\"cuisineType\":1,\"unitPrice\":99999999.99}]}]}";

static tc_menu *parse(const char *text)
{
    tc_menu *m = NULL;
    tc_errmsg err;
    if (tc_menu_parse(text, strlen(text), &m, &err) != 0) fail_msg("%s", err.text);
    return m;
}

static void menu_text(const tc_menu *m, tc_buf *out)
{
    tc_redis_menu_json(m, out);
    tc_buf_cstr(out);
}

static void test_menu_json(void **state)
{
    (void)state;
    tc_menu *m = parse(menu_a);
    tc_buf b = TC_BUF_INIT;
    menu_text(m, &b);
    assert_string_equal(
        b.base,
        "{\"stores\":[\n{\"storeId\":1,\"name\":\"Demo \\\"Kitchen\\\"\",\"tables\":["
        "{\"tableId\":123,\"tableNumber\":\"A01\"},{\"tableId\":124,\"tableNumber\":\"A02\"}],"
        "\"cuisines\":[{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
        "\"cuisineImage\":\"https://example.com/a.jpg?x=1&y=2\",\"unitPrice\":38.00,"
        "\"available\":true},{\"cuisineId\":1003,\"cuisineName\":\"夫妻肺片\",\"cuisineType\":2,"
        "\"cuisineImage\":null,\"unitPrice\":0.10,\"available\":false},{\"cuisineId\":1004,"
        "\"cuisineName\":\"贵\",\"cuisineType\":1,\"cuisineImage\":null,"
        "\"unitPrice\":99999999.99,\"available\":true}]},\n"
        "{\"storeId\":2,\"name\":\"Two\",\"tables\":[{\"tableId\":200,\"tableNumber\":\"B01\"}],"
        "\"cuisines\":[{\"cuisineId\":2001,\"cuisineName\":\"面\",\"cuisineType\":1,"
        "\"cuisineImage\":null,\"unitPrice\":12.00,\"available\":true}]}]}");

    /* It reads back to the same menu, which prints the same. */
    tc_menu *back = parse(b.base);
    tc_buf again = TC_BUF_INIT;
    menu_text(back, &again);
    assert_string_equal(again.base, b.base);
    const tc_cuisine *c = tc_menu_cuisine(back, 1004);
    assert_non_null(c);
    assert_true(c->unit_price == 9999999999);
    assert_false(tc_menu_cuisine(back, 1003)->available);

    tc_buf_free(&again);
    tc_buf_free(&b);
    tc_menu_free(back);
    tc_menu_free(m);
}

static void test_menu_empty(void **state)
{
    (void)state;
    tc_menu *m = tc_menu_new();
    tc_menu_freeze(m);
    tc_buf b = TC_BUF_INIT;
    menu_text(m, &b);
    assert_string_equal(b.base, "{\"stores\":[]}");
    tc_menu *back = parse(b.base);
    assert_int_equal(tc_menu_store_count(back), 0);
    tc_buf_free(&b);
    tc_menu_free(back);
    tc_menu_free(m);
}

static void test_menu_merge(void **state)
{
    (void)state;
    tc_menu *base = parse(menu_a);
    /* Renames store 1, moves table 124 to store 3, reprices 1001, adds 1005;
     * keeps the rest. */
    tc_menu *update = parse(
        "{\"stores\":[{\"storeId\":1,\"name\":\"New Name\",\"tables\":[],\"cuisines\":["
        "{\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,\"unitPrice\":40},"
        "{\"cuisineId\":1005,\"cuisineName\":\"汤\",\"cuisineType\":1,\"unitPrice\":5.5}]},"
        "{\"storeId\":3,\"name\":\"Three\",\"tables\":[{\"tableId\":124,\"tableNumber\":\"C9\"}]}"
        "]}");
    tc_menu *m = tc_redis_menu_merge(base, update);
    assert_int_equal(tc_menu_store_count(m), 3);
    assert_string_equal(tc_menu_store(m, 1)->name, "New Name");
    assert_string_equal(tc_menu_store(m, 2)->name, "Two");
    assert_int_equal(tc_menu_table_count(m), 3);
    assert_int_equal(tc_menu_table(m, 124)->store_id, 3);
    assert_string_equal(tc_menu_table(m, 124)->table_number, "C9");
    assert_int_equal(tc_menu_table(m, 123)->store_id, 1);
    assert_int_equal(tc_menu_cuisine_count(m), 5);
    assert_true(tc_menu_cuisine(m, 1001)->unit_price == 4000);
    assert_null(tc_menu_cuisine(m, 1001)->cuisine_image);
    assert_true(tc_menu_cuisine(m, 1005)->unit_price == 550);
    assert_false(tc_menu_cuisine(m, 1003)->available);

    /* What is stored reads back to the merged menu. */
    tc_buf b = TC_BUF_INIT;
    menu_text(m, &b);
    tc_menu *back = parse(b.base);
    tc_buf again = TC_BUF_INIT;
    menu_text(back, &again);
    assert_string_equal(again.base, b.base);

    /* No base: the update alone. */
    tc_menu *only = tc_redis_menu_merge(NULL, update);
    assert_int_equal(tc_menu_store_count(only), 2);
    assert_null(tc_menu_table(only, 123));

    tc_buf_free(&b);
    tc_buf_free(&again);
    tc_menu_free(only);
    tc_menu_free(back);
    tc_menu_free(m);
    tc_menu_free(update);
    tc_menu_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_forms),      cmocka_unit_test(test_url_errors),
        cmocka_unit_test(test_channel),        cmocka_unit_test(test_cart_key),
        cmocka_unit_test(test_msg_round_trip), cmocka_unit_test(test_msg_rejects),
        cmocka_unit_test(test_msg_cart_fits),  cmocka_unit_test(test_msg_updated_at),
        cmocka_unit_test(test_menu_json),      cmocka_unit_test(test_menu_empty),
        cmocka_unit_test(test_menu_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
