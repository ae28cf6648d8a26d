/* listen.h: --listen ADDR for the inetd-style servers (oys-serve, oys-store serve,
 * oys-attest serve), doing what `socat TCP-LISTEN:PORT,fork EXEC:TOOL` does, so a tool can be
 * tried without socat. socat in front stays the normal way. */
#ifndef OYS_LISTEN_H
#define OYS_LISTEN_H

#include "err.h"

/* Listens on addr ("HOST:PORT", "[V6]:PORT", or "PORT" for 127.0.0.1) and forks one child per
 * connection, with the connection as stdin and stdout and the UCSPI variables set (PROTO=TCP,
 * TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT). Returns 0 in each child, which then
 * serves one request exactly as under socat and exits. The parent never returns: it accepts
 * until SIGTERM or SIGINT, then exits 0 (running children finish their requests). At most
 * max_children run at once (the next connection waits). Returns an error only when it cannot
 * listen. On start the parent prints "listening on HOST:PORT" as a log event. */
int oys_listen_fork(const char *addr, int max_children, struct oys_err *e);

#endif
