/* json.h: JSON through libjq's jv, plus what jv lacks: raw member spans and log events.
 *
 * jv convention (libjq's): functions that take a jv consume it; use jv_copy() to keep one. */
#ifndef OYS_JSON_H
#define OYS_JSON_H

#include <jv.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/* Parses exactly one JSON value. On failure returns OYS_EDATA with "bad JSON: <reason>". */
int oys_json_parse(const char *buf, size_t len, jv *out, struct oys_err *e);

/* Serialises v (consumed) compactly, or indented with pretty. malloc'd, NUL-terminated. */
char *oys_json_dump(jv v, int pretty);
/* Appends the serialisation of v (consumed) to b. */
int oys_json_append(struct oys_buf *b, jv v);
/* Prints v (consumed) and a newline on stdout. Returns 0 or OYS_EIO. */
int oys_json_print(jv v, int pretty);

/* The raw bytes of top-level member `key` of the JSON object in buf, exactly as sent (no
 * re-serialisation, so 64-bit integers and number spellings survive). buf must be valid JSON
 * (parse it first). Returns 0 and the span, 1 when the member is absent, -1 when buf is not an
 * object. With duplicate keys the last one wins, as in jv. */
int oys_json_member_span(const char *buf, size_t len, const char *key, size_t *off, size_t *vlen);

/* Object field helpers: the string value of obj[key] (obj not consumed), or NULL when absent
 * or not a string. The pointer lives as long as obj. */
const char *oys_json_get_str(jv obj, const char *key);

/* jv shorthands that build objects without repeating jv_string() everywhere. */
jv oys_json_set_str(jv obj, const char *key, const char *val); /* val NULL: null */
jv oys_json_set_num(jv obj, const char *key, double val);

/* One log event: a JSON line {"time","prog",...fields} on stderr, or "prog: k=v ..." for
 * humans (see log.h). fields (an object) is consumed. */
void oys_log_event(jv fields);

#endif
