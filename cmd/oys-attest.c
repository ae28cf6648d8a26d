/* oys-attest: get, verify and (for development) issue AWS Nitro attestation documents. */
#include "../lib/attest.h"
#include "../lib/codec.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/listen.h"
#include "../lib/log.h"
#include "../lib/opt.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FETCH_USAGE \
	"usage: oys-attest fetch [--url URL] [--format raw|hex|base64] [-o FILE]\n" \
	"                        [--public-key HEX] [--user-data HEX] [--nonce HEX]\n"
#define VERIFY_USAGE \
	"usage: oys-attest verify [--root PEM] [--pcr N=HEX]... [--max-age S] [--at TIME]\n" \
	"                         [--nonce HEX] [--public-key HEX] [FILE|-]\n"
#define SERVE_USAGE \
	"usage: oys-attest serve --dev [--state DIR] [--image-digest HEX | --image FILE]\n" \
	"                        [--public-key FILE] [--listen ADDR]\n"
#define ISSUE_USAGE \
	"usage: oys-attest issue --dev [--state DIR] [--image-digest HEX | --image FILE]\n" \
	"                        [--public-key HEX] [--user-data HEX] [--nonce HEX]\n" \
	"                        [--format raw|hex|base64] [-o FILE]\n"

static const char usage[] =
	"usage: oys-attest [fetch] [--url URL] [--format raw|hex|base64] [-o FILE]\n"
	"       oys-attest verify [--root PEM] [--pcr N=HEX]... [--max-age S] [--at TIME]\n"
	"                         [--nonce HEX] [--public-key HEX] [FILE|-]\n"
	"       oys-attest serve --dev [--state DIR] [--image-digest HEX | --image FILE]\n"
	"                        [--public-key FILE] [--listen ADDR]\n"
	"       oys-attest issue --dev [--state DIR] [--image-digest HEX | --image FILE] [-o FILE]\n"
	"\n"
	"Gets an AWS Nitro attestation document from the attestation server (fetch, the default),\n"
	"checks one (verify: signature, certificate chain to the AWS root, validity, policy), or\n"
	"issues development documents signed by a local CA (serve --dev, issue --dev).\n"
	"See oys-attest COMMAND --help.\n";

static const char fetch_usage[] = FETCH_USAGE
	"\n"
	"Gets a document: GET URL/attestation/raw (a URL naming /attestation/raw or\n"
	"/attestation/hex is used as it is), and writes it in the format asked for.\n"
	"\n"
	"  -u, --url URL          the attestation server (default $OYS_ATTESTATION_URL,\n"
	"                         else http://127.0.0.1:1300)\n"
	"  -f, --format F         raw (default), hex or base64\n"
	"  -o, --output FILE      write to FILE (atomically) instead of standard output\n"
	"      --public-key HEX   ask for this public_key in the document\n"
	"      --user-data HEX    ask for this user_data\n"
	"      --nonce HEX        ask for this nonce\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: OYS_ATTESTATION_URL.\n";

static const char verify_usage[] = VERIFY_USAGE
	"\n"
	"Verifies a document (raw CBOR, hex or base64, detected) and prints its payload as JSON.\n"
	"Any failure exits 77 with one line naming it.\n"
	"\n"
	"  -r, --root PEM         trusted root(s) (default: the AWS Nitro root G1 in\n"
	"                         share/certs/aws-nitro-root-g1.pem)\n"
	"  -p, --pcr N=HEX        PCR N must equal HEX; repeatable\n"
	"  -m, --max-age S        the document's timestamp is at most S seconds old\n"
	"  -a, --at TIME          verify as of TIME (unix seconds or RFC 3339) instead of now\n"
	"  -n, --nonce HEX        the document's nonce must equal HEX\n"
	"  -k, --public-key HEX   the document's public_key must equal HEX\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: OYS_SHARE_DIR.\n";

static const char serve_usage[] = SERVE_USAGE
	"\n"
	"A development attestation server: answers one HTTP request on standard input and output\n"
	"(under socat or inetd), or listens itself with --listen. GET /attestation/raw and\n"
	"/attestation/hex, with optional public_key, user_data and nonce query parameters (hex).\n"
	"Documents are signed by a development CA kept in the state directory; verify them with\n"
	"oys-attest verify --root STATE/root.pem.\n"
	"\n"
	"      --dev              required: the development issuer (not for production)\n"
	"  -s, --state DIR        the CA's directory (default $OYS_RUNTIME_DIR/attest-dev)\n"
	"  -d, --image-digest HEX PCR0, 48 bytes (default: SHA-384 of an empty image)\n"
	"  -i, --image FILE       PCR0 = SHA-384 of FILE\n"
	"  -k, --public-key FILE  the public_key of every document that asks for no other: the\n"
	"                         file's bytes (the enclave's key: oys-sign pubkey --raw), as\n"
	"                         Oyster's attestation server takes --pub-key\n"
	"  -l, --listen ADDR      accept connections on HOST:PORT (or PORT on 127.0.0.1)\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: OYS_RUNTIME_DIR.\n";

static const char issue_usage[] = ISSUE_USAGE
	"\n"
	"Issues one development document, as serve --dev would, and writes it.\n"
	"\n"
	"      --dev              required: the development issuer (not for production)\n"
	"  -s, --state DIR        the CA's directory (default $OYS_RUNTIME_DIR/attest-dev)\n"
	"  -d, --image-digest HEX PCR0, 48 bytes (default: SHA-384 of an empty image)\n"
	"  -i, --image FILE       PCR0 = SHA-384 of FILE\n"
	"      --public-key HEX   the document's public_key\n"
	"      --user-data HEX    the document's user_data\n"
	"      --nonce HEX        the document's nonce\n"
	"  -f, --format F         raw (default), hex or base64\n"
	"  -o, --output FILE      write to FILE (atomically) instead of standard output\n"
	"  -h, --help             this text\n"
	"\n"
	"Environment: OYS_RUNTIME_DIR.\n";

enum { O_DEV = 0x100, O_PUBKEY, O_USERDATA, O_NONCE };
/* serve's --public-key is a file ('k'), issue's is hex (O_PUBKEY) */

static const struct option fetch_opts[] = {
	{"url", required_argument, NULL, 'u'},
	{"format", required_argument, NULL, 'f'},
	{"output", required_argument, NULL, 'o'},
	{"public-key", required_argument, NULL, O_PUBKEY},
	{"user-data", required_argument, NULL, O_USERDATA},
	{"nonce", required_argument, NULL, O_NONCE},
	{0},
};
static const struct option verify_opts[] = {
	{"root", required_argument, NULL, 'r'},
	{"pcr", required_argument, NULL, 'p'},
	{"max-age", required_argument, NULL, 'm'},
	{"at", required_argument, NULL, 'a'},
	{"nonce", required_argument, NULL, 'n'},
	{"public-key", required_argument, NULL, 'k'},
	{0},
};
static const struct option serve_opts[] = {
	{"dev", no_argument, NULL, O_DEV},
	{"state", required_argument, NULL, 's'},
	{"image-digest", required_argument, NULL, 'd'},
	{"image", required_argument, NULL, 'i'},
	{"public-key", required_argument, NULL, 'k'},
	{"listen", required_argument, NULL, 'l'},
	{0},
};
static const struct option issue_opts[] = {
	{"dev", no_argument, NULL, O_DEV},
	{"state", required_argument, NULL, 's'},
	{"image-digest", required_argument, NULL, 'd'},
	{"image", required_argument, NULL, 'i'},
	{"public-key", required_argument, NULL, O_PUBKEY},
	{"user-data", required_argument, NULL, O_USERDATA},
	{"nonce", required_argument, NULL, O_NONCE},
	{"format", required_argument, NULL, 'f'},
	{"output", required_argument, NULL, 'o'},
	{0},
};

static const struct oys_complete fetch_comp[] = {
	{"format", "raw hex base64"}, {"output", ":file"}, {"", ":none"}, {0}};
static const struct oys_complete verify_comp[] = {
	{"root", ":file"}, {"at", "now"}, {"", ":file"}, {0}};
static const struct oys_complete serve_comp[] = {
	{"state", ":dir"}, {"image", ":file"}, {"public-key", ":file"}, {"", ":none"}, {0}};
static const struct oys_complete issue_comp[] = {
	{"state", ":dir"}, {"image", ":file"}, {"format", "raw hex base64"}, {"output", ":file"},
	{"", ":none"}, {0}};

static const struct oys_cmd cmds[] = {
	{"fetch", fetch_usage, "u:f:o:", fetch_opts, fetch_comp, NULL},
	{"verify", verify_usage, "r:p:m:a:n:k:", verify_opts, verify_comp, NULL},
	{"serve", serve_usage, "s:d:i:k:l:", serve_opts, serve_comp, NULL},
	{"issue", issue_usage, "s:d:i:f:o:", issue_opts, issue_comp, NULL},
};
static const struct oys_tool tool = {usage, cmds, 4, "fetch"};

/* A hex option value of at most max bytes (min bytes at least), into b. */
static void hex_opt(const char *opt, const char *s, size_t min, size_t max, struct oys_buf *b)
{
	size_t n = strlen(s);
	if (n % 2 || n / 2 < min || n / 2 > max || oys_hex_decode(b, s, n) < 0)
		oys_usage_error("%s: '%.40s' is not hex of %zu to %zu bytes", opt, s, min, max);
	if (b->data == NULL && oys_buf_reserve(b, 0) == 0)
		b->data[0] = '\0';
}

static int parse_format(const char *s)
{
	if (strcmp(s, "raw") == 0)
		return 'r';
	if (strcmp(s, "hex") == 0)
		return 'x';
	if (strcmp(s, "base64") == 0)
		return 'b';
	oys_usage_error("--format: '%s' is not raw, hex or base64", s);
}

static int emit(const struct oys_buf *doc, int format, const char *output, struct oys_err *e)
{
	struct oys_buf t = OYS_BUF_INIT;
	int rc = 0;
	if (format == 'x')
		rc = oys_hex_encode(&t, doc->data, doc->len);
	else if (format == 'b')
		rc = oys_base64_encode(&t, doc->data, doc->len);
	if (rc == 0 && format != 'r')
		rc = oys_buf_putc(&t, '\n');
	if (rc)
		rc = oys_err_sys(e, OYS_EOSERR, "document");
	else if (format == 'r')
		rc = oys_write_atomic(output ? output : "-", doc->data, doc->len, 0644, e);
	else
		rc = oys_write_atomic(output ? output : "-", t.data, t.len, 0644, e);
	oys_buf_free(&t);
	return rc;
}

/* The extra fields (public_key, user_data, nonce) given as options. */
struct extra_bufs {
	struct oys_buf pk, ud, nonce;
	int has_pk, has_ud, has_nonce;
};

static struct oys_attest_extra extra_of(struct extra_bufs *x)
{
	struct oys_attest_extra r = {0};
	if (x->has_pk) {
		r.public_key = (unsigned char *)x->pk.data;
		r.public_key_len = x->pk.len;
	}
	if (x->has_ud) {
		r.user_data = (unsigned char *)x->ud.data;
		r.user_data_len = x->ud.len;
	}
	if (x->has_nonce) {
		r.nonce = (unsigned char *)x->nonce.data;
		r.nonce_len = x->nonce.len;
	}
	return r;
}

static void extra_free(struct extra_bufs *x)
{
	oys_buf_free(&x->pk);
	oys_buf_free(&x->ud);
	oys_buf_free(&x->nonce);
}

static int extra_opt(int c, struct extra_bufs *x)
{
	if (c == O_PUBKEY) {
		x->has_pk = 1;
		hex_opt("--public-key", optarg, 1, OYS_ATTEST_PUBLIC_KEY_MAX, &x->pk);
	} else if (c == O_USERDATA) {
		x->has_ud = 1;
		hex_opt("--user-data", optarg, 0, OYS_ATTEST_USER_DATA_MAX, &x->ud);
	} else if (c == O_NONCE) {
		x->has_nonce = 1;
		hex_opt("--nonce", optarg, 0, OYS_ATTEST_NONCE_MAX, &x->nonce);
	} else {
		return 0;
	}
	return 1;
}

static int cmd_fetch(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct extra_bufs x = {0};
	const char *url = NULL, *output = NULL;
	int c, format = 'r';
	while ((c = oys_getopt(o, NULL)) != -1) {
		if (extra_opt(c, &x))
			continue;
		switch (c) {
		case 'u': url = optarg; break;
		case 'f': format = parse_format(optarg); break;
		case 'o': output = optarg; break;
		}
	}
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	struct oys_attest_extra ex = extra_of(&x);
	struct oys_buf doc = OYS_BUF_INIT;
	url = oys_conf(url, "OYS_ATTESTATION_URL", OYS_ATTEST_DEFAULT_URL);
	if (oys_attest_fetch_with(url, &ex, &doc, &e) || emit(&doc, format, output, &e))
		oys_die_err(&e);
	oys_buf_free(&doc);
	extra_free(&x);
	return 0;
}

static int cmd_verify(struct oys_opt *o)
{
	struct oys_err e = {0};
	struct oys_attest_policy p = {0};
	struct oys_buf nonce = OYS_BUF_INIT, pk = OYS_BUF_INIT;
	int c;
	while ((c = oys_getopt(o, NULL)) != -1) {
		switch (c) {
		case 'r': p.root_pem = optarg; break;
		case 'p':
			if (p.npcrs == OYS_ATTEST_MAX_PCRS)
				oys_usage_error("at most %d --pcr", OYS_ATTEST_MAX_PCRS);
			if (oys_attest_parse_pcr(optarg, &p.pcrs[p.npcrs++]) < 0)
				oys_usage_error("--pcr: '%.40s' is not N=HEX (N from 0 to 31, at most 64 bytes)", optarg);
			break;
		case 'm': p.max_age_s = oys_opt_long("--max-age", optarg, 1, LONG_MAX); break;
		case 'a':
			if (strcmp(optarg, "now") != 0 && oys_attest_parse_time(optarg, &p.at) < 0)
				oys_usage_error("--at: '%s' is not unix seconds or an RFC 3339 time", optarg);
			break;
		case 'n':
			hex_opt("--nonce", optarg, 0, OYS_ATTEST_NONCE_MAX, &nonce);
			p.nonce = (unsigned char *)nonce.data;
			p.nonce_len = nonce.len;
			break;
		case 'k':
			hex_opt("--public-key", optarg, 1, OYS_ATTEST_PUBLIC_KEY_MAX, &pk);
			p.public_key = (unsigned char *)pk.data;
			p.public_key_len = pk.len;
			break;
		}
	}
	if (o->argc - optind > 1)
		oys_usage_error("unexpected argument '%s'", o->argv[optind + 1]);
	const char *file = optind < o->argc ? o->argv[optind] : "-";

	struct oys_buf in = OYS_BUF_INIT, raw = OYS_BUF_INIT;
	jv payload;
	if (oys_read_file(file, OYS_ATTEST_INPUT_MAX, &in, &e) ||
	    oys_attest_decode(in.data, in.len, &raw, &e) ||
	    oys_attest_verify((unsigned char *)raw.data, raw.len, &p, &payload, &e))
		oys_die_err(&e);
	int rc = oys_json_print(payload, 0);
	if (rc)
		oys_die(rc, "cannot write standard output");
	oys_buf_free(&in);
	oys_buf_free(&raw);
	oys_buf_free(&nonce);
	oys_buf_free(&pk);
	return 0;
}

/* serve --public-key FILE: the bytes of FILE, as Oyster's attestation server reads --pub-key.
 * The hex that oys-sign pubkey prints is refused: it would make a 128-byte public_key. */
static void pubkey_file(const char *path, struct extra_bufs *x)
{
	struct oys_err e = {0};
	if (oys_read_file(path, OYS_ATTEST_PUBLIC_KEY_MAX, &x->pk, &e))
		oys_die(e.code, "--public-key: %s", e.msg);
	size_t n = x->pk.len;
	if (n > 0 && x->pk.data[n - 1] == '\n')
		n--;
	if (x->pk.len == 0)
		oys_die(OYS_EDATA, "--public-key: %s: the file is empty", path);
	if (n == 2 * 64 && strspn(x->pk.data, "0123456789abcdefABCDEF") == n)
		oys_die(OYS_EDATA, "--public-key: %s holds hex; give the 64 bytes themselves (oys-sign pubkey --raw -o FILE)",
		        path);
	x->has_pk = 1;
}

/* serve and issue: the development issuer. */
static int cmd_dev(struct oys_opt *o, int serve)
{
	struct oys_err e = {0};
	struct extra_bufs x = {0};
	struct oys_attest_dev d = {0};
	const char *listen = NULL, *image = NULL, *digest = NULL, *output = NULL;
	int c, dev = 0, format = 'r';
	while ((c = oys_getopt(o, NULL)) != -1) {
		if (extra_opt(c, &x))
			continue;
		switch (c) {
		case O_DEV: dev = 1; break;
		case 's': d.state_dir = optarg; break;
		case 'd': digest = optarg; break;
		case 'i': image = optarg; break;
		case 'l': listen = optarg; break;
		case 'k': pubkey_file(optarg, &x); break;
		case 'f': format = parse_format(optarg); break;
		case 'o': output = optarg; break;
		}
	}
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	if (!dev)
		oys_usage_error("%s needs --dev: only the development issuer is built in "
		                "(in an enclave, the Nitro attestation server issues documents)",
		                serve ? "serve" : "issue");
	if (digest && image)
		oys_usage_error("--image-digest and --image exclude each other");
	if (digest) {
		struct oys_buf b = OYS_BUF_INIT;
		hex_opt("--image-digest", digest, 48, 48, &b);
		memcpy(d.image_digest, b.data, 48);
		oys_buf_free(&b);
	} else if (image) {
		if (oys_attest_dev_file_digest(image, d.image_digest, &e))
			oys_die_err(&e);
	} else {
		oys_attest_dev_default_digest(d.image_digest);
	}
	d.x = extra_of(&x);

	if (!serve) {
		struct oys_buf doc = OYS_BUF_INIT;
		if (oys_attest_dev_issue(&d, &doc, &e) || emit(&doc, format, output, &e))
			oys_die_err(&e);
		oys_buf_free(&doc);
		extra_free(&x);
		return 0;
	}
	char root[PATH_MAX];
	if (oys_attest_dev_init(d.state_dir, root, sizeof root, &e))
		oys_die_err(&e);
	if (listen) {
		jv ev = oys_json_set_str(jv_object(), "event", "development CA");
		oys_log_event(oys_json_set_str(ev, "root", root));
		int rc = oys_listen_fork(listen, 64, &e);
		if (rc == OYS_LISTEN_STOPPED)
			exit(0);
		if (rc)
			oys_die_err(&e);
		/* a child, with the connection on 0 and 1 */
	}
	char peer[128];
	oys_conf_peer(peer, sizeof peer);
	d.peer = peer;
	if (oys_attest_dev_serve(STDIN_FILENO, STDOUT_FILENO, &d, &e))
		oys_die_err(&e);
	extra_free(&x);
	return 0;
}

int main(int argc, char **argv)
{
	struct oys_opt o;
	oys_opt_init(&o, argc, argv, &tool);
	const char *name = o.cmd->name;
	int rc;
	if (strcmp(name, "verify") == 0)
		rc = cmd_verify(&o);
	else if (strcmp(name, "serve") == 0)
		rc = cmd_dev(&o, 1);
	else if (strcmp(name, "issue") == 0)
		rc = cmd_dev(&o, 0);
	else
		rc = cmd_fetch(&o);
	oys_opt_free(&o);
	return rc;
}
