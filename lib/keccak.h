/* keccak.h: Keccak-256, as Ethereum uses it (and Oyster's signed answers, and transaction
 * hashes): the Keccak[c=512] sponge with the original padding byte 0x01, not SHA3-256's 0x06.
 * OpenSSL 3.0 has no Keccak-256, so this is a small one, after XKCP's CompactFIPS202.
 *
 * Incremental: init, update any number of times with pieces of any size, final. */
#ifndef OYS_KECCAK_H
#define OYS_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define OYS_KECCAK256_LEN 32   /* digest bytes */
#define OYS_KECCAK256_RATE 136 /* bytes absorbed per permutation: (1600 - 2 * 256) / 8 */

struct oys_keccak {
	uint64_t lane[25]; /* the state, lane[x + 5 * y], bytes little-endian in each lane */
	size_t pos;        /* bytes of the current block absorbed so far, < OYS_KECCAK256_RATE */
};

void oys_keccak256_init(struct oys_keccak *k);
void oys_keccak256_update(struct oys_keccak *k, const void *data, size_t len);
/* Pads, squeezes the digest into out, and wipes the state (init again to reuse it). */
void oys_keccak256_final(struct oys_keccak *k, unsigned char out[OYS_KECCAK256_LEN]);

/* The digest of one buffer. */
void oys_keccak256(const void *data, size_t len, unsigned char out[OYS_KECCAK256_LEN]);

/* The Keccak-f[1600] permutation itself (24 rounds), for tests against the reference. */
void oys_keccak_f1600(uint64_t lane[25]);

#endif
