#include "store.h"
#include "codec.h"
#include "file.h"
#include "opt.h"
#include "sha256.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CODE_MODE 0640
#define DIR_MODE 0750

/* ---- ids and names ---- */

int oys_code_id_kind(const char *id)
{
	if (id == NULL)
		return OYS_CODE_ID_INVALID;
	if (oys_is_hex(id, 64, 1))
		return OYS_CODE_ID_HASH;
	if (id[0] == '0' && id[1] == 'x' && oys_is_hex(id + 2, 64, 0))
		return OYS_CODE_ID_TX;
	return OYS_CODE_ID_INVALID;
}

int oys_code_id_valid(const char *id)
{
	return oys_code_id_kind(id) != OYS_CODE_ID_INVALID;
}

int oys_code_id_check(const char *id, struct oys_err *e)
{
	if (oys_code_id_valid(id))
		return 0;
	return oys_err_set(e, OYS_EUSAGE, "'%.80s%s' is not a code id (64 lowercase hex digits, or 0x and 64 hex digits)",
	                   id ? id : "", id && strlen(id) > 80 ? "..." : "");
}

int oys_store_name_valid(const char *name)
{
	if (name == NULL)
		return 0;
	size_t n = strlen(name);
	if (n == 0 || n > OYS_CODE_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return 0;
	return !oys_code_id_valid(name);
}

/* ---- paths ---- */

static int join(char *out, size_t outsz, const char *a, const char *b, const char *c)
{
	int n = c ? snprintf(out, outsz, "%s/%s/%s", a, b, c) : snprintf(out, outsz, "%s/%s", a, b);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* The path of the file for id (which must be a valid content hash). 0 or -1. */
static int oys_store_path(const struct oys_store *s, const char *id, char *out, size_t outsz)
{
	if (oys_code_id_kind(id) != OYS_CODE_ID_HASH)
		return -1;
	return join(out, outsz, s->dir, id, NULL);
}

int oys_store_is_url(const char *s)
{
	return s && (strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0);
}

int oys_store_open(struct oys_store *s, const char *dir, int create, struct oys_err *e)
{
	if (dir == NULL)
		dir = OYS_DEFAULT_STORE;
	if (oys_store_is_url(dir))
		return oys_err_set(e, OYS_ECONFIG, "store %s is a storage server URL, not a directory", dir);
	if (*dir == '\0')
		return oys_err_set(e, OYS_ECONFIG, "store directory is empty");
	/* Room for "/names/<name>" and "/.tmp/put-<hex>" below it. */
	if (strlen(dir) + 200 >= sizeof s->dir)
		return oys_err_set(e, OYS_ECONFIG, "store directory %s: path too long", dir);
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	size_t n = strlen(s->dir);
	while (n > 1 && s->dir[n - 1] == '/')
		s->dir[--n] = '\0';
	struct stat st;
	if (stat(s->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return oys_err_set(e, OYS_ECONFIG, "store %s is not a directory", s->dir);
		return 0;
	}
	if (errno != ENOENT)
		return oys_err_sys(e, OYS_EIO, "store %s", s->dir);
	if (!create)
		return oys_err_set(e, OYS_ENOINPUT, "store %s does not exist", s->dir);
	return oys_mkdir_p(s->dir, DIR_MODE, e);
}

/* ---- writing: .tmp/put-<random>, locked by its writer, renamed to the id ---- */

struct writer {
	char tmp[PATH_MAX];
	int fd;
	struct oys_sha256 md;
	size_t len;
};

static int subdir(const struct oys_store *s, const char *sub, mode_t mode, char *out, size_t outsz,
                  struct oys_err *e)
{
	if (join(out, outsz, s->dir, sub, NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	if (mkdir(out, mode) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", out);
	return 0;
}

static int writer_begin(const struct oys_store *s, struct writer *w, struct oys_err *e)
{
	char dir[PATH_MAX];
	memset(w, 0, sizeof *w);
	w->fd = -1;
	int rc = subdir(s, ".tmp", 0700, dir, sizeof dir, e);
	if (rc)
		return rc;
	for (int tries = 0; tries < 16; tries++) {
		char rnd[33];
		if (oys_random_hex(rnd, 16) < 0)
			return oys_err_sys(e, OYS_EOSERR, "no randomness");
		if (join(w->tmp, sizeof w->tmp, dir, "put-", NULL) < 0 ||
		    strlen(w->tmp) + sizeof rnd > sizeof w->tmp)
			return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
		strcat(w->tmp, rnd);
		int fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, CODE_MODE);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", w->tmp);
		}
		/* The lock tells a sweeper we are alive. A sweeper may have unlinked the file
		 * between our open and our lock: then it has no link left, and we start over. */
		struct stat st;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0) {
			oys_err_sys(e, OYS_EIO, "cannot lock %s", w->tmp);
			close(fd);
			unlink(w->tmp);
			return OYS_EIO;
		}
		if (st.st_nlink == 0) {
			close(fd);
			continue;
		}
		w->fd = fd;
		oys_sha256_init(&w->md);
		return 0;
	}
	return oys_err_set(e, OYS_ECANTCREAT, "cannot create a temporary file in %s", dir);
}

static void writer_abort(struct writer *w)
{
	if (w->fd >= 0) {
		unlink(w->tmp);
		close(w->fd);
		w->fd = -1;
	}
}

static int writer_write(struct writer *w, const void *p, size_t n, struct oys_err *e)
{
	oys_sha256_update(&w->md, p, n);
	if (oys_write_all(w->fd, p, n) < 0)
		return oys_err_sys(e, OYS_EIO, "cannot write %s", w->tmp);
	w->len += n;
	return 0;
}

static int writer_commit(const struct oys_store *s, struct writer *w, char id[65], struct oys_err *e)
{
	unsigned char md[OYS_SHA256_LEN];
	oys_sha256_final(&w->md, md);
	oys_hex_to(id, md, OYS_SHA256_LEN);
	char path[PATH_MAX];
	if (oys_store_path(s, id, path, sizeof path) < 0) {
		writer_abort(w);
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	}
	if (fchmod(w->fd, CODE_MODE) < 0 || fsync(w->fd) < 0) {
		oys_err_sys(e, OYS_EIO, "cannot write %s", w->tmp);
		writer_abort(w);
		return OYS_EIO;
	}
	if (rename(w->tmp, path) < 0) {
		oys_err_sys(e, OYS_ECANTCREAT, "cannot rename %s to %s", w->tmp, path);
		writer_abort(w);
		return OYS_ECANTCREAT;
	}
	int rc = 0;
	if (oys_fsync_dir(s->dir) < 0)
		rc = oys_err_sys(e, OYS_EIO, "cannot sync %s", s->dir);
	close(w->fd);
	w->fd = -1;
	return rc;
}

/* Removes leftovers of killed puts (temporary files whose writer is gone). Returns how many. */
static int oys_store_sweep(const struct oys_store *s)
{
	char dir[PATH_MAX];
	if (join(dir, sizeof dir, s->dir, ".tmp", NULL) < 0)
		return 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "put-", 4) != 0)
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}

int oys_store_put(const struct oys_store *s, const void *data, size_t len, char id[65],
                  struct oys_err *e)
{
	struct writer w;
	oys_store_sweep(s);
	int rc = writer_begin(s, &w, e);
	if (rc)
		return rc;
	if ((rc = writer_write(&w, data, len, e))) {
		writer_abort(&w);
		return rc;
	}
	return writer_commit(s, &w, id, e);
}

int oys_store_put_fd(const struct oys_store *s, int fd, const char *what, size_t max,
                     char id[65], struct oys_err *e)
{
	return oys_store_put_fd_head(s, NULL, 0, fd, what, max, id, e);
}

int oys_store_put_fd_head(const struct oys_store *s, const void *head, size_t nhead, int fd, const char *what,
                          size_t max, char id[65], struct oys_err *e)
{
	struct writer w;
	if (max == 0)
		max = OYS_CODE_MAX_DEFAULT;
	if (nhead > max)
		return oys_err_set(e, OYS_EDATA, "%s is larger than %zu bytes", what, max);
	oys_store_sweep(s);
	int rc = writer_begin(s, &w, e);
	if (rc)
		return rc;
	if (nhead && (rc = writer_write(&w, head, nhead, e))) {
		writer_abort(&w);
		return rc;
	}
	char *buf = malloc(65536);
	if (buf == NULL) {
		writer_abort(&w);
		return oys_err_sys(e, OYS_EOSERR, "%s", what);
	}
	for (;;) {
		ssize_t n = read(fd, buf, 65536);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = oys_err_sys(e, OYS_EIO, "cannot read %s", what);
			break;
		}
		if (n == 0)
			break;
		if (w.len + (size_t)n > max) {
			rc = oys_err_set(e, OYS_EDATA, "%s is larger than %zu bytes", what, max);
			break;
		}
		if ((rc = writer_write(&w, buf, (size_t)n, e)))
			break;
	}
	free(buf);
	if (rc) {
		writer_abort(&w);
		return rc;
	}
	return writer_commit(s, &w, id, e);
}

/* ---- reading ---- */

static int bad_id(const char *id, struct oys_err *e)
{
	return oys_err_set(e, OYS_EUSAGE, "'%.80s%s' is not a content hash (64 lowercase hex digits)",
	                   id, strlen(id) > 80 ? "..." : "");
}

int oys_store_get(const struct oys_store *s, const char *id, size_t max, struct oys_buf *out,
                  struct oys_err *e)
{
	char path[PATH_MAX], sum[65];
	if (max == 0)
		max = OYS_CODE_MAX_DEFAULT;
	if (oys_store_path(s, id, path, sizeof path) < 0)
		return bad_id(id, e);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return oys_err_set(e, OYS_ENOINPUT, "code %s not found in %s", id, s->dir);
		return oys_err_sys(e, OYS_EIO, "cannot open %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return oys_err_set(e, OYS_EIO, "%s is not a regular file", path);
	}
	size_t start = out->len;
	int rc = oys_read_fd(fd, path, max, out, e);
	close(fd);
	if (rc)
		return rc;
	if (oys_sha256_hex(out->data + start, out->len - start, sum) < 0)
		return oys_err_set(e, OYS_ESOFTWARE, "SHA-256 failed");
	if (strcmp(sum, id) != 0) {
		out->len = start;
		out->data[start] = '\0';
		return oys_err_set(e, OYS_EDATA, "code %s in %s is damaged: its SHA-256 is %s", id, s->dir, sum);
	}
	return 0;
}

int oys_store_has(const struct oys_store *s, const char *id)
{
	char path[PATH_MAX];
	struct stat st;
	return oys_store_path(s, id, path, sizeof path) == 0 && lstat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

int oys_store_rm(const struct oys_store *s, const char *id, struct oys_err *e)
{
	char path[PATH_MAX];
	if (oys_store_path(s, id, path, sizeof path) < 0)
		return bad_id(id, e);
	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return oys_err_set(e, OYS_ENOINPUT, "code %s not found in %s", id, s->dir);
		return oys_err_sys(e, OYS_EIO, "cannot remove %s", path);
	}
	oys_fsync_dir(s->dir);
	return 0;
}

int oys_store_usage(const struct oys_store *s, unsigned long long *bytes, struct oys_err *e)
{
	DIR *d = opendir(s->dir);
	if (d == NULL)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot read store %s", s->dir);
	unsigned long long sum = 0;
	struct dirent *de;
	struct stat st;
	while ((de = readdir(d)) != NULL)
		if (oys_code_id_kind(de->d_name) == OYS_CODE_ID_HASH &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += (unsigned long long)st.st_size;
	closedir(d);
	*bytes = sum;
	return 0;
}

int oys_store_lock(const struct oys_store *s, int *fd, struct oys_err *e)
{
	char path[PATH_MAX];
	if (join(path, sizeof path, s->dir, ".lock", NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	*fd = oys_lock_path(path, 1);
	if (*fd < 0)
		return oys_err_sys(e, OYS_EIO, "cannot lock %s", path);
	return 0;
}

/* ---- challenges ---- */

static int nonce_dir(const struct oys_store *s, char *out, size_t outsz, struct oys_err *e)
{
	struct stat st;
	if (join(out, outsz, s->dir, ".nonces", NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", out);
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return oys_err_set(e, OYS_ECONFIG, "%s is not a directory of this user's, mode 0700", out);
	return 0;
}

/* Removes nonces and marks older than keep_s (or ttl_s when longer); returns how many
 * nonces are still waiting to be used and not expired. */
static size_t nonce_sweep(const char *dir, long ttl_s, long keep_s)
{
	DIR *d = opendir(dir);
	size_t live = 0;
	if (d == NULL)
		return 0;
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;
	while ((de = readdir(d)) != NULL) {
		char name[2 * OYS_NONCE_LEN + 1];
		size_t n = strlen(de->d_name);
		int used = n == 2 * OYS_NONCE_LEN + 5 && strcmp(de->d_name + 2 * OYS_NONCE_LEN, ".used") == 0;
		if (!(n == 2 * OYS_NONCE_LEN || used))
			continue;
		memcpy(name, de->d_name, 2 * OYS_NONCE_LEN);
		name[2 * OYS_NONCE_LEN] = '\0';
		if (!oys_is_hex(name, 2 * OYS_NONCE_LEN, 1) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* Expired nonces stay as long as marks, so that their use is named "expired". */
		if (now - st.st_mtime > (keep_s > ttl_s ? keep_s : ttl_s))
			unlinkat(dirfd(d), de->d_name, 0);
		else if (!used && now - st.st_mtime <= ttl_s)
			live++;
	}
	closedir(d);
	return live;
}

int oys_store_nonce_issue(const struct oys_store *s, long ttl_s, long keep_s, size_t max_live,
                          char hex[2 * OYS_NONCE_LEN + 1], struct oys_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int rc = nonce_dir(s, dir, sizeof dir, e);
	if (rc)
		return rc;
	if (nonce_sweep(dir, ttl_s, keep_s) >= max_live)
		return oys_err_set(e, OYS_EUNAVAIL, "%zu challenges are waiting to be used: try again later", max_live);
	for (int tries = 0; tries < 8; tries++) {
		if (oys_random_hex(hex, OYS_NONCE_LEN) < 0)
			return oys_err_sys(e, OYS_EOSERR, "no randomness");
		if (join(path, sizeof path, dir, hex, NULL) < 0)
			return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != EEXIST)
			return oys_err_sys(e, OYS_ECANTCREAT, "cannot create %s", path);
	}
	return oys_err_set(e, OYS_ECANTCREAT, "cannot create a nonce in %s", dir);
}

int oys_store_nonce_use(const struct oys_store *s, const unsigned char nonce[OYS_NONCE_LEN], long ttl_s,
                        struct oys_err *e)
{
	char dir[PATH_MAX], hex[2 * OYS_NONCE_LEN + 1], path[PATH_MAX], used[PATH_MAX + 8];
	int rc = nonce_dir(s, dir, sizeof dir, e);
	if (rc)
		return rc;
	oys_hex_to(hex, nonce, OYS_NONCE_LEN);
	if (join(path, sizeof path, dir, hex, NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	snprintf(used, sizeof used, "%s.used", path);
	/* The one atomic step: of any number of concurrent users, one rename succeeds. */
	if (rename(path, used) < 0) {
		struct stat st;
		if (errno != ENOENT)
			return oys_err_sys(e, OYS_EIO, "cannot use nonce %s", path);
		if (lstat(used, &st) == 0)
			return oys_err_set(e, OYS_ENOPERM, "nonce was already used (a replayed document)");
		return oys_err_set(e, OYS_ENOPERM, "nonce was not issued by this server (or expired long ago)");
	}
	struct stat st;
	time_t now = time(NULL);
	if (lstat(used, &st) < 0)
		return oys_err_sys(e, OYS_EIO, "cannot read %s", used);
	if (now - st.st_mtime > ttl_s)
		return oys_err_set(e, OYS_ENOPERM, "nonce expired (issued %lld s ago, a challenge lasts %ld s)",
		                   (long long)(now - st.st_mtime), ttl_s);
	return 0;
}

/* ---- small index files: names/<name> and tx/<0xhash>, each holding "id\n" ---- */

static int index_set(const struct oys_store *s, const char *sub, const char *key, const char *id,
                     struct oys_err *e)
{
	char dir[PATH_MAX], path[PATH_MAX], line[66];
	int rc = subdir(s, sub, DIR_MODE, dir, sizeof dir, e);
	if (rc)
		return rc;
	if (join(path, sizeof path, dir, key, NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	snprintf(line, sizeof line, "%s\n", id);
	return oys_write_atomic(path, line, 65, CODE_MODE, e);
}

/* 0 and the id; OYS_ENOINPUT when key has no entry; OYS_EDATA when the entry is damaged. */
static int index_get(const struct oys_store *s, const char *sub, const char *key, char id[65],
                     struct oys_err *e)
{
	char path[PATH_MAX];
	if (join(path, sizeof path, s->dir, sub, key) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return OYS_ENOINPUT;
		return oys_err_sys(e, OYS_EIO, "cannot open %s", path);
	}
	char buf[80];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n < 0)
		return oys_err_sys(e, OYS_EIO, "cannot read %s", path);
	buf[n] = '\0';
	if (n == 65 && buf[64] == '\n')
		buf[64] = '\0';
	if (oys_code_id_kind(buf) != OYS_CODE_ID_HASH)
		return oys_err_set(e, OYS_EDATA, "%s is damaged (not a content hash)", path);
	memcpy(id, buf, 65);
	return 0;
}

static int index_rm(const struct oys_store *s, const char *sub, const char *key)
{
	char path[PATH_MAX], dir[PATH_MAX];
	if (join(path, sizeof path, s->dir, sub, key) < 0 || join(dir, sizeof dir, s->dir, sub, NULL) < 0)
		return -1;
	if (unlink(path) < 0)
		return -1;
	oys_fsync_dir(dir);
	return 0;
}

static int bad_name(const char *name, struct oys_err *e)
{
	return oys_err_set(e, OYS_EUSAGE,
	                   "'%.80s%s' is not a code id or a name (1-63 of A-Z a-z 0-9 . _ -, not starting with . or -)",
	                   name, strlen(name) > 80 ? "..." : "");
}

int oys_store_name_set(const struct oys_store *s, const char *name, const char *id,
                       struct oys_err *e)
{
	if (!oys_store_name_valid(name))
		return bad_name(name, e);
	if (oys_code_id_kind(id) != OYS_CODE_ID_HASH)
		return bad_id(id, e);
	if (!oys_store_has(s, id))
		return oys_err_set(e, OYS_ENOINPUT, "code %s not found in %s", id, s->dir);
	return index_set(s, "names", name, id, e);
}

int oys_store_name_get(const struct oys_store *s, const char *name, char id[65],
                       struct oys_err *e)
{
	if (!oys_store_name_valid(name))
		return bad_name(name, e);
	int rc = index_get(s, "names", name, id, e);
	if (rc == OYS_ENOINPUT)
		return oys_err_set(e, OYS_ENOINPUT, "no code named %s in %s", name, s->dir);
	return rc;
}

int oys_store_name_rm(const struct oys_store *s, const char *name, struct oys_err *e)
{
	if (!oys_store_name_valid(name))
		return bad_name(name, e);
	if (index_rm(s, "names", name) < 0) {
		if (errno == ENOENT)
			return oys_err_set(e, OYS_ENOINPUT, "no code named %s in %s", name, s->dir);
		return oys_err_sys(e, OYS_EIO, "cannot remove name %s in %s", name, s->dir);
	}
	return 0;
}

int oys_store_resolve(const struct oys_store *s, const char *id_or_name, char id[65],
                      struct oys_err *e)
{
	if (oys_code_id_kind(id_or_name) == OYS_CODE_ID_HASH) {
		memcpy(id, id_or_name, 65);
		return 0;
	}
	if (oys_code_id_kind(id_or_name) == OYS_CODE_ID_TX)
		return oys_err_set(e, OYS_EUSAGE, "%s is a transaction hash: the store holds content hashes (use oys-fetch)", id_or_name);
	return oys_store_name_get(s, id_or_name, id, e);
}

/* tx/<contract>.<tx>, both lowercase: a cached transaction counts only for the contract it
 * was checked against. */
static int tx_key(const char *contract, const char *tx, char key[128], struct oys_err *e)
{
	if (oys_code_id_kind(tx) != OYS_CODE_ID_TX)
		return oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a transaction hash", tx);
	if (contract == NULL || strlen(contract) != 42 || contract[0] != '0' || contract[1] != 'x' ||
	    !oys_is_hex(contract + 2, 40, 0))
		return oys_err_set(e, OYS_EUSAGE, "'%.80s' is not a contract address", contract ? contract : "");
	snprintf(key, 128, "%s.%s", contract, tx);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

int oys_store_tx_set(const struct oys_store *s, const char *contract, const char *tx,
                     const char *id, struct oys_err *e)
{
	char key[128];
	int rc = tx_key(contract, tx, key, e);
	if (rc)
		return rc;
	if (oys_code_id_kind(id) != OYS_CODE_ID_HASH)
		return bad_id(id, e);
	return index_set(s, "tx", key, id, e);
}

int oys_store_tx_get(const struct oys_store *s, const char *contract, const char *tx, char id[65],
                     struct oys_err *e)
{
	char key[128];
	int rc = tx_key(contract, tx, key, e);
	if (rc)
		return rc;
	rc = index_get(s, "tx", key, id, e);
	if (rc == OYS_ENOINPUT)
		return oys_err_set(e, OYS_ENOINPUT, "transaction %s not in %s", tx, s->dir);
	return rc;
}

/* ---- listing ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, malloc'd names of the entries of dir accepted by keep(). */
static char **read_names(const char *dir, int (*keep)(const char *), size_t *count)
{
	*count = 0;
	DIR *d = opendir(dir);
	if (d == NULL)
		return NULL;
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!keep(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, cap * sizeof *v);
			if (nv == NULL)
				break;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) != NULL)
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, cmp_str);
	*count = n;
	return v;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int is_hash_id(const char *s)
{
	return oys_code_id_kind(s) == OYS_CODE_ID_HASH;
}

static int is_name(const char *s)
{
	return oys_store_name_valid(s);
}

int oys_store_list(const struct oys_store *s, jv *out, struct oys_err *e)
{
	char ndir[PATH_MAX];
	size_t nids, nnames;
	DIR *probe = opendir(s->dir);
	if (probe == NULL)
		return oys_err_sys(e, errno == ENOENT ? OYS_ENOINPUT : OYS_EIO, "cannot read store %s", s->dir);
	closedir(probe);
	if (join(ndir, sizeof ndir, s->dir, "names", NULL) < 0)
		return oys_err_set(e, OYS_ECONFIG, "store %s: path too long", s->dir);
	char **ids = read_names(s->dir, is_hash_id, &nids);
	char **names = read_names(ndir, is_name, &nnames);

	/* names -> ids, resolved once */
	char (*target)[65] = nnames ? calloc(nnames, 65) : NULL;
	for (size_t j = 0; j < nnames && target; j++)
		if (index_get(s, "names", names[j], target[j], NULL) != 0)
			target[j][0] = '\0';

	jv arr = jv_array();
	for (size_t i = 0; i < nids; i++) {
		char path[PATH_MAX];
		struct stat st;
		if (join(path, sizeof path, s->dir, ids[i], NULL) < 0 || lstat(path, &st) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		char ts[32];
		struct tm tm;
		gmtime_r(&st.st_mtime, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		jv names_of = jv_array();
		for (size_t j = 0; j < nnames && target; j++)
			if (strcmp(target[j], ids[i]) == 0)
				names_of = jv_array_append(names_of, jv_string(names[j]));
		jv o = jv_object();
		o = jv_object_set(o, jv_string("id"), jv_string(ids[i]));
		o = jv_object_set(o, jv_string("size"), jv_number((double)st.st_size));
		o = jv_object_set(o, jv_string("mtime"), jv_string(ts));
		o = jv_object_set(o, jv_string("names"), names_of);
		arr = jv_array_append(arr, o);
	}
	/* Names whose code is gone. */
	for (size_t j = 0; j < nnames && target; j++) {
		if (target[j][0] == '\0' || oys_store_has(s, target[j]))
			continue;
		jv o = jv_object();
		o = jv_object_set(o, jv_string("id"), jv_string(target[j]));
		o = jv_object_set(o, jv_string("size"), jv_null());
		o = jv_object_set(o, jv_string("names"), jv_array_append(jv_array(), jv_string(names[j])));
		o = jv_object_set(o, jv_string("missing"), jv_true());
		arr = jv_array_append(arr, o);
	}
	*out = arr;
	free(target);
	free_names(ids, nids);
	free_names(names, nnames);
	return 0;
}
