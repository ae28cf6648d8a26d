/* run.h: one request, steps 3-8 of the flow: attestation and code (oys-fetch), a listening
 * socket (oys-port), the config (oys-capnp), a cgroup (oys-cgroup), workerd started in it with
 * the socket, the request in, the response out, and everything given back. oys-run and
 * oys-serve both call oys_run(); the step tools call the same library functions. */
#ifndef OYS_RUN_H
#define OYS_RUN_H

#include <stddef.h>

#include "buf.h"
#include "capnp.h"
#include "cgroup.h"
#include "err.h"
#include "fn.h"
#include "json.h"

#define OYS_DEFAULT_TIMEOUT_S 10       /* execution, from workerd's accept to the response */
#define OYS_DEFAULT_START_TIMEOUT_S 10 /* from spawn until workerd serves */
#define OYS_DEFAULT_MAX_RESPONSE (16u << 20)

struct oys_run_result;

struct oys_run_opts {
	/* what to run: a code id (fetched) or a local file (code_file) */
	const char *code_id;
	const char *code_file;
	enum oys_code_kind kind;      /* AUTO: detected */

	/* where code comes from (oys-fetch) */
	const char *store;            /* dir or URL; NULL: $OYS_STORE or the default */
	const char *attestation_url;  /* NULL: $OYS_ATTESTATION_URL or the default */
	const char *rpc_url;          /* NULL: $OYS_RPC_URL */
	const char *contract;         /* NULL: $OYS_CODE_CONTRACT */

	/* config (oys-capnp) */
	const char *outbound;         /* NULL: $OYS_OUTBOUND or none */
	const char *compat_date;
	const char *const *compat_flags;
	size_t ncompat_flags;

	/* sandbox (oys-cgroup) */
	const char *cgroup_prefix;    /* NULL: $OYS_CGROUP_PREFIX or workerd_ */
	struct oys_cgroup_limits limits; /* zero fields: the pool's */

	/* the request */
	struct oys_fn_request req;
	int abort_fd;                 /* -1, or the client: POLLHUP there aborts */
	volatile int *abort_flag;     /* set by a signal handler: abort */

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
	const char *workerd;          /* NULL: found by oys_workerd_path() */
};

/* Where a request's time went, in milliseconds. */
struct oys_run_times {
	double fetch, config, cgroup, start, exec;
	double teardown;              /* from the response to everything given back */
	double total;
};

struct oys_run_result {
	int code;                     /* 0, or the exit code of what went wrong */
	const char *error;            /* NULL or a short error code: "not_found", "bad_code_id",
	                               * "compile_error", "memory_limit", "timeout", "start_timeout",
	                               * "crashed", "response_too_large", "bad_response",
	                               * "no_sandbox", "storage_unavailable", "attestation_refused",
	                               * "bad_code", "client_gone", "internal" */
	const char *stage;            /* where: "fetch", "config", "cgroup", "start", "execute" */
	int http_status;              /* what an HTTP front end answers: the function's status, or
	                               * the error's (400, 404, 429, 502, 504, 500) */
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
	int warm;                     /* run in a pre-started sandbox of oys-warm (warm.h) */
	struct oys_buf trace;         /* with opts.trace: the steps as commands, one per line */
};

/* Runs it. Always fills r (free it with oys_run_result_free), returns r->code. */
int oys_run(const struct oys_run_opts *o, struct oys_run_result *r);
void oys_run_result_free(struct oys_run_result *r);

/* Turns what came back from workerd w (r->resp, w's console and exit, r->stat) into the
 * result's error, stage and status: the one classification of both paths (warm.c's too). */
void oys_run_classify(struct oys_run_result *r, const struct oys_workerd *w, size_t max_response);

/* Adds to o what every report of a run carries: "ms" (each stage, teardown, total), "cgroup",
 * "memory_peak", "cpu_ms", "oom_kill", "timeout", "warm". */
jv oys_run_stats_json(jv o, const struct oys_run_result *r);

/* The result as JSON (status, headers, body or body_base64, timings, memory, error, console). */
jv oys_run_result_json(const struct oys_run_result *r);

#endif
