/*
 * tasks.h - the built-in task types: names, classes, argument checking, and
 * the handlers of the `cpu` types.
 *
 * The table is constant. Every task goes through tr_task_prepare() before any
 * handler sees it: a task that failed validation in the queue, an unknown type,
 * a class the type cannot run in, or a bad argument (missing, extra, not a
 * number, out of range, an unknown signal, a relative path) ends there with an
 * error naming the problem. Handlers only ever see checked arguments.
 *
 * Argument ranges (chosen so every task ends within about a day of CPU or wall
 * time and no result can overflow):
 *   sqrt-sum N      0 <= N <= 10^12 (about 20 min of CPU at the top)
 *   square-sum N    0 <= N <= 10^12 (the sum stays below 2^128)
 *   spin MS         0 <= MS <= 86400000 (one day)
 *   sleep MS        0 <= MS <= 86400000 (one day)
 *   crash [SIGNAL]  a name with or without "SIG" (any case) or a number, of a
 *                   signal whose default action ends the process
 *   read-file PATH, write-file PATH [TEXT...], copy-file SRC DST: absolute paths
 *                   (io.allowed_paths is checked when the file is opened)
 *   exec PROGRAM [ARG...]  any words (exec.allowed is checked when it starts)
 * The io types' handlers live in iotasks.c, exec in exec.c.
 *
 * Extra types (handler plugins, see plugins.h) are added with
 * tr_tasks_set_extra(): lookups and the type registry then see them after the
 * built-in ones. That table is the only state here; tests reset it with
 * tr_tasks_set_extra(NULL, 0).
 */
#ifndef TR_TASKS_H
#define TR_TASKS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "queue.h"

#define TR_ARGS_ANY UINT_MAX

/* What a task writes back: the slot's result area (result_max bytes). The
 * text is not NUL-terminated; len counts its bytes. */
struct tr_out {
	char *buf;
	size_t cap, len;
	int over; /* an append did not fit: the result is incomplete */
};

/* Starts an empty output over buf[0..cap). */
void tr_out_init(struct tr_out *o, char *buf, size_t cap);

/* Appends n bytes; what does not fit is dropped and sets over. */
void tr_out_add(struct tr_out *o, const void *s, size_t n);

/* Appends formatted text, as tr_out_add. */
void tr_out_printf(struct tr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces the contents with an error message, cut to fit (over is cleared). */
void tr_out_error(struct tr_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes s for a one-line message into dst (dst_len >= 8): printable ASCII is
 * kept, other bytes become \xNN, and text longer than about 64 characters is
 * cut with "...". Returns dst. */
const char *tr_task_show(char *dst, size_t dst_len, const char *s);

/* Kinds of io task, implemented in iotasks.c. */
enum tr_io_kind {
	TR_IO_NONE = 0,
	TR_IO_SLEEP,
	TR_IO_READ_FILE,
	TR_IO_WRITE_FILE,
	TR_IO_COPY_FILE,
	TR_IO_EXEC,   /* exec: a child process watched by the io thread (either class) */
	TR_IO_PLUGIN, /* a plugin's io handler: a blocking call on the io thread */
};

/* tr_task_def flags */
#define TR_TASK_ANYCLASS 0x1u /* the submitter may choose the class (exec, sleep) */

/* Arguments after checking. */
struct tr_targs {
	uint64_t n; /* N (sqrt-sum, square-sum) or MS (spin, sleep); else 0 */
	int sig;    /* crash: the signal number */
};

struct tr_task_def {
	const char *name;
	int cls;            /* TASKRING_CPU or TASKRING_IO */
	unsigned min_args;  /* words required */
	unsigned max_args;  /* words allowed, TR_ARGS_ANY: no limit */
	const char *usage;  /* argument synopsis, e.g. "N" */
	int64_t quick_n;    /* ends within microseconds when n <= quick_n; -1 never */
	enum tr_io_kind io; /* io types: which state machine runs it */
	/* Type-specific checks after the count check: 0, or -EINVAL with err. */
	int (*check)(const struct tr_task_def *d, unsigned argc, char *const *argv,
	             struct tr_targs *ta, char *err, size_t errlen);
	/* cpu types: runs the task, writing the result or the error to o.
	 * Returns TASKRING_DONE or TASKRING_FAILED. */
	int (*run)(const struct tr_targs *ta, unsigned argc, char *const *argv, struct tr_out *o);
	unsigned flags;  /* TR_TASK_* */
	const void *ext; /* extra types: their owner's data (a plugin handler) */
	/* Extra types: runs the task as run does, given the definition (for
	 * ext); used instead of run when set, in either class. */
	int (*run_ext)(const struct tr_task_def *d, unsigned argc, char *const *argv,
	               struct tr_out *o);
};

/* The built-in table; stores its length in *n. */
const struct tr_task_def *tr_tasks_builtin(size_t *n);

/* Sets the extra types (n definitions, names distinct from the built-in
 * ones; defs must stay valid until the next call). NULL, 0: none. */
void tr_tasks_set_extra(const struct tr_task_def *defs, size_t n);

/* The extra types in force; stores their number in *n. */
const struct tr_task_def *tr_tasks_extra(size_t *n);

/* The built-in or extra type called name, or NULL. */
const struct tr_task_def *tr_task_find(const char *name);

/* Fills the segment's type registry entries for the built-in types, then
 * the extra ones (name, class, TRQ_T_ANYCLASS for exec) into types[0..max).
 * Returns how many were written (all of them when max is large enough). For
 * trq_set_types(). */
unsigned tr_tasks_fill_types(struct trq_type *types, unsigned max);

/* Checks argc/argv against d: counts, then the type's own checks. Returns 0
 * with *ta filled, or -EINVAL with a message naming the argument in err, e.g.
 * "sqrt-sum: N: not a number: 'abc'". */
int tr_task_check(const struct tr_task_def *d, unsigned argc, char *const *argv,
                  struct tr_targs *ta, char *err, size_t errlen);

/* Decides whether task t may run in class cls' runner: returns its type with
 * checked arguments in *ta, or NULL after writing the error into o (the task
 * then ends TASKRING_FAILED): t->bad, an unknown type ("unknown task type
 * 'X'"), a type of the other class (TR_TASK_ANYCLASS types run in either),
 * or a bad argument. */
const struct tr_task_def *tr_task_prepare(const struct trq_task *t, int cls, struct tr_targs *ta,
                                          struct tr_out *o);

/* True when the task is known to end within microseconds (results of quick
 * tasks may be batched before being handed back). */
int tr_task_quick(const struct tr_task_def *d, const struct tr_targs *ta);

/* Runs a task's handler (run_ext, else run; not for exec or the built-in io
 * types). A result longer than o->cap turns into the error "NAME: result
 * longer than result_max (CAP bytes)". Returns TASKRING_DONE or
 * TASKRING_FAILED. (crash does not return.) */
int tr_task_run(const struct tr_task_def *d, const struct tr_targs *ta, unsigned argc,
                char *const *argv, struct tr_out *o);

#endif
