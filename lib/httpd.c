#include "httpd.h"
#include "file.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

/* The status line and headers of a response; -1 when out of memory. */
static int response_head(struct oys_buf *b, int status, const char *content_type,
                         const struct oys_header *h, size_t nh, size_t len)
{
	oys_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, oys_http_reason(status));
	if (content_type && oys_http_valid_value(content_type))
		oys_buf_printf(b, "Content-Type: %s\r\n", content_type);
	for (size_t i = 0; i < nh; i++)
		if (h[i].name && h[i].value && oys_http_valid_name(h[i].name) &&
		    oys_http_valid_value(h[i].value))
			oys_buf_printf(b, "%s: %s\r\n", h[i].name, h[i].value);
	oys_buf_printf(b, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	return b->data ? 0 : -1;
}

int oys_http_respond(int fd, int status, const char *content_type, const struct oys_header *h,
                     size_t nh, const void *body, size_t len)
{
	struct oys_buf b = OYS_BUF_INIT;
	int r = response_head(&b, status, content_type, h, nh, len) == 0 ? oys_write_all(fd, b.data, b.len) : -1;
	oys_buf_free(&b);
	if (r == 0 && len)
		r = oys_write_all(fd, body, len);
	return r;
}

/* ---- an answer that never waits on the client ---- */

/* Writes what fd takes now, never blocking: a socket with MSG_DONTWAIT; anything else (a pipe,
 * a terminal) with O_NONBLOCK set for the call and restored. Returns the bytes written (0: it
 * takes nothing now), or -1 when the peer is gone. */
static ssize_t write_now(int fd, const struct iovec *iov, int n)
{
	struct msghdr m = {0};
	m.msg_iov = (struct iovec *)iov;
	m.msg_iovlen = (size_t)n;
	for (;;) {
		ssize_t w = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK) {
			int fl = fcntl(fd, F_GETFL);
			if (fl >= 0 && !(fl & O_NONBLOCK))
				fcntl(fd, F_SETFL, fl | O_NONBLOCK);
			w = writev(fd, iov, n);
			int saved = errno;
			if (fl >= 0 && !(fl & O_NONBLOCK))
				fcntl(fd, F_SETFL, fl);
			errno = saved;
		}
		if (w >= 0)
			return w;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
}

size_t oys_http_answer_size(const struct oys_http_answer *a)
{
	return a->head.len + a->body_len;
}

size_t oys_http_answer_left(const struct oys_http_answer *a)
{
	return oys_http_answer_size(a) - a->sent;
}

/* Writes what goes now. 0, or -1 when the peer is gone. */
static int answer_push(struct oys_http_answer *a)
{
	while (oys_http_answer_left(a) > 0) {
		struct iovec iov[2];
		int n = 0;
		if (a->sent < a->head.len)
			iov[n++] = (struct iovec){a->head.data + a->sent, a->head.len - a->sent};
		size_t boff = a->sent > a->head.len ? a->sent - a->head.len : 0;
		if (a->body_len > boff)
			iov[n++] = (struct iovec){(char *)a->body + boff, a->body_len - boff};
		ssize_t w = write_now(a->fd, iov, n);
		if (w < 0)
			return -1;
		if (w == 0)
			break;
		a->sent += (size_t)w;
	}
	return 0;
}

int oys_http_answer_start(struct oys_http_answer *a, int fd, int status, const char *content_type,
                          const struct oys_header *h, size_t nh, const void *body, size_t len)
{
	memset(a, 0, sizeof *a);
	a->fd = fd;
	a->body = body;
	a->body_len = len;
	if (response_head(&a->head, status, content_type, h, nh, len) < 0) {
		a->body_len = 0;
		return -1;
	}
	return answer_push(a);
}

int oys_http_answer_finish(struct oys_http_answer *a, int idle_ms)
{
	double idle_since = oys_now_ms();
	while (oys_http_answer_left(a) > 0) {
		double left = idle_since + idle_ms - oys_now_ms();
		if (left <= 0)
			return OYS_ETEMPFAIL;
		struct pollfd p = {a->fd, POLLOUT, 0};
		int n = poll(&p, 1, (int)left + 1);
		if (n < 0 && errno != EINTR)
			return OYS_EIO;
		if (n <= 0)
			continue; /* re-check the deadline */
		size_t before = a->sent;
		if (answer_push(a) < 0)
			return OYS_EIO;
		if (a->sent > before)
			idle_since = oys_now_ms();
		else if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			return OYS_EIO;
	}
	return 0;
}

void oys_http_answer_free(struct oys_http_answer *a)
{
	oys_buf_free(&a->head);
	a->body = NULL;
	a->body_len = a->sent = 0;
}

int oys_http_bearer_ok(const char *authorization, const char *token)
{
	if (authorization == NULL || token == NULL || *token == '\0' || strncasecmp(authorization, "Bearer ", 7) != 0)
		return 0;
	const char *got = authorization + 7;
	size_t a = strlen(got), b = strlen(token);
	volatile unsigned char diff = a != b;
	for (size_t i = 0; i < b; i++)
		diff |= (unsigned char)(token[i] ^ (i < a ? got[i] : 0));
	return diff == 0;
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
