/* httpc.h: an HTTP client on libcurl, for the attestation server, storage servers and
 * JSON-RPC. Bounded in time and in response size. */
#ifndef OYS_HTTPC_H
#define OYS_HTTPC_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct oys_httpc_req {
	const char *method;              /* NULL: GET, or POST when body is set */
	const char *url;                 /* http:// or https:// only */
	const char *const *headers;      /* "Name: value" strings, NULL-terminated, may be NULL */
	const void *body;
	size_t body_len;
	long timeout_ms;                 /* whole transfer; 0: 30 s */
	size_t max_response;             /* 0: 64 MiB */
};

struct oys_httpc_resp {
	long status;
	struct oys_buf body;
	char content_type[128];
	int not_http;           /* on OYS_EUNAVAIL: the server was reached, but what it answered is
	                           not HTTP (garbage, HTTP/0.9) */
};

/* Performs the request. Transport failures are errors (OYS_EUNAVAIL when the server cannot be
 * reached or answers no HTTP (then resp->not_http), OYS_ETEMPFAIL on timeout, OYS_EDATA when
 * the response is too large); any HTTP status is a success and is left to the caller. */
int oys_httpc_do(const struct oys_httpc_req *req, struct oys_httpc_resp *resp, struct oys_err *e);
void oys_httpc_resp_free(struct oys_httpc_resp *resp);

/* Whether url is http:// or https:// with no control characters or spaces. */
int oys_httpc_valid_url(const char *url);

#endif
