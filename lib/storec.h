/* storec.h: the client of the storage-server protocol (the server is storesrv.h): uploading
 * code, and loading it: a challenge, then an attestation document carrying its nonce and a
 * key of the fetcher's, then the code sealed to that key. url is the server's base URL (trailing
 * slashes ignored). An answer other than the one wanted is, in both directions:
 *   OYS_ENOPERM   401, 403, 409: refused (with the server's reason)
 *   OYS_ETEMPFAIL 408, 504, or a timeout
 *   OYS_EDATA     another 4xx (a bad request, too large)
 *   OYS_EUNAVAIL  anything else (5xx, 507 a full store...), or the server cannot be reached
 *   OYS_ECONFIG   url is not an http:// or https:// URL, or too long */
#ifndef OYS_STOREC_H
#define OYS_STOREC_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "seal.h"

/* POST url/code: uploads len bytes, with the operator token when not NULL and the name when
 * not NULL. The code_id the server answers must be the SHA-256 of what was sent (else
 * OYS_EDATA); it is written to id. */
int oys_storec_upload(const char *url, const char *token, const char *name, const void *data,
                      size_t len, char id[65], struct oys_err *e);

/* POST url/challenge: a fresh single-use nonce (32 bytes) from the server, for one load. A
 * server without the endpoint: OYS_EUNAVAIL. timeout_ms 0: 30 s. */
int oys_storec_challenge(const char *url, long timeout_ms, unsigned char nonce[OYS_SEAL_NONCE_LEN],
                         struct oys_err *e);

/* POST url/load {"key": id} with the header `Attestation: <base64 of doc>` (the raw
 * document, which must carry nonce, from oys_storec_challenge(), and key's public half). The
 * answer is opened with key (seal.h: another key, id or nonce, or altered bytes: OYS_EDATA),
 * and the code is appended to code only when it hashes to id (else OYS_EDATA, nothing
 * appended); more than max bytes: OYS_EDATA. Unknown id (404): OYS_ENOINPUT. timeout_ms 0:
 * 30 s. */
int oys_storec_load(const char *url, const char *id, const void *doc, size_t doc_len,
                    const unsigned char nonce[OYS_SEAL_NONCE_LEN], const struct oys_seal_key *key,
                    long timeout_ms, size_t max, struct oys_buf *code, struct oys_err *e);

#endif
