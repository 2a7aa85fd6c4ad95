#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cart/menu.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tc_menu *parse_ok(const char *text)
{
    tc_menu *m = NULL;
    tc_errmsg err = {0};
    int rc = tc_menu_parse(text, strlen(text), &m, &err);
    if (rc != 0) fail_msg("parse failed: %s", err.text);
    assert_non_null(m);
    return m;
}

/* Parses text expecting failure with exactly message want; *out untouched. */
static void parse_bad(const char *text, const char *want)
{
    tc_menu *sentinel = (tc_menu *)(uintptr_t)0x1234;
    tc_menu *m = sentinel;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(text, strlen(text), &m, &err), TC_EINVAL);
    assert_ptr_equal(m, sentinel);
    assert_string_equal(err.text, want);
}

/* Same, for jansson's own syntax messages: only our prefix and the gist are
 * checked, not the exact column wording of one jansson version. */
static void parse_bad_syntax(const char *text, const char *prefix, const char *gist)
{
    tc_menu *sentinel = (tc_menu *)(uintptr_t)0x1234;
    tc_menu *m = sentinel;
    tc_errmsg err = {0};
    assert_int_equal(tc_menu_parse(text, strlen(text), &m, &err), TC_EINVAL);
    assert_ptr_equal(m, sentinel);
    assert_int_equal(strncmp(err.text, prefix, strlen(prefix)), 0);
    assert_non_null(strstr(err.text, gist));
}

static const char small_menu[] =
    "{\"stores\":[{\"storeId\":1,\"name\":\"Demo Kitchen\","
    " \"tables\":[{\"tableId\":124,\"tableNumber\":\"A02\"},{\"tableId\":123,\"tableNumber\":"
    "\"A01\"}],"
    " \"cuisines\":[{\"cuisineId\":1002,\"cuisineName\":\"米饭\",\"cuisineType\":1,"
    "\"unitPrice\":2},"
    "  {\"cuisineId\":1001,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
    "\"cuisineImage\":\"https://example.com/image.jpg\",\"unitPrice\":38.00},"
    "  {\"cuisineId\":2001,\"cuisineName\":\"双人\\\"套餐\\\"\",\"cuisineType\":2,"
    "\"cuisineImage\":\"\",\"unitPrice\":12.5,\"available\":false}]},"
    " {\"storeId\":2,\"name\":\"Other\",\"tables\":[{\"tableId\":200,\"tableNumber\":\"B1\"}],"
    "  \"cuisines\":[{\"cuisineId\":3001,\"cuisineName\":\"面\",\"cuisineType\":1,"
    "\"unitPrice\":9.9}]}]}";

static void test_parse_and_lookup(void **state)
{
    (void)state;
    tc_menu *m = parse_ok(small_menu);
    assert_int_equal(tc_menu_store_count(m), 2);
    assert_int_equal(tc_menu_table_count(m), 3);
    assert_int_equal(tc_menu_cuisine_count(m), 4);

    const tc_store_info *s = tc_menu_store(m, 1);
    assert_non_null(s);
    assert_string_equal(s->name, "Demo Kitchen");
    assert_null(tc_menu_store(m, 3));

    const tc_table *t = tc_menu_table(m, 123);
    assert_non_null(t);
    assert_string_equal(t->table_number, "A01");
    assert_int_equal(t->store_id, 1);
    assert_int_equal(tc_menu_table(m, 200)->store_id, 2);
    assert_null(tc_menu_table(m, 125));

    const tc_cuisine *c = tc_menu_cuisine(m, 1001);
    assert_non_null(c);
    assert_string_equal(c->cuisine_name, "宫保鸡丁");
    assert_string_equal(c->cuisine_image, "https://example.com/image.jpg");
    assert_int_equal(c->cuisine_type, 1);
    assert_int_equal(c->unit_price, 3800);
    assert_int_equal(c->store_id, 1);
    assert_true(c->available);

    c = tc_menu_cuisine(m, 1002);
    assert_int_equal(c->unit_price, 200);
    assert_null(c->cuisine_image);

    c = tc_menu_cuisine(m, 2001);
    assert_int_equal(c->unit_price, 1250);
    assert_int_equal(c->cuisine_type, 2);
    assert_false(c->available);
    assert_null(c->cuisine_image); /* "" means no picture */
    assert_string_equal(c->cuisine_name, "双人\"套餐\"");

    assert_int_equal(tc_menu_cuisine(m, 3001)->unit_price, 990);
    assert_int_equal(tc_menu_cuisine(m, 3001)->store_id, 2);
    assert_null(tc_menu_cuisine(m, 999));
    assert_null(tc_menu_cuisine(m, 0));

    /* Iteration is in id order whatever the file order. */
    assert_int_equal(tc_menu_table_at(m, 0)->table_id, 123);
    assert_int_equal(tc_menu_table_at(m, 1)->table_id, 124);
    assert_int_equal(tc_menu_table_at(m, 2)->table_id, 200);
    assert_null(tc_menu_table_at(m, 3));
    int32_t want[] = {1001, 1002, 2001, 3001};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(tc_menu_cuisine_at(m, i)->cuisine_id, want[i]);
    assert_int_equal(tc_menu_store_at(m, 1)->store_id, 2);
    tc_menu_free(m);
}

static void test_prices(void **state)
{
    (void)state;
    const char *texts[] = {"38", "38.0", "38.00", "3.8e1", "38.000"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"stores\":[{\"storeId\":1,\"name\":\"S\",\"cuisines\":[{\"cuisineId\":1,"
                 "\"cuisineName\":\"x\",\"cuisineType\":1,\"unitPrice\":%s}]}]}",
                 texts[i]);
        tc_menu *m = parse_ok(buf);
        assert_int_equal(tc_menu_cuisine(m, 1)->unit_price, 3800);
        tc_menu_free(m);
    }
    tc_menu *m = parse_ok("{\"stores\":[{\"storeId\":1,\"name\":\"S\",\"cuisines\":[{"
                          "\"cuisineId\":1,\"cuisineName\":\"x\",\"cuisineType\":1,"
                          "\"unitPrice\":0},{\"cuisineId\":2,\"cuisineName\":\"y\","
                          "\"cuisineType\":1,\"unitPrice\":99999999.99}]}]}");
    assert_int_equal(tc_menu_cuisine(m, 1)->unit_price, 0);
    assert_int_equal(tc_menu_cuisine(m, 2)->unit_price, 9999999999);
    tc_menu_free(m);
}

#define ONE_DISH(fields)                                                                           \
    "{\"stores\":[{\"storeId\":1,\"name\":\"S\",\"tables\":[],\"cuisines\":[{\"cuisineId\":1,"     \
    "\"cuisineName\":\"a\",\"cuisineType\":1,\"unitPrice\":1},{" fields "}]}]}"
#define DISH(rest) "\"cuisineId\":2,\"cuisineName\":\"b\",\"cuisineType\":1" rest

static void test_cuisine_errors(void **state)
{
    (void)state;
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":38.005")),
              "stores[0].cuisines[1].unitPrice: at most two decimals");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":-1")),
              "stores[0].cuisines[1].unitPrice: must not be negative");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":\"38\"")),
              "stores[0].cuisines[1].unitPrice: must be a number");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":100000000")),
              "stores[0].cuisines[1].unitPrice: must be at most 99999999.99");
    parse_bad(ONE_DISH(DISH("")), "stores[0].cuisines[1].unitPrice: missing");
    parse_bad(ONE_DISH("\"cuisineId\":2,\"cuisineName\":\"b\",\"cuisineType\":3,\"unitPrice\":1"),
              "stores[0].cuisines[1].cuisineType: must be 1 (single dish) or 2 (set meal)");
    parse_bad(ONE_DISH("\"cuisineId\":2,\"cuisineName\":\"b\",\"unitPrice\":1"),
              "stores[0].cuisines[1].cuisineType: missing");
    parse_bad(ONE_DISH("\"cuisineId\":2,\"cuisineName\":\"\",\"cuisineType\":1,\"unitPrice\":1"),
              "stores[0].cuisines[1].cuisineName: must be a non-empty string");
    parse_bad(ONE_DISH("\"cuisineId\":1.5,\"cuisineName\":\"b\",\"cuisineType\":1"),
              "stores[0].cuisines[1].cuisineId: must be a positive 32-bit integer");
    parse_bad(ONE_DISH("\"cuisineId\":\"2\",\"cuisineName\":\"b\",\"cuisineType\":1"),
              "stores[0].cuisines[1].cuisineId: must be a positive 32-bit integer");
    parse_bad(ONE_DISH("\"cuisineId\":2147483648,\"cuisineName\":\"b\",\"cuisineType\":1"),
              "stores[0].cuisines[1].cuisineId: must be a positive 32-bit integer");
    parse_bad(ONE_DISH("\"cuisineId\":0"),
              "stores[0].cuisines[1].cuisineId: must be a positive 32-bit integer");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"available\":1")),
              "stores[0].cuisines[1].available: must be true or false");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"cuisineImage\":7")),
              "stores[0].cuisines[1].cuisineImage: must be a string or null");
    parse_bad_syntax(ONE_DISH(DISH(",\"unitPrice\":1,\"cuisineId\":3")),
                     "menu: invalid JSON at line 1, column ", "duplicate object key");
    parse_bad(
        ONE_DISH("\"cuisineId\":1,\"cuisineName\":\"b\",\"cuisineType\":1,\"unitPrice\":1"),
        "stores[0].cuisines[1].cuisineId: duplicate cuisineId 1 (also stores[0].cuisines[0])");
}

static void test_structure_errors(void **state)
{
    (void)state;
    parse_bad_syntax("", "menu: invalid JSON at line 1, column 0: ", "expected");
    parse_bad("[]", "menu: must be a JSON object with \"stores\"");
    parse_bad("{}", "stores: missing");
    parse_bad("{\"stores\":{}}", "stores: must be an array");
    parse_bad("{\"stores\":[1]}", "stores[0]: must be an object");
    parse_bad("{\"stores\":[{\"name\":\"x\"}]}", "stores[0].storeId: missing");
    parse_bad("{\"stores\":[{\"storeId\":-1,\"name\":\"x\"}]}",
              "stores[0].storeId: must be a positive 32-bit integer");
    parse_bad("{\"stores\":[{\"storeId\":1}]}", "stores[0].name: missing");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":5}]}",
              "stores[0].name: must be a non-empty string");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":{}}]}",
              "stores[0].tables: must be an array");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"cuisines\":\"x\"}]}",
              "stores[0].cuisines: must be an array");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":[[]]}]}",
              "stores[0].tables[0]: must be an object");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":[{\"tableId\":5}]}]}",
              "stores[0].tables[0].tableNumber: missing");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":[{\"tableId\":5,"
              "\"tableNumber\":\"\"}]}]}",
              "stores[0].tables[0].tableNumber: must be a non-empty string");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":[{\"tableId\":true,"
              "\"tableNumber\":\"A\"}]}]}",
              "stores[0].tables[0].tableId: must be a positive 32-bit integer");
    /* Duplicates are reported at the later place and name the earlier one. */
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\",\"tables\":[{\"tableId\":123,"
              "\"tableNumber\":\"A01\"}]},{\"storeId\":2,\"name\":\"b\",\"tables\":[{\"tableId\":"
              "7,\"tableNumber\":\"B\"},{\"tableId\":123,\"tableNumber\":\"B01\"}]}]}",
              "stores[1].tables[1].tableId: duplicate tableId 123 (also stores[0].tables[0])");
    parse_bad("{\"stores\":[{\"storeId\":1,\"name\":\"a\"},{\"storeId\":1,\"name\":\"b\"}]}",
              "stores[1].storeId: duplicate storeId 1 (also stores[0])");
    parse_bad_syntax("{\"stores\":[{\"storeId\":1,\"name\":\"a\"}]}\n x",
                     "menu: invalid JSON at line 2, column ", "end of file expected");
}

static void test_invalid_utf8_in_file(void **state)
{
    (void)state;
    tc_menu *m = (tc_menu *)(uintptr_t)0x1;
    tc_errmsg err;
    const char text[] = "{\"stores\":[{\"storeId\":1,\"name\":\"\xFF\"}]}";
    assert_int_equal(tc_menu_parse(text, sizeof text - 1, &m, &err), TC_EINVAL);
    assert_non_null(strstr(err.text, "menu: invalid JSON"));
}

static void test_empty_and_optional(void **state)
{
    (void)state;
    tc_menu *m = parse_ok("{\"stores\":[]}");
    assert_int_equal(tc_menu_store_count(m), 0);
    tc_menu_free(m);
    /* No tables or cuisines, unknown keys ignored. */
    m = parse_ok("{\"version\":2,\"stores\":[{\"storeId\":9,\"name\":\"x\",\"extra\":[1]}]}");
    assert_int_equal(tc_menu_store_count(m), 1);
    assert_int_equal(tc_menu_table_count(m), 0);
    tc_menu_free(m);
}

static void test_builder_later_wins(void **state)
{
    (void)state;
    tc_menu *m = tc_menu_new();
    char name[32];
    /* Added out of order, each id twice: the later addition must win. */
    for (int round = 0; round < 2; round++) {
        for (int32_t id = 50; id >= 1; id--) {
            snprintf(name, sizeof name, "d%d-%d", (int)id, round);
            tc_cuisine c = {
                id, 1, name, 1, round ? NULL : name, id * 100, round == 1, round ? NULL : "凉菜"};
            tc_menu_add_cuisine(m, &c);
        }
    }
    tc_store_info s = {1, "first"};
    tc_menu_add_store(m, &s);
    s.name = "second";
    tc_menu_add_store(m, &s);
    tc_table t = {7, "T7", 1};
    tc_menu_add_table(m, &t);
    /* Before freeze lookups already see the latest. */
    assert_string_equal(tc_menu_cuisine(m, 3)->cuisine_name, "d3-1");
    assert_string_equal(tc_menu_store(m, 1)->name, "second");
    tc_menu_freeze(m);
    assert_int_equal(tc_menu_cuisine_count(m), 50);
    assert_int_equal(tc_menu_store_count(m), 1);
    for (size_t i = 0; i < 50; i++) {
        const tc_cuisine *c = tc_menu_cuisine_at(m, i);
        assert_int_equal(c->cuisine_id, (int32_t)i + 1);
        snprintf(name, sizeof name, "d%d-1", (int)i + 1);
        assert_string_equal(c->cuisine_name, name);
        assert_null(c->cuisine_image);
        assert_null(c->category); /* round 0's 凉菜 is replaced too */
        assert_true(c->available);
        assert_ptr_equal(tc_menu_cuisine(m, c->cuisine_id), c);
    }
    assert_string_equal(tc_menu_store(m, 1)->name, "second");
    assert_string_equal(tc_menu_table(m, 7)->table_number, "T7");
    tc_menu_free(m);
    tc_menu_free(NULL);
}

static void test_table_json(void **state)
{
    (void)state;
    tc_menu *m = parse_ok(small_menu);
    tc_buf b = TC_BUF_INIT;
    tc_menu_table_json(m, tc_menu_table(m, 123), &b);
    assert_string_equal(
        tc_buf_cstr(&b),
        "{\"table\":{\"tableId\":123,\"tableNumber\":\"A01\",\"storeId\":1},\"cuisines\":["
        "{\"cuisineId\":1001,\"storeId\":1,\"cuisineName\":\"宫保鸡丁\",\"cuisineType\":1,"
        "\"cuisineImage\":\"https://example.com/image.jpg\",\"unitPrice\":38.00,"
        "\"available\":true},"
        "{\"cuisineId\":1002,\"storeId\":1,\"cuisineName\":\"米饭\",\"cuisineType\":1,"
        "\"cuisineImage\":null,\"unitPrice\":2.00,\"available\":true},"
        "{\"cuisineId\":2001,\"storeId\":1,\"cuisineName\":\"双人\\\"套餐\\\"\","
        "\"cuisineType\":2,\"cuisineImage\":null,\"unitPrice\":12.50,\"available\":false}]}");
    tc_buf_reset(&b);
    tc_menu_table_json(m, tc_menu_table(m, 200), &b);
    assert_string_equal(tc_buf_cstr(&b),
                        "{\"table\":{\"tableId\":200,\"tableNumber\":\"B1\",\"storeId\":2},"
                        "\"cuisines\":[{\"cuisineId\":3001,\"storeId\":2,\"cuisineName\":\"面\","
                        "\"cuisineType\":1,\"cuisineImage\":null,\"unitPrice\":9.90,"
                        "\"available\":true}]}");
    tc_buf_free(&b);
    tc_menu_free(m);
}

/* "category" (beyond the seed): optional, kept, written last and only when set. */
static void test_category(void **state)
{
    (void)state;
    tc_menu *m = parse_ok(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"凉菜\"")));
    assert_null(tc_menu_cuisine(m, 1)->category);
    assert_string_equal(tc_menu_cuisine(m, 2)->category, "凉菜");
    tc_buf b = TC_BUF_INIT;
    tc_menu_cuisine_json(tc_menu_cuisine(m, 2), true, &b);
    assert_string_equal(tc_buf_cstr(&b), "{\"cuisineId\":2,\"storeId\":1,\"cuisineName\":\"b\","
                                         "\"cuisineType\":1,\"cuisineImage\":null,"
                                         "\"unitPrice\":1.00,\"available\":true,"
                                         "\"category\":\"凉菜\"}");
    tc_buf_reset(&b);
    tc_menu_cuisine_json(tc_menu_cuisine(m, 1), false, &b);
    assert_null(strstr(tc_buf_cstr(&b), "category"));
    tc_buf_free(&b);
    tc_menu_free(m);
    /* null and "" mean none; 16 code points is the most */
    m = parse_ok(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"\"")));
    assert_null(tc_menu_cuisine(m, 2)->category);
    tc_menu_free(m);
    m = parse_ok(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":null")));
    assert_null(tc_menu_cuisine(m, 2)->category);
    tc_menu_free(m);
    m = parse_ok(
        ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"一二三四五六七八九十一二三四五六\"")));
    assert_string_equal(tc_menu_cuisine(m, 2)->category, "一二三四五六七八九十一二三四五六");
    tc_menu_free(m);
    parse_bad(
        ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"一二三四五六七八九十一二三四五六七\"")),
        "stores[0].cuisines[1].category: at most 16 characters");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":3")),
              "stores[0].cuisines[1].category: must be a string or null");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"a\\tb\"")),
              "stores[0].cuisines[1].category: no control characters");
    /* DEL and C1 controls (U+0085) are control characters too (jansson refuses NUL). */
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"热\\u007f菜\"")),
              "stores[0].cuisines[1].category: no control characters");
    parse_bad(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"热\\u0085菜\"")),
              "stores[0].cuisines[1].category: no control characters");
    m = parse_ok(ONE_DISH(DISH(",\"unitPrice\":1,\"category\":\"热\\u00a0菜\""))); /* NBSP */
    assert_string_equal(tc_menu_cuisine(m, 2)->category, "热\u00a0菜");
    tc_menu_free(m);
}

/* The bundled demo menu parses and holds what SPEC §9 promises. The test runs
 * from the repository root (make does). */
static void test_demo_menu_file(void **state)
{
    (void)state;
    FILE *f = fopen("data/demo-menu.json", "rb");
    if (f == NULL) f = fopen("../data/demo-menu.json", "rb");
    assert_non_null(f);
    tc_buf text = TC_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        tc_buf_append(&text, chunk, n);
    fclose(f);
    tc_menu *m = parse_ok(tc_buf_cstr(&text));
    tc_buf_free(&text);

    assert_non_null(tc_menu_store(m, 1));
    assert_string_equal(tc_menu_table(m, 123)->table_number, "A01");
    assert_string_equal(tc_menu_table(m, 124)->table_number, "A02");
    assert_string_equal(tc_menu_table(m, 125)->table_number, "A03");
    for (int32_t id = 123; id <= 125; id++)
        assert_int_equal(tc_menu_table(m, id)->store_id, 1);
    const tc_cuisine *c = tc_menu_cuisine(m, 1001);
    assert_string_equal(c->cuisine_name, "宫保鸡丁");
    assert_int_equal(c->unit_price, 3800);
    assert_int_equal(c->cuisine_type, 1);
    assert_string_equal(c->cuisine_image, "/img/gongbao-jiding.svg");
    assert_string_equal(c->category, "热菜");

    /* Every dish has a category and a picture shipped in web/img (no outside URL). */
    const char *cats[16];
    size_t ncats = 0, dishes = 0, sets = 0, sold_out = 0, cents = 0;
    for (size_t i = 0; i < tc_menu_cuisine_count(m); i++) {
        c = tc_menu_cuisine_at(m, i);
        assert_non_null(c->category);
        assert_non_null(c->cuisine_image);
        assert_int_equal(strncmp(c->cuisine_image, "/img/", 5), 0);
        char file[256];
        snprintf(file, sizeof file, "web%s", c->cuisine_image);
        FILE *img = fopen(file, "rb");
        if (img == NULL) {
            snprintf(file, sizeof file, "../web%s", c->cuisine_image);
            img = fopen(file, "rb");
        }
        assert_non_null(img);
        fclose(img);
        if (c->store_id != 1) continue;
        dishes++;
        sets += c->cuisine_type == 2;
        sold_out += !c->available;
        cents += c->unit_price % 100 != 0;
        size_t k = 0;
        while (k < ncats && strcmp(cats[k], c->category) != 0)
            k++;
        if (k == ncats && ncats < 16) cats[ncats++] = c->category;
    }
    assert_true(dishes >= 14);
    assert_true(sets >= 1);
    assert_true(sold_out >= 1);
    assert_true(cents >= 1);
    assert_true(ncats >= 5);
    tc_menu_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_lookup),     cmocka_unit_test(test_prices),
        cmocka_unit_test(test_cuisine_errors),       cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_invalid_utf8_in_file), cmocka_unit_test(test_empty_and_optional),
        cmocka_unit_test(test_builder_later_wins),   cmocka_unit_test(test_table_json),
        cmocka_unit_test(test_demo_menu_file),       cmocka_unit_test(test_category),
    };
    return cmocka_run_group_tests_name("menu", tests, NULL, NULL);
}
