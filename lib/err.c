#include "err.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *oys_progname = "oys";

void oys_set_progname(const char *argv0)
{
	if (argv0 == NULL || *argv0 == '\0')
		return;
	const char *slash = strrchr(argv0, '/');
	oys_progname = slash ? slash + 1 : argv0;
}

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
		e->msg[0] = '\0';
	}
}

const char *oys_exit_name(int code)
{
	switch (code) {
	case OYS_OK: return "ok";
	case OYS_EFAIL: return "failed";
	case OYS_EUSAGE: return "usage";
	case OYS_EDATA: return "bad_data";
	case OYS_ENOINPUT: return "not_found";
	case OYS_EUNAVAIL: return "unavailable";
	case OYS_ESOFTWARE: return "internal";
	case OYS_EOSERR: return "system";
	case OYS_ECANTCREAT: return "cant_create";
	case OYS_EIO: return "io";
	case OYS_ETEMPFAIL: return "timeout";
	case OYS_ENOPERM: return "refused";
	case OYS_ECONFIG: return "config";
	case OYS_EEXEC: return "exec_failed";
	case OYS_ENOTFOUND: return "command_not_found";
	default: return code > 128 ? "killed" : "error";
	}
}

static void vwarn(const char *fmt, va_list ap, int with_errno, int saved)
{
	char msg[OYS_ERR_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (with_errno) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof msg - n, ": %s", strerror(saved));
	}
	one_line(msg);
	oys_log_diag(msg);
}

void oys_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap, 0, 0);
	va_end(ap);
}

void oys_warn_sys(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap, 1, saved);
	va_end(ap);
}

void oys_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap, 0, 0);
	va_end(ap);
	exit(code);
}

void oys_die_sys(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap, 1, saved);
	va_end(ap);
	exit(code);
}

void oys_die_err(const struct oys_err *e)
{
	oys_log_diag(e->msg[0] ? e->msg : "failed");
	exit(e->code ? e->code : OYS_ESOFTWARE);
}
