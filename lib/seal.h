/* seal.h: code sealed to a public key, the storage server's answer to an attested fetcher
 * (storesrv.h, storec.h). X25519 ECDH between a fresh key of the server's (one per answer)
 * and the fetcher's key named in its attestation document, HKDF-SHA256, AES-256-GCM; all
 * OpenSSL 3.0 (which has no HPKE: 3.2 added it). The layout follows HPKE's base mode in
 * spirit (an ephemeral sender key, a KDF over the shared secret, an AEAD), not its wire
 * format.
 *
 * Sealed code, version 1 (byte offsets; n = length of the code):
 *   0        1   version, 0x01
 *   1        32  epk: the server's ephemeral X25519 public key (raw, RFC 7748)
 *   33       12  iv: the AES-GCM nonce (random)
 *   45       n   the code, AES-256-GCM encrypted
 *   45 + n   16  the GCM tag
 * with
 *   shared = X25519(the server's ephemeral private key, pk), pk = the fetcher's public key
 *            (the document's public_key, 32 raw bytes); all-zero is refused
 *   key    = HKDF-SHA256(ikm = shared, salt = the challenge nonce (32 bytes),
 *                        info = "oys sealed code v1" || epk || pk, 32 bytes)
 *   aad    = 0x01 || the code id as its 32 bytes || the challenge nonce (32 bytes)
 * so the answer opens only with the fetcher's private key, only as the code it asked for, and
 * only for the challenge it answered. */
#ifndef OYS_SEAL_H
#define OYS_SEAL_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define OYS_SEAL_VERSION 1
#define OYS_SEAL_KEY_LEN 32   /* an X25519 public key */
#define OYS_SEAL_NONCE_LEN 32 /* the challenge nonce */
#define OYS_SEAL_OVERHEAD (1 + 32 + 12 + 16)
#define OYS_SEAL_INFO "oys sealed code v1"
#define OYS_SEALED_TYPE "application/vnd.oys.sealed-code" /* its media type on the wire */

/* A fetcher's key pair (X25519), made fresh for one load and freed after it. */
struct oys_seal_key {
	void *pkey;                           /* EVP_PKEY * */
	unsigned char pub[OYS_SEAL_KEY_LEN];  /* the raw public key, for the attestation document */
};

int oys_seal_keygen(struct oys_seal_key *k, struct oys_err *e);
void oys_seal_key_free(struct oys_seal_key *k);

/* Seals len bytes of code to pub, for the code id id (32 bytes, the SHA-256) and the
 * challenge nonce; appends the sealed form to out. A public key X25519 refuses: OYS_EDATA. */
int oys_seal(const unsigned char pub[OYS_SEAL_KEY_LEN], const unsigned char id[32],
             const unsigned char nonce[OYS_SEAL_NONCE_LEN], const void *code, size_t len,
             struct oys_buf *out, struct oys_err *e);

/* Opens sealed code with k, for id and nonce; appends the code to code. Anything that does not
 * open (another key, another id or nonce, altered bytes, another version, too short):
 * OYS_EDATA naming why, and nothing appended. */
int oys_unseal(const struct oys_seal_key *k, const unsigned char id[32],
               const unsigned char nonce[OYS_SEAL_NONCE_LEN], const void *sealed, size_t len,
               struct oys_buf *code, struct oys_err *e);

#endif
