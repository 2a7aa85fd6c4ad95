#include "api/command.h"

#include "api/input.h"
#include "core/addr.h"
#include "core/wire.h"
#include "http/router.h"

#include <string.h>

/* The fields a command may read, as bits. */
enum { F_DISH = 1, F_QUANTITY = 2, F_REMARK = 4 };

struct tc_command {
    tc_op_kind kind;
    const char *type;        /* the WebSocket message type */
    unsigned method;         /* its REST route: a TC_M_ bit, */
    const char *method_name; /* its name */
    const char *path;        /* and the path below the API prefix */
    unsigned fields;
};

/* SPEC §3 (REST) and §5 (WebSocket): the same four commands. */
static const tc_command commands[] = {
    {TC_OP_ADD, TC_WIRE_ADD_ITEM, TC_M_POST, "POST", "/store/order/cart/add",
     F_DISH | F_QUANTITY | F_REMARK},
    {TC_OP_UPDATE, TC_WIRE_UPDATE_QUANTITY, TC_M_PUT, "PUT", "/store/order/cart/update",
     F_DISH | F_QUANTITY | F_REMARK},
    {TC_OP_REMOVE, TC_WIRE_REMOVE_ITEM, TC_M_DELETE, "DELETE", "/store/order/cart/remove", F_DISH},
    {TC_OP_CLEAR, TC_WIRE_CLEAR_CART, TC_M_DELETE, "DELETE", "/store/order/cart/clear", 0},
};

/* How each integer field is read. Ids may come from the query string (the
 * DELETE endpoints have no body); a quantity only from the body. */
typedef struct {
    const char *name;
    tc_in_kind kind;
    bool from_query;
} int_field;

static const int_field TABLE_ID = {"tableId", TC_IN_ID, true};
static const int_field CUISINE_ID = {"cuisineId", TC_IN_ID, true};
static const int_field QUANTITY = {"quantity", TC_IN_QUANTITY, false};

const tc_command *tc_command_of(tc_op_kind kind)
{
    return &commands[kind];
}

const tc_command *tc_command_by_type(const char *type)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].type, type) == 0) return &commands[i];
    return NULL;
}

const char *tc_command_type(const tc_command *c)
{
    return c->type;
}

tc_op_kind tc_command_kind(const tc_command *c)
{
    return c->kind;
}

bool tc_command_has_fields(const tc_command *c)
{
    return c->fields != 0;
}

unsigned tc_command_method(const tc_command *c)
{
    return c->method;
}

const char *tc_command_path(const tc_command *c)
{
    return c->path;
}

bool tc_command_idem_key_ok(size_t len)
{
    return len >= 1 && len <= TC_COMMAND_IDEM_KEY_MAX;
}

void tc_command_idem_scope(const tc_command *c, const char *prefix, const tc_identity *who,
                           const tc_addr *client, int32_t table_id, tc_view key, tc_buf *scoped,
                           tc_buf *caller)
{
    char addr[TC_ADDR_STRLEN];
    if (who->has_user_id) {
        tc_buf_append_str(caller, "u:");
        tc_buf_append_dec(caller, who->user_id);
    } else {
        tc_buf_append_str(caller, "a:");
        tc_buf_append_str(caller, tc_addr_str(client, addr, sizeof addr));
    }
    /* A user's keys by the user id alone (the same on every instance and
     * address); a caller without one by its address, as for the budget. */
    if (who->has_user_id)
        tc_buf_append_dec(scoped, who->user_id);
    else
        tc_buf_append(scoped, caller->base, caller->len);
    tc_buf_append(scoped, "|", 1);
    tc_buf_append_dec(scoped, table_id);
    tc_buf_append(scoped, "|", 1);
    tc_buf_append_str(scoped, c->method_name);
    tc_buf_append(scoped, " ", 1);
    tc_buf_append_str(scoped, prefix);
    tc_buf_append_str(scoped, c->path);
    tc_buf_append(scoped, "|", 1);
    tc_buf_append(scoped, key.base, key.len);
}

/* A required integer: from the query string when allowed and present, else
 * from a form body, else from the JSON object. */
static int read_int(const tc_command_source *src, const int_field *f, int64_t *out, tc_errmsg *err)
{
    tc_buf v = TC_BUF_INIT;
    int r;
    if (f->from_query && ((src->query && tc_http_query_get(src->query, f->name, &v)) ||
                          (src->form.base && tc_http_form_get(src->form, f->name, &v)))) {
        r = tc_parse_int((tc_view){v.base ? v.base : "", v.len}, f->name, f->kind, out, err);
    } else {
        bool present;
        r = tc_input_int(src->obj, f->name, f->kind, true, out, &present, err);
    }
    tc_buf_free(&v);
    return r;
}

int tc_command_read_table(const tc_command_source *src, int32_t *table_id, tc_errmsg *err)
{
    int64_t v;
    int r = read_int(src, &TABLE_ID, &v, err);
    if (r == 0) *table_id = (int32_t)v;
    return r;
}

int tc_command_read(const tc_command *c, const tc_command_source *src, tc_op *op, tc_errmsg *err)
{
    int64_t v;
    int r;
    op->kind = c->kind;
    if (c->fields & F_DISH) {
        if ((r = read_int(src, &CUISINE_ID, &v, err)) != 0) return r;
        op->cuisine_id = (int32_t)v;
    }
    if (c->fields & F_REMARK && (r = tc_input_str(src->obj, "remark", &op->remark, err)) != 0)
        return r;
    /* Beyond the seed: an update with a remark and no quantity sets only
     * the remark. */
    json_t *q = json_object_get(src->obj, QUANTITY.name);
    if (c->kind == TC_OP_UPDATE && op->remark != NULL && (q == NULL || json_is_null(q))) {
        op->keep_quantity = true;
        return 0;
    }
    if (c->fields & F_QUANTITY) {
        if ((r = read_int(src, &QUANTITY, &v, err)) != 0) return r;
        op->quantity = (int32_t)v;
    }
    return 0;
}
