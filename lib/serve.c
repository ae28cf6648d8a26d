#include "serve.h"
#include "cgroup.h"
#include "file.h"
#include "json.h"
#include "metrics.h"
#include "opt.h"
#include "sign.h"
#include "store.h"
#include "warm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef OYS_VERSION
#define OYS_VERSION "0.0.0"
#endif

/* ---- drain flag ---- */

static void drain_path(char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/draining", oys_runtime_dir());
}

/* The drain flag: RUNTIME/draining. */
static int oys_serve_draining(void)
{
	char p[PATH_MAX];
	drain_path(p, sizeof p);
	return access(p, F_OK) == 0;
}

/* Milliseconds since the drain began (the flag's time), -1 when not draining. */
static double draining_for_ms(void)
{
	char p[PATH_MAX];
	struct stat st;
	struct timespec now;
	drain_path(p, sizeof p);
	if (stat(p, &st) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	double ms = (double)(now.tv_sec - st.st_mtim.tv_sec) * 1e3 + (double)(now.tv_nsec - st.st_mtim.tv_nsec) / 1e6;
	return ms < 0 ? 0 : ms;
}

static int oys_serve_set_draining(int on, struct oys_err *e)
{
	char dir[PATH_MAX], p[PATH_MAX];
	int rc = oys_runtime_subdir(NULL, dir, sizeof dir, e);
	if (rc)
		return rc;
	drain_path(p, sizeof p);
	if (on)
		return oys_write_atomic(p, "draining\n", 9, 0644, e);
	if (unlink(p) < 0 && access(p, F_OK) == 0)
		return oys_err_sys(e, OYS_EIO, "cannot remove %s", p);
	return 0;
}

/* ---- one request ---- */

struct ctx {
	const struct oys_serve_opts *o;
	struct oys_http_request req;
	enum oys_endpoint ep;
	int status;
	const char *error;
	char message[OYS_ERR_MAX];
	char peer[128];
	char peer_ip[128];
	double t0;
	double t_answered;            /* when the whole answer was out (0: not yet) */
	struct oys_run_result run;
	int ran;
	int answer_rc;                /* what starting the answer returned */
	struct oys_http_answer out;   /* the answer being written */
	int answering;                /* out is started */
	struct oys_buf body;          /* the body of an answer of our own (error, JSON) */
	int read_whole;               /* the request was read whole: its method, path and body are
	                                 signed; else empty ones are (oys(7), Signed answers) */
	int signed_answer;            /* the answer carries its signatures */
	jv log;                       /* extra fields for the log line */
};

/* ---- the enclave's key: loaded once per process, once the request is read, wiped at its
 * end; without the public half, which signing does not need (only /status shows it) ---- */

static struct {
	int state;                    /* 0 not loaded, 1 ready, -1 no key file: unsigned, -2 unusable */
	struct oys_sign_key key;
	struct oys_err err;           /* why unusable */
} signer;

static void signer_load(const struct oys_serve_opts *o)
{
	if (signer.state != 0)
		return;
	int rc = o->signing_key ? oys_sign_key_load_secret(o->signing_key, &signer.key, &signer.err) : OYS_ENOINPUT;
	signer.state = rc == 0 ? 1 : rc == OYS_ENOINPUT ? -1 : -2;
}

static void signer_wipe(void)
{
	oys_sign_key_wipe(&signer.key);
	signer.state = 0;
}

static const char *header_value(const struct oys_header *h, size_t nh, const char *name)
{
	for (size_t i = 0; i < nh; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return h[i].value;
	return NULL;
}

/* The three headers of a signed answer, appended to h (room for them): X-Oyster-Timestamp,
 * X-Signature (oyster-signature-v2), X-Oyster-Signature (oys-signature-v1) over what the
 * client sent and gets, code id and request id as the headers say. 0, or -1 (not signed). */
struct sigs {
	char ts[24], v2[OYS_SIGN_HEX_LEN + 1], oys[OYS_SIGN_HEX_LEN + 1];
};

static int sign_answer(struct ctx *c, int status, struct oys_header *h, size_t *nh, const void *body, size_t len,
                       struct sigs *s)
{
	struct oys_err e = {0};
	long long now = (long long)time(NULL);
	struct oys_sig_fields f = {
		c->read_whole ? c->req.method : "", c->read_whole ? c->req.target : "", status,
		header_value(h, *nh, "X-Oyster-Code-Id"), header_value(h, *nh, "X-Oyster-Request-Id"), now,
	};
	const void *req = c->read_whole ? c->req.body.data : NULL;
	size_t req_len = c->read_whole ? c->req.body.len : 0;
	if (oys_sign_answer(&signer.key, &f, req, req_len, body, len, s->v2, s->oys, &e)) {
		c->log = oys_json_set_str(c->log, "sign_error", e.msg);
		return -1;
	}
	snprintf(s->ts, sizeof s->ts, "%lld", now);
	h[(*nh)++] = (struct oys_header){"X-Oyster-Timestamp", s->ts};
	h[(*nh)++] = (struct oys_header){"X-Signature", s->v2};
	h[(*nh)++] = (struct oys_header){"X-Oyster-Signature", s->oys};
	return 0;
}

/* Starts the answer: what the client takes at once goes out now, without waiting on it; the
 * rest once the request has given back what it held (finish_answer). */
static int answer(struct ctx *c, int status, const char *ctype, const struct oys_header *h, size_t nh,
                  const void *body, size_t len)
{
	c->status = status;
	c->answering = 1;
	struct oys_header *all = NULL;
	struct sigs s;
	if (signer.state == 1 && (all = malloc((nh + 3) * sizeof *all)) != NULL) {
		if (nh)
			memcpy(all, h, nh * sizeof *h);
		if (sign_answer(c, status, all, &nh, body, len, &s) == 0)
			c->signed_answer = 1;
		h = all;
	}
	int r = oys_http_answer_start(&c->out, c->o->out, status, ctype, h, nh, body, len);
	free(all);
	if (r == 0 && oys_http_answer_left(&c->out) == 0)
		c->t_answered = oys_now_ms();
	return r;
}

static int answer_error(struct ctx *c, int status, const char *code, const char *msg, const char *stage,
                        const struct oys_header *h, size_t nh)
{
	c->error = code;
	snprintf(c->message, sizeof c->message, "%s", msg);
	jv err = jv_object();
	err = oys_json_set_str(err, "code", code);
	err = oys_json_set_str(err, "message", msg);
	if (stage)
		err = oys_json_set_str(err, "stage", stage);
	if (c->ran)
		err = oys_json_set_str(err, "request_id", c->run.request_id);
	c->body.len = 0;
	oys_json_append(&c->body, jv_object_set(jv_object(), jv_string("error"), err));
	oys_buf_putc(&c->body, '\n');
	return answer(c, status, "application/json", h, nh, c->body.data, c->body.len);
}

static int answer_json(struct ctx *c, int status, jv v)
{
	c->body.len = 0;
	oys_json_append(&c->body, v);
	oys_buf_putc(&c->body, '\n');
	return answer(c, status, "application/json", NULL, 0, c->body.data, c->body.len);
}

/* The rest of the answer, once nothing waits on it: a client that takes nothing of it for
 * the write timeout is dropped, one that closes is gone. Logged either way. */
static int finish_answer(struct ctx *c, int rc)
{
	if (!c->answering || rc)
		return rc;
	size_t total = oys_http_answer_size(&c->out);
	int r = oys_http_answer_finish(&c->out, c->o->write_timeout_ms);
	if (r == 0) {
		c->t_answered = oys_now_ms();
		return 0;
	}
	double sent = (double)(total - oys_http_answer_left(&c->out)) / (1 << 20);
	c->error = r == OYS_ETEMPFAIL ? "write_timeout" : "client_gone";
	if (r == OYS_ETEMPFAIL)
		snprintf(c->message, sizeof c->message,
		         "the client took no part of the answer for %g s (%.1f of %.1f MiB sent): dropped",
		         c->o->write_timeout_ms / 1000.0, sent, (double)total / (1 << 20));
	else
		snprintf(c->message, sizeof c->message, "the client closed the connection after %.1f of %.1f MiB",
		         sent, (double)total / (1 << 20));
	return r;
}

/* The address alone, for X-Forwarded-For: "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1". */
static void peer_address(const char *peer, char *out, size_t outsz)
{
	const char *start = peer[0] == '[' ? peer + 1 : peer;
	const char *end = peer[0] == '[' ? strchr(start, ']') : NULL;
	if (end == NULL && strchr(start, ':') == strrchr(start, ':'))
		end = strchr(start, ':'); /* IPv4 with a port */
	size_t n = end ? (size_t)(end - start) : strlen(start);
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, start, n);
	out[n] = '\0';
}

/* Whether the peer is this host: an IP address in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104,
 * read as an address (never by its spelling). A VSOCK peer ("vsock:CID:PORT") is another
 * machine, whatever its CID; no peer at all ("-") counts only when the operator said so. */
static int peer_is_local(const char *peer, const char *ip, int trust_no_peer)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(peer, "-") == 0)
		return trust_no_peer;
	if (strncmp(peer, "vsock:", 6) == 0 || strcmp(peer, "unknown") == 0)
		return 0;
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, ip, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
	return 0;
}

/* Admin endpoints: with a token configured, "Authorization: Bearer TOKEN" (compared in
 * constant time); without, only from loopback. */
static int admin_allowed(struct ctx *c)
{
	const char *tok = c->o->admin_token;
	if (tok && *tok)
		return oys_http_bearer_ok(oys_http_header(&c->req, "Authorization"), tok);
	return peer_is_local(c->peer, c->peer_ip, c->o->trust_no_peer);
}

/* The pool's cgroups and those running a request: a cgroup an idle sandbox of oys-warm holds
 * (ready or starting, warm.h) is capacity, not a running request. */
static void pool_counts(const struct oys_serve_opts *o, int *total, int *busy, struct oys_warm_counts *w)
{
	oys_warm_counts(w);
	if (oys_cgroup_pool_count(oys_cgroup_prefix(o->run.cgroup_prefix), total, busy, NULL)) {
		*total = -1;
		*busy = 0;
		return;
	}
	*busy -= w->ready + w->starting;
	if (*busy < 0)
		*busy = 0;
}

static int method_not_allowed(struct ctx *c, const char *allow)
{
	struct oys_header h = {"Allow", allow};
	char msg[128];
	snprintf(msg, sizeof msg, "%s is not allowed here (allowed: %s)", c->req.method, allow);
	return answer_error(c, 405, "method_not_allowed", msg, NULL, &h, 1);
}

/* Answers with the function's response, or the error: called by oys_run() as soon as the
 * result is known, before the teardown. Every header of the function comes back (the response
 * parser bounds its head at 64 KiB), but the framing, hop-by-hop and X-Oyster- ones, which are
 * ours; one that could not be sent as it is (a control character in its name or value,
 * Content-Type included) makes the answer 502 bad_response, as the response parser does:
 * dropping it would change what the answer means (a body without its Content-Type is sniffed). */
static void answer_run(struct oys_run_result *r, void *arg)
{
	struct ctx *c = arg;
	char ms[32];
	snprintf(ms, sizeof ms, "%.1f", r->t.total);
	struct oys_header *h = calloc(r->resp.nheaders + 4, sizeof *h);
	size_t nh = 0;
	if (h == NULL) {
		c->answer_rc = answer_error(c, 500, "internal", "out of memory", r->stage, NULL, 0);
		return;
	}
	h[nh++] = (struct oys_header){"X-Oyster-Request-Id", r->request_id};
	h[nh++] = (struct oys_header){"X-Oyster-Code-Id", r->code_id};
	h[nh++] = (struct oys_header){"X-Oyster-Execution-Ms", ms};
	if (r->error) {
		if (strcmp(r->error, "client_gone") == 0) {
			c->status = 499;
			c->error = r->error;
			snprintf(c->message, sizeof c->message, "%s", r->err.msg);
			c->answer_rc = OYS_EIO;
			c->answering = 0;
		} else {
			if (r->http_status == 429)
				h[nh++] = (struct oys_header){"Retry-After", "1"};
			c->answer_rc = answer_error(c, r->http_status, r->error, r->err.msg, r->stage, h, nh);
		}
		free(h);
		return;
	}
	const char *ctype = NULL;
	for (size_t i = 0; i < r->resp.nheaders; i++) {
		const struct oys_header *fh = &r->resp.headers[i];
		if (!oys_http_valid_name(fh->name) || !oys_http_valid_value(fh->value)) {
			char msg[160];
			snprintf(msg, sizeof msg, "function response header %.64s: a control character in its %s",
			         oys_http_valid_name(fh->name) ? fh->name : "(name)",
			         oys_http_valid_name(fh->name) ? "value" : "name");
			c->answer_rc = answer_error(c, 502, "bad_response", msg, "execute", h, 3);
			free(h);
			return;
		}
		if (strcasecmp(fh->name, "Content-Type") == 0) {
			ctype = fh->value;
			continue;
		}
		/* framing, hop-by-hop and X-Oyster- fields are ours to set */
		if (oys_http_hop_by_hop(fh->name) || strncasecmp(fh->name, "X-Oyster-", 9) == 0)
			continue;
		h[nh++] = *fh;
	}
	c->answer_rc = answer(c, r->resp.status, ctype, h, nh, r->resp.body.data, r->resp.body.len);
	free(h);
}

/* A sandbox stays busy until its teardown is over (workerd killed, the cgroup emptied: 10-30 ms
 * here), though its answer is already out. A load balancer that counts a request done when its
 * answer is out (HAProxy with maxconn = the pool, see share/templates/haproxy.cfg) may send the
 * next one in that window: rather than refuse it with 429, oys_run() waits for a sandbox,
 * bounded, and the wait ends with one reserved (or 429 when the time is up). Only requests that
 * find the whole pool busy wait; it is counted in /metrics and logged. */
#define SANDBOX_WAIT_MS 1000

/* Runs the function; answer_run() answers. */
static int run_and_answer(struct ctx *c, const char *code_id, struct oys_fn_request *fr)
{
	const struct oys_serve_opts *o = c->o;
	/* Draining: /healthz and the agent tell the balancer at once; new requests are refused
	 * once it has had the grace period to take the host out. */
	double drained = draining_for_ms();
	if (drained >= 0 && drained >= o->drain_grace_ms)
		return answer_error(c, 503, "draining", "this host is draining: it takes no new requests", NULL, NULL, 0);
	struct oys_run_opts ro = o->run;
	ro.code_id = code_id;
	ro.code_file = NULL;
	ro.req = *fr;
	ro.abort_fd = o->in;
	ro.abort_flag = o->abort_flag;
	ro.trace = ro.keep = 0;
	ro.sandbox_wait_ms = SANDBOX_WAIT_MS;
	ro.on_result = answer_run;
	ro.on_result_arg = c;
	c->ran = 1;
	oys_run(&ro, &c->run);
	return c->answer_rc;
}

static int serverless(struct ctx *c)
{
	if (strcmp(c->req.method, "POST") != 0)
		return method_not_allowed(c, "POST");
	struct oys_err e = {0};
	jv v;
	const char *b = c->req.body.data;
	size_t n = c->req.body.len;
	const char *nul = n ? memchr(b, '\0', n) : NULL;
	if (nul) {
		/* never valid JSON (a NUL inside a string must be written \u0000), and a NUL would
		 * end what a C string of the body holds: refused, so the function sees what jq read */
		char msg[96];
		snprintf(msg, sizeof msg, "bad JSON: a raw NUL byte at byte %zu of the body", (size_t)(nul - b));
		return answer_error(c, 400, "bad_json", msg, NULL, NULL, 0);
	}
	if (oys_json_parse(b, n, &v, &e))
		return answer_error(c, 400, "bad_json", e.msg, NULL, NULL, 0);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return answer_error(c, 400, "bad_request", "the body must be a JSON object {\"code_id\", \"input\"}", NULL, NULL, 0);
	}
	jv id = jv_object_get(jv_copy(v), jv_string("code_id"));
	jv_free(v);
	if (jv_get_kind(id) != JV_KIND_STRING) {
		jv_free(id);
		return answer_error(c, 400, "bad_request", "code_id missing or not a string", NULL, NULL, 0);
	}
	char code_id[80];
	int toolong = snprintf(code_id, sizeof code_id, "%s", jv_string_value(id)) >= (int)sizeof code_id;
	jv_free(id);
	if (toolong || oys_code_id_check(code_id, &e))
		return answer_error(c, 400, "bad_code_id", toolong ? "code_id is too long" : e.msg, NULL, NULL, 0);
	c->log = oys_json_set_str(c->log, "code_id", code_id);
	/* The input goes to the function byte for byte, as the client wrote it. */
	size_t off = 0, len = 4;
	const char *input = "null";
	if (oys_json_member_span(b, n, "input", &off, &len) == 0)
		input = b + off;
	else
		len = 4;
	struct oys_header fh[2] = {{"Content-Type", "application/json"}, {"Host", "localhost"}};
	struct oys_fn_request fr = {"POST", "/", fh, 2, input, len};
	return run_and_answer(c, code_id, &fr);
}

static int fn(struct ctx *c)
{
	/* /fn/<code_id>[/<path>][?query] */
	const char *rest = c->req.path + 4;
	size_t idlen = strcspn(rest, "/");
	char code_id[80];
	if (idlen >= sizeof code_id)
		return answer_error(c, 400, "bad_code_id", "code_id is too long", NULL, NULL, 0);
	memcpy(code_id, rest, idlen);
	code_id[idlen] = '\0';
	struct oys_err e = {0};
	if (oys_code_id_check(code_id, &e))
		return answer_error(c, 400, "bad_code_id", e.msg, NULL, NULL, 0);
	c->log = oys_json_set_str(c->log, "code_id", code_id);
	struct oys_buf target = OYS_BUF_INIT;
	oys_buf_puts(&target, rest[idlen] ? rest + idlen : "/");
	if (c->req.query) {
		oys_buf_putc(&target, '?');
		oys_buf_puts(&target, c->req.query);
	}
	struct oys_header *h = calloc(c->req.nheaders + 1, sizeof *h);
	size_t nh = 0;
	if (h == NULL || target.data == NULL) {
		free(h);
		oys_buf_free(&target);
		return answer_error(c, 500, "internal", "out of memory", NULL, NULL, 0);
	}
	for (size_t i = 0; i < c->req.nheaders; i++)
		if (strcasecmp(c->req.headers[i].name, "X-Forwarded-For") != 0)
			h[nh++] = c->req.headers[i];
	if (strcmp(c->peer_ip, "-") != 0)
		h[nh++] = (struct oys_header){"X-Forwarded-For", c->peer_ip};
	struct oys_fn_request fr = {c->req.method, target.data, h, nh, c->req.body.data, c->req.body.len};
	int rc = run_and_answer(c, code_id, &fr);
	free(h);
	oys_buf_free(&target);
	return rc;
}

static int route(struct ctx *c)
{
	const char *p = c->req.path, *m = c->req.method;
	if (strcmp(p, "/api/serverless") == 0) {
		c->ep = OYS_EP_SERVERLESS;
		return serverless(c);
	}
	if (strncmp(p, "/fn/", 4) == 0) {
		c->ep = OYS_EP_FN;
		return fn(c);
	}
	if (strcmp(p, "/healthz") == 0) {
		c->ep = OYS_EP_HEALTHZ;
		if (strcmp(m, "GET") != 0)
			return method_not_allowed(c, "GET");
		if (oys_serve_draining())
			return answer(c, 503, "text/plain", NULL, 0, "draining\n", 9);
		return answer(c, 200, "text/plain", NULL, 0, "ok\n", 3);
	}
	if (strcmp(p, "/status") == 0) {
		c->ep = OYS_EP_STATUS;
		if (strcmp(m, "GET") != 0)
			return method_not_allowed(c, "GET");
		int total, busy;
		struct oys_warm_counts w;
		pool_counts(c->o, &total, &busy, &w);
		jv s = jv_object();
		s = oys_json_set_str(s, "version", OYS_VERSION);
		s = jv_object_set(s, jv_string("draining"), jv_bool(oys_serve_draining()));
		s = oys_json_set_num(s, "running", busy);
		s = oys_json_set_num(s, "free", total >= 0 ? total - busy : 0);
		s = oys_json_set_num(s, "total", total >= 0 ? total : 0);
		if (total < 0)
			s = oys_json_set_str(s, "error", "no cgroup pool: run oys-cgroup setup");
		s = jv_object_set(s, jv_string("signing"), jv_bool(signer.state == 1));
		if (signer.state == 1 && oys_sign_key_pub(&signer.key, NULL) == 0) {
			char addr[OYS_SIGN_ADDRESS_LEN + 1], pub[2 * OYS_SIGN_PUBKEY_LEN + 1];
			oys_sign_address(signer.key.pub, addr);
			for (int i = 0; i < OYS_SIGN_PUBKEY_LEN; i++)
				snprintf(pub + 2 * i, 3, "%02x", signer.key.pub[i]);
			s = oys_json_set_str(s, "signer", addr);
			s = oys_json_set_str(s, "public_key", pub);
		}
		jv wj = jv_null();
		if (w.running) {
			wj = oys_json_set_num(jv_object(), "ready", w.ready);
			wj = oys_json_set_num(wj, "busy", w.busy);
			wj = oys_json_set_num(wj, "starting", w.starting);
		}
		s = jv_object_set(s, jv_string("warm"), wj);
		return answer_json(c, 200, s);
	}
	if (strcmp(p, "/metrics") == 0) {
		c->ep = OYS_EP_METRICS;
		if (strcmp(m, "GET") != 0)
			return method_not_allowed(c, "GET");
		struct oys_metrics *mx;
		struct oys_err e = {0};
		if (oys_metrics_open(&mx, &e)) {
			if (e.sys == ENOSPC || e.sys == EDQUOT)
				return answer_error(c, 503, "no_space", e.msg, NULL, NULL, 0);
			return answer_error(c, 500, "internal", e.msg, NULL, NULL, 0);
		}
		struct oys_metrics_gauges g = {0, 0, oys_serve_draining(), 0, 0, 0, 0};
		struct oys_warm_counts w;
		pool_counts(c->o, &g.pool_total, &g.pool_busy, &w);
		g.warm_running = w.running;
		g.warm_ready = w.ready;
		g.warm_busy = w.busy;
		g.warm_starting = w.starting;
		oys_metrics_render(mx, &g, &c->body);
		oys_metrics_close(mx);
		return answer(c, 200, "text/plain; version=0.0.4", NULL, 0, c->body.data, c->body.len);
	}
	if (strcmp(p, "/unregister") == 0 || strcmp(p, "/register") == 0) {
		c->ep = OYS_EP_ADMIN;
		if (strcmp(m, "POST") != 0)
			return method_not_allowed(c, "POST");
		if (!admin_allowed(c))
			return answer_error(c, 403, "forbidden", "admin endpoint: send the operator token (OYS_ADMIN_TOKEN)",
			                    NULL, NULL, 0);
		struct oys_err e = {0};
		int on = p[1] == 'u';
		if (oys_serve_set_draining(on, &e))
			return answer_error(c, 500, "internal", e.msg, NULL, NULL, 0);
		c->log = oys_json_set_str(c->log, "admin", on ? "drain" : "undrain");
		return answer_json(c, 200, jv_object_set(jv_object(), jv_string("draining"), jv_bool(on)));
	}
	c->ep = OYS_EP_OTHER;
	return answer_error(c, 404, "no_route", "no such endpoint (POST /api/serverless, ANY /fn/<code_id>/...)",
	                    NULL, NULL, 0);
}

static void log_line(struct ctx *c)
{
	jv l = jv_object();
	l = oys_json_set_str(l, "event", "request");
	if (c->ran)
		l = oys_json_set_str(l, "request_id", c->run.request_id);
	l = oys_json_set_str(l, "peer", c->peer);
	l = oys_json_set_str(l, "method", c->req.method[0] ? c->req.method : NULL);
	l = oys_json_set_str(l, "path", c->req.path);
	l = jv_object_merge(l, jv_copy(c->log));
	l = oys_json_set_num(l, "status", c->status);
	l = oys_json_set_str(l, "error", c->error);
	if (c->error && c->message[0])
		l = oys_json_set_str(l, "message", c->message);
	l = jv_object_set(l, jv_string("signed"), jv_bool(c->signed_answer));
	if (c->ran) {
		const struct oys_run_result *r = &c->run;
		l = oys_json_set_str(l, "stage", r->error ? r->stage : NULL);
		l = oys_run_stats_json(l, r);
		/* "ms.total" is the run's; "ms.request" counts from the request's first byte */
		jv ms = jv_object_get(jv_copy(l), jv_string("ms"));
		ms = oys_json_set_num(ms, "request", oys_now_ms() - c->t0);
		l = jv_object_set(l, jv_string("ms"), ms);
		/* the tail of the function's console: what its author needs to debug it */
		if (r->console.len) {
			size_t keep = 2048, n = r->console.len;
			const char *s = r->console.data + (n > keep ? n - keep : 0);
			l = jv_object_set(l, jv_string("console"), jv_string_sized(s, (int)(n > keep ? keep : n)));
		}
	} else {
		l = jv_object_set(l, jv_string("ms"),
		                  oys_json_set_num(jv_object(), "request", oys_now_ms() - c->t0));
	}
	oys_log_event(l);
}

/* Adds the request to the host's counters (GET /metrics). */
static void count(const struct ctx *c)
{
	struct oys_metrics *m;
	if (oys_metrics_open(&m, NULL))
		return;
	double end = c->t_answered > 0 ? c->t_answered : oys_now_ms();
	oys_metrics_request(m, c->ep, c->status, c->error, (end - c->t0) / 1000);
	if (c->ran && c->run.sandbox_wait_ms >= 0)
		oys_metrics_sandbox_wait(m, c->run.sandbox_wait_ms / 1000, c->run.sandbox_wait_got);
	if (c->ran) {
		const struct oys_run_result *r = &c->run;
		struct oys_metrics_run mr = {
			.stage_ms = {r->t.fetch, r->t.config, r->t.cgroup, r->t.start, r->t.exec, r->t.teardown},
			.started = r->t.start > 0,
			.cpu_ns = r->stat.cpu_usage_ns,
			.memory_peak = r->stat.memory_peak,
			.oom_kills = r->stat.oom_kills > 0 ? (unsigned)r->stat.oom_kills : r->oom_killed ? 1 : 0,
			.timed_out = r->timed_out,
			.warm = r->warm,
		};
		oys_metrics_run(m, &mr);
	}
	oys_metrics_close(m);
}

int oys_serve_one(const struct oys_serve_opts *o)
{
	struct ctx c;
	memset(&c, 0, sizeof c);
	c.o = o;
	c.log = jv_object();
	c.ep = OYS_EP_OTHER;
	c.t0 = oys_now_ms();
	snprintf(c.peer, sizeof c.peer, "%s", o->peer ? o->peer : "-");
	if (strncmp(c.peer, "vsock:", 6) == 0 || strcmp(c.peer, "unknown") == 0)
		snprintf(c.peer_ip, sizeof c.peer_ip, "-"); /* no IP address: no X-Forwarded-For */
	else
		peer_address(c.peer, c.peer_ip, sizeof c.peer_ip);
	struct oys_err e = {0};
	int rc;

	int st = oys_http_read_request(o->in, o->out, &o->http, &c.req, &e);
	if (st == -1) {
		/* connected and closed without a word: nothing to answer, nothing to log */
		jv_free(c.log);
		oys_http_request_free(&c.req);
		return 0;
	}
	if (c.req.t_start_ms > 0)
		c.t0 = c.req.t_start_ms;
	c.read_whole = st == 0;
	signer_load(o);
	int bad_key = signer.state == -2;
	if (bad_key) {
		/* a key is there but cannot be used: no answer leaves unsigned that should be signed */
		char msg[OYS_ERR_MAX + 32];
		snprintf(msg, sizeof msg, "cannot sign answers: %s", signer.err.msg);
		rc = answer_error(&c, 500, "signing_key", msg, NULL, NULL, 0);
	} else if (st != 0) {
		const char *code = st == 408 ? "timeout_reading" : st == 411 ? "length_required"
		                 : st == 413 ? "too_large" : "bad_request";
		rc = answer_error(&c, st, code, e.msg, NULL, NULL, 0);
	} else {
		rc = route(&c);
	}
	signer_wipe();
	rc = finish_answer(&c, rc ? OYS_EIO : 0);
	if (rc == 0 && bad_key)
		rc = OYS_ECONFIG;

	count(&c);
	log_line(&c);
	if (c.ran)
		oys_run_result_free(&c.run);
	oys_http_answer_free(&c.out);
	oys_buf_free(&c.body);
	jv_free(c.log);
	oys_http_request_free(&c.req);
	return rc;
}

/* HAProxy's agent check (see share/templates/haproxy.cfg for the whole reasoning):
 *   "up ready maxconn:T W%"  T = pool size: HAProxy never has more requests in flight on this
 *                      host than it has sandboxes (more wait in HAProxy's queue); W = 100 * T
 *                      makes the weight T when the configured weight is 1, so leastconn sends
 *                      the next request where the smallest share of the pool runs.
 *   "drain"            while draining: out of rotation at the next check, running requests
 *                      finish. (An administrative state, applied at once, where "stopped" would
 *                      wait for "fall" reports.)
 *   "down#no cgroup pool" without a pool.
 * Only the agent undoes what it set: "ready" ends its "drain" (and, HAProxy's rule, a drain or
 * maint set on HAProxy's socket: "disable agent" there first), "up" its "down". */
int oys_serve_agent_reply(const char *prefix, struct oys_buf *out)
{
	int total = 0, busy = 0;
	if (oys_serve_draining())
		return oys_buf_puts(out, "drain\n");
	if (oys_cgroup_pool_count(prefix, &total, &busy, NULL) || total <= 0)
		return oys_buf_puts(out, "down#no cgroup pool\n");
	int weight = total < 256 ? total : 256; /* HAProxy's largest weight */
	return oys_buf_printf(out, "up ready maxconn:%d %d%%\n", total, weight * 100);
}
