/* oys-store: the code store: put, get, list, remove, name code; serve it to attested enclaves. */
#include "../lib/attest.h"
#include "../lib/bundle.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/json.h"
#include "../lib/listen.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/store.h"
#include "../lib/storec.h"
#include "../lib/storesrv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_HELP "  -s, --store DIR       the store directory (default $OYS_STORE, then " OYS_DEFAULT_STORE ")\n"

static const char usage[] =
	"usage: oys-store COMMAND [options]\n"
	"\n"
	"A content-addressed code store: a directory of files named by the SHA-256 of their\n"
	"content (the code_id), written atomically, with optional names pointing to ids.\n"
	"\n"
	"  put FILE|DIR|-... [settings]  store a function, print its code_id\n"
	"  get ID|NAME [-o FILE]         print (or write) it; --manifest, --unpack DIR\n"
	"  ls [--json]                   list the store\n"
	"  rm ID|NAME                    remove code by id, or remove a name\n"
	"  name NAME [ID]                point NAME at ID (updating code), or print NAME's id\n"
	"  serve [--listen ADDR]         the storage server: one HTTP request on stdin/stdout\n"
	"\n"
	"Every command takes -s, --store DIR. See oys-store COMMAND --help.\n"
	"Environment: OYS_STORE; serve also OYS_STORE_TOKEN, OYS_STORE_QUOTA,\n"
	"OYS_STORE_CHALLENGE_TTL, OYS_ATTEST_ROOT, OYS_ATTEST_PCRS, OYS_ATTEST_MAX_AGE.\n";

static const char usage_put[] =
	"usage: oys-store put [-s DIR|URL] [--name NAME] [--max-size SIZE] [--token-file FILE]\n"
	"                     [--main M] [--compat-date D] [--compat-flag F]... [--memory SIZE]\n"
	"                     [--cpu CORES] [--timeout S] [--outbound POLICY]\n"
	"                     [--env NAME=VALUE]... FILE|DIR|-...\n"
	"\n"
	"Stores each function and prints its code_id, one per line. A function is a bundle: its\n"
	"modules and its own settings, serialised canonically; the code_id is the SHA-256 of\n"
	"that, so the settings are as tamper-proof as the code. A single FILE (- is standard\n"
	"input) without settings is stored as it is, its id the SHA-256 of the file. A DIR holds\n"
	"the modules (every file but hidden ones and oys.json, named by its path in DIR) and may\n"
	"hold oys.json with the settings below (keys main, compatibility_date,\n"
	"compatibility_flags, memory, cpu, timeout, outbound, env, modules); the options\n"
	"override it. Storing the same bundle again is harmless. With a storage server URL as\n"
	"the store, the bundle is uploaded (POST URL/code) and the id it answers is checked.\n"
	"\n"
	"  -s, --store DIR|URL   the store directory, or a storage server (default $OYS_STORE,\n"
	"                        then " OYS_DEFAULT_STORE ")\n"
	"  -t, --token-file FILE with a URL: the operator token (default $OYS_STORE_TOKEN)\n"
	"  -n, --name NAME       also point NAME at the code (one FILE only)\n"
	"  -m, --max-size SIZE   refuse code larger than SIZE (default 64M)\n"
	"      --main M          the main module (default: the only JavaScript one, else the\n"
	"                        only Wasm one)\n"
	"  -d, --compat-date D   workerd compatibility date, YYYY-MM-DD\n"
	"  -f, --compat-flag F   a compatibility flag, repeatable (never experimental, unsafe_*)\n"
	"      --memory SIZE     memory limit, 1M to 1T (like 64M)\n"
	"      --cpu CORES       CPU limit, 0.01 to 1024 cores\n"
	"      --timeout S       execution timeout in seconds, at most 86400\n"
	"  -O, --outbound POLICY the function's fetch(): none, public, private or CIDRs\n"
	"  -e, --env NAME=VALUE  a text binding (env.NAME; a global in service-worker syntax),\n"
	"                        repeatable\n"
	"A host refuses settings beyond its limits (oys-run(1), oys-serve(1)).\n";

static const char usage_get[] =
	"usage: oys-store get [-s DIR] [-o FILE | --manifest | --unpack DIR] ID|NAME\n"
	"\n"
	"Prints the function as stored (a bundle's serialisation, or a single file), verified\n"
	"against its id.\n"
	"\n"
	STORE_HELP
	"  -o, --output FILE     write it to FILE (atomically, mode 0600) instead\n"
	"      --manifest        print its settings as JSON, as in an oys.json (with every\n"
	"                        module's type in \"modules\")\n"
	"  -u, --unpack DIR      write its modules (and oys.json) into DIR, created or empty;\n"
	"                        oys-store put DIR stores the same bundle\n";

static const char usage_ls[] =
	"usage: oys-store ls [-s DIR] [--json]\n"
	"\n"
	"Lists the store: ID, size in bytes, and the names pointing to it, one code per line.\n"
	"\n"
	STORE_HELP
	"  -j, --json            a JSON array of {id, size, mtime, names}\n";

static const char usage_rm[] =
	"usage: oys-store rm [-s DIR] ID|NAME...\n"
	"\n"
	"Removes code by id (names pointing to it stay, dangling), or removes a name.\n"
	"\n"
	STORE_HELP;

static const char usage_name[] =
	"usage: oys-store name [-s DIR] NAME [ID]\n"
	"\n"
	"With ID: points NAME at ID, which must be in the store (this is how code is updated).\n"
	"Without: prints the id NAME points to.\n"
	"\n"
	STORE_HELP;

static const char usage_serve[] =
	"usage: oys-store serve [-s DIR] [--listen ADDR] [--root PEM] [--pcr N=HEX]...\n"
	"                       [--max-age S] [--token-file FILE | --open-uploads]\n"
	"                       [--max-size SIZE] [--quota SIZE] [--challenge-ttl S]\n"
	"\n"
	"Reads one HTTP request on stdin and answers on stdout (run it behind\n"
	"socat TCP-LISTEN:PORT,fork EXEC:'oys-store serve'), or listens itself with --listen.\n"
	"  POST /code       upload (body: the code; ?name=NAME); 201 {\"code_id\": ID}\n"
	"  POST /challenge  a fresh single-use nonce for one load: {\"nonce\": HEX, ...}\n"
	"  POST /load       {\"key\": ID} with header Attestation: <base64 document>: the\n"
	"                   code sealed to the document's public_key, only when the document\n"
	"                   verifies against --root and the --pcr policy and carries a nonce\n"
	"                   of ours, unused (it is used up)\n"
	"  GET  /healthz    ok\n"
	"\n"
	STORE_HELP
	"  -l, --listen ADDR     listen on ADDR (HOST:PORT or PORT on 127.0.0.1), fork per request\n"
	"  -r, --root PEM        trusted root certificate of attestation documents\n"
	"                        (default $OYS_ATTEST_ROOT, then the AWS Nitro root)\n"
	"  -p, --pcr N=HEX       PCR N must equal HEX; repeatable (default $OYS_ATTEST_PCRS,\n"
	"                        \"N=HEX,...\"); without any, /load refuses every document\n"
	"  -a, --max-age S       documents older than S seconds are refused (default\n"
	"                        $OYS_ATTEST_MAX_AGE, then 300; 0: no limit)\n"
	"  -t, --token-file FILE uploads need Authorization: Bearer <the token in FILE>\n"
	"                        (default: the token in $OYS_STORE_TOKEN); without a token the\n"
	"                        server refuses to start, unless:\n"
	"      --open-uploads    anyone may upload; no name is ever re-pointed (409)\n"
	"  -m, --max-size SIZE   largest upload (default 64M; 413 beyond)\n"
	"  -q, --quota SIZE      most code the store holds; uploads beyond get 507 (default\n"
	"                        $OYS_STORE_QUOTA, then " OYS_STORE_QUOTA_DEFAULT "; 0: no limit)\n"
	"  -c, --max-children N  with --listen: requests served at once (default 64)\n"
	"      --challenge-ttl S a challenge's nonce expires after S seconds (default\n"
	"                        $OYS_STORE_CHALLENGE_TTL, then 60)\n";

#define STORE_OPT {"store", required_argument, NULL, 's'}
enum { O_OPEN_UPLOADS = 256, O_CHALLENGE_TTL, O_MAIN, O_CPU, O_TIMEOUT, O_MANIFEST, O_MEMORY };

static const struct option opts_put[] = {
	STORE_OPT,
	{"name", required_argument, NULL, 'n'},
	{"max-size", required_argument, NULL, 'm'},
	{"token-file", required_argument, NULL, 't'},
	{"main", required_argument, NULL, O_MAIN},
	{"compat-date", required_argument, NULL, 'd'},
	{"compat-flag", required_argument, NULL, 'f'},
	{"memory", required_argument, NULL, O_MEMORY},
	{"cpu", required_argument, NULL, O_CPU},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"outbound", required_argument, NULL, 'O'},
	{"env", required_argument, NULL, 'e'},
	{0},
};
static const struct option opts_get[] = {STORE_OPT, {"output", required_argument, NULL, 'o'},
                                         {"manifest", no_argument, NULL, O_MANIFEST},
                                         {"unpack", required_argument, NULL, 'u'}, {0}};
static const struct option opts_ls[] = {STORE_OPT, {"json", no_argument, NULL, 'j'}, {0}};
static const struct option opts_store[] = {STORE_OPT, {0}};
static const struct option opts_serve[] = {
	STORE_OPT,
	{"listen", required_argument, NULL, 'l'},
	{"root", required_argument, NULL, 'r'},
	{"pcr", required_argument, NULL, 'p'},
	{"max-age", required_argument, NULL, 'a'},
	{"token-file", required_argument, NULL, 't'},
	{"max-size", required_argument, NULL, 'm'},
	{"max-children", required_argument, NULL, 'c'},
	{"open-uploads", no_argument, NULL, O_OPEN_UPLOADS},
	{"challenge-ttl", required_argument, NULL, O_CHALLENGE_TTL},
	{"quota", required_argument, NULL, 'q'},
	{0},
};

static const struct oys_complete complete_files[] = {
	{"store", ":dir"}, {"token-file", ":file"}, {"", ":file"}, {"main", ":file"},
	{"compat-flag", "nodejs_compat nodejs_als"}, {"memory", "64M 128M 256M"}, {"cpu", "0.25 0.5 1"},
	{"timeout", "1 5 10 30"}, {"outbound", "none public private"}, {"env", ":none"}, {0},
};
static const struct oys_complete complete_get[] = {{"store", ":dir"}, {"output", ":file"}, {"unpack", ":dir"}, {0}};
static const struct oys_complete complete_serve[] = {
	{"store", ":dir"}, {"root", ":file"}, {"token-file", ":file"}, {"max-size", "1M 16M 64M"},
	{"quota", "1G 10G 0"}, {"challenge-ttl", "10 30 60"}, {0},
};
static const struct oys_complete complete_store[] = {{"store", ":dir"}, {0}};

/* Candidates for ID|NAME arguments: what is in the store ($OYS_STORE). */
static void complete_ids(void)
{
	struct oys_store s;
	jv list;
	if (oys_store_open(&s, oys_conf(NULL, "OYS_STORE", NULL), 0, NULL) || oys_store_list(&s, &list, NULL))
		return;
	jv_array_foreach(list, i, item) {
		jv size = jv_object_get(jv_copy(item), jv_string("size"));
		if (jv_get_kind(size) == JV_KIND_NUMBER)
			puts(oys_json_get_str(item, "id"));
		jv_free(size);
		jv names = jv_object_get(jv_copy(item), jv_string("names"));
		jv_array_foreach(names, k, n) {
			puts(jv_string_value(n));
			jv_free(n);
		}
		jv_free(names);
		jv_free(item);
	}
	jv_free(list);
}

static const struct oys_cmd cmds[] = {
	{"put", usage_put, "s:n:m:t:d:f:O:e:", opts_put, complete_files, NULL},
	{"get", usage_get, "s:o:u:", opts_get, complete_get, complete_ids},
	{"ls", usage_ls, "s:j", opts_ls, complete_store, NULL},
	{"rm", usage_rm, "s:", opts_store, complete_store, complete_ids},
	{"name", usage_name, "s:", opts_store, complete_store, complete_ids},
	{"serve", usage_serve, "s:l:r:p:a:t:m:c:q:", opts_serve, complete_serve, NULL},
};
static const struct oys_tool tool = {usage, cmds, sizeof cmds / sizeof cmds[0], NULL};

static struct oys_store store;
static const char *store_dir; /* --store, else $OYS_STORE, else the default */

static void open_store(int create)
{
	struct oys_err e = {0};
	if (oys_store_open(&store, store_dir, create, &e))
		oys_die_err(&e);
}

static void out_flush(void)
{
	if (fflush(stdout) == EOF)
		oys_die_sys(OYS_EIO, "cannot write to standard output");
}

static int printable(const char *s)
{
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f)
			return 0;
	return 1;
}

static char *read_token(const char *file)
{
	struct oys_err e = {0};
	struct oys_buf b = OYS_BUF_INIT;
	if (file) {
		if (oys_read_file(file, 4096, &b, &e))
			oys_die(OYS_ECONFIG, "--token-file: %s", e.msg);
	} else {
		const char *t = getenv("OYS_STORE_TOKEN");
		if (t == NULL || *t == '\0')
			return NULL;
		oys_buf_puts(&b, t);
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
		b.data[--b.len] = '\0';
	if (b.len == 0 || !printable(b.data))
		oys_die(OYS_ECONFIG, "the upload token %s is empty or not printable ASCII",
		        file ? file : "in OYS_STORE_TOKEN");
	return oys_buf_steal(&b, NULL);
}

/* One function into the store (local), streamed when it is a file stored as it is. */
static void put_local(const char *f, const struct oys_bundle_flags *bf, size_t max, char id[65])
{
	struct oys_err e = {0};
	struct stat st;
	int stdin_ = strcmp(f, "-") == 0;
	if (!stdin_ && stat(f, &st) == 0 && S_ISDIR(st.st_mode))
		goto whole;
	if (oys_bundle_flags_any(bf))
		goto whole;
	int fd = stdin_ ? STDIN_FILENO : open(f, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		oys_die_sys(errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot open %s", f);
	/* a file stored as it is, streamed: unless it is a serialised bundle, checked whole */
	char head[OYS_BUNDLE_MAGIC_LEN];
	size_t got = 0;
	while (got < sizeof head) {
		ssize_t k = read(fd, head + got, sizeof head - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			oys_die_sys(OYS_EIO, "cannot read %s", stdin_ ? "standard input" : f);
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got == sizeof head && memcmp(head, OYS_BUNDLE_MAGIC, sizeof head) == 0) {
		struct oys_buf b = OYS_BUF_INIT, out = OYS_BUF_INIT;
		if (oys_buf_append(&b, head, got) < 0 || oys_read_fd(fd, stdin_ ? "standard input" : f, max, &b, &e) ||
		    oys_bundle_make_bytes(b.data, b.len, stdin_ ? "standard input" : f, NULL, &out, &e) ||
		    oys_store_put(&store, out.data, out.len, id, &e))
			oys_die_err(&e);
		oys_buf_free(&b);
		oys_buf_free(&out);
	} else if (oys_store_put_fd_head(&store, head, got, fd, stdin_ ? "standard input" : f, max, id, &e)) {
		oys_die_err(&e);
	}
	if (!stdin_)
		close(fd);
	return;
whole:;
	struct oys_buf b = OYS_BUF_INIT;
	if (oys_bundle_make(f, bf, max, &b, &e) || oys_store_put(&store, b.data, b.len, id, &e))
		oys_die_err(&e);
	oys_buf_free(&b);
}

static int cmd_put(struct oys_opt *o, const char *name, size_t max, const char *token_file,
                   const struct oys_bundle_flags *bf)
{
	struct oys_err e = {0};
	char id[65];
	if (optind >= o->argc)
		oys_usage_error("put needs a FILE or DIR (or - for standard input)");
	if (name && optind + 1 != o->argc)
		oys_usage_error("--name goes with one FILE only");
	if (name && !oys_store_name_valid(name))
		oys_usage_error("--name: '%s' is not a name (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -, not a code id)", name);
	const char *where = oys_conf(store_dir, "OYS_STORE", OYS_DEFAULT_STORE);
	if (oys_store_is_url(where)) {
		char *token = read_token(token_file);
		for (int i = optind; i < o->argc; i++) {
			struct oys_buf b = OYS_BUF_INIT;
			if (oys_bundle_make(o->argv[i], bf, max, &b, &e) ||
			    oys_storec_upload(where, token, name, b.data, b.len, id, &e))
				oys_die_err(&e);
			oys_buf_free(&b);
			printf("%s\n", id);
		}
		free(token);
		out_flush();
		return 0;
	}
	if (token_file)
		oys_usage_error("--token-file goes with a storage server URL as the store");
	open_store(1);
	for (int i = optind; i < o->argc; i++) {
		put_local(o->argv[i], bf, max, id);
		if (name && oys_store_name_set(&store, name, id, &e))
			oys_die_err(&e);
		printf("%s\n", id);
	}
	out_flush();
	return 0;
}

static int cmd_get(struct oys_opt *o, const char *output, int manifest, const char *unpack)
{
	struct oys_err e = {0};
	struct oys_buf code = OYS_BUF_INIT;
	char id[65];
	if (optind + 1 != o->argc)
		oys_usage_error("get needs one ID or NAME");
	if (!!output + !!manifest + !!unpack > 1)
		oys_usage_error("--output, --manifest and --unpack exclude each other");
	open_store(0);
	if (oys_store_resolve(&store, o->argv[optind], id, &e) || oys_store_get(&store, id, 0, &code, &e))
		oys_die_err(&e);
	if (manifest || unpack) {
		struct oys_bundle b;
		struct oys_buf m = OYS_BUF_INIT;
		if (oys_bundle_parse(code.data, code.len, &b, &e))
			oys_die(e.code, "code %s: %s", id, e.msg);
		if (unpack ? oys_bundle_unpack(&b, unpack, &e)
		           : oys_bundle_manifest(&b, &m, &e) || oys_write_all(STDOUT_FILENO, m.data, m.len) < 0)
			oys_die(e.code ? e.code : OYS_EIO, "%s", e.code ? e.msg : "cannot write to standard output");
		oys_bundle_free(&b);
		oys_buf_free(&m);
	} else if (oys_write_atomic(output ? output : "-", code.data, code.len, 0600, &e)) {
		oys_die_err(&e);
	}
	oys_buf_free(&code);
	return 0;
}

static int cmd_ls(struct oys_opt *o, int json)
{
	struct oys_err e = {0};
	jv list;
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	open_store(0);
	if (oys_store_list(&store, &list, &e))
		oys_die_err(&e);
	if (json) {
		int rc = oys_json_print(list, 1);
		if (rc)
			oys_die(rc, "cannot write to standard output");
		return 0;
	}
	jv_array_foreach(list, i, item) {
		jv size = jv_object_get(jv_copy(item), jv_string("size"));
		jv names = jv_object_get(jv_copy(item), jv_string("names"));
		printf("%s\t", oys_json_get_str(item, "id"));
		if (jv_get_kind(size) == JV_KIND_NUMBER)
			printf("%.0f\t", jv_number_value(size));
		else
			printf("missing\t");
		jv_array_foreach(names, k, n) {
			printf("%s%s", k ? "," : "", jv_string_value(n));
			jv_free(n);
		}
		putchar('\n');
		jv_free(size);
		jv_free(names);
		jv_free(item);
	}
	jv_free(list);
	out_flush();
	return 0;
}

static int cmd_rm(struct oys_opt *o)
{
	struct oys_err e = {0};
	if (optind >= o->argc)
		oys_usage_error("rm needs an ID or NAME");
	open_store(0);
	for (int i = optind; i < o->argc; i++) {
		const char *a = o->argv[i];
		int rc = oys_code_id_kind(a) == OYS_CODE_ID_HASH ? oys_store_rm(&store, a, &e)
		                                            : oys_store_name_rm(&store, a, &e);
		if (rc)
			oys_die_err(&e);
	}
	return 0;
}

static int cmd_name(struct oys_opt *o)
{
	struct oys_err e = {0};
	char id[65];
	int n = o->argc - optind;
	if (n < 1 || n > 2)
		oys_usage_error("name needs NAME, or NAME and ID");
	const char *name = o->argv[optind];
	open_store(0);
	if (n == 2) {
		if (oys_store_name_set(&store, name, o->argv[optind + 1], &e))
			oys_die_err(&e);
		return 0;
	}
	if (oys_store_name_get(&store, name, id, &e))
		oys_die_err(&e);
	printf("%s\n", id);
	out_flush();
	return 0;
}

/* "N=HEX" entries separated by commas or spaces, as in OYS_ATTEST_PCRS. */
static void add_pcrs(struct oys_attest_policy *p, const char *list, const char *what)
{
	char buf[8192];
	if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
		oys_die(OYS_ECONFIG, "%s is too long", what);
	for (char *save = NULL, *t = strtok_r(buf, ", \t\n", &save); t; t = strtok_r(NULL, ", \t\n", &save)) {
		if (p->npcrs == sizeof p->pcrs / sizeof p->pcrs[0])
			oys_die(OYS_ECONFIG, "%s: at most %zu PCRs", what, sizeof p->pcrs / sizeof p->pcrs[0]);
		if (oys_attest_parse_pcr(t, &p->pcrs[p->npcrs]) < 0)
			oys_die(OYS_ECONFIG, "%s: '%.80s' is not N=HEX (a PCR index and its value in hex)", what, t);
		p->npcrs++;
	}
}

/* Settings of serve beyond the policy. */
struct serve_opts {
	const char *listen, *token_file;
	unsigned long long quota;
	size_t max;
	long challenge_ttl;
	int max_children, open_uploads, quota_set;
};

static int cmd_serve(struct oys_opt *o, struct oys_attest_policy *pol, const char **pcr_flags, size_t npcr,
                     const struct serve_opts *so)
{
	struct oys_err e = {0};
	if (optind < o->argc)
		oys_usage_error("unexpected argument '%s'", o->argv[optind]);
	pol->root_pem = oys_conf(pol->root_pem, "OYS_ATTEST_ROOT", NULL);
	if (npcr) {
		for (size_t i = 0; i < npcr; i++)
			add_pcrs(pol, pcr_flags[i], "--pcr");
	} else if (getenv("OYS_ATTEST_PCRS")) {
		add_pcrs(pol, getenv("OYS_ATTEST_PCRS"), "OYS_ATTEST_PCRS");
	}
	if (pol->max_age_s < 0) {
		const char *a = oys_conf(NULL, "OYS_ATTEST_MAX_AGE", "300");
		char *end;
		errno = 0;
		pol->max_age_s = strtoll(a, &end, 10);
		if (errno || end == a || *end || pol->max_age_s < 0)
			oys_die(OYS_ECONFIG, "OYS_ATTEST_MAX_AGE '%.40s' is not a number of seconds", a);
	}
	char *token = read_token(so->token_file);
	if (token && so->open_uploads)
		oys_usage_error("--open-uploads and an upload token (--token-file, OYS_STORE_TOKEN) exclude each other");
	if (token == NULL && !so->open_uploads)
		oys_die(OYS_ECONFIG, "no upload token: give --token-file or OYS_STORE_TOKEN "
		        "(or --open-uploads to let anyone upload)");
	unsigned long long quota = so->quota;
	const char *q = oys_conf(NULL, "OYS_STORE_QUOTA", OYS_STORE_QUOTA_DEFAULT);
	if (!so->quota_set && oys_parse_size(q, &quota) < 0)
		oys_die(OYS_ECONFIG, "OYS_STORE_QUOTA '%.40s' is not a size (like 512M, 1G, 0 for no limit)", q);
	long ttl = so->challenge_ttl;
	const char *t = oys_conf(NULL, "OYS_STORE_CHALLENGE_TTL", NULL);
	if (ttl == 0 && t)
		ttl = oys_opt_long("OYS_STORE_CHALLENGE_TTL", t, 1, 86400);
	struct oys_storesrv_conf c = {
		.store = &store, .policy = pol, .token = token, .quota = quota, .max_size = so->max,
		.challenge_ttl_s = ttl ? ttl : OYS_CHALLENGE_TTL_DEFAULT,
	};
	char peer[128];
	open_store(1);
	signal(SIGPIPE, SIG_IGN);
	int rc = so->listen ? oys_listen_fork(so->listen, so->max_children, &e) : 0;
	if (rc == OYS_LISTEN_STOPPED)
		exit(0);
	if (rc)
		oys_die_err(&e);
	oys_conf_peer(peer, sizeof peer);
	c.peer = peer;
	oys_storesrv_handle(STDIN_FILENO, STDOUT_FILENO, &c);
	free(token);
	return 0;
}

#define MAX_PCR_FLAGS 32

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_attest_policy pol = {0};
	const char *pcr_flags[MAX_PCR_FLAGS];
	size_t npcr = 0;
	const char *dir = NULL, *name = NULL, *output = NULL, *token_file = NULL, *unpack = NULL;
	const char *flags[OYS_BUNDLE_MAX_FLAGS], *env[OYS_BUNDLE_MAX_ENV];
	struct oys_bundle_flags bf = {0};
	struct serve_opts so = {0};
	size_t max = 0;
	int json = 0, manifest = 0, opt;

	pol.max_age_s = -1;
	oys_opt_init(&o, argc, argv, &tool);
	while ((opt = oys_getopt(&o, NULL)) != -1) {
		switch (opt) {
		case 's': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'o': output = optarg; break;
		case 'j': json = 1; break;
		case 'l': so.listen = optarg; break;
		case 'r': pol.root_pem = optarg; break;
		case 'p':
			if (npcr < MAX_PCR_FLAGS)
				pcr_flags[npcr++] = optarg;
			else
				oys_usage_error("at most %d --pcr", MAX_PCR_FLAGS);
			break;
		case 'a': pol.max_age_s = oys_opt_long("--max-age", optarg, 0, 10L * 365 * 86400); break;
		case 't': token_file = optarg; break;
		case 'm': max = (size_t)oys_opt_size("--max-size", optarg); break;
		case O_MEMORY: bf.memory = optarg; break;
		case O_MAIN: bf.main = optarg; break;
		case 'd': bf.compat_date = optarg; break;
		case 'f':
			if (bf.ncompat_flags == OYS_BUNDLE_MAX_FLAGS)
				oys_usage_error("at most %d --compat-flag", OYS_BUNDLE_MAX_FLAGS);
			flags[bf.ncompat_flags++] = optarg;
			break;
		case O_CPU: bf.cpu = optarg; break;
		case O_TIMEOUT: bf.timeout = optarg; break;
		case 'O': bf.outbound = optarg; break;
		case 'e':
			if (bf.nenv == OYS_BUNDLE_MAX_ENV)
				oys_usage_error("at most %d --env", OYS_BUNDLE_MAX_ENV);
			env[bf.nenv++] = optarg;
			break;
		case O_MANIFEST: manifest = 1; break;
		case 'u': unpack = optarg; break;
		case 'c': so.max_children = (int)oys_opt_long("--max-children", optarg, 1, 100000); break;
		case 'q':
			so.quota = oys_opt_size("--quota", optarg);
			so.quota_set = 1;
			break;
		case O_OPEN_UPLOADS: so.open_uploads = 1; break;
		case O_CHALLENGE_TTL: so.challenge_ttl = oys_opt_long("--challenge-ttl", optarg, 1, 86400); break;
		}
	}
	if (max == 0)
		max = OYS_CODE_MAX_DEFAULT;
	const char *cmd = o.cmd->name;
	store_dir = oys_conf(dir, "OYS_STORE", OYS_DEFAULT_STORE);
	int rc;
	bf.compat_flags = flags;
	bf.env = env;
	if (strcmp(cmd, "put") == 0)
		rc = cmd_put(&o, name, max, token_file, &bf);
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_get(&o, output, manifest, unpack);
	else if (strcmp(cmd, "ls") == 0)
		rc = cmd_ls(&o, json);
	else if (strcmp(cmd, "rm") == 0)
		rc = cmd_rm(&o);
	else if (strcmp(cmd, "name") == 0)
		rc = cmd_name(&o);
	else {
		so.token_file = token_file;
		so.max = max;
		if (so.max_children == 0)
			so.max_children = 64;
		rc = cmd_serve(&o, &pol, pcr_flags, npcr, &so);
	}
	oys_opt_free(&o);
	return rc;
}
