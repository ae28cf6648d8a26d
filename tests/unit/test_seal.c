/* Unit tests of lib/seal: sealed code opens with the fetcher's key, for its code id and its
 * challenge nonce, and with nothing else; every byte of the frame is bound; the layout is the
 * one oys-store(1) documents (tests/sealed-code.mjs checks it independently, in the bats
 * suites). */
#include "tap.h"
#include "../../lib/seal.h"

#include <openssl/rand.h>
#include <string.h>

static int opens(const struct oys_seal_key *k, const unsigned char id[32], const unsigned char nonce[32],
                 const struct oys_buf *sealed, const void *want, size_t want_len, struct oys_err *e)
{
	struct oys_buf out = OYS_BUF_INIT;
	oys_buf_puts(&out, "kept:");
	int rc = oys_unseal(k, id, nonce, sealed->data, sealed->len, &out, e);
	int ok_ = rc == 0 && out.len == 5 + want_len && memcmp(out.data, "kept:", 5) == 0 &&
	          (want_len == 0 || memcmp(out.data + 5, want, want_len) == 0);
	int untouched = rc != 0 && out.len == 5 && out.data[5] == '\0';
	oys_buf_free(&out);
	return rc == 0 ? ok_ : (untouched ? 0 : -1);
}

int main(void)
{
	struct oys_seal_key me = {0}, other = {0};
	struct oys_err e = {0};
	unsigned char id[32], id2[32], nonce[32], nonce2[32];
	RAND_bytes(id, 32);
	RAND_bytes(nonce, 32);
	memcpy(id2, id, 32);
	id2[31] ^= 1;
	memcpy(nonce2, nonce, 32);
	nonce2[0] ^= 0x80;
	ok(oys_seal_keygen(&me, &e) == 0 && oys_seal_keygen(&other, &e) == 0 && memcmp(me.pub, other.pub, 32) != 0,
	   "two fresh X25519 keys");

	static unsigned char code[3 << 20]; /* beyond one 1 MiB piece of the cipher loop */
	for (size_t i = 0; i < sizeof code; i++)
		code[i] = (unsigned char)(i * 7 + (i >> 9));
	struct oys_buf s = OYS_BUF_INIT;
	ok(oys_seal(me.pub, id, nonce, code, sizeof code, &s, &e) == 0, "seal 3 MiB");
	ok(s.len == sizeof code + OYS_SEAL_OVERHEAD && OYS_SEAL_OVERHEAD == 61, "1 + 32 + 12 + n + 16 bytes");
	ok((unsigned char)s.data[0] == 1, "version byte 0x01");
	ok(memcmp(s.data + 45, code, 64) != 0, "the code does not appear in clear");
	ok(opens(&me, id, nonce, &s, code, sizeof code, &e) == 1, "opens with the key, the id and the nonce");
	ok(opens(&other, id, nonce, &s, NULL, 0, &e) == 0 && e.code == OYS_EDATA,
	   "another key: no (%s), nothing appended", e.msg);
	ok(opens(&me, id2, nonce, &s, NULL, 0, &e) == 0, "another code id: no");
	ok(opens(&me, id, nonce2, &s, NULL, 0, &e) == 0, "another challenge nonce: no");

	/* every region of the frame is bound: version, server key, iv, ciphertext, tag */
	size_t at[] = {0, 1, 20, 33, 40, 45, 45 + sizeof code / 2, s.len - 17, s.len - 16, s.len - 1};
	int held = 1;
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		s.data[at[i]] ^= 0x01;
		if (opens(&me, id, nonce, &s, NULL, 0, &e) != 0)
			held = 0;
		s.data[at[i]] ^= 0x01;
	}
	ok(held, "a flipped bit anywhere (version, key, iv, code, tag) and it does not open");
	size_t full = s.len;
	s.len = full - 1;
	ok(opens(&me, id, nonce, &s, NULL, 0, &e) == 0, "one byte short: no");
	s.len = 60;
	oys_err_clear(&e);
	ok(opens(&me, id, nonce, &s, NULL, 0, &e) == 0 &&
	   strcmp(e.msg, "sealed code of 60 bytes is shorter than its 61-byte frame") == 0, "60 bytes: %s", e.msg);
	s.len = full;
	s.data[0] = 2;
	oys_err_clear(&e);
	ok(opens(&me, id, nonce, &s, NULL, 0, &e) == 0 && strcmp(e.msg, "sealed code of version 2, not 1") == 0,
	   "version 2: %s", e.msg);

	/* empty code; two seals of the same code differ (fresh server key and iv) */
	struct oys_buf a = OYS_BUF_INIT, b = OYS_BUF_INIT;
	ok(oys_seal(me.pub, id, nonce, "", 0, &a, &e) == 0 && a.len == 61 && opens(&me, id, nonce, &a, "", 0, &e) == 1,
	   "empty code seals and opens");
	oys_buf_reset(&a);
	oys_seal(me.pub, id, nonce, "same", 4, &a, &e);
	oys_seal(me.pub, id, nonce, "same", 4, &b, &e);
	ok(a.len == b.len && memcmp(a.data + 1, b.data + 1, 44) != 0 && memcmp(a.data + 45, b.data + 45, 4) != 0,
	   "each answer has its own server key and iv");

	/* a public key of small order (all zero) agrees no secret: refused */
	unsigned char zero[32] = {0};
	oys_buf_reset(&a);
	oys_err_clear(&e);
	ok(oys_seal(zero, id, nonce, "x", 1, &a, &e) == OYS_EDATA && a.len == 0, "the all-zero key: %s", e.msg);

	oys_buf_free(&a);
	oys_buf_free(&b);
	oys_buf_free(&s);
	oys_seal_key_free(&me);
	oys_seal_key_free(&other);
	return tap_done();
}
