/* Unit tests of the small pieces of lib/: sizes, JSON spans, relative paths, code kinds,
 * capnp strings, atomic writes, request directories. */
#include "tap.h"
#include "../../lib/capnp.h"
#include "../../lib/codec.h"
#include "../../lib/file.h"
#include "../../lib/json.h"
#include "../../lib/opt.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int span_is(const char *json, const char *key, const char *want)
{
	size_t off, len;
	int r = oys_json_member_span(json, strlen(json), key, &off, &len);
	if (want == NULL)
		return r == 1;
	return r == 0 && len == strlen(want) && memcmp(json + off, want, len) == 0;
}

static int rel_is(const char *from, const char *to, const char *want)
{
	char out[4096];
	return oys_relpath(from, to, out, sizeof out) == 0 && strcmp(out, want) == 0;
}

int main(void)
{
	unsigned long long v;
	ok(oys_parse_size("128M", &v) == 0 && v == 128ull << 20, "128M");
	ok(oys_parse_size("1GiB", &v) == 0 && v == 1ull << 30, "1GiB");
	ok(oys_parse_size("65536", &v) == 0 && v == 65536, "plain bytes");
	ok(oys_parse_size("-1M", &v) < 0 && oys_parse_size("1X", &v) < 0 && oys_parse_size("", &v) < 0,
	   "negative, unknown suffix and empty are refused");
	ok(oys_parse_size("99999999999999T", &v) < 0, "overflow is refused");

	ok(span_is("{\"code_id\":\"x\",\"input\":{\"num\":12345678901234567890}}", "input",
	           "{\"num\":12345678901234567890}"),
	   "input span keeps a 64-bit integer byte for byte");
	ok(span_is(" { \"input\" : [1, \"]}\", {\"a\":[]}] , \"z\":1}", "input", "[1, \"]}\", {\"a\":[]}]"),
	   "brackets inside strings do not end the span");
	ok(span_is("{\"\\u0069nput\": 1.50}", "input", "1.50"), "escaped key matches, number spelling kept");
	ok(span_is("{\"input\": 1, \"input\": 2}", "input", "2"), "duplicate keys: the last wins, as in jv");
	ok(span_is("{\"other\": 1}", "input", NULL), "absent member");
	{
		size_t off, len;
		ok(oys_json_member_span("[1]", 3, "input", &off, &len) == -1, "not an object");
	}

	ok(oys_code_detect("\0asm\1\0\0\0", 8) == OYS_CODE_WASM, "Wasm magic");
	const char *esm = "export default { fetch() {} }";
	ok(oys_code_detect(esm, strlen(esm)) == OYS_CODE_ESM, "export default is a module");
	const char *sw = "// export default\naddEventListener('fetch', e => e.respondWith(new Response('export')))";
	ok(oys_code_detect(sw, strlen(sw)) == OYS_CODE_SW, "export in a comment or string does not count");
	const char *dyn = "addEventListener('fetch', async e => { await import('x') })";
	ok(oys_code_detect(dyn, strlen(dyn)) == OYS_CODE_SW, "dynamic import() is not a module marker");
	const char *imp = "import { x } from './y.js';\naddEventListener('fetch', () => {})";
	ok(oys_code_detect(imp, strlen(imp)) == OYS_CODE_ESM, "a static import makes a module");

	struct oys_buf b = OYS_BUF_INIT;
	oys_capnp_string(&b, "a\"b\\c\nd");
	ok(strcmp(b.data, "\"a\\\"b\\\\c\\x0ad\"") == 0, "capnp strings escape quote, backslash, control");
	oys_buf_free(&b);

	char tmp[] = "/tmp/oys-unit-XXXXXX";
	ok(mkdtemp(tmp) != NULL, "temporary directory");
	char p1[4200], p2[4200], f[4200];
	snprintf(p1, sizeof p1, "%s/a/b", tmp);
	snprintf(p2, sizeof p2, "%s/c", tmp);
	oys_mkdir_p(p1, 0755, NULL);
	oys_mkdir_p(p2, 0755, NULL);
	snprintf(f, sizeof f, "%s/c/x.js", tmp);
	ok(oys_write_atomic(f, "hi", 2, 0644, NULL) == 0, "atomic write");
	struct stat st;
	ok(stat(f, &st) == 0 && st.st_size == 2 && (st.st_mode & 0777) == 0644, "written whole with its mode");
	ok(rel_is(p1, f, "../../c/x.js"), "relpath up and down");
	ok(rel_is(p2, f, "x.js"), "relpath in the same directory");
	ok(rel_is("/", f, f + 1), "relpath from the root");
	char f2[4200];
	snprintf(f2, sizeof f2, "%s/cc.js", tmp);
	oys_write_atomic(f2, "x", 1, 0600, NULL);
	ok(rel_is(p2, f2, "../cc.js"), "a sibling that shares a name prefix is not a child");

	setenv("OYS_RUNTIME_DIR", tmp, 1);
	struct oys_reqdir r1, r2;
	ok(oys_reqdir_create(&r1, NULL) == 0 && oys_reqdir_create(&r2, NULL) == 0, "two request directories");
	ok(strcmp(r1.id, r2.id) != 0, "with different ids");
	ok(oys_reqdir_sweep() == 0, "held directories are not swept");
	/* Simulate a holder that died: drop the lock without cleaning up. */
	close(r2.lockfd);
	r2.lockfd = -1;
	ok(oys_reqdir_sweep() == 1, "a directory whose holder is gone is swept");
	ok(access(r2.path, F_OK) < 0 && access(r1.path, F_OK) == 0, "... only that one");
	oys_reqdir_close(&r1);
	ok(access(r1.path, F_OK) < 0, "closing removes the directory");
	r1.keep = 0;
	ok(oys_rm_rf(tmp, NULL) == 0 && access(tmp, F_OK) < 0, "rm -rf");

	struct oys_buf h = OYS_BUF_INIT, d = OYS_BUF_INIT;
	oys_hex_encode(&h, "\x00\xff" "A", 3);
	ok(strcmp(h.data, "00ff41") == 0, "hex encode");
	ok(oys_hex_decode(&d, "00FF41", 6) == 0 && d.len == 3 && memcmp(d.data, "\x00\xff" "A", 3) == 0, "hex decode");
	oys_buf_reset(&d);
	ok(oys_hex_decode(&d, "0g", 2) < 0 && oys_hex_decode(&d, "abc", 3) < 0, "bad hex refused");
	static const char *const vec[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
	                                     {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	int b64ok = 1;
	for (size_t i = 0; i < 7; i++) {
		oys_buf_reset(&h);
		oys_buf_reset(&d);
		oys_base64_encode(&h, vec[i][0], strlen(vec[i][0]));
		oys_base64_decode(&d, vec[i][1], strlen(vec[i][1]));
		b64ok &= strcmp(h.data ? h.data : "", vec[i][1]) == 0 && d.len == strlen(vec[i][0]) &&
		         memcmp(d.data, vec[i][0], d.len) == 0;
	}
	ok(b64ok, "base64 RFC 4648 test vectors both ways");
	oys_buf_reset(&d);
	ok(oys_base64_decode(&d, "Zm9v\nYmE", 8) == 0 && d.len == 5, "whitespace and missing padding accepted");
	oys_buf_reset(&d);
	ok(oys_base64_decode(&d, "Zm9v!", 5) < 0 && oys_base64_decode(&d, "Zh==", 4) < 0 &&
	   oys_base64_decode(&d, "Z", 1) < 0, "bad alphabet, non-zero padding bits, lone char refused");
	char sha[65];
	oys_sha256_hex("abc", 3, sha);
	ok(strcmp(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256");
	oys_buf_free(&h);
	oys_buf_free(&d);
	return tap_done();
}
