/* paths.h: where a tool finds its templates and workerd, relative to its own binary so that
 * both the build tree (bin/) and an install (PREFIX/bin) work without configuration. */
#ifndef OYS_PATHS_H
#define OYS_PATHS_H

#include <stddef.h>

#include "err.h"

/* out = <share>/rel, which must exist. The share directory (the one holding templates/) is the
 * one oys_share_dir_set() was given (cmd/ resolves OYS_SHARE_DIR once, see conf.h), else
 * <exe>/../share/oys (installed), else <exe>/../share (build tree), where <exe> is the
 * directory of the running executable. */
int oys_share_path(const char *rel, char *out, size_t outsz, struct oys_err *e);
void oys_share_dir_set(const char *dir);

/* The workerd that comes with oys: <exe>/../libexec/oys/workerd (installed), else the
 * project's pinned copy <exe>/../deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd.
 * 0 and its path, or -1. oys_conf_workerd() (conf.h) adds OYS_WORKERD and PATH. */
int oys_workerd_beside(char *out, size_t outsz);

#endif
