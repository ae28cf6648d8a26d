/* buf.h: a growable byte buffer, always NUL-terminated so text can be used as a C string. */
#ifndef OYS_BUF_H
#define OYS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct oys_buf {
	char *data; /* NULL until the first append; then data[len] == '\0' */
	size_t len;
	size_t cap;
};

#define OYS_BUF_INIT {NULL, 0, 0}

/* All return 0, or -1 with errno ENOMEM (or EOVERFLOW) and the buffer unchanged. */
int oys_buf_reserve(struct oys_buf *b, size_t extra);
int oys_buf_append(struct oys_buf *b, const void *p, size_t n);
int oys_buf_puts(struct oys_buf *b, const char *s);
int oys_buf_putc(struct oys_buf *b, char c);
int oys_buf_printf(struct oys_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oys_buf_reset(struct oys_buf *b); /* len = 0, memory kept */
void oys_buf_free(struct oys_buf *b);
/* Hands the memory to the caller (never NULL: an empty string when nothing was appended). */
char *oys_buf_steal(struct oys_buf *b, size_t *len);

#endif
