#include "api/ws_cmd.h"

#include "api/command.h"
#include "api/input.h"
#include "api/limit.h"
#include "api/ops.h"
#include "api/presence.h"
#include "core/clock.h"
#include "core/mem.h"
#include "core/wire.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for an answer's type: the longest command name plus "_success". */
#define ANSWER_TYPE_MAX 48
/* How much of an unknown type is quoted back in the error, in bytes. */
#define UNKNOWN_TYPE_QUOTED 40

/* What a socket sends in answer to its commands, in their order: an answer
 * that comes before the answers to earlier commands waits here. A store
 * call's entry is queued when the command is taken and filled when the
 * store answers (cart changes and names are answered by different queues
 * of the store). */
typedef struct later {
    struct later *next;
    bool ready;    /* false: the store's answer is still to come */
    char *type;    /* NULL: a close */
    char *message; /* or the close reason */
    char *data;    /* NULL: none */
    size_t data_len;
    int64_t version; /* of a cart in data; -1: none */
    uint16_t code;   /* a close's code */
} later;

/* One per socket, in its stream's block: every byte counts (docs/memory.md). */
typedef struct {
    int32_t user_id;
    bool has_user;
    uint8_t lang;       /* tc_lang of the upgrade request: the language of error messages */
    uint8_t refused;    /* changes refused by --rate-changes in a row (saturating) */
    char *phone;        /* NULL when unknown */
    later *tail;        /* the answers held back, a ring: tail->next is the first */
    int64_t expires_ms; /* the token's exp, epoch ms; INT64_MAX: none */
} client;

_Static_assert(sizeof(client) == TC_WS_CMD_CLIENT_SIZE, "TC_WS_CMD_CLIENT_SIZE is the client");

void tc_ws_cmd_client_init(void *mem, const tc_identity *who, int64_t expires_s, tc_lang lang)
{
    client *cl = mem;
    cl->expires_ms = expires_s >= INT64_MAX / 1000 ? INT64_MAX : expires_s * 1000;
    cl->lang = (uint8_t)lang;
    cl->has_user = who->has_user_id;
    cl->user_id = (int32_t)who->user_id;
    cl->phone = who->phone ? tc_xstrdup(who->phone) : NULL;
}

tc_identity tc_ws_cmd_client_who(const void *mem)
{
    const client *cl = mem;
    return (tc_identity){cl->has_user, cl->user_id, NULL};
}

bool tc_ws_cmd_busy(const void *mem)
{
    const client *cl = mem;
    return cl->tail != NULL;
}

bool tc_ws_cmd_full(const void *mem)
{
    const client *cl = mem;
    if (cl->tail == NULL) return false;
    size_t n = 0, bytes = 0;
    const later *l = cl->tail;
    do {
        l = l->next;
        n++;
        bytes += sizeof *l + l->data_len + (l->type ? strlen(l->type) + 1 : 0) +
                 (l->message ? strlen(l->message) + 1 : 0);
    } while (l != cl->tail && n < TC_WS_CMD_HELD_MAX && bytes < TC_WS_CMD_HELD_BYTES);
    return n >= TC_WS_CMD_HELD_MAX || bytes >= TC_WS_CMD_HELD_BYTES;
}

static tc_lang lang_of(const client *cl)
{
    return (tc_lang)cl->lang;
}

static later *first(const client *cl)
{
    return cl->tail ? cl->tail->next : NULL;
}

/* Takes the first answer out of the queue. */
static later *pop_first(client *cl)
{
    later *l = cl->tail->next;
    if (l == cl->tail)
        cl->tail = NULL;
    else
        cl->tail->next = l->next;
    return l;
}

static void later_free(later *l)
{
    free(l->type);
    free(l->message);
    free(l->data);
    free(l);
}

void tc_ws_cmd_client_free(void *mem)
{
    client *cl = mem;
    while (cl->tail)
        later_free(pop_first(cl));
    free(cl->phone);
    cl->phone = NULL;
}

static void later_append(client *cl, later *l)
{
    if (cl->tail) {
        l->next = cl->tail->next;
        cl->tail->next = l;
    } else {
        l->next = l;
    }
    cl->tail = l;
}

/* Sends a message (type and message, no data) now, or after the answers of
 * the commands still with the store. type NULL: a close with code and
 * message as its reason. */
static void in_order(tc_stream *s, client *cl, const char *type, const char *message, uint16_t code)
{
    if (cl->tail == NULL) {
        if (type)
            tc_stream_ws_reply(s, type, message, NULL, 0, -1);
        else
            tc_stream_ws_close(s, code, message);
        return;
    }
    later *l = tc_xcalloc(1, sizeof *l);
    l->ready = true;
    l->type = type ? tc_xstrdup(type) : NULL;
    l->message = tc_xstrdup(message);
    l->version = -1;
    l->code = code;
    later_append(cl, l);
}

/* A place in the order for a store call's answer (answer fills it). */
static later *reserve(client *cl)
{
    later *l = tc_xcalloc(1, sizeof *l);
    l->version = -1;
    later_append(cl, l);
    return l;
}

static void send_reply(tc_app *app, tc_stream *s, const char *type, const char *message,
                       const char *data, size_t len, int64_t version);

/* Sends what is ready at the head of the queue. */
static void flush_later(tc_app *app, tc_stream *s, client *cl)
{
    while (first(cl) && first(cl)->ready) {
        later *l = pop_first(cl);
        if (l->type)
            send_reply(app, s, l->type, l->message, l->data, l->data_len, l->version);
        else
            tc_stream_ws_close(s, l->code, l->message);
        later_free(l);
    }
}

/* A store call's answer for slot: sent now when nothing before it waits
 * (without copying data), else kept in slot until it is its turn. */
static void answer(tc_app *app, tc_stream *s, client *cl, later *slot, const char *type,
                   const char *message, const char *data, size_t len, int64_t version)
{
    if (slot == first(cl)) {
        later_free(pop_first(cl));
        send_reply(app, s, type, message, data, len, version);
        flush_later(app, s, cl);
        /* All answered: a close the client sent after them is read now. */
        if (cl->tail == NULL) tc_stream_ws_idle(s);
        return;
    }
    slot->ready = true;
    slot->type = tc_xstrdup(type);
    slot->message = tc_xstrdup(message);
    if (data) {
        slot->data = tc_xmalloc(len + 1);
        memcpy(slot->data, data, len);
        slot->data_len = len;
    }
    slot->version = version;
}

typedef struct {
    tc_app *app;
    tc_stream *s;
    client *cl;
    const tc_command *cmd; /* NULL for a resync and a set_name */
    later *slot;           /* where its answer goes; NULL for a resync */
} call;

static call *call_new(tc_app *app, tc_stream *s, client *cl, const tc_command *cmd, bool ordered)
{
    call *c = tc_xcalloc(1, sizeof *c);
    c->app = app;
    c->s = s;
    c->cl = cl;
    c->cmd = cmd;
    c->slot = ordered ? reserve(cl) : NULL;
    tc_stream_hold(s);
    return c;
}

static void call_end(call *c)
{
    tc_stream_release(c->s);
    free(c);
}

/* An error message from the catalogue (its parameters follow), in the
 * socket's language. */
static void send_error(tc_stream *s, client *cl, tc_text id, ...)
{
    tc_errmsg m;
    va_list ap;
    va_start(ap, id);
    tc_errmsg_vsay(&m, TC_EINVAL, id, ap);
    va_end(ap);
    in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&m, TC_EINVAL, lang_of(cl)), 0);
}

static void resynced(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    call *c = ctx;
    (void)err;
    if (status >= 0)
        tc_stream_send_cart(c->s, cart->version, (tc_view){cart->json->data, cart->json->len},
                            tc_clock_epoch_ms());
    call_end(c);
}

/* "<command type>_success" into out, without printf (per change). */
static void answer_type(const char *cmd, char out[ANSWER_TYPE_MAX])
{
    size_t n = strlen(cmd), k = sizeof TC_WIRE_SUCCESS_SUFFIX;
    memcpy(out, cmd, n);
    memcpy(out + n, TC_WIRE_SUCCESS_SUFFIX, k); /* with its NUL */
}

static void send_reply(tc_app *app, tc_stream *s, const char *type, const char *message,
                       const char *data, size_t len, int64_t version)
{
    if (!tc_stream_is_open(s)) return;
    bool stale = tc_stream_ws_reply(s, type, message, data, len, version);
    if (stale && version >= 0) {
        /* The client now shows an older cart than it was sent: send the
         * current one again. */
        tc_ops_get(app, tc_stream_table(s), resynced,
                   call_new(app, s, tc_stream_user(s), NULL, false));
    }
}

/* A command's error answer, in the language of the socket's upgrade;
 * none for TC_ECLOSED (the store closed holding it: its slot goes with the
 * client). */
static void answer_error(call *c, int status, const tc_errmsg *err)
{
    if (status == TC_ECLOSED) return;
    answer(c->app, c->s, c->cl, c->slot, TC_WIRE_ERROR, tc_errmsg_text(err, status, lang_of(c->cl)),
           NULL, 0, -1);
}

/* A command's answer to the sender: TYPE_success with the cart, or error. */
static void answered(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    call *c = ctx;
    tc_stream *s = c->s;
    client *cl = c->cl;
    if (status < 0) {
        answer_error(c, status, err);
    } else {
        char type[ANSWER_TYPE_MAX];
        answer_type(tc_command_type(c->cmd), type);
        answer(c->app, s, cl, c->slot, type, TC_WIRE_OK_MESSAGE, cart->json->data, cart->json->len,
               cart->version);
    }
    call_end(c);
}

/* set_name's answer: set_name_success with the table's presence, or error.
 * Everyone at the table hears the new name from presence. */
static void named(void *ctx, int status, const tc_diner *list, size_t n, const tc_errmsg *err)
{
    call *c = ctx;
    tc_stream *s = c->s;
    client *cl = c->cl;
    if (status < 0) {
        answer_error(c, status, err);
    } else {
        tc_buf data = TC_BUF_INIT;
        tc_presence_json(c->app->presence, tc_stream_table(s), list, n, &data);
        answer(c->app, s, cl, c->slot, TC_WIRE_SET_NAME TC_WIRE_SUCCESS_SUFFIX, TC_WIRE_OK_MESSAGE,
               data.base, data.len, -1);
        tc_buf_free(&data);
    }
    call_end(c);
}

/* The caller's change to this table is past --rate-changes: answers the
 * error (and after TC_LIMIT_WS_STRIKES refusals in a row closes with 1008)
 * and returns true. A change and a name count alike. */
static bool over_limit(tc_app *app, tc_stream *s, client *cl)
{
    tc_identity who = {cl->has_user, cl->user_id, cl->phone};
    uint32_t retry = tc_limit_change(app, &who, tc_stream_client(s), tc_stream_table(s));
    if (retry == 0) {
        cl->refused = 0;
        return false;
    }
    send_error(s, cl, TC_T_TOO_MANY_CHANGES, retry);
    /* 1008, policy violation: it keeps sending what it is told to hold. */
    if (cl->refused < UINT8_MAX) cl->refused++;
    if (cl->refused >= TC_LIMIT_WS_STRIKES) in_order(s, cl, NULL, "too many changes", 1008);
    return true;
}

/* {"type":"set_name","data":{"name":"张三"}} (docs/api.md, "Presence"). */
static void set_name(tc_app *app, tc_stream *s, client *cl, json_t *data)
{
    tc_errmsg err = {0};
    const char *asked = NULL;
    char *name = NULL;
    int r = json_is_object(data) ? 0 : tc_errmsg_say(&err, TC_EINVAL, TC_T_WS_DATA_OBJECT);
    if (r == 0 && !cl->has_user) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_NEED_USER);
    if (r == 0) r = tc_input_str(data, "name", &asked, &err);
    if (r == 0 && asked == NULL) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_REQUIRED, "name");
    if (r == 0) r = tc_diner_name_check(asked, &name, &err);
    if (r != 0) {
        in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&err, r, lang_of(cl)), 0);
        return;
    }
    if (over_limit(app, s, cl)) {
        free(name);
        return;
    }
    tc_ops_diners(app, tc_stream_table(s), TC_DINERS_NAME, cl->user_id, name, named,
                  call_new(app, s, cl, NULL, true));
    free(name);
}

static void command(tc_app *app, tc_stream *s, client *cl, json_t *msg)
{
    tc_errmsg err = {0};
    const char *type = NULL;
    if (tc_input_str(msg, "type", &type, &err) != 0 || type == NULL) {
        send_error(s, cl, TC_T_WS_TYPE_REQUIRED);
        return;
    }
    if (strcmp(type, TC_WIRE_HEARTBEAT) == 0) {
        in_order(s, cl, TC_WIRE_HEARTBEAT, TC_WIRE_PONG_MESSAGE, 0);
        return;
    }
    if (strcmp(type, TC_WIRE_SET_NAME) == 0) {
        set_name(app, s, cl, json_object_get(msg, "data"));
        return;
    }
    const tc_command *cmd = tc_command_by_type(type);
    if (cmd == NULL) {
        /* At most UNKNOWN_TYPE_QUOTED bytes, cut between characters (type
         * is valid UTF-8: a cut inside one would be quoted as U+FFFD). */
        char m[UNKNOWN_TYPE_QUOTED + 1];
        size_t n = strlen(type);
        if (n > UNKNOWN_TYPE_QUOTED) {
            n = UNKNOWN_TYPE_QUOTED;
            while (n > 0 && ((unsigned char)type[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(m, type, n);
        m[n] = '\0';
        send_error(s, cl, TC_T_WS_UNKNOWN_TYPE, m);
        return;
    }
    json_t *data = json_object_get(msg, "data");
    if (tc_command_has_fields(cmd) && !json_is_object(data)) {
        tc_ops_refused(app);
        send_error(s, cl, TC_T_WS_DATA_OBJECT);
        return;
    }
    tc_op op = {
        .table_id = tc_stream_table(s), .expect_version = -1, .origin = tc_stream_conn_id(s)};
    tc_command_source src = {.obj = data, .query = NULL};
    if (tc_command_read(cmd, &src, &op, &err) != 0) {
        tc_ops_refused(app);
        in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&err, TC_EINVAL, lang_of(cl)), 0);
        return;
    }
    /* Beyond the seed: a key that makes a retried command apply once, in
     * the key space of the REST Idempotency-Key (docs/api.md). */
    const char *key = NULL;
    int bad_key = tc_input_str(msg, TC_WIRE_IDEM_KEY, &key, &err);
    size_t key_len = key ? strlen(key) : 0;
    if (bad_key != 0 || (key && !tc_command_idem_key_ok(key_len))) {
        tc_ops_refused(app);
        send_error(s, cl, TC_T_WS_IDEM_KEY);
        return;
    }
    tc_identity who = {cl->has_user, cl->user_id, cl->phone};
    op.who = who;
    if (over_limit(app, s, cl)) {
        tc_ops_refused(app);
        return;
    }
    tc_buf scoped = TC_BUF_INIT, caller = TC_BUF_INIT;
    if (key) {
        tc_command_idem_scope(cmd, app->cfg->api_prefix, &who, tc_stream_client(s), op.table_id,
                              (tc_view){key, key_len}, &scoped, &caller);
        op.idem_key = tc_buf_cstr(&scoped);
        op.idem_caller = tc_buf_cstr(&caller);
    }
    tc_ops_apply(app, &op, answered, call_new(app, s, cl, cmd, true));
    tc_buf_free(&scoped);
    tc_buf_free(&caller);
}

void tc_ws_cmd_text(tc_app *app, tc_stream *s, const char *data, size_t len)
{
    client *cl = tc_stream_user(s);
    tc_errmsg err;
    json_t *msg;
    if (tc_clock_epoch_ms() >= cl->expires_ms) {
        /* To the ms: the stream's own end is rounded up to its timer's. */
        in_order(s, cl, NULL, TC_WS_CMD_EXPIRED_REASON, 1008);
        return;
    }
    if (tc_input_object(data, len, TC_INPUT_MESSAGE, &msg, &err) != 0) {
        in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&err, TC_EINVAL, lang_of(cl)), 0);
        return;
    }
    command(app, s, cl, msg);
    json_decref(msg);
}
