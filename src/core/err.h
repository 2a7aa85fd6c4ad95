/* err.h — the one error vocabulary of tablecart.
 *
 * Functions return 0 on success or a negative tc_err code. A few return the
 * positive TC_UNCHANGED to say "valid, but nothing changed". Human-readable
 * messages that name the offending field travel in a tc_errmsg filled by the
 * callee; tc_strerror names the code itself. */
#ifndef TC_CORE_ERR_H
#define TC_CORE_ERR_H

#define TC_ERRORS(X)                                                                               \
    X(TC_OK, 0, "ok")                                                                              \
    X(TC_EINVAL, -1, "invalid input")                                                              \
    X(TC_ENOTFOUND, -2, "not found")                                                               \
    X(TC_ECONFLICT, -3, "version conflict")                                                        \
    X(TC_ELIMIT, -4, "limit exceeded")                                                             \
    X(TC_ESOLDOUT, -5, "dish not available")                                                       \
    X(TC_ESTORE, -6, "store unavailable")                                                          \
    X(TC_EIO, -7, "i/o error")                                                                     \
    X(TC_EPROTO, -8, "protocol error")                                                             \
    X(TC_ETOOBIG, -9, "too large")                                                                 \
    X(TC_ECLOSED, -10, "closed")                                                                   \
    X(TC_EAUTH, -11, "unauthorized")                                                               \
    X(TC_EFORBIDDEN, -12, "forbidden")                                                             \
    X(TC_EMEDIA, -13, "unsupported media type")                                                    \
    X(TC_EMETHOD, -14, "method not allowed")                                                       \
    X(TC_EBUSY, -15, "too many requests")

enum tc_err {
#define TC_ERR_ENUM(name, value, text) name = value,
    TC_ERRORS(TC_ERR_ENUM)
#undef TC_ERR_ENUM
};

/* Positive result: the input was valid but changed nothing (no version bump). */
#define TC_UNCHANGED 1

/* Name of an error code ("invalid input"); never NULL, "unknown error" for
 * anything outside the enum. */
const char *tc_strerror(int code);

/* A message for a person, naming the field that is wrong
 * ("quantity must be between 1 and 99"). Always NUL-terminated. text is
 * English (logs, the CLI, developers); a message from the catalogue of
 * diner texts (core/text.h, tc_errmsg_say) also carries its Chinese text and
 * id — answer it with tc_errmsg_text in the caller's language. */
typedef struct {
    char text[256];
    char zh[256]; /* "" for a developer text */
    int id;       /* its tc_text, 0 for a developer text */
} tc_errmsg;

/* Formats a developer text into m (truncating), if m is not NULL. Returns
 * code, so callers can write `return tc_errmsg_set(m, TC_EINVAL, "...")`. */
int tc_errmsg_set(tc_errmsg *m, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A URL as a message may show it: url itself, or a placeholder when it has
 * '@', '?' or '#', which could start a password or options (a mistyped
 * redis URL must not carry its password into a log). Never NULL. */
const char *tc_url_shown(const char *url);

#endif
