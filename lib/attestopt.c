/* attestopt.c: command-line values of attestation policies: --pcr N=HEX and --at TIME. Linked
 * by the tools that take them (oys-attest, oys-store). */
#include "attest.h"
#include "codec.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int oys_attest_parse_pcr(const char *s, struct oys_attest_pcr *out)
{
	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	char *end;
	errno = 0;
	long idx = strtol(s, &end, 10);
	if (errno || *end != '=' || idx < 0 || idx >= OYS_ATTEST_MAX_PCRS || end - s > 2)
		return -1;
	const char *h = end + 1;
	size_t n = strlen(h);
	if (n == 0 || n % 2 || n / 2 > sizeof out->value)
		return -1;
	struct oys_buf b = OYS_BUF_INIT;
	if (oys_hex_decode(&b, h, n) < 0) {
		oys_buf_free(&b);
		return -1;
	}
	out->index = (int)idx;
	out->len = b.len;
	memcpy(out->value, b.data, b.len);
	oys_buf_free(&b);
	return 0;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int oys_attest_parse_time(const char *s, time_t *out)
{
	if (s == NULL || *s == '\0')
		return -1;
	const char *p = s;
	if (*p == '@')
		p++;
	if (strspn(p, "0123456789") == strlen(p)) {
		if (*p == '\0' || strlen(p) > 12)
			return -1;
		*out = (time_t)strtoll(p, NULL, 10);
		return 0;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int Y, M, D, h, m, sec;
	p = s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
	    (*p != 'T' && *p != 't' && *p != ' '))
		return -1;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	long off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
		return -1;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != D)
		return -1;
	*out = t - off;
	return 0;
}
