/* cgroup.c: the sandbox pool (see cgroup.h).
 *
 * Two halves. setup and teardown go through libcgroup (creation, removal, limits). The per-
 * request hot path (reserve, enter, attach, stat, kill, release) reads and writes the kernel's
 * files directly, on paths resolved once per process from /proc/self/mountinfo: libcgroup's
 * cgroup_init() alone takes about 3 ms here, which is more than the whole hot path should. */
#include "cgroup.h"
#include "file.h"
#include "opt.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Controllers, in the order tasks are moved (memory first: it is the one that matters). */
enum { D_MEM, D_CPU, D_ACCT, D_PIDS, D_N };
static const char *const ctl_name[D_N] = {"memory", "cpu", "cpuacct", "pids"};

#define MNT_MAX 128
#define DIR_MAX (MNT_MAX + 1 + 101)
#define KILL_WAIT_MS 3000
#define RELEASE_WAIT_MS 5000
#define HOLDER_COMM "oys-cg-hold"

struct hier {
	int version;
	int have[D_N];
	char mnt[D_N][MNT_MAX]; /* v2: the one mount, for every controller it has */
};

/* What cg->priv holds. */
struct priv {
	char dir[D_N][DIR_MAX]; /* "" when the controller is absent */
	unsigned char uniq[D_N]; /* the first of the controllers sharing a directory */
	unsigned char memsw;     /* v1: memory.memsw.* exist (swap accounting) */
	int peakfd1;             /* v2: memory.peak's fd + 1 (0: none), reset at reservation */
};
_Static_assert(sizeof(struct priv) <= sizeof(((struct oys_cgroup *)0)->priv), "priv too small");
_Static_assert(offsetof(struct oys_cgroup, priv) % _Alignof(struct priv) == 0, "priv misaligned");

static struct priv *P(struct oys_cgroup *cg) { return (struct priv *)(void *)cg->priv; }
static const struct priv *CP(const struct oys_cgroup *cg)
{
	return (const struct priv *)(const void *)cg->priv;
}

/* ---- small file I/O on cgroup files (no stdio, no malloc: enter runs between fork and exec) */

static int join(char *out, size_t n, const char *dir, const char *file)
{
	size_t a = strlen(dir), b = strlen(file);
	if (a + 1 + b + 1 > n)
		return -1;
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, file, b + 1);
	return 0;
}

/* Writes val to dir/file; returns 0 or an errno value. */
static int put(const char *dir, const char *file, const char *val)
{
	char p[DIR_MAX + 64];
	if (join(p, sizeof p, dir, file) < 0)
		return ENAMETOOLONG;
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int err = 0;
	if (write(fd, val, strlen(val)) < 0)
		err = errno;
	close(fd);
	return err;
}

/* Reads dir/file (at most n-1 bytes) as a string; returns 0 or an errno value. */
static int get(const char *dir, const char *file, char *buf, size_t n)
{
	char p[DIR_MAX + 64];
	if (join(p, sizeof p, dir, file) < 0)
		return ENAMETOOLONG;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	size_t len = 0;
	int err = 0;
	/* A cgroup file comes whole in one read when it fits (seq_file), so a short read is the
	 * end: no second read for EOF. */
	while (len < n - 1) {
		ssize_t r = read(fd, buf + len, n - 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		len += (size_t)r;
		if (r == 0 || len < n - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return err;
}

/* A number from dir/file; "max" is ULLONG_MAX, "-1" too. */
static int get_ull(const char *dir, const char *file, unsigned long long *v)
{
	char b[64];
	int err = get(dir, file, b, sizeof b);
	if (err)
		return err;
	if (strncmp(b, "max", 3) == 0 || strncmp(b, "-1", 2) == 0) {
		*v = ULLONG_MAX;
		return 0;
	}
	char *end;
	errno = 0;
	*v = strtoull(b, &end, 10);
	return errno || end == b ? EINVAL : 0;
}

/* The value of "key N" in a flat-keyed file (memory.oom_control, memory.events, cpu.stat). */
static int get_key(const char *dir, const char *file, const char *key, unsigned long long *v)
{
	char b[2048];
	int err = get(dir, file, b, sizeof b);
	if (err)
		return err;
	size_t k = strlen(key);
	for (char *l = b; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, k) == 0 && l[k] == ' ') {
			*v = strtoull(l + k + 1, NULL, 10);
			return 0;
		}
	}
	return ENOENT;
}

static int exists(const char *dir, const char *file)
{
	char p[DIR_MAX + 64];
	return join(p, sizeof p, dir, file) == 0 && access(p, F_OK) == 0;
}

/* Calls fn(pid) for every pid in dir/cgroup.procs; returns how many, or -errno. A missing
 * directory has none. */
static int each_proc(const char *dir, int (*fn)(pid_t, void *), void *arg)
{
	char p[DIR_MAX + 64], b[4096];
	if (join(p, sizeof p, dir, "cgroup.procs") < 0)
		return -ENAMETOOLONG;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	int n = 0;
	long cur = -1;
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		for (ssize_t i = 0; i < r; i++) {
			if (b[i] >= '0' && b[i] <= '9') {
				cur = (cur < 0 ? 0 : cur * 10) + (b[i] - '0');
			} else if (cur >= 0) {
				n++;
				if (fn)
					fn((pid_t)cur, arg);
				cur = -1;
			}
		}
	}
	if (cur >= 0) {
		n++;
		if (fn)
			fn((pid_t)cur, arg);
	}
	close(fd);
	return n;
}

static int sigkill_pid(pid_t pid, void *arg)
{
	(void)arg;
	if (pid > 0)
		kill(pid, SIGKILL);
	return 0;
}

/* An errno from a cgroup file turned into an error. */
static int file_err(struct oys_err *e, int err, const char *what, const struct oys_cgroup *cg,
                    const char *file)
{
	if (err == EACCES || err == EPERM)
		return oys_err_set(e, OYS_ENOPERM, "cannot %s cgroup %s (%s): %s (run as root)", what,
		                   cg->name, file, strerror(err));
	if (err == ENOENT)
		return oys_err_set(e, OYS_ENOINPUT, "cannot %s cgroup %s: %s is missing", what, cg->name,
		                   file);
	return oys_err_set(e, OYS_EIO, "cannot %s cgroup %s (%s): %s", what, cg->name, file,
	                   strerror(err));
}

/* ---- the hierarchy ---- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static int has_word(const char *list, const char *word, const char *seps)
{
	size_t n = strlen(word);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, seps);
		if (k == n && strncmp(p, word, n) == 0)
			return 1;
		p += k;
		p += strspn(p, seps);
	}
	return 0;
}

static int hier_detect(struct hier *h, struct oys_err *e)
{
	memset(h, 0, sizeof *h);
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return oys_err_sys(e, OYS_ECONFIG, "cannot read /proc/self/mountinfo");
	char v2[MNT_MAX] = "";
	char *line = NULL;
	size_t cap = 0;
	int toolong = 0;
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		if (sep == NULL)
			continue;
		*sep = '\0';
		char *sp, *fstype = strtok_r(sep + 3, " \n", &sp);
		(void)strtok_r(NULL, " \n", &sp); /* source */
		char *sopts = strtok_r(NULL, " \n", &sp);
		char *mnt = NULL, *tok = strtok_r(line, " ", &sp);
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &sp);
		mnt = tok;
		if (fstype == NULL || mnt == NULL)
			continue;
		unescape(mnt);
		if (strcmp(fstype, "cgroup") == 0 && sopts) {
			for (int d = 0; d < D_N; d++) {
				if (h->have[d] || !has_word(sopts, ctl_name[d], ","))
					continue;
				if (strlen(mnt) >= MNT_MAX) {
					toolong = 1;
					continue;
				}
				snprintf(h->mnt[d], MNT_MAX, "%s", mnt);
				h->have[d] = 1;
			}
		} else if (strcmp(fstype, "cgroup2") == 0 && v2[0] == '\0') {
			if (strlen(mnt) < MNT_MAX)
				snprintf(v2, sizeof v2, "%s", mnt);
			else
				toolong = 1;
		}
	}
	free(line);
	fclose(f);
	if (h->have[D_MEM]) {
		h->version = 1;
		return 0;
	}
	memset(h->have, 0, sizeof h->have);
	char ctl[512] = "";
	if (v2[0] && get(v2, "cgroup.controllers", ctl, sizeof ctl) == 0 && has_word(ctl, "memory", " \n")) {
		h->version = 2;
		h->have[D_MEM] = 1;
		h->have[D_ACCT] = 1; /* cpu.stat's usage_usec is there without the cpu controller */
		h->have[D_CPU] = has_word(ctl, "cpu", " \n");
		h->have[D_PIDS] = has_word(ctl, "pids", " \n");
		for (int d = 0; d < D_N; d++)
			snprintf(h->mnt[d], MNT_MAX, "%s", v2);
		return 0;
	}
	if (toolong)
		return oys_err_set(e, OYS_ECONFIG, "the cgroup mount point is longer than %d bytes", MNT_MAX - 1);
	return oys_err_set(e, OYS_ECONFIG, "no memory cgroup controller is mounted (neither cgroup v1 "
	                   "memory nor cgroup v2 with memory enabled)");
}

/* The hierarchy, detected once per process. */
static int hier_get(const struct hier **out, struct oys_err *e)
{
	static struct hier h;
	static int done;
	if (!done) {
		int rc = hier_detect(&h, e);
		if (rc)
			return rc;
		done = 1;
	}
	*out = &h;
	return 0;
}

/* ---- names ---- */

int oys_cgroup_valid_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 100)
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return 1; /* '/' and '.' are not allowed at all, so neither is ".." */
}

int oys_cgroup_valid_prefix(const char *prefix)
{
	size_t n = prefix ? strlen(prefix) : 0;
	return n > 0 && n <= 90 && oys_cgroup_valid_name(prefix) && !isdigit((unsigned char)prefix[n - 1]);
}

const char *oys_cgroup_prefix(const char *flag)
{
	return oys_conf(flag, "OYS_CGROUP_PREFIX", OYS_CGROUP_DEFAULT_PREFIX);
}

static int check_prefix(const char **prefix, struct oys_err *e)
{
	*prefix = oys_cgroup_prefix(*prefix);
	if (!oys_cgroup_valid_prefix(*prefix))
		return oys_err_set(e, OYS_EUSAGE, "invalid cgroup prefix '%s': use letters, digits, '_' and "
		                   "'-', not ending in a digit", *prefix);
	return 0;
}

/* The index of name in pool prefix (canonical decimal), or -1. */
static int member_index(const char *prefix, const char *name)
{
	size_t n = strlen(prefix);
	if (strncmp(name, prefix, n) != 0)
		return -1;
	const char *d = name + n;
	if (*d == '\0' || (d[0] == '0' && d[1] != '\0') || strspn(d, "0123456789") != strlen(d) ||
	    strlen(d) > 4)
		return -1;
	int i = atoi(d);
	return i < OYS_CGROUP_MAX_COUNT ? i : -1;
}

static int fill(struct oys_cgroup *cg, const struct hier *h, const char *name, struct oys_err *e)
{
	memset(cg, 0, sizeof *cg);
	snprintf(cg->name, sizeof cg->name, "%s", name);
	cg->version = h->version;
	cg->lockfd = -1;
	struct priv *p = P(cg);
	for (int d = 0; d < D_N; d++) {
		if (!h->have[d])
			continue;
		if ((size_t)snprintf(p->dir[d], DIR_MAX, "%s/%s", h->mnt[d], name) >= DIR_MAX)
			return oys_err_set(e, OYS_ECONFIG, "cgroup path %s/%s is too long", h->mnt[d], name);
		p->uniq[d] = 1;
		for (int k = 0; k < d; k++)
			if (p->uniq[k] && strcmp(p->dir[k], p->dir[d]) == 0)
				p->uniq[d] = 0;
	}
	if (h->version == 1)
		p->memsw = exists(h->mnt[D_MEM], "memory.memsw.limit_in_bytes");
	return 0;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int idx_exists(const struct hier *h, const char *prefix, int i)
{
	char p[DIR_MAX];
	if (snprintf(p, sizeof p, "%s/%s%d", h->mnt[D_MEM], prefix, i) >= (int)sizeof p)
		return 0;
	return is_dir(p);
}

/* Members are 0..N-1 with no gap (setup keeps it so): exponential then binary search, a few
 * stat(2) calls whatever the size. */
static int pool_size(const struct hier *h, const char *prefix)
{
	if (!idx_exists(h, prefix, 0))
		return 0;
	int lo = 0, hi = 1;
	while (hi < OYS_CGROUP_MAX_COUNT && idx_exists(h, prefix, hi)) {
		lo = hi;
		hi *= 2;
	}
	if (hi > OYS_CGROUP_MAX_COUNT)
		hi = OYS_CGROUP_MAX_COUNT;
	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		if (idx_exists(h, prefix, mid))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

int oys_cgroup_pool_size(const char *prefix, int *count, int *version, struct oys_err *e)
{
	const struct hier *h;
	int rc = check_prefix(&prefix, e);
	if (rc || (rc = hier_get(&h, e)))
		return rc;
	*count = pool_size(h, prefix);
	if (version)
		*version = h->version;
	return 0;
}

static int no_pool(struct oys_err *e, const char *prefix)
{
	return oys_err_set(e, OYS_ECONFIG, "no cgroup pool %s (run oys-cgroup setup)", prefix);
}

/* ---- lock files: RUNTIME/cgroup/<name>.lock, holding "PID KIND OOMBASE MEMORY CPU PIDS": who
 * holds it (KIND: lib, hold or exec), the OOM-kill baseline, the limits last applied ---- */

static int lock_path(const char *name, char *out, size_t n)
{
	int r = snprintf(out, n, "%s/cgroup/%s.lock", oys_runtime_dir(), name);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Takes the lock of name without waiting; -1 with errno (EWOULDBLOCK: held). Creates the lock
 * directory on first use. */
static int lock_take(const char *name, struct oys_err *e)
{
	char path[PATH_MAX], dir[PATH_MAX];
	if (lock_path(name, path, sizeof path) < 0) {
		oys_err_set(e, OYS_ECONFIG, "runtime directory path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = oys_lock_path(path, 0);
	if (fd < 0 && errno == ENOENT) {
		if (oys_runtime_subdir("cgroup", dir, sizeof dir, e)) {
			errno = EIO;
			return -1;
		}
		fd = oys_lock_path(path, 0);
	}
	if (fd < 0 && errno != EWOULDBLOCK) {
		int saved = errno;
		oys_err_sys(e, saved == EACCES ? OYS_ENOPERM : OYS_ECANTCREAT, "cannot lock %s", path);
		errno = saved;
	}
	return fd;
}

struct note {
	long pid;
	char kind[8];
	unsigned long long base;
	struct oys_cgroup_limits lim;
};

static void note_put(int fd, const struct note *nt)
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

static int note_fd_read(int fd, struct note *nt)
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

/* Rewrites who holds the lock and the baseline, keeping the limits recorded. */
static void note_write(int fd, long pid, const char *kind, unsigned long long base)
{
	struct note nt;
	note_fd_read(fd, &nt);
	nt.pid = pid;
	snprintf(nt.kind, sizeof nt.kind, "%s", kind);
	nt.base = base;
	note_put(fd, &nt);
}

static int note_read(const char *name, struct note *nt)
{
	char path[PATH_MAX];
	memset(nt, 0, sizeof *nt);
	if (lock_path(name, path, sizeof path) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int r = note_fd_read(fd, nt);
	close(fd);
	return r;
}

/* Who holds flock locks, from /proc/locks: testing by taking the lock would make a concurrent
 * reserve see the cgroup busy. */
struct heldset {
	struct {
		unsigned maj, min;
		unsigned long ino;
	} *v;
	size_t n;
	int ok;
};

static void held_load(struct heldset *s)
{
	memset(s, 0, sizeof *s);
	FILE *f = fopen("/proc/locks", "re");
	if (f == NULL)
		return;
	char line[256];
	size_t cap = 0;
	while (fgets(line, sizeof line, f)) {
		char type[16];
		unsigned maj, min;
		unsigned long ino;
		/* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10952936 0 EOF"; waiters have "->" and are
		 * not holders. */
		if (strstr(line, "->") || sscanf(line, "%*d: %15s %*s %*s %*d %x:%x:%lu", type, &maj, &min, &ino) != 4 ||
		    strcmp(type, "FLOCK") != 0)
			continue;
		if (s->n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			void *nv = realloc(s->v, nc * sizeof *s->v);
			if (nv == NULL)
				break;
			s->v = nv;
			cap = nc;
		}
		s->v[s->n].maj = maj;
		s->v[s->n].min = min;
		s->v[s->n].ino = ino;
		s->n++;
	}
	fclose(f);
	s->ok = 1;
}

static void held_free(struct heldset *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int held_has(const struct heldset *s, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	if (lock_path(name, path, sizeof path) < 0 || stat(path, &st) < 0)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].ino == st.st_ino && s->v[i].maj == major(st.st_dev) && s->v[i].min == minor(st.st_dev))
			return 1;
	return 0;
}

/* ---- opening ---- */

static int can_write(const char *dir, const char *file)
{
	char p[DIR_MAX + 64];
	if (join(p, sizeof p, dir, file) < 0)
		return 0;
	return faccessat(AT_FDCWD, p, W_OK, AT_EACCESS) == 0 || errno == ENOENT;
}

static int need_root(struct oys_err *e, const char *path)
{
	return oys_err_set(e, OYS_ENOPERM, "cannot write to %s: permission denied (run as root)", path);
}

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
	if ((rc = check_prefix(&prefix, e)) || (rc = hier_get(&h, e)))
		return rc;
	/* A member is PREFIX<i> with i inside the pool: a foreign cgroup named like one is not. */
	int i = member_index(prefix, name);
	if (i >= 0 && i < pool_size(h, prefix)) {
		if ((rc = fill(cg, h, name, e)))
			return rc;
		if (is_dir(P(cg)->dir[D_MEM])) {
			struct note nt;
			if (note_read(name, &nt) == 0)
				cg->oom_base = nt.base;
			return 0;
		}
	}
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	return oys_err_set(e, OYS_ENOINPUT, "no cgroup %s in pool %s (see oys-cgroup list)", name, prefix);
}

int oys_cgroup_open(const char *name, struct oys_cgroup *cg, struct oys_err *e)
{
	return oys_cgroup_open_pool(NULL, name, cg, e);
}

int oys_cgroup_member(const char *prefix, int index, struct oys_cgroup *cg, struct oys_err *e)
{
	char name[128];
	int rc = check_prefix(&prefix, e);
	if (rc)
		return rc;
	snprintf(name, sizeof name, "%s%d", prefix, index);
	return oys_cgroup_open_pool(prefix, name, cg, e);
}

/* ---- the hot path ---- */

static int write_procs(const struct oys_cgroup *cg, const char *val, const char *what, struct oys_err *e)
{
	/* Memory first (it matters most); cpu last: moving into another CPU group reschedules the
	 * task, which on a loaded machine costs wall time, not CPU. */
	static const int order[D_N] = {D_MEM, D_PIDS, D_ACCT, D_CPU};
	const struct priv *p = CP(cg);
	for (int k = 0; k < D_N; k++) {
		int d = order[k];
		if (!p->uniq[d])
			continue;
		int err = put(p->dir[d], "cgroup.procs", val);
		if (err)
			return file_err(e, err, what, cg, err == ENOENT ? p->dir[d] : "cgroup.procs");
	}
	return 0;
}

int oys_cgroup_enter(const struct oys_cgroup *cg, struct oys_err *e)
{
	return write_procs(cg, "0", "enter", e);
}

int oys_cgroup_attach(const struct oys_cgroup *cg, pid_t pid, struct oys_err *e)
{
	char b[24];
	snprintf(b, sizeof b, "%ld", (long)pid);
	return write_procs(cg, b, "attach to", e);
}

int oys_cgroup_kill(const struct oys_cgroup *cg, struct oys_err *e)
{
	const struct priv *p = CP(cg);
	double t0 = 0;
	unsigned pause_us = 20;
	int first = 1;
	/* Tasks are moved memory first (write_procs), so an empty memory cgroup is an empty one. */
	int k0 = each_proc(p->dir[D_MEM], NULL, NULL);
	if (k0 == 0)
		return 0;
	for (;;) {
		int n = 0;
		for (int d = 0; d < D_N; d++) {
			if (!p->uniq[d])
				continue;
			int k = each_proc(p->dir[d], sigkill_pid, NULL);
			if (k < 0)
				return file_err(e, -k, "kill the tasks of", cg, "cgroup.procs");
			n += k;
		}
		if (n == 0)
			return 0;
		if (first) {
			first = 0;
			t0 = oys_now_ms();
			/* v2 (5.14+): kills everything at once, forks in flight included. */
			if (cg->version == 2)
				put(p->dir[D_MEM], "cgroup.kill", "1");
		} else if (oys_now_ms() - t0 > KILL_WAIT_MS) {
			return oys_err_set(e, OYS_ETEMPFAIL, "cgroup %s: %d tasks still alive %d ms after SIGKILL",
			                   cg->name, n, KILL_WAIT_MS);
		}
		struct timespec ts = {0, (long)pause_us * 1000};
		nanosleep(&ts, NULL);
		if (pause_us < 20000)
			pause_us *= 2;
	}
}

static int oom_total(const struct oys_cgroup *cg, unsigned long long *v)
{
	const struct priv *p = CP(cg);
	*v = 0;
	int err = cg->version == 1 ? get_key(p->dir[D_MEM], "memory.oom_control", "oom_kill", v)
	                           : get_key(p->dir[D_MEM], "memory.events", "oom_kill", v);
	return err == ENOENT && is_dir(p->dir[D_MEM]) ? 0 : err; /* an old kernel without the counter */
}

/* Resets the peak and CPU counters; returns 0 or an errno value and the file. */
static int reset_counters(struct oys_cgroup *cg, const char **file)
{
	struct priv *p = P(cg);
	int err;
	if (cg->version == 1) {
		if ((err = put(p->dir[D_MEM], *file = "memory.max_usage_in_bytes", "0")))
			return err;
		if (p->dir[D_ACCT][0] && (err = put(p->dir[D_ACCT], *file = "cpuacct.usage", "0")))
			return err;
		return 0;
	}
	/* v2: memory.peak is reset per open file (6.12+): keep the fd for this reservation's
	 * stat. cpu.stat cannot be reset: it is read as a difference (not kept across processes). */
	if (p->peakfd1)
		close(p->peakfd1 - 1);
	char path[DIR_MAX + 16];
	p->peakfd1 = 0;
	if (join(path, sizeof path, p->dir[D_MEM], "memory.peak") == 0) {
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0 && write(fd, "reset\n", 6) == 6)
			p->peakfd1 = fd + 1;
		else if (fd >= 0)
			close(fd);
	}
	return 0;
}

int oys_cgroup_reset(struct oys_cgroup *cg, struct oys_err *e)
{
	const char *file = "";
	int err = reset_counters(cg, &file);
	if (err)
		return file_err(e, err, "reset", cg, file);
	unsigned long long total;
	if ((err = oom_total(cg, &total)))
		return file_err(e, err, "read", cg, cg->version == 1 ? "memory.oom_control" : "memory.events");
	cg->oom_base = total;
	if (cg->lockfd >= 0) {
		note_write(cg->lockfd, (long)getpid(), "lib", total);
		return 0;
	}
	/* Not ours: rewrite the baseline in the lock file (which other processes' stat read), keep
	 * who holds it. The lock itself is not needed for that, and not taken. */
	char path[PATH_MAX], dir[PATH_MAX];
	struct note nt;
	if (note_read(cg->name, &nt) < 0)
		snprintf(nt.kind, sizeof nt.kind, "none");
	nt.base = total;
	if (lock_path(cg->name, path, sizeof path) == 0) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == ENOENT && oys_runtime_subdir("cgroup", dir, sizeof dir, NULL) == 0)
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			note_put(fd, &nt);
			close(fd);
		}
	}
	return 0;
}

/* The pool's limits, as setup recorded them; 0 fields when unknown. */
static void pool_limits(const char *prefix, struct oys_cgroup_limits *l)
{
	char path[PATH_MAX], b[128];
	memset(l, 0, sizeof *l);
	if (snprintf(path, sizeof path, "%s/cgroup/%s.limits", oys_runtime_dir(), prefix) >= (int)sizeof path)
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t r = read(fd, b, sizeof b - 1);
	close(fd);
	if (r <= 0)
		return;
	b[r] = '\0';
	if (sscanf(b, "%llu %lf %ld", &l->memory, &l->cpu, &l->pids) != 3)
		memset(l, 0, sizeof *l);
}

static long cpu_quota(double cores)
{
	long q = lround(cores * OYS_CGROUP_CPU_PERIOD_US);
	return q < 1000 ? 1000 : q;
}

/* CPU burst: a cgroup may save up to one period's quota while idle and spend it at once, so
 * workerd's start (about 70 ms of CPU in a few tens of ms) is not throttled by a quota of half
 * a core, while a function that spins still averages the quota. The kernel wants burst <=
 * quota, so it is cleared before a quota changes and set after. Kernels without the file
 * (before 5.14) simply have no burst. */
static void cpu_burst(const char *cpudir, int version, long quota)
{
	const char *file = version == 1 ? "cpu.cfs_burst_us" : "cpu.max.burst";
	char v[32];
	if (!cpudir[0] || !exists(cpudir, file))
		return;
	snprintf(v, sizeof v, "%ld", quota > 0 ? quota : 0);
	put(cpudir, file, v);
}

/* Writes the limits that are set in l and differ from those last applied (the lock note: only
 * setup, which writes every member, and reservations change them). */
static int apply_limits(struct oys_cgroup *cg, const struct oys_cgroup_limits *want,
                        struct oys_cgroup_limits *applied, struct oys_err *e)
{
	struct priv *p = P(cg);
	char v[64];
	int err = 0;
	const char *file = NULL;
	struct oys_cgroup_limits l = *want;
	if (l.memory == applied->memory)
		l.memory = 0;
	if (fabs(l.cpu - applied->cpu) < 1e-4)
		l.cpu = 0;
	if (l.pids == applied->pids)
		l.pids = 0;
	if ((l.cpu > 0 && !p->dir[D_CPU][0]) || (l.pids > 0 && !p->dir[D_PIDS][0]))
		return oys_err_set(e, OYS_ECONFIG, "cannot limit the %s of %s: no %s controller",
		                   l.cpu > 0 && !p->dir[D_CPU][0] ? "CPU" : "tasks", cg->name,
		                   l.cpu > 0 && !p->dir[D_CPU][0] ? "cpu" : "pids");
	if (l.memory) {
		snprintf(v, sizeof v, "%llu", l.memory);
		if (cg->version == 1) {
			/* The kernel keeps memsw >= limit: raising needs memsw first, lowering last. */
			err = put(p->dir[D_MEM], file = "memory.limit_in_bytes", v);
			if (err == EINVAL && p->memsw) {
				if ((err = put(p->dir[D_MEM], file = "memory.memsw.limit_in_bytes", v)) == 0)
					err = put(p->dir[D_MEM], file = "memory.limit_in_bytes", v);
			}
			if (!err && p->memsw)
				err = put(p->dir[D_MEM], file = "memory.memsw.limit_in_bytes", v);
		} else {
			err = put(p->dir[D_MEM], file = "memory.max", v);
		}
	}
	if (!err && l.cpu > 0) {
		cpu_burst(p->dir[D_CPU], cg->version, 0);
		if (cg->version == 1) {
			snprintf(v, sizeof v, "%ld", cpu_quota(l.cpu));
			err = put(p->dir[D_CPU], file = "cpu.cfs_quota_us", v);
		} else {
			snprintf(v, sizeof v, "%ld %d", cpu_quota(l.cpu), OYS_CGROUP_CPU_PERIOD_US);
			err = put(p->dir[D_CPU], file = "cpu.max", v);
		}
		if (!err)
			cpu_burst(p->dir[D_CPU], cg->version, cpu_quota(l.cpu));
	}
	if (!err && l.pids > 0) {
		snprintf(v, sizeof v, "%ld", l.pids);
		err = put(p->dir[D_PIDS], file = "pids.max", v);
	}
	if (err) {
		/* Part may be written: forget what is in place, so that the next use writes it all. */
		memset(applied, 0, sizeof *applied);
		return file_err(e, err, "limit", cg, file);
	}
	if (want->memory)
		applied->memory = want->memory;
	if (want->cpu > 0)
		applied->cpu = want->cpu;
	if (want->pids > 0)
		applied->pids = want->pids;
	return 0;
}

/* Prepares a cgroup whose lock was just taken; one read and one write of the lock note. */
static int take(struct oys_cgroup *cg, const char *prefix, const struct oys_cgroup_limits *lim,
                struct oys_err *e)
{
	struct note nt;
	const char *file = "";
	note_fd_read(cg->lockfd, &nt);
	nt.pid = (long)getpid();
	snprintf(nt.kind, sizeof nt.kind, "lib");
	int rc = oys_cgroup_kill(cg, e); /* leftovers of a holder that is gone */
	if (rc)
		return rc;
	int err = reset_counters(cg, &file);
	if (err)
		return file_err(e, err, "reset", cg, file);
	if ((err = oom_total(cg, &cg->oom_base)))
		return file_err(e, err, "read", cg, cg->version == 1 ? "memory.oom_control" : "memory.events");
	nt.base = cg->oom_base;
	struct oys_cgroup_limits want = {0};
	if (lim)
		want = *lim;
	if (!want.memory || want.cpu <= 0 || want.pids <= 0) {
		struct oys_cgroup_limits pool;
		pool_limits(prefix, &pool);
		if (!want.memory)
			want.memory = pool.memory;
		if (want.cpu <= 0)
			want.cpu = pool.cpu;
		if (want.pids <= 0)
			want.pids = pool.pids;
	}
	rc = apply_limits(cg, &want, &nt.lim, e);
	note_put(cg->lockfd, &nt);
	return rc;
}

int oys_cgroup_reserve(const char *prefix, const struct oys_cgroup_limits *lim,
                       struct oys_cgroup *cg, struct oys_err *e)
{
	const struct hier *h;
	int rc;
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	if ((rc = check_prefix(&prefix, e)) || (rc = hier_get(&h, e)))
		return rc;
	int n = pool_size(h, prefix);
	if (n == 0)
		return no_pool(e, prefix);
	char dir0[DIR_MAX];
	if (snprintf(dir0, sizeof dir0, "%s/%s0", h->mnt[D_MEM], prefix) >= (int)sizeof dir0)
		return oys_err_set(e, OYS_ECONFIG, "cgroup path %s/%s0 is too long", h->mnt[D_MEM], prefix);
	if (!can_write(dir0, "cgroup.procs"))
		return need_root(e, dir0);

	/* Start somewhere else each time, so that concurrent reservations rarely contend. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned start = (unsigned)(ts.tv_nsec ^ (getpid() * 2654435761u)) % (unsigned)n;
	int busy = 0;
	/* Two rounds: a lock can be busy for an instant (a holder between release and exit). */
	for (int k = 0; k < 2 * n; k++) {
		int i = (int)((start + (unsigned)k) % (unsigned)n);
		char name[128];
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if (k == n)
			busy = 0;
		int fd = lock_take(name, e);
		if (fd < 0) {
			if (errno == EWOULDBLOCK) {
				busy++;
				continue;
			}
			return e ? e->code : OYS_ECANTCREAT;
		}
		if ((rc = fill(cg, h, name, e))) {
			close(fd);
			return rc;
		}
		cg->lockfd = fd;
		if ((rc = take(cg, prefix, lim, e)) == 0)
			return 0;
		if (rc != OYS_ETEMPFAIL) {
			oys_cgroup_release(cg);
			return rc;
		}
		close(cg->lockfd); /* tasks that will not die (waited for already): try another one */
		cg->lockfd = -1;
		busy++;
	}
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	return oys_err_set(e, OYS_EUNAVAIL, "no free cgroup in pool %s (%d busy)", prefix, busy);
}

int oys_cgroup_stat(const struct oys_cgroup *cg, struct oys_cgroup_stat *st, struct oys_err *e)
{
	const struct priv *p = CP(cg);
	unsigned long long v;
	int err;
	memset(st, 0, sizeof *st);
	const char *mem = p->dir[D_MEM];
	if (!is_dir(mem))
		return oys_err_set(e, OYS_ENOINPUT, "cgroup %s is gone", cg->name);
	if (cg->version == 1) {
		if ((err = get_ull(mem, "memory.usage_in_bytes", &st->memory_current)) ||
		    (err = get_ull(mem, "memory.max_usage_in_bytes", &st->memory_peak)) ||
		    (err = get_ull(mem, "memory.limit_in_bytes", &st->memory_limit)))
			return file_err(e, err, "read", cg, "memory.*");
		if (p->dir[D_ACCT][0] && get_ull(p->dir[D_ACCT], "cpuacct.usage", &v) == 0)
			st->cpu_usage_ns = v;
		unsigned long long q, per;
		if (p->dir[D_CPU][0] && get_ull(p->dir[D_CPU], "cpu.cfs_quota_us", &q) == 0 && q != ULLONG_MAX &&
		    get_ull(p->dir[D_CPU], "cpu.cfs_period_us", &per) == 0 && per > 0)
			st->cpu_limit = (double)q / (double)per;
	} else {
		if ((err = get_ull(mem, "memory.current", &st->memory_current)) ||
		    (err = get_ull(mem, "memory.max", &st->memory_limit)))
			return file_err(e, err, "read", cg, "memory.*");
		char b[64];
		if (p->peakfd1) {
			ssize_t r = pread(p->peakfd1 - 1, b, sizeof b - 1, 0);
			b[r > 0 ? r : 0] = '\0';
			st->memory_peak = strtoull(b, NULL, 10);
		} else if (get_ull(mem, "memory.peak", &v) == 0) {
			st->memory_peak = v;
		}
		if (get_key(mem, "cpu.stat", "usage_usec", &v) == 0)
			st->cpu_usage_ns = v * 1000;
		if (p->dir[D_CPU][0] && get(p->dir[D_CPU], "cpu.max", b, sizeof b) == 0 && strncmp(b, "max", 3) != 0) {
			double q = 0, per = 0;
			if (sscanf(b, "%lf %lf", &q, &per) == 2 && per > 0)
				st->cpu_limit = q / per;
		}
	}
	if (st->memory_limit >= (1ULL << 62))
		st->memory_limit = 0; /* no limit */
	if ((err = oom_total(cg, &st->oom_kills_total)))
		return file_err(e, err, "read", cg, "the OOM-kill counter");
	st->oom_kills = st->oom_kills_total >= cg->oom_base ? st->oom_kills_total - cg->oom_base : 0;
	if (p->dir[D_PIDS][0]) {
		if (get_ull(p->dir[D_PIDS], "pids.current", &v) == 0)
			st->pids_current = (long)v;
		if (get_ull(p->dir[D_PIDS], "pids.max", &v) == 0 && v != ULLONG_MAX)
			st->pids_limit = (long)v;
	}
	int k = each_proc(mem, NULL, NULL);
	st->tasks = k > 0 ? k : 0;
	if (cg->lockfd >= 0) {
		st->busy = 1;
		st->holder = (long)getpid();
	} else {
		struct heldset hs;
		held_load(&hs);
		if (hs.ok) {
			st->busy = held_has(&hs, cg->name);
		} else {
			/* No /proc/locks: test by taking the lock (may disturb a concurrent reserve). */
			int fd = lock_take(cg->name, NULL);
			st->busy = fd < 0 && errno == EWOULDBLOCK;
			if (fd >= 0)
				close(fd);
		}
		held_free(&hs);
		struct note nt;
		if (st->busy && note_read(cg->name, &nt) == 0)
			st->holder = nt.pid;
	}
	return 0;
}

void oys_cgroup_release(struct oys_cgroup *cg)
{
	struct priv *p = P(cg);
	if (cg->name[0] == '\0')
		return; /* never filled in (a zeroed struct): nothing is ours */
	if (cg->lockfd >= 0) {
		oys_cgroup_kill(cg, NULL);
		close(cg->lockfd);
		cg->lockfd = -1;
	}
	if (p->peakfd1) {
		close(p->peakfd1 - 1);
		p->peakfd1 = 0;
	}
}

int oys_cgroup_pool_count(const char *prefix, int *total, int *busy, struct oys_err *e)
{
	const struct hier *h;
	int rc;
	if ((rc = check_prefix(&prefix, e)) || (rc = hier_get(&h, e)))
		return rc;
	int n = pool_size(h, prefix);
	if (n == 0)
		return no_pool(e, prefix);
	struct heldset hs;
	held_load(&hs);
	*total = n;
	*busy = 0;
	for (int i = 0; i < n; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s%d", prefix, i);
		*busy += held_has(&hs, name);
	}
	held_free(&hs);
	return 0;
}

/* ---- the command line's helpers ---- */

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
		note_write(keep, (long)getpid(), "hold", cg->oom_base);
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
	if (!can_write(CP(cg)->dir[D_MEM], "cgroup.procs"))
		return need_root(e, CP(cg)->dir[D_MEM]);
	if (cg->lockfd >= 0) {
		note_write(cg->lockfd, (long)getpid(), "exec", cg->oom_base);
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
	if (get(path, "comm", comm, sizeof comm))
		return 0;
	comm[strcspn(comm, "\n")] = '\0';
	return strcmp(comm, HOLDER_COMM) == 0;
}

int oys_cgroup_release_name(struct oys_cgroup *cg, struct oys_err *e)
{
	if (!can_write(CP(cg)->dir[D_MEM], "cgroup.procs"))
		return need_root(e, CP(cg)->dir[D_MEM]);
	int fd = lock_take(cg->name, e);
	if (fd < 0 && errno != EWOULDBLOCK)
		return e ? e->code : OYS_ECANTCREAT;
	if (fd < 0) {
		struct note nt;
		int known = note_read(cg->name, &nt) == 0;
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
		while ((fd = lock_take(cg->name, NULL)) < 0) {
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

/* ---- setup and teardown, through libcgroup ---- */

static int lcg_init(struct oys_err *e)
{
	static int done;
	if (done)
		return 0;
	int r = cgroup_init();
	if (r)
		return oys_err_set(e, OYS_ECONFIG, "libcgroup: %s", cgroup_strerror(r));
	done = 1;
	return 0;
}

static int lcg_fail(struct oys_err *e, int r, const char *what, const char *name)
{
	int en = r == ECGOTHER ? cgroup_get_last_errno() : 0;
	int code = r == ECGROUPNOTOWNER || en == EACCES || en == EPERM ? OYS_ENOPERM : OYS_EIO;
	return oys_err_set(e, code, "cannot %s cgroup %s: %s", what, name, en ? strerror(en) : cgroup_strerror(r));
}

/* A libcgroup object for name with every controller this hierarchy has. */
static struct cgroup *lcg_new(const struct hier *h, const char *name, struct cgroup_controller *c[D_N])
{
	struct cgroup *g = cgroup_new_cgroup(name);
	if (g == NULL)
		return NULL;
	for (int d = 0; d < D_N; d++) {
		c[d] = NULL;
		if (!h->have[d] || (h->version == 2 && d == D_ACCT))
			continue;
		if ((c[d] = cgroup_add_controller(g, ctl_name[d])) == NULL) {
			cgroup_free(&g);
			return NULL;
		}
	}
	return g;
}

static int add_val(struct cgroup_controller *c, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int add_val(struct cgroup_controller *c, const char *file, const char *fmt, ...)
{
	char v[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	return c ? cgroup_add_value_string(c, file, v) : 0;
}

/* Creates (or finds) name and writes the limits. */
static int setup_one(const struct hier *h, const char *name, const struct oys_cgroup_limits *l,
                     struct oys_err *e)
{
	struct cgroup_controller *c[D_N];
	struct cgroup *g = lcg_new(h, name, c);
	if (g == NULL)
		return oys_err_set(e, OYS_EOSERR, "libcgroup: out of memory");
	int r = cgroup_create_cgroup(g, 1);
	cgroup_free(&g);
	if (r)
		return lcg_fail(e, r, "create", name);

	struct oys_cgroup cg;
	if ((r = fill(&cg, h, name, e)))
		return r;
	const struct priv *p = CP(&cg);
	if (h->version == 1 && p->memsw) {
		/* memsw >= limit at all times: lift it first, so that the limit can go up. */
		if ((g = lcg_new(h, name, c)) == NULL)
			return oys_err_set(e, OYS_EOSERR, "libcgroup: out of memory");
		r = add_val(c[D_MEM], "memory.memsw.limit_in_bytes", "-1");
		if (r == 0)
			r = cgroup_modify_cgroup(g);
		cgroup_free(&g);
		if (r)
			return lcg_fail(e, r, "set the swap limit of", name);
	}
	if (l->cpu > 0)
		cpu_burst(p->dir[D_CPU], h->version, 0);
	if ((g = lcg_new(h, name, c)) == NULL)
		return oys_err_set(e, OYS_EOSERR, "libcgroup: out of memory");
	if (h->version == 1) {
		r = add_val(c[D_MEM], "memory.limit_in_bytes", "%llu", l->memory);
		if (!r && p->memsw)
			r = add_val(c[D_MEM], "memory.memsw.limit_in_bytes", "%llu", l->memory); /* no swap */
		if (!r)
			r = add_val(c[D_MEM], "memory.swappiness", "0");
		if (!r && l->cpu > 0)
			r = add_val(c[D_CPU], "cpu.cfs_period_us", "%d", OYS_CGROUP_CPU_PERIOD_US);
		if (!r && l->cpu > 0)
			r = add_val(c[D_CPU], "cpu.cfs_quota_us", "%ld", cpu_quota(l->cpu));
	} else {
		r = add_val(c[D_MEM], "memory.max", "%llu", l->memory);
		if (!r && exists(p->dir[D_MEM], "memory.swap.max"))
			r = add_val(c[D_MEM], "memory.swap.max", "0");
		if (!r && l->cpu > 0)
			r = add_val(c[D_CPU], "cpu.max", "%ld %d", cpu_quota(l->cpu), OYS_CGROUP_CPU_PERIOD_US);
	}
	if (!r && l->pids > 0)
		r = add_val(c[D_PIDS], "pids.max", "%ld", l->pids);
	if (!r)
		r = cgroup_modify_cgroup(g);
	cgroup_free(&g);
	if (r)
		return lcg_fail(e, r, "set the limits of", name);
	if (l->cpu > 0)
		cpu_burst(p->dir[D_CPU], h->version, cpu_quota(l->cpu));
	return 0;
}

static int delete_one(const struct hier *h, const char *name, struct oys_err *e)
{
	struct cgroup_controller *c[D_N];
	struct cgroup *g = lcg_new(h, name, c);
	if (g == NULL)
		return oys_err_set(e, OYS_EOSERR, "libcgroup: out of memory");
	int r = cgroup_delete_cgroup_ext(g, CGFLAG_DELETE_EMPTY_ONLY);
	cgroup_free(&g);
	if (r)
		return lcg_fail(e, r, "remove", name);
	return 0;
}

/* Every index of pool prefix present in any controller, as a bitmap. */
static int scan_members(const struct hier *h, const char *prefix, unsigned char *seen)
{
	int n = 0;
	memset(seen, 0, OYS_CGROUP_MAX_COUNT);
	for (int d = 0; d < D_N; d++) {
		if (!h->have[d])
			continue;
		DIR *dir = opendir(h->mnt[d]);
		if (dir == NULL)
			continue;
		struct dirent *de;
		while ((de = readdir(dir)) != NULL) {
			int i = member_index(prefix, de->d_name);
			if (i >= 0 && !seen[i]) {
				seen[i] = 1;
				n++;
			}
		}
		closedir(dir);
	}
	return n;
}

/* Takes the lock of a member to remove it; ends its holder when force. Returns the lock fd, or
 * -1 (with force: removal goes on without the lock; without: an error is set). */
static int claim(struct oys_cgroup *cg, int force, int teardown, int *rc, struct oys_err *e)
{
	int fd = lock_take(cg->name, e);
	*rc = 0;
	if (fd < 0 && errno != EWOULDBLOCK) {
		*rc = e ? e->code : OYS_ECANTCREAT;
		return -1;
	}
	if (fd < 0 && !force) {
		struct note nt;
		long pid = note_read(cg->name, &nt) == 0 ? nt.pid : 0;
		*rc = oys_err_set(e, OYS_EUNAVAIL, "%s is reserved by process %ld (%s)", cg->name, pid,
		                  teardown ? "--force ends it" : "release it first");
		return -1;
	}
	if (fd < 0) {
		struct oys_err ignored;
		if (oys_cgroup_release_name(cg, &ignored) == 0)
			fd = lock_take(cg->name, NULL);
		return fd; /* reserved by a program we do not end: go on without the lock */
	}
	int tasks = each_proc(CP(cg)->dir[D_MEM], NULL, NULL);
	if (tasks > 0 && !force) {
		close(fd);
		*rc = oys_err_set(e, OYS_EUNAVAIL, "%s still holds %d task%s (%s)", cg->name, tasks,
		                  tasks == 1 ? "" : "s", teardown ? "--force kills them" : "stop them first");
		return -1;
	}
	return fd;
}

static void unlink_lock(const char *name)
{
	char path[PATH_MAX];
	if (lock_path(name, path, sizeof path) == 0)
		unlink(path);
}

/* Removes members of seen (their locks in fds) after killing what runs in them. */
static int remove_members(const struct hier *h, const char *prefix, const unsigned char *seen,
                          int *fds, struct oys_err *e)
{
	int rc = 0;
	if ((rc = lcg_init(e)))
		return rc;
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++) {
		if (!seen[i])
			continue;
		char name[128];
		struct oys_cgroup cg;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		int r = fill(&cg, h, name, e);
		if (r == 0)
			r = oys_cgroup_kill(&cg, e);
		if (r == 0)
			r = delete_one(h, name, e);
		if (r == 0)
			unlink_lock(name);
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
		if (r && !rc)
			rc = r;
		if (r && e)
			e = NULL; /* keep the first message */
	}
	return rc;
}

static void close_all(int *fds)
{
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int oys_cgroup_auto_count(unsigned long long memory, int *count, struct oys_err *e)
{
	FILE *f = fopen("/proc/meminfo", "re");
	if (f == NULL)
		return oys_err_sys(e, OYS_ECONFIG, "cannot read /proc/meminfo");
	char line[128];
	unsigned long long kb = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	if (kb == 0)
		return oys_err_set(e, OYS_ECONFIG, "no MemAvailable in /proc/meminfo");
	if (memory == 0)
		memory = OYS_CGROUP_DEFAULT_MEMORY;
	unsigned long long avail = kb * 1024, keep = 2ULL << 30;
	if (avail < 2 * keep)
		keep = avail / 2;
	unsigned long long n = (avail - keep) / memory;
	*count = n < 1 ? 1 : n > OYS_CGROUP_MAX_COUNT ? OYS_CGROUP_MAX_COUNT : (int)n;
	return 0;
}

int oys_cgroup_setup(const char *prefix, int count, const struct oys_cgroup_limits *lim,
                     struct oys_err *e)
{
	const struct hier *h;
	int rc;
	if ((rc = check_prefix(&prefix, e)) || (rc = hier_get(&h, e)))
		return rc;
	struct oys_cgroup_limits l = {0};
	if (lim)
		l = *lim;
	if (l.cpu > 0 && !h->have[D_CPU])
		return oys_err_set(e, OYS_ECONFIG, "cannot limit the CPU: no cpu controller is mounted");
	if (l.pids > 0 && !h->have[D_PIDS])
		return oys_err_set(e, OYS_ECONFIG, "cannot limit tasks: no pids controller is mounted");
	if (!l.memory)
		l.memory = OYS_CGROUP_DEFAULT_MEMORY;
	if (l.cpu <= 0 && h->have[D_CPU])
		l.cpu = OYS_CGROUP_DEFAULT_CPU;
	if (l.pids <= 0 && h->have[D_PIDS])
		l.pids = OYS_CGROUP_DEFAULT_PIDS;
	if (count <= 0 && (rc = oys_cgroup_auto_count(l.memory, &count, e)))
		return rc;
	if (count > OYS_CGROUP_MAX_COUNT)
		return oys_err_set(e, OYS_EUSAGE, "at most %d cgroups in a pool", OYS_CGROUP_MAX_COUNT);
	for (int d = 0; d < D_N; d++)
		if (h->have[d] && !can_write(h->mnt[d], "cgroup.procs"))
			return need_root(e, h->mnt[d]);

	/* Members beyond count go, but only when free: check them all before changing anything. */
	static unsigned char seen[OYS_CGROUP_MAX_COUNT];
	static int fds[OYS_CGROUP_MAX_COUNT];
	scan_members(h, prefix, seen);
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++)
		fds[i] = -1;
	for (int i = 0; i < count; i++)
		seen[i] = 0;
	for (int i = count; i < OYS_CGROUP_MAX_COUNT; i++) {
		if (!seen[i])
			continue;
		char name[128];
		struct oys_cgroup cg;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if ((rc = fill(&cg, h, name, e)) || (fds[i] = claim(&cg, 0, 0, &rc, e), rc)) {
			close_all(fds);
			return rc ? oys_err_wrap(e, "cannot shrink pool %s", prefix) : 0;
		}
	}
	if ((rc = lcg_init(e))) {
		close_all(fds);
		return rc;
	}
	for (int i = 0; i < count; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if ((rc = setup_one(h, name, &l, e))) {
			close_all(fds);
			return rc;
		}
	}
	if ((rc = remove_members(h, prefix, seen, fds, e)))
		return rc;

	char dir[PATH_MAX], path[PATH_MAX + 128], b[128];
	if ((rc = oys_runtime_subdir("cgroup", dir, sizeof dir, e)))
		return rc;
	snprintf(path, sizeof path, "%s/%s.limits", dir, prefix);
	int n = snprintf(b, sizeof b, "%llu %g %ld\n", l.memory, l.cpu, l.pids);
	return oys_write_atomic(path, b, (size_t)n, 0644, e);
}

int oys_cgroup_teardown(const char *prefix, int force, struct oys_err *e)
{
	const struct hier *h;
	int rc;
	if ((rc = check_prefix(&prefix, e)) || (rc = hier_get(&h, e)))
		return rc;
	static unsigned char seen[OYS_CGROUP_MAX_COUNT];
	static int fds[OYS_CGROUP_MAX_COUNT];
	if (scan_members(h, prefix, seen) == 0)
		return no_pool(e, prefix);
	for (int d = 0; d < D_N; d++)
		if (h->have[d] && !can_write(h->mnt[d], "cgroup.procs"))
			return need_root(e, h->mnt[d]);
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++)
		fds[i] = -1;
	/* Hold every lock first: nobody reserves a cgroup that is about to go. */
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++) {
		if (!seen[i])
			continue;
		char name[128];
		struct oys_cgroup cg;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if ((rc = fill(&cg, h, name, e)) || (fds[i] = claim(&cg, force, 1, &rc, e), rc)) {
			close_all(fds);
			return rc;
		}
	}
	if ((rc = remove_members(h, prefix, seen, fds, e)))
		return rc;
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/cgroup/%s.limits", oys_runtime_dir(), prefix) < (int)sizeof path)
		unlink(path);
	return 0;
}
