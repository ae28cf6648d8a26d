/* serve.h: oys-serve's one request: read it strictly, route it, run the function (run.h),
 * answer, log one JSON line, count it. */
#ifndef OYS_SERVE_H
#define OYS_SERVE_H

#include "httpd.h"
#include "run.h"

#define OYS_DEFAULT_WRITE_TIMEOUT_S 10  /* OYS_WRITE_TIMEOUT */
#define OYS_DEFAULT_MAX_CONNECTIONS 256 /* OYS_MAX_CONNECTIONS, for --listen */

struct oys_serve_opts {
	struct oys_run_opts run;         /* defaults for every run (store, pool, limits...) */
	struct oys_http_limits http;     /* request limits and client deadlines */
	const char *admin_token;         /* NULL: admin endpoints only from loopback */
	int trust_no_peer;               /* a client with no peer information at all ("-") counts
	                                    as loopback (printf ... | oys-serve); else as remote */
	const char *peer;                /* the client, "1.2.3.4:5" or "-" (oys_conf_peer()) */
	int drain_grace_ms;              /* after POST /unregister, new requests are still run this
	                                    long (the balancer takes the host out meanwhile) */
	int write_timeout_ms;            /* a client that takes no part of the answer this long is
	                                    dropped (the sandbox is given back before that) */
	int max_connections;             /* --listen: connections served at once (0: no limit) */
	const char *signing_key;         /* the enclave's key file; missing: answers go unsigned; there
	                                    but unusable: every answer is 500 signing_key */
	int in, out;                     /* the connection (stdin, stdout under socat) */
	volatile int *abort_flag;        /* set on SIGTERM/SIGHUP */
};

/* Serves one request. Returns 0 when an answer was written (whatever its status), OYS_EIO when
 * the client was gone, OYS_ETEMPFAIL when it took no part of the answer for write_timeout_ms.
 * What a run held is given back before the answer waits on the client. */
int oys_serve_one(const struct oys_serve_opts *o);

/* The answer to one HAProxy agent check (one line): "up ready maxconn:T W%" with T the pool
 * size and W = 100 * T (the weight, relative to a configured weight of 1), "drain" while
 * draining, "down#no cgroup pool" without a pool. See oys-serve(1) and haproxy.cfg. */
int oys_serve_agent_reply(const char *prefix, struct oys_buf *out);

#endif
