/* chain.h: code held in the calldata of a transaction, read over Ethereum JSON-RPC.
 *
 * The transaction calls the code contract with one `bytes` argument, e.g. store(bytes):
 * calldata = 4-byte selector, then the ABI encoding of the bytes (a 32-byte offset, at that
 * offset a 32-byte length, then the bytes, zero-padded to 32). The code is exactly `length`
 * bytes, so a Wasm binary ending in zero bytes comes back whole. */
#ifndef OYS_CHAIN_H
#define OYS_CHAIN_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct oys_chain_opts {
	const char *rpc_url;   /* NULL: OYS_ECONFIG (the chain source is off) */
	const char *contract;  /* NULL: OYS_ECONFIG */
	long timeout_ms;       /* the JSON-RPC call; 0: 30 s */
	size_t max_size;       /* largest code; 0: OYS_CODE_MAX_DEFAULT */
};

/* Whether s is an address: "0x" and 40 hex digits (either case, no checksum check). */
int oys_chain_valid_address(const char *s);

/* The bytes argument of ABI-encoded calldata (selector + abi.encode(bytes)): *out points into
 * cd. Too short, an offset or length out of range: OYS_EDATA naming what is wrong. */
int oys_chain_abi_bytes(const unsigned char *cd, size_t len, const unsigned char **out,
                        size_t *outlen, struct oys_err *e);

/* The code in transaction tx ("0x" + 64 hex): eth_getTransactionByHash on the RPC URL; the
 * transaction's `to` must be the contract (case-insensitive). Appended to code. Errors:
 *   OYS_ENOINPUT  no such transaction
 *   OYS_ENOPERM   sent to another address than the contract (or a contract creation)
 *   OYS_EDATA     calldata that is not ABI-encoded bytes, or larger than max_size
 *   OYS_ETEMPFAIL the transaction is still pending, or the RPC timed out
 *   OYS_EUNAVAIL  the RPC cannot be reached or answers with an error or garbage
 *   OYS_ECONFIG   no RPC URL or contract, or a malformed one */
int oys_chain_fetch(const char *tx, const struct oys_chain_opts *o, struct oys_buf *code,
                    struct oys_err *e);

#endif
