/* libFuzzer target: the strict request parser (oys_http_request_feed) on hostile bytes.
 *
 * Each input is parsed twice: whole, and fed in pieces of 1 to 64 bytes whose sizes follow
 * from the input itself. Both must end alike (refused, unfinished, or the same request:
 * method, target, fields, body), or the target aborts: where an error shows first may depend
 * on the pieces, whether there is one may not. Small limits (256-byte lines, 2 KiB of head, 8
 * fields, 4 KiB of body) so every limit is reached with inputs of fuzzing size. A crash, a
 * sanitizer report, a leak or a difference is the finding.
 *
 * fuzz-deps: http */
#include "../../lib/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct oys_http_limits lim = {256, 2048, 8, 4096, 0, 0};

enum { REFUSED, UNFINISHED, WHOLE };

/* Feeds d[0..n): whole (split 0) or in pieces. Returns what came of it. */
static int parse(const uint8_t *d, size_t n, int split, struct oys_http_request *r)
{
	struct oys_err e = {0};
	uint32_t x = 2166136261u;
	for (size_t i = 0; i < n && i < 8; i++)
		x = (x ^ d[i]) * 16777619u;
	oys_http_request_init(r);
	size_t off = 0, used = 0;
	for (;;) {
		size_t step = n - off;
		if (split) {
			x = x * 1103515245u + 12345u;
			if (step > 1 + (x >> 16) % 64)
				step = 1 + (x >> 16) % 64;
		}
		int st = oys_http_request_feed(r, &lim, (const char *)d + off, step, &used, &e);
		if (used > step || (st == OYS_HTTP_MORE && used != step))
			abort(); /* more taken than given, or "all taken" when it was not */
		off += used;
		if (st == OYS_HTTP_DONE)
			return WHOLE;
		if (st >= 400) {
			if (e.msg[0] == '\0')
				abort(); /* a refusal says why */
			return REFUSED;
		}
		if (st == OYS_HTTP_MORE && off == n)
			return UNFINISHED;
	}
}

static int same(const struct oys_http_request *a, const struct oys_http_request *b)
{
	if (strcmp(a->method, b->method) || strcmp(a->target, b->target) || strcmp(a->path, b->path) ||
	    a->version != b->version || a->nheaders != b->nheaders || a->body.len != b->body.len ||
	    memcmp(a->body.data, b->body.data, a->body.len) != 0 || (a->query == NULL) != (b->query == NULL) ||
	    (a->query && strcmp(a->query, b->query)))
		return 0;
	for (size_t i = 0; i < a->nheaders; i++)
		if (strcmp(a->headers[i].name, b->headers[i].name) || strcmp(a->headers[i].value, b->headers[i].value))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oys_http_request whole, pieces;
	int a = parse(data, size, 0, &whole), b = parse(data, size, 1, &pieces);
	if (a != b || (a == WHOLE && !same(&whole, &pieces)))
		abort();
	if (a == WHOLE && (whole.body.data == NULL || whole.body.len > lim.max_body || whole.nheaders > lim.max_headers ||
	                   whole.head.len > lim.max_head))
		abort(); /* a request let through keeps every limit */
	for (size_t i = 0; a == WHOLE && i < whole.nheaders; i++)
		if (!oys_http_valid_name(whole.headers[i].name) || !oys_http_valid_value(whole.headers[i].value))
			abort(); /* and has only valid fields */
	oys_http_request_free(&whole);
	oys_http_request_free(&pieces);
	return 0;
}
