/* signcheck.h: a signed answer checked offline against an attestation document (oys-sign
 * verify): the document verifies (root, PCRs), its public_key is a 64-byte secp256k1 key, and
 * every signature the answer carries recovers to exactly that key. Fails closed, one line. */
#ifndef OYS_SIGNCHECK_H
#define OYS_SIGNCHECK_H

#include <jv.h>
#include <stddef.h>

#include "attest.h"
#include "err.h"
#include "sign.h"

/* What a client saw of one answer. */
struct oys_answer {
	struct oys_sig_fields f;    /* method and path: the client's; the rest from the answer */
	const void *req;            /* the request body */
	size_t req_len;
	const void *resp;           /* the response body */
	size_t resp_len;
	unsigned char v2_sig[OYS_SIGN_SIG_LEN]; /* X-Signature */
	int has_v2;
	unsigned char oys_sig[OYS_SIGN_SIG_LEN]; /* X-Oyster-Signature */
	int has_oys;
	int has_status, has_timestamp; /* which oys-signature-v1 fields the answer gave */
};

/* A signature as a header carries it: 130 hex digits, either case, optional 0x. 0 or -1. */
int oys_sig_parse_hex(const char *s, unsigned char sig[OYS_SIGN_SIG_LEN]);

/* Reads a saved `curl -i` (or `curl -si`) output in place: the status line (after any 1xx
 * answers), the headers X-Signature, X-Oyster-Signature, X-Oyster-Timestamp, X-Oyster-Code-Id,
 * X-Oyster-Request-Id, and the body (everything after the blank line; it must match a
 * Content-Length when there is one). Sets the answer's status, signatures, code_id,
 * request_id, timestamp and resp (pointing into buf, whose header lines get NUL-terminated).
 * Malformed output or a header given twice: OYS_EDATA. */
int oys_answer_from_curl(char *buf, size_t len, struct oys_answer *a, struct oys_err *e);

/* Verifies doc (raw) against the policy, then the answer's signatures against the document's
 * public_key: X-Signature is required (OYS_EDATA when absent); X-Oyster-Signature is checked
 * when present (then its status and timestamp must be known: OYS_EDATA), and required when
 * require_oys. Any refusal is OYS_ENOPERM naming the check ("attestation: ...",
 * "X-Signature: signed by 0x..., not by the attested key 0x..."). On success *report (when
 * non-NULL) is a JSON object of what was verified: signer, signatures, answer, attestation. */
int oys_answer_verify(const unsigned char *doc, size_t doc_len, const struct oys_attest_policy *p,
                      const struct oys_answer *a, int require_oys, jv *report, struct oys_err *e);

#endif
