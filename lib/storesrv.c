/* storesrv.c: the storage server, one request per process (see storesrv.h; the client is
 * storec.c). */
#include "storesrv.h"
#include "file.h"
#include "httpd.h"
#include "json.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct ctx {
	int out;
	int status;
	char code_id[65];
	char error[OYS_ERR_MAX];
	size_t bytes;
	const char *allow; /* the Allow header of a 405 */
};

static int fail(struct ctx *x, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(struct ctx *x, int status, const char *code, const char *fmt, ...)
{
	struct oys_err e = {0};
	va_list ap;
	va_start(ap, fmt);
	oys_err_vset(&e, status, fmt, ap);
	va_end(ap);
	snprintf(x->error, sizeof x->error, "%s", e.msg);
	x->status = status;
	struct oys_header h[1];
	size_t nh = 0;
	if (status == 401)
		h[nh++] = (struct oys_header){"WWW-Authenticate", "Bearer"};
	else if (status == 405)
		h[nh++] = (struct oys_header){"Allow", x->allow ? x->allow : "POST"};
	oys_http_respond_error(x->out, status, code, e.msg, NULL, NULL, h, nh);
	return status;
}

static int upload(struct ctx *x, const struct oys_storesrv_conf *c, struct oys_http_request *r)
{
	const char *name = NULL;
	if (c->token && !oys_http_bearer_ok(oys_http_header(r, "Authorization"), c->token))
		return fail(x, 401, "unauthorized", "uploads need the operator token (Authorization: Bearer TOKEN)");
	if (r->query) {
		if (strncmp(r->query, "name=", 5) != 0 || !oys_store_name_valid(r->query + 5))
			return fail(x, 400, "bad_request", "the only query is name=NAME (1-63 of A-Z a-z 0-9 . _ -)");
		name = r->query + 5;
	}
	if (r->body.len == 0)
		return fail(x, 400, "bad_request", "empty body: send the code as the request body");
	struct oys_err e = {0};
	if (oys_store_put(c->store, r->body.data, r->body.len, x->code_id, &e))
		return fail(x, 500, "internal", "cannot store the code: %s", e.msg);
	if (name && oys_store_name_set(c->store, name, x->code_id, &e))
		return fail(x, 500, "internal", "cannot name the code: %s", e.msg);
	jv o = jv_object();
	o = oys_json_set_str(o, "code_id", x->code_id);
	o = oys_json_set_num(o, "size", (double)r->body.len);
	if (name)
		o = oys_json_set_str(o, "name", name);
	struct oys_buf b = OYS_BUF_INIT;
	oys_json_append(&b, o);
	oys_buf_putc(&b, '\n');
	x->status = 201;
	oys_http_respond(x->out, 201, "application/json", NULL, 0, b.data, b.len);
	oys_buf_free(&b);
	return 201;
}

static int load(struct ctx *x, const struct oys_storesrv_conf *c, struct oys_http_request *r)
{
	const char *att = oys_http_header(r, "Attestation");
	if (att == NULL || *att == '\0')
		return fail(x, 401, "attestation_required", "an Attestation header (base64 attestation document) is required");

	jv body;
	if (oys_json_parse(r->body.data, r->body.len, &body, NULL))
		return fail(x, 400, "bad_request", "body must be JSON: {\"key\": CODE_ID}");
	const char *key = oys_json_get_str(body, "key");
	if (key == NULL) {
		jv_free(body);
		return fail(x, 400, "bad_request", "body must be {\"key\": CODE_ID}");
	}
	if (oys_code_id_kind(key) != OYS_CODE_ID_HASH) {
		int rc = fail(x, 400, "bad_request", "key '%.80s' is not a code id (64 lowercase hex digits)", key);
		jv_free(body);
		return rc;
	}
	memcpy(x->code_id, key, 65);
	jv_free(body);

	if (c->policy == NULL || c->policy->npcrs == 0)
		return fail(x, 403, "forbidden", "attestation refused: no PCR policy is configured on this server");
	struct oys_buf doc = OYS_BUF_INIT;
	struct oys_err e = {0};
	int rc = oys_attest_decode(att, strlen(att), &doc, &e);
	if (rc == 0)
		rc = oys_attest_verify((const unsigned char *)doc.data, doc.len, c->policy, NULL, &e);
	oys_buf_free(&doc);
	if (rc)
		return fail(x, 403, "forbidden", "attestation refused: %s", e.msg[0] ? e.msg : "does not verify");

	struct oys_buf code = OYS_BUF_INIT;
	size_t max = c->max_size ? c->max_size : OYS_CODE_MAX_DEFAULT;
	rc = oys_store_get(c->store, x->code_id, max, &code, &e);
	if (rc) {
		oys_buf_free(&code);
		if (rc == OYS_ENOINPUT)
			return fail(x, 404, "not_found", "code %s not found", x->code_id);
		return fail(x, 500, "internal", "code %s cannot be read", x->code_id);
	}
	struct oys_header h[] = {{"X-Oyster-Code-Id", x->code_id}};
	x->status = 200;
	x->bytes = code.len;
	oys_http_respond(x->out, 200, "application/octet-stream", h, 1, code.data, code.len);
	oys_buf_free(&code);
	return 200;
}

static const char *err_code(int status)
{
	switch (status) {
	case 408: return "timeout";
	case 411: return "length_required";
	case 413: return "too_large";
	case 414: case 431: return "too_large";
	case 501: return "not_implemented";
	default: return "bad_request";
	}
}

/* After refusing a request whose body was not read (413, 408...): what the client still sends
 * is read for a moment, so that closing does not reset the connection before the client has
 * read the answer. Bounded in time and bytes. */
static void drain(int in, int out)
{
	char buf[16384];
	size_t total = 0;
	double end = oys_now_ms() + 1000;
	shutdown(out, SHUT_WR); /* fails harmlessly on a pipe */
	while (total < (64u << 20)) {
		double left = end - oys_now_ms();
		struct pollfd p = {in, POLLIN, 0};
		if (left <= 0 || poll(&p, 1, (int)left + 1) <= 0)
			break;
		ssize_t n = read(in, buf, sizeof buf);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

int oys_storesrv_handle(int in, int out, const struct oys_storesrv_conf *c)
{
	struct oys_http_limits lim = OYS_HTTP_LIMITS_DEFAULT;
	struct oys_http_request r;
	struct oys_err e = {0};
	struct ctx x = {out, 0, "", "", 0, NULL};
	lim.max_head = 65536; /* an attestation document in base64 is about 6 KB */
	lim.max_body = c->max_size ? c->max_size : OYS_CODE_MAX_DEFAULT;
	if (c->timeout_ms > 0)
		lim.body_timeout_ms = c->timeout_ms;
	double t0 = oys_now_ms();

	int rc = oys_http_read_request(in, out, &lim, &r, &e);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		fail(&x, rc, err_code(rc), "%s", e.msg);
		drain(in, out);
	} else if (strcmp(r.path, "/healthz") == 0) {
		if (strcmp(r.method, "GET") != 0) {
			x.allow = "GET";
			fail(&x, 405, "method_not_allowed", "%s /healthz: use GET", r.method);
		} else {
			x.status = 200;
			oys_http_respond(out, 200, "text/plain", NULL, 0, "ok\n", 3);
		}
	} else if (strcmp(r.path, "/code") == 0 || strcmp(r.path, "/load") == 0) {
		if (strcmp(r.method, "POST") != 0)
			fail(&x, 405, "method_not_allowed", "%s %s: use POST", r.method, r.path);
		else if (strcmp(r.path, "/code") == 0)
			upload(&x, c, &r);
		else
			load(&x, c, &r);
	} else {
		fail(&x, 404, "not_found", "no such endpoint %.200s (POST /code, POST /load, GET /healthz)", r.path);
	}

	jv ev = oys_json_set_str(jv_object(), "event", "request");
	ev = oys_json_set_str(ev, "peer", c->peer ? c->peer : "-");
	if (rc == 0) {
		ev = oys_json_set_str(ev, "method", r.method);
		ev = oys_json_set_str(ev, "path", r.path);
	}
	ev = oys_json_set_num(ev, "status", x.status);
	if (x.code_id[0])
		ev = oys_json_set_str(ev, "code_id", x.code_id);
	if (x.bytes)
		ev = oys_json_set_num(ev, "bytes", (double)x.bytes);
	if (x.error[0])
		ev = oys_json_set_str(ev, "error", x.error);
	ev = oys_json_set_num(ev, "ms", (double)(long long)((oys_now_ms() - t0) * 10) / 10);
	oys_log_event(ev);
	oys_http_request_free(&r);
	return x.status;
}
