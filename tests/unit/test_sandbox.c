/* The seccomp filter around workerd (lib/sandbox.c installs it, lib/seccomp.c is its table):
 * the built-in program is the one libseccomp compiles from the table today; in a child that
 * installed it through the library, every denied call fails with the table's errno without
 * running, while ordinary calls (files, memory, fork, threads) work.
 *
 * Each denied call is made with arguments that would fail differently (EFAULT, EINVAL,
 * EBADF...) or do nothing if the filter let it through, so an EPERM can only be the filter's
 * and a broken filter changes nothing on the machine. */
#include "tap.h"
#include "../../lib/sandbox.h"
#include "../../lib/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct call {
	const char *name;
	long nr;
	long a[6];
};

#define BAD ((long)1) /* an address nothing is mapped at */

static const struct call calls[] = {
	{"ptrace", SYS_ptrace, {-1, 0, 0, 0, 0, 0}},
	{"process_vm_readv", SYS_process_vm_readv, {0, 0, 0, 0, 0, 1}},
	{"process_vm_writev", SYS_process_vm_writev, {0, 0, 0, 0, 0, 1}},
	{"mount", SYS_mount, {0, 0, 0, 0, 0, 0}},
	{"umount2", SYS_umount2, {0, 0, 0, 0, 0, 0}},
	{"pivot_root", SYS_pivot_root, {0, 0, 0, 0, 0, 0}},
	{"chroot", SYS_chroot, {0, 0, 0, 0, 0, 0}},
	{"fsopen", SYS_fsopen, {0, 0, 0, 0, 0, 0}},
	{"fsconfig", SYS_fsconfig, {-1, 0, 0, 0, 0, 0}},
	{"fsmount", SYS_fsmount, {-1, 0, 0, 0, 0, 0}},
	{"fspick", SYS_fspick, {-1, 0, 0, 0, 0, 0}},
	{"move_mount", SYS_move_mount, {-1, 0, -1, 0, 0, 0}},
	{"open_tree", SYS_open_tree, {-1, 0, 0, 0, 0, 0}},
	{"mount_setattr", SYS_mount_setattr, {-1, 0, 0, 0, 0, 0}},
	{"setns", SYS_setns, {-1, 0, 0, 0, 0, 0}},
	{"unshare", SYS_unshare, {0, 0, 0, 0, 0, 0}},
	{"open_by_handle_at", SYS_open_by_handle_at, {-1, 0, 0, 0, 0, 0}},
	{"name_to_handle_at", SYS_name_to_handle_at, {-1, 0, 0, 0, 0, 0}},
	{"quotactl", SYS_quotactl, {0, 0, 0, 0, 0, 0}},
	{"quotactl_fd", SYS_quotactl_fd, {-1, 0, 0, 0, 0, 0}},
	{"swapon", SYS_swapon, {0, 0, 0, 0, 0, 0}},
	{"swapoff", SYS_swapoff, {0, 0, 0, 0, 0, 0}},
	{"bpf", SYS_bpf, {-1, 0, 0, 0, 0, 0}},
	{"perf_event_open", SYS_perf_event_open, {0, 0, -1, -1, 0, 0}},
	{"userfaultfd", SYS_userfaultfd, {-1, 0, 0, 0, 0, 0}},
	{"io_uring_setup", SYS_io_uring_setup, {0, 0, 0, 0, 0, 0}},
	{"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, 0, 0, 0}},
	{"io_uring_register", SYS_io_uring_register, {-1, 0, 0, 0, 0, 0}},
	{"keyctl", SYS_keyctl, {-1, 0, 0, 0, 0, 0}},
	{"add_key", SYS_add_key, {0, 0, 0, 0, 0, 0}},
	{"request_key", SYS_request_key, {0, 0, 0, 0, 0, 0}},
	{"kexec_load", SYS_kexec_load, {0, 0, 0, -1, 0, 0}},
	{"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, 0, -1, 0}},
	{"init_module", SYS_init_module, {0, 0, 0, 0, 0, 0}},
	{"finit_module", SYS_finit_module, {-1, 0, 0, 0, 0, 0}},
	{"delete_module", SYS_delete_module, {0, 0, 0, 0, 0, 0}},
	{"syslog", SYS_syslog, {-1, 0, 0, 0, 0, 0}},
	{"reboot", SYS_reboot, {0, 0, 0, 0, 0, 0}},
	{"acct", SYS_acct, {BAD, 0, 0, 0, 0, 0}},
	{"iopl", SYS_iopl, {4, 0, 0, 0, 0, 0}},
	{"ioperm", SYS_ioperm, {-1, 1, 0, 0, 0, 0}},
	{"settimeofday", SYS_settimeofday, {BAD, 0, 0, 0, 0, 0}},
	{"clock_settime", SYS_clock_settime, {-1, 0, 0, 0, 0, 0}},
	{"adjtimex", SYS_adjtimex, {BAD, 0, 0, 0, 0, 0}},
	{"clock_adjtime", SYS_clock_adjtime, {-1, 0, 0, 0, 0, 0}},
	{"clone3", SYS_clone3, {0, 0, 0, 0, 0, 0}},
	/* clone with a namespace flag, and CLONE_THREAD without CLONE_SIGHAND (EINVAL unfiltered) */
	{"clone(CLONE_NEWUSER)", SYS_clone, {CLONE_NEWUSER | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWNS)", SYS_clone, {CLONE_NEWNS | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWPID)", SYS_clone, {CLONE_NEWPID | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWNET)", SYS_clone, {CLONE_NEWNET | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWUTS)", SYS_clone, {CLONE_NEWUTS | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWIPC)", SYS_clone, {CLONE_NEWIPC | CLONE_THREAD, 0, 0, 0, 0, 0}},
	{"clone(CLONE_NEWCGROUP)", SYS_clone, {CLONE_NEWCGROUP | CLONE_THREAD, 0, 0, 0, 0, 0}},
	/* getpid through the x32 ABI, another architecture for the filter */
	{"x32 getpid", 0x40000000L | SYS_getpid, {0, 0, 0, 0, 0, 0}},
};
#define NCALLS (sizeof calls / sizeof *calls)

/* The errno the table gives name (clone's rule: EPERM; another architecture: EPERM). */
static int want(const char *name)
{
	for (size_t i = 0; i < oys_seccomp_ndeny; i++)
		if (strcmp(oys_seccomp_deny[i].syscall, name) == 0)
			return oys_seccomp_deny[i].err;
	return EPERM;
}

/* getpid through int 0x80 (i386): the filter sees the i386 architecture. */
static long i386_getpid(void)
{
	long r = 20; /* __NR_getpid on i386 */
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	return r;
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* What the child found, sent to the parent. */
struct result {
	int installed;           /* 0 or the errno of installing it */
	int seccomp_mode;        /* from /proc/self/status */
	int err[NCALLS];         /* errno of each call, 0 when it succeeded */
	long i386;               /* int 0x80 getpid: -errno or a pid */
	int open_ok, mmap_ok, fork_ok, thread_ok;
};

static void child(int fd)
{
	struct result r;
	memset(&r, 0, sizeof r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r.installed = errno;
	else
		r.installed = oys_sandbox_seccomp();
	char st[4096];
	int sfd = open("/proc/self/status", O_RDONLY);
	ssize_t n = sfd >= 0 ? read(sfd, st, sizeof st - 1) : -1;
	st[n > 0 ? n : 0] = '\0';
	const char *m = strstr(st, "\nSeccomp:");
	r.seccomp_mode = m ? atoi(m + 9) : -1;
	r.open_ok = sfd >= 0 && n > 0;
	if (sfd >= 0)
		close(sfd);
	if (r.installed == 0) {
		for (size_t i = 0; i < NCALLS; i++) {
			const long *a = calls[i].a;
			errno = 0;
			long v = syscall(calls[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);
			r.err[i] = v == -1 ? errno : 0;
		}
		r.i386 = i386_getpid();
	}
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r.mmap_ok = p != MAP_FAILED && (memset(p, 1, 1 << 20), munmap(p, 1 << 20) == 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(7);
	int ws;
	r.fork_ok = pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 7;
	pthread_t t;
	void *back = NULL;
	r.thread_ok = pthread_create(&t, NULL, thread_fn, &r) == 0 && pthread_join(t, &back) == 0 && back == &r;
	ssize_t w = write(fd, &r, sizeof r);
	_exit(w == (ssize_t)sizeof r ? 0 : 1);
}

int main(void)
{
	/* The program built into lib/sandbox.c is the table's, compiled today. */
	struct oys_err e = {0};
	int mfd = memfd_create("bpf", MFD_CLOEXEC);
	int rc = oys_seccomp_export(mfd, &e);
	off_t len = lseek(mfd, 0, SEEK_END);
	char *prog = malloc(len > 0 ? (size_t)len : 1);
	ok(rc == 0 && len > 0 && pread(mfd, prog, (size_t)len, 0) == len, "libseccomp compiles the table (%s)",
	   rc ? e.msg : "ok");
	ok(rc == 0 && oys_sandbox_seccomp_cmp(prog, (size_t)len) == 0,
	   "the built-in filter (%zu instructions) is the table's: rebuild after editing lib/seccomp.c",
	   oys_sandbox_seccomp_len());
	free(prog);
	close(mfd);

	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(p[1]);
	}
	close(p[1]);
	struct result r;
	ssize_t n = read(p[0], &r, sizeof r);
	int ws;
	waitpid(pid, &ws, 0);
	ok(n == (ssize_t)sizeof r && WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the child ran and reported");
	if (n != (ssize_t)sizeof r)
		return tap_done();
	ok(r.installed == 0, "installed through the library after PR_SET_NO_NEW_PRIVS (%s)", strerror(r.installed));
	ok(r.seccomp_mode == 2, "/proc/self/status says Seccomp: 2 (filter), got %d", r.seccomp_mode);
	for (size_t i = 0; i < NCALLS; i++) {
		const char *name = calls[i].name;
		char base[32];
		snprintf(base, sizeof base, "%.*s", (int)strcspn(name, "("), name);
		int w = want(base);
		ok(r.err[i] == w, "%s fails with %s (got %s)", name, strerror(w), r.err[i] ? strerror(r.err[i]) : "success");
	}
	ok(r.i386 == -EPERM, "an i386 system call (int 0x80) fails with EPERM (got %ld)", r.i386);
	ok(r.open_ok && r.mmap_ok, "files and memory work under the filter");
	ok(r.fork_ok, "fork works (clone without a namespace flag)");
	ok(r.thread_ok, "threads work (clone3 fails with ENOSYS, the C library falls back to clone)");

	/* every entry of the table was tried above */
	size_t tried = 0;
	for (size_t i = 0; i < oys_seccomp_ndeny; i++)
		for (size_t k = 0; k < NCALLS; k++)
			if (strcmp(calls[k].name, oys_seccomp_deny[i].syscall) == 0) {
				tried++;
				break;
			}
	ok(tried == oys_seccomp_ndeny, "every call of the table is tried (%zu of %zu)", tried, oys_seccomp_ndeny);
	return tap_done();
}
