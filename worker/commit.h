/*
 * commit.h - handing finished tasks back to the queue from a worker thread.
 *
 * Wraps trq_finish(): splits a batch into the chunks it accepts, retries while
 * the queue lock cannot be had (a stopped lock holder; the supervisor deals
 * with it), and counts the tasks in the worker record. A result is never
 * dropped by the worker; only an unrecoverable lock ends the process (status
 * 1, logged), which makes the supervisor requeue its tasks. No state.
 */
#ifndef TR_COMMIT_H
#define TR_COMMIT_H

#include "queue.h"

/* Hands back res[0..n) of worker (widx, inc); adds n to its tasks_done. */
void tr_commit(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_result *res);

#endif
