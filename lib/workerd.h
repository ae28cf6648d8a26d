/* workerd.h: one workerd process for one request: spawned inside a cgroup with an inherited
 * listening socket, connected to, its console output kept, and killed. The exchange over the
 * connection is fn.h's. */
#ifndef OYS_WORKERD_H
#define OYS_WORKERD_H

#include <stddef.h>
#include <sys/types.h>

#include "console.h"
#include "err.h"

struct oys_cgroup;

struct oys_workerd {
	pid_t pid;             /* -1 when not running */
	int pidfd;             /* readable when it exits */
	int outfd;             /* its stdout and stderr, merged (read end of a pipe) */
	int lfd;               /* the listening socket it was given (our copy) */
	int port;              /* where that socket listens */
	char host[32];         /* the Host a request without one names: "127.0.0.1:PORT" */
	int status;            /* wait status once reaped, else -1 */
	double t_spawn_ms;     /* oys_now_ms() at fork */
	struct oys_console console; /* what it wrote, bounded */
};

/* Starts `workerd serve CONFIG --verbose --socket-fd http=3` with a fresh listening socket on
 * 127.0.0.1 as fd 3, in its own process group, inside cg (when not NULL; entered between fork
 * and exec), with PR_SET_PDEATHSIG so it dies with us whatever happens to us. */
int oys_workerd_spawn(const char *workerd, const char *config, const struct oys_cgroup *cg,
                      struct oys_workerd *w, struct oys_err *e);

/* The same with a listening socket of the caller's (of any family: oys-warm's are Unix
 * sockets), which becomes the child's fd 3 and stays the caller's to close, and extra
 * arguments after the usual ones (NULL-terminated, may be NULL; e.g. "--experimental"). w->lfd
 * stays -1 and w->port 0: connecting is the caller's business. */
int oys_workerd_spawn_fd(const char *workerd, const char *config, const struct oys_cgroup *cg, int lfd,
                         const char *const *extra, struct oys_workerd *w, struct oys_err *e);

/* A new connection to w's socket: a non-blocking stream socket, connected or connecting (the
 * exchange waits until it is writable), or -1 and e. */
int oys_workerd_connect(const struct oys_workerd *w, struct oys_err *e);

/* Reads what w wrote so far into w->console. Returns 0 at the end of its output (outfd closed),
 * 1 otherwise. */
int oys_workerd_drain(struct oys_workerd *w);

/* Kills the process group and reaps it (bounded); drains what is left of its output. */
void oys_workerd_stop(struct oys_workerd *w);
/* Stops it if needed and frees the console. */
void oys_workerd_free(struct oys_workerd *w);

#endif
