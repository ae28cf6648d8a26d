/* Unit tests of the HTTP/1.1 wire format (lib/http.c): the strict request parser, through the
 * server's reader with its deadlines (lib/httpd.c) and fed directly in pieces; the response
 * parser; the chunked coding; the hop-by-hop list; the exchange with a function over a
 * connected socket (lib/fn.c), against a child that plays workerd; and the server's answers
 * (lib/httpd.c): headers checked, written without ever waiting on the client, the token. */
#include "tap.h"
#include "../../lib/fn.h"
#include "../../lib/httpd.h"
#include "../../lib/file.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* its shadow memory makes an address-space limit meaningless */
#else
#define UNDER_ASAN 0
#endif

/* Feeds raw into the reader through a socketpair (a child writes it, then closes unless
 * hold_ms > 0, which keeps the connection open that long, like a slow client). */
static int feed(const char *raw, size_t len, int hold_ms, const struct oys_http_limits *lim,
                struct oys_http_request *r, struct oys_err *e)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		oys_write_all(sv[1], raw, len);
		if (hold_ms)
			usleep((useconds_t)hold_ms * 1000);
		_exit(0);
	}
	close(sv[1]);
	int rc = oys_http_read_request(sv[0], sv[0], lim, r, e);
	close(sv[0]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return rc;
}

static int status_of_n(const char *raw, size_t len)
{
	struct oys_http_request r;
	struct oys_err e = {0};
	int rc = feed(raw, len, 0, NULL, &r, &e);
	oys_http_request_free(&r);
	return rc;
}

static int status_of(const char *raw)
{
	return status_of_n(raw, strlen(raw));
}

/* The value of the first field called name, or "". */
static const char *field(const struct oys_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return "";
}

/* Feeds raw to the request parser step bytes at a time (no I/O): the last status. */
static int parse_request(const char *raw, size_t len, size_t step, const struct oys_http_limits *lim,
                         struct oys_http_request *r, struct oys_err *e)
{
	static const struct oys_http_limits def = OYS_HTTP_LIMITS_DEFAULT;
	oys_http_request_init(r);
	size_t off = 0, used;
	int st = OYS_HTTP_MORE;
	while (st == OYS_HTTP_MORE || st == OYS_HTTP_HEAD) {
		size_t n = len - off < step ? len - off : step;
		st = oys_http_request_feed(r, lim ? lim : &def, raw + off, n, &used, e);
		off += used;
		if (st == OYS_HTTP_MORE && n == 0)
			break; /* all fed, more wanted */
	}
	return st;
}

/* The same for a response to method, then the end of the input as the peer's close. */
static int parse_response(const char *raw, size_t len, size_t step, const char *method, size_t max_body,
                          struct oys_http_response *r, struct oys_err *e)
{
	struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
	lim.max_body = max_body;
	oys_http_response_init(r, method);
	size_t off = 0, used;
	int st = OYS_HTTP_MORE;
	while (st == OYS_HTTP_MORE && off < len) {
		size_t n = len - off < step ? len - off : step;
		st = oys_http_response_feed(r, &lim, raw + off, n, &used, e);
		off += used;
	}
	if (st == OYS_HTTP_MORE)
		st = oys_http_response_end(r) == OYS_HTTP_DONE ? OYS_HTTP_DONE : -1;
	return st;
}

static int response_is(const char *raw, size_t step, int want, size_t want_body)
{
	struct oys_http_response r;
	struct oys_err e = {0};
	int st = parse_response(raw, strlen(raw), step, "GET", 1 << 20, &r, &e);
	int good = st == want && (want != OYS_HTTP_DONE || r.body.len == want_body);
	oys_http_response_free(&r);
	return good;
}

/* A chunked request body, fed to the request parser step bytes at a time; the body limit is
 * 16 bytes, at most 2 fields (trailers). */
static int chunked_is(const char *chunks, size_t step, int want, const char *want_body)
{
	struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
	struct oys_http_request r;
	struct oys_buf raw = OYS_BUF_INIT;
	struct oys_err e = {0};
	lim.max_body = 16;
	lim.max_headers = 2;
	oys_buf_printf(&raw, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%s", chunks);
	int st = parse_request(raw.data, raw.len, step, &lim, &r, &e);
	int good = st == want && (want_body == NULL || (r.body.len == strlen(want_body) &&
	                                                memcmp(r.body.data, want_body, r.body.len) == 0));
	oys_http_request_free(&r);
	oys_buf_free(&raw);
	return good;
}

/* In a child whose address space is capped near its current size: feeds a response announced
 * as 1 GiB, MiB by MiB. Exits 0 when the parser says "out of memory" (500) before the end. */
static int response_out_of_memory(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		unsigned long pages = 0;
		FILE *f = fopen("/proc/self/statm", "r");
		if (f == NULL || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages * (unsigned long)sysconf(_SC_PAGESIZE) + (64ul << 20);
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(2);
		static char mib[1 << 20];
		const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n";
		struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
		lim.max_body = 2ul << 30;
		struct oys_http_response r;
		struct oys_err e = {0};
		size_t used;
		oys_http_response_init(&r, "GET");
		int st = oys_http_response_feed(&r, &lim, head, sizeof head - 1, &used, &e);
		for (int i = 0; i < 1024 && st == OYS_HTTP_MORE; i++)
			st = oys_http_response_feed(&r, &lim, mib, sizeof mib, &used, &e);
		_exit(st == 500 && strstr(e.msg, "response body") ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Plays workerd on fd: reads the request (head, then Content-Length bytes), then writes reply,
 * or with reply NULL the request it got as the body of a 200. hold_ms: wait that long first. */
static void play_workerd(int fd, const char *reply, size_t reply_len, int hold_ms)
{
	struct oys_buf got = OYS_BUF_INIT;
	char buf[4096];
	for (;;) {
		const char *end = got.data ? strstr(got.data, "\r\n\r\n") : NULL;
		const char *cl = got.data ? strstr(got.data, "Content-Length: ") : NULL;
		if (end && got.len >= (size_t)(end + 4 - got.data) + (cl ? strtoul(cl + 16, NULL, 10) : 0))
			break;
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			_exit(1);
		oys_buf_append(&got, buf, (size_t)n);
	}
	if (hold_ms)
		usleep((useconds_t)hold_ms * 1000);
	if (reply) {
		oys_write_all(fd, reply, reply_len);
	} else {
		dprintf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", got.len);
		oys_write_all(fd, got.data, got.len);
	}
	_exit(0);
}

static const struct oys_header fn_headers[] = {
	{"Connection", "keep-alive"}, {"X-Custom", "1"}, {"Bad Name", "x"},
	{"Transfer-Encoding", "chunked"}, {"X-Bad-Value", "a\rb"},
};
static const struct oys_fn_request fn_post = {"POST", "/p?q=1", fn_headers, 5, "hello", 5};

/* The exchange over a socketpair (as a Unix socket will be) with play_workerd on the other end. */
static int exchange(const char *reply, size_t reply_len, int hold_ms, size_t max_response, int exec_ms,
                    struct oys_fn_response *rs)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		fcntl(sv[1], F_SETFL, 0); /* blocking, with a bound */
		struct timeval tv = {5, 0};
		setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		play_workerd(sv[1], reply, reply_len, hold_ms);
	}
	close(sv[1]);
	struct oys_workerd w = {.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
	w.t_spawn_ms = oys_now_ms();
	snprintf(w.host, sizeof w.host, "fn.test");
	struct oys_fn_limits lim = {2000, exec_ms, max_response, -1, NULL};
	struct oys_err e = {0};
	int rc = oys_fn_exchange(&w, sv[0], &fn_post, &lim, rs, &e);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	oys_workerd_free(&w);
	return rc;
}

static int outcome_of(const char *reply, size_t max_response)
{
	struct oys_fn_response rs;
	int rc = exchange(reply, strlen(reply), 0, max_response, 2000, &rs);
	int o = rc ? -1 : (int)rs.outcome;
	oys_fn_response_free(&rs);
	return o;
}

/* The exchange in a child capped near its address space, against a grandchild that answers
 * 1 GiB: exits 0 when the exchange reports out of memory as its own error (OYS_EOSERR). */
static int exchange_out_of_memory(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		int sv[2];
		socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
		pid_t server = fork();
		if (server == 0) {
			static char zeros[1 << 16];
			close(sv[0]);
			struct pollfd p = {sv[1], POLLIN, 0};
			poll(&p, 1, 5000); /* the request */
			dprintf(sv[1], "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n");
			for (;;) {
				struct pollfd q = {sv[1], POLLOUT, 0};
				poll(&q, 1, 5000);
				if (send(sv[1], zeros, sizeof zeros, MSG_NOSIGNAL) < 0 && errno != EAGAIN)
					_exit(0);
			}
		}
		close(sv[1]);
		struct rlimit rl;
		unsigned long pages = 0;
		FILE *f = fopen("/proc/self/statm", "r");
		if (f == NULL || fscanf(f, "%lu", &pages) != 1)
			_exit(2);
		fclose(f);
		rl.rlim_cur = rl.rlim_max = pages * (unsigned long)sysconf(_SC_PAGESIZE) + (64ul << 20);
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			_exit(2);
		struct oys_workerd w = {.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
		w.t_spawn_ms = oys_now_ms();
		struct oys_fn_limits lim = {5000, 20000, 2ul << 30, -1, NULL};
		struct oys_fn_response rs;
		struct oys_err e = {0};
		int rc = oys_fn_exchange(&w, sv[0], &fn_post, &lim, &rs, &e);
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		_exit(rc == OYS_EOSERR && strstr(e.msg, "cannot keep the function's response") ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}


/* What oys_http_respond() writes, read back from a socketpair. */
static void respond_text(const char *ctype, const struct oys_header *h, size_t nh, char *out, size_t outsz)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	oys_http_respond(sv[0], 200, ctype, h, nh, "x", 1);
	close(sv[0]);
	ssize_t n = read(sv[1], out, outsz - 1);
	out[n > 0 ? n : 0] = '\0';
	close(sv[1]);
}

/* An answer of size bytes through a socketpair with small buffers: start writes a part at once
 * without blocking; finish writes the rest while a child reads (reader 1), gives up when
 * nobody reads (0), or sees the peer go (-1). Returns what finish returned; *first is what
 * start wrote at once. */
static int answer_through(size_t size, int reader, size_t *first)
{
	int sv[2], small = 4096;
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	char *body = malloc(size);
	memset(body, 'b', size);
	struct oys_http_answer a;
	int rc = oys_http_answer_start(&a, sv[0], 200, "text/plain", NULL, 0, body, size);
	*first = oys_http_answer_size(&a) - oys_http_answer_left(&a);
	pid_t pid = -1;
	if (reader > 0) {
		pid = fork();
		if (pid == 0) {
			char buf[8192];
			close(sv[0]);
			while (read(sv[1], buf, sizeof buf) > 0)
				;
			_exit(0);
		}
	}
	if (reader < 0)
		close(sv[1]);
	if (rc == 0)
		rc = oys_http_answer_finish(&a, 300);
	close(sv[0]);
	if (reader >= 0)
		close(sv[1]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	oys_http_answer_free(&a);
	free(body);
	return rc;
}

int main(void)
{
	struct oys_http_request r;
	struct oys_err e = {0};
	signal(SIGPIPE, SIG_IGN);

	const char *get = "GET /fn/abc/x?y=1 HTTP/1.1\r\nHost: h\r\nX-A:  v w \r\n\r\n";
	ok(feed(get, strlen(get), 0, NULL, &r, &e) == 0, "a plain GET parses");
	ok(strcmp(r.method, "GET") == 0 && strcmp(r.target, "/fn/abc/x?y=1") == 0, "method and target");
	ok(strcmp(r.path, "/fn/abc/x") == 0 && strcmp(r.query, "y=1") == 0, "path and query split");
	ok(strcmp(oys_http_header(&r, "x-a"), "v w") == 0, "header lookup is case-insensitive, OWS trimmed");
	ok(r.body.len == 0 && r.version == 11, "no body, HTTP/1.1");
	oys_http_request_free(&r);

	const char *post = "POST /api/serverless HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	ok(feed(post, strlen(post), 0, NULL, &r, &e) == 0 && r.body.len == 5 &&
	   memcmp(r.body.data, "hello", 5) == 0, "Content-Length body");
	oys_http_request_free(&r);

	const char *chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
	                      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
	ok(feed(chunked, strlen(chunked), 0, NULL, &r, &e) == 0 && r.body.len == 11 &&
	   memcmp(r.body.data, "hello world", 11) == 0, "chunked body with extension and trailer");
	oys_http_request_free(&r);

	ok(status_of("GET / HTTP/1.1\nHost: h\n\n") == 400, "bare LF line ends: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n") == 400, "one bare LF inside: 400");
	ok(status_of("GET / HTTP/1.1\r\n\r\n") == 400, "HTTP/1.1 without Host: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400, "two Host headers: 400");
	ok(status_of("GET / HTTP/1.0\r\n\r\n") == 0, "HTTP/1.0 without Host is fine");
	ok(status_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505, "HTTP/2.0: 505");
	ok(status_of("GET / FOO\r\nHost: h\r\n\r\n") == 400, "garbage version: 400");
	ok(status_of("GET  / HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "double space in request line: 400");
	ok(status_of("GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n") == 400, "absolute-form target: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400, "space before colon: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n") == 400, "obs-fold: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" "b\r\n\r\n") == 400, "control char in value: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\n\r\n") == 411, "POST without length: 411");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400,
	   "both Content-Length and Transfer-Encoding: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") == 400,
	   "repeated Content-Length: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx") == 400, "signed length: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 1\r\n\r\nx") == 400, "spaced length: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") == 501,
	   "other transfer codings: 501");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n") == 501,
	   "obfuscated Transfer-Encoding: refused");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == 400,
	   "repeated Transfer-Encoding: 400");
	ok(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400,
	   "chunked in HTTP/1.0: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == 400,
	   "bad chunk size: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n") == 400,
	   "chunk longer than announced: 400");
	ok(status_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc") == 400,
	   "body shorter than Content-Length: 400");
	ok(status_of("GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n") == 417, "unknown Expect: 417");
	ok(status_of("") == -1, "a client that sends nothing needs no answer");
	ok(status_of("GET / HT") == 400, "a client that stops mid-head: 400");

	struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
	lim.max_body = 10;
	const char *big = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
	ok(feed(big, strlen(big), 0, &lim, &r, &e) == 413, "body over the limit: 413 before reading it");
	oys_http_request_free(&r);
	const char *bigc = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
	ok(feed(bigc, strlen(bigc), 0, &lim, &r, &e) == 413, "chunked body over the limit: 413");
	oys_http_request_free(&r);

	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.max_line = 64;
	char longline[512];
	snprintf(longline, sizeof longline, "GET /%0200d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
	ok(feed(longline, strlen(longline), 0, &lim, &r, &e) == 414, "long request line: 414");
	oys_http_request_free(&r);

	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.max_headers = 3;
	const char *many = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	ok(feed(many, strlen(many), 0, &lim, &r, &e) == 431, "too many headers: 431");
	oys_http_request_free(&r);

	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.head_timeout_ms = 200;
	const char *slow = "GET / HTTP/1.1\r\nHost: h\r\n";
	double t0 = oys_now_ms();
	ok(feed(slow, strlen(slow), 3000, &lim, &r, &e) == 408, "a head that never ends: 408");
	ok(oys_now_ms() - t0 < 2000, "... after the deadline, not when the client gives up");
	oys_http_request_free(&r);

	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.body_timeout_ms = 200;
	const char *slowbody = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc";
	ok(feed(slowbody, strlen(slowbody), 3000, &lim, &r, &e) == 408, "a body that stalls: 408");
	oys_http_request_free(&r);

	/* A body larger than any pipe buffer arrives whole. */
	size_t n = 3 << 20;
	char *raw = malloc(n + 200);
	int h = snprintf(raw, 200, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", n);
	memset(raw + h, 'x', n);
	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.max_body = 4 << 20;
	ok(feed(raw, (size_t)h + n, 0, &lim, &r, &e) == 0 && r.body.len == n, "a 3 MiB body arrives whole");
	oys_http_request_free(&r);
	free(raw);

	/* ---- NUL bytes: 400, never a crash (issue 13, finding 6) ---- */
	static const char nul_field[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
	static const char nul_line[] = "GET /\0x HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char nul_name[] = "GET / HTTP/1.1\r\nHost: h\r\n\0X: y\r\n\r\n";
	ok(status_of_n(nul_field, sizeof nul_field - 1) == 400, "a NUL in a header value: 400");
	ok(status_of_n(nul_line, sizeof nul_line - 1) == 400, "a NUL in the request line: 400");
	ok(status_of_n(nul_name, sizeof nul_name - 1) == 400, "a NUL at the start of a header line: 400");
	ok(parse_request(nul_field, sizeof nul_field - 1, 1, NULL, &r, &e) == 400 &&
	   strcmp(e.msg, "NUL byte in request head") == 0, "... also fed byte by byte, with the reason");
	oys_http_request_free(&r);
	static const char nul_chunk[] = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;\0\r\nx\r\n0\r\n\r\n";
	ok(status_of_n(nul_chunk, sizeof nul_chunk - 1) == 400, "a NUL in a chunk-size line: 400");
	static const char nul_body[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na\0b";
	ok(feed(nul_body, sizeof nul_body - 1, 0, NULL, &r, &e) == 0 && r.body.len == 3 && r.body.data[1] == '\0',
	   "a NUL in a body is data");
	oys_http_request_free(&r);

	/* ---- the request parser fed directly, in pieces of any size ---- */
	const char *pieces = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
	                     "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nEXTRA";
	size_t used;
	int all_same = 1;
	for (size_t step = 1; step <= strlen(pieces); step++) {
		int st = parse_request(pieces, strlen(pieces), step, NULL, &r, &e);
		all_same &= st == OYS_HTTP_DONE && r.body.len == 5 && memcmp(r.body.data, "abcde", 5) == 0 &&
		            strcmp(oys_http_header(&r, "expect"), "100-continue") == 0;
		oys_http_request_free(&r);
	}
	ok(all_same, "a chunked request parses the same in pieces of every size");
	oys_http_request_init(&r);
	const struct oys_http_limits deflim = OYS_HTTP_LIMITS_DEFAULT;
	ok(oys_http_request_feed(&r, &deflim, get, strlen(get) + 0, &used, &e) == OYS_HTTP_HEAD && used == strlen(get),
	   "the head is reported once whole, and used stops at its end");
	ok(oys_http_request_feed(&r, &deflim, "", 0, &used, &e) == OYS_HTTP_DONE && r.body.data && r.body.len == 0,
	   "then a request without a body is done, with an empty body");
	oys_http_request_free(&r);
	oys_http_request_init(&r);
	ok(oys_http_request_feed(&r, &deflim, post, strlen(post), &used, &e) == OYS_HTTP_HEAD &&
	   used == strlen(post) - 5 && strcmp(oys_http_request_awaits(&r), "request body") == 0,
	   "a body that follows the head is left for the next feed");
	ok(oys_http_request_feed(&r, &deflim, post + used, 5, &used, &e) == OYS_HTTP_DONE && used == 5,
	   "and taken by it");
	oys_http_request_free(&r);
	ok(parse_request("GET / HTTP/1.1\r\nHost: h\r\n", 25, 7, NULL, &r, &e) == OYS_HTTP_MORE &&
	   strcmp(oys_http_request_awaits(&r), "request head") == 0, "an unfinished head wants more");
	oys_http_request_free(&r);
	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.max_line = 16;
	ok(parse_request("GET /0123456789abcdef HTTP/1.1\r\n", 32, 3, &lim, &r, &e) == 414,
	   "a long request line is 414 in pieces too");
	oys_http_request_free(&r);

	/* ---- the chunked coding ---- */
	ok(chunked_is("5\r\nhello\r\n0\r\n\r\n", 1, OYS_HTTP_DONE, "hello"), "chunked, byte by byte");
	ok(chunked_is("5\r\nhel", 1, OYS_HTTP_MORE, NULL), "a chunk not whole wants more");
	ok(chunked_is("A;name=\"v\"\r\n0123456789\r\n0\r\nX: y\r\nZ: w\r\n\r\n", 4, OYS_HTTP_DONE, "0123456789"),
	   "hex size, extension, trailers");
	ok(chunked_is("5\nhello\r\n0\r\n\r\n", 3, 400, NULL), "bare LF after the size: 400");
	ok(chunked_is("5\r\nhello\n0\r\n\r\n", 3, 400, NULL), "bare LF after the data: 400");
	ok(chunked_is("5\r\nhelloX\r\n", 1, 400, NULL), "data longer than its size: 400");
	ok(chunked_is("0000000000000001\r\nx\r\n", 5, 400, NULL), "16 hex digits: 400");
	ok(chunked_is(" 5\r\nhello\r\n", 5, 400, NULL), "space before the size: 400");
	ok(chunked_is("11\r\n", 5, 413, NULL), "a chunk over the body limit: 413 before its data");
	ok(chunked_is("9\r\n123456789\r\n8\r\n", 5, 413, NULL), "chunks adding up over it: 413");
	ok(chunked_is("0\r\nA: 1\r\nB: 2\r\n\r\n", 5, OYS_HTTP_DONE, ""), "as many trailers as fields allowed");
	ok(chunked_is("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n", 5, 431, NULL), "one more: 431");
	char longext[1100];
	snprintf(longext, sizeof longext, "1;%01030d\r\nx\r\n0\r\n\r\n", 0);
	ok(chunked_is(longext, 100, 400, NULL), "a chunk-size line over 1024 bytes: 400");

	/* ---- the response parser ---- */
	struct oys_http_response rsp;
	const char *resp = "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nX-Multi:  a b \r\nContent-Length: 5\r\n\r\nhelloEXTRA";
	ok(parse_response(resp, strlen(resp), 3, "GET", 100, &rsp, &e) == OYS_HTTP_DONE && rsp.status == 201 &&
	   rsp.body.len == 5 && memcmp(rsp.body.data, "hello", 5) == 0 &&
	   strcmp(field(rsp.headers, rsp.nheaders, "x-multi"), "a b") == 0,
	   "a response with Content-Length: status, fields, body; nothing after it");
	oys_http_response_free(&rsp);
	ok(response_is("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n", 1,
	               OYS_HTTP_DONE, 9), "a chunked response, byte by byte");
	ok(response_is("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nx\r\n0\r\n\r\n",
	               7, OYS_HTTP_DONE, 1), "chunked wins over Content-Length in a response");
	ok(response_is("HTTP/1.0 200 OK\r\n\r\nto the end", 4, OYS_HTTP_DONE, 10), "a body framed by the close");
	ok(response_is("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 4, -1, 0), "a body cut short is not whole");
	ok(response_is("HTTP/1.1 200 OK\r\nContent-Length: 3", 4, -1, 0), "a head cut short is not whole");
	ok(response_is("HTTP/1.1 204 No Content\r\n\r\n", 100, OYS_HTTP_DONE, 0), "204: no body");
	ok(response_is("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 100, OYS_HTTP_DONE, 0), "304: no body");
	oys_http_response_init(&rsp, "HEAD");
	ok(oys_http_response_feed(&rsp, &deflim, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 38, &used, &e) ==
	   OYS_HTTP_DONE, "the answer to HEAD has no body, whatever it says");
	oys_http_response_free(&rsp);
	ok(response_is("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n", 100, 413, 0),
	   "Content-Length over the limit: 413 before the body");
	ok(parse_response("HTTP/1.1 200 OK\r\n\r\n0123456789", 29, 5, "GET", 8, &rsp, &e) == 413,
	   "a body to the close over the limit: 413");
	oys_http_response_free(&rsp);
	ok(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n", 50, 5, "GET", 8, &rsp, &e) == 413,
	   "a chunked body over the limit: 413");
	oys_http_response_free(&rsp);
	ok(response_is("HTTP/1.1 2OO OK\r\n\r\n", 100, 502, 0), "a malformed status: 502");
	ok(response_is("HTTP/1.1 20 OK\r\n\r\n", 100, 502, 0), "a two-digit status: 502");
	ok(response_is("HTTP/1.1 099 X\r\n\r\n", 100, 502, 0), "a status under 100: 502");
	ok(response_is("HTTP/1.1 2000 X\r\n\r\n", 100, 502, 0), "a four-digit status: 502");
	ok(response_is("HTTP/2 200 OK\r\n\r\n", 100, 502, 0), "not HTTP/1.x: 502");
	ok(response_is("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 100, 502, 0), "other codings: 502");
	ok(response_is("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 100, 502, 0), "a signed length: 502");
	ok(response_is("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 100, 502, 0),
	   "a repeated length: 502");
	ok(response_is("HTTP/1.1 200 OK\nContent-Length: 0\n\n", 100, 502, 0), "bare LFs: 502");
	ok(response_is("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 100, 502, 0), "obs-fold: 502");
	static const char nul_resp[] = "HTTP/1.1 200 OK\r\nX: \0\r\nContent-Length: 0\r\n\r\n";
	ok(parse_response(nul_resp, sizeof nul_resp - 1, 100, "GET", 100, &rsp, &e) == 502, "a NUL in the head: 502");
	oys_http_response_free(&rsp);
	char *bighead = malloc(70000);
	memcpy(bighead, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(bighead + 20, 'a', 69979);
	bighead[69999] = '\0';
	lim = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	lim.max_head = 65536;
	oys_http_response_init(&rsp, "GET");
	ok(oys_http_response_feed(&rsp, &lim, bighead, 69999, &used, &e) == 502 && rsp.head.len <= 65537,
	   "a head over the limit: 502, and no more of it kept");
	oys_http_response_free(&rsp);
	free(bighead);
	if (UNDER_ASAN)
		ok(1, "# skip out of memory: an address-space limit means nothing under ASan");
	else
		ok(response_out_of_memory() == 0, "out of memory while a body comes: 500, not a shorter body");

	/* ---- one hop-by-hop list ---- */
	ok(oys_http_hop_by_hop("connection") && oys_http_hop_by_hop("Keep-Alive") && oys_http_hop_by_hop("TE") &&
	   oys_http_hop_by_hop("Transfer-Encoding") && oys_http_hop_by_hop("content-length") &&
	   oys_http_hop_by_hop("Upgrade") && oys_http_hop_by_hop("Proxy-Authenticate"),
	   "hop-by-hop and framing fields are on the list");
	ok(!oys_http_hop_by_hop("Content-Type") && !oys_http_hop_by_hop("Host") && !oys_http_hop_by_hop("X-Oyster-Code-Id") &&
	   !oys_http_hop_by_hop("Connectionx"), "end-to-end fields are not");

	/* ---- the exchange with a function over a connected socket ---- */
	struct oys_fn_response fr;
	ok(exchange(NULL, 0, 0, 1 << 20, 2000, &fr) == 0 && fr.outcome == OYS_FN_OK && fr.status == 200,
	   "an exchange over a Unix socketpair");
	const char *sent = "POST /p?q=1 HTTP/1.1\r\nHost: fn.test\r\nX-Custom: 1\r\nContent-Length: 5\r\n"
	                   "Connection: close\r\n\r\nhello";
	ok(fr.body.data && strcmp(fr.body.data, sent) == 0,
	   "the request as sent: the default Host, hop-by-hop and invalid fields dropped, our framing");
	oys_fn_response_free(&fr);
	const char *chunky = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	ok(exchange(chunky, strlen(chunky), 0, 1 << 20, 2000, &fr) == 0 && fr.outcome == OYS_FN_OK && fr.status == 201 &&
	   strcmp(fr.body.data, "abc") == 0 && strcmp(field(fr.headers, fr.nheaders, "x-a"), "b") == 0,
	   "a chunked answer comes back decoded, with its fields");
	oys_fn_response_free(&fr);
	ok(outcome_of("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 10) == OYS_FN_TOO_LARGE, "too large");
	ok(outcome_of("HTTP/1.1 200 OK\r\n\r\n0123456789A", 10) == OYS_FN_TOO_LARGE, "too large, to the close");
	ok(outcome_of("HTTP/1.1 2OO OK\r\n\r\n", 10) == OYS_FN_BAD_RESPONSE, "not HTTP: bad response");
	ok(outcome_of("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100) == OYS_FN_DIED, "cut short: died");
	ok(outcome_of("", 100) == OYS_FN_DIED, "no answer at all: died");
	ok(outcome_of("HTTP/1.0 200 OK\r\n\r\nuntil close", 100) == OYS_FN_OK, "a body framed by the close");
	t0 = oys_now_ms();
	ok(exchange("HTTP/1.1 200 OK\r\n\r\n", 19, 3000, 100, 200, &fr) == 0 && fr.outcome == OYS_FN_TIMEOUT &&
	   oys_now_ms() - t0 < 2000, "no answer in time: timeout, at the deadline");
	oys_fn_response_free(&fr);
	if (UNDER_ASAN)
		ok(1, "# skip out of memory: an address-space limit means nothing under ASan");
	else
		ok(exchange_out_of_memory() == 0, "out of memory during the exchange: an error of ours, not a shorter body");

	/* ---- answers: headers checked, never waiting on the client ---- */
	char text[4096];
	struct oys_header bad[2] = {{"X-Ok", "fine"}, {"X-Bad", "a\x01" "b"}};
	respond_text("text/plain\x01x", bad, 2, text, sizeof text);
	ok(strstr(text, "Content-Type") == NULL && strstr(text, "X-Bad") == NULL && strstr(text, "X-Ok: fine\r\n"),
	   "a content type or a header with a control character is not written");
	respond_text("text/\xc3\xa9", NULL, 0, text, sizeof text);
	ok(strstr(text, "Content-Type: text/\xc3\xa9\r\n") != NULL, "bytes beyond ASCII are field content");
	size_t first;
	t0 = oys_now_ms();
	ok(answer_through(1 << 20, 1, &first) == 0 && first > 0 && first < (1 << 20),
	   "a large answer: a part at once (%zu bytes), the rest once the client reads", first);
	ok(answer_through(1 << 20, 0, &first) == OYS_ETEMPFAIL && oys_now_ms() - t0 < 5000,
	   "a client that reads nothing: dropped after the idle time");
	ok(answer_through(1 << 20, -1, &first) == OYS_EIO, "a client that is gone: an I/O error");
	ok(answer_through(100, 0, &first) == 0 && first == 100 + strlen("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
	   "Content-Length: 100\r\nConnection: close\r\n\r\n"), "a small answer goes out whole at once");

	int pp[2];
	ok(pipe(pp) == 0, "a pipe");
	{
		char *piped = calloc(1, 1 << 20);
		struct oys_http_answer a;
		int flags = fcntl(pp[1], F_GETFL);
		int rc = oys_http_answer_start(&a, pp[1], 200, NULL, NULL, 0, piped, 1 << 20);
		ok(rc == 0 && oys_http_answer_left(&a) > 0 && fcntl(pp[1], F_GETFL) == flags,
		   "a pipe nobody reads: a part at once, never blocking, its flags as they were");
		ok(oys_http_answer_finish(&a, 200) == OYS_ETEMPFAIL, "and the rest given up after the idle time");
		oys_http_answer_free(&a);
		free(piped);
		close(pp[0]);
		close(pp[1]);
	}

	ok(oys_http_bearer_ok("Bearer s3cret", "s3cret") && oys_http_bearer_ok("bearer s3cret", "s3cret"),
	   "the token, scheme in any case");
	ok(!oys_http_bearer_ok("Bearer s3cre", "s3cret") && !oys_http_bearer_ok("Bearer s3crett", "s3cret") &&
	   !oys_http_bearer_ok("Bearer s3creT", "s3cret") && !oys_http_bearer_ok("Bearer ", "s3cret") &&
	   !oys_http_bearer_ok("s3cret", "s3cret") && !oys_http_bearer_ok(NULL, "s3cret") &&
	   !oys_http_bearer_ok("Bearer ", ""), "a prefix, an extension, one byte off, none, no scheme, an empty token: no");

	return tap_done();
}
