#include "httpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
	static int inited;
	memset(resp, 0, sizeof *resp);
	if (!oys_httpc_valid_url(req->url))
		return oys_err_set(e, OYS_EUSAGE, "'%s' is not an http:// or https:// URL", req->url);
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return oys_err_set(e, OYS_ESOFTWARE, "cannot initialise libcurl");
		inited = 1;
	}
	CURL *c = curl_easy_init();
	if (c == NULL)
		return oys_err_set(e, OYS_ESOFTWARE, "cannot initialise libcurl");
	struct curl_slist *hl = NULL;
	for (const char *const *h = req->headers; h && *h; h++)
		hl = curl_slist_append(hl, *h);
	/* No "Expect: 100-continue" round trip for uploads. */
	hl = curl_slist_append(hl, "Expect:");
	struct sink s = {&resp->body, req->max_response ? req->max_response : (64u << 20), 0};
	char errbuf[CURL_ERROR_SIZE] = "";

	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "oys");
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (req->method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);

	CURLcode rc = curl_easy_perform(c);
	int ret = 0;
	if (rc == CURLE_OK) {
		const char *ct = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(resp->content_type, sizeof resp->content_type, "%s", ct);
		if (resp->body.data == NULL && oys_buf_reserve(&resp->body, 0) == 0)
			resp->body.data[0] = '\0';
	} else if (s.too_big) {
		ret = oys_err_set(e, OYS_EDATA, "%s: response larger than %zu bytes", req->url, s.max);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		ret = oys_err_set(e, OYS_ETEMPFAIL, "%s: timed out", req->url);
	} else {
		ret = oys_err_set(e, OYS_EUNAVAIL, "%s: %s", req->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (ret)
		oys_buf_free(&resp->body);
	return ret;
}

void oys_httpc_resp_free(struct oys_httpc_resp *resp)
{
	oys_buf_free(&resp->body);
}
