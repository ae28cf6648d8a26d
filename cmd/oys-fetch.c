/* oys-fetch: code by code_id from a store directory, a storage server or a transaction,
 * verified, to stdout or a file. */
#include "../lib/chain.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/fetch.h"
#include "../lib/file.h"
#include "../lib/log.h"
#include "../lib/opt.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
	"usage: oys-fetch CODE_ID [--store DIR|URL] [--attestation-url URL]\n"
	"                 [--rpc URL] [--contract ADDR] [--confirmations N] [-o FILE]\n"
	"                 [--cache DIR | --no-cache]\n"
	"                 [--timeout S] [--max-size SIZE]\n"
	"\n"
	"Prints the code named by CODE_ID, verified:\n"
	"  64 hex digits      the SHA-256 of the code, from a store directory or a storage\n"
	"                     server (POST URL/challenge, a document carrying its nonce and a\n"
	"                     fresh key of ours, POST URL/load: the code sealed to that key);\n"
	"                     it must hash to the id, or it is refused and nothing is written\n"
	"  0x + 64 hex digits a transaction whose calldata holds the code (eth_getTransactionByHash\n"
	"                     over JSON-RPC: its fields must hash to the id, it must be sent\n"
	"                     to the code contract, not reverted, and confirmed)\n"
	"\n"
	"  -s, --store DIR|URL        a store directory or a storage server URL\n"
	"                             (default $OYS_STORE, then /var/lib/oys/code)\n"
	"  -A, --attestation-url URL  the attestation server, asked for a document per load\n"
	"                             (default $OYS_ATTESTATION_URL, then http://127.0.0.1:1300)\n"
	"  -r, --rpc URL              JSON-RPC endpoint for transaction ids (default $OYS_RPC_URL)\n"
	"  -c, --contract ADDR        the code contract (default $OYS_CODE_CONTRACT)\n"
	"  -k, --confirmations N      blocks the transaction's block needs, counting itself\n"
	"                             (default $OYS_CHAIN_CONFIRMATIONS, then 12); fewer: 75\n"
	"  -o, --output FILE          write the code to FILE (atomically, mode 0600)\n"
	"  -C, --cache DIR            cache of fetched code (default $OYS_RUNTIME_DIR/cache/code)\n"
	"  -N, --no-cache             neither read nor fill the cache\n"
	"  -t, --timeout S            each network request, seconds (default 30)\n"
	"  -m, --max-size SIZE        refuse code larger than SIZE (default 64M)\n"
	"  -h, --help                 this text\n"
	"      --version              the version\n"
	"\n"
	"Environment: OYS_STORE, OYS_ATTESTATION_URL, OYS_RPC_URL, OYS_CODE_CONTRACT,\n"
	"OYS_CHAIN_CONFIRMATIONS, OYS_RUNTIME_DIR.\n";

static const struct option longopts[] = {
	{"store", required_argument, NULL, 's'},
	{"attestation-url", required_argument, NULL, 'A'},
	{"rpc", required_argument, NULL, 'r'},
	{"contract", required_argument, NULL, 'c'},
	{"confirmations", required_argument, NULL, 'k'},
	{"output", required_argument, NULL, 'o'},
	{"cache", required_argument, NULL, 'C'},
	{"no-cache", no_argument, NULL, 'N'},
	{"timeout", required_argument, NULL, 't'},
	{"max-size", required_argument, NULL, 'm'},
	{0},
};

static const struct oys_complete complete[] = {
	{"store", ":dir"}, {"output", ":file"}, {"cache", ":dir"},
	{"timeout", "5 10 30 60"}, {"max-size", "1M 16M 64M"}, {"confirmations", "1 2 6 12 64"},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "s:A:r:c:k:o:C:Nt:m:", longopts, complete, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_err e = {0};
	struct oys_fetch_opts f = {0};
	const char *output = NULL, *confirm = NULL;
	int opt;

	oys_opt_init(&o, argc, argv, &tool);
	while ((opt = oys_getopt(&o, NULL)) != -1) {
		switch (opt) {
		case 's': f.store = optarg; break;
		case 'A': f.attestation_url = optarg; break;
		case 'r': f.rpc_url = optarg; break;
		case 'c':
			if (!oys_chain_valid_address(optarg))
				oys_usage_error("--contract: '%s' is not an address (0x and 40 hex digits)", optarg);
			f.contract = optarg;
			break;
		case 'k': confirm = optarg; break;
		case 'o': output = optarg; break;
		case 'C': f.cache_dir = optarg; break;
		case 'N': f.no_cache = 1; break;
		case 't': f.timeout_ms = oys_opt_long("--timeout", optarg, 1, 3600) * 1000; break;
		case 'm': f.max_size = (size_t)oys_opt_size("--max-size", optarg); break;
		}
	}
	if (optind + 1 != o.argc)
		oys_usage_error(optind < o.argc ? "one CODE_ID only" : "missing CODE_ID");
	if ((confirm = oys_conf(confirm, "OYS_CHAIN_CONFIRMATIONS", NULL)))
		f.confirmations = (unsigned)oys_opt_long("--confirmations", confirm, 1, 1000000);
	const char *id = o.argv[optind];
	oys_opt_free(&o);
	/* The id is checked before it goes anywhere near a path or a URL. */
	if (oys_code_id_check(id, &e))
		oys_die_err(&e);
	if (f.cache_dir && f.no_cache)
		oys_usage_error("--cache and --no-cache exclude each other");

	struct oys_buf code = OYS_BUF_INIT;
	oys_conf_fetch(&f);
	if (oys_fetch_code(id, &f, &code, &e))
		oys_die_err(&e);
	if (oys_write_atomic(output ? output : "-", code.data, code.len, 0600, &e))
		oys_die_err(&e);
	oys_buf_free(&code);
	return 0;
}
