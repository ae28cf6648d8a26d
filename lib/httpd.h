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

/* ---- an answer that never waits on the client ----
 * oys_http_answer_start() writes what the connection takes at once, without blocking, so the
 * caller can give back what the request held (a sandbox) whether the client reads or not;
 * oys_http_answer_finish() writes the rest later, and drops a client that takes nothing for a
 * while. The body is not copied: keep it until the answer is finished or freed. */
struct oys_http_answer {
	int fd;
	struct oys_buf head;     /* status line and headers */
	const char *body;        /* the caller's */
	size_t body_len;
	size_t sent;             /* bytes of head and body written */
};

/* Builds the response as oys_http_respond() does and writes what fd takes now. Returns 0 (all
 * of it may not be out yet: oys_http_answer_left()), or -1 when the peer is gone (or out of
 * memory). */
int oys_http_answer_start(struct oys_http_answer *a, int fd, int status, const char *content_type,
                          const struct oys_header *h, size_t nh, const void *body, size_t len);
/* Bytes not written yet; and the answer's whole size. */
size_t oys_http_answer_left(const struct oys_http_answer *a);
size_t oys_http_answer_size(const struct oys_http_answer *a);
/* Writes the rest. 0 once all is out; OYS_ETEMPFAIL when the client took no byte for
 * idle_ms; OYS_EIO when it is gone. */
int oys_http_answer_finish(struct oys_http_answer *a, int idle_ms);
void oys_http_answer_free(struct oys_http_answer *a);

/* Whether an Authorization header value is "Bearer TOKEN" with exactly this token (token
 * not empty). In constant time with respect to the token's bytes: how long it takes depends
 * on the two lengths only, never on where they first differ. */
int oys_http_bearer_ok(const char *authorization, const char *token);

/* The JSON error every oys server answers with:
 * {"error": {"code", "message", "stage", "request_id"}} (stage and request_id when given). */
int oys_http_respond_error(int fd, int status, const char *code, const char *message,
                           const char *stage, const char *request_id,
                           const struct oys_header *h, size_t nh);

#endif
