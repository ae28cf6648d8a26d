/* oys-port: print a free TCP port. */
#include "../lib/err.h"
#include "../lib/log.h"
#include "../lib/opt.h"
#include "../lib/port.h"

#include <stdio.h>

static const char usage[] =
	"usage: oys-port [--host HOST]\n"
	"\n"
	"Prints a TCP port that is free on HOST (default 127.0.0.1) right now.\n"
	"Another process may take it before you use it; oys-run avoids that race by\n"
	"handing workerd an already-bound socket instead.\n"
	"\n"
	"  -H, --host HOST   address or name to bind (default 127.0.0.1)\n"
	"  -h, --help        this text\n"
	"      --version     the version\n";

static const struct option longopts[] = {
	{"host", required_argument, NULL, 'H'},
	{0},
};

static const struct oys_cmd cmd = {NULL, usage, "H:", longopts, NULL, NULL};
static const struct oys_tool tool = {NULL, &cmd, 1, NULL};

int main(int argc, char **argv)
{
	struct oys_opt o;
	struct oys_err e = {0};
	const char *host = NULL;
	int c;

	oys_opt_init(&o, argc, argv, &tool);
	while ((c = oys_getopt(&o, NULL)) != -1)
		if (c == 'H')
			host = optarg;
	if (optind < o.argc)
		oys_usage_error("unexpected argument '%s'", o.argv[optind]);
	oys_opt_free(&o);

	int port = oys_port_free(host, &e);
	if (port < 0)
		oys_die_err(&e);
	printf("%d\n", port);
	return fflush(stdout) == 0 ? 0 : OYS_EIO;
}
