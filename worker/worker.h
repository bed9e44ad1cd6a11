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
 * (message logged first), anything else is a crash.
 */
#ifndef TR_WORKER_H
#define TR_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "queue.h"

#define TR_WORKER_EXIT_FATAL 2

struct tr_worker_args {
	struct trq *q;               /* the inherited mapping */
	const struct tr_config *cfg; /* the configuration in force */
	int index;                   /* worker slot, 0-based */
	uint32_t inc;                /* incarnation, as in the worker record */
	int cpu;                     /* CPU to pin to, -1: no pinning */
	pid_t sup_pid;               /* the supervisor, for the parent check */
};

/* Runs the worker; never returns (calls _exit). Call in the child right
 * after fork(). */
_Noreturn void tr_worker_run(const struct tr_worker_args *a);

#endif
