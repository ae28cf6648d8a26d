/* listen.h: --listen ADDR for the inetd-style servers (oys-serve, oys-store serve,
 * oys-attest serve), doing what `socat TCP-LISTEN:PORT,fork EXEC:TOOL` does, so a tool can be
 * tried without socat. socat in front stays the normal way. */
#ifndef OYS_LISTEN_H
#define OYS_LISTEN_H

#include "err.h"

/* What oys_listen_fork() returns in the parent once it has stopped. */
#define OYS_LISTEN_STOPPED (-1)

/* Listens on addr ("HOST:PORT", "[V6]:PORT", or "PORT" for 127.0.0.1) and forks one child per
 * connection, with the connection as stdin and stdout and the UCSPI variables set (PROTO=TCP,
 * TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT). Returns 0 in each child, which then
 * serves one request exactly as under socat and exits. The parent accepts until SIGTERM or
 * SIGINT, then returns OYS_LISTEN_STOPPED (running children finish their requests); its
 * caller exits 0. At most max_children run at once (the next connection waits). Returns an
 * error only when it cannot listen. Logs events: "listening" (addr, port) on start, "listen
 * error" (error) when an accept or a fork fails (it goes on). */
int oys_listen_fork(const char *addr, int max_children, struct oys_err *e);

#endif
