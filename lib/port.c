#include "port.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int resolve(const char *host, int port, struct addrinfo **res, struct oys_err *e)
{
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	int rc = getaddrinfo(host ? host : "127.0.0.1", service, &hints, res);
	if (rc != 0)
		return oys_err_set(e, OYS_EUSAGE, "cannot resolve host %s: %s", host ? host : "127.0.0.1",
		                   gai_strerror(rc));
	return 0;
}

int oys_port_listen(const char *host, int port, int backlog, int *bound, struct oys_err *e)
{
	struct addrinfo *res;
	if (port < 0 || port > 65535) {
		oys_err_set(e, OYS_EUSAGE, "port %d out of range", port);
		return -1;
	}
	if (resolve(host, port, &res, e))
		return -1;
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 64) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		oys_err_sys(e, saved == EADDRINUSE || saved == EADDRNOTAVAIL ? OYS_EUNAVAIL : OYS_EOSERR,
		            "cannot listen on %s port %d", host ? host : "127.0.0.1", port);
		return -1;
	}
	if (bound) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
			oys_err_sys(e, OYS_EOSERR, "getsockname");
			close(fd);
			return -1;
		}
		*bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
		                                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

int oys_port_free(const char *host, struct oys_err *e)
{
	int port;
	int fd = oys_port_listen(host, 0, 1, &port, e);
	if (fd < 0)
		return -1;
	close(fd);
	return port;
}

int oys_port_connect(const char *host, int port, int timeout_ms, struct oys_err *e)
{
	struct addrinfo *res;
	if (resolve(host, port, &res, e))
		return -1;
	int fd = -1, saved = ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				saved = errno;
				close(fd);
				fd = -1;
				continue;
			}
			struct pollfd p = {fd, POLLOUT, 0};
			int err = 0;
			socklen_t len = sizeof err;
			int n = poll(&p, 1, timeout_ms);
			if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
				saved = n == 0 ? ETIMEDOUT : err ? err : errno;
				close(fd);
				fd = -1;
				continue;
			}
		}
		int flags = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		oys_err_sys(e, saved == ETIMEDOUT ? OYS_ETEMPFAIL : OYS_EUNAVAIL, "cannot connect to %s port %d",
		            host ? host : "127.0.0.1", port);
	}
	return fd;
}

int oys_hostport_split(const char *s, char *host, unsigned hostsz, int *port)
{
	const char *colon;
	host[0] = '\0';
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':' || (unsigned)(end - s - 1) >= hostsz)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon) {
			if ((unsigned)(colon - s) >= hostsz)
				return -1;
			memcpy(host, s, (size_t)(colon - s));
			host[colon - s] = '\0';
		}
	}
	const char *p = colon ? colon + 1 : s;
	char *end;
	long v = strtol(p, &end, 10);
	if (*p == '\0' || *end || v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}
