#include "fn.h"
#include "file.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD 65536 /* a response head: status line and fields */

/* Besides the outcomes: the exchange goes on, or failed on our side (e says why). */
enum { GOING = -1, FAILED = -2 };

struct exchange {
	struct oys_workerd *w;
	int fd;
	const struct oys_fn_limits *lim;
	struct oys_http_limits hl;    /* the response's */
	struct oys_buf req;
	size_t sent;
	struct oys_http_response resp;
	int connected;                /* the handshake is done */
	int got;                      /* a byte of the response came */
	int exited;                   /* workerd did */
	double accepted, exec_deadline;
};

static int build_request(struct oys_buf *b, const struct oys_fn_request *rq, const char *default_host)
{
	const char *host = default_host;
	for (size_t i = 0; i < rq->nheaders; i++)
		if (strcasecmp(rq->headers[i].name, "Host") == 0)
			host = rq->headers[i].value;
	int bad = oys_buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", rq->method, rq->target, host);
	for (size_t i = 0; i < rq->nheaders; i++) {
		const struct oys_header *h = &rq->headers[i];
		if (strcasecmp(h->name, "Host") == 0 || oys_http_hop_by_hop(h->name) ||
		    !oys_http_valid_name(h->name) || !oys_http_valid_value(h->value))
			continue;
		bad |= oys_buf_printf(b, "%s: %s\r\n", h->name, h->value);
	}
	if (rq->body_len || strcmp(rq->method, "GET") != 0)
		bad |= oys_buf_printf(b, "Content-Length: %zu\r\n", rq->body_len);
	bad |= oys_buf_puts(b, "Connection: close\r\n\r\n");
	bad |= oys_buf_append(b, rq->body, rq->body_len);
	return bad ? -1 : 0;
}

/* Whether the listening socket has a connection waiting (workerd has not accepted it yet). */
static int pending(int lfd)
{
	struct pollfd p = {lfd, POLLIN, 0};
	return lfd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void send_some(struct exchange *x)
{
	if (x->sent >= x->req.len)
		return;
	ssize_t k = send(x->fd, x->req.data + x->sent, x->req.len - x->sent, MSG_NOSIGNAL);
	if (k > 0)
		x->sent += (size_t)k;
	else if (k < 0 && errno != EAGAIN && errno != EINTR)
		x->sent = x->req.len; /* the peer is gone; what it answers (or not) tells */
}

/* Reads what the socket has into the parser: the outcome once there is one. */
static int receive(struct exchange *x, struct oys_err *e)
{
	char buf[65536];
	ssize_t k;
	size_t used;
	while ((k = recv(x->fd, buf, sizeof buf, 0)) > 0) {
		x->got = 1;
		int st = oys_http_response_feed(&x->resp, &x->hl, buf, (size_t)k, &used, e);
		if (st == OYS_HTTP_DONE)
			return OYS_FN_OK;
		if (st == 413)
			return OYS_FN_TOO_LARGE;
		if (st == 500) {
			oys_err_wrap(e, "cannot keep the function's response");
			e->code = OYS_EOSERR;
			return FAILED;
		}
		if (st != OYS_HTTP_MORE)
			return OYS_FN_BAD_RESPONSE;
	}
	if (k == 0 || (errno != EAGAIN && errno != EINTR))
		return oys_http_response_end(&x->resp) == OYS_HTTP_DONE ? OYS_FN_OK : OYS_FN_DIED;
	return GOING;
}

/* workerd exited and the response is not whole. */
static int after_exit(struct exchange *x)
{
	if (!x->accepted) {
		/* Exited before serving: collect all it said, that is the diagnosis. */
		while (x->w->outfd >= 0 && oys_workerd_drain(x->w))
			;
		return OYS_FN_START_FAILED;
	}
	/* Whatever is still in the socket is all there will be. Wait briefly for the socket's EOF
	 * rather than spinning on the pidfd. */
	struct pollfd q = {x->fd, POLLIN, 0};
	return poll(&q, 1, 200) == 0 ? OYS_FN_DIED : GOING;
}

/* One round: deadlines, then whatever is ready among the socket, workerd's output, its exit
 * and the client. */
static int step(struct exchange *x, struct oys_fn_response *rs, struct oys_err *e)
{
	struct oys_workerd *w = x->w;
	const struct oys_fn_limits *lim = x->lim;
	double now = oys_now_ms();
	/* Accepted: our connection is no longer waiting in the listen queue (checked only once
	 * the handshake is done, when it must have been in the queue). */
	if (!x->accepted && (x->got || (x->connected && !pending(w->lfd)))) {
		x->accepted = now;
		rs->t_accept_ms = now - w->t_spawn_ms;
		x->exec_deadline = now + lim->exec_timeout_ms;
	}
	if (lim->abort_flag && *lim->abort_flag)
		return OYS_FN_ABORTED;
	double deadline = x->accepted ? x->exec_deadline : w->t_spawn_ms + lim->start_timeout_ms;
	if (now >= deadline)
		return x->accepted ? OYS_FN_TIMEOUT : OYS_FN_START_TIMEOUT;
	/* Until workerd accepts, wake every millisecond to notice when it does (to tell startup
	 * from execution: a function that answers within one wake-up has its execution counted as
	 * start); the data path itself is event-driven. */
	int wait = (int)(deadline - now) + 1;
	if (!x->accepted && wait > 1)
		wait = 1;
	enum { P_SOCK, P_OUT, P_PID, P_ABORT };
	struct pollfd p[] = {
		{x->fd, (short)(POLLIN | (x->sent < x->req.len ? POLLOUT : 0)), 0},
		{w->outfd, POLLIN, 0},
		{x->exited ? -1 : w->pidfd, POLLIN, 0},
		{lim->abort_fd, 0, 0}, /* negative descriptors are not watched */
	};
	if (poll(p, sizeof p / sizeof *p, wait) < 0) {
		if (errno == EINTR)
			return GOING;
		oys_err_sys(e, OYS_EOSERR, "poll");
		return FAILED;
	}
	if (p[P_ABORT].revents & (POLLHUP | POLLERR | POLLNVAL))
		return OYS_FN_ABORTED;
	if (p[P_OUT].revents)
		oys_workerd_drain(w);
	if (p[P_PID].revents)
		x->exited = 1;
	if (p[P_SOCK].revents & POLLOUT) {
		x->connected = 1;
		send_some(x);
	}
	if (p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
		int o = receive(x, e);
		if (o != GOING)
			return o;
	}
	return x->exited ? after_exit(x) : GOING;
}

int oys_fn_exchange(struct oys_workerd *w, int fd, const struct oys_fn_request *rq,
                    const struct oys_fn_limits *lim, struct oys_fn_response *rs, struct oys_err *e)
{
	memset(rs, 0, sizeof *rs);
	struct exchange x = {.w = w, .fd = fd, .lim = lim,
	                     .hl = {MAX_HEAD, MAX_HEAD, MAX_HEAD, lim->max_response, 0, 0}};
	oys_http_response_init(&x.resp, rq->method);
	int outcome = GOING;
	if (build_request(&x.req, rq, w->host) < 0) {
		oys_err_sys(e, OYS_EOSERR, "request");
		outcome = FAILED;
	}
	while (outcome == GOING)
		outcome = step(&x, rs, e);
	if (outcome != FAILED) {
		rs->outcome = (enum oys_fn_outcome)outcome;
		if (x.accepted)
			rs->t_exec_ms = oys_now_ms() - x.accepted;
		else
			rs->t_accept_ms = oys_now_ms() - w->t_spawn_ms;
		/* The parser's results are the response's. */
		rs->status = x.resp.status;
		rs->headers = x.resp.headers;
		rs->nheaders = x.resp.nheaders;
		rs->head = x.resp.head;
		rs->body = x.resp.body;
		x.resp.headers = NULL;
		x.resp.head = x.resp.body = (struct oys_buf)OYS_BUF_INIT;
		if (outcome == OYS_FN_OK && rs->body.data == NULL && oys_buf_reserve(&rs->body, 0) < 0) {
			oys_err_sys(e, OYS_EOSERR, "function response");
			outcome = FAILED;
		}
	}
	close(fd);
	oys_buf_free(&x.req);
	oys_http_response_free(&x.resp);
	return outcome == FAILED ? OYS_EOSERR : 0;
}

void oys_fn_response_free(struct oys_fn_response *rs)
{
	free(rs->headers);
	oys_buf_free(&rs->head);
	oys_buf_free(&rs->body);
	memset(rs, 0, sizeof *rs);
}
