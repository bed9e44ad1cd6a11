/*
 * doorbell.c - see doorbell.h.
 */
#include "doorbell.h"

#include <errno.h>
#include <limits.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void *doorbell_main(void *arg)
{
	struct tr_doorbell *d = arg;
	struct trq_hdr *h = d->q->hdr;
	uint32_t seen = __atomic_load_n(&h->sup_seq, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	sem_post(&d->started);

	while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&h->sup_wait, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&h->sup_seq, __ATOMIC_SEQ_CST) == seen &&
		    !__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE))
			trq_futex_wait(&h->sup_seq, seen, 0);
		__atomic_sub_fetch(&h->sup_wait, 1, __ATOMIC_SEQ_CST);
		uint32_t now = __atomic_load_n(&h->sup_seq, __ATOMIC_ACQUIRE);
		if (now != seen) {
			seen = now;
			ssize_t w = write(d->efd, &one, sizeof(one));
			(void)w; /* EAGAIN: the counter is already non-zero */
		}
	}
	return NULL;
}

int tr_doorbell_start(struct tr_doorbell *d, struct trq *q)
{
	sigset_t all, old;
	int r;

	memset(d, 0, sizeof(*d));
	d->q = q;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		return -errno;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sem_init(&d->started, 0, 0);
	r = pthread_create(&d->thread, NULL, doorbell_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		sem_destroy(&d->started);
		close(d->efd);
		d->efd = -1;
		return -r;
	}
	/* Past its start-up (which may allocate) before we return: the
	 * supervisor forks workers next, and a lock a thread holds at fork()
	 * stays held forever in the child. */
	while (sem_wait(&d->started) < 0 && errno == EINTR)
		;
	sem_destroy(&d->started);
	d->running = 1;
	return 0;
}

void tr_doorbell_clear(struct tr_doorbell *d)
{
	uint64_t v;
	ssize_t r = read(d->efd, &v, sizeof(v));
	(void)r;
}

void tr_doorbell_stop(struct tr_doorbell *d)
{
	if (d->running) {
		__atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
		/* Wake it whatever sup_wait (shared, untrusted) says. */
		__atomic_add_fetch(&d->q->hdr->sup_seq, 1, __ATOMIC_SEQ_CST);
		trq_futex_wake(&d->q->hdr->sup_seq, INT_MAX);
		pthread_join(d->thread, NULL);
		d->running = 0;
	}
	if (d->efd >= 0)
		close(d->efd);
	d->efd = -1;
}
