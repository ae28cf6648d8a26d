#include "httpd.h"
#include "file.h"
#include "json.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads what is there before the deadline. Returns bytes read (>0), 0 at EOF, -1 on timeout,
 * -2 on error. */
static ssize_t read_by(int fd, char *buf, size_t size, double deadline)
{
	for (;;) {
		double left = deadline - oys_now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {fd, POLLIN, 0};
		int n = poll(&p, 1, (int)left + 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -2;
		}
		if (n == 0)
			continue; /* re-check the deadline */
		ssize_t got = read(fd, buf, size);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -2;
		}
		return got;
	}
}

static int read_error(ssize_t n, const char *what, struct oys_err *e)
{
	if (n == -1)
		return oys_err_set(e, 408, "client too slow: %s did not arrive in time", what);
	if (n == -2)
		return oys_err_sys(e, 400, "cannot read %s", what);
	return oys_err_set(e, 400, "incomplete %s: the client closed the connection", what);
}

#define READ_SIZE 65536

int oys_http_read_request(int in, int out, const struct oys_http_limits *lim,
                          struct oys_http_request *r, struct oys_err *e)
{
	static const struct oys_http_limits def = OYS_HTTP_LIMITS_DEFAULT;
	if (lim == NULL)
		lim = &def;
	oys_http_request_init(r);
	char *buf = malloc(READ_SIZE);
	if (buf == NULL)
		return oys_err_sys(e, 500, "request");
	double deadline = oys_now_ms() + lim->head_timeout_ms;
	int rc = OYS_HTTP_MORE;
	while (rc == OYS_HTTP_MORE) {
		ssize_t got = read_by(in, buf, READ_SIZE, deadline);
		if (got == 0 && r->t_start_ms == 0) {
			rc = -1; /* closed without a word */
			break;
		}
		if (got > 0 && r->t_start_ms == 0)
			r->t_start_ms = oys_now_ms();
		if (got <= 0) {
			rc = read_error(got, oys_http_request_awaits(r), e);
			break;
		}
		size_t off = 0, used;
		while ((rc = oys_http_request_feed(r, lim, buf + off, (size_t)got - off, &used, e)) == OYS_HTTP_HEAD) {
			off += used;
			/* Asked to: say go on, unless the body is already coming. */
			if (r->version == 11 && oys_http_header(r, "Expect") && off == (size_t)got) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				oys_write_all(out, cont, sizeof cont - 1);
			}
			deadline = oys_now_ms() + lim->body_timeout_ms;
		}
	}
	free(buf);
	return rc == OYS_HTTP_DONE ? 0 : rc;
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
