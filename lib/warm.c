/* warm.c: one request in a warm sandbox (warm.h): claim it from oys-warm, send the loader the
 * function, then the request (fn.h's exchange, the cold path's limits), read the console from
 * the pipe, count the cgroup, kill it by pidfd, end the claim. */
#include "warm.h"
#include "bundle.h"
#include "file.h"
#include "fn.h"
#include "run.h"
#include "workerd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOAD_RESPONSE_MAX 4096
#define LOST_WAIT_MS 200   /* for the control connection's end after the sandbox's */

static void fail(struct oys_run_result *r, int code, const char *error, const char *stage, int http)
{
	r->code = code;
	r->error = error;
	r->stage = stage;
	r->http_status = http;
}

/* The load: {"token", "kind", "main", "compatibility_date", "compatibility_flags", "env",
 * "modules"} and the modules' bytes, in that order (see share/templates/warm-loader.js). A
 * service-worker or Wasm main is the bundle's only module: it goes as worker.js or
 * function.wasm, the names the loader gives those kinds. */
static int load_body(const struct oys_warm_fn *fn, const char *token, struct oys_buf *b, size_t *jlen)
{
	static const char *const types[] = {"data", "js", "cjs", "js", "wasm", "json", "text", "data"};
	const struct oys_bundle *bu = fn->bundle;
	const struct oys_run_settings *st = fn->settings;
	const char *kind = "module", *main = bu->main;
	if (fn->kind == OYS_CODE_SW) {
		kind = "service-worker";
		main = "worker.js";
	} else if (fn->kind == OYS_CODE_WASM) {
		kind = "wasm";
		main = "function.wasm";
	}
	jv flags = jv_array(), env = jv_object(), mods = jv_array();
	for (size_t i = 0; i < st->ncompat_flags; i++)
		flags = jv_array_append(flags, jv_string(st->compat_flags[i]));
	for (size_t i = 0; i < bu->nenv; i++)
		env = oys_json_set_str(env, bu->env[i].name, bu->env[i].value);
	for (size_t i = 0; i < bu->nmodules; i++) {
		const struct oys_bundle_module *m = &bu->modules[i];
		unsigned t = (unsigned)m->type < sizeof types / sizeof *types ? (unsigned)m->type : 0;
		jv mj = oys_json_set_str(jv_object(), "name", strcmp(m->name, bu->main) == 0 ? main : m->name);
		mj = oys_json_set_str(mj, "type", m->type == OYS_MOD_SW ? "cjs" : types[t]);
		mods = jv_array_append(mods, oys_json_set_num(mj, "size", (double)m->len));
	}
	jv j = oys_json_set_str(jv_object(), "token", token);
	j = oys_json_set_str(j, "kind", kind);
	j = oys_json_set_str(j, "main", main);
	j = oys_json_set_str(j, "compatibility_date", st->compat_date ? st->compat_date : OYS_DEFAULT_COMPAT_DATE);
	j = jv_object_set(j, jv_string("compatibility_flags"), flags);
	j = jv_object_set(j, jv_string("env"), env);
	j = jv_object_set(j, jv_string("modules"), mods);
	int bad = oys_json_append(b, j);
	*jlen = b->len;
	for (size_t i = 0; i < bu->nmodules; i++)
		bad |= oys_buf_append(b, bu->modules[i].data, bu->modules[i].len);
	return bad ? -1 : 0;
}

/* The loader's own answer to the function's request (the function did not start): its message,
 * kept as the console a cold start would have shown; 1 then, else 0. */
static int loader_answer(struct oys_fn_response *rs, const char *token, struct oys_workerd *w)
{
	if (rs->outcome != OYS_FN_OK)
		return 0;
	const char *mark = NULL;
	for (size_t i = 0; i < rs->nheaders; i++)
		if (strcasecmp(rs->headers[i].name, "X-Oys-Loader") == 0)
			mark = rs->headers[i].value;
	if (mark == NULL || strcmp(mark, token) != 0)
		return 0;
	jv j;
	const char *msg = NULL;
	if (oys_json_parse(rs->body.data, rs->body.len, &j, NULL) == 0) {
		msg = jv_get_kind(j) == JV_KIND_OBJECT ? oys_json_get_str(j, "message") : NULL;
		if (msg) {
			oys_console_keep(&w->console, msg, strlen(msg));
			oys_console_keep(&w->console, "\n", 1);
		}
		jv_free(j);
	}
	if (msg == NULL)
		oys_console_keep(&w->console, "the function does not start\n", 29);
	oys_fn_response_free(rs);
	rs->outcome = OYS_FN_START_FAILED;
	return 1;
}

/* Kills workerd through its pidfd (not our child: its pid could be another process's by now),
 * waits until it is gone (bounded), and drains what it wrote. */
static void kill_sandbox(struct oys_workerd *w)
{
	if (w->pidfd >= 0) {
		syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
		struct pollfd p = {w->pidfd, POLLIN, 0};
		poll(&p, 1, 5000);
	}
	w->pid = -1; /* oys_workerd_stop() must not signal a pid */
	oys_workerd_stop(w);
}

enum { LOAD_OK, LOAD_LOST, LOAD_FAILED };

/* Sends the function to the loader of the sandbox at sock, with a fresh token (written to
 * token, 33 bytes), and reads its 204: LOAD_OK. Until the function's request is sent, nothing
 * of the function has run: a sandbox that fails here (it died, oys-warm died, the loader
 * refused) is LOAD_LOST, and the cold path runs the request. Only a client gone or a load that
 * hangs are answered from here: LOAD_FAILED, with the error in r. */
static int send_load(const struct oys_run_opts *o, const struct oys_warm_fn *fn, struct oys_workerd *w,
                     const char *sock, char *token, struct oys_run_result *r)
{
	int start_ms = fn->lim->start_timeout_ms;
	struct oys_buf body = OYS_BUF_INIT;
	struct oys_fn_response lr = {0};
	size_t jlen = 0;
	int rc = LOAD_FAILED;
	if (oys_random_hex(token, 16) < 0 || load_body(fn, token, &body, &jlen) < 0) {
		oys_err_sys(&r->err, OYS_EOSERR, "warm sandbox: the load");
		fail(r, OYS_EOSERR, "internal", "start", 500);
		goto out;
	}
	char what[32];
	snprintf(what, sizeof what, "load %zu", jlen);
	struct oys_header lh[] = {{"Host", "localhost"}, {"X-Oys-Loader", what}, {"Content-Type", "application/octet-stream"}};
	struct oys_fn_request lq = {"POST", "/", lh, 3, body.data, body.len};
	struct oys_fn_limits ll = {start_ms, start_ms, LOAD_RESPONSE_MAX, o->abort_fd, o->abort_flag};
	w->t_spawn_ms = oys_now_ms();
	int fd = oys_workerd_connect_path(sock, NULL);
	if (fd < 0) {
		rc = LOAD_LOST;
	} else if (oys_fn_exchange(w, fd, &lq, &ll, &lr, &r->err)) {
		fail(r, OYS_EOSERR, "internal", "start", 500);
	} else if (lr.outcome == OYS_FN_ABORTED) {
		oys_err_set(&r->err, OYS_EIO, "request aborted: the client is gone");
		fail(r, OYS_EIO, "client_gone", "start", 499);
	} else if (lr.outcome == OYS_FN_TIMEOUT || lr.outcome == OYS_FN_START_TIMEOUT) {
		r->timed_out = 1;
		oys_err_set(&r->err, OYS_ETEMPFAIL, "warm sandbox did not take the function within %.0f s",
		            start_ms / 1000.0);
		fail(r, OYS_ETEMPFAIL, "start_timeout", "start", 504);
	} else {
		rc = lr.outcome == OYS_FN_OK && lr.status == 204 ? LOAD_OK : LOAD_LOST;
	}
out:
	oys_fn_response_free(&lr);
	oys_buf_free(&body);
	return rc;
}

int oys_warm_run(const struct oys_run_opts *o, const struct oys_warm_fn *fn, struct oys_run_result *r,
                 double *t_done)
{
	if (o->trace || o->keep)
		return OYS_WARM_COLD;
	int start_ms = fn->lim->start_timeout_ms, exec_ms = fn->lim->exec_timeout_ms;
	size_t max_response = fn->lim->max_response;
	double t = oys_now_ms();
	struct oys_warm_claim c;
	if (oys_warm_claim(fn->prefix, fn->outbound, fn->limits, start_ms, 2 * start_ms + exec_ms + 10000, &c, NULL))
		return OYS_WARM_COLD;
	struct oys_cgroup cg;
	int rc = oys_cgroup_open_pool(fn->prefix, c.cgroup, &cg, NULL);
	cg.claimed = 1; /* oys-warm holds it for us */
	if (rc || oys_cgroup_reset(&cg, NULL)) {
		oys_cgroup_release(&cg);
		oys_warm_claim_end(&c);
		return OYS_WARM_COLD;
	}

	struct oys_workerd w = {.pid = c.pid, .pidfd = c.pidfd, .outfd = c.outfd, .lfd = -1, .status = -1};
	c.pidfd = c.outfd = -1; /* w's now */
	snprintf(w.host, sizeof w.host, "localhost");
	fcntl(w.outfd, F_SETFL, O_NONBLOCK);
	double t_claimed = oys_now_ms();
	char token[33];
	int answered = 0, lost = 0;

	/* The function, to the loader. */
	int ld = send_load(o, fn, &w, c.socket, token, r);
	if (ld == LOAD_LOST)
		lost = 1;
	if (ld != LOAD_OK)
		goto done;
	r->t.start = oys_now_ms() - t_claimed;

	/* The request, to the function: what the cold path does from here. */
	struct oys_fn_limits lim = {start_ms, exec_ms, max_response, o->abort_fd, o->abort_flag};
	w.t_spawn_ms = oys_now_ms();
	int fd = oys_workerd_connect_path(c.socket, NULL);
	if (fd < 0) {
		lost = 1; /* the request was not sent */
		goto done;
	}
	if (oys_fn_exchange(&w, fd, &o->req, &lim, &r->resp, &r->err)) {
		fail(r, OYS_EOSERR, "internal", "execute", 500);
		goto done;
	}
	loader_answer(&r->resp, token, &w);
	if (r->resp.outcome == OYS_FN_DIED && r->resp.head.len == 0 && (lost = oys_warm_claim_lost(&c, LOST_WAIT_MS)))
		goto done; /* oys-warm died, and the sandbox with it, before a byte of the answer */
	r->t.exec = r->resp.t_exec_ms;
	*t_done = oys_now_ms();
	if (r->resp.outcome == OYS_FN_OK && o->on_result) {
		oys_cgroup_stat(&cg, &r->stat, NULL);
		oys_run_classify(r, &w, max_response);
		r->t.total = oys_now_ms() - fn->t0;
		o->on_result(r, o->on_result_arg);
		answered = 1;
	}
	kill_sandbox(&w);
	oys_cgroup_stat(&cg, &r->stat, NULL);
	if (!answered)
		oys_run_classify(r, &w, max_response);
	else if (r->stat.oom_kills && !r->oom_killed)
		r->oom_killed = 1; /* counted after the answer: for the log, the answer stands */

done:
	kill_sandbox(&w);
	if (lost) {
		/* Back to how it was: the cold path runs it. */
		oys_fn_response_free(&r->resp);
		oys_err_clear(&r->err);
		r->t.start = r->t.exec = 0;
		oys_workerd_free(&w);
		oys_cgroup_release(&cg);
		oys_warm_claim_end(&c);
		return OYS_WARM_COLD;
	}
	r->warm = 1;
	r->t.cgroup = t_claimed - t;
	snprintf(r->cgroup, sizeof r->cgroup, "%s", cg.name);
	if (r->stat.memory_limit == 0)
		oys_cgroup_stat(&cg, &r->stat, NULL);
	oys_console_text(&w.console, &r->console);
	if (!answered && o->on_result) {
		r->t.total = oys_now_ms() - fn->t0;
		o->on_result(r, o->on_result_arg);
	}
	if (*t_done == 0)
		*t_done = oys_now_ms();
	oys_workerd_free(&w);
	oys_cgroup_release(&cg);
	oys_warm_claim_end(&c); /* oys-warm empties the cgroup and starts the next one */
	return OYS_WARM_DONE;
}
