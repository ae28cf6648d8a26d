/* attestdev.c: a development issuer of Nitro-shaped attestation documents, and the HTTP
 * endpoint of the attestation server (GET /attestation/raw and /attestation/hex) around it.
 *
 * The documents have the structure of real ones (COSE_Sign1, ES384, every payload field,
 * cabundle root first, 16 PCRs of 48 bytes), but their chain ends in a development root that
 * lives in a state directory: a verifier trusts them only when told to trust that root. */
#include "attest.h"
#include "codec.h"
#include "file.h"
#include "httpd.h"
#include "json.h"
#include "log.h"

#include <cbor.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CA_YEARS 10
#define LEAF_SECONDS (3 * 3600) /* like a Nitro enclave's leaf certificate */
#define PEM_MAX (64 * 1024)

/* ---- digests and PCRs ---- */

static void sha384(const void *a, size_t an, const void *b, size_t bn, unsigned char out[48])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 0;
	if (c == NULL || EVP_DigestInit_ex(c, EVP_sha384(), NULL) != 1 ||
	    EVP_DigestUpdate(c, a, an) != 1 || (bn && EVP_DigestUpdate(c, b, bn) != 1) ||
	    EVP_DigestFinal_ex(c, out, &n) != 1)
		memset(out, 0, 48);
	EVP_MD_CTX_free(c);
}

void oys_attest_dev_default_digest(unsigned char out[48])
{
	sha384("", 0, NULL, 0, out);
}

int oys_attest_dev_file_digest(const char *path, unsigned char out[48], struct oys_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot open image %s", path);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha384(), NULL) == 1;
	unsigned char buf[65536];
	ssize_t n;
	while (ok && (n = read(fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			EVP_MD_CTX_free(c);
			close(fd);
			errno = saved;
			return oys_err_sys(e, OYS_EIO, "cannot read image %s", path);
		}
		ok = EVP_DigestUpdate(c, buf, (size_t)n) == 1;
	}
	unsigned int len = 0;
	ok = ok && EVP_DigestFinal_ex(c, out, &len) == 1 && len == 48;
	EVP_MD_CTX_free(c);
	close(fd);
	return ok ? 0 : oys_err_set(e, OYS_ESOFTWARE, "SHA-384 of %s failed", path);
}

/* PCRs 0..15 for an image digest. */
static void oys_attest_dev_pcrs(const unsigned char digest[48], unsigned char pcrs[16][48])
{
	memset(pcrs, 0, 16 * 48);
	memcpy(pcrs[0], digest, 48);
	sha384(digest, 48, "\x01", 1, pcrs[1]);
	sha384(digest, 48, "\x02", 1, pcrs[2]);
}

/* ---- the development CA ---- */

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* A certificate for key, signed by issuer_key (self-signed when issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *ou,
                       const char *cn, int ca, time_t from, time_t to)
{
	X509 *x = X509_new();
	BIGNUM *serial = BN_new();
	int ok = x && serial && X509_set_version(x, X509_VERSION_3) == 1 &&
	         BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
	         BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
	         ASN1_TIME_set(X509_getm_notBefore(x), from) != NULL &&
	         ASN1_TIME_set(X509_getm_notAfter(x), to) != NULL;
	X509_NAME *n = x ? X509_get_subject_name(x) : NULL;
	ok = ok && n &&
	     X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC, (const unsigned char *)"US", -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"oys", -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0) == 1 &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) == 1 &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n) == 1 &&
	     X509_set_pubkey(x, key) == 1;
	if (ok && ca)
		ok = add_ext(x, issuer, NID_basic_constraints, issuer ? "critical,CA:TRUE,pathlen:0"
		                                                      : "critical,CA:TRUE,pathlen:1") == 0 &&
		     add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
	else if (ok)
		ok = add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
		     add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") == 0;
	ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0 &&
	     add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0 &&
	     X509_sign(x, issuer_key ? issuer_key : key, EVP_sha384()) > 0;
	BN_free(serial);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static int write_pem(const char *dir, const char *name, X509 *cert, EVP_PKEY *key,
                     struct oys_err *e)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return oys_err_set(e, OYS_ECONFIG, "%s: path too long", dir);
	BIO *b = BIO_new(BIO_s_mem());
	int ok = b && (cert ? PEM_write_bio_X509(b, cert) : PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) == 1;
	char *p = NULL;
	long n = ok ? BIO_get_mem_data(b, &p) : 0;
	int rc = ok && n > 0 ? oys_write_atomic(path, p, (size_t)n, cert ? 0644 : 0600, e)
	                     : oys_err_set(e, OYS_ESOFTWARE, "cannot encode %s", path);
	BIO_free(b);
	ERR_clear_error();
	return rc;
}

static int read_pem(const char *dir, const char *name, X509 **cert, EVP_PKEY **key,
                    struct oys_err *e)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return oys_err_set(e, OYS_ECONFIG, "%s: path too long", dir);
	struct oys_buf b = OYS_BUF_INIT;
	int rc = oys_read_file(path, PEM_MAX, &b, e);
	if (rc) {
		oys_buf_free(&b);
		return oys_err_set(e, OYS_ECONFIG, "development CA: cannot read %s (remove %s to start over)", path, dir);
	}
	BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
	if (cert)
		*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	else
		*key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	oys_buf_free(&b);
	ERR_clear_error();
	if (cert ? *cert == NULL : *key == NULL)
		return oys_err_set(e, OYS_ECONFIG, "development CA: %s is not a PEM %s (remove %s to start over)",
		                   path, cert ? "certificate" : "key", dir);
	return 0;
}

/* The state directory (mode 0700); the default one under the runtime directory, which is
 * created as the other tools create it. */
static int state_path(const char *state_dir, char *out, size_t sz, struct oys_err *e)
{
	if (state_dir == NULL) {
		int rc = oys_runtime_subdir(NULL, out, sz, e);
		if (rc)
			return rc;
	}
	int n = state_dir ? snprintf(out, sz, "%s", state_dir)
	                  : snprintf(out, sz, "%s/%s", oys_runtime_dir(), OYS_ATTEST_DEV_SUBDIR);
	if (n < 0 || (size_t)n >= sz)
		return oys_err_set(e, OYS_ECONFIG, "state directory: path too long");
	return oys_mkdir_p(out, 0700, e);
}

static int generate_ca(const char *dir, struct oys_err *e)
{
	time_t now = time(NULL);
	time_t to = now + (time_t)CA_YEARS * 365 * 86400;
	EVP_PKEY *rk = new_key(), *ik = new_key();
	X509 *root = rk ? make_cert(rk, NULL, NULL, "development", "oys-dev.nitro-enclaves", 1, now - 3600, to) : NULL;
	X509 *inter = root && ik ? make_cert(ik, root, rk, "development", "oys-dev.intermediate", 1, now - 3600, to) : NULL;
	int rc;
	if (root == NULL || inter == NULL)
		rc = oys_err_set(e, OYS_ESOFTWARE, "cannot create the development CA");
	else if ((rc = write_pem(dir, "root.key", NULL, rk, e)) == 0 &&
	         (rc = write_pem(dir, "ca.key", NULL, ik, e)) == 0 &&
	         (rc = write_pem(dir, "ca.pem", inter, NULL, e)) == 0)
		rc = write_pem(dir, "root.pem", root, NULL, e); /* last: its presence means complete */
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	ERR_clear_error();
	return rc;
}

int oys_attest_dev_init(const char *state_dir, char *root_pem, size_t sz, struct oys_err *e)
{
	char dir[PATH_MAX], lock[PATH_MAX + 16];
	int rc = state_path(state_dir, dir, sizeof dir, e);
	if (rc)
		return rc;
	if ((size_t)snprintf(root_pem, sz, "%s/root.pem", dir) >= sz)
		return oys_err_set(e, OYS_ECONFIG, "state directory %s: path too long", dir);
	if (access(root_pem, R_OK) == 0)
		return 0;
	snprintf(lock, sizeof lock, "%s/.lock", dir);
	int fd = oys_lock_path(lock, 1);
	if (fd < 0)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot lock %s", lock);
	if (access(root_pem, R_OK) != 0)
		rc = generate_ca(dir, e);
	close(fd);
	return rc;
}

/* ---- CBOR encoding through libcbor's encoders ---- */

struct enc {
	struct oys_buf b;
	int bad;
};

static void put(struct enc *c, const unsigned char *h, size_t n)
{
	if (n == 0 || oys_buf_append(&c->b, h, n) < 0)
		c->bad = 1;
}

static void e_uint(struct enc *c, uint64_t v)
{
	unsigned char h[9];
	put(c, h, cbor_encode_uint(v, h, sizeof h));
}

static void e_negint(struct enc *c, uint64_t v)
{
	unsigned char h[9];
	put(c, h, cbor_encode_negint(v, h, sizeof h));
}

static void e_map(struct enc *c, size_t n)
{
	unsigned char h[9];
	put(c, h, cbor_encode_map_start(n, h, sizeof h));
}

static void e_array(struct enc *c, size_t n)
{
	unsigned char h[9];
	put(c, h, cbor_encode_array_start(n, h, sizeof h));
}

static void e_text(struct enc *c, const char *s)
{
	unsigned char h[9];
	size_t n = strlen(s);
	put(c, h, cbor_encode_string_start(n, h, sizeof h));
	if (n)
		put(c, (const unsigned char *)s, n);
}

static void e_bytes(struct enc *c, const void *p, size_t n)
{
	unsigned char h[9];
	put(c, h, cbor_encode_bytestring_start(n, h, sizeof h));
	if (n)
		put(c, p, n);
}

static void e_opt_bytes(struct enc *c, const unsigned char *p, size_t n)
{
	unsigned char h[1];
	if (p == NULL)
		put(c, h, cbor_encode_null(h, sizeof h));
	else
		e_bytes(c, p, n);
}

static int der(X509 *x, unsigned char **out)
{
	*out = NULL;
	return i2d_X509(x, out);
}

/* ES384 over the Sig_structure, as COSE wants it: r || s, 48 bytes each. */
static int sign_es384(EVP_PKEY *k, const struct oys_buf *tbs, unsigned char sig[96])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char dsig[128];
	size_t dlen = sizeof dsig;
	int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, k) == 1 &&
	         EVP_DigestSign(md, dsig, &dlen, (const unsigned char *)tbs->data, tbs->len) == 1;
	EVP_MD_CTX_free(md);
	const unsigned char *q = dsig;
	ECDSA_SIG *s = ok ? d2i_ECDSA_SIG(NULL, &q, (long)dlen) : NULL;
	ok = s && BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 48) == 48 &&
	     BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 48, 48) == 48;
	ECDSA_SIG_free(s);
	return ok ? 0 : -1;
}

static int check_extra(const struct oys_attest_extra *x, struct oys_err *e)
{
	if (x->public_key && (x->public_key_len == 0 || x->public_key_len > OYS_ATTEST_PUBLIC_KEY_MAX))
		return oys_err_set(e, OYS_EUSAGE, "public_key: 1 to %d bytes", OYS_ATTEST_PUBLIC_KEY_MAX);
	if (x->user_data && x->user_data_len > OYS_ATTEST_USER_DATA_MAX)
		return oys_err_set(e, OYS_EUSAGE, "user_data: at most %d bytes", OYS_ATTEST_USER_DATA_MAX);
	if (x->nonce && x->nonce_len > OYS_ATTEST_NONCE_MAX)
		return oys_err_set(e, OYS_EUSAGE, "nonce: at most %d bytes", OYS_ATTEST_NONCE_MAX);
	return 0;
}

int oys_attest_dev_issue(const struct oys_attest_dev *d, struct oys_buf *doc, struct oys_err *e)
{
	char root_pem[PATH_MAX], dir[PATH_MAX];
	int rc = check_extra(&d->x, e);
	if (rc == 0)
		rc = oys_attest_dev_init(d->state_dir, root_pem, sizeof root_pem, e);
	if (rc)
		return rc;
	snprintf(dir, sizeof dir, "%.*s", (int)(strlen(root_pem) - strlen("/root.pem")), root_pem);

	X509 *root = NULL, *inter = NULL, *leaf = NULL;
	EVP_PKEY *ik = NULL, *lk = NULL;
	unsigned char *root_der = NULL, *inter_der = NULL, *leaf_der = NULL;
	struct enc pl = {OYS_BUF_INIT, 0}, pr = {OYS_BUF_INIT, 0}, out = {OYS_BUF_INIT, 0};
	struct oys_buf tbs = OYS_BUF_INIT;
	if ((rc = read_pem(dir, "root.pem", &root, NULL, e)) != 0 ||
	    (rc = read_pem(dir, "ca.pem", &inter, NULL, e)) != 0 ||
	    (rc = read_pem(dir, "ca.key", NULL, &ik, e)) != 0)
		goto done;

	int rlen = der(root, &root_der), ilen = der(inter, &inter_der);
	char fp[65], module_id[64];
	if (rlen <= 0 || ilen <= 0 || oys_sha256_hex(root_der, (size_t)rlen, fp)) {
		rc = oys_err_set(e, OYS_ESOFTWARE, "development CA: cannot encode");
		goto done;
	}
	/* Shaped like a Nitro module id: i-<17 hex>-enc<16 hex>, fixed per state directory. */
	snprintf(module_id, sizeof module_id, "i-%.17s-enc%.16s", fp, fp + 17);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	lk = new_key();
	leaf = lk ? make_cert(lk, inter, ik, "development enclave", module_id, 0, ts.tv_sec - 60,
	                      ts.tv_sec + LEAF_SECONDS) : NULL;
	int llen = leaf ? der(leaf, &leaf_der) : -1;
	if (llen <= 0) {
		rc = oys_err_set(e, OYS_ESOFTWARE, "cannot create the leaf certificate");
		goto done;
	}

	unsigned char pcrs[16][48];
	oys_attest_dev_pcrs(d->image_digest, pcrs);
	e_map(&pl, 9);
	e_text(&pl, "module_id");
	e_text(&pl, module_id);
	e_text(&pl, "digest");
	e_text(&pl, "SHA384");
	e_text(&pl, "timestamp");
	e_uint(&pl, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
	e_text(&pl, "pcrs");
	e_map(&pl, 16);
	for (int i = 0; i < 16; i++) {
		e_uint(&pl, (uint64_t)i);
		e_bytes(&pl, pcrs[i], 48);
	}
	e_text(&pl, "certificate");
	e_bytes(&pl, leaf_der, (size_t)llen);
	e_text(&pl, "cabundle");
	e_array(&pl, 2);
	e_bytes(&pl, root_der, (size_t)rlen);
	e_bytes(&pl, inter_der, (size_t)ilen);
	e_text(&pl, "public_key");
	e_opt_bytes(&pl, d->x.public_key, d->x.public_key_len);
	e_text(&pl, "user_data");
	e_opt_bytes(&pl, d->x.user_data, d->x.user_data_len);
	e_text(&pl, "nonce");
	e_opt_bytes(&pl, d->x.nonce, d->x.nonce_len);

	e_map(&pr, 1); /* {1: -35}: alg ES384 */
	e_uint(&pr, 1);
	e_negint(&pr, 34);

	unsigned char sig[96];
	if (pl.bad || pr.bad ||
	    oys_attest_sig_structure((unsigned char *)pr.b.data, pr.b.len, (unsigned char *)pl.b.data,
	                             pl.b.len, &tbs) < 0 ||
	    sign_es384(lk, &tbs, sig) < 0) {
		rc = oys_err_set(e, OYS_ESOFTWARE, "cannot sign the document");
		goto done;
	}
	e_array(&out, 4);
	e_bytes(&out, pr.b.data, pr.b.len);
	e_map(&out, 0);
	e_bytes(&out, pl.b.data, pl.b.len);
	e_bytes(&out, sig, sizeof sig);
	if (out.bad || oys_buf_append(doc, out.b.data, out.b.len) < 0)
		rc = oys_err_set(e, OYS_EOSERR, "out of memory");
done:
	OPENSSL_free(root_der);
	OPENSSL_free(inter_der);
	OPENSSL_free(leaf_der);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	oys_buf_free(&pl.b);
	oys_buf_free(&pr.b);
	oys_buf_free(&out.b);
	oys_buf_free(&tbs);
	ERR_clear_error();
	return rc;
}

/* ---- the HTTP endpoint ---- */

struct query {
	struct oys_buf v[3];
	int seen[3];
};

static const char *const qnames[3] = {"public_key", "user_data", "nonce"};
static const size_t qmax[3] = {OYS_ATTEST_PUBLIC_KEY_MAX, OYS_ATTEST_USER_DATA_MAX, OYS_ATTEST_NONCE_MAX};

/* public_key, user_data, nonce as hex; other parameters are ignored. Returns 0, or -1 with
 * what is wrong in msg. */
static int parse_query(const char *q, struct query *out, char *msg, size_t msz)
{
	while (q && *q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kn = eq ? (size_t)(eq - q) : n;
		for (int i = 0; i < 3; i++) {
			if (strlen(qnames[i]) != kn || memcmp(q, qnames[i], kn) != 0)
				continue;
			const char *v = eq ? eq + 1 : q + n;
			size_t vn = (size_t)(q + n - v);
			if (out->seen[i]++) {
				snprintf(msg, msz, "query parameter %s given twice", qnames[i]);
				return -1;
			}
			if (vn / 2 > qmax[i]) {
				snprintf(msg, msz, "query parameter %s: at most %zu bytes", qnames[i], qmax[i]);
				return -1;
			}
			if (oys_hex_decode(&out->v[i], v, vn) < 0) {
				snprintf(msg, msz, "query parameter %s: not hex", qnames[i]);
				return -1;
			}
			if (i == 0 && vn == 0) {
				snprintf(msg, msz, "query parameter public_key: empty");
				return -1;
			}
		}
		q += n;
		if (*q == '&')
			q++;
	}
	return 0;
}

static void log_request(const char *peer, const char *method, const char *path, int status, double t0)
{
	jv ev = oys_json_set_str(jv_object(), "event", "attestation");
	ev = oys_json_set_str(ev, "peer", peer ? peer : "-");
	ev = oys_json_set_str(ev, "method", method);
	ev = oys_json_set_str(ev, "path", path);
	ev = oys_json_set_num(ev, "status", status);
	ev = oys_json_set_num(ev, "ms", (double)(long)((oys_now_ms() - t0) * 10) / 10);
	oys_log_event(ev);
}

int oys_attest_dev_serve(int in, int out, const struct oys_attest_dev *d, struct oys_err *e)
{
	struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
	struct oys_http_request r;
	struct oys_err re = {0};
	struct query q;
	struct oys_buf doc = OYS_BUF_INIT;
	double t0 = oys_now_ms();
	int status, sent;
	char msg[256];
	lim.max_body = 4096;
	memset(&r, 0, sizeof r);
	memset(&q, 0, sizeof q);

	int st = oys_http_read_request(in, out, &lim, &r, &re);
	if (st < 0)
		return 0; /* closed without a request */
	const char *method = r.method[0] ? r.method : "-";
	const char *path = r.path ? r.path : "-";
	int hex = r.path && strcmp(r.path, "/attestation/hex") == 0;
	if (st > 0) {
		status = st;
		sent = oys_http_respond_error(out, st, "bad_request", re.msg, NULL, NULL, NULL, 0);
	} else if (!hex && strcmp(r.path, "/attestation/raw") != 0) {
		status = 404;
		sent = oys_http_respond_error(out, 404, "not_found",
		                              "no such endpoint: GET /attestation/raw or /attestation/hex",
		                              NULL, NULL, NULL, 0);
	} else if (strcmp(r.method, "GET") != 0) {
		struct oys_header allow = {"Allow", "GET"};
		status = 405;
		sent = oys_http_respond_error(out, 405, "method_not_allowed", "use GET", NULL, NULL, &allow, 1);
	} else if (parse_query(r.query, &q, msg, sizeof msg) < 0) {
		status = 400;
		sent = oys_http_respond_error(out, 400, "bad_request", msg, NULL, NULL, NULL, 0);
	} else {
		/* what the request asks for, else what the server was given (serve --public-key) */
		struct oys_attest_dev dd = *d;
		struct oys_buf *v = q.v;
		if (q.seen[0]) {
			dd.x.public_key = (unsigned char *)(v[0].data ? v[0].data : "");
			dd.x.public_key_len = v[0].len;
		}
		if (q.seen[1]) {
			dd.x.user_data = (unsigned char *)(v[1].data ? v[1].data : "");
			dd.x.user_data_len = v[1].len;
		}
		if (q.seen[2]) {
			dd.x.nonce = (unsigned char *)(v[2].data ? v[2].data : "");
			dd.x.nonce_len = v[2].len;
		}
		struct oys_err ie = {0};
		if (oys_attest_dev_issue(&dd, &doc, &ie) != 0) {
			status = 500;
			oys_warn("%s", ie.msg);
			sent = oys_http_respond_error(out, 500, "internal", ie.msg, NULL, NULL, NULL, 0);
		} else if (hex) {
			struct oys_buf h = OYS_BUF_INIT;
			status = 200;
			if (oys_hex_encode(&h, doc.data, doc.len) < 0) {
				status = 500;
				sent = oys_http_respond_error(out, 500, "internal", "out of memory", NULL, NULL, NULL, 0);
			} else {
				sent = oys_http_respond(out, 200, "text/plain", NULL, 0, h.data, h.len);
			}
			oys_buf_free(&h);
		} else {
			status = 200;
			sent = oys_http_respond(out, 200, "application/octet-stream", NULL, 0, doc.data, doc.len);
		}
	}
	log_request(d->peer, method, path, status, t0);
	for (int i = 0; i < 3; i++)
		oys_buf_free(&q.v[i]);
	oys_buf_free(&doc);
	oys_http_request_free(&r);
	if (sent < 0)
		return oys_err_sys(e, OYS_EIO, "cannot answer the request");
	return 0;
}
