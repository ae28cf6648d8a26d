#include "chain.h"
#include "codec.h"
#include "httpc.h"
#include "json.h"
#include "opt.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int oys_chain_valid_address(const char *s)
{
	return s && s[0] == '0' && s[1] == 'x' && oys_is_hex(s + 2, 40, 0);
}

/* A 32-byte big-endian word as a size, or -1 when it does not fit in 64 bits. */
static int word(const unsigned char *p, uint64_t *v)
{
	for (int i = 0; i < 24; i++)
		if (p[i])
			return -1;
	*v = 0;
	for (int i = 24; i < 32; i++)
		*v = *v << 8 | p[i];
	return 0;
}

int oys_chain_abi_bytes(const unsigned char *cd, size_t len, const unsigned char **out,
                        size_t *outlen, struct oys_err *e)
{
	if (len < 4 + 64)
		return oys_err_set(e, OYS_EDATA, "calldata of %zu bytes is too short for a selector and ABI-encoded bytes", len);
	const unsigned char *p = cd + 4;
	size_t n = len - 4;
	uint64_t off, blen;
	if (word(p, &off) < 0 || off > n - 32)
		return oys_err_set(e, OYS_EDATA, "calldata: offset of the bytes argument is out of range");
	if (word(p + off, &blen) < 0 || blen > n - off - 32)
		return oys_err_set(e, OYS_EDATA, "calldata: length of the bytes argument is larger than the calldata (%zu bytes)", len);
	*out = p + off + 32;
	*outlen = (size_t)blen;
	return 0;
}

/* The message of an RPC error object, or "". */
static const char *rpc_error_message(jv err)
{
	const char *m = oys_json_get_str(err, "message");
	return m ? m : "";
}

int oys_chain_fetch(const char *tx, const struct oys_chain_opts *o, struct oys_buf *code,
                    struct oys_err *e)
{
	const char *url = o->rpc_url;
	const char *contract = o->contract;
	size_t max = o->max_size ? o->max_size : OYS_CODE_MAX_DEFAULT;
	if (oys_code_id_kind(tx) != OYS_CODE_ID_TX)
		return oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a transaction hash (0x and 64 hex digits)", tx);
	if (url == NULL)
		return oys_err_set(e, OYS_ECONFIG, "transaction %s: the chain source is off (set --rpc or OYS_RPC_URL)", tx);
	if (!oys_httpc_valid_url(url))
		return oys_err_set(e, OYS_ECONFIG, "RPC URL '%s' is not an http:// or https:// URL", url);
	if (contract == NULL)
		return oys_err_set(e, OYS_ECONFIG, "transaction %s: no code contract (set --contract or OYS_CODE_CONTRACT)", tx);
	if (!oys_chain_valid_address(contract))
		return oys_err_set(e, OYS_ECONFIG, "code contract '%.80s' is not an address (0x and 40 hex digits)", contract);

	char body[256];
	snprintf(body, sizeof body,
	         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getTransactionByHash\",\"params\":[\"%s\"]}", tx);
	static const char *const headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
	struct oys_httpc_req req = {"POST", url, headers, body, strlen(body), o->timeout_ms, 2 * max + (1u << 20)};
	struct oys_httpc_resp resp;
	int rc = oys_httpc_do(&req, &resp, e);
	if (rc)
		return oys_err_wrap(e, "RPC");
	jv v = jv_invalid();
	if (resp.status != 200) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered HTTP %ld", url, resp.status);
		goto out;
	}
	if (oys_json_parse(resp.body.data, resp.body.len, &v, NULL) || jv_get_kind(v) != JV_KIND_OBJECT) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered something that is not JSON-RPC", url);
		goto out;
	}
	jv err = jv_object_get(jv_copy(v), jv_string("error"));
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		jv c = jv_object_get(jv_copy(err), jv_string("code"));
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s: error %g: %s", url,
		                 jv_get_kind(c) == JV_KIND_NUMBER ? jv_number_value(c) : 0, rpc_error_message(err));
		jv_free(c);
		jv_free(err);
		goto out;
	}
	jv_free(err);
	jv res = jv_object_get(jv_copy(v), jv_string("result"));
	if (jv_get_kind(res) == JV_KIND_NULL) {
		jv_free(res);
		rc = oys_err_set(e, OYS_ENOINPUT, "transaction %s not found on %s", tx, url);
		goto out;
	}
	if (jv_get_kind(res) != JV_KIND_OBJECT) {
		jv_free(res);
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered without a transaction", url);
		goto out;
	}
	const char *hash = oys_json_get_str(res, "hash");
	const char *to = oys_json_get_str(res, "to");
	const char *input = oys_json_get_str(res, "input");
	if (input == NULL)
		input = oys_json_get_str(res, "data"); /* some older nodes */
	jv block = jv_object_get(jv_copy(res), jv_string("blockNumber"));
	int pending = jv_get_kind(block) == JV_KIND_NULL;
	jv_free(block);
	if (hash == NULL || strcasecmp(hash, tx) != 0) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered with another transaction than %s", url, tx);
	} else if (to == NULL) {
		rc = oys_err_set(e, OYS_ENOPERM, "transaction %s creates a contract, it is not sent to the code contract %s", tx, contract);
	} else if (strcasecmp(to, contract) != 0) {
		rc = oys_err_set(e, OYS_ENOPERM, "transaction %s is sent to %.80s, not to the code contract %s", tx, to, contract);
	} else if (pending) {
		rc = oys_err_set(e, OYS_ETEMPFAIL, "transaction %s is still pending (not in a block yet)", tx);
	} else if (input == NULL || input[0] != '0' || input[1] != 'x') {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered a transaction without calldata", url);
	} else {
		struct oys_buf cd = OYS_BUF_INIT;
		const unsigned char *bytes;
		size_t n;
		if (oys_hex_decode(&cd, input + 2, strlen(input + 2)) < 0) {
			rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered calldata that is not hex", url);
		} else if ((rc = oys_chain_abi_bytes((const unsigned char *)(cd.data ? cd.data : ""), cd.len,
		                                     &bytes, &n, e))) {
			oys_err_wrap(e, "transaction %s", tx);
		} else if (n > max) {
			rc = oys_err_set(e, OYS_EDATA, "transaction %s: code is larger than %zu bytes", tx, max);
		} else if (oys_buf_append(code, bytes, n) < 0) {
			rc = oys_err_sys(e, OYS_EOSERR, "transaction %s", tx);
		}
		oys_buf_free(&cd);
	}
	jv_free(res);
out:
	jv_free(v);
	oys_httpc_resp_free(&resp);
	return rc;
}
