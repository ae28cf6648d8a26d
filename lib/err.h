/* err.h: exit codes and error values.
 *
 * Library functions never exit: they return 0 or one of the codes below and describe the
 * failure in a struct oys_err. Only cmd/ turns an error into "prog: message" and an exit,
 * with oys_die_err() and its kin (log.h). */
#ifndef OYS_ERR_H
#define OYS_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* sysexits(3), plus execline's convention for a child (126, 127, 128+N). */
enum {
	OYS_OK = 0,
	OYS_EFAIL = 1,       /* generic failure of a check (e.g. a test that says "no") */
	OYS_EUSAGE = 64,     /* bad command line */
	OYS_EDATA = 65,      /* bad data: bad JSON, code that does not compile */
	OYS_ENOINPUT = 66,   /* no such input: unknown code_id, missing file */
	OYS_EUNAVAIL = 69,   /* unavailable: no free cgroup, storage down, draining */
	OYS_ESOFTWARE = 70,  /* internal error */
	OYS_EOSERR = 71,     /* system error (fork, pipe...) */
	OYS_ECANTCREAT = 73, /* cannot create an output file */
	OYS_EIO = 74,        /* I/O error */
	OYS_ETEMPFAIL = 75,  /* temporary failure: timeout */
	OYS_ENOPERM = 77,    /* refused: attestation rejected, not allowed */
	OYS_ECONFIG = 78,    /* bad configuration */
	OYS_EEXEC = 126,     /* child: exec failed */
	OYS_ENOTFOUND = 127, /* child: not found */
};

#define OYS_ERR_MAX 1024

struct oys_err {
	int code;               /* one of the codes above, 0 when there is no error */
	int sys;                /* the errno of a system error (oys_err_sys), else 0: lets a caller
	                           tell a full disk (ENOSPC) from other I/O errors */
	char msg[OYS_ERR_MAX];  /* one line, no program name, no trailing newline */
};

/* Records an error and returns its code, so a function can `return oys_err_set(...)`.
 * Newlines and other control characters in the message become spaces: one line, always. */
int oys_err_set(struct oys_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int oys_err_vset(struct oys_err *e, int code, const char *fmt, va_list ap);
/* Same, with ": strerror(errno)" appended (errno as it was on entry, kept in e->sys). */
int oys_err_sys(struct oys_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "context: old message". Keeps the code and sys. */
int oys_err_wrap(struct oys_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oys_err_clear(struct oys_err *e);

#endif
