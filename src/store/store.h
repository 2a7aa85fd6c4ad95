/* store.h — where carts and menus live, and the change pipeline every cart
 * change goes through. Asynchronous by contract: callers never know whether
 * a backend answered at once or later.
 *
 * The pipeline (store.c) owns, per table: a queue of requests, the current
 * cart kept in memory (read from the backend once, on the table's first use),
 * tc_cart_apply, the clock and the one JSON encode of every new cart. A
 * backend only loads a stored cart and saves encoded carts (SQLite: on a
 * writer thread of its own, group-committing every save that arrives while
 * the last transaction commits; Redis: a compare-and-set that, when another
 * instance wrote first, makes the pipeline read the cart again and apply
 * the changes again). A change is answered and fed only once its save is
 * durable; a save that fails answers TC_ESTORE and feeds nothing.
 *
 * Every committed change is delivered to the change feed (set with
 * tc_store_set_feed) right after its caller's callback, before the next
 * change of its table is answered, and so is every newer cart another
 * instance wrote (origin 0); per table the feed sees versions in increasing
 * order, each at most once. The hub listens to the feed;
 * nothing else publishes changes. */
#ifndef TC_STORE_STORE_H
#define TC_STORE_STORE_H

#include "cart/cart.h"
#include "cart/diner.h"
#include "cart/menu.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

#include <uv.h>

typedef struct tc_store tc_store;

/* A cart as the store hands it out: the cart and its DTO (SPEC §1), encoded
 * once when the cart was made. Both are borrowed for the callback; take a
 * reference to json (tc_rbuf_ref) to keep the bytes. */
typedef struct {
    /* NULL for a replayed answer (TC_STORE_REPLAYED), and in the feed for a
     * cart another instance wrote that this one did not need to parse: use
     * json, version and table_id, which are always there. */
    const tc_cart *cart;
    tc_rbuf *json;
    int64_t version;
    int32_t table_id;
    /* In the feed: the store went back (it lost the table's cart: a Redis
     * restarted empty, a key evicted), so version is below one fed before
     * and every later one would be too; the table's streams start over. */
    bool reset;
} tc_store_cart;

/* A mutate's positive status: the op carried an Idempotency-Key already
 * answered; c holds that answer's version and DTO (c->cart is NULL). */
#define TC_STORE_REPLAYED 2

/* Result of a get or mutate. status: 0 changed, TC_UNCHANGED,
 * TC_STORE_REPLAYED, or a negative tc_err with err filled — TC_ECLOSED:
 * the store closed before answering (tc_store_close). c is the cart after
 * the call (NULL on error). */
typedef void (*tc_store_cb)(void *ctx, int status, const tc_store_cart *c, const tc_errmsg *err);

/* A change committed to table c->cart's table. origin: the op's origin. */
typedef void (*tc_store_feed_cb)(void *ctx, const tc_store_cart *c, uint64_t origin);

/* How the store is run. */
typedef struct {
    tc_durability durability; /* what an acknowledged change survives */
    /* This process serves the database: carts are kept in memory, so a
     * second server on the same SQLite file would answer from a stale copy.
     * An exclusive open of a file another process holds so fails. */
    bool exclusive;
    /* The Redis password (docs/redis.md, "Authentication"); NULL or "" for
     * none. Borrowed by tc_store_open only: the backend keeps its copy. */
    const char *redis_password;
    /* Sittings (docs/api.md, "Presence"): a diner seated at a table nobody
     * had a stream of, on any instance, for at least this long (ms) starts a
     * new sitting: the table's seats and names are forgotten in the same
     * atomic step. 0 (the default): seats are kept for good. */
    int64_t sitting_gap_ms;
} tc_store_opts;

/* Checks the syntax of a store URL as tc_store_open would, without
 * connecting or creating anything: a bad URL is a bad value (exit 2), not a
 * failure at run time. Returns 0 or TC_EINVAL with err naming the problem. */
int tc_store_check_url(const char *url, tc_errmsg *err);

/* Opens "sqlite:PATH" or "redis://[USER@]HOST:PORT[/DB]" (opts NULL: the
 * defaults). Loads the menu into memory. loop must outlive the store: the
 * SQLite backend answers through it. Returns 0 and *out, or a negative code
 * with err naming what failed. */
int tc_store_open(const char *url, const tc_store_opts *opts, uv_loop_t *loop, tc_store **out,
                  tc_errmsg *err);
/* Flushes what was submitted (every save already handed to a backend is
 * committed, if it can be) and closes. Every request the store still holds
 * (queued, loading, being saved; diners calls too) has its callback called
 * under this call with TC_ECLOSED (no cart, no list): no answer comes, and
 * whether such a change was saved is not told — the caller only frees what
 * it kept for the answer, sends nothing and calls nothing of the store. A
 * get, mutate or diners call made while it closes is answered so at once.
 * No callback is called after this; the loop must run once more to release
 * the backend's handles. NULL is fine. */
void tc_store_close(tc_store *s);

/* Sets the change feed (one; cb NULL: none). It is called on the loop
 * thread once per committed change, after that change's caller was
 * answered; c is borrowed for the call. */
void tc_store_set_feed(tc_store *s, tc_store_feed_cb cb, void *ctx);

/* The menu currently served; borrowed, valid until the next import. */
const tc_menu *tc_store_menu(const tc_store *s);
/* True when the store holds no store/restaurant yet (first start). */
bool tc_store_menu_empty(const tc_store *s);
/* True when the backend works on a thread of its own that the loop hands
 * each job to and hears back from (SQLite's writer; core/cores.h). */
bool tc_store_threaded(const tc_store *s);

/* Loads or updates stores, tables and dishes from m in one transaction
 * (upsert by id; nothing is deleted), then reloads the served menu.
 * Returns 0 or TC_ESTORE with err. Blocks: for start-up and the CLI. */
int tc_store_import_menu(tc_store *s, const tc_menu *m, tc_errmsg *err);

/* The cart of table_id (an empty version-0 cart if never touched);
 * TC_ENOTFOUND for an unknown table. Served from memory once the table's cart
 * was read; a get queued behind changes is answered after them. */
void tc_store_get(tc_store *s, int32_t table_id, tc_store_cb cb, void *ctx);

/* Applies op (tc_cart_apply) in the table's order and answers once the new
 * cart is durable. op, its strings and lim are copied. With op->idem_key, a
 * 2xx answer (changed or unchanged) is remembered for TC_STORE_IDEM_TTL_MS,
 * saved with the change, and a later op with the same key is answered
 * TC_STORE_REPLAYED with it instead of being applied again. */
void tc_store_mutate(tc_store *s, const tc_op *op, const tc_cart_limits *lim, tc_store_cb cb,
                     void *ctx);

/* How long an Idempotency-Key answer is remembered (SPEC §3: 24 h), and the
 * heap the remembered answers may take, overall and per caller (docs/api.md). */
#define TC_STORE_IDEM_TTL_MS (24ll * 3600 * 1000)
#define TC_STORE_IDEM_MAX_BYTES (64u << 20)
#define TC_STORE_IDEM_CALLER_BYTES (1u << 20)

/* The heap the remembered Idempotency-Key answers take now. */
size_t tc_store_idem_bytes(const tc_store *s);

/* The cart changes waiting in their table's queue for a read or a save of
 * that table on its way (not yet applied nor handed to the backend). */
size_t tc_store_queued_changes(const tc_store *s);

/* Appends the store's metrics (Prometheus text: tablecart_store_queued_changes)
 * and the backend's own (Redis: pub/sub messages received, channels
 * subscribed; SQLite has none) to out. */
void tc_store_metrics(tc_store *s, tc_buf *out);

/* 0 when the store answers, TC_ESTORE otherwise (for /healthz). */
int tc_store_ping(tc_store *s);

/* ===== what instances tell each other (beyond the cart) ===================
 * Implemented in store/relay.c. With SQLite this process is the only
 * instance; with Redis every instance on the same Redis takes part. */

/* Following: the live layer says which tables have subscribers here. Calls
 * nest per table (follow n times, unfollow n times). A shared backend
 * (Redis) hears other instances' changes and signals only for the tables
 * this instance follows; what it knows of an unfollowed table may be stale,
 * so the pipeline reads such a table again before using it. */
void tc_store_follow(tc_store *s, int32_t table_id);
void tc_store_unfollow(tc_store *s, int32_t table_id);
/* True when other instances share this store and hear its signals (Redis);
 * false when this process is the only one (SQLite): a signal would only
 * come back to its sender. */
bool tc_store_shared(const tc_store *s);
/* How many times table_id is followed here (0: not followed). */
unsigned tc_store_following(const tc_store *s, int32_t table_id);

/* Signals: short messages about a table, not stored, sent to every
 * instance that follows the table — this one included. The feed gets each
 * on the loop thread, later (never from inside tc_store_signal); msg is
 * borrowed for the call. A signal sent while the backend cannot be reached
 * is dropped: use them for state every instance sends again (presence). */
typedef void (*tc_store_signal_cb)(void *ctx, int32_t table_id, const char *msg, size_t len);
void tc_store_set_signal_feed(tc_store *s, tc_store_signal_cb cb, void *ctx);
/* Sends msg (copied) for table_id. */
void tc_store_signal(tc_store *s, int32_t table_id, const char *msg, size_t len);

/* ===== who sits at a table (beyond the seed; docs/api.md, "Presence") ======
 * Implemented in store/diners.c. Seats and names are kept per table apart
 * from the cart (a seat never changes a cart's version), stored by the
 * backend in one atomic step per change — the same on every instance and
 * across restarts. A table's list is read once, on its first use, and kept
 * in memory: seating a diner who is seated already costs nothing. Per table
 * the calls are answered in order. With a shared backend (Redis) the list of
 * a table nobody here follows is read again at its next use, and
 * tc_store_diners_reread reads it again when another instance said it
 * changed.
 *
 * Sittings (tc_store_opts.sitting_gap_ms > 0): the backend keeps per table
 * the time its diners were last known active. Every seat step (JOIN, NAME)
 * sets it, and first forgets the table's seats and names when it is at least
 * the gap old (tc_sitting_over), in the same atomic step; a GET then reads
 * an empty list. While this instance follows a table (has a stream of it),
 * the store tells the backend the table is active every
 * tc_sitting_touch_ms(gap), and once more when the last follower leaves. A
 * list known in memory answers only while the table has been followed here
 * since such a step: then no instance can have ended the sitting. */

/* TC_DINERS_TOUCH is the store's own (the activity time above), never a
 * caller's. */
typedef enum { TC_DINERS_GET, TC_DINERS_JOIN, TC_DINERS_NAME, TC_DINERS_TOUCH } tc_diners_op;

/* The answer: status 0 (the list changed), TC_UNCHANGED, or a negative
 * code with err: TC_ENOTFOUND (no such table), TC_ELIMIT (a NAME of a diner
 * not seated at a full table), TC_ESTORE, TC_ECLOSED (tc_store_close). list (n diners, seat order)
 * is the table's whole list after the call, borrowed for the callback; NULL on error. */
typedef void (*tc_store_diners_cb)(void *ctx, int status, const tc_diner *list, size_t n,
                                   const tc_errmsg *err);

/* GET: the list. JOIN: seats user_id (the next seat) unless seated already
 * or the table has TC_DINER_MAX_SEATS diners (TC_UNCHANGED then: online but
 * seatless). NAME: seats user_id likewise, then sets their name (checked
 * already: tc_diner_name_check; copied). cb may run under this call (a
 * list known in memory) or later. */
void tc_store_diners(tc_store *s, int32_t table_id, tc_diners_op op, int64_t user_id,
                     const char *name, tc_store_diners_cb cb, void *ctx);

/* The list of table_id as known here now: true with *list (*n diners;
 * borrowed until the next call into the store), false when not read yet. */
bool tc_store_diners_known(const tc_store *s, int32_t table_id, const tc_diner **list, size_t *n);

/* Another instance changed table_id's diners, or the store is back after
 * an outage: reads them again now if they were read before (the diners
 * feed then hears of a difference). With sittings, a table whose diner
 * stayed here while its last step failed is told active first (diners.c). */
void tc_store_diners_reread(tc_store *s, int32_t table_id);

/* Called on the loop thread whenever the list known of a table changed:
 * mine is true when a call of this process changed it (tell the other
 * instances), false when a read found it changed elsewhere. */
typedef void (*tc_store_diners_feed_cb)(void *ctx, int32_t table_id, bool mine);
void tc_store_set_diners_feed(tc_store *s, tc_store_diners_feed_cb cb, void *ctx);

/* Called on the loop thread after the served menu was replaced: by
 * tc_store_import_menu in this process, or when the backend saw a newer
 * menu written elsewhere (tc_store_menu_replace). tc_store_menu then gives
 * the new one. */
typedef void (*tc_store_menu_cb)(void *ctx);
void tc_store_set_menu_feed(tc_store *s, tc_store_menu_cb cb, void *ctx);

#endif
