/* store.h: code ids, and the content-addressed code store (a directory).
 *
 * A code id is either a content hash, the SHA-256 of the code as 64 lowercase hex digits, or
 * a transaction hash, "0x" and 64 hex digits, whose calldata holds the code (see fetch.h).
 *
 * The store is a directory (OYS_STORE, default /var/lib/oys/code) holding one file per code,
 * named by its content hash, plus:
 *   names/<NAME>   a name pointing to an id ("id\n"); updating code = pointing it elsewhere
 *   tx/<0xADDR>.<0xHASH>  (caches only) the content hash of a transaction's code
 *   .tmp/          puts in progress, each locked by its writer; a killed writer's file is
 *                  swept by the next put
 *   .lock          the writer lock of the storage server (oys_store_lock)
 *   .nonces/       the storage server's challenges: <NONCE> while it may be used (its mtime
 *                  is when it was issued), <NONCE>.used once it was (kept a while, so a replay
 *                  is named as one); swept when expired
 * Code files are written to .tmp/ while hashed, fsync'd, then renamed to their id and the
 * directory fsync'd: a crash leaves either no file or the whole file, never a part, and
 * concurrent puts of the same code are harmless (the same bytes renamed onto the same name).
 * Reads verify the hash, so a damaged file is reported, never served. */
#ifndef OYS_STORE_H
#define OYS_STORE_H

#include <jv.h>
#include <limits.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define OYS_DEFAULT_STORE "/var/lib/oys/code"
/* The default largest code a store accepts and a fetch returns. */
#define OYS_CODE_MAX_DEFAULT (64u << 20)
#define OYS_CODE_NAME_MAX 63

enum oys_code_id_kind {
	OYS_CODE_ID_INVALID = 0,
	OYS_CODE_ID_HASH = 1, /* 64 lowercase hex: SHA-256 of the code */
	OYS_CODE_ID_TX = 2,   /* 0x + 64 hex (either case): a transaction hash */
};

/* The kind of id (never touches the file system); OYS_CODE_ID_INVALID for anything else, including
 * NULL, uppercase content hashes, "../x", whitespace, and any other length. */
int oys_code_id_kind(const char *id);
/* Whether id is a valid code id of either kind. */
int oys_code_id_valid(const char *id);
/* The same as a check: 0, or OYS_EUSAGE with the one message every tool gives,
 * "'ID' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits)". */
int oys_code_id_check(const char *id, struct oys_err *e);
/* Whether name is a valid store name: 1 to 63 of [A-Za-z0-9._-], not starting with '.' or
 * '-', and not itself a code id. */
int oys_store_name_valid(const char *name);

/* Whether s is an http:// or https:// URL (a storage server) rather than a directory. */
int oys_store_is_url(const char *s);

struct oys_store {
	char dir[PATH_MAX];
};

/* Opens the store at dir (NULL: OYS_DEFAULT_STORE). With create, the directory is
 * made (mode 0750) when missing; otherwise a missing store is OYS_ENOINPUT. dir must not be a
 * URL (that is a storage server: see fetch.h). */
int oys_store_open(struct oys_store *s, const char *dir, int create, struct oys_err *e);

/* Stores len bytes; id gets their content hash. Re-putting existing code is harmless (and
 * repairs a damaged file). Returns 0 or an error (OYS_ECANTCREAT, OYS_EIO). */
int oys_store_put(const struct oys_store *s, const void *data, size_t len, char id[65],
                  struct oys_err *e);
/* The same from a file descriptor, streamed (not held in memory), at most max bytes
 * (0: OYS_CODE_MAX_DEFAULT; more: OYS_EDATA and nothing stored). what names fd in errors. */
int oys_store_put_fd(const struct oys_store *s, int fd, const char *what, size_t max,
                     char id[65], struct oys_err *e);

/* The same, the first nhead bytes of the code already read from fd into head. */
int oys_store_put_fd_head(const struct oys_store *s, const void *head, size_t nhead, int fd, const char *what,
                          size_t max, char id[65], struct oys_err *e);

/* Reads code by content hash into out (appended), at most max bytes (0: the default), and
 * verifies it. Invalid id: OYS_EUSAGE. Missing: OYS_ENOINPUT "code ID not found in DIR".
 * Damaged (hash differs): OYS_EDATA. */
int oys_store_get(const struct oys_store *s, const char *id, size_t max, struct oys_buf *out,
                  struct oys_err *e);

/* Whether code with this content hash is in the store (1) or not (0). */
int oys_store_has(const struct oys_store *s, const char *id);

/* The bytes of code the store holds (the sum of its code files' sizes), into *bytes. */
int oys_store_usage(const struct oys_store *s, unsigned long long *bytes, struct oys_err *e);

/* Takes the store's writer lock (an flock on DIR/.lock, created 0600), waiting for it, so that
 * a check and the write it allows (a quota, a name not yet taken) are one step for every
 * process that takes it. *fd gets the lock's descriptor: close it to release. */
int oys_store_lock(const struct oys_store *s, int *fd, struct oys_err *e);

/* ---- challenges (single-use nonces) of the storage server ----
 * Each request is its own process (inetd-style), so the nonces live in DIR/.nonces/ (0700):
 * issuing creates a file named by the nonce (O_EXCL), using it renames that file to
 * <NONCE>.used, which succeeds for exactly one of any number of concurrent users. */

#define OYS_NONCE_LEN 32 /* bytes; 64 hex digits */

/* Issues a fresh nonce (32 random bytes) into hex, after sweeping nonces and marks of used
 * ones older than keep_s (at least ttl_s). max_live unexpired nonces already waiting to be
 * used: OYS_EUNAVAIL (nothing issued). */
int oys_store_nonce_issue(const struct oys_store *s, long ttl_s, long keep_s, size_t max_live,
                          char hex[2 * OYS_NONCE_LEN + 1], struct oys_err *e);

/* Uses the nonce (32 bytes): 0 when it was issued here, is at most ttl_s seconds old and was
 * not used before; it cannot be used again. Otherwise OYS_ENOPERM, the message saying why:
 * "nonce was not issued by this server", "nonce was already used (a replayed document)",
 * "nonce expired (issued N s ago, a challenge lasts M s)". */
int oys_store_nonce_use(const struct oys_store *s, const unsigned char nonce[OYS_NONCE_LEN], long ttl_s,
                        struct oys_err *e);

/* Removes code by id. Missing: OYS_ENOINPUT. Names that pointed to it stay, dangling. */
int oys_store_rm(const struct oys_store *s, const char *id, struct oys_err *e);

/* Points name at id (which must be in the store), atomically: readers see the old id or the
 * new one. */
int oys_store_name_set(const struct oys_store *s, const char *name, const char *id,
                       struct oys_err *e);
/* The id name points to. Unknown name: OYS_ENOINPUT. */
int oys_store_name_get(const struct oys_store *s, const char *name, char id[65],
                       struct oys_err *e);
int oys_store_name_rm(const struct oys_store *s, const char *name, struct oys_err *e);
/* An id, or a name resolved to its id. Neither a valid id nor a valid name: OYS_EUSAGE. */
int oys_store_resolve(const struct oys_store *s, const char *id_or_name, char id[65],
                      struct oys_err *e);

/* Everything in the store as a JSON array, sorted by id:
 * [{"id": ID, "size": BYTES, "mtime": "2026-11-23T13:12:01Z", "names": [NAME...]}], then
 * names whose code is gone as {"id": ID, "size": null, "names": [...], "missing": true}. */
int oys_store_list(const struct oys_store *s, jv *out, struct oys_err *e);

/* Transaction index (used by the fetch cache): (contract, tx) -> content hash of the code in
 * the transaction's calldata, which was checked to be sent to that contract. Any case. */
int oys_store_tx_set(const struct oys_store *s, const char *contract, const char *tx,
                     const char *id, struct oys_err *e);
/* 0 and the content hash, or OYS_ENOINPUT when not recorded. */
int oys_store_tx_get(const struct oys_store *s, const char *contract, const char *tx, char id[65],
                     struct oys_err *e);

#endif
