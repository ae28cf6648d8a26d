/* Unit tests of lib/keccak: the permutation against the Keccak reference computed the
 * reference's way (XKCP CompactFIPS202: rho offsets, pi walk and round constants on the fly),
 * and Keccak-256 digests against values from `cast keccak` (foundry 1.7.1, deps/), at the
 * rate boundaries and over a few MiB, whole and fed in pieces. */
#include "tap.h"
#include "../../lib/codec.h"
#include "../../lib/keccak.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference permutation, as Keccak-readable-and-compact.c writes it ---- */

static int lfsr86540(uint8_t *lfsr)
{
	int result = (*lfsr & 0x01) != 0;
	if (*lfsr & 0x80)
		*lfsr = (uint8_t)((*lfsr << 1) ^ 0x71);
	else
		*lfsr = (uint8_t)(*lfsr << 1);
	return result;
}

#define ROL(a, n) ((n) ? ((a) << (n)) | ((a) >> (64 - (n))) : (a))
#define LANE(x, y) s[(x) + 5 * (y)]

static void ref_f1600(uint64_t s[25])
{
	uint8_t lfsr = 0x01;
	for (int round = 0; round < 24; round++) {
		uint64_t c[5], d;
		for (unsigned x = 0; x < 5; x++)
			c[x] = LANE(x, 0) ^ LANE(x, 1) ^ LANE(x, 2) ^ LANE(x, 3) ^ LANE(x, 4);
		for (unsigned x = 0; x < 5; x++) {
			d = c[(x + 4) % 5] ^ ROL(c[(x + 1) % 5], 1);
			for (unsigned y = 0; y < 5; y++)
				LANE(x, y) ^= d;
		}
		unsigned x = 1, y = 0;
		uint64_t current = LANE(x, y), temp;
		for (unsigned t = 0; t < 24; t++) {
			unsigned r = ((t + 1) * (t + 2) / 2) % 64;
			unsigned Y = (2 * x + 3 * y) % 5;
			x = y;
			y = Y;
			temp = LANE(x, y);
			LANE(x, y) = ROL(current, r);
			current = temp;
		}
		for (y = 0; y < 5; y++) {
			uint64_t row[5];
			for (x = 0; x < 5; x++)
				row[x] = LANE(x, y);
			for (x = 0; x < 5; x++)
				LANE(x, y) = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
		}
		for (unsigned j = 0; j < 7; j++)
			if (lfsr86540(&lfsr))
				LANE(0, 0) ^= (uint64_t)1 << ((1u << j) - 1);
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static int digest_is(const void *p, size_t n, const char *want)
{
	unsigned char d[32];
	char hex[65];
	oys_keccak256(p, n, d);
	oys_hex_to(hex, d, 32);
	if (strcmp(hex, want) != 0)
		printf("#   got  %s\n#   want %s\n", hex, want);
	return strcmp(hex, want) == 0;
}

/* The same digest, fed in pieces of pseudo-random sizes up to max. */
static int pieces_is(const unsigned char *p, size_t n, size_t max, const char *want)
{
	struct oys_keccak k;
	unsigned char d[32];
	char hex[65];
	oys_keccak256_init(&k);
	for (size_t off = 0; off < n;) {
		size_t take = (size_t)(rnd() % (max + 1));
		if (take > n - off)
			take = n - off;
		oys_keccak256_update(&k, p + off, take);
		off += take;
	}
	oys_keccak256_final(&k, d);
	oys_hex_to(hex, d, 32);
	return strcmp(hex, want) == 0;
}

/* `cast keccak 0x...` of bytes (i * 7 + 3) & 0xff, i = 0..n-1 */
static const struct {
	size_t n;
	const char *hex;
} kat[] = {
	{0, "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"},
	{1, "69c322e3248a5dfc29d73c5b0553b0185a35cd5bb6386747517ef7e53b15e287"},
	{135, "00ef96af9cf4b24c7f269d922294444a197d0a33638c2e56634c57e892103a8f"},
	{136, "742061bcad767ed4c4f5883b1dcb1aad11afdcc140dc469d953759b127b9f9ed"},
	{137, "e3371f61e770abf254c34239c3b0099ad90594507415bc81dd0a10b9692bbf2a"},
	{271, "4401c4afbe16ff911bdbf2d38e556e5b861f3fdf0f9d4306b1c46f6ae4f73584"},
	{272, "ac141fd7b0a0ffcd2e967254d508da3ec616596493c36fa304425647d90e6de5"},
	{273, "16192ea86793083e47731cb3c970600f04768414d92bc0540e54ce8607a0fce0"},
	{3 << 20, "344e8cf26d92de0cca19351328fc35445b5a2b5a040e223380266a7b1197dd0f"},
};

int main(void)
{
	uint64_t a[25] = {0}, b[25] = {0};
	oys_keccak_f1600(a);
	ok(a[0] == 0xF1258F7940E1DDE7ull, "Keccak-f[1600] of the zero state starts with F1258F7940E1DDE7 "
	   "(the Keccak team's intermediate values)");
	ref_f1600(b);
	ok(memcmp(a, b, sizeof a) == 0, "the permutation equals the reference's on the zero state");
	int same = 1;
	for (int t = 0; t < 100; t++) {
		for (int i = 0; i < 25; i++)
			a[i] = b[i] = rnd();
		oys_keccak_f1600(a);
		ref_f1600(b);
		same &= memcmp(a, b, sizeof a) == 0;
	}
	ok(same, "and on 100 random states (so the rho, pi and iota tables are the reference's)");

	size_t max = 0;
	for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++)
		max = kat[i].n > max ? kat[i].n : max;
	unsigned char *buf = malloc(max);
	for (size_t i = 0; i < max; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++)
		ok(digest_is(buf, kat[i].n, kat[i].hex), "keccak256 of %zu bytes is cast's", kat[i].n);
	ok(digest_is("abc", 3, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
	   "keccak256(\"abc\") is cast's (and not SHA3-256's 3a985da7...)");
	ok(digest_is("The quick brown fox jumps over the lazy dog", 43,
	             "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
	   "keccak256 of the quick brown fox is cast's");

	ok(pieces_is(buf, 273, 1, kat[7].hex), "273 bytes fed one byte at a time");
	ok(pieces_is(buf, 273, 140, kat[7].hex), "273 bytes fed in pieces of 0 to 140 bytes");
	ok(pieces_is(buf, 3 << 20, 5000, kat[8].hex), "3 MiB fed in pieces of 0 to 5000 bytes");
	ok(pieces_is(buf, 3 << 20, 300000, kat[8].hex), "3 MiB fed in pieces of up to 300 kB");

	struct oys_keccak k;
	unsigned char d[32];
	char h1[65], h2[65];
	oys_keccak256_init(&k);
	oys_keccak256_update(&k, "ab", 2);
	oys_keccak256_final(&k, d);
	oys_hex_to(h1, d, 32);
	oys_keccak256_init(&k);
	oys_keccak256_update(&k, "abc", 3);
	oys_keccak256_final(&k, d);
	oys_hex_to(h2, d, 32);
	ok(strcmp(h1, "67fad3bfa1e0321bd021ca805ce14876e50acac8ca8532eda8cbf924da565160") == 0 &&
	   strcmp(h2, "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45") == 0,
	   "one state, init again after final, gives the next digest right");
	free(buf);
	return tap_done();
}
