/*
 * worker.h - a worker process: what the supervisor calls after fork().
 *
 * The worker inherits the supervisor's mapping of the segment. Its main
 * thread takes `cpu` tasks one at a time; its I/O thread owns an io_uring and
 * keeps up to io.depth `io` tasks in flight. It reports ready by storing its
 * incarnation in its worker record's ready_inc and ringing the supervisor's
 * doorbell (hdr->sup_seq). It beats its heartbeat from the I/O thread at
 * least every heartbeat_s / 3 seconds.
 *
 * Exit statuses: 0 after a drain (hdr->draining set and nothing running),
 * 2 on a fatal set-up error the supervisor must not retry in a loop
 * (message logged first), 3 after a SIGBUS inside the segment mapping: the
 * segment was truncated by another process (sigbus.h; message logged
 * first), anything else is a crash.
 */
#ifndef TR_WORKER_H
#define TR_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "queue.h"

#define TR_WORKER_EXIT_FATAL     2
#define TR_WORKER_EXIT_TRUNCATED 3

struct tr_worker_args {
	struct trq *q;               /* the inherited mapping */
	const struct tr_config *cfg; /* the configuration in force */
	int index;                   /* worker slot, 0-based */
	uint32_t inc;                /* incarnation, as in the worker record */
	int cpu;                     /* CPU to pin to, -1: no pinning */
	pid_t sup_pid;               /* the supervisor, for the parent check */
	uint64_t token;              /* the supervisor's token for exec programs */
};

/* Gives thread tid (0: the caller; a worker's main thread has its pid as
 * tid) scheduling policy (workers_sched: SCHED_BATCH or SCHED_OTHER), unless
 * it has it already. Returns 0 or -errno from sched_setscheduler(). */
int tr_worker_set_sched(pid_t tid, int policy);

/* "SCHED_BATCH" or "SCHED_OTHER", for log lines. */
const char *tr_worker_sched_name(int policy);

/* Runs the worker; never returns (calls _exit). Call in the child right
 * after fork(). */
_Noreturn void tr_worker_run(const struct tr_worker_args *a);

/* A spare's messages on its socket (AF_UNIX, SOCK_SEQPACKET). */
struct tr_worker_hello {
	int32_t pid; /* set up, waiting for a slot: the spare's pid */
};
struct tr_worker_job {
	int32_t index; /* the slot to serve */
	uint32_t inc;  /* its incarnation, as in the worker record */
	int32_t cpu;   /* the CPU to pin to, -1: none */
};

/* Runs a spare worker on socket fd (a's index, inc and cpu are ignored):
 * sets up everything that does not depend on the slot, sends a
 * tr_worker_hello, waits for a tr_worker_job and then runs as worker
 * job.index. Exits 0 when the socket is closed instead (the supervisor
 * dropped the spare). Never returns. Call in the child right after fork(). */
_Noreturn void tr_worker_spare(const struct tr_worker_args *a, int fd);

#endif
