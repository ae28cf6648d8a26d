/* log.h: where stderr output goes and in what shape.
 *
 * Two kinds of output share stderr:
 *  - diagnostics (oys_warn/oys_die): "prog: message", one line, the tool contract;
 *    JSON only when the format was asked for explicitly (--log-format json, OYS_LOG_FORMAT=json);
 *  - events (request log lines of the servers, see oys_log_event() in json.h): JSON lines
 *    unless stderr is a terminal or the format is "human". */
#ifndef OYS_LOG_H
#define OYS_LOG_H

#include <stddef.h>

#include "err.h"

enum oys_log_format {
	OYS_LOG_AUTO,  /* human on a terminal, JSON lines otherwise (events only) */
	OYS_LOG_HUMAN,
	OYS_LOG_JSON,
};

/* Returns 0, or -1 when s is not "auto", "human" or "json". */
int oys_log_parse_format(const char *s, enum oys_log_format *out);
void oys_log_set_format(enum oys_log_format f);
/* The format events use: AUTO resolved against isatty(2). */
enum oys_log_format oys_log_event_format(void);

/* Writes one complete line to stderr in a single write(2), so lines of concurrent
 * processes sharing a log never interleave. */
void oys_log_write_line(const char *line, size_t len);

/* Seconds since the epoch with milliseconds, as "2026-11-23T13:12:01.123Z". */
void oys_log_timestamp(char out[32]);

/* The running tool's name, set once from argv[0] by oys_opt_init(). */
extern const char *oys_progname;
void oys_set_progname(const char *argv0);

/* Diagnostics for cmd/: "prog: message" on stderr (one line, control characters as spaces).
 * oys_die() and its kin exit with the code; oys_die_err() with the error's. */
void oys_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void oys_die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void oys_die_sys(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void oys_die_err(const struct oys_err *e);

#endif
