/* bench/sandbox: what each layer around workerd costs per start, measured through the very
 * functions oys-run calls (oys_workerd_spawn, oys_sandbox_*), the modes interleaved round-robin
 * so that load drifts hit them alike.
 *
 *   bench/sandbox [-n N] [-p PREFIX] [-k KEYFILE] [-m MODE,...] CONFIG_DIR
 *       CONFIG_DIR/config.capnp with a socket "http"; KEYFILE gets one line per mode of
 *       key=value pairs (mode, n, median_ms, p95_ms, cpu_ms_per_request, spawn_ms, stop_ms);
 *       -m runs only the modes named (e.g. -m bare)
 *
 * Modes: bare (fork and exec, no cgroup, no sandbox: the baseline), cgroup (the pool's
 * cgroup: v1 moves the child in between fork and exec, v2 creates it inside with clone3),
 * uid (the slot's uid, no capabilities, no_new_privs), +seccomp, +netns (setns into the slot's
 * namespace), +unshare (a new network namespace instead), +mountpid (mount and PID namespaces
 * with a /proc of their own), all (everything oys-run does). Per mode: spawn (fork until
 * workerd is exec'd: the layers' own setup), response (spawn until the end of the first
 * response), stop (SIGKILL until reaped: namespace teardown), CPU per start (ours and the
 * child's), medians and p95, and the difference with bare.
 *
 * Then: a cgroup.procs write after 200 ms of quiet, which waits for an RCU grace period unless
 * the hierarchy favours dynamic changes (favordynmods); this is what moving a process into a
 * cgroup costs on the path. Needs root and a pool (bench/run makes one). */
#include "../lib/cgroup.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/netns.h"
#include "../lib/sandbox.h"
#include "../lib/workerd.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { M_BARE, M_CGROUP, M_UID, M_SECCOMP, M_NETNS, M_UNSHARE, M_MOUNTPID, M_ALL, M_N };
static const char *const mode_name[M_N] = {"bare", "cgroup", "uid+caps+nnp", "+seccomp", "+netns(setns)",
                                           "+netns(unshare)", "+mount+pid", "all"};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double p95(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	int k = (n * 95 + 99) / 100 - 1;
	return v[k < 0 ? 0 : k];
}

static double cpu_ms(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + (double)ru.ru_stime.tv_sec * 1e3 +
	       ru.ru_stime.tv_usec / 1e3;
}

/* One start: spawn, one request, stop. Times in t[0..2], CPU in *cpu. */
static int one(const struct oys_workerd_spawn *s, double t[3], double *cpu, struct oys_err *e)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
	                          "Content-Length: 12\r\nConnection: close\r\n\r\n{\"num\": 360}";
	struct oys_workerd w;
	double c0 = cpu_ms(RUSAGE_SELF) + cpu_ms(RUSAGE_CHILDREN);
	double t0 = oys_now_ms();
	if (oys_workerd_spawn(s, &w, e))
		return -1;
	double t1 = oys_now_ms();
	int fd = oys_workerd_connect(&w, e);
	if (fd < 0) {
		oys_workerd_free(&w);
		return -1;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	poll(&p, 1, 10000);
	oys_write_all(fd, req, sizeof req - 1);
	/* complete at Content-Length, as a client sees it (workerd closes right after anyway) */
	char buf[8192];
	size_t len = 0;
	long want = -1;
	for (;;) {
		struct pollfd q = {fd, POLLIN, 0};
		if (poll(&q, 1, 20000) <= 0)
			break;
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end && want < 0) {
			char *cl = strcasestr(buf, "\r\ncontent-length:");
			want = cl && cl < end ? (long)(end + 4 - buf) + atol(cl + 17) : -2;
		}
		if ((want >= 0 && (long)len >= want) || len == sizeof buf - 1)
			break;
	}
	buf[len] = '\0';
	double t2 = oys_now_ms();
	close(fd);
	oys_workerd_free(&w);
	double t3 = oys_now_ms();
	*cpu = cpu_ms(RUSAGE_SELF) + cpu_ms(RUSAGE_CHILDREN) - c0;
	t[0] = t1 - t0;
	t[1] = t2 - t0;
	t[2] = t3 - t2;
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
		return oys_err_set(e, OYS_ESOFTWARE, "no 200 response (%zu bytes)", len), -1;
	return 0;
}

/* A child moves itself into cg after 200 ms of quiet; how long the write took. */
static double move_after_quiet(const struct oys_cgroup *cg)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	struct timespec ts = {0, 200 * 1000000L};
	nanosleep(&ts, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		double t0 = oys_now_ms();
		int rc = oys_cgroup_enter(cg, NULL);
		double dt = rc ? -1 : oys_now_ms() - t0;
		ssize_t w = write(p[1], &dt, sizeof dt);
		_exit(w == (ssize_t)sizeof dt ? 0 : 1);
	}
	close(p[1]);
	double dt = -1;
	if (read(p[0], &dt, sizeof dt) != (ssize_t)sizeof dt)
		dt = -1;
	close(p[0]);
	waitpid(pid, NULL, 0);
	return dt;
}

int main(int argc, char **argv)
{
	int n = 20, c;
	const char *prefix = NULL;
	FILE *keys = NULL;
	const char *only = NULL;
	oys_set_progname(argv[0]);
	oys_conf_process();
	while ((c = getopt(argc, argv, "n:p:k:m:")) != -1) {
		switch (c) {
		case 'm': only = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'p': prefix = optarg; break;
		case 'k':
			if ((keys = fopen(optarg, "w")) == NULL)
				oys_die(OYS_ECANTCREAT, "cannot write %s", optarg);
			break;
		default: return OYS_EUSAGE;
		}
	}
	if (optind != argc - 1 || n < 1 || n > 10000)
		oys_die(OYS_EUSAGE, "usage: sandbox [-n N] [-p PREFIX] [-k KEYFILE] [-m MODE,...] CONFIG_DIR");
	const char *dir = argv[optind];
	char workerd[PATH_MAX], sock[PATH_MAX];
	struct oys_err e = {0};
	if (oys_conf_workerd(NULL, workerd, sizeof workerd, &e))
		oys_die_err(&e);
	signal(SIGPIPE, SIG_IGN);

	struct oys_cgroup cg;
	if (oys_cgroup_reserve(oys_conf_prefix(prefix), NULL, &cg, &e))
		oys_die_err(&e);
	struct oys_sandbox sb[M_N];
	int nsfd = -1;
	if (oys_netns_open(cg.name, &nsfd, &e))
		oys_die_err(&e);
	for (int m = 0; m < M_N; m++) {
		if (oys_sandbox_for_slot(0, cg.index, &sb[m], &e))
			oys_die_err(&e);
		sb[m].seccomp = m == M_SECCOMP || m == M_ALL;
		sb[m].private_proc = m == M_MOUNTPID || m == M_ALL;
		sb[m].netns_fd = m == M_NETNS || m == M_ALL ? nsfd : -1;
		sb[m].new_netns = m == M_UNSHARE;
	}
	if (oys_sandbox_handoff(dir, sb[0].uid, sb[0].uid, &e))
		oys_die_err(&e);
	snprintf(sock, sizeof sock, "%s/http.sock", dir);

	double *t[M_N][3], *cpu[M_N];
	for (int m = 0; m < M_N; m++) {
		for (int k = 0; k < 3; k++)
			t[m][k] = calloc((size_t)n, sizeof(double));
		cpu[m] = calloc((size_t)n, sizeof(double));
	}
	int on[M_N];
	for (int m = 0; m < M_N; m++) {
		size_t k = strlen(mode_name[m]);
		const char *p = only ? strstr(only, mode_name[m]) : NULL;
		on[m] = only == NULL || (p && (p == only || p[-1] == ',') && (p[k] == '\0' || p[k] == ','));
	}
	for (int i = 0; i < n; i++) {
		for (int m = 0; m < M_N; m++) {
			if (!on[m])
				continue;
			struct oys_workerd_spawn s = {0};
			s.workerd = workerd;
			s.config = "config.capnp";
			s.dir = dir;
			s.socket = sock;
			s.cg = m == M_CGROUP || m == M_ALL ? &cg : NULL;
			s.sb = m == M_BARE || m == M_CGROUP ? NULL : &sb[m];
			double tt[3];
			if (one(&s, tt, &cpu[m][i], &e))
				oys_die(OYS_ESOFTWARE, "%s, start %d: %s", mode_name[m], i + 1, e.msg);
			for (int k = 0; k < 3; k++)
				t[m][k][i] = tt[k];
			if (s.cg)
				oys_cgroup_kill(&cg, NULL);
		}
	}
	double base[3] = {0}, base_cpu = 0;
	printf("%-16s %9s %9s %9s %9s %9s %11s %11s\n", "mode", "spawn_ms", "(+bare)", "resp_ms", "resp_p95",
	       "(+bare)", "stop_ms", "cpu_ms");
	for (int m = 0; m < M_N; m++) {
		if (!on[m])
			continue;
		double sp = median(t[m][0], n), rs = median(t[m][1], n), r95 = p95(t[m][1], n), st = median(t[m][2], n);
		double cp = median(cpu[m], n);
		if (m == M_BARE) {
			base[0] = sp;
			base[1] = rs;
			base[2] = st;
			base_cpu = cp;
		}
		printf("%-16s %9.2f %+9.2f %9.1f %9.1f %+9.1f %5.1f(%+4.1f) %5.1f(%+4.1f)\n", mode_name[m], sp,
		       sp - base[0], rs, r95, rs - base[1], st, st - base[2], cp, cp - base_cpu);
		if (keys)
			fprintf(keys, "mode=%s n=%d median_ms=%.1f p95_ms=%.1f cpu_ms_per_request=%.1f spawn_ms=%.2f stop_ms=%.1f\n",
			        mode_name[m], n, rs, r95, cp, sp, st);
	}
	double mv[10];
	int k = 0;
	for (int i = 0; i < 10 && on[M_CGROUP]; i++)
		if ((mv[k] = move_after_quiet(&cg)) >= 0)
			k++;
	oys_cgroup_kill(&cg, NULL);
	if (k) {
		double med = median(mv, k); /* sorts mv */
		printf("cgroup.procs write after 200 ms of quiet: median %.2f ms, max %.2f ms (%d moves; an RCU grace "
		       "period unless favordynmods)\n", med, mv[k - 1], k);
	}
	close(nsfd);
	oys_cgroup_release(&cg);
	if (keys)
		fclose(keys);
	return 0;
}
