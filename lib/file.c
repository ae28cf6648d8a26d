#include "file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int oys_read_fd(int fd, const char *what, size_t max, struct oys_buf *b, struct oys_err *e)
{
	for (;;) {
		if (oys_buf_reserve(b, 65536) < 0)
			return oys_err_sys(e, OYS_EOSERR, "%s", what);
		size_t room = b->cap - b->len - 1;
		ssize_t n = read(fd, b->data + b->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return oys_err_sys(e, OYS_EIO, "cannot read %s", what);
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len > max)
			return oys_err_set(e, OYS_EDATA, "%s is larger than %zu bytes", what, max);
	}
	if (b->data == NULL && oys_buf_reserve(b, 0) == 0)
		b->data[0] = '\0';
	return 0;
}

int oys_read_file(const char *path, size_t max, struct oys_buf *b, struct oys_err *e)
{
	if (strcmp(path, "-") == 0)
		return oys_read_fd(STDIN_FILENO, "standard input", max, b, e);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot open %s", path);
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return oys_err_set(e, OYS_ENOINPUT, "%s is a directory", path);
	}
	int r = oys_read_fd(fd, path, max, b, e);
	close(fd);
	return r;
}

int oys_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int oys_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                     struct oys_err *e)
{
	if (strcmp(path, "-") == 0) {
		if (oys_write_all(STDOUT_FILENO, data, len) < 0)
			return oys_err_sys(e, OYS_EIO, "cannot write to standard output");
		return 0;
	}
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, sizeof dir, ".");
	else if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	char rnd[17];
	if (oys_random_hex(rnd, 8) < 0)
		return oys_err_sys(e, OYS_EOSERR, "no randomness");
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/.%s.tmp-%s", dir, slash ? slash + 1 : path, rnd) >= sizeof tmp)
		return oys_err_set(e, OYS_ECANTCREAT, "%s: path too long", path);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", tmp);
	if (oys_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		oys_err_sys(e, OYS_EIO, "cannot write %s", tmp);
		close(fd);
		unlink(tmp);
		return e ? e->code : OYS_EIO;
	}
	if (fchmod(fd, mode) < 0 || close(fd) < 0) {
		oys_err_sys(e, OYS_EIO, "cannot write %s", tmp);
		unlink(tmp);
		return e ? e->code : OYS_EIO;
	}
	if (rename(tmp, path) < 0) {
		oys_err_sys(e, OYS_ECANTCREAT, "cannot rename %s to %s", tmp, path);
		unlink(tmp);
		return e ? e->code : OYS_ECANTCREAT;
	}
	oys_fsync_dir(dir);
	return 0;
}

int oys_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

int oys_write_new(const char *path, const void *data, size_t len, mode_t mode, struct oys_err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", path);
	if (oys_write_all(fd, data, len) < 0) {
		oys_err_sys(e, OYS_EIO, "cannot write %s", path);
		close(fd);
		unlink(path);
		return OYS_EIO;
	}
	if (close(fd) < 0) {
		oys_err_sys(e, OYS_EIO, "cannot write %s", path);
		unlink(path);
		return OYS_EIO;
	}
	return 0;
}

int oys_mkdir_p(const char *path, mode_t mode, struct oys_err *e)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return oys_err_set(e, OYS_ECANTCREAT, "%s: path too long", path);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return oys_err_sys(e, OYS_ECANTCREAT, "cannot create directory %s", p);
			*s = c;
			if (c == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return oys_err_set(e, OYS_ECANTCREAT, "%s is not a directory", path);
	return 0;
}

static int rm_at(int dfd, const char *name, int depth)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth > 32) {
		errno = ELOOP;
		return -1;
	}
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (rm_at(dirfd(d), de->d_name, depth + 1) < 0)
			r = -1;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = -1;
	return r;
}

int oys_rm_rf(const char *path, struct oys_err *e)
{
	if (rm_at(AT_FDCWD, path, 0) < 0)
		return oys_err_sys(e, OYS_EIO, "cannot remove %s", path);
	return 0;
}

int oys_random_hex(char *out, size_t nbytes)
{
	unsigned char raw[64];
	if (nbytes > sizeof raw)
		return -1;
	size_t got = 0;
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return 0;
}

double oys_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int oys_lock_path(const char *path, int wait)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		/* Someone may have unlinked the file between our open and our lock (a sweeper that
		 * found it free): then our lock guards nothing. Check it is still the same file. */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

static const char *runtime_dir = OYS_DEFAULT_RUNTIME_DIR;

void oys_runtime_dir_set(const char *dir)
{
	runtime_dir = dir && *dir ? dir : OYS_DEFAULT_RUNTIME_DIR;
}

const char *oys_runtime_dir(void)
{
	return runtime_dir;
}

/* ---- whether the runtime directory may be trusted ----
 * Whoever can write in it (or replace it, or a directory above it) can swap a request's
 * config, delete cgroup locks, read the signing key. */

/* A directory on the way to the runtime directory: owned by us or by root, and not writable by
 * group or others unless sticky (like /tmp, where nobody removes what is not theirs). */
/* "root", or "root or uid N" when we are not root: who may own what we trust. */
static const char *trusted_owners(char *b, size_t n)
{
	if (geteuid() == 0)
		return "root";
	snprintf(b, n, "root or uid %u", (unsigned)geteuid());
	return b;
}

static int trusted_owner(const struct stat *st)
{
	return st->st_uid == geteuid() || st->st_uid == 0;
}

/* A directory on the way to the runtime directory: owned by us or by root, and not writable by
 * group or others unless sticky (like /tmp, where nobody removes what is not theirs). */
static int check_parent(const char *rt, const char *dir, struct oys_err *e)
{
	struct stat st;
	char who[48];
	if (stat(dir, &st) < 0)
		return oys_err_sys(e, OYS_ECONFIG, "runtime directory %s: %s", rt, dir);
	if (!trusted_owner(&st))
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: %s above it is owned by uid %u, not by %s: "
		                   "refusing it", rt, dir, (unsigned)st.st_uid, trusted_owners(who, sizeof who));
	if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: %s above it is writable by group or others "
		                   "(mode %04o, not sticky): refusing it", rt, dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* The runtime directory itself (dir NULL), or a directory in it: a directory, ours (or
 * root's, who is trusted anyway), that nobody else may write, sticky or not. */
static int check_own(const char *rt, const char *dir, struct oys_err *e)
{
	struct stat st;
	char what[PATH_MAX + 32], who[48];
	if (dir)
		snprintf(what, sizeof what, "%s: %s", rt, dir);
	else
		snprintf(what, sizeof what, "%s", rt);
	if ((dir ? lstat(dir, &st) : stat(rt, &st)) < 0)
		return oys_err_sys(e, OYS_ECONFIG, "runtime directory %s", what);
	if (!S_ISDIR(st.st_mode))
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s is not a directory", what);
	if (!trusted_owner(&st))
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s is owned by uid %u, not by %s: refusing it",
		                   what, (unsigned)st.st_uid, trusted_owners(who, sizeof who));
	if (st.st_mode & 022)
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s is writable by group or others (mode %04o): "
		                   "refusing it (chmod go-w it)", what, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Symbolic links on the way to path (absolute), itself included: a link can be re-pointed by
 * its owner, so it must be ours or root's. */
static int check_links(const char *rt, const char *path, struct oys_err *e)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: path too long", rt);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode) && !trusted_owner(&st))
			return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: %s is a symbolic link owned by uid %u: "
			                   "refusing it", rt, p, (unsigned)st.st_uid);
		*s = c;
		if (c == '\0')
			return 0;
	}
}

/* The directories above real (absolute, resolved): "/", "/a", "/a/b" for "/a/b/c". */
static int check_parents(const char *rt, const char *real, struct oys_err *e)
{
	size_t end = (size_t)(strrchr(real, '/') - real);
	for (size_t i = 0; i <= end; i++) {
		if (i > 0 && real[i] != '/')
			continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%.*s", i == 0 ? 1 : (int)i, real);
		int rc = check_parent(rt, dir, e);
		if (rc)
			return rc;
	}
	return 0;
}

static char runtime_checked[PATH_MAX]; /* the runtime directory that passed, "" none yet */

int oys_runtime_check(struct oys_err *e)
{
	const char *rt = oys_runtime_dir();
	if (strcmp(runtime_checked, rt) == 0)
		return 0;
	struct stat st;
	int rc = 0;
	if (stat(rt, &st) < 0) {
		if (errno != ENOENT)
			return oys_err_sys(e, OYS_ECONFIG, "runtime directory %s", rt);
		if ((rc = oys_mkdir_p(rt, 0755, e))) {
			oys_err_wrap(e, "runtime directory (OYS_RUNTIME_DIR)");
			return rc;
		}
	}
	char abs[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX];
	if (rt[0] == '/')
		snprintf(abs, sizeof abs, "%s", rt);
	else if (getcwd(cwd, sizeof cwd) == NULL || snprintf(abs, sizeof abs, "%s/%s", cwd, rt) >= (int)sizeof abs)
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: path too long", rt);
	if (realpath(abs, real) == NULL)
		return oys_err_sys(e, OYS_ECONFIG, "runtime directory %s", rt);
	if ((rc = check_links(rt, abs, e)) || (rc = check_parents(rt, real, e)) || (rc = check_own(rt, NULL, e)))
		return rc;
	snprintf(runtime_checked, sizeof runtime_checked, "%s", rt);
	return 0;
}

int oys_runtime_subdir(const char *sub, char *out, size_t outsz, struct oys_err *e)
{
	const char *rt = oys_runtime_dir();
	int n = sub ? snprintf(out, outsz, "%s/%s", rt, sub) : snprintf(out, outsz, "%s", rt);
	if (n < 0 || (size_t)n >= outsz)
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: path too long", rt);
	int r = oys_runtime_check(e);
	if (r || sub == NULL)
		return r;
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "runtime directory (OYS_RUNTIME_DIR): cannot create directory %s", out);
	return check_own(rt, out, e);
}

int oys_reqdir_create(struct oys_reqdir *r, struct oys_err *e)
{
	char base[PATH_MAX], lock[PATH_MAX + 64];
	memset(r, 0, sizeof *r);
	r->lockfd = -1;
	int rc = oys_runtime_subdir("req", base, sizeof base, e);
	if (rc)
		return rc;
	for (int tries = 0; tries < 8; tries++) {
		if (oys_random_hex(r->id, 16) < 0)
			return oys_err_sys(e, OYS_EOSERR, "no randomness");
		snprintf(lock, sizeof lock, "%s/%s.lock", base, r->id);
		if ((size_t)snprintf(r->path, sizeof r->path, "%s/%s", base, r->id) >= sizeof r->path)
			return oys_err_set(e, OYS_ECONFIG, "runtime directory path too long");
		int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", lock);
		}
		close(fd);
		/* Lock it the careful way: a sweeper may have seen it unlocked and removed it. */
		r->lockfd = oys_lock_path(lock, 0);
		if (r->lockfd < 0)
			continue;
		if (mkdir(r->path, 0700) < 0) {
			oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", r->path);
			unlink(lock);
			close(r->lockfd);
			r->lockfd = -1;
			return OYS_ECANTCREAT;
		}
		return 0;
	}
	return oys_err_set(e, OYS_ECANTCREAT, "cannot create a request directory in %s", base);
}

int oys_reqdir_file(const struct oys_reqdir *r, const char *name, char *out, size_t outsz)
{
	if (strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
		return -1;
	int n = snprintf(out, outsz, "%s/%s", r->path, name);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

void oys_reqdir_close(struct oys_reqdir *r)
{
	if (r->lockfd < 0)
		return;
	/* With keep, the files stay and only the lock goes, so no sweeper removes them. */
	char lock[PATH_MAX + 8];
	if (!r->keep)
		oys_rm_rf(r->path, NULL);
	if (snprintf(lock, sizeof lock, "%s.lock", r->path) < (int)sizeof lock)
		unlink(lock);
	close(r->lockfd);
	r->lockfd = -1;
}

int oys_reqdir_sweep(void)
{
	char base[PATH_MAX];
	if (oys_runtime_check(NULL))
		return 0; /* never sweep a directory someone else can write */
	snprintf(base, sizeof base, "%s/req", oys_runtime_dir());
	DIR *d = opendir(base);
	if (d == NULL)
		return 0;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n != 32 + 5 || strcmp(de->d_name + 32, ".lock") != 0)
			continue;
		char lock[PATH_MAX], dir[PATH_MAX];
		if (snprintf(lock, sizeof lock, "%s/%s", base, de->d_name) >= (int)sizeof lock ||
		    snprintf(dir, sizeof dir, "%s/%.32s", base, de->d_name) >= (int)sizeof dir)
			continue;
		int fd = oys_lock_path(lock, 0);
		if (fd < 0)
			continue; /* held: the request is running */
		oys_rm_rf(dir, NULL);
		unlink(lock);
		close(fd);
		removed++;
	}
	closedir(d);
	return removed;
}
