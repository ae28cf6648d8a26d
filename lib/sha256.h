/* sha256.h: SHA-256 (FIPS 180-4), small and in the tree, so that oys-run and oys-serve, which
 * hash every function's code, do not load libcrypto: mapping and relocating it cost about 2 ms
 * of CPU at every start of those one-request processes, more than hashing a typical function.
 * A portable implementation: 233 MB/s here, where OpenSSL's (with the CPU's SHA extensions)
 * does 1.3 GB/s; a 14 MB bundle takes 60 ms instead of 11, next to the 0.7 s workerd spends
 * loading it, and code of a few hundred kilobytes or less gains.
 *
 * Incremental: init, update any number of times with pieces of any size, final. */
#ifndef OYS_SHA256_H
#define OYS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define OYS_SHA256_LEN 32

struct oys_sha256 {
	uint32_t h[8];         /* the chaining value */
	uint64_t bytes;        /* message length so far */
	unsigned char block[64];
	size_t fill;           /* bytes in block, < 64 */
};

void oys_sha256_init(struct oys_sha256 *s);
void oys_sha256_update(struct oys_sha256 *s, const void *data, size_t len);
/* Pads, writes the digest into out, and wipes the state (init again to reuse it). */
void oys_sha256_final(struct oys_sha256 *s, unsigned char out[OYS_SHA256_LEN]);

/* The digest of one buffer. */
void oys_sha256(const void *data, size_t len, unsigned char out[OYS_SHA256_LEN]);

#endif
