/* Unit tests of lib/bundle.c and lib/bundlemk.c: the format read strictly (every refusal
 * named), written canonically, the plain form, outbound policies, the host's maxima, bundles
 * made from directories. */
#include "tap.h"
#include "../../lib/bundle.h"
#include "../../lib/file.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct oys_err E;

/* ---- a byte builder for hand-made bundles ---- */

static void u32(struct oys_buf *b, uint32_t v)
{
	unsigned char q[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
	                      (unsigned char)v};
	oys_buf_append(b, q, 4);
}

static void str(struct oys_buf *b, const char *s, size_t n)
{
	u32(b, (uint32_t)n);
	oys_buf_append(b, s, n);
}

static void rec(struct oys_buf *b, int tag, const char *s)
{
	oys_buf_putc(b, (char)tag);
	str(b, s, strlen(s));
}

static void start(struct oys_buf *b, const char *main)
{
	oys_buf_reset(b);
	oys_buf_append(b, "\0oys\1", 5);
	rec(b, 1, main);
}

static void module(struct oys_buf *b, const char *name, int type, const char *data, size_t len)
{
	oys_buf_putc(b, 9);
	str(b, name, strlen(name));
	oys_buf_putc(b, (char)type);
	str(b, data, len);
}

static const char ESM[] = "export default { fetch() { return new Response('hi') } }";
static const char SW[] = "addEventListener('fetch', e => e.respondWith(new Response('hi')))";
static const char WASM[] = "\0asm\1\0\0\0";

/* Parses b; 0 and frees when it is accepted, else the code (message in E). */
static int parse(const struct oys_buf *b)
{
	struct oys_bundle x;
	memset(&E, 0, sizeof E);
	int rc = oys_bundle_parse(b->data, b->len, &x, &E);
	if (rc == 0)
		oys_bundle_free(&x);
	return rc;
}

/* Whether b is refused with a message containing want. */
static int refused(const struct oys_buf *b, const char *want)
{
	int rc = parse(b);
	if (rc != OYS_EDATA || strstr(E.msg, want) == NULL) {
		printf("#   got %d: %s\n", rc, E.msg);
		return 0;
	}
	return 1;
}

static int canon_is(const char *in, const char *want)
{
	struct oys_buf b = OYS_BUF_INIT;
	int rc = oys_bundle_outbound_canon(in, &b, &E);
	int ok = want ? rc == 0 && strcmp(b.data, want) == 0 : rc == OYS_EDATA;
	if (!ok)
		printf("#   %s -> %d %s %s\n", in, rc, b.data ? b.data : "", E.msg);
	oys_buf_free(&b);
	return ok;
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	mkdir(p, 0755);
	*slash = '/';
	oys_write_atomic(p, text, strlen(text), 0644, NULL);
}

int main(void)
{
	struct oys_bundle b;
	struct oys_buf x = OYS_BUF_INIT, y = OYS_BUF_INIT;

	/* ---- the plain form: every stored single file reads as it always did ---- */
	ok(oys_bundle_parse(ESM, strlen(ESM), &b, &E) == 0 && b.plain && b.nmodules == 1 &&
	       strcmp(b.main, "worker.js") == 0 && b.modules[0].type == OYS_MOD_ESM && b.modules[0].data == ESM,
	   "a JS module file is the plain bundle worker.js, its bytes in place");
	oys_bundle_free(&b);
	ok(oys_bundle_parse(SW, strlen(SW), &b, &E) == 0 && b.plain && b.modules[0].type == OYS_MOD_SW,
	   "a service-worker script is plain too");
	oys_bundle_free(&b);
	ok(oys_bundle_parse(WASM, 8, &b, &E) == 0 && b.plain && strcmp(b.main, "function.wasm") == 0 &&
	       b.modules[0].type == OYS_MOD_WASM,
	   "a Wasm file is the plain bundle function.wasm");
	oys_bundle_free(&b);

	/* ---- serialised: written canonically, read back the same ---- */
	{
		struct oys_bundle_module mods[] = {
			{"z.txt", OYS_MOD_TEXT, "zz", 2},
			{"index.js", OYS_MOD_ESM, ESM, strlen(ESM)},
			{"data/a.json", OYS_MOD_JSON, "[1]", 3},
		};
		struct oys_bundle_env env[] = {{"TOKEN", "s3cret"}, {"API", "https://x.example"}};
		const char *flags[] = {"nodejs_compat", "nodejs_als", "nodejs_compat"};
		struct oys_bundle in = {0};
		in.main = "index.js";
		in.modules = mods;
		in.nmodules = 3;
		in.env = env;
		in.nenv = 2;
		in.s.compat_date = "2024-09-01";
		in.s.compat_flags = flags;
		in.s.ncompat_flags = 3;
		in.s.memory = 64ULL << 20;
		in.s.cpu_milli = 250;
		in.s.timeout_ms = 1500;
		in.s.outbound = "public";
		ok(oys_bundle_serialise(&in, &x, &E) == 0 && x.len > 5 && memcmp(x.data, "\0oys\1", 5) == 0,
		   "a bundle with settings is serialised, magic and version first");
		ok(oys_bundle_parse(x.data, x.len, &b, &E) == 0 && !b.plain && strcmp(b.main, "index.js") == 0 &&
		       b.nmodules == 3 && strcmp(b.modules[0].name, "data/a.json") == 0 &&
		       strcmp(b.modules[2].name, "z.txt") == 0 && b.nenv == 2 && strcmp(b.env[0].name, "API") == 0 &&
		       b.s.ncompat_flags == 2 && strcmp(b.s.compat_flags[0], "nodejs_als") == 0 &&
		       b.s.memory == 64ULL << 20 && b.s.cpu_milli == 250 && b.s.timeout_ms == 1500 &&
		       strcmp(b.s.outbound, "public") == 0 && strcmp(b.s.compat_date, "2024-09-01") == 0,
		   "it reads back: modules, env and flags sorted, flags a set, every setting kept");
		ok(oys_bundle_serialise(&b, &y, &E) == 0 && y.len == x.len && memcmp(x.data, y.data, x.len) == 0,
		   "serialising what was read gives the same bytes (one bundle, one byte string)");
		oys_bundle_free(&b);
		oys_buf_reset(&y);
		/* other settings, other bytes */
		in.s.timeout_ms = 1000;
		ok(oys_bundle_serialise(&in, &y, &E) == 0 && (y.len != x.len || memcmp(x.data, y.data, x.len) != 0),
		   "the same code with another timeout is another byte string (another id)");
		oys_buf_reset(&y);
		mods[0].name = "index.js";
		ok(oys_bundle_serialise(&in, &y, &E) == OYS_EDATA && strstr(E.msg, "module 'index.js' appears twice") &&
		       y.len == 0,
		   "two modules of one name are refused, nothing written");
		mods[0].name = "z.txt";
		in.main = "nope.js";
		ok(oys_bundle_serialise(&in, &y, &E) == OYS_EDATA && strstr(E.msg, "main: 'nope.js' is not a module"),
		   "a main that is not in the bundle is refused: %s", E.msg);
		in.main = "index.js";
		const char *bad_flags[] = {"unsafe_eval_allowed"};
		in.s.compat_flags = bad_flags;
		in.s.ncompat_flags = 1;
		ok(oys_bundle_serialise(&in, &y, &E) == OYS_EDATA && strstr(E.msg, "compatibility_flag") &&
		       strstr(E.msg, "not allowed"),
		   "an unsafe_* flag is refused: %s", E.msg);
	}
	{
		/* the plain form is chosen whenever it applies */
		struct oys_bundle_module m = {"worker.js", OYS_MOD_ESM, ESM, strlen(ESM)};
		struct oys_bundle in = {0};
		in.main = "worker.js";
		in.modules = &m;
		in.nmodules = 1;
		oys_buf_reset(&y);
		ok(oys_bundle_serialise(&in, &y, &E) == 0 && y.len == strlen(ESM) && memcmp(y.data, ESM, y.len) == 0,
		   "one module worker.js and no settings is the file itself (its old id)");
		oys_buf_reset(&y);
		m.type = OYS_MOD_SW;
		ok(oys_bundle_serialise(&in, &y, &E) == 0 && y.data[0] == '\0',
		   "an ES module declared a service worker is not what detection says: serialised");
		oys_buf_reset(&y);
		m.type = OYS_MOD_ESM;
		in.s.timeout_ms = 1000;
		ok(oys_bundle_serialise(&in, &y, &E) == 0 && y.data[0] == '\0', "one setting makes it a bundle");
	}

	/* ---- hand-made bytes: each refusal names what is wrong ---- */
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(parse(&x) == 0, "a minimal serialised bundle (main w.js) is read");
	x.data[4] = 2;
	ok(refused(&x, "format version 2 is unknown"), "another version is refused");
	start(&x, "w.js");
	x.len -= 9; /* the magic and version, then an empty record list */
	ok(refused(&x, "no main record"), "no records at all");
	oys_buf_reset(&x);
	oys_buf_append(&x, "\0oys\1", 5);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "the first record is not main"), "main must come first");
	start(&x, "w.js");
	oys_buf_putc(&x, 0x0a);
	ok(refused(&x, "unknown record 0x0a"), "an unknown record");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	x.len -= 3;
	ok(refused(&x, "module record cut short"), "a truncated module");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	oys_buf_putc(&x, 1);
	ok(refused(&x, "records out of order: main after module"), "trailing bytes");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	rec(&x, 2, "2024-09-01");
	ok(refused(&x, "records out of order: compatibility_date after module"), "records in tag order");
	start(&x, "w.js");
	rec(&x, 1, "w.js");
	ok(refused(&x, "main appears twice"), "main twice");
	start(&x, "w.js");
	rec(&x, 2, "2024-9-1");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "compatibility_date"), "a bad date: %s", E.msg);
	start(&x, "w.js");
	rec(&x, 3, "nodejs_compat");
	rec(&x, 3, "experimental");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "'experimental' is not allowed"), "experimental is refused");
	start(&x, "w.js");
	rec(&x, 3, "b_flag");
	rec(&x, 3, "a_flag");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "out of order: 'a_flag' after 'b_flag'"), "flags ascending");
	start(&x, "w.js");
	oys_buf_putc(&x, 4);
	u32(&x, 0);
	u32(&x, 4096);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "memory: 4096 bytes is not between 1M and 1T"), "too little memory");
	start(&x, "w.js");
	oys_buf_putc(&x, 5);
	u32(&x, 5);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "cpu: 5 thousandths"), "too little CPU");
	start(&x, "w.js");
	oys_buf_putc(&x, 6);
	u32(&x, 0);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "timeout: 0 ms"), "a zero timeout");
	start(&x, "w.js");
	rec(&x, 7, "public,10.0.0.0/8");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "not in canonical form ('10.0.0.0/8,public')"), "an outbound policy not in canonical form");
	start(&x, "w.js");
	rec(&x, 7, "127.0.0.0/8");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "loopback"), "an outbound policy a run refuses anyway: %s", E.msg);
	start(&x, "w.js");
	oys_buf_putc(&x, 8);
	str(&x, "1X", 2);
	str(&x, "v", 1);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "env: '1X' is not a name"), "an env name that is not an identifier");
	start(&x, "w.js");
	oys_buf_putc(&x, 8);
	str(&x, "OYS_WASM_MEMORY", 15);
	str(&x, "v", 1);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "not OYS_*"), "OYS_ names are the platform's");
	start(&x, "w.js");
	oys_buf_putc(&x, 8);
	str(&x, "A", 1);
	str(&x, "a\0b", 3);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "contains a NUL byte"), "an env value with NUL");
	start(&x, "w.js");
	for (int i = 0; i < 2; i++) {
		oys_buf_putc(&x, 8);
		str(&x, "A", 1);
		str(&x, "v", 1);
	}
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "env 'A' appears twice"), "an env name twice");
	static const char *const bad_names[] = {"../x.js", "a//b.js", ".hidden", "a/.b", "oys-x.js", "oys.json",
	                                        "a/", "-x", "a b", "a\\b"};
	for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
		start(&x, "w.js");
		module(&x, bad_names[i], OYS_MOD_TEXT, "t", 1);
		module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
		ok(refused(&x, "not a module name"), "module name '%s' refused", bad_names[i]);
	}
	start(&x, "w.js");
	module(&x, "sub/dir/ok-1_2.txt", OYS_MOD_TEXT, "t", 1);
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(parse(&x) == 0, "a module name with directories");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	module(&x, "a.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "modules out of order: 'a.js' after 'w.js'"), "modules ascending");
	start(&x, "w.js");
	module(&x, "w.js", 9, ESM, strlen(ESM));
	ok(refused(&x, "unknown type 9"), "an unknown module type");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, "\xff\xfe", 2);
	ok(refused(&x, "must be UTF-8 text without NUL"), "a JS module that is not UTF-8");
	start(&x, "w.js");
	module(&x, "w.js", OYS_MOD_ESM, "\xc0\xaf", 2);
	ok(refused(&x, "must be UTF-8"), "an overlong UTF-8 form");
	start(&x, "w.js");
	module(&x, "a.bin", OYS_MOD_DATA, "\0\xff", 2);
	static const char utf8[] = "export default {} // \xc3\xa9\xf0\x9f\x98\x80";
	module(&x, "w.js", OYS_MOD_ESM, utf8, sizeof utf8 - 1);
	ok(parse(&x) == 0, "data is any bytes; text is UTF-8");
	start(&x, "f.wasm");
	module(&x, "f.wasm", OYS_MOD_WASM, "\0asm\2\0\0\0", 8);
	ok(refused(&x, "not a Wasm module"), "a Wasm module with another version");
	start(&x, "d.json");
	module(&x, "d.json", OYS_MOD_JSON, "{}", 2);
	ok(refused(&x, "main: 'd.json' is a json module"), "main must be runnable");
	start(&x, "nope.js");
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "main: 'nope.js' is not a module of the bundle"), "main must be in the bundle");
	start(&x, "s.js");
	module(&x, "a.txt", OYS_MOD_TEXT, "t", 1);
	module(&x, "s.js", OYS_MOD_SW, SW, strlen(SW));
	ok(refused(&x, "service-worker script, which runs alone"), "a service worker imports nothing");
	start(&x, "w.js");
	module(&x, "s.js", OYS_MOD_SW, SW, strlen(SW));
	module(&x, "w.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "'s.js' is a service-worker script but not main"), "sw only as main");
	start(&x, "f.wasm");
	module(&x, "a.txt", OYS_MOD_TEXT, "t", 1);
	module(&x, "f.wasm", OYS_MOD_WASM, WASM, 8);
	ok(refused(&x, "Wasm module (run through the WASI glue)"), "a Wasm main runs alone");
	start(&x, "worker.js");
	module(&x, "worker.js", OYS_MOD_ESM, ESM, strlen(ESM));
	ok(refused(&x, "not in canonical form"), "a bundle that has the plain form is never serialised");
	start(&x, "worker.js");
	module(&x, "worker.js", OYS_MOD_SW, ESM, strlen(ESM));
	ok(parse(&x) == 0, "unless its type is not what detection says");

	/* ---- outbound policies ---- */
	ok(canon_is("none", "none") && canon_is("public", "public"), "none and public");
	ok(canon_is(" 192.168.0.0/16 , 10.0.0.1,10.0.0.0/8,10.0.0.0/8", "10.0.0.0/8,10.0.0.1/32,192.168.0.0/16"),
	   "entries normalised, sorted, duplicates dropped");
	ok(canon_is("2001:DB8:0::/32,private", "2001:db8::/32,private"), "IPv6 as inet_ntop writes it");
	ok(canon_is("10.0.0.0/08", NULL) && canon_is("10.0.0.0/33", NULL) && canon_is("none,public", NULL) &&
	       canon_is("", NULL) && canon_is("10.0.0.0/8,", NULL) && canon_is("localhost", NULL),
	   "bad entries refused");
	ok(canon_is("::1", NULL) && canon_is("169.254.169.254", NULL) && canon_is("::ffff:127.0.0.1", NULL),
	   "what a function never reaches is refused");

	/* ---- against the host ---- */
	{
		struct oys_bundle_module m = {"w.js", OYS_MOD_ESM, ESM, strlen(ESM)};
		struct oys_bundle in = {0};
		in.main = "w.js";
		in.modules = &m;
		in.nmodules = 1;
		struct oys_bundle_max max = {256ULL << 20, 0.5, 10000, "public,10.0.0.0/8"};
		ok(oys_bundle_within(&in, &max, &E) == 0, "no settings: always within");
		in.s.memory = 512ULL << 20;
		ok(oys_bundle_within(&in, &max, &E) == OYS_ENOPERM &&
		       strcmp(E.msg, "memory: the function asks for 512M, this host allows at most 256M (OYS_MAX_MEMORY)") == 0,
		   "memory beyond the maximum: %s", E.msg);
		in.s.memory = 256ULL << 20;
		in.s.cpu_milli = 1000;
		ok(oys_bundle_within(&in, &max, &E) == OYS_ENOPERM && strstr(E.msg, "cpu: the function asks for 1 core,") &&
		       strstr(E.msg, "at most 0.5"),
		   "CPU beyond the maximum: %s", E.msg);
		in.s.cpu_milli = 500;
		in.s.timeout_ms = 30000;
		ok(oys_bundle_within(&in, &max, &E) == OYS_ENOPERM && strstr(E.msg, "timeout: the function asks for 30 s") &&
		       strstr(E.msg, "at most 10 s"),
		   "a timeout beyond the maximum: %s", E.msg);
		in.s.timeout_ms = 1000;
		in.s.outbound = "10.1.0.0/16,public";
		ok(oys_bundle_within(&in, &max, &E) == 0, "outbound inside what is allowed");
		in.s.outbound = "10.1.0.0/16,private";
		ok(oys_bundle_within(&in, &max, &E) == OYS_ENOPERM && strstr(E.msg, "outbound: the function asks for"),
		   "outbound beyond what is allowed: %s", E.msg);
		in.s.outbound = "none";
		max.outbound = "none";
		ok(oys_bundle_within(&in, &max, &E) == 0, "none is always allowed");
	}

	/* ---- made from a directory ---- */
	{
		char dir[] = "/tmp/oys-test-bundle-XXXXXX";
		ok(mkdtemp(dir) != NULL, "a directory");
		put(dir, "index.js", "import d from './data/d.json'; export default { fetch() { return Response.json(d) } }");
		put(dir, "data/d.json", "{\"a\": 1}");
		put(dir, "notes", "plain data");
		put(dir, ".git", "ignored");
		struct oys_bundle_flags f = {0};
		const char *env[] = {"TOKEN=a=b"};
		f.env = env;
		f.nenv = 1;
		f.timeout = "2.5";
		oys_buf_reset(&x);
		ok(oys_bundle_make(dir, &f, 0, &x, &E) == 0 && oys_bundle_parse(x.data, x.len, &b, &E) == 0 &&
		       strcmp(b.main, "index.js") == 0 && b.nmodules == 3 && b.modules[0].type == OYS_MOD_JSON &&
		       b.modules[2].type == OYS_MOD_DATA && b.nenv == 1 && strcmp(b.env[0].value, "a=b") == 0 &&
		       b.s.timeout_ms == 2500,
		   "a directory: modules by path, types by extension, main the only JS module, flags applied");
		oys_bundle_free(&b);
		put(dir, "oys.json", "{\"timeout\": 1, \"env\": {\"TOKEN\": \"x\", \"OTHER\": \"y\"}, \"modules\": {\"notes\": \"text\"}}");
		oys_buf_reset(&y);
		ok(oys_bundle_make(dir, &f, 0, &y, &E) == 0 && oys_bundle_parse(y.data, y.len, &b, &E) == 0 &&
		       b.nenv == 2 && strcmp(b.env[1].value, "a=b") == 0 && b.s.timeout_ms == 2500 &&
		       b.modules[2].type == OYS_MOD_TEXT,
		   "oys.json's settings, the flags over them (env per name), its module types");
		oys_bundle_free(&b);
		put(dir, "oys.json", "{\"timeout\": \"soon\"}");
		ok(oys_bundle_make(dir, NULL, 0, &y, &E) == OYS_EDATA && strstr(E.msg, "oys.json: timeout: 'soon' is not"),
		   "a bad value names the key: %s", E.msg);
		put(dir, "oys.json", "{\"memroy\": \"64M\"}");
		ok(oys_bundle_make(dir, NULL, 0, &y, &E) == OYS_EDATA && strstr(E.msg, "unknown key 'memroy'"),
		   "an unknown key: %s", E.msg);
		put(dir, "oys.json", "{\"modules\": {\"gone.js\": \"esm\"}}");
		ok(oys_bundle_make(dir, NULL, 0, &y, &E) == OYS_EDATA && strstr(E.msg, "'gone.js' is not a file"),
		   "a type for a file that is not there: %s", E.msg);
		put(dir, "oys.json", "{}");
		put(dir, "other.js", "export const x = 1");
		ok(oys_bundle_make(dir, NULL, 0, &y, &E) == OYS_EDATA && strstr(E.msg, "main: not given") &&
		       strstr(E.msg, "index.js, other.js"),
		   "two JS modules and no main: %s", E.msg);
		put(dir, "data/d.json", "{oops");
		f.main = "index.js";
		ok(oys_bundle_make(dir, &f, 0, &y, &E) == OYS_EDATA && strstr(E.msg, "module data/d.json: bad JSON"),
		   "a JSON module that is not JSON: %s", E.msg);
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		ok(system(cmd) == 0, "cleaned up");
	}

	oys_buf_free(&x);
	oys_buf_free(&y);
	return tap_done();
}
