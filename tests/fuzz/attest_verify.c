/* libFuzzer target: oys_attest_decode() then oys_attest_verify() on hostile bytes.
 *
 * Each input is decoded (raw CBOR, hex or base64) and verified twice: against the AWS Nitro
 * root as of the real fixture's timestamp (so mutations of the fixture reach the signature,
 * chain and policy code), and, when OYS_FUZZ_DEV_ROOT names a development root, against it
 * now with a PCR, nonce and max-age policy. The raw input is also verified as it is. Any
 * result is fine; a crash, a sanitizer report or a leak is the finding.
 *
 * fuzz-deps: attest attestc codec sha256 httpc json -lcbor -lcrypto -lcurl -ljq */
#include "../../lib/attest.h"

#include <stdint.h>
#include <stdlib.h>

#define FIXTURE_AT 1725597193 /* 2024-09-06T04:33:13Z */

static struct oys_attest_policy aws, dev;
static int have_dev;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	aws.at = FIXTURE_AT;
	aws.root_pem = getenv("OYS_FUZZ_AWS_ROOT"); /* NULL: the shipped root via OYS_SHARE_DIR */
	const char *r = getenv("OYS_FUZZ_DEV_ROOT");
	if (r && *r) {
		have_dev = 1;
		dev.root_pem = r;
		dev.max_age_s = 3600;
		dev.npcrs = 1;
		dev.pcrs[0].index = 3;
		dev.pcrs[0].len = 48; /* zero, as the development issuer sets PCR3 */
		static const unsigned char nonce[] = {1, 2, 3, 4};
		dev.nonce = nonce;
		dev.nonce_len = sizeof nonce;
	}
	return 0;
}

static void verify(const unsigned char *p, size_t n)
{
	struct oys_err e = {0};
	jv out;
	if (oys_attest_verify(p, n, &aws, &out, &e) == 0)
		jv_free(out);
	if (have_dev && oys_attest_verify(p, n, &dev, &out, &e) == 0)
		jv_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oys_buf raw = OYS_BUF_INIT;
	struct oys_err e = {0};
	if (oys_attest_decode((const char *)data, size, &raw, &e) == 0)
		verify((const unsigned char *)raw.data, raw.len);
	oys_buf_free(&raw);
	verify(data, size);
	return 0;
}
