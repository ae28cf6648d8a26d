/* httpd.h: the server side of HTTP/1.1 for inetd-style tools (oys-serve, oys-store serve,
 * oys-attest serve): one request read strictly from a file descriptor, one response written.
 *
 * Strict on purpose (workerd behind us is lenient): CRLF line ends only, no obs-fold, no
 * whitespace before ':', one Host, one Content-Length of digits, Transfer-Encoding exactly
 * "chunked" and never together with Content-Length, limits on every part, deadlines against
 * slow clients. Anything else is refused with the fitting status before it reaches a function. */
#ifndef OYS_HTTPD_H
#define OYS_HTTPD_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct oys_header {
	const char *name;
	const char *value;
};

struct oys_http_limits {
	size_t max_line;         /* request line, bytes (414 beyond) */
	size_t max_head;         /* request line and headers together, bytes (431 beyond) */
	size_t max_headers;      /* number of header fields (431 beyond) */
	size_t max_body;         /* body bytes (413 beyond) */
	int head_timeout_ms;     /* the whole head must arrive within this (408) */
	int body_timeout_ms;     /* and the body within this after it (408) */
};

#define OYS_HTTP_LIMITS_DEFAULT {8192, 32768, 100, 1 << 20, 10000, 30000}

struct oys_http_request {
	char method[16];
	char *target;               /* request-target as sent: "/fn/abc/x?y=1" */
	char *path;                 /* target without the query */
	char *query;                /* after '?', or NULL */
	int version;                /* 10 or 11 */
	struct oys_header *headers; /* names and values point into head */
	size_t nheaders;
	struct oys_buf body;        /* de-chunked */
	struct oys_buf head;        /* storage */
	double t_start_ms;          /* when the first byte arrived (oys_now_ms) */
};

/* Reads one request from in. 100-continue is answered on out when asked for. Returns 0; or
 * the HTTP status to answer with (400, 408, 411, 413, 414, 417, 431, 501, 505) and the reason
 * in e; or -1 when the peer closed without sending anything (nothing to answer). */
int oys_http_read_request(int in, int out, const struct oys_http_limits *lim,
                          struct oys_http_request *r, struct oys_err *e);
void oys_http_request_free(struct oys_http_request *r);

/* The value of the first header called name (case-insensitive), or NULL. */
const char *oys_http_header(const struct oys_http_request *r, const char *name);

/* The standard reason phrase ("Not Found"), or "Unknown". */
const char *oys_http_reason(int status);

/* A whole response: status line, the given headers (those with CR, LF or NUL in them are
 * dropped), Content-Length, Connection: close, the body. Returns 0 or -1 (peer gone). */
int oys_http_respond(int fd, int status, const char *content_type, const struct oys_header *h,
                     size_t nh, const void *body, size_t len);

/* The JSON error every oys server answers with:
 * {"error": {"code", "message", "stage", "request_id"}} (stage and request_id when given). */
int oys_http_respond_error(int fd, int status, const char *code, const char *message,
                           const char *stage, const char *request_id,
                           const struct oys_header *h, size_t nh);

/* The peer as the UCSPI environment describes it ($PROTO, ${PROTO}REMOTEIP/PORT), else
 * socat's SOCAT_PEERADDR/SOCAT_PEERPORT; "-" when unknown. */
void oys_http_peer(char *out, size_t outsz);

/* Whether s is a valid header value (no CTL other than HTAB). */
int oys_http_valid_value(const char *s);
int oys_http_valid_name(const char *s);

#endif
