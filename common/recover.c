/*
 * recover.c - the supervisor's side of the queue: publishing the task
 * types, adopting a segment (a new supervisor takes over the queue of a
 * dead one), and recovering the tasks of a worker that died.
 *
 * Invariant: a dead worker's running tasks all go back to the front of
 * their ring, and an attempt is charged only to the task it was executing
 * (charge_id) when it was not stopped on purpose; at max_attempts that task
 * fails with the cause, it is never retried forever, and is reported to the
 * caller (struct trq_lost_report) for its log.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "queue.h"
#include "slots.h"
#include "wake.h"

int trq_set_types(struct trq *q, const struct trq_type *types, unsigned n)
{
	if (n > TRQ_TYPES_MAX)
		return -ENOSPC;
	int r = trq_lock(q, 0);
	if (r)
		return r;
	memcpy(q->hdr->types, types, n * sizeof(*types));
	st32(&q->hdr->ntypes, n);
	trq_unlock(q);
	return 0;
}

/* Reads the start time of pid from /proc (0 when unknown). */
static uint64_t proc_starttime(pid_t pid)
{
	struct tr_procstat ps;
	return tr_procstat_read(pid, &ps) ? 0 : ps.starttime;
}

int trq_adopt(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	int r = trq_lock(q, 0);
	if (r)
		return r;
	int n = 0;
	for (uint32_t i = 0; i < q->capacity; i++) {
		struct trq_slot *s = &q->meta[i];
		if (s->state != TASKRING_RUNNING)
			continue;
		if (s->flags & TRQ_F_CANCEL)
			continue; /* ends cancelled in trq_rebuild below: not run again */
		/* WR: see trq_slot_end */
		if (s->attempts > 0)
			WR(s->attempts, s->attempts - 1);
		WR(s->flags, s->flags & ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ));
		st32(&s->state, TASKRING_QUEUED);
		h->requeued++;
		n++;
	}
	for (uint32_t w = 0; w < q->workers_max; w++) {
		struct trq_worker *wk = &q->workers[w];
		wk->pid = 0;
		wk->state = TRQ_W_EMPTY;
		wk->ready_inc = 0;
		wk->cur_cpu = wk->cur_io = 0;
		wk->io_inflight = 0;
		wk->spinning = 0;
		wk->restart_ns = 0;
	}
	/* The last supervisor's spare died with it (or is its orphan, which
	 * the leftovers sweep ends): ours publishes its own. */
	h->spare_pid = 0;
	h->spare_state = TRQ_SPARE_OFF;
	h->spare_next_ns = 0;
	h->spare_fails = 0;
	/* Workers of the old supervisor died with it, some maybe while counted
	 * as spinners or sleepers: no worker polls or sleeps now. */
	for (int c = 0; c < TRQ_NCLASS; c++) {
		__atomic_store_n(&h->q_spin[c], 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&h->q_wait[c], 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&h->q_nap[c], 0, __ATOMIC_SEQ_CST);
	}
	trq_rebuild(q);
	h->draining = 0;
	h->epoch++;
	h->sup_pid = getpid();
	h->sup_starttime = proc_starttime(getpid());
	h->sup_sid = getsid(0);
	h->sup_start_real_ns = trq_realtime();
	trq_clock_publish(q);
	/* Last: from here on clients see the daemon as serving (trq_sup_serving). */
	__atomic_store_n(&h->sup_stop_s, 0, __ATOMIC_RELEASE);
	trq_unlock(q);
	for (int c = 0; c < TRQ_NCLASS; c++)
		trq_work_bell(q, c, INT_MAX, 0, 0);
	return n;
}

/* The slots that dead worker (widx, inc) may have held: every RUNNING
 * slot, found without the lock, as scanning a large table under it stalled
 * every client (5-10 ms at 1 M slots). Only that worker could make a slot
 * RUNNING under its name, and it is dead, so its set can only shrink until
 * the caller locks; the caller checks each slot's owner under the lock.
 * (Only the state is read here: it is the one field always written
 * atomically.) Returns the number found, with the indices in *out
 * (malloc'ed), or -ENOMEM. */
static long lost_candidates(struct trq *q, uint32_t **out)
{
	size_t n = 0, room = 64;
	uint32_t *v = malloc(room * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->capacity; i++) {
		const struct trq_slot *s = &q->meta[i];
		if (ld32(&s->state) != TASKRING_RUNNING)
			continue;
		if (n == room) {
			uint32_t *w = realloc(v, 2 * room * sizeof(*v));
			if (!w) {
				free(v);
				return -ENOMEM;
			}
			v = w;
			room *= 2;
		}
		v[n++] = i;
	}
	*out = v;
	return (long)n;
}

int trq_worker_lost(struct trq *q, int widx, uint32_t inc, uint64_t charge_id, const char *cause,
                    struct trq_lost_report *report)
{
	struct trq_hdr *h = q->hdr;
	uint32_t *cand = NULL;
	long ncand = lost_candidates(q, &cand);
	if (ncand < 0)
		return (int)ncand;
	/* back: requeued from the front, ended from the back */
	uint32_t *back = malloc(sizeof(uint32_t) * (ncand ? (size_t)ncand : 1));
	uint32_t nback = 0, nend = 0, nb = (uint32_t)ncand;
	char text[512];
	if (report)
		report->nfailed = 0;
	if (!back) {
		free(cand);
		return -ENOMEM;
	}
	int r = trq_lock(q, 0);
	if (r) {
		free(cand);
		free(back);
		return r;
	}
	uint64_t now = trq_now();
	if (widx >= 0 && (uint32_t)widx < q->workers_max) {
		/* Killed while counted as a spinner: uncount it. */
		uint32_t sp = __atomic_exchange_n(&q->workers[widx].spinning, 0, __ATOMIC_SEQ_CST);
		uint32_t c = sp & ~TRQ_SPIN_NAP;
		if (c >= 1 && c <= TRQ_NCLASS) {
			__atomic_sub_fetch(&h->q_spin[c - 1], 1, __ATOMIC_SEQ_CST);
			/* Not below zero: a flag written by another process may
			 * not match the count, and a count below zero keeps
			 * clients from ending the naps of live workers. */
			int32_t v = __atomic_load_n(&h->q_nap[c - 1], __ATOMIC_RELAXED);
			while ((sp & TRQ_SPIN_NAP) && v > 0 &&
			       !__atomic_compare_exchange_n(&h->q_nap[c - 1], &v, v - 1, 0,
			                                    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				;
		}
	}
	for (long j = 0; j < ncand; j++) {
		uint32_t i = cand[j];
		struct trq_slot *s = &q->meta[i];
		if (s->state != TASKRING_RUNNING || s->owner != widx || s->owner_inc != inc)
			continue;
		uint32_t c = RD(s->cls);
		if (c < TRQ_NCLASS && h->running[c] > 0)
			h->running[c]--;
		if (c >= TRQ_NCLASS)
			WR(s->cls, 0);
		if (s->flags & TRQ_F_CANCEL) {
			trq_slot_end(q, i, TASKRING_CANCELLED, "cancelled while running", now);
			back[nb - 1 - nend++] = i;
			continue;
		}
		int charged = 0;
		if (s->flags & TRQ_F_TIMEOUT) {
			snprintf(text, sizeof(text), "timed out after %u s", s->run_timeout_s);
			charged = 1;
		} else if (charge_id && s->id == charge_id) {
			snprintf(text, sizeof(text), "%s", cause ? cause : "worker died");
			charged = 1;
		}
		if (charged && s->attempts >= s->max_attempts) {
			if (report && report->nfailed < TRQ_LOST_FAILED_MAX) {
				struct trq_lost_failed *f = &report->failed[report->nfailed];
				f->id = s->id;
				f->attempts = s->attempts;
				f->max_attempts = s->max_attempts;
				size_t cl = strnlen(text, sizeof(f->cause) - 1);
				memcpy(f->cause, text, cl);
				f->cause[cl] = '\0';
			}
			if (report)
				report->nfailed++;
			size_t l = strlen(text);
			snprintf(text + l, sizeof(text) - l, " on attempt %u of %u", s->attempts,
			         s->max_attempts);
			trq_slot_end(q, i, TASKRING_FAILED, text, now);
			back[nb - 1 - nend++] = i;
			continue;
		}
		/* WR: see trq_slot_end */
		if (!charged && s->attempts > 0)
			WR(s->attempts, s->attempts - 1);
		WR(s->flags, s->flags & ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ));
		st32(&s->state, TASKRING_QUEUED);
		back[nback++] = i;
		h->requeued++;
	}
	/* Back to the front of their rings in their original order. */
	struct trq_sort_ent *ents = nback ? malloc(sizeof(*ents) * nback) : NULL;
	unsigned pushed[TRQ_NCLASS] = {0};
	if (nback && !ents) {
		trq_rebuild(q);
	} else {
		for (uint32_t j = 0; j < nback; j++)
			ents[j] = (struct trq_sort_ent){q->meta[back[j]].qseq, back[j]};
		if (nback)
			qsort(ents, nback, sizeof(*ents), trq_sort_cmp);
		for (uint32_t j = nback; j-- > 0;) {
			uint32_t c = RD(q->meta[ents[j].idx].cls) % TRQ_NCLASS;
			trq_ring_push(q, (int)c, ents[j].idx, 1);
			pushed[c]++;
		}
	}
	free(ents);
	trq_unlock(q);
	for (uint32_t j = 0; j < nend; j++)
		trq_slot_wake(q, back[nb - 1 - j]);
	for (int c = 0; c < TRQ_NCLASS; c++)
		if (pushed[c])
			trq_work_bell(q, c, (int)pushed[c], 0, 0);
	if (nend)
		trq_bell(&h->free_seq, &h->free_wait, INT_MAX);
	free(back);
	free(cand);
	return (int)nback;
}
