/* httpd.h: the server side of HTTP/1.1 for inetd-style tools (oys-serve, oys-store serve,
 * oys-attest serve): one request read from a file descriptor under deadlines against slow
 * clients, parsed strictly by http.h, and one response written. */
#ifndef OYS_HTTPD_H
#define OYS_HTTPD_H

#include <stddef.h>

#include "http.h"

/* Reads one request from in, within lim's deadlines (NULL: OYS_HTTP_LIMITS_DEFAULT).
 * 100-continue is answered on out when asked for. Returns 0; or the HTTP status to answer
 * with (400, 408, 411, 413, 414, 417, 431, 500, 501, 505) and the reason in e; or -1 when the
 * peer closed without sending anything (nothing to answer). Free r in every case. */
int oys_http_read_request(int in, int out, const struct oys_http_limits *lim,
                          struct oys_http_request *r, struct oys_err *e);

/* A whole response: status line, the given headers (those with CR, LF or NUL in them are
 * dropped), Content-Length, Connection: close, the body. Returns 0 or -1 (peer gone). */
int oys_http_respond(int fd, int status, const char *content_type, const struct oys_header *h,
                     size_t nh, const void *body, size_t len);

/* The JSON error every oys server answers with:
 * {"error": {"code", "message", "stage", "request_id"}} (stage and request_id when given). */
int oys_http_respond_error(int fd, int status, const char *code, const char *message,
                           const char *stage, const char *request_id,
                           const struct oys_header *h, size_t nh);

#endif
