/* opt.h: the command line every tool shares.
 *
 * A tool describes itself in a table (usage text, getopt_long options, value completions,
 * optional subcommands); this module handles --help, --version, --complete (which the bash and
 * zsh completions call, so they cannot drift from the code) and usage errors (one line, exit 64). */
#ifndef OYS_OPT_H
#define OYS_OPT_H

#include <getopt.h>
#include <stddef.h>

/* Value completion for an option (long name without dashes) or, with opt "", for the
 * positional arguments. words: space-separated candidates, or ":file", ":dir" for the shell's
 * own file completion, or ":none". */
struct oys_complete {
	const char *opt;
	const char *words;
};

struct oys_cmd {
	const char *name;                   /* subcommand; NULL for a tool without subcommands */
	const char *usage;                  /* the whole --help text, SYNOPSIS first */
	const char *shortopts;              /* getopt string, without 'h' (added) */
	const struct option *longopts;      /* {0} terminated, without help/version (added) */
	const struct oys_complete *complete; /* {0} terminated, may be NULL */
	/* Prints candidates for positional arguments (e.g. cgroup names), may be NULL. */
	void (*complete_args)(void);
};

struct oys_tool {
	const char *usage;           /* top-level help of a tool with subcommands, else NULL */
	const struct oys_cmd *cmds;  /* one entry with name NULL, or the subcommands */
	size_t ncmds;
	const char *default_cmd;     /* subcommand used when none is named, or NULL */
};

struct oys_opt {
	int argc;                    /* argv of the (sub)command: argv[0] is its name */
	char **argv;
	const struct oys_cmd *cmd;
	struct option *longopts;     /* merged with help/version */
	char *shortopts;
};

/* Sets the program name, answers --complete and top-level --help/--version (exiting), picks the
 * subcommand. Exits 64 with a one-line message on an unknown subcommand. */
void oys_opt_init(struct oys_opt *o, int argc, char **argv, const struct oys_tool *tool);
/* getopt_long over the (sub)command's options. Handles -h/--help and --version itself, turns
 * unknown options and missing values into "prog: unknown option --x" and exit 64. Returns the
 * option's value or -1 at the end of options (optind is then the first operand). */
int oys_getopt(struct oys_opt *o, int *longindex);
void oys_opt_free(struct oys_opt *o);

/* Usage error: one line and exit 64. */
_Noreturn void oys_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parsers for option values; each exits 64 with a one-line message naming the option. */
/* --log-format: sets the log format (auto, human or json). */
void oys_opt_log_format(const char *s);
long oys_opt_long(const char *opt, const char *s, long min, long max);
double oys_opt_double(const char *opt, const char *s, double min, double max);
/* Sizes: "128M", "1G", "65536", "512K" (powers of 1024). */
unsigned long long oys_opt_size(const char *opt, const char *s);
/* Same without exiting: returns 0, or -1 when s is not a size. */
int oys_parse_size(const char *s, unsigned long long *out);


#endif
