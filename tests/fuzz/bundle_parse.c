/* libFuzzer target: the bundle parser (oys_bundle_parse) on hostile bytes, the code of a
 * function as any store, storage server or calldata may hand it over.
 *
 * Whatever it accepts must be canonical: serialising the parsed bundle gives back the very
 * same bytes (one bundle, one byte string, one id), or the target aborts. An accepted bundle
 * is also checked against a host's maxima and its outbound policy canonicalised again, to
 * reach that code with parsed values. A crash, a sanitizer report, a leak or a difference is
 * the finding.
 *
 * fuzz-deps: bundle capnp */
#include "../../lib/bundle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct oys_bundle b;
	struct oys_err e = {0};
	/* a copy of exactly n bytes: an overread is the sanitizer's to see */
	char *p = malloc(n ? n : 1);
	if (p == NULL)
		return 0;
	memcpy(p, d, n);
	if (oys_bundle_parse(p, n, &b, &e) != 0) {
		if (e.code == 0 || e.msg[0] == '\0')
			abort(); /* a refusal always says why */
		free(p);
		return 0;
	}
	if (b.nmodules == 0 || b.main == NULL)
		abort();
	for (size_t i = 1; i < b.nmodules; i++)
		if (strcmp(b.modules[i - 1].name, b.modules[i].name) >= 0)
			abort();
	struct oys_buf out = OYS_BUF_INIT;
	if (oys_bundle_serialise(&b, &out, &e) != 0 || out.len != n || (n && memcmp(out.data, p, n) != 0))
		abort(); /* accepted but not canonical */
	oys_buf_free(&out);
	struct oys_bundle_max max = {64ULL << 20, 0.5, 1000, n % 2 ? "public,10.0.0.0/8" : "none"};
	oys_bundle_within(&b, &max, &e);
	if (b.s.outbound) {
		if (oys_bundle_outbound_canon(b.s.outbound, &out, &e) != 0 || strcmp(out.data, b.s.outbound) != 0)
			abort();
		oys_buf_free(&out);
	}
	oys_bundle_free(&b);
	free(p);
	return 0;
}
