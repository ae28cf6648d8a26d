#include "capnp.h"
#include "bundle.h"
#include "file.h"
#include "paths.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <net/if.h>
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

int oys_capnp_flag_check(const char *flag, struct oys_err *e)
{
	if (!valid_name(flag, 64))
		return oys_err_set(e, OYS_EUSAGE, "compatibility flag '%.80s' is not a flag name", flag);
	if (strcmp(flag, "experimental") == 0 || strncmp(flag, "unsafe", 6) == 0)
		return oys_err_set(e, OYS_EUSAGE,
		                   "compatibility flag '%s' is not allowed: functions get no experimental or unsafe features",
		                   flag);
	return 0;
}

int oys_capnp_date_check(const char *date, struct oys_err *e)
{
	return valid_date(date) ? 0 : oys_err_set(e, OYS_EUSAGE, "compatibility date '%.80s' is not YYYY-MM-DD", date);
}

/* ---- the network policy ----
 *
 * workerd decides an address by its most specific matching rule: among the allow entries that
 * match, the longest prefix counts; a matching deny entry wins when its prefix is at least as
 * long (a tie goes to the deny). An IPv4 entry also matches the IPv4-mapped form of its
 * addresses (::ffff:a.b.c.d), with its own IPv4 prefix length, so `allow ::ffff:0:0/96` (96
 * bits) beats `deny 127.0.0.0/8` (8 bits) for [::ffff:127.0.0.1]. (Measured with workerd
 * 1.20261117.1; kj's NetworkFilter.) So oys refuses allow entries inside an always-denied
 * range, and denies every such range in each form that can be reached, at a prefix length no
 * allow entry that contains it can exceed. */

/* A CIDR, IPv4 normalised to its IPv4-mapped IPv6 form (prefix + 96). */
struct cidr {
	unsigned char a[16];
	int bits;
};

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parses "ADDR" or "ADDR/BITS" (IPv4 or IPv6). 0 or -1. */
static int parse_cidr(const char *s, struct cidr *out)
{
	char addr[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof addr)
		return -1;
	memcpy(addr, s, n);
	addr[n] = '\0';
	int max, v4 = 0;
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, addr, out->a + 12) == 1) {
		memcpy(out->a, v4mapped, 12);
		max = 32;
		v4 = 1;
	} else if (inet_pton(AF_INET6, addr, out->a) == 1) {
		max = 128;
	} else {
		return -1;
	}
	int bits = max;
	if (slash) {
		const char *p = slash + 1;
		if (*p == '\0' || strlen(p) > 3)
			return -1;
		for (const char *q = p; *q; q++)
			if (!isdigit((unsigned char)*q))
				return -1;
		bits = atoi(p);
		if (bits > max)
			return -1;
	}
	out->bits = bits + (v4 ? 96 : 0);
	return 0;
}

/* Whether c lies inside r (r's prefix is no longer than c's, and they agree on it). */
static int cidr_inside(const struct cidr *c, const struct cidr *r)
{
	if (c->bits < r->bits)
		return 0;
	int whole = r->bits / 8, rest = r->bits % 8;
	if (memcmp(c->a, r->a, (size_t)whole) != 0)
		return 0;
	unsigned char mask = (unsigned char)(0xff00 >> rest);
	return rest == 0 || (c->a[whole] & mask) == (r->a[whole] & mask);
}

/* Addresses a function never reaches, whatever the operator allows, in every form that
 * reaches them: "this host" 0.0.0.0/8, loopback, link-local (cloud metadata at
 * 169.254.169.254), the unspecified address, and the IPv4-mapped and NAT64 (64:ff9b::/96)
 * forms of the IPv4 ones. (workerd's "local" is added to the denies too: it holds
 * 0.0.0.0/32, which an allowed "private" would otherwise win for 0.0.0.0.) */
static const struct {
	const char *cidr, *what;
} always_denied[] = {
	{"0.0.0.0/8", "this host"},
	{"127.0.0.0/8", "loopback"},
	{"169.254.0.0/16", "link-local"},
	{"::/128", "the unspecified address"},
	{"::1/128", "loopback"},
	{"fe80::/10", "link-local"},
	{"::ffff:0.0.0.0/104", "this host, IPv4-mapped"},
	{"::ffff:127.0.0.0/104", "loopback, IPv4-mapped"},
	{"::ffff:169.254.0.0/112", "link-local, IPv4-mapped"},
	{"64:ff9b::/104", "this host, NAT64"},
	{"64:ff9b::7f00:0/104", "loopback, NAT64"},
	{"64:ff9b::a9fe:0/112", "link-local, NAT64"},
};
#define NDENIED (sizeof always_denied / sizeof always_denied[0])

/* The host's own addresses, read from its interfaces (getifaddrs) when a config is rendered,
 * as deny entries that win: each address as /32 or /128, and an IPv4 one also in its mapped
 * and NAT64 forms. Addresses inside an always-denied range are left out (covered already). */
struct host_addrs {
	struct cidr c[64];
	char text[64][INET6_ADDRSTRLEN + 8];
	char ifname[64][IFNAMSIZ];
	size_t n;
};

static int already_denied(const struct cidr *c)
{
	for (size_t i = 0; i < NDENIED; i++) {
		struct cidr r;
		if (parse_cidr(always_denied[i].cidr, &r) == 0 && cidr_inside(c, &r))
			return 1;
	}
	return 0;
}

static void host_add(struct host_addrs *h, const unsigned char a[16], const char *ifname)
{
	struct cidr c;
	memcpy(c.a, a, 16);
	c.bits = 128;
	if (already_denied(&c))
		return;
	for (size_t i = 0; i < h->n; i++)
		if (memcmp(h->c[i].a, a, 16) == 0)
			return;
	if (h->n == sizeof h->c / sizeof h->c[0])
		return;
	char t[INET6_ADDRSTRLEN];
	if (memcmp(a, v4mapped, 12) == 0) {
		inet_ntop(AF_INET, a + 12, t, sizeof t);
		snprintf(h->text[h->n], sizeof h->text[h->n], "%s/32", t);
	} else {
		inet_ntop(AF_INET6, a, t, sizeof t);
		snprintf(h->text[h->n], sizeof h->text[h->n], "%s/128", t);
	}
	snprintf(h->ifname[h->n], sizeof h->ifname[h->n], "%s", ifname);
	h->c[h->n++] = c;
}

static int host_addrs_read(struct host_addrs *h, struct oys_err *e)
{
	struct ifaddrs *list;
	h->n = 0;
	if (getifaddrs(&list) < 0)
		return oys_err_sys(e, OYS_EOSERR, "cannot read the host's interface addresses");
	for (struct ifaddrs *i = list; i; i = i->ifa_next) {
		unsigned char a[16];
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memcpy(a, v4mapped, 12);
			memcpy(a + 12, &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			memcpy(a, &((const struct sockaddr_in6 *)(const void *)i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		host_add(h, a, i->ifa_name ? i->ifa_name : "?");
	}
	freeifaddrs(list);
	return 0;
}

/* Checks an outbound policy ("none", "public", "CIDR,CIDR,..."); an allowed CIDR may not lie
 * inside an always-denied range or be one of the host's addresses. */
static int oys_outbound_check(const char *spec, const struct host_addrs *h, struct oys_err *e)
{
	if (spec == NULL || strcmp(spec, "none") == 0 || strcmp(spec, "public") == 0)
		return 0;
	const char *p = spec;
	if (*p == '\0')
		return oys_err_set(e, OYS_EUSAGE, "outbound policy is empty (use none, public or CIDRs)");
	while (*p) {
		size_t n = strcspn(p, ",");
		char item[64];
		struct cidr c;
		if (n == 0 || n >= sizeof item)
			return oys_err_set(e, OYS_EUSAGE, "outbound policy '%s': empty or overlong entry", spec);
		memcpy(item, p, n);
		item[n] = '\0';
		if (strcmp(item, "public") == 0 || strcmp(item, "private") == 0) {
			/* workerd's own lists; the denies below win inside them */
		} else if (has_control(item) || parse_cidr(item, &c) < 0) {
			return oys_err_set(e, OYS_EUSAGE,
			                   "outbound policy: '%s' is not a CIDR (like 10.0.0.0/8), public or private",
			                   item);
		} else {
			for (size_t i = 0; i < NDENIED; i++) {
				struct cidr r;
				if (parse_cidr(always_denied[i].cidr, &r) == 0 && cidr_inside(&c, &r))
					return oys_err_set(e, OYS_EUSAGE,
					                   "outbound policy: %s lies inside %s (%s), which a function never reaches",
					                   item, always_denied[i].cidr, always_denied[i].what);
			}
			for (size_t i = 0; i < h->n; i++)
				if (cidr_inside(&c, &h->c[i]))
					return oys_err_set(e, OYS_EUSAGE,
					                   "outbound policy: %s is this host's own address %s (interface %s), "
					                   "which a function never reaches",
					                   item, h->text[i], h->ifname[i]);
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int oys_capnp_outbound_check(const char *spec, struct oys_err *e)
{
	static const struct host_addrs none = {0};
	return oys_outbound_check(spec, &none, e);
}

static int render_network(struct oys_buf *b, const char *spec, const struct host_addrs *h)
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
	oys_buf_puts(b, "], deny = [\"local\"");
	for (size_t i = 0; i < NDENIED; i++)
		oys_buf_printf(b, ", \"%s\"", always_denied[i].cidr);
	for (size_t i = 0; i < h->n; i++) {
		oys_buf_printf(b, ", \"%s\"", h->text[i]);
		if (memcmp(h->c[i].a, v4mapped, 12) == 0) {
			char t[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, h->c[i].a + 12, t, sizeof t);
			oys_buf_printf(b, ", \"::ffff:%s/128\", \"64:ff9b::%s/128\"", t, t);
		}
	}
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

/* ---- a bundle's modules and env ---- */

/* The capnp field of a module type (bundle.h's numbering); NULL for none (sw, unknown). */
static const char *module_field(int type)
{
	static const char *const f[] = {NULL, "esModule", "commonJsModule", NULL, "wasm", "json", "text", "data"};
	return type >= 1 && type < (int)(sizeof f / sizeof *f) ? f[type] : NULL;
}

/* The modules list of an ES-module worker: the bundle's, main first, or the code as
 * worker.js (code_embed: the code's embed path, rendered). */
static int render_modules(struct oys_buf *b, const struct oys_capnp *c, const char *code_embed, struct oys_err *e)
{
	if (c->modules == NULL || c->nmodules == 0)
		return oys_buf_printf(b, "(name = \"worker.js\", esModule = embed %s)", code_embed ? code_embed : "\"\"") < 0
		           ? oys_err_sys(e, OYS_EOSERR, "out of memory")
		           : 0;
	for (size_t i = 0; i < c->nmodules; i++) {
		const struct oys_capnp_module *m = &c->modules[i];
		const char *field = module_field(m->type);
		if (field == NULL || has_control(m->name))
			return oys_err_set(e, OYS_EUSAGE, "module '%.80s' cannot be a module of an ES-module worker", m->name);
		oys_buf_puts(b, i ? ",\n    (name = " : "(name = ");
		oys_capnp_string(b, m->name);
		oys_buf_printf(b, ", %s = embed ", field);
		int rc = embed_path(b, c->config_dir, m->path, "module", e);
		if (rc)
			return rc;
		if (oys_buf_putc(b, ')') < 0)
			return oys_err_sys(e, OYS_EOSERR, "out of memory");
	}
	return 0;
}

/* Text bindings, each followed by ", " (a list may end with a comma). */
static int render_bindings(struct oys_buf *b, const struct oys_capnp *c, struct oys_err *e)
{
	for (size_t i = 0; i < c->nbindings; i++) {
		const struct oys_capnp_binding *x = &c->bindings[i];
		if (!valid_name(x->name, 64))
			return oys_err_set(e, OYS_EUSAGE, "binding name '%.80s': use letters, digits and '_'", x->name);
		if (oys_buf_puts(b, "(name = ") < 0 || oys_capnp_string(b, x->name) < 0 ||
		    oys_buf_puts(b, ", text = ") < 0 || oys_capnp_string(b, x->value) < 0 || oys_buf_puts(b, "), ") < 0)
			return oys_err_sys(e, OYS_EOSERR, "out of memory");
	}
	return 0;
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
	static const char *const keys[] = {"CODE",         "GLUE",    "SOCKET",   "NETWORK",   "COMPAT_DATE",
	                                   "COMPAT_FLAGS", "MODULES", "BINDINGS", "WASM_PAGES"};
	enum { NKEYS = sizeof keys / sizeof *keys };
	struct oys_buf v[NKEYS], *vals[NKEYS], tpl = OYS_BUF_INIT;
	for (size_t i = 0; i < NKEYS; i++) {
		v[i] = (struct oys_buf)OYS_BUF_INIT;
		vals[i] = &v[i];
	}
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
	const char *date = c->compat_date ? c->compat_date : OYS_DEFAULT_COMPAT_DATE;
	if ((rc = oys_capnp_date_check(date, e)))
		goto out;
	oys_capnp_string(&v[4], date);
	for (size_t i = 0; i < c->ncompat_flags; i++) {
		if ((rc = oys_capnp_flag_check(c->compat_flags[i], e)))
			goto out;
		oys_buf_printf(&v[5], "%s\"%s\"", i ? ", " : "", c->compat_flags[i]);
	}
	struct host_addrs hosts = {0};
	int open = c->outbound && strcmp(c->outbound, "none") != 0;
	if (open && (rc = host_addrs_read(&hosts, e)))
		goto out;
	if ((rc = oys_outbound_check(c->outbound, &hosts, e)))
		goto out;
	render_network(&v[3], c->outbound, &hosts);
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
	if ((rc = embed_path(&v[0], c->config_dir, c->code, "code", e)) ||
	    (rc = render_modules(&v[6], c, v[0].data, e)) || (rc = render_bindings(&v[7], c, e)))
		goto out;
	unsigned long long pages = c->wasm_memory ? c->wasm_memory / 2 / 65536 : 1024;
	oys_buf_printf(&v[8], "%llu", pages < 16 ? 16 : pages > 65536 ? 65536 : pages);
	if (c->kind == OYS_CODE_WASM) {
		snprintf(path, sizeof path, "%s/wasm-glue.js", dir);
		if ((rc = embed_path(&v[1], c->config_dir, c->glue ? c->glue : path, "Wasm glue", e)))
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
	rc = substitute(tpl.data, tplname, keys, vals, NKEYS, out, e);
out:
	for (size_t i = 0; i < NKEYS; i++)
		oys_buf_free(&v[i]);
	oys_buf_free(&tpl);
	return rc;
}

/* ---- a bundle ---- */

int oys_capnp_render_bundle(const struct oys_capnp *c, const struct oys_bundle *b, struct oys_buf *out,
                            struct oys_err *e)
{
	const char *dir = c->config_dir ? c->config_dir : ".";
	const struct oys_bundle_module *main = NULL;
	struct oys_capnp r = *c;
	size_t n = b->nmodules, stride = strlen(dir) + 32;
	struct oys_capnp_module *mods = calloc(n ? n : 1, sizeof *mods);
	struct oys_capnp_binding *binds = calloc(b->nenv ? b->nenv : 1, sizeof *binds);
	char *paths = calloc(n ? n : 1, stride);
	int rc = 0;
	if (mods == NULL || binds == NULL || paths == NULL) {
		rc = oys_err_sys(e, OYS_EOSERR, "out of memory");
		goto out;
	}
	/* The files: module-<i>, in the order of the modules (names never reach a path). Main
	 * comes first in the worker's list. */
	size_t k = 1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct oys_bundle_module *m = &b->modules[i];
		char *p = paths + i * stride;
		snprintf(p, stride, "%s/module-%zu", dir, i);
		unlink(p); /* oys-capnp run again in one place */
		rc = oys_write_new(p, m->data, m->len, 0600, e);
		int is_main = main == NULL && strcmp(m->name, b->main) == 0;
		struct oys_capnp_module *slot = is_main ? &mods[0] : &mods[k < n ? k++ : 0];
		*slot = (struct oys_capnp_module){m->name, (int)m->type, p};
		if (is_main)
			main = m;
	}
	if (rc)
		goto out;
	if (main == NULL) {
		rc = oys_err_set(e, OYS_EUSAGE, "bundle: main '%.80s' is not one of its modules", b->main);
		goto out;
	}
	r.code = mods[0].path;
	r.kind = main->type == OYS_MOD_WASM ? OYS_CODE_WASM : main->type == OYS_MOD_SW ? OYS_CODE_SW : OYS_CODE_ESM;
	r.modules = r.kind == OYS_CODE_ESM ? mods : NULL;
	r.nmodules = r.kind == OYS_CODE_ESM ? n : 0;
	for (size_t i = 0; i < b->nenv; i++)
		binds[i] = (struct oys_capnp_binding){b->env[i].name, b->env[i].value};
	r.bindings = binds;
	r.nbindings = b->nenv;
	/* the function's own settings over the host's */
	if (b->s.compat_date)
		r.compat_date = b->s.compat_date;
	if (b->s.ncompat_flags) {
		r.compat_flags = b->s.compat_flags;
		r.ncompat_flags = b->s.ncompat_flags;
	}
	if (b->s.outbound)
		r.outbound = b->s.outbound;
	if (b->s.memory)
		r.wasm_memory = b->s.memory;
	rc = oys_capnp_render(&r, out, e);
out:
	free(mods);
	free(binds);
	free(paths);
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
	/* the same network rules as a cold config's: the always-denied ranges and this host's own
	 * addresses stay out of reach whatever the policy allows */
	struct host_addrs hosts = {0};
	if (rc == 0 && c->outbound && strcmp(c->outbound, "none") != 0)
		rc = host_addrs_read(&hosts, e);
	if (rc == 0)
		rc = oys_outbound_check(c->outbound, &hosts, e);
	if (rc == 0) {
		oys_buf_printf(&v[3], "(name = \"%s\", http = (), service = \"loader\")", name);
		render_network(&v[4], c->outbound, &hosts);
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
