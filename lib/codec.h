/* codec.h: hex, base64 and SHA-256, shared by attestation, storage and the chain source. */
#ifndef OYS_CODEC_H
#define OYS_CODEC_H

#include <stddef.h>

#include "buf.h"

/* Lowercase hex of n bytes appended to out. */
int oys_hex_encode(struct oys_buf *out, const void *p, size_t n);
/* Writes the lowercase hex of n bytes and a NUL to out (2n+1 bytes). */
void oys_hex_to(char *out, const void *p, size_t n);
/* Decodes hex (either case, even length, no prefix, no spaces) appended to out. 0 or -1. */
int oys_hex_decode(struct oys_buf *out, const char *s, size_t n);
/* Whether s is exactly n hex digits of lowercase (lower=1) or either case. */
int oys_is_hex(const char *s, size_t n, int lower);

/* Standard base64 with padding. Decoding accepts the URL-safe alphabet too, ignores
 * whitespace, and accepts missing padding; anything else is -1. */
int oys_base64_encode(struct oys_buf *out, const void *p, size_t n);
int oys_base64_decode(struct oys_buf *out, const char *s, size_t n);

/* SHA-256 of p as 64 lowercase hex characters and a NUL (out needs 65 bytes). 0 or -1. */
int oys_sha256_hex(const void *p, size_t n, char out[65]);

#endif
