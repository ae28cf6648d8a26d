/* bench/http: latency and CPU per request of a whole oys path, for bench/run.
 *
 *   bench/http -n N -p PORT [-m METHOD] [-u PATH] [-b BODY] -- SERVER-CMD...
 *       starts SERVER-CMD (e.g. socat ... EXEC:oys-serve) as a child, waits for PORT, sends N
 *       requests one after another, stops the server and reports; the CPU is that of the
 *       server and everything it started (socat, oys-serve, workerd), as the kernel accounts
 *       it to reaped children.
 *   bench/http -n N -x -- CMD...
 *       runs CMD N times (e.g. oys-run ID input.json), one after another, each until it exits.
 *   bench/http -n N -o -- CMD...
 *       the same, each until its standard output is complete (closed): what a pipeline sees.
 *   bench/http -n N -p PORT -c C ... -- SERVER-CMD...
 *       C clients at once, each its share of the N requests: requests per second.
 * A response is complete at its Content-Length, as an HTTP client sees it, whenever the server
 * closes the connection. */
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/port.h"

#include <fcntl.h>
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

static double children_cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + (double)ru.ru_stime.tv_sec * 1e3 +
	       ru.ru_stime.tv_usec / 1e3;
}

static pid_t spawn(char **argv, int quiet, int out)
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_WRONLY);
		if (quiet && null >= 0) {
			dup2(out >= 0 ? out : null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int one_request(int port, const char *req, size_t reqlen, int *status)
{
	struct oys_err e = {0};
	int fd = oys_port_connect("127.0.0.1", port, 5000, &e);
	if (fd < 0)
		return -1;
	struct timeval tv = {30, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	oys_write_all(fd, req, reqlen);
	/* Like an HTTP client: the response is complete at Content-Length (or at the close, without
	 * one), whenever the server closes the connection. */
	static char buf[1 << 20];
	size_t total = 0;
	ssize_t got;
	long want = -1;
	*status = 0;
	while (total < sizeof buf - 1 && (got = read(fd, buf + total, sizeof buf - 1 - total)) > 0) {
		total += (size_t)got;
		buf[total] = '\0';
		if (*status == 0 && total >= 12)
			*status = atoi(buf + 9);
		char *end = strstr(buf, "\r\n\r\n");
		if (end && want < 0) {
			char *cl = strcasestr(buf, "\r\ncontent-length:");
			want = cl && cl < end ? (long)(end + 4 - buf) + atol(cl + 17) : -2;
		}
		if (want >= 0 && (long)total >= want)
			break;
	}
	close(fd);
	return total ? 0 : -1;
}

int main(int argc, char **argv)
{
	int n = 50, port = 0, exec_mode = 0, out_mode = 0, clients = 0, pause_ms = 0, c;
	const char *method = "POST", *path = "/", *body = "";
	oys_set_progname(argv[0]);
	while ((c = getopt(argc, argv, "+n:p:m:u:b:xorc:w:")) != -1) {
		switch (c) {
		case 'n': n = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 'm': method = optarg; break;
		case 'u': path = optarg; break;
		case 'b': body = optarg; break;
		case 'x': exec_mode = 1; break;
		case 'o': exec_mode = out_mode = 1; break;
		case 'r': break; /* responses are complete at Content-Length anyway */
		case 'c': clients = atoi(optarg); break;
		case 'w': pause_ms = atoi(optarg); break;
		default: return OYS_EUSAGE;
		}
	}
	if (optind >= argc || n < 1 || (!exec_mode && port <= 0))
		oys_die(OYS_EUSAGE, "usage: http -n N (-p PORT [-m M] [-u PATH] [-b BODY] [-c CLIENTS | -w PAUSE_MS] | -x | -o) -- CMD...");
	char **cmd = argv + optind;
	double *t = calloc((size_t)n, sizeof *t);
	signal(SIGPIPE, SIG_IGN);
	double cpu0 = children_cpu_ms();

	if (exec_mode) {
		for (int i = 0; i < n; i++) {
			int p[2] = {-1, -1};
			if (out_mode && pipe2(p, O_CLOEXEC) < 0)
				oys_die(OYS_EOSERR, "pipe");
			double t0 = oys_now_ms();
			pid_t pid = spawn(cmd, 1, p[1]);
			if (out_mode) {
				char b[65536];
				close(p[1]);
				while (read(p[0], b, sizeof b) > 0)
					;
				t[i] = oys_now_ms() - t0;
				close(p[0]);
			}
			int st;
			waitpid(pid, &st, 0);
			if (!out_mode)
				t[i] = oys_now_ms() - t0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				oys_die(OYS_ESOFTWARE, "run %d: %s failed (status %d)", i + 1, cmd[0], st);
		}
	} else {
		char req[8192];
		int len = snprintf(req, sizeof req,
		                   "%s %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
		                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		                   method, path, strlen(body), body);
		pid_t pid = spawn(cmd, 1, -1);
		struct oys_err e = {0};
		int ready = 0;
		for (int i = 0; i < 200 && !ready; i++) {
			int fd = oys_port_connect("127.0.0.1", port, 100, &e);
			if (fd >= 0) {
				close(fd);
				ready = 1;
			} else {
				usleep(25000);
			}
		}
		if (!ready)
			oys_die(OYS_EUNAVAIL, "nothing listens on port %d", port);
		cpu0 = children_cpu_ms();
		if (clients > 0) {
			/* C clients at once, each its share of the N requests; requests per second */
			double t0 = oys_now_ms();
			pid_t *kids = calloc((size_t)clients, sizeof *kids);
			for (int k = 0; k < clients; k++) {
				kids[k] = fork();
				if (kids[k] == 0) {
					int failed = 0;
					for (int i = k; i < n; i += clients) {
						int status = 0;
						if (one_request(port, req, (size_t)len, &status) < 0 || status != 200) {
							failed++;
							fprintf(stderr, "http: request %d: %s %d\n", i + 1,
							        status ? "status" : "no answer", status);
						}
					}
					_exit(failed > 255 ? 255 : failed);
				}
			}
			int failed = 0;
			for (int k = 0; k < clients; k++) {
				int st;
				waitpid(kids[k], &st, 0);
				failed += WIFEXITED(st) ? WEXITSTATUS(st) : n;
			}
			double wall = oys_now_ms() - t0;
			usleep(200000);
			kill(-pid, SIGTERM);
			waitpid(pid, NULL, 0);
			/* answers other than 200 (a 429 from a pool that could not keep up) are counted,
			 * not served: rps counts the 200s */
			printf("n=%d concurrency=%d wall_ms=%.0f rps=%.1f failed=%d cpu_ms_per_request=%.1f\n", n, clients,
			       wall, (n - failed) / (wall / 1000), failed, (children_cpu_ms() - cpu0) / n);
			free(kids);
			free(t);
			return 0;
		}
		for (int i = 0; i < n; i++) {
			int status = 0;
			if (pause_ms > 0) /* a rest before each request: what a pool that keeps up gives */
				usleep((useconds_t)pause_ms * 1000);
			double t0 = oys_now_ms();
			if (one_request(port, req, (size_t)len, &status) < 0 || status != 200) {
				kill(-pid, SIGTERM);
				oys_die(OYS_ESOFTWARE, "request %d: status %d", i + 1, status);
			}
			t[i] = oys_now_ms() - t0;
		}
		usleep(200000); /* the last oys-serve logs and exits after it answered */
		kill(-pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	double cpu = children_cpu_ms() - cpu0;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += t[i];
	qsort(t, (size_t)n, sizeof *t, cmp);
	int p95 = (n * 95 + 99) / 100 - 1;
	printf("n=%d median_ms=%.1f p95_ms=%.1f mean_ms=%.1f min_ms=%.1f cpu_ms_per_request=%.1f\n", n,
	       n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2, t[p95 < 0 ? 0 : p95], sum / n, t[0], cpu / n);
	free(t);
	return 0;
}
