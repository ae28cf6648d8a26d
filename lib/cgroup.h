/* cgroup.h: the sandbox pool. Every request runs in a cgroup of its own that caps memory, CPU
 * and tasks; cgroup v1 and v2 are detected at run time.
 *
 * A pool is PREFIX0 .. PREFIX(N-1) (default prefix "workerd_") in every controller the
 * hierarchy has (v1: memory, cpu, cpuacct, pids; v2: one directory). A reservation is an
 * exclusive flock on RUNTIME/cgroup/<name>.lock held by the process that runs the request, so
 * two reservations never get the same cgroup and a crashed holder's reservation is released by
 * the kernel. */
#ifndef OYS_CGROUP_H
#define OYS_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define OYS_CGROUP_DEFAULT_PREFIX "workerd_"

/* Defaults of a pool, from measurements (see man/oys-cgroup.1): a minimal worker peaks at
 * 12-14 MiB, ordinary functions at 60-100 MiB; workerd runs 2 threads here and V8's worker pool
 * grows with the cores (at most 16); its start takes about 85 ms of CPU, which 0.5 core barely
 * slows. */
#define OYS_CGROUP_DEFAULT_MEMORY (128ULL << 20)
#define OYS_CGROUP_DEFAULT_CPU 0.5
#define OYS_CGROUP_DEFAULT_PIDS 64L
#define OYS_CGROUP_MAX_COUNT 1024       /* cgroups in a pool, at most */
#define OYS_CGROUP_CPU_PERIOD_US 100000 /* the CPU limit is a quota per 100 ms period */

struct oys_cgroup_limits {
	unsigned long long memory;  /* bytes; 0: keep the pool's */
	double cpu;                 /* cores (0.5 = half a core); 0: keep the pool's */
	long pids;                  /* tasks (threads count); 0: keep the pool's */
};

struct oys_cgroup {
	char name[128];             /* e.g. "workerd_3" */
	int index;                  /* its place in the pool: 3 (-1: not a pool member's name) */
	int version;                /* 1 or 2 */
	int lockfd;                 /* the reservation; -1 when not held */
	int claimed;                /* not ours, but held by another process for us (a warm
	                               sandbox oys-warm handed over): busy, without asking */
	unsigned long long oom_base; /* OOM-kill counter at reservation, to count this use's */
	/* implementation-private: resolved directory paths etc. */
	char priv[1024];
};

struct oys_cgroup_stat {
	unsigned long long memory_current;  /* bytes */
	unsigned long long memory_peak;     /* bytes, since the reservation (reset then) */
	unsigned long long memory_limit;    /* bytes */
	unsigned long long cpu_usage_ns;    /* since the reservation */
	unsigned long long oom_kills;       /* since the reservation */
	unsigned long long oom_kills_total; /* since the cgroup was created */
	long tasks;                         /* tasks in it now */
	int busy;                           /* reserved by someone */
	/* added by the implementation: */
	double cpu_limit;                   /* cores; 0: no limit */
	long pids_limit;                    /* 0: no limit */
	long pids_current;                  /* what the pids limit counts: threads, and exited
	                                       tasks not yet reaped */
	long holder;                        /* pid of the reserving process as it recorded itself,
	                                       0 when unknown or not busy */
};

/* Reserves a free cgroup of the pool (in a pool of up to 64, the one reserved longest ago, whose
 * CPU burst is back): takes its lock (close-on-exec), kills any leftover task
 * in it (a holder is gone, so they are orphans), resets the peak and CPU counters, records the
 * OOM-kill baseline, applies lim (NULL or zero fields: the pool's limits). No free cgroup:
 * OYS_EUNAVAIL "no free cgroup in pool PREFIX (N busy)". No such pool: OYS_ECONFIG. */
int oys_cgroup_reserve(const char *prefix, const struct oys_cgroup_limits *lim,
                       struct oys_cgroup *cg, struct oys_err *e);
/* Moves the calling process into the cgroup (every controller). Used between fork and exec,
 * so the child starts inside: no window where it runs unlimited. On cgroup v1 the write waits
 * for an RCU grace period unless the hierarchy favours dynamic changes (favordynmods): about
 * 12 ms here, paid by whoever moves (see oys-cgroup(1)). */
int oys_cgroup_enter(const struct oys_cgroup *cg, struct oys_err *e);
/* cgroup v2: an O_PATH descriptor of the cgroup's directory, for clone3's CLONE_INTO_CGROUP
 * (the child is created inside: nothing moves); -1 on v1 or when it cannot be opened. */
int oys_cgroup_fd(const struct oys_cgroup *cg);
int oys_cgroup_stat(const struct oys_cgroup *cg, struct oys_cgroup_stat *st, struct oys_err *e);
/* SIGKILLs every task in the cgroup and waits (bounded) until it is empty. */
int oys_cgroup_kill(const struct oys_cgroup *cg, struct oys_err *e);
/* Gives the reservation up at once, though forked children may still have a copy of its
 * descriptor (between their fork and their close_range()); release then closes it. */
void oys_cgroup_unlock(struct oys_cgroup *cg);
/* Kills what is left, releases the lock. Safe to call twice. A reservation the pool lost
 * (oys_cgroup_held() 0) kills nothing: the cgroup is gone, or another's now. */
void oys_cgroup_release(struct oys_cgroup *cg);
/* Whether this process still holds cg: its lock file is still the one it locked, not marked
 * for teardown, and the cgroup still exists. 0 once the pool is being torn down under the
 * reservation (oys-cgroup teardown --force marks each cgroup's lock, kills what runs in it,
 * removes the cgroup and the lock file): after a setup, the same name is a new cgroup that
 * another request may reserve, which this one must not touch. */
int oys_cgroup_held(const struct oys_cgroup *cg);

/* Pool occupancy without reserving anything (for /status, /metrics and the load balancer's
 * agent check). Returns 0 and the counts; a missing pool is OYS_ECONFIG. */
int oys_cgroup_pool_count(const char *prefix, int *total, int *busy, struct oys_err *e);

/* Whether name is a valid pool cgroup name (letters, digits, '_', '-'; no '/', no "..";
 * at most 100 bytes). */
int oys_cgroup_valid_name(const char *name);

/* ---- added by the implementation ----
 *
 * Notes on the functions above:
 *  - prefix NULL means OYS_CGROUP_DEFAULT_PREFIX.
 *  - oys_cgroup_release() acts only on a cgroup this process reserved (lockfd >= 0); for one
 *    that was only opened it just frees private resources.
 *  - Not root (cannot write the cgroup files): OYS_ENOPERM, nothing changed.
 *  - The hot path (reserve, enter, stat, kill, release; lib/cgroup.c) uses plain file I/O on
 *    paths resolved once per process from /proc/self/mountinfo; libcgroup, whose cgroup_init()
 *    takes about 3 ms, is used by setup and teardown only (lib/cgroupadm.c). */

/* Whether prefix can name a pool: 1-90 bytes of letters, digits, '_', '-', not ending in a
 * digit (so that PREFIX<index> is unambiguous). */
int oys_cgroup_valid_prefix(const char *prefix);
/* The prefix in effect: flag if not NULL, else the default (cmd/ resolves OYS_CGROUP_PREFIX:
 * oys_conf_prefix() in conf.h). */
const char *oys_cgroup_prefix(const char *flag);

/* The pool's limits as its setup recorded them (RUNTIME/cgroup/PREFIX.limits): what a
 * reservation without limits of its own gets. 0 fields when unknown. */
void oys_cgroup_pool_limits(const char *prefix, struct oys_cgroup_limits *l);

/* The number of cgroups in the pool (0 when there is none) and the hierarchy version. */
int oys_cgroup_pool_size(const char *prefix, int *count, int *version, struct oys_err *e);

/* Resets the memory peak and CPU counters and takes the current OOM-kill count as the new
 * baseline (recorded in the lock file, so other processes' stat see it). */
int oys_cgroup_reset(struct oys_cgroup *cg, struct oys_err *e);

/* The cgroup's CPU weight against its siblings when the CPU is contended (v1 cpu.shares 2 or
 * 1024, v2 cpu.weight 1 or 100): low for a warm sandbox that is starting, so that it takes
 * no CPU from requests running; the default again before one runs there (a reservation
 * restores it too). OYS_EUNAVAIL without a cpu controller. The quota is not touched. */
int oys_cgroup_cpu_weight(struct oys_cgroup *cg, int low, struct oys_err *e);

/* ---- pool administration (lib/cgroupadm.c, through libcgroup; only oys-cgroup links it) */

/* Creates (or updates the limits of) the pool. count <= 0: as many as fit, (MemAvailable -
 * what the system keeps) / memory, at least 1, where the system keeps 2 GiB, or half of
 * MemAvailable when that is under 4 GiB. Zero fields of lim mean the defaults above. The
 * pool's limits are also written to RUNTIME/cgroup/PREFIX.limits, from which a reservation
 * without per-request limits restores them. */
int oys_cgroup_setup(const char *prefix, int count, const struct oys_cgroup_limits *lim,
                     struct oys_err *e);
/* Removes the pool; refuses (OYS_EUNAVAIL) while a cgroup holds tasks, unless force. */
int oys_cgroup_teardown(const char *prefix, int force, struct oys_err *e);

/* Where setup mounts a named cgroup v1 hierarchy (no controller) with favordynmods. */
#define OYS_CGROUP_FAVOR_DIR "/run/oys-favordynmods"

/* Makes the kernel favour dynamic cgroup changes on cgroup v1 (Linux 6.0 and later): moving a
 * task into a cgroup then no longer waits for an RCU grace period (11-14 ms measured per
 * start). The mode is global: a named hierarchy with no controller, mounted at
 * OYS_CGROUP_FAVOR_DIR with favordynmods and left mounted, turns it on until it is unmounted
 * (from Linux 6.18, until reboot). *on is 1 when it is on (now or already), 0 when this kernel
 * has no such mode or the hierarchy is v2 (oys creates workerd inside its cgroup there: nothing
 * moves). Returns 0 or an error. */
int oys_cgroup_favor_dynmods(int *on, struct oys_err *e);

/* ---- named cgroups and holders, for the command line (lib/cgrouphold.c; oys-cgroup links
 * it, and oys-run and oys-serve for oys_cgroup_open_pool: a warm sandbox's cgroup) */

/* Opens the cgroup name of a pool without reserving it (for exec, stat, release). Only
 * PREFIX<index> of the pool is accepted (so a typo cannot reach a cgroup that is not the
 * pool's); unknown: OYS_ENOINPUT; a bad name: OYS_EUSAGE. Its oom_base is the one the holder
 * recorded in the lock file. */
int oys_cgroup_open_pool(const char *prefix, const char *name, struct oys_cgroup *cg,
                         struct oys_err *e);
/* Opens member index of the pool (like oys_cgroup_open_pool). */
int oys_cgroup_member(const char *prefix, int index, struct oys_cgroup *cg, struct oys_err *e);

/* Hands a reservation to a small holder process (named oys-cg-hold, in its own session, no
 * open files but the lock) that keeps it until it gets SIGTERM or dies; the caller's lockfd
 * is closed. */
int oys_cgroup_hold(struct oys_cgroup *cg, pid_t *holder, struct oys_err *e);
/* Runs argv inside the cgroup (exec, same pid), with OYS_CGROUP=name in its environment. A
 * reservation held in cg stays held by argv for its life (the lock fd is inherited). Returns
 * only on failure: OYS_ENOTFOUND (127) or OYS_EEXEC (126). */
int oys_cgroup_exec(struct oys_cgroup *cg, char *const argv[], struct oys_err *e);
/* Ends the reservation of an opened cgroup, whoever holds it: a holder of oys_cgroup_hold()
 * gets SIGTERM, a command of oys_cgroup_exec() is killed with the cgroup's tasks; a cgroup
 * reserved by another program (oys-run) is refused with OYS_EUNAVAIL. Then what is left in the
 * cgroup is killed. A free cgroup: leftovers are killed, and that is all. */
int oys_cgroup_release_name(struct oys_cgroup *cg, struct oys_err *e);

#endif
