/* bundle.c: the bundle format, read strictly and written canonically (see bundle.h). */
#include "bundle.h"
#include "capnp.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	T_MAIN = 1, T_DATE, T_FLAG, T_MEMORY, T_CPU, T_TIMEOUT, T_OUTBOUND, T_ENV, T_MODULE, T_LAST = T_MODULE,
};

static const char *const tag_names[] = {
	NULL, "main", "compatibility_date", "compatibility_flag", "memory", "cpu", "timeout", "outbound", "env",
	"module",
};

static const char *const type_names[] = {NULL, "esm", "cjs", "sw", "wasm", "json", "text", "data"};

const char *oys_module_type_name(int type)
{
	return type >= OYS_MOD_ESM && type <= OYS_MOD_DATA ? type_names[type] : NULL;
}

int oys_module_type_parse(const char *s, enum oys_module_type *out)
{
	for (int t = OYS_MOD_ESM; t <= OYS_MOD_DATA; t++)
		if (strcmp(s, type_names[t]) == 0) {
			*out = (enum oys_module_type)t;
			return 0;
		}
	return -1;
}

/* ---- values ---- */

/* Up to 60 bytes of s for a message: printable ASCII kept, anything else '?'. */
static const char *show(const char *s, size_t n, char out[64])
{
	size_t k = n > 60 ? 57 : n, j = 0;
	for (size_t i = 0; i < k; i++)
		out[j++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' ? s[i] : '?';
	if (k < n) {
		memcpy(out + j, "...", 3);
		j += 3;
	}
	out[j] = '\0';
	return out;
}

/* Strict UTF-8 (no overlong forms, no surrogates, at most U+10FFFF) without NUL. */
static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		unsigned min, cp;
		if ((c & 0xe0) == 0xc0) {
			k = 2, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 3, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < k)
			return 0;
		for (size_t j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int oys_bundle_module_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > OYS_BUNDLE_MAX_NAME || !name_char(name[0]))
		return -1;
	if ((len >= 4 && memcmp(name, "oys-", 4) == 0) || (len == 8 && memcmp(name, "oys.json", 8) == 0))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == '/') {
			/* a component follows: not empty, not hidden (nor "." or "..") */
			if (i + 1 == len || name[i + 1] == '/' || name[i + 1] == '.')
				return -1;
		} else if (!name_char(c) && c != '.' && c != '-') {
			return -1;
		}
	}
	return 0;
}

int oys_bundle_env_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > OYS_BUNDLE_MAX_ENV_NAME || (name[0] >= '0' && name[0] <= '9'))
		return -1;
	if (len >= 4 && memcmp(name, "OYS_", 4) == 0)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i]))
			return -1;
	return 0;
}

/* ---- outbound policies ---- */

struct entry {
	char text[INET6_ADDRSTRLEN + 8]; /* canonical */
	int family;                      /* AF_INET, AF_INET6; 0: a word (public, private) */
	unsigned char a[16];
	int bits;
};

/* One entry of a policy, spaces around it ignored. 0 or -1. */
static int entry_parse(const char *s, size_t n, struct entry *out)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	memset(out, 0, sizeof *out);
	if ((n == 6 && memcmp(s, "public", 6) == 0) || (n == 7 && memcmp(s, "private", 7) == 0)) {
		memcpy(out->text, s, n);
		return 0;
	}
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(s, '/', n);
	size_t an = slash ? (size_t)(slash - s) : n;
	if (an == 0 || an >= sizeof addr)
		return -1;
	memcpy(addr, s, an);
	addr[an] = '\0';
	int max;
	if (inet_pton(AF_INET, addr, out->a) == 1)
		out->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, addr, out->a) == 1)
		out->family = AF_INET6, max = 128;
	else
		return -1;
	out->bits = max;
	if (slash) {
		const char *b = slash + 1;
		size_t bn = n - an - 1;
		if (bn == 0 || bn > 3 || (bn > 1 && b[0] == '0'))
			return -1;
		int v = 0;
		for (size_t i = 0; i < bn; i++) {
			if (b[i] < '0' || b[i] > '9')
				return -1;
			v = v * 10 + (b[i] - '0');
		}
		if (v > max)
			return -1;
		out->bits = v;
	}
	char t[INET6_ADDRSTRLEN];
	if (inet_ntop(out->family, out->a, t, sizeof t) == NULL)
		return -1;
	snprintf(out->text, sizeof out->text, "%s/%d", t, out->bits);
	return 0;
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->text, ((const struct entry *)y)->text);
}

/* The entries of spec, canonical and sorted, duplicates dropped; "none" gives 0 entries and
 * *none set. Syntax errors only: OYS_EDATA. */
static int policy_parse(const char *spec, struct entry **out, size_t *n, int *none, struct oys_err *e)
{
	char sh[64];
	size_t len = strlen(spec);
	*out = NULL;
	*n = 0;
	*none = 0;
	if (len > OYS_BUNDLE_MAX_OUTBOUND)
		return oys_err_set(e, OYS_EDATA, "the policy is longer than %d bytes", OYS_BUNDLE_MAX_OUTBOUND);
	size_t cap = 1;
	for (size_t i = 0; i < len; i++)
		cap += spec[i] == ',';
	struct entry *v = calloc(cap, sizeof *v);
	if (v == NULL)
		return oys_err_sys(e, OYS_EOSERR, "outbound");
	const char *p = spec;
	for (;;) {
		size_t k = strcspn(p, ",");
		struct entry en;
		const char *q = p;
		size_t m = k;
		while (m && (*q == ' ' || *q == '\t'))
			q++, m--;
		while (m && (q[m - 1] == ' ' || q[m - 1] == '\t'))
			m--;
		if (m == 4 && memcmp(q, "none", 4) == 0 && k == len) {
			*none = 1;
		} else if (entry_parse(p, k, &en) < 0) {
			free(v);
			return oys_err_set(e, OYS_EDATA,
			                   "'%s' is not none, public, private or a CIDR (like 10.0.0.0/8)",
			                   show(p, k, sh));
		} else {
			v[(*n)++] = en;
		}
		if (p[k] == '\0')
			break;
		p += k + 1;
	}
	qsort(v, *n, sizeof *v, entry_cmp);
	size_t w = 0;
	for (size_t i = 0; i < *n; i++)
		if (w == 0 || strcmp(v[w - 1].text, v[i].text) != 0)
			v[w++] = v[i];
	*n = w;
	*out = v;
	return 0;
}

int oys_bundle_outbound_canon(const char *spec, struct oys_buf *out, struct oys_err *e)
{
	struct entry *v;
	size_t n;
	int none;
	int rc = policy_parse(spec, &v, &n, &none, e);
	if (rc)
		return rc;
	size_t start = out->len;
	int bad = 0;
	if (none)
		bad |= oys_buf_puts(out, "none");
	for (size_t i = 0; i < n; i++)
		bad |= oys_buf_printf(out, "%s%s", i ? "," : "", v[i].text);
	free(v);
	if (bad)
		return oys_err_sys(e, OYS_EOSERR, "outbound");
	/* what a run would refuse anyway (loopback, link-local...) */
	if (oys_capnp_outbound_check(out->data + start, e)) {
		out->len = start;
		out->data[start] = '\0';
		if (e)
			e->code = OYS_EDATA;
		return OYS_EDATA;
	}
	return 0;
}

/* Whether entry c lies inside entry r (both CIDRs of one family). */
static int inside(const struct entry *c, const struct entry *r)
{
	if (c->family != r->family || c->bits < r->bits)
		return 0;
	int whole = r->bits / 8, rest = r->bits % 8;
	if (memcmp(c->a, r->a, (size_t)whole) != 0)
		return 0;
	unsigned char mask = (unsigned char)(0xff00 >> rest);
	return rest == 0 || (c->a[whole] & mask) == (r->a[whole] & mask);
}

/* ---- limits against the host ---- */

int oys_bundle_size_text(struct oys_buf *b, unsigned long long v)
{
	static const char units[] = "KMGT";
	int u = -1;
	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	return u < 0 ? oys_buf_printf(b, "%llu", v) : oys_buf_printf(b, "%llu%c", v, units[u]);
}

static int too_much(struct oys_err *e, const char *what, const char *asked, const char *allowed, const char *var)
{
	return oys_err_set(e, OYS_ENOPERM, "%s: the function asks for %s, this host allows at most %s (%s)", what,
	                   asked, allowed, var);
}

int oys_bundle_within(const struct oys_bundle *b, const struct oys_bundle_max *m, struct oys_err *e)
{
	const struct oys_bundle_settings *s = &b->s;
	char x[64], y[64];
	if (s->memory && m->memory && s->memory > m->memory) {
		struct oys_buf a = OYS_BUF_INIT, c = OYS_BUF_INIT;
		oys_bundle_size_text(&a, s->memory);
		oys_bundle_size_text(&c, m->memory);
		too_much(e, "memory", a.data ? a.data : "?", c.data ? c.data : "?", "OYS_MAX_MEMORY");
		oys_buf_free(&a);
		oys_buf_free(&c);
		return OYS_ENOPERM;
	}
	if (s->cpu_milli && m->cpu > 0 && s->cpu_milli > (unsigned)(m->cpu * 1000 + 0.5)) {
		snprintf(x, sizeof x, "%g core%s", s->cpu_milli / 1000.0, s->cpu_milli == 1000 ? "" : "s");
		snprintf(y, sizeof y, "%g", m->cpu);
		return too_much(e, "cpu", x, y, "OYS_MAX_CPU");
	}
	if (s->timeout_ms && m->timeout_ms > 0 && s->timeout_ms > (unsigned)m->timeout_ms) {
		snprintf(x, sizeof x, "%g s", s->timeout_ms / 1000.0);
		snprintf(y, sizeof y, "%g s", m->timeout_ms / 1000.0);
		return too_much(e, "timeout", x, y, "OYS_MAX_TIMEOUT");
	}
	if (s->outbound == NULL || strcmp(s->outbound, "none") == 0)
		return 0;
	struct entry *want = NULL, *have = NULL;
	size_t nw = 0, nh = 0;
	int none, rc = policy_parse(s->outbound, &want, &nw, &none, e);
	if (rc == 0 && (rc = policy_parse(m->outbound ? m->outbound : "none", &have, &nh, &none, e)))
		oys_err_wrap(e, "the allowed outbound policies (OYS_OUTBOUND_ALLOWED)");
	for (size_t i = 0; rc == 0 && i < nw; i++) {
		int ok = 0;
		for (size_t j = 0; j < nh && !ok; j++)
			ok = want[i].family ? inside(&want[i], &have[j]) : strcmp(want[i].text, have[j].text) == 0;
		if (!ok)
			rc = oys_err_set(e, OYS_ENOPERM,
			                 "outbound: the function asks for '%.200s', this host allows at most '%.200s' "
			                 "(OYS_OUTBOUND_ALLOWED)",
			                 s->outbound, m->outbound ? m->outbound : "none");
	}
	free(want);
	free(have);
	return rc;
}

/* ---- reading ---- */

struct rd {
	const unsigned char *p;
	size_t n, off;
	char *arena;       /* NUL-terminated copies of names and values */
	size_t used;
	struct oys_err *e;
	const char *rec;   /* the record being read, for messages */
};

static int truncated(struct rd *r)
{
	oys_err_set(r->e, OYS_EDATA, "bundle: %s record cut short at byte %zu", r->rec, r->n);
	return OYS_EDATA;
}

static int rd_u8(struct rd *r, unsigned *v)
{
	if (r->n - r->off < 1)
		return truncated(r);
	*v = r->p[r->off++];
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->n - r->off < 4)
		return truncated(r);
	const unsigned char *q = r->p + r->off;
	*v = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
	r->off += 4;
	return 0;
}

static int rd_u64(struct rd *r, unsigned long long *v)
{
	uint32_t hi, lo;
	int rc = rd_u32(r, &hi);
	if (rc == 0 && (rc = rd_u32(r, &lo)) == 0)
		*v = (unsigned long long)hi << 32 | lo;
	return rc;
}

/* A str: its bytes in place (*data, *len). */
static int rd_bytes(struct rd *r, const char **data, size_t *len)
{
	uint32_t n;
	int rc = rd_u32(r, &n);
	if (rc)
		return rc;
	if (r->n - r->off < n)
		return truncated(r);
	*data = (const char *)r->p + r->off;
	*len = n;
	r->off += n;
	return 0;
}

/* A str copied, NUL-terminated, into the arena (a NUL inside is refused). */
static int rd_str(struct rd *r, const char **s, size_t *len, size_t max)
{
	const char *d = NULL;
	char sh[64];
	int rc = rd_bytes(r, &d, len);
	if (rc)
		return rc;
	if (*len > max)
		return oys_err_set(r->e, OYS_EDATA, "bundle: %s: longer than %zu bytes", r->rec, max);
	if (memchr(d, '\0', *len))
		return oys_err_set(r->e, OYS_EDATA, "bundle: %s: '%s' contains a NUL byte", r->rec, show(d, *len, sh));
	char *c = r->arena + r->used;
	memcpy(c, d, *len);
	c[*len] = '\0';
	r->used += *len + 1;
	*s = c;
	return 0;
}

/* Whether a bundle with these parts has the plain form (see bundle.h). */
static int plain_fit(const struct oys_bundle_settings *s, size_t nenv, const struct oys_bundle_module *m,
                     size_t nmod)
{
	if (nmod != 1 || nenv || s->compat_date || s->ncompat_flags || s->memory || s->cpu_milli || s->timeout_ms ||
	    s->outbound)
		return 0;
	int wasm = m->len >= 4 && memcmp(m->data, "\0asm", 4) == 0;
	if (m->type == OYS_MOD_WASM)
		return wasm && strcmp(m->name, "function.wasm") == 0;
	if (m->type != OYS_MOD_ESM && m->type != OYS_MOD_SW)
		return 0;
	if (strcmp(m->name, "worker.js") != 0 || wasm ||
	    (m->len >= OYS_BUNDLE_MAGIC_LEN && memcmp(m->data, OYS_BUNDLE_MAGIC, OYS_BUNDLE_MAGIC_LEN) == 0))
		return 0;
	enum oys_code_kind k = oys_code_detect(m->data, m->len);
	return (k == OYS_CODE_SW) == (m->type == OYS_MOD_SW);
}

/* Room for element n of an array that doubles at each power of two. */
static int grow(void **arr, size_t n, size_t size)
{
	if (n & (n - 1)) /* not a power of two: room is left */
		return 0;
	void *p = realloc(*arr, (n ? 2 * n : 1) * size);
	if (p == NULL)
		return -1;
	*arr = p;
	return 0;
}

static int parse_plain(const char *data, size_t len, struct oys_bundle *b, struct oys_err *e)
{
	b->modules = calloc(1, sizeof *b->modules);
	if (b->modules == NULL)
		return oys_err_sys(e, OYS_EOSERR, "bundle");
	struct oys_bundle_module *m = &b->modules[0];
	enum oys_code_kind k = oys_code_detect(data, len);
	m->name = k == OYS_CODE_WASM ? "function.wasm" : "worker.js";
	m->type = k == OYS_CODE_WASM ? OYS_MOD_WASM : k == OYS_CODE_SW ? OYS_MOD_SW : OYS_MOD_ESM;
	m->data = data;
	m->len = len;
	b->nmodules = 1;
	b->main = m->name;
	b->plain = 1;
	return 0;
}

static int modules_cmp(const void *x, const void *y)
{
	return strcmp(((const struct oys_bundle_module *)x)->name, ((const struct oys_bundle_module *)y)->name);
}

/* The checks of the whole, once every record is read. */
static int check_whole(struct oys_bundle *b, struct oys_err *e)
{
	char sh[64];
	if (b->nmodules == 0)
		return oys_err_set(e, OYS_EDATA, "bundle: it holds no module");
	struct oys_bundle_module key = {.name = b->main};
	const struct oys_bundle_module *m =
		bsearch(&key, b->modules, b->nmodules, sizeof *b->modules, modules_cmp);
	if (m == NULL)
		return oys_err_set(e, OYS_EDATA, "bundle: main: '%s' is not a module of the bundle",
		                   show(b->main, strlen(b->main), sh));
	if (m->type != OYS_MOD_ESM && m->type != OYS_MOD_SW && m->type != OYS_MOD_WASM)
		return oys_err_set(e, OYS_EDATA,
		                   "bundle: main: '%s' is a %s module; main is an ES module (esm), a service-worker "
		                   "script (sw) or a Wasm module",
		                   m->name, oys_module_type_name(m->type));
	if ((m->type == OYS_MOD_SW || m->type == OYS_MOD_WASM) && b->nmodules > 1)
		return oys_err_set(e, OYS_EDATA,
		                   "bundle: main: '%s' is %s, which runs alone, but the bundle holds %zu other module%s",
		                   m->name, m->type == OYS_MOD_SW ? "a service-worker script" : "a Wasm module (run through "
		                   "the WASI glue)", b->nmodules - 1, b->nmodules == 2 ? "" : "s");
	for (size_t i = 0; i < b->nmodules; i++)
		if (b->modules[i].type == OYS_MOD_SW && &b->modules[i] != m)
			return oys_err_set(e, OYS_EDATA, "bundle: module '%s' is a service-worker script but not main",
			                   b->modules[i].name);
	if (plain_fit(&b->s, b->nenv, b->modules, b->nmodules))
		return oys_err_set(e, OYS_EDATA,
		                   "bundle: not in canonical form: a single module without settings is the file itself");
	return 0;
}

static int read_module(struct rd *r, struct oys_bundle *b)
{
	const char *name, *data = NULL;
	size_t nlen, len = 0;
	unsigned type = 0;
	char sh[64];
	struct oys_err *e = r->e;
	int rc = rd_str(r, &name, &nlen, OYS_BUNDLE_MAX_NAME + 64);
	if (rc)
		return rc;
	if (oys_bundle_module_name_ok(name, nlen))
		return oys_err_set(e, OYS_EDATA,
		                   "bundle: module '%s': not a module name (A-Z a-z 0-9 _ . - and /, at most %d bytes; "
		                   "no empty or hidden path component; not oys-* or oys.json)",
		                   show(name, nlen, sh), OYS_BUNDLE_MAX_NAME);
	if (b->nmodules) {
		int c = strcmp(b->modules[b->nmodules - 1].name, name);
		if (c >= 0)
			return oys_err_set(e, OYS_EDATA, c ? "bundle: modules out of order: '%s' after '%s'"
			                                   : "bundle: module '%s' appears twice%.0s",
			                   name, b->modules[b->nmodules - 1].name);
	}
	if (b->nmodules == OYS_BUNDLE_MAX_MODULES)
		return oys_err_set(e, OYS_EDATA, "bundle: more than %d modules", OYS_BUNDLE_MAX_MODULES);
	if ((rc = rd_u8(r, &type)) || (rc = rd_bytes(r, &data, &len)))
		return rc;
	if (oys_module_type_name((int)type) == NULL)
		return oys_err_set(e, OYS_EDATA, "bundle: module '%s': unknown type %u", name, type);
	if (type == OYS_MOD_WASM && (len < 8 || memcmp(data, "\0asm\1\0\0\0", 8) != 0))
		return oys_err_set(e, OYS_EDATA, "bundle: module '%s': not a Wasm module (version 1)", name);
	if (type != OYS_MOD_WASM && type != OYS_MOD_DATA && !utf8_ok(data, len))
		return oys_err_set(e, OYS_EDATA, "bundle: module '%s': a %s module must be UTF-8 text without NUL", name,
		                   oys_module_type_name((int)type));
	if (grow((void **)&b->modules, b->nmodules, sizeof *b->modules) < 0)
		return oys_err_sys(e, OYS_EOSERR, "bundle");
	b->modules[b->nmodules++] = (struct oys_bundle_module){name, (enum oys_module_type)type, data, len};
	return 0;
}

static int read_env(struct rd *r, struct oys_bundle *b)
{
	const char *name, *value;
	size_t nlen, vlen;
	char sh[64];
	struct oys_err *e = r->e;
	int rc = rd_str(r, &name, &nlen, OYS_BUNDLE_MAX_ENV_NAME + 64);
	if (rc)
		return rc;
	if (oys_bundle_env_name_ok(name, nlen))
		return oys_err_set(e, OYS_EDATA,
		                   "bundle: env: '%s' is not a name (an identifier of A-Z a-z 0-9 _, at most %d bytes, "
		                   "not OYS_*)",
		                   show(name, nlen, sh), OYS_BUNDLE_MAX_ENV_NAME);
	if (b->nenv) {
		int c = strcmp(b->env[b->nenv - 1].name, name);
		if (c >= 0)
			return oys_err_set(e, OYS_EDATA, c ? "bundle: env out of order: '%s' after '%s'"
			                                   : "bundle: env '%s' appears twice%.0s",
			                   name, b->env[b->nenv - 1].name);
	}
	if (b->nenv == OYS_BUNDLE_MAX_ENV)
		return oys_err_set(e, OYS_EDATA, "bundle: more than %d env entries", OYS_BUNDLE_MAX_ENV);
	if ((rc = rd_str(r, &value, &vlen, OYS_BUNDLE_MAX_ENV_VALUE)))
		return rc;
	if (!utf8_ok(value, vlen))
		return oys_err_set(e, OYS_EDATA, "bundle: env %s: the value is not UTF-8 text", name);
	if (grow((void **)&b->env, b->nenv, sizeof *b->env) < 0)
		return oys_err_sys(e, OYS_EOSERR, "bundle");
	b->env[b->nenv++] = (struct oys_bundle_env){name, value};
	return 0;
}

/* Turns a check of capnp.c (OYS_EUSAGE) into the bundle's error. */
static int as_data(int rc, struct oys_err *e, const char *what)
{
	if (rc == 0)
		return 0;
	oys_err_wrap(e, "bundle: %s", what);
	if (e)
		e->code = OYS_EDATA;
	return OYS_EDATA;
}

static int read_record(struct rd *r, unsigned tag, struct oys_bundle *b)
{
	struct oys_bundle_settings *s = &b->s;
	struct oys_err *e = r->e;
	char sh[64];
	const char *v;
	size_t n;
	uint32_t u;
	int rc;
	switch (tag) {
	case T_MAIN:
		if ((rc = rd_str(r, &v, &n, OYS_BUNDLE_MAX_NAME + 64)))
			return rc;
		if (oys_bundle_module_name_ok(v, n))
			return oys_err_set(e, OYS_EDATA, "bundle: main: '%s' is not a module name", show(v, n, sh));
		b->main = v;
		return 0;
	case T_DATE:
		if ((rc = rd_str(r, &v, &n, 64)))
			return rc;
		s->compat_date = v;
		return as_data(oys_capnp_date_check(v, e), e, "compatibility_date");
	case T_FLAG:
		if ((rc = rd_str(r, &v, &n, OYS_BUNDLE_MAX_FLAG + 64)))
			return rc;
		if ((rc = as_data(oys_capnp_flag_check(v, e), e, "compatibility_flag")))
			return rc;
		if (s->ncompat_flags) {
			int c = strcmp(b->flags_[s->ncompat_flags - 1], v);
			if (c >= 0)
				return oys_err_set(e, OYS_EDATA, c ? "bundle: compatibility flags out of order: '%s' after '%s'"
				                                   : "bundle: compatibility flag '%s' appears twice%.0s",
				                   v, b->flags_[s->ncompat_flags - 1]);
		}
		if (s->ncompat_flags == OYS_BUNDLE_MAX_FLAGS)
			return oys_err_set(e, OYS_EDATA, "bundle: more than %d compatibility flags", OYS_BUNDLE_MAX_FLAGS);
		b->flags_[s->ncompat_flags++] = v;
		return 0;
	case T_MEMORY:
		if ((rc = rd_u64(r, &s->memory)))
			return rc;
		if (s->memory < OYS_BUNDLE_MIN_MEMORY || s->memory > OYS_BUNDLE_MAX_MEMORY)
			return oys_err_set(e, OYS_EDATA, "bundle: memory: %llu bytes is not between 1M and 1T", s->memory);
		return 0;
	case T_CPU:
		if ((rc = rd_u32(r, &u)))
			return rc;
		if (u < OYS_BUNDLE_MIN_CPU || u > OYS_BUNDLE_MAX_CPU)
			return oys_err_set(e, OYS_EDATA, "bundle: cpu: %u thousandths of a core is not between 0.01 and 1024 cores", u);
		s->cpu_milli = u;
		return 0;
	case T_TIMEOUT:
		if ((rc = rd_u32(r, &u)))
			return rc;
		if (u < 1 || u > OYS_BUNDLE_MAX_TIMEOUT)
			return oys_err_set(e, OYS_EDATA, "bundle: timeout: %u ms is not between 1 ms and a day", u);
		s->timeout_ms = u;
		return 0;
	case T_OUTBOUND: {
		if ((rc = rd_str(r, &v, &n, OYS_BUNDLE_MAX_OUTBOUND)))
			return rc;
		struct oys_buf c = OYS_BUF_INIT;
		rc = oys_bundle_outbound_canon(v, &c, e);
		if (rc == 0 && strcmp(c.data, v) != 0)
			rc = oys_err_set(e, OYS_EDATA, "bundle: outbound: '%s' is not in canonical form ('%.200s')",
			                 show(v, n, sh), c.data);
		else if (rc)
			oys_err_wrap(e, "bundle: outbound");
		oys_buf_free(&c);
		s->outbound = v;
		return rc;
	}
	case T_ENV:
		return read_env(r, b);
	case T_MODULE:
		return read_module(r, b);
	default:
		return oys_err_set(e, OYS_EDATA, "bundle: unknown record 0x%02x at byte %zu", tag, r->off - 1);
	}
}

int oys_bundle_parse(const void *data, size_t len, struct oys_bundle *b, struct oys_err *e)
{
	memset(b, 0, sizeof *b);
	const char *p = data;
	if (len < OYS_BUNDLE_MAGIC_LEN || memcmp(p, OYS_BUNDLE_MAGIC, OYS_BUNDLE_MAGIC_LEN) != 0)
		return parse_plain(p, len, b, e);
	struct rd r = {(const unsigned char *)data, len, OYS_BUNDLE_MAGIC_LEN, NULL, 0, e, "version"};
	unsigned version = 0, last = 0;
	int rc = rd_u8(&r, &version);
	if (rc == 0 && version != OYS_BUNDLE_VERSION)
		rc = oys_err_set(e, OYS_EDATA, "bundle: format version %u is unknown (this oys reads version %d)", version,
		                 OYS_BUNDLE_VERSION);
	if (rc)
		return rc;
	/* Every copied string took at least its length and 4 bytes of the input. */
	r.arena = b->arena_ = malloc(len + 1);
	b->flags_ = calloc(OYS_BUNDLE_MAX_FLAGS, sizeof *b->flags_);
	if (r.arena == NULL || b->flags_ == NULL) {
		oys_bundle_free(b);
		return oys_err_sys(e, OYS_EOSERR, "bundle");
	}
	b->s.compat_flags = b->flags_;
	while (rc == 0 && r.off < len) {
		unsigned tag = 0;
		r.rec = "a";
		rd_u8(&r, &tag);
		if (tag >= 1 && tag <= T_LAST)
			r.rec = tag_names[tag];
		if (tag < 1 || tag > T_LAST)
			rc = oys_err_set(e, OYS_EDATA, "bundle: unknown record 0x%02x at byte %zu", tag, r.off - 1);
		else if (last == 0 && tag != T_MAIN)
			rc = oys_err_set(e, OYS_EDATA, "bundle: the first record is not main");
		else if (tag == last && tag != T_FLAG && tag != T_ENV && tag != T_MODULE)
			rc = oys_err_set(e, OYS_EDATA, "bundle: %s appears twice", tag_names[tag]);
		else if (tag < last)
			rc = oys_err_set(e, OYS_EDATA, "bundle: records out of order: %s after %s", tag_names[tag],
			                 tag_names[last]);
		else
			rc = read_record(&r, tag, b);
		last = tag;
	}
	if (rc == 0 && last == 0)
		rc = oys_err_set(e, OYS_EDATA, "bundle: no main record");
	if (rc == 0)
		rc = check_whole(b, e);
	if (rc)
		oys_bundle_free(b);
	return rc;
}

void oys_bundle_free(struct oys_bundle *b)
{
	free(b->arena_);
	free(b->flags_);
	free(b->modules);
	free(b->env);
	memset(b, 0, sizeof *b);
}

/* ---- writing ---- */

static int put_u32(struct oys_buf *o, uint32_t v)
{
	unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
	                      (unsigned char)v};
	return oys_buf_append(o, q, 4);
}

static int put_str(struct oys_buf *o, const char *s, size_t n)
{
	return put_u32(o, (uint32_t)n) | oys_buf_append(o, s, n);
}

static int put_rec(struct oys_buf *o, int tag, const char *s)
{
	return oys_buf_putc(o, (char)tag) | put_str(o, s, strlen(s));
}

static int env_cmp(const void *x, const void *y)
{
	return strcmp(((const struct oys_bundle_env *)x)->name, ((const struct oys_bundle_env *)y)->name);
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int oys_bundle_serialise(const struct oys_bundle *b, struct oys_buf *out, struct oys_err *e)
{
	const struct oys_bundle_settings *s = &b->s;
	size_t nflags = s->ncompat_flags;
	if (b->nmodules > OYS_BUNDLE_MAX_MODULES || b->nenv > OYS_BUNDLE_MAX_ENV || nflags > OYS_BUNDLE_MAX_FLAGS)
		return oys_err_set(e, OYS_EDATA, "bundle: more than %d modules, %d env entries or %d compatibility flags",
		                   OYS_BUNDLE_MAX_MODULES, OYS_BUNDLE_MAX_ENV, OYS_BUNDLE_MAX_FLAGS);
	for (size_t i = 0; i < b->nmodules; i++)
		if (b->modules[i].len > UINT32_MAX)
			return oys_err_set(e, OYS_EDATA, "bundle: module %s: larger than 4 GiB", b->modules[i].name);
	struct oys_bundle_module *mods = malloc((b->nmodules + 1) * sizeof *mods);
	struct oys_bundle_env *env = malloc((b->nenv + 1) * sizeof *env);
	const char **flags = malloc((nflags + 1) * sizeof *flags);
	int rc = 0, bad = 0;
	size_t start = out->len;
	if (mods == NULL || env == NULL || flags == NULL) {
		rc = oys_err_sys(e, OYS_EOSERR, "bundle");
		goto out;
	}
	if (b->nmodules)
		memcpy(mods, b->modules, b->nmodules * sizeof *mods);
	if (b->nenv)
		memcpy(env, b->env, b->nenv * sizeof *env);
	if (nflags)
		memcpy(flags, s->compat_flags, nflags * sizeof *flags);
	qsort(mods, b->nmodules, sizeof *mods, modules_cmp);
	qsort(env, b->nenv, sizeof *env, env_cmp);
	qsort(flags, nflags, sizeof *flags, str_cmp);
	size_t w = 0; /* flags are a set: duplicates dropped */
	for (size_t i = 0; i < nflags; i++)
		if (w == 0 || strcmp(flags[w - 1], flags[i]) != 0)
			flags[w++] = flags[i];
	nflags = w;

	struct oys_bundle_settings cs = *s;
	cs.ncompat_flags = nflags;
	if (b->nmodules == 1 && b->main && strcmp(b->main, mods[0].name) == 0 &&
	    plain_fit(&cs, b->nenv, mods, b->nmodules)) {
		bad = oys_buf_append(out, mods[0].data, mods[0].len);
	} else {
		bad = oys_buf_append(out, OYS_BUNDLE_MAGIC, OYS_BUNDLE_MAGIC_LEN) | oys_buf_putc(out, OYS_BUNDLE_VERSION);
		bad |= put_rec(out, T_MAIN, b->main ? b->main : "");
		if (s->compat_date)
			bad |= put_rec(out, T_DATE, s->compat_date);
		for (size_t i = 0; i < nflags; i++)
			bad |= put_rec(out, T_FLAG, flags[i]);
		if (s->memory)
			bad |= oys_buf_putc(out, T_MEMORY) | put_u32(out, (uint32_t)(s->memory >> 32)) |
			       put_u32(out, (uint32_t)s->memory);
		if (s->cpu_milli)
			bad |= oys_buf_putc(out, T_CPU) | put_u32(out, s->cpu_milli);
		if (s->timeout_ms)
			bad |= oys_buf_putc(out, T_TIMEOUT) | put_u32(out, s->timeout_ms);
		if (s->outbound)
			bad |= put_rec(out, T_OUTBOUND, s->outbound);
		for (size_t i = 0; i < b->nenv; i++)
			bad |= oys_buf_putc(out, T_ENV) | put_str(out, env[i].name, strlen(env[i].name)) |
			       put_str(out, env[i].value, strlen(env[i].value));
		for (size_t i = 0; i < b->nmodules; i++)
			bad |= oys_buf_putc(out, T_MODULE) | put_str(out, mods[i].name, strlen(mods[i].name)) |
			       oys_buf_putc(out, (char)mods[i].type) | put_str(out, mods[i].data, mods[i].len);
	}
	if (bad) {
		rc = oys_err_sys(e, OYS_EOSERR, "bundle");
	} else {
		/* The one check: what is written is what a run reads. */
		struct oys_bundle chk;
		if ((rc = oys_bundle_parse(out->data + start, out->len - start, &chk, e)) == 0)
			oys_bundle_free(&chk);
	}
out:
	if (rc && out->data) {
		out->len = start;
		out->data[start] = '\0';
	}
	free(mods);
	free(env);
	free(flags);
	return rc;
}
