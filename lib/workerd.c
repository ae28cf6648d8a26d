#include "workerd.h"
#include "cgroup.h"
#include "file.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ---- spawning ---- */

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A fresh listening Unix socket at path (close-on-exec; the child gets it through dup2). */
static int listen_unix(const char *path, struct oys_workerd *w, struct oys_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path)
		return oys_err_set(e, OYS_ECONFIG, "socket path %s is longer than %zu bytes (use a shorter OYS_RUNTIME_DIR)",
		                   path, sizeof sa.sun_path - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return oys_err_sys(e, OYS_EOSERR, "socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
		oys_err_sys(e, OYS_EOSERR, "cannot listen on %s", path);
		close(fd);
		return e ? e->code : OYS_EOSERR;
	}
	w->lfd = fd;
	memcpy(w->sock, sa.sun_path, sizeof w->sock);
	w->sock_ours = 1;
	return 0;
}

/* What the child needs, prepared by the parent (the child allocates nothing). */
struct child {
	const struct oys_workerd_spawn *s;
	const char *argv[8 + OYS_WORKERD_MAX_ARGS];
	char config[4096];
	int lfd, outw, errw;
	int enter_cg;         /* cgroup v1 (or no clone3): the child moves itself in */
};

/* A descriptor out of the way of 0-3, which the child fills (close-on-exec). */
static int high(int fd)
{
	return fd >= 0 && fd < 10 ? fcntl(fd, F_DUPFD_CLOEXEC, 10) : fd;
}

static void report(int errw, int step, int err)
{
	int v[2] = {step, err};
	ssize_t n = write(errw, v, sizeof v);
	(void)n;
	_exit(OYS_EEXEC);
}

/* The child: its own process group, dies with us, inside the cgroup and the sandbox, then
 * workerd. Every failure goes to the parent as (step, errno). */
static void child(const struct child *c)
{
	const struct oys_workerd_spawn *s = c->s;
	int errw = high(c->errw), outw = high(c->outw), lfd = high(c->lfd);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* the parent may have died before PR_SET_PDEATHSIG: then nobody reads the pipe */
	struct pollfd p = {errw, POLLOUT, 0};
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		_exit(OYS_EOSERR);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	struct oys_sandbox sb;
	if (s->sb) {
		sb = *s->sb;
		sb.netns_fd = high(sb.netns_fd);
	}
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (errw < 0 || outw < 0 || lfd < 0 || devnull < 0 || dup2(devnull, 0) < 0 || dup2(outw, 1) < 0 ||
	    dup2(outw, 2) < 0 || dup2(lfd, 3) < 0)
		report(errw, OYS_SB_SPAWN, errno);
	if (c->enter_cg && oys_cgroup_enter(s->cg, NULL))
		report(errw, OYS_SB_CGROUP, errno);
	/* Everything but 0-3 and the error pipe closes at exec; the pipe tells the parent so. */
	if (syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
		report(errw, OYS_SB_SPAWN, errno);
	int step = OYS_SB_OK, err = 0;
	if (s->sb)
		err = oys_sandbox_enter(&sb, s->dir, &step);
	else if (s->dir && chdir(s->dir) < 0)
		err = errno, step = OYS_SB_CHDIR;
	if (err)
		report(errw, step, err);
	/* The uid change cleared the parent-death signal until the sandbox set it again: the
	 * parent may have died in between. */
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR))
		_exit(OYS_EOSERR);
	execve(s->workerd, (char *const *)c->argv, oys_sandbox_env);
	report(errw, OYS_SB_EXEC, errno);
}

/* clone3 with CLONE_INTO_CGROUP (v2) when cgfd >= 0, else clone; like fork, returns twice. */
static pid_t clone_child(unsigned long flags, int cgfd, int *into)
{
	*into = 0;
	if (cgfd >= 0) {
		struct clone_args a;
		memset(&a, 0, sizeof a);
		a.flags = flags | CLONE_INTO_CGROUP;
		a.exit_signal = SIGCHLD;
		a.cgroup = (uint64_t)cgfd;
		pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
		if (pid >= 0) {
			*into = 1;
			return pid;
		}
		if (errno != ENOSYS && errno != EINVAL && errno != E2BIG)
			return -1;
		/* before 5.7: no CLONE_INTO_CGROUP, the child moves itself */
	}
	if (flags == 0)
		return fork();
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

int oys_workerd_spawn(const struct oys_workerd_spawn *s, struct oys_workerd *w, struct oys_err *e)
{
	memset(w, 0, sizeof *w);
	w->pid = -1;
	w->pidfd = w->outfd = w->lfd = -1;
	w->status = -1;
	snprintf(w->host, sizeof w->host, "localhost");

	struct child c;
	memset(&c, 0, sizeof c);
	c.s = s;
	size_t na = 0;
	c.argv[na++] = "workerd";
	c.argv[na++] = "serve";
	if (s->dir && (size_t)snprintf(c.config, sizeof c.config, "/proc/self/cwd/%s", s->config) >= sizeof c.config)
		return oys_err_set(e, OYS_ECONFIG, "config name too long");
	c.argv[na++] = s->dir ? c.config : s->config;
	c.argv[na++] = "--verbose";
	c.argv[na++] = "--socket-fd";
	c.argv[na++] = "http=3";
	for (size_t i = 0; s->args && s->args[i]; i++) {
		if (i == OYS_WORKERD_MAX_ARGS)
			return oys_err_set(e, OYS_ESOFTWARE, "more than %d workerd arguments", OYS_WORKERD_MAX_ARGS);
		c.argv[na++] = s->args[i];
	}
	c.argv[na] = NULL;

	int rc;
	if (s->socket) {
		if ((rc = listen_unix(s->socket, w, e)))
			return rc;
		c.lfd = w->lfd;
	} else {
		c.lfd = s->listen_fd;
	}
	int out[2], ep[2];
	if (pipe2(out, O_CLOEXEC) < 0) {
		oys_workerd_stop(w);
		return oys_err_sys(e, OYS_EOSERR, "pipe");
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		oys_workerd_stop(w);
		return oys_err_sys(e, OYS_EOSERR, "pipe");
	}
	w->outfd = out[0];
	c.outw = out[1];
	c.errw = ep[1];
	int cgfd = s->cg ? oys_cgroup_fd(s->cg) : -1, into;
	w->t_spawn_ms = oys_now_ms();
	pid_t pid = clone_child(oys_sandbox_clone_flags(s->sb), cgfd, &into);
	if (pid == 0) {
		c.enter_cg = s->cg && !into;
		child(&c);
	}
	int clone_errno = errno;
	if (cgfd >= 0)
		close(cgfd);
	close(out[1]);
	close(ep[1]);
	if (pid < 0) {
		close(ep[0]);
		errno = clone_errno;
		oys_err_sys(e, errno == EPERM ? OYS_ENOPERM : OYS_EOSERR, "cannot start workerd%s",
		            s->sb && s->sb->private_proc ? " in PID and mount namespaces of its own" : "");
		oys_workerd_stop(w);
		return e ? e->code : OYS_EOSERR;
	}
	setpgid(pid, pid); /* also from here, so the group exists before we might signal it */
	w->pid = pid;
	/* The pipe closes at exec, or carries the step that failed. */
	int v[2];
	ssize_t n;
	while ((n = read(ep[0], v, sizeof v)) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (n == (ssize_t)sizeof v) {
		oys_sandbox_error(e, s->sb, v[0], v[1], s->workerd);
		rc = e ? e->code : OYS_EOSERR;
		oys_workerd_stop(w);
		oys_console_free(&w->console);
		return rc;
	}
	fcntl(w->outfd, F_SETFL, O_NONBLOCK);
	w->pidfd = pidfd_open_(pid);
	if (w->pidfd < 0) {
		oys_err_sys(e, OYS_EOSERR, "pidfd_open");
		oys_workerd_stop(w);
		return OYS_EOSERR;
	}
	return 0;
}

/* ---- connecting ---- */

int oys_workerd_connect_path(const char *path, struct oys_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		oys_err_set(e, OYS_ECONFIG, "socket path %s is longer than %zu bytes", path, sizeof sa.sun_path - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
		oys_err_sys(e, OYS_EOSERR, "cannot connect to workerd on %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int oys_workerd_connect(const struct oys_workerd *w, struct oys_err *e)
{
	return oys_workerd_connect_path(w->sock, e);
}

/* ---- output ---- */

int oys_workerd_drain(struct oys_workerd *w)
{
	char buf[16384];
	for (;;) {
		ssize_t n = read(w->outfd, buf, sizeof buf);
		if (n > 0) {
			oys_console_keep(&w->console, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		close(w->outfd);
		w->outfd = -1;
		return 0;
	}
}

void oys_workerd_free(struct oys_workerd *w)
{
	oys_workerd_stop(w);
	oys_console_free(&w->console);
}

void oys_workerd_stop(struct oys_workerd *w)
{
	if (w->pid > 0) {
		kill(-w->pid, SIGKILL);
		kill(w->pid, SIGKILL);
		/* SIGKILL is prompt; still, never hang here: wait on the pidfd with a bound. */
		if (w->pidfd >= 0) {
			struct pollfd p = {w->pidfd, POLLIN, 0};
			poll(&p, 1, 5000);
		}
		int st;
		if (waitpid(w->pid, &st, w->pidfd >= 0 ? WNOHANG : 0) == w->pid)
			w->status = st;
		w->pid = -1;
	}
	/* Whatever it wrote before dying is still in the pipe. */
	for (int i = 0; i < 64 && w->outfd >= 0 && oys_workerd_drain(w); i++) {
		struct pollfd p = {w->outfd, POLLIN, 0};
		if (poll(&p, 1, 50) <= 0)
			break;
	}
	if (w->outfd >= 0)
		close(w->outfd);
	if (w->pidfd >= 0)
		close(w->pidfd);
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->sock_ours)
		unlink(w->sock);
	w->sock_ours = 0;
	w->outfd = w->pidfd = w->lfd = -1;
}
