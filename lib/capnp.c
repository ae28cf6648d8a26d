#include "capnp.h"
#include "file.h"
#include "paths.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- code kind ---- */

static int ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '$';
}

/* Whether `word` starts at p[i] as a whole token. */
static int token_at(const char *p, size_t i, size_t n, const char *word)
{
	size_t w = strlen(word);
	if (i + w > n || memcmp(p + i, word, w) != 0)
		return 0;
	if (i > 0 && (ident_char(p[i - 1]) || p[i - 1] == '.'))
		return 0;
	return i + w == n || !ident_char(p[i + w]);
}

enum oys_code_kind oys_code_detect(const char *p, size_t n)
{
	if (n >= 4 && memcmp(p, "\0asm", 4) == 0)
		return OYS_CODE_WASM;
	int listener = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (c == '/' && i + 1 < n && p[i + 1] == '/') {
			while (i < n && p[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < n && p[i + 1] == '*') {
			for (i += 2; i + 1 < n && !(p[i] == '*' && p[i + 1] == '/'); i++)
				;
			i++;
		} else if (c == '"' || c == '\'' || c == '`') {
			for (i++; i < n && p[i] != c; i++)
				if (p[i] == '\\')
					i++;
		} else if (token_at(p, i, n, "export")) {
			return OYS_CODE_ESM;
		} else if (token_at(p, i, n, "import")) {
			size_t j = i + 6;
			while (j < n && (p[j] == ' ' || p[j] == '\t'))
				j++;
			if (j < n && p[j] != '(' && p[j] != '.')
				return OYS_CODE_ESM;
		} else if (token_at(p, i, n, "addEventListener")) {
			listener = 1;
		}
	}
	return listener ? OYS_CODE_SW : OYS_CODE_ESM;
}

int oys_code_kind_parse(const char *s, enum oys_code_kind *out)
{
	if (strcmp(s, "module") == 0 || strcmp(s, "esm") == 0)
		*out = OYS_CODE_ESM;
	else if (strcmp(s, "service-worker") == 0 || strcmp(s, "sw") == 0)
		*out = OYS_CODE_SW;
	else if (strcmp(s, "wasm") == 0)
		*out = OYS_CODE_WASM;
	else if (strcmp(s, "auto") == 0)
		*out = OYS_CODE_AUTO;
	else
		return -1;
	return 0;
}

/* ---- values ---- */

int oys_capnp_string(struct oys_buf *b, const char *s)
{
	if (oys_buf_putc(b, '"') < 0)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int r;
		if (c == '"' || c == '\\')
			r = oys_buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			r = oys_buf_printf(b, "\\x%02x", c);
		else
			r = oys_buf_putc(b, (char)c);
		if (r < 0)
			return -1;
	}
	return oys_buf_putc(b, '"');
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int valid_date(const char *s)
{
	int y, m, d;
	char tail;
	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
		return 0;
	for (int i = 0; i < 10; i++)
		if ((i == 4 || i == 7) ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return 0;
	return y >= 2000 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

static int valid_cidr(const char *s)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof addr)
		return 0;
	memcpy(addr, s, n);
	addr[n] = '\0';
	unsigned char raw[16];
	int max;
	if (inet_pton(AF_INET, addr, raw) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, raw) == 1)
		max = 128;
	else
		return 0;
	if (slash == NULL)
		return 1;
	const char *p = slash + 1;
	if (*p == '\0' || strlen(p) > 3)
		return 0;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return 0;
	return atoi(p) <= max;
}

int oys_capnp_flag_check(const char *flag, struct oys_err *e)
{
	if (!valid_name(flag, 64))
		return oys_err_set(e, OYS_EUSAGE, "compatibility flag '%s' is not a flag name", flag);
	if (strcmp(flag, "experimental") == 0 || strncmp(flag, "unsafe", 6) == 0)
		return oys_err_set(e, OYS_EUSAGE,
		                   "compatibility flag '%s' is not allowed: functions get no experimental or unsafe features",
		                   flag);
	return 0;
}

const char *oys_capnp_compat_date(const char *given)
{
	const char *date = given;
	if (date == NULL)
		date = getenv("OYS_COMPAT_DATE");
	if (date == NULL || *date == '\0')
		date = OYS_DEFAULT_COMPAT_DATE;
	return date;
}

int oys_capnp_date_check(const char *date, struct oys_err *e)
{
	return valid_date(date) ? 0 : oys_err_set(e, OYS_EUSAGE, "compatibility date '%s' is not YYYY-MM-DD", date);
}

/* Addresses a function never reaches, whatever the operator allows: loopback in every
 * spelling, "this host" 0.0.0.0/8, link-local (cloud metadata at 169.254.169.254). */
static const char *const always_denied[] = {
	"local", "0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::1/128", "fe80::/10",
};

/* Checks an outbound policy ("none", "public", "CIDR,CIDR,..."). */
static int oys_outbound_check(const char *spec, struct oys_err *e)
{
	if (spec == NULL || strcmp(spec, "none") == 0 || strcmp(spec, "public") == 0)
		return 0;
	const char *p = spec;
	if (*p == '\0')
		return oys_err_set(e, OYS_EUSAGE, "outbound policy is empty (use none, public or CIDRs)");
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[64];
		if (n == 0 || n >= sizeof item)
			return oys_err_set(e, OYS_EUSAGE, "outbound policy '%s': empty or overlong entry", spec);
		memcpy(item, p, n);
		item[n] = '\0';
		if (strcmp(item, "public") != 0 && strcmp(item, "private") != 0 && !valid_cidr(item))
			return oys_err_set(e, OYS_EUSAGE,
			                   "outbound policy: '%s' is not a CIDR (like 10.0.0.0/8), public or private",
			                   item);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int render_network(struct oys_buf *b, const char *spec)
{
	if (spec == NULL || strcmp(spec, "none") == 0)
		return oys_buf_puts(b, "(allow = [])");
	oys_buf_puts(b, "(allow = [");
	if (strcmp(spec, "public") == 0) {
		oys_buf_puts(b, "\"public\"");
	} else {
		const char *p = spec;
		int first = 1;
		while (*p) {
			size_t n = strcspn(p, ",");
			oys_buf_printf(b, "%s\"%.*s\"", first ? "" : ", ", (int)n, p);
			first = 0;
			p += n;
			if (*p == ',')
				p++;
		}
	}
	oys_buf_puts(b, "], deny = [");
	for (size_t i = 0; i < sizeof always_denied / sizeof *always_denied; i++)
		oys_buf_printf(b, "%s\"%s\"", i ? ", " : "", always_denied[i]);
	return oys_buf_puts(b, "], tlsOptions = (trustBrowserCas = true))");
}

/* ---- paths ---- */

int oys_relpath(const char *from, const char *to, char *out, size_t outsz)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (realpath(from, a) == NULL || realpath(to, b) == NULL)
		return -1;
	/* Strip the longest common run of whole components; then one "../" per component left
	 * in a, followed by what is left of b. */
	size_t i = 0, common = 0;
	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			common = i + 1;
		i++;
	}
	const char *rest = a + common, *tail = b + common;
	if (a[i] == '\0' && b[i] == '/') { /* b is below a */
		rest = "";
		tail = b + i + 1;
	}
	struct oys_buf r = OYS_BUF_INIT;
	if (*rest) {
		oys_buf_puts(&r, "../");
		for (; *rest; rest++)
			if (*rest == '/')
				oys_buf_puts(&r, "../");
	}
	oys_buf_puts(&r, tail);
	int ok = r.data && r.len < outsz;
	if (ok)
		memcpy(out, r.data, r.len + 1);
	oys_buf_free(&r);
	return ok ? 0 : -1;
}

static int embed_path(struct oys_buf *b, const char *config_dir, const char *file, const char *what,
                      struct oys_err *e)
{
	if (has_control(file))
		return oys_err_set(e, OYS_EUSAGE, "%s file name contains a control character", what);
	if (access(file, R_OK) < 0)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "%s %s", what, file);
	char rel[PATH_MAX];
	if (oys_relpath(config_dir ? config_dir : ".", file, rel, sizeof rel) < 0)
		return oys_err_sys(e, OYS_EUSAGE, "cannot place %s %s relative to %s", what, file,
		                   config_dir ? config_dir : "the current directory");
	/* workerd searches its import path for absolute embeds; keep them relative. */
	if (rel[0] == '/')
		return oys_err_set(e, OYS_EUSAGE, "%s %s: cannot make a relative path", what, file);
	return oys_capnp_string(b, rel) < 0 ? oys_err_sys(e, OYS_EOSERR, "out of memory") : 0;
}

/* ---- templates ---- */

static int substitute(const char *tpl, const char *tplname, const char *const keys[],
                      struct oys_buf *const vals[], size_t nkeys, struct oys_buf *out,
                      struct oys_err *e)
{
	const char *p = tpl;
	for (;;) {
		const char *at = strstr(p, "@@");
		if (at == NULL) {
			oys_buf_puts(out, p);
			break;
		}
		oys_buf_append(out, p, (size_t)(at - p));
		const char *end = strstr(at + 2, "@@");
		if (end == NULL)
			return oys_err_set(e, OYS_ECONFIG, "template %s: unterminated @@", tplname);
		size_t klen = (size_t)(end - at - 2), k;
		for (k = 0; k < nkeys; k++)
			if (strlen(keys[k]) == klen && memcmp(keys[k], at + 2, klen) == 0)
				break;
		if (k == nkeys)
			return oys_err_set(e, OYS_ECONFIG, "template %s: unknown placeholder @@%.*s@@", tplname,
			                   (int)klen, at + 2);
		oys_buf_append(out, vals[k]->data ? vals[k]->data : "", vals[k]->len);
		p = end + 2;
	}
	return 0;
}

int oys_capnp_render(const struct oys_capnp *c, struct oys_buf *out, struct oys_err *e)
{
	static const char *const keys[] = {"CODE", "GLUE", "SOCKET", "NETWORK", "COMPAT_DATE", "COMPAT_FLAGS"};
	struct oys_buf v[6] = {OYS_BUF_INIT, OYS_BUF_INIT, OYS_BUF_INIT, OYS_BUF_INIT, OYS_BUF_INIT, OYS_BUF_INIT};
	struct oys_buf *vals[6] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]};
	struct oys_buf tpl = OYS_BUF_INIT;
	char dir[PATH_MAX], path[PATH_MAX + 64];
	const char *tplname;
	int rc;

	switch (c->kind) {
	case OYS_CODE_ESM: tplname = "worker-esm.capnp"; break;
	case OYS_CODE_SW: tplname = "worker-sw.capnp"; break;
	case OYS_CODE_WASM: tplname = "worker-wasm.capnp"; break;
	default: return oys_err_set(e, OYS_ESOFTWARE, "code kind not set");
	}
	if (c->template_dir)
		snprintf(dir, sizeof dir, "%s", c->template_dir);
	else if ((rc = oys_share_path("templates", dir, sizeof dir, e)))
		return rc;

	/* Values first: every one validated or escaped. */
	const char *date = oys_capnp_compat_date(c->compat_date);
	if ((rc = oys_capnp_date_check(date, e)))
		goto out;
	oys_capnp_string(&v[4], date);
	for (size_t i = 0; i < c->ncompat_flags; i++) {
		if ((rc = oys_capnp_flag_check(c->compat_flags[i], e)))
			goto out;
		oys_buf_printf(&v[5], "%s\"%s\"", i ? ", " : "", c->compat_flags[i]);
	}
	if ((rc = oys_outbound_check(c->outbound, e)))
		goto out;
	render_network(&v[3], c->outbound);
	if (c->port > 0) {
		const char *host = c->host ? c->host : "127.0.0.1";
		char addr[300];
		unsigned char raw[16];
		if (inet_pton(AF_INET, host, raw) == 1)
			snprintf(addr, sizeof addr, "%s:%d", host, c->port);
		else if (inet_pton(AF_INET6, host, raw) == 1)
			snprintf(addr, sizeof addr, "[%s]:%d", host, c->port);
		else {
			rc = oys_err_set(e, OYS_EUSAGE, "host '%s' is not an IP address", host);
			goto out;
		}
		if (c->port > 65535) {
			rc = oys_err_set(e, OYS_EUSAGE, "port %d out of range", c->port);
			goto out;
		}
		oys_buf_printf(&v[2], "(name = \"http\", address = \"%s\", http = (), service = \"main\")", addr);
	} else {
		const char *name = c->socket ? c->socket : "http";
		if (!valid_name(name, 64)) {
			rc = oys_err_set(e, OYS_EUSAGE, "socket name '%s': use letters, digits, '-' and '_'", name);
			goto out;
		}
		oys_buf_printf(&v[2], "(name = \"%s\", http = (), service = \"main\")", name);
	}
	if ((rc = embed_path(&v[0], c->config_dir, c->code, "code", e)))
		goto out;
	if (c->kind == OYS_CODE_WASM) {
		snprintf(path, sizeof path, "%s/wasm-glue.js", dir);
		if ((rc = embed_path(&v[1], c->config_dir, path, "Wasm glue", e)))
			goto out;
	}

	snprintf(path, sizeof path, "%s/%s", dir, tplname);
	if ((rc = oys_read_file(path, 1 << 20, &tpl, e))) {
		oys_err_wrap(e, "template");
		rc = OYS_ECONFIG;
		if (e)
			e->code = rc;
		goto out;
	}
	rc = substitute(tpl.data, tplname, keys, vals, 6, out, e);
out:
	for (size_t i = 0; i < 6; i++)
		oys_buf_free(&v[i]);
	oys_buf_free(&tpl);
	return rc;
}

/* ---- the loader of a warm sandbox ---- */

int oys_capnp_render_loader(const struct oys_capnp *c, struct oys_buf *out, struct oys_err *e)
{
	static const char *const keys[] = {"LOADER", "GLUE", "SW_SHIM", "SOCKET", "NETWORK", "OUTBOUND_BINDING"};
	static const char *const files[] = {"warm-loader.js", "wasm-glue.js", "warm-sw.js"};
	enum { NKEYS = sizeof keys / sizeof *keys };
	struct oys_buf v[NKEYS], *vals[NKEYS], tpl = OYS_BUF_INIT;
	char dir[PATH_MAX], path[PATH_MAX + 64];
	int rc = 0;
	for (size_t i = 0; i < NKEYS; i++) {
		v[i] = (struct oys_buf)OYS_BUF_INIT;
		vals[i] = &v[i];
	}
	if (c->template_dir)
		snprintf(dir, sizeof dir, "%s", c->template_dir);
	else if ((rc = oys_share_path("templates", dir, sizeof dir, e)))
		return rc;
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		rc = embed_path(&v[i], c->config_dir, path, "template", e);
	}
	const char *name = c->socket ? c->socket : "http";
	if (rc == 0 && !valid_name(name, 64))
		rc = oys_err_set(e, OYS_EUSAGE, "socket name '%s': use letters, digits, '-' and '_'", name);
	if (rc == 0)
		rc = oys_outbound_check(c->outbound, e);
	if (rc == 0) {
		oys_buf_printf(&v[3], "(name = \"%s\", http = (), service = \"loader\")", name);
		render_network(&v[4], c->outbound);
		/* policy none: no binding at all, so the function's outbound is null */
		if (c->outbound && strcmp(c->outbound, "none") != 0)
			oys_buf_puts(&v[5], "(name = \"OUTBOUND\", service = \"outbound\"),");
		snprintf(path, sizeof path, "%s/warm-loader.capnp", dir);
		if ((rc = oys_read_file(path, 1 << 20, &tpl, e))) {
			oys_err_wrap(e, "template");
			rc = OYS_ECONFIG;
			if (e)
				e->code = rc;
		}
	}
	if (rc == 0)
		rc = substitute(tpl.data, "warm-loader.capnp", keys, vals, NKEYS, out, e);
	for (size_t i = 0; i < NKEYS; i++)
		oys_buf_free(&v[i]);
	oys_buf_free(&tpl);
	return rc;
}
