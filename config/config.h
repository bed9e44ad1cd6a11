/*
 * config.h - the taskringd configuration: built-in defaults, loading and
 * validating a YAML file, printing it back, copying and comparing.
 *
 * Invariants: a struct tr_config filled by any function here is complete and
 * valid (every value in its documented range, cpus a valid list or "auto",
 * paths absolute); its lists are either NULL with count 0 or heap arrays of
 * heap strings owned by the struct. No global state.
 *
 * YAML keys (nested mappings): instance, workers, cpus, workers_sched, group,
 * queue.{capacity,payload_max,result_max},
 * tasks.{max_attempts,run_timeout_s,kill_grace_ms,result_ttl_s,coalesce_us},
 * io.{depth,max_kernel_workers,allowed_paths},
 * restart.{min_uptime_ms,backoff_ms,backoff_max_ms,max_early_exits,window_s,
 * spare_worker},
 * workers_heartbeat_s, shutdown_timeout_s, log.level, exec.{allowed,env,cwd},
 * plugins. config/taskring.yaml documents every key.
 */
#ifndef TR_CONFIG_H
#define TR_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "cpulist.h"

#define TR_CONFIG_MAX_FILE  (1u << 20) /* bytes of YAML accepted */
#define TR_CONFIG_MAX_LIST  1024       /* entries per list (paths, env, plugins) */
#define TR_CONFIG_MAX_PATH  4096       /* bytes of a path including the NUL */
#define TR_CONFIG_MAX_VALUE 4096       /* bytes of an exec.env value including the NUL */

struct tr_config {
	char instance[33];       /* default "default"; 1-32 of [A-Za-z0-9_.-] */
	unsigned workers;        /* 0 = auto (number of usable CPUs); else 1..1024 */
	char cpus[256];          /* "auto" or a list like "0-3,8" (validated at load) */
	int workers_sched;       /* SCHED_BATCH ("batch", default) or SCHED_OTHER ("normal") */
	char group[64];          /* "" = none (segment mode 0600), else group name (0660) */
	unsigned queue_capacity; /* 4096; range 1..16777216 */
	unsigned payload_max;    /* 4096 bytes; range 64..1048576 */
	unsigned result_max;     /* 4096 bytes; range 64..1048576 */
	unsigned max_attempts;   /* 3; 1..1000 */
	unsigned run_timeout_s;  /* 0 = none; 0..31536000 */
	unsigned kill_grace_ms;  /* 2000; 0..3600000 */
	unsigned result_ttl_s;   /* 300; 1..31536000 */
	unsigned coalesce_us;    /* 30; 0..10000 (0: never), see trq_nap() */
	unsigned io_depth;       /* 256; 1..65536 */
	unsigned io_max_kernel_workers; /* 4; 1..1024 */
	char **allowed_paths;           /* io.allowed_paths: absolute dirs, default [] */
	size_t n_allowed_paths;
	unsigned restart_min_uptime_ms;   /* 1000; 0..3600000 */
	unsigned restart_backoff_ms;      /* 100; 0..3600000 */
	unsigned restart_backoff_max_ms;  /* 30000; 0..3600000, must be >= backoff_ms */
	unsigned restart_max_early_exits; /* 10; 0..1000000 */
	unsigned restart_window_s;        /* 60; 1..86400 */
	bool restart_spare_worker;        /* true; keep a worker forked ahead of need */
	unsigned heartbeat_s;             /* workers_heartbeat_s: 10; 1..3600 */
	unsigned shutdown_timeout_s;      /* 30; 0..86400 */
	int log_level;                    /* log.level error|warning|notice|info|debug: LOG_INFO */
	char **exec_allowed;              /* exec.allowed: absolute program paths, default [] */
	size_t n_exec_allowed;
	char **exec_env; /* exec.env: map NAME: value -> stored as "NAME=value" */
	size_t n_exec_env;
	char exec_cwd[4096]; /* exec.cwd: absolute, default "/" */
	char **plugins;      /* plugins: absolute .so paths, default [] */
	size_t n_plugins;
	char path[4096]; /* file it was loaded from, "" for built-in defaults */
	/* Where in path the values checked against the machine later (a CPU
	   this process may not use, a group that does not exist) were given:
	   1-based line and column, 0 0 when not from the file. */
	struct tr_config_pos {
		unsigned line, col;
	} cpus_pos, group_pos;
};

/* Fills c with the built-in defaults. c is treated as uninitialized (nothing in
   it is freed); the result holds no allocation, but tr_config_free() is safe. */
void tr_config_defaults(struct tr_config *c);

/* Loads the YAML file path over the built-in defaults. c is treated as
   uninitialized output (free an old config yourself). Returns 0, or -ENOENT/
   -EACCES/... for a file that cannot be read ("FILE: cannot open: ..."), -EFBIG
   for a file over TR_CONFIG_MAX_FILE, -EINVAL for invalid content, -ENOMEM.
   Every error found is written to err as lines "FILE:LINE:COLUMN: message"
   (newline-separated, no trailing newline, NUL-terminated, truncated to errlen;
   err may be NULL). On failure c holds the defaults and no allocation, so a
   caller can keep its old configuration. On success c->path is path. */
int tr_config_load(const char *path, struct tr_config *c, char *err, size_t errlen);

/* Same as tr_config_load() from buf[0..len); name is used in messages and as
   c->path. Any bytes are accepted as input (never a crash). */
int tr_config_load_mem(const char *name, const void *buf, size_t len, struct tr_config *c,
                       char *err, size_t errlen);

/* Frees what load or copy allocated and resets c to the defaults. */
void tr_config_free(struct tr_config *c);

/* Prints the effective configuration as YAML that tr_config_load() accepts and
   that loads back equal (tr_config_equal). Returns 0, -EILSEQ for a string that
   is not valid UTF-8 (only possible for a struct edited by hand), or -EIO. */
int tr_config_print(FILE *f, const struct tr_config *c);

/* Deep copy of src into dst (treated as uninitialized). Returns 0, or -ENOMEM
   with dst holding the defaults. */
int tr_config_copy(struct tr_config *dst, const struct tr_config *src);

/* True when a and b hold the same settings (every field except path). */
bool tr_config_equal(const struct tr_config *a, const struct tr_config *b);

/* The YAML key of the first setting that a worker reads only when it starts
 * and that differs between a and b (io.allowed_paths, exec.*, io.depth, ...),
 * or NULL when none does: running workers then need replacing to apply b. */
const char *tr_config_worker_change(const struct tr_config *a, const struct tr_config *b);

/* Checks an instance name (1-32 of [A-Za-z0-9_.-]), e.g. from `-i`. Returns 0
   or -EINVAL. */
int tr_config_instance_valid(const char *name);

/* The CPU set the `cpus` setting stands for: "auto" is the CPUs this process
   may run on (sched_getaffinity), else the parsed list. Returns 0 or -errno. */
int tr_config_cpuset(const struct tr_config *c, cpu_set_t *set);

#endif
