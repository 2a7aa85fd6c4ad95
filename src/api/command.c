#include "api/command.h"

#include "api/input.h"
#include "core/wire.h"

#include <string.h>

/* The fields a command may read, as bits. */
enum { F_DISH = 1, F_QUANTITY = 2, F_REMARK = 4 };

struct tc_command {
    tc_op_kind kind;
    const char *type; /* the WebSocket message type */
    unsigned fields;
};

/* SPEC §3 (REST) and §5 (WebSocket): the same four commands. */
static const tc_command commands[] = {
    {TC_OP_ADD, TC_WIRE_ADD_ITEM, F_DISH | F_QUANTITY | F_REMARK},
    {TC_OP_UPDATE, TC_WIRE_UPDATE_QUANTITY, F_DISH | F_QUANTITY | F_REMARK},
    {TC_OP_REMOVE, TC_WIRE_REMOVE_ITEM, F_DISH},
    {TC_OP_CLEAR, TC_WIRE_CLEAR_CART, 0},
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
