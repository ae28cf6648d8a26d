#include "workerd.h"
#include "cgroup.h"
#include "file.h"
#include "port.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- spawning ---- */

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int oys_workerd_spawn(const char *workerd, const char *config, const struct oys_cgroup *cg,
                      struct oys_workerd *w, struct oys_err *e)
{
	memset(w, 0, sizeof *w);
	w->pid = -1;
	w->pidfd = w->outfd = w->lfd = -1;
	w->status = -1;

	w->lfd = oys_port_listen("127.0.0.1", 0, 16, &w->port, e);
	if (w->lfd < 0)
		return e ? e->code : OYS_EOSERR;
	fcntl(w->lfd, F_SETFD, FD_CLOEXEC); /* the child gets it as fd 3 through dup2 */

	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(w->lfd);
		w->lfd = -1;
		return oys_err_sys(e, OYS_EOSERR, "pipe");
	}
	pid_t parent = getpid();
	w->t_spawn_ms = oys_now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		close(w->lfd);
		w->lfd = -1;
		return oys_err_sys(e, OYS_EOSERR, "fork");
	}
	if (pid == 0) {
		/* The child: its own process group, dies with us, starts inside the cgroup. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(OYS_EOSERR);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0 ||
		    dup2(w->lfd, 3) < 0)
			_exit(OYS_EOSERR);
		if (cg) {
			struct oys_err ce = {0};
			if (oys_cgroup_enter(cg, &ce)) {
				dprintf(2, "oys: cannot enter cgroup: %s\n", ce.msg);
				_exit(OYS_EOSERR);
			}
		}
		syscall(SYS_close_range, 4u, ~0u, 0u);
		execl(workerd, "workerd", "serve", config, "--verbose", "--socket-fd", "http=3", (char *)NULL);
		dprintf(2, "oys: cannot run %s: %s\n", workerd, strerror(errno));
		_exit(errno == ENOENT ? OYS_ENOTFOUND : OYS_EEXEC);
	}
	close(out[1]);
	setpgid(pid, pid); /* also from here, so the group exists before we might signal it */
	w->pid = pid;
	w->outfd = out[0];
	fcntl(w->outfd, F_SETFL, O_NONBLOCK);
	w->pidfd = pidfd_open_(pid);
	if (w->pidfd < 0) {
		oys_err_sys(e, OYS_EOSERR, "pidfd_open");
		oys_workerd_stop(w);
		return OYS_EOSERR;
	}
	return 0;
}

/* ---- console ---- */

static void keep_console(struct oys_workerd *w, const char *p, size_t n)
{
	if (w->console.len < OYS_CONSOLE_KEEP) {
		size_t take = OYS_CONSOLE_KEEP - w->console.len;
		if (take > n)
			take = n;
		oys_buf_append(&w->console, p, take);
		p += take;
		n -= take;
	}
	if (n == 0)
		return;
	oys_buf_append(&w->console_tail, p, n);
	if (w->console_tail.len > 2 * OYS_CONSOLE_KEEP) {
		size_t drop = w->console_tail.len - OYS_CONSOLE_KEEP;
		memmove(w->console_tail.data, w->console_tail.data + drop, OYS_CONSOLE_KEEP);
		w->console_tail.len = OYS_CONSOLE_KEEP;
		w->console_tail.data[w->console_tail.len] = '\0';
		w->console_dropped += drop;
	}
}

/* Reads what is there; returns 0 at EOF (and closes), 1 otherwise. */
static int drain_output(struct oys_workerd *w)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(w->outfd, buf, sizeof buf);
		if (n > 0) {
			keep_console(w, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		close(w->outfd);
		w->outfd = -1;
		return 0;
	}
}

static int starts(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(s, prefix, k) == 0;
}

static const char *find_in(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

/* "workerd/some/file.c++:123: level: rest" -> rest, or NULL for user output. */
static const char *internal_line(const char *s, size_t n, size_t *restlen)
{
	if (!starts(s, n, "workerd/"))
		return NULL;
	const char *colon = memchr(s, ':', n);
	if (colon == NULL)
		return NULL;
	const char *p = colon + 1;
	while (p < s + n && isdigit((unsigned char)*p))
		p++;
	if (p >= s + n || *p != ':' || p == colon + 1)
		return NULL;
	p++;
	while (p < s + n && *p == ' ')
		p++;
	*restlen = (size_t)(s + n - p);
	return p;
}

void oys_workerd_console_filter(const char *raw, size_t len, struct oys_buf *out)
{
	const char *p = raw, *end = raw + len;
	int in_stack = 0; /* following "    at ..." lines belong to an uncaught exception */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t rn;
		const char *rest = internal_line(p, n, &rn);
		if (rest) {
			in_stack = 0;
			const char *st = find_in(rest, rn, "uncaught exception; source = ");
			const char *stack = st ? find_in(rest, rn, "; stack = ") : NULL;
			if (stack) {
				/* workerd/io/worker.c++: info: uncaught exception; source = ...; stack = Error: m */
				stack += strlen("; stack = ");
				oys_buf_puts(out, "Uncaught ");
				oys_buf_append(out, stack, (size_t)(rest + rn - stack));
				oys_buf_putc(out, '\n');
				in_stack = 1;
			} else if (find_in(rest, rn, "uncaught exception; exception = ") ||
			           find_in(rest, rn, "Uncaught exception: ") || find_in(rest, rn, "NOSENTRY")) {
				/* the same exception again in C++ words, or workerd's own housekeeping
				 * ("NOSENTRY ... compile cache ..."): not the function's */
			} else {
				/* another internal message: keep its last "failed: ..." part */
				const char *f = NULL, *q;
				for (q = rest; (q = find_in(q, (size_t)(rest + rn - q), "failed: ")) != NULL; q++)
					f = q;
				const char *msg = f ? f + strlen("failed: ") : rest;
				oys_buf_puts(out, "workerd: ");
				oys_buf_append(out, msg, (size_t)(rest + rn - msg));
				oys_buf_putc(out, '\n');
			}
		} else if (starts(p, n, "stack: /") || starts(p, n, "stack: ")) {
			/* native stack addresses: no use to a function's author */
		} else if (in_stack && (starts(p, n, "    at ") || starts(p, n, "\tat "))) {
			oys_buf_append(out, p, n);
			oys_buf_putc(out, '\n');
		} else {
			in_stack = 0;
			if (n > 0 || nl) {
				oys_buf_append(out, p, n);
				oys_buf_putc(out, '\n');
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (out->data == NULL && oys_buf_reserve(out, 0) == 0)
		out->data[0] = '\0';
}

void oys_workerd_console(const struct oys_workerd *w, struct oys_buf *out)
{
	oys_workerd_console_filter(w->console.data ? w->console.data : "", w->console.len, out);
	if (w->console_tail.len == 0)
		return;
	const char *t = w->console_tail.data;
	size_t n = w->console_tail.len;
	/* The window may start mid-line: from its first full line. */
	if (w->console_dropped > 0) {
		const char *nl = memchr(t, '\n', n);
		if (nl) {
			n -= (size_t)(nl + 1 - t);
			t = nl + 1;
		}
		oys_buf_printf(out, "[... %zu bytes of output not kept ...]\n", w->console_dropped);
	}
	oys_workerd_console_filter(t, n, out);
}

void oys_workerd_start_error(const struct oys_workerd *w, char *out, size_t outsz)
{
	struct oys_buf c = OYS_BUF_INIT;
	oys_workerd_console(w, &c);
	out[0] = '\0';
	const char *s = c.data ? c.data : "";
	/* workerd: "service main: Uncaught SyntaxError: msg\n  at worker.js:2:32" */
	const char *u = strstr(s, "Uncaught ");
	if (u) {
		const char *nl = strchr(u, '\n');
		size_t n = nl ? (size_t)(nl - u) : strlen(u);
		const char *at = nl ? nl + 1 : NULL;
		while (at && (*at == ' ' || *at == '\t'))
			at++;
		if (at && strncmp(at, "at ", 3) == 0) {
			const char *nl2 = strchr(at, '\n');
			snprintf(out, outsz, "%.*s %.*s", (int)n, u, (int)(nl2 ? (size_t)(nl2 - at) : strlen(at)), at);
		} else {
			snprintf(out, outsz, "%.*s", (int)n, u);
		}
	} else {
		/* the last non-empty line */
		const char *last = NULL, *p = s;
		size_t lastn = 0;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if (n > 0) {
				last = p;
				lastn = n;
			}
			p += n + (nl != NULL);
		}
		if (last)
			snprintf(out, outsz, "%.*s", (int)lastn, last);
	}
	/* "service main: " is workerd's prefix, not the function's words */
	if (strncmp(out, "service main: ", 14) == 0)
		memmove(out, out + 14, strlen(out + 14) + 1);
	oys_buf_free(&c);
}

/* ---- the exchange ---- */

static int hop_by_hop(const char *name)
{
	static const char *const h[] = {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
	                                "Transfer-Encoding", "Upgrade", "Expect", "Content-Length",
	                                "Proxy-Authorization", "Proxy-Authenticate"};
	for (size_t i = 0; i < sizeof h / sizeof *h; i++)
		if (strcasecmp(name, h[i]) == 0)
			return 1;
	return 0;
}

/* Response framing state. */
enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };
enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER, CH_DONE };

struct parser {
	struct oys_buf raw;       /* bytes after the head not consumed yet */
	int have_head;
	int framing;
	unsigned long long remaining; /* BODY_LENGTH: bytes left; CH_DATA: bytes of this chunk */
	int ch;                   /* chunk state */
	int complete;
	int bad;
};

static int parse_head(struct oys_fn_response *rs, struct parser *ps, const char *method)
{
	char *h = rs->head.data;
	if (strncmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[9]) || h[8] != ' ')
		return -1;
	rs->status = atoi(h + 9);
	if (rs->status < 100 || rs->status > 999)
		return -1;
	size_t nlines = 0;
	for (char *q = h; (q = strstr(q, "\r\n")) != NULL; q += 2)
		nlines++;
	rs->headers = calloc(nlines + 1, sizeof *rs->headers);
	if (rs->headers == NULL)
		return -1;
	char *line = strstr(h, "\r\n");
	*line = '\0';
	const char *te = NULL, *cl = NULL;
	for (char *p = line + 2; *p && strncmp(p, "\r\n", 2) != 0; p = line + 2) {
		line = strstr(p, "\r\n");
		if (line == NULL)
			return -1;
		*line = '\0';
		char *colon = strchr(p, ':');
		if (colon == NULL)
			return -1;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vn = strlen(v);
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			v[--vn] = '\0';
		rs->headers[rs->nheaders].name = p;
		rs->headers[rs->nheaders].value = v;
		rs->nheaders++;
		if (strcasecmp(p, "Transfer-Encoding") == 0)
			te = v;
		else if (strcasecmp(p, "Content-Length") == 0)
			cl = v;
	}
	if (strcmp(method, "HEAD") == 0 || rs->status == 204 || rs->status == 304 || rs->status < 200) {
		ps->framing = BODY_NONE;
	} else if (te && strcasecmp(te, "chunked") == 0) {
		ps->framing = BODY_CHUNKED;
		ps->ch = CH_SIZE;
	} else if (te) {
		return -1;
	} else if (cl) {
		char *end;
		ps->remaining = strtoull(cl, &end, 10);
		if (*cl == '\0' || *end)
			return -1;
		ps->framing = BODY_LENGTH;
	} else {
		ps->framing = BODY_CLOSE;
	}
	if (ps->framing == BODY_NONE || (ps->framing == BODY_LENGTH && ps->remaining == 0))
		ps->complete = 1;
	return 0;
}

/* Moves decoded body bytes from ps->raw to rs->body. */
static void parse_body(struct oys_fn_response *rs, struct parser *ps)
{
	size_t i = 0;
	const char *r = ps->raw.data;
	size_t n = ps->raw.len;
	while (i < n && !ps->complete && !ps->bad) {
		if (ps->framing == BODY_CLOSE) {
			oys_buf_append(&rs->body, r + i, n - i);
			i = n;
		} else if (ps->framing == BODY_LENGTH) {
			size_t take = n - i < ps->remaining ? n - i : (size_t)ps->remaining;
			oys_buf_append(&rs->body, r + i, take);
			i += take;
			ps->remaining -= take;
			if (ps->remaining == 0)
				ps->complete = 1;
		} else if (ps->ch == CH_DATA) {
			size_t take = n - i < ps->remaining ? n - i : (size_t)ps->remaining;
			oys_buf_append(&rs->body, r + i, take);
			i += take;
			ps->remaining -= take;
			if (ps->remaining == 0)
				ps->ch = CH_DATA_END;
		} else {
			/* line-based states: need a whole line */
			const char *nl = memchr(r + i, '\n', n - i);
			if (nl == NULL) {
				if (n - i > 4096)
					ps->bad = 1;
				break;
			}
			size_t ln = (size_t)(nl - (r + i));
			if (ln == 0 || r[i + ln - 1] != '\r') {
				ps->bad = 1;
				break;
			}
			ln--;
			if (ps->ch == CH_SIZE) {
				unsigned long long size = 0;
				size_t k = 0;
				for (; k < ln && isxdigit((unsigned char)r[i + k]) && k < 16; k++)
					size = size * 16 + (unsigned)(isdigit((unsigned char)r[i + k])
					                                 ? r[i + k] - '0'
					                                 : tolower((unsigned char)r[i + k]) - 'a' + 10);
				if (k == 0 || (k < ln && r[i + k] != ';')) {
					ps->bad = 1;
					break;
				}
				ps->remaining = size;
				ps->ch = size ? CH_DATA : CH_TRAILER;
			} else if (ps->ch == CH_DATA_END) {
				if (ln != 0) {
					ps->bad = 1;
					break;
				}
				ps->ch = CH_SIZE;
			} else if (ps->ch == CH_TRAILER) {
				if (ln == 0) {
					ps->ch = CH_DONE;
					ps->complete = 1;
				}
			}
			i = (size_t)(nl - r) + 1;
		}
	}
	if (i > 0) {
		memmove(ps->raw.data, ps->raw.data + i, n - i);
		ps->raw.len = n - i;
		ps->raw.data[ps->raw.len] = '\0';
	}
}

static int build_request(struct oys_buf *b, const struct oys_fn_request *rq, int port)
{
	const char *host = NULL;
	for (size_t i = 0; i < rq->nheaders; i++)
		if (strcasecmp(rq->headers[i].name, "Host") == 0)
			host = rq->headers[i].value;
	oys_buf_printf(b, "%s %s HTTP/1.1\r\n", rq->method, rq->target);
	if (host)
		oys_buf_printf(b, "Host: %s\r\n", host);
	else
		oys_buf_printf(b, "Host: 127.0.0.1:%d\r\n", port);
	for (size_t i = 0; i < rq->nheaders; i++) {
		const struct oys_header *h = &rq->headers[i];
		if (strcasecmp(h->name, "Host") == 0 || hop_by_hop(h->name) ||
		    !oys_http_valid_name(h->name) || !oys_http_valid_value(h->value))
			continue;
		oys_buf_printf(b, "%s: %s\r\n", h->name, h->value);
	}
	if (rq->body_len || strcmp(rq->method, "GET") != 0)
		oys_buf_printf(b, "Content-Length: %zu\r\n", rq->body_len);
	oys_buf_puts(b, "Connection: close\r\n\r\n");
	return oys_buf_append(b, rq->body, rq->body_len);
}

/* Whether the listening socket has a connection waiting (workerd has not accepted it yet). */
static int pending(int lfd)
{
	struct pollfd p = {lfd, POLLIN, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int oys_workerd_exchange(struct oys_workerd *w, const struct oys_fn_request *rq,
                         const struct oys_fn_limits *lim, struct oys_fn_response *rs,
                         struct oys_err *e)
{
	memset(rs, 0, sizeof *rs);
	struct parser ps = {OYS_BUF_INIT, 0, 0, 0, 0, 0, 0};
	struct oys_buf req = OYS_BUF_INIT;
	int fd = -1, rc = 0, exited = 0, sock_eof = 0;
	double accepted = 0;
	size_t sent = 0;

	if (build_request(&req, rq, w->port) < 0) {
		rc = oys_err_sys(e, OYS_EOSERR, "request");
		goto out;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int connected = 0;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
		connected = 1;
	else if (fd < 0 || errno != EINPROGRESS) {
		rc = oys_err_sys(e, OYS_EOSERR, "cannot connect to workerd on port %d", w->port);
		goto out;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	double start_deadline = w->t_spawn_ms + lim->start_timeout_ms, exec_deadline = 0;
	for (;;) {
		double now = oys_now_ms();
		/* Accepted: our connection is no longer waiting in the listen queue (checked only once
		 * the handshake is done, when it must have been in the queue). */
		if (!accepted && (rs->head.len || (connected && !pending(w->lfd)))) {
			accepted = now;
			rs->t_accept_ms = now - w->t_spawn_ms;
			exec_deadline = now + lim->exec_timeout_ms;
		}
		if (lim->abort_flag && *lim->abort_flag) {
			rs->outcome = OYS_FN_ABORTED;
			break;
		}
		double deadline = accepted ? exec_deadline : start_deadline;
		if (now >= deadline) {
			rs->outcome = accepted ? OYS_FN_TIMEOUT : OYS_FN_START_TIMEOUT;
			break;
		}
		/* Until workerd accepts, wake every few ms to notice when it does (to tell startup
		 * from execution); the data path itself is event-driven. */
		int wait = (int)(deadline - now) + 1;
		if (!accepted && wait > 5)
			wait = 5;

		struct pollfd p[4];
		int np = 0, ip_sock = -1, ip_out = -1, ip_pid = -1, ip_abort = -1;
		if (!sock_eof) {
			p[np] = (struct pollfd){fd, (short)(POLLIN | (sent < req.len ? POLLOUT : 0)), 0};
			ip_sock = np++;
		}
		if (w->outfd >= 0) {
			p[np] = (struct pollfd){w->outfd, POLLIN, 0};
			ip_out = np++;
		}
		if (!exited) {
			p[np] = (struct pollfd){w->pidfd, POLLIN, 0};
			ip_pid = np++;
		}
		if (lim->abort_fd >= 0) {
			p[np] = (struct pollfd){lim->abort_fd, 0, 0};
			ip_abort = np++;
		}
		int n = poll(p, (nfds_t)np, wait);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = oys_err_sys(e, OYS_EOSERR, "poll");
			goto out;
		}
		if (ip_abort >= 0 && (p[ip_abort].revents & (POLLHUP | POLLERR | POLLNVAL))) {
			rs->outcome = OYS_FN_ABORTED;
			break;
		}
		if (ip_out >= 0 && p[ip_out].revents)
			drain_output(w);
		if (ip_pid >= 0 && p[ip_pid].revents)
			exited = 1;
		if (ip_sock >= 0 && (p[ip_sock].revents & POLLOUT))
			connected = 1;
		if (ip_sock >= 0 && (p[ip_sock].revents & POLLOUT) && sent < req.len) {
			ssize_t k = send(fd, req.data + sent, req.len - sent, MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
			else if (k < 0 && errno != EAGAIN && errno != EINTR)
				sent = req.len; /* the peer is gone; what it answers (or not) tells */
		}
		if (ip_sock >= 0 && (p[ip_sock].revents & (POLLIN | POLLHUP | POLLERR))) {
			char buf[65536];
			ssize_t k;
			while ((k = recv(fd, buf, sizeof buf, 0)) > 0) {
				if (!ps.have_head) {
					oys_buf_append(&rs->head, buf, (size_t)k);
					char *end = strstr(rs->head.data, "\r\n\r\n");
					if (end == NULL) {
						if (rs->head.len > 65536) {
							rs->outcome = OYS_FN_BAD_RESPONSE;
							goto done;
						}
						continue;
					}
					size_t hl = (size_t)(end - rs->head.data) + 4;
					oys_buf_append(&ps.raw, rs->head.data + hl, rs->head.len - hl);
					rs->head.len = hl - 2; /* keep one CRLF so the last header line ends */
					rs->head.data[rs->head.len] = '\0';
					ps.have_head = 1;
					if (parse_head(rs, &ps, rq->method) < 0) {
						rs->outcome = OYS_FN_BAD_RESPONSE;
						goto done;
					}
				} else {
					oys_buf_append(&ps.raw, buf, (size_t)k);
				}
				parse_body(rs, &ps);
				if (ps.bad) {
					rs->outcome = OYS_FN_BAD_RESPONSE;
					goto done;
				}
				if (rs->body.len > lim->max_response) {
					rs->outcome = OYS_FN_TOO_LARGE;
					goto done;
				}
				if (ps.complete) {
					rs->outcome = OYS_FN_OK;
					goto done;
				}
			}
			if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
				sock_eof = 1;
				if (ps.have_head && ps.framing == BODY_CLOSE) {
					rs->outcome = OYS_FN_OK;
					goto done;
				}
				rs->outcome = OYS_FN_DIED;
				goto done;
			}
		}
		if (exited && !accepted) {
			/* Exited before serving: collect all it said, that is the diagnosis. */
			while (w->outfd >= 0 && drain_output(w))
				;
			rs->outcome = OYS_FN_START_FAILED;
			break;
		}
		if (exited && sock_eof) {
			rs->outcome = OYS_FN_DIED;
			break;
		}
		if (exited) {
			/* It exited: whatever is still in the socket is all there will be. Wait briefly for
			 * the socket's EOF rather than spinning on the pidfd. */
			struct pollfd q = {fd, POLLIN, 0};
			if (poll(&q, 1, 200) == 0) {
				rs->outcome = OYS_FN_DIED;
				break;
			}
		}
	}
done:
	if (accepted)
		rs->t_exec_ms = oys_now_ms() - accepted;
	else
		rs->t_accept_ms = oys_now_ms() - w->t_spawn_ms;
	if (rs->outcome == OYS_FN_OK && rs->body.data == NULL && oys_buf_reserve(&rs->body, 0) == 0)
		rs->body.data[0] = '\0';
out:
	if (fd >= 0)
		close(fd);
	oys_buf_free(&req);
	oys_buf_free(&ps.raw);
	return rc;
}

void oys_fn_response_free(struct oys_fn_response *rs)
{
	free(rs->headers);
	oys_buf_free(&rs->head);
	oys_buf_free(&rs->body);
	memset(rs, 0, sizeof *rs);
}

const char *oys_fn_response_header(const struct oys_fn_response *rs, const char *name)
{
	for (size_t i = 0; i < rs->nheaders; i++)
		if (strcasecmp(rs->headers[i].name, name) == 0)
			return rs->headers[i].value;
	return NULL;
}

void oys_workerd_free(struct oys_workerd *w)
{
	oys_workerd_stop(w);
	oys_buf_free(&w->console);
	oys_buf_free(&w->console_tail);
}

void oys_workerd_stop(struct oys_workerd *w)
{
	if (w->pid > 0) {
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL);
		/* SIGKILL is prompt; still, never hang here: wait on the pidfd with a bound. */
		if (w->pidfd >= 0) {
			struct pollfd p = {w->pidfd, POLLIN, 0};
			poll(&p, 1, 5000);
		}
		int st;
		if (waitpid(w->pid, &st, w->pidfd >= 0 ? WNOHANG : 0) == w->pid)
			w->status = st;
		w->pid = -1;
	}
	/* Whatever it wrote before dying is still in the pipe. */
	for (int i = 0; i < 64 && w->outfd >= 0 && drain_output(w); i++) {
		struct pollfd p = {w->outfd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			break;
	}
	if (w->outfd >= 0)
		close(w->outfd);
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->lfd >= 0)
		close(w->lfd);
	w->outfd = w->pidfd = w->lfd = -1;
}
