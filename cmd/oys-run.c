/* oys-run: run one function once, from a shell. */
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/run.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: oys-run CODE_ID [INPUT.json|-] [options]\n"
	"       oys-run --code FILE|DIR [--main M] [--env NAME=VALUE]... [INPUT.json|-] [options]\n"
	"\n"
	"Runs a function once: fetches its code, starts a fresh workerd in a cgroup of the pool\n"
	"with the code, POSTs INPUT (JSON) to it, prints the response body, and releases\n"
	"everything. Without INPUT the request is a GET with no body.\n"
	"\n"
	"A function is a bundle: its modules and its own settings (oys-store(1)). With a CODE_ID,\n"
	"--timeout, --memory, --cpu, --outbound, --compat-date and --compat-flag are this host's\n"
	"settings, which the function's own override within the --max-* limits. With --code they\n"
	"are the function's own, as oys-store put would record them (with DIR/oys.json, --main\n"
	"and --env), and the host's come from the environment.\n"
	"\n"
	"  -t, --timeout S         execution timeout in seconds (default 10; OYS_TIMEOUT)\n"
	"      --start-timeout S   time workerd may take to start serving (default 10;\n"
	"                          OYS_START_TIMEOUT)\n"
	"  -m, --memory SIZE       memory limit of this run (default: the pool's; OYS_MEMORY)\n"
	"      --cpu CORES         CPU limit of this run (default: the pool's; OYS_CPU)\n"
	"  -O, --outbound POLICY   the function's fetch(): none, public or CIDRs (OYS_OUTBOUND)\n"
	"  -d, --compat-date D     workerd compatibility date (OYS_COMPAT_DATE)\n"
	"  -f, --compat-flag F     a compatibility flag, repeatable\n"
	"  -c, --code FILE|DIR     run a local file or directory instead of stored code\n"
	"      --main M            with --code: the main module\n"
	"  -e, --env NAME=VALUE    with --code: a text binding of the function, repeatable\n"
	"      --max-memory SIZE   the most memory a function may ask for (OYS_MAX_MEMORY;\n"
	"                          default: --memory, else the pool's)\n"
	"      --max-cpu CORES     the most CPU a function may ask for (OYS_MAX_CPU; default:\n"
	"                          --cpu, else the pool's)\n"
	"      --max-timeout S     the longest timeout a function may ask for (OYS_MAX_TIMEOUT;\n"
	"                          default: --timeout)\n"
	"      --outbound-allowed P  the outbound a function may ask for: none, public, private,\n"
	"                          CIDRs (OYS_OUTBOUND_ALLOWED; default: --outbound)\n"
	"  -X, --method METHOD     request method (default POST with INPUT, GET without)\n"
	"  -p, --path PATH         request path and query (default /)\n"
	"  -H, --header 'N: V'     an extra request header, repeatable\n"
	"  -i, --include           print the status line and headers before the body\n"
	"  -j, --json              print a JSON result (status, headers, body, timings, memory,\n"
	"                          the settings applied)\n"
	"      --trace             print each step on stderr as the command that reproduces it\n"
	"      --keep              keep the request's files (see --trace)\n"
	"  -s, --store DIR|URL     the code store (OYS_STORE)\n"
	"      --attestation-url U the attestation server (OYS_ATTESTATION_URL)\n"
	"      --rpc URL           JSON-RPC for 0x transaction ids (OYS_RPC_URL)\n"
	"      --contract ADDR     the code contract (OYS_CODE_CONTRACT)\n"
	"      --confirmations N   blocks a code transaction needs, counting its own\n"
	"                          (OYS_CHAIN_CONFIRMATIONS, default 12)\n"
	"      --fetch-timeout S   each request of a fetch: storage server, attestation\n"
	"                          server, RPC (OYS_FETCH_TIMEOUT, default 30)\n"
	"      --prefix P          cgroup pool prefix (OYS_CGROUP_PREFIX, default workerd_)\n"
	"      --max-response SIZE largest response body (default 16M; OYS_MAX_RESPONSE)\n"
	"      --sandbox-uid N     slot i runs workerd as uid and gid N+i (default 2000000000;\n"
	"                          OYS_SANDBOX_UID); root: as oys's own uid, development only\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"Exit status: 0 the function answered 1xx-3xx, 1 it answered 4xx/5xx (body printed),\n"
	"64 usage, 65 code that does not start, a bad bundle or bad INPUT, 66 unknown code id,\n"
	"69 no free cgroup or storage down, 75 timeout, 77 attestation refused or a setting\n"
	"beyond this host's limits, 137 killed for memory, 128+N crashed by signal N, 70 other\n"
	"failures. Environment: OYS_RUNTIME_DIR, OYS_WORKERD, OYS_SHARE_DIR; every setting above\n"
	"is the flag, else its variable, else the default.\n";

enum {
	O_START = 0x100, O_CPU, O_TRACE, O_KEEP, O_ATTEST, O_RPC, O_CONTRACT, O_PREFIX, O_MAXRESP, O_CONFIRM, O_SBUID,
	O_MAIN, O_MAXMEM, O_MAXCPU, O_MAXTIME, O_ALLOWED, O_FETCHTO,
};

static const struct option longopts[] = {
	{"timeout", required_argument, NULL, 't'},
	{"start-timeout", required_argument, NULL, O_START},
	{"memory", required_argument, NULL, 'm'},
	{"cpu", required_argument, NULL, O_CPU},
	{"method", required_argument, NULL, 'X'},
	{"path", required_argument, NULL, 'p'},
	{"header", required_argument, NULL, 'H'},
	{"include", no_argument, NULL, 'i'},
	{"json", no_argument, NULL, 'j'},
	{"trace", no_argument, NULL, O_TRACE},
	{"keep", no_argument, NULL, O_KEEP},
	{"code", required_argument, NULL, 'c'},
	{"store", required_argument, NULL, 's'},
	{"attestation-url", required_argument, NULL, O_ATTEST},
	{"rpc", required_argument, NULL, O_RPC},
	{"contract", required_argument, NULL, O_CONTRACT},
	{"confirmations", required_argument, NULL, O_CONFIRM},
	{"fetch-timeout", required_argument, NULL, O_FETCHTO},
	{"outbound", required_argument, NULL, 'O'},
	{"compat-date", required_argument, NULL, 'd'},
	{"compat-flag", required_argument, NULL, 'f'},
	{"prefix", required_argument, NULL, O_PREFIX},
	{"max-response", required_argument, NULL, O_MAXRESP},
	{"sandbox-uid", required_argument, NULL, O_SBUID},
	{"main", required_argument, NULL, O_MAIN},
	{"env", required_argument, NULL, 'e'},
	{"max-memory", required_argument, NULL, O_MAXMEM},
	{"max-cpu", required_argument, NULL, O_MAXCPU},
	{"max-timeout", required_argument, NULL, O_MAXTIME},
	{"outbound-allowed", required_argument, NULL, O_ALLOWED},
	{0},
};

static const struct oys_complete complete[] = {
	{"code", ":file"}, {"store", ":dir"}, {"outbound", "none public"}, {"outbound-allowed", "none public"},
	{"compat-flag", "nodejs_compat nodejs_als"}, {"memory", "64M 128M 256M"}, {"max-memory", "128M 256M 512M"},
	{"method", "GET POST PUT DELETE PATCH HEAD OPTIONS"}, {"", ":file"},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "t:m:X:p:H:ijc:s:O:d:f:e:", longopts, complete, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

static volatile int aborted;
static int abort_signal;

static void on_signal(int sig)
{
	aborted = 1;
	abort_signal = sig;
}

#define MAX_LIST 32

/* The command line: flags as text, resolved with the environment by oys_conf_run(). */
struct cli {
	struct oys_run_flags f;
	struct oys_run_opts ro;
	struct oys_header headers[MAX_LIST + 2];
	size_t nheaders;
	const char *flags[MAX_LIST];
	size_t nflags;
	const char *env[MAX_LIST];
	struct oys_bundle_flags bf;  /* with --code: the function's own settings */
	const char *method, *path, *input;
	int include, json;
	int printed;          /* the body went out before the teardown */
	int print_rc;
};

static int print_result(const struct oys_run_result *r, int include, int json)
{
	if (json)
		return oys_json_print(oys_run_result_json(r), 1);
	if (r->error)
		return 0;
	if (include) {
		printf("HTTP/1.1 %d %s\r\n", r->resp.status, oys_http_reason(r->resp.status));
		for (size_t i = 0; i < r->resp.nheaders; i++)
			printf("%s: %s\r\n", r->resp.headers[i].name, r->resp.headers[i].value);
		printf("\r\n");
	}
	if (fflush(stdout) != 0 || oys_write_all(STDOUT_FILENO, r->resp.body.data, r->resp.body.len) < 0)
		return OYS_EIO;
	return 0;
}

/* The function's response, as soon as it is complete and before workerd is killed and the
 * cgroup and the files are given back (its exit, about 5 ms, is the bulk of that): standard
 * output is closed right after, so a pipeline has it then. The exit status follows the
 * teardown. Only a body that goes out at once (at most PIPE_BUF bytes, standard output ready)
 * is printed here: a reader that does not read must never hold the sandbox. --json waits for
 * the teardown's figures. */
static void on_result(struct oys_run_result *r, void *arg)
{
	struct cli *c = arg;
	struct pollfd p = {STDOUT_FILENO, POLLOUT, 0};
	if (c->json || c->include || r->error || r->resp.body.len > PIPE_BUF || poll(&p, 1, 0) != 1 ||
	    !(p.revents & POLLOUT))
		return;
	c->print_rc = print_result(r, c->include, 0);
	c->printed = 1;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		close(null);
	}
}

/* -H 'Name: value' (the text is kept: it is argv's). */
static void add_header(struct cli *c, char *arg)
{
	if (c->nheaders == MAX_LIST)
		oys_usage_error("at most %d --header", MAX_LIST);
	char *colon = strchr(arg, ':');
	if (colon == NULL)
		oys_usage_error("--header: '%s' is not 'Name: value'", arg);
	else {
		char *v = colon + 1;
		*colon = '\0';
		while (*v == ' ')
			v++;
		if (!oys_http_valid_name(arg) || !oys_http_valid_value(v)) {
			*colon = ':';
			oys_usage_error("--header: '%s' is not 'Name: value'", arg);
		}
		c->headers[c->nheaders++] = (struct oys_header){arg, v};
	}
}

static void parse(struct cli *c, int argc, char **argv)
{
	struct oys_opt o;
	int opt;
	oys_opt_init(&o, argc, argv, &tool);
	while ((opt = oys_getopt(&o, NULL)) != -1) {
		switch (opt) {
		case 't': c->f.timeout = optarg; break;
		case O_START: c->f.start_timeout = optarg; break;
		case O_FETCHTO: c->f.fetch_timeout = optarg; break;
		case 'm': c->f.memory = optarg; break;
		case O_CPU: c->f.cpu = optarg; break;
		case 'X':
			if (!oys_http_valid_name(optarg) || strlen(optarg) > 15)
				oys_usage_error("--method: '%s' is not a method", optarg);
			c->method = optarg;
			break;
		case 'p':
			if (optarg[0] != '/' || !oys_http_valid_value(optarg) || strchr(optarg, ' '))
				oys_usage_error("--path: '%s' must start with / and have no spaces", optarg);
			c->path = optarg;
			break;
		case 'H': add_header(c, optarg); break;
		case 'i': c->include = 1; break;
		case 'j': c->json = 1; break;
		case O_TRACE: c->ro.trace = 1; break;
		case O_KEEP: c->ro.keep = 1; break;
		case 'c': c->ro.code_file = optarg; break;
		case 's': c->f.store = optarg; break;
		case O_ATTEST: c->f.attestation_url = optarg; break;
		case O_RPC: c->f.rpc_url = optarg; break;
		case O_CONTRACT: c->f.contract = optarg; break;
		case 'O': c->f.outbound = optarg; break;
		case 'd': c->f.compat_date = optarg; break;
		case 'f':
			if (c->nflags == MAX_LIST)
				oys_usage_error("at most %d --compat-flag", MAX_LIST);
			c->flags[c->nflags++] = optarg;
			break;
		case O_PREFIX: c->f.prefix = optarg; break;
		case O_MAIN: c->bf.main = optarg; break;
		case 'e':
			if (c->bf.nenv == MAX_LIST)
				oys_usage_error("at most %d --env", MAX_LIST);
			c->env[c->bf.nenv++] = optarg;
			break;
		case O_MAXMEM: c->f.max_memory = optarg; break;
		case O_MAXCPU: c->f.max_cpu = optarg; break;
		case O_MAXTIME: c->f.max_timeout = optarg; break;
		case O_ALLOWED: c->f.outbound_allowed = optarg; break;
		case O_CONFIRM: c->f.confirmations = optarg; break;
		case O_MAXRESP: c->f.max_response = optarg; break;
		case O_SBUID: c->f.sandbox_uid = optarg; break;
		}
	}
	int nargs = o.argc - optind, need = c->ro.code_file ? 0 : 1;
	if (nargs < need || nargs > need + 1)
		oys_usage_error(need ? "give CODE_ID and at most one INPUT" : "give at most one INPUT with --code");
	if (need)
		c->ro.code_id = o.argv[optind];
	if (need && (c->bf.main || c->bf.nenv))
		oys_usage_error("--main and --env go with --code (a stored function has its own)");
	if (!need) {
		/* the function's own settings, as oys-store put takes them */
		struct oys_bundle_flags *b = &c->bf;
		b->timeout = c->f.timeout;
		b->memory = c->f.memory;
		b->cpu = c->f.cpu;
		b->outbound = c->f.outbound;
		b->compat_date = c->f.compat_date;
		b->compat_flags = c->flags;
		b->ncompat_flags = c->nflags;
		b->env = c->env;
		c->f.timeout = c->f.memory = c->f.cpu = c->f.outbound = c->f.compat_date = NULL;
		c->nflags = 0;
		c->ro.code_flags = b;
	}
	c->input = nargs > need ? o.argv[optind + need] : NULL;
	oys_opt_free(&o);
}

/* Settings resolved, INPUT read (JSON: checked here, sent byte for byte), the run, its report. */
static int run(struct cli *c)
{
	struct oys_buf body = OYS_BUF_INIT;
	struct oys_err e = {0};
	struct oys_run_opts *ro = &c->ro;
	struct oys_buf allowed = OYS_BUF_INIT;
	if (oys_conf_run(&c->f, ro, &e) || oys_runtime_check(&e))
		oys_die_err(&e);
	if (oys_bundle_outbound_canon(ro->max.outbound, &allowed, &e))
		oys_die(OYS_ECONFIG, "the outbound policies allowed (--outbound-allowed, OYS_OUTBOUND_ALLOWED): %s", e.msg);
	oys_buf_free(&allowed);
	if (c->input) {
		jv v;
		if (oys_read_file(c->input, 64u << 20, &body, &e))
			oys_die_err(&e);
		if (oys_json_parse(body.data, body.len, &v, &e))
			oys_die(OYS_EDATA, "%s: %s", strcmp(c->input, "-") ? c->input : "standard input", e.msg);
		jv_free(v);
		c->headers[c->nheaders++] = (struct oys_header){"Content-Type", "application/json"};
	}
	ro->req = (struct oys_fn_request){c->method ? c->method : c->input ? "POST" : "GET", c->path,
	                                  c->headers, c->nheaders, body.data ? body.data : "", body.len};
	ro->compat_flags = c->flags;
	ro->ncompat_flags = c->nflags;
	ro->abort_fd = -1;
	ro->abort_flag = &aborted;
	ro->on_result = on_result;
	ro->on_result_arg = c;

	struct sigaction sa = {0};
	sa.sa_handler = on_signal; /* no SA_RESTART: poll returns, the run is torn down */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct oys_run_result r;
	int rc = oys_run(ro, &r);
	if (r.trace.len)
		oys_log_write_line(r.trace.data, r.trace.len);
	if (r.console.len)
		oys_log_write_line(r.console.data, r.console.len);
	int prc = c->printed ? c->print_rc : print_result(&r, c->include, c->json);
	if (rc == 0 && r.resp.status >= 400) {
		oys_warn("function answered %d %s", r.resp.status, oys_http_reason(r.resp.status));
		rc = OYS_EFAIL;
	} else if (rc && abort_signal) {
		oys_warn("interrupted by signal %d: stopped and cleaned up", abort_signal);
		rc = 128 + abort_signal;
	} else if (rc) {
		oys_warn("%s", r.err.msg);
	}
	if (rc == 0 && prc)
		rc = prc;
	oys_run_result_free(&r);
	oys_buf_free(&body);
	return rc;
}

int main(int argc, char **argv)
{
	static struct cli c = {.path = "/"};
	parse(&c, argc, argv);
	return run(&c);
}
