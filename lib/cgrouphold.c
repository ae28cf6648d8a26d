/* cgrouphold.c: a pool's cgroups by name, for the command line (oys-cgroup list, stat,
 * reserve, exec, release): opening a member, and the holders that keep a reservation after
 * oys-cgroup has exited. oys-cgroup links it, and oys-run and oys-serve for
 * oys_cgroup_open_pool() (a warm sandbox's cgroup, which oys-warm holds, warm.c). */
#include "cgroup-int.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define RELEASE_WAIT_MS 5000
#define HOLDER_COMM "oys-cg-hold"

int oys_cgroup_open_pool(const char *prefix, const char *name, struct oys_cgroup *cg,
                         struct oys_err *e)
{
	const struct hier *h;
	int rc;
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	if (!oys_cgroup_valid_name(name))
		return oys_err_set(e, OYS_EUSAGE, "invalid cgroup name '%s': use letters, digits, '_' and '-'",
		                   name ? name : "");
	if ((rc = oys_cg_check_prefix(&prefix, e)) || (rc = oys_cg_hier(&h, e)))
		return rc;
	/* A member is PREFIX<i> with i inside the pool: a foreign cgroup named like one is not. */
	int i = oys_cg_member_index(prefix, name);
	if (i >= 0 && i < oys_cg_pool_size(h, prefix)) {
		if ((rc = oys_cg_fill(cg, h, name, e)))
			return rc;
		if (oys_cg_is_dir(P(cg)->dir[D_MEM])) {
			struct note nt;
			if (oys_cg_note_read(name, &nt) == 0)
				cg->oom_base = nt.base;
			return 0;
		}
	}
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	return oys_err_set(e, OYS_ENOINPUT, "no cgroup %s in pool %s (see oys-cgroup list)", name, prefix);
}

int oys_cgroup_member(const char *prefix, int index, struct oys_cgroup *cg, struct oys_err *e)
{
	char name[128];
	int rc = oys_cg_check_prefix(&prefix, e);
	if (rc)
		return rc;
	snprintf(name, sizeof name, "%s%d", prefix, index);
	return oys_cgroup_open_pool(prefix, name, cg, e);
}

int oys_cgroup_hold(struct oys_cgroup *cg, pid_t *holder, struct oys_err *e)
{
	int p[2];
	if (cg->lockfd < 0)
		return oys_err_set(e, OYS_ESOFTWARE, "cgroup %s is not reserved", cg->name);
	if (pipe2(p, O_CLOEXEC) < 0)
		return oys_err_sys(e, OYS_EOSERR, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return oys_err_sys(e, OYS_EOSERR, "fork");
	}
	if (pid == 0) {
		/* The holder: its own session, no files but the lock and the pipe until it is ready. */
		setsid();
		prctl(PR_SET_NAME, HOLDER_COMM, 0, 0, 0);
		if (chdir("/") < 0)
			_exit(OYS_EOSERR);
		int nul = open("/dev/null", O_RDWR);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
			_exit(OYS_EOSERR);
		int keep = cg->lockfd;
		for (int fd = 3; fd < 1024; fd++)
			if (fd != keep && fd != p[1])
				close(fd);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		oys_cg_note_write(keep, (long)getpid(), "hold", cg->oom_base);
		if (write(p[1], "r", 1) != 1)
			_exit(OYS_EOSERR);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	char c;
	ssize_t r;
	do
		r = read(p[0], &c, 1);
	while (r < 0 && errno == EINTR);
	close(p[0]);
	if (r != 1)
		return oys_err_set(e, OYS_EOSERR, "the holder of cgroup %s did not start", cg->name);
	close(cg->lockfd); /* the holder has it now */
	cg->lockfd = -1;
	if (holder)
		*holder = pid;
	return 0;
}

int oys_cgroup_exec(struct oys_cgroup *cg, char *const argv[], struct oys_err *e)
{
	int rc;
	if (!oys_cg_can_write(CP(cg)->dir[D_MEM], "cgroup.procs"))
		return oys_cg_need_root(e, CP(cg)->dir[D_MEM]);
	if (cg->lockfd >= 0) {
		oys_cg_note_write(cg->lockfd, (long)getpid(), "exec", cg->oom_base);
		int fl = fcntl(cg->lockfd, F_GETFD);
		if (fl < 0 || fcntl(cg->lockfd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
			return oys_err_sys(e, OYS_EOSERR, "lock of %s", cg->name);
	}
	if ((rc = oys_cgroup_enter(cg, e)))
		return rc;
	if (setenv("OYS_CGROUP", cg->name, 1) < 0)
		return oys_err_sys(e, OYS_EOSERR, "setenv");
	execvp(argv[0], argv);
	int saved = errno;
	return oys_err_set(e, saved == ENOENT ? OYS_ENOTFOUND : OYS_EEXEC, "cannot run %s: %s", argv[0],
	                   strerror(saved));
}

static int holder_is_ours(long pid)
{
	char path[64], comm[32];
	snprintf(path, sizeof path, "/proc/%ld", pid);
	if (oys_cg_get(path, "comm", comm, sizeof comm))
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, HOLDER_COMM) == 0;
}

int oys_cgroup_release_name(struct oys_cgroup *cg, struct oys_err *e)
{
	if (!oys_cg_can_write(CP(cg)->dir[D_MEM], "cgroup.procs"))
		return oys_cg_need_root(e, CP(cg)->dir[D_MEM]);
	int fd = oys_cg_lock_take(cg->name, e);
	if (fd < 0 && errno != EWOULDBLOCK)
		return e ? e->code : OYS_ECANTCREAT;
	if (fd < 0) {
		struct note nt;
		int known = oys_cg_note_read(cg->name, &nt) == 0;
		if (known && strcmp(nt.kind, "hold") == 0 && holder_is_ours(nt.pid)) {
			kill((pid_t)nt.pid, SIGTERM);
		} else if (known && strcmp(nt.kind, "exec") == 0) {
			int rc = oys_cgroup_kill(cg, e); /* the command runs inside */
			if (rc)
				return rc;
		} else {
			return oys_err_set(e, OYS_EUNAVAIL, "%s is reserved by process %ld, which is not a holder "
			                   "of oys-cgroup reserve", cg->name, known ? nt.pid : 0L);
		}
		double t0 = oys_now_ms();
		while ((fd = oys_cg_lock_take(cg->name, NULL)) < 0) {
			if (errno != EWOULDBLOCK || oys_now_ms() - t0 > RELEASE_WAIT_MS)
				return oys_err_set(e, OYS_ETEMPFAIL, "%s: its holder did not let go within %d ms",
				                   cg->name, RELEASE_WAIT_MS);
			struct timespec ts = {0, 2000000};
			nanosleep(&ts, NULL);
		}
	}
	cg->lockfd = fd;
	int rc = oys_cgroup_kill(cg, e);
	close(fd);
	cg->lockfd = -1;
	return rc;
}
