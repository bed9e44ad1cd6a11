/*
 * doorbell.h - turns rings of the segment's supervisor doorbell into events
 * of the supervisor's epoll loop.
 *
 * Workers (ready, a cpu task with a timeout started) and clients (cancel of
 * a running task) bump hdr->sup_seq and wake its sleepers (trq_bell). A
 * small thread sleeps on that futex word (counting itself in hdr->sup_wait)
 * and writes an eventfd the loop watches each time the word changed. No
 * polling: the thread sleeps until rung; a ring is never lost because the
 * thread compares against the last value it saw before sleeping. After
 * its start-up the thread takes no lock and allocates nothing, so the
 * supervisor may fork() while it runs. State: only the struct.
 */
#ifndef TR_DOORBELL_H
#define TR_DOORBELL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "queue.h"

struct tr_doorbell {
	struct trq *q;
	int efd; /* eventfd, readable after a ring; -1 when not started */
	pthread_t thread;
	int running;
	int stop;      /* atomic: asks the thread to end */
	sem_t started; /* posted once the thread runs its loop */
};

/* Creates the eventfd and starts the thread (with every signal blocked).
 * Returns 0 or -errno. */
int tr_doorbell_start(struct tr_doorbell *d, struct trq *q);

/* Consumes pending rings (call when efd polled readable). */
void tr_doorbell_clear(struct tr_doorbell *d);

/* Stops the thread and closes the eventfd. Safe on a stopped doorbell. */
void tr_doorbell_stop(struct tr_doorbell *d);

#endif
