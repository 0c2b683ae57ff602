/*
 * The typed configuration: what every other module reads.
 *
 * config_load() reads consul-template-style HCL or JSON files (hcl.h turns
 * both into a jansson tree), merges them in order (later wins), applies
 * CONSUL_* environment variables and then command-line flags (flags win),
 * and validates the result in one step. Unknown or invalid settings are
 * errors naming file:line:col (or the flag) and what is allowed.
 *
 * Precedence: defaults < environment (CONSUL_*, consul-template's log
 * level variables) < files (in -config order; a directory is read as
 * consul-template reads one: recursively, every file, in lexical order,
 * symlinks followed) < CT_LOCAL_CONFIG (a config document in the
 * environment, as in consul-template) < flags. Scalars: later wins;
 * template blocks accumulate (files first, then -template flags).
 *
 * After a successful load every field is final: consul.address is set
 * (default 127.0.0.1:8500; an https:// address sets ssl.enabled), a
 * token_file has been read into token, templates without their own wait
 * carry the global one, left_delim/right_delim are set ("{{" "}}" or
 * default_delimiters), and each template has source xor contents and a
 * destination. Durations are milliseconds. Strings are owned by the config
 * and freed by config_free(). Pure module: it reads files but never logs.
 *
 * Where: one file per step of a load (config_priv.h lists them); every
 * block's keys are a table there (struct key_def), so a new option is one
 * entry plus its use. Flags and -h are config_flags.c's own tables.
 */
#ifndef CH_CONFIG_H
#define CH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define CONFIG_DEFAULT_MAX_RESPONSE (16u << 20)
#define CONFIG_MIN_RESPONSE         (64u << 10)
#define CONFIG_MAX_RESPONSE         (1024u << 20)
#define CONFIG_MAX_JOIN_SETTLE_MS   5000

/* A template block's defaults, owned here (command.h and the help text
 * name them, not their values). */
#define CONFIG_DEFAULT_COMMAND_TIMEOUT_MS 30000
#define CONFIG_DEFAULT_COMMAND_MAX_RUNS   4
#define CONFIG_DEFAULT_COMMAND_WINDOW_MS  10000
#define CONFIG_DEFAULT_GUARD_SHRINK       0.5
#define CONFIG_DEFAULT_GUARD_HOLD_MS      60000

struct wait_conf {
	bool enabled; /* set when min was given */
	uint64_t min_ms;
	uint64_t max_ms; /* defaults to 4 * min */
};

struct tls_conf {
	bool enabled;
	bool verify; /* default true; unparsable env value means true */
	char *ca_cert;
	char *ca_path;
	char *cert;
	char *key;
	char *server_name;
};

/*
 * consul.retry, carried as consul-template defines it (config/retry.go):
 * the daemon retries for as long as it runs whatever these say (it keeps
 * the last good file); -once gives up after attempts retries, or at the
 * first failure when enabled is false.
 */
struct retry_conf {
	bool enabled;            /* default true; false: -once does not retry */
	unsigned attempts;       /* default 12; 0 = forever. Only -once gives
	                            up (watch.h); the daemon never does */
	uint64_t backoff_ms;     /* first delay, doubling; default 250 */
	uint64_t max_backoff_ms; /* ceiling; default 60000; never 0 (which
	                            is "no limit" in consul-template) */
};

struct consul_conf {
	char *address; /* host:port, http://, https://, unix:///path */
	char *token;   /* never logged */
	char *token_file;
	struct tls_conf ssl;
	struct retry_conf retry;
};

enum order_mode {
	ORDER_STABLE,   /* rendezvous hashing per node (default) */
	ORDER_WEIGHTED, /* weighted rendezvous on Consul Weights */
	ORDER_BALANCED, /* fleet-wide exact assignment from the node list */
	ORDER_RANDOM,   /* new order every render (rewrites every time) */
	ORDER_NONE,     /* consul-template's order: sorted by Node, ID */
};
#define ORDER_NMODES (ORDER_NONE + 1)

/*
 * The environment variables that carry the Consul token or its file
 * (config reads them; commands are started without them). NULL-ended.
 */
extern const char *const config_token_env[];

/* "stable" ... "none" to the mode, or -EINVAL. */
int order_mode_parse(const char *s);
/* The mode's name; "unknown" for an invalid value. */
const char *order_mode_name(enum order_mode m);

enum tmpl_format {
	TMPL_FORMAT_HOSTS, /* checked as a hosts file, lines ordered */
	TMPL_FORMAT_TEXT,  /* any text: no grammar, no ordering */
};

struct tmpl_conf {
	char *source;   /* path, or NULL when contents is set */
	char *contents; /* inline template */
	char *destination;
	char *command; /* run by /bin/sh -c after a change; NULL = none */
	uint64_t command_timeout_ms; /* default 30000 */
	char *check_command; /* run on the staged file ("{{path}}" or $1) */
	int perms;           /* -1: keep the old file's mode, 0644 when new */
	char *user;          /* NULL: keep the old owner */
	char *group;
	bool backup;
	struct wait_conf wait; /* per template; overrides the global one */
	char *left_delim;
	char *right_delim;
	bool error_on_missing_key;
	/* function_denylist (and its old name function_blacklist): globs of
	 * functions a call to which fails; NULL-terminated, NULL when none */
	char **function_denylist;
	bool create_dest_dirs; /* default true */
	bool managed_block;    /* replace only the BEGIN/END block */
	bool in_place;         /* write in place when rename can't (EBUSY) */
	bool rollback_on_failure;
	enum tmpl_format format; /* what the output is checked as */
	bool guard_enabled;      /* guard.enabled (default true) */
	double guard_shrink;     /* hold removals of more than this share of
	                            the Consul entries (0.5); 0 disables */
	bool guard_service_drop; /* hold the removal of a name's last entry */
	uint64_t guard_hold_ms;  /* a held removal is confirmed after this */
	/* The command's budget: at most command_max_runs starts in any
	 * command_window_ms (4 in 10 s: below systemd's default start limit
	 * of 5 in 10 s, so a restart command cannot trip it). */
	unsigned command_max_runs;
	uint64_t command_window_ms;
	bool restart_min_interval_set; /* the deprecated key was used */
	unsigned emit; /* 0: all instances; k: only the first k */
	char *origin;  /* where it was defined: "file:line" or flag */
};

struct config {
	struct consul_conf consul;
	uint64_t max_stale_ms; /* default 2000; 0 disables stale */
	/*
	 * block_query_wait: 60000 by default. Unless block_query_wait_set
	 * (the key was given: it applies to every query), queries the
	 * agent does not answer from its cache wait 10 min (watch.h).
	 */
	uint64_t block_query_wait_ms;
	bool block_query_wait_set;
	/*
	 * node_join_settle: after the node list only grew, wait this long
	 * before asking for it again, so a burst of joins costs one fetch
	 * (watch.h). Default 0 (off); at most CONFIG_MAX_JOIN_SETTLE_MS.
	 */
	uint64_t node_join_settle_ms;
	struct wait_conf wait;
	char *log_level; /* default "info" */
	char *pid_file;
	int kill_signal;   /* default SIGTERM; 0: none besides SIGTERM and
	                      SIGINT, which always stop */
	int reload_signal; /* default SIGHUP; 0: none (SIGHUP is ignored);
	                      never SIGTERM or SIGINT */
	enum order_mode order;
	char *order_seed; /* NULL: agent node name, then hostname */
	/* metrics { textfile }: where the Prometheus metrics go (an absolute
	 * *.prom path), or NULL. */
	char *metrics_textfile;
	/* The largest Consul answer accepted, in bytes (default
	 * CONFIG_DEFAULT_MAX_RESPONSE; CONFIG_MIN/MAX_RESPONSE). */
	size_t max_response_size;
	/*
	 * More names no Consul record may take (default none), besides the
	 * loopback names and this node's own names, which are always
	 * reserved (struct dep_names in deps.h): host names, or "*.domain"
	 * for every name under domain; matched without case.
	 */
	char **reserved_names; /* NULL-terminated when set */
	size_t nreserved_names;
	struct tmpl_conf *templates;
	size_t ntemplates;

	/* Command-line only. */
	bool once;
	bool dry;
	bool diff; /* -diff: a unified diff instead of the render (sets dry) */
	bool parse_only;
	char *explain;       /* service name for -explain, or NULL */
	char **config_paths; /* -config arguments, for SIGHUP */
	size_t nconfig_paths;
	char **argv; /* copy of the arguments (argv[0] included), for SIGHUP */
	int argc;
};

/* Result of parsing argv: what to do besides running. */
enum config_action {
	CONFIG_RUN,
	CONFIG_HELP,    /* -h: print config_usage() and exit 0 */
	CONFIG_VERSION, /* -v: print the version and exit 0 */
};

/*
 * Parse argv, read the -config files, apply the environment and validate.
 * On success *ret is a new config (NULL for CONFIG_HELP/CONFIG_VERSION).
 * A load goes on past errors and reports every one it finds: on error
 * (-EINVAL, or the first error's -errno, e.g. an unreadable file) e holds
 * the first, naming the file:line:col or the flag, and each one is
 * appended to *all when all is not NULL (the caller frees it with
 * err_list_free). The caller exits 2.
 */
int config_load(int argc, char **argv, struct config **ret,
                enum config_action *ret_action, struct err *e,
                struct err_list *all);
/* Re-read the same files and flags (SIGHUP). */
int config_reload(const struct config *old, struct config **ret, struct err *e,
                  struct err_list *all);
struct config *config_free(struct config *c); /* NULL-safe; returns NULL */
/* The -h text. */
const char *config_usage(void);

/*
 * One config document (HCL or JSON) on its own: defaults, then text, then
 * the checks a full load makes; no environment, no flags, no -config.
 * For tests and the fuzzer. name is used in error messages.
 */
int config_parse_text(const char *name, const char *text, size_t len,
                      struct config **ret, struct err *e);

/*
 * The Consul token and its file, one rule for both (consul-template
 * trims the file with strings.TrimSpace): a token is printable ASCII
 * without spaces; the file holds one such token, at most 4096 bytes,
 * with spaces, tabs, CR and LF around it. config_load reads the file into
 * consul.token; the watcher reads it again only when given the path
 * alone. *ret is a new string; the file's content never reaches e.
 */
bool config_token_valid(const char *s);
int config_read_token_file(const char *path, char **ret, struct err *e);

#endif
