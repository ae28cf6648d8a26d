#include "console.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void oys_console_keep(struct oys_console *c, const char *p, size_t n)
{
	if (c->first.len < OYS_CONSOLE_KEEP) {
		size_t take = OYS_CONSOLE_KEEP - c->first.len;
		if (take > n)
			take = n;
		oys_buf_append(&c->first, p, take);
		p += take;
		n -= take;
	}
	if (n == 0)
		return;
	oys_buf_append(&c->last, p, n);
	if (c->last.len > 2 * OYS_CONSOLE_KEEP) {
		size_t drop = c->last.len - OYS_CONSOLE_KEEP;
		memmove(c->last.data, c->last.data + drop, OYS_CONSOLE_KEEP);
		c->last.len = OYS_CONSOLE_KEEP;
		c->last.data[c->last.len] = '\0';
		c->dropped += drop;
	}
}

void oys_console_free(struct oys_console *c)
{
	oys_buf_free(&c->first);
	oys_buf_free(&c->last);
	c->dropped = 0;
}

static int starts(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(s, prefix, k) == 0;
}

static const char *find_in(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

/* "workerd/some/file.c++:123: level: rest" -> rest, or NULL for user output. */
static const char *internal_line(const char *s, size_t n, size_t *restlen)
{
	if (!starts(s, n, "workerd/"))
		return NULL;
	const char *colon = memchr(s, ':', n);
	if (colon == NULL)
		return NULL;
	const char *p = colon + 1;
	while (p < s + n && isdigit((unsigned char)*p))
		p++;
	if (p >= s + n || *p != ':' || p == colon + 1)
		return NULL;
	p++;
	while (p < s + n && *p == ' ')
		p++;
	*restlen = (size_t)(s + n - p);
	return p;
}

static void filter(const char *raw, size_t len, struct oys_buf *out)
{
	const char *p = raw, *end = raw + len;
	int in_stack = 0; /* following "    at ..." lines belong to an uncaught exception */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t rn;
		const char *rest = internal_line(p, n, &rn);
		if (rest) {
			in_stack = 0;
			const char *st = find_in(rest, rn, "uncaught exception; source = ");
			const char *stack = st ? find_in(rest, rn, "; stack = ") : NULL;
			if (stack) {
				/* workerd/io/worker.c++: info: uncaught exception; source = ...; stack = Error: m */
				stack += strlen("; stack = ");
				oys_buf_puts(out, "Uncaught ");
				oys_buf_append(out, stack, (size_t)(rest + rn - stack));
				oys_buf_putc(out, '\n');
				in_stack = 1;
			} else if (find_in(rest, rn, "uncaught exception; exception = ") ||
			           find_in(rest, rn, "Uncaught exception: ") || find_in(rest, rn, "NOSENTRY")) {
				/* the same exception again in C++ words, or workerd's own housekeeping
				 * ("NOSENTRY ... compile cache ..."): not the function's */
			} else {
				/* another internal message: keep its last "failed: ..." part */
				const char *f = NULL, *q;
				for (q = rest; (q = find_in(q, (size_t)(rest + rn - q), "failed: ")) != NULL; q++)
					f = q;
				const char *msg = f ? f + strlen("failed: ") : rest;
				oys_buf_puts(out, "workerd: ");
				oys_buf_append(out, msg, (size_t)(rest + rn - msg));
				oys_buf_putc(out, '\n');
			}
		} else if (starts(p, n, "stack: /") || starts(p, n, "stack: ")) {
			/* native stack addresses: no use to a function's author */
		} else if (in_stack && (starts(p, n, "    at ") || starts(p, n, "\tat "))) {
			oys_buf_append(out, p, n);
			oys_buf_putc(out, '\n');
		} else {
			in_stack = 0;
			if (n > 0 || nl) {
				oys_buf_append(out, p, n);
				oys_buf_putc(out, '\n');
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (out->data == NULL && oys_buf_reserve(out, 0) == 0)
		out->data[0] = '\0';
}

void oys_console_text(const struct oys_console *c, struct oys_buf *out)
{
	filter(c->first.data ? c->first.data : "", c->first.len, out);
	if (c->last.len == 0)
		return;
	const char *t = c->last.data;
	size_t n = c->last.len;
	/* The window may start mid-line: from its first full line. */
	if (c->dropped > 0) {
		const char *nl = memchr(t, '\n', n);
		if (nl) {
			n -= (size_t)(nl + 1 - t);
			t = nl + 1;
		}
		oys_buf_printf(out, "[... %zu bytes of output not kept ...]\n", c->dropped);
	}
	filter(t, n, out);
}

void oys_console_start_error(const struct oys_console *c, char *out, size_t outsz)
{
	struct oys_buf t = OYS_BUF_INIT;
	oys_console_text(c, &t);
	out[0] = '\0';
	const char *s = t.data ? t.data : "";
	/* workerd: "service main: Uncaught SyntaxError: msg\n  at worker.js:2:32" */
	const char *u = strstr(s, "Uncaught ");
	if (u) {
		const char *nl = strchr(u, '\n');
		size_t n = nl ? (size_t)(nl - u) : strlen(u);
		const char *at = nl ? nl + 1 : NULL;
		while (at && (*at == ' ' || *at == '\t'))
			at++;
		if (at && strncmp(at, "at ", 3) == 0) {
			const char *nl2 = strchr(at, '\n');
			snprintf(out, outsz, "%.*s %.*s", (int)n, u, (int)(nl2 ? (size_t)(nl2 - at) : strlen(at)), at);
		} else {
			snprintf(out, outsz, "%.*s", (int)n, u);
		}
	} else {
		/* the last non-empty line */
		const char *last = NULL, *p = s;
		size_t lastn = 0;
		while (*p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if (n > 0) {
				last = p;
				lastn = n;
			}
			p += n + (nl != NULL);
		}
		if (last)
			snprintf(out, outsz, "%.*s", (int)lastn, last);
	}
	/* "service main: " is workerd's prefix, not the function's words */
	if (strncmp(out, "service main: ", 14) == 0)
		memmove(out, out + 14, strlen(out + 14) + 1);
	oys_buf_free(&t);
}
