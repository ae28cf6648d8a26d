/* metrics.h: counters shared by every concurrent oys-serve process of a host: a small file
 * under the runtime directory (RUNTIME/metrics), memory-mapped, updated with atomic adds, and
 * rendered in the Prometheus text format by GET /metrics. Gauges that describe the present
 * (running and free sandboxes, draining) are read from the pool when rendering, not counted,
 * so a crashed process cannot leave them wrong. */
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
	OYS_STAGE_COUNT
};

#define OYS_METRICS_BUCKETS 15  /* latency histogram, seconds; the last is +Inf */

struct oys_metrics;

/* Maps RUNTIME/metrics, creating it when missing. */
int oys_metrics_open(struct oys_metrics **m, struct oys_err *e);
void oys_metrics_close(struct oys_metrics *m);

/* One finished request: endpoint, HTTP status, error code (NULL: none), total seconds. */
void oys_metrics_request(struct oys_metrics *m, enum oys_endpoint ep, int status, const char *error,
                         double seconds);
/* A run's details: per-stage milliseconds, CPU nanoseconds, memory peak. */
void oys_metrics_run(struct oys_metrics *m, const double stage_ms[OYS_STAGE_COUNT],
                     uint64_t cpu_ns, uint64_t memory_peak);

/* Present state, read by the caller when rendering. */
struct oys_metrics_gauges {
	int pool_total, pool_busy;  /* -1: no pool */
	int draining;
};

/* The Prometheus text exposition of everything. */
int oys_metrics_render(struct oys_metrics *m, const struct oys_metrics_gauges *g, struct oys_buf *out);

/* Short names of endpoints and stages, for logs and labels. */
const char *oys_endpoint_name(enum oys_endpoint ep);
const char *oys_stage_name(enum oys_stage s);

#endif
