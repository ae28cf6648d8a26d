/* attest.c: the verifier of AWS Nitro attestation documents (the attestation-server client
 * and the decoder are in attestc.c, the command-line value parsers in attestopt.c).
 *
 * A document is untrusted bytes from the network, so nothing reaches libcbor before a bounded
 * well-formedness scan (cbor_scan) has checked it: definite lengths only, every length and
 * count within the bytes that are left (so libcbor's allocations stay proportional to the
 * input), nesting at most SCAN_DEPTH deep (libcbor frees recursively), no trailing bytes.
 * Then every field is checked for its type and size before use, and every failure is one
 * line naming the field. The verification steps are those of AWS's "Verifying the root of
 * trust": COSE_Sign1 structure, ES384 in the protected header, the signature over the rebuilt
 * Sig_structure with the leaf certificate's P-384 key, the chain cabundle[0] (= the trusted
 * root) -> ... -> leaf, validity as of the given moment. Then the caller's policy. */
#include "attest.h"
#include "codec.h"
#include "file.h"
#include "paths.h"

#include <cbor.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCAN_DEPTH 8
#define CERT_MAX 1024        /* AWS: cert = bytes .size (1..1024) */
#define CABUNDLE_MAX 16
#define MODULE_ID_MAX 255
#define SIG_LEN 96           /* ES384: r || s, 48 bytes each */
#define PCR_LEN 48           /* digest SHA384 */
#define ROOT_FILE_MAX (1 << 20)
#define FUTURE_SKEW_S 60     /* with max-age: a timestamp this far ahead is still accepted */

/* ---- bounded CBOR well-formedness scan ---- */

/* Reads the head of one data item at p[*i..n): major type and argument. Indefinite lengths
 * and reserved values are refused. Returns NULL or what is wrong. */
static const char *scan_head(const unsigned char *p, size_t n, size_t *i, int *major, int *ai,
                             uint64_t *arg)
{
	if (*i >= n)
		return "truncated";
	unsigned b = p[(*i)++];
	*major = (int)(b >> 5);
	*ai = (int)(b & 31);
	if (*ai < 24) {
		*arg = (uint64_t)*ai;
		return NULL;
	}
	if (*ai == 31)
		return "indefinite length";
	if (*ai > 27)
		return "reserved additional information";
	size_t k = (size_t)1 << (*ai - 24);
	if (n - *i < k)
		return "truncated";
	uint64_t v = 0;
	for (size_t j = 0; j < k; j++)
		v = v << 8 | p[(*i)++];
	*arg = v;
	return NULL;
}

/* Whether p[0..n) is exactly one well-formed, definite-length CBOR item, nested at most
 * SCAN_DEPTH deep, every count within the input. Returns NULL or what is wrong. */
static const char *cbor_scan(const unsigned char *p, size_t n)
{
	uint64_t pending[SCAN_DEPTH + 1];
	int depth = 0;
	size_t i = 0;
	pending[0] = 1;
	while (depth >= 0) {
		if (pending[depth] == 0) {
			depth--;
			continue;
		}
		pending[depth]--;
		int major, ai;
		uint64_t arg;
		const char *why = scan_head(p, n, &i, &major, &ai, &arg);
		if (why)
			return why;
		uint64_t left = n - i, items = 0;
		switch (major) {
		case 0: case 1:
			continue;
		case 2: case 3:
			if (arg > left)
				return "truncated";
			i += (size_t)arg;
			continue;
		case 4:
			if (arg > left) /* each element takes a byte at least */
				return "truncated";
			items = arg;
			break;
		case 5:
			if (arg > left / 2)
				return "truncated";
			items = arg * 2;
			break;
		case 6:
			items = 1;
			break;
		case 7:
			if (ai == 24 && arg < 32)
				return "bad simple value";
			continue;
		}
		if (depth == SCAN_DEPTH)
			return "nested too deep";
		pending[++depth] = items;
	}
	return i == n ? NULL : "trailing bytes";
}

/* Scans, then loads with libcbor. NULL and *why set on failure. */
static cbor_item_t *load(const unsigned char *p, size_t n, const char **why)
{
	*why = n == 0 ? "empty" : cbor_scan(p, n);
	if (*why)
		return NULL;
	struct cbor_load_result r;
	cbor_item_t *it = cbor_load(p, n, &r);
	if (it == NULL || r.error.code != CBOR_ERR_NONE || r.read != n) {
		if (it)
			cbor_decref(&it);
		*why = r.error.code == CBOR_ERR_MEMERROR ? "out of memory" : "not decodable";
		return NULL;
	}
	return it;
}

/* ---- the document's fields ---- */

struct bytes {
	const unsigned char *p;
	size_t len;
	int present;
};

struct doc {
	cbor_item_t *cose, *prot_map, *payload_map; /* owned */
	struct bytes prot, payload, sig;
	const char *module_id;
	size_t module_id_len;
	uint64_t timestamp;
	struct bytes pcr[OYS_ATTEST_MAX_PCRS];
	struct bytes cert;
	struct bytes cab[CABUNDLE_MAX];
	size_t ncab;
	struct bytes public_key, user_data, nonce;
};

static void doc_free(struct doc *d)
{
	if (d->cose)
		cbor_decref(&d->cose);
	if (d->prot_map)
		cbor_decref(&d->prot_map);
	if (d->payload_map)
		cbor_decref(&d->payload_map);
}

static int malformed(struct oys_err *e, const char *field, const char *why)
{
	return oys_err_set(e, OYS_ENOPERM, "malformed document at %s: %s", field, why);
}

static int get_bstr(const cbor_item_t *it, size_t min, size_t max, struct bytes *out)
{
	if (!cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return -1;
	size_t n = cbor_bytestring_length(it);
	if (n < min || n > max)
		return -1;
	out->p = cbor_bytestring_handle(it);
	out->len = n;
	out->present = 1;
	return 0;
}

static int text_is(const cbor_item_t *it, const char *s)
{
	size_t n = strlen(s);
	return cbor_isa_string(it) && cbor_string_is_definite(it) && cbor_string_length(it) == n &&
	       memcmp(cbor_string_handle(it), s, n) == 0;
}

/* An optional bytes field: absent or null means not present. */
static int get_opt_bstr(const cbor_item_t *it, size_t max, struct bytes *out)
{
	if (cbor_is_null(it)) {
		out->present = 0;
		return 0;
	}
	return get_bstr(it, 0, max, out);
}

/* The protected header: a bstr holding a map with alg (1) = ES384 (-35) and no crit (2). */
static int check_protected(struct doc *d, struct oys_err *e)
{
	const char *why;
	if (d->prot.len == 0)
		return oys_err_set(e, OYS_ENOPERM, "protected header has no algorithm (want ES384)");
	d->prot_map = load(d->prot.p, d->prot.len, &why);
	if (d->prot_map == NULL)
		return malformed(e, "protected header", why);
	if (!cbor_isa_map(d->prot_map))
		return malformed(e, "protected header", "not a map");
	struct cbor_pair *kv = cbor_map_handle(d->prot_map);
	size_t n = cbor_map_size(d->prot_map);
	int alg_seen = 0;
	for (size_t i = 0; i < n; i++) {
		const cbor_item_t *k = kv[i].key, *v = kv[i].value;
		if (!cbor_isa_uint(k))
			continue; /* text labels and negative ones are private or not ours */
		uint64_t label = cbor_get_int(k);
		if (label == 2)
			return oys_err_set(e, OYS_ENOPERM, "protected header has critical parameters");
		if (label != 1)
			continue;
		if (alg_seen++)
			return malformed(e, "protected header", "alg given twice");
		if (!cbor_isa_negint(v) || cbor_get_int(v) != 34) {
			if (cbor_isa_negint(v))
				return oys_err_set(e, OYS_ENOPERM, "protected header: algorithm %lld is not ES384 (-35)",
				                   -1 - (long long)(cbor_get_int(v) & 0x3fffffffffffffffULL));
			return oys_err_set(e, OYS_ENOPERM, "protected header: algorithm is not ES384 (-35)");
		}
	}
	if (!alg_seen)
		return oys_err_set(e, OYS_ENOPERM, "protected header has no algorithm (want ES384)");
	return 0;
}

static int check_pcrs(struct doc *d, const cbor_item_t *m, struct oys_err *e)
{
	if (!cbor_isa_map(m))
		return malformed(e, "payload.pcrs", "not a map");
	size_t n = cbor_map_size(m);
	if (n == 0 || n > OYS_ATTEST_MAX_PCRS)
		return malformed(e, "payload.pcrs", "not 1 to 32 entries");
	struct cbor_pair *kv = cbor_map_handle(m);
	for (size_t i = 0; i < n; i++) {
		if (!cbor_isa_uint(kv[i].key) || cbor_get_int(kv[i].key) >= OYS_ATTEST_MAX_PCRS)
			return malformed(e, "payload.pcrs", "an index is not 0 to 31");
		unsigned idx = (unsigned)cbor_get_int(kv[i].key);
		char field[48];
		snprintf(field, sizeof field, "payload.pcrs[%u]", idx);
		if (d->pcr[idx].present)
			return malformed(e, field, "given twice");
		if (get_bstr(kv[i].value, PCR_LEN, PCR_LEN, &d->pcr[idx]))
			return malformed(e, field, "not 48 bytes");
	}
	return 0;
}

static int check_payload(struct doc *d, struct oys_err *e)
{
	const char *why;
	d->payload_map = load(d->payload.p, d->payload.len, &why);
	if (d->payload_map == NULL)
		return malformed(e, "payload", why);
	if (!cbor_isa_map(d->payload_map))
		return malformed(e, "payload", "not a map");
	enum { F_MODULE_ID, F_DIGEST, F_TIMESTAMP, F_PCRS, F_CERT, F_CABUNDLE, F_PUBLIC_KEY,
	       F_USER_DATA, F_NONCE, NFIELDS };
	static const char *const names[NFIELDS] = {"module_id", "digest", "timestamp", "pcrs",
		"certificate", "cabundle", "public_key", "user_data", "nonce"};
	const cbor_item_t *f[NFIELDS] = {0};
	struct cbor_pair *kv = cbor_map_handle(d->payload_map);
	size_t n = cbor_map_size(d->payload_map);
	for (size_t i = 0; i < n; i++) {
		if (!cbor_isa_string(kv[i].key))
			return malformed(e, "payload", "a key is not text");
		for (int j = 0; j < NFIELDS; j++) {
			if (!text_is(kv[i].key, names[j]))
				continue;
			if (f[j]) {
				char field[48];
				snprintf(field, sizeof field, "payload.%s", names[j]);
				return malformed(e, field, "given twice");
			}
			f[j] = kv[i].value;
		}
	}
	for (int j = 0; j <= F_CABUNDLE; j++) {
		if (f[j] == NULL) {
			char field[48];
			snprintf(field, sizeof field, "payload.%s", names[j]);
			return malformed(e, field, "missing");
		}
	}

	const cbor_item_t *m = f[F_MODULE_ID];
	if (!cbor_isa_string(m) || !cbor_string_is_definite(m) || cbor_string_length(m) == 0 ||
	    cbor_string_length(m) > MODULE_ID_MAX)
		return malformed(e, "payload.module_id", "not text of 1 to 255 bytes");
	d->module_id = (const char *)cbor_string_handle(m);
	d->module_id_len = cbor_string_length(m);
	for (size_t i = 0; i < d->module_id_len; i++)
		if (d->module_id[i] < 0x20 || d->module_id[i] > 0x7e)
			return malformed(e, "payload.module_id", "not printable ASCII");

	if (!cbor_isa_string(f[F_DIGEST]))
		return malformed(e, "payload.digest", "not text");
	if (!text_is(f[F_DIGEST], "SHA384"))
		return malformed(e, "payload.digest", "not SHA384");

	if (!cbor_isa_uint(f[F_TIMESTAMP]) || cbor_get_int(f[F_TIMESTAMP]) == 0 ||
	    cbor_get_int(f[F_TIMESTAMP]) > (1ULL << 53))
		return malformed(e, "payload.timestamp", "not milliseconds since the epoch");
	d->timestamp = cbor_get_int(f[F_TIMESTAMP]);

	int rc = check_pcrs(d, f[F_PCRS], e);
	if (rc)
		return rc;

	if (get_bstr(f[F_CERT], 1, CERT_MAX, &d->cert))
		return malformed(e, "payload.certificate", "not bytes of 1 to 1024");

	const cbor_item_t *cab = f[F_CABUNDLE];
	if (!cbor_isa_array(cab) || cbor_array_size(cab) == 0 || cbor_array_size(cab) > CABUNDLE_MAX)
		return malformed(e, "payload.cabundle", "not an array of 1 to 16 certificates");
	d->ncab = cbor_array_size(cab);
	cbor_item_t **ci = cbor_array_handle(cab);
	for (size_t i = 0; i < d->ncab; i++) {
		if (get_bstr(ci[i], 1, CERT_MAX, &d->cab[i])) {
			char field[48];
			snprintf(field, sizeof field, "payload.cabundle[%zu]", i);
			return malformed(e, field, "not bytes of 1 to 1024");
		}
	}

	if (f[F_PUBLIC_KEY] && get_opt_bstr(f[F_PUBLIC_KEY], OYS_ATTEST_PUBLIC_KEY_MAX, &d->public_key))
		return malformed(e, "payload.public_key", "not null or bytes of at most 1024");
	if (d->public_key.present && d->public_key.len == 0)
		return malformed(e, "payload.public_key", "empty");
	if (f[F_USER_DATA] && get_opt_bstr(f[F_USER_DATA], OYS_ATTEST_USER_DATA_MAX, &d->user_data))
		return malformed(e, "payload.user_data", "not null or bytes of at most 512");
	if (f[F_NONCE] && get_opt_bstr(f[F_NONCE], OYS_ATTEST_NONCE_MAX, &d->nonce))
		return malformed(e, "payload.nonce", "not null or bytes of at most 512");
	return 0;
}

/* COSE_Sign1 = [protected: bstr, unprotected: map, payload: bstr, signature: bstr], tagged 18
 * or not. */
static int parse(const unsigned char *doc, size_t len, struct doc *d, struct oys_err *e)
{
	const char *why;
	if (len > OYS_ATTEST_DOC_MAX)
		return malformed(e, "COSE_Sign1", "larger than 65536 bytes");
	if ((why = len ? cbor_scan(doc, len) : "empty") != NULL)
		return malformed(e, "COSE_Sign1", why);
	/* The tag is taken off here: libcbor 0.8 refuses one-byte tags 6 to 20, 0xd2 among them. */
	size_t off = 0;
	if (doc[0] >> 5 == 6) {
		int major, ai;
		uint64_t tag = 0;
		scan_head(doc, len, &off, &major, &ai, &tag);
		if (tag != 18)
			return malformed(e, "COSE_Sign1", "tag is not 18 (COSE_Sign1)");
		if (doc[off] >> 5 == 6)
			return malformed(e, "COSE_Sign1", "nested tags");
	}
	d->cose = load(doc + off, len - off, &why);
	if (d->cose == NULL)
		return malformed(e, "COSE_Sign1", why);
	const cbor_item_t *a = d->cose;
	if (!cbor_isa_array(a) || cbor_array_size(a) != 4)
		return malformed(e, "COSE_Sign1", "not an array of 4");
	cbor_item_t **el = cbor_array_handle(a);
	if (get_bstr(el[0], 0, OYS_ATTEST_DOC_MAX, &d->prot))
		return malformed(e, "protected header", "not bytes");
	if (!cbor_isa_map(el[1]))
		return malformed(e, "unprotected header", "not a map");
	if (get_bstr(el[2], 1, OYS_ATTEST_DOC_MAX, &d->payload))
		return malformed(e, "payload", "not bytes");
	if (get_bstr(el[3], SIG_LEN, SIG_LEN, &d->sig))
		return malformed(e, "signature", "not 96 bytes (ES384)");
	int rc = check_protected(d, e);
	if (rc == 0)
		rc = check_payload(d, e);
	return rc;
}

/* ---- Sig_structure and signature ---- */

static int put_head(struct oys_buf *b, size_t (*enc)(size_t, unsigned char *, size_t), size_t v)
{
	unsigned char h[9];
	size_t n = enc(v, h, sizeof h);
	return n ? oys_buf_append(b, h, n) : -1;
}

int oys_attest_sig_structure(const unsigned char *prot, size_t prot_len,
                             const unsigned char *payload, size_t payload_len, struct oys_buf *out)
{
	static const char ctx[] = "Signature1";
	if (put_head(out, cbor_encode_array_start, 4) || put_head(out, cbor_encode_string_start, 10) ||
	    oys_buf_append(out, ctx, 10) || put_head(out, cbor_encode_bytestring_start, prot_len) ||
	    oys_buf_append(out, prot, prot_len) || put_head(out, cbor_encode_bytestring_start, 0) ||
	    put_head(out, cbor_encode_bytestring_start, payload_len) ||
	    oys_buf_append(out, payload, payload_len))
		return -1;
	return 0;
}

static X509 *der_cert(const struct bytes *b)
{
	const unsigned char *q = b->p;
	X509 *x = d2i_X509(NULL, &q, (long)b->len);
	if (x && q != b->p + b->len) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

/* Whether the leaf's key is EC P-384. */
static int is_p384(EVP_PKEY *k)
{
	char group[64];
	size_t glen = 0;
	return k && EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_group_name(k, group, sizeof group, &glen) == 1 &&
	       strcmp(group, "secp384r1") == 0;
}

static int check_signature(const struct doc *d, X509 *leaf, struct oys_err *e)
{
	EVP_PKEY *k = X509_get0_pubkey(leaf);
	if (!is_p384(k)) {
		ERR_clear_error();
		return oys_err_set(e, OYS_ENOPERM, "signature: the leaf certificate's key is not EC P-384");
	}
	struct oys_buf tbs = OYS_BUF_INIT;
	unsigned char *der = NULL;
	int derlen = -1, ok = 0;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(d->sig.p, SIG_LEN / 2, NULL);
	BIGNUM *s = BN_bin2bn(d->sig.p + SIG_LEN / 2, SIG_LEN / 2, NULL);
	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL; /* owned by sig now */
		derlen = i2d_ECDSA_SIG(sig, &der);
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (derlen > 0 && md &&
	    oys_attest_sig_structure(d->prot.p, d->prot.len, d->payload.p, d->payload.len, &tbs) == 0 &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, k) == 1 &&
	    EVP_DigestVerify(md, (unsigned char *)der, (size_t)derlen, (unsigned char *)tbs.data, tbs.len) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	oys_buf_free(&tbs);
	ERR_clear_error();
	return ok ? 0 : oys_err_set(e, OYS_ENOPERM, "signature does not verify");
}

/* ---- certificates ---- */

static void cert_name(X509 *x, char *out, size_t sz)
{
	X509_NAME *n = X509_get_subject_name(x);
	int i = n ? X509_NAME_get_index_by_NID(n, NID_commonName, -1) : -1;
	ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)) : NULL;
	unsigned char *u = NULL;
	int len = s ? ASN1_STRING_to_UTF8(&u, s) : -1;
	size_t o = 0;
	for (int j = 0; j < len && o + 1 < sz; j++)
		out[o++] = (u[j] >= 0x20 && u[j] < 0x7f) ? (char)u[j] : '?';
	out[o] = '\0';
	if (o == 0)
		snprintf(out, sz, "(no common name)");
	OPENSSL_free(u);
}

static void asn1_time_str(const ASN1_TIME *t, char *out, size_t sz)
{
	struct tm tm;
	if (t && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, sz, "?");
}

static void time_str(time_t t, char *out, size_t sz)
{
	struct tm tm;
	if (gmtime_r(&t, &tm))
		strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, sz, "?");
}

/* The trusted roots: every certificate of the PEM file. With path NULL, the AWS root G1 from
 * the share directory, which must match its published fingerprint. */
static int load_roots(const char *path, STACK_OF(X509) **out, struct oys_err *e)
{
	char def[4096];
	int rc;
	if (path == NULL) {
		rc = oys_share_path(OYS_ATTEST_AWS_ROOT, def, sizeof def, e);
		if (rc)
			return oys_err_set(e, OYS_ECONFIG, "the AWS Nitro root %s is not installed (give --root)",
			                   OYS_ATTEST_AWS_ROOT);
	}
	const char *file = path ? path : def;
	struct oys_buf pem = OYS_BUF_INIT;
	rc = oys_read_file(file, ROOT_FILE_MAX, &pem, e);
	if (rc) {
		oys_buf_free(&pem);
		return rc;
	}
	STACK_OF(X509) *roots = sk_X509_new_null();
	BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	X509 *x;
	while (roots && bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(roots, x))
			X509_free(x);
	ERR_clear_error();
	BIO_free(bio);
	oys_buf_free(&pem);
	if (roots == NULL || sk_X509_num(roots) == 0) {
		sk_X509_pop_free(roots, X509_free);
		return oys_err_set(e, OYS_ECONFIG, "root %s holds no PEM certificate", file);
	}
	if (path == NULL) {
		unsigned char *der = NULL;
		int n = i2d_X509(sk_X509_value(roots, 0), &der);
		char hex[65] = "";
		if (n <= 0 || sk_X509_num(roots) != 1 || oys_sha256_hex(der, (size_t)n, hex) ||
		    strcmp(hex, OYS_ATTEST_AWS_ROOT_SHA256) != 0) {
			OPENSSL_free(der);
			sk_X509_pop_free(roots, X509_free);
			return oys_err_set(e, OYS_ECONFIG, "%s is not the AWS Nitro root G1 (SHA-256 %s, want %s)",
			                   file, hex, OYS_ATTEST_AWS_ROOT_SHA256);
		}
		OPENSSL_free(der);
	}
	*out = roots;
	return 0;
}

static int same_der(X509 *x, const struct bytes *b)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	int same = n > 0 && (size_t)n == b->len && memcmp(der, b->p, b->len) == 0;
	OPENSSL_free(der);
	return same;
}

/* cabundle[0] is one of the trusted roots, byte for byte; the chain root -> cabundle[1] ->
 * ... -> leaf verifies as of `at`, using every certificate of the bundle in its order. */
static int check_chain(const struct doc *d, X509 *leaf, STACK_OF(X509) *roots, time_t at,
                       struct oys_err *e)
{
	X509 *root = NULL;
	for (int i = 0; i < sk_X509_num(roots) && !root; i++)
		if (same_der(sk_X509_value(roots, i), &d->cab[0]))
			root = sk_X509_value(roots, i);
	if (root == NULL)
		return oys_err_set(e, OYS_ENOPERM, "certificate chain: cabundle[0] is not the trusted root");

	int rc = 0;
	STACK_OF(X509) *inter = sk_X509_new_null();
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	if (inter == NULL || st == NULL || ctx == NULL || X509_STORE_add_cert(st, root) != 1) {
		rc = oys_err_set(e, OYS_ESOFTWARE, "certificate chain: out of memory");
		goto out;
	}
	for (size_t i = 1; i < d->ncab; i++) {
		X509 *x = der_cert(&d->cab[i]);
		char field[48];
		snprintf(field, sizeof field, "payload.cabundle[%zu]", i);
		if (x == NULL) {
			rc = malformed(e, field, "not a DER certificate");
			goto out;
		}
		if (!sk_X509_push(inter, x)) {
			X509_free(x);
			rc = oys_err_set(e, OYS_ESOFTWARE, "certificate chain: out of memory");
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, st, leaf, inter) != 1) {
		rc = oys_err_set(e, OYS_ESOFTWARE, "certificate chain: cannot set up verification");
		goto out;
	}
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_depth(vp, (int)d->ncab);
	X509_VERIFY_PARAM_set_time(vp, at);
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
		char name[128] = "?", when[32], asof[32];
		if (bad)
			cert_name(bad, name, sizeof name);
		time_str(at, asof, sizeof asof);
		if (err == X509_V_ERR_CERT_HAS_EXPIRED && bad) {
			asn1_time_str(X509_get0_notAfter(bad), when, sizeof when);
			rc = oys_err_set(e, OYS_ENOPERM, "expired: certificate '%s' was valid until %s (as of %s)",
			                 name, when, asof);
		} else if (err == X509_V_ERR_CERT_NOT_YET_VALID && bad) {
			asn1_time_str(X509_get0_notBefore(bad), when, sizeof when);
			rc = oys_err_set(e, OYS_ENOPERM, "not yet valid: certificate '%s' is valid from %s (as of %s)",
			                 name, when, asof);
		} else {
			rc = oys_err_set(e, OYS_ENOPERM, "certificate chain: %s at depth %d ('%s')",
			                 X509_verify_cert_error_string(err), depth, name);
		}
		goto out;
	}
	/* The chain found is exactly leaf, cabundle[n-1], ..., cabundle[1], root. */
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	if (chain == NULL || (size_t)sk_X509_num(chain) != d->ncab + 1) {
		rc = oys_err_set(e, OYS_ENOPERM, "certificate chain: the cabundle is not the chain of the leaf");
		goto out;
	}
	for (size_t i = 1; i <= d->ncab; i++) {
		if (!same_der(sk_X509_value(chain, (int)i), &d->cab[d->ncab - i])) {
			rc = oys_err_set(e, OYS_ENOPERM, "certificate chain: the cabundle is not the chain of the leaf");
			goto out;
		}
	}
	uint32_t ku = X509_get_key_usage(leaf);
	if (ku != UINT32_MAX && !(ku & KU_DIGITAL_SIGNATURE))
		rc = oys_err_set(e, OYS_ENOPERM, "certificate chain: the leaf may not sign (key usage)");
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_pop_free(inter, X509_free);
	ERR_clear_error();
	return rc;
}

/* ---- policy and output ---- */

static int check_policy(const struct doc *d, const struct oys_attest_policy *p, time_t at,
                        struct oys_err *e)
{
	for (size_t i = 0; i < p->npcrs; i++) {
		const struct oys_attest_pcr *w = &p->pcrs[i];
		if (w->index < 0 || w->index >= OYS_ATTEST_MAX_PCRS)
			return oys_err_set(e, OYS_ENOPERM, "pcr %d mismatch: no such register", w->index);
		const struct bytes *h = &d->pcr[w->index];
		if (!h->present)
			return oys_err_set(e, OYS_ENOPERM, "pcr %d mismatch: not in the document", w->index);
		if (h->len != w->len || memcmp(h->p, w->value, w->len) != 0)
			return oys_err_set(e, OYS_ENOPERM, "pcr %d mismatch", w->index);
	}
	if (p->max_age_s > 0) {
		long long ts = (long long)(d->timestamp / 1000), now = (long long)at;
		char tsbuf[32], atbuf[32];
		time_str((time_t)ts, tsbuf, sizeof tsbuf);
		time_str(at, atbuf, sizeof atbuf);
		if (now - ts > p->max_age_s)
			return oys_err_set(e, OYS_ENOPERM, "too old: timestamp %s is %lld s before %s (max-age %lld)",
			                   tsbuf, now - ts, atbuf, p->max_age_s);
		if (ts - now > FUTURE_SKEW_S)
			return oys_err_set(e, OYS_ENOPERM, "timestamp %s is %lld s after %s (in the future)",
			                   tsbuf, ts - now, atbuf);
	}
	if (p->nonce) {
		if (!d->nonce.present)
			return oys_err_set(e, OYS_ENOPERM, "nonce mismatch: the document has none");
		if (d->nonce.len != p->nonce_len || memcmp(d->nonce.p, p->nonce, p->nonce_len) != 0)
			return oys_err_set(e, OYS_ENOPERM, "nonce mismatch");
	}
	if (p->public_key) {
		if (!d->public_key.present)
			return oys_err_set(e, OYS_ENOPERM, "public_key mismatch: the document has none");
		if (d->public_key.len != p->public_key_len ||
		    memcmp(d->public_key.p, p->public_key, p->public_key_len) != 0)
			return oys_err_set(e, OYS_ENOPERM, "public_key mismatch");
	}
	return 0;
}

static jv hex_or_null(const struct bytes *b)
{
	if (!b->present)
		return jv_null();
	struct oys_buf h = OYS_BUF_INIT;
	if (oys_hex_encode(&h, b->p, b->len) < 0)
		return jv_invalid();
	jv s = jv_string_sized(h.data ? h.data : "", (int)h.len);
	oys_buf_free(&h);
	return s;
}

static jv payload_json(const struct doc *d)
{
	jv o = jv_object();
	o = jv_object_set(o, jv_string("module_id"), jv_string_sized(d->module_id, (int)d->module_id_len));
	o = jv_object_set(o, jv_string("digest"), jv_string("SHA384"));
	o = jv_object_set(o, jv_string("timestamp"), jv_number((double)d->timestamp));
	jv pcrs = jv_object();
	for (int i = 0; i < OYS_ATTEST_MAX_PCRS; i++) {
		if (!d->pcr[i].present)
			continue;
		char k[16];
		snprintf(k, sizeof k, "%d", i);
		pcrs = jv_object_set(pcrs, jv_string(k), hex_or_null(&d->pcr[i]));
	}
	o = jv_object_set(o, jv_string("pcrs"), pcrs);
	o = jv_object_set(o, jv_string("public_key"), hex_or_null(&d->public_key));
	o = jv_object_set(o, jv_string("user_data"), hex_or_null(&d->user_data));
	o = jv_object_set(o, jv_string("nonce"), hex_or_null(&d->nonce));
	return o;
}

int oys_attest_verify(const unsigned char *doc, size_t len, const struct oys_attest_policy *p,
                      jv *payload, struct oys_err *e)
{
	static const struct oys_attest_policy none = {0};
	struct doc d;
	X509 *leaf = NULL;
	STACK_OF(X509) *roots = NULL;
	if (p == NULL)
		p = &none;
	memset(&d, 0, sizeof d);
	time_t at = p->at ? p->at : time(NULL);

	int rc = doc == NULL ? malformed(e, "COSE_Sign1", "empty") : parse(doc, len, &d, e);
	if (rc)
		goto out;
	leaf = der_cert(&d.cert);
	if (leaf == NULL) {
		rc = malformed(e, "payload.certificate", "not a DER certificate");
		goto out;
	}
	if ((rc = check_signature(&d, leaf, e)) != 0)
		goto out;
	if ((rc = load_roots(p->root_pem, &roots, e)) != 0)
		goto out;
	if ((rc = check_chain(&d, leaf, roots, at, e)) != 0)
		goto out;
	if ((rc = check_policy(&d, p, at, e)) != 0)
		goto out;
	if (payload) {
		*payload = payload_json(&d);
		if (!jv_is_valid(*payload)) {
			jv_free(*payload);
			*payload = jv_null();
			rc = oys_err_set(e, OYS_ESOFTWARE, "out of memory");
		}
	}
out:
	sk_X509_pop_free(roots, X509_free);
	X509_free(leaf);
	doc_free(&d);
	return rc;
}
