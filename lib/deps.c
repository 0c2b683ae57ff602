/* Dependencies: spec parsing, ids, request paths, decoders (being written). */
#include <errno.h>

#include "deps.h"

int dep_new(enum dep_kind kind, const char *spec, struct dep **ret,
            struct err *e)
{
	(void)kind;
	(void)spec;
	(void)ret;
	return err_msg(e, -ENOSYS, "dependencies not implemented yet");
}

struct dep *dep_dup(const struct dep *d)
{
	(void)d;
	return NULL;
}

struct dep *dep_free(struct dep *d)
{
	(void)d;
	return NULL;
}

enum dep_kind dep_kind(const struct dep *d)
{
	(void)d;
	return DEP_AGENT_SELF;
}

const char *dep_id(const struct dep *d)
{
	(void)d;
	return "";
}

bool dep_blocking(const struct dep *d)
{
	(void)d;
	return false;
}

char *dep_request_path(const struct dep *d)
{
	(void)d;
	return NULL;
}

int dep_decode(const struct dep *d, long status, const char *body, size_t len,
               json_t **ret, json_t *dropped, struct err *e)
{
	(void)d;
	(void)status;
	(void)body;
	(void)len;
	(void)ret;
	(void)dropped;
	return err_msg(e, -ENOSYS, "decoding not implemented yet");
}
