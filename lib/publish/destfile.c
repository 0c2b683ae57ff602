#include "publish/destfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/readfile.h"
#include "base/xmalloc.h"

#define DESTFILE_LABEL_XATTR "security.selinux"
#define DESTFILE_TEMP_TAG    ".consul-hosts."
#define DESTFILE_TEMP_RAND   6 /* mkostemp's XXXXXX */

struct destfile {
	char *path;   /* as configured */
	char *target; /* the file written: path, or where its link ends */
	char *dir;    /* of target */
	char *base;
	char *user;
	char *group;
	int perms;
	bool backup, create_dirs, in_place;
	bool link; /* the last read followed a symbolic link */
	/* The old file's SELinux label, copied to each staged file. */
	char label[256];
	ssize_t label_len;
};

/* Write to target from now on: its directory and name. */
static void destfile_set_target(struct destfile *f, const char *target)
{
	char *tmp;

	if (f->target != NULL && strcmp(f->target, target) == 0)
		return;
	free(f->target);
	free(f->dir);
	free(f->base);
	f->target = xstrdup(target);
	tmp = xstrdup(target);
	f->dir = xstrdup(dirname(tmp));
	free(tmp);
	tmp = xstrdup(target);
	f->base = xstrdup(basename(tmp));
	free(tmp);
}

int destfile_new(const struct tmpl_conf *tc, const char *dest,
                 struct destfile **ret, struct err *e)
{
	struct destfile *f;

	if (dest == NULL || dest[0] == '\0')
		return err_msg(e, -EINVAL, "template has no destination");
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(dest);
	f->user = tc->user != NULL ? xstrdup(tc->user) : NULL;
	f->group = tc->group != NULL ? xstrdup(tc->group) : NULL;
	f->perms = tc->perms;
	f->backup = tc->backup;
	f->create_dirs = tc->create_dest_dirs;
	f->in_place = tc->in_place;
	f->label_len = -1;
	destfile_set_target(f, dest);
	*ret = f;
	return 0;
}

struct destfile *destfile_free(struct destfile *f)
{
	if (f == NULL)
		return NULL;
	free(f->path);
	free(f->target);
	free(f->dir);
	free(f->base);
	free(f->user);
	free(f->group);
	free(f);
	return NULL;
}

const char *destfile_target(const struct destfile *f)
{
	return f->target;
}

bool destfile_link(const struct destfile *f)
{
	return f->link;
}

/* Follow a symbolic link at path to the file it ends at. */
static int destfile_resolve(struct destfile *f, struct err *e)
{
	struct stat st;
	char *real;

	f->link = false;
	if (lstat(f->path, &st) < 0 || !S_ISLNK(st.st_mode)) {
		destfile_set_target(f, f->path);
		return 0;
	}
	real = realpath(f->path, NULL);
	if (real == NULL) {
		char to[PATH_MAX];
		ssize_t n = readlink(f->path, to, sizeof(to) - 1);

		to[n > 0 ? n : 0] = '\0';
		return err_msg(e, -errno,
		               "destination %s is a symbolic link to \"%s\", "
		               "which cannot be followed: %s; replacing the "
		               "link with a file would break it, so nothing is "
		               "written",
		               f->path, to, strerror(errno));
	}
	destfile_set_target(f, real);
	free(real);
	f->link = true;
	return 0;
}

int destfile_read(struct destfile *f, struct buf *out, struct destfile_old *ret,
                  struct err *e)
{
	struct read_file rf;
	int r;

	buf_reset(out);
	memset(ret, 0, sizeof(*ret));
	r = destfile_resolve(f, e);
	if (r < 0)
		return r;
	r = read_file(f->target, DESTFILE_MAX,
	              READ_FILE_REGULAR | READ_FILE_KEEP_FD, out, &rf);
	ret->st = rf.st;
	if (r == -ENOENT && rf.step == READ_FILE_OPEN)
		return 0;
	if (r < 0) {
		switch (rf.step) {
		case READ_FILE_OPEN:
		case READ_FILE_READ:
			return err_msg(e, r, "cannot read %s: %s", f->target,
			               strerror(-r));
		case READ_FILE_STAT:
			return err_msg(e, r, "cannot stat %s: %s", f->target,
			               strerror(-r));
		case READ_FILE_TYPE:
			if (r == -EISDIR)
				return err_msg(e, r,
				               "destination %s is a directory, "
				               "not a file",
				               f->target);
			return err_msg(e, r,
			               "destination %s is not a regular file",
			               f->target);
		case READ_FILE_LIMIT:
			return err_msg(e, r, "%s is larger than %u bytes",
			               f->target, DESTFILE_MAX);
		}
	}
	f->label_len = fgetxattr(rf.fd, DESTFILE_LABEL_XATTR, f->label,
	                         sizeof(f->label));
	ret->exists = true;
	close(rf.fd);
	return 0;
}

/* mkdir -p for the target's directory, 0755. */
static int destfile_make_dirs(struct destfile *f, struct err *e)
{
	char *path = xstrdup(f->dir);
	int r = 0;

	for (char *s = path + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			r = err_msg(e, -errno, "cannot create directory %s: %s",
			            path, strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(path);
	return r;
}

/* Numeric or named user/group; -1 when not configured. */
static int destfile_want_owner(const struct destfile *f, uid_t *ret_uid,
                               gid_t *ret_gid, struct err *e)
{
	char *end;

	*ret_uid = (uid_t)-1;
	*ret_gid = (gid_t)-1;
	if (f->user != NULL) {
		struct passwd *pw = getpwnam(f->user);
		unsigned long v = strtoul(f->user, &end, 10);

		if (pw != NULL)
			*ret_uid = pw->pw_uid;
		else if (*f->user != '\0' && *end == '\0')
			*ret_uid = (uid_t)v;
		else
			return err_msg(e, -ENOENT, "%s: unknown user \"%s\"",
			               f->path, f->user);
	}
	if (f->group != NULL) {
		struct group *gr = getgrnam(f->group);
		unsigned long v = strtoul(f->group, &end, 10);

		if (gr != NULL)
			*ret_gid = gr->gr_gid;
		else if (*f->group != '\0' && *end == '\0')
			*ret_gid = (gid_t)v;
		else
			return err_msg(e, -ENOENT, "%s: unknown group \"%s\"",
			               f->path, f->group);
	}
	return 0;
}

bool destfile_attrs_ok(const struct destfile *f, const struct destfile_old *old)
{
	uid_t uid;
	gid_t gid;

	if (!old->exists)
		return false;
	if (f->perms >= 0 && (old->st.st_mode & 07777) != (mode_t)f->perms)
		return false;
	if (destfile_want_owner(f, &uid, &gid, NULL) < 0)
		return true; /* reported when staging */
	return (uid == (uid_t)-1 || uid == old->st.st_uid) &&
	       (gid == (gid_t)-1 || gid == old->st.st_gid);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A write error, with what the operator can do about the common ones. */
static int destfile_write_error(struct err *e, int r, const char *path,
                                size_t len)
{
	if (r == -EFBIG)
		return err_msg(e, r,
		               "cannot write %s: %s: the %zu bytes exceed the "
		               "file size limit (ulimit -f, LimitFSIZE=)",
		               path, strerror(-r), len);
	if (r == -ENOSPC || r == -EDQUOT)
		return err_msg(e, r, "cannot write %s (%zu bytes): %s", path,
		               len, strerror(-r));
	return err_msg(e, r, "cannot write %s: %s", path, strerror(-r));
}

int destfile_stage(struct destfile *f, const char *data, size_t len,
                   const struct destfile_old *old, char **ret_path,
                   struct err *e)
{
	char *path;
	uid_t uid;
	gid_t gid;
	mode_t mode;
	int fd, r;

	if (access(f->dir, F_OK) < 0 && errno == ENOENT) {
		if (!f->create_dirs)
			return err_msg(e, -ENOENT,
			               "directory %s does not exist "
			               "(create_dest_dirs = false)",
			               f->dir);
		r = destfile_make_dirs(f, e);
		if (r < 0)
			return r;
	}
	r = destfile_want_owner(f, &uid, &gid, e);
	if (r < 0)
		return r;
	path = xasprintf("%s/.%s" DESTFILE_TEMP_TAG "XXXXXX", f->dir, f->base);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		r = err_msg(e, -errno,
		            "cannot create a temporary file in %s: %s", f->dir,
		            strerror(errno));
		free(path);
		return r;
	}
	r = write_all(fd, data, len);
	if (r < 0) {
		destfile_write_error(e, r, path, len);
		goto fail;
	}
	if (uid == (uid_t)-1 && old->exists)
		uid = old->st.st_uid;
	if (gid == (gid_t)-1 && old->exists)
		gid = old->st.st_gid;
	/* chown before chmod: chown may clear set-id bits. */
	if (((uid != (uid_t)-1 && uid != geteuid()) ||
	     (gid != (gid_t)-1 && gid != getegid())) &&
	    fchown(fd, uid, gid) < 0 && (f->user != NULL || f->group != NULL)) {
		r = -errno;
		err_msg(e, r, "cannot chown %s: %s", path, strerror(-r));
		goto fail;
	}
	mode = f->perms >= 0 ? (mode_t)f->perms
	       : old->exists ? old->st.st_mode & 07777
	                     : 0644;
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		err_msg(e, r, "cannot chmod %s: %s", path, strerror(-r));
		goto fail;
	}
	/* The old file's SELinux context (net_conf_t for /etc/hosts): a
	 * renamed file would otherwise keep the directory's default. */
	if (old->exists && f->label_len > 0)
		(void)fsetxattr(fd, DESTFILE_LABEL_XATTR, f->label,
		                (size_t)f->label_len, 0);
	if (fsync(fd) < 0) {
		r = -errno;
		destfile_write_error(e, r, path, len);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		destfile_write_error(e, r, path, len);
		goto fail;
	}
	*ret_path = path;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	(void)unlink(path);
	free(path);
	return r;
}

char *destfile_discard(char *staged)
{
	if (staged != NULL) {
		(void)unlink(staged);
		free(staged);
	}
	return NULL;
}

static void destfile_sync_dir(const struct destfile *f)
{
	int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Not atomic: for a target that is a mount point (in_place). */
static int destfile_write_in_place(struct destfile *f, const char *data,
                                   size_t len, struct err *e)
{
	int fd = open(f->target, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return err_msg(e, -errno, "cannot rewrite %s in place: %s",
		               f->target, strerror(errno));
	r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		err_msg(e, r, "cannot rewrite %s in place: %s", f->target,
		        strerror(-r));
	return r;
}

int destfile_swap(struct destfile *f, const char *staged, const char *data,
                  size_t len, const struct destfile_old *old, struct err *e)
{
	int r;

	if (f->backup && old->exists) {
		char *bak = xasprintf("%s.bak", f->target);

		(void)unlink(bak);
		(void)link(f->target, bak);
		free(bak);
	}
	if (rename(staged, f->target) == 0) {
		destfile_sync_dir(f);
		return 0;
	}
	r = -errno;
	if ((r == -EBUSY || r == -EXDEV) && f->in_place) {
		r = destfile_write_in_place(f, data, len, e);
	} else if (r == -EBUSY || r == -EXDEV) {
		err_msg(e, r,
		        "cannot replace %s: %s: destination is a mount point "
		        "(bind-mounted /etc/hosts?); set in_place = true to "
		        "rewrite it in place",
		        f->target, strerror(-r));
	} else {
		err_msg(e, r, "cannot rename %s to %s: %s", staged, f->target,
		        strerror(-r));
	}
	(void)unlink(staged);
	return r;
}

int destfile_replace(struct destfile *f, const char *data, size_t len,
                     const struct destfile_old *old, struct err *e)
{
	char *staged = NULL;
	int r = destfile_stage(f, data, len, old, &staged, e);

	if (r == 0)
		r = destfile_swap(f, staged, data, len, old, e);
	free(staged);
	return r;
}

/* name is ".<base>.consul-hosts.XXXXXX": one of our temp files. */
static bool destfile_is_temp(const struct destfile *f, const char *name)
{
	size_t blen = strlen(f->base), tlen = strlen(DESTFILE_TEMP_TAG);

	if (name[0] != '.' || strncmp(name + 1, f->base, blen) != 0 ||
	    strncmp(name + 1 + blen, DESTFILE_TEMP_TAG, tlen) != 0)
		return false;
	name += 1 + blen + tlen;
	if (strlen(name) != DESTFILE_TEMP_RAND)
		return false;
	for (; *name != '\0'; name++)
		if (!((*name >= 'a' && *name <= 'z') ||
		      (*name >= 'A' && *name <= 'Z') ||
		      (*name >= '0' && *name <= '9')))
			return false;
	return true;
}

unsigned destfile_remove_stale(struct destfile *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!destfile_is_temp(f, de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}
