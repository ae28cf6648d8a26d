/* storesrv.h: the storage server (oys-store serve): one HTTP request on a file descriptor,
 * inetd-style, answered from a store directory.
 *
 *   POST /code          upload (the body is the code); 201 {"code_id": ID, "size": N};
 *                       ?name=NAME also points NAME at it. With a token configured, only
 *                       with `Authorization: Bearer TOKEN` (401 otherwise). Without a token
 *                       (open uploads) a name already pointing to other code is never
 *                       re-pointed (409). Code that would take the store beyond its quota:
 *                       507 (code already there is harmless and takes nothing).
 *   POST /challenge     201 {"nonce": HEX, "expires_in": S}: a fresh single-use nonce (32
 *                       bytes) for one load; 503 with Retry-After when too many wait.
 *   POST /load          {"key": ID} with `Attestation: <base64 document>`: 200 and the code
 *                       sealed to the document's public_key (seal.h), only when the document
 *                       verifies against the root and PCR policy, carries a nonce this server
 *                       issued, unexpired and unused (it is used up), and carries a 32-byte
 *                       X25519 public_key; 401 without the header, 403 with the reason
 *                       otherwise, then 404 for an unknown id (so ids are not probed without a
 *                       valid document).
 *   GET  /healthz       200 "ok"
 * 400 malformed ids and bodies, 405 wrong method, 413 too large, errors as JSON
 * {"error": {"code", "message"}}. One JSON log line per request on stderr. The client of
 * this protocol is storec.h. */
#ifndef OYS_STORESRV_H
#define OYS_STORESRV_H

#include <stddef.h>

#include "attest.h"
#include "err.h"
#include "store.h"

/* How long a challenge may be answered, and how many may wait at once. */
#define OYS_CHALLENGE_TTL_DEFAULT 60
#define OYS_CHALLENGES_MAX 4096

/* The default quota of the store (a size, as --quota takes it). */
#define OYS_STORE_QUOTA_DEFAULT "1G"

struct oys_storesrv_conf {
	const struct oys_store *store;
	const struct oys_attest_policy *policy; /* NULL or no PCRs: /load refuses every request */
	const char *token;                      /* NULL: uploads need no token (open uploads;
	                                           the caller decides that is wanted) */
	unsigned long long quota;               /* most bytes of code the store holds; 0: none */
	size_t max_size;                        /* largest upload; 0: OYS_CODE_MAX_DEFAULT */
	long challenge_ttl_s;                   /* 0: OYS_CHALLENGE_TTL_DEFAULT */
	int timeout_ms;                         /* for the whole request to arrive; 0: 30 s */
	const char *peer;                       /* the client (oys_conf_peer()), for the log */
};

/* Reads one request from in and answers it on out. Returns the HTTP status answered, or -1
 * when the peer closed without sending anything. */
int oys_storesrv_handle(int in, int out, const struct oys_storesrv_conf *c);

#endif
