/* seccomp.c: the policy table and its compilation with libseccomp (see seccomp.h). */
#include "seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>

/* What workerd never needs (checked with strace on the examples: it uses none of these).
 * Everything else is allowed: the filter narrows the kernel's surface for a process that
 * already runs as its own user with no capabilities; it is not the only wall. */
const struct oys_seccomp_rule oys_seccomp_deny[] = {
	/* other processes' memory */
	{"ptrace", EPERM, "read or write another process"},
	{"process_vm_readv", EPERM, "read another process's memory"},
	{"process_vm_writev", EPERM, "write another process's memory"},
	/* file systems and namespaces */
	{"mount", EPERM, "mount a file system"},
	{"umount2", EPERM, "unmount one"},
	{"pivot_root", EPERM, "change the root"},
	{"chroot", EPERM, "change the root"},
	{"fsopen", EPERM, "the new mount API"},
	{"fsconfig", EPERM, "the new mount API"},
	{"fsmount", EPERM, "the new mount API"},
	{"fspick", EPERM, "the new mount API"},
	{"move_mount", EPERM, "the new mount API"},
	{"open_tree", EPERM, "the new mount API"},
	{"mount_setattr", EPERM, "the new mount API"},
	{"setns", EPERM, "enter another namespace"},
	{"unshare", EPERM, "make namespaces (user namespaces need no privilege)"},
	{"open_by_handle_at", EPERM, "open files by handle, around directory permissions"},
	{"name_to_handle_at", EPERM, "file handles"},
	{"quotactl", EPERM, "disk quotas"},
	{"quotactl_fd", EPERM, "disk quotas"},
	{"swapon", EPERM, "swap"},
	{"swapoff", EPERM, "swap"},
	/* the kernel itself */
	{"bpf", EPERM, "load BPF programs"},
	{"perf_event_open", EPERM, "performance counters, a side channel"},
	{"userfaultfd", EPERM, "stall the kernel on a page fault (a common exploit aid)"},
	{"io_uring_setup", EPERM, "io_uring, a large attack surface workerd does not use"},
	{"io_uring_enter", EPERM, "io_uring"},
	{"io_uring_register", EPERM, "io_uring"},
	{"keyctl", EPERM, "the kernel keyrings"},
	{"add_key", EPERM, "the kernel keyrings"},
	{"request_key", EPERM, "the kernel keyrings"},
	{"kexec_load", EPERM, "load a new kernel"},
	{"kexec_file_load", EPERM, "load a new kernel"},
	{"init_module", EPERM, "load a kernel module"},
	{"finit_module", EPERM, "load a kernel module"},
	{"delete_module", EPERM, "unload one"},
	{"syslog", EPERM, "the kernel log"},
	{"reboot", EPERM, "reboot"},
	{"acct", EPERM, "process accounting"},
	{"iopl", EPERM, "I/O ports"},
	{"ioperm", EPERM, "I/O ports"},
	/* the clock everyone shares */
	{"settimeofday", EPERM, "set the clock"},
	{"clock_settime", EPERM, "set the clock"},
	{"adjtimex", EPERM, "adjust the clock"},
	{"clock_adjtime", EPERM, "adjust the clock"},
	/* clone3 takes its flags in memory, where a filter cannot look: fail it as missing, so the
	 * C library falls back to clone, whose namespace flags the rule below can see. */
	{"clone3", ENOSYS, "namespaces through flags a filter cannot read"},
};
const size_t oys_seccomp_ndeny = sizeof oys_seccomp_deny / sizeof *oys_seccomp_deny;

/* clone with any of these makes a namespace (CLONE_NEWTIME is not valid for clone). */
static const unsigned long clone_ns[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET,
                                         CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWCGROUP};

int oys_seccomp_export(int fd, struct oys_err *e)
{
	scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
	if (c == NULL)
		return oys_err_set(e, OYS_ESOFTWARE, "seccomp_init failed");
	int rc = seccomp_attr_set(c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	for (size_t i = 0; rc == 0 && i < oys_seccomp_ndeny; i++) {
		int nr = seccomp_syscall_resolve_name(oys_seccomp_deny[i].syscall);
		if (nr == __NR_SCMP_ERROR) {
			seccomp_release(c);
			return oys_err_set(e, OYS_ESOFTWARE, "seccomp: unknown system call %s", oys_seccomp_deny[i].syscall);
		}
		rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(oys_seccomp_deny[i].err), nr, 0);
		if (rc)
			oys_err_set(e, OYS_ESOFTWARE, "seccomp: cannot add a rule for %s: %s", oys_seccomp_deny[i].syscall,
			            strerror(-rc));
	}
	for (size_t i = 0; rc == 0 && i < sizeof clone_ns / sizeof *clone_ns; i++) {
		rc = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
		                      SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns[i], clone_ns[i]));
		if (rc)
			oys_err_set(e, OYS_ESOFTWARE, "seccomp: cannot add the clone rule: %s", strerror(-rc));
	}
	if (rc == 0 && (rc = seccomp_export_bpf(c, fd)) != 0)
		oys_err_set(e, OYS_ESOFTWARE, "seccomp: cannot export the filter: %s", strerror(-rc));
	seccomp_release(c);
	return rc ? OYS_ESOFTWARE : 0;
}
