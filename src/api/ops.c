#include "api/ops.h"

#include "api/metrics.h"
#include "core/mem.h"

#include <stdlib.h>

typedef struct {
    tc_app *app;
    tc_store_cb cb;
    void *ctx;
    uint64_t started_ns;
    tc_op_kind kind;
    bool mutation;
} op_call;

/* Times a store call that came back (status): false, and nothing counted,
 * when the store closed holding it (no answer, only what to free). */
static bool observed(tc_app *app, uint64_t started_ns, int status)
{
    if (status == TC_ECLOSED) return false;
    tc_metrics_observe_store(app->metrics, (double)(uv_hrtime() - started_ns) / 1e9, status);
    return true;
}

static void done(void *arg, int status, const tc_store_cart *cart, const tc_errmsg *err)
{
    op_call *call = arg;
    tc_metrics *m = call->app->metrics;
    if (observed(call->app, call->started_ns, status) && call->mutation) {
        if (status == 0)
            m->mutations[call->kind]++;
        else if (status < 0)
            m->mutations_rejected++;
    }
    call->cb(call->ctx, status, cart, err);
    free(call);
}

static op_call *call_new(tc_app *app, tc_store_cb cb, void *ctx)
{
    op_call *call = tc_xcalloc(1, sizeof *call);
    call->app = app;
    call->cb = cb;
    call->ctx = ctx;
    call->started_ns = uv_hrtime();
    return call;
}

void tc_ops_get(tc_app *app, int32_t table_id, tc_store_cb cb, void *ctx)
{
    tc_store_get(app->store, table_id, done, call_new(app, cb, ctx));
}

typedef struct {
    tc_app *app;
    tc_store_diners_cb cb;
    void *ctx;
    uint64_t started_ns;
} diners_call;

static void diners_done(void *arg, int status, const tc_diner *list, size_t n, const tc_errmsg *err)
{
    diners_call *call = arg;
    observed(call->app, call->started_ns, status);
    call->cb(call->ctx, status, list, n, err);
    free(call);
}

void tc_ops_diners(tc_app *app, int32_t table_id, tc_diners_op op, int64_t user_id,
                   const char *name, tc_store_diners_cb cb, void *ctx)
{
    diners_call *call = tc_xcalloc(1, sizeof *call);
    call->app = app;
    call->cb = cb;
    call->ctx = ctx;
    call->started_ns = uv_hrtime();
    tc_store_diners(app->store, table_id, op, user_id, name, diners_done, call);
}

void tc_ops_refused(tc_app *app)
{
    app->metrics->mutations_rejected++;
}

void tc_ops_apply(tc_app *app, const tc_op *op, tc_store_cb cb, void *ctx)
{
    op_call *call = call_new(app, cb, ctx);
    call->mutation = true;
    call->kind = op->kind;
    tc_store_mutate(app->store, op, &app->limits, done, call);
}

int tc_ops_http_status(int code)
{
    switch (code) {
    case 0:
    case TC_UNCHANGED:
        return 200;
    case TC_EINVAL:
    case TC_ESOLDOUT:
    case TC_ELIMIT:
        return 400;
    case TC_EAUTH:
        return 401;
    case TC_EFORBIDDEN:
        return 403;
    case TC_ENOTFOUND:
        return 404;
    case TC_EMETHOD:
        return 405;
    case TC_ECONFLICT:
        return 409;
    case TC_ETOOBIG:
        return 413;
    case TC_EMEDIA:
        return 415;
    case TC_EBUSY:
        return 429;
    case TC_ESTORE:
    case TC_EIO:
        return 503;
    default:
        return 500;
    }
}

void tc_ops_reply_error(tc_http_exchange *x, int code, const tc_errmsg *err)
{
    int status = tc_ops_http_status(code);
    tc_http_reply_envelope(x, status, tc_errmsg_text(err, code, tc_http_lang(x->req)), NULL, 0,
                           status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
}
