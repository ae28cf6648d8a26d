/* bench/soak-client: the concurrent HTTP client of bench/soak (make soak).
 *
 *   soak-client -p PORT -c CONCURRENCY [-t SECONDS] <REQUESTS >RESULTS
 *
 * REQUESTS has one request a line, "KIND<TAB>METHOD<TAB>PATH<TAB>BODY" (BODY may be empty);
 * CONCURRENCY threads take the next line in turn, each on a connection of its own to
 * 127.0.0.1:PORT, until all are answered. RESULTS has one line per request, in input order:
 * "INDEX<TAB>KIND<TAB>STATUS<TAB>MS<TAB>BODY", the body cut at 256 bytes with tabs, CR and LF
 * turned into spaces; STATUS 0 when no answer came (refused, reset, or none within the
 * timeout). A response is complete at its Content-Length, as an HTTP client sees it, whenever
 * the server closes the connection; MS counts from the connect to then. The last line on
 * stderr is "wall_ms=W". */
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/port.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BODY_KEEP 256

struct req {
	char *kind, *method, *path, *body;
	int status;
	double ms;
	char head[BODY_KEEP + 1];
};

static struct req *reqs;
static size_t nreqs;
static atomic_size_t next;
static int port, timeout_s = 60;

/* Sends r and reads its answer; fills status, ms and the head of the body. */
static void one(struct req *r)
{
	struct oys_err e = {0};
	size_t blen = strlen(r->body);
	size_t cap = strlen(r->method) + strlen(r->path) + blen + 256;
	char *msg = malloc(cap);
	char *buf = malloc(1 << 20);
	if (msg == NULL || buf == NULL) {
		free(msg);
		free(buf);
		return;
	}
	int len = snprintf(msg, cap,
	                   "%s %s HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
	                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                   r->method, r->path, blen, r->body);
	double t0 = oys_now_ms();
	int fd = oys_port_connect("127.0.0.1", port, 10000, &e);
	if (fd < 0) {
		r->ms = oys_now_ms() - t0;
		free(msg);
		free(buf);
		return;
	}
	struct timeval tv = {timeout_s, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	size_t total = 0;
	long want = -1;
	if (oys_write_all(fd, msg, (size_t)len) == 0) {
		ssize_t got;
		while (total < (1 << 20) - 1 && (got = read(fd, buf + total, (1 << 20) - 1 - total)) > 0) {
			total += (size_t)got;
			buf[total] = '\0';
			char *end = strstr(buf, "\r\n\r\n");
			if (end && want < 0) {
				char *cl = strcasestr(buf, "\r\ncontent-length:");
				want = cl && cl < end ? (long)(end + 4 - buf) + atol(cl + 17) : -2;
			}
			if (want >= 0 && (long)total >= want)
				break;
		}
	}
	r->ms = oys_now_ms() - t0;
	close(fd);
	buf[total] = '\0';
	char *end = strstr(buf, "\r\n\r\n");
	if (total >= 12 && strncmp(buf, "HTTP/1.1 ", 9) == 0 && end && (want < 0 || (long)total >= want)) {
		r->status = atoi(buf + 9);
		snprintf(r->head, sizeof r->head, "%s", end + 4);
		for (char *p = r->head; *p; p++)
			if (*p == '\t' || *p == '\r' || *p == '\n')
				*p = ' ';
	}
	free(msg);
	free(buf);
}

static void *worker(void *arg)
{
	(void)arg;
	size_t i;
	while ((i = atomic_fetch_add(&next, 1)) < nreqs)
		one(&reqs[i]);
	return NULL;
}

/* Splits line at tabs into the four fields of r, the body may be missing (the line is kept:
 * r points into it). */
static int parse(char *line, struct req *r)
{
	char *f[4] = {line, NULL, NULL, ""};
	for (int k = 1; k < 4; k++) {
		char *tab = strchr(f[k - 1], '\t');
		if (tab == NULL)
			break;
		*tab = '\0';
		f[k] = tab + 1;
	}
	if (f[2] == NULL)
		return -1;
	r->kind = f[0];
	r->method = f[1];
	r->path = f[2];
	r->body = f[3];
	return 0;
}

int main(int argc, char **argv)
{
	int conc = 16, c;
	oys_set_progname(argv[0]);
	while ((c = getopt(argc, argv, "p:c:t:")) != -1) {
		switch (c) {
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		default: return OYS_EUSAGE;
		}
	}
	if (port <= 0 || conc < 1 || conc > 1024 || timeout_s < 1 || optind != argc)
		oys_die(OYS_EUSAGE, "usage: soak-client -p PORT -c CONCURRENCY [-t SECONDS] <REQUESTS >RESULTS");
	signal(SIGPIPE, SIG_IGN);

	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	while ((n = getline(&line, &lcap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		if (nreqs == cap) {
			cap = cap ? cap * 2 : 1024;
			struct req *nr = realloc(reqs, cap * sizeof *reqs);
			if (nr == NULL)
				oys_die(OYS_EOSERR, "out of memory");
			reqs = nr;
		}
		struct req *r = &reqs[nreqs];
		memset(r, 0, sizeof *r);
		char *copy = strdup(line);
		if (copy == NULL || parse(copy, r) < 0)
			oys_die(OYS_EDATA, "request %zu: not KIND<TAB>METHOD<TAB>PATH<TAB>BODY", nreqs + 1);
		nreqs++;
	}
	free(line);
	if (nreqs == 0)
		oys_die(OYS_EDATA, "no requests on standard input");

	pthread_t *th = calloc((size_t)conc, sizeof *th);
	if (th == NULL)
		oys_die(OYS_EOSERR, "out of memory");
	double t0 = oys_now_ms();
	int started = 0;
	for (int i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) == 0)
			started++;
	if (started == 0)
		oys_die(OYS_EOSERR, "cannot start a thread");
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double wall = oys_now_ms() - t0;

	for (size_t i = 0; i < nreqs; i++)
		printf("%zu\t%s\t%d\t%.1f\t%s\n", i + 1, reqs[i].kind, reqs[i].status, reqs[i].ms, reqs[i].head);
	fprintf(stderr, "wall_ms=%.1f\n", wall);
	for (size_t i = 0; i < nreqs; i++)
		free(reqs[i].kind); /* the line each points into */
	free(reqs);
	free(th);
	return 0;
}
