/*
 * What the files of a config load share; not an interface for anyone else
 * (config.h is). The load's steps, one file each:
 *   config_values.c   messages (file:line:col, suggestions) and the typed
 *                     getters every key's value goes through
 *   config_schema.c   the keys: each block's table of names and what each
 *                     key sets (consul, wait, exec, guard, template, top)
 *   config_sources.c  where trees come from: files, directories, the
 *                     environment, CT_LOCAL_CONFIG
 *   config_flags.c    command-line flags (their table, scan, apply) and -h
 *   config.c          the load in order (defaults, sources, flags), the
 *                     token file, finalize's cross checks, free
 * DESIGN.md speaks of config.c alone; it is these five files now.
 */
#ifndef CH_CONFIG_PRIV_H
#define CH_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "config/config.h"
#include "config/hcl.h"

#define CONFIG_MAX_TEMPLATES    256
#define CONFIG_MAX_DIR_ENTRIES  1024
#define CONFIG_MAX_DIR_DEPTH    16
#define CONFIG_MAX_PATHS        64
#define CONFIG_MAX_STRING       4096
#define CONFIG_MAX_EMIT         65535
#define CONFIG_MAX_COMMAND_RUNS 100
#define CONFIG_MAX_TOKEN_FILE   4096
#define CONFIG_DEFAULT_ADDRESS  "127.0.0.1:8500"

/* What a load knows besides the config itself. */
struct tmpl_state {
	bool wait_set;
	bool failed; /* the block had an error: skip the final checks */
	char *file;  /* where the block is, for later errors ("" for flags) */
	int line;
	int col;
};

struct load {
	struct config *c;
	struct err *e;         /* the caller's: the first error */
	struct err_list *errs; /* every error, in the order found */
	size_t nerrs;          /* errors of this load (errs may hold more) */
	int first_code;        /* -errno of the first */
	bool in_dir;           /* reading a file found under a directory */
	struct tmpl_state *ts; /* parallel to c->templates */
	bool ssl_enabled_set;
	char *default_left;
	char *default_right;
	bool emit_set;
	unsigned emit;
	bool managed_set;
	bool managed;
};

/* Validation of one tree: where it came from. */
struct vctx {
	struct load *ld;
	const char *file;          /* "" for flags */
	const struct hcl_pos *pos; /* NULL for flags */
	const char *label;         /* the flag being applied, or NULL */
	struct hcl_loc block;      /* where the block being applied starts */
};

#define lmsg(ld, code, ...) cfg_lerr(ld, code, NULL, 0, 0, __VA_ARGS__)

/* A flag found on the command line (config_flags.c's table). */
struct flag_def;
struct flag_use {
	const struct flag_def *def;
	const char *value; /* borrowed from argv; NULL for a bare bool */
	bool on;           /* bool flags */
};

/*
 * A block's schema: one entry per key, naming it, saying how its value is
 * read and where it goes (offset into the block's struct); the names an
 * unknown key is matched against ("did you mean") come from the same
 * table, so adding a key is one entry. KEY_FN keys run fn with the block
 * (checks beyond the type, side effects, nested blocks). Ends with a
 * NULL name.
 */
#define CONFIG_MAX_BLOCK_KEYS 64

enum key_kind {
	KEY_NONE, /* not a key of the block (internal) */
	KEY_BOOL,
	KEY_STRING,
	KEY_NONEMPTY,
	KEY_LINE,
	KEY_DURATION,
	KEY_UINT,    /* at most max */
	KEY_COMMAND, /* a string for sh -c, or a list of words */
	KEY_FN,
};

struct key_def {
	const char *name;
	enum key_kind kind;
	size_t offset;
	unsigned max;
	int (*fn)(struct vctx *v, const json_t *obj, const char *key,
	          json_t *val, void *target);
};

#define KEY(name, kind, type, field)                       \
	{                                                  \
		name, kind, offsetof(type, field), 0, NULL \
	}
#define KEY_MAX(name, type, field, max)                          \
	{                                                        \
		name, KEY_UINT, offsetof(type, field), max, NULL \
	}
#define KEY_CALL(name, fn)             \
	{                              \
		name, KEY_FN, 0, 0, fn \
	}

/* Apply obj's keys by defs; every error recorded, the last returned. */
int cfg_apply_keys(struct vctx *v, json_t *obj, void *target,
                   const struct key_def *defs, const char *where,
                   const char *const *unsupported);

/* config_values.c */
int cfg_lerr(struct load *ld, int code, const char *file, int line, int col,
             const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int cfg_fail_value(struct vctx *v, const json_t *obj, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int cfg_fail_key(struct vctx *v, const json_t *obj, const char *key,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int cfg_fail_index(struct vctx *v, const json_t *arr, size_t i, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));
int cfg_lnote(struct load *ld, int code, const struct err *e);
size_t cfg_lcount(const struct load *ld);
const char *cfg_suggest(const char *word, const char *const *names);
const char *cfg_json_kind(const json_t *v);
const char *cfg_name_of(const struct vctx *v, const char *key);
int cfg_unknown_key(struct vctx *v, const json_t *obj, const char *key,
                    const char *where, const char *const *known,
                    const char *const *unsupported);
bool cfg_string_is_clean(const char *s);
int cfg_want_string(struct vctx *v, const json_t *obj, const char *key,
                    const json_t *val, char **dst);
int cfg_want_line(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, char **dst);
int cfg_want_nonempty(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, char **dst);
int cfg_want_bool(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, bool *dst);
int cfg_parse_duration_value(struct vctx *v, const json_t *obj, const char *key,
                             const char *s, uint64_t *dst);
int cfg_want_duration(struct vctx *v, const json_t *obj, const char *key,
                      const json_t *val, uint64_t *dst);
int cfg_want_uint(struct vctx *v, const json_t *obj, const char *key,
                  const json_t *val, unsigned max, unsigned *dst);
int cfg_want_signal(struct vctx *v, const json_t *obj, const char *key,
                    const json_t *val, bool reload, int *dst);
int cfg_want_command(struct vctx *v, const json_t *obj, const char *key,
                     const json_t *val, char **dst);

/* config_schema.c */
void cfg_tmpl_conf_clear(struct tmpl_conf *t);
struct tmpl_conf *cfg_template_add(struct load *ld);
int cfg_apply_template(struct vctx *v, json_t *obj, void *target);
int cfg_apply_root(struct vctx *v, json_t *obj, void *target);

/* config_sources.c */
int cfg_load_text(struct load *ld, const char *name, const char *text,
                  size_t len);
int cfg_load_path(struct load *ld, const char *path);
int cfg_apply_env(struct load *ld);
int cfg_apply_env_config(struct load *ld);

/* config_flags.c */
int cfg_flags_scan(struct load *ld, int argc, char **argv,
                   struct flag_use *uses, size_t *ret_n,
                   enum config_action *ret_action);
int cfg_flags_apply(struct load *ld, const struct flag_use *uses, size_t n);
/* u is -config PATH (read before the other flags apply). */
bool cfg_flag_is_config(const struct flag_use *u);

#endif
