#include "base/readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/xmalloc.h"

static int read_file_fail(struct read_file *ret, enum read_file_step step,
                          int r)
{
	ret->step = step;
	return r;
}

int read_file(const char *path, size_t max, unsigned flags, struct buf *out,
              struct read_file *ret)
{
	int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
	char chunk[65536];
	ssize_t n;
	int fd, r = 0;

	memset(ret, 0, sizeof(*ret));
	ret->fd = -1;
	buf_reset(out);
	if (flags & READ_FILE_REGULAR)
		oflags |= O_NONBLOCK;
	fd = open(path, oflags);
	if (fd < 0)
		return read_file_fail(ret, READ_FILE_OPEN, -errno);
	if (fstat(fd, &ret->st) < 0) {
		r = read_file_fail(ret, READ_FILE_STAT, -errno);
		goto out;
	}
	if ((flags & READ_FILE_REGULAR) && !S_ISREG(ret->st.st_mode)) {
		r = read_file_fail(ret, READ_FILE_TYPE,
		                   S_ISDIR(ret->st.st_mode) ? -EISDIR
		                                            : -EINVAL);
		goto out;
	}
	/* A secret is read into one buffer of its final size: no realloc
	 * leaves a copy behind in freed memory. */
	if ((flags & READ_FILE_SECRET) && out->cap < max + 1) {
		if (out->data != NULL)
			explicit_bzero(out->data, out->cap);
		free(out->data);
		out->data = xmalloc(max + 1);
		out->cap = max + 1;
		out->data[0] = '\0';
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = read_file_fail(ret, READ_FILE_READ, -errno);
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > max - out->len ||
		    buf_append(out, chunk, (size_t)n) < 0) {
			r = read_file_fail(ret, READ_FILE_LIMIT, -E2BIG);
			break;
		}
	}
	if (flags & READ_FILE_SECRET)
		explicit_bzero(chunk, sizeof(chunk));
	if (r < 0) {
		if ((flags & READ_FILE_SECRET) && out->data != NULL)
			explicit_bzero(out->data, out->cap);
		buf_reset(out);
	}
out:
	if (r == 0 && (flags & READ_FILE_KEEP_FD))
		ret->fd = fd;
	else
		close(fd);
	return r;
}
