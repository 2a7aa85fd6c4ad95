/* menu.h — stores, tables and dishes: server data, read-only while serving.
 *
 * A tc_menu is built (from a menu file or from the database), then frozen
 * with tc_menu_freeze; lookups are by id. The strings inside belong to the
 * menu and live as long as it does. */
#ifndef TC_CART_MENU_H
#define TC_CART_MENU_H

#include "cart/money.h"
#include "core/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int32_t store_id;
    char *name;
} tc_store_info;

typedef struct {
    int32_t table_id;
    char *table_number; /* "A01" */
    int32_t store_id;
} tc_table;

/* cuisineType values of the seed's API: 1 a single dish, 2 a set meal. */
enum { TC_CUISINE_SINGLE = 1, TC_CUISINE_SET_MEAL = 2 };

typedef struct {
    int32_t cuisine_id;
    int32_t store_id;
    char *cuisine_name;
    int32_t cuisine_type; /* TC_CUISINE_SINGLE or TC_CUISINE_SET_MEAL */
    char *cuisine_image;  /* may be NULL */
    tc_cents unit_price;
    bool available;
    char *category; /* may be NULL; beyond the seed: the page's menu section, e.g. "热菜" */
} tc_cuisine;

/* The longest category name a menu file may give, in code points. */
#define TC_CATEGORY_MAX 16

typedef struct tc_menu tc_menu;

/* An empty, unfrozen menu. Free with tc_menu_free. */
tc_menu *tc_menu_new(void);
void tc_menu_free(tc_menu *m);

/* Adders copy every string. Adding an id that is already there replaces it
 * (a later file wins). Only before tc_menu_freeze. */
void tc_menu_add_store(tc_menu *m, const tc_store_info *s);
void tc_menu_add_table(tc_menu *m, const tc_table *t);
void tc_menu_add_cuisine(tc_menu *m, const tc_cuisine *c);
/* Sorts for lookup. After this the menu is read-only. */
void tc_menu_freeze(tc_menu *m);

/* Parses a menu file (SPEC §9): {"stores":[{storeId,name,tables[],cuisines[]}]}.
 * Cuisines may carry "available" (default true) and "category" (a string of
 * 1 to TC_CATEGORY_MAX code points, or null/"" for none). Every id must be a positive
 * 32-bit integer, names non-empty, cuisineType 1 or 2, unitPrice >= 0 with at
 * most two decimals, tableId/cuisineId unique across the file. On success
 * *out is a new frozen menu (caller frees) and 0 is returned; otherwise
 * TC_EINVAL with err naming the place, e.g.
 * "stores[0].cuisines[2].unitPrice: at most two decimals", and *out untouched. */
int tc_menu_parse(const char *text, size_t len, tc_menu **out, tc_errmsg *err);

/* Lookups on a frozen menu; NULL when absent. Pointers live as long as m. */
const tc_store_info *tc_menu_store(const tc_menu *m, int32_t store_id);
const tc_table *tc_menu_table(const tc_menu *m, int32_t table_id);
const tc_cuisine *tc_menu_cuisine(const tc_menu *m, int32_t cuisine_id);

/* Iteration in id order. */
size_t tc_menu_store_count(const tc_menu *m);
const tc_store_info *tc_menu_store_at(const tc_menu *m, size_t i);
size_t tc_menu_table_count(const tc_menu *m);
const tc_table *tc_menu_table_at(const tc_menu *m, size_t i);
size_t tc_menu_cuisine_count(const tc_menu *m);
const tc_cuisine *tc_menu_cuisine_at(const tc_menu *m, size_t i);

/* Appends one dish as JSON: {cuisineId[,storeId],cuisineName,cuisineType,
 * cuisineImage,unitPrice,available[,category]}, money with two decimals;
 * category only when the dish has one. storeId is
 * written when with_store (the menu endpoint); a menu file nests dishes under
 * their store and leaves it out. */
void tc_menu_cuisine_json(const tc_cuisine *c, bool with_store, tc_buf *out);

/* Appends the menu endpoint's data for one table (SPEC §3):
 * {"table":{"tableId":..,"tableNumber":..,"storeId":..},"cuisines":[ {cuisineId,storeId,
 * cuisineName,cuisineType,cuisineImage,unitPrice,available[,category]}, ... ]} with the
 * table's store's dishes in id order, money with two decimals. */
void tc_menu_table_json(const tc_menu *m, const tc_table *t, tc_buf *out);

#endif
