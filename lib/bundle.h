/* bundle.h: a function is a bundle: its modules (ES modules, CommonJS, a service-worker
 * script, Wasm, JSON, text, data) plus its settings (main, compatibility date and flags,
 * memory, CPU, timeout, outbound policy, env). Its code id is the SHA-256 of one canonical
 * serialisation, so the settings are as tamper-proof as the code: whatever a store, a storage
 * server or calldata holds is that byte string, and every source's hash check covers it.
 *
 * Two forms (oys(7) documents both byte by byte):
 *  - plain: a single file with no settings, exactly as oys has always stored it: a module
 *    named worker.js (JavaScript, its syntax detected) or function.wasm (starts with "\0asm").
 *    Its id is the SHA-256 of the file, as before.
 *  - serialised: everything else, starting with the magic "\0oys" and a version byte (no
 *    JavaScript source and no Wasm module starts so), then records in a fixed order:
 *
 *      tag  record                  body                              occurs
 *      01   main                    str                               once, first
 *      02   compatibility_date      str  YYYY-MM-DD                   at most once
 *      03   compatibility_flag      str                               any, names ascending
 *      04   memory                  u64  bytes                        at most once
 *      05   cpu                     u32  thousandths of a core        at most once
 *      06   timeout                 u32  milliseconds                 at most once
 *      07   outbound                str  canonical policy             at most once
 *      08   env                     str name, str value               any, names ascending
 *      09   module                  str name, u8 type, str content    at least one, names
 *                                                                     ascending
 *
 *    str is a u32 length and that many bytes; integers are big-endian; tags ascend; the input
 *    ends with the last module. "Ascending" is bytewise and strict, so there are no
 *    duplicates. A bundle that has the plain form (no settings but main, one module fit to be
 *    plain) is never serialised: one bundle, one byte string.
 *
 * lib/bundle.c reads and writes the format (no I/O, no JSON: what the fuzz target links);
 * lib/bundlemk.c makes a bundle from a file or a directory with its oys.json and the
 * command line, prints its manifest, unpacks it. */
#ifndef OYS_BUNDLE_H
#define OYS_BUNDLE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

#define OYS_BUNDLE_MAGIC "\0oys"
#define OYS_BUNDLE_MAGIC_LEN 4
#define OYS_BUNDLE_VERSION 1

/* Bounds of what a bundle may hold (oys(7)). */
#define OYS_BUNDLE_MAX_MODULES 1024
#define OYS_BUNDLE_MAX_NAME 128          /* bytes of a module name */
#define OYS_BUNDLE_MAX_FLAGS 64
#define OYS_BUNDLE_MAX_FLAG 64           /* bytes of a flag */
#define OYS_BUNDLE_MAX_ENV 128
#define OYS_BUNDLE_MAX_ENV_NAME 64
#define OYS_BUNDLE_MAX_ENV_VALUE 65536
#define OYS_BUNDLE_MAX_OUTBOUND 4096
#define OYS_BUNDLE_MIN_MEMORY (1ULL << 20)
#define OYS_BUNDLE_MAX_MEMORY (1ULL << 40)
#define OYS_BUNDLE_MIN_CPU 10            /* thousandths of a core: 0.01 */
#define OYS_BUNDLE_MAX_CPU 1024000       /* 1024 cores */
#define OYS_BUNDLE_MAX_TIMEOUT 86400000  /* ms: a day */

/* The byte of a module record that says what the module is. */
enum oys_module_type {
	OYS_MOD_ESM = 1,   /* ES module (import/export) */
	OYS_MOD_CJS = 2,   /* CommonJS module (require) */
	OYS_MOD_SW = 3,    /* a service-worker script (addEventListener): main only, alone */
	OYS_MOD_WASM = 4,  /* a compiled Wasm module: imported as a WebAssembly.Module, or as main
	                      run alone through the WASI glue */
	OYS_MOD_JSON = 5,  /* imported as the parsed value */
	OYS_MOD_TEXT = 6,  /* imported as a string */
	OYS_MOD_DATA = 7,  /* imported as an ArrayBuffer */
};

/* "esm", "cjs", "sw", "wasm", "json", "text", "data"; NULL for anything else. */
const char *oys_module_type_name(int type);
/* The reverse; 0 or -1. */
int oys_module_type_parse(const char *s, enum oys_module_type *out);

struct oys_bundle_module {
	const char *name;        /* NUL-terminated */
	enum oys_module_type type;
	const char *data;        /* the content (it points into the parsed bytes) */
	size_t len;
};

struct oys_bundle_env {
	const char *name, *value; /* NUL-terminated */
};

/* The settings; 0 or NULL: not set (the host's default applies). */
struct oys_bundle_settings {
	const char *compat_date;
	const char *const *compat_flags;
	size_t ncompat_flags;
	unsigned long long memory;     /* bytes */
	unsigned cpu_milli;            /* thousandths of a core */
	unsigned timeout_ms;
	const char *outbound;          /* canonical (oys_bundle_outbound_canon) */
};

struct oys_bundle {
	int plain;                        /* the plain form (one file, no settings) */
	const char *main;                 /* the name of the main module */
	struct oys_bundle_settings s;
	struct oys_bundle_module *modules; /* ascending by name */
	size_t nmodules;
	struct oys_bundle_env *env;       /* ascending by name */
	size_t nenv;
	/* private: what the strings live in */
	char *arena_;
	const char **flags_;
};

/* Reads a bundle (either form) from data, which must outlive b (module contents point into
 * it). Everything is checked: structure, bounds, order, names, values, types (text modules
 * are UTF-8 without NUL, Wasm starts with its magic), main, the canonical form, and
 * compatibility flags that are never allowed (experimental, unsafe_*). Errors: OYS_EDATA
 * naming the record or the key, e.g. "bundle: compatibility_flag: 'experimental' is not
 * allowed: ...", "bundle: module 'a.js': ...". Out of memory: OYS_EOSERR. */
int oys_bundle_parse(const void *data, size_t len, struct oys_bundle *b, struct oys_err *e);
void oys_bundle_free(struct oys_bundle *b);

/* Serialises b canonically into out (appended): sorts its modules, env and flags (b's own
 * arrays are left as they are), chooses the plain form when it applies, and checks the result
 * with oys_bundle_parse(), so nothing is written that a run would refuse. The SHA-256 of
 * what it appends is the bundle's code id. Errors as oys_bundle_parse(). */
int oys_bundle_serialise(const struct oys_bundle *b, struct oys_buf *out, struct oys_err *e);

/* ---- values, shared by the parser, the maker and the command line ---- */

/* A module name: 1-128 bytes of A-Z a-z 0-9 _ . - and /, starting with a letter, digit or
 * '_', made of path components that are neither empty, "." nor "..", not starting with
 * "oys-" (the platform's). 0 or -1. */
int oys_bundle_module_name_ok(const char *name, size_t len);
/* An env name: an identifier (A-Z a-z 0-9 _, not starting with a digit), 1-64 bytes, not
 * starting with OYS_ (the platform's). 0 or -1. */
int oys_bundle_env_name_ok(const char *name, size_t len);
/* The canonical form of an outbound policy: "none", "public", or its entries (public,
 * private, CIDRs with their addresses as inet_ntop writes them and an explicit prefix
 * length) ascending, without duplicates, joined by ','. Checks the policy as a run would,
 * but for the host's own addresses (known only where it runs). OYS_EDATA when bad. */
int oys_bundle_outbound_canon(const char *spec, struct oys_buf *out, struct oys_err *e);

/* ---- against the host ---- */

/* What a host lets a function ask for (oys_conf_run() fills it: OYS_MAX_MEMORY, OYS_MAX_CPU,
 * OYS_MAX_TIMEOUT, OYS_OUTBOUND_ALLOWED). */
struct oys_bundle_max {
	unsigned long long memory;   /* bytes */
	double cpu;                  /* cores */
	int timeout_ms;
	const char *outbound;        /* the entries a function may ask for: none, public, private,
	                                CIDRs (an asked CIDR must lie inside one); "none" is always
	                                allowed */
};

/* Whether b asks for no more than m allows. OYS_ENOPERM naming the setting and both values:
 * "memory: the function asks for 512 MiB, this host allows at most 256 MiB (OYS_MAX_MEMORY)". */
int oys_bundle_within(const struct oys_bundle *b, const struct oys_bundle_max *m, struct oys_err *e);

/* Appends a size as the largest unit that divides it: "64M", "1G", "1536K", "1000". */
int oys_bundle_size_text(struct oys_buf *b, unsigned long long bytes);

/* ---- making bundles (bundlemk.c) ---- */

/* The settings of a command line (oys-store put, oys-run --code), as given; NULL or 0: not
 * given. They override those of the directory's oys.json (env per name). */
struct oys_bundle_flags {
	const char *main, *compat_date, *memory, *cpu, *timeout, *outbound;
	const char *const *compat_flags;   /* replace the manifest's list */
	size_t ncompat_flags;
	const char *const *env;            /* "NAME=VALUE" */
	size_t nenv;
};

/* Whether any setting is given. */
int oys_bundle_flags_any(const struct oys_bundle_flags *f);

/* Makes the bundle of path: a directory (its files, but hidden ones and oys.json, as modules
 * named by their path in it; DIR/oys.json gives settings and module types), a file, or "-"
 * (standard input). A file that is already a serialised bundle is taken as that bundle. f
 * (may be NULL) overrides. The result, checked and canonical, is appended to out: the bytes
 * to store, whose SHA-256 is the id. max bounds the bytes read (0: the store's default).
 * Errors: OYS_ENOINPUT (no such path), OYS_EDATA naming the key ("--memory: 'lots' is not a
 * size", "DIR/oys.json: unknown key 'foo'", "main: 'x.js' is not a module of the bundle"),
 * OYS_EIO. */
int oys_bundle_make(const char *path, const struct oys_bundle_flags *f, size_t max, struct oys_buf *out,
                    struct oys_err *e);

/* The same from bytes already read (what names them in messages); data must outlive nothing
 * (out holds the result). */
int oys_bundle_make_bytes(const char *data, size_t len, const char *what, const struct oys_bundle_flags *f,
                          struct oys_buf *out, struct oys_err *e);

/* The bundle's settings as the JSON text of an oys.json, with "modules" giving every module's
 * type; env values included (it is the owner's view, not a log). Appended to out, with a
 * newline. */
int oys_bundle_manifest(const struct oys_bundle *b, struct oys_buf *out, struct oys_err *e);

/* Writes the bundle into dir (created; it must not exist or be empty): each module as a file
 * named by its name, and oys.json unless the bundle is plain. oys_bundle_make(dir) gives the
 * same bundle back. */
int oys_bundle_unpack(const struct oys_bundle *b, const char *dir, struct oys_err *e);

#endif
