/* http.h: the HTTP/1.1 wire format, in both directions, with no I/O of its own: requests
 * parsed strictly (what oys-serve, oys-store serve and oys-attest serve accept), responses
 * parsed as they arrive (what a function answers through workerd), header syntax, the chunked
 * coding, reason phrases, and the one list of hop-by-hop fields. Both parsers are fed bytes in
 * pieces of any size, as they come off a socket; reading under deadlines is the caller's job
 * (httpd.h for servers, fn.h for the exchange with workerd).
 *
 * Strict on purpose (workerd behind us is lenient): CRLF line ends only, no NUL anywhere in a
 * head, no obs-fold, no whitespace before ':', one Host, one Content-Length of digits,
 * Transfer-Encoding exactly "chunked" and never together with Content-Length, limits on every
 * part. Anything else is refused with the fitting status before it reaches a function. */
#ifndef OYS_HTTP_H
#define OYS_HTTP_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct oys_header {
	const char *name;
	const char *value;
};

struct oys_http_limits {
	size_t max_line;         /* request line, trailer lines, bytes (414 beyond) */
	size_t max_head;         /* request line and headers together, bytes (431 beyond) */
	size_t max_headers;      /* number of header fields, and of trailer fields (431 beyond) */
	size_t max_body;         /* body bytes (413 beyond) */
	int head_timeout_ms;     /* the whole head must arrive within this (408; httpd.h) */
	int body_timeout_ms;     /* and the body within this after it (408; httpd.h) */
};

#define OYS_HTTP_LIMITS_DEFAULT {8192, 32768, 100, 1 << 20, 10000, 30000}

/* What feeding a parser returns, besides an error status (>= 400, the reason in e). */
enum {
	OYS_HTTP_MORE = 0,       /* all of the input taken; the message goes on */
	OYS_HTTP_HEAD = 1,       /* (requests) the head is whole and valid: *used stops at its end */
	OYS_HTTP_DONE = 2,       /* the message is whole: *used stops at its end */
};

/* ---- header syntax ---- */

/* Whether s is a token (a valid method or header name), and a valid header value (no CTL other
 * than HTAB). */
int oys_http_valid_name(const char *s);
int oys_http_valid_value(const char *s);

/* Whether a relay must not pass the field on: hop-by-hop fields (Connection, Keep-Alive, TE,
 * Upgrade, ...) and the framing (Content-Length, Transfer-Encoding), which the relay sets
 * itself. The one list, for both directions. */
int oys_http_hop_by_hop(const char *name);

/* The standard reason phrase ("Not Found"), or "Unknown". */
const char *oys_http_reason(int status);

/* ---- the chunked transfer coding, decoded by both parsers ----
 * Chunk-size lines at most 1024 bytes, at most lim->max_body bytes of body (413 before the chunk
 * that would pass it), trailer fields ignored (lim->max_line bytes each, lim->max_headers of
 * them). */

struct oys_http_chunked {      /* the decoder's state, inside a parser's */
	const char *what;          /* "request body": named in errors */
	int state;
	unsigned long long left;   /* bytes of the current chunk still to come */
	size_t ntrailers;
	struct oys_buf line;       /* a line that has not ended yet */
};

/* ---- requests ---- */

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
	double t_start_ms;          /* when the first byte arrived (set by the reader) */
	struct {                    /* the parser's state: not for users */
		int state;
		size_t line1;           /* the request line's length once it ended */
		unsigned long long left;
		struct oys_http_chunked ch;
	} p;
};

/* Starts a request (also what oys_http_request_free leaves). */
void oys_http_request_init(struct oys_http_request *r);
/* Takes p[0..n): returns OYS_HTTP_MORE, OYS_HTTP_HEAD once (then Expect, when given, is
 * "100-continue"; feed the rest, even nothing, to go on), OYS_HTTP_DONE, or the status to
 * answer with (400, 411, 413, 414, 417, 431, 500, 501, 505) and the reason in e. After an
 * error or OYS_HTTP_DONE, feed no more. */
int oys_http_request_feed(struct oys_http_request *r, const struct oys_http_limits *lim, const char *p,
                          size_t n, size_t *used, struct oys_err *e);
/* What the request waits for, to name it when it does not come: "request head",
 * "request body", or a part of a chunked body. */
const char *oys_http_request_awaits(const struct oys_http_request *r);
void oys_http_request_free(struct oys_http_request *r);

/* The value of the request's first header called name (case-insensitive), or NULL. */
const char *oys_http_header(const struct oys_http_request *r, const char *name);

/* ---- responses ---- */

struct oys_http_response {
	int status;
	struct oys_header *headers; /* point into head */
	size_t nheaders;
	struct oys_buf head;
	struct oys_buf body;        /* de-chunked */
	struct {                    /* the parser's state: not for users */
		int state;
		int no_body;            /* the answer to a HEAD request */
		unsigned long long left;
		struct oys_http_chunked ch;
	} p;
};

/* Starts a response to a request with this method (HEAD: no body, whatever the head says). */
void oys_http_response_init(struct oys_http_response *r, const char *method);
/* Takes p[0..n): returns OYS_HTTP_MORE, OYS_HTTP_DONE, or 502 (not valid HTTP, or a head
 * over lim->max_head), 413 (a body over lim->max_body, refused before it is read when
 * Content-Length tells) or 500 (out of memory), the reason in e. */
int oys_http_response_feed(struct oys_http_response *r, const struct oys_http_limits *lim, const char *p,
                           size_t n, size_t *used, struct oys_err *e);
/* The peer closed: OYS_HTTP_DONE when that ends the response (a body framed by the close),
 * OYS_HTTP_MORE when the response was cut short. */
int oys_http_response_end(const struct oys_http_response *r);
void oys_http_response_free(struct oys_http_response *r);

#endif
