/* oys-serve: one HTTP request from stdin, its answer on stdout (inetd-style, behind socat). */
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
	"  socat TCP-LISTEN:6000,bind=127.0.0.1,reuseaddr,fork EXEC:oys-serve\n"
	"  socat VSOCK-LISTEN:6000,reuseaddr,fork EXEC:oys-serve      (in an enclave)\n"
	"Endpoints: POST /api/serverless {\"code_id\", \"input\"}, ANY /fn/<code_id>/..., GET /healthz,\n"
	"GET /status, GET /metrics, POST /unregister (drain), POST /register (undrain).\n"
	"\n"
	"  -l, --listen ADDR       accept connections on ADDR (HOST:PORT) and fork per\n"
	"                          connection, without socat\n"
	"      --agent             answer one HAProxy agent-check (free capacity) and exit\n"
	"  -t, --timeout S         execution timeout, seconds (OYS_TIMEOUT, default 10)\n"
	"      --start-timeout S   time workerd may take to start (default 10)\n"
	"  -m, --memory SIZE       memory limit per function (OYS_MEMORY; default: the pool's)\n"
	"      --max-body SIZE     largest request body (OYS_MAX_BODY, default 1M)\n"
	"      --max-response SIZE largest function response (OYS_MAX_RESPONSE, default 16M)\n"
	"      --read-timeout S    time a client has to send its request (OYS_READ_TIMEOUT, 10)\n"
	"      --drain-grace S     after /unregister, keep running new requests this long, while\n"
	"                          the load balancer takes the host out (OYS_DRAIN_GRACE, 0)\n"
	"  -s, --store DIR|URL     the code store (OYS_STORE)\n"
	"      --prefix P          cgroup pool prefix (OYS_CGROUP_PREFIX, default workerd_)\n"
	"  -O, --outbound POLICY   functions' fetch(): none, public or CIDRs (OYS_OUTBOUND)\n"
	"      --log-format F      auto, human or json (OYS_LOG_FORMAT)\n"
	"  -h, --help              this text\n"
	"      --version           the version\n"
	"\n"
	"Also read: OYS_RUNTIME_DIR, OYS_ATTESTATION_URL, OYS_RPC_URL, OYS_CODE_CONTRACT,\n"
	"OYS_CHAIN_CONFIRMATIONS,\n"
	"OYS_COMPAT_DATE, OYS_WORKERD, OYS_ADMIN_TOKEN (required for /unregister and /register\n"
	"from anywhere but loopback). One JSON log line per request goes to stderr.\n";

enum { O_AGENT = 0x100, O_START, O_MAXBODY, O_MAXRESP, O_READTO, O_PREFIX, O_LOGFMT, O_GRACE };

static const struct option longopts[] = {
	{"listen", required_argument, NULL, 'l'},
	{"agent", no_argument, NULL, O_AGENT},
	{"timeout", required_argument, NULL, 't'},
	{"start-timeout", required_argument, NULL, O_START},
	{"memory", required_argument, NULL, 'm'},
	{"max-body", required_argument, NULL, O_MAXBODY},
	{"max-response", required_argument, NULL, O_MAXRESP},
	{"read-timeout", required_argument, NULL, O_READTO},
	{"drain-grace", required_argument, NULL, O_GRACE},
	{"store", required_argument, NULL, 's'},
	{"prefix", required_argument, NULL, O_PREFIX},
	{"outbound", required_argument, NULL, 'O'},
	{"log-format", required_argument, NULL, O_LOGFMT},
	{0},
};

static const struct oys_complete complete[] = {
	{"store", ":dir"}, {"outbound", "none public"}, {"log-format", "auto human json"},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "l:t:m:s:O:", longopts, complete, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

static volatile int aborted;

static void on_signal(int sig)
{
	(void)sig;
	aborted = 1;
}

static double seconds(const char *opt, const char *v)
{
	return oys_opt_double(opt, v, 0.001, 86400);
}

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_serve_opts so;
	memset(&so, 0, sizeof so);
	so.http = (struct oys_http_limits)OYS_HTTP_LIMITS_DEFAULT;
	const char *listen = NULL, *timeout = NULL, *memory = NULL, *maxbody = NULL, *maxresp = NULL,
	           *readto = NULL, *grace = NULL;
	int agent = 0, c;

	oys_opt_init(&o, argc, argv, &tool);
	while ((c = oys_getopt(&o, NULL)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case O_AGENT: agent = 1; break;
		case 't': timeout = optarg; break;
		case O_START: so.run.start_timeout_ms = (int)(seconds("--start-timeout", optarg) * 1000); break;
		case 'm': memory = optarg; break;
		case O_MAXBODY: maxbody = optarg; break;
		case O_MAXRESP: maxresp = optarg; break;
		case O_READTO: readto = optarg; break;
		case O_GRACE: grace = optarg; break;
		case 's': so.run.store = optarg; break;
		case O_PREFIX: so.run.cgroup_prefix = optarg; break;
		case 'O': so.run.outbound = optarg; break;
		case O_LOGFMT: {
			enum oys_log_format f;
			if (oys_log_parse_format(optarg, &f) < 0)
				oys_usage_error("--log-format: '%s' is not auto, human or json", optarg);
			oys_log_set_format(f);
			break;
		}
		}
	}
	if (optind < o.argc)
		oys_usage_error("unexpected argument '%s'", o.argv[optind]);
	oys_opt_free(&o);

	if ((timeout = oys_conf(timeout, "OYS_TIMEOUT", NULL)))
		so.run.timeout_ms = (int)(seconds("--timeout", timeout) * 1000);
	if ((memory = oys_conf(memory, "OYS_MEMORY", NULL)))
		so.run.limits.memory = oys_opt_size("--memory", memory);
	if ((maxbody = oys_conf(maxbody, "OYS_MAX_BODY", NULL)))
		so.http.max_body = (size_t)oys_opt_size("--max-body", maxbody);
	if ((maxresp = oys_conf(maxresp, "OYS_MAX_RESPONSE", NULL)))
		so.run.max_response = (size_t)oys_opt_size("--max-response", maxresp);
	if ((readto = oys_conf(readto, "OYS_READ_TIMEOUT", NULL))) {
		so.http.head_timeout_ms = (int)(seconds("--read-timeout", readto) * 1000);
		so.http.body_timeout_ms = so.http.head_timeout_ms;
	}
	if ((grace = oys_conf(grace, "OYS_DRAIN_GRACE", NULL)))
		so.drain_grace_ms = (int)(oys_opt_double("--drain-grace", grace, 0, 3600) * 1000);
	const char *confirm = oys_conf(NULL, "OYS_CHAIN_CONFIRMATIONS", NULL);
	if (confirm)
		so.run.confirmations = (unsigned)oys_opt_long("OYS_CHAIN_CONFIRMATIONS", confirm, 1, 1000000);
	so.admin_token = getenv("OYS_ADMIN_TOKEN");
	so.in = STDIN_FILENO;
	so.out = STDOUT_FILENO;
	so.abort_flag = &aborted;
	so.run.abort_fd = -1;

	signal(SIGPIPE, SIG_IGN);
	if (agent) {
		struct oys_buf b = OYS_BUF_INIT;
		oys_serve_agent_reply(oys_conf(so.run.cgroup_prefix, "OYS_CGROUP_PREFIX", "workerd_"), &b);
		int r = oys_write_all(STDOUT_FILENO, b.data, b.len);
		oys_buf_free(&b);
		return r ? OYS_EIO : 0;
	}
	if (listen) {
		struct oys_err e = {0};
		int rc = oys_listen_fork(listen, 0, &e);
		if (rc == OYS_LISTEN_STOPPED)
			return 0;
		if (rc)
			oys_die_err(&e);
		/* in a child: one connection on stdin/stdout, served below */
	}
	struct sigaction sa = {0};
	sa.sa_handler = on_signal; /* no SA_RESTART: a running function is stopped and cleaned up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	return oys_serve_one(&so);
}
