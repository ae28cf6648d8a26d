/* rlp.h: Ethereum's Recursive Length Prefix encoding (the Yellow Paper, appendix B), the few
 * pieces a transaction hash needs: byte strings, unsigned integers, and lists.
 *
 *   a single byte below 0x80       itself
 *   a string of 0-55 bytes         0x80 + length, then the bytes
 *   a longer string                0xb7 + length of the length, the length (big-endian), bytes
 *   a list whose payload is 0-55   0xc0 + length, then the payload (the items' encodings)
 *   a longer list                  0xf7 + length of the length, the length, the payload
 * An integer is the string of its big-endian bytes without leading zeros (0 is the empty
 * string, 0x80).
 *
 * A list is built by encoding its items into a buffer of their own, then wrapping it. Every
 * function appends to out and returns 0, or -1 when memory runs out. */
#ifndef OYS_RLP_H
#define OYS_RLP_H

#include <stddef.h>

#include "buf.h"

/* A byte string. */
int oys_rlp_bytes(struct oys_buf *out, const void *p, size_t n);
/* An unsigned integer given as big-endian bytes (leading zeros are dropped). */
int oys_rlp_uint_be(struct oys_buf *out, const void *p, size_t n);
/* An unsigned integer. */
int oys_rlp_uint(struct oys_buf *out, unsigned long long v);
/* A list whose items are already encoded, back to back, in payload. */
int oys_rlp_list(struct oys_buf *out, const void *payload, size_t n);

#endif
