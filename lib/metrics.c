#include "metrics.h"
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef OYS_VERSION
#define OYS_VERSION "0.0.0"
#endif

/* Error codes counted by name; anything else is "other". Keep in step with run.h and serve.c. */
static const char *const error_names[] = {
	"bad_request", "bad_json", "bad_code_id", "not_found", "no_route", "method_not_allowed",
	"length_required", "too_large", "timeout_reading", "draining", "forbidden",
	"compile_error", "memory_limit", "timeout", "start_timeout", "crashed", "incomplete_response",
	"response_too_large", "bad_response", "no_sandbox", "storage_unavailable", "storage_timeout",
	"attestation_refused", "bad_code", "client_gone", "config", "internal", "other",
};
#define N_ERRORS (sizeof error_names / sizeof *error_names)

static const double buckets[OYS_METRICS_BUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

#define MAGIC 0x314d5254454d594fULL /* "OYMETRM1" */

/* The shared layout. Only append fields (the magic changes when the layout does). */
struct shm {
	uint64_t magic;
	uint64_t size;
	uint64_t requests[OYS_EP_COUNT][600];          /* by endpoint and status (index = status) */
	uint64_t errors[N_ERRORS];
	uint64_t latency[OYS_EP_COUNT][OYS_METRICS_BUCKETS];
	uint64_t latency_sum_us[OYS_EP_COUNT];
	uint64_t latency_count[OYS_EP_COUNT];
	uint64_t stage_us[OYS_STAGE_COUNT];
	uint64_t runs;
	uint64_t cpu_ns;
	uint64_t memory_peak_sum;
	uint64_t memory_peak_max;
};

struct oys_metrics {
	struct shm *s;
};

const char *oys_endpoint_name(enum oys_endpoint ep)
{
	static const char *const n[] = {"serverless", "fn", "healthz", "status", "metrics", "admin", "other"};
	return ep < OYS_EP_COUNT ? n[ep] : "other";
}

const char *oys_stage_name(enum oys_stage s)
{
	static const char *const n[] = {"fetch", "config", "cgroup", "start", "execute"};
	return s < OYS_STAGE_COUNT ? n[s] : "other";
}

int oys_metrics_open(struct oys_metrics **out, struct oys_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	int rc = oys_runtime_subdir(NULL, dir, sizeof dir, e);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/metrics", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot open %s", path);
	/* First user (or a layout change) initialises it, under a lock. */
	flock(fd, LOCK_EX);
	struct stat st;
	int init = fstat(fd, &st) < 0 || (size_t)st.st_size != sizeof(struct shm);
	if (init && (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(struct shm)) < 0)) {
		flock(fd, LOCK_UN);
		close(fd);
		return oys_err_sys(e, OYS_EIO, "cannot size %s", path);
	}
	struct shm *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		flock(fd, LOCK_UN);
		close(fd);
		return oys_err_sys(e, OYS_EOSERR, "cannot map %s", path);
	}
	if (s->magic != MAGIC || s->size != sizeof *s) {
		memset(s, 0, sizeof *s);
		s->size = sizeof *s;
		__atomic_store_n(&s->magic, MAGIC, __ATOMIC_RELEASE);
	}
	flock(fd, LOCK_UN);
	close(fd);
	*out = calloc(1, sizeof **out);
	if (*out == NULL) {
		munmap(s, sizeof *s);
		return oys_err_sys(e, OYS_EOSERR, "metrics");
	}
	(*out)->s = s;
	return 0;
}

void oys_metrics_close(struct oys_metrics *m)
{
	if (m) {
		munmap(m->s, sizeof *m->s);
		free(m);
	}
}

static void add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static size_t error_index(const char *error)
{
	for (size_t i = 0; i < N_ERRORS; i++)
		if (strcmp(error_names[i], error) == 0)
			return i;
	return N_ERRORS - 1;
}

void oys_metrics_request(struct oys_metrics *m, enum oys_endpoint ep, int status, const char *error,
                         double seconds)
{
	if (m == NULL || ep >= OYS_EP_COUNT)
		return;
	struct shm *s = m->s;
	add(&s->requests[ep][status >= 100 && status < 600 ? status : 0], 1);
	if (error)
		add(&s->errors[error_index(error)], 1);
	size_t b = 0;
	while (b < OYS_METRICS_BUCKETS - 1 && seconds > buckets[b])
		b++;
	add(&s->latency[ep][b], 1);
	add(&s->latency_sum_us[ep], (uint64_t)(seconds * 1e6));
	add(&s->latency_count[ep], 1);
}

void oys_metrics_run(struct oys_metrics *m, const double stage_ms[OYS_STAGE_COUNT], uint64_t cpu_ns,
                     uint64_t memory_peak)
{
	if (m == NULL)
		return;
	struct shm *s = m->s;
	for (int i = 0; i < OYS_STAGE_COUNT; i++)
		add(&s->stage_us[i], (uint64_t)(stage_ms[i] * 1e3));
	add(&s->runs, 1);
	add(&s->cpu_ns, cpu_ns);
	add(&s->memory_peak_sum, memory_peak);
	uint64_t cur = __atomic_load_n(&s->memory_peak_max, __ATOMIC_RELAXED);
	while (memory_peak > cur &&
	       !__atomic_compare_exchange_n(&s->memory_peak_max, &cur, memory_peak, 1, __ATOMIC_RELAXED,
	                                    __ATOMIC_RELAXED))
		;
}

static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

int oys_metrics_render(struct oys_metrics *m, const struct oys_metrics_gauges *g, struct oys_buf *b)
{
	struct shm *s = m->s;
	oys_buf_puts(b, "# HELP oys_build_info Version of oys serving.\n# TYPE oys_build_info gauge\n");
	oys_buf_printf(b, "oys_build_info{version=\"%s\"} 1\n", OYS_VERSION);

	oys_buf_puts(b, "# HELP oys_requests_total Requests answered, by endpoint and HTTP status.\n"
	                "# TYPE oys_requests_total counter\n");
	for (int ep = 0; ep < OYS_EP_COUNT; ep++)
		for (int st = 0; st < 600; st++) {
			uint64_t v = get(&s->requests[ep][st]);
			if (v)
				oys_buf_printf(b, "oys_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
				               oys_endpoint_name(ep), st, (unsigned long long)v);
		}

	oys_buf_puts(b, "# HELP oys_errors_total Requests that failed, by error code.\n"
	                "# TYPE oys_errors_total counter\n");
	for (size_t i = 0; i < N_ERRORS; i++)
		oys_buf_printf(b, "oys_errors_total{code=\"%s\"} %llu\n", error_names[i],
		               (unsigned long long)get(&s->errors[i]));

	oys_buf_puts(b, "# HELP oys_request_duration_seconds Time from the first byte of a request to its "
	                "answer.\n# TYPE oys_request_duration_seconds histogram\n");
	for (int ep = 0; ep < OYS_EP_COUNT; ep++) {
		if (get(&s->latency_count[ep]) == 0 && ep != OYS_EP_SERVERLESS && ep != OYS_EP_FN)
			continue;
		uint64_t cum = 0;
		for (int i = 0; i < OYS_METRICS_BUCKETS; i++) {
			cum += get(&s->latency[ep][i]);
			if (i < OYS_METRICS_BUCKETS - 1)
				oys_buf_printf(b, "oys_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
				               oys_endpoint_name(ep), buckets[i], (unsigned long long)cum);
			else
				oys_buf_printf(b, "oys_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
				               oys_endpoint_name(ep), (unsigned long long)cum);
		}
		oys_buf_printf(b, "oys_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", oys_endpoint_name(ep),
		               (double)get(&s->latency_sum_us[ep]) / 1e6);
		oys_buf_printf(b, "oys_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", oys_endpoint_name(ep),
		               (unsigned long long)get(&s->latency_count[ep]));
	}

	oys_buf_puts(b, "# HELP oys_stage_seconds_total Time spent in each stage of the flow, summed over runs.\n"
	                "# TYPE oys_stage_seconds_total counter\n");
	for (int i = 0; i < OYS_STAGE_COUNT; i++)
		oys_buf_printf(b, "oys_stage_seconds_total{stage=\"%s\"} %.6f\n", oys_stage_name(i),
		               (double)get(&s->stage_us[i]) / 1e6);
	oys_buf_printf(b, "# HELP oys_runs_total Functions started.\n# TYPE oys_runs_total counter\n"
	                  "oys_runs_total %llu\n", (unsigned long long)get(&s->runs));
	oys_buf_printf(b, "# HELP oys_function_cpu_seconds_total CPU time of functions (their cgroups).\n"
	                  "# TYPE oys_function_cpu_seconds_total counter\noys_function_cpu_seconds_total %.6f\n",
	               (double)get(&s->cpu_ns) / 1e9);
	oys_buf_printf(b, "# HELP oys_function_memory_peak_bytes_max Largest memory peak of a function.\n"
	                  "# TYPE oys_function_memory_peak_bytes_max gauge\noys_function_memory_peak_bytes_max %llu\n",
	               (unsigned long long)get(&s->memory_peak_max));

	static const struct { const char *name, *code, *help; } shortcuts[] = {
		{"oys_oom_kills_total", "memory_limit", "Functions killed for memory."},
		{"oys_timeouts_total", "timeout", "Functions stopped at the execution timeout."},
		{"oys_attestation_refusals_total", "attestation_refused", "Code fetches the storage refused."},
	};
	for (size_t i = 0; i < sizeof shortcuts / sizeof *shortcuts; i++)
		oys_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", shortcuts[i].name, shortcuts[i].help,
		               shortcuts[i].name, shortcuts[i].name,
		               (unsigned long long)get(&s->errors[error_index(shortcuts[i].code)]));
	uint64_t fetch_failures = get(&s->errors[error_index("storage_unavailable")]) +
	                          get(&s->errors[error_index("storage_timeout")]) +
	                          get(&s->errors[error_index("bad_code")]) +
	                          get(&s->errors[error_index("attestation_refused")]);
	oys_buf_printf(b, "# HELP oys_fetch_failures_total Code fetches that failed (storage, hash, attestation).\n"
	                  "# TYPE oys_fetch_failures_total counter\noys_fetch_failures_total %llu\n",
	               (unsigned long long)fetch_failures);

	if (g) {
		oys_buf_puts(b, "# HELP oys_sandboxes Sandboxes (cgroups) of the pool, by state.\n# TYPE oys_sandboxes gauge\n");
		if (g->pool_total >= 0) {
			oys_buf_printf(b, "oys_sandboxes{state=\"running\"} %d\n", g->pool_busy);
			oys_buf_printf(b, "oys_sandboxes{state=\"free\"} %d\n", g->pool_total - g->pool_busy);
		}
		oys_buf_printf(b, "# HELP oys_draining Whether this host refuses new work.\n# TYPE oys_draining gauge\n"
		                  "oys_draining %d\n", g->draining ? 1 : 0);
	}
	return b->data ? 0 : -1;
}
