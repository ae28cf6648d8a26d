/* workerd.h: one workerd process for one request: spawned inside a cgroup with an inherited
 * listening socket, given the request, its response read back under deadlines and limits,
 * its console output kept, and killed. */
#ifndef OYS_WORKERD_H
#define OYS_WORKERD_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"
#include "httpd.h"

struct oys_cgroup;

struct oys_workerd {
	pid_t pid;             /* -1 when not running */
	int pidfd;             /* readable when it exits */
	int outfd;             /* its stdout and stderr, merged (read end of a pipe) */
	int lfd;               /* the listening socket it was given (our copy) */
	int port;              /* where that socket listens */
	int status;            /* wait status once reaped, else -1 */
	double t_spawn_ms;     /* oys_now_ms() at fork */
	/* Raw console output, bounded: the first OYS_CONSOLE_KEEP bytes, then a window of the
	 * last OYS_CONSOLE_KEEP bytes; what falls between is counted, not kept. */
	struct oys_buf console;
	struct oys_buf console_tail;
	size_t console_dropped;
};

#define OYS_CONSOLE_KEEP (32 * 1024)

/* Starts `workerd serve CONFIG --verbose --socket-fd http=3` with a fresh listening socket on
 * 127.0.0.1 as fd 3, in its own process group, inside cg (when not NULL; entered between fork
 * and exec), with PR_SET_PDEATHSIG so it dies with us whatever happens to us. */
int oys_workerd_spawn(const char *workerd, const char *config, const struct oys_cgroup *cg,
                      struct oys_workerd *w, struct oys_err *e);

/* The request handed to the function. */
struct oys_fn_request {
	const char *method;
	const char *target;                /* "/path?query" */
	const struct oys_header *headers;  /* forwarded as they are (hop-by-hop ones dropped) */
	size_t nheaders;
	const void *body;
	size_t body_len;
};

/* What came back, or why nothing usable did. */
enum oys_fn_outcome {
	OYS_FN_OK,             /* a complete response */
	OYS_FN_START_FAILED,   /* workerd exited before accepting (bad code: see console) */
	OYS_FN_START_TIMEOUT,  /* it did not start serving in time */
	OYS_FN_TIMEOUT,        /* it did not answer in time */
	OYS_FN_DIED,           /* it exited or dropped the connection without a whole response */
	OYS_FN_TOO_LARGE,      /* the response exceeded the limit */
	OYS_FN_BAD_RESPONSE,   /* a response we cannot parse */
	OYS_FN_ABORTED,        /* the caller's abort fd fired (client gone) or a signal */
};

struct oys_fn_limits {
	int start_timeout_ms;  /* until workerd accepts our connection */
	int exec_timeout_ms;   /* from then until the response is complete */
	size_t max_response;   /* body bytes */
	int abort_fd;          /* >= 0: POLLHUP/POLLERR on it aborts (the client is gone) */
	volatile int *abort_flag; /* non-NULL: set by a signal handler, aborts */
};

struct oys_fn_response {
	enum oys_fn_outcome outcome;
	int status;
	struct oys_header *headers;  /* point into head */
	size_t nheaders;
	struct oys_buf head;
	struct oys_buf body;
	double t_accept_ms;    /* from spawn until workerd accepted (startup) */
	double t_exec_ms;      /* from accept until the response was complete */
};

/* Sends the request over a new connection to w and reads the response. */
int oys_workerd_exchange(struct oys_workerd *w, const struct oys_fn_request *rq,
                         const struct oys_fn_limits *lim, struct oys_fn_response *rs,
                         struct oys_err *e);
void oys_fn_response_free(struct oys_fn_response *rs);
const char *oys_fn_response_header(const struct oys_fn_response *rs, const char *name);

/* Kills the process group and reaps it (bounded); drains what is left of its output. */
void oys_workerd_stop(struct oys_workerd *w);
/* Stops it if needed and frees the console buffers. */
void oys_workerd_free(struct oys_workerd *w);

/* The function's console, cleaned of workerd's internal noise: console.log/error lines as
 * they are, uncaught exceptions as "Uncaught Error: msg" followed by their JS stack, workerd's
 * own errors shortened to "workerd: <message>". */
void oys_workerd_console(const struct oys_workerd *w, struct oys_buf *out);
void oys_workerd_console_filter(const char *raw, size_t len, struct oys_buf *out);
/* The line that explains a failed start ("Uncaught SyntaxError: ... at worker.js:2:32"), or
 * the last non-empty line of the output. */
void oys_workerd_start_error(const struct oys_workerd *w, char *out, size_t outsz);

#endif
