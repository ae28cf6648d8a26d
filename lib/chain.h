/* chain.h: code held in the calldata of a transaction, read over Ethereum JSON-RPC.
 *
 * The transaction calls the code contract with one `bytes` argument, e.g. store(bytes):
 * calldata = 4-byte selector, then the ABI encoding of the bytes (a 32-byte offset, at that
 * offset a 32-byte length, then the bytes, zero-padded to 32). The code is exactly `length`
 * bytes, so a Wasm binary ending in zero bytes comes back whole. */
#ifndef OYS_CHAIN_H
#define OYS_CHAIN_H

#include <jv.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Blocks a transaction's block must have on top of it, counting itself (1: mined), before
 * its code is used, when no other number is given. */
#define OYS_CHAIN_CONFIRMATIONS_DEFAULT 12

struct oys_chain_opts {
	const char *rpc_url;   /* NULL: OYS_ECONFIG (the chain source is off) */
	const char *contract;  /* NULL: OYS_ECONFIG */
	long timeout_ms;       /* each JSON-RPC call; 0: 30 s */
	size_t max_size;       /* largest code; 0: OYS_CODE_MAX_DEFAULT */
	unsigned confirmations; /* 0: OYS_CHAIN_CONFIRMATIONS_DEFAULT */
};

/* Whether s is an address: "0x" and 40 hex digits (either case, no checksum check). */
int oys_chain_valid_address(const char *s);

/* The bytes argument of ABI-encoded calldata (selector + abi.encode(bytes)): *out points into
 * cd. Too short, an offset or length out of range: OYS_EDATA naming what is wrong. */
int oys_chain_abi_bytes(const unsigned char *cd, size_t len, const unsigned char **out,
                        size_t *outlen, struct oys_err *e);

/* The Keccak-256 hash of a signed transaction, recomputed from the fields
 * eth_getTransactionByHash returns (tx, not consumed): the RLP of the legacy fields (v as
 * signed, so EIP-155 too), or the type byte and the RLP of an EIP-2930 (0x1) or EIP-1559
 * (0x2) transaction's fields. Another type: OYS_EDATA ("is of type 0x3, which oys cannot
 * verify ..."); a field missing or malformed: OYS_EUNAVAIL ("a transaction without a valid
 * KEY"). */
int oys_chain_tx_hash(jv tx, unsigned char out[32], struct oys_err *e);

/* The code in transaction tx ("0x" + 64 hex), trusting the RPC for nothing the hash proves:
 * eth_getTransactionByHash, whose fields must hash to tx (so the calldata and `to` are the
 * signed ones); `to` must be the contract (case-insensitive); eth_getTransactionReceipt must
 * say status 1; eth_blockNumber must put at least o->confirmations blocks on the
 * transaction's, counting it. (The receipt and the block number are the RPC's word: checking
 * them needs block headers, a light client.) Appended to code. Errors:
 *   OYS_ENOINPUT  no such transaction
 *   OYS_ENOPERM   sent to another address than the contract (or a contract creation); reverted
 *   OYS_EDATA     fields that do not hash to tx (a lying RPC), a type other than 0-2,
 *                 calldata that is not ABI-encoded bytes, or larger than max_size
 *   OYS_ETEMPFAIL pending, not yet confirmed enough, or the RPC timed out
 *   OYS_EUNAVAIL  the RPC cannot be reached or answers with an error or garbage
 *   OYS_ECONFIG   no RPC URL or contract, or a malformed one */
int oys_chain_fetch(const char *tx, const struct oys_chain_opts *o, struct oys_buf *code,
                    struct oys_err *e);

#endif
