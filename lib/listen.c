#include "listen.h"
#include "json.h"
#include "port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void addr_str(const struct sockaddr_storage *ss, char *ip, size_t ipsz, int *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ipsz);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ipsz);
		*port = ntohs(s4->sin_port);
	}
}

/* A failed accept or fork, as a log event; the parent goes on. */
static void log_error(const char *what)
{
	int saved = errno;
	char msg[256];
	snprintf(msg, sizeof msg, "%s: %s", what, strerror(saved));
	jv ev = oys_json_set_str(jv_object(), "event", "listen error");
	oys_log_event(oys_json_set_str(ev, "error", msg));
}

static void set_env_addr(const char *ipvar, const char *portvar, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN], port[16];
	int p;
	addr_str(ss, ip, sizeof ip, &p);
	snprintf(port, sizeof port, "%d", p);
	setenv(ipvar, ip, 1);
	setenv(portvar, port, 1);
}

int oys_listen_fork(const char *addr, int max_children, struct oys_err *e)
{
	char host[256];
	int port;
	if (oys_hostport_split(addr, host, sizeof host, &port) < 0)
		return oys_err_set(e, OYS_EUSAGE, "--listen: '%s' is not HOST:PORT or PORT", addr);
	int lfd = oys_port_listen(host[0] ? host : "127.0.0.1", port, 128, &port, e);
	if (lfd < 0)
		return e ? e->code : OYS_EOSERR;

	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	jv ev = oys_json_set_str(jv_object(), "event", "listening");
	ev = oys_json_set_str(ev, "addr", host[0] ? host : "127.0.0.1");
	ev = oys_json_set_num(ev, "port", port);
	oys_log_event(ev);

	int running = 0;
	while (!stop) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			running--;
		if (max_children > 0 && running >= max_children) {
			if (waitpid(-1, NULL, 0) > 0)
				running--;
			continue;
		}
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int c = accept(lfd, (struct sockaddr *)&peer, &plen);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			log_error("accept");
			sleep(1);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			struct sockaddr_storage local;
			socklen_t llen = sizeof local;
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			setenv("PROTO", "TCP", 1);
			set_env_addr("TCPREMOTEIP", "TCPREMOTEPORT", &peer);
			if (getsockname(c, (struct sockaddr *)&local, &llen) == 0)
				set_env_addr("TCPLOCALIP", "TCPLOCALPORT", &local);
			if (dup2(c, STDIN_FILENO) < 0 || dup2(c, STDOUT_FILENO) < 0)
				_exit(OYS_EOSERR);
			if (c > STDOUT_FILENO)
				close(c);
			return 0;
		}
		if (pid < 0)
			log_error("fork");
		else
			running++;
		close(c);
	}
	close(lfd);
	return OYS_LISTEN_STOPPED;
}
