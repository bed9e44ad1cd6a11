/*
 * iothread.h - a worker's I/O thread: one io_uring, up to io.depth `io` tasks
 * in flight.
 *
 * The ring is created inside the thread that uses it (never inherited across
 * fork), with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN when the
 * kernel takes them, and its io-wq helper threads are bounded by
 * io.max_kernel_workers. The thread waits for new tasks and for completions in
 * one place, io_uring_submit_and_wait():
 *   - new tasks: an IORING_OP_FUTEX_WAIT on the segment's q_seq[io] counter
 *     (shared futex; hdr->q_wait[io] is held incremented while it is armed so
 *     submitters wake it). Kernels without that opcode get a helper thread
 *     sleeping in trq_wait_work() and writing an eventfd the ring reads.
 *   - the heartbeat: a timeout every heartbeat period that stores
 *     trq_now() into the worker record (it is also stored at every wake);
 *   - per-task run timeouts: one timeout per task that has one; expiry fails
 *     the task "timed out after N s" and cancels its operation;
 *   - cancels: after every wake on the counter, the slot flags of the tasks in
 *     flight are read; TRQ_F_CANCEL ends the task CANCELLED ("cancelled").
 * Results are handed back with one trq_finish() per loop turn. A task's
 * buffers and descriptors are kept until every operation it submitted has
 * completed, even when its result was already handed back.
 *
 * exec tasks (exec.h) run here in both classes: io-class ones are taken like
 * other io tasks (up to io.depth at once); a cpu-class one is handed over by
 * the main thread (tr_iothread_exec) into one record kept for it, through an
 * eventfd the ring always reads. For each the ring reads both pipes and
 * polls the pidfd; a run timeout or a cancel stops the program (SIGTERM to
 * its process group, SIGKILL after tasks.kill_grace_ms) and the task ends
 * once the child is reaped: timed out -> FAILED "timed out after N s",
 * cancelled -> CANCELLED. The worker is never stopped for them. If the
 * thread dies on a fatal error, it SIGKILLs its children's groups first.
 *
 * Plugin io handlers (TR_IO_PLUGIN) run here as blocking calls with cur_io
 * set in the worker record.
 *
 * The thread ends once hdr->draining is set, none of its tasks is running
 * and the main thread asked it to (tr_iothread_join), so a cpu exec taken
 * just before the drain still finds it. A fatal error in the loop (the ring
 * failing) ends the whole process with status 1 after logging it.
 */
#ifndef TR_IOTHREAD_H
#define TR_IOTHREAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue.h"

struct tr_io_opts {
	struct trq *q;
	int widx;                    /* worker index */
	uint32_t inc;                /* worker incarnation */
	unsigned depth;              /* io.depth: tasks in flight at most (>= 1) */
	unsigned max_kernel_workers; /* io.max_kernel_workers, 0: leave the default */
	unsigned heartbeat_ms;       /* heartbeat period (>= 1) */
	char *const *allowed_paths;  /* io.allowed_paths (copied) */
	size_t n_allowed_paths;
	int no_futex_op;           /* 1: use the eventfd fallback even if FUTEX_WAIT works */
	char name[16];             /* thread name, e.g. "tr-io-0" */
	char *const *exec_allowed; /* exec.allowed (copied) */
	size_t n_exec_allowed;
	char *const *exec_env; /* exec.env as NAME=value (copied) */
	size_t n_exec_env;
	const char *exec_cwd;   /* exec.cwd (copied; NULL: "/") */
	unsigned kill_grace_ms; /* tasks.kill_grace_ms: SIGTERM -> SIGKILL of a program */
	int deferred;           /* 1: set up only; tr_iothread_assign() gives widx and inc */
	uint64_t exec_token;    /* the supervisor's token for exec programs (0: none) */
};

struct tr_iothread;

/* Starts the thread and waits until its ring is set up. Returns 0 and sets
 * *out, or -errno with a one-line reason in err (e.g. "io_uring_queue_init:
 * Operation not permitted (io_uring is disabled: kernel.io_uring_disabled or a
 * seccomp filter)"). */
int tr_iothread_start(struct tr_iothread **out, const struct tr_io_opts *o, char *err,
                      size_t errlen);

/* For a thread started with o->deferred (a spare worker's): the worker
 * index and incarnation it serves from now on, its name and its CPU (-1:
 * none); it names and pins itself, then starts beating and taking tasks.
 * Call once, from the main thread: it only hands these over, so that the
 * main thread is not held up by the system calls. */
void tr_iothread_assign(struct tr_iothread *t, int widx, uint32_t inc, const char *name, int cpu);

/* The thread's kernel thread id (for sched_setaffinity). */
pid_t tr_iothread_tid(const struct tr_iothread *t);

/* Runs cpu-class exec task task (taken by the main thread, its arguments
 * checked by tr_task_prepare) on the I/O thread and waits until it ended.
 * The result or error is in the task's slot result area; returns its state
 * and stores the length in *len. Call only from the main thread. */
int tr_iothread_exec(struct tr_iothread *t, const struct trq_task *task, size_t *len);

/* Asks the thread to end once the segment is draining and its tasks are
 * finished, waits until it has, then frees what it can. Returns 0. */
int tr_iothread_join(struct tr_iothread *t);

/* Whether the futex-wait opcode is in use (0: the eventfd fallback). */
int tr_iothread_uses_futex_op(const struct tr_iothread *t);

#endif
