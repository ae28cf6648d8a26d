/* cgroupadm.c: creating, resizing and removing the pool (oys-cgroup setup and teardown),
 * through libcgroup. Only oys-cgroup links it (and libcgroup): the hot path in cgroup.c needs
 * neither. */
#include "cgroup-int.h"
#include "netns.h"
#include "file.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <errno.h>
#include <libcgroup.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		if ((c[d] = cgroup_add_controller(g, oys_cg_ctl_name[d])) == NULL) {
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
	if ((r = oys_cg_fill(&cg, h, name, e)))
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
		oys_cg_cpu_burst(p->dir[D_CPU], h->version, 0);
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
			r = add_val(c[D_CPU], "cpu.cfs_quota_us", "%ld", oys_cg_cpu_quota(l->cpu));
	} else {
		r = add_val(c[D_MEM], "memory.max", "%llu", l->memory);
		if (!r && oys_cg_exists(p->dir[D_MEM], "memory.swap.max"))
			r = add_val(c[D_MEM], "memory.swap.max", "0");
		if (!r && l->cpu > 0)
			r = add_val(c[D_CPU], "cpu.max", "%ld %d", oys_cg_cpu_quota(l->cpu), OYS_CGROUP_CPU_PERIOD_US);
	}
	if (!r && l->pids > 0)
		r = add_val(c[D_PIDS], "pids.max", "%ld", l->pids);
	if (!r)
		r = cgroup_modify_cgroup(g);
	cgroup_free(&g);
	if (r)
		return lcg_fail(e, r, "set the limits of", name);
	if (l->cpu > 0)
		oys_cg_cpu_burst(p->dir[D_CPU], h->version, oys_cg_cpu_quota(l->cpu));
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
			int i = oys_cg_member_index(prefix, de->d_name);
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
	int fd = oys_cg_lock_take(cg->name, e);
	*rc = 0;
	if (fd < 0 && errno != EWOULDBLOCK) {
		*rc = e ? e->code : OYS_ECANTCREAT;
		return -1;
	}
	if (fd < 0 && !force) {
		struct note nt;
		long pid = oys_cg_note_read(cg->name, &nt) == 0 ? nt.pid : 0;
		*rc = oys_err_set(e, OYS_EUNAVAIL, "%s is reserved by process %ld (%s)", cg->name, pid,
		                  teardown ? "--force ends it" : "release it first");
		return -1;
	}
	if (fd < 0) {
		struct oys_err ignored;
		if (oys_cgroup_release_name(cg, &ignored) == 0)
			fd = oys_cg_lock_take(cg->name, NULL);
		return fd; /* reserved by a program we do not end: go on without the lock */
	}
	int tasks = oys_cg_each_proc(CP(cg)->dir[D_MEM], NULL, NULL);
	if (tasks > 0 && !force) {
		close(fd);
		*rc = oys_err_set(e, OYS_EUNAVAIL, "%s still holds %d task%s (%s)", cg->name, tasks,
		                  tasks == 1 ? "" : "s", teardown ? "--force kills them" : "stop them first");
		return -1;
	}
	return fd;
}

/* A member's lock still marked gone by a teardown that could not finish (its tasks would not
 * die): set up again, it may be reserved again once nobody holds it. */
static void clear_gone(const char *name)
{
	struct note nt;
	if (oys_cg_note_read(name, &nt) < 0 || strcmp(nt.kind, "gone") != 0)
		return;
	int fd = oys_cg_lock_take(name, NULL);
	if (fd < 0)
		return;
	struct note none;
	memset(&none, 0, sizeof none);
	snprintf(none.kind, sizeof none.kind, "free");
	oys_cg_note_put(fd, &none);
	close(fd);
}

static void unlink_lock(const char *name)
{
	char path[PATH_MAX];
	if (oys_cg_lock_path(name, path, sizeof path) == 0)
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
		int r = oys_cg_fill(&cg, h, name, e);
		oys_cg_note_gone(name); /* a request still holding it learns why its workerd dies */
		if (r == 0)
			r = oys_cgroup_kill(&cg, e);
		if (r == 0)
			r = delete_one(h, name, e);
		if (r == 0) {
			unlink_lock(name);
			if (oys_netns_remove(name) < 0 && !rc) /* the slot's network namespace goes with it */
				r = oys_err_sys(e, OYS_EIO, "cannot remove the network namespace of %s", name);
		}
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

/* Pool size for --count auto: (MemAvailable - what the system keeps) / memory, at least 1.
 * The system keeps 2 GiB, or half of MemAvailable when that is under 4 GiB. */
static int auto_count(unsigned long long memory, int *count, struct oys_err *e)
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
	if ((rc = oys_cg_check_prefix(&prefix, e)) || (rc = oys_cg_hier(&h, e)))
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
	if (count <= 0 && (rc = auto_count(l.memory, &count, e)))
		return rc;
	if (count > OYS_CGROUP_MAX_COUNT)
		return oys_err_set(e, OYS_EUSAGE, "at most %d cgroups in a pool", OYS_CGROUP_MAX_COUNT);
	for (int d = 0; d < D_N; d++)
		if (h->have[d] && !oys_cg_can_write(h->mnt[d], "cgroup.procs"))
			return oys_cg_need_root(e, h->mnt[d]);

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
		if ((rc = oys_cg_fill(&cg, h, name, e)) || (fds[i] = claim(&cg, 0, 0, &rc, e), rc)) {
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
		struct oys_cgroup cg;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		/* A member made now is locked until it is whole: its memory directory comes first,
		 * and a reservation that found it then would get a cgroup without its other
		 * controllers or its limits. */
		int made = -1;
		if (oys_cg_fill(&cg, h, name, NULL) == 0 && !oys_cg_is_dir(CP(&cg)->dir[D_MEM]))
			made = oys_cg_lock_take(name, NULL);
		rc = setup_one(h, name, &l, e);
		if (made >= 0)
			close(made);
		if (rc) {
			close_all(fds);
			return rc;
		}
		clear_gone(name);
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
	if ((rc = oys_cg_check_prefix(&prefix, e)) || (rc = oys_cg_hier(&h, e)))
		return rc;
	static unsigned char seen[OYS_CGROUP_MAX_COUNT];
	static int fds[OYS_CGROUP_MAX_COUNT];
	if (scan_members(h, prefix, seen) == 0)
		return oys_cg_no_pool(e, prefix);
	for (int d = 0; d < D_N; d++)
		if (h->have[d] && !oys_cg_can_write(h->mnt[d], "cgroup.procs"))
			return oys_cg_need_root(e, h->mnt[d]);
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++)
		fds[i] = -1;
	/* Hold every lock first: nobody reserves a cgroup that is about to go. */
	for (int i = 0; i < OYS_CGROUP_MAX_COUNT; i++) {
		if (!seen[i])
			continue;
		char name[128];
		struct oys_cgroup cg;
		snprintf(name, sizeof name, "%s%d", prefix, i);
		if ((rc = oys_cg_fill(&cg, h, name, e)) || (fds[i] = claim(&cg, force, 1, &rc, e), rc)) {
			close_all(fds);
			return rc;
		}
		/* one we could not take (forced): a request holds it; once it lets go, nobody
		 * takes it again (the reservation refuses a cgroup marked gone) */
		if (fds[i] < 0)
			oys_cg_note_gone(name);
	}
	if ((rc = remove_members(h, prefix, seen, fds, e)))
		return rc;
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/cgroup/%s.limits", oys_runtime_dir(), prefix) < (int)sizeof path)
		unlink(path);
	return 0;
}

/* Whether dir is a mount point (its device differs from its parent's). */
static int mounted_at(const char *dir)
{
	struct stat a, b;
	char parent[PATH_MAX];
	if (snprintf(parent, sizeof parent, "%s/..", dir) >= (int)sizeof parent)
		return 0;
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

int oys_cgroup_favor_dynmods(int *on, struct oys_err *e)
{
	const struct hier *h;
	int rc = oys_cg_hier(&h, e);
	*on = 0;
	if (rc)
		return rc;
	if (h->version != 1)
		return 0;
	if (mounted_at(OYS_CGROUP_FAVOR_DIR)) {
		*on = 1;
		return 0;
	}
	if (mkdir(OYS_CGROUP_FAVOR_DIR, 0755) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", OYS_CGROUP_FAVOR_DIR);
	if (mount("cgroup", OYS_CGROUP_FAVOR_DIR, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	          "none,name=oys,favordynmods") == 0) {
		*on = 1;
		return 0;
	}
	int err = errno;
	rmdir(OYS_CGROUP_FAVOR_DIR);
	if (err == EINVAL)
		return 0; /* a kernel without favordynmods (before 6.0) */
	errno = err;
	return oys_err_sys(e, err == EPERM ? OYS_ENOPERM : OYS_EOSERR,
	                   "cannot mount a cgroup hierarchy with favordynmods at %s", OYS_CGROUP_FAVOR_DIR);
}
