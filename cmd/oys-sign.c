/* oys-sign: the enclave's signing key, and offline verification of signed answers. */
#include "../lib/attest.h"
#include "../lib/codec.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/sign.h"
#include "../lib/signcheck.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYGEN_USAGE "usage: oys-sign keygen [-o FILE]\n"
#define PUBKEY_USAGE "usage: oys-sign pubkey [-k FILE] [--address | --raw] [-o FILE]\n"
#define DIGEST_USAGE \
	"usage: oys-sign digest [--format v2|oys] -m METHOD -P PATH [-b FILE] -R FILE\n" \
	"                       [--status N] [--code-id ID] [--request-id ID] [--timestamp T]\n"
#define VERIFY_USAGE \
	"usage: oys-sign verify -a DOC [-r PEM] [--pcr N=HEX]... [--at TIME] -m METHOD -P PATH\n" \
	"                       [-b FILE] (-c FILE | -R FILE -s HEX [--oys-signature HEX --status N\n" \
	"                       --timestamp T [--code-id ID] [--request-id ID]]) [--require-oys] [--json]\n"

static const char usage[] =
	"usage: oys-sign keygen [-o FILE]\n"
	"       oys-sign pubkey [-k FILE] [--address | --raw] [-o FILE]\n"
	"       oys-sign digest [--format v2|oys] -m METHOD -P PATH [-b FILE] -R FILE [...]\n"
	"       oys-sign verify -a DOC [-r PEM] [--pcr N=HEX]... -m METHOD -P PATH [-b FILE]\n"
	"                       (-c FILE | -R FILE -s HEX) [--json]\n"
	"\n"
	"The enclave's secp256k1 signing key (keygen, pubkey), and the offline check of an answer\n"
	"signed with it: the attestation document verifies, its public_key is the key, and the\n"
	"answer's X-Signature (and X-Oyster-Signature) were made by that key over what you sent\n"
	"and got (verify). See oys-sign COMMAND --help, and oys(7), Signed answers.\n";

static const char keygen_usage[] = KEYGEN_USAGE
	"\n"
	"Creates a secp256k1 key from getrandom(2) and writes it to a new file: 64 hex digits and\n"
	"a newline, mode 0600. An existing file is never overwritten (exit 73).\n"
	"\n"
	"  -o, --output FILE  the key file (default $OYS_SIGNING_KEY, else\n"
	"                     $OYS_RUNTIME_DIR/signing.key; the runtime directory is created)\n"
	"  -h, --help         this text\n"
	"\n"
	"Environment: OYS_SIGNING_KEY, OYS_RUNTIME_DIR.\n";

static const char pubkey_usage[] = PUBKEY_USAGE
	"\n"
	"Prints the key's public half: 128 hex digits, the 64-byte uncompressed point without the\n"
	"04 prefix (the form an Oyster attestation document carries in public_key).\n"
	"\n"
	"  -k, --key FILE     the key file (default $OYS_SIGNING_KEY, else\n"
	"                     $OYS_RUNTIME_DIR/signing.key); 64 hex digits, or 32 raw bytes\n"
	"      --address      print the Ethereum address instead (0x, EIP-55 checksum)\n"
	"      --raw          write the 64 bytes themselves (the file an Oyster attestation\n"
	"                     server takes with --pub-key)\n"
	"  -o, --output FILE  write to FILE (atomically) instead of standard output\n"
	"  -h, --help         this text\n"
	"\n"
	"Environment: OYS_SIGNING_KEY, OYS_RUNTIME_DIR.\n";

#define FIELDS_HELP \
	"  -m, --method M            the request's method, as sent (GET)\n" \
	"  -P, --path P              the request's path and query, as sent (/fn/ID/x?a=1)\n" \
	"  -b, --request-body FILE   the request's body (default: empty)\n"
#define ANSWER_FIELDS_HELP \
	"      --status N            the answer's status code\n" \
	"      --timestamp T         its X-Oyster-Timestamp (unix seconds)\n" \
	"      --code-id ID          its X-Oyster-Code-Id (default: empty)\n" \
	"      --request-id ID       its X-Oyster-Request-Id (default: empty)\n"

static const char digest_usage[] = DIGEST_USAGE
	"\n"
	"Prints the 32-byte Keccak-256 digest an answer's signature is over, as 64 hex digits:\n"
	"X-Signature's (v2, upstream Oyster's oyster-signature-v2) or X-Oyster-Signature's (oys).\n"
	"\n"
	"  -f, --format F            v2 (default) or oys\n"
	FIELDS_HELP
	"  -R, --response FILE       the answer's body\n"
	"with --format oys:\n"
	ANSWER_FIELDS_HELP
	"  -h, --help                this text\n";

static const char verify_usage[] = VERIFY_USAGE
	"\n"
	"Checks, offline, that an answer was signed by the attested enclave: the attestation\n"
	"document verifies (signature, certificate chain to the root, PCRs), its public_key is a\n"
	"secp256k1 key, and X-Signature (and X-Oyster-Signature when the answer has one) recovers\n"
	"to exactly that key over the method, path, bodies (and status, code_id, request id,\n"
	"timestamp). Exit 0 only then; otherwise one line naming the failed check, exit 77.\n"
	"\n"
	"  -a, --attestation DOC     the attestation document (raw, hex or base64; - is stdin)\n"
	"  -r, --root PEM            trusted root (default: the AWS Nitro root G1)\n"
	"      --pcr N=HEX           PCR N must equal HEX; repeatable\n"
	"      --at TIME             verify the document as of TIME (unix seconds or RFC 3339),\n"
	"                            e.g. the answer's X-Oyster-Timestamp, for an old answer\n"
	FIELDS_HELP
	"  -c, --curl FILE           the answer as saved by curl -i (or curl -si): status line,\n"
	"                            headers (X-Signature, X-Oyster-*), body\n"
	"  -R, --response FILE       or: the answer's body, with\n"
	"  -s, --signature HEX       its X-Signature (130 hex digits)\n"
	"      --oys-signature HEX   and optionally its X-Oyster-Signature, with\n"
	ANSWER_FIELDS_HELP
	"      --require-oys         refuse an answer without X-Oyster-Signature\n"
	"  -j, --json                print what was verified as JSON\n"
	"  -h, --help                this text\n"
	"\n"
	"Environment: OYS_SHARE_DIR.\n";

enum {
	O_ADDRESS = 0x100, O_RAW, O_STATUS, O_TIMESTAMP, O_CODE_ID, O_REQUEST_ID, O_PCR, O_AT,
	O_OSIG, O_REQUIRE_OYS
};

static const struct option keygen_opts[] = {{"output", required_argument, NULL, 'o'}, {0}};
static const struct option pubkey_opts[] = {
	{"key", required_argument, NULL, 'k'},
	{"address", no_argument, NULL, O_ADDRESS},
	{"raw", no_argument, NULL, O_RAW},
	{"output", required_argument, NULL, 'o'},
	{0},
};
#define FIELD_OPTS \
	{"method", required_argument, NULL, 'm'}, {"path", required_argument, NULL, 'P'}, \
	{"request-body", required_argument, NULL, 'b'}, {"response", required_argument, NULL, 'R'}, \
	{"status", required_argument, NULL, O_STATUS}, \
	{"timestamp", required_argument, NULL, O_TIMESTAMP}, \
	{"code-id", required_argument, NULL, O_CODE_ID}, \
	{"request-id", required_argument, NULL, O_REQUEST_ID}
static const struct option digest_opts[] = {
	{"format", required_argument, NULL, 'f'}, FIELD_OPTS, {0}};
static const struct option verify_opts[] = {
	{"attestation", required_argument, NULL, 'a'},
	{"root", required_argument, NULL, 'r'},
	{"pcr", required_argument, NULL, O_PCR},
	{"at", required_argument, NULL, O_AT},
	FIELD_OPTS,
	{"curl", required_argument, NULL, 'c'},
	{"signature", required_argument, NULL, 's'},
	{"oys-signature", required_argument, NULL, O_OSIG},
	{"require-oys", no_argument, NULL, O_REQUIRE_OYS},
	{"json", no_argument, NULL, 'j'},
	{0},
};

static const struct oys_complete keygen_comp[] = {{"output", ":file"}, {"", ":none"}, {0}};
static const struct oys_complete pubkey_comp[] = {
	{"key", ":file"}, {"output", ":file"}, {"", ":none"}, {0}};
#define FIELD_COMP \
	{"method", "GET POST PUT PATCH DELETE HEAD OPTIONS"}, {"request-body", ":file"}, \
	{"response", ":file"}
static const struct oys_complete digest_comp[] = {
	{"format", "v2 oys"}, FIELD_COMP, {"", ":none"}, {0}};
static const struct oys_complete verify_comp[] = {
	{"attestation", ":file"}, {"root", ":file"}, {"at", "now"}, {"curl", ":file"}, FIELD_COMP,
	{"", ":none"}, {0}};

static const struct oys_cmd cmds[] = {
	{"keygen", keygen_usage, "o:", keygen_opts, keygen_comp, NULL},
	{"pubkey", pubkey_usage, "k:o:", pubkey_opts, pubkey_comp, NULL},
	{"digest", digest_usage, "f:m:P:b:R:", digest_opts, digest_comp, NULL},
	{"verify", verify_usage, "a:r:m:P:b:R:c:s:j", verify_opts, verify_comp, NULL},
};
static const struct oys_tool tool = {usage, cmds, 4, NULL};

static void no_operands(const struct oys_opt *o)
{
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
}

static int cmd_keygen(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct oys_sign_key k;
	const char *output = NULL;
	char path[PATH_MAX], dir[PATH_MAX];
	int c;
	while ((c = oys_getopt(o, NULL)) != -1)
		if (c == 'o')
			output = optarg;
	no_operands(o);
	if (oys_conf_signing_key(output, path, sizeof path) == NULL)
		oys_usage_error("the key path is too long");
	/* the default place: create the runtime directory for it */
	const char *env = getenv("OYS_SIGNING_KEY");
	if (output == NULL && (env == NULL || *env == '\0') &&
	    oys_runtime_subdir(NULL, dir, sizeof dir, &e))
		oys_die_err(&e);
	int rc = oys_sign_keygen(&k, &e);
	if (rc == 0)
		rc = oys_sign_key_write(path, &k, &e);
	oys_sign_key_wipe(&k);
	if (rc)
		oys_die_err(&e);
	return 0;
}

static int cmd_pubkey(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct oys_sign_key k;
	const char *keyfile = NULL, *output = NULL;
	char path[PATH_MAX];
	int c, address = 0, raw = 0;
	while ((c = oys_getopt(o, NULL)) != -1) {
		switch (c) {
		case 'k': keyfile = optarg; break;
		case 'o': output = optarg; break;
		case O_ADDRESS: address = 1; break;
		case O_RAW: raw = 1; break;
		}
	}
	no_operands(o);
	if (address && raw)
		oys_usage_error("--address and --raw exclude each other");
	if (oys_conf_signing_key(keyfile, path, sizeof path) == NULL)
		oys_usage_error("the key path is too long");
	if (oys_sign_key_load(path, &k, &e))
		oys_die_err(&e);
	unsigned char pub[sizeof k.pub];
	memcpy(pub, k.pub, sizeof pub);
	oys_sign_key_wipe(&k);

	char text[2 * sizeof pub + 2];
	const void *out = text;
	size_t n;
	if (raw) {
		out = pub;
		n = sizeof pub;
	} else if (address) {
		oys_sign_address(pub, text);
		n = strlen(text);
		text[n++] = '\n';
	} else {
		oys_hex_to(text, pub, sizeof pub);
		n = 2 * sizeof pub;
		text[n++] = '\n';
	}
	if (oys_write_atomic(output ? output : "-", out, n, 0644, &e))
		oys_die_err(&e);
	return 0;
}

/* The fields and bodies both digest and verify take. */
struct fields {
	struct oys_sig_fields f;
	const char *req_file, *resp_file;
	int has_status, has_timestamp;
};

static int field_opt(int c, struct fields *x)
{
	switch (c) {
	case 'm': x->f.method = optarg; break;
	case 'P': x->f.path = optarg; break;
	case 'b': x->req_file = optarg; break;
	case 'R': x->resp_file = optarg; break;
	case O_STATUS:
		x->f.status = (int)oys_opt_long("--status", optarg, 100, 999);
		x->has_status = 1;
		break;
	case O_TIMESTAMP:
		x->f.timestamp = oys_opt_long("--timestamp", optarg, 0, LONG_MAX);
		x->has_timestamp = 1;
		break;
	case O_CODE_ID: x->f.code_id = optarg; break;
	case O_REQUEST_ID: x->f.request_id = optarg; break;
	default: return 0;
	}
	return 1;
}

static void need_request(const struct fields *x)
{
	if (x->f.method == NULL || x->f.path == NULL)
		oys_usage_error("give the request's --method and --path");
}

static void read_or_die(const char *path, struct oys_buf *b)
{
	struct oys_err e = {0};
	if (path && oys_read_file(path, SIZE_MAX / 2, b, &e))
		oys_die_err(&e);
}

static int cmd_digest(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct fields x = {0};
	enum oys_sig_format fmt;
	int c, oys = 0;
	oys_sig_format_parse("v2", &fmt);
	while ((c = oys_getopt(o, NULL)) != -1) {
		if (field_opt(c, &x))
			continue;
		if (c == 'f') {
			if (oys_sig_format_parse(optarg, &fmt) < 0)
				oys_usage_error("--format: '%s' is not v2 or oys", optarg);
			oys = strcmp(optarg, "oys") == 0;
		}
	}
	no_operands(o);
	need_request(&x);
	if (x.resp_file == NULL)
		oys_usage_error("give the answer's body with --response");
	if (oys && (!x.has_status || !x.has_timestamp))
		oys_usage_error("--format oys needs --status and --timestamp");
	if (x.req_file && strcmp(x.req_file, "-") == 0 && strcmp(x.resp_file, "-") == 0)
		oys_usage_error("only one of the bodies can be standard input");

	struct oys_buf req = OYS_BUF_INIT, resp = OYS_BUF_INIT;
	read_or_die(x.req_file, &req);
	read_or_die(x.resp_file, &resp);
	unsigned char d[32];
	char hex[65];
	if (oys_sig_digest(fmt, &x.f, req.data, req.len, resp.data,
	                   resp.len, d, &e))
		oys_die_err(&e);
	oys_hex_to(hex, d, sizeof d);
	printf("%s\n", hex);
	oys_buf_free(&req);
	oys_buf_free(&resp);
	return fflush(stdout) == 0 ? 0 : OYS_EIO;
}

static int cmd_verify(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct fields x = {0};
	struct oys_attest_policy p = {0};
	const char *doc_file = NULL, *curl_file = NULL, *sig = NULL, *oys_sig = NULL;
	int c, json = 0, require_oys = 0;
	while ((c = oys_getopt(o, NULL)) != -1) {
		if (field_opt(c, &x))
			continue;
		switch (c) {
		case 'a': doc_file = optarg; break;
		case 'r': p.root_pem = optarg; break;
		case O_PCR:
			if (p.npcrs == OYS_ATTEST_MAX_PCRS)
				oys_usage_error("at most %d --pcr", OYS_ATTEST_MAX_PCRS);
			if (oys_attest_parse_pcr(optarg, &p.pcrs[p.npcrs++]) < 0)
				oys_usage_error("--pcr: '%.40s' is not N=HEX (N from 0 to 31, at most 64 bytes)", optarg);
			break;
		case O_AT:
			if (strcmp(optarg, "now") != 0 && oys_attest_parse_time(optarg, &p.at) < 0)
				oys_usage_error("--at: '%s' is not unix seconds or an RFC 3339 time", optarg);
			break;
		case 'c': curl_file = optarg; break;
		case 's': sig = optarg; break;
		case O_OSIG: oys_sig = optarg; break;
		case O_REQUIRE_OYS: require_oys = 1; break;
		case 'j': json = 1; break;
		}
	}
	no_operands(o);
	if (doc_file == NULL)
		oys_usage_error("give the attestation document with --attestation");
	need_request(&x);
	if (curl_file && (x.resp_file || sig || oys_sig || x.has_status || x.has_timestamp ||
	                  x.f.code_id || x.f.request_id))
		oys_usage_error("--curl gives the answer: no --response, --signature or answer fields with it");
	if (!curl_file && (!x.resp_file || !sig))
		oys_usage_error("give the answer with --curl FILE, or with --response FILE and --signature HEX");
	if (oys_sig && (!x.has_status || !x.has_timestamp))
		oys_usage_error("--oys-signature needs --status and --timestamp");
	const char *files[] = {doc_file, x.req_file, curl_file ? curl_file : x.resp_file};
	for (int i = 0, stdin_users = 0; i < 3; i++)
		if (files[i] && strcmp(files[i], "-") == 0 && ++stdin_users > 1)
			oys_usage_error("only one input can be standard input");

	struct oys_answer a = {0};
	struct oys_buf in = OYS_BUF_INIT, doc = OYS_BUF_INIT, req = OYS_BUF_INIT, resp = OYS_BUF_INIT;
	if (oys_read_file(doc_file, OYS_ATTEST_INPUT_MAX, &in, &e) || oys_attest_decode(in.data, in.len, &doc, &e))
		oys_die_err(&e);
	read_or_die(x.req_file, &req);
	read_or_die(curl_file ? curl_file : x.resp_file, &resp);
	if (curl_file) {
		if (oys_answer_from_curl(resp.data ? resp.data : "", resp.len, &a, &e)) {
			oys_err_wrap(&e, "%s", curl_file);
			oys_die_err(&e);
		}
	} else {
		a.f = x.f;
		a.has_status = x.has_status;
		a.has_timestamp = x.has_timestamp;
		a.resp = resp.data;
		a.resp_len = resp.len;
		if (oys_sig_parse_hex(sig, a.v2_sig) < 0)
			oys_die(OYS_EDATA, "--signature: not 65 bytes of hex");
		a.has_v2 = 1;
		if (oys_sig && oys_sig_parse_hex(oys_sig, a.oys_sig) < 0)
			oys_die(OYS_EDATA, "--oys-signature: not 65 bytes of hex");
		a.has_oys = oys_sig != NULL;
	}
	a.f.method = x.f.method;
	a.f.path = x.f.path;
	a.req = req.data;
	a.req_len = req.len;

	jv report;
	if (oys_answer_verify((unsigned char *)doc.data, doc.len, &p, &a, require_oys, &report, &e))
		oys_die_err(&e);
	int rc;
	if (json) {
		rc = oys_json_print(report, 1);
	} else {
		jv signer = jv_object_get(report, jv_string("signer"));
		printf("verified: signed by %s, the attested key (%s)\n", oys_json_get_str(signer, "address"),
		       a.has_oys ? "X-Signature, X-Oyster-Signature" : "X-Signature");
		jv_free(signer);
		rc = fflush(stdout) == 0 ? 0 : OYS_EIO;
	}
	oys_buf_free(&in);
	oys_buf_free(&doc);
	oys_buf_free(&req);
	oys_buf_free(&resp);
	return rc;
}

int main(int argc, char **argv)
{
	struct oys_opt o;
	oys_opt_init(&o, argc, argv, &tool);
	const char *name = o.cmd->name;
	int rc;
	if (strcmp(name, "keygen") == 0)
		rc = cmd_keygen(&o);
	else if (strcmp(name, "pubkey") == 0)
		rc = cmd_pubkey(&o);
	else if (strcmp(name, "digest") == 0)
		rc = cmd_digest(&o);
	else
		rc = cmd_verify(&o);
	oys_opt_free(&o);
	return rc;
}
