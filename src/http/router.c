#include "http/router.h"

#include "core/mem.h"

#include <http_parser.h>
#include <stdlib.h>

typedef struct {
    unsigned methods;
    char *pattern; /* prefix + pattern */
    tc_http_handler handler;
} route;

struct tc_router {
    route *routes;
    size_t n, cap;
};

unsigned tc_router_method_bit(int m)
{
    switch (m) {
    case HTTP_GET:
        return TC_M_GET;
    case HTTP_HEAD:
        return TC_M_HEAD;
    case HTTP_POST:
        return TC_M_POST;
    case HTTP_PUT:
        return TC_M_PUT;
    case HTTP_DELETE:
        return TC_M_DELETE;
    case HTTP_OPTIONS:
        return TC_M_OPTIONS;
    default:
        return 0;
    }
}

tc_router *tc_router_new(void)
{
    return tc_xcalloc(1, sizeof(tc_router));
}

void tc_router_free(tc_router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        free(r->routes[i].pattern);
    free(r->routes);
    free(r);
}

void tc_router_add(tc_router *r, unsigned methods, const char *prefix, const char *pattern,
                   tc_http_handler handler)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->routes = tc_xrealloc(r->routes, r->cap * sizeof *r->routes);
    }
    tc_buf p = TC_BUF_INIT;
    tc_buf_append_str(&p, prefix);
    tc_buf_append_str(&p, pattern);
    if (methods & TC_M_GET) methods |= TC_M_HEAD;
    r->routes[r->n++] = (route){methods, (char *)tc_buf_cstr(&p), handler};
}

/* Matches path against pattern, capturing "{}" segments. */
static bool match_one(const char *pat, tc_view path, tc_route_match *m)
{
    const char *s = path.base, *end = path.base + path.len;
    size_t np = 0;
    while (*pat) {
        if (pat[0] == '{' && pat[1] == '}') {
            const char *seg = s;
            while (s < end && *s != '/')
                s++;
            if (s == seg || np == TC_ROUTE_MAX_PARAMS) return false;
            m->params[np++] = (tc_view){seg, (size_t)(s - seg)};
            pat += 2;
            continue;
        }
        if (s == end || *s != *pat) return false;
        s++;
        pat++;
    }
    if (s != end) return false;
    m->n_params = np;
    return true;
}

/* tc_router_match for the path exactly as written. */
static void match_path(const tc_router *r, unsigned method_bit, tc_view path, tc_route_match *m)
{
    m->handler = NULL;
    m->pattern = NULL;
    m->n_params = 0;
    m->allowed = 0;
    /* A fixed path (cart/add) is a resource of its own: it is never taken for
     * a pattern's parameter (cart/{tableId}), whatever the method. */
    bool fixed_hit = false;
    for (size_t i = 0; i < r->n && !fixed_hit; i++) {
        tc_route_match t;
        fixed_hit =
            strstr(r->routes[i].pattern, "{}") == NULL && match_one(r->routes[i].pattern, path, &t);
    }
    for (size_t i = 0; i < r->n; i++) {
        tc_route_match t;
        if (fixed_hit && strstr(r->routes[i].pattern, "{}")) continue;
        if (!match_one(r->routes[i].pattern, path, &t)) continue;
        m->allowed |= r->routes[i].methods;
        if ((r->routes[i].methods & method_bit) && m->handler == NULL) {
            m->handler = r->routes[i].handler;
            m->pattern = r->routes[i].pattern;
            m->n_params = t.n_params;
            for (size_t k = 0; k < t.n_params; k++)
                m->params[k] = t.params[k];
        }
    }
}

void tc_router_match(const tc_router *r, unsigned method_bit, tc_view path, tc_route_match *m)
{
    match_path(r, method_bit, path, m);
    /* One trailing slash is ignored (/cart/123/ is /cart/123), as Spring
     * MVC 5 matched it by default: the original service's clients may send
     * it. Only when nothing matched as written. */
    if (m->allowed == 0 && path.len > 1 && path.base[path.len - 1] == '/' &&
        path.base[path.len - 2] != '/')
        match_path(r, method_bit, (tc_view){path.base, path.len - 1}, m);
}

void tc_router_allow_header(unsigned methods, tc_buf *out)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{TC_M_GET, "GET"}, {TC_M_HEAD, "HEAD"},     {TC_M_POST, "POST"},
                 {TC_M_PUT, "PUT"}, {TC_M_DELETE, "DELETE"}, {TC_M_OPTIONS, "OPTIONS"}};
    bool first = true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(methods & names[i].bit)) continue;
        if (!first) tc_buf_append_str(out, ", ");
        tc_buf_append_str(out, names[i].name);
        first = false;
    }
}
