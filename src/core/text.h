/* text.h — every message a diner can see, in Chinese and in English (SPEC
 * §2: diners read Chinese; developers ask for English with Accept-Language).
 *
 * One catalogue: each message has an id, a Chinese text (natural Chinese,
 * full-width punctuation, naming things by their names) and an English one,
 * both printf formats over the same parameters, declared by a signature:
 * "d" an int, "s" a string, "f" a field's name (a string the Chinese text
 * shows by its Chinese name), "u" an unsigned, "l" a long long.
 * Formats use %d, %s, %u, %lld and %% only, in the signature's order. A format may
 * use a prefix of its parameters (the Chinese often leaves out an id the
 * English names). Producers (cart rules, the command reader, access, limits,
 * the HTTP layer) fill a tc_errmsg with tc_errmsg_say; the answer is
 * rendered in the caller's language with tc_errmsg_text. Logs and the CLI
 * use the English text. The seed's fixed texts (core/wire.h) are not here. */
#ifndef TC_CORE_TEXT_H
#define TC_CORE_TEXT_H

#include "core/err.h"

#include <stdarg.h>
#include <stddef.h>

typedef enum { TC_LANG_ZH = 0, TC_LANG_EN = 1 } tc_lang;

/* X(id, signature, Chinese, English) */
#define TC_TEXTS(X)                                                                                \
    /* fields and JSON bodies (api/input, api/command, core/parse) */                              \
    X(TC_T_REQUIRED, "f", "缺少%s", "%s is required")                                              \
    X(TC_T_NOT_ID, "f", "%s须为正整数", "%s must be a positive integer")                           \
    X(TC_T_NOT_INT, "f", "%s须为整数", "%s must be an integer")                                    \
    X(TC_T_NOT_STRING, "f", "%s须为文字", "%s must be a string")                                   \
    X(TC_T_TEXT_TOO_LONG, "fd", "%s最多 %d 个字", "%s must be at most %d characters of text")      \
    X(TC_T_TEXT_NOT_UTF8, "f", "%s须为有效的文字", "%s must be valid UTF-8 text")                  \
    X(TC_T_DUP_KEY, "s", "请求内容里的“%s”重复了", "duplicate key '%s' in request body")           \
    X(TC_T_DUP_KEY_ANY, "", "请求内容里有重复的键", "duplicate key in request body")               \
    X(TC_T_WS_DUP_KEY, "s", "消息里的“%s”重复了", "duplicate key '%s' in message")                 \
    X(TC_T_WS_DUP_KEY_ANY, "", "消息里有重复的键", "duplicate key in message")                     \
    X(TC_T_BODY_NOT_JSON, "", "请求内容不是有效的 JSON", "request body is not valid JSON")         \
    X(TC_T_BODY_NOT_OBJECT, "", "请求内容须为 JSON 对象", "request body must be a JSON object")    \
    X(TC_T_CONTENT_TYPE, "", "请求内容须为 JSON（Content-Type: application/json）",                \
      "Content-Type must be application/json")                                                     \
    X(TC_T_IF_MATCH, "", "If-Match 须为本接口的 ETag，例如 \"v3\"",                                \
      "If-Match must be an ETag of this API, like \"v3\"")                                         \
    X(TC_T_IDEM_KEY, "", "Idempotency-Key 须为 1 到 255 个字符",                                   \
      "Idempotency-Key must be 1 to 255 characters")                                               \
    /* cart rules (cart/cart) */                                                                   \
    X(TC_T_QTY_RANGE, "dd", "数量须在 %d 到 %d 之间", "quantity must be between %d and %d")        \
    X(TC_T_QTY_MAX, "ds", "数量最多 %d 份", "quantity would exceed %d for %s")                     \
    X(TC_T_TOTAL_MAX, "", "合计不能超过 99999999.99 元", "cart total would exceed 99999999.99")    \
    X(TC_T_LINES_MAX, "d", "购物车最多放 %d 种菜", "cart already has %d lines")                    \
    X(TC_T_REMARK_UTF8, "", "备注须为有效的文字", "remark must be valid UTF-8")                    \
    X(TC_T_REMARK_LONG, "d", "备注最多 %d 个字", "remark must be at most %d characters")           \
    X(TC_T_DISH_NOT_FOUND, "d", "菜品不存在", "cuisine %d not found")                              \
    X(TC_T_SOLD_OUT, "s", "%s已售罄", "%s is sold out")                                            \
    X(TC_T_NOT_IN_CART, "s", "购物车里没有%s", "%s is not in the cart")                            \
    X(TC_T_ID_NOT_IN_CART, "d", "购物车里没有这道菜", "cuisine %d is not in the cart")             \
    X(TC_T_TABLE_MISMATCH, "dd", "桌号与购物车不符",                                               \
      "tableId %d does not match the cart of table %d")                                            \
    X(TC_T_CONFLICT, "l", "购物车已被同桌修改，请刷新后再试",                                      \
      "version conflict: cart is at version %lld")                                                 \
    X(TC_T_UNKNOWN_OP, "", "未知的操作", "unknown operation")                                      \
    X(TC_T_TABLE_NOT_FOUND, "d", "桌号不存在", "table %d not found")                               \
    X(TC_T_NEED_USER, "", "需要用户身份", "user identity required")                                \
    X(TC_T_NAME_LEN, "", "名字须为 1 到 12 个字", "name must be 1 to 12 characters")               \
    X(TC_T_NAME_INVISIBLE, "", "名字不能含有看不见的字符",                                         \
      "name must not contain invisible or text direction characters")                              \
    X(TC_T_TABLE_FULL, "d", "这桌已坐满 %d 人", "the table already seats %d diners")               \
    /* the store */                                                                                \
    X(TC_T_STORE_BUSY, "d", "这桌点得太快了，请稍后再试",                                          \
      "store busy: table %d is changing too fast, try again")                                      \
    X(TC_T_STORE_DOWN, "", "服务暂时不可用，请稍后再试", "store unavailable")                      \
    /* who may do what (auth/, api/access) */                                                      \
    X(TC_T_TOKEN_REQUIRED, "", "请先登录（缺少令牌）",                                             \
      "a token is required (Authorization: Bearer)")                                               \
    X(TC_T_TOKEN_INVALID, "", "登录已失效，请重新扫码", "invalid token")                           \
    X(TC_T_TOKEN_ALG, "", "登录已失效，请重新扫码", "invalid token: only HS256 is accepted")       \
    X(TC_T_TOKEN_NO_EXP, "", "登录已失效，请重新扫码", "token has no exp")                         \
    X(TC_T_TOKEN_BAD_EXP, "", "登录已失效，请重新扫码", "token has a bad exp")                     \
    X(TC_T_TOKEN_EXPIRED, "", "登录已过期，请重新扫码", "token expired")                           \
    X(TC_T_TOKEN_BAD_NBF, "", "登录已失效，请重新扫码", "token has a bad nbf")                     \
    X(TC_T_TOKEN_NBF, "", "登录尚未生效，请稍后再试", "token is not yet valid (nbf)")              \
    X(TC_T_TOKEN_NO_USER, "", "登录已失效，请重新扫码", "token has no userId")                     \
    X(TC_T_TOKEN_BAD_TABLE, "", "登录已失效，请重新扫码", "token has a bad tableId")               \
    X(TC_T_TOKEN_BAD_STORE, "", "登录已失效，请重新扫码", "token has a bad storeId")               \
    X(TC_T_TOKEN_NOT_IN_USE, "", "本店不使用登录令牌", "tokens are not in use")                    \
    X(TC_T_TOKEN_OTHER_TABLE, "d", "您的登录不能用于这张桌", "token is not valid for table %d")    \
    /* limits (api/limit, net/server) */                                                           \
    X(TC_T_TOO_MANY_CHANGES, "u", "操作太频繁，请 %u 秒后再试",                                    \
      "too many changes to this table, retry in %u s")                                             \
    X(TC_T_TOO_MANY_CONNS, "", "来自这个地址的连接太多，请稍后再试",                               \
      "too many connections from this address")                                                    \
    X(TC_T_TOO_MANY_NEW_CONNS, "", "来自这个地址的新连接太多，请稍后再试",                         \
      "too many new connections from this address")                                                \
    X(TC_T_SERVER_FULL, "", "服务器繁忙，请稍后再试", "server is at its connection limit")         \
    /* HTTP (http/session, http/static, api/live) */                                               \
    X(TC_T_NO_ROUTE, "ss", "找不到这个地址", "no route for %s %s")                                 \
    X(TC_T_METHOD, "ss", "这个地址不支持该请求方法", "method %s is not allowed on %s")             \
    X(TC_T_BAD_QUERY, "s", "网址参数“%s”的转义有误",                                               \
      "malformed query string: bad percent-escape in parameter '%s'")                              \
    X(TC_T_BAD_FORM, "s", "表单参数“%s”的转义有误",                                                \
      "malformed form body: bad percent-escape in parameter '%s'")                                 \
    X(TC_T_BODY_TOO_BIG, "", "请求内容太大", "request body is larger than the limit")              \
    X(TC_T_HEAD_TOO_BIG, "", "请求头太大", "request head is larger than the limit")                \
    X(TC_T_TOO_SLOW, "", "请求超时", "request took too long to arrive")                            \
    X(TC_T_CODING, "", "不支持这种传输编码", "transfer coding not supported")                      \
    X(TC_T_HTTP_VERSION, "", "不支持这个 HTTP 版本", "HTTP version not supported")                 \
    X(TC_T_MALFORMED, "", "请求格式有误", "malformed HTTP request")                                \
    X(TC_T_FILE_NOT_FOUND, "", "文件不存在", "file not found")                                     \
    X(TC_T_BAD_PATH, "", "路径有误", "bad path")                                                   \
    X(TC_T_WS_GET, "", "WebSocket 握手须为 GET 请求",                                              \
      "a WebSocket handshake must be a GET request")                                               \
    X(TC_T_WS_UPGRADE, "", "需要 WebSocket 升级（Upgrade: websocket）",                            \
      "WebSocket upgrade required (Upgrade: websocket)")                                           \
    X(TC_T_WS_VERSION, "", "Sec-WebSocket-Version 须为 13", "Sec-WebSocket-Version must be 13")    \
    X(TC_T_WS_HTTP11, "", "WebSocket 握手须为 HTTP/1.1 请求",                                      \
      "a WebSocket handshake must be an HTTP/1.1 request")                                         \
    X(TC_T_WS_KEY, "", "Sec-WebSocket-Key 缺失或格式有误",                                         \
      "Sec-WebSocket-Key is missing or malformed")                                                 \
    /* WebSocket messages (api/ws_cmd) */                                                          \
    X(TC_T_WS_TYPE_REQUIRED, "", "消息缺少 type", "type is required")                              \
    X(TC_T_WS_UNKNOWN_TYPE, "s", "未知的消息类型“%s”", "unknown message type '%s'")                \
    X(TC_T_WS_DATA_OBJECT, "", "data 须为对象", "data must be an object")                          \
    X(TC_T_WS_IDEM_KEY, "", "idempotencyKey 须为 1 到 255 字节的字符串",                           \
      "idempotencyKey must be a string of 1 to 255 bytes")                                         \
    X(TC_T_WS_NOT_JSON, "", "消息须为 JSON 对象", "message is not a valid JSON object")

typedef enum {
    TC_T_NONE = 0, /* no catalogue text: a developer text (English only) */
#define TC_TEXT_ENUM(id, sig, zh, en) id,
    TC_TEXTS(TC_TEXT_ENUM)
#undef TC_TEXT_ENUM
        TC_T_COUNT
} tc_text;

/* The format of id in lang; NULL for TC_T_NONE or an id out of range. */
const char *tc_text_format(tc_text id, tc_lang lang);
/* The parameter signature of id ("sd": a string, then an int). */
const char *tc_text_signature(tc_text id);

/* Renders id with its parameters into m: both languages, so that whoever
 * answers picks one. Returns code. */
int tc_errmsg_say(tc_errmsg *m, int code, tc_text id, ...);
int tc_errmsg_vsay(tc_errmsg *m, int code, tc_text id, va_list ap);

/* The catalogue text without parameters whose English text is en (a static
 * reason handed up by a lower layer), or TC_T_NONE. */
tc_text tc_text_by_en(const char *en);

/* The message of m for a reader of lang: the catalogue text in that
 * language, or for a message with no catalogue text (a developer text) its
 * English text to a developer and to a diner the plain Chinese word for
 * code ("请求有误", "服务暂时不可用，请稍后再试"). Never NULL. */
const char *tc_errmsg_text(const tc_errmsg *m, int code, tc_lang lang);

/* The language an Accept-Language value asks for: English when an en tag
 * ("en", "en-US", …) has a higher q than every zh tag (q=0 counts as not
 * wanted); Chinese otherwise, and for a missing or empty value. */
tc_lang tc_lang_parse(const char *value, size_t len);

#endif
