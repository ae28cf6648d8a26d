/* warm.h: pre-started single-use sandboxes (oys-warm).
 *
 * A warm sandbox is a workerd process started ahead of any request, inside a cgroup of the pool
 * that oys-warm reserved for it, serving only the platform loader (share/templates/
 * warm-loader.js) on a Unix socket in a root-only directory. A request claims it, sends it the
 * function and then the request, reads the answer, and kills it: one request per process, as
 * on the cold path; only workerd's start has moved off the request's path. oys-warm then
 * empties and releases the cgroup and starts a replacement.
 *
 *   warmsrv.c  the pool, oys-warm's loop (oys_warm_serve)
 *   warmc.c    its control socket, from the other side: claim, status
 *   warm.c     one request in a claimed sandbox (oys_warm_run, which oys_run() calls first)
 *
 * Files, under RUNTIME/warm (0700, root's): control.sock, and per sandbox a directory named
 * after its cgroup with config.capnp and http.sock. RUNTIME/warm.lock is held by the running
 * oys-warm. A crashed oys-warm's workerds die with it (PR_SET_PDEATHSIG), the kernel releases
 * its cgroup reservations, and the next oys-warm removes what is left of RUNTIME/warm.
 *
 * The control socket (SOCK_SEQPACKET, connections from root only), one message each way:
 *   "claim PREFIX MEMORY CPU PIDS WAIT_MS TTL_MS POLICY"
 *       a sandbox of pool PREFIX with these limits (0: the pool's; they must be oys-warm's) and
 *       this outbound policy. When none is ready, the claim waits up to WAIT_MS for one that
 *       is starting or busy, but only while the pool has no free cgroup (a cold start can
 *       run otherwise, and is not slower than waiting). A request waits as long as it lets a
 *       cold workerd take to start (its start timeout): with oys-warm holding the pool, a
 *       sandbox that is starting is the one it would otherwise wait for.
 *     -> "ok CGROUP PID SOCKET_PATH", with two descriptors (SCM_RIGHTS): a pidfd of the
 *        sandbox's workerd and the read end of its stdout+stderr pipe. From then on the
 *        connection is the claim: when it closes (the request is done, or its process died) or
 *        TTL_MS have passed, the sandbox is killed and replaced. oys-warm sends nothing more
 *        on it: end of file there means oys-warm itself is gone.
 *     -> "none REASON": start cold.
 *   "status" -> one JSON object (oys-warm(1) describes it). */
#ifndef OYS_WARM_H
#define OYS_WARM_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "capnp.h"
#include "cgroup.h"
#include "err.h"
#include "json.h"

/* After SIGTERM, how long busy sandboxes may finish their requests before they are killed. */
#define OYS_WARM_STOP_GRACE_MS 5000

/* ---- the pool (warmsrv.c) ---- */

struct oys_warm_opts {
	int count;                       /* sandboxes, at least 1 */
	const char *const *policies;     /* outbound policies (none, public, CIDRs); the sandboxes
	                                    are dealt out among them in turn */
	size_t npolicies;                /* at least 1 */
	const char *prefix;              /* the cgroup pool */
	struct oys_cgroup_limits limits; /* of every sandbox; zero fields: the pool's */
	const char *workerd;             /* the binary */
	int start_timeout_ms;            /* a sandbox not ready by then is killed and started again */
	long long sandbox_uid;           /* slot i's workerd runs as this + i (sandbox.h); 0: the
	                                    default; OYS_SANDBOX_ROOT: oys-warm's own (development) */
};

/* Runs the pool in the foreground until SIGTERM, SIGINT or SIGHUP (blocked here, read through a
 * signalfd): then idle sandboxes are killed at once, busy ones get OYS_WARM_STOP_GRACE_MS to
 * finish, and everything is given back (processes, cgroups, files). A sandbox that fails to
 * start is started again after a delay that doubles with each failure in a row (1 s, 2 s, ...,
 * at most 30 s). Logs events on stderr. Returns 0 after a stop, or an error when it cannot
 * begin: OYS_EUNAVAIL when another oys-warm runs on this runtime directory. */
int oys_warm_serve(const struct oys_warm_opts *o, struct oys_err *e);

/* ---- the control socket, client side (warmc.c) ---- */

struct oys_warm_claim {
	int ctl;                  /* the claim itself: closing it ends the sandbox */
	char cgroup[128];
	pid_t pid;                /* not our child: signal it through pidfd */
	int pidfd;
	int outfd;                /* workerd's stdout and stderr, from the claim on */
	char socket[108];         /* where its loader listens */
};

/* Claims a ready sandbox (see above). Returns 0 and c, OYS_EUNAVAIL when there is none to have
 * (oys-warm not running, nothing for this prefix, policy and limits in time: start cold), or
 * another error. */
int oys_warm_claim(const char *prefix, const char *policy, const struct oys_cgroup_limits *lim,
                   int wait_ms, int ttl_ms, struct oys_warm_claim *c, struct oys_err *e);
/* Whether oys-warm went away under the claim (end of file on the control connection), waiting
 * up to ms for it. */
int oys_warm_claim_lost(const struct oys_warm_claim *c, int ms);
/* Ends the claim: closes every descriptor left in c (oys-warm then kills the sandbox). */
void oys_warm_claim_end(struct oys_warm_claim *c);

/* Whether an oys-warm answers on this runtime directory (a connection, nothing asked). */
int oys_warm_running(void);

/* oys-warm's status (JSON object). OYS_EUNAVAIL when it is not running. */
int oys_warm_status(jv *out, struct oys_err *e);

/* Sandboxes of oys-warm by state, all policies together; all 0 when it is not running. */
struct oys_warm_counts {
	int running;              /* 1 when oys-warm answered */
	int ready, busy, starting;
};
void oys_warm_counts(struct oys_warm_counts *c);

/* ---- one request in a sandbox (warm.c) ---- */

struct oys_run_opts;
struct oys_run_result;

/* The function and what oys_run() resolved for it. */
struct oys_bundle;
struct oys_run_settings;
struct oys_fn_limits;

struct oys_warm_fn {
	const struct oys_bundle *bundle;         /* the function's modules and env */
	const struct oys_run_settings *settings; /* what applies: compatibility date and flags */
	enum oys_code_kind kind;   /* of the main module, not AUTO */
	const char *prefix;        /* the cgroup pool */
	const char *outbound;      /* the policy */
	const struct oys_cgroup_limits *limits; /* of this request: a sandbox must have these */
	const struct oys_fn_limits *lim;        /* start and execution timeouts, response size */
	double t0;                 /* oys_now_ms() when the run began */
};

enum { OYS_WARM_COLD = 0, OYS_WARM_DONE = 1 };

/* Runs the request of o in a warm sandbox, as oys_run() runs it cold: the same limits, errors
 * and result (r: the response, console, cgroup counters, times; r->warm set), and o->on_result
 * called once. Returns OYS_WARM_DONE then, and *t_done (when the response was complete, for
 * the teardown's time). Returns OYS_WARM_COLD with r untouched when the cold path must run it:
 * oys-warm is not running or has nothing for this policy and these limits, the run is traced
 * or kept (--trace, --keep show the cold steps), the sandbox failed before the function's
 * request was sent (nothing of the function ran), or oys-warm died under the request before a
 * byte of the answer came (the one retry: the sandbox died with it). */
int oys_warm_run(const struct oys_run_opts *o, const struct oys_warm_fn *fn, struct oys_run_result *r,
                 double *t_done);

#endif
