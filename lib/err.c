/* err.c: error values (see err.h). Printing them is log.c's job. */
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

int oys_err_vset(struct oys_err *e, int code, const char *fmt, va_list ap)
{
	if (e == NULL)
		return code;
	e->code = code;
	e->sys = 0;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	one_line(e->msg);
	return code;
}

int oys_err_set(struct oys_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	oys_err_vset(e, code, fmt, ap);
	va_end(ap);
	return code;
}

int oys_err_sys(struct oys_err *e, int code, const char *fmt, ...)
{
	int saved = errno;
	if (e == NULL)
		return code;
	va_list ap;
	va_start(ap, fmt);
	oys_err_vset(e, code, fmt, ap);
	va_end(ap);
	size_t n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	e->sys = saved;
	return code;
}

int oys_err_wrap(struct oys_err *e, const char *fmt, ...)
{
	if (e == NULL)
		return 0;
	char prefix[OYS_ERR_MAX], old[OYS_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	if (snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old) >= (int)sizeof e->msg)
		memcpy(e->msg + sizeof e->msg - 4, "...", 4); /* show that it was cut */
	one_line(e->msg);
	return e->code;
}

void oys_err_clear(struct oys_err *e)
{
	if (e) {
		e->code = 0;
		e->sys = 0;
		e->msg[0] = '\0';
	}
}
