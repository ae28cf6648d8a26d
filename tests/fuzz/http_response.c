/* libFuzzer target: the response parser (oys_http_response_feed, as the exchange with workerd
 * uses it) on hostile bytes.
 *
 * Each input is parsed as the answer to a GET and to a HEAD, each twice: whole, and fed in
 * pieces of 1 to 64 bytes whose sizes follow from the input itself, the end of the input
 * standing for the peer's close. Both must end alike (refused, cut short, or the same
 * response: status, fields, body), or the target aborts. Small limits (2 KiB of head, 4 KiB
 * of body) so the limits are reached with inputs of fuzzing size. A crash, a sanitizer report,
 * a leak or a difference is the finding.
 *
 * fuzz-deps: http */
#include "../../lib/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct oys_http_limits lim = {256, 2048, 8, 4096, 0, 0};

enum { REFUSED, CUT, WHOLE };

static int parse(const uint8_t *d, size_t n, const char *method, int split, struct oys_http_response *r)
{
	struct oys_err e = {0};
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < n && i < 8; i++)
		x = (x ^ d[i]) * 16777619u;
	oys_http_response_init(r, method);
	size_t off = 0, used = 0;
	for (;;) {
		size_t step = n - off;
		if (split) {
			x = x * 1103515245u + 12345u;
			if (step > 1 + (x >> 16) % 64)
				step = 1 + (x >> 16) % 64;
		}
		int st = oys_http_response_feed(r, &lim, (const char *)d + off, step, &used, &e);
		if (used > step || (st == OYS_HTTP_MORE && used != step))
			abort();
		off += used;
		if (st == OYS_HTTP_DONE)
			return WHOLE;
		if (st != OYS_HTTP_MORE) {
			if ((st != 413 && st != 502) || e.msg[0] == '\0')
				abort(); /* refused as too large or not HTTP, saying why */
			return REFUSED;
		}
		if (off == n)
			return oys_http_response_end(r) == OYS_HTTP_DONE ? WHOLE : CUT;
	}
}

static int same(const struct oys_http_response *a, const struct oys_http_response *b)
{
	if (a->status != b->status || a->nheaders != b->nheaders || a->body.len != b->body.len ||
	    (a->body.len && memcmp(a->body.data, b->body.data, a->body.len) != 0))
		return 0;
	for (size_t i = 0; i < a->nheaders; i++)
		if (strcmp(a->headers[i].name, b->headers[i].name) || strcmp(a->headers[i].value, b->headers[i].value))
			return 0;
	return 1;
}

static void check(const uint8_t *data, size_t size, const char *method)
{
	struct oys_http_response whole, pieces;
	int a = parse(data, size, method, 0, &whole), b = parse(data, size, method, 1, &pieces);
	if (a != b || (a == WHOLE && !same(&whole, &pieces)))
		abort();
	if (a == WHOLE && (whole.status < 100 || whole.status > 999 || whole.body.len > lim.max_body ||
	                   (strcmp(method, "HEAD") == 0 && whole.body.len > 0)))
		abort(); /* a response let through has a status, keeps the limit, and HEAD no body */
	oys_http_response_free(&whole);
	oys_http_response_free(&pieces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, "GET");
	check(data, size, "HEAD");
	return 0;
}
