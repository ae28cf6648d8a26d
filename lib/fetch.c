/* fetch.c: code by code_id from a store directory, a storage server or a chain (see fetch.h). */
#include "fetch.h"
#include "attest.h"
#include "chain.h"
#include "codec.h"
#include "file.h"
#include "opt.h"
#include "seal.h"
#include "storec.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static int failed(const struct oys_fetch_opts *o, enum oys_fetch_step step, int rc)
{
	if (o->info && rc)
		o->info->failed = step;
	return rc;
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

/* A challenge and a sealed answer: a nonce from the storage server, a fresh key pair of our
 * own, a document from the attestation server carrying both, and the code sealed to the key. */
static int from_server(const char *id, const char *url, const struct oys_fetch_opts *o, size_t max,
                       struct oys_buf *code, struct oys_err *e)
{
	unsigned char nonce[OYS_SEAL_NONCE_LEN];
	struct oys_seal_key key = {0};
	struct oys_buf doc = OYS_BUF_INIT;
	int rc = failed(o, OYS_FETCH_CHALLENGE, oys_storec_challenge(url, o->timeout_ms, nonce, e));
	if (rc == 0)
		rc = oys_seal_keygen(&key, e);
	if (rc == 0) {
		struct oys_attest_extra x = {0};
		x.public_key = key.pub;
		x.public_key_len = sizeof key.pub;
		x.nonce = nonce;
		x.nonce_len = sizeof nonce;
		x.timeout_ms = o->timeout_ms;
		const char *att = o->attestation_url ? o->attestation_url : OYS_ATTEST_DEFAULT_URL;
		if ((rc = failed(o, OYS_FETCH_ATTESTATION, oys_attest_fetch_with(att, &x, &doc, e))))
			oys_err_wrap(e, "attestation");
	}
	if (rc == 0)
		rc = failed(o, OYS_FETCH_LOAD,
		            oys_storec_load(url, id, doc.data, doc.len, nonce, &key, o->timeout_ms, max, code, e));
	oys_seal_key_free(&key);
	oys_buf_free(&doc);
	return rc;
}

/* ---- the entry point ---- */

static int fetch_hash(const char *id, const struct oys_fetch_opts *o, size_t max,
                      struct oys_buf *code, struct oys_err *e)
{
	const char *where = o->store ? o->store : OYS_DEFAULT_STORE;
	if (!oys_store_is_url(where)) {
		struct oys_store s;
		int rc = oys_store_open(&s, where, 0, e);
		if (rc == OYS_ENOINPUT)
			return oys_err_set(e, OYS_ENOINPUT, "code %s not found: store %s does not exist", id, where);
		if (rc == 0)
			rc = oys_store_get(&s, id, max, code, e);
		if (rc == 0)
			set_info(o, "store", id);
		return failed(o, OYS_FETCH_STORE, rc);
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
	const char *contract = o->contract;
	char id[65];
	struct oys_store c;
	int cached = cache_open(o, &c) == 0 && oys_chain_valid_address(contract);
	if (cached && oys_store_tx_get(&c, contract, tx, id, NULL) == 0 && cache_get(&c, id, max, code) == 0) {
		set_info(o, "cache", id);
		return 0;
	}
	/* Only what verified reaches the cache: oys_chain_fetch() checks the transaction hash,
	 * the receipt and the confirmations before it returns the code. */
	size_t start = code->len;
	struct oys_chain_opts co = {o->rpc_url, o->contract, o->timeout_ms, max, o->confirmations};
	int rc = oys_chain_fetch(tx, &co, code, e);
	if (rc)
		return failed(o, OYS_FETCH_CHAIN, rc);
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
		return oys_code_id_check(code_id, e);
	}
}
