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

struct oys_capnp {
	enum oys_code_kind kind;      /* not AUTO: the caller detects */
	const char *code;             /* path of the code file */
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

/* Appends s as a Cap'n Proto string literal (quoted, escaped). */
int oys_capnp_string(struct oys_buf *b, const char *s);

/* The path of `to` relative to directory `from` (both must exist). Returns 0 or -1. */
int oys_relpath(const char *from, const char *to, char *out, size_t outsz);

#endif
