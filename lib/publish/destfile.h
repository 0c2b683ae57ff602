/*
 * The destination file: read it, stage a new version beside it, swap it
 * into place atomically and durably.
 *
 * A destination that is a symbolic link (NixOS, appliance images link
 * /etc/hosts) is never replaced by a regular file: each read resolves the
 * link, and the file it ends at is what is staged beside and replaced
 * (destfile_link() says so, for the caller to log once). A link that
 * points nowhere is an error naming it.
 *
 * Staging: ".<name>.consul-hosts.XXXXXX" in the target's directory
 * (dot-prefixed, so dnsmasq's --hostsdir ignores it), O_CREAT|O_EXCL|
 * O_CLOEXEC, full write, the old file's owner, mode and SELinux label
 * (the security.selinux extended attribute: a confined resolver keeps
 * reading /etc/hosts), or perms/user/group when configured, 0644 when
 * new; fsync. Swap: optional hard-link backup "<target>.bak", rename,
 * fsync of the directory. EBUSY/EXDEV (a bind-mounted file) fails with a
 * message saying so unless in_place is set: the file is then rewritten in
 * place (NOT atomic). A temp file left by a killed process (the same name
 * pattern) is removed by destfile_remove_stale().
 *
 * Pure I/O module: returns 0 / -errno with e filled; never logs.
 */
#ifndef CH_DESTFILE_H
#define CH_DESTFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/err.h"

/* The largest destination file read or written. */
#define DESTFILE_MAX (64u * 1024 * 1024)

struct destfile;

/* What a read found. */
struct destfile_old {
	bool exists;
	struct stat st;
};

/* tc is copied from; dest is the configured path. */
int destfile_new(const struct tmpl_conf *tc, const char *dest,
                 struct destfile **ret, struct err *e);
struct destfile *destfile_free(struct destfile *f); /* NULL-safe */

/* The file written (the link's target, or the configured path). */
const char *destfile_target(const struct destfile *f);
/* Whether the last read followed a symbolic link. */
bool destfile_link(const struct destfile *f);

/* Read the file into out (reset first); ret->exists false when absent. */
int destfile_read(struct destfile *f, struct buf *out, struct destfile_old *ret,
                  struct err *e);
/* Whether a file like old already has the configured mode and owner. */
bool destfile_attrs_ok(const struct destfile *f,
                       const struct destfile_old *old);
/*
 * Write data to a new temp file next to the target (creating missing
 * directories when create_dest_dirs), with old's owner, mode and label;
 * *ret_path is its path (the caller frees it; destfile_discard removes it).
 */
int destfile_stage(struct destfile *f, const char *data, size_t len,
                   const struct destfile_old *old, char **ret_path,
                   struct err *e);
/* Put the staged file in place (data/len are for in_place). */
int destfile_swap(struct destfile *f, const char *staged, const char *data,
                  size_t len, const struct destfile_old *old, struct err *e);
/* Unlink and free a staged path; NULL-safe; returns NULL. */
char *destfile_discard(char *staged);
/* Stage and swap in one step. */
int destfile_replace(struct destfile *f, const char *data, size_t len,
                     const struct destfile_old *old, struct err *e);
/* Remove temp files a killed process left beside the target; how many. */
unsigned destfile_remove_stale(struct destfile *f);

#endif
