/* bench/spawn: time from spawning workerd (handed an already-bound listening socket, as
 * oys-run does) to the end of the first response, N times; prints median, p95, mean and the
 * CPU time of the children. This is the baseline every oys figure is compared with.
 *
 *   bench/spawn [-n N] [-b BODY] [-v] CONFIG.capnp      (CONFIG has a socket named "http";
 *                                                   -v: workerd --verbose, as oys-run runs it) */
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/paths.h"
#include "../lib/port.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int n = 20, c, verbose = 0;
	const char *body = "{\"num\": 360}";
	oys_set_progname(argv[0]);
	while ((c = getopt(argc, argv, "n:b:v")) != -1) {
		if (c == 'v')
			verbose = 1;
		else if (c == 'n')
			n = atoi(optarg);
		else if (c == 'b')
			body = optarg;
		else
			return OYS_EUSAGE;
	}
	if (optind != argc - 1 || n < 1 || n > 10000)
		oys_die(OYS_EUSAGE, "usage: spawn [-n N] [-b BODY] CONFIG.capnp");
	const char *config = argv[optind];
	char workerd[PATH_MAX];
	struct oys_err e = {0};
	if (oys_conf_workerd(NULL, workerd, sizeof workerd, &e))
		oys_die_err(&e);
	signal(SIGPIPE, SIG_IGN);

	double *t = calloc((size_t)n, sizeof *t);
	char req[4096];
	int reqlen = snprintf(req, sizeof req,
	                      "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
	                      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
	for (int i = 0; i < n; i++) {
		int port;
		int lfd = oys_port_listen("127.0.0.1", 0, 16, &port, &e);
		if (lfd < 0)
			oys_die_err(&e);
		char fdarg[32];
		snprintf(fdarg, sizeof fdarg, "http=%d", lfd);
		double t0 = oys_now_ms();
		pid_t pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0)
				dup2(null, STDERR_FILENO);
			execl(workerd, "workerd", "serve", config, "--socket-fd", fdarg, verbose ? "--verbose" : (char *)NULL,
			      (char *)NULL);
			_exit(127);
		}
		close(lfd);
		int fd = oys_port_connect("127.0.0.1", port, 5000, &e);
		if (fd < 0)
			oys_die_err(&e);
		struct timeval tv = {10, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		oys_write_all(fd, req, (size_t)reqlen);
		char buf[65536];
		size_t total = 0;
		ssize_t got;
		while ((got = read(fd, buf, sizeof buf)) > 0)
			total += (size_t)got;
		t[i] = oys_now_ms() - t0;
		close(fd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (total == 0 || strncmp(buf, "HTTP/1.1 200", 12) != 0)
			oys_die(OYS_ESOFTWARE, "run %d: no 200 response from workerd", i + 1);
	}
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	double cpu = (double)ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 +
	             (double)ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += t[i];
	qsort(t, (size_t)n, sizeof *t, cmp);
	int p95 = (int)((n * 95 + 99) / 100) - 1;
	printf("n=%d median_ms=%.1f p95_ms=%.1f mean_ms=%.1f min_ms=%.1f cpu_ms_per_request=%.1f\n", n,
	       n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, t[p95 < 0 ? 0 : p95], sum / n, t[0], cpu / n);
	free(t);
	return 0;
}
