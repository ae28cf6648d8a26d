/* seccomp.h: the seccomp policy around workerd, kept as data (minijail-style): a table of the
 * system calls workerd never needs, each denied with an errno, compiled to a BPF program with
 * libseccomp.
 *
 * The program is compiled once, at build time (gen/seccomp-bpf.c writes it into a header that
 * lib/sandbox.c installs), because oys-run and oys-serve are one process per request: building
 * it with libseccomp on every start cost 0.1-2.5 ms here, loading the finished program costs
 * microseconds. Only the generator and the unit tests link libseccomp; the unit test checks that
 * the built-in program is the one this table compiles to. */
#ifndef OYS_SECCOMP_H
#define OYS_SECCOMP_H

#include <stddef.h>

#include "err.h"

struct oys_seccomp_rule {
	const char *syscall;   /* its name, as libseccomp resolves it */
	int err;               /* the errno the call fails with */
	const char *why;       /* what it would give a function that escaped V8 */
};

/* The table: every entry is denied outright. clone is denied only with a namespace flag (a
 * rule on its first argument, see seccomp.c); calls of another architecture (i386 through
 * int 0x80, x32) fail with EPERM. */
extern const struct oys_seccomp_rule oys_seccomp_deny[];
extern const size_t oys_seccomp_ndeny;

/* Compiles the policy for the native architecture and writes the raw BPF program (struct
 * sock_filter[]) to fd. Returns 0 or OYS_ESOFTWARE with e (an unknown system call name, a
 * libseccomp failure). */
int oys_seccomp_export(int fd, struct oys_err *e);

#endif
