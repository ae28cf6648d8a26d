/* rlp.c: the RLP encoder (see rlp.h). */
#include "rlp.h"

/* The header of a string (base 0x80) or list (base 0xc0) of n payload bytes. */
static int header(struct oys_buf *out, unsigned char base, size_t n)
{
	if (n <= 55)
		return oys_buf_putc(out, (char)(base + n));
	unsigned char len[sizeof(size_t)];
	size_t k = 0;
	for (size_t v = n; v; v >>= 8)
		k++;
	for (size_t i = 0; i < k; i++)
		len[i] = (unsigned char)(n >> (8 * (k - 1 - i)));
	if (oys_buf_putc(out, (char)(base + 55 + k)) < 0)
		return -1;
	return oys_buf_append(out, len, k);
}

int oys_rlp_bytes(struct oys_buf *out, const void *p, size_t n)
{
	const unsigned char *b = p;
	if (n == 1 && b[0] < 0x80)
		return oys_buf_putc(out, (char)b[0]);
	if (header(out, 0x80, n) < 0)
		return -1;
	return n ? oys_buf_append(out, p, n) : 0;
}

int oys_rlp_uint_be(struct oys_buf *out, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n > 0 && b[0] == 0) {
		b++;
		n--;
	}
	return oys_rlp_bytes(out, b, n);
}

int oys_rlp_uint(struct oys_buf *out, unsigned long long v)
{
	unsigned char be[8];
	for (int i = 7; i >= 0; i--, v >>= 8)
		be[i] = (unsigned char)v;
	return oys_rlp_uint_be(out, be, sizeof be);
}

int oys_rlp_list(struct oys_buf *out, const void *payload, size_t n)
{
	if (header(out, 0xc0, n) < 0)
		return -1;
	return n ? oys_buf_append(out, payload, n) : 0;
}
