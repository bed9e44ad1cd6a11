/*
 * plugins.h - handler plugins (include/taskring-plugin.h): loading, checking,
 * and running their handlers as task types.
 *
 * The supervisor loads the plugins listed in the configuration at start
 * (tr_plugins_load: dlopen RTLD_NOW | RTLD_LOCAL, the entry symbol, the ABI
 * version, every handler's fields, no clash with a built-in name or another
 * plugin's), then makes their handlers the extra task types
 * (tr_tasks_set_extra), so the type registry it writes lists them. The
 * workers it forks inherit both the mappings and the table; each worker runs
 * the plugins' init functions once (tr_plugins_init_worker) before its first
 * task. Handlers run through tr_task_run() like built-in cpu types: cpu ones
 * on the main thread, io ones on the io thread as blocking calls (iothread.h).
 *
 * Invariants: a struct tr_plugins that loaded successfully owns its handles
 * and the definitions the extra table points at; it must outlive their use
 * (tr_plugins_free resets the extra table if it is its own). State: the
 * struct, and the extra table in tasks.c.
 */
#ifndef TR_PLUGINS_H
#define TR_PLUGINS_H

#include <stddef.h>

#include "taskring-plugin.h"
#include "tasks.h"

struct tr_plugin_file {
	char *path;
	void *handle; /* dlopen */
	const struct taskring_plugin *desc;
	int inited; /* init ran in this process */
};

struct tr_plugins {
	struct tr_plugin_file *files;
	size_t nfiles;
	struct tr_task_def *defs; /* one per handler, in load order */
	size_t ndefs;
};

/* Loads and checks the n plugins at paths (absolute), in order. Returns 0
 * with ps filled (nothing loaded for n == 0), or -EINVAL/-ENOMEM with one
 * line in err naming the file, e.g. "plugin /x/p.so: ABI version 2, this
 * taskringd has version 1 (rebuild it against taskring-plugin.h)"; ps then
 * holds nothing. Runs the plugins' code (constructors and the entry
 * function) in this process. */
int tr_plugins_load(struct tr_plugins *ps, char *const *paths, size_t n, char *err, size_t errlen);

/* Makes ps's handlers the extra task types (tr_tasks_set_extra). */
void tr_plugins_activate(const struct tr_plugins *ps);

/* In a worker: runs the init function of every plugin behind the extra task
 * types, once each. Returns 0, or -EINVAL with "plugin PATH: init: REASON"
 * in err. */
int tr_plugins_init_worker(char *err, size_t errlen);

/* Unloads (dlclose) and frees; resets the extra task types when they are
 * ps's. Safe on a zeroed struct. */
void tr_plugins_free(struct tr_plugins *ps);

#endif
