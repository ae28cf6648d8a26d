/* oys-serve: one HTTP request from stdin, its answer on stdout (inetd-style, behind socat). */
#include "../lib/bundle.h"
#include "../lib/conf.h"
#include "../lib/err.h"
#include "../lib/file.h"
#include "../lib/listen.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
	"usage: oys-serve [options]\n"
	"       oys-serve --agent\n"
	"\n"
	"Reads one HTTP/1.1 request on stdin, answers it on stdout and exits, like an inetd\n"
	"service. Run it behind socat, one process per connection:\n"
	"  socat TCP-LISTEN:6000,bind=127.0.0.1,reuseaddr,fork,max-children=256 EXEC:oys-serve\n"
	"  socat VSOCK-LISTEN:6000,reuseaddr,fork,max-children=256 EXEC:oys-serve  (in an enclave)\n"
	"Endpoints: POST /api/serverless {\"code_id\", \"input\"}, ANY /fn/<code_id>/..., GET /healthz,\n"
	"GET /status, GET /metrics, POST /unregister (drain), POST /register (undrain).\n"
	"\n"
	"  -l, --listen ADDR       accept connections on ADDR (HOST:PORT) and fork per\n"
	"                          connection, without socat\n"
	"      --max-connections N with --listen, connections served at once; more wait\n"
	"                          (OYS_MAX_CONNECTIONS, default 256)\n"
	"      --agent             answer one HAProxy agent-check (free capacity) and exit\n"
	"  -t, --timeout S         execution timeout, seconds (OYS_TIMEOUT, default 10)\n"
	"      --start-timeout S   time workerd may take to start (OYS_START_TIMEOUT, default 10)\n"
	"      --fetch-timeout S   each request of a code fetch: storage server, attestation\n"
	"                          server, RPC (OYS_FETCH_TIMEOUT, default 30)\n"
	"  -m, --memory SIZE       memory limit per function (OYS_MEMORY; default: the pool's)\n"
	"      --max-body SIZE     largest request body (OYS_MAX_BODY, default 1M)\n"
	"      --max-response SIZE largest function response (OYS_MAX_RESPONSE, default 16M)\n"
	"      --sandbox-uid N     slot i runs workerd as uid and gid N+i (OYS_SANDBOX_UID,\n"
	"                          default 2000000000); root: oys's own uid, development only\n"
	"      --read-timeout S    time a client has to send its request (OYS_READ_TIMEOUT, 10)\n"
	"      --write-timeout S   a client that takes no part of the answer this long is\n"
	"                          dropped (OYS_WRITE_TIMEOUT, 10)\n"
	"      --drain-grace S     after /unregister, keep running new requests this long, while\n"
	"                          the load balancer takes the host out (OYS_DRAIN_GRACE, 0)\n"
	"  -k, --signing-key FILE  the enclave's key, which signs every answer (OYS_SIGNING_KEY,\n"
	"                          default $OYS_RUNTIME_DIR/signing.key; none there: unsigned)\n"
	"      --trust-no-peer     a client with no peer information at all (no UCSPI or socat\n"
	"                          variables: run by hand) may call /unregister and /register\n"
	"                          without a token, as loopback may (OYS_TRUST_NO_PEER=1)\n"
	"  -s, --store DIR|URL     the code store (OYS_STORE)\n"
	"      --prefix P          cgroup pool prefix (OYS_CGROUP_PREFIX, default workerd_)\n"
	"  -O, --outbound POLICY   functions' fetch(): none, public or CIDRs (OYS_OUTBOUND)\n"
	"A function's own settings (oys-store(1)) override those above, up to:\n"
	"      --max-memory SIZE   the most memory a function may ask for (OYS_MAX_MEMORY;\n"
	"                          default: --memory, else the pool's)\n"
	"      --max-cpu CORES     the most CPU (OYS_MAX_CPU; default: OYS_CPU, else the pool's)\n"
	"      --max-timeout S     the longest timeout (OYS_MAX_TIMEOUT; default: --timeout)\n"
	"      --outbound-allowed P  the outbound a function may ask for: none, public,\n"
	"                          private, CIDRs (OYS_OUTBOUND_ALLOWED; default: --outbound)\n"
	"                          Beyond them: 400 limit_exceeded, and nothing starts.\n"
	"      --log-format F      auto, human or json (OYS_LOG_FORMAT)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"Also read: OYS_RUNTIME_DIR, OYS_SHARE_DIR, OYS_ATTESTATION_URL, OYS_RPC_URL,\n"
	"OYS_CODE_CONTRACT, OYS_CHAIN_CONFIRMATIONS, OYS_COMPAT_DATE, OYS_CPU, OYS_WORKERD,\n"
	"OYS_ADMIN_TOKEN (required for /unregister and /register from anywhere but loopback;\n"
	"a VSOCK peer is never loopback).\n"
	"One JSON log line per request goes to stderr.\n";

enum {
	O_AGENT = 0x100, O_START, O_MAXBODY, O_MAXRESP, O_READTO, O_PREFIX, O_LOGFMT, O_GRACE, O_WRITETO,
	O_MAXCONN, O_TRUSTNOPEER, O_SBUID, O_MAXMEM, O_MAXCPU, O_MAXTIME, O_ALLOWED, O_FETCHTO,
};

static const struct option longopts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"agent", no_argument, NULL, O_AGENT},
	{"timeout", required_argument, NULL, 't'},
	{"start-timeout", required_argument, NULL, O_START},
	{"fetch-timeout", required_argument, NULL, O_FETCHTO},
	{"memory", required_argument, NULL, 'm'},
	{"max-body", required_argument, NULL, O_MAXBODY},
	{"max-response", required_argument, NULL, O_MAXRESP},
	{"read-timeout", required_argument, NULL, O_READTO},
	{"write-timeout", required_argument, NULL, O_WRITETO},
	{"max-connections", required_argument, NULL, O_MAXCONN},
	{"trust-no-peer", no_argument, NULL, O_TRUSTNOPEER},
	{"signing-key", required_argument, NULL, 'k'},
	{"drain-grace", required_argument, NULL, O_GRACE},
	{"store", required_argument, NULL, 's'},
	{"prefix", required_argument, NULL, O_PREFIX},
	{"outbound", required_argument, NULL, 'O'},
	{"log-format", required_argument, NULL, O_LOGFMT},
	{"sandbox-uid", required_argument, NULL, O_SBUID},
	{"max-memory", required_argument, NULL, O_MAXMEM},
	{"max-cpu", required_argument, NULL, O_MAXCPU},
	{"max-timeout", required_argument, NULL, O_MAXTIME},
	{"outbound-allowed", required_argument, NULL, O_ALLOWED},
	{0},
};

static const struct oys_complete complete[] = {
	{"store", ":dir"}, {"outbound", "none public"}, {"log-format", "auto human json"}, {"signing-key", ":file"},
	{"outbound-allowed", "none public private"}, {"max-memory", "128M 256M 512M"},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "l:t:m:s:O:k:", longopts, complete, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

static volatile int aborted;

static void on_signal(int sig)
{
	(void)sig;
	aborted = 1;
}

static void parse(int argc, char **argv, struct oys_serve_flags *f, const char **listen, int *agent)
{
	struct oys_opt o;
	int c;
	oys_opt_init(&o, argc, argv, &tool);
	while ((c = oys_getopt(&o, NULL)) != -1) {
		switch (c) {
		case 'l': *listen = optarg; break;
		case O_AGENT: *agent = 1; break;
		case 't': f->run.timeout = optarg; break;
		case O_START: f->run.start_timeout = optarg; break;
		case O_FETCHTO: f->run.fetch_timeout = optarg; break;
		case 'm': f->run.memory = optarg; break;
		case O_MAXBODY: f->max_body = optarg; break;
		case O_MAXRESP: f->run.max_response = optarg; break;
		case O_READTO: f->read_timeout = optarg; break;
		case O_WRITETO: f->write_timeout = optarg; break;
		case O_MAXCONN: f->max_connections = optarg; break;
		case O_TRUSTNOPEER: f->trust_no_peer = "1"; break;
		case 'k': f->signing_key = optarg; break;
		case O_GRACE: f->drain_grace = optarg; break;
		case O_SBUID: f->run.sandbox_uid = optarg; break;
		case 's': f->run.store = optarg; break;
		case O_PREFIX: f->run.prefix = optarg; break;
		case 'O': f->run.outbound = optarg; break;
		case O_MAXMEM: f->run.max_memory = optarg; break;
		case O_MAXCPU: f->run.max_cpu = optarg; break;
		case O_MAXTIME: f->run.max_timeout = optarg; break;
		case O_ALLOWED: f->run.outbound_allowed = optarg; break;
		case O_LOGFMT: oys_opt_log_format(optarg); break;
		}
	}
	if (optind < o.argc)
		oys_usage_error("unexpected argument '%s'", o.argv[optind]);
	oys_opt_free(&o);
}

int main(int argc, char **argv)
{
	static struct oys_serve_opts so;
	struct oys_serve_flags f = {0};
	struct oys_err e = {0};
	const char *listen = NULL;
	int agent = 0;

	parse(argc, argv, &f, &listen, &agent);
	struct oys_buf allowed = OYS_BUF_INIT;
	if (oys_conf_serve(&f, &so, &e) || oys_runtime_check(&e))
		oys_die_err(&e);
	if (oys_bundle_outbound_canon(so.run.max.outbound, &allowed, &e))
		oys_die(OYS_ECONFIG, "the outbound policies allowed (--outbound-allowed, OYS_OUTBOUND_ALLOWED): %s", e.msg);
	oys_buf_free(&allowed);
	so.in = STDIN_FILENO;
	so.out = STDOUT_FILENO;
	so.abort_flag = &aborted;
	so.run.abort_fd = -1;

	signal(SIGPIPE, SIG_IGN);
	if (agent) {
		struct oys_buf b = OYS_BUF_INIT;
		oys_serve_agent_reply(so.run.cgroup_prefix, &b);
		int r = oys_write_all(STDOUT_FILENO, b.data, b.len);
		oys_buf_free(&b);
		return r ? OYS_EIO : 0;
	}
	if (listen) {
		static char peer[128];
		int rc = oys_listen_fork(listen, so.max_connections, &e);
		if (rc == OYS_LISTEN_STOPPED)
			return 0;
		if (rc)
			oys_die_err(&e);
		/* in a child: one connection on stdin/stdout, served below; its peer is its own */
		oys_conf_peer(peer, sizeof peer);
		so.peer = peer;
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_signal; /* no SA_RESTART: a running function is stopped and cleaned up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return oys_serve_one(&so);
}
