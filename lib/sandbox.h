/* sandbox.h: the layers around one workerd, besides its cgroup.
 *
 * workerd is not a hardened sandbox (its README says so). The child that becomes workerd sets
 * these up between fork and exec, in bubblewrap's order: namespaces first (its own network,
 * mount and PID namespaces), then the identity (no supplementary groups, its own gid and uid:
 * the capabilities go with root, the bounding and ambient sets are emptied), then
 * PR_SET_NO_NEW_PRIVS, and the seccomp filter last, right before exec. It execs with an empty
 * environment. Each step is checked; a failure is reported to the parent on a pipe as (step,
 * errno) and becomes one clear error there (oys_sandbox_error).
 *
 * The identity: pool slot i runs workerd as uid and gid BASE+i (OYS_SANDBOX_UID, default
 * 2000000000), with no passwd entry, so two sandboxes that run at the same time never share a
 * uid: neither can read the other's request directory or its /proc. The request directory and
 * its files are handed to that uid (0500 and 0400) once the slot is reserved. */
#ifndef OYS_SANDBOX_H
#define OYS_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define OYS_SANDBOX_DEFAULT_UID 2000000000LL
#define OYS_SANDBOX_ROOT (-1LL)           /* the setting "root": keep the caller's uid */
#define OYS_SANDBOX_UID_MAX 4294966270LL  /* the last base with room for a whole pool (1024) */

struct oys_sandbox {
	int keep_uid;         /* keep the caller's uid and gid (development: OYS_SANDBOX_UID=root);
	                         capabilities are dropped all the same */
	uid_t uid;            /* else switch to this uid, and gid, with no supplementary groups */
	int netns_fd;         /* >= 0: enter this network namespace (setns); -1: stay */
	int new_netns;        /* with netns_fd -1: a new network namespace (unshare), no interface
	                         but a loopback that is down */
	int private_proc;     /* the child was cloned into mount and PID namespaces of its own (the
	                         spawner's clone flags, see oys_sandbox_clone_flags): make the mounts
	                         slaves and mount a /proc that shows its own processes only */
	int seccomp;          /* install the filter (seccomp.h) */
};

/* The sandbox every request gets: the slot's own uid, the filter, a private /proc; the
 * network is set by the caller (netns_fd). base: the setting (0: the default,
 * OYS_SANDBOX_ROOT: keep the caller's uid). The uid must not be 0: OYS_ECONFIG. */
int oys_sandbox_for_slot(long long base, int slot, struct oys_sandbox *sb, struct oys_err *e);

/* The clone flags the child needs (CLONE_NEWNS | CLONE_NEWPID with private_proc). */
unsigned long oys_sandbox_clone_flags(const struct oys_sandbox *sb);

/* The empty environment workerd gets: nothing of the caller's (no OYS_ADMIN_TOKEN, no PATH). */
extern char *const oys_sandbox_env[];

/* Hands the request directory to the sandbox's user: the plain files in it become uid:gid
 * 0400, the directory uid:gid 0500, so no other user can traverse it (root still can).
 * Symlinks and anything that is not a plain file are refused: OYS_ESOFTWARE. */
int oys_sandbox_handoff(const char *dir, uid_t uid, gid_t gid, struct oys_err *e);

/* ---- in the child, between fork and exec (no allocation, no stdio) ---- */

enum oys_sandbox_step {
	OYS_SB_OK,
	OYS_SB_SPAWN,     /* the spawner's own steps (descriptors, process group, cgroup) */
	OYS_SB_CGROUP,
	OYS_SB_NETNS,
	OYS_SB_MOUNTS,
	OYS_SB_PROC,
	OYS_SB_CHDIR,
	OYS_SB_BOUNDING,
	OYS_SB_AMBIENT,
	OYS_SB_GROUPS,
	OYS_SB_GID,
	OYS_SB_UID,
	OYS_SB_CAPS,
	OYS_SB_PDEATHSIG,
	OYS_SB_NNP,
	OYS_SB_SECCOMP,
	OYS_SB_EXEC,
};

/* Sets up the layers of sb in the calling process, which then works in dir (NULL: stays where
 * it is; dir is entered before the uid changes, so its parents need not be traversable by the
 * sandbox's user). Returns 0, or an errno value with *step telling which step failed. After
 * it, only execve may follow (the filter is in place). */
int oys_sandbox_enter(const struct oys_sandbox *sb, const char *dir, int *step);

/* The one-line error for a step that failed with err in the child (in the parent). */
int oys_sandbox_error(struct oys_err *e, const struct oys_sandbox *sb, int step, int err,
                      const char *what);

/* Installs the built-in seccomp filter in the calling process (it must have
 * PR_SET_NO_NEW_PRIVS or CAP_SYS_ADMIN). Returns 0 or an errno value. For tests. */
int oys_sandbox_seccomp(void);
/* The number of BPF instructions of the filter. */
size_t oys_sandbox_seccomp_len(void);
/* Compares the built-in program with the BPF at p (n bytes): 0 when equal. For tests. */
int oys_sandbox_seccomp_cmp(const void *p, size_t n);

#endif
