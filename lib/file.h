/* file.h: files done safely: whole reads with a limit, atomic writes, locks, the runtime
 * directory and the per-request directories in it. */
#ifndef OYS_FILE_H
#define OYS_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/* Reads all of fd or of path ("-" is stdin) into b, at most max bytes (more: OYS_EDATA
 * "... larger than N bytes"). Missing path: OYS_ENOINPUT. */
int oys_read_fd(int fd, const char *what, size_t max, struct oys_buf *b, struct oys_err *e);
int oys_read_file(const char *path, size_t max, struct oys_buf *b, struct oys_err *e);

/* Writes all of p to fd, retrying on EINTR and short writes. Returns 0 or -1 (errno set). */
int oys_write_all(int fd, const void *p, size_t n);

/* Writes data to path atomically: a temporary file in the same directory, fsync, rename,
 * fsync of the directory. A crash leaves either the old file or the new one, never a part.
 * path "-" writes to stdout instead. */
int oys_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                     struct oys_err *e);

/* Writes a new file (it must not exist; symlinks are not followed) without fsync: for scratch
 * files of one request, which need no durability, only to be whole before they are used. */
int oys_write_new(const char *path, const void *data, size_t len, mode_t mode, struct oys_err *e);

/* fsync(2) of a directory, so a rename or unlink in it survives a crash. Returns 0 or -1. */
int oys_fsync_dir(const char *dir);

/* mkdir -p with mode for the directories it creates. */
int oys_mkdir_p(const char *path, mode_t mode, struct oys_err *e);

/* Removes path and everything below it without following symlinks. Missing is success. */
int oys_rm_rf(const char *path, struct oys_err *e);

/* A lowercase hex string of n random bytes (out needs 2n+1). Returns 0 or -1. */
int oys_random_hex(char *out, size_t nbytes);

/* Monotonic milliseconds, for durations. */
double oys_now_ms(void);

/* ---- locks ---- */

/* Opens (creating) path and takes an exclusive flock. wait: block until free, else fail with
 * EWOULDBLOCK. Guards against the file being unlinked between open and lock. Returns the fd
 * (close-on-exec) or -1 with errno. */
int oys_lock_path(const char *path, int wait);

/* ---- the runtime directory (OYS_RUNTIME_DIR, default /run/oys) ---- */

#define OYS_DEFAULT_RUNTIME_DIR "/run/oys"

/* The runtime directory path: what oys_runtime_dir_set() was given (cmd/ resolves
 * OYS_RUNTIME_DIR once, see conf.h), else OYS_DEFAULT_RUNTIME_DIR. */
const char *oys_runtime_dir(void);
void oys_runtime_dir_set(const char *dir);
/* Creates the runtime directory (mode 0755, and the missing directories above it) unless it
 * is there, and checks that it may be trusted, once per process: it must be a directory owned
 * by the effective uid (or root, trusted anyway) that nobody else may write; every directory
 * above it owned by the effective uid or root and not writable by group or others unless
 * sticky (/tmp is fine); every symbolic link on the way owned by the effective uid or root.
 * Anything else is OYS_ECONFIG naming the directory and what is wrong. */
int oys_runtime_check(struct oys_err *e);
/* oys_runtime_check(), then the subdirectory sub (may be NULL), created 0755 and held to the
 * same rule (ours, a directory, not a link, writable by nobody else); returns 0 or error. The
 * full path is written to out (size PATH_MAX). */
int oys_runtime_subdir(const char *sub, char *out, size_t outsz, struct oys_err *e);

/* A directory of its own for one request, RUNTIME/req/<id>/, held by a lock file
 * RUNTIME/req/<id>.lock for as long as the request runs. oys_reqdir_sweep() removes the
 * directories whose holder is gone (crashed, killed), so nothing stays behind. */
struct oys_reqdir {
	char id[33];          /* 32 hex characters */
	char path[4096];      /* RUNTIME/req/<id> */
	int lockfd;
	int keep;             /* oys_reqdir_close() leaves the files (for --keep) */
};
int oys_reqdir_create(struct oys_reqdir *r, struct oys_err *e);
/* path of a file in the request directory; name must be a plain file name. */
int oys_reqdir_file(const struct oys_reqdir *r, const char *name, char *out, size_t outsz);
/* Removes the directory (unless keep) and releases the lock. Safe to call twice. */
void oys_reqdir_close(struct oys_reqdir *r);
/* Removes directories under RUNTIME/req whose lock is not held. Returns how many. */
int oys_reqdir_sweep(void);

#endif
