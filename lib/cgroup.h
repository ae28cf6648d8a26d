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

struct oys_cgroup_limits {
	unsigned long long memory;  /* bytes; 0: keep the pool's */
	double cpu;                 /* cores (0.5 = half a core); 0: keep the pool's */
	long pids;                  /* tasks (threads count); 0: keep the pool's */
};

struct oys_cgroup {
	char name[128];             /* e.g. "workerd_3" */
	int version;                /* 1 or 2 */
	int lockfd;                 /* the reservation; -1 when not held */
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
};

/* Creates (or updates the limits of) the pool. */
int oys_cgroup_setup(const char *prefix, int count, const struct oys_cgroup_limits *lim,
                     struct oys_err *e);
/* Removes the pool; refuses (OYS_EUNAVAIL) while a cgroup holds tasks, unless force. */
int oys_cgroup_teardown(const char *prefix, int force, struct oys_err *e);

/* Reserves a free cgroup of the pool: takes its lock (close-on-exec), kills any leftover task
 * in it (a holder is gone, so they are orphans), resets the peak and CPU counters, records the
 * OOM-kill baseline, applies lim (NULL or zero fields: the pool's limits). No free cgroup:
 * OYS_EUNAVAIL "no free cgroup in pool PREFIX (N busy)". No such pool: OYS_ECONFIG. */
int oys_cgroup_reserve(const char *prefix, const struct oys_cgroup_limits *lim,
                       struct oys_cgroup *cg, struct oys_err *e);
/* Opens a named cgroup of a pool without reserving it (for exec/stat/release). */
int oys_cgroup_open(const char *name, struct oys_cgroup *cg, struct oys_err *e);
/* Moves the calling process into the cgroup (every controller). Used between fork and exec,
 * so the child starts inside: no window where it runs unlimited. */
int oys_cgroup_enter(const struct oys_cgroup *cg, struct oys_err *e);
/* Moves another process in. */
int oys_cgroup_attach(const struct oys_cgroup *cg, pid_t pid, struct oys_err *e);
int oys_cgroup_stat(const struct oys_cgroup *cg, struct oys_cgroup_stat *st, struct oys_err *e);
/* SIGKILLs every task in the cgroup and waits (bounded) until it is empty. */
int oys_cgroup_kill(const struct oys_cgroup *cg, struct oys_err *e);
/* Kills what is left, releases the lock. Safe to call twice. */
void oys_cgroup_release(struct oys_cgroup *cg);

/* Pool occupancy without reserving anything (for /status, /metrics and the load balancer's
 * agent check). Returns 0 and the counts; a missing pool is OYS_ECONFIG. */
int oys_cgroup_pool_count(const char *prefix, int *total, int *busy, struct oys_err *e);

/* Whether name is a valid pool cgroup name (letters, digits, '_', '-'; no '/', no "..";
 * at most 100 bytes). */
int oys_cgroup_valid_name(const char *name);

#endif
