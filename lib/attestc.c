/* attestc.c: attestation documents as they travel: decoding the raw, hex or base64 forms,
 * and the client of the attestation server (GET /attestation/raw). No CBOR and no
 * verification here (that is attest.c): oys-fetch, oys-run and oys-serve only pass a
 * document on. */
#include "attest.h"
#include "codec.h"
#include "httpc.h"
#include "opt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int oys_attest_decode(const char *in, size_t len, struct oys_buf *raw, struct oys_err *e)
{
	size_t start = raw->len;
	int text = 1;
	for (size_t i = 0; i < len && text; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!(c >= 0x20 && c < 0x7f) && !isspace(c))
			text = 0;
	}
	if (!text) { /* raw CBOR: a document starts with 0x84 or 0xd2, never ASCII */
		if (len > OYS_ATTEST_DOC_MAX)
			return oys_err_set(e, OYS_EDATA, "document larger than %d bytes", OYS_ATTEST_DOC_MAX);
		if (oys_buf_append(raw, in, len) < 0)
			return oys_err_sys(e, OYS_EOSERR, "document");
		return 0;
	}
	/* Text: hex (an optional 0x) or base64, surrounding whitespace ignored. */
	size_t a = 0, b = len;
	while (a < b && isspace((unsigned char)in[a]))
		a++;
	while (b > a && isspace((unsigned char)in[b - 1]))
		b--;
	if (a == b)
		return oys_err_set(e, OYS_EDATA, "empty input: no attestation document");
	if (b - a > OYS_ATTEST_INPUT_MAX)
		return oys_err_set(e, OYS_EDATA, "input larger than %d bytes", OYS_ATTEST_INPUT_MAX);
	const char *s = in + a;
	size_t n = b - a;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		n -= 2;
	}
	int hex = n % 2 == 0;
	for (size_t i = 0; i < n && hex; i++)
		hex = isxdigit((unsigned char)s[i]) != 0;
	int bad = hex ? oys_hex_decode(raw, s, n) : oys_base64_decode(raw, in + a, b - a);
	if (bad)
		return oys_err_set(e, OYS_EDATA, "input is not an attestation document in raw CBOR, hex or base64");
	if (raw->len == start)
		return oys_err_set(e, OYS_EDATA, "empty input: no attestation document");
	if (raw->len - start > OYS_ATTEST_DOC_MAX) {
		raw->len = start;
		raw->data[start] = '\0';
		return oys_err_set(e, OYS_EDATA, "document larger than %d bytes", OYS_ATTEST_DOC_MAX);
	}
	return 0;
}

static int add_param(struct oys_buf *u, int *first, const char *name, const unsigned char *p,
                     size_t n)
{
	if (p == NULL)
		return 0;
	if (oys_buf_printf(u, "%c%s=", *first ? '?' : '&', name) < 0 || oys_hex_encode(u, p, n) < 0)
		return -1;
	*first = 0;
	return 0;
}

int oys_attest_fetch_with(const char *url, const struct oys_attest_extra *x, struct oys_buf *doc,
                          struct oys_err *e)
{
	const char *base = url ? url : OYS_ATTEST_DEFAULT_URL;
	if (!oys_httpc_valid_url(base))
		return oys_err_set(e, OYS_EUSAGE, "attestation server URL '%s' is not http:// or https://", base);
	struct oys_buf u = OYS_BUF_INIT;
	int rc = 0, first = strchr(base, '?') == NULL;
	if (strstr(base, "/attestation/")) {
		rc = oys_buf_puts(&u, base);
	} else {
		size_t n = strlen(base);
		while (n > 0 && base[n - 1] == '/')
			n--;
		rc = oys_buf_printf(&u, "%.*s/attestation/raw", (int)n, base);
	}
	if (rc == 0 && x)
		rc = add_param(&u, &first, "public_key", x->public_key, x->public_key_len) ||
		     add_param(&u, &first, "user_data", x->user_data, x->user_data_len) ||
		     add_param(&u, &first, "nonce", x->nonce, x->nonce_len);
	if (rc) {
		oys_buf_free(&u);
		return oys_err_sys(e, OYS_EOSERR, "attestation URL");
	}
	struct oys_httpc_req req = {0};
	struct oys_httpc_resp resp;
	req.url = u.data;
	req.timeout_ms = x && x->timeout_ms > 0 ? x->timeout_ms : 10000;
	req.max_response = OYS_ATTEST_INPUT_MAX;
	rc = oys_httpc_do(&req, &resp, e);
	if (rc) {
		oys_err_wrap(e, "attestation server");
		oys_buf_free(&u);
		return rc;
	}
	if (resp.status != 200) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "attestation server %s answered %ld", u.data, resp.status);
	} else if ((rc = oys_attest_decode(resp.body.data, resp.body.len, doc, e)) != 0) {
		oys_err_wrap(e, "attestation server %s", u.data);
	}
	oys_httpc_resp_free(&resp);
	oys_buf_free(&u);
	return rc;
}

int oys_attest_fetch(const char *url, struct oys_buf *doc, struct oys_err *e)
{
	return oys_attest_fetch_with(url, NULL, doc, e);
}
