/*
 * taskring-plugin.h - the ABI of taskring handler plugins, version 1.
 *
 * A plugin is a shared object listed under `plugins:` in taskring.yaml. It
 * adds task types of its own: each handler has a name, a class, an argument
 * check and a function that runs a task, writing its result (or its error)
 * into a buffer the worker provides. Clients submit plugin types like the
 * built-in ones.
 *
 * Loading: taskringd opens every plugin at start with
 * dlopen(RTLD_NOW | RTLD_LOCAL), calls its taskring_plugin_entry() and checks
 * what it returns: the ABI version, every handler's fields, and that no name
 * clashes with a built-in type or with a handler of another plugin. Any
 * problem stops the daemon at start with a message naming the file
 * (`taskringd -t` reports it too). The workers are forked from the daemon and
 * so inherit the loaded plugins; each worker then calls the plugin's init (if
 * any) once, before its first task. A change to the plugin list needs a
 * restart (a reload refuses it).
 *
 * Threads: `cpu` handlers run on the worker's main thread, one task at a
 * time, like the built-in cpu types: the daemon enforces their run timeout
 * and cancels by stopping the whole worker. `io` handlers run on the
 * worker's I/O thread as blocking calls: while one runs, that worker's other
 * io tasks (sleeps, file tasks, exec programs) wait, and so does its
 * heartbeat; a handler that blocks longer than workers_heartbeat_s gets its
 * worker killed and replaced (the task is charged an attempt). So io
 * handlers must return quickly (a short local request, a stat); long waits
 * belong in `exec` tasks. Run timeouts and cancels do not interrupt an io
 * handler. The same handler may run on many workers at once, each a process
 * of its own; an io handler may run while a cpu handler of the same plugin
 * runs in the same process (on the other thread).
 *
 * Crashes: a handler that crashes its worker is handled like any crash: the
 * task is charged an attempt (and fails after its last one with the cause,
 * e.g. "worker 0 (pid 42) killed by signal 11 (SIGSEGV) on attempt 3 of 3"),
 * the worker is replaced.
 *
 * Versioning: TASKRING_PLUGIN_ABI changes whenever a struct below or the
 * meaning of a field changes. `abi` stays the first member of struct
 * taskring_plugin in every version, so a daemon can always tell a plugin of
 * another version and refuse it.
 */
#ifndef TASKRING_PLUGIN_H
#define TASKRING_PLUGIN_H

#include <stddef.h>

#include "taskring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. */
#define TASKRING_PLUGIN_ABI 1

/* The symbol every plugin exports (see taskring_plugin_entry below). */
#define TASKRING_PLUGIN_ENTRY "taskring_plugin_entry"

/* max_args of a handler that takes any number of words. */
#define TASKRING_PLUGIN_ARGS_ANY 0xffffffffu

/* A handler's name: 1 to TASKRING_PLUGIN_NAME_MAX bytes of A-Z a-z 0-9 _ . - */
#define TASKRING_PLUGIN_NAME_MAX 31

/* One task type. */
struct taskring_plugin_handler {
	/* The task type, as clients submit it. */
	const char *name;
	/* TASKRING_CPU or TASKRING_IO (see the top of this file). */
	int cls;
	/* Argument words the type needs and allows; the worker checks the count
	 * before check() and run() are called. */
	unsigned min_args;
	unsigned max_args; /* TASKRING_PLUGIN_ARGS_ANY: no limit */
	/* Argument synopsis used in the worker's count errors, e.g. "TEXT...";
	 * NULL for none. */
	const char *usage;
	/* Checks the arguments (the count is already checked). Returns 0 when
	 * they are fine; otherwise writes a one-line message naming the problem
	 * into err (errlen bytes, NUL-terminated) and returns non-zero: the task
	 * then fails with that message and run() is not called. NULL: any
	 * arguments are fine. Must not keep argv. */
	int (*check)(unsigned argc, char *const *argv, char *err, size_t errlen);
	/* Runs one task. argv holds argc NUL-terminated words (checked). Writes
	 * the result into out (cap bytes: the daemon's queue.result_max; need not
	 * be NUL-terminated, never write more than cap) and stores its length in
	 * *len. Returns 0 when the task succeeded (state done, out is the
	 * result), non-zero when it failed (state failed, out is the error
	 * message; an empty one becomes "NAME: failed"). *len > cap fails the
	 * task. Must not keep argv or out. */
	int (*run)(unsigned argc, char *const *argv, char *out, size_t cap, size_t *len);
};

/* What a plugin describes itself with; must stay valid while it is loaded. */
struct taskring_plugin {
	/* TASKRING_PLUGIN_ABI of the header the plugin was built with. */
	unsigned abi;
	/* A short name for messages (may be NULL: the file name is used). */
	const char *name;
	/* The handlers: n_handlers (at least 1) entries. */
	const struct taskring_plugin_handler *handlers;
	unsigned n_handlers;
	/* Called once in each worker process before its first task (NULL: no
	 * set-up). Returns 0, or non-zero after writing a one-line reason into
	 * err (errlen bytes, NUL-terminated): the worker then stops with that
	 * message and, as a set-up failure, the daemon with it. */
	int (*init)(char *err, size_t errlen);
};

/* Exported by every plugin under the name TASKRING_PLUGIN_ENTRY: returns the
 * plugin's description (static storage), or NULL to refuse loading. Called
 * once, in the daemon, right after dlopen. */
const struct taskring_plugin *taskring_plugin_entry(void);

#ifdef __cplusplus
}
#endif

#endif
