/* capnp.h: workerd configurations, rendered from the templates in share/templates. */
#ifndef OYS_CAPNP_H
#define OYS_CAPNP_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

/* The default compatibility date of generated configs (OYS_COMPAT_DATE overrides it). */
#define OYS_DEFAULT_COMPAT_DATE "2026-11-01"

enum oys_code_kind {
	OYS_CODE_AUTO,   /* detect from the bytes */
	OYS_CODE_ESM,    /* ES module: export default { fetch } */
	OYS_CODE_SW,     /* service-worker syntax: addEventListener("fetch", ...) */
	OYS_CODE_WASM,   /* a WebAssembly binary, run through the JS glue */
};

/* Wasm by its magic bytes "\0asm"; JS with export/import statements is a module; JS that
 * calls addEventListener without them is a service worker; anything else a module. */
enum oys_code_kind oys_code_detect(const char *buf, size_t len);
/* "module"/"esm", "service-worker"/"sw", "wasm", "auto"; returns 0 or -1. */
int oys_code_kind_parse(const char *s, enum oys_code_kind *out);

/* A module of a bundle, written to a file (bundle.h gives the types). */
struct oys_capnp_module {
	const char *name;             /* the name the worker imports it by (escaped here) */
	int type;                     /* enum oys_module_type */
	const char *path;             /* the file embedded */
};

/* A text binding: env.NAME (module syntax), a global (service-worker syntax); for Wasm, the
 * glue adds it to the WASI environment. */
struct oys_capnp_binding {
	const char *name, *value;
};

struct oys_capnp {
	enum oys_code_kind kind;      /* not AUTO: the caller detects */
	const char *code;             /* path of the code file (the main module) */
	const struct oys_capnp_module *modules; /* with kind ESM, not NULL: all the modules, main
	                               * first (code is then not used); NULL: code as worker.js */
	size_t nmodules;
	const struct oys_capnp_binding *bindings; /* the function's env */
	size_t nbindings;
	unsigned long long wasm_memory; /* the Wasm glue's memory cap, bytes; 0: 64 MiB */
	const char *config_dir;       /* where the config will be written; embeds are relative to
	                               * it (workerd resolves them so). NULL: the current directory */
	const char *host;             /* with port > 0: a fixed listening address */
	int port;
	const char *socket;           /* otherwise a named socket for --socket-fd (default "http") */
	const char *outbound;         /* "none" (default), "public", or a comma list of CIDRs */
	const char *compat_date;      /* YYYY-MM-DD; NULL: OYS_DEFAULT_COMPAT_DATE */
	const char *const *compat_flags;
	size_t ncompat_flags;
	const char *template_dir;     /* NULL: <share>/templates */
	const char *glue;             /* Wasm: the JS glue to embed; NULL: templates/wasm-glue.js
	                               * (oys-run embeds a copy in the request directory, which the
	                               * sandbox's user can read) */
};

/* Renders the config. Every value is validated or escaped: no file name, flag or CIDR can
 * close a string or add a line to the config. Errors: OYS_EUSAGE for bad values, OYS_ENOINPUT
 * for missing files, OYS_ECONFIG for a broken template. */
int oys_capnp_render(const struct oys_capnp *c, struct oys_buf *out, struct oys_err *e);

/* The config of a bundle (bundle.h): its modules written to files module-<i> in
 * c->config_dir (NULL: the current directory), its env as bindings, and its own compatibility
 * date, flags, outbound policy and Wasm memory over those of c (the host's). */
struct oys_bundle;
int oys_capnp_render_bundle(const struct oys_capnp *c, const struct oys_bundle *b, struct oys_buf *out,
                            struct oys_err *e);

/* The config of a warm sandbox (oys-warm): workerd serving the platform loader
 * (share/templates/warm-loader.capnp) on the named socket c->socket, with c->outbound as the
 * network its function gets. Uses config_dir, socket, outbound and template_dir of c. */
int oys_capnp_render_loader(const struct oys_capnp *c, struct oys_buf *out, struct oys_err *e);

/* A function's compatibility flag: a flag name, and neither "experimental" nor "unsafe*"
 * (functions never get experimental or unsafe features). 0 or OYS_EUSAGE. */
int oys_capnp_flag_check(const char *flag, struct oys_err *e);
/* 0, or OYS_EUSAGE when date is not YYYY-MM-DD. */
int oys_capnp_date_check(const char *date, struct oys_err *e);
/* An outbound policy checked as oys_capnp_render() checks it, but for the host's own
 * addresses (known only where it runs). 0 or OYS_EUSAGE. */
int oys_capnp_outbound_check(const char *spec, struct oys_err *e);

/* Appends s as a Cap'n Proto string literal (quoted, escaped). */
int oys_capnp_string(struct oys_buf *b, const char *s);

/* The path of `to` relative to directory `from` (both must exist). Returns 0 or -1. */
int oys_relpath(const char *from, const char *to, char *out, size_t outsz);

#endif
