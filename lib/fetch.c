#include "fetch.h"
#include "attest.h"
#include "chain.h"
#include "codec.h"
#include "file.h"
#include "httpc.h"
#include "json.h"
#include "opt.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int oys_fetch_is_url(const char *store)
{
	return oys_store_is_url(store);
}

static void set_info(const struct oys_fetch_opts *o, const char *source, const char *hash)
{
	if (o->info) {
		snprintf(o->info->source, sizeof o->info->source, "%s", source);
		snprintf(o->info->content_hash, sizeof o->info->content_hash, "%s", hash);
	}
}

/* ---- the cache: a store directory under the runtime directory ---- */

static int cache_open(const struct oys_fetch_opts *o, struct oys_store *c)
{
	char dir[PATH_MAX];
	if (o->no_cache)
		return -1;
	if (o->cache_dir) {
		if (snprintf(dir, sizeof dir, "%s", o->cache_dir) >= (int)sizeof dir)
			return -1;
	} else if (oys_runtime_subdir("cache", dir, sizeof dir, NULL) != 0 ||
	           strlen(dir) + 6 >= sizeof dir) {
		return -1;
	} else {
		strcat(dir, "/code");
	}
	return oys_store_open(c, dir, 1, NULL) == 0 ? 0 : -1;
}

/* Code by content hash from the cache, verified on the way (a damaged entry is dropped). */
static int cache_get(const struct oys_store *c, const char *id, size_t max, struct oys_buf *code)
{
	size_t start = code->len;
	struct oys_err e = {0};
	int rc = oys_store_get(c, id, max, code, &e);
	if (rc == 0)
		return 0;
	if (code->data) {
		code->len = start;
		code->data[start] = '\0';
	}
	if (rc == OYS_EDATA)
		oys_store_rm(c, id, NULL);
	return -1;
}

/* ---- a storage server ---- */

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

/* The document as the header value: base64 of the raw CBOR. */
static int attestation_header(const struct oys_fetch_opts *o, struct oys_buf *hdr, struct oys_err *e)
{
	struct oys_buf raw = OYS_BUF_INIT;
	int rc;
	if (o->attestation) {
		rc = oys_attest_decode(o->attestation, o->attestation_len, &raw, e);
		if (rc)
			oys_err_wrap(e, "attestation document");
	} else {
		const char *url = oys_conf(o->attestation_url, "OYS_ATTESTATION_URL", OYS_ATTEST_DEFAULT_URL);
		rc = oys_attest_fetch(url, &raw, e);
		if (rc)
			oys_err_wrap(e, "attestation");
	}
	if (rc == 0 && (oys_buf_puts(hdr, "Attestation: ") < 0 || oys_base64_encode(hdr, raw.data, raw.len) < 0))
		rc = oys_err_sys(e, OYS_EOSERR, "attestation");
	oys_buf_free(&raw);
	return rc;
}

static int from_server(const char *id, const char *base, const struct oys_fetch_opts *o, size_t max,
                       struct oys_buf *code, struct oys_err *e)
{
	char url[2048], body[128], reason[256];
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n > 1900)
		return oys_err_set(e, OYS_ECONFIG, "storage server URL too long");
	snprintf(url, sizeof url, "%.*s/load", (int)n, base);
	if (!oys_httpc_valid_url(url))
		return oys_err_set(e, OYS_ECONFIG, "storage server '%.200s' is not an http:// or https:// URL", base);
	snprintf(body, sizeof body, "{\"key\":\"%s\"}", id);

	struct oys_buf att = OYS_BUF_INIT;
	int rc = attestation_header(o, &att, e);
	if (rc) {
		oys_buf_free(&att);
		return rc;
	}
	const char *headers[] = {"Content-Type: application/json", att.data, NULL};
	struct oys_httpc_req req = {"POST", url, headers, body, strlen(body), o->timeout_ms, max};
	struct oys_httpc_resp resp;
	rc = oys_httpc_do(&req, &resp, e);
	oys_buf_free(&att);
	if (rc) {
		if (rc == OYS_EDATA)
			return oys_err_set(e, OYS_EDATA, "code %s from %.*s is larger than %zu bytes", id, (int)n, base, max);
		return oys_err_wrap(e, "storage server");
	}
	switch (resp.status) {
	case 200: {
		char sum[65];
		if (oys_sha256_hex(resp.body.data, resp.body.len, sum) < 0) {
			rc = oys_err_set(e, OYS_ESOFTWARE, "SHA-256 failed");
		} else if (strcmp(sum, id) != 0) {
			rc = oys_err_set(e, OYS_EDATA, "storage server %.*s sent code whose SHA-256 is %s, not %s: refused",
			                 (int)n, base, sum, id);
		} else if (oys_buf_append(code, resp.body.data, resp.body.len) < 0) {
			rc = oys_err_sys(e, OYS_EOSERR, "code %s", id);
		}
		break;
	}
	case 404:
		rc = oys_err_set(e, OYS_ENOINPUT, "code %s not found on %.*s", id, (int)n, base);
		break;
	case 401:
	case 403:
		server_reason(&resp, reason, sizeof reason);
		if (reason[0] == '\0')
			snprintf(reason, sizeof reason, "HTTP %ld", resp.status);
		rc = oys_err_set(e, OYS_ENOPERM, "storage server %.*s refused the attestation: %s", (int)n, base, reason);
		break;
	case 408:
	case 504:
		rc = oys_err_set(e, OYS_ETEMPFAIL, "storage server %.*s timed out (HTTP %ld)", (int)n, base, resp.status);
		break;
	default:
		server_reason(&resp, reason, sizeof reason);
		rc = oys_err_set(e, resp.status >= 400 && resp.status < 500 ? OYS_EDATA : OYS_EUNAVAIL,
		                 "storage server %.*s: HTTP %ld%s%s", (int)n, base, resp.status,
		                 reason[0] ? ": " : "", reason);
	}
	oys_httpc_resp_free(&resp);
	return rc;
}

/* ---- the entry point ---- */

static int fetch_hash(const char *id, const struct oys_fetch_opts *o, size_t max,
                      struct oys_buf *code, struct oys_err *e)
{
	const char *where = oys_conf(o->store, "OYS_STORE", OYS_DEFAULT_STORE);
	if (!oys_fetch_is_url(where)) {
		struct oys_store s;
		int rc = oys_store_open(&s, where, 0, e);
		if (rc == OYS_ENOINPUT)
			return oys_err_set(e, OYS_ENOINPUT, "code %s not found: store %s does not exist", id, where);
		if (rc == 0)
			rc = oys_store_get(&s, id, max, code, e);
		if (rc == 0)
			set_info(o, "store", id);
		return rc;
	}
	struct oys_store c;
	int cached = cache_open(o, &c) == 0;
	if (cached && cache_get(&c, id, max, code) == 0) {
		set_info(o, "cache", id);
		return 0;
	}
	size_t start = code->len;
	int rc = from_server(id, where, o, max, code, e);
	if (rc)
		return rc;
	if (cached) {
		char got[65];
		oys_store_put(&c, code->data + start, code->len - start, got, NULL);
	}
	set_info(o, "server", id);
	return 0;
}

static int fetch_tx(const char *tx, const struct oys_fetch_opts *o, size_t max,
                    struct oys_buf *code, struct oys_err *e)
{
	const char *contract = oys_conf(o->contract, "OYS_CODE_CONTRACT", NULL);
	char id[65];
	struct oys_store c;
	int cached = cache_open(o, &c) == 0 && oys_chain_valid_address(contract);
	if (cached && oys_store_tx_get(&c, contract, tx, id, NULL) == 0 && cache_get(&c, id, max, code) == 0) {
		set_info(o, "cache", id);
		return 0;
	}
	size_t start = code->len;
	struct oys_chain_opts co = {o->rpc_url, o->contract, o->timeout_ms, max};
	int rc = oys_chain_fetch(tx, &co, code, e);
	if (rc)
		return rc;
	if (oys_sha256_hex(code->data + start, code->len - start, id) < 0)
		return oys_err_set(e, OYS_ESOFTWARE, "SHA-256 failed");
	if (cached) {
		char got[65];
		if (oys_store_put(&c, code->data + start, code->len - start, got, NULL) == 0)
			oys_store_tx_set(&c, contract, tx, got, NULL);
	}
	set_info(o, "chain", id);
	return 0;
}

int oys_fetch_code(const char *code_id, const struct oys_fetch_opts *o, struct oys_buf *code,
                   struct oys_err *e)
{
	static const struct oys_fetch_opts none = {0};
	if (o == NULL)
		o = &none;
	size_t max = o->max_size ? o->max_size : OYS_CODE_MAX_DEFAULT;
	switch (oys_code_id_kind(code_id)) {
	case OYS_CODE_ID_HASH:
		return fetch_hash(code_id, o, max, code, e);
	case OYS_CODE_ID_TX:
		return fetch_tx(code_id, o, max, code, e);
	default:
		return oys_err_set(e, OYS_EUSAGE,
		                   "'%.80s%s' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits for a transaction)",
		                   code_id ? code_id : "", code_id && strlen(code_id) > 80 ? "..." : "");
	}
}
