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
/* How much of an unknown type is quoted back in the error. */
#define UNKNOWN_TYPE_QUOTED 40

/* An answer that must wait for the store's answers to earlier commands:
 * a socket's answers go out in the order of its commands. */
typedef struct later {
    struct later *next;
    uint64_t after; /* send once this many store calls were answered */
    char *type;     /* NULL: a close */
    char *message;  /* or the close reason */
    uint16_t code;  /* a close's code */
} later;

typedef struct {
    tc_app *app;
    tc_lang lang; /* of the upgrade request: the language of error messages */
    bool has_user;
    int32_t user_id;
    char *phone;                  /* NULL when unknown */
    unsigned refused;             /* changes refused by --rate-changes in a row */
    uint64_t submitted, answered; /* store calls for commands */
    later *head, *tail;
} client;

void *tc_ws_cmd_client(tc_app *app, const tc_identity *who, tc_lang lang)
{
    client *cl = tc_xcalloc(1, sizeof *cl);
    cl->app = app;
    cl->lang = lang;
    cl->has_user = who->has_user_id;
    cl->user_id = (int32_t)who->user_id;
    cl->phone = who->phone ? tc_xstrdup(who->phone) : NULL;
    return cl;
}

static void later_free(later *l)
{
    free(l->type);
    free(l->message);
    free(l);
}

static void client_free(void *ctx)
{
    client *cl = ctx;
    for (later *l = cl->head, *next; l; l = next) {
        next = l->next;
        later_free(l);
    }
    free(cl->phone);
    free(cl);
}

/* Sends a message (type and message, no data) now, or after the answers of
 * the commands still with the store. type NULL: a close with code and
 * message as its reason. */
static void in_order(tc_stream *s, client *cl, const char *type, const char *message, uint16_t code)
{
    if (cl->answered == cl->submitted && cl->head == NULL) {
        if (type)
            tc_stream_ws_reply(s, type, message, NULL, 0, -1);
        else
            tc_stream_ws_close(s, code, message);
        return;
    }
    later *l = tc_xcalloc(1, sizeof *l);
    l->after = cl->submitted;
    l->type = type ? tc_xstrdup(type) : NULL;
    l->message = tc_xstrdup(message);
    l->code = code;
    if (cl->tail)
        cl->tail->next = l;
    else
        cl->head = l;
    cl->tail = l;
}

/* Sends what waited for the store calls answered so far. */
static void flush_later(tc_stream *s, client *cl)
{
    while (cl->head && cl->head->after <= cl->answered) {
        later *l = cl->head;
        cl->head = l->next;
        if (cl->head == NULL) cl->tail = NULL;
        if (l->type)
            tc_stream_ws_reply(s, l->type, l->message, NULL, 0, -1);
        else
            tc_stream_ws_close(s, l->code, l->message);
        later_free(l);
    }
}

/* One store call on behalf of a socket; holds the stream until it answers. */
typedef struct {
    tc_stream *s;
    client *cl;
    const tc_command *cmd; /* NULL for a resync */
} call;

static call *call_new(tc_stream *s, client *cl, const tc_command *cmd)
{
    call *c = tc_xcalloc(1, sizeof *c);
    c->s = s;
    c->cl = cl;
    c->cmd = cmd;
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
    in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&m, TC_EINVAL, cl->lang), 0);
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

/* A command's answer to the sender: TYPE_success with the cart, or error. */
static void answered(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    call *c = ctx;
    tc_stream *s = c->s;
    client *cl = c->cl;
    cl->answered++;
    if (status < 0) {
        tc_stream_ws_reply(s, TC_WIRE_ERROR, tc_errmsg_text(err, status, cl->lang), NULL, 0, -1);
    } else if (tc_stream_is_open(s)) {
        char type[ANSWER_TYPE_MAX];
        answer_type(tc_command_type(c->cmd), type);
        bool stale = tc_stream_ws_reply(s, type, TC_WIRE_OK_MESSAGE, cart->json->data,
                                        cart->json->len, cart->version);
        if (stale) {
            /* The client now shows an older cart than it was sent: send the
             * current one again. */
            tc_ops_get(c->cl->app, tc_stream_table(s), resynced, call_new(s, c->cl, NULL));
        }
    }
    flush_later(s, cl);
    call_end(c);
}

/* set_name's answer: set_name_success with the table's presence, or error.
 * Everyone at the table hears the new name from presence. */
static void named(void *ctx, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    call *c = ctx;
    tc_stream *s = c->s;
    client *cl = c->cl;
    cl->answered++;
    if (status < 0) {
        tc_stream_ws_reply(s, TC_WIRE_ERROR, tc_errmsg_text(err, status, cl->lang), NULL, 0, -1);
    } else {
        tc_buf data = TC_BUF_INIT;
        tc_presence_json(cl->app->presence, cart->cart, &data);
        tc_stream_ws_reply(s, TC_WIRE_SET_NAME TC_WIRE_SUCCESS_SUFFIX, TC_WIRE_OK_MESSAGE,
                           data.base, data.len, -1);
        tc_buf_free(&data);
    }
    flush_later(s, cl);
    call_end(c);
}

/* {"type":"set_name","data":{"name":"张三"}} (docs/api.md, "Presence"). */
static void set_name(tc_stream *s, client *cl, json_t *data)
{
    tc_errmsg err = {0};
    tc_op op = {.kind = TC_OP_NAME,
                .table_id = tc_stream_table(s),
                .expect_version = -1,
                .origin = tc_stream_conn_id(s),
                .who = {cl->has_user, cl->user_id, cl->phone}};
    int r = json_is_object(data) ? 0 : tc_errmsg_say(&err, TC_EINVAL, TC_T_WS_DATA_OBJECT);
    if (r == 0 && !cl->has_user) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_NEED_USER);
    if (r == 0) r = tc_input_str(data, "name", &op.name, &err);
    if (r == 0 && op.name == NULL) r = tc_errmsg_say(&err, TC_EINVAL, TC_T_REQUIRED, "name");
    if (r != 0) {
        in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&err, r, cl->lang), 0);
        return;
    }
    cl->submitted++;
    tc_ops_apply(cl->app, &op, named, call_new(s, cl, NULL));
}

static void command(tc_stream *s, client *cl, json_t *msg)
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
        set_name(s, cl, json_object_get(msg, "data"));
        return;
    }
    const tc_command *cmd = tc_command_by_type(type);
    if (cmd == NULL) {
        char m[UNKNOWN_TYPE_QUOTED + 1];
        snprintf(m, sizeof m, "%s", type);
        send_error(s, cl, TC_T_WS_UNKNOWN_TYPE, m);
        return;
    }
    json_t *data = json_object_get(msg, "data");
    if (tc_command_has_fields(cmd) && !json_is_object(data)) {
        send_error(s, cl, TC_T_WS_DATA_OBJECT);
        return;
    }
    tc_op op = {
        .table_id = tc_stream_table(s), .expect_version = -1, .origin = tc_stream_conn_id(s)};
    tc_command_source src = {.obj = data, .query = NULL};
    if (tc_command_read(cmd, &src, &op, &err) != 0) {
        in_order(s, cl, TC_WIRE_ERROR, tc_errmsg_text(&err, TC_EINVAL, cl->lang), 0);
        return;
    }
    tc_identity who = {cl->has_user, cl->user_id, cl->phone};
    op.who = who;
    uint32_t retry = tc_limit_change(cl->app, &who, tc_stream_client(s), op.table_id);
    if (retry) {
        send_error(s, cl, TC_T_TOO_MANY_CHANGES, retry);
        /* 1008, policy violation: it keeps sending what it is told to hold. */
        if (++cl->refused >= TC_LIMIT_WS_STRIKES) in_order(s, cl, NULL, "too many changes", 1008);
        return;
    }
    cl->refused = 0;
    cl->submitted++;
    tc_ops_apply(cl->app, &op, answered, call_new(s, cl, cmd));
}

static void on_text(tc_stream *s, void *ctx, const char *data, size_t len)
{
    tc_errmsg err;
    json_t *msg;
    if (tc_input_object(data, len, &msg, &err) != 0) {
        send_error(s, ctx, TC_T_WS_NOT_JSON);
        return;
    }
    command(s, ctx, msg);
    json_decref(msg);
}

const tc_stream_hooks tc_ws_cmd_hooks = {.on_text = on_text, .on_free = client_free};
