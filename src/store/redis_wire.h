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

/* The key of the stored menu (a string holding a menu file). */
#define TC_REDIS_MENU_KEY "tablecart:menu"

/* Pub/sub is not scoped by database in Redis, so every channel name carries
 * it: two deployments on two databases of one server stay apart. */

/* Appends the prefix of the table channels of database db:
 * "tablecart:table:" for db 0, else "tablecart:db<db>:table:". A table's
 * changes and signals go to the prefix followed by its id in decimal. */
void tc_redis_table_channel_prefix(int db, tc_buf *out);

/* Appends the channel on which `menu import` says the stored menu changed:
 * "tablecart:menu" for db 0, else "tablecart:db<db>:menu". */
void tc_redis_menu_channel(int db, tc_buf *out);

/* Room for the key of any table's cart, its NUL included. */
#define TC_REDIS_CART_KEY_SIZE (sizeof "tablecart:cart:-2147483648")

/* Writes the key of table_id's cart hash, "tablecart:cart:<tableId>", to
 * out (NUL-terminated). */
void tc_redis_cart_key(int32_t table_id, char out[TC_REDIS_CART_KEY_SIZE]);

/* A table channel carries two kinds of message:
 * - a change: "tc3 <instance> <origin> <version> <n>\n<packed cart><cart
 *   JSON>", instance as 16 lowercase hex digits (the id of the instance that
 *   made the change), origin (the connection of that instance that asked,
 *   0 = none), the cart's version and n, the length of the packed cart
 *   (tc_cart_pack), in decimal. tc_redis_msg_header appends all before the
 *   JSON; the Lua script appends the cart JSON, so the JSON is sent to Redis
 *   only once. The version in the header lets a receiver drop a cart it
 *   already has without reading further; the packed cart lets it take the
 *   cart without parsing the JSON, which only goes to its subscribers. A
 *   change without a packed cart (what earlier builds send) is
 *   "tc2 <instance> <origin> <version>\n<cart JSON>".
 * - a signal: "ts1\n<bytes>" (tc_redis_signal_header), any bytes.
 * The table is the channel's. */
void tc_redis_msg_header(tc_buf *out, uint64_t instance, uint64_t origin, int64_t version,
                         const char *pack, size_t pack_len);

#define TC_REDIS_SIGNAL_HEADER "ts1\n"

typedef enum { TC_REDIS_MSG_CART, TC_REDIS_MSG_SIGNAL } tc_redis_msg_kind;

typedef struct {
    tc_redis_msg_kind kind;
    uint64_t instance; /* a change's */
    uint64_t origin;   /* a change's */
    int64_t version;   /* a change's */
    const char *pack;  /* a change's packed cart (NULL: none sent), borrowed like body */
    size_t pack_len;
    const char *body; /* the cart JSON or the signal, borrowed from the decoded bytes */
    size_t body_len;
} tc_redis_msg;

/* Splits a message. Returns 0 and *out (pointing into p), or TC_EINVAL for
 * anything that is not exactly one of the formats above (the cart JSON
 * itself is not checked here); *out is untouched then. */
int tc_redis_msg_decode(const char *p, size_t n, tc_redis_msg *out);

/* Whether m, a change heard on table_id's channel, carries a cart JSON as
 * this build writes it for that table at m's version, on one line: it
 * starts {"tableId":<table_id>, and ends ,"version":<version>,"updatedAt":
 * <digits or null>}, with no CR or LF (a line break would end an SSE data
 * line). Not a parse (the JSON goes to the streams as it is, and is parsed
 * only when a request needs it): what a foreign writer or a corrupted
 * message sends is told apart from a cart cheaply, before anything is fed. */
bool tc_redis_msg_cart_fits(const tc_redis_msg *m, int32_t table_id);

/* The updatedAt at the end of m's cart JSON, as the tail above has it: its
 * digits' value, -1 for null; INT64_MIN (the store's TC_STORE_AT_UNKNOWN)
 * when the JSON does not end that way (or the number has more than 18
 * digits). */
int64_t tc_redis_msg_updated_at(const tc_redis_msg *m);

/* The table id a table channel names: ch (n bytes) must be prefix (plen
 * bytes, tc_redis_table_channel_prefix) followed by a canonical decimal
 * int32. Returns 0 and *table_id, or TC_EINVAL. */
int tc_redis_channel_table(const char *ch, size_t n, const char *prefix, size_t plen,
                           int32_t *table_id);

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
