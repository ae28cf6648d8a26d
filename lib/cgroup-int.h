/* cgroup-int.h: what the cgroup files share, and nothing else includes. cgroup.c has the
 * hot path and what it stands on (the hierarchy, the kernel's files), cgrouplock.c the lock
 * files; cgrouphold.c (named cgroups for the command line, and a warm sandbox's for oys-run
 * and oys-serve) and cgroupadm.c (setup and teardown through libcgroup, oys-cgroup only). */
#ifndef OYS_CGROUP_INT_H
#define OYS_CGROUP_INT_H

#include "cgroup.h"

#include <stddef.h>
#include <sys/types.h>

/* Controllers, in the order tasks are moved (memory first: it is the one that matters). */
enum { D_MEM, D_CPU, D_ACCT, D_PIDS, D_N };
extern const char *const oys_cg_ctl_name[D_N]; /* "memory", "cpu", "cpuacct", "pids" */

#define MNT_MAX 128
#define DIR_MAX (MNT_MAX + 1 + 101)

/* The hierarchy, detected once per process from /proc/self/mountinfo. */
struct hier {
	int version;
	int have[D_N];
	char mnt[D_N][MNT_MAX]; /* v2: the one mount, for every controller it has */
};
int oys_cg_hier(const struct hier **out, struct oys_err *e);

/* What cg->priv holds: the cgroup's directories, filled by oys_cg_fill(). */
struct priv {
	char dir[D_N][DIR_MAX]; /* "" when the controller is absent */
	unsigned char uniq[D_N]; /* the first of the controllers sharing a directory */
	unsigned char memsw;     /* v1: memory.memsw.* exist (swap accounting) */
	int peakfd1;             /* v2: memory.peak's fd + 1 (0: none), reset at reservation */
};
_Static_assert(sizeof(struct priv) <= sizeof(((struct oys_cgroup *)0)->priv), "priv too small");
_Static_assert(offsetof(struct oys_cgroup, priv) % _Alignof(struct priv) == 0, "priv misaligned");

static inline struct priv *P(struct oys_cgroup *cg) { return (struct priv *)(void *)cg->priv; }
static inline const struct priv *CP(const struct oys_cgroup *cg)
{
	return (const struct priv *)(const void *)cg->priv;
}
int oys_cg_fill(struct oys_cgroup *cg, const struct hier *h, const char *name, struct oys_err *e);

/* Small reads of the kernel's files (0 or an errno value); the tasks of a directory (fn called
 * for each, may be NULL; how many, or -errno). */
int oys_cg_get(const char *dir, const char *file, char *buf, size_t n);
int oys_cg_exists(const char *dir, const char *file);
int oys_cg_is_dir(const char *path);
int oys_cg_each_proc(const char *dir, int (*fn)(pid_t, void *), void *arg);
int oys_cg_can_write(const char *dir, const char *file);
int oys_cg_need_root(struct oys_err *e, const char *path);
long oys_cg_cpu_quota(double cores);
void oys_cg_cpu_burst(const char *cpudir, int version, long quota);

/* Names: the prefix in effect, checked; the index of a member (-1: not one); the pool's size. */
int oys_cg_check_prefix(const char **prefix, struct oys_err *e);
int oys_cg_member_index(const char *prefix, const char *name);
int oys_cg_pool_size(const struct hier *h, const char *prefix);
int oys_cg_no_pool(struct oys_err *e, const char *prefix);

/* Lock files (cgrouplock.c): RUNTIME/cgroup/<name>.lock, holding "PID KIND OOMBASE MEMORY CPU
 * PIDS": who holds it (KIND: lib, hold or exec), the OOM-kill baseline, the limits last
 * applied. */
struct note {
	long pid;
	char kind[8];
	unsigned long long base;
	struct oys_cgroup_limits lim;
};
int oys_cg_lock_path(const char *name, char *out, size_t n);
/* Takes the lock without waiting: the fd, or -1 with errno (EWOULDBLOCK: held). */
int oys_cg_lock_take(const char *name, struct oys_err *e);
void oys_cg_note_put(int fd, const struct note *nt);
int oys_cg_note_fd_read(int fd, struct note *nt);
/* The note's own lock (an OFD lock on its first byte, apart from the reservation's flock):
 * every read-modify-write of a note holds it, so a "gone" written by teardown is never
 * overwritten by a holder that read the note a moment before. Waits; 0, or -1 with errno. */
int oys_cg_note_lock(int fd);
void oys_cg_note_unlock(int fd);
int oys_cg_note_read(const char *name, struct note *nt);
/* Rewrites who holds the lock and the baseline, keeping the limits recorded; under the note's
 * lock, and never over "gone". */
void oys_cg_note_write(int fd, long pid, const char *kind, unsigned long long base);
/* Marks a member's lock note "gone" before teardown kills what runs in it, so that a holder
 * whose workerd dies of it knows why at once (oys_cgroup_held()). */
void oys_cg_note_gone(const char *name);

/* Whether a member is held, without taking its lock (which would make a concurrent reserve see
 * it busy) and without reading /proc/locks (which takes file_rwsem for writing: an RCU grace
 * period, 10-14 ms measured, during which every flock on the host waits). A reservation's lock
 * carries a held mark, an OFD lock on the file's second byte set by oys_cg_lock_take(), gone
 * with the flock when the last descriptor of it closes, or given up with it (mark 0; see
 * oys_cgroup_unlock()). The probe asks F_OFD_GETLK: 1 held, 0 free. */
void oys_cg_held_mark(int fd, int held);
int oys_cg_held_probe(const char *name);

#endif
