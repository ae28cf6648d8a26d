#include "httpc.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* libcurl is loaded when the first request is made, not when the program starts: loading it
 * and the 30 libraries it pulls in costs more than 10 ms per process, and oys-serve starts
 * once per connection while most requests (code from a local store) never need it. */
static struct {
	int loaded;
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} cu;

static int load_curl(struct oys_err *e)
{
	if (cu.loaded)
		return 0;
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return oys_err_set(e, OYS_ECONFIG, "cannot load libcurl: %s", dlerror());
#define SYM(field, name)                                                                    \
	do {                                                                                    \
		*(void **)(&cu.field) = dlsym(h, name);                                              \
		if (cu.field == NULL)                                                                \
			return oys_err_set(e, OYS_ECONFIG, "libcurl lacks %s", name);                   \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(easy_init, "curl_easy_init");
	SYM(easy_setopt, "curl_easy_setopt");
	SYM(easy_perform, "curl_easy_perform");
	SYM(easy_getinfo, "curl_easy_getinfo");
	SYM(easy_cleanup, "curl_easy_cleanup");
	SYM(easy_strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return oys_err_set(e, OYS_ESOFTWARE, "cannot initialise libcurl");
	cu.loaded = 1;
	return 0;
}

struct sink {
	struct oys_buf *b;
	size_t max;
	int too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;
	if (s->b->len + len > s->max) {
		s->too_big = 1;
		return 0; /* aborts the transfer */
	}
	return oys_buf_append(s->b, p, len) == 0 ? len : 0;
}

int oys_httpc_valid_url(const char *url)
{
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0)
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
			return 0;
	return 1;
}

int oys_httpc_do(const struct oys_httpc_req *req, struct oys_httpc_resp *resp, struct oys_err *e)
{
	memset(resp, 0, sizeof *resp);
	if (!oys_httpc_valid_url(req->url))
		return oys_err_set(e, OYS_EUSAGE, "'%s' is not an http:// or https:// URL", req->url);
	int rc0 = load_curl(e);
	if (rc0)
		return rc0;
	CURL *c = cu.easy_init();
	if (c == NULL)
		return oys_err_set(e, OYS_ESOFTWARE, "cannot initialise libcurl");
	struct curl_slist *hl = NULL;
	for (const char *const *h = req->headers; h && *h; h++)
		hl = cu.slist_append(hl, *h);
	/* No "Expect: 100-continue" round trip for uploads. */
	hl = cu.slist_append(hl, "Expect:");
	struct sink s = {&resp->body, req->max_response ? req->max_response : (64u << 20), 0};
	char errbuf[CURL_ERROR_SIZE] = "";

	cu.easy_setopt(c, CURLOPT_URL, req->url);
	cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &s);
	cu.easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	cu.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	cu.easy_setopt(c, CURLOPT_USERAGENT, "oys");
	if (req->body) {
		cu.easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (req->method)
		cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);

	CURLcode rc = cu.easy_perform(c);
	int ret = 0;
	if (rc == CURLE_OK) {
		const char *ct = NULL;
		cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (cu.easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
		if (resp->body.data == NULL && oys_buf_reserve(&resp->body, 0) == 0)
			resp->body.data[0] = '\0';
	} else if (s.too_big) {
		ret = oys_err_set(e, OYS_EDATA, "%s: response larger than %zu bytes", req->url, s.max);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		ret = oys_err_set(e, OYS_ETEMPFAIL, "%s: timed out", req->url);
	} else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY) {
		/* connected (the URL's scheme was checked above): the answer is not HTTP */
		resp->not_http = 1;
		ret = oys_err_set(e, OYS_EUNAVAIL, "%s: the answer is not HTTP (%s)", req->url,
		                  errbuf[0] ? errbuf : cu.easy_strerror(rc));
	} else {
		ret = oys_err_set(e, OYS_EUNAVAIL, "%s: %s", req->url, errbuf[0] ? errbuf : cu.easy_strerror(rc));
	}
	cu.slist_free_all(hl);
	cu.easy_cleanup(c);
	if (ret)
		oys_buf_free(&resp->body);
	return ret;
}

void oys_httpc_resp_free(struct oys_httpc_resp *resp)
{
	oys_buf_free(&resp->body);
}
