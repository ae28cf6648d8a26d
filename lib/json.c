#include "json.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

int oys_json_parse(const char *buf, size_t len, jv *out, struct oys_err *e)
{
	if (len > INT_MAX)
		return oys_err_set(e, OYS_EDATA, "bad JSON: too large");
	/* jq 1.6 reads an empty or all-blank buffer as an invalid value without a message. */
	jv v = jv_parse_sized(buf, (int)len);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		if (jv_get_kind(msg) == JV_KIND_STRING)
			oys_err_set(e, OYS_EDATA, "bad JSON: %s", jv_string_value(msg));
		else
			oys_err_set(e, OYS_EDATA, "bad JSON: no value");
		jv_free(msg);
		return OYS_EDATA;
	}
	*out = v;
	return 0;
}

char *oys_json_dump(jv v, int pretty)
{
	jv s = jv_dump_string(v, pretty ? JV_PRINT_PRETTY | JV_PRINT_SPACE1 : 0);
	char *r = strdup(jv_string_value(s));
	jv_free(s);
	return r;
}

int oys_json_append(struct oys_buf *b, jv v)
{
	jv s = jv_dump_string(v, 0);
	int r = oys_buf_append(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
	return r;
}

int oys_json_print(jv v, int pretty)
{
	char *s = oys_json_dump(v, pretty);
	if (s == NULL)
		return OYS_ESOFTWARE;
	int bad = fputs(s, stdout) == EOF || putchar('\n') == EOF || fflush(stdout) == EOF;
	free(s);
	return bad ? OYS_EIO : 0;
}

/* ---- raw spans: a skipper over text already known to be valid JSON ---- */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i;
}

static size_t skip_string(const char *p, size_t i, size_t n)
{
	/* p[i] == '"' */
	for (i++; i < n; i++) {
		if (p[i] == '\\')
			i++;
		else if (p[i] == '"')
			return i + 1;
	}
	return n;
}

static size_t skip_value(const char *p, size_t i, size_t n)
{
	if (i >= n)
		return n;
	if (p[i] == '"')
		return skip_string(p, i, n);
	if (p[i] == '{' || p[i] == '[') {
		size_t depth = 0;
		for (; i < n; i++) {
			if (p[i] == '"') {
				i = skip_string(p, i, n) - 1;
			} else if (p[i] == '{' || p[i] == '[') {
				depth++;
			} else if (p[i] == '}' || p[i] == ']') {
				if (--depth == 0)
					return i + 1;
			}
		}
		return n;
	}
	while (i < n && !strchr(",}] \t\r\n", p[i]))
		i++;
	return i;
}

int oys_json_member_span(const char *p, size_t n, const char *key, size_t *off, size_t *vlen)
{
	size_t i = skip_ws(p, 0, n);
	if (i >= n || p[i] != '{')
		return -1;
	int found = 1;
	i = skip_ws(p, i + 1, n);
	while (i < n && p[i] == '"') {
		size_t ks = i;
		i = skip_string(p, i, n);
		/* Compare the decoded key, so "\u0069nput" is "input" as jv sees it. */
		jv k = jv_parse_sized(p + ks, (int)(i - ks));
		int match = jv_get_kind(k) == JV_KIND_STRING && strcmp(jv_string_value(k), key) == 0;
		jv_free(k);
		i = skip_ws(p, i, n);
		if (i >= n || p[i] != ':')
			return -1;
		i = skip_ws(p, i + 1, n);
		size_t vs = i;
		i = skip_value(p, i, n);
		if (match) {
			*off = vs;
			*vlen = i - vs;
			found = 0;
		}
		i = skip_ws(p, i, n);
		if (i < n && p[i] == ',')
			i = skip_ws(p, i + 1, n);
	}
	return found;
}

const char *oys_json_get_str(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return NULL;
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	const char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = jv_string_value(v); /* still owned by obj: jv strings are refcounted */
	jv_free(v);
	return s;
}

jv oys_json_set_str(jv obj, const char *key, const char *val)
{
	return jv_object_set(obj, jv_string(key), val ? jv_string(val) : jv_null());
}

jv oys_json_set_num(jv obj, const char *key, double val)
{
	return jv_object_set(obj, jv_string(key), jv_number(val));
}

static void human_value(struct oys_buf *b, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		if (*s && strcspn(s, " \"=\t") == strlen(s)) {
			oys_buf_puts(b, s);
			jv_free(v);
			return;
		}
	}
	oys_json_append(b, v);
}

void oys_log_event(jv fields)
{
	char ts[32];
	oys_log_timestamp(ts);
	struct oys_buf b = OYS_BUF_INIT;
	if (oys_log_event_format() == OYS_LOG_JSON) {
		jv o = jv_object();
		o = oys_json_set_str(o, "time", ts);
		o = oys_json_set_str(o, "prog", oys_progname);
		o = jv_object_merge(o, fields);
		oys_json_append(&b, o);
	} else {
		oys_buf_printf(&b, "%s: %s", oys_progname, ts);
		jv_object_foreach(fields, k, v) {
			oys_buf_printf(&b, " %s=", jv_string_value(k));
			human_value(&b, v);
			jv_free(k);
		}
		jv_free(fields);
	}
	oys_buf_putc(&b, '\n');
	if (b.data)
		oys_log_write_line(b.data, b.len);
	oys_buf_free(&b);
}
