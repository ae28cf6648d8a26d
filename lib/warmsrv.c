/* warmsrv.c: oys-warm's pool of pre-started single-use sandboxes (warm.h).
 *
 * One loop, one poll, s6-supervise's way: every signal (through a signalfd), every control
 * connection, and per sandbox its workerd's pidfd and output, its readiness probe and its claim.
 * A sandbox goes
 *
 *   EMPTY --start--> STARTING --probe answered--> READY --claimed--> BUSY
 *     ^                 |  (exit, timeout)           | (exit)           | (claim closed, TTL)
 *     +------- teardown: workerd killed and reaped, cgroup emptied and released, files gone
 *
 * and EMPTY starts again at once after a claim, after a delay after a failed start.
 *
 * A sandbox starts at a lower CPU priority (nice +10) than the requests: under load, a running
 * function gets the CPU before a replacement's start. Claimed, its threads get oys-warm's
 * own priority back. */
#include "warm.h"
#include "capnp.h"
#include "file.h"
#include "netns.h"
#include "paths.h"
#include "sandbox.h"
#include "workerd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONNS 256           /* control connections that have not claimed (yet) */
#define RESERVE_RETRY_MS 50     /* no free cgroup for a sandbox: look again this soon */
#define FAIL_DELAY_MS 1000      /* after a failed start; doubled for each failure in a row */
#define FAIL_DELAY_MAX_MS 30000
#define START_NICE 10           /* added to a starting sandbox's priority */
#define PROBE "GET /oys-ready HTTP/1.1\r\nHost: localhost\r\nX-Oys-Loader: ready\r\nConnection: close\r\n\r\n"

enum state { EMPTY, STARTING, READY, BUSY };
static const char *const state_name[] = {"empty", "starting", "ready", "busy"};

struct slot {
	int policy;                 /* index into the options' policies */
	enum state state;
	struct oys_cgroup cg;       /* reserved from STARTING to the teardown */
	struct oys_workerd w;       /* pid, pidfd, outfd; its start output in w.console */
	char dir[PATH_MAX];
	char sock[108];
	int probe;                  /* the readiness probe's connection */
	size_t probe_sent;
	char probe_in[64];
	size_t probe_got;
	int ctl;                    /* the claim, while BUSY */
	double deadline;            /* STARTING: ready by then; BUSY: the claim's TTL; EMPTY: start then */
	int failures;               /* failed starts in a row */
	double t_start;
	unsigned long long ready_memory; /* cgroup memory when it became ready */
	int low_weight;             /* its cgroup has the low CPU weight (starting) */
};

struct conn {
	int fd;
	int waiting;                /* a claim waiting for a sandbox */
	int policy;
	int ttl_ms;
	double deadline;
	double since;
};

struct pool {
	const struct oys_warm_opts *o;
	struct slot *slots;
	struct conn conns[MAX_CONNS];
	int nconns;
	int lfd, sigfd, lockfd;
	char dir[PATH_MAX], ctl_path[PATH_MAX], lock_path[PATH_MAX];
	int stopping;
	double stop_deadline;
	unsigned long long served, failures;
	int reserve_blocked;        /* logged once until a reservation succeeds again */
	int nice;                   /* oys-warm's own priority, which claimed sandboxes get */
	int can_nice;               /* root: may give it back after a start */
};

/* ---- events ---- */

static void event(const char *what, jv fields)
{
	fields = oys_json_set_str(fields, "event", what);
	oys_log_event(fields);
}

/* ---- one sandbox ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Kills and reaps workerd, empties and releases the cgroup, removes the files. */
static void teardown(struct slot *s)
{
	close_fd(&s->probe);
	close_fd(&s->ctl);
	oys_workerd_free(&s->w); /* kills the process group, reaps it (bounded) */
	s->w = (struct oys_workerd){.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
	if (s->cg.lockfd >= 0) {
		oys_cgroup_kill(&s->cg, NULL);
		/* Unlocked before it is closed: another sandbox's child, between its fork and its
		 * close_range(), holds a copy of this descriptor, and closing ours alone would leave
		 * the cgroup locked until that child execs. */
		oys_cgroup_unlock(&s->cg);
		oys_cgroup_release(&s->cg);
	}
	memset(&s->cg, 0, sizeof s->cg);
	s->cg.lockfd = -1;
	if (s->dir[0])
		oys_rm_rf(s->dir, NULL);
	s->dir[0] = s->sock[0] = '\0';
	s->state = EMPTY;
}

/* A start that did not work out: tear down, and start again after a delay. */
static void failed(struct pool *pl, struct slot *s, const char *why)
{
	char out[512] = "";
	oys_workerd_stop(&s->w); /* what it said, to the last line */
	oys_console_start_error(&s->w.console, out, sizeof out);
	s->failures++;
	pl->failures++;
	int delay = FAIL_DELAY_MS;
	for (int i = 1; i < s->failures && delay < FAIL_DELAY_MAX_MS; i++)
		delay *= 2;
	if (delay > FAIL_DELAY_MAX_MS)
		delay = FAIL_DELAY_MAX_MS;
	jv ev = oys_json_set_str(jv_object(), "cgroup", s->cg.name[0] ? s->cg.name : NULL);
	ev = oys_json_set_str(ev, "policy", pl->o->policies[s->policy]);
	ev = oys_json_set_str(ev, "error", why);
	ev = oys_json_set_str(ev, "output", out[0] ? out : NULL);
	ev = oys_json_set_num(ev, "failures", s->failures);
	ev = oys_json_set_num(ev, "retry_ms", delay);
	event("sandbox failed", ev);
	teardown(s);
	s->deadline = oys_now_ms() + delay;
}

static int unix_listen(const char *path, int type, int backlog, struct oys_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		oys_err_set(e, OYS_ECONFIG, "socket path %s is too long (at most %zu bytes)", path, sizeof sa.sun_path - 1);
		return -1;
	}
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, backlog) < 0) {
		oys_err_sys(e, OYS_EOSERR, "cannot listen on %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}


/* The loader's templates, copied into the sandbox's directory: its workerd reads the directory
 * it works in, as the slot's user, and nothing above it (sandbox.h). */
static int copy_templates(const char *dir, struct oys_err *e)
{
	static const char *const files[] = {"warm-loader.capnp", "warm-loader.js", "wasm-glue.js", "warm-sw.js"};
	int rc = 0;
	for (size_t i = 0; i < sizeof files / sizeof *files && rc == 0; i++) {
		char from[PATH_MAX], rel[64], to[PATH_MAX + 64];
		struct oys_buf b = OYS_BUF_INIT;
		snprintf(rel, sizeof rel, "templates/%s", files[i]);
		snprintf(to, sizeof to, "%s/%s", dir, files[i]);
		if ((rc = oys_share_path(rel, from, sizeof from, e)) == 0 && (rc = oys_read_file(from, 1 << 20, &b, e)) == 0)
			rc = oys_write_new(to, b.data, b.len, 0600, e);
		oys_buf_free(&b);
	}
	return rc;
}

/* EMPTY -> STARTING: a cgroup, a directory, the config, a socket, workerd, the probe. */
static void start(struct pool *pl, struct slot *s)
{
	const struct oys_warm_opts *o = pl->o;
	struct oys_err e = {0};
	struct oys_buf config = OYS_BUF_INIT;
	char path[PATH_MAX + 32];
	int lfd = -1;

	if (oys_cgroup_reserve(o->prefix, &o->limits, &s->cg, &e)) {
		s->cg.lockfd = -1;
		s->deadline = oys_now_ms() + RESERVE_RETRY_MS;
		if (e.code != OYS_EUNAVAIL) {
			failed(pl, s, e.msg);
		} else if (!pl->reserve_blocked) {
			pl->reserve_blocked = 1; /* the pool is busy with cold runs: say so once */
			event("sandbox waits for a cgroup", oys_json_set_str(jv_object(), "error", e.msg));
		}
		return;
	}
	pl->reserve_blocked = 0;
	/* Its start takes no CPU from requests running: a low weight for its cgroup, given back
	 * at the claim (a nice value would only count against tasks of the same cgroup). */
	s->low_weight = oys_cgroup_cpu_weight(&s->cg, 1, NULL) == 0;
	s->t_start = oys_now_ms();
	s->state = STARTING;
	s->deadline = s->t_start + o->start_timeout_ms;
	struct oys_capnp c = {0};
	struct oys_sandbox sb;
	int netns_fd = -1;
	c.config_dir = s->dir;
	c.template_dir = s->dir;
	c.socket = "http";
	c.outbound = o->policies[s->policy];
	if (snprintf(s->dir, sizeof s->dir, "%s/%s", pl->dir, s->cg.name) >= (int)sizeof s->dir ||
	    snprintf(s->sock, sizeof s->sock, "%s/http.sock", s->dir) >= (int)sizeof s->sock) {
		oys_err_set(&e, OYS_ECONFIG, "socket path %s/%s/http.sock is too long (at most %zu bytes)", pl->dir,
		            s->cg.name, sizeof s->sock - 1);
		s->dir[0] = '\0';
		goto fail;
	}
	oys_rm_rf(s->dir, NULL);
	if (mkdir(s->dir, 0700) < 0) {
		oys_err_sys(&e, OYS_ECANTCREAT, "cannot create %s", s->dir);
		goto fail;
	}
	/* The slot's sandbox, as a cold run's: its user gets the directory, a `none` policy the
	 * slot's network namespace (sandbox.h, netns.h). */
	snprintf(path, sizeof path, "%s/config.capnp", s->dir);
	if (oys_sandbox_for_slot(o->sandbox_uid, s->cg.index, &sb, &e) || copy_templates(s->dir, &e) ||
	    oys_capnp_render_loader(&c, &config, &e) || oys_write_new(path, config.data, config.len, 0600, &e) ||
	    (!sb.keep_uid && oys_sandbox_handoff(s->dir, sb.uid, sb.uid, &e)))
		goto fail;
	if (strcmp(c.outbound, "none") == 0) {
		if (oys_netns_open(s->cg.name, &netns_fd, &e))
			goto fail;
		sb.netns_fd = netns_fd;
	}
	if ((lfd = unix_listen(s->sock, SOCK_STREAM, 16, &e)) < 0)
		goto fail;
	static const char *const extra[] = {"--experimental", NULL};
	struct oys_workerd_spawn sp = {0};
	sp.workerd = o->workerd;
	sp.config = "config.capnp";
	sp.dir = s->dir;
	sp.listen_fd = lfd;
	sp.args = extra;
	sp.cg = &s->cg;
	sp.sb = &sb;
	/* Without a cpu controller: a nice value. The child inherits the priority it is forked
	 * with; oys-warm takes its own back at once. */
	int niced = !s->low_weight && pl->can_nice && setpriority(PRIO_PROCESS, 0, pl->nice + START_NICE) == 0;
	int rc = oys_workerd_spawn(&sp, &s->w, &e);
	if (niced && setpriority(PRIO_PROCESS, 0, pl->nice) < 0)
		pl->can_nice = 0;
	if (netns_fd >= 0)
		close(netns_fd);
	netns_fd = -1;
	if (rc)
		goto fail;
	close_fd(&lfd); /* workerd has it */
	if ((s->probe = oys_workerd_connect_path(s->sock, NULL)) < 0) {
		oys_err_sys(&e, OYS_EOSERR, "cannot connect to %s", s->sock);
		goto fail;
	}
	s->probe_sent = s->probe_got = 0;
	oys_buf_free(&config);
	return;
fail:
	if (netns_fd >= 0)
		close(netns_fd);
	close_fd(&lfd);
	oys_buf_free(&config);
	failed(pl, s, e.msg);
}

/* The probe's socket is ready: send the probe, or read its answer; 1 when it is over. */
static void probe_io(struct pool *pl, struct slot *s, short revents)
{
	if ((revents & POLLOUT) && s->probe_sent < sizeof PROBE - 1) {
		ssize_t k = send(s->probe, PROBE + s->probe_sent, sizeof PROBE - 1 - s->probe_sent, MSG_NOSIGNAL);
		if (k > 0)
			s->probe_sent += (size_t)k;
		else if (k < 0 && errno != EAGAIN && errno != EINTR)
			revents |= POLLHUP;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	for (;;) {
		char b[512];
		ssize_t k = recv(s->probe, b, sizeof b, 0);
		if (k > 0) {
			size_t take = (size_t)k < sizeof s->probe_in - 1 - s->probe_got ? (size_t)k
			                                                                 : sizeof s->probe_in - 1 - s->probe_got;
			memcpy(s->probe_in + s->probe_got, b, take);
			s->probe_got += take;
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break; /* the end of the answer */
	}
	s->probe_in[s->probe_got] = '\0';
	close_fd(&s->probe);
	if (strncmp(s->probe_in, "HTTP/1.1 204", 12) != 0) {
		failed(pl, s, s->probe_got ? "the loader did not answer its readiness probe with 204"
		                           : "the loader closed its readiness probe");
		return;
	}
	s->state = READY;
	s->failures = 0;
	struct oys_cgroup_stat st;
	if (oys_cgroup_stat(&s->cg, &st, NULL) == 0)
		s->ready_memory = st.memory_current;
}

/* Every thread of process pid to priority prio. */
static void renice(pid_t pid, int prio)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		long tid = strtol(de->d_name, NULL, 10);
		if (tid > 0)
			setpriority(PRIO_PROCESS, (id_t)tid, prio);
	}
	closedir(d);
}

/* ---- control connections ---- */

static int reply(int fd, const char *msg, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {(void *)msg, strlen(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		memset(&cm, 0, sizeof cm);
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -1 : 0;
}

static void drop_conn(struct pool *pl, int i)
{
	close(pl->conns[i].fd);
	pl->conns[i] = pl->conns[--pl->nconns];
}

/* Hands READY slot s to connection i: the answer with the descriptors; the connection becomes
 * the claim. */
static void hand_over(struct pool *pl, struct slot *s, int i)
{
	struct conn *c = &pl->conns[i];
	char msg[PATH_MAX];
	snprintf(msg, sizeof msg, "ok %s %ld %s", s->cg.name, (long)s->w.pid, s->sock);
	if (s->low_weight)
		s->low_weight = oys_cgroup_cpu_weight(&s->cg, 0, NULL) != 0; /* a request runs there now */
	else if (pl->can_nice)
		renice(s->w.pid, pl->nice);
	int fds[2] = {s->w.pidfd, s->w.outfd};
	if (reply(c->fd, msg, fds, 2) < 0) {
		drop_conn(pl, i); /* the claimer is gone: the sandbox stays ready */
		return;
	}
	oys_workerd_drain(&s->w);
	close_fd(&s->w.outfd); /* the claimer reads it now */
	s->state = BUSY;
	s->ctl = c->fd;
	s->deadline = oys_now_ms() + c->ttl_ms;
	pl->served++;
	pl->conns[i] = pl->conns[--pl->nconns];
}

/* Policies a and b are the same (a policy may be given more than once, for more sandboxes). */
static int same_policy(const struct pool *pl, int a, int b)
{
	return a == b || strcmp(pl->o->policies[a], pl->o->policies[b]) == 0;
}

/* A ready sandbox of the policy whose workerd is still there (one that died since the last
 * look is started again, not handed out). */
static struct slot *ready_slot(struct pool *pl, int policy)
{
	for (int k = 0; k < pl->o->count; k++) {
		struct slot *s = &pl->slots[k];
		if (s->state != READY || !same_policy(pl, s->policy, policy))
			continue;
		struct pollfd p = {s->w.pidfd, POLLIN, 0};
		if (poll(&p, 1, 0) == 0)
			return s;
		failed(pl, s, "workerd exited while ready");
	}
	return NULL;
}

/* Whether a claim for policy may wait: a sandbox of it will be ready (one is starting, busy,
 * or about to start), and the pool has no free cgroup for a cold start. */
static int may_wait(struct pool *pl, int policy)
{
	int coming = 0;
	for (int k = 0; k < pl->o->count; k++) {
		const struct slot *s = &pl->slots[k];
		coming |= same_policy(pl, s->policy, policy) && s->failures == 0 && s->state != READY;
	}
	if (!coming)
		return 0;
	/* every cgroup of the pool ours: none is free, without asking each lock file */
	int total, busy, held = 0, version;
	for (int k = 0; k < pl->o->count; k++)
		held += pl->slots[k].state != EMPTY;
	if (oys_cgroup_pool_size(pl->o->prefix, &total, &version, NULL) == 0 && held >= total)
		return 1;
	return oys_cgroup_pool_count(pl->o->prefix, &total, &busy, NULL) == 0 && busy >= total;
}

static int lim_eq(double a, double b)
{
	return a - b < 1e-9 && b - a < 1e-9;
}

static void status(struct pool *pl, int fd);

static void request(struct pool *pl, int i)
{
	struct conn *c = &pl->conns[i];
	char msg[2048];
	ssize_t n = recv(c->fd, msg, sizeof msg - 1, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || c->waiting) { /* gone, or talking out of turn */
		drop_conn(pl, i);
		return;
	}
	msg[n] = '\0';
	if (strcmp(msg, "status") == 0) {
		status(pl, c->fd);
		drop_conn(pl, i);
		return;
	}
	char prefix[128], policy[1024];
	unsigned long long memory;
	double cpu;
	long pids;
	int wait_ms, ttl_ms;
	if (sscanf(msg, "claim %127s %llu %lf %ld %d %d %1023s", prefix, &memory, &cpu, &pids, &wait_ms,
	           &ttl_ms, policy) != 7 || wait_ms < 0 || ttl_ms <= 0) {
		reply(c->fd, "none bad request", NULL, 0);
		drop_conn(pl, i);
		return;
	}
	const struct oys_warm_opts *o = pl->o;
	const char *why = NULL;
	c->policy = -1;
	for (size_t k = 0; k < o->npolicies; k++)
		if (strcmp(o->policies[k], policy) == 0)
			c->policy = (int)k;
	if (pl->stopping)
		why = "none oys-warm is stopping";
	else if (strcmp(prefix, o->prefix) != 0)
		why = "none another cgroup pool";
	else if (c->policy < 0)
		why = "none no sandboxes for this outbound policy";
	else if (memory != o->limits.memory || !lim_eq(cpu, o->limits.cpu) || pids != o->limits.pids)
		why = "none no sandboxes with these limits";
	if (why) {
		reply(c->fd, why, NULL, 0);
		drop_conn(pl, i);
		return;
	}
	c->ttl_ms = ttl_ms;
	struct slot *s = ready_slot(pl, c->policy);
	if (s) {
		hand_over(pl, s, i);
	} else if (wait_ms > 0 && may_wait(pl, c->policy)) {
		c->waiting = 1;
		c->since = oys_now_ms();
		c->deadline = c->since + wait_ms;
	} else {
		reply(c->fd, "none no sandbox ready", NULL, 0);
		drop_conn(pl, i);
	}
}

/* A slot of policy became ready: the claim that waited longest gets it. */
static void serve_waiting(struct pool *pl)
{
	for (;;) {
		int best = -1;
		for (int i = 0; i < pl->nconns; i++)
			if (pl->conns[i].waiting && ready_slot(pl, pl->conns[i].policy) &&
			    (best < 0 || pl->conns[i].since < pl->conns[best].since))
				best = i;
		if (best < 0)
			return;
		hand_over(pl, ready_slot(pl, pl->conns[best].policy), best);
	}
}

static void accept_conns(struct pool *pl)
{
	for (;;) {
		int fd = accept4(pl->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t len = sizeof cr;
		if (pl->nconns >= MAX_CONNS || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
		    (cr.uid != 0 && cr.uid != geteuid())) {
			close(fd);
			continue;
		}
		pl->conns[pl->nconns++] = (struct conn){.fd = fd, .policy = -1};
	}
}

/* ---- status ---- */

static void status(struct pool *pl, int fd)
{
	const struct oys_warm_opts *o = pl->o;
	int n[4] = {0};
	jv pols = jv_array();
	unsigned long long mem_sum = 0, mem_min = 0, mem_max = 0;
	int mem_n = 0;
	for (size_t p = 0; p < o->npolicies; p++) {
		int k[4] = {0}, seen = 0;
		for (size_t q = 0; q < p; q++)
			seen |= same_policy(pl, (int)q, (int)p);
		if (seen)
			continue; /* counted with its first mention */
		for (int i = 0; i < o->count; i++) {
			struct slot *s = &pl->slots[i];
			if (!same_policy(pl, s->policy, (int)p))
				continue;
			k[s->state]++;
			n[s->state]++;
			struct oys_cgroup_stat st;
			if (s->state == READY && oys_cgroup_stat(&s->cg, &st, NULL) == 0) {
				mem_sum += st.memory_current;
				mem_min = mem_n == 0 || st.memory_current < mem_min ? st.memory_current : mem_min;
				mem_max = st.memory_current > mem_max ? st.memory_current : mem_max;
				mem_n++;
			}
		}
		jv j = oys_json_set_str(jv_object(), "policy", o->policies[p]);
		for (int st = 0; st < 4; st++)
			j = oys_json_set_num(j, st == EMPTY ? "waiting" : state_name[st], k[st]);
		pols = jv_array_append(pols, j);
	}
	int waiting_claims = 0;
	for (int i = 0; i < pl->nconns; i++)
		waiting_claims += pl->conns[i].waiting;
	jv s = oys_json_set_num(jv_object(), "pid", (double)getpid());
	s = oys_json_set_str(s, "prefix", o->prefix);
	s = oys_json_set_num(s, "count", o->count);
	s = oys_json_set_num(s, "ready", n[READY]);
	s = oys_json_set_num(s, "busy", n[BUSY]);
	s = oys_json_set_num(s, "starting", n[STARTING]);
	s = oys_json_set_num(s, "waiting", n[EMPTY]);
	s = oys_json_set_num(s, "claims_waiting", waiting_claims);
	s = jv_object_set(s, jv_string("stopping"), jv_bool(pl->stopping));
	s = oys_json_set_num(s, "served", (double)pl->served);
	s = oys_json_set_num(s, "start_failures", (double)pl->failures);
	jv m = oys_json_set_num(jv_object(), "sandboxes", mem_n);
	if (mem_n) {
		m = oys_json_set_num(m, "mean_bytes", (double)(mem_sum / (unsigned)mem_n));
		m = oys_json_set_num(m, "min_bytes", (double)mem_min);
		m = oys_json_set_num(m, "max_bytes", (double)mem_max);
	}
	s = jv_object_set(s, jv_string("idle_memory"), m);
	s = jv_object_set(s, jv_string("policies"), pols);
	char *text = oys_json_dump(s, 0);
	if (text)
		reply(fd, text, NULL, 0);
	free(text);
}

/* ---- the loop ---- */

static int setup(struct pool *pl, struct oys_err *e)
{
	char rt[PATH_MAX];
	int rc = oys_runtime_subdir(NULL, rt, sizeof rt, e);
	if (rc)
		return rc;
	if (snprintf(pl->lock_path, sizeof pl->lock_path, "%s/warm.lock", rt) >= (int)sizeof pl->lock_path ||
	    snprintf(pl->dir, sizeof pl->dir, "%s/warm", rt) >= (int)sizeof pl->dir ||
	    snprintf(pl->ctl_path, sizeof pl->ctl_path, "%s/control.sock", pl->dir) >= (int)sizeof pl->ctl_path)
		return oys_err_set(e, OYS_ECONFIG, "runtime directory %s: path too long", rt);
	pl->lockfd = oys_lock_path(pl->lock_path, 0);
	if (pl->lockfd < 0)
		return errno == EWOULDBLOCK ? oys_err_set(e, OYS_EUNAVAIL, "another oys-warm runs on %s (%s is held)", rt,
		                                          pl->lock_path)
		                            : oys_err_sys(e, OYS_ECANTCREAT, "cannot lock %s", pl->lock_path);
	/* What a crashed oys-warm left: its workerds died with it, its reservations with them. */
	oys_rm_rf(pl->dir, NULL);
	if (mkdir(pl->dir, 0700) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", pl->dir);
	chmod(pl->dir, 0700);
	pl->lfd = unix_listen(pl->ctl_path, SOCK_SEQPACKET, 128, e);
	if (pl->lfd < 0)
		return e ? e->code : OYS_EOSERR;
	fcntl(pl->lfd, F_SETFL, O_NONBLOCK);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	pl->sigfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (pl->sigfd < 0)
		return oys_err_sys(e, OYS_EOSERR, "signalfd");
	errno = 0;
	pl->nice = getpriority(PRIO_PROCESS, 0);
	pl->can_nice = errno == 0 && geteuid() == 0 && pl->nice + START_NICE <= 19;
	return 0;
}

static void begin_stop(struct pool *pl, int sig)
{
	pl->stopping = 1;
	pl->stop_deadline = oys_now_ms() + OYS_WARM_STOP_GRACE_MS;
	close_fd(&pl->lfd);
	unlink(pl->ctl_path);
	for (int i = pl->nconns - 1; i >= 0; i--) {
		if (pl->conns[i].waiting)
			reply(pl->conns[i].fd, "none oys-warm is stopping", NULL, 0);
		drop_conn(pl, i);
	}
	int busy = 0;
	for (int k = 0; k < pl->o->count; k++) {
		struct slot *s = &pl->slots[k];
		if (s->state == BUSY)
			busy++;
		else
			teardown(s);
	}
	event("warm stopping", oys_json_set_num(oys_json_set_num(jv_object(), "signal", sig), "busy", busy));
}

/* Waits for what comes, handles it. */
static void step(struct pool *pl)
{
	const struct oys_warm_opts *o = pl->o;
	int n = o->count, nfd = 0;
	/* per slot: pidfd, outfd, probe or claim; then the signals, the listener, the connections */
	struct pollfd *p = calloc((size_t)(3 * n + 2 + pl->nconns), sizeof *p);
	if (p == NULL) {
		usleep(10000);
		return;
	}
	double now = oys_now_ms(), next = now + 60000;
	for (int k = 0; k < n; k++) {
		struct slot *s = &pl->slots[k];
		int watch_exit = s->state == STARTING || s->state == READY;
		p[nfd++] = (struct pollfd){watch_exit ? s->w.pidfd : -1, POLLIN, 0};
		p[nfd++] = (struct pollfd){watch_exit ? s->w.outfd : -1, POLLIN, 0};
		if (s->state == STARTING)
			p[nfd++] = (struct pollfd){s->probe, (short)(POLLIN | (s->probe_sent < sizeof PROBE - 1 ? POLLOUT : 0)), 0};
		else
			p[nfd++] = (struct pollfd){s->state == BUSY ? s->ctl : -1, POLLIN, 0};
		if ((s->state == STARTING || s->state == BUSY || (s->state == EMPTY && !pl->stopping)) && s->deadline < next)
			next = s->deadline;
	}
	p[nfd++] = (struct pollfd){pl->sigfd, POLLIN, 0};
	p[nfd++] = (struct pollfd){pl->lfd, POLLIN, 0};
	for (int i = 0; i < pl->nconns; i++) {
		p[nfd++] = (struct pollfd){pl->conns[i].fd, POLLIN, 0};
		if (pl->conns[i].waiting && pl->conns[i].deadline < next)
			next = pl->conns[i].deadline;
	}
	if (pl->stopping && pl->stop_deadline < next)
		next = pl->stop_deadline;
	int wait = next > now ? (int)(next - now) + 1 : 0;
	if (poll(p, (nfds_t)nfd, wait) < 0 && errno != EINTR) {
		free(p);
		usleep(10000);
		return;
	}
	now = oys_now_ms();

	if (p[3 * n].revents) {
		struct signalfd_siginfo si;
		while (read(pl->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			if (!pl->stopping)
				begin_stop(pl, (int)si.ssi_signo);
	}
	for (int k = 0; k < n; k++) {
		struct slot *s = &pl->slots[k];
		short ev_pid = p[3 * k].revents, ev_out = p[3 * k + 1].revents, ev_3 = p[3 * k + 2].revents;
		if (s->state == STARTING || s->state == READY) {
			if (ev_out)
				oys_workerd_drain(&s->w);
			if (ev_pid) {
				failed(pl, s, s->state == READY ? "workerd exited while ready" : "workerd exited before it was ready");
				continue;
			}
		}
		if (s->state == STARTING && ev_3)
			probe_io(pl, s, ev_3);
		if (s->state == STARTING && now >= s->deadline) {
			failed(pl, s, "the loader was not ready in time");
		} else if (s->state == BUSY && (ev_3 || now >= s->deadline)) {
			teardown(s); /* the claim is over (or overdue): the next one */
			s->deadline = now;
		}
		if (s->state == EMPTY && !pl->stopping && now >= s->deadline)
			start(pl, s);
	}
	/* connections: from the last, since dropping one moves the last into its place */
	int base = 3 * n + 2;
	int nc = pl->nconns;
	for (int i = nc - 1; i >= 0; i--) {
		if (i >= pl->nconns)
			continue;
		if (p[base + i].revents)
			request(pl, i);
		else if (pl->conns[i].waiting && now >= pl->conns[i].deadline) {
			reply(pl->conns[i].fd, "none no sandbox ready in time", NULL, 0);
			drop_conn(pl, i);
		}
	}
	if (pl->lfd >= 0 && p[3 * n + 1].revents)
		accept_conns(pl);
	serve_waiting(pl);
	free(p);
}

int oys_warm_serve(const struct oys_warm_opts *o, struct oys_err *e)
{
	struct pool pl;
	memset(&pl, 0, sizeof pl);
	pl.o = o;
	pl.lfd = pl.sigfd = pl.lockfd = -1;
	if (o->count < 1 || o->npolicies < 1)
		return oys_err_set(e, OYS_EUSAGE, "oys-warm: no sandboxes to keep");
	pl.slots = calloc((size_t)o->count, sizeof *pl.slots);
	if (pl.slots == NULL)
		return oys_err_sys(e, OYS_EOSERR, "oys-warm");
	/* Check the config renders before starting anything. */
	struct oys_buf probe = OYS_BUF_INIT;
	int rc = 0;
	for (size_t k = 0; k < o->npolicies && rc == 0; k++) {
		struct oys_capnp c = {0};
		c.outbound = o->policies[k];
		c.config_dir = "/";
		rc = oys_capnp_render_loader(&c, &probe, e);
		oys_buf_free(&probe);
	}
	if (rc == 0)
		rc = setup(&pl, e);
	if (rc) {
		if (pl.lockfd >= 0)
			close(pl.lockfd);
		if (pl.lfd >= 0)
			close(pl.lfd);
		free(pl.slots);
		return rc;
	}
	for (int k = 0; k < o->count; k++) {
		struct slot *s = &pl.slots[k];
		s->policy = (int)((size_t)k % o->npolicies);
		s->probe = s->ctl = -1;
		s->w = (struct oys_workerd){.pid = -1, .pidfd = -1, .outfd = -1, .lfd = -1, .status = -1};
		s->cg.lockfd = -1;
	}
	jv pols = jv_array();
	for (size_t k = 0; k < o->npolicies; k++)
		pols = jv_array_append(pols, jv_string(o->policies[k]));
	jv ev = oys_json_set_num(jv_object(), "count", o->count);
	ev = oys_json_set_str(ev, "prefix", o->prefix);
	ev = jv_object_set(ev, jv_string("policies"), pols);
	event("warm started", oys_json_set_str(ev, "control", pl.ctl_path));

	for (;;) {
		step(&pl);
		if (!pl.stopping)
			continue;
		int busy = 0;
		for (int k = 0; k < o->count; k++)
			busy += pl.slots[k].state == BUSY;
		if (busy == 0 || oys_now_ms() >= pl.stop_deadline)
			break;
	}
	for (int k = 0; k < o->count; k++)
		teardown(&pl.slots[k]);
	oys_rm_rf(pl.dir, NULL);
	unlink(pl.lock_path);
	close(pl.lockfd);
	close(pl.sigfd);
	event("warm stopped", oys_json_set_num(jv_object(), "served", (double)pl.served));
	free(pl.slots);
	return 0;
}
