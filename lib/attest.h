/* attest.h: AWS Nitro attestation documents: verify (lib/attest.c, libcbor and OpenSSL),
 * decode and fetch (lib/attestc.c), command-line values (lib/attestopt.c), and for
 * development issue (lib/attestdev.c). A tool links the files of what it does.
 *
 * A document is a COSE_Sign1 (CBOR, tagged 18 or not) whose payload is a CBOR map with
 * module_id, digest, timestamp (ms), pcrs, certificate (leaf, DER), cabundle (root first),
 * public_key, user_data, nonce; signed with ES384 by the leaf certificate's P-384 key. */
#ifndef OYS_ATTEST_H
#define OYS_ATTEST_H

#include <jv.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "err.h"

#define OYS_ATTEST_MAX_PCRS 32
#define OYS_ATTEST_DEFAULT_URL "http://127.0.0.1:1300"

struct oys_attest_pcr {
	int index;
	unsigned char value[64];
	size_t len;
};

struct oys_attest_policy {
	const char *root_pem;           /* path of the trusted root; NULL: share/certs AWS root G1 */
	struct oys_attest_pcr pcrs[OYS_ATTEST_MAX_PCRS];
	size_t npcrs;                   /* each listed PCR must equal its value exactly */
	long long max_age_s;            /* > 0: the document's timestamp is at most this old */
	time_t at;                      /* verify as of this moment; 0: now */
	const unsigned char *nonce;     /* non-NULL: must equal the document's nonce */
	size_t nonce_len;
	const unsigned char *public_key; /* non-NULL: must equal the document's public_key */
	size_t public_key_len;
};

/* Verifies doc (raw CBOR) against the policy: structure, protected header (ES384), signature
 * over the rebuilt Sig_structure, certificate chain from cabundle to the trusted root, validity
 * as of policy->at, then the PCR, age, nonce and key checks. Fails closed: any failure is
 * OYS_ENOPERM with one line naming what failed ("signature does not verify", "pcr 0 mismatch",
 * "certificate chain: ...", "expired ...", "malformed document at <field>"). On success, when
 * payload is non-NULL, *payload is the JSON of the payload (module_id, digest, timestamp,
 * pcrs as hex strings keyed by index, certificate/cabundle omitted, public_key, user_data,
 * nonce as hex or null). Never reads out of bounds on hostile bytes. */
int oys_attest_verify(const unsigned char *doc, size_t len, const struct oys_attest_policy *p,
                      jv *payload, struct oys_err *e);

/* The COSE Sig_structure ["Signature1", protected, h'', payload] as CBOR, the bytes an ES384
 * signature covers (shared by the verifier and the development issuer). 0 or -1. */
int oys_attest_sig_structure(const unsigned char *prot, size_t prot_len,
                             const unsigned char *payload, size_t payload_len, struct oys_buf *out);

/* Limits of a document (raw bytes) and of encoded input (hex, base64 with whitespace). */
#define OYS_ATTEST_DOC_MAX 65536
#define OYS_ATTEST_INPUT_MAX (4 * OYS_ATTEST_DOC_MAX)

/* The AWS Nitro Enclaves root G1, under the share directory, and the SHA-256 of its DER
 * encoding as AWS publishes it. The default root is refused when it does not match. */
#define OYS_ATTEST_AWS_ROOT "certs/aws-nitro-root-g1.pem"
#define OYS_ATTEST_AWS_ROOT_SHA256 "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

/* What a requester may ask the attestation server to put into a document (Nitro API query
 * parameters public_key, user_data, nonce). NULL: not asked for. */
struct oys_attest_extra {
	const unsigned char *public_key;
	size_t public_key_len;          /* at most 1024 */
	const unsigned char *user_data;
	size_t user_data_len;           /* at most 512 */
	const unsigned char *nonce;
	size_t nonce_len;               /* at most 512 */
	long timeout_ms;                /* of the request (oys_attest_fetch_with); 0: 10 s */
};
#define OYS_ATTEST_PUBLIC_KEY_MAX 1024
#define OYS_ATTEST_USER_DATA_MAX 512
#define OYS_ATTEST_NONCE_MAX 512

/* ---- decoding and the attestation-server client (lib/attestc.c; no libcbor) ---- */

/* Decodes a document given as raw CBOR, hex or base64 (detected) into raw bytes. Empty or
 * undecodable input: OYS_EDATA. */
int oys_attest_decode(const char *in, size_t len, struct oys_buf *raw, struct oys_err *e);

/* Gets a document from an attestation server (base URL; NULL: the
 * default), GET <url>/attestation/raw. Unreachable: OYS_EUNAVAIL. */
int oys_attest_fetch(const char *url, struct oys_buf *doc, struct oys_err *e);
/* oys_attest_fetch() with the extra fields as query parameters (hex). A URL that already names
 * /attestation/raw or /attestation/hex is used as it is; a hex answer is decoded. */
int oys_attest_fetch_with(const char *url, const struct oys_attest_extra *x, struct oys_buf *doc,
                          struct oys_err *e);

/* ---- command-line values (lib/attestopt.c; oys-attest and oys-store) ---- */

/* Parses "N=HEX" into a PCR entry; returns 0 or -1. */
int oys_attest_parse_pcr(const char *s, struct oys_attest_pcr *out);
/* Parses a moment: unix seconds ("1725597192") or RFC 3339 ("2024-09-06T04:33:12Z",
 * "2024-09-06T06:33:12.5+02:00"). Returns 0 or -1. */
int oys_attest_parse_time(const char *s, time_t *out);

/* ---- the development issuer (lib/attestdev.c; only oys-attest links it) ----
 *
 * A development CA (P-384 root -> intermediate) is generated once into a state directory
 * (root.pem, root.key, ca.pem, ca.key); each document gets a fresh P-384 leaf valid for three
 * hours, signed by the intermediate, and is signed by the leaf like a Nitro document: all
 * fields, cabundle [root, intermediate], digest SHA384, PCRs 0..15 of 48 bytes where
 * PCR0 = image digest, PCR1 = SHA-384(digest || 0x01), PCR2 = SHA-384(digest || 0x02), the
 * others zero. */
#define OYS_ATTEST_DEV_SUBDIR "attest-dev"

struct oys_attest_dev {
	const char *state_dir;          /* NULL: RUNTIME/attest-dev (OYS_RUNTIME_DIR) */
	unsigned char image_digest[48]; /* PCR0 */
	struct oys_attest_extra x;      /* public_key, user_data, nonce of the next document; for
	                                   oys_attest_dev_serve(), those a request does not ask for */
	const char *peer;               /* the client (oys_conf_peer()), for the log */
};

/* The default image digest: SHA-384 of the empty string (an empty image). */
void oys_attest_dev_default_digest(unsigned char out[48]);
/* The image digest of a file: its SHA-384. */
int oys_attest_dev_file_digest(const char *path, unsigned char out[48], struct oys_err *e);
/* Creates the CA in the state directory unless it is there (under a lock, so concurrent first
 * requests agree), and gives the path of its root certificate (PEM). */
int oys_attest_dev_init(const char *state_dir, char *root_pem, size_t sz, struct oys_err *e);
/* Issues one document (raw CBOR) into doc. */
int oys_attest_dev_issue(const struct oys_attest_dev *d, struct oys_buf *doc, struct oys_err *e);
/* Serves one HTTP request read from in, answered on out: GET /attestation/raw or
 * /attestation/hex with optional public_key, user_data, nonce query parameters (hex), as the
 * Oyster attestation server does; a field the request does not ask for is d->x's (the
 * enclave's public key, given to the server). Logs one event line. Returns 0 once answered
 * (errors are answered too), or an error when out is gone. */
int oys_attest_dev_serve(int in, int out, const struct oys_attest_dev *d, struct oys_err *e);

#endif
