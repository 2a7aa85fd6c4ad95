/* redis_wire.h — the I/O-free parts of the Redis store: its URL, the key of
 * a cart, the pub/sub message that carries a change, and the menu as it is
 * kept in Redis.
 * Plain buffers in, plain buffers out, so they are unit-tested directly.
 * The layout they describe is documented in docs/redis.md. */
#ifndef TC_STORE_REDIS_WIRE_H
#define TC_STORE_REDIS_WIRE_H

#include "cart/menu.h"
#include "core/buf.h"
#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define TC_REDIS_DEFAULT_PORT 6379

/* What a password in the URL gets: it would show in ps and in logs. */
#define TC_REDIS_NO_PASSWORD_IN_URL                                                                \
    "store: a password in the redis:// URL is refused (it would show in ps and in logs): "         \
    "put it in --redis-password-file FILE or TABLECART_REDIS_PASSWORD"

/* Room for a password, NUL included (--redis-password-file). */
#define TC_REDIS_PASSWORD_SIZE 512

typedef struct {
    char host[256]; /* a name or an address; an IPv6 address without its brackets */
    int port;       /* 1..65535, default 6379 */
    int db;         /* 0.. (SELECT index), default 0 */
    char user[128]; /* an ACL user; "" for the default user */
    /* Never from the URL: set by the store from --redis-password-file or
     * TABLECART_REDIS_PASSWORD; "" for none. Every connection sends AUTH. */
    char password[TC_REDIS_PASSWORD_SIZE];
} tc_redis_url;

/* Parses what follows "redis:" in a --store URL: "//[USER@]HOST[:PORT][/DB]",
 * where HOST may be "[v6addr]". Nothing else is accepted: a password in the
 * URL is refused (without echoing the URL), so are options. Returns 0 and
 * fills *out (password ""), or TC_EINVAL with err naming what is wrong
 * ("store: redis://h:0: port must be 1-65535"). */
int tc_redis_url_parse(const char *rest, tc_redis_url *out, tc_errmsg *err);

/* The pub/sub channel of a database: "tablecart:changes" for db 0, else
 * "tablecart:changes:<db>" (pub/sub is not scoped by database in Redis, so
 * two deployments on two databases of one server must not share it). */
void tc_redis_channel(int db, tc_buf *out);

/* Room for the key of any table's cart, its NUL included. */
#define TC_REDIS_CART_KEY_SIZE (sizeof "tablecart:cart:-2147483648")

/* Writes the key of table_id's cart hash, "tablecart:cart:<tableId>", to
 * out (NUL-terminated). */
void tc_redis_cart_key(int32_t table_id, char out[TC_REDIS_CART_KEY_SIZE]);

/* A change message is "tc1 <instance> <origin>\n<cart JSON>": instance as 16
 * lowercase hex digits (the id of the instance that made the change), origin
 * in decimal (the connection of that instance that asked, 0 = none).
 * tc_redis_msg_header appends the first line, newline included; the Lua
 * script appends the cart JSON, so the JSON is sent to Redis only once. */
void tc_redis_msg_header(tc_buf *out, uint64_t instance, uint64_t origin);

typedef struct {
    uint64_t instance;
    uint64_t origin;
    const char *cart; /* borrowed from the decoded bytes */
    size_t cart_len;
} tc_redis_msg;

/* Splits a message. Returns 0 and *out (pointing into p), or TC_EINVAL for
 * anything that is not exactly the format above (the cart JSON itself is
 * not checked here). */
int tc_redis_msg_decode(const char *p, size_t n, tc_redis_msg *out);

/* Appends m as a menu file (SPEC §9): {"stores":[{storeId,name,tables[],
 * cuisines[]}]}, ids in ascending order, prices in yuan with two decimals,
 * every cuisine with "available". tc_menu_parse reads it back to the same
 * menu. Tables and dishes of a store that is not in m are left out. */
void tc_redis_menu_json(const tc_menu *m, tc_buf *out);

/* A new frozen menu holding every store, table and dish of base, replaced
 * or completed by those of update (an upsert by id; nothing is deleted).
 * base may be NULL. Caller frees. */
tc_menu *tc_redis_menu_merge(const tc_menu *base, const tc_menu *update);

#endif
