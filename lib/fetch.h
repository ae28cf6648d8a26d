/* fetch.h: code by code_id, from wherever it lives, verified.
 *
 *  - a content hash (64 lowercase hex) comes from a store directory (read locally) or from a
 *    storage server URL: POST URL/challenge gives a single-use nonce, the attestation server
 *    a document carrying it and a fresh X25519 key of ours, POST URL/load {"key": ID} with
 *    `Attestation: <base64 document>` the code sealed to that key (seal.h), opened here;
 *    what it opens to must hash to the id or it is refused;
 *  - a transaction hash ("0x" + 64 hex) comes from the calldata of that transaction over
 *    JSON-RPC (chain.h), sent to the code contract.
 * Code from a server or a chain is kept in a cache (itself a store directory, so it is
 * verified on every read): a second fetch of the same id costs a file read.
 *
 * The code id helpers oys_code_id_kind(), oys_code_id_valid() and oys_code_id_check() are in
 * store.h (included), the storage-server client in storec.h. */
#ifndef OYS_FETCH_H
#define OYS_FETCH_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "store.h"

/* The step of a fetch that failed: the server to look at. */
enum oys_fetch_step {
	OYS_FETCH_OK = 0,
	OYS_FETCH_STORE,       /* the store directory */
	OYS_FETCH_CHALLENGE,   /* the storage server's POST /challenge */
	OYS_FETCH_ATTESTATION, /* the attestation server */
	OYS_FETCH_LOAD,        /* the storage server's POST /load, and the code it sent */
	OYS_FETCH_CHAIN,       /* the RPC, and the transaction it gave */
};

struct oys_fetch_info {
	char source[16];       /* "store", "server", "chain" or "cache" */
	char content_hash[65]; /* SHA-256 of the code (for a transaction id too) */
	enum oys_fetch_step failed; /* on failure, the step that failed */
};

/* Every field may be left 0/NULL: the default is used (cmd/ fills them from flags and OYS_*
 * variables with oys_conf_fetch(), conf.h). */
struct oys_fetch_opts {
	const char *store;           /* a directory or an http(s):// storage server; NULL: the default */
	const char *attestation_url; /* NULL: http://127.0.0.1:1300: asked for a document carrying the
	                                storage server's nonce and a fresh key of ours (a given
	                                document could carry neither) */
	const char *rpc_url;         /* NULL: transaction ids are refused (78) */
	const char *contract;        /* the code contract of transaction ids */
	unsigned confirmations;      /* blocks on a transaction's, counting it (chain.h); 0: the
	                                default, OYS_CHAIN_CONFIRMATIONS_DEFAULT */
	const char *cache_dir;       /* NULL: RUNTIME/cache/code */
	int no_cache;                /* neither read nor fill the cache */
	long timeout_ms;             /* each network request; 0: 30 s */
	size_t max_size;             /* largest code; 0: OYS_CODE_MAX_DEFAULT (64 MiB) */
	struct oys_fetch_info *info; /* when not NULL: filled on success; its failed on failure */
};

/* Fetches the code named by code_id into code (appended). Returns 0 or:
 *   OYS_EUSAGE    code_id is not a valid id (checked before any path or URL is built)
 *   OYS_ENOINPUT  unknown id (not in the store, not on the server, no such transaction)
 *   OYS_EDATA     what arrived does not hash to the id (nothing is returned), malformed
 *                 calldata, code larger than max_size; a storage server whose answer is not
 *                 the protocol (not HTTP, a challenge without a nonce)
 *   OYS_EUNAVAIL  the storage server, attestation server or RPC cannot be reached or fails
 *   OYS_ENOPERM   the storage server refused the attestation document; a transaction sent
 *                 to another contract, or reverted
 *   OYS_ETEMPFAIL a timeout; a transaction not yet in a block, or not confirmed enough
 *   OYS_ECONFIG   no RPC or contract for a transaction id; a bad store setting */
int oys_fetch_code(const char *code_id, const struct oys_fetch_opts *o, struct oys_buf *code,
                   struct oys_err *e);

#endif
