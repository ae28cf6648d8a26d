/* metrics.h: counters shared by every concurrent oys-serve process of a host: a small file
 * under the runtime directory (RUNTIME/metrics), memory-mapped, updated with atomic adds, and
 * rendered in the Prometheus text format by GET /metrics. Gauges that describe the present
 * (running and free sandboxes, draining) are read from the pool when rendering, not counted,
 * so a crashed process cannot leave them wrong. Every metric is described in oys(7). */
#ifndef OYS_METRICS_H
#define OYS_METRICS_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

enum oys_endpoint {
	OYS_EP_SERVERLESS, /* POST /api/serverless */
	OYS_EP_FN,         /* ANY /fn/<code_id>/... */
	OYS_EP_HEALTHZ,
	OYS_EP_STATUS,
	OYS_EP_METRICS,
	OYS_EP_ADMIN,      /* /unregister, /register */
	OYS_EP_OTHER,      /* no route, or a request that did not parse */
	OYS_EP_COUNT
};

enum oys_stage {
	OYS_STAGE_FETCH, OYS_STAGE_CONFIG, OYS_STAGE_CGROUP, OYS_STAGE_START, OYS_STAGE_EXECUTE,
	OYS_STAGE_TEARDOWN,
	OYS_STAGE_COUNT
};

#define OYS_METRICS_BUCKETS 15  /* latency histogram, seconds; the last is +Inf */
#define OYS_METRICS_MEM_BUCKETS 9 /* memory peak histogram, bytes; the last is +Inf */

struct oys_metrics;

/* Maps RUNTIME/metrics, creating it when missing (or when its layout is another version's). */
int oys_metrics_open(struct oys_metrics **m, struct oys_err *e);
void oys_metrics_close(struct oys_metrics *m);

/* One answered request: endpoint, HTTP status, error code (NULL: none), seconds from its first
 * byte to its answer. */
void oys_metrics_request(struct oys_metrics *m, enum oys_endpoint ep, int status, const char *error,
                         double seconds);

/* What a request that entered the flow (fetch onwards) cost. */
struct oys_metrics_run {
	double stage_ms[OYS_STAGE_COUNT]; /* 0 for the stages it did not reach */
	int started;                      /* workerd was started in a sandbox */
	uint64_t cpu_ns;                  /* CPU time of its cgroup */
	uint64_t memory_peak;             /* bytes */
	unsigned oom_kills;               /* OOM kills the kernel counted in its cgroup */
	int timed_out;                    /* stopped at the execution timeout */
	int warm;                         /* in a sandbox oys-warm had started (else cold) */
};
void oys_metrics_run(struct oys_metrics *m, const struct oys_metrics_run *r);

/* A request found every sandbox busy and waited this long for one (got: whether one came). */
void oys_metrics_sandbox_wait(struct oys_metrics *m, double seconds, int got);

/* Present state, read by the caller when rendering. */
struct oys_metrics_gauges {
	int pool_total, pool_busy;  /* pool_total -1: no pool */
	int draining;
	int warm_running;           /* oys-warm answered: its sandboxes by state */
	int warm_ready, warm_busy, warm_starting;
};

/* The Prometheus text exposition (format 0.0.4) of everything. */
int oys_metrics_render(struct oys_metrics *m, const struct oys_metrics_gauges *g, struct oys_buf *out);

#endif
