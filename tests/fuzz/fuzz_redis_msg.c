/* fuzz_redis_msg.c — libFuzzer driver for the Redis change message decoder
 * (tc_redis_msg_decode), fed what the subscriber connection hears on a
 * table channel. A refused message must leave *out untouched; a decoded
 * one must point into the input, and its header written again
 * (tc_redis_msg_header, or the signal header) followed by its body must
 * give back the input byte for byte (one canonical form). A cart goes
 * where the store sends it: its packed form to tc_cart_unpack (a cart read
 * from it packs again to bytes that read back the same), its JSON to
 * tc_cart_from_json. */
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
    if (msg.body < p || msg.body > p + size || msg.body_len != size - (size_t)(msg.body - p))
        abort();
    if (msg.pack && (msg.pack < p || msg.pack + msg.pack_len != msg.body)) abort();

    tc_buf again = TC_BUF_INIT;
    if (msg.kind == TC_REDIS_MSG_SIGNAL)
        tc_buf_append_str(&again, TC_REDIS_SIGNAL_HEADER);
    else
        tc_redis_msg_header(&again, msg.instance, msg.origin, msg.version, msg.pack, msg.pack_len);
    tc_buf_append(&again, msg.body, msg.body_len);
    if (again.len != size || memcmp(again.base, p, size) != 0) {
        fprintf(stderr, "not canonical: decoded then encoded differs\n");
        abort();
    }
    tc_buf_free(&again);

    tc_cart *c = NULL;
    if (msg.kind == TC_REDIS_MSG_CART && tc_cart_from_json(msg.body, msg.body_len, &c) == 0)
        tc_cart_free(c);
    if (msg.pack && tc_cart_unpack(msg.pack, msg.pack_len, &c) == 0) {
        tc_buf once = TC_BUF_INIT, twice = TC_BUF_INIT;
        tc_cart_pack(c, &once);
        tc_cart_free(c);
        if (tc_cart_unpack(once.base, once.len, &c) != 0) abort();
        tc_cart_pack(c, &twice);
        tc_cart_free(c);
        if (once.len != twice.len || memcmp(once.base, twice.base, once.len) != 0) abort();
        tc_buf_free(&once);
        tc_buf_free(&twice);
    }
    return 0;
}
