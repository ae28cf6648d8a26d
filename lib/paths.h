/* paths.h: where a tool finds its templates and workerd, relative to its own binary so that
 * both the build tree (bin/) and an install (PREFIX/bin) work without configuration. */
#ifndef OYS_PATHS_H
#define OYS_PATHS_H

#include <stddef.h>

#include "err.h"

/* out = <share>/rel, which must exist. The share directory (the one holding templates/) is
 * $OYS_SHARE_DIR, else <exe>/../share/oys (installed), else <exe>/../share (build tree), where
 * <exe> is the directory of the running executable. */
int oys_share_path(const char *rel, char *out, size_t outsz, struct oys_err *e);

/* The workerd binary: $OYS_WORKERD, else <exe>/../libexec/oys/workerd (installed), else the
 * project's pinned copy <exe>/../deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd,
 * else workerd on PATH. Not found: OYS_ECONFIG with how to install it. */
int oys_workerd_path(char *out, size_t outsz, struct oys_err *e);

#endif
