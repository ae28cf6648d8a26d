#include "conf.h"
#include "attest.h"
#include "cgroup.h"
#include "fetch.h"
#include "file.h"
#include "log.h"
#include "opt.h"
#include "paths.h"
#include "run.h"
#include "sandbox.h"
#include "serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *oys_conf(const char *flag, const char *env, const char *def)
{
	if (flag)
		return flag;
	const char *v = env ? getenv(env) : NULL;
	if (v && *v)
		return v;
	return def;
}

void oys_conf_process(void)
{
	oys_runtime_dir_set(oys_conf(NULL, "OYS_RUNTIME_DIR", NULL));
	oys_share_dir_set(oys_conf(NULL, "OYS_SHARE_DIR", NULL));
	const char *lf = oys_conf(NULL, "OYS_LOG_FORMAT", NULL);
	enum oys_log_format f;
	if (lf && oys_log_parse_format(lf, &f) == 0)
		oys_log_set_format(f);
}

const char *oys_conf_prefix(const char *flag)
{
	return oys_conf(flag, "OYS_CGROUP_PREFIX", OYS_CGROUP_DEFAULT_PREFIX);
}

static int is_exec(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* An executable called name on $PATH; 0 and its path, or -1. */
static int which(const char *name, char *out, size_t outsz)
{
	const char *path = oys_conf(NULL, "PATH", "/usr/local/bin:/usr/bin:/bin");
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && (size_t)snprintf(out, outsz, "%.*s/%s", (int)n, path, name) < outsz && is_exec(out))
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -1;
}

int oys_conf_workerd(const char *flag, char *out, size_t outsz, struct oys_err *e)
{
	const char *set = oys_conf(flag, "OYS_WORKERD", NULL);
	if (set) {
		if (!is_exec(set))
			return oys_err_set(e, OYS_ECONFIG, "%s %s is not an executable file",
			                   flag ? "--workerd" : "OYS_WORKERD", set);
		if ((size_t)snprintf(out, outsz, "%s", set) >= outsz)
			return oys_err_set(e, OYS_ECONFIG, "workerd path too long");
		return 0;
	}
	if (oys_workerd_beside(out, outsz) == 0 || which("workerd", out, outsz) == 0)
		return 0;
	return oys_err_set(e, OYS_ECONFIG,
	                   "workerd not found: run 'make deps' in the oys source tree to install the pinned "
	                   "copy, or set OYS_WORKERD to a workerd binary");
}

const char *oys_conf_signing_key(const char *flag, char *out, size_t outsz)
{
	const char *p = oys_conf(flag, "OYS_SIGNING_KEY", NULL);
	int n = p ? snprintf(out, outsz, "%s", p) : snprintf(out, outsz, "%s/signing.key", oys_runtime_dir());
	return n < 0 || (size_t)n >= outsz ? NULL : out;
}

/* A value of the environment that may be shown in a log or an error. */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static int digits(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n > 0 && n <= 10 && s[n] == '\0';
}

/* One peer as oys_conf_peer() gives it. socat writes an IPv6 peer in brackets and in full
 * ("[0000:...:0001]") and a VSOCK peer as its CID in decimal (xio-vsock.c), SOCAT_PEERPORT
 * as the port in decimal; UCSPI servers write addresses bare. */
static void peer_of(const char *ip, const char *port, int socat, char *out, size_t outsz)
{
	char a[64], canon[INET6_ADDRSTRLEN];
	size_t n = ip ? strlen(ip) : 0;
	unsigned char bin[sizeof(struct in6_addr)];
	if (n >= 2 && ip[0] == '[' && ip[n - 1] == ']')
		snprintf(a, sizeof a, "%.*s", (int)(n - 2), ip + 1);
	else
		snprintf(a, sizeof a, "%s", ip ? ip : "");
	const char *p = port && digits(port) ? port : NULL;
	if (n == 0 || n >= sizeof a) {
		snprintf(out, outsz, "unknown");
	} else if (inet_pton(AF_INET, a, bin) == 1 && inet_ntop(AF_INET, bin, canon, sizeof canon)) {
		snprintf(out, outsz, p ? "%s:%s" : "%s", canon, p);
	} else if (inet_pton(AF_INET6, a, bin) == 1 && inet_ntop(AF_INET6, bin, canon, sizeof canon)) {
		snprintf(out, outsz, p ? "[%s]:%s" : "[%s]", canon, p);
	} else if (socat && digits(a)) {
		snprintf(out, outsz, p ? "vsock:%s:%s" : "vsock:%s", a, p); /* a CID, never an IP */
	} else {
		snprintf(out, outsz, "unknown"); /* a UNIX socket's path, or nothing we know */
	}
}

void oys_conf_peer(char *out, size_t outsz)
{
	const char *proto = getenv("PROTO");
	char k1[64], k2[64];
	const char *ip = NULL, *port = NULL;
	int socat = 0;
	if (proto && *proto && strlen(proto) < 16) {
		snprintf(k1, sizeof k1, "%sREMOTEIP", proto);
		snprintf(k2, sizeof k2, "%sREMOTEPORT", proto);
		ip = getenv(k1);
		port = getenv(k2);
	}
	if (ip == NULL) {
		ip = getenv("SOCAT_PEERADDR");
		port = getenv("SOCAT_PEERPORT");
		socat = 1;
	}
	if (ip == NULL)
		snprintf(out, outsz, "-");
	else if (printable(ip) && (port == NULL || printable(port)))
		peer_of(ip, port, socat, out, outsz);
	else
		snprintf(out, outsz, "unknown");
}

void oys_conf_fetch(struct oys_fetch_opts *o)
{
	o->store = oys_conf(o->store, "OYS_STORE", OYS_DEFAULT_STORE);
	o->attestation_url = oys_conf(o->attestation_url, "OYS_ATTESTATION_URL", OYS_ATTEST_DEFAULT_URL);
	o->rpc_url = oys_conf(o->rpc_url, "OYS_RPC_URL", NULL);
	o->contract = oys_conf(o->contract, "OYS_CODE_CONTRACT", NULL);
}

/* ---- values: "where" names the flag or the variable in errors ---- */

struct val {
	const char *s;     /* the text, NULL: not set anywhere */
	const char *where; /* "--timeout" or "OYS_TIMEOUT" */
	int code;          /* the error code for a bad value: usage (flag) or configuration */
};

static struct val val_of(const char *flag, const char *flag_name, const char *env)
{
	struct val v = {flag, flag_name, OYS_EUSAGE};
	if (flag == NULL) {
		v.s = oys_conf(NULL, env, NULL);
		v.where = env;
		v.code = OYS_ECONFIG;
	}
	return v;
}

/* Seconds in (0, max] as milliseconds; unset: def_ms. */
static int seconds(struct val v, double max, int def_ms, int *ms, struct oys_err *e)
{
	if (v.s == NULL) {
		*ms = def_ms;
		return 0;
	}
	char *end;
	errno = 0;
	double d = strtod(v.s, &end);
	if (errno || end == v.s || *end || !(d > 0) || d > max)
		return oys_err_set(e, v.code, "%s: '%.40s' is not a number of seconds (up to %.0f)", v.where, v.s, max);
	*ms = (int)(d * 1000 + 0.5) > 0 ? (int)(d * 1000 + 0.5) : 1;
	return 0;
}

static int size(struct val v, unsigned long long def, unsigned long long *out, struct oys_err *e)
{
	if (v.s == NULL) {
		*out = def;
		return 0;
	}
	if (oys_parse_size(v.s, out) < 0 || *out == 0)
		return oys_err_set(e, v.code, "%s: '%.40s' is not a size (like 65536, 512K, 128M, 1G)", v.where, v.s);
	return 0;
}

static int cores(struct val v, double *out, struct oys_err *e)
{
	if (v.s == NULL)
		return 0;
	char *end;
	errno = 0;
	double d = strtod(v.s, &end);
	if (errno || end == v.s || *end || !(d >= 0.01) || d > 1024)
		return oys_err_set(e, v.code, "%s: '%.40s' is not a number of cores (0.01 to 1024)", v.where, v.s);
	*out = d;
	return 0;
}

/* A whole number in [min, max]; unset: def. */
static int whole(struct val v, long min, long max, long def, long *out, struct oys_err *e)
{
	if (v.s == NULL) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	long n = strtol(v.s, &end, 10);
	if (errno || end == v.s || *end || n < min || n > max)
		return oys_err_set(e, v.code, "%s: '%.40s' is not a whole number from %ld to %ld", v.where, v.s, min, max);
	*out = n;
	return 0;
}

/* The first uid of the sandbox's range: a number, or "root" (workerd keeps oys's own uid, for
 * development only); 0 would make slot 0 root and is refused. */
static int sandbox_uid(struct val v, long long *out, struct oys_err *e)
{
	*out = OYS_SANDBOX_DEFAULT_UID;
	if (v.s == NULL)
		return 0;
	if (strcmp(v.s, "root") == 0) {
		*out = OYS_SANDBOX_ROOT;
		return 0;
	}
	char *end;
	errno = 0;
	long long n = strtoll(v.s, &end, 10);
	if (errno || end == v.s || *end || v.s[0] == '-' || v.s[0] == '+' || n > OYS_SANDBOX_UID_MAX)
		return oys_err_set(e, v.code, "%s: '%.40s' is not a uid (1 to %lld, or root)", v.where, v.s,
		                   OYS_SANDBOX_UID_MAX);
	if (n == 0)
		return oys_err_set(e, v.code, "%s: 0 would run workerd as root; say 'root' for that (development only)",
		                   v.where);
	*out = n;
	return 0;
}

int oys_conf_run(const struct oys_run_flags *f, struct oys_run_opts *o, struct oys_err *e)
{
	static char workerd[PATH_MAX];
	struct oys_fetch_opts fo = {0};
	fo.store = f->store;
	fo.attestation_url = f->attestation_url;
	fo.rpc_url = f->rpc_url;
	fo.contract = f->contract;
	oys_conf_fetch(&fo);
	o->store = fo.store;
	o->attestation_url = fo.attestation_url;
	o->rpc_url = fo.rpc_url;
	o->contract = fo.contract;
	o->outbound = oys_conf(f->outbound, "OYS_OUTBOUND", "none");
	o->compat_date = oys_conf(f->compat_date, "OYS_COMPAT_DATE", OYS_DEFAULT_COMPAT_DATE);
	o->cgroup_prefix = oys_conf_prefix(f->prefix);

	int rc;
	unsigned long long max_response = 0, memory = 0;
	if ((rc = seconds(val_of(f->timeout, "--timeout", "OYS_TIMEOUT"), 86400, OYS_DEFAULT_TIMEOUT_S * 1000,
	                  &o->timeout_ms, e)) ||
	    (rc = seconds(val_of(f->start_timeout, "--start-timeout", "OYS_START_TIMEOUT"), 3600,
	                  OYS_DEFAULT_START_TIMEOUT_S * 1000, &o->start_timeout_ms, e)) ||
	    (rc = seconds(val_of(f->fetch_timeout, "--fetch-timeout", "OYS_FETCH_TIMEOUT"), 3600,
	                  OYS_DEFAULT_FETCH_TIMEOUT_S * 1000, &o->fetch_timeout_ms, e)) ||
	    (rc = size(val_of(f->max_response, "--max-response", "OYS_MAX_RESPONSE"), OYS_DEFAULT_MAX_RESPONSE,
	               &max_response, e)) ||
	    (rc = size(val_of(f->memory, "--memory", "OYS_MEMORY"), 0, &memory, e)) ||
	    (rc = cores(val_of(f->cpu, "--cpu", "OYS_CPU"), &o->limits.cpu, e)) ||
	    (rc = sandbox_uid(val_of(f->sandbox_uid, "--sandbox-uid", "OYS_SANDBOX_UID"), &o->sandbox_uid, e)))
		return rc;
	struct val k = val_of(f->confirmations, "--confirmations", "OYS_CHAIN_CONFIRMATIONS");
	if (k.s) {
		char *end;
		errno = 0;
		unsigned long n = strtoul(k.s, &end, 10);
		if (errno || end == k.s || *end || *k.s == '-' || n < 1 || n > 1000000)
			return oys_err_set(e, k.code, "%s: '%.40s' is not a number of blocks (1 to 1000000)", k.where, k.s);
		o->confirmations = (unsigned)n;
	}
	o->max_response = (size_t)max_response;
	o->limits.memory = memory;
	/* what a function may ask for */
	unsigned long long max_memory = 0;
	o->max.timeout_ms = 0;
	if ((rc = size(val_of(f->max_memory, "--max-memory", "OYS_MAX_MEMORY"), 0, &max_memory, e)) ||
	    (rc = cores(val_of(f->max_cpu, "--max-cpu", "OYS_MAX_CPU"), &o->max.cpu, e)) ||
	    (rc = seconds(val_of(f->max_timeout, "--max-timeout", "OYS_MAX_TIMEOUT"), 86400, o->timeout_ms,
	                  &o->max.timeout_ms, e)))
		return rc;
	o->max.memory = max_memory;
	o->max.outbound = oys_conf(f->outbound_allowed, "OYS_OUTBOUND_ALLOWED", o->outbound);
	if ((rc = oys_conf_workerd(f->workerd, workerd, sizeof workerd, e)))
		return rc;
	o->workerd = workerd;
	return 0;
}

int oys_conf_serve(const struct oys_serve_flags *f, struct oys_serve_opts *o, struct oys_err *e)
{
	static char peer[128], key[PATH_MAX];
	int rc = oys_conf_run(&f->run, &o->run, e);
	if (rc)
		return rc;
	const struct oys_http_limits def = OYS_HTTP_LIMITS_DEFAULT;
	unsigned long long max_body;
	int read_ms, grace_ms;
	long maxconn = 0;
	o->http = def;
	if ((rc = size(val_of(f->max_body, "--max-body", "OYS_MAX_BODY"), def.max_body, &max_body, e)) ||
	    (rc = seconds(val_of(f->read_timeout, "--read-timeout", "OYS_READ_TIMEOUT"), 3600, def.head_timeout_ms,
	                  &read_ms, e)) ||
	    (rc = seconds(val_of(f->write_timeout, "--write-timeout", "OYS_WRITE_TIMEOUT"), 3600,
	                  OYS_DEFAULT_WRITE_TIMEOUT_S * 1000, &o->write_timeout_ms, e)) ||
	    (rc = whole(val_of(f->max_connections, "--max-connections", "OYS_MAX_CONNECTIONS"), 1, 65536,
	                OYS_DEFAULT_MAX_CONNECTIONS, &maxconn, e)))
		return rc;
	o->max_connections = (int)maxconn;
	struct val t = val_of(f->trust_no_peer, "--trust-no-peer", "OYS_TRUST_NO_PEER");
	if (t.s && strcmp(t.s, "0") != 0 && strcmp(t.s, "1") != 0)
		return oys_err_set(e, t.code, "%s: '%.40s' is not 0 or 1", t.where, t.s);
	o->trust_no_peer = t.s && strcmp(t.s, "1") == 0;
	if ((o->signing_key = oys_conf_signing_key(f->signing_key, key, sizeof key)) == NULL)
		return oys_err_set(e, f->signing_key ? OYS_EUSAGE : OYS_ECONFIG, "signing key: path too long");
	/* a grace of 0 is a value here: no grace */
	struct val g = val_of(f->drain_grace, "--drain-grace", "OYS_DRAIN_GRACE");
	if (g.s && strspn(g.s, "0.") == strlen(g.s) && strchr(g.s, '0'))
		grace_ms = 0;
	else if ((rc = seconds(g, 3600, 0, &grace_ms, e)))
		return rc;
	o->http.max_body = (size_t)max_body;
	o->http.head_timeout_ms = o->http.body_timeout_ms = read_ms;
	o->drain_grace_ms = grace_ms;
	o->admin_token = oys_conf(NULL, "OYS_ADMIN_TOKEN", NULL);
	oys_conf_peer(peer, sizeof peer);
	o->peer = peer;
	return 0;
}
