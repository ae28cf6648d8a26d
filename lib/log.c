/* log.c: what goes to stderr, and how (see log.h). */
#include "log.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum oys_log_format format = OYS_LOG_AUTO;

const char *oys_progname = "oys";

void oys_set_progname(const char *argv0)
{
	if (argv0 == NULL || *argv0 == '\0')
		return;
	const char *slash = strrchr(argv0, '/');
	oys_progname = slash ? slash + 1 : argv0;
}

int oys_log_parse_format(const char *s, enum oys_log_format *out)
{
	if (strcmp(s, "auto") == 0)
		*out = OYS_LOG_AUTO;
	else if (strcmp(s, "human") == 0 || strcmp(s, "text") == 0)
		*out = OYS_LOG_HUMAN;
	else if (strcmp(s, "json") == 0)
		*out = OYS_LOG_JSON;
	else
		return -1;
	return 0;
}

void oys_log_set_format(enum oys_log_format f)
{
	format = f;
}

enum oys_log_format oys_log_event_format(void)
{
	if (format == OYS_LOG_AUTO)
		return isatty(STDERR_FILENO) ? OYS_LOG_HUMAN : OYS_LOG_JSON;
	return format;
}

/* Whether diagnostics are JSON (only when asked for explicitly). */
static int oys_log_diag_is_json(void)
{
	return format == OYS_LOG_JSON;
}

void oys_log_write_line(const char *line, size_t len)
{
	/* One write per line; retry on EINTR, give up quietly otherwise (stderr is best effort). */
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		line += n;
		len -= (size_t)n;
	}
}

void oys_log_timestamp(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* JSON string escaping for the diagnostic line; messages are already one line. */
static size_t json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
		} else {
			dst[n++] = (char)c;
		}
	}
	dst[n] = '\0';
	return n;
}

/* One diagnostic line (already one line, no program name). */
static void oys_log_diag(const char *msg)
{
	char line[OYS_ERR_MAX * 2 + 256];
	int n;
	if (oys_log_diag_is_json()) {
		char ts[32], esc[OYS_ERR_MAX * 2];
		oys_log_timestamp(ts);
		json_escape(esc, sizeof esc, msg);
		n = snprintf(line, sizeof line, "{\"time\":\"%s\",\"prog\":\"%s\",\"level\":\"error\",\"msg\":\"%s\"}\n",
		             ts, oys_progname, esc);
	} else {
		n = snprintf(line, sizeof line, "%s: %s\n", oys_progname, msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	oys_log_write_line(line, (size_t)n);
}

/* ---- diagnostics: "prog: message" ---- */

static void vwarn(const char *fmt, va_list ap, int with_errno, int saved)
{
	struct oys_err e;
	oys_err_vset(&e, OYS_EFAIL, fmt, ap); /* one line */
	if (with_errno) {
		size_t n = strlen(e.msg);
		snprintf(e.msg + n, sizeof e.msg - n, ": %s", strerror(saved));
	}
	oys_log_diag(e.msg);
}

void oys_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap, 0, 0);
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
