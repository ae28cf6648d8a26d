/* bench/sign: what signing one answer costs oys-serve: both digests (X-Signature and
 * X-Oyster-Signature) and two secp256k1 signatures, oys_sign_answer().
 *
 *   bench/sign [-n N] [-b BYTES]...   (default: N 2000; bodies of 100 bytes, 64 KiB, 1 MiB)
 *
 * First the cost in a fresh process, as an inetd-style oys-serve pays it per request: load
 * the key's secret (oys_sign_key_load_secret: no public key, which signing does not need),
 * create and randomize the context, sign one small answer; beside it the same with the public
 * key computed on load (oys_sign_key_load), and the context alone (create and randomize:
 * blinding against side channels, kept). Each the mean of 50 forked children. Then one line
 * per response body size: microseconds per answer in a loop (wall and CPU), and the
 * Keccak-256 throughput alone. */
#include "../lib/keccak.h"
#include "../lib/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static const char *req = "{\"code_id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
                         "\"input\":{\"a\":1}}";

int main(int argc, char **argv)
{
	long n = 2000;
	size_t sizes[16], nsizes = 0;
	int c;
	while ((c = getopt(argc, argv, "n:b:")) != -1) {
		if (c == 'n')
			n = atol(optarg);
		else if (c == 'b' && nsizes < 16)
			sizes[nsizes++] = strtoul(optarg, NULL, 10);
		else
			return 64;
	}
	if (nsizes == 0) {
		sizes[0] = 100;
		sizes[1] = 64 << 10;
		sizes[2] = 1 << 20;
		nsizes = 3;
	}
	struct oys_err e = {0};
	struct oys_sign_key k;
	struct oys_sig_fields f = {"POST", "/api/serverless", 200,
	                           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	                           "5f1c2a3b4c5d6e7f", (long long)time(NULL)};
	char v2[OYS_SIGN_HEX_LEN + 1], oys[OYS_SIGN_HEX_LEN + 1];
	char dir[] = "/tmp/oys-bench-sign-XXXXXX", key[64];
	if (mkdtemp(dir) == NULL)
		return 71;
	snprintf(key, sizeof key, "%s/key", dir);
	FILE *kf = fopen(key, "w");
	if (kf == NULL)
		return 71;
	fputs("0101010101010101010101010101010101010101010101010101010101010101\n", kf);
	fclose(kf);
	chmod(key, 0600);

	/* fresh processes: nothing of the library is initialized in the parent yet */
	int fds[2], forks = 50;
	double cold[3] = {0, 0, 0};
	if (pipe(fds) < 0)
		return 71;
	for (int what = 0; what < 3; what++) {
		for (int i = 0; i < forks; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				double t0 = now_us(CLOCK_MONOTONIC);
				int rc = what == 2 ? oys_sign_init(&e)
				         : (what == 0 ? oys_sign_key_load_secret(key, &k, &e) : oys_sign_key_load(key, &k, &e)) ||
				           oys_sign_answer(&k, &f, req, strlen(req), "{\"ok\":1}", 8, v2, oys, &e);
				double t = now_us(CLOCK_MONOTONIC) - t0;
				_exit(rc == 0 && write(fds[1], &t, sizeof t) == sizeof t ? 0 : 1);
			}
			double t;
			int st;
			if (pid < 0 || waitpid(pid, &st, 0) < 0 || st != 0 || read(fds[0], &t, sizeof t) != sizeof t)
				return 1;
			cold[what] += t;
		}
	}
	printf("sign answer: fresh process, as oys-serve signs (load the secret, context, sign 100 bytes): "
	       "%.1f us wall (%d processes)\n", cold[0] / forks, forks);
	printf("sign answer: fresh process, public key computed on load too: %.1f us wall; the context alone "
	       "(create, randomize): %.1f us\n", cold[1] / forks, cold[2] / forks);
	unlink(key);
	rmdir(dir);

	if (oys_sign_keygen(&k, &e)) {
		fprintf(stderr, "bench/sign: %s\n", e.msg);
		return 1;
	}
	for (size_t s = 0; s < nsizes; s++) {
		char *body = malloc(sizes[s] + 1);
		memset(body, 'x', sizes[s]);
		long iters = sizes[s] >= (1 << 20) ? (n / 20 > 0 ? n / 20 : 1) : n;
		oys_sign_answer(&k, &f, req, strlen(req), body, sizes[s], v2, oys, &e); /* warm up */
		double w0 = now_us(CLOCK_MONOTONIC), c0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
		for (long i = 0; i < iters; i++)
			if (oys_sign_answer(&k, &f, req, strlen(req), body, sizes[s], v2, oys, &e))
				return 1;
		double w = (now_us(CLOCK_MONOTONIC) - w0) / iters;
		double cpu = (now_us(CLOCK_PROCESS_CPUTIME_ID) - c0) / iters;
		unsigned char d[32];
		double h0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
		for (long i = 0; i < iters; i++)
			oys_keccak256(body, sizes[s], d);
		double h = (now_us(CLOCK_PROCESS_CPUTIME_ID) - h0) / iters;
		printf("sign answer: response %zu bytes: %.1f us wall, %.1f us CPU per answer (%ld answers); "
		       "keccak256 %.0f MB/s\n", sizes[s], w, cpu, iters, sizes[s] / (h > 0 ? h : 1));
		free(body);
	}
	oys_sign_key_wipe(&k);
	return 0;
}
