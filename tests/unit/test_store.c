/* Unit tests of code ids, store names, the store's put/get and challenges, and the calldata
 * ABI decoder (lib/store.c, lib/chain.c). */
#include "tap.h"
#include "../../lib/chain.h"
#include "../../lib/codec.h"
#include "../../lib/file.h"
#include "../../lib/store.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define H64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

/* calldata from hex; decodes the bytes argument; returns its length or -(exit code). */
static long abi(const char *hex, const unsigned char **out)
{
	static struct oys_buf b;
	oys_buf_free(&b);
	if (oys_hex_decode(&b, hex, strlen(hex)) < 0)
		return -1000;
	size_t n;
	struct oys_err e = {0};
	int rc = oys_chain_abi_bytes((const unsigned char *)(b.data ? b.data : ""), b.len, out, &n, &e);
	return rc ? -rc : (long)n;
}

int main(void)
{
	ok(oys_code_id_kind(H64) == OYS_CODE_ID_HASH, "64 lowercase hex is a content hash");
	ok(oys_code_id_kind("0x" H64) == OYS_CODE_ID_TX, "0x + 64 hex is a transaction");
	ok(oys_code_id_kind("0x9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08") == OYS_CODE_ID_TX,
	   "a transaction hash may be uppercase");
	ok(oys_code_id_kind("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08") == OYS_CODE_ID_INVALID,
	   "a content hash may not (one spelling per file name)");
	ok(!oys_code_id_valid(H64 "0") && !oys_code_id_valid("0x" H64 "0") && !oys_code_id_valid("0X" H64),
	   "wrong lengths and 0X are refused");
	ok(!oys_code_id_valid("../" H64) && !oys_code_id_valid("") && !oys_code_id_valid(NULL) &&
	   !oys_code_id_valid(" " H64), "paths, empty, NULL, spaces are refused");
	char nul[66];
	memcpy(nul, H64, 65);
	nul[10] = '\0';
	ok(!oys_code_id_valid(nul), "a truncated id is refused");
	struct oys_err ce = {0};
	ok(oys_code_id_check(H64, &ce) == 0 && oys_code_id_check("0x" H64, &ce) == 0 && ce.code == 0,
	   "the check passes both kinds of id");
	ok(oys_code_id_check("../x", &ce) == OYS_EUSAGE &&
	   strcmp(ce.msg, "'../x' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits)") == 0,
	   "the check gives the one message");

	ok(oys_store_name_valid("factors") && oys_store_name_valid("my-fn_v2.1"), "plain names");
	ok(!oys_store_name_valid("..") && !oys_store_name_valid(".x") && !oys_store_name_valid("a/b") &&
	   !oys_store_name_valid("-x") && !oys_store_name_valid(""), "dot, slash, dash, empty names are refused");
	ok(!oys_store_name_valid(H64) && !oys_store_name_valid("0x" H64), "a name cannot be an id");
	ok(oys_store_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") &&
	   !oys_store_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	   "names have at most 63 characters");

	/* put / get / names / tx index in a temporary store */
	char dir[] = "/tmp/oys-test-store-XXXXXX";
	ok(mkdtemp(dir) != NULL, "temporary directory");
	struct oys_store s;
	struct oys_err e = {0};
	char id[65], got[65];
	ok(oys_store_open(&s, dir, 0, &e) == 0, "open an existing store");
	ok(oys_store_put(&s, "test", 4, id, &e) == 0 && strcmp(id, H64) == 0, "put: the id is SHA-256 (\"test\")");
	struct oys_buf b = OYS_BUF_INIT;
	ok(oys_store_get(&s, id, 0, &b, &e) == 0 && b.len == 4 && memcmp(b.data, "test", 4) == 0, "get");
	oys_buf_reset(&b);
	ok(oys_store_get(&s, id, 3, &b, &e) == OYS_EDATA, "get with a limit below the size: 65");
	oys_buf_reset(&b);
	ok(oys_store_get(&s, "0x" H64, 0, &b, &e) == OYS_EUSAGE, "get of a tx id from a store: usage");
	ok(oys_store_name_set(&s, "t", id, &e) == 0 && oys_store_resolve(&s, "t", got, &e) == 0 &&
	   strcmp(got, id) == 0, "a name resolves to its id");
	ok(oys_store_tx_set(&s, "0x00000000000000000000000000000000000C0DE0", "0x" H64, id, &e) == 0 &&
	   oys_store_tx_get(&s, "0x00000000000000000000000000000000000c0de0", "0X" H64, got, &e) != 0,
	   "tx index: 0X is not a tx id");
	ok(oys_store_tx_get(&s, "0x00000000000000000000000000000000000c0de0", "0x" H64, got, &e) == 0 &&
	   strcmp(got, id) == 0, "tx index keyed by contract and tx, any case");
	ok(oys_store_tx_get(&s, "0x00000000000000000000000000000000000c0de1", "0x" H64, got, &e) == OYS_ENOINPUT,
	   "tx index: another contract does not see it");
	ok(oys_store_rm(&s, id, &e) == 0 && oys_store_rm(&s, id, &e) == OYS_ENOINPUT, "rm, twice");

	/* challenges: issued once, used once, expiring */
	char hex[65], path[PATH_MAX + 80];
	unsigned char nonce[OYS_NONCE_LEN];
	struct oys_buf nb = OYS_BUF_INIT;
	ok(oys_store_nonce_issue(&s, 60, 60, 10, hex, &e) == 0 && oys_is_hex(hex, 64, 1), "a nonce: 64 lowercase hex");
	oys_hex_decode(&nb, hex, 64);
	memcpy(nonce, nb.data, OYS_NONCE_LEN);
	snprintf(path, sizeof path, "%s/.nonces/%s", dir, hex);
	ok(access(path, F_OK) == 0, "it waits in .nonces/");
	ok(oys_store_nonce_use(&s, nonce, 60, &e) == 0, "used once");
	oys_err_clear(&e);
	ok(oys_store_nonce_use(&s, nonce, 60, &e) == OYS_ENOPERM &&
	   strcmp(e.msg, "nonce was already used (a replayed document)") == 0, "not twice: %s", e.msg);
	nonce[0] ^= 1;
	ok(oys_store_nonce_use(&s, nonce, 60, &e) == OYS_ENOPERM &&
	   strcmp(e.msg, "nonce was not issued by this server (or expired long ago)") == 0, "never issued: %s", e.msg);
	ok(oys_store_nonce_issue(&s, 60, 60, 10, hex, &e) == 0, "another");
	oys_buf_reset(&nb);
	oys_hex_decode(&nb, hex, 64);
	memcpy(nonce, nb.data, OYS_NONCE_LEN);
	snprintf(path, sizeof path, "%s/.nonces/%s", dir, hex);
	struct timespec old[2] = {{time(NULL) - 61, 0}, {time(NULL) - 61, 0}};
	utimensat(AT_FDCWD, path, old, 0);
	oys_err_clear(&e);
	ok(oys_store_nonce_use(&s, nonce, 60, &e) == OYS_ENOPERM && strncmp(e.msg, "nonce expired (issued 6", 23) == 0,
	   "61 s old with a life of 60 s: expired: %s", e.msg);
	for (int i = 0; i < 3; i++)
		oys_store_nonce_issue(&s, 60, 60, 10, hex, &e);
	ok(oys_store_nonce_issue(&s, 60, 60, 3, hex, &e) == OYS_EUNAVAIL, "3 waiting, at most 3: no fourth");
	oys_buf_free(&nb);
	oys_buf_free(&b);
	oys_rm_rf(dir, NULL);

	/* ABI: selector b374012b = store(bytes) */
	const unsigned char *p;
	const char *w32 = "0000000000000000000000000000000000000000000000000000000000000020";
	const char *w0 = "0000000000000000000000000000000000000000000000000000000000000000";
	char cd[1024];
	snprintf(cd, sizeof cd, "b374012b%s%s%s", w32,
	         "0000000000000000000000000000000000000000000000000000000000000003",
	         "0061730000000000000000000000000000000000000000000000000000000000");
	ok(abi(cd, &p) == 3 && memcmp(p, "\0as", 3) == 0, "bytes decoded by their encoded length");
	snprintf(cd, sizeof cd, "b374012b%s%s", w32, w0);
	ok(abi(cd, &p) == 0, "empty bytes");
	snprintf(cd, sizeof cd, "b374012b%s%s", w32,
	         "0000000000000000000000000000000000000000000000000000000000000001");
	ok(abi(cd, &p) == -OYS_EDATA, "length beyond the calldata");
	snprintf(cd, sizeof cd, "b374012b%s%s", "0100000000000000000000000000000000000000000000000000000000000020", w0);
	ok(abi(cd, &p) == -OYS_EDATA, "an offset with high bits set");
	snprintf(cd, sizeof cd, "b374012b%s%s", w32, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
	ok(abi(cd, &p) == -OYS_EDATA, "a huge length does not wrap");
	snprintf(cd, sizeof cd, "b374012b%s%s", "000000000000000000000000000000000000000000000000ffffffffffffffe0", w0);
	ok(abi(cd, &p) == -OYS_EDATA, "an offset near 2^64 does not wrap");
	ok(abi("b374012b", &p) == -OYS_EDATA && abi("", &p) == -OYS_EDATA, "too short");
	ok(oys_chain_valid_address("0x00000000000000000000000000000000000C0DE0") &&
	   !oys_chain_valid_address("0x00000000000000000000000000000000000C0DE") &&
	   !oys_chain_valid_address("00000000000000000000000000000000000C0DE000"), "addresses");
	return tap_done();
}
