/* cgrouplock.c: reservations of the pool's cgroups (see cgroup-int.h): the lock files under
 * RUNTIME/cgroup, the notes written in them, and whether they are held now (the held mark). */
#include "cgroup-int.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int oys_cg_lock_path(const char *name, char *out, size_t n)
{
	int r = snprintf(out, n, "%s/cgroup/%s.lock", oys_runtime_dir(), name);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Creates the lock directory on first use. */
int oys_cg_lock_take(const char *name, struct oys_err *e)
{
	char path[PATH_MAX], dir[PATH_MAX];
	if (oys_cg_lock_path(name, path, sizeof path) < 0) {
		oys_err_set(e, OYS_ECONFIG, "runtime directory path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	/* the lock directory, checked (once per process) before any lock in it is trusted */
	if (oys_runtime_subdir("cgroup", dir, sizeof dir, e)) {
		errno = EIO;
		return -1;
	}
	int fd = oys_lock_path(path, 0);
	if (fd >= 0)
		oys_cg_held_mark(fd, 1);
	if (fd < 0 && errno != EWOULDBLOCK) {
		int saved = errno;
		oys_err_sys(e, saved == EACCES ? OYS_ENOPERM : OYS_ECANTCREAT, "cannot lock %s", path);
		errno = saved;
	}
	return fd;
}

void oys_cg_note_put(int fd, const struct note *nt)
{
	char b[160];
	int n = snprintf(b, sizeof b, "%ld %s %llu %llu %.4f %ld\n", nt->pid, nt->kind, nt->base,
	                 nt->lim.memory, nt->lim.cpu, nt->lim.pids);
	if (n > 0 && (size_t)n < sizeof b && pwrite(fd, b, (size_t)n, 0) == n && ftruncate(fd, n) < 0)
		return;
}

static int note_parse(const char *b, struct note *nt)
{
	memset(nt, 0, sizeof *nt);
	if (sscanf(b, "%ld %7s %llu %llu %lf %ld", &nt->pid, nt->kind, &nt->base, &nt->lim.memory,
	           &nt->lim.cpu, &nt->lim.pids) < 3) {
		memset(nt, 0, sizeof *nt);
		return -1;
	}
	return 0;
}

int oys_cg_note_fd_read(int fd, struct note *nt)
{
	char b[160];
	ssize_t r = pread(fd, b, sizeof b - 1, 0);
	if (r <= 0) {
		memset(nt, 0, sizeof *nt);
		return -1;
	}
	b[r] = '\0';
	return note_parse(b, nt);
}

static int note_setlk(int fd, short type)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int r;
	while ((r = fcntl(fd, F_OFD_SETLKW, &l)) < 0 && errno == EINTR)
		;
	return r;
}

int oys_cg_note_lock(int fd)
{
	return note_setlk(fd, F_WRLCK);
}

void oys_cg_note_unlock(int fd)
{
	note_setlk(fd, F_UNLCK);
}

void oys_cg_note_write(int fd, long pid, const char *kind, unsigned long long base)
{
	struct note nt;
	int locked = oys_cg_note_lock(fd) == 0;
	oys_cg_note_fd_read(fd, &nt);
	if (strcmp(nt.kind, "gone") == 0 && strcmp(kind, "gone") != 0) {
		if (locked)
			oys_cg_note_unlock(fd);
		return; /* torn down: stays so */
	}
	nt.pid = pid;
	snprintf(nt.kind, sizeof nt.kind, "%s", kind);
	nt.base = base;
	oys_cg_note_put(fd, &nt);
	if (locked)
		oys_cg_note_unlock(fd);
}

void oys_cg_note_gone(const char *name)
{
	char path[PATH_MAX];
	if (oys_cg_lock_path(name, path, sizeof path) < 0)
		return;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	oys_cg_note_write(fd, (long)getpid(), "gone", 0);
	close(fd);
}

int oys_cg_note_read(const char *name, struct note *nt)
{
	char path[PATH_MAX];
	memset(nt, 0, sizeof *nt);
	if (oys_cg_lock_path(name, path, sizeof path) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int r = oys_cg_note_fd_read(fd, nt);
	close(fd);
	return r;
}

/* The held mark: an OFD write lock on the lock file's second byte (the note's lock is the first),
 * owned like the flock by the open file description. */
static int held_setlk(int fd, short type)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
	return fcntl(fd, F_OFD_SETLK, &l);
}

void oys_cg_held_mark(int fd, int held)
{
	held_setlk(fd, held ? F_WRLCK : F_UNLCK);
}

int oys_cg_held_probe(const char *name)
{
	char path[PATH_MAX];
	if (oys_cg_lock_path(name, path, sizeof path) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0; /* never reserved, or swept: free */
	/* could a read lock go there? not while a holder's mark is on it */
	struct flock l = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
	int held = fcntl(fd, F_OFD_GETLK, &l) == 0 && l.l_type != F_UNLCK;
	close(fd);
	return held;
}
