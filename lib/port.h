/* port.h: TCP ports and listening sockets for workerd. */
#ifndef OYS_PORT_H
#define OYS_PORT_H

#include "err.h"

/* A listening TCP socket on host (an address or a name; NULL: 127.0.0.1) and port (0: any
 * free one), close-on-exec off so a child such as workerd can inherit it. The bound port goes
 * to *bound. This is what oys-run hands to workerd with --socket-fd: the kernel queues our
 * connection before workerd calls accept(), so there is no port race and no polling.
 * Returns the fd or -1 with e set. */
int oys_port_listen(const char *host, int port, int backlog, int *bound, struct oys_err *e);

/* A port that was free on host a moment ago (bound and released), or -1 with e set. Another
 * process may take it before you do: prefer oys_port_listen(). */
int oys_port_free(const char *host, struct oys_err *e);

/* Connects to 127.0.0.1/::1 port (or host) with a timeout; returns the fd or -1 with e set. */
int oys_port_connect(const char *host, int port, int timeout_ms, struct oys_err *e);

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" / "PORT" (host NULL then). Returns 0 or -1. */
int oys_hostport_split(const char *s, char *host, unsigned hostsz, int *port);

#endif
