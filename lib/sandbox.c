/* sandbox.c: the layers around one workerd (see sandbox.h). */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp-bpf.h" /* generated at build time: oys_seccomp_bpf[] */

char *const oys_sandbox_env[] = {NULL};

int oys_sandbox_for_slot(long long base, int slot, struct oys_sandbox *sb, struct oys_err *e)
{
	memset(sb, 0, sizeof *sb);
	sb->netns_fd = -1;
	sb->private_proc = 1;
	sb->seccomp = 1;
	if (base == OYS_SANDBOX_ROOT) {
		sb->keep_uid = 1;
		return 0;
	}
	if (base == 0)
		base = OYS_SANDBOX_DEFAULT_UID;
	long long uid = base + slot;
	if (base < 1 || slot < 0 || uid > OYS_SANDBOX_UID_MAX + 1023)
		return oys_err_set(e, OYS_ECONFIG, "sandbox uid %lld (base %lld, slot %d) is out of range", uid, base, slot);
	sb->uid = (uid_t)uid;
	return 0;
}

unsigned long oys_sandbox_clone_flags(const struct oys_sandbox *sb)
{
	return sb && sb->private_proc ? CLONE_NEWNS | CLONE_NEWPID : 0;
}

/* ---- the request directory ---- */

int oys_sandbox_handoff(const char *dir, uid_t uid, gid_t gid, struct oys_err *e)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return oys_err_sys(e, OYS_ESOFTWARE, "cannot open %s", dir);
	DIR *d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return oys_err_sys(e, OYS_ESOFTWARE, "cannot read %s", dir);
	}
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		struct stat st;
		int fd = openat(dfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
			rc = oys_err_set(e, OYS_ESOFTWARE, "cannot hand %s/%s to the sandbox: not a plain file", dir, de->d_name);
		else if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0400) < 0)
			rc = oys_err_sys(e, OYS_ESOFTWARE, "cannot hand %s/%s to uid %u", dir, de->d_name, (unsigned)uid);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && (fchown(dfd, uid, gid) < 0 || fchmod(dfd, 0500) < 0))
		rc = oys_err_sys(e, OYS_ESOFTWARE, "cannot hand %s to uid %u", dir, (unsigned)uid);
	closedir(d);
	return rc;
}

/* ---- the filter ---- */

size_t oys_sandbox_seccomp_len(void)
{
	return sizeof oys_seccomp_bpf / sizeof *oys_seccomp_bpf;
}

int oys_sandbox_seccomp_cmp(const void *p, size_t n)
{
	return n == sizeof oys_seccomp_bpf ? memcmp(p, oys_seccomp_bpf, n) : 1;
}

int oys_sandbox_seccomp(void)
{
	struct sock_fprog prog = {(unsigned short)oys_sandbox_seccomp_len(), (struct sock_filter *)oys_seccomp_bpf};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : errno;
}

/* ---- in the child ---- */

/* No capability in any set: capget after the uid change (or capset to none when the uid
 * stays). */
static int no_caps(int set)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (set && syscall(SYS_capset, &h, d) < 0)
		return errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return errno;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return EPERM;
	return 0;
}

#define STEP(s, call)            \
	do {                         \
		*step = (s);             \
		if ((call) < 0)          \
			return errno;        \
	} while (0)

int oys_sandbox_enter(const struct oys_sandbox *sb, const char *dir, int *step)
{
	/* 1. namespaces, while still root */
	if (sb->netns_fd >= 0)
		STEP(OYS_SB_NETNS, setns(sb->netns_fd, CLONE_NEWNET));
	else if (sb->new_netns)
		STEP(OYS_SB_NETNS, unshare(CLONE_NEWNET));
	if (sb->private_proc) {
		/* Nothing mounted here reaches the host's namespace, then a /proc of this PID
		 * namespace: other processes' command lines are out of sight. */
		STEP(OYS_SB_MOUNTS, mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL));
		STEP(OYS_SB_PROC, mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
	}
	if (dir)
		STEP(OYS_SB_CHDIR, chdir(dir));

	/* 2. the identity: bounding and ambient sets first (dropping needs CAP_SETPCAP), then
	 * groups, gid, uid; the uid change empties the permitted and effective sets. */
	*step = OYS_SB_BOUNDING;
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the last capability this kernel knows */
			return errno;
		}
	}
	STEP(OYS_SB_AMBIENT, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
	if (!sb->keep_uid) {
		STEP(OYS_SB_GROUPS, setgroups(0, NULL));
		STEP(OYS_SB_GID, setresgid(sb->uid, sb->uid, sb->uid));
		STEP(OYS_SB_UID, setresuid(sb->uid, sb->uid, sb->uid));
	}
	*step = OYS_SB_CAPS;
	int err = no_caps(1);
	if (err)
		return err;
	/* A change of credentials clears the parent-death signal: set it again. */
	STEP(OYS_SB_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

	/* 3. no new privileges, 4. the filter, last */
	STEP(OYS_SB_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	if (sb->seccomp) {
		*step = OYS_SB_SECCOMP;
		if ((err = oys_sandbox_seccomp()) != 0)
			return err;
	}
	*step = OYS_SB_OK;
	return 0;
}

int oys_sandbox_error(struct oys_err *e, const struct oys_sandbox *sb, int step, int err, const char *what)
{
	char id[64];
	if (sb && !sb->keep_uid)
		snprintf(id, sizeof id, "uid %u", (unsigned)sb->uid);
	else
		snprintf(id, sizeof id, "the caller's uid");
	const char *s;
	switch (step) {
	case OYS_SB_CGROUP: s = "cannot enter its cgroup"; break;
	case OYS_SB_NETNS: s = "cannot enter its network namespace"; break;
	case OYS_SB_MOUNTS: s = "cannot make its mounts private"; break;
	case OYS_SB_PROC: s = "cannot mount its /proc"; break;
	case OYS_SB_CHDIR: s = "cannot enter its directory"; break;
	case OYS_SB_BOUNDING: s = "cannot drop the capability bounding set"; break;
	case OYS_SB_AMBIENT: s = "cannot clear the ambient capabilities"; break;
	case OYS_SB_GROUPS: s = "cannot drop the supplementary groups"; break;
	case OYS_SB_GID:
	case OYS_SB_UID:
		return oys_err_set(e, err == EPERM ? OYS_ENOPERM : OYS_EOSERR,
		                   "%s: cannot switch to %s%s: %s%s", what, step == OYS_SB_GID ? "the gid of " : "", id,
		                   strerror(err), err == EPERM ? " (oys must run as root to start workerd as its own user)" : "");
	case OYS_SB_CAPS: s = "cannot drop its capabilities"; break;
	case OYS_SB_PDEATHSIG: s = "cannot set its parent-death signal"; break;
	case OYS_SB_NNP: s = "cannot set no_new_privs"; break;
	case OYS_SB_SECCOMP: s = "cannot install the seccomp filter"; break;
	case OYS_SB_EXEC:
		return oys_err_set(e, err == ENOENT || err == EACCES || err == ENOEXEC ? OYS_ECONFIG : OYS_EOSERR,
		                   "cannot run %s as %s: %s%s", what, id, strerror(err),
		                   err == EACCES ? " (every directory above it must be open to that user)" : "");
	default: s = "cannot start"; break;
	}
	return oys_err_set(e, OYS_EOSERR, "%s: %s: %s", what, s, strerror(err));
}
