/* fuzz_cart_json.c — libFuzzer driver for the stored cart form
 * (tc_cart_from_json). A cart that parses is written back with
 * tc_cart_to_json; that output must parse again and write the same bytes
 * (the stored form is a fixed point after one round). */
#include "cart/cart.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tc_cart *c = NULL;
    if (tc_cart_from_json((const char *)data, size, &c) != 0) return 0;
    tc_table t = {tc_cart_table_id(c), "A01", 1};
    tc_buf j1 = TC_BUF_INIT, j2 = TC_BUF_INIT;
    tc_cart_to_json(c, &t, &j1);

    /* Accessors agree with the DTO's invariants. */
    int64_t qty = 0;
    for (size_t i = 0; i < tc_cart_item_count(c); i++)
        qty += tc_cart_item_at(c, i)->quantity;
    if (qty != tc_cart_total_quantity(c)) abort();

    tc_cart *c2 = NULL;
    if (tc_cart_from_json(j1.base, j1.len, &c2) != 0) {
        fprintf(stderr, "our own output does not parse: %s\n", tc_buf_cstr(&j1));
        abort();
    }
    tc_cart_to_json(c2, &t, &j2);
    if (j1.len != j2.len || memcmp(j1.base, j2.base, j1.len) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n%s\n", tc_buf_cstr(&j1), tc_buf_cstr(&j2));
        abort();
    }
    tc_cart *c3 = tc_cart_clone(c2);
    tc_cart_free(c3);
    tc_cart_free(c2);
    tc_cart_free(c);
    tc_buf_free(&j1);
    tc_buf_free(&j2);
    return 0;
}
