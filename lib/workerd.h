/* workerd.h: one workerd process for one request: spawned inside a cgroup and a sandbox with an
 * inherited listening Unix socket (never a TCP port: finding 7 of issue 13), connected to, its
 * console output kept, and killed. The exchange over the connection is fn.h's. */
#ifndef OYS_WORKERD_H
#define OYS_WORKERD_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

#include "console.h"
#include "err.h"

struct oys_cgroup;
struct oys_sandbox;

#define OYS_WORKERD_MAX_ARGS 16 /* extra arguments of workerd serve */

/* How to start it. Zero fields are defaults, so callers set what they need and new fields
 * can be added without touching them. */
struct oys_workerd_spawn {
	const char *workerd;          /* the binary */
	const char *config;           /* its config: a path, or with dir a file name in dir */
	const char *dir;              /* NULL, or the directory the child works in (the request
	                                 directory): workerd then opens the config as
	                                 /proc/self/cwd/NAME, so the directory's parents need not be
	                                 open to the sandbox's user */
	const char *socket;           /* bind a fresh AF_UNIX listening socket here (0700 directory) */
	int listen_fd;                /* with socket NULL: hand this listening socket instead (the
	                                 caller's; left open) */
	const char *const *args;      /* more arguments of `workerd serve`, NULL-terminated, or NULL */
	const struct oys_cgroup *cg;  /* NULL: the caller's cgroups */
	const struct oys_sandbox *sb; /* NULL: no sandbox (benchmarks of bare workerd only) */
};

struct oys_workerd {
	pid_t pid;             /* -1 when not running */
	int pidfd;             /* readable when it exits */
	int outfd;             /* its stdout and stderr, merged (read end of a pipe) */
	int lfd;               /* the listening socket it was given (our copy; -1 when the caller's) */
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* where it listens ("" when the
	                                                            caller gave the socket) */
	int sock_ours;         /* we bound sock: unlinked when stopped */
	char host[32];         /* the Host a request without one names */
	int status;            /* wait status once reaped, else -1 */
	double t_spawn_ms;     /* oys_now_ms() at fork */
	struct oys_console console; /* what it wrote, bounded */
};

/* Starts `workerd serve CONFIG --verbose --socket-fd http=3 [ARGS]` with the listening socket
 * as fd 3, stdin /dev/null, stdout and stderr into w->outfd, in its own process group, dying
 * with us (PR_SET_PDEATHSIG), in the empty environment.
 *
 * Its cgroup: on cgroup v2 it is created inside (clone3 with CLONE_INTO_CGROUP, nothing
 * moves); on v1 it moves itself in between fork and exec. Its sandbox (s->sb, see sandbox.h)
 * is set up in the child before exec. Whatever fails in the child is reported by this function
 * (the child writes the failing step and errno on a pipe), not left in workerd's console:
 * OYS_ENOPERM, OYS_EOSERR, or OYS_ECONFIG for a workerd that cannot be run. */
int oys_workerd_spawn(const struct oys_workerd_spawn *s, struct oys_workerd *w, struct oys_err *e);

/* A new connection to w's socket: a non-blocking stream socket, connected or connecting (the
 * exchange waits until it is writable), or -1 and e. */
int oys_workerd_connect(const struct oys_workerd *w, struct oys_err *e);
/* The same to the workerd listening at path (a warm sandbox's, which this process did not
 * start). */
int oys_workerd_connect_path(const char *path, struct oys_err *e);

/* Reads what w wrote so far into w->console. Returns 0 at the end of its output (outfd closed),
 * 1 otherwise. */
int oys_workerd_drain(struct oys_workerd *w);

/* Kills the process group and reaps it (bounded); drains what is left of its output; removes
 * the socket it bound. */
void oys_workerd_stop(struct oys_workerd *w);
/* Stops it if needed and frees the console. */
void oys_workerd_free(struct oys_workerd *w);

#endif
