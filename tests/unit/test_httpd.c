/* Unit tests of the strict HTTP/1.1 request reader (lib/httpd.c). */
#include "tap.h"
#include "../../lib/httpd.h"
#include "../../lib/file.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

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

static int status_of(const char *raw)
{
	struct oys_http_request r;
	struct oys_err e = {0};
	int rc = feed(raw, strlen(raw), 0, NULL, &r, &e);
	oys_http_request_free(&r);
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

	return tap_done();
}
