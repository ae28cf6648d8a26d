/* cgroup.c: the sandbox pool's hot path (see cgroup.h): reserve, enter, stat, kill, release,
 * and what they stand on: the hierarchy and the kernel's files.
 *
 * It reads and writes the kernel's files directly, on paths resolved once per process from
 * /proc/self/mountinfo: libcgroup's cgroup_init() alone takes about 3 ms here, which is more
 * than the whole hot path should. Setup and teardown (cgroupadm.c) go through libcgroup; the
 * command line's named cgroups and holders are in cgrouphold.c, the lock files in
 * cgrouplock.c. */
#include "cgroup-int.h"
#include "file.h"
#include "opt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *const oys_cg_ctl_name[D_N] = {"memory", "cpu", "cpuacct", "pids"};

#define KILL_WAIT_MS 3000

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
int oys_cg_get(const char *dir, const char *file, char *buf, size_t n)
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
	int err = oys_cg_get(dir, file, b, sizeof b);
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
	int err = oys_cg_get(dir, file, b, sizeof b);
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

int oys_cg_exists(const char *dir, const char *file)
{
	char p[DIR_MAX + 64];
	return join(p, sizeof p, dir, file) == 0 && access(p, F_OK) == 0;
}

/* Calls fn(pid) for every pid in dir/cgroup.procs; returns how many, or -errno. A missing
 * directory has none. */
int oys_cg_each_proc(const char *dir, int (*fn)(pid_t, void *), void *arg)
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
				if (h->have[d] || !has_word(sopts, oys_cg_ctl_name[d], ","))
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
	if (v2[0] && oys_cg_get(v2, "cgroup.controllers", ctl, sizeof ctl) == 0 && has_word(ctl, "memory", " \n")) {
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
int oys_cg_hier(const struct hier **out, struct oys_err *e)
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
	return flag ? flag : OYS_CGROUP_DEFAULT_PREFIX;
}

int oys_cg_check_prefix(const char **prefix, struct oys_err *e)
{
	*prefix = oys_cgroup_prefix(*prefix);
	if (!oys_cgroup_valid_prefix(*prefix))
		return oys_err_set(e, OYS_EUSAGE, "invalid cgroup prefix '%s': use letters, digits, '_' and "
		                   "'-', not ending in a digit", *prefix);
	return 0;
}

/* The index of name in pool prefix (canonical decimal), or -1. */
int oys_cg_member_index(const char *prefix, const char *name)
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

int oys_cg_fill(struct oys_cgroup *cg, const struct hier *h, const char *name, struct oys_err *e)
{
	memset(cg, 0, sizeof *cg);
	snprintf(cg->name, sizeof cg->name, "%s", name);
	size_t len = strlen(name), at = len;
	while (at > 0 && isdigit((unsigned char)name[at - 1]))
		at--;
	cg->index = at < len && len - at <= 4 ? atoi(name + at) : -1;
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
		p->memsw = oys_cg_exists(h->mnt[D_MEM], "memory.memsw.limit_in_bytes");
	return 0;
}

int oys_cg_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int idx_exists(const struct hier *h, const char *prefix, int i)
{
	char p[DIR_MAX];
	if (snprintf(p, sizeof p, "%s/%s%d", h->mnt[D_MEM], prefix, i) >= (int)sizeof p)
		return 0;
	return oys_cg_is_dir(p);
}

/* Members are 0..N-1 with no gap (setup keeps it so): exponential then binary search, a few
 * stat(2) calls whatever the size. */
int oys_cg_pool_size(const struct hier *h, const char *prefix)
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
	int rc = oys_cg_check_prefix(&prefix, e);
	if (rc || (rc = oys_cg_hier(&h, e)))
		return rc;
	*count = oys_cg_pool_size(h, prefix);
	if (version)
		*version = h->version;
	return 0;
}

int oys_cg_no_pool(struct oys_err *e, const char *prefix)
{
	return oys_err_set(e, OYS_ECONFIG, "no cgroup pool %s (run oys-cgroup setup)", prefix);
}

/* ---- permissions ---- */

int oys_cg_can_write(const char *dir, const char *file)
{
	char p[DIR_MAX + 64];
	if (join(p, sizeof p, dir, file) < 0)
		return 0;
	return faccessat(AT_FDCWD, p, W_OK, AT_EACCESS) == 0 || errno == ENOENT;
}

int oys_cg_need_root(struct oys_err *e, const char *path)
{
	return oys_err_set(e, OYS_ENOPERM, "cannot write to %s: permission denied (run as root)", path);
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

int oys_cgroup_fd(const struct oys_cgroup *cg)
{
	if (cg->version != 2 || !CP(cg)->dir[D_MEM][0])
		return -1;
	return open(CP(cg)->dir[D_MEM], O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int oys_cgroup_kill(const struct oys_cgroup *cg, struct oys_err *e)
{
	const struct priv *p = CP(cg);
	double t0 = 0;
	unsigned pause_us = 20;
	int first = 1;
	/* Tasks are moved memory first (write_procs), so an empty memory cgroup is an empty one. */
	int k0 = oys_cg_each_proc(p->dir[D_MEM], NULL, NULL);
	if (k0 == 0)
		return 0;
	for (;;) {
		int n = 0;
		for (int d = 0; d < D_N; d++) {
			if (!p->uniq[d])
				continue;
			int k = oys_cg_each_proc(p->dir[d], sigkill_pid, NULL);
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
	return err == ENOENT && oys_cg_is_dir(p->dir[D_MEM]) ? 0 : err; /* an old kernel without the counter */
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
		oys_cg_note_write(cg->lockfd, (long)getpid(), "lib", total);
		return 0;
	}
	/* Not ours: rewrite the baseline in the lock file (which other processes' stat read), keep
	 * who holds it. The lock itself is not needed for that, and not taken. */
	char path[PATH_MAX], dir[PATH_MAX];
	struct note nt;
	if (oys_cg_note_read(cg->name, &nt) < 0)
		snprintf(nt.kind, sizeof nt.kind, "none");
	nt.base = total;
	if (oys_cg_lock_path(cg->name, path, sizeof path) == 0) {
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno == ENOENT && oys_runtime_subdir("cgroup", dir, sizeof dir, NULL) == 0)
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			oys_cg_note_put(fd, &nt);
			close(fd);
		}
	}
	return 0;
}

int oys_cgroup_cpu_weight(struct oys_cgroup *cg, int low, struct oys_err *e)
{
	struct priv *p = P(cg);
	if (!p->dir[D_CPU][0])
		return oys_err_set(e, OYS_EUNAVAIL, "cgroup %s has no cpu controller", cg->name);
	const char *file = cg->version == 1 ? "cpu.shares" : "cpu.weight";
	int err = put(p->dir[D_CPU], file, cg->version == 1 ? (low ? "2" : "1024") : (low ? "1" : "100"));
	return err ? file_err(e, err, "weight", cg, file) : 0;
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

void oys_cgroup_pool_limits(const char *prefix, struct oys_cgroup_limits *l)
{
	prefix = oys_cgroup_prefix(prefix);
	if (oys_cgroup_valid_prefix(prefix))
		pool_limits(prefix, l);
	else
		memset(l, 0, sizeof *l);
}

long oys_cg_cpu_quota(double cores)
{
	long q = (long)(cores * OYS_CGROUP_CPU_PERIOD_US + 0.5); /* cores > 0; no libm for lround */
	return q < 1000 ? 1000 : q;
}

/* CPU burst: a cgroup may save up to one period's quota while idle and spend it at once, so
 * workerd's start (about 70 ms of CPU in a few tens of ms) is not throttled by a quota of half
 * a core, while a function that spins still averages the quota. The kernel wants burst <=
 * quota, so it is cleared before a quota changes and set after. Kernels without the file
 * (before 5.14) simply have no burst. */
void oys_cg_cpu_burst(const char *cpudir, int version, long quota)
{
	const char *file = version == 1 ? "cpu.cfs_burst_us" : "cpu.max.burst";
	char v[32];
	if (!cpudir[0] || !oys_cg_exists(cpudir, file))
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
	if (l.cpu - applied->cpu < 1e-4 && applied->cpu - l.cpu < 1e-4)
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
		oys_cg_cpu_burst(p->dir[D_CPU], cg->version, 0);
		if (cg->version == 1) {
			snprintf(v, sizeof v, "%ld", oys_cg_cpu_quota(l.cpu));
			err = put(p->dir[D_CPU], file = "cpu.cfs_quota_us", v);
		} else {
			snprintf(v, sizeof v, "%ld %d", oys_cg_cpu_quota(l.cpu), OYS_CGROUP_CPU_PERIOD_US);
			err = put(p->dir[D_CPU], file = "cpu.max", v);
		}
		if (!err)
			oys_cg_cpu_burst(p->dir[D_CPU], cg->version, oys_cg_cpu_quota(l.cpu));
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

/* Prepares a cgroup whose lock was just taken, from the note read (nt): kills what a holder that
 * is gone left, resets the counters, applies the limits, writes the note. */
static int take_noted(struct oys_cgroup *cg, const char *prefix, const struct oys_cgroup_limits *lim,
                      struct note *nt, struct oys_err *e)
{
	const char *file = "";
	nt->pid = (long)getpid();
	snprintf(nt->kind, sizeof nt->kind, "lib");
	int rc = oys_cgroup_kill(cg, e); /* leftovers of a holder that is gone */
	if (rc)
		return rc;
	int err = reset_counters(cg, &file);
	if (err)
		return file_err(e, err, "reset", cg, file);
	if ((err = oom_total(cg, &cg->oom_base)))
		return file_err(e, err, "read", cg, cg->version == 1 ? "memory.oom_control" : "memory.events");
	nt->base = cg->oom_base;
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
	rc = apply_limits(cg, &want, &nt->lim, e);
	if (rc == 0)
		oys_cgroup_cpu_weight(cg, 0, NULL); /* a warm sandbox's start may have left it low */
	oys_cg_note_put(cg->lockfd, nt);
	return rc;
}

/* Prepares a cgroup whose lock was just taken; one read and one write of the lock note, under
 * the note's lock: a teardown marking it gone meanwhile waits, and its mark then stands. */
static int take(struct oys_cgroup *cg, const char *prefix, const struct oys_cgroup_limits *lim,
                struct oys_err *e)
{
	struct note nt;
	int locked = oys_cg_note_lock(cg->lockfd) == 0;
	oys_cg_note_fd_read(cg->lockfd, &nt);
	int rc = strcmp(nt.kind, "gone") == 0 ? OYS_ETEMPFAIL /* being torn down: not ours to take */
	                                      : take_noted(cg, prefix, lim, &nt, e);
	if (locked)
		oys_cg_note_unlock(cg->lockfd);
	return rc;
}

/* The members of a small pool, the one reserved longest ago first (its lock file's mtime: the
 * note is written at each reservation), ties in the order of a rotation from start. A cgroup
 * that rested has its CPU burst back: with the pool's quota of half a core, a workerd start
 * (60-70 ms of CPU) in a cgroup used a moment before was throttled. Returns 1 when order is
 * filled, 0 for a pool larger than LRU_MAX (a few stat calls per member are not worth it). */
#define LRU_MAX 64

static int lru_order(const char *prefix, int n, unsigned start, int *order)
{
	if (n > LRU_MAX)
		return 0;
	long long age[LRU_MAX];
	for (int k = 0; k < n; k++) {
		int i = (int)((start + (unsigned)k) % (unsigned)n);
		char name[128], path[PATH_MAX];
		struct stat st;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		order[k] = i;
		age[k] = oys_cg_lock_path(name, path, sizeof path) == 0 && stat(path, &st) == 0
		             ? (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec
		             : 0;
	}
	for (int k = 1; k < n; k++) /* insertion sort, stable: the rotation breaks ties */
		for (int j = k; j > 0 && age[j] < age[j - 1]; j--) {
			long long a = age[j];
			int o = order[j];
			age[j] = age[j - 1];
			order[j] = order[j - 1];
			age[j - 1] = a;
			order[j - 1] = o;
		}
	return 1;
}

int oys_cgroup_reserve(const char *prefix, const struct oys_cgroup_limits *lim,
                       struct oys_cgroup *cg, struct oys_err *e)
{
	const struct hier *h;
	int rc;
	memset(cg, 0, sizeof *cg);
	cg->lockfd = -1;
	if ((rc = oys_cg_check_prefix(&prefix, e)) || (rc = oys_cg_hier(&h, e)))
		return rc;
	int n = oys_cg_pool_size(h, prefix);
	if (n == 0)
		return oys_cg_no_pool(e, prefix);
	char dir0[DIR_MAX];
	if (snprintf(dir0, sizeof dir0, "%s/%s0", h->mnt[D_MEM], prefix) >= (int)sizeof dir0)
		return oys_err_set(e, OYS_ECONFIG, "cgroup path %s/%s0 is too long", h->mnt[D_MEM], prefix);
	if (!oys_cg_can_write(dir0, "cgroup.procs"))
		return oys_cg_need_root(e, dir0);

	/* Start somewhere else each time, so that concurrent reservations rarely contend; in a
	 * pool of up to LRU_MAX, with the cgroup reserved longest ago. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned start = (unsigned)(ts.tv_nsec ^ (getpid() * 2654435761u)) % (unsigned)n;
	int order[LRU_MAX];
	int lru = lru_order(prefix, n, start, order);
	int busy = 0;
	/* Two rounds: a lock can be busy for an instant (a holder between release and exit). */
	for (int k = 0; k < 2 * n; k++) {
		int i = lru ? order[k % n] : (int)((start + (unsigned)k) % (unsigned)n);
		char name[128];
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if (k == n)
			busy = 0;
		int fd = oys_cg_lock_take(name, e);
		if (fd < 0) {
			if (errno == EWOULDBLOCK) {
				busy++;
				continue;
			}
			return e ? e->code : OYS_ECANTCREAT;
		}
		if ((rc = oys_cg_fill(cg, h, name, e))) {
			close(fd);
			return rc;
		}
		cg->lockfd = fd;
		if ((rc = take(cg, prefix, lim, e)) == 0)
			return 0;
		if (rc != OYS_ETEMPFAIL && rc != OYS_ENOINPUT) {
			oys_cgroup_release(cg);
			return rc;
		}
		/* tasks that will not die (waited for already), a cgroup being torn down, or one
		 * half made or half removed (a file missing: setup or teardown is at work): another */
		close(cg->lockfd);
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
	if (!oys_cg_is_dir(mem))
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
		if (p->dir[D_CPU][0] && oys_cg_get(p->dir[D_CPU], "cpu.max", b, sizeof b) == 0 && strncmp(b, "max", 3) != 0) {
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
	int k = oys_cg_each_proc(mem, NULL, NULL);
	st->tasks = k > 0 ? k : 0;
	if (cg->lockfd >= 0 || cg->claimed) {
		st->busy = 1;
		st->holder = cg->lockfd >= 0 ? (long)getpid() : 0;
	} else {
		st->busy = oys_cg_held_probe(cg->name);
		struct note nt;
		if (st->busy && oys_cg_note_read(cg->name, &nt) == 0)
			st->holder = nt.pid;
	}
	return 0;
}

int oys_cgroup_held(const struct oys_cgroup *cg)
{
	char path[PATH_MAX];
	struct stat a, b;
	if (cg->name[0] == '\0' || cg->lockfd < 0 || oys_cg_lock_path(cg->name, path, sizeof path) < 0)
		return 0;
	if (fstat(cg->lockfd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		return 0;
	struct note nt;
	if (oys_cg_note_fd_read(cg->lockfd, &nt) == 0 && strcmp(nt.kind, "gone") == 0)
		return 0; /* being torn down */
	return oys_cg_is_dir(CP(cg)->dir[D_MEM]);
}

void oys_cgroup_unlock(struct oys_cgroup *cg)
{
	if (cg->lockfd < 0)
		return;
	oys_cg_held_mark(cg->lockfd, 0);
	flock(cg->lockfd, LOCK_UN);
}

void oys_cgroup_release(struct oys_cgroup *cg)
{
	struct priv *p = P(cg);
	if (cg->name[0] == '\0')
		return; /* never filled in (a zeroed struct): nothing is ours */
	if (cg->lockfd >= 0) {
		if (oys_cgroup_held(cg))
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
	if ((rc = oys_cg_check_prefix(&prefix, e)) || (rc = oys_cg_hier(&h, e)))
		return rc;
	int n = oys_cg_pool_size(h, prefix);
	if (n == 0)
		return oys_cg_no_pool(e, prefix);
	*total = n;
	*busy = 0;
	for (int i = 0; i < n; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s%d", prefix, i);
		*busy += oys_cg_held_probe(name);
	}
	return 0;
}
