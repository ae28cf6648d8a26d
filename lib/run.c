#include "run.h"
#include "codec.h"
#include "fetch.h"
#include "file.h"
#include "json.h"
#include "netns.h"
#include "opt.h"
#include "paths.h"
#include "sandbox.h"
#include "warm.h"
#include "workerd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- trace: each step as the command that reproduces it ---- */

static void shell_quote(struct oys_buf *b, const char *s)
{
	if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@,+") == strlen(s)) {
		oys_buf_puts(b, s);
		return;
	}
	oys_buf_putc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			oys_buf_puts(b, "'\\''");
		else
			oys_buf_putc(b, *s);
	}
	oys_buf_putc(b, '\'');
}

/* Appends "[stage  12.3 ms] cmd args..." where args is a NULL-terminated list. */
static void trace(struct oys_buf *t, const char *stage, double ms, const char *const *args,
                  const char *comment)
{
	oys_buf_printf(t, "[%-7s %7.1f ms]", stage, ms);
	for (; *args; args++) {
		oys_buf_putc(t, ' ');
		shell_quote(t, *args);
	}
	if (comment)
		oys_buf_printf(t, "    # %s", comment);
	oys_buf_putc(t, '\n');
}

/* ---- the flow ---- */

static void fail(struct oys_run_result *r, int code, const char *error, const char *stage, int http)
{
	r->code = code;
	r->error = error;
	r->stage = stage;
	r->http_status = http;
}

/* A failed fetch, by the step that failed (each server its own codes, so an operator knows
 * which one to look at) and what went wrong there. */
static void fetch_failed(struct oys_run_result *r, enum oys_fetch_step step)
{
	int c = r->err.code;
	const char *error = NULL;
	int http = 502;
	if (c == OYS_EUSAGE) {
		error = "bad_code_id", http = 400;
	} else if (c == OYS_ENOINPUT) {
		error = "not_found", http = 404;
	} else if (step == OYS_FETCH_ATTESTATION) {
		/* the attestation server: down, failing, slow or answering no document */
		error = "attestation_unavailable", http = c == OYS_ETEMPFAIL ? 504 : 502;
	} else if (step == OYS_FETCH_CHAIN) {
		if (c == OYS_EDATA || c == OYS_ENOPERM)
			error = "bad_code"; /* calldata that is no code, a transaction to another contract */
		else if (c == OYS_EUNAVAIL || c == OYS_ETEMPFAIL)
			error = "chain_unavailable", http = c == OYS_ETEMPFAIL ? 504 : 502;
	} else if (c == OYS_EDATA) {
		/* from the challenge: the storage server's answer is not the protocol; from the load
		 * or a store: bytes that do not open or do not hash to the id */
		error = step == OYS_FETCH_CHALLENGE ? "storage_bad_answer" : "bad_code";
	} else if (c == OYS_ENOPERM) {
		error = "attestation_refused";
	} else if (c == OYS_ETEMPFAIL) {
		error = "storage_timeout", http = 504;
	} else if (c == OYS_EUNAVAIL) {
		error = "storage_unavailable";
	}
	if (error)
		fail(r, c, error, "fetch", http);
	else
		fail(r, c ? c : OYS_ESOFTWARE, "internal", "fetch", 500);
}

static const char *kind_ext(enum oys_code_kind k)
{
	return k == OYS_CODE_WASM ? "code.wasm" : "code.js";
}

static int get_code(const struct oys_run_opts *o, struct oys_run_result *r, struct oys_buf *code)
{
	if (o->code_file) {
		/* what oys-store put would store, and the id it would have */
		int rc = oys_bundle_make(o->code_file, o->code_flags, OYS_CODE_MAX_DEFAULT, code, &r->err);
		if (rc == 0 && oys_sha256_hex(code->data, code->len, r->code_id) < 0)
			rc = oys_err_set(&r->err, OYS_ESOFTWARE, "SHA-256 failed");
		if (rc == OYS_EDATA)
			fail(r, rc, "bad_bundle", "fetch", 400);
		else if (rc)
			fail(r, rc, rc == OYS_ENOINPUT ? "not_found" : "bad_code", "fetch", rc == OYS_ENOINPUT ? 404 : 400);
		return rc;
	}
	snprintf(r->code_id, sizeof r->code_id, "%s", o->code_id ? o->code_id : "");
	struct oys_fetch_opts fo = {0};
	fo.store = o->store;
	fo.attestation_url = o->attestation_url;
	fo.rpc_url = o->rpc_url;
	fo.contract = o->contract;
	fo.confirmations = o->confirmations;
	fo.timeout_ms = o->fetch_timeout_ms;
	struct oys_fetch_info info = {0};
	fo.info = &info;
	int rc = oys_fetch_code(o->code_id, &fo, code, &r->err);
	if (rc)
		fetch_failed(r, info.failed);
	return rc;
}

/* Turns what came back from workerd into the result. */
static void classify(struct oys_run_result *r, const struct oys_workerd *w, size_t max_response)
{
	struct oys_fn_response *rs = &r->resp;
	char why[512];
	if (r->stat.oom_kills > 0) {
		r->oom_killed = 1;
		oys_err_set(&r->err, 128 + 9, "function killed: out of memory (limit %llu MiB)",
		            r->stat.memory_limit >> 20);
		fail(r, 128 + 9, "memory_limit", rs->outcome == OYS_FN_START_FAILED ? "start" : "execute", 502);
		return;
	}
	switch (rs->outcome) {
	case OYS_FN_OK:
		r->http_status = rs->status;
		return;
	case OYS_FN_START_FAILED:
		if (w->status >= 0 && WIFSIGNALED(w->status)) {
			/* killed, not refused: no compile error of the function's */
			int sig = WTERMSIG(w->status);
			oys_err_set(&r->err, 128 + sig, "function crashed: workerd killed by signal %d before it served", sig);
			fail(r, 128 + sig, "crashed", "start", 502);
			return;
		}
		oys_console_start_error(&w->console, why, sizeof why);
		oys_err_set(&r->err, OYS_EDATA, "function does not start: %s", why[0] ? why : "workerd exited");
		fail(r, OYS_EDATA, "compile_error", "start", 400);
		return;
	case OYS_FN_START_TIMEOUT:
		r->timed_out = 1;
		oys_err_set(&r->err, OYS_ETEMPFAIL, "function did not start within %.0f s", rs->t_accept_ms / 1000);
		fail(r, OYS_ETEMPFAIL, "start_timeout", "start", 504);
		return;
	case OYS_FN_TIMEOUT:
		r->timed_out = 1;
		oys_err_set(&r->err, OYS_ETEMPFAIL, "function did not answer within %.0f s", rs->t_exec_ms / 1000);
		fail(r, OYS_ETEMPFAIL, "timeout", "execute", 504);
		return;
	case OYS_FN_TOO_LARGE:
		oys_err_set(&r->err, OYS_EDATA, "function response larger than %zu bytes", max_response);
		fail(r, OYS_EDATA, "response_too_large", "execute", 502);
		return;
	case OYS_FN_BAD_RESPONSE:
		oys_err_set(&r->err, OYS_EDATA, "function response is not valid HTTP");
		fail(r, OYS_EDATA, "bad_response", "execute", 502);
		return;
	case OYS_FN_ABORTED:
		oys_err_set(&r->err, OYS_EIO, "request aborted: the client is gone");
		fail(r, OYS_EIO, "client_gone", "execute", 499);
		return;
	case OYS_FN_DIED:
	default:
		if (rs->head.len && rs->status) {
			/* workerd's hang detector or a crash cut the body short */
			oys_err_set(&r->err, OYS_ESOFTWARE, "function response stopped before its end (status %d, %zu bytes)",
			            rs->status, rs->body.len);
			fail(r, OYS_ESOFTWARE, "incomplete_response", "execute", 502);
		} else {
			int sig = w->status >= 0 && WIFSIGNALED(w->status) ? WTERMSIG(w->status) : 0;
			if (sig)
				oys_err_set(&r->err, 128 + sig, "function crashed: workerd killed by signal %d", sig);
			else
				oys_err_set(&r->err, OYS_ESOFTWARE, "function crashed: no response");
			fail(r, sig ? 128 + sig : OYS_ESOFTWARE, "crashed", "execute", 502);
		}
		rs->status = 0;
		return;
	}
}

void oys_run_classify(struct oys_run_result *r, const struct oys_workerd *w, size_t max_response)
{
	classify(r, w, max_response);
}

/* One run's state, handed from step to step. */
struct run {
	const struct oys_run_opts *o;
	struct oys_run_result *r;
	struct oys_reqdir dir;
	int have_dir;
	struct oys_cgroup cg;
	int have_cg;
	struct oys_workerd w;
	struct oys_sandbox sb;
	int netns_fd;
	struct oys_fn_limits lim;
	struct oys_cgroup_limits limits; /* of this request: the function's own over the host's */
	enum oys_code_kind kind;
	const char *prefix, *outbound, *workerd;
	char workerd_buf[PATH_MAX];
	char code_path[PATH_MAX], config_path[PATH_MAX], glue_path[PATH_MAX], sock_path[PATH_MAX];
	struct oys_buf tr;
	double t0, t_done;
	int answered;
};

/* A directory of our own; leftovers of killed requests are swept first. */
static int step_dir(struct run *x)
{
	oys_reqdir_sweep();
	if (oys_reqdir_create(&x->dir, &x->r->err)) {
		fail(x->r, x->r->err.code, "internal", "fetch", 500);
		return -1;
	}
	x->have_dir = 1;
	x->dir.keep = x->o->keep;
	memcpy(x->r->request_id, x->dir.id, sizeof x->r->request_id);
	return 0;
}

/* The settings of the run: the function's own over the host's, within the host's maxima
 * (nothing has started yet). 0, or the failure recorded in r. */
static int settings(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	const struct oys_bundle *b = &r->bundle;
	const struct oys_bundle_settings *s = &b->s;
	struct oys_run_settings *st = &r->settings;
	struct oys_bundle_max m = o->max;
	if ((s->memory && !m.memory) || (s->cpu_milli && !(m.cpu > 0))) {
		struct oys_cgroup_limits pool;
		oys_cgroup_pool_limits(x->prefix, &pool);
		if (!m.memory)
			m.memory = o->limits.memory ? o->limits.memory : pool.memory ? pool.memory : OYS_CGROUP_DEFAULT_MEMORY;
		if (!(m.cpu > 0))
			m.cpu = o->limits.cpu > 0 ? o->limits.cpu : pool.cpu > 0 ? pool.cpu : OYS_CGROUP_DEFAULT_CPU;
	}
	if (!m.timeout_ms)
		m.timeout_ms = x->lim.exec_timeout_ms;
	if (!m.outbound)
		m.outbound = x->outbound;
	if (oys_bundle_within(b, &m, &r->err)) {
		fail(r, r->err.code, "limit_exceeded", "fetch", 400);
		return -1;
	}
	st->main = b->main;
	st->compat_date = s->compat_date ? s->compat_date : o->compat_date ? o->compat_date : OYS_DEFAULT_COMPAT_DATE;
	st->compat_flags = s->ncompat_flags ? s->compat_flags : o->compat_flags;
	st->ncompat_flags = s->ncompat_flags ? s->ncompat_flags : o->ncompat_flags;
	st->memory = s->memory ? s->memory : o->limits.memory;
	st->cpu = s->cpu_milli ? s->cpu_milli / 1000.0 : o->limits.cpu;
	st->timeout_ms = s->timeout_ms ? (int)s->timeout_ms : x->lim.exec_timeout_ms;
	st->outbound = s->outbound ? s->outbound : x->outbound;
	st->env = b->env;
	st->nenv = b->nenv;
	st->own = (s->compat_date ? OYS_RUN_OWN_DATE : 0) | (s->ncompat_flags ? OYS_RUN_OWN_FLAGS : 0) |
	          (s->memory ? OYS_RUN_OWN_MEMORY : 0) | (s->cpu_milli ? OYS_RUN_OWN_CPU : 0) |
	          (s->timeout_ms ? OYS_RUN_OWN_TIMEOUT : 0) | (s->outbound ? OYS_RUN_OWN_OUTBOUND : 0);
	/* what the later steps use */
	x->limits = o->limits;
	x->limits.memory = st->memory;
	x->limits.cpu = st->cpu;
	x->lim.exec_timeout_ms = st->timeout_ms;
	x->outbound = st->outbound;
	return 0;
}

/* 3-4: attestation and code: read as a bundle (its modules and settings), checked again
 * whatever its source, and the settings applied; a single file written to the request
 * directory (a bundle's modules are written with the config). */
static int step_fetch(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	struct oys_buf *code = &r->source;
	double t = oys_now_ms();
	int rc = get_code(o, r, code);
	if (rc == 0 && (rc = oys_bundle_parse(code->data, code->len, &r->bundle, &r->err)))
		fail(r, rc, rc == OYS_EDATA ? "bad_bundle" : "internal", "fetch", rc == OYS_EDATA ? 400 : 500);
	if (rc || settings(x))
		return -1;
	const struct oys_bundle_module *mm = &r->bundle.modules[0];
	if (r->bundle.plain)
		x->kind = o->kind != OYS_CODE_AUTO ? o->kind : oys_code_detect(code->data, code->len);
	else
		for (size_t i = 0; i < r->bundle.nmodules; i++)
			if (strcmp(r->bundle.modules[i].name, r->bundle.main) == 0)
				mm = &r->bundle.modules[i];
	if (!r->bundle.plain)
		x->kind = mm->type == OYS_MOD_WASM ? OYS_CODE_WASM : mm->type == OYS_MOD_SW ? OYS_CODE_SW : OYS_CODE_ESM;
	/* a bundle is kept whole only for --trace and --keep, which show it */
	if (r->bundle.plain || o->trace || o->keep) {
		oys_reqdir_file(&x->dir, r->bundle.plain ? kind_ext(x->kind) : "bundle.oys", x->code_path,
		                sizeof x->code_path);
		if ((rc = oys_write_new(x->code_path, code->data, code->len, 0600, &r->err))) {
			fail(r, rc, "internal", "fetch", 500);
			return -1;
		}
	}
	r->t.fetch = oys_now_ms() - t;
	if (o->trace) {
		const char *fa[] = {"oys-fetch", r->code_id, "-o", x->code_path, NULL};
		const char *ca[] = {"cp", o->code_file ? o->code_file : "", x->code_path, NULL};
		trace(&x->tr, "fetch", r->t.fetch, o->code_file && r->bundle.plain && !oys_bundle_flags_any(o->code_flags) ? ca : fa,
		      o->code_file && !r->bundle.plain ? "oys-run --code made this bundle, as oys-store put would" : NULL);
	}
	return 0;
}

/* 6: the workerd config (a bundle's modules written beside it). */
static int step_config(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	const struct oys_run_settings *st = &r->settings;
	struct oys_buf config = OYS_BUF_INIT;
	double t = oys_now_ms();
	struct oys_capnp c = {0};
	c.kind = x->kind;
	c.code = x->code_path;
	c.config_dir = x->dir.path;
	c.socket = "http";
	c.outbound = x->outbound;
	c.compat_date = st->compat_date;
	c.compat_flags = st->compat_flags;
	c.ncompat_flags = st->ncompat_flags;
	oys_reqdir_file(&x->dir, "config.capnp", x->config_path, sizeof x->config_path);
	int rc = 0;
	if (x->kind == OYS_CODE_WASM) {
		/* The glue next to the code: the sandbox's user reads the request directory through
		 * its working directory, not the share directory's path. */
		struct oys_buf glue = OYS_BUF_INIT;
		char tpl[PATH_MAX];
		oys_reqdir_file(&x->dir, "wasm-glue.js", x->glue_path, sizeof x->glue_path);
		if ((rc = oys_share_path("templates/wasm-glue.js", tpl, sizeof tpl, &r->err)) == 0 &&
		    (rc = oys_read_file(tpl, 1 << 20, &glue, &r->err)) == 0)
			rc = oys_write_new(x->glue_path, glue.data, glue.len, 0600, &r->err);
		oys_buf_free(&glue);
		c.glue = x->glue_path;
	}
	if (rc == 0)
		rc = r->bundle.plain ? oys_capnp_render(&c, &config, &r->err)
		                     : oys_capnp_render_bundle(&c, &r->bundle, &config, &r->err);
	if (rc == 0)
		rc = oys_write_new(x->config_path, config.data, config.len, 0600, &r->err);
	oys_buf_free(&config);
	if (rc) {
		fail(r, rc == OYS_EUSAGE ? OYS_ECONFIG : rc, "config", "config", 500);
		return -1;
	}
	r->t.config = oys_now_ms() - t;
	if (o->trace) {
		const char *a[] = {"oys-capnp", r->bundle.plain ? x->kind == OYS_CODE_WASM ? "--wasm" : "--js" : "--bundle",
		                   x->code_path, "--outbound", x->outbound, "-o", x->config_path, NULL, NULL, NULL};
		if (x->kind == OYS_CODE_WASM) {
			a[7] = "--glue";
			a[8] = x->glue_path;
		}
		trace(&x->tr, "config", r->t.config, a, NULL);
	}
	return 0;
}

/* 5-8 in a sandbox oys-warm started before the request, when it has one for this policy and
 * these limits (warm.h); 1 when the request ran there and is answered, 0 to start cold. */
static int step_warm(struct run *x)
{
	struct oys_run_result *r = x->r;
	struct oys_warm_fn wf = {&r->bundle, &r->settings, x->kind, x->prefix, x->outbound, &x->limits, &x->lim, x->t0};
	if (oys_warm_run(x->o, &wf, r, &x->t_done) != OYS_WARM_DONE)
		return 0;
	x->answered = 1; /* oys_warm_run() answered */
	return 1;
}

/* 7: a cgroup of the pool. When every one is busy, wait for one up to o->sandbox_wait_ms (a
 * sandbox stays busy during its teardown, after its answer is out), polling; the wait ends
 * with a reservation held, or with no_sandbox once the time is up. */
#define SANDBOX_POLL_US 3000

static int step_cgroup(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	double t = oys_now_ms();
	int rc;
	r->sandbox_wait_ms = -1;
	while ((rc = oys_cgroup_reserve(x->prefix, &x->limits, &x->cg, &r->err)) == OYS_EUNAVAIL) {
		double waited = oys_now_ms() - t;
		if (waited >= o->sandbox_wait_ms || (o->abort_flag && *o->abort_flag))
			break;
		r->sandbox_wait_ms = waited;
		usleep(SANDBOX_POLL_US);
	}
	if (r->sandbox_wait_ms >= 0) {
		r->sandbox_wait_ms = oys_now_ms() - t;
		r->sandbox_wait_got = rc == 0;
	}
	if (rc) {
		if (rc == OYS_EUNAVAIL)
			fail(r, OYS_EUNAVAIL, "no_sandbox", "cgroup", 429);
		else
			fail(r, rc, "config", "cgroup", 500);
		return -1;
	}
	x->have_cg = 1;
	snprintf(r->cgroup, sizeof r->cgroup, "%s", x->cg.name);
	r->t.cgroup = oys_now_ms() - t;
	if (o->trace) {
		char got[160];
		snprintf(got, sizeof got, "got %s", x->cg.name);
		const char *a[] = {"oys-cgroup", "reserve", "--prefix", x->prefix, NULL};
		trace(&x->tr, "cgroup", r->t.cgroup, a, got);
	}
	return 0;
}

/* The pool was torn down under the reservation (oys-cgroup teardown --force): the cgroup
 * went, and with it workerd, or it is about to be set up anew for others. Said as such, not
 * as a crash of the function. */
static void sandbox_gone(struct run *x, const char *stage)
{
	oys_err_set(&x->r->err, OYS_EUNAVAIL, "the sandbox pool was torn down during the request (cgroup %s removed)",
	            x->cg.name);
	fail(x->r, OYS_EUNAVAIL, "sandbox_gone", stage, 502);
}

/* The slot's sandbox: its user gets the request directory, a function that may reach no
 * network gets the slot's network namespace, workerd's socket is bound in the directory. */
static int step_sandbox(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	double t = oys_now_ms();
	int rc = oys_sandbox_for_slot(o->sandbox_uid, x->cg.index, &x->sb, &r->err);
	if (rc == 0 && !x->sb.keep_uid)
		rc = oys_sandbox_handoff(x->dir.path, x->sb.uid, x->sb.uid, &r->err);
	if (rc == 0 && strcmp(x->outbound, "none") == 0 && (rc = oys_netns_open(x->cg.name, &x->netns_fd, &r->err)) == 0)
		x->sb.netns_fd = x->netns_fd;
	if (rc == 0 && oys_reqdir_file(&x->dir, "http.sock", x->sock_path, sizeof x->sock_path) < 0)
		rc = oys_err_set(&r->err, OYS_ECONFIG, "request directory path too long");
	if (rc) {
		if (!oys_cgroup_held(&x->cg))
			sandbox_gone(x, "sandbox"); /* its network namespace went with the pool */
		else
			fail(r, rc, "internal", "sandbox", 500);
		return -1;
	}
	r->t.sandbox = oys_now_ms() - t;
	if (o->trace) {
		char owner[64], note[PATH_MAX + 160];
		if (x->sb.keep_uid) {
			snprintf(note, sizeof note, "workerd keeps oys's uid (sandbox uid root: development only)");
			const char *a[] = {"true", NULL};
			trace(&x->tr, "sandbox", r->t.sandbox, a, note);
		} else {
			snprintf(owner, sizeof owner, "%u:%u", (unsigned)x->sb.uid, (unsigned)x->sb.uid);
			snprintf(note, sizeof note, "workerd runs as uid %u, no capabilities, no_new_privs, seccomp%s%s",
			         (unsigned)x->sb.uid, x->netns_fd >= 0 ? ", network namespace " : "",
			         x->netns_fd >= 0 ? x->cg.name : "");
			const char *a[] = {"chown", "-R", owner, x->dir.path, NULL};
			trace(&x->tr, "sandbox", r->t.sandbox, a, note);
		}
	}
	return 0;
}

/* A file of the request that could not be written for want of room: the runtime directory's
 * filesystem is full. Nothing ran yet (the files come before workerd), so it is 503, which a
 * load balancer may send to another host. */
static void no_space(struct oys_run_result *r)
{
	if (r->error == NULL || (r->err.sys != ENOSPC && r->err.sys != EDQUOT))
		return;
	char was[OYS_ERR_MAX];
	int sys = r->err.sys;
	snprintf(was, sizeof was, "%s", r->err.msg);
	oys_err_set(&r->err, r->code, "the runtime directory %s is full: %s", oys_runtime_dir(), was);
	r->err.sys = sys;
	fail(r, r->code, "no_space", r->stage, 503);
}

/* Answers through o->on_result (once): the function's response or the error. */
static void answer(struct run *x)
{
	if (x->answered || x->o->on_result == NULL)
		return;
	x->r->t.total = oys_now_ms() - x->t0;
	x->o->on_result(x->r, x->o->on_result_arg);
	x->answered = 1;
}

/* 5 and 8: workerd in the cgroup with a bound socket; the request; the response. A whole
 * response is answered before the teardown (workerd is idle, its counters final but for the
 * kill); anything else once workerd is stopped, when its console is complete. */
static int step_exchange(struct run *x)
{
	struct oys_run_result *r = x->r;
	struct oys_workerd_spawn s = {0};
	s.workerd = x->workerd;
	s.config = "config.capnp";
	s.dir = x->dir.path;
	s.socket = x->sock_path;
	s.cg = &x->cg;
	s.sb = &x->sb;
	if (!oys_cgroup_held(&x->cg)) {
		sandbox_gone(x, "start");
		return -1;
	}
	if (oys_workerd_spawn(&s, &x->w, &r->err)) {
		if (!oys_cgroup_held(&x->cg))
			sandbox_gone(x, "start");
		else
			fail(r, r->err.code, "internal", "start", 500);
		return -1;
	}
	int fd = oys_workerd_connect(&x->w, &r->err);
	if (fd < 0 || oys_fn_exchange(&x->w, fd, &x->o->req, &x->lim, &r->resp, &r->err)) {
		fail(r, r->err.code, "internal", "execute", 500);
		return -1;
	}
	r->t.start = r->resp.t_accept_ms;
	r->t.exec = r->resp.t_exec_ms;
	x->t_done = oys_now_ms();
	if (r->resp.outcome == OYS_FN_OK && x->o->on_result) {
		oys_cgroup_stat(&x->cg, &r->stat, NULL);
		classify(r, &x->w, x->lim.max_response);
		answer(x);
	}
	oys_workerd_stop(&x->w);
	/* what is in the cgroup is this request's only while the reservation holds */
	int held = oys_cgroup_held(&x->cg);
	if (held) {
		oys_cgroup_kill(&x->cg, NULL);
		oys_cgroup_stat(&x->cg, &r->stat, NULL);
	}
	if (!x->answered && !held && r->resp.outcome != OYS_FN_OK) {
		int starting = r->resp.outcome == OYS_FN_START_FAILED || r->resp.outcome == OYS_FN_START_TIMEOUT;
		sandbox_gone(x, starting ? "start" : "execute");
	} else if (!x->answered) {
		classify(r, &x->w, x->lim.max_response);
	} else if (r->stat.oom_kills && !r->oom_killed) {
		r->oom_killed = 1; /* counted after the answer: for the log, the answer stands */
	}
	return 0;
}

/* --trace: the start and the request as the commands that reproduce them. */
static void trace_exchange(struct run *x)
{
	const struct oys_run_opts *o = x->o;
	struct oys_run_result *r = x->r;
	char addr[PATH_MAX + 16], url[300], input[PATH_MAX], data[PATH_MAX + 2];
	snprintf(addr, sizeof addr, "http=unix:%s", x->sock_path);
	const char *a[] = {"oys-cgroup", "exec", x->cg.name, "--", x->workerd, "serve", x->config_path,
	                   "--socket-addr", addr, NULL};
	trace(&x->tr, "start", r->t.start, a,
	      "oys-run passes a bound socket (--socket-fd http=3) and starts workerd in the sandbox");
	snprintf(url, sizeof url, "http://localhost%s", o->req.target);
	oys_reqdir_file(&x->dir, "input.json", input, sizeof input);
	if (o->keep)
		oys_write_new(input, o->req.body, o->req.body_len, 0600, NULL);
	snprintf(data, sizeof data, "@%s", input);
	const char *b[] = {"curl", "-sS", "--unix-socket", x->sock_path, "-X", o->req.method, "--data-binary", data,
	                   url, NULL};
	trace(&x->tr, "execute", r->t.exec, b, r->error ? r->error : NULL);
}

/* Everything given back: workerd, the cgroup, the files. */
static void teardown(struct run *x)
{
	struct oys_run_result *r = x->r;
	oys_workerd_stop(&x->w);
	if (r->console.data == NULL)
		oys_console_text(&x->w.console, &r->console);
	no_space(r);
	answer(x); /* an error: the console is known now that workerd is stopped */
	if (x->netns_fd >= 0)
		close(x->netns_fd);
	x->netns_fd = -1;
	if (x->have_cg)
		oys_cgroup_release(&x->cg);
	if (x->have_dir) {
		if (x->o->keep && x->o->trace)
			oys_buf_printf(&x->tr, "# files kept in %s\n", x->dir.path);
		oys_reqdir_close(&x->dir);
	}
	oys_workerd_free(&x->w);
	r->t.total = oys_now_ms() - x->t0;
	if (r->t.start > 0)
		r->t.teardown = oys_now_ms() - x->t_done;
	if (x->o->trace)
		r->trace = x->tr;
	else
		oys_buf_free(&x->tr);
}

int oys_run(const struct oys_run_opts *o, struct oys_run_result *r)
{
	struct run x;
	memset(r, 0, sizeof *r);
	memset(&x, 0, sizeof x);
	r->sandbox_wait_ms = -1;
	x.o = o;
	x.r = r;
	x.t0 = oys_now_ms();
	x.cg.lockfd = -1;
	x.w = (struct oys_workerd){.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
	x.netns_fd = -1;
	x.prefix = oys_cgroup_prefix(o->cgroup_prefix);
	x.outbound = o->outbound ? o->outbound : "none";
	x.lim = (struct oys_fn_limits){
		o->start_timeout_ms > 0 ? o->start_timeout_ms : OYS_DEFAULT_START_TIMEOUT_S * 1000,
		o->timeout_ms > 0 ? o->timeout_ms : OYS_DEFAULT_TIMEOUT_S * 1000,
		o->max_response > 0 ? o->max_response : OYS_DEFAULT_MAX_RESPONSE,
		o->abort_fd, o->abort_flag,
	};
	x.workerd = o->workerd;
	if (x.workerd == NULL && oys_workerd_beside(x.workerd_buf, sizeof x.workerd_buf) == 0)
		x.workerd = x.workerd_buf;
	if (x.workerd == NULL) {
		oys_err_set(&r->err, OYS_ECONFIG, "no workerd given and none installed with oys (set OYS_WORKERD)");
		fail(r, OYS_ECONFIG, "config", "config", 500);
	} else if (step_dir(&x) == 0 && step_fetch(&x) == 0 && !step_warm(&x) && step_config(&x) == 0 &&
	           step_cgroup(&x) == 0 && step_sandbox(&x) == 0 && step_exchange(&x) == 0 && o->trace) {
		trace_exchange(&x);
	}
	teardown(&x);
	return r->code;
}

void oys_run_result_free(struct oys_run_result *r)
{
	oys_bundle_free(&r->bundle);
	oys_buf_free(&r->source);
	oys_fn_response_free(&r->resp);
	oys_buf_free(&r->console);
	oys_buf_free(&r->trace);
}

static int is_text(const char *p, size_t n)
{
	/* valid UTF-8 without NUL */
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)p[i];
		size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (k == 0 || c == 0 || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if (((unsigned char)p[i + j] >> 6) != 2)
				return 0;
		i += k;
	}
	return 1;
}

/* The settings applied: never an env value. */
static jv settings_json(const struct oys_run_result *r)
{
	static const char *const own[] = {"compatibility_date", "compatibility_flags", "memory", "cpu", "timeout",
	                                  "outbound"};
	const struct oys_run_settings *st = &r->settings;
	jv s = jv_object(), flags = jv_array(), env = jv_array(), mine = jv_array();
	s = oys_json_set_str(s, "main", st->main);
	s = oys_json_set_str(s, "compatibility_date", st->compat_date);
	for (size_t i = 0; i < st->ncompat_flags; i++)
		flags = jv_array_append(flags, jv_string(st->compat_flags[i]));
	s = jv_object_set(s, jv_string("compatibility_flags"), flags);
	/* memory and CPU left to the pool: what the cgroup had */
	unsigned long long mem = st->memory ? st->memory : r->stat.memory_limit;
	double cpu = st->cpu > 0 ? st->cpu : r->stat.cpu_limit;
	s = mem ? oys_json_set_num(s, "memory", (double)mem) : jv_object_set(s, jv_string("memory"), jv_null());
	s = cpu > 0 ? oys_json_set_num(s, "cpu", cpu) : jv_object_set(s, jv_string("cpu"), jv_null());
	s = oys_json_set_num(s, "timeout", st->timeout_ms / 1000.0);
	s = oys_json_set_str(s, "outbound", st->outbound);
	for (size_t i = 0; i < st->nenv; i++)
		env = jv_array_append(env, jv_string(st->env[i].name));
	s = jv_object_set(s, jv_string("env"), env);
	for (size_t i = 0; i < sizeof own / sizeof *own; i++)
		if (st->own & (1u << i))
			mine = jv_array_append(mine, jv_string(own[i]));
	return jv_object_set(s, jv_string("own"), mine);
}

jv oys_run_stats_json(jv o, const struct oys_run_result *r)
{
	jv t = jv_object();
	t = oys_json_set_num(t, "fetch", r->t.fetch);
	t = oys_json_set_num(t, "config", r->t.config);
	t = oys_json_set_num(t, "cgroup", r->t.cgroup);
	t = oys_json_set_num(t, "sandbox", r->t.sandbox);
	t = oys_json_set_num(t, "start", r->t.start);
	t = oys_json_set_num(t, "execute", r->t.exec);
	t = oys_json_set_num(t, "teardown", r->t.teardown);
	t = oys_json_set_num(t, "total", r->t.total);
	o = jv_object_set(o, jv_string("ms"), t);
	o = oys_json_set_str(o, "cgroup", r->cgroup[0] ? r->cgroup : NULL);
	o = oys_json_set_num(o, "memory_peak", (double)r->stat.memory_peak);
	o = oys_json_set_num(o, "cpu_ms", (double)r->stat.cpu_usage_ns / 1e6);
	o = jv_object_set(o, jv_string("warm"), jv_bool(r->warm));
	o = jv_object_set(o, jv_string("oom_kill"), jv_bool(r->oom_killed));
	if (r->sandbox_wait_ms >= 0)
		o = oys_json_set_num(o, "sandbox_wait_ms", r->sandbox_wait_ms);
	o = jv_object_set(o, jv_string("timeout"), jv_bool(r->timed_out));
	return r->settings.main ? jv_object_set(o, jv_string("settings"), settings_json(r)) : o;
}

jv oys_run_result_json(const struct oys_run_result *r)
{
	jv o = jv_object();
	o = oys_json_set_str(o, "request_id", r->request_id);
	o = oys_json_set_str(o, "code_id", r->code_id);
	o = oys_json_set_num(o, "status", r->http_status);
	if (r->resp.outcome == OYS_FN_OK && r->error == NULL) {
		jv h = jv_object();
		for (size_t i = 0; i < r->resp.nheaders; i++)
			h = oys_json_set_str(h, r->resp.headers[i].name, r->resp.headers[i].value);
		o = jv_object_set(o, jv_string("headers"), h);
		const char *b = r->resp.body.data ? r->resp.body.data : "";
		if (is_text(b, r->resp.body.len)) {
			o = jv_object_set(o, jv_string("body"), jv_string_sized(b, (int)r->resp.body.len));
		} else {
			struct oys_buf b64 = OYS_BUF_INIT;
			oys_base64_encode(&b64, b, r->resp.body.len);
			o = oys_json_set_str(o, "body_base64", b64.data ? b64.data : "");
			oys_buf_free(&b64);
		}
	}
	o = oys_run_stats_json(o, r);
	if (r->error) {
		jv e = jv_object();
		e = oys_json_set_str(e, "code", r->error);
		e = oys_json_set_str(e, "message", r->err.msg);
		e = oys_json_set_str(e, "stage", r->stage);
		o = jv_object_set(o, jv_string("error"), e);
	} else {
		o = jv_object_set(o, jv_string("error"), jv_null());
	}
	o = oys_json_set_str(o, "console", r->console.data ? r->console.data : "");
	return o;
}
