/*
 * repair.c - re-deriving the queue from the slot table, and checking it.
 *
 * trq_rebuild() runs under the lock whenever a locker got EOWNERDEAD or an
 * operation met an inconsistency: it validates every slot (failing those
 * that cannot be trusted, requeueing running tasks whose worker is gone)
 * and rebuilds the rings, the free list and the finished lists. trq_audit()
 * checks every invariant of queue.h and optionally repairs.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slots.h"

/* ---- validation and rebuild --------------------------------------------- */

/* Checks a non-free slot's fields. Returns NULL when valid, else why not. */
static const char *slot_invalid(const struct trq *q, uint32_t idx)
{
	const struct trq_slot *s = &q->meta[idx];
	if (s->state >= TASKRING_NSTATES)
		return "state";
	if (s->id != slot_id(q, idx, slot_gen(q, s)))
		return "id";
	if (s->cls >= TRQ_NCLASS)
		return "class";
	if (s->args_len > q->payload_max || s->argc > s->args_len)
		return "argument length";
	if (s->out_len > q->result_max)
		return "result length";
	if (memchr(s->type, 0, sizeof(s->type)) == NULL || s->type[0] == 0)
		return "type name";
	if (s->max_attempts < 1 || s->max_attempts > TRQ_ATTEMPTS_MAX ||
	    s->attempts > s->max_attempts)
		return "attempts";
	return NULL;
}

/* Whether a RUNNING slot's owner is a current worker incarnation. */
static int owner_live(const struct trq *q, const struct trq_slot *s)
{
	int32_t o = RD(s->owner);
	if (o < 0 || (uint32_t)o >= q->workers_max)
		return 0;
	const struct trq_worker *w = &q->workers[o];
	uint32_t st = RD(w->state);
	return RD(w->inc) == RD(s->owner_inc) &&
	       (st == TRQ_W_STARTING || st == TRQ_W_READY || st == TRQ_W_STOPPING);
}

/* Ends slot i as state (FAILED or CANCELLED) with the error text why, in
 * pass 1 of trq_rebuild (which links it into its fin list afterwards). */
static void slot_final(struct trq *q, uint32_t i, uint32_t state, const char *why, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[i];
	size_t n = strlen(why);
	if (n > q->result_max)
		n = q->result_max;
	memcpy(trq_out_at(q, i, (uint32_t)n), why, n);
	s->out_len = (uint32_t)n;
	s->out_sum = trq_sum(2166136261u, why, n);
	s->finish_ns = now;
	s->flags &= ~TRQ_F_READ;
	st32(&s->state, state);
	if (state == TASKRING_CANCELLED)
		h->cancelled++;
	else
		h->failed++;
	trq_slot_wake(q, i);
}

void trq_rebuild(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity;
	uint64_t now = trq_now(), maxq = 0;
	struct trq_sort_ent *ents = malloc(sizeof(*ents) * cap);
	char why[96];

	st32r(&h->free_head, TRQ_NIL);
	h->free_count = 0;
	for (int c = 0; c < TRQ_NCLASS; c++) {
		st32r(&h->ring_head[c], 0);
		st32r(&h->ring_count[c], 0);
		h->running[c] = 0;
	}
	for (int k = 0; k < 2; k++) {
		st32r(&h->fin_head[k], TRQ_NIL);
		h->fin_tail[k] = TRQ_NIL;
		h->fin_count[k] = 0;
	}
	/* Pass 1: validate every slot; repair what cannot be trusted. */
	for (uint32_t i = cap; i-- > 0;) {
		struct trq_slot *s = &q->meta[i];
		/* FREE, or finished and half freed: its holder died inside
		 * trq_slot_free, after the new generation (only finished slots
		 * are freed, so finish the job). */
		if (s->state == TASKRING_FREE || (is_final(s->state) && slot_gen(q, s) > 0 &&
		                                  s->id == slot_id(q, i, slot_gen(q, s) - 1))) {
			trq_slot_push_free(q, i);
			continue;
		}
		const char *bad = slot_invalid(q, i);
		if (bad) {
			snprintf(why, sizeof(why), "task data corrupted in shared memory (%s)",
			         bad);
			if (s->state >= TASKRING_NSTATES || s->cls >= TRQ_NCLASS)
				s->cls = 0;
			s->id = slot_id(q, i, slot_gen(q, s));
			if (memchr(s->type, 0, sizeof(s->type)) == NULL || !s->type[0])
				snprintf(s->type, sizeof(s->type), "?");
			if (s->max_attempts < 1 || s->max_attempts > TRQ_ATTEMPTS_MAX)
				s->max_attempts = 1;
			if (s->attempts > s->max_attempts)
				s->attempts = s->max_attempts;
			s->args_len = s->argc = 0;
			slot_final(q, i, TASKRING_FAILED, why, now);
			s->flags &= ~TRQ_F_DETACHED;
		}
		if (!is_final(s->state))
			s->flags &= ~TRQ_F_READ; /* only a finished result can have been read */
		if (is_final(s->state) && (s->flags & TRQ_F_DETACHED)) {
			/* Nobody wants the result of a finished detached task. */
			trq_slot_free(q, i);
			continue;
		}
		if (s->state == TASKRING_RUNNING && !owner_live(q, s) &&
		    (s->flags & TRQ_F_CANCEL)) {
			/* Cancelled while it ran: ends cancelled, not run again. */
			slot_final(q, i, TASKRING_CANCELLED, "cancelled while running", now);
			if (s->flags & TRQ_F_DETACHED) {
				trq_slot_free(q, i);
				continue;
			}
		}
		if (s->state == TASKRING_RUNNING && !owner_live(q, s)) {
			if (s->attempts > 0)
				s->attempts--;
			s->flags &= ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ);
			st32(&s->state, TASKRING_QUEUED);
			h->requeued++;
		}
		uint32_t c = RD(s->cls);
		if (s->state == TASKRING_RUNNING && c < TRQ_NCLASS)
			h->running[c]++;
		if (s->qseq > maxq)
			maxq = s->qseq;
	}
	if (h->qseq_next <= maxq)
		h->qseq_next = maxq + 1;
	/* Pass 2: rings by enqueue order, fin lists by finish time. */
	for (int c = 0; c < TRQ_NCLASS; c++) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < cap && ents; i++)
			if (q->meta[i].state == TASKRING_QUEUED && q->meta[i].cls == (uint32_t)c)
				ents[n++] = (struct trq_sort_ent){q->meta[i].qseq, i};
		if (ents)
			qsort(ents, n, sizeof(*ents), trq_sort_cmp);
		for (uint32_t j = 0; j < n; j++)
			st32r(&q->ring[c][j], ents[j].idx);
		st32r(&h->ring_count[c], n);
	}
	for (int k = 0; k < 2; k++) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < cap && ents; i++) {
			struct trq_slot *s = &q->meta[i];
			if (!is_final(s->state))
				continue;
			int read = (s->flags & (TRQ_F_READ | TRQ_F_DETACHED)) != 0;
			if (read == k)
				ents[n++] = (struct trq_sort_ent){s->finish_ns, i};
		}
		if (ents)
			qsort(ents, n, sizeof(*ents), trq_sort_cmp);
		for (uint32_t j = 0; j < n; j++)
			trq_fin_append(q, k, ents[j].idx);
	}
	free(ents);
	h->repairs++;
}

/* ---- audit -------------------------------------------------------------- */

#define AUDIT_FAIL(...)                                                                            \
	do {                                                                                       \
		snprintf(msg, msglen, __VA_ARGS__);                                                \
		goto bad;                                                                          \
	} while (0)

/* Whether hdr->q_spin[c] counts more pollers than worker records flag. A
 * worker's flag is up before it counts itself and down after it uncounts
 * (wake.c), so a count above the flags is damage; but workers come and go
 * while the records are read, so it takes SPIN_LOOKS looks in a row, each
 * reading the count before and after the flags, to say so. *flagged: the
 * flags of the last look. */
#define SPIN_LOOKS 3
static int spin_excess(struct trq *q, int c, int32_t *flagged)
{
	for (int look = 0; look < SPIN_LOOKS; look++) {
		int32_t before = __atomic_load_n(&q->hdr->q_spin[c], __ATOMIC_SEQ_CST), n = 0;
		for (uint32_t w = 0; w < q->workers_max; w++) {
			uint32_t sp = __atomic_load_n(&q->workers[w].spinning, __ATOMIC_SEQ_CST);
			n += sp && (sp & ~TRQ_SPIN_NAP) == 1u + (uint32_t)c;
		}
		int32_t after = __atomic_load_n(&q->hdr->q_spin[c], __ATOMIC_SEQ_CST);
		*flagged = n;
		if (before <= n || after <= n)
			return 0;
		if (look + 1 < SPIN_LOOKS)
			sched_yield(); /* let a worker on its way in or out finish */
	}
	return 1;
}

int trq_audit(struct trq *q, int repair, char *msg, size_t msglen)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity;
	uint32_t count[TASKRING_NSTATES] = {0}, qcls[TRQ_NCLASS] = {0}, rcls[TRQ_NCLASS] = {0};
	uint32_t readfin = 0;
	char dummy[8];
	if (!msg) {
		msg = dummy;
		msglen = sizeof(dummy);
	}
	msg[0] = 0;
	unsigned char *seen = calloc(cap, 1);
	if (!seen)
		return -ENOMEM;
	int r = trq_lock(q, 0);
	if (r) {
		free(seen);
		snprintf(msg, msglen, "lock: %s", strerror(-r));
		return r;
	}
	uint64_t locked = trq_now();
	uint32_t live = 0;
	for (uint32_t w = 0; w < q->workers_max; w++) {
		uint32_t ws = RD(q->workers[w].state);
		live += ws == TRQ_W_STARTING || ws == TRQ_W_READY || ws == TRQ_W_STOPPING;
	}
	for (int c = 0; c < TRQ_NCLASS; c++) {
		int32_t sp = __atomic_load_n(&h->q_spin[c], __ATOMIC_RELAXED), flagged = 0;
		if (sp > (int32_t)live || (sp > 0 && spin_excess(q, c, &flagged))) {
			/* Pollers counted that are not there keep submitters from
			 * waking a sleeping worker: reset (undercounting is safe:
			 * a count below zero only means wake-ups). */
			if (repair)
				__atomic_store_n(&h->q_spin[c], 0, __ATOMIC_SEQ_CST);
			AUDIT_FAIL("%d %s pollers counted, %d flagged, %u workers alive", sp,
			           taskring_class_name(c), flagged, live);
		}
		int32_t np = __atomic_load_n(&h->q_nap[c], __ATOMIC_RELAXED);
		if (np > (int32_t)live || np < 0) {
			/* Clients would wake nappers that are not there, or, below
			 * zero, never wake the ones that are: reset. */
			if (repair)
				__atomic_store_n(&h->q_nap[c], 0, __ATOMIC_SEQ_CST);
			AUDIT_FAIL("%d %s nappers counted, %u workers alive", np,
			           taskring_class_name(c), live);
		}
	}
	if (!trq_heads_sane(q))
		AUDIT_FAIL("queue heads out of range");
	for (uint32_t i = 0; i < cap; i++) {
		struct trq_slot *s = &q->meta[i];
		uint32_t st = RD(s->state);
		if (st >= TASKRING_NSTATES)
			AUDIT_FAIL("slot %u: state %u out of range", i, st);
		count[st]++;
		if (st == TASKRING_FREE)
			continue;
		const char *bad = slot_invalid(q, i);
		if (bad)
			AUDIT_FAIL("slot %u: invalid %s", i, bad);
		uint32_t c = RD(s->cls) % TRQ_NCLASS;
		if (s->state == TASKRING_QUEUED)
			qcls[c]++;
		if (s->state == TASKRING_RUNNING) {
			rcls[c]++;
			if (!owner_live(q, s))
				AUDIT_FAIL(
				    "slot %u: running on worker %d incarnation %u, not alive", i,
				    s->owner, s->owner_inc);
		}
		if (is_final(s->state) && (s->flags & TRQ_F_READ))
			readfin++;
	}
	for (int c = 0; c < TRQ_NCLASS; c++) {
		if (h->ring_count[c] != qcls[c])
			AUDIT_FAIL("%s ring holds %u entries, %u tasks queued",
			           taskring_class_name(c), h->ring_count[c], qcls[c]);
		if (h->running[c] != rcls[c])
			AUDIT_FAIL("%s running count %u, %u tasks running", taskring_class_name(c),
			           h->running[c], rcls[c]);
		for (uint32_t j = 0; j < h->ring_count[c]; j++) {
			uint32_t idx = RD(q->ring[c][(h->ring_head[c] + j) % cap]);
			if (idx >= cap)
				AUDIT_FAIL("%s ring entry %u out of range", taskring_class_name(c),
				           idx);
			if (q->meta[idx].state != TASKRING_QUEUED ||
			    q->meta[idx].cls != (uint32_t)c)
				AUDIT_FAIL("%s ring entry %u is not a queued task of the class",
				           taskring_class_name(c), idx);
			if (seen[idx]++)
				AUDIT_FAIL("%s ring holds slot %u twice", taskring_class_name(c),
				           idx);
		}
	}
	uint32_t n = 0;
	for (uint32_t i = RD(h->free_head); i != TRQ_NIL; i = RD(q->meta[i].next)) {
		if (i >= cap || n++ > cap || q->meta[i].state != TASKRING_FREE)
			AUDIT_FAIL("free list broken at slot %u", i);
	}
	if (n != count[TASKRING_FREE] || n != h->free_count)
		AUDIT_FAIL("free list holds %u slots, count says %u, %u slots free", n,
		           h->free_count, count[TASKRING_FREE]);
	uint32_t fins = 0;
	for (int k = 0; k < 2; k++) {
		uint32_t prev = TRQ_NIL;
		n = 0;
		for (uint32_t i = RD(h->fin_head[k]); i != TRQ_NIL; i = RD(q->meta[i].next)) {
			if (i >= cap || n++ > cap || !is_final(q->meta[i].state) ||
			    q->meta[i].prev != prev || !!(q->meta[i].flags & TRQ_F_READ) != k)
				AUDIT_FAIL("finished list %d broken at slot %u", k, i);
			prev = i;
		}
		if (prev != h->fin_tail[k] || n != h->fin_count[k])
			AUDIT_FAIL("finished list %d: %u slots, count says %u", k, n,
			           h->fin_count[k]);
		fins += n;
	}
	if (fins != count[TASKRING_DONE] + count[TASKRING_FAILED] + count[TASKRING_CANCELLED] ||
	    h->fin_count[1] != readfin)
		AUDIT_FAIL("finished lists hold %u slots, %u tasks finished", fins,
		           count[TASKRING_DONE] + count[TASKRING_FAILED] +
		               count[TASKRING_CANCELLED]);
	r = 0;
	goto out;
bad:
	if (repair)
		trq_rebuild(q);
	r = -TASKRING_ECORRUPT;
out:
	if (repair)
		h->audits++;
	q->audit_held_ns = trq_now() - locked;
	trq_unlock(q);
	free(seen);
	return r;
}

int trq_check(struct trq *q, char *msg, size_t msglen)
{
	return trq_audit(q, 0, msg, msglen);
}
