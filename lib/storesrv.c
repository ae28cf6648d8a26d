/* storesrv.c: the storage server, one request per process (see storesrv.h; the client is
 * storec.c). */
#include "storesrv.h"
#include "codec.h"
#include "seal.h"
#include "file.h"
#include "httpd.h"
#include "json.h"

#include <errno.h>
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

/* Under the store's writer lock: the name check, the quota and the write are one step, so
 * concurrent uploads can neither both take the last bytes nor both claim a new name. */
static int upload_locked(struct ctx *x, const struct oys_storesrv_conf *c, struct oys_http_request *r,
                         const char *name)
{
	struct oys_err e = {0};
	char sum[65], had[65];
	if (oys_sha256_hex(r->body.data, r->body.len, sum) < 0)
		return fail(x, 500, "internal", "SHA-256 failed");
	if (name && c->token == NULL && oys_store_name_get(c->store, name, had, NULL) == 0 &&
	    strcmp(had, sum) != 0)
		return fail(x, 409, "name_taken",
		            "name %s already points to %s; this server takes uploads without a token, "
		            "so it re-points no name (the operator does, with a token)", name, had);
	if (c->quota && !oys_store_has(c->store, sum)) {
		unsigned long long used;
		if (oys_store_usage(c->store, &used, &e))
			return fail(x, 500, "internal", "cannot measure the store: %s", e.msg);
		if (used + r->body.len > c->quota)
			return fail(x, 507, "store_full",
			            "the store is full: %llu of its %llu bytes are used, the upload needs %zu",
			            used, c->quota, r->body.len);
	}
	if (oys_store_put(c->store, r->body.data, r->body.len, x->code_id, &e))
		return e.sys == ENOSPC || e.sys == EDQUOT
		           ? fail(x, 507, "store_full", "the store's filesystem is full: %s", e.msg)
		           : fail(x, 500, "internal", "cannot store the code: %s", e.msg);
	if (name && oys_store_name_set(c->store, name, x->code_id, &e))
		return fail(x, 500, "internal", "cannot name the code: %s", e.msg);
	return 0;
}

/* 201 with the JSON object o (freed) and a newline. */
static int created(struct ctx *x, jv o)
{
	struct oys_buf b = OYS_BUF_INIT;
	oys_json_append(&b, o);
	oys_buf_putc(&b, '\n');
	x->status = 201;
	oys_http_respond(x->out, 201, "application/json", NULL, 0, b.data, b.len);
	oys_buf_free(&b);
	return 201;
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
	int lock;
	if (oys_store_lock(c->store, &lock, &e))
		return fail(x, 500, "internal", "%s", e.msg);
	int rc = upload_locked(x, c, r, name);
	close(lock);
	if (rc)
		return rc;
	jv o = jv_object();
	o = oys_json_set_str(o, "code_id", x->code_id);
	o = oys_json_set_num(o, "size", (double)r->body.len);
	if (name)
		o = oys_json_set_str(o, "name", name);
	return created(x, o);
}

static long ttl_of(const struct oys_storesrv_conf *c)
{
	return c->challenge_ttl_s > 0 ? c->challenge_ttl_s : OYS_CHALLENGE_TTL_DEFAULT;
}

/* How long a mark of a used nonce is kept, so that a replay is named as one: as long as a
 * document carrying it may be accepted at all. */
static long keep_of(const struct oys_storesrv_conf *c)
{
	long long age = c->policy && c->policy->max_age_s > 0 ? c->policy->max_age_s : 300;
	return ttl_of(c) + (long)(age < 86400 ? age : 86400);
}

static int challenge(struct ctx *x, const struct oys_storesrv_conf *c)
{
	char hex[2 * OYS_NONCE_LEN + 1];
	struct oys_err e = {0};
	int rc = oys_store_nonce_issue(c->store, ttl_of(c), keep_of(c), OYS_CHALLENGES_MAX, hex, &e);
	if (rc == OYS_EUNAVAIL) {
		char after[24];
		snprintf(after, sizeof after, "%ld", ttl_of(c));
		x->status = 503;
		snprintf(x->error, sizeof x->error, "%s", e.msg);
		struct oys_header h[] = {{"Retry-After", after}};
		oys_http_respond_error(x->out, 503, "busy", e.msg, NULL, NULL, h, 1);
		return 503;
	}
	if (rc)
		return fail(x, 500, "internal", "cannot issue a challenge: %s", e.msg);
	jv o = oys_json_set_str(jv_object(), "nonce", hex);
	o = oys_json_set_num(o, "expires_in", (double)ttl_of(c));
	return created(x, o);
}

/* The bytes of a hex field of the verified payload ("nonce", "public_key"); -1 when null. */
static int payload_bytes(jv payload, const char *key, struct oys_buf *out)
{
	const char *h = oys_json_get_str(payload, key);
	return h ? oys_hex_decode(out, h, strlen(h)) : -1;
}

/* After the document verified: its nonce (used up here) and its public key. 0, or the status
 * answered. */
static int check_challenge(struct ctx *x, const struct oys_storesrv_conf *c, jv payload,
                           unsigned char nonce[OYS_NONCE_LEN], unsigned char pub[OYS_SEAL_KEY_LEN])
{
	struct oys_buf n = OYS_BUF_INIT, k = OYS_BUF_INIT;
	struct oys_err e = {0};
	int rc = 0;
	if (payload_bytes(payload, "nonce", &n) < 0)
		rc = fail(x, 403, "forbidden", "attestation refused: the document carries no nonce (ask POST /challenge for one)");
	else if (n.len != OYS_NONCE_LEN)
		rc = fail(x, 403, "forbidden", "attestation refused: nonce was not issued by this server (not %d bytes)",
		          OYS_NONCE_LEN);
	else if (payload_bytes(payload, "public_key", &k) < 0)
		rc = fail(x, 403, "forbidden", "attestation refused: the document carries no public_key to seal the code to");
	else if (k.len != OYS_SEAL_KEY_LEN)
		rc = fail(x, 403, "forbidden", "attestation refused: public_key is %zu bytes, not a %d-byte X25519 key", k.len,
		          OYS_SEAL_KEY_LEN);
	else if (oys_store_nonce_use(c->store, (const unsigned char *)n.data, ttl_of(c), &e))
		rc = fail(x, e.code == OYS_ENOPERM ? 403 : 500, e.code == OYS_ENOPERM ? "forbidden" : "internal",
		          "attestation refused: %s", e.msg);
	if (rc == 0) {
		memcpy(nonce, n.data, OYS_NONCE_LEN);
		memcpy(pub, k.data, OYS_SEAL_KEY_LEN);
	}
	oys_buf_free(&n);
	oys_buf_free(&k);
	return rc;
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
	jv payload = jv_invalid();
	int rc = oys_attest_decode(att, strlen(att), &doc, &e);
	if (rc == 0)
		rc = oys_attest_verify((const unsigned char *)doc.data, doc.len, c->policy, &payload, &e);
	oys_buf_free(&doc);
	if (rc)
		return fail(x, 403, "forbidden", "attestation refused: %s", e.msg[0] ? e.msg : "does not verify");
	unsigned char nonce[OYS_NONCE_LEN], pub[OYS_SEAL_KEY_LEN], id[32];
	rc = check_challenge(x, c, payload, nonce, pub);
	jv_free(payload);
	if (rc)
		return rc;

	struct oys_buf code = OYS_BUF_INIT, sealed = OYS_BUF_INIT, raw = OYS_BUF_INIT;
	size_t max = c->max_size ? c->max_size : OYS_CODE_MAX_DEFAULT;
	rc = oys_store_get(c->store, x->code_id, max, &code, &e);
	if (rc) {
		oys_buf_free(&code);
		if (rc == OYS_ENOINPUT)
			return fail(x, 404, "not_found", "code %s not found", x->code_id);
		return fail(x, 500, "internal", "code %s cannot be read", x->code_id);
	}
	oys_hex_decode(&raw, x->code_id, 64);
	memcpy(id, raw.data, 32);
	oys_buf_free(&raw);
	rc = oys_seal(pub, id, nonce, code.data, code.len, &sealed, &e);
	x->bytes = code.len;
	oys_buf_free(&code);
	if (rc) {
		oys_buf_free(&sealed);
		return fail(x, rc == OYS_EDATA ? 403 : 500, rc == OYS_EDATA ? "forbidden" : "internal",
		            "%s%s", rc == OYS_EDATA ? "attestation refused: public_key: " : "", e.msg);
	}
	struct oys_header h[] = {{"X-Oyster-Code-Id", x->code_id}, {"X-Oyster-Sealed", "1"}};
	x->status = 200;
	oys_http_respond(x->out, 200, OYS_SEALED_TYPE, h, 2, sealed.data, sealed.len);
	oys_buf_free(&sealed);
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
	} else if (strcmp(r.path, "/code") == 0 || strcmp(r.path, "/load") == 0 || strcmp(r.path, "/challenge") == 0) {
		if (strcmp(r.method, "POST") != 0)
			fail(&x, 405, "method_not_allowed", "%s %s: use POST", r.method, r.path);
		else if (strcmp(r.path, "/code") == 0)
			upload(&x, c, &r);
		else if (strcmp(r.path, "/challenge") == 0)
			challenge(&x, c);
		else
			load(&x, c, &r);
	} else {
		fail(&x, 404, "not_found", "no such endpoint %.200s (POST /code, POST /challenge, POST /load, GET /healthz)",
		     r.path);
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
