/* oys-warm: keeps pre-started single-use sandboxes ready (lib/warm.h), and reports on them. */
#include "../lib/cgroup.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/paths.h"
#include "../lib/run.h"
#include "../lib/warm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_USAGE \
	"usage: oys-warm [run] [--count N] [--outbound POLICY]... [--memory SIZE]\n" \
	"                [--start-timeout S] [--prefix P] [--log-format F]\n"
#define STATUS_USAGE "usage: oys-warm status [--json]\n"

static const char usage[] =
	"usage: oys-warm [run] [--count N] [--outbound POLICY]... [--memory SIZE]\n"
	"       oys-warm status [--json]\n"
	"\n"
	"Keeps sandboxes ready for oys-serve and oys-run (run, the default), or shows them\n"
	"(status). See oys-warm COMMAND --help.\n";

static const char run_usage[] = RUN_USAGE
	"\n"
	"Keeps N sandboxes ready, in the foreground (under supervisord) until SIGTERM: workerd\n"
	"processes started ahead of any request, each in a cgroup of the pool it reserved, serving\n"
	"only the platform loader on a Unix socket in a root-only directory under the runtime\n"
	"directory. oys-serve and oys-run claim one for a request, run the function there once,\n"
	"and kill it; oys-warm then starts a replacement. Requests that find none ready, or no\n"
	"oys-warm, start cold as before. A sandbox that fails to start is started again after a\n"
	"delay (1 s, doubling with each failure in a row, at most 30 s). SIGTERM kills the idle\n"
	"sandboxes, lets busy ones finish (5 s at most), and leaves nothing behind; a new\n"
	"oys-warm sweeps what a killed one left.\n"
	"\n"
	"  -n, --count N          sandboxes to keep (OYS_WARM_COUNT; default: the pool's size)\n"
	"  -O, --outbound POLICY  the functions' fetch() in these sandboxes: none, public or\n"
	"                         CIDRs (OYS_OUTBOUND, default none); repeat it to keep\n"
	"                         sandboxes for several policies (dealt out in turn)\n"
	"  -m, --memory SIZE      memory limit of each sandbox (OYS_MEMORY; default: the pool's);\n"
	"                         requests use them when they ask for the same\n"
	"      --start-timeout S  time a sandbox may take to be ready (default 10)\n"
	"      --prefix P         cgroup pool prefix (OYS_CGROUP_PREFIX, default workerd_)\n"
	"      --log-format F     auto, human or json (OYS_LOG_FORMAT)\n"
	"  -h, --help             this text\n"
	"\n"
	"Also read: OYS_RUNTIME_DIR, OYS_WORKERD, OYS_SHARE_DIR. Events (started, sandbox\n"
	"failed, stopping, stopped) are logged on stderr, one line each.\n";

static const char status_usage[] = STATUS_USAGE
	"\n"
	"Shows the running oys-warm's sandboxes: ready, busy, starting and waiting to start, for\n"
	"each outbound policy, and the memory of an idle sandbox (its cgroup's usage). Exits 69\n"
	"when oys-warm is not running.\n"
	"\n"
	"  -j, --json             the status as JSON\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: OYS_RUNTIME_DIR.\n";

enum { O_START = 0x100, O_PREFIX, O_LOGFMT };

static const struct option run_opts[] = {
	{"count", required_argument, NULL, 'n'},
	{"outbound", required_argument, NULL, 'O'},
	{"memory", required_argument, NULL, 'm'},
	{"start-timeout", required_argument, NULL, O_START},
	{"prefix", required_argument, NULL, O_PREFIX},
	{"log-format", required_argument, NULL, O_LOGFMT},
	{0},
};
static const struct oys_complete run_complete[] = {
	{"outbound", "none public"}, {"log-format", "auto human json"}, {0},
};
static const struct option status_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{0},
};

static const struct oys_cmd cmds[] = {
	{"run", run_usage, "n:O:m:", run_opts, run_complete, NULL},
	{"status", status_usage, "j", status_opts, NULL, NULL},
};
static const struct oys_tool tool = {usage, cmds, 2, "run"};

#define MAX_POLICIES 16

static int run(struct oys_opt *o)
{
	const char *count = NULL;
	const char *policies[MAX_POLICIES];
	struct oys_warm_opts wo = {0};
	struct oys_run_flags f = {0};
	struct oys_run_opts ro = {0};
	int c;
	while ((c = oys_getopt(o, NULL)) != -1) {
		switch (c) {
		case 'n': count = optarg; break;
		case 'O':
			if (wo.npolicies >= MAX_POLICIES)
				oys_usage_error("--outbound: at most %d policies", MAX_POLICIES);
			policies[wo.npolicies++] = optarg;
			break;
		case 'm': f.memory = optarg; break;
		case O_START: f.start_timeout = optarg; break;
		case O_PREFIX: f.prefix = optarg; break;
		case O_LOGFMT: oys_opt_log_format(optarg); break;
		}
	}
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	/* The settings oys-serve reads, resolved the same way (lib/conf.c). */
	struct oys_err e = {0};
	if (oys_conf_run(&f, &ro, &e) || oys_runtime_check(&e))
		oys_die_err(&e);
	if (wo.npolicies == 0)
		policies[wo.npolicies++] = ro.outbound;
	wo.policies = policies;
	wo.prefix = ro.cgroup_prefix;
	wo.limits = ro.limits;
	wo.workerd = ro.workerd;
	wo.start_timeout_ms = ro.start_timeout_ms;
	wo.sandbox_uid = ro.sandbox_uid;

	int size = 0, version = 0;
	if (oys_cgroup_pool_size(wo.prefix, &size, &version, &e))
		oys_die_err(&e);
	if (size == 0)
		oys_die(OYS_ECONFIG, "no cgroup pool %s: run oys-cgroup setup first", wo.prefix);
	if ((count = oys_conf(count, "OYS_WARM_COUNT", NULL)))
		wo.count = (int)oys_opt_long("--count", count, 1, OYS_CGROUP_MAX_COUNT);
	else
		wo.count = size;
	if (wo.count > size)
		oys_die(OYS_EUSAGE, "--count %d: the pool %s has %d cgroups", wo.count, wo.prefix, size);
	if (oys_warm_serve(&wo, &e))
		oys_die_err(&e);
	return 0;
}

static double mib(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) / 1048576 : 0;
	jv_free(v);
	return d;
}

static int num(jv o, const char *key)
{
	jv v = jv_object_get(jv_copy(o), jv_string(key));
	int n = jv_get_kind(v) == JV_KIND_NUMBER ? (int)jv_number_value(v) : 0;
	jv_free(v);
	return n;
}

static int status(struct oys_opt *o)
{
	int json = 0, c;
	while ((c = oys_getopt(o, NULL)) != -1)
		if (c == 'j')
			json = 1;
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	struct oys_err e = {0};
	jv s;
	if (oys_warm_status(&s, &e))
		oys_die_err(&e);
	if (json)
		return oys_json_print(s, 1);
	printf("%-24s %6s %6s %9s %8s\n", "POLICY", "READY", "BUSY", "STARTING", "WAITING");
	jv pols = jv_object_get(jv_copy(s), jv_string("policies"));
	int n = jv_get_kind(pols) == JV_KIND_ARRAY ? jv_array_length(jv_copy(pols)) : 0;
	for (int i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(pols), i);
		const char *name = oys_json_get_str(p, "policy");
		printf("%-24s %6d %6d %9d %8d\n", name ? name : "?", num(p, "ready"), num(p, "busy"), num(p, "starting"),
		       num(p, "waiting"));
		jv_free(p);
	}
	jv_free(pols);
	jv m = jv_object_get(jv_copy(s), jv_string("idle_memory"));
	if (num(m, "sandboxes") > 0)
		printf("idle sandbox memory: %.1f MiB (mean of %d; %.1f-%.1f)\n", mib(m, "mean_bytes"),
		       num(m, "sandboxes"), mib(m, "min_bytes"), mib(m, "max_bytes"));
	else
		printf("idle sandbox memory: none ready\n");
	printf("served %d requests, %d failed starts, pool %s\n", num(s, "served"), num(s, "start_failures"),
	       oys_json_get_str(s, "prefix") ? oys_json_get_str(s, "prefix") : "?");
	jv_free(m);
	jv_free(s);
	return fflush(stdout) == 0 ? 0 : OYS_EIO;
}

int main(int argc, char **argv)
{
	struct oys_opt o;
	oys_opt_init(&o, argc, argv, &tool);
	int rc = strcmp(o.cmd->name, "status") == 0 ? status(&o) : run(&o);
	oys_opt_free(&o);
	return rc;
}
