#include "http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- header syntax ---- */

static int tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int oys_http_valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!tchar((unsigned char)*s))
			return 0;
	return 1;
}

int oys_http_valid_value(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static const char *find_field(const struct oys_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

static size_t count_field(const struct oys_header *h, size_t n, const char *name)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += strcasecmp(h[i].name, name) == 0;
	return k;
}

int oys_http_hop_by_hop(const char *name)
{
	static const char *const h[] = {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	                                "Transfer-Encoding", "Upgrade", "Expect", "Content-Length",
	                                "Proxy-Authorization", "Proxy-Authenticate"};
	for (size_t i = 0; i < sizeof h / sizeof *h; i++)
		if (strcasecmp(name, h[i]) == 0)
			return 1;
	return 0;
}

const char *oys_http_reason(int s)
{
	switch (s) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* A Content-Length: 1 to 18 digits, nothing else. */
static int parse_length(const char *s, unsigned long long *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18)
		return -1;
	unsigned long long v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	*out = v;
	return 0;
}

/* ---- heads ---- */

struct head_limits {
	const char *what;      /* "request head" */
	size_t max;            /* bytes */
	size_t max_line1;      /* the first line's bytes, 0: unchecked */
	size_t *line1;         /* where the first line's length is kept once it ended */
};

/* Takes the bytes of a head into h, up to its end (CRLF CRLF) and at most l->max + 1 of them.
 * Returns OYS_HTTP_MORE (all taken), OYS_HTTP_HEAD (h holds the whole head, *used ends there),
 * or 400 (NUL, bare LF), 414 (first line), 431 (too long), 500. */
static int take_head(struct oys_buf *h, const struct head_limits *l, const char *p, size_t n, size_t *used,
                     struct oys_err *e)
{
	size_t prev = h->len, room = l->max + 1 - prev, take = n < room ? n : room;
	if (oys_buf_append(h, p, take) < 0)
		return oys_err_sys(e, 500, "%s", l->what);
	if (l->max_line1 && *l->line1 == 0) {
		const char *lf = memchr(h->data + prev, '\n', h->len - prev);
		size_t first = lf ? (size_t)(lf - h->data) : h->len;
		if (first > l->max_line1 + 1)
			return oys_err_set(e, 414, "request line longer than %zu bytes", l->max_line1);
		if (lf)
			*l->line1 = first + 1;
	}
	size_t from = prev > 3 ? prev - 3 : 0;
	const char *crlf2 = memmem(h->data + from, h->len - from, "\r\n\r\n", 4);
	size_t end = crlf2 ? (size_t)(crlf2 - h->data) + 4 : 0, upto = end ? end : h->len;
	for (size_t i = prev; i < upto; i++) {
		if (h->data[i] == '\0')
			return oys_err_set(e, 400, "NUL byte in %s", l->what);
		if (h->data[i] == '\n' && (i == 0 || h->data[i - 1] != '\r'))
			return oys_err_set(e, 400, "bare LF in %s (lines end with CRLF)", l->what);
	}
	if (upto > l->max)
		return oys_err_set(e, 431, "%s larger than %zu bytes", l->what, l->max);
	if (end == 0) {
		*used = take;
		return OYS_HTTP_MORE;
	}
	h->len = end;
	h->data[end] = '\0';
	*used = end - prev;
	return OYS_HTTP_HEAD;
}

/* The next line of a whole head (no NUL, every LF after a CR), NUL-terminated in place of its
 * CR; *p moves past its LF. */
static char *next_line(char **p)
{
	char *s = *p, *lf = strchr(s, '\n');
	lf[-1] = '\0';
	*p = lf + 1;
	return s;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; (s = strchr(s, '\n')) != NULL; s++)
		n++;
	return n;
}

static int parse_field(char *line, struct oys_header *h, struct oys_err *e)
{
	if (line[0] == ' ' || line[0] == '\t')
		return oys_err_set(e, 400, "folded header line (obs-fold) not allowed");
	char *colon = strchr(line, ':');
	if (colon == NULL)
		return oys_err_set(e, 400, "header line without ':'");
	*colon = '\0';
	if (!oys_http_valid_name(line))
		return oys_err_set(e, 400, "malformed header name");
	char *v = trim(colon + 1);
	if (!oys_http_valid_value(v))
		return oys_err_set(e, 400, "control character in header %s", line);
	h->name = line;
	h->value = v;
	return 0;
}

/* The header lines of a whole head, from *p to the empty line, into h (room for all). */
static int parse_fields(char **p, struct oys_header *h, size_t *nh, struct oys_err *e)
{
	int rc;
	for (char *line; *(line = next_line(p)) != '\0'; (*nh)++)
		if ((rc = parse_field(line, &h[*nh], e)))
			return rc;
	return 0;
}

/* ---- the chunked coding ---- */

enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

#define CHUNK_LINE_MAX 1024

static void chunked_init(struct oys_http_chunked *c, const char *what)
{
	memset(c, 0, sizeof *c);
	c->what = what;
}

static void chunked_free(struct oys_http_chunked *c)
{
	oys_buf_free(&c->line);
}

/* What it waits for, to name it when it does not come. */
static const char *chunked_awaits(const struct oys_http_chunked *c)
{
	switch (c->state) {
	case CH_SIZE: return "chunk size";
	case CH_DATA_END: return "chunk end";
	case CH_TRAILER: return "trailer";
	default: return "chunked body";
	}
}

/* One CRLF line of at most max bytes from p[0..n), completing the one kept in c->line. Returns 1
 * with the line in *s, *len (without CRLF; valid until the next call), 0 when it has not ended
 * (all taken and kept), or 400, 500. *used is what was taken. */
static int chunk_line(struct oys_http_chunked *c, size_t max, const char *p, size_t n, size_t *used,
                      const char **s, size_t *len, struct oys_err *e)
{
	const char *what = chunked_awaits(c);
	const char *lf = memchr(p, '\n', n);
	size_t take = lf ? (size_t)(lf - p) + 1 : n, total = c->line.len + take;
	*used = take;
	if (lf) {
		char before = take >= 2 ? p[take - 2] : c->line.len ? c->line.data[c->line.len - 1] : '\n';
		if (before != '\r')
			return oys_err_set(e, 400, "bare LF in %s (lines end with CRLF)", what);
	}
	if (total > max + 1 + (lf != NULL))
		return oys_err_set(e, 400, "%s line too long", what);
	if (memchr(p, '\0', take) != NULL)
		return oys_err_set(e, 400, "NUL byte in %s", what);
	if (lf && c->line.len == 0) {
		*s = p;
		*len = take - 2;
		return 1;
	}
	if (oys_buf_append(&c->line, p, take) < 0)
		return oys_err_sys(e, 500, "%s", what);
	if (!lf)
		return 0;
	*s = c->line.data;
	*len = c->line.len - 2;
	c->line.len = 0; /* the memory stays until the next append */
	return 1;
}

/* What a whole line means in the state c is in. */
static int chunk_step(struct oys_http_chunked *c, const struct oys_http_limits *lim, const char *s,
                      size_t len, const struct oys_buf *body, struct oys_err *e)
{
	if (c->state == CH_DATA_END) {
		c->state = CH_SIZE; /* the line is empty: chunk_line allowed it no byte */
		return OYS_HTTP_MORE;
	}
	if (c->state == CH_TRAILER) {
		if (len == 0)
			c->state = CH_DONE;
		else if (++c->ntrailers > lim->max_headers)
			return oys_err_set(e, 431, "too many trailer fields");
		return OYS_HTTP_MORE;
	}
	const char *semi = memchr(s, ';', len);
	size_t k = semi ? (size_t)(semi - s) : len;
	if (k == 0 || k > 15)
		return oys_err_set(e, 400, "malformed chunk size");
	unsigned long long size = 0;
	for (size_t i = 0; i < k; i++) {
		int d = tolower((unsigned char)s[i]);
		if (!isxdigit(d))
			return oys_err_set(e, 400, "malformed chunk size");
		size = size * 16 + (unsigned)(isdigit(d) ? d - '0' : d - 'a' + 10);
	}
	if (size == 0) {
		c->state = CH_TRAILER;
		return OYS_HTTP_MORE;
	}
	if (size > lim->max_body || body->len + size > lim->max_body)
		return oys_err_set(e, 413, "%s larger than %zu bytes", c->what, lim->max_body);
	c->left = size;
	c->state = CH_DATA;
	return OYS_HTTP_MORE;
}

/* Decodes what it can of p[0..n) into body. Returns OYS_HTTP_MORE, OYS_HTTP_DONE after the
 * last CRLF, or 400, 413, 431, 500 (out of memory). */
static int chunked_feed(struct oys_http_chunked *c, const struct oys_http_limits *lim, const char *p,
                        size_t n, size_t *used, struct oys_buf *body, struct oys_err *e)
{
	size_t i = 0;
	int rc = OYS_HTTP_MORE;
	while (rc == OYS_HTTP_MORE && c->state != CH_DONE && i < n) {
		if (c->state == CH_DATA) {
			size_t take = n - i < c->left ? n - i : (size_t)c->left;
			if (oys_buf_append(body, p + i, take) < 0) {
				rc = oys_err_sys(e, 500, "%s", c->what);
				break;
			}
			i += take;
			c->left -= take;
			if (c->left == 0)
				c->state = CH_DATA_END;
			continue;
		}
		size_t max = c->state == CH_SIZE ? CHUNK_LINE_MAX : c->state == CH_TRAILER ? lim->max_line : 0;
		const char *s = NULL;
		size_t len = 0, u = 0;
		rc = chunk_line(c, max, p + i, n - i, &u, &s, &len, e);
		i += u;
		if (rc == 1)
			rc = chunk_step(c, lim, s, len, body, e);
	}
	*used = i;
	if (rc == OYS_HTTP_MORE && c->state == CH_DONE)
		return OYS_HTTP_DONE;
	return rc;
}

/* ---- requests ---- */

enum { RQ_HEAD, RQ_BODY, RQ_CHUNKED, RQ_DONE };

void oys_http_request_init(struct oys_http_request *r)
{
	memset(r, 0, sizeof *r);
}

void oys_http_request_free(struct oys_http_request *r)
{
	free(r->headers);
	free(r->path);
	oys_buf_free(&r->body);
	oys_buf_free(&r->head);
	chunked_free(&r->p.ch);
	oys_http_request_init(r);
}

const char *oys_http_header(const struct oys_http_request *r, const char *name)
{
	return find_field(r->headers, r->nheaders, name);
}

const char *oys_http_request_awaits(const struct oys_http_request *r)
{
	switch (r->p.state) {
	case RQ_HEAD: return "request head";
	case RQ_BODY: return "request body";
	case RQ_CHUNKED: return chunked_awaits(&r->p.ch);
	default: return "request";
	}
}

static int parse_request_line(struct oys_http_request *r, char *line, struct oys_err *e)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' '))
		return oys_err_set(e, 400, "malformed request line");
	*sp1 = *sp2 = '\0';
	size_t mlen = strlen(line);
	if (mlen == 0 || mlen >= sizeof r->method || !oys_http_valid_name(line))
		return oys_err_set(e, 400, "malformed method");
	memcpy(r->method, line, mlen + 1);
	r->target = sp1 + 1;
	for (const char *p = r->target; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return oys_err_set(e, 400, "malformed request target");
	if (r->target[0] != '/' && !(strcmp(r->target, "*") == 0 && strcmp(r->method, "OPTIONS") == 0))
		return oys_err_set(e, 400, "request target must be a path starting with /");
	const char *v = sp2 + 1;
	if (strcmp(v, "HTTP/1.1") == 0)
		r->version = 11;
	else if (strcmp(v, "HTTP/1.0") == 0)
		r->version = 10;
	else if (strncmp(v, "HTTP/", 5) == 0 && isdigit((unsigned char)v[5]) && v[6] == '.' &&
	         isdigit((unsigned char)v[7]) && v[8] == '\0')
		return oys_err_set(e, 505, "HTTP version %s not supported", v);
	else
		return oys_err_set(e, 400, "malformed HTTP version");
	return 0;
}

/* path and query: copies, so target stays whole for pass-through. */
static int split_target(struct oys_http_request *r, struct oys_err *e)
{
	r->path = strdup(r->target);
	if (r->path == NULL)
		return oys_err_sys(e, 500, "request");
	char *qm = strchr(r->path, '?');
	if (qm) {
		*qm = '\0';
		r->query = qm + 1;
	}
	return 0;
}

/* Host, the framing and Expect; where the body is (r->p.state, r->p.left). */
static int check_request(struct oys_http_request *r, const struct oys_http_limits *lim, struct oys_err *e)
{
	const struct oys_header *h = r->headers;
	size_t n = r->nheaders;
	if (count_field(h, n, "Host") > 1 || (r->version == 11 && count_field(h, n, "Host") == 0))
		return oys_err_set(e, 400, "HTTP/1.1 needs exactly one Host header");
	const char *te = find_field(h, n, "Transfer-Encoding"), *cl = find_field(h, n, "Content-Length");
	size_t nte = count_field(h, n, "Transfer-Encoding"), ncl = count_field(h, n, "Content-Length");
	if (nte && ncl)
		return oys_err_set(e, 400, "both Transfer-Encoding and Content-Length");
	if (nte > 1 || ncl > 1)
		return oys_err_set(e, 400, "repeated %s header", nte > 1 ? "Transfer-Encoding" : "Content-Length");
	r->p.state = RQ_DONE;
	if (te) {
		if (r->version == 10)
			return oys_err_set(e, 400, "Transfer-Encoding in an HTTP/1.0 request");
		if (strcasecmp(te, "chunked") != 0)
			return oys_err_set(e, 501, "Transfer-Encoding '%s' not supported (only chunked)", te);
		r->p.state = RQ_CHUNKED;
		chunked_init(&r->p.ch, "request body");
	} else if (cl) {
		if (parse_length(cl, &r->p.left) < 0)
			return oys_err_set(e, 400, "malformed Content-Length");
		if (r->p.left > lim->max_body)
			return oys_err_set(e, 413, "request body larger than %zu bytes", lim->max_body);
		if (r->p.left > 0)
			r->p.state = RQ_BODY;
	} else if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
	           strcmp(r->method, "PATCH") == 0) {
		return oys_err_set(e, 411, "%s without Content-Length or chunked body", r->method);
	}
	const char *expect = find_field(h, n, "Expect");
	if (expect && strcasecmp(expect, "100-continue") != 0)
		return oys_err_set(e, 417, "Expect '%s' not supported", expect);
	return 0;
}

static int parse_request_head(struct oys_http_request *r, const struct oys_http_limits *lim, struct oys_err *e)
{
	char *p = r->head.data;
	size_t nlines = count_lines(p); /* request line, fields, the empty line */
	int rc;
	if (nlines - 2 > lim->max_headers)
		return oys_err_set(e, 431, "more than %zu header fields", lim->max_headers);
	r->headers = calloc(nlines, sizeof *r->headers);
	if (r->headers == NULL)
		return oys_err_sys(e, 500, "request head");
	if ((rc = parse_request_line(r, next_line(&p), e)) || (rc = parse_fields(&p, r->headers, &r->nheaders, e)) ||
	    (rc = split_target(r, e)))
		return rc;
	return check_request(r, lim, e);
}

/* The request is whole: its body is a string, empty when there was none. */
static int request_done(struct oys_http_request *r, struct oys_err *e)
{
	r->p.state = RQ_DONE;
	if (r->body.data == NULL && oys_buf_reserve(&r->body, 0) < 0)
		return oys_err_sys(e, 500, "request body");
	return OYS_HTTP_DONE;
}

int oys_http_request_feed(struct oys_http_request *r, const struct oys_http_limits *lim, const char *p,
                          size_t n, size_t *used, struct oys_err *e)
{
	*used = 0;
	int rc;
	switch (r->p.state) {
	case RQ_HEAD: {
		struct head_limits hl = {"request head", lim->max_head, lim->max_line, &r->p.line1};
		if ((rc = take_head(&r->head, &hl, p, n, used, e)) != OYS_HTTP_HEAD)
			return rc;
		return (rc = parse_request_head(r, lim, e)) ? rc : OYS_HTTP_HEAD;
	}
	case RQ_BODY: {
		size_t take = n < r->p.left ? n : (size_t)r->p.left;
		if (oys_buf_append(&r->body, p, take) < 0)
			return oys_err_sys(e, 500, "request body");
		*used = take;
		r->p.left -= take;
		return r->p.left ? OYS_HTTP_MORE : request_done(r, e);
	}
	case RQ_CHUNKED:
		rc = chunked_feed(&r->p.ch, lim, p, n, used, &r->body, e);
		return rc == OYS_HTTP_DONE ? request_done(r, e) : rc;
	default:
		return request_done(r, e);
	}
}

/* ---- responses ---- */

enum { RS_HEAD, RS_LENGTH, RS_CHUNKED, RS_CLOSE, RS_DONE };

void oys_http_response_init(struct oys_http_response *r, const char *method)
{
	memset(r, 0, sizeof *r);
	r->p.no_body = method && strcmp(method, "HEAD") == 0;
}

void oys_http_response_free(struct oys_http_response *r)
{
	free(r->headers);
	oys_buf_free(&r->head);
	oys_buf_free(&r->body);
	chunked_free(&r->p.ch);
	memset(r, 0, sizeof *r);
}

/* "HTTP/1.x NNN reason" */
static int parse_status_line(struct oys_http_response *r, const char *s, struct oys_err *e)
{
	if (strncmp(s, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)s[7]) || s[8] != ' ' ||
	    !isdigit((unsigned char)s[9]) || !isdigit((unsigned char)s[10]) || !isdigit((unsigned char)s[11]) ||
	    (s[12] != ' ' && s[12] != '\0') || s[9] == '0')
		return oys_err_set(e, 400, "malformed status line");
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return 0;
}

/* Where the body is: nowhere, Content-Length bytes, chunked, or up to the close. */
static int response_framing(struct oys_http_response *r, const struct oys_http_limits *lim, struct oys_err *e)
{
	const struct oys_header *h = r->headers;
	size_t n = r->nheaders;
	const char *te = find_field(h, n, "Transfer-Encoding"), *cl = find_field(h, n, "Content-Length");
	if (r->p.no_body || r->status < 200 || r->status == 204 || r->status == 304) {
		r->p.state = RS_DONE;
	} else if (te) {
		if (count_field(h, n, "Transfer-Encoding") > 1 || strcasecmp(te, "chunked") != 0)
			return oys_err_set(e, 400, "Transfer-Encoding other than chunked");
		r->p.state = RS_CHUNKED;
		chunked_init(&r->p.ch, "response body");
	} else if (cl) {
		if (count_field(h, n, "Content-Length") > 1 || parse_length(cl, &r->p.left) < 0)
			return oys_err_set(e, 400, "malformed Content-Length");
		if (r->p.left > lim->max_body)
			return oys_err_set(e, 413, "response body larger than %zu bytes", lim->max_body);
		r->p.state = r->p.left ? RS_LENGTH : RS_DONE;
	} else {
		r->p.state = RS_CLOSE;
	}
	return 0;
}

static int parse_response_head(struct oys_http_response *r, const struct oys_http_limits *lim, struct oys_err *e)
{
	char *p = r->head.data;
	int rc;
	r->headers = calloc(count_lines(p), sizeof *r->headers);
	if (r->headers == NULL)
		return oys_err_sys(e, 500, "response head");
	if ((rc = parse_status_line(r, next_line(&p), e)) || (rc = parse_fields(&p, r->headers, &r->nheaders, e)))
		return rc;
	return response_framing(r, lim, e);
}

static int response_body(struct oys_http_response *r, const struct oys_http_limits *lim, const char *p, size_t n,
                         size_t *used, struct oys_err *e)
{
	*used = 0;
	if (r->p.state == RS_CHUNKED) {
		int rc = chunked_feed(&r->p.ch, lim, p, n, used, &r->body, e);
		if (rc == OYS_HTTP_DONE)
			r->p.state = RS_DONE;
		return rc;
	}
	if (r->p.state == RS_DONE)
		return OYS_HTTP_DONE;
	size_t take = n;
	if (r->p.state == RS_LENGTH && take > r->p.left)
		take = (size_t)r->p.left;
	if (r->p.state == RS_CLOSE && (take > lim->max_body || r->body.len + take > lim->max_body))
		return oys_err_set(e, 413, "response body larger than %zu bytes", lim->max_body);
	if (oys_buf_append(&r->body, p, take) < 0)
		return oys_err_sys(e, 500, "response body");
	*used = take;
	if (r->p.state == RS_LENGTH && (r->p.left -= take) == 0) {
		r->p.state = RS_DONE;
		return OYS_HTTP_DONE;
	}
	return OYS_HTTP_MORE;
}

/* The parts' statuses, as what they mean for a response. */
static int response_status(int rc)
{
	return rc == OYS_HTTP_MORE || rc == OYS_HTTP_DONE || rc == 413 || rc == 500 ? rc : 502;
}

int oys_http_response_feed(struct oys_http_response *r, const struct oys_http_limits *lim, const char *p,
                           size_t n, size_t *used, struct oys_err *e)
{
	size_t off = 0, u = 0;
	int rc;
	*used = 0;
	if (r->p.state == RS_HEAD) {
		struct head_limits hl = {"response head", lim->max_head, 0, NULL};
		rc = take_head(&r->head, &hl, p, n, &off, e);
		*used = off;
		if (rc != OYS_HTTP_HEAD)
			return response_status(rc);
		if ((rc = parse_response_head(r, lim, e)))
			return response_status(rc);
	}
	rc = response_body(r, lim, p + off, n - off, &u, e);
	*used = off + u;
	return response_status(rc);
}

int oys_http_response_end(const struct oys_http_response *r)
{
	return r->p.state == RS_CLOSE || r->p.state == RS_DONE ? OYS_HTTP_DONE : OYS_HTTP_MORE;
}
