#include "opt.h"
#include "conf.h"
#include "err.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef OYS_VERSION
#define OYS_VERSION "0.0.0"
#endif

void oys_usage_error(const char *fmt, ...)
{
	char msg[OYS_ERR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	oys_die(OYS_EUSAGE, "%s (see %s --help)", msg, oys_progname);
}

static _Noreturn void print_and_exit(const char *text)
{
	fputs(text, stdout);
	exit(fflush(stdout) == 0 ? 0 : OYS_EIO);
}

static _Noreturn void version(void)
{
	printf("%s %s\n", oys_progname, OYS_VERSION);
	exit(fflush(stdout) == 0 ? 0 : OYS_EIO);
}

static const struct oys_cmd *find_cmd(const struct oys_tool *t, const char *name)
{
	for (size_t i = 0; i < t->ncmds; i++)
		if (t->cmds[i].name && strcmp(t->cmds[i].name, name) == 0)
			return &t->cmds[i];
	return NULL;
}

static int has_subcommands(const struct oys_tool *t)
{
	return t->ncmds > 0 && t->cmds[0].name != NULL;
}

/* The option struct for "--name" or "-c" in a command's table, or NULL. */
static const struct option *lookup_opt(const struct oys_cmd *c, const char *word)
{
	if (c == NULL || c->longopts == NULL)
		return NULL;
	if (word[0] == '-' && word[1] == '-') {
		const char *name = word + 2;
		size_t n = strcspn(name, "=");
		for (const struct option *o = c->longopts; o->name; o++)
			if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
				return o;
	} else if (word[0] == '-' && word[1] && !word[2]) {
		for (const struct option *o = c->longopts; o->name; o++)
			if (o->flag == NULL && o->val == word[1])
				return o;
	}
	return NULL;
}

static const char *value_words(const struct oys_cmd *c, const char *opt)
{
	if (c && c->complete)
		for (const struct oys_complete *k = c->complete; k->opt; k++)
			if (strcmp(k->opt, opt) == 0)
				return k->words;
	return NULL;
}

static void print_words(const char *words)
{
	if (words == NULL)
		return;
	if (words[0] == ':') {
		puts(words);
		return;
	}
	const char *p = words;
	while (*p) {
		size_t n = strcspn(p, " ");
		if (n)
			printf("%.*s\n", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
}

/* TOOL --complete WORD... : the candidates for the last WORD, one per line. */
static _Noreturn void complete(const struct oys_tool *t, int nwords, char **words)
{
	const char *cur = nwords > 0 ? words[nwords - 1] : "";
	const struct oys_cmd *c = has_subcommands(t) ? NULL : &t->cmds[0];
	int npos = 0;
	for (int i = 0; i < nwords - 1; i++) {
		if (c == NULL && words[i][0] != '-') {
			c = find_cmd(t, words[i]);
			continue;
		}
		if (words[i][0] != '-')
			npos++;
	}
	if (c == NULL && t->default_cmd && (cur[0] == '-' || nwords > 1))
		c = find_cmd(t, t->default_cmd);

	const char *prev = nwords > 1 ? words[nwords - 2] : "";
	const struct option *po = lookup_opt(c, prev);
	if (po && po->has_arg == required_argument && !strchr(prev, '=')) {
		const char *w = value_words(c, po->name);
		print_words(w ? w : ":none");
	} else if (cur[0] == '-') {
		if (c && c->longopts)
			for (const struct option *o = c->longopts; o->name; o++)
				printf("--%s\n", o->name);
		puts("--help");
		if (c == NULL || c == &t->cmds[0] || !has_subcommands(t))
			puts("--version");
	} else if (c == NULL) {
		for (size_t i = 0; i < t->ncmds; i++)
			puts(t->cmds[i].name);
	} else if (c->complete_args) {
		c->complete_args();
	} else {
		const char *w = value_words(c, "");
		print_words(w ? w : ":none");
	}
	(void)npos;
	exit(fflush(stdout) == 0 ? 0 : OYS_EIO);
}

static void merge(struct oys_opt *o)
{
	const struct oys_cmd *c = o->cmd;
	size_t n = 0;
	if (c->longopts)
		while (c->longopts[n].name)
			n++;
	o->longopts = calloc(n + 3, sizeof *o->longopts);
	const char *s = c->shortopts ? c->shortopts : "";
	o->shortopts = malloc(strlen(s) + 3);
	if (o->longopts == NULL || o->shortopts == NULL)
		oys_die(OYS_EOSERR, "out of memory");
	if (n)
		memcpy(o->longopts, c->longopts, n * sizeof *o->longopts);
	o->longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
	o->longopts[n + 1] = (struct option){"version", no_argument, NULL, 0x7f01};
	/* Leading ':' makes getopt report a missing value as ':' rather than '?'. */
	snprintf(o->shortopts, strlen(s) + 3, ":%sh", s);
}

void oys_opt_init(struct oys_opt *o, int argc, char **argv, const struct oys_tool *t)
{
	oys_set_progname(argv[0]);
	oys_conf_process();

	if (argc >= 2 && strcmp(argv[1], "--complete") == 0)
		complete(t, argc - 2, argv + 2);

	memset(o, 0, sizeof *o);
	o->argc = argc;
	o->argv = argv;
	if (!has_subcommands(t)) {
		o->cmd = &t->cmds[0];
	} else {
		const struct oys_cmd *c = argc >= 2 ? find_cmd(t, argv[1]) : NULL;
		if (c) {
			o->argc = argc - 1;
			o->argv = argv + 1;
		} else if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			print_and_exit(t->usage);
		} else if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
			version();
		} else if (t->default_cmd && (argc < 2 || argv[1][0] == '-')) {
			c = find_cmd(t, t->default_cmd);
		} else if (argc < 2) {
			fputs(t->usage, stderr);
			exit(OYS_EUSAGE);
		} else if (argv[1][0] == '-') {
			oys_usage_error("unknown option %s", argv[1]);
		} else {
			oys_usage_error("unknown command '%s'", argv[1]);
		}
		o->cmd = c;
	}
	merge(o);
	optind = 1;
	opterr = 0;
}

int oys_getopt(struct oys_opt *o, int *longindex)
{
	int li = -1;
	int c = getopt_long(o->argc, o->argv, o->shortopts, o->longopts, &li);
	if (longindex)
		*longindex = li;
	switch (c) {
	case 'h':
		print_and_exit(o->cmd->usage);
	case 0x7f01:
		version();
	case ':': {
		const char *arg = o->argv[optind - 1];
		if (strncmp(arg, "--", 2) == 0)
			oys_usage_error("option %.*s needs a value", (int)strcspn(arg, "="), arg);
		oys_usage_error("option -%c needs a value", optopt);
	}
	case '?':
		if (optopt)
			oys_usage_error("unknown option -%c", optopt);
		oys_usage_error("unknown option %s", o->argv[optind - 1]);
	default:
		return c;
	}
}

void oys_opt_free(struct oys_opt *o)
{
	free(o->longopts);
	free(o->shortopts);
	o->longopts = NULL;
	o->shortopts = NULL;
}

void oys_opt_log_format(const char *s)
{
	enum oys_log_format lf;
	if (oys_log_parse_format(s, &lf) < 0)
		oys_usage_error("--log-format: '%s' is not auto, human or json", s);
	oys_log_set_format(lf);
}

long oys_opt_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		oys_usage_error("%s: '%s' is not a whole number from %ld to %ld", opt, s, min, max);
	return v;
}

double oys_opt_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		oys_usage_error("%s: '%s' is not a number from %g to %g", opt, s, min, max);
	return v;
}

int oys_parse_size(const char *s, unsigned long long *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -1;
	}
	if (shift && (*end == 'i' || *end == 'B'))
		end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || (shift && v > (ULLONG_MAX >> shift)))
		return -1;
	*out = v << shift;
	return 0;
}

unsigned long long oys_opt_size(const char *opt, const char *s)
{
	unsigned long long v;
	if (oys_parse_size(s, &v) < 0)
		oys_usage_error("%s: '%s' is not a size (like 65536, 512K, 128M, 1G)", opt, s);
	return v;
}

