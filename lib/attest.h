/* attest.h: AWS Nitro attestation documents: fetch, verify, and (for development) issue.
 *
 * A document is a COSE_Sign1 (CBOR, tagged 18 or not) whose payload is a CBOR map with
 * module_id, digest, timestamp (ms), pcrs, certificate (leaf, DER), cabundle (root first),
 * public_key, user_data, nonce; signed with ES384 by the leaf certificate's P-384 key. */
#ifndef OYS_ATTEST_H
#define OYS_ATTEST_H

#include <jv.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "err.h"

#define OYS_ATTEST_MAX_PCRS 32
#define OYS_ATTEST_DEFAULT_URL "http://127.0.0.1:1300"

struct oys_attest_pcr {
	int index;
	unsigned char value[64];
	size_t len;
};

struct oys_attest_policy {
	const char *root_pem;           /* path of the trusted root; NULL: share/certs AWS root G1 */
	struct oys_attest_pcr pcrs[OYS_ATTEST_MAX_PCRS];
	size_t npcrs;                   /* each listed PCR must equal its value exactly */
	long long max_age_s;            /* > 0: the document's timestamp is at most this old */
	time_t at;                      /* verify as of this moment; 0: now */
	const unsigned char *nonce;     /* non-NULL: must equal the document's nonce */
	size_t nonce_len;
	const unsigned char *public_key; /* non-NULL: must equal the document's public_key */
	size_t public_key_len;
};

/* Verifies doc (raw CBOR) against the policy: structure, protected header (ES384), signature
 * over the rebuilt Sig_structure, certificate chain from cabundle to the trusted root, validity
 * as of policy->at, then the PCR, age, nonce and key checks. Fails closed: any failure is
 * OYS_ENOPERM with one line naming what failed ("signature does not verify", "pcr 0 mismatch",
 * "certificate chain: ...", "expired ...", "malformed document at <field>"). On success, when
 * payload is non-NULL, *payload is the JSON of the payload (module_id, digest, timestamp,
 * pcrs as hex strings keyed by index, certificate/cabundle omitted, public_key, user_data,
 * nonce as hex or null). Never reads out of bounds on hostile bytes. */
int oys_attest_verify(const unsigned char *doc, size_t len, const struct oys_attest_policy *p,
                      jv *payload, struct oys_err *e);

/* Decodes a document given as raw CBOR, hex or base64 (detected) into raw bytes. Empty or
 * undecodable input: OYS_EDATA. */
int oys_attest_decode(const char *in, size_t len, struct oys_buf *raw, struct oys_err *e);

/* Gets a document from an attestation server (base URL; NULL: $OYS_ATTESTATION_URL or the
 * default), GET <url>/attestation/raw. Unreachable: OYS_EUNAVAIL. */
int oys_attest_fetch(const char *url, struct oys_buf *doc, struct oys_err *e);

/* Parses "N=HEX" into a PCR entry; returns 0 or -1. */
int oys_attest_parse_pcr(const char *s, struct oys_attest_pcr *out);

#endif
