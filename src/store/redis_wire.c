#include "store/redis_wire.h"

#include "core/json.h"
#include "cart/money.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* --- URL ----------------------------------------------------------------- */

/* A decimal number of at most 9 digits in s[0..n); -1 if it is not one. */
static long small_number(const char *s, size_t n)
{
    if (n == 0 || n > 9) return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int tc_redis_url_parse(const char *rest, tc_redis_url *out, tc_errmsg *err)
{
    const char *url = tc_url_shown(rest); /* in messages: never a password */
    if (strncmp(rest, "//", 2) != 0)
        return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: expected redis://HOST:PORT", url);
    const char *p = rest + 2, *host, *host_end;
    const char *at = strchr(p, '@');
    size_t ulen = at ? (size_t)(at - p) : 0;
    if (at && memchr(p, ':', ulen) != NULL)
        return tc_errmsg_set(err, TC_EINVAL, TC_REDIS_NO_PASSWORD_IN_URL);
    if (at && (ulen == 0 || ulen >= sizeof out->user || strcspn(p, "/?# ") < ulen))
        return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: bad user before @", url);
    if (at) p = at + 1;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (host_end == NULL)
            return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: missing ] after the address",
                                 url);
        p = host_end + 1;
    } else {
        host = p;
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0) return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: missing host", url);
    if (hlen >= sizeof out->host)
        return tc_errmsg_set(err, TC_EINVAL, "store: redis URL: host name too long (%zu bytes)",
                             hlen);
    for (size_t i = 0; i < hlen; i++)
        if (host[i] == '@' || host[i] == '?' || host[i] == '#' || host[i] == ' ' ||
            (unsigned char)host[i] < 0x21)
            return tc_errmsg_set(err, TC_EINVAL,
                                 "store: redis:%s: unsupported host (no password or options)", url);

    long port = TC_REDIS_DEFAULT_PORT, db = 0;
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, "/");
        port = small_number(p, n);
        if (port < 1 || port > 65535)
            return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: port must be 1-65535", url);
        p += n;
    } else if (*p != '/' && *p != '\0') {
        return tc_errmsg_set(err, TC_EINVAL, "store: redis:%s: expected :PORT after the host", url);
    }
    if (*p == '/') {
        p++;
        size_t n = strlen(p);
        if (n > 0) {
            db = small_number(p, n);
            if (db < 0)
                return tc_errmsg_set(err, TC_EINVAL,
                                     "store: redis:%s: database must be a number (/0, /1, ...)",
                                     url);
        }
    }
    memset(out, 0, sizeof *out);
    memcpy(out->user, rest + 2, ulen);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (int)port;
    out->db = (int)db;
    return 0;
}

void tc_redis_table_channel_prefix(int db, tc_buf *out)
{
    if (db == 0)
        tc_buf_append_str(out, "tablecart:table:");
    else
        tc_buf_appendf(out, "tablecart:db%d:table:", db);
}

void tc_redis_menu_channel(int db, tc_buf *out)
{
    if (db == 0)
        tc_buf_append_str(out, "tablecart:menu");
    else
        tc_buf_appendf(out, "tablecart:db%d:menu", db);
}

/* A canonical decimal (no sign, no leading zero) in p[*i..n) up to a byte
 * that is no digit: 0 and *v, or TC_EINVAL (none, leading zero, above max). */
static int read_decimal(const char *p, size_t n, size_t *i, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;
    size_t start = *i;
    for (; *i < n && isdigit((unsigned char)p[*i]); (*i)++) {
        uint64_t d = (uint64_t)(p[*i] - '0');
        if (x > (max - d) / 10) return TC_EINVAL;
        x = x * 10 + d;
    }
    size_t digits = *i - start;
    /* One canonical form: no leading zeros, so encode(decode(x)) == x. */
    if (digits == 0 || (digits > 1 && p[start] == '0')) return TC_EINVAL;
    *v = x;
    return 0;
}

int tc_redis_channel_table(const char *ch, size_t n, const char *prefix, size_t plen,
                           int32_t *table_id)
{
    if (n <= plen || memcmp(ch, prefix, plen) != 0) return TC_EINVAL;
    size_t i = plen;
    uint64_t v;
    if (read_decimal(ch, n, &i, INT32_MAX, &v) != 0 || i != n) return TC_EINVAL;
    *table_id = (int32_t)v;
    return 0;
}

#define CART_KEY_PREFIX "tablecart:cart:"

void tc_redis_cart_key(int32_t table_id, char out[TC_REDIS_CART_KEY_SIZE])
{
    /* No printf: every change writes a key. */
    char digits[TC_JSON_INT_MAX];
    size_t n = tc_json_int_text(table_id, digits), p = sizeof CART_KEY_PREFIX - 1;
    memcpy(out, CART_KEY_PREFIX, p);
    memcpy(out + p, digits, n);
    out[p + n] = '\0';
}

/* --- change messages ----------------------------------------------------- */

#define MSG_MAGIC "tc2 "      /* a change without its packed cart */
#define MSG_MAGIC_PACK "tc3 " /* with it */

void tc_redis_msg_header(tc_buf *out, uint64_t instance, uint64_t origin, int64_t version,
                         const char *pack, size_t pack_len)
{
    static const char hex[] = "0123456789abcdef";
    char id[16];
    for (int i = 15; i >= 0; i--, instance >>= 4)
        id[i] = hex[instance & 15];
    tc_buf_append_str(out, pack_len ? MSG_MAGIC_PACK : MSG_MAGIC);
    tc_buf_append(out, id, sizeof id);
    tc_buf_append(out, " ", 1);
    tc_buf_append_udec(out, origin);
    tc_buf_append(out, " ", 1);
    tc_buf_append_udec(out, (uint64_t)version);
    if (pack_len) {
        tc_buf_append(out, " ", 1);
        tc_buf_append_udec(out, pack_len);
    }
    tc_buf_append(out, "\n", 1);
    if (pack_len) tc_buf_append(out, pack, pack_len);
}

int tc_redis_msg_decode(const char *p, size_t n, tc_redis_msg *out)
{
    size_t sig = sizeof TC_REDIS_SIGNAL_HEADER - 1;
    if (n >= sig && memcmp(p, TC_REDIS_SIGNAL_HEADER, sig) == 0) {
        *out = (tc_redis_msg){.kind = TC_REDIS_MSG_SIGNAL, .body = p + sig, .body_len = n - sig};
        return 0;
    }
    size_t magic = sizeof MSG_MAGIC - 1, i;
    if (n < magic + 16 + 5) return TC_EINVAL;
    bool packed = memcmp(p, MSG_MAGIC_PACK, magic) == 0;
    if (!packed && memcmp(p, MSG_MAGIC, magic) != 0) return TC_EINVAL;
    uint64_t instance = 0;
    for (i = magic; i < magic + 16; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) return TC_EINVAL;
        instance = instance << 4 | (uint64_t)d;
    }
    if (p[i++] != ' ') return TC_EINVAL;
    uint64_t origin, version, pack_len = 0;
    if (read_decimal(p, n, &i, UINT64_MAX, &origin) != 0) return TC_EINVAL;
    if (i >= n || p[i++] != ' ') return TC_EINVAL;
    if (read_decimal(p, n, &i, INT64_MAX, &version) != 0) return TC_EINVAL;
    if (packed) {
        /* One canonical form: a change without a packed cart is a tc2. */
        if (i >= n || p[i++] != ' ') return TC_EINVAL;
        if (read_decimal(p, n, &i, n, &pack_len) != 0 || pack_len == 0) return TC_EINVAL;
    }
    if (i >= n || p[i] != '\n') return TC_EINVAL;
    i++;
    if (pack_len > n - i) return TC_EINVAL;
    *out = (tc_redis_msg){.kind = TC_REDIS_MSG_CART,
                          .instance = instance,
                          .origin = origin,
                          .version = (int64_t)version,
                          .pack = pack_len ? p + i : NULL,
                          .pack_len = (size_t)pack_len,
                          .body = p + i + pack_len,
                          .body_len = n - i - (size_t)pack_len};
    return 0;
}

/* Appends lit (a literal) and then v in decimal at *at. */
#define PUT(buf, at, lit, v)                                                                       \
    do {                                                                                           \
        memcpy((buf) + (at), lit, sizeof lit - 1);                                                 \
        (at) += sizeof lit - 1;                                                                    \
        (at) += tc_json_int_text(v, (buf) + (at));                                                 \
    } while (0)

bool tc_redis_msg_cart_fits(const tc_redis_msg *m, int32_t table_id)
{
    const char *p = m->body;
    size_t n = m->body_len;
    if (m->kind != TC_REDIS_MSG_CART || n == 0 || memchr(p, '\n', n) || memchr(p, '\r', n))
        return false;
    char head[sizeof "{\"tableId\":" + TC_JSON_INT_MAX];
    char tail[sizeof ",\"version\":,\"updatedAt\":" + TC_JSON_INT_MAX];
    size_t hl = 0, tl = 0;
    PUT(head, hl, "{\"tableId\":", table_id);
    PUT(tail, tl, ",\"version\":", m->version);
    memcpy(tail + tl, ",\"updatedAt\":", sizeof ",\"updatedAt\":" - 1);
    tl += sizeof ",\"updatedAt\":" - 1;
    /* Where updatedAt's value starts: digits or null, then the final "}". */
    size_t end = n - 1;
    if (p[end] != '}') return false;
    if (end >= 4 && memcmp(p + end - 4, "null", 4) == 0) {
        end -= 4;
    } else {
        while (end > 0 && isdigit((unsigned char)p[end - 1]))
            end--;
        if (end == n - 1) return false; /* no value */
    }
    /* tableId's value ends at a comma: the tail's own, at the least. */
    return end >= hl + tl && memcmp(p, head, hl) == 0 && p[hl] == ',' &&
           memcmp(p + end - tl, tail, tl) == 0;
}

#undef PUT

int64_t tc_redis_msg_updated_at(const tc_redis_msg *m)
{
    static const char key[] = "\"updatedAt\":";
    const char *p = m->body;
    size_t n = m->body_len, end;
    if (m->kind != TC_REDIS_MSG_CART || n < sizeof key || p[n - 1] != '}') return INT64_MIN;
    end = n - 1;
    size_t start = end;
    while (start > 0 && isdigit((unsigned char)p[start - 1]) && end - start < 19)
        start--;
    int64_t at = 0;
    if (start == end) {
        if (end < 4 || memcmp(p + end - 4, "null", 4) != 0) return INT64_MIN;
        start = end - 4;
        at = -1;
    } else if (end - start > 18) {
        return INT64_MIN;
    } else {
        for (size_t i = start; i < end; i++)
            at = at * 10 + (p[i] - '0');
    }
    size_t kl = sizeof key - 1;
    if (start < kl || memcmp(p + start - kl, key, kl) != 0) return INT64_MIN;
    return at;
}

/* --- menu ---------------------------------------------------------------- */

void tc_redis_menu_json(const tc_menu *m, tc_buf *out)
{
    tc_buf_append_str(out, "{\"stores\":[");
    size_t ns = tc_menu_store_count(m), nt = tc_menu_table_count(m), nc = tc_menu_cuisine_count(m);
    for (size_t si = 0; si < ns; si++) {
        const tc_store_info *s = tc_menu_store_at(m, si);
        if (si) tc_buf_append(out, ",", 1);
        tc_buf_append_str(out, "\n{\"storeId\":");
        tc_json_int(out, s->store_id);
        tc_buf_append_str(out, ",\"name\":");
        tc_json_cstr_or_null(out, s->name);
        tc_buf_append_str(out, ",\"tables\":[");
        bool first = true;
        for (size_t i = 0; i < nt; i++) {
            const tc_table *t = tc_menu_table_at(m, i);
            if (t->store_id != s->store_id) continue;
            tc_buf_append_str(out, first ? "{\"tableId\":" : ",{\"tableId\":");
            first = false;
            tc_json_int(out, t->table_id);
            tc_buf_append_str(out, ",\"tableNumber\":");
            tc_json_cstr_or_null(out, t->table_number);
            tc_buf_append(out, "}", 1);
        }
        tc_buf_append_str(out, "],\"cuisines\":[");
        first = true;
        for (size_t i = 0; i < nc; i++) {
            const tc_cuisine *c = tc_menu_cuisine_at(m, i);
            if (c->store_id != s->store_id) continue;
            if (!first) tc_buf_append(out, ",", 1);
            first = false;
            tc_menu_cuisine_json(c, false, out);
        }
        tc_buf_append_str(out, "]}");
    }
    tc_buf_append_str(out, "]}");
}

static void add_all(tc_menu *dst, const tc_menu *src)
{
    for (size_t i = 0; i < tc_menu_store_count(src); i++)
        tc_menu_add_store(dst, tc_menu_store_at(src, i));
    for (size_t i = 0; i < tc_menu_table_count(src); i++)
        tc_menu_add_table(dst, tc_menu_table_at(src, i));
    for (size_t i = 0; i < tc_menu_cuisine_count(src); i++)
        tc_menu_add_cuisine(dst, tc_menu_cuisine_at(src, i));
}

tc_menu *tc_redis_menu_merge(const tc_menu *base, const tc_menu *update)
{
    tc_menu *m = tc_menu_new();
    if (base != NULL) add_all(m, base);
    add_all(m, update); /* an id already there is replaced: the update wins */
    tc_menu_freeze(m);
    return m;
}
