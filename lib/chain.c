/* chain.c: code from transaction calldata, verified against the transaction hash (see chain.h). */
#include "chain.h"
#include "codec.h"
#include "httpc.h"
#include "json.h"
#include "keccak.h"
#include "opt.h"
#include "rlp.h"
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

/* ---- the transaction hash, recomputed from the fields the RPC returns ---- */

/* The big-endian bytes of hex (an optional 0x; odd length allowed, as JSON-RPC quantities
 * are), appended to out. 0 or -1. */
static int hex_bytes(const char *s, struct oys_buf *out)
{
	if (s == NULL || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -1;
	s += 2;
	size_t n = strlen(s);
	if (n % 2) {
		char first[3] = {'0', s[0], '\0'};
		if (oys_hex_decode(out, first, 2) < 0)
			return -1;
		s++;
		n--;
	}
	return oys_hex_decode(out, s, n);
}

/* Appends the RLP of field key of tx: a quantity (at most 32 bytes), or data of exactly want
 * bytes (want 0: any length; NULL allowed with null_ok, encoded as the empty string). Returns
 * 0, or -1 when the field is missing or malformed. */
static int rlp_field(struct oys_buf *list, jv tx, const char *key, int quantity, size_t want, int null_ok)
{
	jv v = jv_object_get(jv_copy(tx), jv_string(key));
	int kind = jv_get_kind(v), rc = -1;
	struct oys_buf b = OYS_BUF_INIT;
	if (kind == JV_KIND_NULL && null_ok) {
		rc = oys_rlp_bytes(list, "", 0);
	} else if (kind == JV_KIND_STRING && hex_bytes(jv_string_value(v), &b) == 0) {
		if (quantity && b.len <= 32)
			rc = oys_rlp_uint_be(list, b.data, b.len);
		else if (!quantity && (want == 0 || b.len == want))
			rc = oys_rlp_bytes(list, b.data, b.len);
	}
	oys_buf_free(&b);
	jv_free(v);
	return rc;
}

/* The RLP of an EIP-2930 access list, [[address, [storageKey, ...]], ...]. 0 or -1. */
static int rlp_access_list(struct oys_buf *list, jv tx)
{
	jv al = jv_object_get(jv_copy(tx), jv_string("accessList"));
	struct oys_buf items = OYS_BUF_INIT;
	int rc = jv_get_kind(al) == JV_KIND_ARRAY ? 0 : -1;
	if (rc == 0) {
		jv_array_foreach(al, i, entry) {
			struct oys_buf one = OYS_BUF_INIT, keys = OYS_BUF_INIT;
			jv sk = jv_get_kind(entry) == JV_KIND_OBJECT ? jv_object_get(jv_copy(entry), jv_string("storageKeys"))
			                                             : jv_invalid();
			if (rc == 0 && (jv_get_kind(sk) != JV_KIND_ARRAY || rlp_field(&one, entry, "address", 0, 20, 0) < 0))
				rc = -1;
			if (rc == 0) {
				jv_array_foreach(sk, k, key) {
					struct oys_buf b = OYS_BUF_INIT;
					if (rc == 0 && (jv_get_kind(key) != JV_KIND_STRING ||
					                hex_bytes(jv_string_value(key), &b) < 0 || b.len != 32 ||
					                oys_rlp_bytes(&keys, b.data, b.len) < 0))
						rc = -1;
					oys_buf_free(&b);
					jv_free(key);
				}
			}
			if (rc == 0 && oys_rlp_list(&one, keys.data, keys.len) < 0)
				rc = -1;
			if (rc == 0 && oys_rlp_list(&items, one.data, one.len) < 0)
				rc = -1;
			jv_free(sk);
			jv_free(entry);
			oys_buf_free(&one);
			oys_buf_free(&keys);
		}
	}
	if (rc == 0)
		rc = oys_rlp_list(list, items.data, items.len);
	oys_buf_free(&items);
	jv_free(al);
	return rc;
}

int oys_chain_tx_hash(jv tx, unsigned char out[32], struct oys_err *e)
{
	const char *type = oys_json_get_str(tx, "type");
	unsigned long long t = 0;
	if (type) {
		struct oys_buf b = OYS_BUF_INIT;
		int bad = hex_bytes(type, &b) < 0 || b.len > 1;
		t = b.len ? (unsigned char)b.data[0] : 0;
		oys_buf_free(&b);
		if (bad)
			return oys_err_set(e, OYS_EUNAVAIL, "a transaction type '%.20s' that is not a byte", type);
	}
	if (t > 2)
		return oys_err_set(e, OYS_EDATA, "is of type 0x%llx, which oys cannot verify "
		                   "(legacy, EIP-2930 type 0x1 and EIP-1559 type 0x2 only)", t);
	/* The fields in signing order; "v" for legacy (EIP-155 or not, as signed), the y parity
	 * for typed transactions ("yParity", or "v" from nodes that send only that). */
	static const char *const legacy[] = {"nonce", "gasPrice", "gas", "to", "value", "input", "v", "r", "s", NULL};
	static const char *const t1[] = {"chainId", "nonce", "gasPrice", "gas", "to", "value", "input", "accessList", "yParity", "r", "s", NULL};
	static const char *const t2[] = {"chainId", "nonce", "maxPriorityFeePerGas", "maxFeePerGas", "gas", "to", "value",
	                                 "input", "accessList", "yParity", "r", "s", NULL};
	const char *const *f = t == 0 ? legacy : t == 1 ? t1 : t2;
	struct oys_buf fields = OYS_BUF_INIT, rlp = OYS_BUF_INIT;
	int rc = 0;
	for (; *f && rc == 0; f++) {
		const char *key = *f;
		int r;
		if (strcmp(key, "accessList") == 0) {
			r = rlp_access_list(&fields, tx);
		} else if (strcmp(key, "to") == 0) {
			r = rlp_field(&fields, tx, key, 0, 20, 1);
		} else if (strcmp(key, "input") == 0) {
			jv in = jv_object_get(jv_copy(tx), jv_string("input"));
			key = jv_get_kind(in) == JV_KIND_STRING ? "input" : "data"; /* some older nodes */
			jv_free(in);
			r = rlp_field(&fields, tx, key, 0, 0, 0);
		} else if (strcmp(key, "yParity") == 0) {
			jv y = jv_object_get(jv_copy(tx), jv_string("yParity"));
			key = jv_get_kind(y) == JV_KIND_STRING ? "yParity" : "v";
			jv_free(y);
			r = rlp_field(&fields, tx, key, 1, 0, 0);
		} else {
			r = rlp_field(&fields, tx, key, 1, 0, 0);
		}
		if (r < 0)
			rc = oys_err_set(e, OYS_EUNAVAIL, "a transaction without a valid %s", key);
	}
	if (rc == 0 && ((t && oys_buf_putc(&rlp, (char)t) < 0) || oys_rlp_list(&rlp, fields.data, fields.len) < 0))
		rc = oys_err_sys(e, OYS_EOSERR, "RLP");
	if (rc == 0)
		oys_keccak256(rlp.data, rlp.len, out);
	oys_buf_free(&fields);
	oys_buf_free(&rlp);
	return rc;
}

/* ---- JSON-RPC ---- */

/* The message of an RPC error object, or "". */
static const char *rpc_error_message(jv err)
{
	const char *m = oys_json_get_str(err, "message");
	return m ? m : "";
}

/* One JSON-RPC call, method(params) with params a JSON array; *result gets the result member
 * (null when absent) to free. */
static int rpc(const char *url, long timeout_ms, size_t max, const char *method, const char *params,
               jv *result, struct oys_err *e)
{
	char body[512];
	snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
	static const char *const headers[] = {"Content-Type: application/json", "Accept: application/json", NULL};
	struct oys_httpc_req req = {"POST", url, headers, body, strlen(body), timeout_ms, 2 * max + (1u << 20)};
	struct oys_httpc_resp resp;
	*result = jv_null();
	int rc = oys_httpc_do(&req, &resp, e);
	if (rc)
		return oys_err_wrap(e, "RPC");
	jv v = jv_invalid();
	if (resp.status != 200) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered HTTP %ld", url, resp.status);
	} else if (oys_json_parse(resp.body.data, resp.body.len, &v, NULL) || jv_get_kind(v) != JV_KIND_OBJECT) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered something that is not JSON-RPC", url);
	} else {
		jv err = jv_object_get(jv_copy(v), jv_string("error"));
		if (jv_get_kind(err) == JV_KIND_OBJECT) {
			jv c = jv_object_get(jv_copy(err), jv_string("code"));
			rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s: error %g: %s", url,
			                 jv_get_kind(c) == JV_KIND_NUMBER ? jv_number_value(c) : 0, rpc_error_message(err));
			jv_free(c);
		} else {
			jv res = jv_object_get(jv_copy(v), jv_string("result"));
			if (jv_is_valid(res))
				*result = res;
			else
				jv_free(res);
		}
		jv_free(err);
	}
	jv_free(v);
	oys_httpc_resp_free(&resp);
	return rc;
}

/* A quantity field ("0x..." of at most 8 bytes) of obj. 0 or -1. */
static int quantity_u64(jv obj, const char *key, unsigned long long *out)
{
	const char *s = oys_json_get_str(obj, key);
	struct oys_buf b = OYS_BUF_INIT;
	int rc = hex_bytes(s, &b) < 0 ? -1 : 0;
	size_t i = 0;
	while (rc == 0 && i < b.len && b.data[i] == 0)
		i++;
	if (rc == 0 && b.len - i > 8)
		rc = -1;
	*out = 0;
	for (; rc == 0 && i < b.len; i++)
		*out = *out << 8 | (unsigned char)b.data[i];
	oys_buf_free(&b);
	return rc;
}

/* ---- the code of a transaction ---- */

/* The transaction itself: its fields must hash to tx, it must be sent to the contract and be
 * in a block. */
static int check_tx(const char *tx, const char *url, const char *contract, jv res, struct oys_err *e)
{
	unsigned char want[32], got[32];
	char hex[65];
	struct oys_buf w = OYS_BUF_INIT;
	int bad = hex_bytes(tx, &w) < 0 || w.len != 32;
	if (!bad)
		memcpy(want, w.data, 32);
	oys_buf_free(&w);
	if (bad)
		return oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a transaction hash", tx);
	struct oys_err why = {0};
	int rc = oys_chain_tx_hash(res, got, &why);
	if (rc == OYS_EDATA)
		return oys_err_set(e, rc, "transaction %s %s", tx, why.msg);
	if (rc)
		return oys_err_set(e, rc, "RPC %s answered %s", url, why.msg);
	if (memcmp(want, got, 32) != 0) {
		oys_hex_to(hex, got, 32);
		return oys_err_set(e, OYS_EDATA, "RPC %s answered a transaction whose fields hash to 0x%s, not %s: refused",
		                   url, hex, tx);
	}
	const char *to = oys_json_get_str(res, "to");
	jv block = jv_object_get(jv_copy(res), jv_string("blockNumber"));
	int pending = jv_get_kind(block) == JV_KIND_NULL;
	jv_free(block);
	if (to == NULL)
		return oys_err_set(e, OYS_ENOPERM, "transaction %s creates a contract, it is not sent to the code contract %s", tx, contract);
	if (strcasecmp(to, contract) != 0)
		return oys_err_set(e, OYS_ENOPERM, "transaction %s is sent to %.80s, not to the code contract %s", tx, to, contract);
	if (pending)
		return oys_err_set(e, OYS_ETEMPFAIL, "transaction %s is still pending (not in a block yet)", tx);
	return 0;
}

/* Its receipt: status 1 (a reverted call stored nothing), and enough blocks on top. */
static int check_receipt(const char *tx, const char *url, const struct oys_chain_opts *o, size_t max,
                         struct oys_err *e)
{
	char params[80];
	unsigned need = o->confirmations ? o->confirmations : OYS_CHAIN_CONFIRMATIONS_DEFAULT;
	snprintf(params, sizeof params, "[\"%s\"]", tx);
	jv rcpt;
	int rc = rpc(url, o->timeout_ms, max, "eth_getTransactionReceipt", params, &rcpt, e);
	if (rc)
		return rc;
	unsigned long long block = 0, head = 0;
	const char *status = NULL, *hash = NULL;
	if (jv_get_kind(rcpt) == JV_KIND_OBJECT) {
		status = oys_json_get_str(rcpt, "status");
		hash = oys_json_get_str(rcpt, "transactionHash");
	}
	if (jv_get_kind(rcpt) == JV_KIND_NULL)
		rc = oys_err_set(e, OYS_ETEMPFAIL, "transaction %s is still pending (no receipt yet)", tx);
	else if (jv_get_kind(rcpt) != JV_KIND_OBJECT)
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered without a receipt", url);
	else if (hash == NULL || strcasecmp(hash, tx) != 0)
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered the receipt of another transaction than %s", url, tx);
	else if (status == NULL || quantity_u64(rcpt, "blockNumber", &block) < 0)
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered a receipt without status or block number", url);
	else if (strcmp(status, "0x1") != 0)
		rc = oys_err_set(e, OYS_ENOPERM, "transaction %s reverted (receipt status %.20s): its calldata is not stored code",
		                 tx, status);
	jv_free(rcpt);
	if (rc)
		return rc;
	jv bn;
	if ((rc = rpc(url, o->timeout_ms, max, "eth_blockNumber", "[]", &bn, e)))
		return rc;
	jv wrap = jv_object_set(jv_object(), jv_string("n"), bn);
	if (quantity_u64(wrap, "n", &head) < 0)
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered eth_blockNumber without a block number", url);
	jv_free(wrap);
	if (rc)
		return rc;
	unsigned long long have = head >= block ? head - block + 1 : 0;
	if (have < need)
		return oys_err_set(e, OYS_ETEMPFAIL, "transaction %s has %llu confirmation%s of the %u required: try again later",
		                   tx, have, have == 1 ? "" : "s", need);
	return 0;
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

	char params[80];
	snprintf(params, sizeof params, "[\"%s\"]", tx);
	jv res;
	int rc = rpc(url, o->timeout_ms, max, "eth_getTransactionByHash", params, &res, e);
	if (rc)
		return rc;
	if (jv_get_kind(res) == JV_KIND_NULL) {
		rc = oys_err_set(e, OYS_ENOINPUT, "transaction %s not found on %s", tx, url);
	} else if (jv_get_kind(res) != JV_KIND_OBJECT) {
		rc = oys_err_set(e, OYS_EUNAVAIL, "RPC %s answered without a transaction", url);
	} else if ((rc = check_tx(tx, url, contract, res, e)) == 0 &&
	           (rc = check_receipt(tx, url, o, max, e)) == 0) {
		/* Verified: the calldata is what the transaction hash commits to. */
		const char *input = oys_json_get_str(res, "input");
		if (input == NULL)
			input = oys_json_get_str(res, "data"); /* some older nodes */
		struct oys_buf cd = OYS_BUF_INIT;
		const unsigned char *bytes;
		size_t n;
		if (input == NULL || hex_bytes(input, &cd) < 0) {
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
	return rc;
}
