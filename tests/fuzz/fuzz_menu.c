/* fuzz_menu.c — libFuzzer driver for the menu file parser (tc_menu_parse).
 * A menu that parses is walked through every lookup and the per-table JSON;
 * a refused one must leave *out untouched and say why. */
#include "cart/menu.h"
#include "core/buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tc_menu *m = (tc_menu *)(uintptr_t)0x1; /* sentinel: must stay on failure */
    tc_errmsg err;
    memset(&err, 0, sizeof err);
    int rc = tc_menu_parse((const char *)data, size, &m, &err);
    if (rc != 0) {
        if (m != (tc_menu *)(uintptr_t)0x1 || err.text[0] == '\0') abort();
        return 0;
    }
    tc_buf out = TC_BUF_INIT;
    for (size_t i = 0; i < tc_menu_store_count(m); i++) {
        const tc_store_info *s = tc_menu_store_at(m, i);
        if (tc_menu_store(m, s->store_id) != s) abort();
    }
    for (size_t i = 0; i < tc_menu_cuisine_count(m); i++) {
        const tc_cuisine *c = tc_menu_cuisine_at(m, i);
        if (tc_menu_cuisine(m, c->cuisine_id) != c) abort();
    }
    for (size_t i = 0; i < tc_menu_table_count(m); i++) {
        const tc_table *t = tc_menu_table_at(m, i);
        if (tc_menu_table(m, t->table_id) != t) abort();
        tc_buf_reset(&out);
        tc_menu_table_json(m, t, &out);
    }
    tc_buf_free(&out);
    tc_menu_free(m);
    return 0;
}
