/*
 * A bounded whole-file read: the one place that opens a file to read it
 * whole (configuration, the Consul token file, templates, the `file`
 * template function, the destination before a publish).
 *
 * The file is opened O_RDONLY | O_CLOEXEC | O_NOCTTY, always. With
 * READ_FILE_REGULAR it is also opened O_NONBLOCK (a FIFO or a device
 * must not block the loop, nor SIGTERM with it) and anything but a
 * regular file is refused. More than max bytes fails with -E2BIG and
 * nothing is kept. READ_FILE_SECRET wipes every copy the read made but
 * the one handed back (the token file).
 *
 * Errors are -errno only: the callers word them (their messages differ,
 * and are part of the behaviour), told by ret->step which step failed.
 */
#ifndef CH_READFILE_H
#define CH_READFILE_H

#include <stddef.h>
#include <sys/stat.h>

#include "base/buf.h"

enum read_file_flags {
	READ_FILE_REGULAR = 1 << 0, /* refuse what is not a regular file */
	READ_FILE_SECRET = 1 << 1,  /* wipe the copies made on the way */
	READ_FILE_KEEP_FD = 1 << 2, /* on success, ret->fd stays open */
};

enum read_file_step {
	READ_FILE_OPEN,  /* open(2) failed: -errno */
	READ_FILE_STAT,  /* fstat(2) failed: -errno */
	READ_FILE_TYPE,  /* not a regular file: -EISDIR or -EINVAL */
	READ_FILE_READ,  /* read(2) failed: -errno */
	READ_FILE_LIMIT, /* larger than max: -E2BIG */
};

struct read_file {
	struct stat st;           /* set from the STAT step on */
	enum read_file_step step; /* where it failed; meaningless on success */
	int fd;                   /* READ_FILE_KEEP_FD: the caller closes */
};

/*
 * Append the file's content to out (its own limit still applies) and
 * return 0, or -errno with ret->step set; out is reset first and, on
 * error, left empty. max counts from the reset: out holds at most max.
 */
int read_file(const char *path, size_t max, unsigned flags, struct buf *out,
              struct read_file *ret);

#endif
