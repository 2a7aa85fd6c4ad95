/* menu.c — the menu: stores, tables and dishes, their lookups, the menu file's
 * parser and the menu endpoint's JSON. Slightly over 500 lines on purpose: the
 * parser's messages name each JSON path, and splitting the parser from the
 * lookups it fills would only spread one format over two files. */
#include "cart/menu.h"

#include "core/json.h"
#include "core/mem.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First capacity of each array a menu fills (stores, tables, dishes), doubled
 * from there. */
#define MENU_MIN_CAP 16

/* The three kinds of id a menu file must not repeat. */
enum { SEEN_STORES, SEEN_TABLES, SEEN_CUISINES, SEEN_KINDS };

/* Each array stays in insertion order until tc_menu_freeze sorts it by id and
 * drops replaced duplicates; lookups then use bsearch. */
struct tc_menu {
    tc_store_info *stores;
    size_t nstores, capstores;
    tc_table *tables;
    size_t ntables, captables;
    tc_cuisine *cuisines;
    size_t ncuisines, capcuisines;
    bool frozen;
};

tc_menu *tc_menu_new(void)
{
    return tc_xcalloc(1, sizeof(tc_menu));
}

static void store_drop(void *p)
{
    free(((tc_store_info *)p)->name);
}

static void table_drop(void *p)
{
    free(((tc_table *)p)->table_number);
}

static void cuisine_drop(void *p)
{
    tc_cuisine *c = p;
    free(c->cuisine_name);
    free(c->cuisine_image);
    free(c->category);
}

void tc_menu_free(tc_menu *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->nstores; i++)
        store_drop(&m->stores[i]);
    for (size_t i = 0; i < m->ntables; i++)
        table_drop(&m->tables[i]);
    for (size_t i = 0; i < m->ncuisines; i++)
        cuisine_drop(&m->cuisines[i]);
    free(m->stores);
    free(m->tables);
    free(m->cuisines);
    free(m);
}

/* Grows *arr (elements of `size` bytes) to hold one more and returns the new
 * slot. */
static void *grow(void *arr_ptr, size_t *n, size_t *cap, size_t size)
{
    void **arr = arr_ptr;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : MENU_MIN_CAP;
        *arr = tc_xrealloc(*arr, *cap * size);
    }
    return (char *)*arr + (*n)++ * size;
}

void tc_menu_add_store(tc_menu *m, const tc_store_info *s)
{
    /* Adding after freeze is outside the contract; unfreezing keeps lookups
     * correct (they fall back to a scan) instead of silently wrong. */
    m->frozen = false;
    tc_store_info *d = grow(&m->stores, &m->nstores, &m->capstores, sizeof *d);
    d->store_id = s->store_id;
    d->name = tc_xstrdup(s->name);
}

void tc_menu_add_table(tc_menu *m, const tc_table *t)
{
    m->frozen = false;
    tc_table *d = grow(&m->tables, &m->ntables, &m->captables, sizeof *d);
    d->table_id = t->table_id;
    d->table_number = tc_xstrdup(t->table_number);
    d->store_id = t->store_id;
}

void tc_menu_add_cuisine(tc_menu *m, const tc_cuisine *c)
{
    m->frozen = false;
    tc_cuisine *d = grow(&m->cuisines, &m->ncuisines, &m->capcuisines, sizeof *d);
    *d = *c;
    d->cuisine_name = tc_xstrdup(c->cuisine_name);
    d->cuisine_image = tc_xstrdup(c->cuisine_image);
    d->category = tc_xstrdup(c->category);
}

/* All three record types start with their int32 id, so one set of helpers
 * sorts and searches them all (a pointer to a struct converts to a pointer to
 * its first member). */
static int32_t id_of(const void *elem)
{
    return *(const int32_t *)elem;
}

typedef struct {
    int32_t id;
    size_t pos;
} id_pos;

static int cmp_id_pos(const void *a, const void *b)
{
    const id_pos *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Sorts arr by id; of equal ids the last added wins and the others are
 * dropped. qsort is not stable, so insertion position is part of the key. */
static void sort_unique(void *arr_ptr, size_t *n, size_t size, void (*drop)(void *))
{
    char **arr = arr_ptr;
    if (*n == 0) return;
    id_pos *keys = tc_xmalloc(*n * sizeof *keys);
    for (size_t i = 0; i < *n; i++) {
        keys[i].id = id_of(*arr + i * size);
        keys[i].pos = i;
    }
    qsort(keys, *n, sizeof *keys, cmp_id_pos);
    char *sorted = tc_xmalloc(*n * size);
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        char *elem = *arr + keys[i].pos * size;
        if (i + 1 < *n && keys[i + 1].id == keys[i].id) {
            drop(elem);
            continue;
        }
        memcpy(sorted + out++ * size, elem, size);
    }
    free(keys);
    free(*arr);
    *arr = sorted;
    *n = out;
}

void tc_menu_freeze(tc_menu *m)
{
    sort_unique(&m->stores, &m->nstores, sizeof(tc_store_info), store_drop);
    sort_unique(&m->tables, &m->ntables, sizeof(tc_table), table_drop);
    sort_unique(&m->cuisines, &m->ncuisines, sizeof(tc_cuisine), cuisine_drop);
    /* Capacities now equal the counts of the fresh arrays. */
    m->capstores = m->nstores;
    m->captables = m->ntables;
    m->capcuisines = m->ncuisines;
    m->frozen = true;
}

static int cmp_key_elem(const void *key, const void *elem)
{
    int32_t k = *(const int32_t *)key, id = id_of(elem);
    return k < id ? -1 : k > id;
}

static const void *find(const tc_menu *m, const void *arr, size_t n, size_t size, int32_t id)
{
    if (n == 0) return NULL; /* arr may be NULL, which bsearch must not see */
    if (m->frozen) return bsearch(&id, arr, n, size, cmp_key_elem);
    /* Unfrozen: the latest addition wins, as it will after freezing. */
    for (size_t i = n; i-- > 0;) {
        const void *elem = (const char *)arr + i * size;
        if (id_of(elem) == id) return elem;
    }
    return NULL;
}

const tc_store_info *tc_menu_store(const tc_menu *m, int32_t store_id)
{
    return find(m, m->stores, m->nstores, sizeof(tc_store_info), store_id);
}

const tc_table *tc_menu_table(const tc_menu *m, int32_t table_id)
{
    return find(m, m->tables, m->ntables, sizeof(tc_table), table_id);
}

const tc_cuisine *tc_menu_cuisine(const tc_menu *m, int32_t cuisine_id)
{
    return find(m, m->cuisines, m->ncuisines, sizeof(tc_cuisine), cuisine_id);
}

size_t tc_menu_store_count(const tc_menu *m)
{
    return m->nstores;
}

const tc_store_info *tc_menu_store_at(const tc_menu *m, size_t i)
{
    return i < m->nstores ? &m->stores[i] : NULL;
}

size_t tc_menu_table_count(const tc_menu *m)
{
    return m->ntables;
}

const tc_table *tc_menu_table_at(const tc_menu *m, size_t i)
{
    return i < m->ntables ? &m->tables[i] : NULL;
}

size_t tc_menu_cuisine_count(const tc_menu *m)
{
    return m->ncuisines;
}

const tc_cuisine *tc_menu_cuisine_at(const tc_menu *m, size_t i)
{
    return i < m->ncuisines ? &m->cuisines[i] : NULL;
}

/* --- menu file ----------------------------------------------------------- */

/* Where an id was first seen, so a duplicate can name both places. */
typedef struct {
    int32_t id;
    size_t store_idx, item_idx;
} seen_id;

typedef struct {
    seen_id *v;
    size_t n, cap;
} seen_list;

static void seen_add(seen_list *l, int32_t id, size_t si, size_t ii)
{
    seen_id *s = grow(&l->v, &l->n, &l->cap, sizeof *s);
    s->id = id;
    s->store_idx = si;
    s->item_idx = ii;
}

static int cmp_seen(const void *a, const void *b)
{
    const seen_id *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    if (x->store_idx != y->store_idx) return x->store_idx < y->store_idx ? -1 : 1;
    return x->item_idx < y->item_idx ? -1 : x->item_idx > y->item_idx;
}

static bool seen_before(const seen_id *a, const seen_id *b)
{
    return a->store_idx != b->store_idx ? a->store_idx < b->store_idx : a->item_idx < b->item_idx;
}

/* Finds the repeated id that comes earliest in the file. Returns true and
 * sets *dup (the repeat) and *first (where that id appeared first). */
static bool seen_dup(seen_list *l, seen_id *dup, seen_id *first)
{
    if (l->n < 2) return false;
    qsort(l->v, l->n, sizeof *l->v, cmp_seen);
    bool found = false;
    size_t group = 0;
    for (size_t i = 1; i < l->n; i++) {
        if (l->v[i].id != l->v[i - 1].id) {
            group = i;
            continue;
        }
        if (!found || seen_before(&l->v[i], dup)) {
            *dup = l->v[i];
            *first = l->v[group];
            found = true;
        }
    }
    return found;
}

/* A positive 32-bit JSON integer at obj[key]. */
static int get_id(json_t *obj, const char *key, const char *path, int32_t *out, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) return tc_errmsg_set(err, TC_EINVAL, "%s.%s: missing", path, key);
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > INT32_MAX)
        return tc_errmsg_set(err, TC_EINVAL, "%s.%s: must be a positive 32-bit integer", path, key);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int get_name(json_t *obj, const char *key, const char *path, const char **out,
                    tc_errmsg *err)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL) return tc_errmsg_set(err, TC_EINVAL, "%s.%s: missing", path, key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return tc_errmsg_set(err, TC_EINVAL, "%s.%s: must be a non-empty string", path, key);
    *out = json_string_value(v);
    return 0;
}

/* An optional array member: absent or null means none. */
static int get_array(json_t *obj, const char *key, const char *path, json_t **out, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_array(v))
        return tc_errmsg_set(err, TC_EINVAL, "%s.%s: must be an array", path, key);
    *out = v;
    return 0;
}

static int get_price(json_t *obj, const char *path, tc_cents *out, tc_errmsg *err)
{
    json_t *v = json_object_get(obj, "unitPrice");
    if (v == NULL) return tc_errmsg_set(err, TC_EINVAL, "%s.unitPrice: missing", path);
    if (!json_is_number(v))
        return tc_errmsg_set(err, TC_EINVAL, "%s.unitPrice: must be a number", path);
    if (json_number_value(v) < 0)
        return tc_errmsg_set(err, TC_EINVAL, "%s.unitPrice: must not be negative", path);
    if (json_number_value(v) > (double)TC_MONEY_MAX / TC_CENTS_PER_YUAN)
        return tc_errmsg_set(err, TC_EINVAL, "%s.unitPrice: must be at most 99999999.99", path);
    if (json_is_integer(v)) {
        /* Exact, no detour through a double. */
        *out = (tc_cents)json_integer_value(v) * TC_CENTS_PER_YUAN;
        return 0;
    }
    if (tc_money_from_yuan(json_real_value(v), out) != 0)
        return tc_errmsg_set(err, TC_EINVAL, "%s.unitPrice: at most two decimals", path);
    return 0;
}

/* The optional "category": absent, null or "" mean none. */
static int get_category(json_t *jc, const char *path, char **out, tc_errmsg *err)
{
    json_t *v = json_object_get(jc, "category");
    if (v == NULL || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return tc_errmsg_set(err, TC_EINVAL, "%s.category: must be a string or null", path);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (tc_utf8_has_control(s, len))
        return tc_errmsg_set(err, TC_EINVAL, "%s.category: no control characters", path);
    long points = tc_utf8_count(s, len); /* jansson checked the UTF-8 */
    if (points > TC_CATEGORY_MAX)
        return tc_errmsg_set(err, TC_EINVAL, "%s.category: at most %d characters", path,
                             TC_CATEGORY_MAX);
    if (points > 0) *out = (char *)s; /* copied by the adder */
    return 0;
}

static int parse_table(json_t *jt, const char *path, int32_t store_id, tc_menu *m, tc_errmsg *err)
{
    if (!json_is_object(jt)) return tc_errmsg_set(err, TC_EINVAL, "%s: must be an object", path);
    tc_table t = {0, NULL, store_id};
    const char *number;
    int rc;
    if ((rc = get_id(jt, "tableId", path, &t.table_id, err)) != 0) return rc;
    if ((rc = get_name(jt, "tableNumber", path, &number, err)) != 0) return rc;
    t.table_number = (char *)number; /* copied by the adder */
    tc_menu_add_table(m, &t);
    return 0;
}

static int parse_cuisine(json_t *jc, const char *path, int32_t store_id, tc_menu *m, tc_errmsg *err)
{
    if (!json_is_object(jc)) return tc_errmsg_set(err, TC_EINVAL, "%s: must be an object", path);
    tc_cuisine c = {0};
    c.store_id = store_id;
    c.available = true;
    const char *name;
    int rc;
    if ((rc = get_id(jc, "cuisineId", path, &c.cuisine_id, err)) != 0) return rc;
    if ((rc = get_name(jc, "cuisineName", path, &name, err)) != 0) return rc;
    c.cuisine_name = (char *)name;

    json_t *type = json_object_get(jc, "cuisineType");
    if (type == NULL) return tc_errmsg_set(err, TC_EINVAL, "%s.cuisineType: missing", path);
    if (!json_is_integer(type) || (json_integer_value(type) != TC_CUISINE_SINGLE &&
                                   json_integer_value(type) != TC_CUISINE_SET_MEAL))
        return tc_errmsg_set(err, TC_EINVAL,
                             "%s.cuisineType: must be 1 (single dish) or 2 (set meal)", path);
    c.cuisine_type = (int32_t)json_integer_value(type);

    json_t *img = json_object_get(jc, "cuisineImage");
    if (img != NULL && !json_is_null(img)) {
        if (!json_is_string(img))
            return tc_errmsg_set(err, TC_EINVAL, "%s.cuisineImage: must be a string or null", path);
        /* An empty string means no picture, like null. */
        if (json_string_length(img) > 0) c.cuisine_image = (char *)json_string_value(img);
    }

    if ((rc = get_price(jc, path, &c.unit_price, err)) != 0) return rc;

    if ((rc = get_category(jc, path, &c.category, err)) != 0) return rc;

    json_t *avail = json_object_get(jc, "available");
    if (avail != NULL) {
        if (!json_is_boolean(avail))
            return tc_errmsg_set(err, TC_EINVAL, "%s.available: must be true or false", path);
        c.available = json_is_true(avail);
    }
    tc_menu_add_cuisine(m, &c);
    return 0;
}

static int parse_root(json_t *root, tc_menu *m, seen_list seen[SEEN_KINDS], tc_errmsg *err)
{
    if (!json_is_object(root))
        return tc_errmsg_set(err, TC_EINVAL, "menu: must be a JSON object with \"stores\"");
    json_t *stores = json_object_get(root, "stores");
    if (stores == NULL) return tc_errmsg_set(err, TC_EINVAL, "stores: missing");
    if (!json_is_array(stores)) return tc_errmsg_set(err, TC_EINVAL, "stores: must be an array");

    char spath[32], ipath[96];
    int rc;
    for (size_t si = 0; si < json_array_size(stores); si++) {
        json_t *js = json_array_get(stores, si);
        snprintf(spath, sizeof spath, "stores[%zu]", si);
        if (!json_is_object(js))
            return tc_errmsg_set(err, TC_EINVAL, "%s: must be an object", spath);
        tc_store_info s;
        const char *name;
        if ((rc = get_id(js, "storeId", spath, &s.store_id, err)) != 0) return rc;
        if ((rc = get_name(js, "name", spath, &name, err)) != 0) return rc;
        s.name = (char *)name;
        tc_menu_add_store(m, &s);
        seen_add(&seen[SEEN_STORES], s.store_id, si, 0);

        json_t *tables, *cuisines;
        if ((rc = get_array(js, "tables", spath, &tables, err)) != 0) return rc;
        if ((rc = get_array(js, "cuisines", spath, &cuisines, err)) != 0) return rc;
        for (size_t ti = 0; ti < json_array_size(tables); ti++) {
            snprintf(ipath, sizeof ipath, "%s.tables[%zu]", spath, ti);
            if ((rc = parse_table(json_array_get(tables, ti), ipath, s.store_id, m, err)) != 0)
                return rc;
            seen_add(&seen[SEEN_TABLES], tc_menu_table_at(m, m->ntables - 1)->table_id, si, ti);
        }
        for (size_t ci = 0; ci < json_array_size(cuisines); ci++) {
            snprintf(ipath, sizeof ipath, "%s.cuisines[%zu]", spath, ci);
            if ((rc = parse_cuisine(json_array_get(cuisines, ci), ipath, s.store_id, m, err)) != 0)
                return rc;
            seen_add(&seen[SEEN_CUISINES], tc_menu_cuisine_at(m, m->ncuisines - 1)->cuisine_id, si,
                     ci);
        }
    }

    static const char *const what[SEEN_KINDS][2] = {[SEEN_STORES] = {"", "storeId"},
                                                    [SEEN_TABLES] = {"tables", "tableId"},
                                                    [SEEN_CUISINES] = {"cuisines", "cuisineId"}};
    for (int k = 0; k < SEEN_KINDS; k++) {
        seen_id dup, first;
        if (!seen_dup(&seen[k], &dup, &first)) continue;
        if (k == SEEN_STORES)
            return tc_errmsg_set(err, TC_EINVAL,
                                 "stores[%zu].storeId: duplicate storeId %d (also stores[%zu])",
                                 dup.store_idx, (int)dup.id, first.store_idx);
        return tc_errmsg_set(err, TC_EINVAL,
                             "stores[%zu].%s[%zu].%s: duplicate %s %d (also stores[%zu].%s[%zu])",
                             dup.store_idx, what[k][0], dup.item_idx, what[k][1], what[k][1],
                             (int)dup.id, first.store_idx, what[k][0], first.item_idx);
    }
    return 0;
}

int tc_menu_parse(const char *text, size_t len, tc_menu **out, tc_errmsg *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return tc_errmsg_set(err, TC_EINVAL, "menu: invalid JSON at line %d, column %d: %s",
                             jerr.line, jerr.column, jerr.text);
    tc_menu *m = tc_menu_new();
    seen_list seen[SEEN_KINDS] = {{0}};
    int rc = parse_root(root, m, seen, err);
    for (int k = 0; k < SEEN_KINDS; k++)
        free(seen[k].v);
    json_decref(root);
    if (rc != 0) {
        tc_menu_free(m);
        return rc;
    }
    tc_menu_freeze(m);
    *out = m;
    return 0;
}

void tc_menu_cuisine_json(const tc_cuisine *c, bool with_store, tc_buf *out)
{
    tc_buf_append_str(out, "{\"cuisineId\":");
    tc_json_int(out, c->cuisine_id);
    if (with_store) {
        tc_buf_append_str(out, ",\"storeId\":");
        tc_json_int(out, c->store_id);
    }
    tc_buf_append_str(out, ",\"cuisineName\":");
    tc_json_cstr_or_null(out, c->cuisine_name);
    tc_buf_append_str(out, ",\"cuisineType\":");
    tc_json_int(out, c->cuisine_type);
    tc_buf_append_str(out, ",\"cuisineImage\":");
    tc_json_cstr_or_null(out, c->cuisine_image);
    tc_buf_append_str(out, ",\"unitPrice\":");
    tc_money_append(out, c->unit_price);
    tc_buf_append_str(out, c->available ? ",\"available\":true" : ",\"available\":false");
    if (c->category != NULL) {
        tc_buf_append_str(out, ",\"category\":");
        tc_json_cstr_or_null(out, c->category);
    }
    tc_buf_append(out, "}", 1);
}

void tc_menu_table_json(const tc_menu *m, const tc_table *t, tc_buf *out)
{
    tc_buf_append_str(out, "{\"table\":{\"tableId\":");
    tc_json_int(out, t->table_id);
    tc_buf_append_str(out, ",\"tableNumber\":");
    tc_json_cstr_or_null(out, t->table_number);
    tc_buf_append_str(out, ",\"storeId\":");
    tc_json_int(out, t->store_id);
    tc_buf_append_str(out, "},\"cuisines\":[");
    bool first = true;
    for (size_t i = 0; i < m->ncuisines; i++) {
        const tc_cuisine *c = &m->cuisines[i];
        if (c->store_id != t->store_id) continue;
        if (!first) tc_buf_append(out, ",", 1);
        first = false;
        tc_menu_cuisine_json(c, true, out);
    }
    tc_buf_append_str(out, "]}");
}
