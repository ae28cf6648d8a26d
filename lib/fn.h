/* fn.h: the exchange with a function: one HTTP/1.1 request sent over a connected stream
 * socket to the workerd that serves it, and the response read back (http.h's parser) under
 * the start and execution deadlines and a size limit, while workerd's console is kept and its
 * exit noticed. */
#ifndef OYS_FN_H
#define OYS_FN_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "workerd.h"

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
	int start_timeout_ms;  /* from w->t_spawn_ms until workerd accepts our connection */
	int exec_timeout_ms;   /* from then until the response is complete */
	size_t max_response;   /* body bytes */
	int abort_fd;          /* >= 0: POLLHUP/POLLERR on it aborts (the client is gone) */
	volatile int *abort_flag; /* non-NULL: set by a signal handler, aborts */
};

struct oys_fn_response {
	enum oys_fn_outcome outcome;
	int status;                  /* 0 until a whole head came */
	struct oys_header *headers;  /* point into head */
	size_t nheaders;
	struct oys_buf head;
	struct oys_buf body;
	double t_accept_ms;    /* from spawn until workerd accepted (startup) */
	double t_exec_ms;      /* from accept until the response was complete */
};

/* Sends rq over fd, a stream socket connected (or connecting) to w, and reads the response
 * into rs; fd is closed on return. Whatever the function did is rs->outcome: the return value
 * is 0, or an error of our own (out of memory, poll failing) in e. w's output is drained into
 * its console meanwhile; w->pidfd, w->outfd and w->lfd may be -1 (not watched). */
int oys_fn_exchange(struct oys_workerd *w, int fd, const struct oys_fn_request *rq,
                    const struct oys_fn_limits *lim, struct oys_fn_response *rs, struct oys_err *e);
void oys_fn_response_free(struct oys_fn_response *rs);

#endif
