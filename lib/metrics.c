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
	"response_too_large", "bad_response", "no_sandbox", "sandbox_gone", "no_space", "storage_unavailable",
	"storage_timeout", "storage_bad_answer", "attestation_unavailable", "chain_unavailable",
	"attestation_refused", "bad_code", "bad_bundle", "limit_exceeded", "client_gone", "write_timeout",
	"signing_key", "config", "internal",
	"other",
};
#define N_ERRORS (sizeof error_names / sizeof *error_names)

/* Fetch failures by reason: the error codes of the fetch stage. */
static const struct { const char *reason, *code; } fetch_reasons[] = {
	{"not_found", "not_found"},           /* no code with that id (404) */
	{"unavailable", "storage_unavailable"},
	{"timeout", "storage_timeout"},
	{"bad_answer", "storage_bad_answer"}, /* a storage server that does not speak the protocol */
	{"bad_code", "bad_code"},             /* bytes that do not hash to the id, bad calldata */
	{"attestation_refused", "attestation_refused"},
	{"attestation_unavailable", "attestation_unavailable"},
	{"chain_unavailable", "chain_unavailable"},
};
#define N_FETCH (sizeof fetch_reasons / sizeof *fetch_reasons)

static const double buckets[OYS_METRICS_BUCKETS - 1] = {
	0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

#define MIB (1ULL << 20)
static const uint64_t mem_buckets[OYS_METRICS_MEM_BUCKETS - 1] = {
	16 * MIB, 32 * MIB, 64 * MIB, 128 * MIB, 256 * MIB, 512 * MIB, 1024 * MIB, 2048 * MIB,
};

#define MAGIC 0x364d5254454d594fULL /* "OYMETRM6" */

/* The shared layout. Change MAGIC whenever it changes: a file of another layout is reset. */
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
	uint64_t runs_warm;
	uint64_t cpu_ns;
	uint64_t memory[OYS_METRICS_MEM_BUCKETS];
	uint64_t memory_sum;
	uint64_t oom_kills;
	uint64_t timeouts;
	uint64_t sandbox_waits;
	uint64_t sandbox_waits_failed;
	uint64_t sandbox_wait_us;
};

struct oys_metrics {
	struct shm *s;
};

/* Short names of endpoints and stages, for labels. */
static const char *oys_endpoint_name(enum oys_endpoint ep)
{
	static const char *const n[] = {"serverless", "fn", "healthz", "status", "metrics", "admin", "other"};
	return ep < OYS_EP_COUNT ? n[ep] : "other";
}

static const char *oys_stage_name(enum oys_stage s)
{
	static const char *const n[] = {"fetch", "config", "cgroup", "start", "execute", "teardown"};
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
	/* Every page of the file allocated now (a no-op once it is): a store into a hole of the
	 * mapping on a full filesystem (a tmpfs runtime directory) would be SIGBUS, not an error. */
	int fa = posix_fallocate(fd, 0, sizeof(struct shm));
	if (fa != 0) {
		flock(fd, LOCK_UN);
		close(fd);
		errno = fa;
		return oys_err_sys(e, OYS_EIO, "cannot allocate %s", path);
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

static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t us(double ms)
{
	return ms > 0 ? (uint64_t)(ms * 1e3 + 0.5) : 0;
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
	add(&s->latency_sum_us[ep], us(seconds * 1e3));
	add(&s->latency_count[ep], 1);
}

void oys_metrics_run(struct oys_metrics *m, const struct oys_metrics_run *r)
{
	if (m == NULL)
		return;
	struct shm *s = m->s;
	for (int i = 0; i < OYS_STAGE_COUNT; i++)
		add(&s->stage_us[i], us(r->stage_ms[i]));
	add(&s->oom_kills, r->oom_kills);
	add(&s->timeouts, r->timed_out ? 1 : 0);
	if (!r->started)
		return;
	add(&s->runs, 1);
	add(&s->runs_warm, r->warm ? 1 : 0);
	add(&s->cpu_ns, r->cpu_ns);
	size_t b = 0;
	while (b < OYS_METRICS_MEM_BUCKETS - 1 && r->memory_peak > mem_buckets[b])
		b++;
	add(&s->memory[b], 1);
	add(&s->memory_sum, r->memory_peak);
}

void oys_metrics_sandbox_wait(struct oys_metrics *m, double seconds, int got)
{
	if (m == NULL)
		return;
	add(&m->s->sandbox_waits, 1);
	add(&m->s->sandbox_waits_failed, got ? 0 : 1);
	add(&m->s->sandbox_wait_us, us(seconds * 1e3));
}

static void head(struct oys_buf *b, const char *name, const char *type, const char *help)
{
	oys_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct oys_buf *b, const char *name, const char *help, uint64_t v)
{
	head(b, name, "counter", help);
	oys_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void seconds_counter(struct oys_buf *b, const char *name, const char *help, uint64_t v_us)
{
	head(b, name, "counter", help);
	oys_buf_printf(b, "%s %.6f\n", name, (double)v_us / 1e6);
}

int oys_metrics_render(struct oys_metrics *m, const struct oys_metrics_gauges *g, struct oys_buf *b)
{
	struct shm *s = m->s;
	head(b, "oys_build_info", "gauge", "The version of oys serving; always 1.");
	oys_buf_printf(b, "oys_build_info{version=\"%s\"} 1\n", OYS_VERSION);

	/* The statuses oys itself answers calls with are there from the start, at 0 (so rate()
	 * sees their first increase); the others appear when they happen. */
	static const int known[] = {200, 400, 404, 429, 500, 502, 503, 504};
	head(b, "oys_requests_total", "counter", "Requests answered, by endpoint and HTTP status.");
	for (int ep = 0; ep < OYS_EP_COUNT; ep++)
		for (int st = 0; st < 600; st++) {
			uint64_t v = get(&s->requests[ep][st]);
			int show = v > 0;
			for (size_t k = 0; !show && (ep == OYS_EP_SERVERLESS || ep == OYS_EP_FN) && k < sizeof known / sizeof *known; k++)
				show = known[k] == st;
			if (show)
				oys_buf_printf(b, "oys_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
				               oys_endpoint_name(ep), st, (unsigned long long)v);
		}

	head(b, "oys_errors_total", "counter", "Requests oys answered with an error of its own, by error code.");
	for (size_t i = 0; i < N_ERRORS; i++)
		oys_buf_printf(b, "oys_errors_total{code=\"%s\"} %llu\n", error_names[i],
		               (unsigned long long)get(&s->errors[i]));

	head(b, "oys_request_duration_seconds", "histogram",
	     "Time from the first byte of a request to its answer, by endpoint.");
	for (int ep = 0; ep < OYS_EP_COUNT; ep++) {
		if (get(&s->latency_count[ep]) == 0 && ep != OYS_EP_SERVERLESS && ep != OYS_EP_FN)
			continue;
		const char *n = oys_endpoint_name(ep);
		uint64_t cum = 0;
		for (int i = 0; i < OYS_METRICS_BUCKETS; i++) {
			cum += get(&s->latency[ep][i]);
			if (i < OYS_METRICS_BUCKETS - 1)
				oys_buf_printf(b, "oys_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", n,
				               buckets[i], (unsigned long long)cum);
			else
				oys_buf_printf(b, "oys_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", n,
				               (unsigned long long)cum);
		}
		oys_buf_printf(b, "oys_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", n,
		               (double)get(&s->latency_sum_us[ep]) / 1e6);
		oys_buf_printf(b, "oys_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", n,
		               (unsigned long long)get(&s->latency_count[ep]));
	}

	head(b, "oys_stage_seconds_total", "counter",
	     "Time spent in each stage of the flow, summed over the requests that reached it.");
	for (int i = 0; i < OYS_STAGE_COUNT; i++)
		oys_buf_printf(b, "oys_stage_seconds_total{stage=\"%s\"} %.6f\n", oys_stage_name(i),
		               (double)get(&s->stage_us[i]) / 1e6);
	counter(b, "oys_runs_total", "Functions started in a sandbox.", get(&s->runs));
	head(b, "oys_runs_start_total", "counter",
	     "Functions started in a sandbox, by how: cold (workerd started for the request) or warm (in a "
	     "sandbox oys-warm started before it).");
	oys_buf_printf(b, "oys_runs_start_total{start=\"cold\"} %llu\n",
	               (unsigned long long)(get(&s->runs) - get(&s->runs_warm)));
	oys_buf_printf(b, "oys_runs_start_total{start=\"warm\"} %llu\n", (unsigned long long)get(&s->runs_warm));
	head(b, "oys_function_cpu_seconds_total", "counter", "CPU time of functions, as their cgroups counted it.");
	oys_buf_printf(b, "oys_function_cpu_seconds_total %.6f\n", (double)get(&s->cpu_ns) / 1e9);

	head(b, "oys_function_memory_peak_bytes", "histogram", "Memory peak of each function run, in its cgroup.");
	uint64_t cum = 0;
	for (int i = 0; i < OYS_METRICS_MEM_BUCKETS; i++) {
		cum += get(&s->memory[i]);
		if (i < OYS_METRICS_MEM_BUCKETS - 1)
			oys_buf_printf(b, "oys_function_memory_peak_bytes_bucket{le=\"%llu\"} %llu\n",
			               (unsigned long long)mem_buckets[i], (unsigned long long)cum);
		else
			oys_buf_printf(b, "oys_function_memory_peak_bytes_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	oys_buf_printf(b, "oys_function_memory_peak_bytes_sum %llu\noys_function_memory_peak_bytes_count %llu\n",
	               (unsigned long long)get(&s->memory_sum), (unsigned long long)cum);

	counter(b, "oys_oom_kills_total", "Kernel OOM kills in the sandboxes (the cgroups' own counters).",
	        get(&s->oom_kills));
	counter(b, "oys_timeouts_total", "Functions stopped at a timeout (execution, or start).", get(&s->timeouts));
	counter(b, "oys_attestation_refusals_total", "Code fetches the storage server refused this enclave's "
	        "attestation for.", get(&s->errors[error_index("attestation_refused")]));
	head(b, "oys_fetch_failures_total", "counter", "Code fetches that failed, by reason.");
	for (size_t i = 0; i < N_FETCH; i++)
		oys_buf_printf(b, "oys_fetch_failures_total{reason=\"%s\"} %llu\n", fetch_reasons[i].reason,
		               (unsigned long long)get(&s->errors[error_index(fetch_reasons[i].code)]));

	counter(b, "oys_sandbox_waits_total", "Requests that found every sandbox busy and waited for one.",
	        get(&s->sandbox_waits));
	counter(b, "oys_sandbox_waits_failed_total", "Waits for a sandbox that ended with none free (then 429).",
	        get(&s->sandbox_waits_failed));
	seconds_counter(b, "oys_sandbox_wait_seconds_total", "Time requests spent waiting for a sandbox.",
	                get(&s->sandbox_wait_us));

	if (g) {
		head(b, "oys_sandboxes", "gauge", "Sandboxes (cgroups) of the pool, by state; none without a pool.");
		if (g->pool_total >= 0) {
			oys_buf_printf(b, "oys_sandboxes{state=\"running\"} %d\n", g->pool_busy);
			oys_buf_printf(b, "oys_sandboxes{state=\"free\"} %d\n", g->pool_total - g->pool_busy);
		}
		if (g->warm_running) {
			head(b, "oys_warm_sandboxes", "gauge", "Sandboxes of oys-warm, by state; none without oys-warm.");
			oys_buf_printf(b, "oys_warm_sandboxes{state=\"ready\"} %d\n", g->warm_ready);
			oys_buf_printf(b, "oys_warm_sandboxes{state=\"busy\"} %d\n", g->warm_busy);
			oys_buf_printf(b, "oys_warm_sandboxes{state=\"starting\"} %d\n", g->warm_starting);
		}
		head(b, "oys_draining", "gauge", "1 while this host is draining (takes no new requests).");
		oys_buf_printf(b, "oys_draining %d\n", g->draining ? 1 : 0);
	}
	return b->data ? 0 : -1;
}
