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

/* The share directory: $OYS_SHARE_DIR, else <exe>/../share/oys (installed), else <exe>/../share
 * (build tree). */
static int oys_share_dir(char *out, size_t outsz, struct oys_err *e)
{
	const char *env = getenv("OYS_SHARE_DIR");
	char probe[PATH_MAX + 16];
	if (env && *env) {
		snprintf(probe, sizeof probe, "%s/templates", env);
		if (!is_dir(probe))
			return oys_err_set(e, OYS_ECONFIG, "OYS_SHARE_DIR %s has no templates directory", env);
		snprintf(out, outsz, "%s", env);
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
	int rc = oys_share_dir(dir, sizeof dir, e);
	if (rc)
		return rc;
	if ((size_t)snprintf(out, outsz, "%s/%s", dir, rel) >= outsz)
		return oys_err_set(e, OYS_ECONFIG, "%s/%s: path too long", dir, rel);
	if (access(out, R_OK) < 0)
		return oys_err_sys(e, OYS_ECONFIG, "template %s", out);
	return 0;
}

/* Searches PATH for an executable; returns 0 and the full path, or -1. */
static int oys_which(const char *name, char *out, size_t outsz)
{
	const char *path = getenv("PATH");
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && (size_t)snprintf(out, outsz, "%.*s/%s", (int)n, path, name) < outsz && is_exec(out))
			return 0;
		path += n;
		if (*path == ':')
			path++;
	}
	return -1;
}

int oys_workerd_path(char *out, size_t outsz, struct oys_err *e)
{
	const char *env = getenv("OYS_WORKERD");
	if (env && *env) {
		if (!is_exec(env))
			return oys_err_set(e, OYS_ECONFIG, "OYS_WORKERD %s is not an executable file", env);
		snprintf(out, outsz, "%s", env);
		return 0;
	}
	static const char *const rel[] = {
		"../libexec/oys/workerd",
		"../deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd",
	};
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		if ((size_t)snprintf(out, outsz, "%s/%s", oys_exe_dir(), rel[i]) < outsz && is_exec(out))
			return 0;
	}
	if (oys_which("workerd", out, outsz) == 0)
		return 0;
	return oys_err_set(e, OYS_ECONFIG,
	                   "workerd not found: run 'make deps' in the oys source tree to install the pinned "
	                   "copy, or set OYS_WORKERD to a workerd binary");
}
