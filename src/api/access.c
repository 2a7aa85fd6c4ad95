#include "api/access.h"

int tc_access_identify(const tc_app *app, const tc_http_req *req, tc_principal *p, tc_buf *phone,
                       tc_errmsg *err)
{
    return tc_auth_identify(app->auth, req, tc_auth_now(), p, phone, err);
}

int tc_access_table(const tc_app *app, const tc_principal *p, int32_t table_id, tc_errmsg *err)
{
    return tc_auth_allow(p, tc_store_menu(app->store), table_id, err);
}

int tc_access_check(const tc_app *app, const tc_http_req *req, int32_t table_id, tc_principal *p,
                    tc_buf *phone, tc_errmsg *err)
{
    int r = tc_access_identify(app, req, p, phone, err);
    return r ? r : tc_access_table(app, p, table_id, err);
}
