/* warmc.c: oys-warm's control socket from the other side (see warm.h): claims and status. */
#include "warm.h"
#include "file.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX 65536

static int ctl_connect(struct oys_err *e)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/warm/control.sock", oys_runtime_dir());
	if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
		oys_err_set(e, OYS_EUNAVAIL, "oys-warm: control socket path too long");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		oys_err_sys(e, OYS_EOSERR, "socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		if (err == ENOENT || err == ECONNREFUSED)
			oys_err_set(e, OYS_EUNAVAIL, "not running (no %s)", sa.sun_path);
		else
			oys_err_sys(e, OYS_EUNAVAIL, "oys-warm: cannot connect to %s", sa.sun_path);
		return -1;
	}
	return fd;
}

/* Sends msg, waits up to timeout_ms for the answer: its text (NUL-terminated) in reply and up
 * to 2 descriptors in fds (-1 for those that did not come). Returns 0 or an error. */
static int ask(int fd, const char *msg, char *reply, size_t replysz, int fds[2], int timeout_ms,
               struct oys_err *e)
{
	fds[0] = fds[1] = -1;
	if (send(fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
		return oys_err_sys(e, OYS_EUNAVAIL, "oys-warm: cannot send");
	struct pollfd p = {fd, POLLIN, 0};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return oys_err_set(e, OYS_EUNAVAIL, "oys-warm did not answer within %d ms", timeout_ms);
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {reply, replysz - 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int got[2];
		memcpy(got, CMSG_DATA(c), (k > 2 ? 2 : k) * sizeof(int));
		for (size_t i = 0; i < k && i < 2; i++)
			fds[i] = got[i];
	}
	if (n <= 0 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		fds[0] = fds[1] = -1;
		return n < 0 ? oys_err_sys(e, OYS_EUNAVAIL, "oys-warm: no answer")
		             : oys_err_set(e, OYS_EUNAVAIL, "oys-warm: %s", n == 0 ? "hung up" : "answer too long");
	}
	reply[n] = '\0';
	return 0;
}

int oys_warm_claim(const char *prefix, const char *policy, const struct oys_cgroup_limits *lim,
                   int wait_ms, int ttl_ms, struct oys_warm_claim *c, struct oys_err *e)
{
	memset(c, 0, sizeof *c);
	c->ctl = c->pidfd = c->outfd = -1;
	c->pid = -1;
	char msg[1024], reply[1024];
	int n = snprintf(msg, sizeof msg, "claim %s %llu %g %ld %d %d %s", prefix, lim ? lim->memory : 0ULL,
	                 lim ? lim->cpu : 0.0, lim ? lim->pids : 0L, wait_ms, ttl_ms, policy);
	if (n < 0 || (size_t)n >= sizeof msg || strpbrk(prefix, " \n") || strpbrk(policy, " \n"))
		return oys_err_set(e, OYS_EUSAGE, "oys-warm: bad claim");
	int fd = ctl_connect(e);
	if (fd < 0)
		return OYS_EUNAVAIL;
	int fds[2];
	int rc = ask(fd, msg, reply, sizeof reply, fds, wait_ms + 2000, e);
	if (rc) {
		close(fd);
		return rc;
	}
	long pid = 0;
	int off = 0;
	if (strncmp(reply, "ok ", 3) != 0 || fds[0] < 0 || fds[1] < 0 ||
	    sscanf(reply + 3, "%127s %ld %n", c->cgroup, &pid, &off) != 2 || off == 0 || pid <= 0 ||
	    strlen(reply + 3 + off) >= sizeof c->socket) {
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		close(fd);
		if (strncmp(reply, "none", 4) == 0)
			return oys_err_set(e, OYS_EUNAVAIL, "oys-warm: no sandbox: %s", reply[4] ? reply + 5 : "none");
		return oys_err_set(e, OYS_EUNAVAIL, "oys-warm: unexpected answer '%.100s'", reply);
	}
	snprintf(c->socket, sizeof c->socket, "%s", reply + 3 + off);
	c->ctl = fd;
	c->pid = (pid_t)pid;
	c->pidfd = fds[0];
	c->outfd = fds[1];
	return 0;
}

int oys_warm_claim_lost(const struct oys_warm_claim *c, int ms)
{
	if (c->ctl < 0)
		return 0;
	struct pollfd p = {c->ctl, POLLIN, 0};
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char b;
	ssize_t n = recv(c->ctl, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

void oys_warm_claim_end(struct oys_warm_claim *c)
{
	int *fds[] = {&c->ctl, &c->pidfd, &c->outfd};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

int oys_warm_running(void)
{
	int fd = ctl_connect(NULL);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int oys_warm_status(jv *out, struct oys_err *e)
{
	int fd = ctl_connect(e);
	if (fd < 0)
		return OYS_EUNAVAIL;
	char *reply = malloc(REPLY_MAX);
	int fds[2];
	int rc = reply ? ask(fd, "status", reply, REPLY_MAX, fds, 5000, e) : oys_err_sys(e, OYS_EOSERR, "status");
	close(fd);
	for (int i = 0; rc == 0 && i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (rc == 0 && oys_json_parse(reply, strlen(reply), out, e)) {
		oys_err_wrap(e, "oys-warm status");
		rc = OYS_EDATA;
	}
	free(reply);
	return rc;
}

void oys_warm_counts(struct oys_warm_counts *c)
{
	memset(c, 0, sizeof *c);
	jv s;
	if (oys_warm_status(&s, NULL))
		return;
	if (jv_get_kind(s) == JV_KIND_OBJECT) {
		const char *keys[] = {"ready", "busy", "starting"};
		int *vals[] = {&c->ready, &c->busy, &c->starting};
		for (size_t i = 0; i < 3; i++) {
			jv v = jv_object_get(jv_copy(s), jv_string(keys[i]));
			if (jv_get_kind(v) == JV_KIND_NUMBER)
				*vals[i] = (int)jv_number_value(v);
			jv_free(v);
		}
		c->running = 1;
	}
	jv_free(s);
}
