#include "workerd.h"
#include "cgroup.h"
#include "file.h"
#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- spawning ---- */

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Forks and execs workerd serving config with lfd as fd 3 (see workerd.h). */
static int spawn(const char *workerd, const char *config, const struct oys_cgroup *cg, int lfd,
                 const char *const *extra, struct oys_workerd *w, struct oys_err *e)
{
	enum { MAX_EXTRA = 8 };
	const char *argv[7 + MAX_EXTRA] = {"workerd", "serve", config, "--verbose", "--socket-fd", "http=3"};
	size_t argc = 6;
	for (; extra && *extra; extra++) {
		if (argc >= 6 + MAX_EXTRA)
			return oys_err_set(e, OYS_ESOFTWARE, "too many workerd arguments");
		argv[argc++] = *extra;
	}
	argv[argc] = NULL;

	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return oys_err_sys(e, OYS_EOSERR, "pipe");
	pid_t parent = getpid();
	w->t_spawn_ms = oys_now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return oys_err_sys(e, OYS_EOSERR, "fork");
	}
	if (pid == 0) {
		/* The child: its own process group, dies with us, starts inside the cgroup. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(OYS_EOSERR);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0 ||
		    dup2(lfd, 3) < 0)
			_exit(OYS_EOSERR);
		if (cg) {
			struct oys_err ce = {0};
			if (oys_cgroup_enter(cg, &ce)) {
				dprintf(2, "oys: cannot enter cgroup: %s\n", ce.msg);
				_exit(OYS_EOSERR);
			}
		}
		syscall(SYS_close_range, 4u, ~0u, 0u);
		execv(workerd, (char *const *)argv);
		dprintf(2, "oys: cannot run %s: %s\n", workerd, strerror(errno));
		_exit(errno == ENOENT ? OYS_ENOTFOUND : OYS_EEXEC);
	}
	close(out[1]);
	setpgid(pid, pid); /* also from here, so the group exists before we might signal it */
	w->pid = pid;
	w->outfd = out[0];
	fcntl(w->outfd, F_SETFL, O_NONBLOCK);
	w->pidfd = pidfd_open_(pid);
	if (w->pidfd < 0) {
		oys_err_sys(e, OYS_EOSERR, "pidfd_open");
		oys_workerd_stop(w);
		return OYS_EOSERR;
	}
	return 0;
}

static void init(struct oys_workerd *w)
{
	memset(w, 0, sizeof *w);
	w->pid = -1;
	w->pidfd = w->outfd = w->lfd = -1;
	w->status = -1;
}

int oys_workerd_spawn(const char *workerd, const char *config, const struct oys_cgroup *cg,
                      struct oys_workerd *w, struct oys_err *e)
{
	init(w);
	w->lfd = oys_port_listen("127.0.0.1", 0, 16, &w->port, e);
	if (w->lfd < 0)
		return e ? e->code : OYS_EOSERR;
	snprintf(w->host, sizeof w->host, "127.0.0.1:%d", w->port);
	fcntl(w->lfd, F_SETFD, FD_CLOEXEC); /* the child gets it as fd 3 through dup2 */
	int rc = spawn(workerd, config, cg, w->lfd, NULL, w, e);
	if (rc && w->lfd >= 0) {
		close(w->lfd);
		w->lfd = -1;
	}
	return rc;
}

int oys_workerd_spawn_fd(const char *workerd, const char *config, const struct oys_cgroup *cg, int lfd,
                         const char *const *extra, struct oys_workerd *w, struct oys_err *e)
{
	init(w);
	return spawn(workerd, config, cg, lfd, extra, w, e);
}

/* ---- connecting ---- */

int oys_workerd_connect(const struct oys_workerd *w, struct oys_err *e)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)w->port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
		oys_err_sys(e, OYS_EOSERR, "cannot connect to workerd on port %d", w->port);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
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
	w->outfd = w->pidfd = w->lfd = -1;
}
