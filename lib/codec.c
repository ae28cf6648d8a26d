#include "codec.h"
#include "sha256.h"

#include <ctype.h>
#include <string.h>

void oys_hex_to(char *out, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int oys_hex_encode(struct oys_buf *out, const void *p, size_t n)
{
	if (oys_buf_reserve(out, n * 2) < 0)
		return -1;
	oys_hex_to(out->data + out->len, p, n);
	out->len += 2 * n;
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int oys_hex_decode(struct oys_buf *out, const char *s, size_t n)
{
	if (n % 2 || oys_buf_reserve(out, n / 2) < 0)
		return -1;
	size_t start = out->len;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0) {
			out->len = start;
			out->data[start] = '\0';
			return -1;
		}
		out->data[out->len++] = (char)(hi << 4 | lo);
	}
	out->data[out->len] = '\0';
	return 0;
}

int oys_is_hex(const char *s, size_t n, int lower)
{
	if (strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (!(isdigit(c) || (c >= 'a' && c <= 'f') || (!lower && c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int oys_base64_encode(struct oys_buf *out, const void *p, size_t n)
{
	const unsigned char *b = p;
	if (oys_buf_reserve(out, (n + 2) / 3 * 4) < 0)
		return -1;
	char *o = out->data + out->len;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = b64[(v >> 6) & 63];
		*o++ = b64[v & 63];
	}
	if (i < n) {
		unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int oys_base64_decode(struct oys_buf *out, const char *s, size_t n)
{
	if (oys_buf_reserve(out, n / 4 * 3 + 3) < 0)
		return -1;
	size_t start = out->len;
	unsigned acc = 0;
	int bits = 0, pad = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (isspace(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		int v = b64val(c);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (char)(acc >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero padding of a valid length (2 or 4 bits). */
	if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
		goto bad;
	out->data[out->len] = '\0';
	return 0;
bad:
	out->len = start;
	out->data[start] = '\0';
	return -1;
}

int oys_sha256_hex(const void *p, size_t n, char out[65])
{
	/* In the tree (sha256.c): loading libcrypto for it cost every request about 2 ms. */
	unsigned char md[OYS_SHA256_LEN];
	oys_sha256(p, n, md);
	oys_hex_to(out, md, OYS_SHA256_LEN);
	return 0;
}
