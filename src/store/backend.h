/* backend.h — what a store backend implements (internal to src/store).
 *
 * store.c owns the tc_store, the served menu, the change pipeline and the
 * change feed, and picks a backend by the URL's scheme. A backend moves
 * carts and menu rows in and out of its database: `submit` takes jobs —
 * load one table's stored cart, save an encoded cart, read or change a
 * table's diners (seats and names, apart from the cart) — and finishes them
 * later on the loop thread; store.c does everything else. SQLite saves on a
 * writer thread (group commit); Redis saves by compare-and-set (a save whose
 * expected version moved on ends TC_ECONFLICT and store.c reloads and
 * applies again) and offers the carts other instances wrote
 * (tc_store_offer). Adding a backend = one vtable + one line in store.c's
 * table. */
#ifndef TC_STORE_BACKEND_H
#define TC_STORE_BACKEND_H

#include "store/idem.h"
#include "store/store.h"

typedef struct tc_store_pipeline tc_store_pipeline;
typedef struct tc_store_relay tc_store_relay;
typedef struct tc_store_seats tc_store_seats;

struct tc_store {
    const struct tc_store_backend *be;
    void *impl; /* the backend's state */
    uv_loop_t *loop;
    tc_store_opts opts;
    tc_menu *menu; /* served menu, frozen; replaced after an import */
    tc_store_feed_cb feed;
    void *feed_ctx;
    tc_store_pipeline *pipe; /* the per-table state (pipeline backends) */
    tc_idem *idem;           /* remembered Idempotency-Key answers */
    tc_store_relay *relay;   /* follows, signals and the menu feed (relay.c) */
    tc_store_seats *diners;  /* the tables' diners known here (diners.c) */
    bool closing;            /* tc_store_close began: answer TC_ECLOSED only */
};

/* An Idempotency-Key answer to save with a change. A probe (backends with
 * shared_idem only) is a key whose change was refused here: nothing to save,
 * but another process may have answered it (json is NULL). */
typedef struct tc_store_idem_rec {
    struct tc_store_idem_rec *next;
    char *key, *caller;
    int64_t version;    /* the answer's cart version */
    tc_rbuf *json;      /* and its DTO */
    int64_t expires_ms; /* epoch ms */
    bool probe;
} tc_store_idem_rec;

/* A save's positive status (shared_idem backends): a key of j->idem was
 * answered already, by another process; nothing was written, and j->known
 * holds those answers. */
#define TC_JOB_KNOWN 1

/* A change of a save's batch before its last one that changed the cart
 * (tc_store_job.earlier): the cart after it, that cart's DTO and the origin
 * of the change. All borrowed from store.c's batch, which outlives the job. */
typedef struct tc_store_earlier {
    const tc_cart *cart;
    const tc_rbuf *json;
    uint64_t origin;
} tc_store_earlier;

/* One unit of work handed to a pipeline backend. Owned by store.c; the
 * backend keeps it from submit until it calls done. */
typedef struct tc_store_job {
    enum { TC_JOB_LOAD, TC_JOB_SAVE, TC_JOB_DINERS } kind;
    int32_t table_id;
    /* save: the new cart's version (-1: no cart change — answers only, or
     * nothing but expect_version to compare, which a backend shared with
     * other writers still does), updated_at (ms, -1 for none) and DTO; the
     * version of the stored cart it replaces (the batch was applied to it;
     * 0: none stored yet) and its updated_at (expect_updated_at: a backend
     * shared with other writers compares both, since a store that lost a
     * version may have had it written again by another), the origin of the
     * batch's last change, and the answers to remember in the same
     * transaction */
    int64_t version, updated_at, expect_version, expect_updated_at;
    tc_rbuf *json;
    const tc_cart *cart; /* save: the new cart itself (NULL with version -1); borrowed */
    uint64_t origin;
    /* save: the batch's earlier changes of the cart, in version order (the
     * last is version - 1), n_earlier of them; store.c owns the array. A
     * backend whose other writers hear each version by a message (Redis)
     * publishes them before the final cart, in the same atomic step. Only
     * filled for a backend with `current` (one shared with other writers);
     * others get none (only the final cart is stored) */
    tc_store_earlier *earlier;
    size_t n_earlier;
    tc_store_idem_rec *idem;
    /* save: keys of answers the memory forgot for its budgets since the last
     * save (tc_idem_take_dropped, each ended by a NUL): a backend that keeps
     * its own copies (not shared_idem) deletes them in the same transaction,
     * before writing j->idem */
    tc_buf idem_dropped;
    /* load: the stored DTO (found false: none stored yet) */
    bool found;
    tc_buf row;
    /* diners: read the table's diners (TC_DINERS_GET); seat user_id unless
     * seated already or the table has TC_DINER_MAX_SEATS (JOIN); or seat
     * them likewise and set their name (NAME; name owned by the job) — one
     * atomic step in the database, whatever other instances do. With
     * gap_ms > 0 (the sitting gap; store.h, "Sittings"), a JOIN or NAME first
     * forgets the table's diners when its activity time is that old by the
     * backend's clock (tc_sitting_over; wrote is set then), and sets it to
     * now; a TOUCH does the same without seating anyone, or with keep only
     * sets it; a GET of a sitting that is over reads no diners. Then the
     * table's whole list, in seat order, in diners (the backend allocates
     * it, store.c takes it). */
    tc_diners_op diners_op;
    /* TOUCH: the sitting goes on whatever its activity time says (a diner
     * stayed at the table here through a store outage: diners.c, "held") */
    bool keep;
    int64_t gap_ms;
    int64_t user_id;
    char *name;
    tc_diner *diners;
    size_t n_diners;
    bool wrote; /* diners: the job seated or renamed someone */
    /* result: 0, TC_ESTORE with err, (a save) TC_ECONFLICT when the stored
     * version was not expect_version or TC_JOB_KNOWN, or (a NAME) TC_ELIMIT
     * when the user is not seated and the table is full: nothing was
     * written */
    int status;
    tc_store_idem_rec *known; /* TC_JOB_KNOWN: the stored answers (store.c frees) */
    tc_errmsg err;
    void (*done)(struct tc_store_job *j); /* on the loop thread, exactly once */
    void *ctx;
    struct tc_store_job *next; /* the backend's queue link */
} tc_store_job;

typedef struct tc_store_backend {
    /* URL scheme without the colon: "sqlite" matches "sqlite:PATH". */
    const char *scheme;
    /* Connects using the part of the URL after "scheme:" and sets s->impl
     * (s->opts and s->loop are set). Returns 0 or a negative code with err. */
    int (*open)(tc_store *s, const char *rest, tc_errmsg *err);
    /* Checks the part of the URL after "scheme:" without connecting or
     * creating anything. Returns 0 or TC_EINVAL with err. */
    int (*check_url)(const char *rest, tc_errmsg *err);
    /* Finishes what was submitted, then releases s->impl (handles may close
     * on the loop's next run). Jobs still unfinished get done() called with
     * s->closing set. */
    void (*close)(tc_store *s);
    /* Builds a new frozen menu from the database into *out (caller frees). */
    int (*load_menu)(tc_store *s, tc_menu **out, tc_errmsg *err);
    /* Upserts every row of m in one transaction. */
    int (*import_menu)(tc_store *s, const tc_menu *m, tc_errmsg *err);
    /* Puts every remembered Idempotency-Key answer not expired at now_ms
     * into d, oldest first (at open). NULL: answers are not kept across a
     * restart. */
    int (*load_idem)(tc_store *s, tc_idem *d, int64_t now_ms, tc_errmsg *err);
    int (*ping)(tc_store *s);
    /* Takes j; calls j->done on the loop thread, later or (when it cannot
     * even be started) under this call. A backend may finish several saves
     * in one transaction: all commit or none does. */
    void (*submit)(tc_store *s, tc_store_job *j);
    /* NULL when this process hears of every change (it is the only writer).
     * Otherwise false while a change of table_id made elsewhere may have
     * gone unheard (Redis: the table is not followed here, its subscription
     * is not confirmed or its cart not read since, or the subscriber
     * connection is down): the pipeline then reads the table's cart again
     * before each use instead of trusting the one in memory. */
    bool (*current)(tc_store *s, int32_t table_id);
    /* NULL: the tables this instance follows do not matter to the backend.
     * Otherwise told when table_id gets its first follower here (on) and
     * loses its last (off). */
    void (*follow)(tc_store *s, int32_t table_id, bool on);
    /* NULL: signals stay in this process. Otherwise sends msg (borrowed) to
     * every instance following table_id; this instance's own copy comes
     * back through tc_store_signalled like the others'. */
    void (*signal)(tc_store *s, int32_t table_id, const char *msg, size_t len);
    /* Other processes answer Idempotency-Keys in the same database: a save
     * also carries probes (the keys of the batch's refused keyed changes),
     * and a save of a key already answered ends TC_JOB_KNOWN; the batch is
     * then applied again, those keys replayed. false: this process's
     * answers are all there are (load_idem). */
    bool shared_idem;
    /* Its work runs on a thread of its own that the loop hands every job to
     * and hears back from (SQLite's writer); false: on the loop (Redis). */
    bool threaded;
    /* NULL: none. Appends the backend's own Prometheus metrics to out. */
    void (*metrics)(tc_store *s, tc_buf *out);
} tc_store_backend;

/* Opens a store on backend be, as tc_store_open does once the URL's scheme
 * has picked it: rest is the URL after "scheme:". Then loads the menu (on
 * failure the backend is closed again). Returns 0 and *out, or the backend's
 * negative code with err. Also the seam for unit tests to plug in a fake
 * backend. */
int tc_store_open_backend(const tc_store_backend *be, const char *rest, const tc_store_opts *opts,
                          uv_loop_t *loop, tc_store **out, tc_errmsg *err);

/* A backend heard that cart (owned by the call; json is its DTO, copied) is
 * now stored for its table, written by someone else. When it is newer than
 * every version of that table the store has seen, it becomes the cart in
 * memory (a table with a load or save in flight takes it when that ends: a
 * save that expected an older version comes back TC_ECONFLICT) and is fed
 * once, with origin 0; otherwise it is dropped. Tables the menu does not
 * have are ignored. On the loop thread, never from inside submit. */
void tc_store_offer(tc_store *s, tc_cart *cart, const char *json, size_t len);

/* An updatedAt not known (a message whose cart's tail could not be read). */
#define TC_STORE_AT_UNKNOWN INT64_MIN

/* The same for the cart DTO json (borrowed, copied) of table_id, written
 * elsewhere at version with updated_at (told by a message of the change:
 * its "updatedAt", -1 for null, or TC_STORE_AT_UNKNOWN), and the same cart
 * packed (pack,
 * pack_len: tc_cart_pack; borrowed, copied; NULL when the backend has none),
 * read instead of parsing json: a version not above the newest this
 * process fed for the table is dropped unread. A newer one, while the table
 * is idle, is kept and fed as it is (the feed's cart is NULL) and read only
 * when a request needs the cart (unreadable then: the cart is read again);
 * otherwise it is read at once (an unreadable one, or one of another table
 * or version, is logged and dropped) and offered as it came. */
void tc_store_offer_json(tc_store *s, int32_t table_id, int64_t version, int64_t updated_at,
                         const char *json, size_t len, const char *pack, size_t pack_len);

/* A backend read table_id's stored cart itself (its DTO json, borrowed,
 * copied; NULL: nothing stored, the empty version-0 cart), not from a
 * message: after a resubscription, say. asked_at is tc_store_seen(s,
 * table_id) when the read was sent. It names the table as the menu did at
 * its last change, so it is encoded with the menu served now; a newer cart
 * is then offered as above.
 * One older than asked_at means the store lost the table's cart (a Redis
 * restarted with no persistence, a key evicted): while the table is idle it
 * becomes the cart in memory and is fed as a reset (tc_store_cart.reset); a
 * load or save in flight finds it when it ends. One at or above asked_at but
 * below a version fed since (a change heard while the read was on its way,
 * over another connection) is only older than the streams: dropped. The
 * version fed but with another updatedAt is a loss too: the store lost the
 * one fed, and another instance wrote that version again. */
void tc_store_offer_read(tc_store *s, int32_t table_id, int64_t asked_at, const char *json,
                         size_t len);

/* A backend heard a message of this process's own save of table_id
 * (version, updated_at as for tc_store_offer_json). Every message published
 * before it was heard, so the versions up to it that wait for the versions
 * below them are fed now (store.c, "Feed order"). When it is the save on
 * its way (its message came before its reply), its changes are fed now, in
 * order and with their origins, and not again when the save ends (whose
 * callers are answered then): a newer cart heard after it, written
 * elsewhere, is then fed after them, and no stream skips them. Anything
 * else (a save already ended, another version) is otherwise ignored. On the
 * loop thread. */
void tc_store_heard_own(tc_store *s, int32_t table_id, int64_t version, int64_t updated_at);

/* A backend can no longer promise that every change of its followed tables
 * is heard (Redis: the subscriber connection went away): the versions that
 * wait for the messages of the versions below them (the cart read after a
 * lost race, and this process's changes written on top of it: store.c,
 * "Feed order") are fed now, gap or not. On the loop thread. */
void tc_store_unheard(tc_store *s);

/* The highest version of table_id this process fed (-1: none, or not known
 * here). */
int64_t tc_store_seen(const tc_store *s, int32_t table_id);

/* Whether version, with updated_at, is the highest version this process fed
 * for table_id but another write of it (the one fed had another updatedAt,
 * known here): the store lost that one. The backend then reads the cart
 * again and offers what it read (tc_store_offer_read). */
bool tc_store_seen_other(const tc_store *s, int32_t table_id, int64_t version, int64_t updated_at);

/* A backend heard a signal for table_id (msg borrowed): hands it to the
 * signal feed. On the loop thread, never from inside the signal hook. */
void tc_store_signalled(tc_store *s, int32_t table_id, const char *msg, size_t len);

/* A backend read a menu newer than the served one (written by `menu import`
 * or another instance): it becomes the served menu (the store takes m) and
 * the menu feed is called. On the loop thread. */
void tc_store_menu_replace(tc_store *s, tc_menu *m);

/* diners.c's part of opening and closing a store (after the backend
 * closed: every job has ended by then). */
void tc_store_diners_open(tc_store *s);
void tc_store_diners_close(tc_store *s);
/* relay.c tells diners.c that table_id has its first follower here (its
 * activity time is told from now on: sittings), and that it has no follower
 * here any more: with a shared backend what is known of its diners may go
 * stale, so it is read again at its next use; with sittings the backend is
 * told the table was active until now. */
void tc_store_diners_followed(tc_store *s, int32_t table_id);
void tc_store_diners_unfollowed(tc_store *s, int32_t table_id);

/* relay.c's part of opening and closing a store. */
void tc_store_relay_open(tc_store *s);
void tc_store_relay_close(tc_store *s);
/* The menu feed, after s->menu was replaced (store.c's import). */
void tc_store_relay_menu_changed(tc_store *s);

/* Encodes cart's DTO with its table from s->menu into a new buffer (one
 * reference, the caller's). */
tc_rbuf *tc_store_encode(const tc_store *s, const tc_cart *cart);
/* After s->menu replaced old: the carts kept in memory whose table changed
 * in it (tableNumber, storeId) are encoded again, at the same version (the
 * cart did not change, its table's name did). */
void tc_store_menu_reencode(tc_store *s, const tc_menu *old);

extern const tc_store_backend tc_store_backend_sqlite;
extern const tc_store_backend tc_store_backend_redis;

#endif
