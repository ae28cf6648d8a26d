/* seal.c: code sealed to an X25519 key (see seal.h), with OpenSSL 3.0's EVP. */
#include "seal.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <string.h>

/* libcrypto is loaded when code is first sealed or opened, not when the program starts:
 * oys-run and oys-serve start once per request, most requests take code from a local store
 * and never seal anything, and loading libcrypto costs about 2 ms of CPU per start. The
 * functions below are called through this table under their own names. */
#define OSSL_FUNCS(X)                                                                           \
	X(EVP_PKEY_Q_keygen) X(EVP_PKEY_get_raw_public_key) X(EVP_PKEY_free)                        \
	X(EVP_PKEY_new_raw_public_key) X(EVP_PKEY_CTX_new) X(EVP_PKEY_CTX_free)                     \
	X(EVP_PKEY_derive_init) X(EVP_PKEY_derive_set_peer) X(EVP_PKEY_derive)                      \
	X(EVP_KDF_fetch) X(EVP_KDF_free) X(EVP_KDF_CTX_new) X(EVP_KDF_CTX_free) X(EVP_KDF_derive)   \
	X(OSSL_PARAM_construct_utf8_string) X(OSSL_PARAM_construct_octet_string)                    \
	X(OSSL_PARAM_construct_end) X(OPENSSL_cleanse) X(RAND_bytes)                                \
	X(EVP_CIPHER_CTX_new) X(EVP_CIPHER_CTX_free) X(EVP_CIPHER_CTX_ctrl) X(EVP_aes_256_gcm)      \
	X(EVP_EncryptInit_ex) X(EVP_EncryptUpdate) X(EVP_EncryptFinal_ex)                           \
	X(EVP_DecryptInit_ex) X(EVP_DecryptUpdate) X(EVP_DecryptFinal_ex)

static struct {
	int loaded;
#define FIELD(name) __typeof__(&name) name;
	OSSL_FUNCS(FIELD)
#undef FIELD
} ossl;

static int load_crypto(struct oys_err *e)
{
	if (ossl.loaded)
		return 0;
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return oys_err_set(e, OYS_ECONFIG, "cannot load libcrypto: %s", dlerror());
#define SYM(name)                                                                                \
	if ((*(void **)(&ossl.name) = dlsym(h, #name)) == NULL)                                      \
		return oys_err_set(e, OYS_ECONFIG, "libcrypto lacks %s", #name);
	OSSL_FUNCS(SYM)
#undef SYM
	ossl.loaded = 1;
	return 0;
}

#define FROM_TABLE(name) ossl.name
#define EVP_PKEY_Q_keygen FROM_TABLE(EVP_PKEY_Q_keygen)
#define EVP_PKEY_get_raw_public_key FROM_TABLE(EVP_PKEY_get_raw_public_key)
#define EVP_PKEY_free FROM_TABLE(EVP_PKEY_free)
#define EVP_PKEY_new_raw_public_key FROM_TABLE(EVP_PKEY_new_raw_public_key)
#define EVP_PKEY_CTX_new FROM_TABLE(EVP_PKEY_CTX_new)
#define EVP_PKEY_CTX_free FROM_TABLE(EVP_PKEY_CTX_free)
#define EVP_PKEY_derive_init FROM_TABLE(EVP_PKEY_derive_init)
#define EVP_PKEY_derive_set_peer FROM_TABLE(EVP_PKEY_derive_set_peer)
#define EVP_PKEY_derive FROM_TABLE(EVP_PKEY_derive)
#define EVP_KDF_fetch FROM_TABLE(EVP_KDF_fetch)
#define EVP_KDF_free FROM_TABLE(EVP_KDF_free)
#define EVP_KDF_CTX_new FROM_TABLE(EVP_KDF_CTX_new)
#define EVP_KDF_CTX_free FROM_TABLE(EVP_KDF_CTX_free)
#define EVP_KDF_derive FROM_TABLE(EVP_KDF_derive)
#define OSSL_PARAM_construct_utf8_string FROM_TABLE(OSSL_PARAM_construct_utf8_string)
#define OSSL_PARAM_construct_octet_string FROM_TABLE(OSSL_PARAM_construct_octet_string)
#define OSSL_PARAM_construct_end FROM_TABLE(OSSL_PARAM_construct_end)
#undef OPENSSL_cleanse
#define OPENSSL_cleanse FROM_TABLE(OPENSSL_cleanse)
#define RAND_bytes FROM_TABLE(RAND_bytes)
#define EVP_CIPHER_CTX_new FROM_TABLE(EVP_CIPHER_CTX_new)
#define EVP_CIPHER_CTX_free FROM_TABLE(EVP_CIPHER_CTX_free)
#define EVP_CIPHER_CTX_ctrl FROM_TABLE(EVP_CIPHER_CTX_ctrl)
#define EVP_aes_256_gcm FROM_TABLE(EVP_aes_256_gcm)
#define EVP_EncryptInit_ex FROM_TABLE(EVP_EncryptInit_ex)
#define EVP_EncryptUpdate FROM_TABLE(EVP_EncryptUpdate)
#define EVP_EncryptFinal_ex FROM_TABLE(EVP_EncryptFinal_ex)
#define EVP_DecryptInit_ex FROM_TABLE(EVP_DecryptInit_ex)
#define EVP_DecryptUpdate FROM_TABLE(EVP_DecryptUpdate)
#define EVP_DecryptFinal_ex FROM_TABLE(EVP_DecryptFinal_ex)

#define IV_LEN 12
#define TAG_LEN 16
#define CHUNK (1 << 20) /* EVP takes int lengths: encrypt in pieces */

int oys_seal_keygen(struct oys_seal_key *k, struct oys_err *e)
{
	int rc = load_crypto(e);
	if (rc)
		return rc;
	size_t n = sizeof k->pub;
	EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	k->pkey = p;
	if (p == NULL || EVP_PKEY_get_raw_public_key(p, k->pub, &n) != 1 || n != sizeof k->pub) {
		oys_seal_key_free(k);
		return oys_err_set(e, OYS_ESOFTWARE, "cannot make an X25519 key");
	}
	return 0;
}

void oys_seal_key_free(struct oys_seal_key *k)
{
	if (k->pkey)
		EVP_PKEY_free(k->pkey); /* a key exists: libcrypto is loaded */
	k->pkey = NULL;
}

/* The AES key of an answer: X25519(priv, peer), then HKDF-SHA256 (seal.h). 0 or -1. */
static int derive(EVP_PKEY *priv, const unsigned char peer[32], const unsigned char epk[32],
                  const unsigned char pk[32], const unsigned char nonce[32], unsigned char key[32])
{
	unsigned char shared[32], info[sizeof OYS_SEAL_INFO - 1 + 64];
	size_t slen = sizeof shared;
	int ok = 0;
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, 32);
	EVP_PKEY_CTX *c = p ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
	/* OpenSSL refuses an all-zero shared secret (a small-order peer key) in the derive. */
	if (c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, p) == 1 &&
	    EVP_PKEY_derive(c, shared, &slen) == 1 && slen == 32) {
		memcpy(info, OYS_SEAL_INFO, sizeof OYS_SEAL_INFO - 1);
		memcpy(info + sizeof OYS_SEAL_INFO - 1, epk, 32);
		memcpy(info + sizeof OYS_SEAL_INFO - 1 + 32, pk, 32);
		EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
		EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof shared),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)nonce, 32),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof info),
			OSSL_PARAM_construct_end(),
		};
		ok = kc && EVP_KDF_derive(kc, key, 32, params) == 1;
		EVP_KDF_CTX_free(kc);
		EVP_KDF_free(kdf);
	}
	OPENSSL_cleanse(shared, sizeof shared);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(p);
	return ok ? 0 : -1;
}

static void aad_of(unsigned char aad[65], const unsigned char id[32], const unsigned char nonce[32])
{
	aad[0] = OYS_SEAL_VERSION;
	memcpy(aad + 1, id, 32);
	memcpy(aad + 33, nonce, 32);
}

/* AES-256-GCM over len bytes of in into out (same length), piece by piece. 0 or -1. */
static int gcm(EVP_CIPHER_CTX *c, int enc, const unsigned char *in, size_t len, unsigned char *out)
{
	for (size_t off = 0; off < len;) {
		int n = len - off > CHUNK ? CHUNK : (int)(len - off), got = 0;
		int ok = enc ? EVP_EncryptUpdate(c, out + off, &got, in + off, n)
		             : EVP_DecryptUpdate(c, out + off, &got, in + off, n);
		if (ok != 1 || got != n)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

int oys_seal(const unsigned char pub[OYS_SEAL_KEY_LEN], const unsigned char id[32],
             const unsigned char nonce[OYS_SEAL_NONCE_LEN], const void *code, size_t len,
             struct oys_buf *out, struct oys_err *e)
{
	struct oys_seal_key eph = {0};
	unsigned char key[32], aad[65], hdr[1 + 32 + IV_LEN], tag[TAG_LEN];
	int rc = oys_seal_keygen(&eph, e);
	if (rc)
		return rc;
	hdr[0] = OYS_SEAL_VERSION;
	memcpy(hdr + 1, eph.pub, 32);
	if (RAND_bytes(hdr + 33, IV_LEN) != 1) {
		oys_seal_key_free(&eph);
		return oys_err_set(e, OYS_ESOFTWARE, "no randomness for the GCM nonce");
	}
	if (derive(eph.pkey, pub, eph.pub, pub, nonce, key) < 0) {
		oys_seal_key_free(&eph);
		return oys_err_set(e, OYS_EDATA, "cannot agree a key with the public key (not an X25519 key of full order)");
	}
	oys_seal_key_free(&eph);
	aad_of(aad, id, nonce);
	size_t start = out->len;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int dummy, ok = c && oys_buf_append(out, hdr, sizeof hdr) == 0 && oys_buf_reserve(out, len + TAG_LEN) == 0 &&
	                EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, hdr + 33) == 1 &&
	                EVP_EncryptUpdate(c, NULL, &dummy, aad, sizeof aad) == 1 &&
	                gcm(c, 1, code, len, (unsigned char *)out->data + out->len) == 0 &&
	                EVP_EncryptFinal_ex(c, tag, &dummy) == 1 &&
	                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(c);
	if (ok) {
		out->len += len;
		ok = oys_buf_append(out, tag, TAG_LEN) == 0;
	}
	if (!ok) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return oys_err_set(e, OYS_ESOFTWARE, "cannot seal the code (AES-256-GCM)");
	}
	return 0;
}

int oys_unseal(const struct oys_seal_key *k, const unsigned char id[32],
               const unsigned char nonce[OYS_SEAL_NONCE_LEN], const void *sealed, size_t len,
               struct oys_buf *code, struct oys_err *e)
{
	const unsigned char *s = sealed;
	int rc = load_crypto(e);
	if (rc)
		return rc;
	if (len < OYS_SEAL_OVERHEAD)
		return oys_err_set(e, OYS_EDATA, "sealed code of %zu bytes is shorter than its %d-byte frame", len,
		                   OYS_SEAL_OVERHEAD);
	if (s[0] != OYS_SEAL_VERSION)
		return oys_err_set(e, OYS_EDATA, "sealed code of version %d, not %d", s[0], OYS_SEAL_VERSION);
	unsigned char key[32], aad[65], tag[TAG_LEN];
	const unsigned char *epk = s + 1, *iv = s + 33, *ct = s + 45;
	size_t n = len - OYS_SEAL_OVERHEAD;
	memcpy(tag, s + len - TAG_LEN, TAG_LEN);
	if (derive(k->pkey, epk, epk, k->pub, nonce, key) < 0)
		return oys_err_set(e, OYS_EDATA, "sealed code with a server key that agrees no secret");
	aad_of(aad, id, nonce);
	size_t start = code->len;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int dummy, ok = c && oys_buf_reserve(code, n) == 0 &&
	                EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
	                EVP_DecryptUpdate(c, NULL, &dummy, aad, sizeof aad) == 1 &&
	                gcm(c, 0, ct, n, (unsigned char *)code->data + code->len) == 0 &&
	                EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
	int opened = ok && EVP_DecryptFinal_ex(c, NULL, &dummy) == 1;
	OPENSSL_cleanse(key, sizeof key);
	EVP_CIPHER_CTX_free(c);
	if (!opened) {
		if (code->data && n)
			OPENSSL_cleanse(code->data + start, n);
		code->len = start;
		if (code->data)
			code->data[start] = '\0';
		return ok ? oys_err_set(e, OYS_EDATA, "the sealed code does not open with this fetcher's key "
		                                      "(sealed to another key, for another code id or challenge, or altered)")
		          : oys_err_set(e, OYS_ESOFTWARE, "cannot open the sealed code (AES-256-GCM)");
	}
	code->len = start + n;
	code->data[code->len] = '\0';
	return 0;
}
