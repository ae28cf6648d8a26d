/* mkseed: writes development documents into a seed corpus for the attest fuzz target:
 * plain, with nonce 01020304, with every extra field, and with a nonzero image digest.
 * usage: mkseed STATE_DIR OUT_DIR
 *
 * fuzz-deps: attest attestc attestdev codec sha256 httpc http httpd json -lcbor -lcrypto -lcurl -ljq */
#include "../../lib/attest.h"
#include "../../lib/file.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: mkseed STATE_DIR OUT_DIR\n", stderr);
		return 64;
	}
	static const unsigned char nonce[] = {1, 2, 3, 4}, pk[] = "public key", ud[] = "user data";
	struct oys_attest_dev d;
	struct oys_err e = {0};
	for (int i = 0; i < 4; i++) {
		memset(&d, 0, sizeof d);
		d.state_dir = argv[1];
		oys_attest_dev_default_digest(d.image_digest);
		if (i >= 1) {
			d.x.nonce = nonce;
			d.x.nonce_len = sizeof nonce;
		}
		if (i >= 2) {
			d.x.public_key = pk;
			d.x.public_key_len = sizeof pk - 1;
			d.x.user_data = ud;
			d.x.user_data_len = sizeof ud - 1;
		}
		if (i == 3)
			memset(d.image_digest, 0xab, sizeof d.image_digest);
		struct oys_buf doc = OYS_BUF_INIT;
		char path[4096];
		snprintf(path, sizeof path, "%s/dev-%d.cbor", argv[2], i);
		if (oys_attest_dev_issue(&d, &doc, &e) || oys_write_atomic(path, doc.data, doc.len, 0644, &e)) {
			fprintf(stderr, "mkseed: %s\n", e.msg);
			return e.code ? e.code : 70;
		}
		oys_buf_free(&doc);
	}
	return 0;
}
