/* fuzz_redis_msg.c — libFuzzer driver for the Redis change message decoder
 * (tc_redis_msg_decode), fed what the subscriber connection hears on the
 * changes channel. A refused message must leave *out untouched; a decoded
 * one must point into the input, and its header written again with
 * tc_redis_msg_header followed by its cart must give back the input byte
 * for byte (one canonical form). The cart part then goes where the store
 * sends it (tc_cart_from_json), as on_message does. */
#include "cart/cart.h"
#include "store/redis_wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    tc_redis_msg msg, before;
    memset(&msg, 0xa5, sizeof msg); /* sentinel: must stay on failure */
    before = msg;
    if (tc_redis_msg_decode(p, size, &msg) != 0) {
        if (memcmp(&msg, &before, sizeof msg) != 0) abort();
        return 0;
    }
    if (msg.cart < p || msg.cart > p + size || msg.cart_len != size - (size_t)(msg.cart - p))
        abort();

    tc_buf again = TC_BUF_INIT;
    tc_redis_msg_header(&again, msg.instance, msg.origin);
    tc_buf_append(&again, msg.cart, msg.cart_len);
    if (again.len != size || memcmp(again.base, p, size) != 0) {
        fprintf(stderr, "not canonical: decoded then encoded differs\n");
        abort();
    }
    tc_buf_free(&again);

    tc_cart *c = NULL;
    if (tc_cart_from_json(msg.cart, msg.cart_len, &c) == 0) tc_cart_free(c);
    return 0;
}
