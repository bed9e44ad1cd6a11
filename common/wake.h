/*
 * wake.h - internal to the queue: the work doorbell (see wake.c). The
 * public halves (trq_wait_work_w, trq_nap, trq_work_woke, trq_kick) are
 * declared in queue.h.
 */
#ifndef TR_WAKE_H
#define TR_WAKE_H

#include <stdint.h>

#include "queue.h"

/* Tells workers of class cls that n tasks were queued (INT_MAX: wake
 * every sleeper); cpu1 is trq_lone_cpu()'s answer for a lone task, else 0;
 * now a clock reading or 0. Call after unlocking. */
void trq_work_bell(struct trq *q, int cls, int n, int32_t cpu1, uint64_t now);

/* Whether every worker asleep on class cls has been woken moments ago. */
int trq_woke_all(struct trq_hdr *h, int cls, uint64_t now);

/* Wakes up to n workers of class cls asleep with a bit of mask (0: any)
 * and counts them as woken. Returns how many woke. */
int trq_wake_workers(struct trq_hdr *h, int cls, int n, uint32_t mask, uint64_t now);

/* Ends the naps of the workers of class c (trq_nap). */
void trq_nap_end(struct trq_hdr *h, int c);

/* 1 + the caller's CPU when a task submitted at now is a lone one (this
 * handle submitted nothing and saw no result end for spin_ns), else 0. */
int32_t trq_lone_cpu(struct trq *q, uint64_t now);

#endif
