/* Unit tests of lib/rlp and the transaction hash of lib/chain: RLP encodings against `cast
 * to-rlp` (foundry 1.7.1, deps/) and the Yellow Paper's examples; transaction hashes
 * recomputed from what anvil's eth_getTransactionByHash returned for transactions cast sent
 * (tests/fixtures/chain: legacy EIP-155 with v 35 and 36, EIP-2930, EIP-1559 with and
 * without an access list, y parity 0 and 1, values, calldata beyond 255 bytes), and refused
 * when a field is changed, missing, or the type is one oys does not verify. */
#include "tap.h"
#include "../../lib/chain.h"
#include "../../lib/codec.h"
#include "../../lib/file.h"
#include "../../lib/json.h"
#include "../../lib/rlp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int same_hex(const struct oys_buf *b, const char *want)
{
	struct oys_buf h = OYS_BUF_INIT;
	oys_hex_encode(&h, b->data, b->len);
	int ok = strcmp(h.data ? h.data : "", want) == 0;
	if (!ok)
		printf("#   got %s\n#  want %s\n", h.data ? h.data : "", want);
	oys_buf_free(&h);
	return ok;
}

static void rlp_vectors(void)
{
	struct oys_buf b = OYS_BUF_INIT, l = OYS_BUF_INIT, inner = OYS_BUF_INIT;

	oys_rlp_bytes(&b, "", 0);
	ok(same_hex(&b, "80"), "the empty string is 0x80");
	b.len = 0;
	oys_rlp_bytes(&b, "\0", 1);
	ok(same_hex(&b, "00"), "a single byte below 0x80 is itself (0x00)");
	b.len = 0;
	oys_rlp_bytes(&b, "\x7f", 1);
	ok(same_hex(&b, "7f"), "0x7f is itself");
	b.len = 0;
	oys_rlp_bytes(&b, "\x80", 1);
	ok(same_hex(&b, "8180"), "0x80 gets a header");
	b.len = 0;
	oys_rlp_bytes(&b, "dog", 3);
	ok(same_hex(&b, "83646f67"), "\"dog\"");
	b.len = 0;
	const char *lorem = "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
	oys_rlp_bytes(&b, lorem, strlen(lorem));
	ok(b.len == 58 && (unsigned char)b.data[0] == 0xb8 && b.data[1] == 56 && memcmp(b.data + 2, lorem, 56) == 0,
	   "a 56-byte string: 0xb8 0x38 then the bytes");
	b.len = 0;
	char a300[300];
	memset(a300, 'a', sizeof a300);
	oys_rlp_bytes(&b, a300, sizeof a300);
	ok(b.len == 303 && memcmp(b.data, "\xb9\x01\x2c", 3) == 0, "a 300-byte string: 0xb9 0x012c");

	b.len = 0;
	oys_rlp_uint(&b, 0);
	ok(same_hex(&b, "80"), "integer 0 is the empty string");
	b.len = 0;
	oys_rlp_uint(&b, 15);
	ok(same_hex(&b, "0f"), "integer 15");
	b.len = 0;
	oys_rlp_uint(&b, 1024);
	ok(same_hex(&b, "820400"), "integer 1024");
	b.len = 0;
	oys_rlp_uint_be(&b, "\0\0\0\x01\x00", 5);
	ok(same_hex(&b, "820100"), "leading zero bytes of an integer are dropped");

	b.len = 0;
	oys_rlp_bytes(&inner, "cat", 3);
	oys_rlp_bytes(&inner, "dog", 3);
	oys_rlp_list(&b, inner.data, inner.len);
	ok(same_hex(&b, "c88363617483646f67"), "[\"cat\", \"dog\"]");
	b.len = 0;
	oys_rlp_list(&b, NULL, 0);
	ok(same_hex(&b, "c0"), "the empty list is 0xc0");

	/* [ [], [[]], [ [], [[]] ] ] */
	struct oys_buf e0 = OYS_BUF_INIT, e1 = OYS_BUF_INIT, e2 = OYS_BUF_INIT, t = OYS_BUF_INIT;
	oys_rlp_list(&e0, NULL, 0);                 /* [] */
	oys_rlp_list(&e1, e0.data, e0.len);         /* [[]] */
	oys_buf_append(&t, e0.data, e0.len);
	oys_buf_append(&t, e1.data, e1.len);
	oys_rlp_list(&e2, t.data, t.len);           /* [ [], [[]] ] */
	t.len = 0;
	oys_buf_append(&t, e0.data, e0.len);
	oys_buf_append(&t, e1.data, e1.len);
	oys_buf_append(&t, e2.data, e2.len);
	b.len = 0;
	oys_rlp_list(&b, t.data, t.len);
	ok(same_hex(&b, "c7c0c1c0c3c0c1c0"), "the set-theoretic three");

	inner.len = 0;
	for (int i = 0; i < 60; i++)
		oys_rlp_bytes(&inner, "\x01", 1);
	l.len = 0;
	oys_rlp_list(&l, inner.data, inner.len);
	ok(l.len == 62 && memcmp(l.data, "\xf8\x3c\x01", 3) == 0, "a list of 60 bytes of payload: 0xf8 0x3c");

	inner.len = 0;
	oys_rlp_uint(&inner, 1024);
	oys_rlp_bytes(&inner, "", 0);
	oys_rlp_uint(&inner, 0xffffffffffffffffULL);
	b.len = 0;
	oys_rlp_list(&b, inner.data, inner.len);
	ok(same_hex(&b, "cd8204008088ffffffffffffffff"), "[1024, \"\", 2^64-1]");

	oys_buf_free(&b);
	oys_buf_free(&l);
	oys_buf_free(&inner);
	oys_buf_free(&e0);
	oys_buf_free(&e1);
	oys_buf_free(&e2);
	oys_buf_free(&t);
}

/* The source tree: up from the binary until tests/fixtures/chain is found. */
static int find_root(char *out, size_t sz)
{
	char p[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
	if (n <= 0)
		return -1;
	p[n] = '\0';
	for (int up = 0; up < 6; up++) {
		char *slash = strrchr(p, '/');
		if (slash == NULL || slash == p)
			return -1;
		*slash = '\0';
		snprintf(probe, sizeof probe, "%s/tests/fixtures/chain/legacy.json", p);
		if (access(probe, R_OK) == 0) {
			snprintf(out, sz, "%s", p);
			return 0;
		}
	}
	return -1;
}

static jv load_tx(const char *root, const char *name)
{
	char path[PATH_MAX + 64];
	struct oys_buf b = OYS_BUF_INIT;
	jv v = jv_invalid();
	snprintf(path, sizeof path, "%s/tests/fixtures/chain/%s.json", root, name);
	if (oys_read_file(path, 1 << 20, &b, NULL) == 0)
		oys_json_parse(b.data, b.len, &v, NULL);
	oys_buf_free(&b);
	return v;
}

/* Whether the fields of tx hash to its "hash". */
static int hashes_to_itself(jv tx, struct oys_err *e)
{
	unsigned char h[32];
	char hex[67] = "0x";
	if (oys_chain_tx_hash(tx, h, e) != 0)
		return 0;
	oys_hex_to(hex + 2, h, 32);
	const char *want = oys_json_get_str(tx, "hash");
	return want && strcmp(hex, want) == 0;
}

static void tx_hashes(const char *root)
{
	static const char *const names[] = {"legacy", "legacy-v35", "legacy-value", "eip2930", "eip1559",
	                                    "eip1559-access-list", "eip1559-value", "eip1559-y1"};
	struct oys_err e = {0};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		jv tx = load_tx(root, names[i]);
		ok(jv_get_kind(tx) == JV_KIND_OBJECT && hashes_to_itself(tx, &e), "%s: the fields hash to the transaction id %s",
		   names[i], e.msg);
		jv_free(tx);
	}

	/* A lie in any signed field changes the hash. */
	static const char *const lies[][2] = {
		{"input", "0x00"}, {"to", "0x0000000000000000000000000000000000000bad"}, {"value", "0x1"},
		{"nonce", "0x63"}, {"chainId", "0x1"}, {"r", "0x1"}, {"yParity", "0x1"}, {"maxFeePerGas", "0x1"},
	};
	for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		jv tx = jv_object_set(load_tx(root, "eip1559-access-list"), jv_string(lies[i][0]), jv_string(lies[i][1]));
		oys_err_clear(&e);
		ok(!hashes_to_itself(tx, &e) && e.code == 0, "eip1559: a changed %s changes the hash", lies[i][0]);
		jv_free(tx);
	}
	jv tx = load_tx(root, "eip2930");
	jv al = jv_parse("[{\"address\":\"0x00000000000000000000000000000000000c0de0\",\"storageKeys\":[]}]");
	tx = jv_object_set(tx, jv_string("accessList"), al);
	oys_err_clear(&e);
	ok(!hashes_to_itself(tx, &e) && e.code == 0, "eip2930: a changed access list changes the hash");
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "legacy"), jv_string("v"), jv_string("0x1b"));
	ok(!hashes_to_itself(tx, &e), "legacy: another v (27, no chain id) changes the hash");
	jv_free(tx);
	/* Nodes that send "data" for the calldata, or only "v" for a typed transaction's parity. */
	tx = load_tx(root, "eip1559-y1");
	jv in = jv_object_get(jv_copy(tx), jv_string("input"));
	tx = jv_object_set(jv_object_delete(tx, jv_string("input")), jv_string("data"), in);
	tx = jv_object_delete(tx, jv_string("yParity"));
	ok(hashes_to_itself(tx, &e), "eip1559: \"data\" and \"v\" instead of \"input\" and \"yParity\"");
	jv_free(tx);

	/* Refused: other types, missing or malformed fields. */
	tx = jv_object_set(load_tx(root, "eip1559"), jv_string("type"), jv_string("0x3"));
	oys_err_clear(&e);
	unsigned char h[32];
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EDATA &&
	   strcmp(e.msg, "is of type 0x3, which oys cannot verify (legacy, EIP-2930 type 0x1 and EIP-1559 type 0x2 only)") == 0,
	   "type 0x3 is refused: %s", e.msg);
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "eip1559"), jv_string("type"), jv_string("0x7e"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EDATA, "type 0x7e (a rollup deposit) is refused");
	jv_free(tx);
	tx = jv_object_delete(load_tx(root, "eip1559"), jv_string("chainId"));
	oys_err_clear(&e);
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL && strcmp(e.msg, "a transaction without a valid chainId") == 0,
	   "a missing chainId: %s", e.msg);
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "legacy"), jv_string("gasPrice"), jv_string("0xzz"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL, "a gasPrice that is not hex");
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "legacy"), jv_string("to"), jv_string("0x1234"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL, "a to that is not 20 bytes");
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "legacy"), jv_string("value"), jv_string("0x1" "0000000000000000000000000000000000000000000000000000000000000000"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL, "a value beyond 256 bits");
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "eip2930"), jv_string("accessList"), jv_parse("[{\"address\":\"0x01\",\"storageKeys\":[]}]"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL, "an access list address that is not 20 bytes");
	jv_free(tx);
	tx = jv_object_set(load_tx(root, "eip2930"), jv_string("accessList"), jv_string("x"));
	ok(oys_chain_tx_hash(tx, h, &e) == OYS_EUNAVAIL, "an access list that is not an array");
	jv_free(tx);
}

int main(void)
{
	char root[PATH_MAX];
	rlp_vectors();
	if (find_root(root, sizeof root) < 0) {
		ok(0, "cannot find tests/fixtures/chain above the test binary");
		return tap_done();
	}
	tx_hashes(root);
	return tap_done();
}
