/* sign.h: the enclave's secp256k1 key and signed answers (libsecp256k1 from Debian).
 *
 * The key is created inside the enclave and never leaves it; its public half goes into the
 * attestation document's public_key, so a client checks document -> key -> answer offline.
 * Signatures are Ethereum's: ECDSA over a 32-byte Keccak-256 digest (no EIP-191 prefix),
 * RFC 6979 nonces, low s, 65 bytes r || s || v with v = recovery id + 27.
 *
 * Two digests of one answer (oys(7), "Signed answers", byte by byte):
 *   X-Signature, upstream Oyster's oyster-signature-v2:
 *     keccak256("oyster-signature-v2\0" || u32be(len) method || u32be(len) path-and-query
 *               || u64be(len) request body || u64be(len) response body)
 *   X-Oyster-Signature, oys's own, which also covers status, code_id, request id, timestamp:
 *     keccak256("oys-signature-v1\0" || u32be(len) method || u32be(len) path-and-query
 *               || u32be(len) status || u32be(len) code_id || u32be(len) request id
 *               || u32be(len) timestamp || u64be(len) request body || u64be(len) response body)
 *     status is its three ASCII digits, timestamp the unix seconds in ASCII decimal, as in the
 *     X-Oyster-Timestamp header; code_id and request id are "" when the answer has none.
 *
 * One libsecp256k1 context per process, created and randomized on first use (or by
 * oys_sign_init(); call that before starting threads). Secrets are wiped after use. */
#ifndef OYS_SIGN_H
#define OYS_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "keccak.h"

#define OYS_SIGN_SECRET_LEN 32
#define OYS_SIGN_PUBKEY_LEN 64  /* x || y: uncompressed, without the 0x04 prefix */
#define OYS_SIGN_SIG_LEN 65     /* r || s || v, v = 27 + recovery id */
#define OYS_SIGN_ADDRESS_LEN 42 /* "0x" and 40 hex digits (EIP-55 mixed case) */
#define OYS_SIGN_KEY_FILE "signing.key" /* the default key, in the runtime directory */

struct oys_sign_key {
	unsigned char secret[OYS_SIGN_SECRET_LEN];
	unsigned char pub[OYS_SIGN_PUBKEY_LEN];
};

/* Creates the process's context and randomizes it (getrandom). Idempotent. */
int oys_sign_init(struct oys_err *e);

/* ---- the key ---- */

/* A fresh key from getrandom(2), checked with secp256k1_ec_seckey_verify. */
int oys_sign_keygen(struct oys_sign_key *k, struct oys_err *e);
/* The key of a given secret (OYS_EDATA if it is not a valid secp256k1 secret key). */
int oys_sign_key_from_secret(const unsigned char secret[OYS_SIGN_SECRET_LEN],
                             struct oys_sign_key *k, struct oys_err *e);
/* Writes the secret to a new file: 64 lowercase hex digits and a newline, mode 0600, whole or
 * not at all (a temporary file linked into place). Never overwrites: an existing path is
 * OYS_ECANTCREAT "... exists". */
int oys_sign_key_write(const char *path, const struct oys_sign_key *k, struct oys_err *e);
/* Loads a key file: 64 hex digits (either case) with an optional newline, or 32 raw bytes
 * (upstream Oyster's keygen-secp256k1 secret file). A file that group or others may read or
 * write is refused (OYS_ENOPERM), like ssh does; missing: OYS_ENOINPUT; bad: OYS_EDATA. */
int oys_sign_key_load(const char *path, struct oys_sign_key *k, struct oys_err *e);
/* The same, without computing the public half (k->pub is all zero; oys_sign_key_pub() fills
 * it): signing needs only the secret, and an inetd-style signer loads the key once per
 * request (oys-serve). The secret is checked all the same. */
int oys_sign_key_load_secret(const char *path, struct oys_sign_key *k, struct oys_err *e);
/* Computes k->pub from k->secret (after oys_sign_key_load_secret()). */
int oys_sign_key_pub(struct oys_sign_key *k, struct oys_err *e);
/* explicit_bzero of the whole key. */
void oys_sign_key_wipe(struct oys_sign_key *k);

/* The Ethereum address of a public key: "0x" || hex(last 20 bytes of keccak256(pub)), with
 * EIP-55 mixed-case checksum, NUL-terminated. */
void oys_sign_address(const unsigned char pub[OYS_SIGN_PUBKEY_LEN],
                      char out[OYS_SIGN_ADDRESS_LEN + 1]);

/* ---- signatures ---- */

/* Signs a 32-byte digest: r || s || (27 + recovery id). */
int oys_sign_digest(const struct oys_sign_key *k, const unsigned char digest[OYS_KECCAK256_LEN],
                    unsigned char sig[OYS_SIGN_SIG_LEN], struct oys_err *e);
/* The public key that made sig over digest. A signature that is malformed (v not 27..30, r or
 * s out of range, high s) or recovers nothing is OYS_ENOPERM. */
int oys_sign_recover(const unsigned char digest[OYS_KECCAK256_LEN],
                     const unsigned char sig[OYS_SIGN_SIG_LEN],
                     unsigned char pub[OYS_SIGN_PUBKEY_LEN], struct oys_err *e);

/* ---- the two digests of an answer ---- */

enum oys_sig_format {
	OYS_SIG_V2,  /* X-Signature: upstream oyster-signature-v2 */
	OYS_SIG_OYS, /* X-Oyster-Signature: oys-signature-v1 */
};

/* "v2" or "oys" (the names oys-sign digest --format takes). 0 or -1. */
int oys_sig_format_parse(const char *name, enum oys_sig_format *out);

#define OYS_SIG_V2_DOMAIN "oyster-signature-v2" /* each followed by one NUL byte */
#define OYS_SIG_OYS_DOMAIN "oys-signature-v1"

struct oys_sig_fields {
	const char *method;     /* as on the request line ("GET") */
	const char *path;       /* path and query as on the request line ("/fn/ID/x?a=1") */
	/* oys-signature-v1 only (ignored by v2): */
	int status;             /* 100..999 */
	const char *code_id;    /* NULL or "" when the answer names no function */
	const char *request_id; /* NULL or "" when the answer has none */
	long long timestamp;    /* unix seconds, >= 0 (X-Oyster-Timestamp) */
};

/* An incremental digest: init with the fields and both body lengths, then feed the request
 * body and then the response body, in pieces of any size, then final. */
struct oys_sigmsg {
	struct oys_keccak k;
	uint64_t req_left;  /* request body bytes still to come */
	uint64_t resp_len;  /* the response body's length, hashed when the request body is done */
	uint64_t resp_left; /* response body bytes still to come */
	int in_resp;        /* the response body's length is hashed */
};

/* OYS_EDATA on fields out of range (status, negative timestamp, a field over 4 GiB). */
int oys_sigmsg_init(struct oys_sigmsg *m, enum oys_sig_format f, const struct oys_sig_fields *fl,
                    uint64_t req_len, uint64_t resp_len, struct oys_err *e);
/* Request body bytes first, then response body bytes; a piece may span both. Bytes beyond the
 * two lengths make final fail. */
void oys_sigmsg_update(struct oys_sigmsg *m, const void *p, size_t n);
/* OYS_ESOFTWARE when the bytes fed were not exactly req_len + resp_len. */
int oys_sigmsg_final(struct oys_sigmsg *m, unsigned char digest[OYS_KECCAK256_LEN],
                     struct oys_err *e);

/* The digest of a whole answer in one call. */
int oys_sig_digest(enum oys_sig_format f, const struct oys_sig_fields *fl, const void *req,
                   size_t req_len, const void *resp, size_t resp_len,
                   unsigned char digest[OYS_KECCAK256_LEN], struct oys_err *e);

/* Both header values of a signed answer, as oys-serve sends them: X-Signature and
 * X-Oyster-Signature, 130 lowercase hex digits each (no 0x), NUL-terminated. */
#define OYS_SIGN_HEX_LEN (2 * OYS_SIGN_SIG_LEN)
int oys_sign_answer(const struct oys_sign_key *k, const struct oys_sig_fields *fl,
                    const void *req, size_t req_len, const void *resp, size_t resp_len,
                    char x_signature[OYS_SIGN_HEX_LEN + 1],
                    char x_oyster_signature[OYS_SIGN_HEX_LEN + 1], struct oys_err *e);

#endif
