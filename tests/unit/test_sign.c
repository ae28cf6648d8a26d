/* Unit tests of lib/sign and lib/signcheck: keys, addresses and signatures against values
 * from independent implementations (cast 1.7.1 for addresses and digests, @noble/secp256k1
 * 3.2.0 for the RFC 6979 signatures, both in deps/), the two digests byte for byte, the key
 * file's rules, and the reading of curl -i output. */
#include "tap.h"
#include "../../lib/codec.h"
#include "../../lib/sign.h"
#include "../../lib/signcheck.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *hex_of(const unsigned char *p, size_t n)
{
	static char out[2 * 65 + 1];
	oys_hex_to(out, p, n);
	return out;
}

static int write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0)
		return -1;
	int rc = write(fd, p, n) == (ssize_t)n ? 0 : -1;
	fchmod(fd, mode);
	close(fd);
	return rc;
}

static int load_code(const char *path, struct oys_sign_key *k)
{
	struct oys_err e = {0};
	return oys_sign_key_load(path, k, &e);
}

/* secp256k1's group order n, big-endian */
static const unsigned char order[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};

/* s := n - s (the other, high s of the same signature) */
static void negate_s(unsigned char *s)
{
	int borrow = 0;
	for (int i = 31; i >= 0; i--) {
		int d = order[i] - s[i] - borrow;
		borrow = d < 0;
		s[i] = (unsigned char)(d + (borrow ? 256 : 0));
	}
}

int main(void)
{
	struct oys_err e = {0};
	struct oys_sign_key k, k2;
	unsigned char secret[32], d[32], sig[65], pub[64];
	char addr[43];

	/* upstream's own test key (x402-gateway handlers.rs: SigningKey::from_bytes(&[1u8; 32])) */
	memset(secret, 1, sizeof secret);
	ok(oys_sign_key_from_secret(secret, &k, &e) == 0 &&
	   strcmp(hex_of(k.pub, 64), "1b84c5567b126440995d3ed5aaba0565d71e1834604819ff9c17f5e9d5dd078f"
	                             "70beaf8f588b541507fed6a642c5ab42dfdf8120a7f639de5122d47a69a8e8d1") == 0,
	   "the public key of 0x01..01 is noble's (64 bytes, no 04 prefix)");
	oys_sign_address(k.pub, addr);
	ok(strcmp(addr, "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1") == 0,
	   "its address is cast wallet address's, EIP-55 mixed case");

	/* X-Signature of upstream's test answer: GET /signed, no request body, "signed body" */
	struct oys_sig_fields f = {"GET", "/signed", 200, "", "", 0};
	ok(oys_sig_digest(OYS_SIG_V2, &f, "", 0, "signed body", 11, d, &e) == 0 &&
	   strcmp(hex_of(d, 32), "895c39fcdcad9151124e20ee546c882f15bbef359e8d84890c889fe39d0c136f") == 0,
	   "the oyster-signature-v2 digest is cast keccak's of the bytes laid out by hand");
	ok(oys_sign_digest(&k, d, sig, &e) == 0 &&
	   strcmp(hex_of(sig, 65), "fec66e3cc5fce868bdeadc0d2be24effd6a6a8139e1bbcec56f6e3b2dba8a775"
	                           "4e2f6eef3a8a05f73964eab62a19348108cd4dc46681c9d46abfb7e21a8c84bf1b") == 0,
	   "its signature is byte for byte noble's (RFC 6979, low s, v = 27 + recovery id)");
	ok(oys_sign_recover(d, sig, pub, &e) == 0 && memcmp(pub, k.pub, 64) == 0,
	   "the signer recovered from it is the key");

	/* X-Oyster-Signature: every field set */
	struct oys_sig_fields g = {"POST", "/api/serverless?x=1", 404,
	                           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	                           "7f3c-rid", 1767225600};
	const char *req = "{\"code_id\":\"x\"}";
	ok(oys_sig_digest(OYS_SIG_OYS, &g, req, 15, "signed body", 11, d, &e) == 0 &&
	   strcmp(hex_of(d, 32), "2a78fe7c5524f85c93931296c9454ecf72c478f4c4f037f2ddfdd4c8f5785c6d") == 0,
	   "the oys-signature-v1 digest is cast keccak's of the bytes laid out by hand");
	ok(oys_sign_digest(&k, d, sig, &e) == 0 &&
	   strcmp(hex_of(sig, 65), "a3b7640a0fa8c1e33e01dbfb0037a917d8420ffe85d8e727b202816bbdaab392"
	                           "35b3dc96097bf53ff18dd7b042f19874f558fb7ace5d370cbce5c7338c825a8a1c") == 0,
	   "its signature is noble's");
	char v2hex[131], oyshex[131];
	ok(oys_sign_answer(&k, &g, req, 15, "signed body", 11, v2hex, oyshex, &e) == 0 &&
	   strcmp(oyshex, hex_of(sig, 65)) == 0 && strlen(v2hex) == 130,
	   "oys_sign_answer gives both header values, 130 lowercase hex each");

	/* each field is covered: change one, the digest changes */
	unsigned char base[32], other[32];
	oys_sig_digest(OYS_SIG_OYS, &g, req, 15, "signed body", 11, base, &e);
	struct oys_sig_fields h = g;
	int all = 1;
	for (int i = 0; i < 6; i++) {
		h = g;
		switch (i) {
		case 0: h.method = "PUT"; break;
		case 1: h.path = "/api/serverless?x=2"; break;
		case 2: h.status = 200; break;
		case 3: h.code_id = "x"; break;
		case 4: h.request_id = "7f3c-ri"; break;
		case 5: h.timestamp = 1767225601; break;
		}
		oys_sig_digest(OYS_SIG_OYS, &h, req, 15, "signed body", 11, other, &e);
		all &= memcmp(base, other, 32) != 0;
	}
	ok(all, "method, path, status, code_id, request id and timestamp each change the oys digest");
	oys_sig_digest(OYS_SIG_V2, &g, req, 15, "signed body", 11, base, &e);
	h = g;
	h.status = 500;
	h.timestamp = 1;
	oys_sig_digest(OYS_SIG_V2, &h, req, 15, "signed body", 11, other, &e);
	ok(memcmp(base, other, 32) == 0, "the v2 digest does not cover status and timestamp (upstream's)");
	/* moving a byte from one body to the other changes it (the lengths are covered) */
	oys_sig_digest(OYS_SIG_V2, &f, "s", 1, "igned body", 10, other, &e);
	oys_sig_digest(OYS_SIG_V2, &f, "", 0, "signed body", 11, base, &e);
	ok(memcmp(base, other, 32) != 0, "the boundary between the two bodies is covered");

	/* incremental: any split, across the request/response boundary too */
	struct oys_sigmsg m;
	const char *all_bytes = "{\"code_id\":\"x\"}signed body";
	int same = 1;
	oys_sig_digest(OYS_SIG_OYS, &g, req, 15, "signed body", 11, base, &e);
	for (size_t step = 1; step <= 26; step++) {
		oys_sigmsg_init(&m, OYS_SIG_OYS, &g, 15, 11, &e);
		for (size_t off = 0; off < 26; off += step)
			oys_sigmsg_update(&m, all_bytes + off, off + step > 26 ? 26 - off : step);
		same &= oys_sigmsg_final(&m, other, &e) == 0 && memcmp(base, other, 32) == 0;
	}
	ok(same, "fed in pieces of 1 to 26 bytes, the digest is the same");
	oys_sigmsg_init(&m, OYS_SIG_OYS, &g, 15, 11, &e);
	oys_sigmsg_update(&m, all_bytes, 25);
	ok(oys_sigmsg_final(&m, other, &e) == OYS_ESOFTWARE, "a byte short: final refuses");
	oys_sigmsg_init(&m, OYS_SIG_OYS, &g, 15, 11, &e);
	oys_sigmsg_update(&m, all_bytes, 26);
	oys_sigmsg_update(&m, "x", 1);
	ok(oys_sigmsg_final(&m, other, &e) == OYS_ESOFTWARE, "a byte too many: final refuses");
	h = g;
	h.status = 99;
	ok(oys_sigmsg_init(&m, OYS_SIG_OYS, &h, 0, 0, &e) == OYS_EDATA, "status 99 is refused");
	h = g;
	h.timestamp = -1;
	ok(oys_sigmsg_init(&m, OYS_SIG_OYS, &h, 0, 0, &e) == OYS_EDATA, "a negative timestamp is refused");

	/* recovery refuses what no signer here makes */
	oys_sig_digest(OYS_SIG_V2, &f, "", 0, "signed body", 11, d, &e);
	oys_sign_digest(&k, d, sig, &e);
	unsigned char bad[65];
	memcpy(bad, sig, 65);
	negate_s(bad + 32);
	bad[64] = bad[64] == 27 ? 28 : 27; /* the same point, the other s */
	ok(oys_sign_recover(d, bad, pub, &e) == OYS_ENOPERM && strstr(e.msg, "lower half"),
	   "the high-s twin of a signature is refused (%s)", e.msg);
	memcpy(bad, sig, 65);
	bad[64] = 0;
	ok(oys_sign_recover(d, bad, pub, &e) == OYS_ENOPERM, "v = 0 is refused (27 or 28 expected)");
	memset(bad, 0, 64);
	bad[64] = 27;
	ok(oys_sign_recover(d, bad, pub, &e) == OYS_ENOPERM, "r = s = 0 is refused");
	memcpy(bad, sig, 65);
	bad[64] = bad[64] == 27 ? 28 : 27;
	ok(oys_sign_recover(d, bad, pub, &e) != 0 || memcmp(pub, k.pub, 64) != 0,
	   "the wrong recovery id does not give the key");
	d[0] ^= 1;
	ok(oys_sign_recover(d, sig, pub, &e) != 0 || memcmp(pub, k.pub, 64) != 0,
	   "another digest does not give the key");

	/* fresh keys */
	ok(oys_sign_keygen(&k, &e) == 0 && oys_sign_keygen(&k2, &e) == 0 &&
	   memcmp(k.secret, k2.secret, 32) != 0, "two fresh keys differ");
	oys_sign_key_from_secret(k.secret, &k2, &e);
	ok(memcmp(k.pub, k2.pub, 64) == 0, "a fresh key's public half is its secret's");

	/* the key file */
	char dir[] = "/tmp/oys-test-sign-XXXXXX", path[256], p2[256];
	ok(mkdtemp(dir) != NULL, "a scratch directory");
	snprintf(path, sizeof path, "%s/key", dir);
	struct stat st;
	ok(oys_sign_key_write(path, &k, &e) == 0 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	   st.st_size == 65, "a key is written as 64 hex and a newline, mode 0600");
	ok(oys_sign_key_write(path, &k2, &e) == OYS_ECANTCREAT && strstr(e.msg, "exists"),
	   "an existing key file is never overwritten (%s)", e.msg);
	memset(&k2, 0, sizeof k2);
	ok(oys_sign_key_load(path, &k2, &e) == 0 && memcmp(&k, &k2, sizeof k) == 0, "and loads back");
	chmod(path, 0640);
	ok(load_code(path, &k2) == OYS_ENOPERM, "a key group may read is refused");
	chmod(path, 0604);
	ok(load_code(path, &k2) == OYS_ENOPERM, "a key others may read is refused");
	chmod(path, 0400);
	ok(load_code(path, &k2) == 0, "a read-only key (0400) is fine");
	snprintf(p2, sizeof p2, "%s/raw", dir);
	write_file(p2, k.secret, 32, 0600);
	ok(load_code(p2, &k2) == 0 && memcmp(k.pub, k2.pub, 64) == 0,
	   "32 raw bytes load too (upstream keygen-secp256k1's secret file)");
	write_file(p2, "0000000000000000000000000000000000000000000000000000000000000000\n", 65, 0600);
	ok(load_code(p2, &k2) == OYS_EDATA, "the zero key is refused");
	write_file(p2, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141\n", 65, 0600);
	ok(load_code(p2, &k2) == OYS_EDATA, "a key equal to the group order is refused");
	write_file(p2, "0101010101010101010101010101010101010101010101010101010101010101\n\n", 66, 0600);
	ok(load_code(p2, &k2) == OYS_EDATA, "a trailing extra line is refused");
	write_file(p2, "01010101010101010101010101010101010101010101010101010101010101zz\n", 65, 0600);
	ok(load_code(p2, &k2) == OYS_EDATA, "non-hex is refused");
	snprintf(p2, sizeof p2, "%s/none", dir);
	ok(load_code(p2, &k2) == OYS_ENOINPUT, "a missing key is 'no input'");
	ok(load_code(dir, &k2) != 0, "a directory is refused");
	unlink(path);
	snprintf(p2, sizeof p2, "%s/raw", dir);
	unlink(p2);
	rmdir(dir);

	/* curl -i output */
	struct oys_answer a;
	char c1[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
	            "x-signature:   0xFEC66E3CC5FCE868BDEADC0D2BE24EFFD6A6A8139E1BBCEC56F6E3B2DBA8A775"
	            "4E2F6EEF3A8A05F73964EAB62A19348108CD4DC46681C9D46ABFB7E21A8C84BF1B  \r\n"
	            "X-Oyster-Timestamp: 1767225600\r\nX-Oyster-Code-Id: abc\r\n"
	            "Content-Length: 5\r\n\r\nhe\r\n\r";
	memset(&a, 0, sizeof a);
	int rc = oys_answer_from_curl(c1, sizeof c1 - 1, &a, &e);
	ok(rc == 0 && a.f.status == 201 && a.has_v2 && !a.has_oys && a.has_timestamp &&
	   a.f.timestamp == 1767225600 && strcmp(a.f.code_id, "abc") == 0 && a.f.request_id == NULL &&
	   a.resp_len == 5 && memcmp(a.resp, "he\r\n\r", 5) == 0 && a.v2_sig[0] == 0xfe && a.v2_sig[64] == 0x1b,
	   "curl -i output: 100 Continue skipped, names in any case, 0x and upper case, body verbatim");
	char c2[] = "HTTP/2 200\nx-signature: 00\n\n";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c2, sizeof c2 - 1, &a, &e) == OYS_EDATA && strstr(e.msg, "65 bytes"),
	   "a short X-Signature is bad data (%s)", e.msg);
	char c3[] = "HTTP/2 200\nX-Oyster-Timestamp: 1\nx-oyster-timestamp: 2\n\nbody";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c3, sizeof c3 - 1, &a, &e) == OYS_EDATA && strstr(e.msg, "twice"),
	   "a header given twice is bad data (%s)", e.msg);
	char c4[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbody";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c4, sizeof c4 - 1, &a, &e) == OYS_EDATA && strstr(e.msg, "Content-Length"),
	   "a body that is not Content-Length long is bad data (%s)", e.msg);
	char c5[] = "{\"result\": 1}";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c5, sizeof c5 - 1, &a, &e) == OYS_EDATA, "a bare body is bad data (%s)", e.msg);
	char c6[] = "HTTP/1.1 200 OK\r\nX-Oyster-Timestamp: 0170\r\n\r\n";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c6, sizeof c6 - 1, &a, &e) == OYS_EDATA,
	   "a timestamp with a leading zero is bad data (the signer never writes one)");
	char c7[] = "HTTP/1.1 200 OK\r\nX-Signature";
	memset(&a, 0, sizeof a);
	ok(oys_answer_from_curl(c7, sizeof c7 - 1, &a, &e) == OYS_EDATA, "cut headers are bad data");

	ok(oys_sig_parse_hex("0x00", sig) < 0 && oys_sig_parse_hex(v2hex, sig) == 0,
	   "signatures parse from 130 hex digits only");
	return tap_done();
}
