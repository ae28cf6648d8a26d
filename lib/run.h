/* run.h: one request, steps 3-8 of the flow: attestation and code (oys-fetch), a listening
 * socket (oys-port), the config (oys-capnp), a cgroup (oys-cgroup), workerd started in it with
 * the socket, the request in, the response out, and everything given back. oys-run and
 * oys-serve both call oys_run(); the step tools call the same library functions. */
#ifndef OYS_RUN_H
#define OYS_RUN_H

#include <stddef.h>

#include "buf.h"
#include "bundle.h"
#include "capnp.h"
#include "cgroup.h"
#include "err.h"
#include "fn.h"
#include "json.h"

#define OYS_DEFAULT_TIMEOUT_S 10       /* execution, from workerd's accept to the response */
#define OYS_DEFAULT_START_TIMEOUT_S 10 /* from spawn until workerd serves */
#define OYS_DEFAULT_MAX_RESPONSE (16u << 20)
#define OYS_DEFAULT_FETCH_TIMEOUT_S 30 /* each request of a fetch (storage, attestation, RPC) */

struct oys_run_result;

struct oys_run_opts {
	/* what to run: a code id (fetched) or a local file or directory (code_file) */
	const char *code_id;
	const char *code_file;
	const struct oys_bundle_flags *code_flags; /* with code_file: its settings, the function's
	                               * own (as oys-store put would record them); may be NULL */
	enum oys_code_kind kind;      /* AUTO: detected */

	/* where code comes from (oys-fetch); NULL: the defaults of struct oys_fetch_opts */
	const char *store;            /* dir or URL */
	const char *attestation_url;
	const char *rpc_url;
	const char *contract;
	unsigned confirmations;       /* of a code transaction; 0: the default (chain.h) */
	int fetch_timeout_ms;         /* each request to a storage server, the attestation server
	                               * or the RPC; 0: OYS_DEFAULT_FETCH_TIMEOUT_S */

	/* config (oys-capnp) */
	const char *outbound;         /* NULL: none */
	const char *compat_date;
	const char *const *compat_flags;
	size_t ncompat_flags;

	/* sandbox (oys-cgroup) */
	const char *cgroup_prefix;    /* NULL: workerd_ */
	struct oys_cgroup_limits limits; /* zero fields: the pool's */
	int sandbox_wait_ms;          /* every cgroup busy: wait this long for one (0: none) */
	long long sandbox_uid;        /* slot i runs workerd as uid and gid sandbox_uid + i (0: the
	                               * default, OYS_SANDBOX_DEFAULT_UID; OYS_SANDBOX_ROOT: keep
	                               * oys's own uid, for development only) */

	/* the request */
	struct oys_fn_request req;
	int abort_fd;                 /* -1, or the client: POLLHUP there aborts */
	volatile int *abort_flag;     /* set by a signal handler: abort */

	/* The most a function's own settings may ask for (bundle.h); more is 400 limit_exceeded
	 * and nothing starts. 0 or NULL fields: what the host gives a function that asks for
	 * nothing (limits.memory and limits.cpu, else the pool's; timeout_ms; outbound). */
	struct oys_bundle_max max;

	/* limits */
	int timeout_ms;
	int start_timeout_ms;
	size_t max_response;

	/* Called once, as soon as the result is known (the function's response, or the error) and
	 * before the teardown (killing workerd, releasing the cgroup, removing the files), so an
	 * HTTP front end can answer without waiting for it. r->stat is read then; oys_run() reads
	 * it again after the teardown. */
	void (*on_result)(struct oys_run_result *r, void *arg);
	void *on_result_arg;

	/* debugging: print each step as the command that reproduces it; keep the files */
	int trace;
	int keep;
	const char *workerd;          /* NULL: the one installed with oys (oys_workerd_beside()) */
};

/* Where a request's time went, in milliseconds. */
struct oys_run_times {
	double fetch, config, cgroup;
	double sandbox;               /* the request directory handed to the slot's user, its
	                               * network namespace opened, the socket bound */
	double start, exec;
	double teardown;              /* from the response to everything given back */
	double total;
};

/* The settings a run applied: the function's own (its bundle's) over the host's. */
struct oys_run_settings {
	const char *main;             /* NULL until the code was read */
	const char *compat_date;
	const char *const *compat_flags;
	size_t ncompat_flags;
	unsigned long long memory;    /* bytes; 0: the pool's (stat.memory_limit says) */
	double cpu;                   /* cores; 0: the pool's (stat.cpu_limit) */
	int timeout_ms;
	const char *outbound;
	const struct oys_bundle_env *env; /* only the names are ever reported */
	size_t nenv;
	unsigned own;                 /* OYS_RUN_OWN_* bits: what the function set itself */
};

enum {
	OYS_RUN_OWN_DATE = 1, OYS_RUN_OWN_FLAGS = 2, OYS_RUN_OWN_MEMORY = 4, OYS_RUN_OWN_CPU = 8,
	OYS_RUN_OWN_TIMEOUT = 16, OYS_RUN_OWN_OUTBOUND = 32,
};

struct oys_run_result {
	int code;                     /* 0, or the exit code of what went wrong */
	const char *error;            /* NULL or a short error code: "not_found", "bad_code_id",
	                               * "compile_error", "memory_limit", "timeout", "start_timeout",
	                               * "crashed", "response_too_large", "bad_response",
	                               * "no_sandbox", "sandbox_gone", "no_space",
	                               * "storage_unavailable", "storage_timeout",
	                               * "storage_bad_answer", "attestation_unavailable",
	                               * "chain_unavailable", "attestation_refused", "bad_code",
	                               * "bad_bundle", "limit_exceeded", "client_gone", "internal" */
	const char *stage;            /* where: "fetch", "config", "cgroup", "sandbox", "start",
	                               * "execute" */
	int http_status;              /* what an HTTP front end answers: the function's status, or
	                               * the error's (400, 404, 429, 502, 503, 504, 500) */
	struct oys_err err;           /* the one-line message */
	char request_id[33];
	char code_id[80];
	struct oys_fn_response resp;  /* the function's response when there is one */
	struct oys_buf console;       /* the function's console output, cleaned */
	struct oys_cgroup_stat stat;  /* memory peak, CPU time, OOM kills of this request */
	char cgroup[128];
	struct oys_run_times t;
	int timed_out;
	int oom_killed;
	double sandbox_wait_ms;       /* how long it waited for a free cgroup; -1: it did not wait */
	int sandbox_wait_got;         /* and whether the wait ended with one */
	int warm;                     /* run in a pre-started sandbox of oys-warm (warm.h) */
	struct oys_buf trace;         /* with opts.trace: the steps as commands, one per line */
	struct oys_run_settings settings;
	/* The function as fetched and read (settings point into them): the bytes, and the
	 * bundle parsed from them (bundle.h: modules and settings). Freed with the result. */
	struct oys_buf source;
	struct oys_bundle bundle;
};

/* Runs it. Always fills r (free it with oys_run_result_free), returns r->code. */
int oys_run(const struct oys_run_opts *o, struct oys_run_result *r);
void oys_run_result_free(struct oys_run_result *r);

/* Turns what came back from workerd w (r->resp, w's console and exit, r->stat) into the
 * result's error, stage and status: the one classification of both paths (warm.c's too). */
void oys_run_classify(struct oys_run_result *r, const struct oys_workerd *w, size_t max_response);

/* Adds to o what every report of a run carries: "ms" (each stage, teardown, total), "cgroup",
 * "memory_peak", "cpu_ms", "oom_kill", "timeout", "warm", and "settings" (those applied, the
 * names of env entries but never their values, and in "own" those the function set itself). */
jv oys_run_stats_json(jv o, const struct oys_run_result *r);

/* The result as JSON (status, headers, body or body_base64, timings, memory, error, console). */
jv oys_run_result_json(const struct oys_run_result *r);

#endif
