/* oys-cgroup: the sandbox pool of cgroups, one per request (setup, reserve, exec, stat...). */
#include "../lib/cgroup.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/log.h"
#include "../lib/opt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
	"usage: oys-cgroup COMMAND [OPTION]... [ARG]...\n"
	"\n"
	"The sandbox pool: cgroups PREFIX0..PREFIX(N-1) that cap the memory, CPU and tasks of one\n"
	"request each; cgroup v1 or v2, detected at run time.\n"
	"\n"
	"  setup --count N|auto [--memory SIZE] [--cpu CORES] [--pids N]\n"
	"                             create the pool, or update its size and limits\n"
	"  teardown [--force]         remove the pool\n"
	"  list [--json]              every cgroup: busy or free, limits, memory, OOM kills\n"
	"  reserve [--exec -- CMD...] take a free cgroup and print its name (or run CMD in it)\n"
	"  release NAME               give a reservation back\n"
	"  exec NAME -- CMD...        run CMD inside the cgroup (same pid)\n"
	"  stat NAME [--json] [--reset]  memory peak, CPU time, OOM kills, tasks\n"
	"\n"
	"Every command takes --prefix P (default: $OYS_CGROUP_PREFIX, else workerd_).\n"
	"'oys-cgroup COMMAND --help' describes each. Environment: OYS_CGROUP_PREFIX, OYS_RUNTIME_DIR.\n";

static const char usage_setup[] =
	"usage: oys-cgroup setup --count N|auto [--memory SIZE] [--cpu CORES] [--pids N] [--prefix P]\n"
	"                        [--no-favordynmods]\n"
	"\n"
	"Creates the pool PREFIX0..PREFIX(N-1), or brings an existing one to this size and these\n"
	"limits (members beyond N are removed when free). Swap is off for the pool. On cgroup v1 it\n"
	"also makes the kernel favour dynamic cgroup changes (a named hierarchy mounted with\n"
	"favordynmods at /run/oys-favordynmods, left mounted): a move into a cgroup then costs no\n"
	"RCU grace period, which every request would otherwise wait for.\n"
	"\n"
	"  -n, --count N|auto   cgroups in the pool (1-1024); auto: free memory / --memory\n"
	"  -m, --memory SIZE    memory limit of each (default 128M)\n"
	"  -c, --cpu CORES      CPU limit of each, in cores (default 0.5)\n"
	"  -p, --pids N         task limit of each, threads included (default 64)\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"      --no-favordynmods  leave the kernel's cgroup mode as it is\n"
	"  -h, --help           this text\n";

static const char usage_teardown[] =
	"usage: oys-cgroup teardown [--force] [--prefix P]\n"
	"\n"
	"Removes the pool. Refuses while a cgroup holds tasks or is reserved, unless --force.\n"
	"\n"
	"  -f, --force          kill the tasks and end the holders first\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

static const char usage_list[] =
	"usage: oys-cgroup list [--json] [--prefix P]\n"
	"\n"
	"Every cgroup of the pool: busy or free, who holds it, limits, current and peak memory,\n"
	"OOM kills so far, tasks.\n"
	"\n"
	"  -j, --json           a JSON array, one object per cgroup\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

static const char usage_reserve[] =
	"usage: oys-cgroup reserve [--memory SIZE] [--cpu CORES] [--pids N] [--prefix P]\n"
	"                          [--exec -- CMD [ARG]...]\n"
	"\n"
	"Takes a free cgroup: kills what a dead holder left in it, resets its peak and counters,\n"
	"applies the limits (the pool's, or those given here). Prints its name; a holder process\n"
	"keeps the reservation until 'oys-cgroup release NAME' (or until it is killed).\n"
	"With --exec, runs CMD inside the cgroup instead, holding it for CMD's life\n"
	"(OYS_CGROUP is set to its name). No free cgroup: exit 69.\n"
	"\n"
	"  -e, --exec           run CMD in the cgroup instead of printing its name\n"
	"  -m, --memory SIZE    memory limit for this use\n"
	"  -c, --cpu CORES      CPU limit for this use\n"
	"  -p, --pids N         task limit for this use\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

static const char usage_release[] =
	"usage: oys-cgroup release [--prefix P] NAME\n"
	"\n"
	"Ends the reservation of NAME made by 'oys-cgroup reserve' (its holder is stopped; with\n"
	"--exec, the command is killed) and kills what is left in the cgroup.\n"
	"\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

static const char usage_exec[] =
	"usage: oys-cgroup exec [--prefix P] NAME -- CMD [ARG]...\n"
	"\n"
	"Moves itself into the cgroup NAME and executes CMD (same pid), with OYS_CGROUP=NAME.\n"
	"\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

static const char usage_stat[] =
	"usage: oys-cgroup stat [--json] [--reset] [--prefix P] NAME\n"
	"\n"
	"Memory (current, peak, limit), CPU time, OOM kills (since the reservation and in all),\n"
	"tasks, limits, as 'key value' lines.\n"
	"\n"
	"  -j, --json           one JSON object\n"
	"  -r, --reset          reset the peak, the CPU time and the OOM-kill baseline first\n"
	"  -P, --prefix P       name prefix of the pool (default workerd_)\n"
	"  -h, --help           this text\n";

#define O_PREFIX {"prefix", required_argument, NULL, 'P'}
#define O_LIMITS {"memory", required_argument, NULL, 'm'}, {"cpu", required_argument, NULL, 'c'}, \
	{"pids", required_argument, NULL, 'p'}
static const struct option lo_setup[] = {{"count", required_argument, NULL, 'n'}, O_LIMITS, O_PREFIX,
                                         {"no-favordynmods", no_argument, NULL, 'F'}, {0}};
static const struct option lo_teardown[] = {{"force", no_argument, NULL, 'f'}, O_PREFIX, {0}};
static const struct option lo_list[] = {{"json", no_argument, NULL, 'j'}, O_PREFIX, {0}};
static const struct option lo_reserve[] = {{"exec", no_argument, NULL, 'e'}, O_LIMITS, O_PREFIX, {0}};
static const struct option lo_name[] = {O_PREFIX, {0}};
static const struct option lo_stat[] = {{"json", no_argument, NULL, 'j'}, {"reset", no_argument, NULL, 'r'},
                                        O_PREFIX, {0}};

static const struct oys_complete complete[] = {
	{"count", "auto 4 8 16"}, {"memory", "64M 128M 256M 512M 1G"}, {"cpu", "0.25 0.5 1 2"},
	{"pids", "32 64 128"}, {"prefix", ":none"}, {0},
};

/* The names of the pool, for completing NAME. */
static void complete_names(void)
{
	int n = 0;
	const char *prefix = oys_conf_prefix(NULL);
	if (oys_cgroup_pool_size(prefix, &n, NULL, NULL) == 0)
		for (int i = 0; i < n; i++)
			printf("%s%d\n", prefix, i);
}

static const struct oys_cmd cmds[] = {
	{"setup", usage_setup, "n:m:c:p:P:", lo_setup, complete, NULL},
	{"teardown", usage_teardown, "fP:", lo_teardown, complete, NULL},
	{"list", usage_list, "jP:", lo_list, complete, NULL},
	{"reserve", usage_reserve, "em:c:p:P:", lo_reserve, complete, NULL},
	{"release", usage_release, "P:", lo_name, complete, complete_names},
	{"exec", usage_exec, "P:", lo_name, complete, complete_names},
	{"stat", usage_stat, "jrP:", lo_stat, complete, complete_names},
};
static const struct oys_tool tool = {usage, cmds, sizeof cmds / sizeof *cmds, NULL};

struct args {
	const char *prefix;
	const char *count;
	struct oys_cgroup_limits lim;
	int force, json, exec, reset, no_favor;
};

static void limit_opt(struct oys_cgroup_limits *l, int c, const char *v)
{
	if (c == 'm') {
		l->memory = oys_opt_size("--memory", v);
		if (l->memory < (4ULL << 20))
			oys_usage_error("--memory: '%s' is less than 4M", v);
	} else if (c == 'c') {
		l->cpu = oys_opt_double("--cpu", v, 0.01, 1024);
	} else {
		l->pids = oys_opt_long("--pids", v, 1, 4194304);
	}
}

static void die_if(int rc, const struct oys_err *e)
{
	if (rc)
		oys_die_err(e);
}

static int finish(void)
{
	return fflush(stdout) == 0 ? 0 : OYS_EIO;
}

static jv stat_json(const struct oys_cgroup *cg, const struct oys_cgroup_stat *st)
{
	jv o = jv_object();
	o = oys_json_set_str(o, "name", cg->name);
	o = jv_object_set(o, jv_string("busy"), jv_bool(st->busy));
	o = st->holder ? oys_json_set_num(o, "holder", (double)st->holder) : jv_object_set(o, jv_string("holder"), jv_null());
	o = oys_json_set_num(o, "memory_limit", (double)st->memory_limit);
	o = oys_json_set_num(o, "memory_current", (double)st->memory_current);
	o = oys_json_set_num(o, "memory_peak", (double)st->memory_peak);
	o = oys_json_set_num(o, "cpu_limit", st->cpu_limit);
	o = oys_json_set_num(o, "cpu_usage_ns", (double)st->cpu_usage_ns);
	o = oys_json_set_num(o, "pids_limit", (double)st->pids_limit);
	o = oys_json_set_num(o, "pids_current", (double)st->pids_current);
	o = oys_json_set_num(o, "tasks", (double)st->tasks);
	o = oys_json_set_num(o, "oom_kills", (double)st->oom_kills);
	o = oys_json_set_num(o, "oom_kills_total", (double)st->oom_kills_total);
	o = oys_json_set_num(o, "version", cg->version);
	return o;
}

static const char *mib(unsigned long long v, char b[32])
{
	if (v % (1ULL << 20) == 0)
		snprintf(b, 32, "%lluM", v >> 20);
	else
		snprintf(b, 32, "%.1fM", (double)v / (1 << 20));
	return b;
}

static int do_list(const struct args *a)
{
	struct oys_err e = {0};
	int n = 0;
	die_if(oys_cgroup_pool_size(a->prefix, &n, NULL, &e), &e);
	if (n == 0)
		oys_die(OYS_ECONFIG, "no cgroup pool %s (run oys-cgroup setup)", oys_conf_prefix(a->prefix));
	jv arr = jv_array();
	if (!a->json)
		printf("%-16s %-5s %-8s %-8s %-5s %-5s %-8s %-8s %-4s %s\n", "NAME", "STATE", "HOLDER", "MEMORY",
		       "CPU", "PIDS", "CURRENT", "PEAK", "OOM", "TASKS");
	for (int i = 0; i < n; i++) {
		struct oys_cgroup cg;
		struct oys_cgroup_stat st;
		die_if(oys_cgroup_member(a->prefix, i, &cg, &e), &e);
		die_if(oys_cgroup_stat(&cg, &st, &e), &e);
		if (a->json) {
			arr = jv_array_append(arr, stat_json(&cg, &st));
		} else {
			char hold[24] = "-", m1[32], m2[32], m3[32], cpu[32] = "-", pids[24] = "-";
			if (st.holder)
				snprintf(hold, sizeof hold, "%ld", st.holder);
			if (st.cpu_limit > 0)
				snprintf(cpu, sizeof cpu, "%.2f", st.cpu_limit);
			if (st.pids_limit > 0)
				snprintf(pids, sizeof pids, "%ld", st.pids_limit);
			printf("%-16s %-5s %-8s %-8s %-5s %-5s %-8s %-8s %-4llu %ld\n", cg.name,
			       st.busy ? "busy" : "free", hold, st.memory_limit ? mib(st.memory_limit, m1) : "-", cpu,
			       pids, mib(st.memory_current, m2), mib(st.memory_peak, m3), st.oom_kills_total, st.tasks);
		}
		oys_cgroup_release(&cg);
	}
	if (a->json)
		return oys_json_print(arr, 1);
	jv_free(arr);
	return finish();
}

static int do_stat(const struct args *a, const char *name)
{
	struct oys_err e = {0};
	struct oys_cgroup cg;
	struct oys_cgroup_stat st;
	die_if(oys_cgroup_open_pool(a->prefix, name, &cg, &e), &e);
	if (a->reset)
		die_if(oys_cgroup_reset(&cg, &e), &e);
	die_if(oys_cgroup_stat(&cg, &st, &e), &e);
	oys_cgroup_release(&cg);
	if (a->json)
		return oys_json_print(stat_json(&cg, &st), 1);
	printf("name %s\nbusy %d\nholder %ld\nmemory_limit %llu\nmemory_current %llu\nmemory_peak %llu\n"
	       "cpu_limit %g\ncpu_usage_ns %llu\npids_limit %ld\npids_current %ld\ntasks %ld\noom_kills %llu\n"
	       "oom_kills_total %llu\nversion %d\n",
	       cg.name, st.busy, st.holder, st.memory_limit, st.memory_current, st.memory_peak, st.cpu_limit,
	       st.cpu_usage_ns, st.pids_limit, st.pids_current, st.tasks, st.oom_kills, st.oom_kills_total,
	       cg.version);
	return finish();
}

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_err e = {0};
	struct args a = {0};
	int c;

	oys_opt_init(&o, argc, argv, &tool);
	const char *cmd = o.cmd->name;
	while ((c = oys_getopt(&o, NULL)) != -1) {
		switch (c) {
		case 'P': a.prefix = optarg; break;
		case 'n': a.count = optarg; break;
		case 'm': case 'c': case 'p': limit_opt(&a.lim, c, optarg); break;
		case 'f': a.force = 1; break;
		case 'j': a.json = 1; break;
		case 'e': a.exec = 1; break;
		case 'r': a.reset = 1; break;
		case 'F': a.no_favor = 1; break;
		}
	}
	int nargs = o.argc - optind;
	char **args = o.argv + optind;
	int want = strcmp(cmd, "release") == 0 || strcmp(cmd, "stat") == 0 ? 1 : 0;
	if (strcmp(cmd, "exec") == 0) {
		if (nargs < 2)
			oys_usage_error("exec needs a cgroup name and a command");
	} else if (strcmp(cmd, "reserve") == 0 && a.exec) {
		if (nargs < 1)
			oys_usage_error("--exec needs a command");
	} else if (nargs < want) {
		oys_usage_error("%s needs a cgroup name", cmd);
	} else if (nargs > want) {
		oys_usage_error("unexpected argument '%s'", args[want]);
	}
	if (strcmp(cmd, "setup") == 0 && a.count == NULL)
		oys_usage_error("setup needs --count N or --count auto");
	a.prefix = oys_conf_prefix(a.prefix); /* --prefix, else the environment, else workerd_ */
	if (!oys_cgroup_valid_prefix(a.prefix))
		oys_usage_error("--prefix: '%s' is not a prefix (letters, digits, '_', '-', not ending in a digit)",
		                a.prefix);
	oys_opt_free(&o);
	char locks[PATH_MAX]; /* the lock files: checked before anything is changed */
	die_if(oys_runtime_subdir("cgroup", locks, sizeof locks, &e), &e);

	if (strcmp(cmd, "setup") == 0) {
		int count = strcmp(a.count, "auto") == 0 ? 0 : (int)oys_opt_long("--count", a.count, 1, 1024);
		die_if(oys_cgroup_setup(a.prefix, count, &a.lim, &e), &e);
		int on;
		if (!a.no_favor)
			die_if(oys_cgroup_favor_dynmods(&on, &e), &e);
	} else if (strcmp(cmd, "teardown") == 0) {
		die_if(oys_cgroup_teardown(a.prefix, a.force, &e), &e);
	} else if (strcmp(cmd, "list") == 0) {
		return do_list(&a);
	} else if (strcmp(cmd, "stat") == 0) {
		return do_stat(&a, args[0]);
	} else if (strcmp(cmd, "reserve") == 0) {
		struct oys_cgroup cg;
		die_if(oys_cgroup_reserve(a.prefix, &a.lim, &cg, &e), &e);
		if (a.exec)
			oys_die_err((oys_cgroup_exec(&cg, args, &e), &e));
		die_if(oys_cgroup_hold(&cg, NULL, &e), &e);
		printf("%s\n", cg.name);
	} else {
		struct oys_cgroup cg;
		die_if(oys_cgroup_open_pool(a.prefix, args[0], &cg, &e), &e);
		if (strcmp(cmd, "exec") == 0)
			oys_die_err((oys_cgroup_exec(&cg, args + 1, &e), &e));
		die_if(oys_cgroup_release_name(&cg, &e), &e);
	}
	return finish();
}
