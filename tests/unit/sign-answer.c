/* sign-answer: a test helper (not a unit test; tests/run runs only test_*), for
 * tests/oys-sign.bats. It signs an answer with lib/sign's oys_sign_answer(), the call
 * oys-serve makes, and writes the answer as oys-serve sends it: status line, X-Oyster-*
 * headers, X-Signature, X-Oyster-Signature, body. Run directly, or under socat for curl -i.
 *
 *   sign-answer KEY METHOD PATH REQFILE STATUS CODE_ID REQUEST_ID TIMESTAMP RESPFILE
 *
 * oys-sign has no command that signs, on purpose: a tool that signs whatever it is given with
 * the enclave's key would let anyone who can run it in the enclave make answers the enclave
 * never gave. Tests sign through this helper (the C signer) and through @noble/secp256k1
 * (tests/signed-answer.mjs, an independent one). */
#include "../../lib/file.h"
#include "../../lib/sign.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct oys_err e = {0};
	struct oys_sign_key k;
	struct oys_buf req = OYS_BUF_INIT, resp = OYS_BUF_INIT;
	char v2[OYS_SIGN_HEX_LEN + 1], oys[OYS_SIGN_HEX_LEN + 1];
	if (argc != 10) {
		fprintf(stderr, "usage: sign-answer KEY METHOD PATH REQFILE STATUS CODE_ID REQUEST_ID "
		                "TIMESTAMP RESPFILE\n");
		return OYS_EUSAGE;
	}
	struct oys_sig_fields f = {argv[2], argv[3], atoi(argv[5]), argv[6], argv[7], atoll(argv[8])};
	if (oys_sign_key_load(argv[1], &k, &e) || oys_read_file(argv[4], SIZE_MAX / 2, &req, &e) ||
	    oys_read_file(argv[9], SIZE_MAX / 2, &resp, &e) ||
	    oys_sign_answer(&k, &f, req.data, req.len, resp.data, resp.len, v2, oys, &e)) {
		fprintf(stderr, "sign-answer: %s\n", e.msg);
		return e.code;
	}
	oys_sign_key_wipe(&k);
	printf("HTTP/1.1 %d Whatever\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n",
	       f.status, resp.len);
	if (*f.request_id)
		printf("X-Oyster-Request-Id: %s\r\n", f.request_id);
	if (*f.code_id)
		printf("X-Oyster-Code-Id: %s\r\n", f.code_id);
	printf("X-Oyster-Timestamp: %lld\r\nX-Signature: %s\r\nX-Oyster-Signature: %s\r\n"
	       "Connection: close\r\n\r\n", f.timestamp, v2, oys);
	fwrite(resp.data ? resp.data : "", 1, resp.len, stdout);
	oys_buf_free(&req);
	oys_buf_free(&resp);
	return fflush(stdout) == 0 ? 0 : OYS_EIO;
}
