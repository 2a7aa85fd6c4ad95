/* router.h — maps method + path to a handler. Patterns are literal segments
 * and "{}" for one path parameter ("/store/order/cart/{}"). */
#ifndef TC_HTTP_ROUTER_H
#define TC_HTTP_ROUTER_H

#include "core/buf.h"

#include <stddef.h>

#define TC_ROUTE_MAX_PARAMS 2

typedef struct tc_http_exchange tc_http_exchange;
/* A route's handler (see http/session.h). */
typedef void (*tc_http_handler)(tc_http_exchange *x);

typedef struct tc_router tc_router;

/* Method bits for tc_router_add. */
enum {
    TC_M_GET = 1 << 0,
    TC_M_HEAD = 1 << 1,
    TC_M_POST = 1 << 2,
    TC_M_PUT = 1 << 3,
    TC_M_DELETE = 1 << 4,
    TC_M_OPTIONS = 1 << 5,
};

/* Method bit of an http-parser method number, 0 for anything else. */
unsigned tc_router_method_bit(int http_method);

typedef struct {
    tc_http_handler handler; /* NULL when nothing matched */
    /* The route's prefix + pattern as registered ("/api/store/order/cart/add",
     * "/api/store/order/table/{}/name"): one name for every spelling of the
     * path it matched (a trailing slash, escapes). Borrowed from the router;
     * NULL when nothing matched. */
    const char *pattern;
    tc_view params[TC_ROUTE_MAX_PARAMS];
    size_t n_params;
    unsigned allowed; /* methods the path takes (for 405 and Allow) */
} tc_route_match;

/* An empty router; never NULL. Owned by the caller: tc_router_free (NULL
 * is fine) frees it and its copies of the patterns. */
tc_router *tc_router_new(void);
void tc_router_free(tc_router *r);
/* Registers handler for the methods in `methods` on prefix+pattern (both
 * copied). GET routes also answer HEAD. */
void tc_router_add(tc_router *r, unsigned methods, const char *prefix, const char *pattern,
                   tc_http_handler handler);
/* Matches; m->handler is NULL when the path is unknown (allowed == 0) or the
 * method is not allowed there (allowed != 0). A path that some route spells
 * out literally matches only the literal routes. A path that matches nothing
 * as written but ends in one slash is matched without it (Spring MVC's
 * trailing-slash match); params then point into path as given. */
void tc_router_match(const tc_router *r, unsigned method_bit, tc_view path, tc_route_match *m);
/* Appends "GET, HEAD, POST" for a method mask. */
void tc_router_allow_header(unsigned methods, tc_buf *out);

#endif
