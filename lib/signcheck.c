/* signcheck.c: a signed answer checked offline against an attestation document. Like
 * OpenBSD signify's verification: every check fails closed with one message that names it. */
#include "signcheck.h"

#include "codec.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int oys_sig_parse_hex(const char *s, unsigned char sig[OYS_SIGN_SIG_LEN])
{
	struct oys_buf b = OYS_BUF_INIT;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	size_t n = strlen(s);
	int rc = n == 2 * OYS_SIGN_SIG_LEN && oys_hex_decode(&b, s, n) == 0 ? 0 : -1;
	if (rc == 0)
		memcpy(sig, b.data, OYS_SIGN_SIG_LEN);
	oys_buf_free(&b);
	return rc;
}

/* ---- curl -i output ---- */

/* Unix seconds as the signer writes them: decimal digits, no sign, no leading zero. */
static int parse_timestamp(const char *s, long long *out)
{
	size_t n = strlen(s);
	if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
		return -1;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The end of the head that starts at p (the blank line), or NULL; *body is set past it. */
static char *head_end(char *p, char *end, char **body)
{
	for (char *q = p; q < end; q++) {
		if (*q != '\n')
			continue;
		if (q + 1 < end && q[1] == '\n') {
			*body = q + 2;
			return q + 1;
		}
		if (q + 2 < end && q[1] == '\r' && q[2] == '\n') {
			*body = q + 3;
			return q + 1;
		}
	}
	return NULL;
}

struct hdr {
	const char *name;
	char *value;
};

int oys_answer_from_curl(char *buf, size_t len, struct oys_answer *a, struct oys_err *e)
{
	char *end = buf + len, *p = buf, *body = NULL, *hend;
	int status;
	/* skip 100 Continue and other interim answers */
	for (;;) {
		if (len < 12 || strncmp(p, "HTTP/", 5) != 0)
			return oys_err_set(e, OYS_EDATA, "not a curl -i output: no HTTP status line");
		hend = head_end(p, end, &body);
		if (hend == NULL)
			return oys_err_set(e, OYS_EDATA, "not a curl -i output: the headers never end");
		char *sp = memchr(p, ' ', (size_t)(hend - p));
		if (sp == NULL || hend - sp < 4 || sp[1] < '1' || sp[1] > '9' || sp[2] < '0' || sp[2] > '9' ||
		    sp[3] < '0' || sp[3] > '9' || (sp[4] != ' ' && sp[4] != '\r' && sp[4] != '\n'))
			return oys_err_set(e, OYS_EDATA, "not a curl -i output: bad status line");
		status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		if (status >= 200)
			break;
		p = body;
		len = (size_t)(end - p);
	}
	a->f.status = status;
	a->has_status = 1;

	struct hdr h[] = {{"X-Signature", NULL}, {"X-Oyster-Signature", NULL},
	                  {"X-Oyster-Timestamp", NULL}, {"X-Oyster-Code-Id", NULL},
	                  {"X-Oyster-Request-Id", NULL}, {"Content-Length", NULL}};
	size_t nh = sizeof h / sizeof h[0];
	char *line = (char *)memchr(p, '\n', (size_t)(hend - p)) + 1; /* after the status line */
	while (line < hend) {
		char *nl = memchr(line, '\n', (size_t)(hend - line));
		char *le = nl;
		if (le > line && le[-1] == '\r')
			le--;
		*le = '\0';
		char *colon = strchr(line, ':');
		if (colon == NULL)
			return oys_err_set(e, OYS_EDATA, "not a curl -i output: header line without a colon");
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *t = le; t > v && (t[-1] == ' ' || t[-1] == '\t');)
			*--t = '\0';
		for (size_t i = 0; i < nh; i++) {
			if ((size_t)(colon - line) != strlen(h[i].name) ||
			    strncasecmp(line, h[i].name, (size_t)(colon - line)) != 0)
				continue;
			if (h[i].value)
				return oys_err_set(e, OYS_EDATA, "%s appears twice", h[i].name);
			h[i].value = v;
		}
		line = nl + 1;
	}

	if (h[0].value) {
		if (oys_sig_parse_hex(h[0].value, a->v2_sig) < 0)
			return oys_err_set(e, OYS_EDATA, "X-Signature is not 65 bytes of hex");
		a->has_v2 = 1;
	}
	if (h[1].value) {
		if (oys_sig_parse_hex(h[1].value, a->oys_sig) < 0)
			return oys_err_set(e, OYS_EDATA, "X-Oyster-Signature is not 65 bytes of hex");
		a->has_oys = 1;
	}
	if (h[2].value) {
		if (parse_timestamp(h[2].value, &a->f.timestamp) < 0)
			return oys_err_set(e, OYS_EDATA, "X-Oyster-Timestamp '%.40s' is not unix seconds", h[2].value);
		a->has_timestamp = 1;
	}
	a->f.code_id = h[3].value;
	a->f.request_id = h[4].value;
	a->resp = body;
	a->resp_len = (size_t)(end - body);
	if (h[5].value) {
		char *ep;
		unsigned long long cl = strtoull(h[5].value, &ep, 10);
		if (*ep || ep == h[5].value || cl != a->resp_len)
			return oys_err_set(e, OYS_EDATA, "the body is %zu bytes but Content-Length says %.40s",
			                   a->resp_len, h[5].value);
	}
	return 0;
}

/* ---- verification ---- */

/* Recovers the signer of one signature and compares it with the attested key. */
static int check_one(const char *header, enum oys_sig_format f, const struct oys_answer *a,
                     const unsigned char *sig, const unsigned char key[OYS_SIGN_PUBKEY_LEN],
                     struct oys_err *e)
{
	unsigned char d[OYS_KECCAK256_LEN], pub[OYS_SIGN_PUBKEY_LEN];
	int rc = oys_sig_digest(f, &a->f, a->req, a->req_len, a->resp, a->resp_len, d, e);
	if (rc == 0)
		rc = oys_sign_recover(d, sig, pub, e);
	if (rc) {
		oys_err_wrap(e, "%s", header);
		return rc;
	}
	if (memcmp(pub, key, OYS_SIGN_PUBKEY_LEN) != 0) {
		char got[OYS_SIGN_ADDRESS_LEN + 1], want[OYS_SIGN_ADDRESS_LEN + 1];
		oys_sign_address(pub, got);
		oys_sign_address(key, want);
		return oys_err_set(e, OYS_ENOPERM, "%s: signed by %s, not by the attested key %s "
		                   "(or the answer was changed)", header, got, want);
	}
	return 0;
}

int oys_answer_verify(const unsigned char *doc, size_t doc_len, const struct oys_attest_policy *p,
                      const struct oys_answer *a, int require_oys, jv *report, struct oys_err *e)
{
	if (!a->has_v2)
		return oys_err_set(e, OYS_EDATA, "the answer has no X-Signature");
	if (a->has_oys && !a->has_status)
		return oys_err_set(e, OYS_EDATA, "X-Oyster-Signature needs the answer's status");
	if (a->has_oys && !a->has_timestamp)
		return oys_err_set(e, OYS_EDATA, "X-Oyster-Signature without X-Oyster-Timestamp");

	jv payload = jv_invalid();
	int rc = oys_attest_verify(doc, doc_len, p, &payload, e);
	if (rc) {
		oys_err_wrap(e, "attestation");
		return rc;
	}
	const char *pk = oys_json_get_str(payload, "public_key");
	struct oys_buf key = OYS_BUF_INIT;
	if (pk == NULL)
		rc = oys_err_set(e, OYS_ENOPERM, "attestation: the document has no public_key to sign with");
	else if (oys_hex_decode(&key, pk, strlen(pk)) < 0 || key.len != OYS_SIGN_PUBKEY_LEN)
		rc = oys_err_set(e, OYS_ENOPERM, "attestation: the document's public_key is %zu bytes, "
		                 "not a 64-byte secp256k1 key", strlen(pk) / 2);
	if (rc == 0)
		rc = check_one("X-Signature", OYS_SIG_V2, a, a->v2_sig, (unsigned char *)key.data, e);
	if (rc == 0 && a->has_oys)
		rc = check_one("X-Oyster-Signature", OYS_SIG_OYS, a, a->oys_sig,
		               (unsigned char *)key.data, e);
	if (rc == 0 && require_oys && !a->has_oys)
		rc = oys_err_set(e, OYS_ENOPERM, "the answer has no X-Oyster-Signature: its status, code_id, "
		                 "request id and time are not signed");
	if (rc == 0 && report) {
		char addr[OYS_SIGN_ADDRESS_LEN + 1];
		oys_sign_address((unsigned char *)key.data, addr);
		jv signer = oys_json_set_str(jv_object(), "public_key", pk);
		signer = oys_json_set_str(signer, "address", addr);
		jv sigs = jv_array_append(jv_array(), jv_string("X-Signature"));
		jv ans = oys_json_set_str(jv_object(), "method", a->f.method);
		ans = oys_json_set_str(ans, "path", a->f.path);
		ans = oys_json_set_num(ans, "request_body_bytes", (double)a->req_len);
		ans = oys_json_set_num(ans, "response_body_bytes", (double)a->resp_len);
		if (a->has_oys) {
			sigs = jv_array_append(sigs, jv_string("X-Oyster-Signature"));
			ans = oys_json_set_num(ans, "status", a->f.status);
			ans = oys_json_set_str(ans, "code_id", a->f.code_id ? a->f.code_id : "");
			ans = oys_json_set_str(ans, "request_id", a->f.request_id ? a->f.request_id : "");
			ans = oys_json_set_num(ans, "timestamp", (double)a->f.timestamp);
		}
		jv r = jv_object_set(jv_object(), jv_string("verified"), jv_true());
		r = jv_object_set(r, jv_string("signer"), signer);
		r = jv_object_set(r, jv_string("signatures"), sigs);
		r = jv_object_set(r, jv_string("answer"), ans);
		*report = jv_object_set(r, jv_string("attestation"), jv_copy(payload));
	}
	oys_buf_free(&key);
	jv_free(payload);
	return rc;
}
