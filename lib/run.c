#include "run.h"
#include "codec.h"
#include "fetch.h"
#include "file.h"
#include "json.h"
#include "opt.h"
#include "paths.h"
#include "warm.h"
#include "workerd.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

static void fetch_failed(struct oys_run_result *r)
{
	switch (r->err.code) {
	case OYS_EUSAGE: fail(r, OYS_EUSAGE, "bad_code_id", "fetch", 400); break;
	case OYS_ENOINPUT: fail(r, OYS_ENOINPUT, "not_found", "fetch", 404); break;
	case OYS_EDATA: fail(r, OYS_EDATA, "bad_code", "fetch", 502); break;
	case OYS_ENOPERM: fail(r, OYS_ENOPERM, "attestation_refused", "fetch", 502); break;
	case OYS_ETEMPFAIL: fail(r, OYS_ETEMPFAIL, "storage_timeout", "fetch", 504); break;
	case OYS_EUNAVAIL: fail(r, OYS_EUNAVAIL, "storage_unavailable", "fetch", 502); break;
	default: fail(r, r->err.code ? r->err.code : OYS_ESOFTWARE, "internal", "fetch", 500); break;
	}
}

static const char *kind_ext(enum oys_code_kind k)
{
	return k == OYS_CODE_WASM ? "code.wasm" : "code.js";
}

static int get_code(const struct oys_run_opts *o, struct oys_run_result *r, struct oys_buf *code)
{
	if (o->code_file) {
		snprintf(r->code_id, sizeof r->code_id, "file");
		int rc = oys_read_file(o->code_file, OYS_CODE_MAX_DEFAULT, code, &r->err);
		if (rc)
			fail(r, rc, rc == OYS_ENOINPUT ? "not_found" : "bad_code", "fetch", rc == OYS_ENOINPUT ? 404 : 400);
		return rc;
	}
	snprintf(r->code_id, sizeof r->code_id, "%s", o->code_id ? o->code_id : "");
	struct oys_fetch_opts fo = {0};
	fo.store = o->store;
	fo.attestation_url = o->attestation_url;
	fo.rpc_url = o->rpc_url;
	fo.contract = o->contract;
	int rc = oys_fetch_code(o->code_id, &fo, code, &r->err);
	if (rc)
		fetch_failed(r);
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

int oys_run(const struct oys_run_opts *o, struct oys_run_result *r)
{
	memset(r, 0, sizeof *r);
	struct oys_reqdir dir;
	struct oys_cgroup cg = {.lockfd = -1};
	struct oys_workerd w = {.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
	struct oys_buf code = OYS_BUF_INIT, config = OYS_BUF_INIT, tr = OYS_BUF_INIT;
	char workerd[PATH_MAX], code_path[PATH_MAX], config_path[PATH_MAX], input_path[PATH_MAX];
	double t0 = oys_now_ms(), t, t_done = 0;
	int answered = 0;
	int have_dir = 0, have_cg = 0;
	const char *prefix = oys_conf(o->cgroup_prefix, "OYS_CGROUP_PREFIX", OYS_CGROUP_DEFAULT_PREFIX);
	const char *outbound = oys_conf(o->outbound, "OYS_OUTBOUND", "none");

	/* A directory of our own; leftovers of killed requests are swept first. */
	oys_reqdir_sweep();
	if (oys_reqdir_create(&dir, &r->err)) {
		fail(r, r->err.code, "internal", "fetch", 500);
		goto out;
	}
	have_dir = 1;
	dir.keep = o->keep;
	memcpy(r->request_id, dir.id, sizeof r->request_id);

	/* 3-4: attestation and code */
	t = oys_now_ms();
	if (get_code(o, r, &code))
		goto out;
	enum oys_code_kind kind = o->kind != OYS_CODE_AUTO ? o->kind : oys_code_detect(code.data, code.len);
	oys_reqdir_file(&dir, kind_ext(kind), code_path, sizeof code_path);
	if (oys_write_new(code_path, code.data, code.len, 0600, &r->err)) {
		fail(r, r->err.code, "internal", "fetch", 500);
		goto out;
	}
	r->t.fetch = oys_now_ms() - t;
	if (o->trace) {
		const char *fa[] = {"oys-fetch", r->code_id, "-o", code_path, NULL};
		const char *ca[] = {"cp", o->code_file ? o->code_file : "", code_path, NULL};
		trace(&tr, "fetch", r->t.fetch, o->code_file ? ca : fa, NULL);
	}

	/* 5-8 in a sandbox oys-warm started before the request, when it has one (warm.h) */
	struct oys_warm_fn wf = {code.data, code.len, kind, prefix, outbound, t0};
	if (oys_warm_run(o, &wf, r, &t_done) == OYS_WARM_DONE) {
		answered = 1;
		goto out;
	}

	/* 6: config */
	t = oys_now_ms();
	struct oys_capnp c = {0};
	c.kind = kind;
	c.code = code_path;
	c.config_dir = dir.path;
	c.socket = "http";
	c.outbound = outbound;
	c.compat_date = o->compat_date;
	c.compat_flags = o->compat_flags;
	c.ncompat_flags = o->ncompat_flags;
	oys_reqdir_file(&dir, "config.capnp", config_path, sizeof config_path);
	if (oys_capnp_render(&c, &config, &r->err) ||
	    oys_write_new(config_path, config.data, config.len, 0600, &r->err)) {
		fail(r, r->err.code == OYS_EUSAGE ? OYS_ECONFIG : r->err.code, "config", "config", 500);
		goto out;
	}
	if (o->workerd)
		snprintf(workerd, sizeof workerd, "%s", o->workerd);
	else if (oys_workerd_path(workerd, sizeof workerd, &r->err)) {
		fail(r, r->err.code, "config", "config", 500);
		goto out;
	}
	r->t.config = oys_now_ms() - t;
	if (o->trace) {
		const char *a[] = {"oys-capnp", kind == OYS_CODE_WASM ? "--wasm" : "--js", code_path,
		                   "--outbound", c.outbound, "-o", config_path, NULL};
		trace(&tr, "config", r->t.config, a, NULL);
	}

	/* 7: a cgroup */
	t = oys_now_ms();
	if (oys_cgroup_reserve(prefix, &o->limits, &cg, &r->err)) {
		if (r->err.code == OYS_EUNAVAIL)
			fail(r, OYS_EUNAVAIL, "no_sandbox", "cgroup", 429);
		else
			fail(r, r->err.code, "config", "cgroup", 500);
		goto out;
	}
	have_cg = 1;
	snprintf(r->cgroup, sizeof r->cgroup, "%s", cg.name);
	r->t.cgroup = oys_now_ms() - t;
	if (o->trace) {
		char got[160];
		snprintf(got, sizeof got, "got %s", cg.name);
		const char *a[] = {"oys-cgroup", "reserve", "--prefix", prefix, NULL};
		trace(&tr, "cgroup", r->t.cgroup, a, got);
	}

	/* 5 and 8: workerd in the cgroup with a bound socket; the request; the response */
	if (oys_workerd_spawn(workerd, config_path, &cg, &w, &r->err)) {
		fail(r, r->err.code, "internal", "start", 500);
		goto out;
	}
	struct oys_fn_limits lim = {
		o->start_timeout_ms > 0 ? o->start_timeout_ms : OYS_DEFAULT_START_TIMEOUT_S * 1000,
		o->timeout_ms > 0 ? o->timeout_ms : OYS_DEFAULT_TIMEOUT_S * 1000,
		o->max_response > 0 ? o->max_response : OYS_DEFAULT_MAX_RESPONSE,
		o->abort_fd, o->abort_flag,
	};
	int fd = oys_workerd_connect(&w, &r->err);
	if (fd < 0 || oys_fn_exchange(&w, fd, &o->req, &lim, &r->resp, &r->err)) {
		fail(r, r->err.code, "internal", "execute", 500);
		goto out;
	}
	r->t.start = r->resp.t_accept_ms;
	r->t.exec = r->resp.t_exec_ms;
	t_done = oys_now_ms();
	if (r->resp.outcome == OYS_FN_OK && o->on_result) {
		/* A whole response: answer first (workerd is idle, its counters are final but for the
		 * kill), tear down after. */
		oys_cgroup_stat(&cg, &r->stat, NULL);
		classify(r, &w, lim.max_response);
		r->t.total = oys_now_ms() - t0;
		o->on_result(r, o->on_result_arg);
		answered = 1;
	}
	oys_workerd_stop(&w);
	oys_cgroup_kill(&cg, NULL);
	oys_cgroup_stat(&cg, &r->stat, NULL);
	if (!answered)
		classify(r, &w, lim.max_response);
	else if (r->stat.oom_kills && !r->oom_killed)
		r->oom_killed = 1; /* counted after the answer: for the log, the answer stands */
	if (o->trace) {
		char addr[64], port[16];
		snprintf(addr, sizeof addr, "http=127.0.0.1:%d", w.port);
		snprintf(port, sizeof port, "%d", w.port);
		const char *a[] = {"oys-cgroup", "exec", cg.name, "--", workerd, "serve", config_path,
		                   "--socket-addr", addr, NULL};
		trace(&tr, "start", r->t.start, a, "oys-run passes a bound socket: --socket-fd http=3");
		char url[300];
		snprintf(url, sizeof url, "http://127.0.0.1:%d%s", w.port, o->req.target);
		oys_reqdir_file(&dir, "input.json", input_path, sizeof input_path);
		if (o->keep)
			oys_write_new(input_path, o->req.body, o->req.body_len, 0600, NULL);
		char data[PATH_MAX + 2];
		snprintf(data, sizeof data, "@%s", input_path);
		const char *b[] = {"curl", "-sS", "-X", o->req.method, "--data-binary", data, url, NULL};
		trace(&tr, "execute", r->t.exec, b, r->error ? r->error : NULL);
	}

out:
	if (!answered && o->on_result) {
		/* an error (or no callback wanted before): the console is known once workerd stopped */
		oys_workerd_stop(&w);
		oys_console_text(&w.console, &r->console);
		r->t.total = oys_now_ms() - t0;
		o->on_result(r, o->on_result_arg);
		answered = 1;
	} else {
		oys_workerd_stop(&w);
		if (r->console.data == NULL)
			oys_console_text(&w.console, &r->console);
	}
	if (have_cg) {
		oys_cgroup_release(&cg);
	}
	if (have_dir) {
		if (o->keep && o->trace)
			oys_buf_printf(&tr, "# files kept in %s\n", dir.path);
		oys_reqdir_close(&dir);
	}
	oys_workerd_free(&w);
	oys_buf_free(&code);
	oys_buf_free(&config);
	r->t.total = oys_now_ms() - t0;
	if (r->t.start > 0)
		r->t.teardown = oys_now_ms() - t_done;
	if (o->trace)
		r->trace = tr;
	else
		oys_buf_free(&tr);
	return r->code;
}

void oys_run_result_free(struct oys_run_result *r)
{
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

jv oys_run_stats_json(jv o, const struct oys_run_result *r)
{
	jv t = jv_object();
	t = oys_json_set_num(t, "fetch", r->t.fetch);
	t = oys_json_set_num(t, "config", r->t.config);
	t = oys_json_set_num(t, "cgroup", r->t.cgroup);
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
	return jv_object_set(o, jv_string("timeout"), jv_bool(r->timed_out));
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
