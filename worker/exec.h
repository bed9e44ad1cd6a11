/*
 * exec.h - exec tasks: one program per task, run without a shell in a child
 * process of the worker and watched by the worker's io thread.
 *
 * Start: tr_exec_start() checks the program word against exec.allowed (an
 * exact match of one of its absolute paths) and starts it with
 * clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a stack of its own, as
 * posix_spawn does: the calling thread is suspended only until the child has
 * called execve (or failed to), which also tells it whether the program
 * started. The child gets its own process group (pgid = its pid),
 * PR_SET_PDEATHSIG SIGKILL (then a check that the worker still is its
 * parent), the guard (guard.h: it cannot signal its worker or the
 * supervisor), default signal dispositions and an empty signal mask, standard
 * input from /dev/null, standard output and error into two pipes, exec.cwd as
 * working directory, exec.env as its whole environment, no other descriptor.
 * It inherits the worker's CPU pin.
 *
 * Watching: the caller (the io thread) runs reads of the two pipes (fd[i]
 * into buf[i], buflen[i] bytes) and a poll of pidfd, and feeds their results
 * to tr_exec_on_read() and tr_exec_on_exit(). Nothing here blocks except the
 * spawn and the reaping of a child known to have ended.
 *
 * Ending: once the child has exited, its process group is sent SIGKILL
 * (whatever the program left running in its group dies with it) and only
 * then is the child reaped, so the group id cannot have been reused by then.
 * tr_exec_stop() (run timeout, cancel) sends SIGTERM and SIGCONT to the
 * group; tr_exec_kill() SIGKILL after the grace. The task is decided
 * (tr_exec_done) once the child is reaped and both pipes reached end of file,
 * or once TR_EXEC_DRAIN_MS passed after the exit (a process that moved to
 * another group may hold a pipe open; the supervisor kills such processes,
 * see daemon/orphans.h).
 *
 * Result (tr_exec_finish): exit status 0: done, with the standard output, cut
 * to the result area and ending "\n[output truncated at K of N bytes]" when it
 * was longer. Otherwise failed: "exec: exited with status N" or "exec: killed
 * by signal N (SIGNAME)", then a newline and the last lines of standard error
 * (up to TR_EXEC_TAIL bytes). A run timeout fails it with "timed out after N
 * s", a cancel ends it cancelled ("cancelled"), whatever the program did
 * after the stop signal.
 *
 * Invariants: pid != 0 and !exited: the child is ours and unreaped, so pid
 * names it and its process group. Signals go to the group (kill(-pid)) only
 * in that state.
 */
#ifndef TR_EXEC_H
#define TR_EXEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guard.h"
#include "tasks.h"

#define TR_EXEC_TAIL     512 /* bytes of standard error kept for the error */
#define TR_EXEC_DRAIN_MS 200 /* how long pipes are read after the child exited */

enum tr_exec_pipe { TR_EXEC_OUT = 0, TR_EXEC_ERR = 1 };
enum tr_exec_stop { TR_EXEC_RUNNING = 0, TR_EXEC_TIMEOUT, TR_EXEC_CANCEL };

/* The environment variable every exec program gets, besides exec.env: the
 * supervisor's token in hex (see tr_exec_cfg_mark). The next supervisor
 * kills only processes that carry its predecessor's token. */
#define TR_EXEC_MARK_VAR "TASKRING_INVOCATION_ID"

/* Writes "TR_EXEC_MARK_VAR=<token in hex>" into buf (len >= 40). */
void tr_exec_mark_format(char *buf, size_t len, uint64_t token);

/* What every exec of one thread shares: the settings and the spawn stack.
 * Only the thread that made it may use it. */
struct tr_exec_cfg {
	char **allowed; /* exec.allowed, copied */
	size_t n_allowed;
	char **envp; /* exec.env, copied, NULL-terminated */
	char *cwd;   /* exec.cwd, copied */
	int devnull; /* /dev/null, read-only, close-on-exec */
	void *stack; /* the children's stack until their execve */
	size_t stack_len;
	pid_t self;            /* the worker's pid: the children's parent */
	struct tr_guard guard; /* see guard.h: set up by init, refreshed at each start */
	int guard_err;         /* a child could not install it (errno): it is off now */
};

struct tr_exec {
	struct tr_out out; /* the slot's result area */
	int state;         /* 0 while running, then TASKRING_DONE/FAILED/CANCELLED */
	pid_t pid;         /* the child and its process group id; 0: none */
	int pidfd;         /* -1: none */
	int fd[2];         /* read ends of its stdout and stderr; -1: closed */
	char *buf[2];      /* read buffers */
	unsigned buflen[2];
	unsigned char eof[2]; /* that pipe is finished */
	unsigned char exited; /* the child was reaped */
	int stop;             /* enum tr_exec_stop: why the group was signalled */
	unsigned run_timeout_s;
	int wcode, wstatus; /* si_code and si_status of its end */
	uint64_t out_total; /* bytes read from stdout */
	uint64_t err_total; /* bytes read from stderr */
	char tail[TR_EXEC_TAIL];
	size_t tail_len;
};

/* Copies the settings and maps the spawn stack, and sets up the guard (see
 * guard.h) for the calling thread's process: guard.on says whether children
 * run under it, guard.why_off why not. Returns 0, or -errno with a reason in
 * err. */
int tr_exec_cfg_init(struct tr_exec_cfg *c, char *const *allowed, size_t n_allowed,
                     char *const *env, size_t n_env, const char *cwd, char *err, size_t errlen);

/* Adds TR_EXEC_MARK_VAR=<token in hex> to the programs' environment (after
 * tr_exec_cfg_init; token 0: nothing). Returns 0 or -ENOMEM. */
int tr_exec_cfg_mark(struct tr_exec_cfg *c, uint64_t token);

/* Frees what init made. Safe on a zeroed struct (devnull 0 is not closed:
 * init sets it). */
void tr_exec_cfg_free(struct tr_exec_cfg *c);

/* Starts the program argv[0] with argv[0..argc) (argc >= 1), writing the
 * result into out[0..outmax). Returns 1 when the child runs (read both pipes,
 * poll pidfd), or 0 when the task already ended: a refused program ("exec:
 * program not allowed: PATH", "exec: no programs are allowed (exec.allowed
 * is empty)"), a program that could not be started ("exec: cannot run PATH:
 * No such file or directory"), or a failed system call (named). */
int tr_exec_start(struct tr_exec *x, struct tr_exec_cfg *c, unsigned argc, char *const *argv,
                  unsigned run_timeout_s, char *out, size_t outmax);

/* Feeds the result of a read of pipe w (bytes, 0 at end of file, -errno).
 * Returns 1 when that pipe should be read again, 0 when it is finished. */
int tr_exec_on_read(struct tr_exec *x, int w, int res);

/* The pidfd polled readable: if the child has ended, kills its process group
 * and reaps it. Returns 1 when reaped (now or before), 0 when it still runs
 * (poll again). */
int tr_exec_on_exit(struct tr_exec *x);

/* Stops the program for why (TR_EXEC_TIMEOUT or TR_EXEC_CANCEL): SIGTERM and
 * SIGCONT to its group, or SIGKILL when grace_ms is 0. Only the first stop
 * counts, and none after the child ended. Returns the ms to wait before
 * tr_exec_kill() (0: nothing to wait for). */
unsigned tr_exec_stop(struct tr_exec *x, int why, unsigned grace_ms);

/* SIGKILL to the group of a child not yet reaped. */
void tr_exec_kill(struct tr_exec *x);

/* The drain time after the exit passed: the pipes count as finished. */
void tr_exec_drained(struct tr_exec *x);

/* Whether the task can be decided: reaped and both pipes finished. */
int tr_exec_done(const struct tr_exec *x);

/* Decides the task from what happened (see the top): sets state and out. */
void tr_exec_finish(struct tr_exec *x);

/* Closes and frees everything; a child still unreaped has its group
 * SIGKILLed and is reaped (waiting for it). Safe after a start that
 * returned 0 and on a zeroed struct with fds of -1. */
void tr_exec_release(struct tr_exec *x);

#endif
