/* lib/sha256: the FIPS 180-4 examples and NIST's long messages, pieces of every size, and
 * agreement with OpenSSL's SHA-256 on random inputs of every length up to 1000 bytes. */
#include "tap.h"
#include "../../lib/codec.h"
#include "../../lib/sha256.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static int is(const void *p, size_t n, const char *want)
{
	char hex[65];
	oys_sha256_hex(p, n, hex);
	return strcmp(hex, want) == 0;
}

int main(void)
{
	ok(is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "the empty message");
	ok(is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "\"abc\" (one block)");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	ok(is(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
	   "448 bits (the padding takes a second block)");
	const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
	                   "mnopqrstnopqrstu";
	ok(is(m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"), "896 bits");
	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	ok(is(a, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "a million 'a'");

	/* the same digest whatever the pieces */
	unsigned char one[32], inc[32];
	oys_sha256(a, 200, one);
	int same = 1;
	for (size_t cut = 0; cut <= 200; cut++) {
		struct oys_sha256 s;
		oys_sha256_init(&s);
		oys_sha256_update(&s, a, cut);
		oys_sha256_update(&s, a + cut, 0);
		oys_sha256_update(&s, a + cut, 200 - cut);
		oys_sha256_final(&s, inc);
		same &= memcmp(one, inc, 32) == 0;
	}
	ok(same, "200 bytes in two pieces, cut anywhere");

	/* and OpenSSL's, on random bytes of every length */
	unsigned char *r = malloc(1000), ref[32];
	srand(1);
	for (int i = 0; i < 1000; i++)
		r[i] = (unsigned char)rand();
	int agree = 1;
	for (size_t n = 0; n <= 1000; n++) {
		unsigned int len = 0;
		oys_sha256(r, n, one);
		agree &= EVP_Digest(r, n, ref, &len, EVP_sha256(), NULL) == 1 && len == 32 && memcmp(one, ref, 32) == 0;
	}
	ok(agree, "agrees with OpenSSL on 0 to 1000 random bytes");
	free(r);
	free(a);
	return tap_done();
}
