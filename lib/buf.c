#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int oys_buf_reserve(struct oys_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1) {
		errno = EOVERFLOW;
		return -1;
	}
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *p = realloc(b->data, cap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int oys_buf_append(struct oys_buf *b, const void *p, size_t n)
{
	if (oys_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int oys_buf_puts(struct oys_buf *b, const char *s)
{
	return oys_buf_append(b, s, strlen(s));
}

int oys_buf_putc(struct oys_buf *b, char c)
{
	return oys_buf_append(b, &c, 1);
}

static int oys_buf_vprintf(struct oys_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || oys_buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int oys_buf_printf(struct oys_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = oys_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void oys_buf_reset(struct oys_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void oys_buf_free(struct oys_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *oys_buf_steal(struct oys_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	if (p == NULL)
		p = calloc(1, 1);
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
