/* oys-capnp: print a workerd config for one function, from share/templates. */
#include "../lib/bundle.h"
#include "../lib/capnp.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/opt.h"

#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: oys-capnp (--js FILE | --wasm FILE [--glue FILE] | --code FILE | --bundle FILE)\n"
	"                 [--syntax auto|module|service-worker]\n"
	"                 [--port P [--host H] | --socket NAME] [--outbound none|public|CIDR,...]\n"
	"                 [--compat-date YYYY-MM-DD] [--compat-flag FLAG]... [-o FILE]\n"
	"\n"
	"Prints a workerd config that serves one function. Run it with\n"
	"  workerd serve CONFIG --socket-fd http=FD    (or with --port, workerd serve CONFIG)\n"
	"\n"
	"  -j, --js FILE          a JavaScript function (ES module or service-worker syntax)\n"
	"  -w, --wasm FILE        a WebAssembly function (run through the JS glue)\n"
	"  -c, --code FILE        either; Wasm is recognised by its magic bytes\n"
	"  -g, --glue FILE        with Wasm: the JS glue to embed (default: the templates' own)\n"
	"  -b, --bundle FILE      a function as oys-store holds it (oys-store get ID -o FILE):\n"
	"                         its modules are written beside the config as module-N, its\n"
	"                         env becomes text bindings, and its own compatibility date,\n"
	"                         flags and outbound policy override the options below\n"
	"  -s, --syntax S         auto (default), module or service-worker\n"
	"  -p, --port P           listen on HOST:P (fixed address in the config)\n"
	"  -H, --host H           with --port: the address (default 127.0.0.1)\n"
	"  -S, --socket NAME      a named socket for workerd's --socket-fd (default: http)\n"
	"  -O, --outbound POLICY  the function's fetch(): none (default), public, or CIDRs;\n"
	"                         loopback, link-local, 0.0.0.0/8 (also IPv4-mapped, NAT64)\n"
	"                         and the host's own addresses are denied in every case\n"
	"  -d, --compat-date D    workerd compatibility date (default " OYS_DEFAULT_COMPAT_DATE ")\n"
	"  -f, --compat-flag F    a compatibility flag, repeatable (e.g. nodejs_compat)\n"
	"  -o, --output FILE      write the config to FILE (atomically); embedded paths are\n"
	"                         relative to FILE's directory, else to the current one\n"
	"  -h, --help             this text\n"
	"      --version          the version\n"
	"\n"
	"Environment: OYS_OUTBOUND, OYS_COMPAT_DATE, OYS_SHARE_DIR.\n";

static const struct option longopts[] = {
	{"js", required_argument, NULL, 'j'},
	{"wasm", required_argument, NULL, 'w'},
	{"code", required_argument, NULL, 'c'},
	{"glue", required_argument, NULL, 'g'},
	{"bundle", required_argument, NULL, 'b'},
	{"syntax", required_argument, NULL, 's'},
	{"port", required_argument, NULL, 'p'},
	{"host", required_argument, NULL, 'H'},
	{"socket", required_argument, NULL, 'S'},
	{"outbound", required_argument, NULL, 'O'},
	{"compat-date", required_argument, NULL, 'd'},
	{"compat-flag", required_argument, NULL, 'f'},
	{"output", required_argument, NULL, 'o'},
	{0},
};

static const struct oys_complete complete[] = {
	{"js", ":file"}, {"wasm", ":file"}, {"code", ":file"}, {"glue", ":file"}, {"bundle", ":file"},
	{"output", ":file"},
	{"syntax", "auto module service-worker"}, {"outbound", "none public"},
	{"compat-flag", "nodejs_compat nodejs_als"},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "j:w:c:g:b:s:p:H:S:O:d:f:o:", longopts, complete, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

#define MAX_FLAGS 32

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_err e = {0};
	struct oys_capnp c = {0};
	const char *flags[MAX_FLAGS];
	const char *output = NULL, *js = NULL, *wasm = NULL, *code = NULL, *bundle = NULL;
	enum oys_code_kind syntax = OYS_CODE_AUTO;
	int opt;

	oys_opt_init(&o, argc, argv, &tool);
	while ((opt = oys_getopt(&o, NULL)) != -1) {
		switch (opt) {
		case 'j': js = optarg; break;
		case 'w': wasm = optarg; break;
		case 'c': code = optarg; break;
		case 'g': c.glue = optarg; break;
		case 'b': bundle = optarg; break;
		case 's':
			if (oys_code_kind_parse(optarg, &syntax) < 0 || syntax == OYS_CODE_WASM)
				oys_usage_error("--syntax: '%s' is not auto, module or service-worker", optarg);
			break;
		case 'p': c.port = (int)oys_opt_long("--port", optarg, 1, 65535); break;
		case 'H': c.host = optarg; break;
		case 'S': c.socket = optarg; break;
		case 'O': c.outbound = optarg; break;
		case 'd': c.compat_date = optarg; break;
		case 'f':
			if (c.ncompat_flags == MAX_FLAGS)
				oys_usage_error("at most %d --compat-flag", MAX_FLAGS);
			flags[c.ncompat_flags++] = optarg;
			break;
		case 'o': output = optarg; break;
		}
	}
	if (optind < o.argc)
		oys_usage_error("unexpected argument '%s'", o.argv[optind]);
	if (!!js + !!wasm + !!code + !!bundle != 1)
		oys_usage_error("give exactly one of --js, --wasm, --code or --bundle");
	if (c.port && c.socket)
		oys_usage_error("--port and --socket exclude each other");
	if (c.host && !c.port)
		oys_usage_error("--host needs --port");
	if (c.glue && !wasm && !code)
		oys_usage_error("--glue goes with --wasm");
	oys_opt_free(&o);

	c.compat_flags = flags;
	c.outbound = oys_conf(c.outbound, "OYS_OUTBOUND", "none");
	c.compat_date = oys_conf(c.compat_date, "OYS_COMPAT_DATE", OYS_DEFAULT_COMPAT_DATE);
	struct oys_buf bytes = OYS_BUF_INIT;
	struct oys_bundle b = {0};
	if (bundle) {
		if (oys_read_file(bundle, SIZE_MAX / 2, &bytes, &e))
			oys_die_err(&e);
		if (oys_bundle_parse(bytes.data, bytes.len, &b, &e))
			oys_die(e.code, "%s: %s", bundle, e.msg);
	} else if (wasm) {
		c.code = wasm;
		c.kind = OYS_CODE_WASM;
	} else {
		c.code = js ? js : code;
		struct oys_buf src = OYS_BUF_INIT;
		int rc = oys_read_file(c.code, SIZE_MAX / 2, &src, &e);
		if (rc)
			oys_die_err(&e);
		c.kind = oys_code_detect(src.data, src.len);
		oys_buf_free(&src);
		if (js && c.kind == OYS_CODE_WASM)
			oys_die(OYS_EDATA, "%s is a WebAssembly binary: use --wasm", c.code);
		if (syntax != OYS_CODE_AUTO && c.kind != OYS_CODE_WASM)
			c.kind = syntax;
	}

	char dir[PATH_MAX];
	if (output && strcmp(output, "-") != 0) {
		snprintf(dir, sizeof dir, "%s", output);
		c.config_dir = dirname(dir);
	}
	struct oys_buf out = OYS_BUF_INIT;
	if (bundle ? oys_capnp_render_bundle(&c, &b, &out, &e) : oys_capnp_render(&c, &out, &e))
		oys_die_err(&e);
	oys_bundle_free(&b);
	oys_buf_free(&bytes);
	if (oys_write_atomic(output ? output : "-", out.data, out.len, 0644, &e))
		oys_die_err(&e);
	oys_buf_free(&out);
	return 0;
}
