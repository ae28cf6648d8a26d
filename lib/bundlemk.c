/* bundlemk.c: a bundle made from a file or a directory, its oys.json and the command line;
 * its manifest; unpacked into a directory (see bundle.h). */
#include "bundle.h"
#include "capnp.h"
#include "file.h"
#include "json.h"
#include "opt.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST "oys.json"
#define MANIFEST_MAX (1u << 20)
#define MAX_DEPTH 16

static const char *const manifest_keys[] = {
	"main", "compatibility_date", "compatibility_flags", "memory", "cpu", "timeout", "outbound", "env", "modules",
};
#define NKEYS (sizeof manifest_keys / sizeof *manifest_keys)

/* What a bundle is made of while it is made: the bundle (pointing into the rest), and all
 * the memory it points into. */
struct mk {
	struct oys_bundle b;
	const char *what;              /* the path, for messages */
	char **owned;                  /* strings and file contents, freed at the end */
	size_t nowned;
	const char **flags;
	size_t cap_modules;
	size_t total, max;             /* bytes read, at most */
	unsigned char *typed;          /* per module: its type was given (oys.json "modules") */
};

static void mk_free(struct mk *m)
{
	for (size_t i = 0; i < m->nowned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->b.modules);
	free(m->b.env);
	free(m->flags);
	free(m->typed);
}

/* Keeps p (malloc'd) until the end; returns it, or NULL (and frees it) when out of memory. */
static char *own(struct mk *m, char *p)
{
	if (p == NULL)
		return NULL;
	char **n = realloc(m->owned, (m->nowned + 1) * sizeof *n);
	if (n == NULL) {
		free(p);
		return NULL;
	}
	m->owned = n;
	m->owned[m->nowned++] = p;
	return p;
}

static char *own_str(struct mk *m, const char *s)
{
	return own(m, strdup(s));
}

static int oom(struct oys_err *e)
{
	return oys_err_sys(e, OYS_EOSERR, "bundle");
}

/* ---- setting values: where names the key ("--memory", "DIR/oys.json: memory") ---- */

static int bad(struct oys_err *e, const char *where, const char *v, const char *what)
{
	return oys_err_set(e, OYS_EDATA, "%s: '%.80s' is not %s", where, v, what);
}

static int set_memory(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	unsigned long long n;
	if (oys_parse_size(v, &n) < 0 || n < OYS_BUNDLE_MIN_MEMORY || n > OYS_BUNDLE_MAX_MEMORY)
		return bad(e, where, v, "a size between 1M and 1T (like 64M, 1G)");
	m->b.s.memory = n;
	return 0;
}

/* A decimal number in [lo, hi] with at most 3 decimals, in thousandths. */
static int thousandths(const char *v, double lo, double hi, unsigned *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo && d <= hi))
		return -1;
	double k = d * 1000;
	double r = (double)(unsigned long long)(k + 0.5); /* k >= 0; no libm */
	if (k - r > 1e-6 || r - k > 1e-6)
		return -1;
	*out = (unsigned)r;
	return 0;
}

static int set_cpu(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	if (thousandths(v, OYS_BUNDLE_MIN_CPU / 1000.0, OYS_BUNDLE_MAX_CPU / 1000.0, &m->b.s.cpu_milli) < 0)
		return bad(e, where, v, "a number of cores (0.01 to 1024, like 0.5)");
	return 0;
}

static int set_timeout(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	if (thousandths(v, 0.001, OYS_BUNDLE_MAX_TIMEOUT / 1000.0, &m->b.s.timeout_ms) < 0)
		return bad(e, where, v, "a number of seconds (0.001 to 86400, like 2.5)");
	return 0;
}

static int set_date(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	if (oys_capnp_date_check(v, NULL))
		return bad(e, where, v, "a date YYYY-MM-DD");
	return (m->b.s.compat_date = own_str(m, v)) ? 0 : oom(e);
}

static int set_outbound(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	struct oys_buf c = OYS_BUF_INIT;
	int rc = oys_bundle_outbound_canon(v, &c, e);
	if (rc) {
		oys_buf_free(&c);
		return oys_err_wrap(e, "%s", where);
	}
	m->b.s.outbound = own(m, oys_buf_steal(&c, NULL));
	return m->b.s.outbound ? 0 : oom(e);
}

static int add_flag(struct mk *m, const char *where, const char *v, struct oys_err *e)
{
	if (oys_capnp_flag_check(v, e)) {
		oys_err_wrap(e, "%s", where);
		if (e)
			e->code = OYS_EDATA;
		return OYS_EDATA;
	}
	if (m->b.s.ncompat_flags == OYS_BUNDLE_MAX_FLAGS)
		return oys_err_set(e, OYS_EDATA, "%s: more than %d compatibility flags", where, OYS_BUNDLE_MAX_FLAGS);
	const char *c = own_str(m, v);
	if (c == NULL)
		return oom(e);
	m->flags[m->b.s.ncompat_flags++] = c;
	return 0;
}

/* Sets env name to value, replacing an earlier value of the name. */
static int set_env(struct mk *m, const char *where, const char *name, size_t nlen, const char *value,
                   struct oys_err *e)
{
	if (oys_bundle_env_name_ok(name, nlen))
		return oys_err_set(e, OYS_EDATA,
		                   "%s: '%.*s' is not an env name (an identifier of A-Z a-z 0-9 _, at most %d bytes, not "
		                   "OYS_*)",
		                   where, (int)(nlen > 80 ? 80 : nlen), name, OYS_BUNDLE_MAX_ENV_NAME);
	size_t vlen = strlen(value);
	if (vlen > OYS_BUNDLE_MAX_ENV_VALUE)
		return oys_err_set(e, OYS_EDATA, "%s: the value of %.*s is longer than %d bytes", where, (int)nlen, name,
		                   OYS_BUNDLE_MAX_ENV_VALUE);
	char *n = own(m, strndup(name, nlen)), *v = own_str(m, value);
	if (n == NULL || v == NULL)
		return oom(e);
	for (size_t i = 0; i < m->b.nenv; i++)
		if (strcmp(m->b.env[i].name, n) == 0) {
			m->b.env[i].value = v;
			return 0;
		}
	if (m->b.nenv == OYS_BUNDLE_MAX_ENV)
		return oys_err_set(e, OYS_EDATA, "%s: more than %d env entries", where, OYS_BUNDLE_MAX_ENV);
	m->b.env[m->b.nenv++] = (struct oys_bundle_env){n, v};
	return 0;
}

/* ---- modules ---- */

static enum oys_module_type type_by_name(const char *name)
{
	static const struct {
		const char *ext;
		enum oys_module_type t;
	} map[] = {
		{".js", OYS_MOD_ESM},    {".mjs", OYS_MOD_ESM},  {".cjs", OYS_MOD_CJS},  {".wasm", OYS_MOD_WASM},
		{".json", OYS_MOD_JSON}, {".txt", OYS_MOD_TEXT}, {".html", OYS_MOD_TEXT}, {".htm", OYS_MOD_TEXT},
		{".css", OYS_MOD_TEXT},  {".md", OYS_MOD_TEXT},  {".csv", OYS_MOD_TEXT}, {".svg", OYS_MOD_TEXT},
		{".xml", OYS_MOD_TEXT},  {".sql", OYS_MOD_TEXT}, {".yaml", OYS_MOD_TEXT}, {".yml", OYS_MOD_TEXT},
		{".toml", OYS_MOD_TEXT},
	};
	const char *dot = strrchr(name, '.'), *slash = strrchr(name, '/');
	if (dot && (slash == NULL || dot > slash))
		for (size_t i = 0; i < sizeof map / sizeof *map; i++)
			if (strcmp(dot, map[i].ext) == 0)
				return map[i].t;
	return OYS_MOD_DATA;
}

static int add_module(struct mk *m, const char *name, enum oys_module_type t, char *data, size_t len,
                      struct oys_err *e)
{
	if (m->b.nmodules == OYS_BUNDLE_MAX_MODULES)
		return oys_err_set(e, OYS_EDATA, "%s: more than %d modules", m->what, OYS_BUNDLE_MAX_MODULES);
	if (m->b.nmodules == m->cap_modules) {
		size_t cap = m->cap_modules ? 2 * m->cap_modules : 16;
		struct oys_bundle_module *n = realloc(m->b.modules, cap * sizeof *n);
		unsigned char *ty = realloc(m->typed, cap);
		if (n)
			m->b.modules = n;
		if (ty)
			m->typed = ty;
		if (n == NULL || ty == NULL)
			return oom(e);
		m->cap_modules = cap;
	}
	const char *nm = own_str(m, name);
	if (nm == NULL)
		return oom(e);
	m->typed[m->b.nmodules] = 0;
	m->b.modules[m->b.nmodules++] = (struct oys_bundle_module){nm, t, data, len};
	return 0;
}

/* Reads a file of the bundle (counted against the total). */
static int read_part(struct mk *m, const char *path, char **data, size_t *len, struct oys_err *e)
{
	struct oys_buf b = OYS_BUF_INIT;
	int rc = oys_read_file(path, m->max - m->total, &b, e);
	if (rc) {
		oys_buf_free(&b);
		if (rc == OYS_EDATA)
			return oys_err_set(e, OYS_EDATA, "%s: the bundle is larger than %zu bytes", m->what, m->max);
		return rc;
	}
	m->total += b.len;
	*data = own(m, oys_buf_steal(&b, len));
	return *data ? 0 : oom(e);
}

/* The files under root/rel, recursively. */
static int walk(struct mk *m, const char *root, const char *rel, int depth, struct oys_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX], name[PATH_MAX];
	if (snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel) >= (int)sizeof dir)
		return oys_err_set(e, OYS_EDATA, "%s/%s: path too long", root, rel);
	DIR *d = opendir(dir);
	if (d == NULL)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot read %s", dir);
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (n[0] == '.' || (*rel == '\0' && strcmp(n, MANIFEST) == 0))
			continue;
		struct stat st;
		if (snprintf(path, sizeof path, "%s/%s", dir, n) >= (int)sizeof path ||
		    snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", n) >= (int)sizeof name) {
			rc = oys_err_set(e, OYS_EDATA, "%s/%s: path too long", dir, n);
		} else if (stat(path, &st) < 0) {
			rc = oys_err_sys(e, OYS_EIO, "cannot read %s", path);
		} else if (S_ISDIR(st.st_mode)) {
			rc = depth >= MAX_DEPTH ? oys_err_set(e, OYS_EDATA, "%s: directories nested deeper than %d", path, MAX_DEPTH)
			                        : walk(m, root, name, depth + 1, e);
		} else if (!S_ISREG(st.st_mode)) {
			rc = oys_err_set(e, OYS_EDATA, "%s: not a file or a directory", path);
		} else if (oys_bundle_module_name_ok(name, strlen(name))) {
			rc = oys_err_set(e, OYS_EDATA,
			                 "%s: '%.80s' is not a module name (A-Z a-z 0-9 _ . - and /, at most %d bytes, "
			                 "starting with a letter, a digit or _; not oys-*)",
			                 path, name, OYS_BUNDLE_MAX_NAME);
		} else {
			char *data;
			size_t len;
			if ((rc = read_part(m, path, &data, &len, e)) == 0)
				rc = add_module(m, name, type_by_name(name), data, len, e);
		}
	}
	closedir(d);
	return rc;
}

static struct oys_bundle_module *find(struct mk *m, const char *name)
{
	for (size_t i = 0; i < m->b.nmodules; i++)
		if (strcmp(m->b.modules[i].name, name) == 0)
			return &m->b.modules[i];
	return NULL;
}

/* ---- oys.json ---- */

/* A manifest value as text: a string as it is, a number as JSON writes it. NULL otherwise. */
static const char *scalar(struct mk *m, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING)
		return own_str(m, jv_string_value(v));
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		return own(m, oys_json_dump(jv_copy(v), 0));
	return NULL;
}

static int manifest_key(struct mk *m, const char *where, const char *key, jv v, const char **main,
                        struct oys_err *e)
{
	char w[PATH_MAX + 64];
	snprintf(w, sizeof w, "%s: %s", where, key);
	jv_kind k = jv_get_kind(v);
	const char *s = k == JV_KIND_STRING ? jv_string_value(v) : NULL;
	if (strcmp(key, "main") == 0) {
		if (s == NULL)
			return oys_err_set(e, OYS_EDATA, "%s: not a string", w);
		*main = own_str(m, s);
		return *main ? 0 : oom(e);
	}
	if (strcmp(key, "compatibility_date") == 0)
		return s ? set_date(m, w, s, e) : oys_err_set(e, OYS_EDATA, "%s: not a string", w);
	if (strcmp(key, "outbound") == 0)
		return s ? set_outbound(m, w, s, e) : oys_err_set(e, OYS_EDATA, "%s: not a string", w);
	if (strcmp(key, "memory") == 0 || strcmp(key, "cpu") == 0 || strcmp(key, "timeout") == 0) {
		const char *t = scalar(m, v);
		if (t == NULL)
			return oys_err_set(e, OYS_EDATA, "%s: not a string or a number", w);
		return key[0] == 'm' ? set_memory(m, w, t, e) : key[0] == 'c' ? set_cpu(m, w, t, e) : set_timeout(m, w, t, e);
	}
	if (strcmp(key, "compatibility_flags") == 0) {
		if (k != JV_KIND_ARRAY)
			return oys_err_set(e, OYS_EDATA, "%s: not an array of strings", w);
		int rc = 0;
		jv_array_foreach(v, i, f) {
			if (rc == 0)
				rc = jv_get_kind(f) == JV_KIND_STRING ? add_flag(m, w, jv_string_value(f), e)
				                                      : oys_err_set(e, OYS_EDATA, "%s: not an array of strings", w);
			jv_free(f);
		}
		return rc;
	}
	if (strcmp(key, "env") == 0 || strcmp(key, "modules") == 0) {
		if (k != JV_KIND_OBJECT)
			return oys_err_set(e, OYS_EDATA, "%s: not an object of strings", w);
		int rc = 0;
		jv_object_foreach(v, name, val) {
			const char *n = jv_string_value(name);
			if (rc)
				;
			else if (jv_get_kind(val) != JV_KIND_STRING)
				rc = oys_err_set(e, OYS_EDATA, "%s: %.80s: not a string", w, n);
			else if (key[0] == 'e')
				rc = set_env(m, w, n, strlen(n), jv_string_value(val), e);
			else {
				struct oys_bundle_module *mod = find(m, n);
				enum oys_module_type t;
				if (mod == NULL)
					rc = oys_err_set(e, OYS_EDATA, "%s: '%.80s' is not a file of the bundle", w, n);
				else if (oys_module_type_parse(jv_string_value(val), &t) < 0)
					rc = oys_err_set(e, OYS_EDATA,
					                 "%s: %.80s: '%.40s' is not a module type (esm, cjs, sw, wasm, json, text, data)",
					                 w, n, jv_string_value(val));
				else {
					mod->type = t;
					m->typed[mod - m->b.modules] = 1;
				}
			}
			jv_free(name);
			jv_free(val);
		}
		return rc;
	}
	struct oys_buf known = OYS_BUF_INIT;
	for (size_t i = 0; i < NKEYS; i++)
		oys_buf_printf(&known, "%s%s", i ? ", " : "", manifest_keys[i]);
	oys_err_set(e, OYS_EDATA, "%s: unknown key '%.80s' (the keys are %s)", where, key,
	            known.data ? known.data : "");
	oys_buf_free(&known);
	return OYS_EDATA;
}

/* DIR/oys.json, when there is one. */
static int read_manifest(struct mk *m, const char *dir, const char **main, struct oys_err *e)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s/%s", dir, MANIFEST) >= (int)sizeof path)
		return oys_err_set(e, OYS_EDATA, "%s: path too long", dir);
	if (access(path, F_OK) < 0)
		return 0;
	struct oys_buf b = OYS_BUF_INIT;
	jv v;
	int rc = oys_read_file(path, MANIFEST_MAX, &b, e);
	if (rc == 0 && (rc = oys_json_parse(b.data, b.len, &v, e)))
		oys_err_wrap(e, "%s", path);
	oys_buf_free(&b);
	if (rc)
		return rc;
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return oys_err_set(e, OYS_EDATA, "%s: not a JSON object", path);
	}
	/* modules last: their types apply to what the walk found */
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		jv_object_foreach(v, key, val) {
			const char *k = jv_string_value(key);
			if (rc == 0 && (strcmp(k, "modules") == 0) == pass)
				rc = manifest_key(m, path, k, val, main, e);
			jv_free(key);
			jv_free(val);
		}
	}
	jv_free(v);
	return rc;
}

/* ---- the command line ---- */

int oys_bundle_flags_any(const struct oys_bundle_flags *f)
{
	return f && (f->main || f->compat_date || f->memory || f->cpu || f->timeout || f->outbound ||
	             f->ncompat_flags || f->nenv);
}

static int apply_flags(struct mk *m, const struct oys_bundle_flags *f, struct oys_err *e)
{
	int rc = 0;
	if (f == NULL)
		return 0;
	if (rc == 0 && f->compat_date)
		rc = set_date(m, "--compat-date", f->compat_date, e);
	if (rc == 0 && f->memory)
		rc = set_memory(m, "--memory", f->memory, e);
	if (rc == 0 && f->cpu)
		rc = set_cpu(m, "--cpu", f->cpu, e);
	if (rc == 0 && f->timeout)
		rc = set_timeout(m, "--timeout", f->timeout, e);
	if (rc == 0 && f->outbound)
		rc = set_outbound(m, "--outbound", f->outbound, e);
	if (f->ncompat_flags)
		m->b.s.ncompat_flags = 0; /* the command line's list replaces oys.json's */
	for (size_t i = 0; rc == 0 && i < f->ncompat_flags; i++)
		rc = add_flag(m, "--compat-flag", f->compat_flags[i], e);
	for (size_t i = 0; rc == 0 && i < f->nenv; i++) {
		const char *eq = strchr(f->env[i], '=');
		if (eq == NULL)
			rc = oys_err_set(e, OYS_EDATA, "--env: '%.80s' is not NAME=VALUE", f->env[i]);
		else
			rc = set_env(m, "--env", f->env[i], (size_t)(eq - f->env[i]), eq + 1, e);
	}
	return rc;
}

/* main: given, else the one ES module or service-worker script, else the one Wasm module. */
static int choose_main(struct mk *m, const char *given, struct oys_err *e)
{
	if (given) {
		if (find(m, given) == NULL)
			return oys_err_set(e, OYS_EDATA, "main: '%.80s' is not a module of the bundle %s", given, m->what);
		m->b.main = given;
		return 0;
	}
	const char *js = NULL, *wasm = NULL;
	size_t njs = 0, nwasm = 0;
	struct oys_buf list = OYS_BUF_INIT;
	for (size_t i = 0; i < m->b.nmodules; i++) {
		const struct oys_bundle_module *mod = &m->b.modules[i];
		if (mod->type == OYS_MOD_ESM || mod->type == OYS_MOD_SW)
			js = mod->name, njs++;
		else if (mod->type == OYS_MOD_WASM)
			wasm = mod->name, nwasm++;
	}
	if (njs == 1 || (njs == 0 && nwasm == 1)) {
		m->b.main = njs ? js : wasm;
		return 0;
	}
	for (size_t i = 0; i < m->b.nmodules; i++) {
		int t = m->b.modules[i].type;
		if (njs ? t == OYS_MOD_ESM || t == OYS_MOD_SW : t == OYS_MOD_WASM)
			oys_buf_printf(&list, "%s%s", list.len ? ", " : "", m->b.modules[i].name);
	}
	if (list.data)
		oys_err_set(e, OYS_EDATA, "main: not given (--main, or \"main\" in oys.json), and %s holds %zu modules that "
		            "could be it: %.600s", m->what, njs ? njs : nwasm, list.data);
	else
		oys_err_set(e, OYS_EDATA, "main: %s holds no JavaScript or Wasm module", m->what);
	oys_buf_free(&list);
	return OYS_EDATA;
}

/* The main module of a directory: a .js file that is a service-worker script is one. */
static void retype_main(struct mk *m)
{
	struct oys_bundle_module *mod = find(m, m->b.main);
	size_t n = strlen(mod->name);
	if (!m->typed[mod - m->b.modules] && mod->type == OYS_MOD_ESM && n > 3 && strcmp(mod->name + n - 3, ".js") == 0 &&
	    oys_code_detect(mod->data, mod->len) == OYS_CODE_SW)
		mod->type = OYS_MOD_SW;
}

/* JSON modules are JSON (workerd would say so only when it starts). */
static int check_json(struct mk *m, struct oys_err *e)
{
	for (size_t i = 0; i < m->b.nmodules; i++) {
		const struct oys_bundle_module *mod = &m->b.modules[i];
		jv v;
		if (mod->type != OYS_MOD_JSON)
			continue;
		if (oys_json_parse(mod->data, mod->len, &v, e))
			return oys_err_wrap(e, "module %s", mod->name);
		jv_free(v);
	}
	return 0;
}

static int module_cmp(const void *x, const void *y)
{
	return strcmp(((const struct oys_bundle_module *)x)->name, ((const struct oys_bundle_module *)y)->name);
}

static int make_dir(struct mk *m, const char *dir, const struct oys_bundle_flags *f, struct oys_err *e)
{
	const char *main = NULL;
	int rc = walk(m, dir, "", 0, e);
	if (rc == 0) /* in name order, as they will be stored (no type given yet) */
		qsort(m->b.modules, m->b.nmodules, sizeof *m->b.modules, module_cmp);
	if (rc == 0)
		rc = read_manifest(m, dir, &main, e);
	if (rc == 0)
		rc = apply_flags(m, f, e);
	if (rc == 0)
		rc = choose_main(m, f && f->main ? f->main : main, e);
	if (rc == 0)
		retype_main(m);
	return rc;
}

/* A single file: worker.js or function.wasm (or --main's name), with the flags' settings. */
static int make_file(struct mk *m, char *data, size_t len, const struct oys_bundle_flags *f, struct oys_err *e)
{
	enum oys_code_kind k = oys_code_detect(data, len);
	const char *name = f && f->main ? f->main : k == OYS_CODE_WASM ? "function.wasm" : "worker.js";
	char sh[96];
	if (oys_bundle_module_name_ok(name, strlen(name)))
		return oys_err_set(e, OYS_EDATA,
		                   "--main: '%.80s' is not a module name (A-Z a-z 0-9 _ . - and /, starting with a letter, "
		                   "a digit or _)", name);
	enum oys_module_type t = k == OYS_CODE_WASM ? OYS_MOD_WASM : OYS_MOD_ESM;
	size_t n = strlen(name);
	if (f && f->main)
		t = type_by_name(name);
	if (t == OYS_MOD_ESM && k == OYS_CODE_SW && n > 3 && strcmp(name + n - 3, ".js") == 0)
		t = OYS_MOD_SW; /* worker.js, or --main's *.js: a service worker when it reads as one */
	snprintf(sh, sizeof sh, "%s", name);
	int rc = add_module(m, sh, t, data, len, e);
	if (rc == 0)
		rc = apply_flags(m, f, e);
	if (rc == 0)
		m->b.main = m->b.modules[0].name;
	return rc;
}

/* A file that is a bundle already: its modules and settings, the flags over them. */
static int make_from_bundle(struct mk *m, const char *data, size_t len, const struct oys_bundle_flags *f,
                            struct oys_err *e)
{
	struct oys_bundle src;
	int rc = oys_bundle_parse(data, len, &src, e);
	if (rc)
		return oys_err_wrap(e, "%s", m->what);
	/* everything copied out of src, which is freed here */
	for (size_t i = 0; rc == 0 && i < src.nmodules; i++)
		rc = add_module(m, src.modules[i].name, src.modules[i].type, (char *)src.modules[i].data, src.modules[i].len, e);
	const struct oys_bundle_settings *s = &src.s;
	if (rc == 0 && s->compat_date)
		rc = set_date(m, "compatibility_date", s->compat_date, e);
	for (size_t i = 0; rc == 0 && i < s->ncompat_flags; i++)
		rc = add_flag(m, "compatibility_flag", s->compat_flags[i], e);
	m->b.s.memory = s->memory;
	m->b.s.cpu_milli = s->cpu_milli;
	m->b.s.timeout_ms = s->timeout_ms;
	if (rc == 0 && s->outbound)
		rc = set_outbound(m, "outbound", s->outbound, e);
	for (size_t i = 0; rc == 0 && i < src.nenv; i++)
		rc = set_env(m, "env", src.env[i].name, strlen(src.env[i].name), src.env[i].value, e);
	const char *main = rc == 0 ? own_str(m, src.main) : NULL;
	oys_bundle_free(&src);
	if (rc == 0 && main == NULL)
		rc = oom(e);
	if (rc == 0)
		rc = apply_flags(m, f, e);
	if (rc == 0)
		rc = choose_main(m, f && f->main ? f->main : main, e);
	return rc;
}

static int mk_init(struct mk *m, const char *what, size_t max, struct oys_err *e)
{
	memset(m, 0, sizeof *m);
	m->max = max ? max : OYS_CODE_MAX_DEFAULT;
	m->what = what;
	m->flags = calloc(OYS_BUNDLE_MAX_FLAGS, sizeof *m->flags);
	m->b.env = calloc(OYS_BUNDLE_MAX_ENV, sizeof *m->b.env);
	m->b.s.compat_flags = m->flags;
	return m->flags && m->b.env ? 0 : oom(e);
}

/* A file's bytes: a bundle already, or a single module. */
static int make_bytes(struct mk *m, char *data, size_t len, const struct oys_bundle_flags *f, struct oys_err *e)
{
	if (len >= OYS_BUNDLE_MAGIC_LEN && memcmp(data, OYS_BUNDLE_MAGIC, OYS_BUNDLE_MAGIC_LEN) == 0)
		return make_from_bundle(m, data, len, f, e);
	return make_file(m, data, len, f, e);
}

static int mk_finish(struct mk *m, int rc, struct oys_buf *out, struct oys_err *e)
{
	if (rc == 0)
		rc = check_json(m, e);
	if (rc == 0)
		rc = oys_bundle_serialise(&m->b, out, e);
	mk_free(m);
	return rc;
}

int oys_bundle_make(const char *path, const struct oys_bundle_flags *f, size_t max, struct oys_buf *out,
                    struct oys_err *e)
{
	struct mk m;
	struct stat st;
	int rc = mk_init(&m, strcmp(path, "-") == 0 ? "standard input" : path, max, e);
	if (rc == 0 && strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = make_dir(&m, path, f, e);
	} else if (rc == 0) {
		char *data;
		size_t len;
		if ((rc = read_part(&m, path, &data, &len, e)) == 0)
			rc = make_bytes(&m, data, len, f, e);
	}
	return mk_finish(&m, rc, out, e);
}

int oys_bundle_make_bytes(const char *data, size_t len, const char *what, const struct oys_bundle_flags *f,
                          struct oys_buf *out, struct oys_err *e)
{
	struct mk m;
	int rc = mk_init(&m, what, len, e);
	if (rc == 0)
		rc = make_bytes(&m, (char *)data, len, f, e);
	return mk_finish(&m, rc, out, e);
}

/* ---- the manifest, and unpacking ---- */

static jv manifest_json(const struct oys_bundle *b)
{
	const struct oys_bundle_settings *s = &b->s;
	jv o = jv_object();
	o = oys_json_set_str(o, "main", b->main);
	if (s->compat_date)
		o = oys_json_set_str(o, "compatibility_date", s->compat_date);
	if (s->ncompat_flags) {
		jv a = jv_array();
		for (size_t i = 0; i < s->ncompat_flags; i++)
			a = jv_array_append(a, jv_string(s->compat_flags[i]));
		o = jv_object_set(o, jv_string("compatibility_flags"), a);
	}
	if (s->memory) {
		struct oys_buf t = OYS_BUF_INIT;
		oys_bundle_size_text(&t, s->memory);
		o = oys_json_set_str(o, "memory", t.data ? t.data : "");
		oys_buf_free(&t);
	}
	if (s->cpu_milli)
		o = oys_json_set_num(o, "cpu", s->cpu_milli / 1000.0);
	if (s->timeout_ms)
		o = oys_json_set_num(o, "timeout", s->timeout_ms / 1000.0);
	if (s->outbound)
		o = oys_json_set_str(o, "outbound", s->outbound);
	if (b->nenv) {
		jv env = jv_object();
		for (size_t i = 0; i < b->nenv; i++)
			env = oys_json_set_str(env, b->env[i].name, b->env[i].value);
		o = jv_object_set(o, jv_string("env"), env);
	}
	jv mods = jv_object();
	for (size_t i = 0; i < b->nmodules; i++)
		mods = oys_json_set_str(mods, b->modules[i].name, oys_module_type_name(b->modules[i].type));
	return jv_object_set(o, jv_string("modules"), mods);
}

int oys_bundle_manifest(const struct oys_bundle *b, struct oys_buf *out, struct oys_err *e)
{
	char *s = oys_json_dump(manifest_json(b), 1);
	int rc = s == NULL || oys_buf_puts(out, s) < 0 || oys_buf_putc(out, '\n') < 0;
	free(s);
	return rc ? oom(e) : 0;
}

int oys_bundle_unpack(const struct oys_bundle *b, const char *dir, struct oys_err *e)
{
	char path[PATH_MAX];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", dir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot open %s", dir);
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty)
		return oys_err_set(e, OYS_ECANTCREAT, "%s is not empty", dir);
	for (size_t i = 0; i < b->nmodules; i++) {
		const struct oys_bundle_module *mod = &b->modules[i];
		if (snprintf(path, sizeof path, "%s/%s", dir, mod->name) >= (int)sizeof path)
			return oys_err_set(e, OYS_ECANTCREAT, "%s/%s: path too long", dir, mod->name);
		/* the name's directories (names have no "." or ".." components) */
		for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
			*p = '\0';
			int r = mkdir(path, 0755);
			*p = '/';
			if (r < 0 && errno != EEXIST)
				return oys_err_sys(e, OYS_ECANTCREAT, "cannot create the directory of %s", path);
		}
		int rc = oys_write_new(path, mod->data, mod->len, 0644, e);
		if (rc)
			return rc;
	}
	if (b->plain)
		return 0;
	struct oys_buf m = OYS_BUF_INIT;
	int rc = oys_bundle_manifest(b, &m, e);
	if (rc == 0 && snprintf(path, sizeof path, "%s/%s", dir, MANIFEST) < (int)sizeof path)
		rc = oys_write_new(path, m.data, m.len, 0644, e);
	oys_buf_free(&m);
	return rc;
}
