/* sign.c: the enclave's secp256k1 key and the digests of signed answers, on libsecp256k1
 * (after bitcoin-core/secp256k1's examples/ecdsa.c: one randomized context, sign, serialize,
 * wipe the secret). */
#include "sign.h"

#include "codec.h"
#include "file.h"
#include "opt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static secp256k1_context *ctx;

static int fill_random(unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int oys_sign_init(struct oys_err *e)
{
	if (ctx)
		return 0;
	unsigned char seed[32];
	if (fill_random(seed, sizeof seed) < 0)
		return oys_err_sys(e, OYS_EOSERR, "getrandom");
	secp256k1_context *c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (c == NULL) {
		explicit_bzero(seed, sizeof seed);
		return oys_err_set(e, OYS_EOSERR, "cannot create a secp256k1 context");
	}
	/* blinding against side channels; cannot fail with a fresh context */
	int ok = secp256k1_context_randomize(c, seed);
	explicit_bzero(seed, sizeof seed);
	if (!ok) {
		secp256k1_context_destroy(c);
		return oys_err_set(e, OYS_ESOFTWARE, "cannot randomize the secp256k1 context");
	}
	ctx = c;
	return 0;
}

/* ---- the key ---- */

void oys_sign_key_wipe(struct oys_sign_key *k)
{
	explicit_bzero(k, sizeof *k);
}

int oys_sign_key_from_secret(const unsigned char secret[OYS_SIGN_SECRET_LEN],
                             struct oys_sign_key *k, struct oys_err *e)
{
	int rc = oys_sign_init(e);
	if (rc)
		return rc;
	secp256k1_pubkey pk;
	unsigned char ser[65];
	size_t len = sizeof ser;
	if (!secp256k1_ec_seckey_verify(ctx, secret) || !secp256k1_ec_pubkey_create(ctx, &pk, secret))
		return oys_err_set(e, OYS_EDATA, "not a secp256k1 secret key (zero or not below the group order)");
	secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	memcpy(k->secret, secret, OYS_SIGN_SECRET_LEN);
	memcpy(k->pub, ser + 1, OYS_SIGN_PUBKEY_LEN); /* without the 0x04 prefix */
	return 0;
}

int oys_sign_keygen(struct oys_sign_key *k, struct oys_err *e)
{
	unsigned char secret[OYS_SIGN_SECRET_LEN];
	int rc = oys_sign_init(e);
	/* a random 32 bytes is a valid key but with probability ~2^-128; try again then */
	for (int tries = 0; rc == 0; tries++) {
		if (fill_random(secret, sizeof secret) < 0) {
			rc = oys_err_sys(e, OYS_EOSERR, "getrandom");
			break;
		}
		if (secp256k1_ec_seckey_verify(ctx, secret)) {
			rc = oys_sign_key_from_secret(secret, k, e);
			break;
		}
		if (tries == 8) {
			rc = oys_err_set(e, OYS_ESOFTWARE, "getrandom gives no valid secp256k1 key");
			break;
		}
	}
	explicit_bzero(secret, sizeof secret);
	return rc;
}

int oys_sign_key_write(const char *path, const struct oys_sign_key *k, struct oys_err *e)
{
	/* A temporary file in the same directory, then link(2), which never replaces an existing
	 * path: the key appears whole, or not at all, and no key is ever overwritten. */
	char tmp[PATH_MAX], rnd[17], text[2 * OYS_SIGN_SECRET_LEN + 2];
	if (oys_random_hex(rnd, 8) < 0)
		return oys_err_sys(e, OYS_EOSERR, "getrandom");
	if (snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, rnd) >= (int)sizeof tmp)
		return oys_err_set(e, OYS_EUSAGE, "%s: path too long", path);
	struct stat st;
	if (lstat(path, &st) == 0)
		return oys_err_set(e, OYS_ECANTCREAT, "%s exists: a signing key is never overwritten", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return oys_err_sys(e, OYS_ECANTCREAT, "%s", path);
	oys_hex_to(text, k->secret, OYS_SIGN_SECRET_LEN);
	text[2 * OYS_SIGN_SECRET_LEN] = '\n';
	int rc = 0;
	if (fchmod(fd, 0600) < 0 || oys_write_all(fd, text, sizeof text - 1) < 0 || fsync(fd) < 0)
		rc = oys_err_sys(e, OYS_EIO, "%s", tmp);
	explicit_bzero(text, sizeof text);
	if (close(fd) < 0 && rc == 0)
		rc = oys_err_sys(e, OYS_EIO, "%s", tmp);
	if (rc == 0 && link(tmp, path) < 0) {
		if (errno == EEXIST)
			rc = oys_err_set(e, OYS_ECANTCREAT, "%s exists: a signing key is never overwritten", path);
		else
			rc = oys_err_sys(e, OYS_ECANTCREAT, "%s", path);
	}
	unlink(tmp);
	if (rc == 0) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			slash[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			snprintf(dir, sizeof dir, ".");
		oys_fsync_dir(dir);
	}
	return rc;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The secret of a key file, checked (zero, or not below the group order: OYS_EDATA). */
static int load_secret(const char *path, unsigned char secret[OYS_SIGN_SECRET_LEN], struct oys_err *e)
{
	unsigned char raw[2 * OYS_SIGN_SECRET_LEN + 2];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_ENOPERM, "%s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = oys_err_sys(e, OYS_EIO, "%s", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return oys_err_set(e, OYS_EDATA, "%s: not a regular file", path);
	}
	if (st.st_mode & 077) {
		close(fd);
		return oys_err_set(e, OYS_ENOPERM, "%s: mode %04o lets group or others at the signing key "
		                   "(chmod 600 it)", path, (unsigned)(st.st_mode & 07777));
	}
	size_t n = 0;
	int rc = 0;
	while (n < sizeof raw) {
		ssize_t r = read(fd, raw + n, sizeof raw - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = oys_err_sys(e, OYS_EIO, "%s", path);
			break;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (rc == 0) {
		if (n == OYS_SIGN_SECRET_LEN) { /* 32 raw bytes */
			memcpy(secret, raw, OYS_SIGN_SECRET_LEN);
		} else if (n == 2 * OYS_SIGN_SECRET_LEN ||
		           (n == 2 * OYS_SIGN_SECRET_LEN + 1 && raw[n - 1] == '\n')) {
			for (size_t i = 0; i < OYS_SIGN_SECRET_LEN && rc == 0; i++) {
				int hi = hexval(raw[2 * i]), lo = hexval(raw[2 * i + 1]);
				if (hi < 0 || lo < 0)
					rc = -1;
				else
					secret[i] = (unsigned char)(hi << 4 | lo);
			}
		} else {
			rc = -1;
		}
		if (rc)
			rc = oys_err_set(e, OYS_EDATA, "%s: not a signing key (64 hex digits and a newline, "
			                 "or 32 bytes)", path);
	}
	if (rc == 0 && (rc = oys_sign_init(e)) == 0 && !secp256k1_ec_seckey_verify(ctx, secret))
		rc = oys_err_set(e, OYS_EDATA, "%s: not a secp256k1 secret key (zero or not below the group order)", path);
	explicit_bzero(raw, sizeof raw);
	return rc;
}

int oys_sign_key_load(const char *path, struct oys_sign_key *k, struct oys_err *e)
{
	unsigned char secret[OYS_SIGN_SECRET_LEN];
	int rc = load_secret(path, secret, e);
	if (rc == 0) {
		rc = oys_sign_key_from_secret(secret, k, e);
		if (rc)
			oys_err_wrap(e, "%s", path);
	}
	explicit_bzero(secret, sizeof secret);
	return rc;
}

int oys_sign_key_load_secret(const char *path, struct oys_sign_key *k, struct oys_err *e)
{
	memset(k, 0, sizeof *k);
	int rc = load_secret(path, k->secret, e);
	if (rc)
		oys_sign_key_wipe(k);
	return rc;
}

int oys_sign_key_pub(struct oys_sign_key *k, struct oys_err *e)
{
	unsigned char secret[OYS_SIGN_SECRET_LEN];
	memcpy(secret, k->secret, sizeof secret);
	int rc = oys_sign_key_from_secret(secret, k, e);
	explicit_bzero(secret, sizeof secret);
	return rc;
}

void oys_sign_address(const unsigned char pub[OYS_SIGN_PUBKEY_LEN],
                      char out[OYS_SIGN_ADDRESS_LEN + 1])
{
	unsigned char h[OYS_KECCAK256_LEN], hh[OYS_KECCAK256_LEN];
	char hex[41];
	oys_keccak256(pub, OYS_SIGN_PUBKEY_LEN, h);
	oys_hex_to(hex, h + 12, 20);
	/* EIP-55: a letter is upper case when the matching nibble of keccak256(lowercase hex)
	 * is 8 or more */
	oys_keccak256(hex, 40, hh);
	out[0] = '0';
	out[1] = 'x';
	for (int i = 0; i < 40; i++) {
		int nibble = (hh[i / 2] >> (i % 2 ? 0 : 4)) & 0xf;
		char c = hex[i];
		out[2 + i] = (c >= 'a' && nibble >= 8) ? (char)(c - 'a' + 'A') : c;
	}
	out[OYS_SIGN_ADDRESS_LEN] = '\0';
}

/* ---- signatures ---- */

int oys_sign_digest(const struct oys_sign_key *k, const unsigned char digest[OYS_KECCAK256_LEN],
                    unsigned char sig[OYS_SIGN_SIG_LEN], struct oys_err *e)
{
	int rc = oys_sign_init(e);
	if (rc)
		return rc;
	secp256k1_ecdsa_recoverable_signature s;
	int recid;
	/* NULL nonce function: RFC 6979, as upstream's k256 and every Ethereum signer; the
	 * result is deterministic and low-s */
	if (!secp256k1_ecdsa_sign_recoverable(ctx, &s, digest, k->secret, NULL, NULL))
		return oys_err_set(e, OYS_ESOFTWARE, "secp256k1 signing failed");
	secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig, &recid, &s);
	sig[64] = (unsigned char)(27 + recid);
	return 0;
}

int oys_sign_recover(const unsigned char digest[OYS_KECCAK256_LEN],
                     const unsigned char sig[OYS_SIGN_SIG_LEN],
                     unsigned char pub[OYS_SIGN_PUBKEY_LEN], struct oys_err *e)
{
	int rc = oys_sign_init(e);
	if (rc)
		return rc;
	secp256k1_ecdsa_recoverable_signature s;
	secp256k1_ecdsa_signature plain;
	secp256k1_pubkey pk;
	unsigned char ser[65];
	size_t len = sizeof ser;
	if (sig[64] < 27 || sig[64] > 30)
		return oys_err_set(e, OYS_ENOPERM, "signature: v is %d, not 27 or 28", sig[64]);
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &s, sig, sig[64] - 27))
		return oys_err_set(e, OYS_ENOPERM, "signature: r or s out of range");
	/* a high s is the other half of a valid pair; no signer here makes one, refuse it */
	secp256k1_ecdsa_recoverable_signature_convert(ctx, &plain, &s);
	if (secp256k1_ecdsa_signature_normalize(ctx, NULL, &plain))
		return oys_err_set(e, OYS_ENOPERM, "signature: s is not in the lower half (malleated)");
	if (!secp256k1_ecdsa_recover(ctx, &pk, &s, digest))
		return oys_err_set(e, OYS_ENOPERM, "signature recovers no public key");
	secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED);
	memcpy(pub, ser + 1, OYS_SIGN_PUBKEY_LEN);
	return 0;
}

/* ---- the two digests ---- */

static void put_u32(struct oys_keccak *k, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};
	oys_keccak256_update(k, b, sizeof b);
}

static void put_u64(struct oys_keccak *k, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	oys_keccak256_update(k, b, sizeof b);
}

int oys_sig_format_parse(const char *name, enum oys_sig_format *out)
{
	if (strcmp(name, "v2") == 0)
		*out = OYS_SIG_V2;
	else if (strcmp(name, "oys") == 0)
		*out = OYS_SIG_OYS;
	else
		return -1;
	return 0;
}

/* u32be(len) || s */
static void put_field(struct oys_keccak *k, const char *s, size_t n)
{
	put_u32(k, (uint32_t)n);
	oys_keccak256_update(k, s, n);
}

int oys_sigmsg_init(struct oys_sigmsg *m, enum oys_sig_format f, const struct oys_sig_fields *fl,
                    uint64_t req_len, uint64_t resp_len, struct oys_err *e)
{
	const char *code_id = fl->code_id ? fl->code_id : "";
	const char *request_id = fl->request_id ? fl->request_id : "";
	size_t lens[4] = {strlen(fl->method), strlen(fl->path), strlen(code_id), strlen(request_id)};
	for (int i = 0; i < 4; i++)
		if (lens[i] > UINT32_MAX)
			return oys_err_set(e, OYS_EDATA, "a signed field is longer than 4 GiB");
	if (f == OYS_SIG_OYS && (fl->status < 100 || fl->status > 999))
		return oys_err_set(e, OYS_EDATA, "status %d is not three digits", fl->status);
	if (f == OYS_SIG_OYS && fl->timestamp < 0)
		return oys_err_set(e, OYS_EDATA, "timestamp %lld is negative", fl->timestamp);

	memset(m, 0, sizeof *m);
	oys_keccak256_init(&m->k);
	/* the domain string with its NUL */
	if (f == OYS_SIG_V2)
		oys_keccak256_update(&m->k, OYS_SIG_V2_DOMAIN, sizeof OYS_SIG_V2_DOMAIN);
	else
		oys_keccak256_update(&m->k, OYS_SIG_OYS_DOMAIN, sizeof OYS_SIG_OYS_DOMAIN);
	put_field(&m->k, fl->method, lens[0]);
	put_field(&m->k, fl->path, lens[1]);
	if (f == OYS_SIG_OYS) {
		char status[8], ts[24];
		int sn = snprintf(status, sizeof status, "%d", fl->status);
		int tn = snprintf(ts, sizeof ts, "%lld", fl->timestamp);
		put_field(&m->k, status, (size_t)sn);
		put_field(&m->k, code_id, lens[2]);
		put_field(&m->k, request_id, lens[3]);
		put_field(&m->k, ts, (size_t)tn);
	}
	put_u64(&m->k, req_len);
	m->req_left = req_len;
	m->resp_len = m->resp_left = resp_len;
	if (req_len == 0) {
		put_u64(&m->k, resp_len);
		m->in_resp = 1;
	}
	return 0;
}

void oys_sigmsg_update(struct oys_sigmsg *m, const void *p, size_t n)
{
	const unsigned char *b = p;
	if (n == 0) /* p may be NULL then */
		return;
	if (!m->in_resp) {
		size_t take = n < m->req_left ? n : (size_t)m->req_left;
		oys_keccak256_update(&m->k, b, take);
		m->req_left -= take;
		b += take;
		n -= take;
		if (m->req_left > 0)
			return;
		put_u64(&m->k, m->resp_len);
		m->in_resp = 1;
	}
	if (n > m->resp_left) { /* too many bytes: final fails */
		m->resp_left = UINT64_MAX;
		return;
	}
	oys_keccak256_update(&m->k, b, n);
	m->resp_left -= n;
}

int oys_sigmsg_final(struct oys_sigmsg *m, unsigned char digest[OYS_KECCAK256_LEN],
                     struct oys_err *e)
{
	if (!m->in_resp || m->resp_left != 0) {
		memset(m, 0, sizeof *m);
		return oys_err_set(e, OYS_ESOFTWARE, "signed answer: the bodies fed differ from their lengths");
	}
	oys_keccak256_final(&m->k, digest);
	return 0;
}

int oys_sig_digest(enum oys_sig_format f, const struct oys_sig_fields *fl, const void *req,
                   size_t req_len, const void *resp, size_t resp_len,
                   unsigned char digest[OYS_KECCAK256_LEN], struct oys_err *e)
{
	struct oys_sigmsg m;
	int rc = oys_sigmsg_init(&m, f, fl, req_len, resp_len, e);
	if (rc)
		return rc;
	oys_sigmsg_update(&m, req, req_len);
	oys_sigmsg_update(&m, resp, resp_len);
	return oys_sigmsg_final(&m, digest, e);
}

int oys_sign_answer(const struct oys_sign_key *k, const struct oys_sig_fields *fl,
                    const void *req, size_t req_len, const void *resp, size_t resp_len,
                    char x_signature[OYS_SIGN_HEX_LEN + 1],
                    char x_oyster_signature[OYS_SIGN_HEX_LEN + 1], struct oys_err *e)
{
	unsigned char d[OYS_KECCAK256_LEN], sig[OYS_SIGN_SIG_LEN];
	int rc = oys_sig_digest(OYS_SIG_V2, fl, req, req_len, resp, resp_len, d, e);
	if (rc == 0)
		rc = oys_sign_digest(k, d, sig, e);
	if (rc == 0)
		oys_hex_to(x_signature, sig, sizeof sig);
	if (rc == 0)
		rc = oys_sig_digest(OYS_SIG_OYS, fl, req, req_len, resp, resp_len, d, e);
	if (rc == 0)
		rc = oys_sign_digest(k, d, sig, e);
	if (rc == 0)
		oys_hex_to(x_oyster_signature, sig, sizeof sig);
	return rc;
}
