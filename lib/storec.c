/* storec.c: the client of the storage-server protocol (see storec.h). */
#include "storec.h"
#include "codec.h"
#include "httpc.h"
#include "json.h"
#include "seal.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

/* The server's address as messages name it: the base URL without its trailing slashes. */
struct server {
	const char *url;
	int n;
};

/* out = the base URL + path + query (may be ""). */
static int target(const char *url, const char *path, const char *query, struct server *s,
                  char *out, size_t outsz, struct oys_err *e)
{
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	s->url = url;
	s->n = (int)(n > 1900 ? 1900 : n);
	if (n > 1900 || snprintf(out, outsz, "%.*s%s%s", (int)n, url, path, query) >= (int)outsz)
		return oys_err_set(e, OYS_ECONFIG, "storage server URL too long");
	if (!oys_httpc_valid_url(out))
		return oys_err_set(e, OYS_ECONFIG, "storage server '%.200s' is not an http:// or https:// URL", url);
	return 0;
}

/* The reason a server gave in its JSON error body, or "". */
static void server_reason(const struct oys_httpc_resp *r, char *out, size_t outsz)
{
	jv v;
	out[0] = '\0';
	if (r->body.len && oys_json_parse(r->body.data, r->body.len, &v, NULL) == 0) {
		if (jv_get_kind(v) == JV_KIND_OBJECT) {
			jv err = jv_object_get(jv_copy(v), jv_string("error"));
			const char *m = oys_json_get_str(err, "message");
			if (m)
				snprintf(out, outsz, "%s", m);
			jv_free(err);
		}
		jv_free(v);
	}
}

/* The error of an answer other than the one wanted; what: what the server refused. */
static int answer_err(const struct oys_httpc_resp *r, const struct server *s, const char *what,
                      struct oys_err *e)
{
	char reason[256];
	long st = r->status;
	server_reason(r, reason, sizeof reason);
	if (st == 401 || st == 403 || st == 409) {
		if (reason[0] == '\0')
			snprintf(reason, sizeof reason, "HTTP %ld", st);
		return oys_err_set(e, OYS_ENOPERM, "storage server %.*s refused %s: %s", s->n, s->url, what,
		                   reason);
	}
	if (st == 408 || st == 504)
		return oys_err_set(e, OYS_ETEMPFAIL, "storage server %.*s timed out (HTTP %ld)", s->n, s->url, st);
	return oys_err_set(e, st >= 400 && st < 500 ? OYS_EDATA : OYS_EUNAVAIL, "storage server %.*s: HTTP %ld%s%s",
	                   s->n, s->url, st, reason[0] ? ": " : "", reason);
}

int oys_storec_upload(const char *url, const char *token, const char *name, const void *data,
                      size_t len, char id[65], struct oys_err *e)
{
	char to[2048], query[80] = "", sum[65];
	struct server s;
	if (name && !oys_store_name_valid(name))
		return oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a name", name);
	if (name)
		snprintf(query, sizeof query, "?name=%s", name);
	int rc = target(url, "/code", query, &s, to, sizeof to, e);
	if (rc)
		return rc;
	if (oys_sha256_hex(data, len, sum) < 0)
		return oys_err_set(e, OYS_ESOFTWARE, "SHA-256 failed");
	struct oys_buf auth = OYS_BUF_INIT;
	if (token && oys_buf_printf(&auth, "Authorization: Bearer %s", token) < 0)
		return oys_err_sys(e, OYS_EOSERR, "upload");
	const char *headers[] = {"Content-Type: application/octet-stream", auth.data, NULL};
	struct oys_httpc_req req = {"POST", to, headers, data, len, 0, 1u << 20};
	struct oys_httpc_resp resp;
	rc = oys_httpc_do(&req, &resp, e);
	oys_buf_free(&auth);
	if (rc)
		return oys_err_wrap(e, "storage server");
	if (resp.status != 201) {
		rc = answer_err(&resp, &s, "the upload", e);
	} else {
		jv v = jv_invalid();
		const char *got = NULL;
		if (oys_json_parse(resp.body.data, resp.body.len, &v, NULL) == 0 && jv_get_kind(v) == JV_KIND_OBJECT)
			got = oys_json_get_str(v, "code_id");
		if (got && strcmp(got, sum) == 0)
			memcpy(id, sum, 65);
		else
			rc = oys_err_set(e, OYS_EDATA, "storage server %.*s answered code_id %.80s for code whose SHA-256 is %s",
			                 s.n, s.url, got ? got : "(none)", sum);
		jv_free(v);
	}
	oys_httpc_resp_free(&resp);
	return rc;
}

int oys_storec_challenge(const char *url, long timeout_ms, unsigned char nonce[OYS_SEAL_NONCE_LEN],
                         struct oys_err *e)
{
	char to[2048];
	struct server s;
	int rc = target(url, "/challenge", "", &s, to, sizeof to, e);
	if (rc)
		return rc;
	struct oys_httpc_req req = {"POST", to, NULL, "", 0, timeout_ms, 1u << 16};
	struct oys_httpc_resp resp;
	if ((rc = oys_httpc_do(&req, &resp, e))) {
		oys_err_wrap(e, "storage server");
		if (!resp.not_http)
			return rc;
		/* reached, but what answered is no storage server: bad data, not unavailability */
		if (e)
			e->code = OYS_EDATA;
		return OYS_EDATA;
	}
	if (resp.status == 404 || resp.status == 405) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "storage server %.*s has no POST /challenge (HTTP %ld): "
		                 "it cannot release code to this fetcher", s.n, s.url, resp.status);
	} else if (resp.status != 201 && resp.status != 200) {
		rc = answer_err(&resp, &s, "a challenge", e);
	} else {
		jv v = jv_invalid();
		const char *hex = NULL;
		struct oys_buf b = OYS_BUF_INIT;
		if (oys_json_parse(resp.body.data, resp.body.len, &v, NULL) == 0 && jv_get_kind(v) == JV_KIND_OBJECT)
			hex = oys_json_get_str(v, "nonce");
		if (hex && oys_is_hex(hex, 2 * OYS_SEAL_NONCE_LEN, 0) && oys_hex_decode(&b, hex, strlen(hex)) == 0)
			memcpy(nonce, b.data, OYS_SEAL_NONCE_LEN);
		else
			rc = oys_err_set(e, OYS_EDATA, "storage server %.*s answered a challenge without a %d-byte nonce",
			                 s.n, s.url, OYS_SEAL_NONCE_LEN);
		oys_buf_free(&b);
		jv_free(v);
	}
	oys_httpc_resp_free(&resp);
	return rc;
}

int oys_storec_load(const char *url, const char *id, const void *doc, size_t doc_len,
                    const unsigned char nonce[OYS_SEAL_NONCE_LEN], const struct oys_seal_key *key,
                    long timeout_ms, size_t max, struct oys_buf *code, struct oys_err *e)
{
	char to[2048], body[128], sum[65];
	struct server s;
	int rc = target(url, "/load", "", &s, to, sizeof to, e);
	if (rc)
		return rc;
	snprintf(body, sizeof body, "{\"key\":\"%.80s\"}", id);
	struct oys_buf att = OYS_BUF_INIT, raw = OYS_BUF_INIT;
	if (oys_buf_puts(&att, "Attestation: ") < 0 || oys_base64_encode(&att, doc, doc_len) < 0) {
		oys_buf_free(&att);
		return oys_err_sys(e, OYS_EOSERR, "attestation");
	}
	const char *headers[] = {"Content-Type: application/json", att.data, NULL};
	struct oys_httpc_req req = {"POST", to, headers, body, strlen(body), timeout_ms, max + OYS_SEAL_OVERHEAD};
	struct oys_httpc_resp resp;
	rc = oys_httpc_do(&req, &resp, e);
	oys_buf_free(&att);
	if (rc == OYS_EDATA)
		return oys_err_set(e, OYS_EDATA, "code %s from %.*s is larger than %zu bytes", id, s.n, s.url, max);
	if (rc)
		return oys_err_wrap(e, "storage server");
	size_t start = code->len;
	if (resp.status == 404)
		rc = oys_err_set(e, OYS_ENOINPUT, "code %s not found on %.*s", id, s.n, s.url);
	else if (resp.status != 200)
		rc = answer_err(&resp, &s, "the attestation", e);
	else if (oys_code_id_kind(id) != OYS_CODE_ID_HASH || oys_hex_decode(&raw, id, 64) < 0)
		rc = oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a content hash", id);
	else if ((rc = oys_unseal(key, (const unsigned char *)raw.data, nonce, resp.body.data, resp.body.len, code, e)))
		oys_err_wrap(e, "storage server %.*s", s.n, s.url);
	else if (oys_sha256_hex(code->data + start, code->len - start, sum) < 0)
		rc = oys_err_set(e, OYS_ESOFTWARE, "SHA-256 failed");
	else if (strcmp(sum, id) != 0)
		rc = oys_err_set(e, OYS_EDATA, "storage server %.*s sent code whose SHA-256 is %s, not %s: refused",
		                 s.n, s.url, sum, id);
	if (rc && code->data) {
		memset(code->data + start, 0, code->len - start);
		code->len = start;
		code->data[start] = '\0';
	}
	oys_buf_free(&raw);
	oys_httpc_resp_free(&resp);
	return rc;
}
