/* oys_workerd_spawn on cgroup v2: workerd is created inside its cgroup by clone3 with
 * CLONE_INTO_CGROUP (nothing moves, so no cgroup.procs write and no RCU grace period on the
 * start's path), and serves on its Unix socket. Needs a writable cgroup v2 hierarchy, any
 * controllers (a hybrid host's /sys/fs/cgroup/unified will do); skipped otherwise. The
 * cgroup v1 path (the child moves itself in) is what every bats suite runs here. */
#include "tap.h"
#include "../../lib/cgroup-int.h"
#include "../../lib/file.h"
#include "../../lib/workerd.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char config[] =
	"using Workerd = import \"/workerd/workerd.capnp\";\n"
	"const config :Workerd.Config = (\n"
	"  services = [(name = \"main\", worker = (\n"
	"    modules = [(name = \"w.js\", esModule = \"export default { fetch() { return new Response('inside'); } }\")],\n"
	"    compatibilityDate = \"2024-09-01\"))],\n"
	"  sockets = [(name = \"http\", http = (), service = \"main\")],\n"
	");\n";

/* A writable cgroup2 mount, or "" */
static void v2_mount(char *out, size_t n)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	while (f && fgets(line, sizeof line, f)) {
		char mnt[512], fstype[64];
		const char *sep = strstr(line, " - ");
		if (sep == NULL || sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2") != 0 ||
		    sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
			continue;
		if (access(mnt, W_OK) == 0 && strlen(mnt) < n) {
			memcpy(out, mnt, strlen(mnt) + 1);
			break;
		}
	}
	if (f)
		fclose(f);
}

/* The pinned workerd: OYS_WORKERD, else deps/ above the build directory. */
static int find_workerd(char *out, size_t n)
{
	const char *env = getenv("OYS_WORKERD");
	if (env && access(env, X_OK) == 0)
		return snprintf(out, n, "%s", env) < (int)n ? 0 : -1;
	char exe[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (k <= 0)
		return -1;
	exe[k] = '\0';
	for (int up = 0; up < 5; up++) {
		char *slash = strrchr(exe, '/');
		if (slash == NULL)
			return -1;
		*slash = '\0';
		if (snprintf(out, n, "%s/deps/node_modules/@cloudflare/workerd-linux-64/bin/workerd", exe) < (int)n &&
		    access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

int main(void)
{
	char mnt[128], workerd[PATH_MAX];
	v2_mount(mnt, sizeof mnt);
	if (!mnt[0] || find_workerd(workerd, sizeof workerd) < 0) {
		printf("ok 1 # skip %s\n1..1\n", mnt[0] ? "no workerd (set OYS_WORKERD)" : "no writable cgroup v2 hierarchy");
		return 0;
	}
	char cgdir[200], name[64], tmp[] = "/tmp/oys-spawn-XXXXXX", path[PATH_MAX];
	snprintf(name, sizeof name, "oys-test-spawn-%d", (int)getpid());
	snprintf(cgdir, sizeof cgdir, "%s/%s", mnt, name);
	int mk = mkdir(cgdir, 0755);
	ok(mk == 0, "a v2 cgroup %s%s%s", cgdir, mk ? ": " : "", mk ? strerror(errno) : "");
	ok(mkdtemp(tmp) != NULL, "a directory for the config");
	snprintf(path, sizeof path, "%s/config.capnp", tmp);
	ok(oys_write_new(path, config, sizeof config - 1, 0600, NULL) == 0, "the config written");

	/* A v2 cgroup whose controllers the fallback path would move nothing into (no directory
	 * marked to write): only CLONE_INTO_CGROUP can put the child there. */
	struct oys_cgroup cg;
	memset(&cg, 0, sizeof cg);
	snprintf(cg.name, sizeof cg.name, "%s", name);
	cg.version = 2;
	cg.lockfd = -1;
	snprintf(P(&cg)->dir[D_MEM], sizeof P(&cg)->dir[D_MEM], "%s", cgdir);
	int fd = oys_cgroup_fd(&cg);
	ok(fd >= 0, "oys_cgroup_fd opens the v2 directory");
	if (fd >= 0)
		close(fd);

	char sock[PATH_MAX];
	snprintf(sock, sizeof sock, "%s/http.sock", tmp);
	struct oys_workerd_spawn s = {0};
	s.workerd = workerd;
	s.config = "config.capnp";
	s.dir = tmp;
	s.socket = sock;
	s.cg = &cg;
	struct oys_workerd w;
	struct oys_err e = {0};
	int rc = oys_workerd_spawn(&s, &w, &e);
	ok(rc == 0, "spawned (%s)", rc ? e.msg : "ok");
	if (rc == 0) {
		char want[700], got[4096] = "";
		snprintf(want, sizeof want, "0::/%s\n", name);
		snprintf(path, sizeof path, "/proc/%d/cgroup", (int)w.pid);
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(got, 1, sizeof got - 1, f) : 0;
		got[n] = '\0';
		if (f)
			fclose(f);
		const char *v2 = strstr(got, "\n0::");
		ok(strstr(got, want) != NULL, "workerd was born in the v2 cgroup (/proc/PID/cgroup says %.*s)",
		   v2 ? (int)strcspn(v2 + 1, "\n") : 4, v2 ? v2 + 1 : "none");

		int c = oys_workerd_connect(&w, &e);
		static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		struct pollfd p = {c, POLLOUT, 0};
		ok(c >= 0 && poll(&p, 1, 10000) == 1 && oys_write_all(c, req, sizeof req - 1) == 0, "connected");
		char resp[4096];
		size_t len = 0;
		double t0 = oys_now_ms();
		while (c >= 0 && len < sizeof resp - 1 && oys_now_ms() - t0 < 20000) {
			struct pollfd q = {c, POLLIN, 0};
			if (poll(&q, 1, 1000) <= 0)
				continue;
			ssize_t r = read(c, resp + len, sizeof resp - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
		resp[len] = '\0';
		ok(strncmp(resp, "HTTP/1.1 200", 12) == 0 && strstr(resp, "inside") != NULL, "it serves on its Unix socket");
		if (c >= 0)
			close(c);
		oys_workerd_free(&w);
		ok(access(sock, F_OK) < 0, "the socket is removed when it stops");
	}
	for (int i = 0; i < 100 && rmdir(cgdir) < 0 && errno == EBUSY; i++)
		usleep(10000);
	ok(access(cgdir, F_OK) < 0, "the test cgroup is removed");
	oys_rm_rf(tmp, NULL);
	return tap_done();
}
