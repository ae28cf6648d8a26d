/* netns.h: a network namespace of its own per pool slot, for functions whose outbound policy
 * is `none`: no interface in it but a loopback that is down, so nothing can be reached and
 * nothing listens (workerd serves on the Unix socket it inherits).
 *
 * One namespace per slot, made on the slot's first use and kept as a bind mount at
 * RUNTIME/netns/<cgroup name>; the child that becomes workerd enters it with setns(2), which
 * costs nothing measurable, where a new namespace per request costs about 0.7 ms and more in
 * the kernel's asynchronous cleanup. It carries nothing from one request to the next: it has
 * no interface to configure (and workerd no capability to configure one), and every process in
 * it is killed with the request. oys-cgroup teardown removes them with the pool. */
#ifndef OYS_NETNS_H
#define OYS_NETNS_H

#include "err.h"

/* Opens the namespace of slot name (a pool cgroup name), making it when missing; the caller
 * holds the slot's reservation, so no two processes make the same one. Returns 0 and a
 * close-on-exec fd, or an error (OYS_ENOPERM when not root). */
int oys_netns_open(const char *name, int *fd, struct oys_err *e);

/* Removes the namespace of slot name (unmount and unlink); a missing one is success. Returns
 * 0 or -1 with errno. */
int oys_netns_remove(const char *name);

/* Whether the namespace file of slot name exists (for tests and teardown). */
int oys_netns_exists(const char *name);

#endif
