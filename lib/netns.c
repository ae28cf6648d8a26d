/* netns.c: a network namespace per pool slot (see netns.h). */
#include "netns.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

static int path_of(const char *name, char *out, size_t n)
{
	if (strchr(name, '/') || name[0] == '.' || name[0] == '\0')
		return -1;
	int k = snprintf(out, n, "%s/netns/%s", oys_runtime_dir(), name);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

/* fd is a network namespace (an nsfs file of type net). */
static int is_netns(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && sf.f_type == NSFS_MAGIC && ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
}

int oys_netns_exists(const char *name)
{
	char path[PATH_MAX];
	return path_of(name, path, sizeof path) == 0 && access(path, F_OK) == 0;
}

/* A child makes the namespace and binds it on path (the mount is in our mount namespace). */
static int make(const char *path, struct oys_err *e)
{
	int fd = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0)
		return oys_err_sys(e, errno == EACCES ? OYS_ENOPERM : OYS_ECANTCREAT, "cannot create %s", path);
	close(fd);
	pid_t pid = fork();
	if (pid < 0)
		return oys_err_sys(e, OYS_EOSERR, "fork");
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
			_exit(2);
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	unlink(path);
	return oys_err_set(e, OYS_ENOPERM, "cannot make the network namespace %s: %s (run as root)", path,
	                   WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "unshare(CLONE_NEWNET) refused" : "bind mount refused");
}

int oys_netns_open(const char *name, int *fd, struct oys_err *e)
{
	char path[PATH_MAX], dir[PATH_MAX];
	*fd = -1;
	if (path_of(name, path, sizeof path) < 0)
		return oys_err_set(e, OYS_ESOFTWARE, "bad network namespace name '%s'", name);
	for (int tries = 0; tries < 2; tries++) {
		int f = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (f >= 0 && is_netns(f)) {
			*fd = f;
			return 0;
		}
		if (f >= 0) {
			close(f); /* a mount point whose mount is gone (a crash between the two): again */
			umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
			unlink(path);
		} else if (errno != ENOENT) {
			return oys_err_sys(e, OYS_EIO, "cannot open %s", path);
		}
		int rc = oys_runtime_subdir("netns", dir, sizeof dir, e);
		if (rc == 0)
			rc = make(path, e);
		if (rc)
			return rc;
	}
	return oys_err_set(e, OYS_ESOFTWARE, "%s is not a network namespace", path);
}

int oys_netns_remove(const char *name)
{
	char path[PATH_MAX];
	if (path_of(name, path, sizeof path) < 0) {
		errno = EINVAL;
		return -1;
	}
	/* a mount point may carry the namespace more than once (made twice after a crash) */
	for (int i = 0; i < 8; i++) {
		if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno != EINVAL && errno != ENOENT)
			return -1;
		break;
	}
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}
