/* Unit tests of lib/attest.c (the verifier), attestc.c (decoding), attestopt.c (--pcr, --at)
 * and attestdev.c: every single-byte change and every truncation of a real AWS Nitro
 * document and of a development document is refused (the bats suite tries a sample through
 * the command line; here all of them, in one process), and the option parsers. */
#include "tap.h"
#include "../../lib/attest.h"
#include "../../lib/codec.h"
#include "../../lib/file.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIXTURE_AT 1725597193 /* 2024-09-06T04:33:13Z */

/* The source tree: up from the binary until tests/fixtures/nitro is found. */
static int find_root(char *out, size_t sz)
{
	char p[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
	if (n <= 0)
		return -1;
	p[n] = '\0';
	for (int up = 0; up < 6; up++) {
		char *slash = strrchr(p, '/');
		if (slash == NULL || slash == p)
			return -1;
		*slash = '\0';
		snprintf(probe, sizeof probe, "%s/tests/fixtures/nitro/aws-nitro-2024-09-06.b64", p);
		if (access(probe, R_OK) == 0) {
			snprintf(out, sz, "%s", p);
			return 0;
		}
	}
	return -1;
}

/* Flips every step-th byte of doc with mask; returns how many variants were accepted. */
static int accepted_flips(struct oys_buf *doc, const struct oys_attest_policy *p, unsigned char mask,
                          size_t step)
{
	struct oys_err e;
	int accepted = 0;
	for (size_t i = 0; i < doc->len; i += step) {
		doc->data[i] ^= (char)mask;
		if (oys_attest_verify((unsigned char *)doc->data, doc->len, p, NULL, &e) != OYS_ENOPERM)
			accepted++;
		doc->data[i] ^= (char)mask;
	}
	return accepted;
}

static int accepted_truncations(const struct oys_buf *doc, const struct oys_attest_policy *p)
{
	struct oys_err e;
	int accepted = 0;
	for (size_t n = 0; n < doc->len; n++) {
		/* a copy of exactly n bytes, so ASan sees any read past the end */
		unsigned char *c = malloc(n ? n : 1);
		memcpy(c, doc->data, n);
		if (oys_attest_verify(c, n, p, NULL, &e) != OYS_ENOPERM)
			accepted++;
		free(c);
	}
	return accepted;
}

static int decodes_to(const char *in, size_t n, const struct oys_buf *want)
{
	struct oys_buf raw = OYS_BUF_INIT;
	struct oys_err e;
	int r = oys_attest_decode(in, n, &raw, &e) == 0 && raw.len == want->len &&
	        memcmp(raw.data, want->data, raw.len) == 0;
	oys_buf_free(&raw);
	return r;
}

int main(void)
{
	char root[PATH_MAX], path[PATH_MAX + 64], aws_root[PATH_MAX + 64];
	struct oys_err e = {0};
	struct oys_buf b64 = OYS_BUF_INIT, aws = OYS_BUF_INIT, dev = OYS_BUF_INIT;
	if (find_root(root, sizeof root) < 0) {
		printf("not ok 1 - cannot find tests/fixtures/nitro above the test binary\n1..1\n");
		return 1;
	}
	snprintf(path, sizeof path, "%s/tests/fixtures/nitro/aws-nitro-2024-09-06.b64", root);
	snprintf(aws_root, sizeof aws_root, "%s/tests/fixtures/nitro/aws-nitro-root-g1.pem", root);
	ok(oys_read_file(path, 1 << 20, &b64, &e) == 0 && oys_attest_decode(b64.data, b64.len, &aws, &e) == 0,
	   "the fixture decodes from base64");

	struct oys_attest_policy p = {0};
	p.root_pem = aws_root;
	p.at = FIXTURE_AT;
	jv out = jv_null();
	ok(oys_attest_verify((unsigned char *)aws.data, aws.len, &p, &out, &e) == 0, "the AWS document verifies as of its time");
	ok(jv_get_kind(out) == JV_KIND_OBJECT && jv_number_value(jv_object_get(jv_copy(out), jv_string("timestamp"))) == 1725597192729.0,
	   "its timestamp is in the payload");
	jv_free(out);
	p.at = 0;
	ok(oys_attest_verify((unsigned char *)aws.data, aws.len, &p, NULL, &e) == OYS_ENOPERM &&
	   strncmp(e.msg, "expired: ", 9) == 0, "as of now it is expired: %s", e.msg);
	p.at = FIXTURE_AT;

	double t0 = oys_now_ms();
	int a1 = accepted_flips(&aws, &p, 0x01, 1), a2 = accepted_flips(&aws, &p, 0xff, 5);
	double ms = (oys_now_ms() - t0) / (double)(aws.len + aws.len / 5);
	ok(a1 == 0 && a2 == 0, "every byte of the AWS document changed (bit 0; all bits of every 5th) is refused "
	   "(%zu bytes, %.2f ms a verification)", aws.len, ms);
	ok(accepted_truncations(&aws, &p) == 0, "all %zu truncations of the AWS document are refused", aws.len);
	ok(oys_attest_verify((unsigned char *)aws.data, aws.len, &p, NULL, &e) == 0, "the document is intact afterwards");

	/* Development documents. */
	char state[] = "/tmp/oys-test-attest-XXXXXX", dev_root[PATH_MAX];
	ok(mkdtemp(state) != NULL, "a state directory");
	struct oys_attest_dev d = {0};
	static const unsigned char nonce[] = {9, 8, 7};
	d.state_dir = state;
	oys_attest_dev_default_digest(d.image_digest);
	d.x.nonce = nonce;
	d.x.nonce_len = sizeof nonce;
	oys_err_clear(&e);
	ok(oys_attest_dev_init(state, dev_root, sizeof dev_root, &e) == 0 &&
	   oys_attest_dev_issue(&d, &dev, &e) == 0, "a development document is issued%s%s",
	   e.code ? ": " : "", e.msg);
	struct oys_attest_policy q = {0};
	q.root_pem = dev_root;
	q.nonce = nonce;
	q.nonce_len = sizeof nonce;
	q.max_age_s = 60;
	q.npcrs = 1;
	q.pcrs[0].index = 0;
	q.pcrs[0].len = 48;
	memcpy(q.pcrs[0].value, d.image_digest, 48);
	ok(oys_attest_verify((unsigned char *)dev.data, dev.len, &q, NULL, &e) == 0, "it verifies with its root and policy%s%s",
	   e.code ? ": " : "", e.msg);
	ok(accepted_flips(&dev, &q, 0x01, 1) == 0 && accepted_flips(&dev, &q, 0xff, 5) == 0,
	   "every byte of the development document changed is refused (%zu bytes)", dev.len);
	ok(accepted_truncations(&dev, &q) == 0, "all truncations of the development document are refused");
	ok(oys_attest_verify((unsigned char *)dev.data, dev.len, &p, NULL, &e) == OYS_ENOPERM &&
	   strcmp(e.msg, "certificate chain: cabundle[0] is not the trusted root") == 0,
	   "the AWS root refuses it: %s", e.msg);
	oys_rm_rf(state, &e);

	/* Input encodings. */
	struct oys_buf hex = OYS_BUF_INIT, raw = OYS_BUF_INIT;
	oys_hex_encode(&hex, aws.data, aws.len);
	ok(decodes_to(aws.data, aws.len, &aws), "raw CBOR is taken as it is");
	ok(decodes_to(hex.data, hex.len, &aws), "hex is detected");
	ok(decodes_to(b64.data, b64.len, &aws), "base64 (with a newline) is detected");
	ok(oys_attest_decode("", 0, &raw, &e) == OYS_EDATA && oys_attest_decode(" \n", 2, &raw, &e) == OYS_EDATA,
	   "empty and blank input are bad data");
	ok(oys_attest_decode("84a", 3, &raw, &e) == OYS_EDATA, "odd hex that is no base64 either is bad data");
	oys_buf_free(&hex);
	oys_buf_free(&raw);

	/* Option values. */
	struct oys_attest_pcr pcr;
	ok(oys_attest_parse_pcr("0=00ff", &pcr) == 0 && pcr.index == 0 && pcr.len == 2 && pcr.value[1] == 0xff, "N=HEX");
	ok(oys_attest_parse_pcr("31=AB", &pcr) == 0 && pcr.index == 31, "index 31, uppercase hex");
	ok(oys_attest_parse_pcr("32=00", &pcr) < 0 && oys_attest_parse_pcr("-1=00", &pcr) < 0 &&
	   oys_attest_parse_pcr("1=", &pcr) < 0 && oys_attest_parse_pcr("1=0", &pcr) < 0 &&
	   oys_attest_parse_pcr("x=00", &pcr) < 0 && oys_attest_parse_pcr("001=00", &pcr) < 0,
	   "bad indexes and values are refused");
	char big[200];
	memset(big, 'a', sizeof big);
	memcpy(big, "1=", 2);
	big[2 + 130] = '\0';
	ok(oys_attest_parse_pcr(big, &pcr) < 0, "more than 64 bytes is refused");
	time_t t;
	ok(oys_attest_parse_time("2024-09-06T04:33:13Z", &t) == 0 && t == FIXTURE_AT, "RFC 3339 UTC");
	ok(oys_attest_parse_time("2024-09-06T06:33:13.250+02:00", &t) == 0 && t == FIXTURE_AT, "RFC 3339 with offset");
	ok(oys_attest_parse_time("1725597193", &t) == 0 && t == FIXTURE_AT, "unix seconds");
	ok(oys_attest_parse_time("@1725597193", &t) == 0 && t == FIXTURE_AT, "@unix seconds");
	ok(oys_attest_parse_time("2024-02-30T00:00:00Z", &t) < 0 && oys_attest_parse_time("2024-09-06", &t) < 0 &&
	   oys_attest_parse_time("2024-09-06T04:33:13", &t) < 0 && oys_attest_parse_time("", &t) < 0 &&
	   oys_attest_parse_time("@", &t) < 0 && oys_attest_parse_time("1e9", &t) < 0,
	   "bad times are refused");

	oys_buf_free(&b64);
	oys_buf_free(&aws);
	oys_buf_free(&dev);
	return tap_done();
}
