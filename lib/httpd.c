#include "httpd.h"
#include "file.h"
#include "json.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- a buffered reader with a deadline ---- */

struct rd {
	int fd;
	struct oys_buf b;
	size_t pos;
	double deadline;
};

/* Reads more into rd->b. Returns bytes read (>0), 0 at EOF, -1 on timeout, -2 on error. */
static long rd_fill(struct rd *rd)
{
	for (;;) {
		double left = rd->deadline - oys_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {rd->fd, POLLIN, 0};
		int n = poll(&p, 1, (int)left + 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -2;
		}
		if (n == 0)
			continue; /* re-check the deadline */
		if (oys_buf_reserve(&rd->b, 65536) < 0)
			return -2;
		ssize_t got = read(rd->fd, rd->b.data + rd->b.len, rd->b.cap - rd->b.len - 1);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -2;
		}
		rd->b.len += (size_t)got;
		rd->b.data[rd->b.len] = '\0';
		return (long)got;
	}
}

static int fill_error(long n, const char *what, struct oys_err *e)
{
	if (n == -1)
		return oys_err_set(e, 408, "client too slow: %s did not arrive in time", what);
	if (n == -2)
		return oys_err_sys(e, 400, "cannot read %s", what);
	return oys_err_set(e, 400, "incomplete %s: the client closed the connection", what);
}

/* One CRLF-terminated line of at most max bytes; *line points into rd->b (valid until the next
 * fill), NUL-terminated in place of CR. */
static int rd_line(struct rd *rd, size_t max, const char *what, char **line, struct oys_err *e)
{
	for (;;) {
		char *start = rd->b.data ? rd->b.data + rd->pos : NULL;
		size_t avail = rd->b.len - rd->pos;
		char *lf = start ? memchr(start, '\n', avail) : NULL;
		if (lf) {
			if (lf == start || lf[-1] != '\r')
				return oys_err_set(e, 400, "bare LF in %s (lines end with CRLF)", what);
			if ((size_t)(lf - start) - 1 > max)
				return oys_err_set(e, 400, "%s line too long", what);
			lf[-1] = '\0';
			*line = start;
			rd->pos += (size_t)(lf - start) + 1;
			return 0;
		}
		if (avail > max + 1)
			return oys_err_set(e, 400, "%s line too long", what);
		long n = rd_fill(rd);
		if (n <= 0)
			return fill_error(n, what, e);
	}
}

/* Appends exactly n bytes from the reader to out. */
static int rd_bytes(struct rd *rd, size_t n, struct oys_buf *out, const char *what, struct oys_err *e)
{
	while (n > 0) {
		size_t avail = rd->b.len - rd->pos;
		if (avail == 0) {
			/* Large bodies: drop what was consumed so the buffer does not hold it twice. */
			rd->b.len = rd->pos = 0;
			long got = rd_fill(rd);
			if (got <= 0)
				return fill_error(got, what, e);
			continue;
		}
		size_t take = avail < n ? avail : n;
		if (oys_buf_append(out, rd->b.data + rd->pos, take) < 0)
			return oys_err_sys(e, 413, "%s", what);
		rd->pos += take;
		n -= take;
	}
	return 0;
}

/* ---- syntax ---- */

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

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

const char *oys_http_header(const struct oys_http_request *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

static size_t count_header(const struct oys_http_request *r, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nheaders; i++)
		n += strcasecmp(r->headers[i].name, name) == 0;
	return n;
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

static int parse_header(char *line, struct oys_header *h, struct oys_err *e)
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

static int read_chunked(struct rd *rd, const struct oys_http_limits *lim, struct oys_buf *body,
                        struct oys_err *e)
{
	char *line;
	int rc;
	for (int chunks = 0;; chunks++) {
		if ((rc = rd_line(rd, 1024, "chunk size", &line, e)))
			return rc;
		size_t n = strcspn(line, ";");
		if (n == 0 || n > 15)
			return oys_err_set(e, 400, "malformed chunk size");
		unsigned long long size = 0;
		for (size_t i = 0; i < n; i++) {
			int c = tolower((unsigned char)line[i]);
			if (!isxdigit(c))
				return oys_err_set(e, 400, "malformed chunk size");
			size = size * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
		}
		if (size == 0)
			break;
		if (size > lim->max_body || body->len + size > lim->max_body)
			return oys_err_set(e, 413, "request body larger than %zu bytes", lim->max_body);
		if ((rc = rd_bytes(rd, (size_t)size, body, "chunked body", e)))
			return rc;
		if ((rc = rd_line(rd, 0, "chunk end", &line, e)))
			return rc;
	}
	/* Trailer fields: read and ignore, within the head limits. */
	for (size_t i = 0;; i++) {
		if (i > lim->max_headers)
			return oys_err_set(e, 431, "too many trailer fields");
		if ((rc = rd_line(rd, lim->max_line, "trailer", &line, e)))
			return rc;
		if (*line == '\0')
			return 0;
	}
}

int oys_http_read_request(int in, int out, const struct oys_http_limits *lim,
                          struct oys_http_request *r, struct oys_err *e)
{
	static const struct oys_http_limits def = OYS_HTTP_LIMITS_DEFAULT;
	if (lim == NULL)
		lim = &def;
	memset(r, 0, sizeof *r);
	struct rd rd = {in, OYS_BUF_INIT, 0, oys_now_ms() + lim->head_timeout_ms};
	int rc = 0;
	size_t head_len = 0, scanned = 0;

	/* The head: everything up to the empty line. */
	for (;;) {
		if (rd.b.len > 0) {
			char *lf = memchr(rd.b.data, '\n', rd.b.len);
			size_t first = lf ? (size_t)(lf - rd.b.data) : rd.b.len;
			if (first > lim->max_line + 1) {
				rc = oys_err_set(e, 414, "request line longer than %zu bytes", lim->max_line);
				goto fail;
			}
			size_t from = scanned > 3 ? scanned - 3 : 0;
			char *end = memmem(rd.b.data + from, rd.b.len - from, "\r\n\r\n", 4);
			if (end) {
				head_len = (size_t)(end - rd.b.data) + 4;
				break;
			}
			/* A head ending in bare LFs never matches CRLFCRLF: catch it here. */
			char *bad = memmem(rd.b.data + from, rd.b.len - from, "\n\n", 2);
			if (bad == NULL)
				bad = memmem(rd.b.data + from, rd.b.len - from, "\n\r\n", 3);
			if (bad) {
				rc = oys_err_set(e, 400, "bare LF in request head (lines end with CRLF)");
				goto fail;
			}
			scanned = rd.b.len;
			if (rd.b.len > lim->max_head) {
				rc = oys_err_set(e, 431, "request head larger than %zu bytes", lim->max_head);
				goto fail;
			}
		}
		long n = rd_fill(&rd);
		if (n == 0 && rd.b.len == 0) {
			rc = -1;
			goto fail;
		}
		if (rd.b.len > 0 && r->t_start_ms == 0)
			r->t_start_ms = oys_now_ms();
		if (n <= 0) {
			rc = fill_error(n, "request head", e);
			goto fail;
		}
	}
	if (head_len > lim->max_head) {
		rc = oys_err_set(e, 431, "request head larger than %zu bytes", lim->max_head);
		goto fail;
	}
	if (oys_buf_append(&r->head, rd.b.data, head_len) < 0) {
		rc = oys_err_sys(e, 500, "request head");
		goto fail;
	}
	rd.pos = head_len;

	/* Split into lines in place (every LF is preceded by CR, or we would have refused). */
	char *p = r->head.data, *line_end;
	size_t nlines = 0;
	for (char *q = p; (q = strstr(q, "\r\n")) != NULL; q += 2)
		nlines++;
	for (char *q = p; *q; q++)
		if (*q == '\n' && (q == p || q[-1] != '\r')) {
			rc = oys_err_set(e, 400, "bare LF in request head (lines end with CRLF)");
			goto fail;
		}
	if (nlines < 2 || nlines - 2 > lim->max_headers) {
		rc = nlines < 2 ? oys_err_set(e, 400, "malformed request head")
		                : oys_err_set(e, 431, "more than %zu header fields", lim->max_headers);
		goto fail;
	}
	r->headers = calloc(nlines, sizeof *r->headers);
	if (r->headers == NULL) {
		rc = oys_err_sys(e, 500, "request head");
		goto fail;
	}
	line_end = strstr(p, "\r\n");
	*line_end = '\0';
	if ((rc = parse_request_line(r, p, e)))
		goto fail;
	for (p = line_end + 2; *p && !(p[0] == '\r' && p[1] == '\n'); p = line_end + 2) {
		line_end = strstr(p, "\r\n");
		*line_end = '\0';
		if ((rc = parse_header(p, &r->headers[r->nheaders], e)))
			goto fail;
		r->nheaders++;
	}
	char *qm = strchr(r->target, '?');
	if (qm) {
		/* path and query are copies: target stays whole for pass-through */
		size_t n = strlen(r->target) + 2;
		char *copy = malloc(n);
		if (copy == NULL) {
			rc = oys_err_sys(e, 500, "request");
			goto fail;
		}
		memcpy(copy, r->target, n - 1);
		copy[n - 1] = '\0';
		copy[qm - r->target] = '\0';
		r->path = copy;
		r->query = copy + (qm - r->target) + 1;
	} else {
		r->path = strdup(r->target);
		if (r->path == NULL) {
			rc = oys_err_sys(e, 500, "request");
			goto fail;
		}
	}

	/* Host: required once in HTTP/1.1. */
	if (count_header(r, "Host") > 1 || (r->version == 11 && count_header(r, "Host") == 0)) {
		rc = oys_err_set(e, 400, "HTTP/1.1 needs exactly one Host header");
		goto fail;
	}

	/* Framing. */
	const char *te = oys_http_header(r, "Transfer-Encoding");
	const char *cl = oys_http_header(r, "Content-Length");
	size_t nte = count_header(r, "Transfer-Encoding"), ncl = count_header(r, "Content-Length");
	unsigned long long length = 0;
	if (nte && ncl) {
		rc = oys_err_set(e, 400, "both Transfer-Encoding and Content-Length");
		goto fail;
	}
	if (nte > 1 || ncl > 1) {
		rc = oys_err_set(e, 400, "repeated %s header", nte > 1 ? "Transfer-Encoding" : "Content-Length");
		goto fail;
	}
	if (te) {
		if (r->version == 10) {
			rc = oys_err_set(e, 400, "Transfer-Encoding in an HTTP/1.0 request");
			goto fail;
		}
		if (strcasecmp(te, "chunked") != 0) {
			rc = oys_err_set(e, 501, "Transfer-Encoding '%s' not supported (only chunked)", te);
			goto fail;
		}
	} else if (cl) {
		if (parse_length(cl, &length) < 0) {
			rc = oys_err_set(e, 400, "malformed Content-Length");
			goto fail;
		}
		if (length > lim->max_body) {
			rc = oys_err_set(e, 413, "request body larger than %zu bytes", lim->max_body);
			goto fail;
		}
	} else if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
	           strcmp(r->method, "PATCH") == 0) {
		rc = oys_err_set(e, 411, "%s without Content-Length or chunked body", r->method);
		goto fail;
	}

	const char *expect = oys_http_header(r, "Expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue") != 0) {
			rc = oys_err_set(e, 417, "Expect '%s' not supported", expect);
			goto fail;
		}
		if (r->version == 11 && rd.pos == rd.b.len) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			oys_write_all(out, cont, sizeof cont - 1);
		}
	}

	rd.deadline = oys_now_ms() + lim->body_timeout_ms;
	if (te)
		rc = read_chunked(&rd, lim, &r->body, e);
	else if (length)
		rc = rd_bytes(&rd, (size_t)length, &r->body, "request body", e);
	if (rc)
		goto fail;
	if (r->body.data == NULL && oys_buf_reserve(&r->body, 0) == 0)
		r->body.data[0] = '\0';
	oys_buf_free(&rd.b);
	return 0;
fail:
	oys_buf_free(&rd.b);
	return rc;
}

void oys_http_request_free(struct oys_http_request *r)
{
	free(r->headers);
	free(r->path);
	oys_buf_free(&r->body);
	oys_buf_free(&r->head);
	memset(r, 0, sizeof *r);
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
	default: return "Unknown";
	}
}

int oys_http_respond(int fd, int status, const char *content_type, const struct oys_header *h,
                     size_t nh, const void *body, size_t len)
{
	struct oys_buf b = OYS_BUF_INIT;
	oys_buf_printf(&b, "HTTP/1.1 %d %s\r\n", status, oys_http_reason(status));
	if (content_type)
		oys_buf_printf(&b, "Content-Type: %s\r\n", content_type);
	for (size_t i = 0; i < nh; i++)
		if (h[i].name && h[i].value && oys_http_valid_name(h[i].name) &&
		    oys_http_valid_value(h[i].value))
			oys_buf_printf(&b, "%s: %s\r\n", h[i].name, h[i].value);
	oys_buf_printf(&b, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	int r = b.data ? oys_write_all(fd, b.data, b.len) : -1;
	oys_buf_free(&b);
	if (r == 0 && len)
		r = oys_write_all(fd, body, len);
	return r;
}

int oys_http_respond_error(int fd, int status, const char *code, const char *message,
                           const char *stage, const char *request_id,
                           const struct oys_header *h, size_t nh)
{
	jv err = jv_object();
	err = oys_json_set_str(err, "code", code);
	err = oys_json_set_str(err, "message", message);
	if (stage)
		err = oys_json_set_str(err, "stage", stage);
	if (request_id)
		err = oys_json_set_str(err, "request_id", request_id);
	jv o = jv_object_set(jv_object(), jv_string("error"), err);
	char *body = oys_json_dump(o, 0);
	if (body == NULL)
		return -1;
	size_t n = strlen(body);
	char *grown = realloc(body, n + 2);
	if (grown == NULL) {
		free(body);
		return -1;
	}
	body = grown;
	body[n++] = '\n';
	int r = oys_http_respond(fd, status, "application/json", h, nh, body, n);
	free(body);
	return r;
}

void oys_http_peer(char *out, size_t outsz)
{
	const char *proto = getenv("PROTO");
	char k1[64], k2[64];
	const char *ip = NULL, *port = NULL;
	if (proto && *proto && strlen(proto) < 16) {
		snprintf(k1, sizeof k1, "%sREMOTEIP", proto);
		snprintf(k2, sizeof k2, "%sREMOTEPORT", proto);
		ip = getenv(k1);
		port = getenv(k2);
	}
	if (ip == NULL) {
		ip = getenv("SOCAT_PEERADDR");
		port = getenv("SOCAT_PEERPORT");
	}
	if (ip == NULL || !oys_http_valid_value(ip))
		snprintf(out, outsz, "-");
	else if (port && oys_http_valid_value(port))
		snprintf(out, outsz, strchr(ip, ':') ? "[%s]:%s" : "%s:%s", ip, port);
	else
		snprintf(out, outsz, "%s", ip);
}
