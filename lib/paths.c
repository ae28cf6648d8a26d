#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory holding the running executable (from /proc/self/exe). */
static const char *oys_exe_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0])
		return dir;
	ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0) {
		snprintf(dir, sizeof dir, ".");
		return dir;
	}
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	return dir;
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_exec(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

static const char *share_dir;

void oys_share_dir_set(const char *dir)
{
	share_dir = dir && *dir ? dir : NULL;
}

/* The share directory: the one set, else <exe>/../share/oys (installed), else <exe>/../share
 * (build tree). */
static int find_share_dir(char *out, size_t outsz, struct oys_err *e)
{
	char probe[PATH_MAX + 16];
	if (share_dir) {
		snprintf(probe, sizeof probe, "%s/templates", share_dir);
		if (!is_dir(probe))
			return oys_err_set(e, OYS_ECONFIG, "OYS_SHARE_DIR %s has no templates directory",
			                   share_dir);
		snprintf(out, outsz, "%s", share_dir);
		return 0;
	}
	static const char *const rel[] = {"../share/oys", "../share"};
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		snprintf(probe, sizeof probe, "%s/%s/templates", oys_exe_dir(), rel[i]);
		if (is_dir(probe)) {
			snprintf(out, outsz, "%s/%s", oys_exe_dir(), rel[i]);
			return 0;
		}
	}
	return oys_err_set(e, OYS_ECONFIG, "cannot find the templates next to %s (set OYS_SHARE_DIR)",
	                   oys_exe_dir());
}

int oys_share_path(const char *rel, char *out, size_t outsz, struct oys_err *e)
{
	char dir[PATH_MAX];
	int rc = find_share_dir(dir, sizeof dir, e);
	if (rc)
		return rc;
	if ((size_t)snprintf(out, outsz, "%s/%s", dir, rel) >= outsz)
		return oys_err_set(e, OYS_ECONFIG, "%s/%s: path too long", dir, rel);
	if (access(out, R_OK) < 0)
		return oys_err_sys(e, OYS_ECONFIG, "template %s", out);
	return 0;
}

int oys_workerd_beside(char *out, size_t outsz)
{
	static const char *const rel[] = {
		"../libexec/oys/workerd",
		"../deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd",
	};
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		if ((size_t)snprintf(out, outsz, "%s/%s", oys_exe_dir(), rel[i]) < outsz && is_exec(out))
			return 0;
	}
	return -1;
}
