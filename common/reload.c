/*
 * reload.c - reload tickets and answers (see reload.h).
 *
 * Answer number k (1-based, hdr->reload_seq counts them) lives in
 * reload_ans[(k - 1) % TRQ_RELOAD_ANS]. The writer fills the entry of
 * answer seq + 1, then stores seq + 1 with release order; an entry is
 * rewritten only TRQ_RELOAD_ANS answers later. A reader that saw seq1
 * before copying and seq2 after trusts the answers k with
 * seq2 - (TRQ_RELOAD_ANS - 1) < k <= seq1: the writer, busy at most with
 * answer seq2 + 1, cannot have touched those.
 *
 * The pending ranges are a seqlock: the writer makes reload_pend_gen odd,
 * rewrites them, and makes it even again; a reader keeps a copy taken
 * between two equal even looks, and tries a few times only (a client may
 * hold the count odd for ever). When it gets none, or a damaged one, or
 * ranges another supervisor wrote (reload_pend_tok is not the current
 * sup_token's low half: an older daemon that publishes no ranges adopted
 * the segment of a newer one killed while a reload converged), it falls
 * back on reload_pend_from, the first pending ticket, which layout 15
 * daemons that publish no ranges also write: every claimed ticket from it
 * on may then be pending. That is the old answer, a wait, not a wrong one.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "reload.h"
#include "slots.h"

uint32_t trq_reload_ticket(struct trq *q)
{
	return __atomic_add_fetch(&q->hdr->reload_asked, 1, __ATOMIC_SEQ_CST);
}

uint32_t trq_reload_claim(struct trq *q, uint32_t *upto, uint32_t *from)
{
	uint32_t asked = __atomic_load_n(&q->hdr->reload_asked, __ATOMIC_ACQUIRE);
	uint32_t n = asked - *upto;

	*from = *upto + 1;
	*upto = asked;
	return n;
}

void trq_reload_claimed(struct trq *q, uint32_t upto)
{
	__atomic_store_n(&q->hdr->reload_claimed, upto, __ATOMIC_RELEASE);
}

void trq_reload_pending(struct trq *q, const struct trq_reload_range *r, unsigned nr)
{
	struct trq_hdr *h = q->hdr;
	uint32_t gen = __atomic_load_n(&h->reload_pend_gen, __ATOMIC_RELAXED) & ~1u;

	if (nr > TRQ_RELOAD_PEND) { /* keep the newest */
		r += nr - TRQ_RELOAD_PEND;
		nr = TRQ_RELOAD_PEND;
	}
	__atomic_store_n(&h->reload_pend_gen, gen + 1, __ATOMIC_RELAXED);
	trq_order(); /* odd before the ranges change */
	for (unsigned i = 0; i < nr; i++) {
		__atomic_store_n(&h->reload_pend[i].from, r[i].from, __ATOMIC_RELAXED);
		__atomic_store_n(&h->reload_pend[i].n, r[i].n, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&h->reload_pend_nr, nr, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_pend_tok,
	                 (uint32_t)__atomic_load_n(&h->sup_token, __ATOMIC_RELAXED),
	                 __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_pend_gen, gen + 2, __ATOMIC_RELEASE);
	/* For readers that know no ranges, and for the fallback. */
	__atomic_store_n(&h->reload_pend_from, nr ? r[0].from : 0, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_pending, nr ? 1u : 0u, __ATOMIC_RELEASE);
}

/* Whether the published ranges hold ticket: 1 yes, 0 no, -1 unknown (none
 * published, a damaged count, another supervisor's, or being rewritten at
 * every look). */
static int reload_pend_has(struct trq_hdr *h, uint32_t ticket)
{
	struct trq_reload_range r[TRQ_RELOAD_PEND];

	for (int tries = 0; tries < 8; tries++) {
		uint32_t gen = __atomic_load_n(&h->reload_pend_gen, __ATOMIC_ACQUIRE);
		if (gen & 1) {
			__builtin_ia32_pause();
			continue;
		}
		uint32_t nr = __atomic_load_n(&h->reload_pend_nr, __ATOMIC_RELAXED);
		uint32_t tok = __atomic_load_n(&h->reload_pend_tok, __ATOMIC_RELAXED);
		for (unsigned i = 0; i < TRQ_RELOAD_PEND; i++) {
			r[i].from = __atomic_load_n(&h->reload_pend[i].from, __ATOMIC_RELAXED);
			r[i].n = __atomic_load_n(&h->reload_pend[i].n, __ATOMIC_RELAXED);
		}
		trq_order(); /* the copy before the second look at the count */
		if (__atomic_load_n(&h->reload_pend_gen, __ATOMIC_RELAXED) != gen)
			continue;
		if (nr == 0 || nr > TRQ_RELOAD_PEND ||
		    tok != (uint32_t)__atomic_load_n(&h->sup_token, __ATOMIC_RELAXED))
			return -1;
		for (unsigned i = 0; i < nr; i++)
			if (ticket - r[i].from < r[i].n)
				return 1;
		return 0;
	}
	return -1;
}

/* Whether the converging reload will answer ticket, a claimed one, given
 * reload_pending and reload_pend_from as read before. */
static int reload_is_pending(struct trq_hdr *h, uint32_t pending, uint32_t pend_from,
                             uint32_t ticket)
{
	if (!pending)
		return 0;
	int r = reload_pend_has(h, ticket);
	return r >= 0 ? r : (int32_t)(ticket - pend_from) >= 0;
}

void trq_reload_publish(struct trq *q, uint32_t from, uint32_t n, int ok, const char *why)
{
	struct trq_hdr *h = q->hdr;
	uint32_t seq = __atomic_load_n(&h->reload_seq, __ATOMIC_RELAXED);
	struct trq_reload_ans *a = &h->reload_ans[seq % TRQ_RELOAD_ANS];

	__atomic_store_n(&a->from, from, __ATOMIC_RELAXED);
	__atomic_store_n(&a->n, n, __ATOMIC_RELAXED);
	__atomic_store_n(&a->ok, ok ? 1 : 0, __ATOMIC_RELAXED);
	snprintf(a->error, sizeof(a->error), "%s", ok || !why ? "" : why);
	__atomic_store_n(&h->reload_seq, seq + 1, __ATOMIC_RELEASE);
	trq_futex_wake(&h->reload_seq, INT_MAX);
}

void trq_reload_roll(struct trq *q, uint32_t done, uint32_t total, uint64_t by_ns)
{
	struct trq_hdr *h = q->hdr;

	__atomic_store_n(&h->reload_roll_by_ns, by_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_roll_done, done, __ATOMIC_RELAXED);
	__atomic_store_n(&h->reload_roll_total, total, __ATOMIC_RELEASE);
}

int trq_reload_roll_get(struct trq *q, uint32_t ticket, uint32_t *done, uint32_t *total,
                        uint64_t *by_ns)
{
	struct trq_hdr *h = q->hdr;
	uint32_t claimed = __atomic_load_n(&h->reload_claimed, __ATOMIC_ACQUIRE);
	uint32_t pending = __atomic_load_n(&h->reload_pending, __ATOMIC_ACQUIRE);
	uint32_t pend_from = __atomic_load_n(&h->reload_pend_from, __ATOMIC_RELAXED);
	uint32_t t = __atomic_load_n(&h->reload_roll_total, __ATOMIC_ACQUIRE);
	uint32_t d = __atomic_load_n(&h->reload_roll_done, __ATOMIC_RELAXED);
	uint64_t by = __atomic_load_n(&h->reload_roll_by_ns, __ATOMIC_RELAXED);

	if (pending != 1 || (int32_t)(claimed - ticket) < 0 ||
	    !reload_is_pending(h, pending, pend_from, ticket))
		return -EAGAIN;
	if (t == 0 || by == 0)
		return -EAGAIN;
	/* Answered, e.g. refused while an earlier reload converges: the roll is
	 * that one's. The answer is published before claimed covers it. */
	int ok;
	if (trq_reload_find(q, ticket, &ok, NULL, 0) == 0)
		return -EAGAIN;
	/* Stop, move, restart and start of each slot at most. */
	if (t > 2 * TRQ_WORKERS_MAX)
		t = 2 * TRQ_WORKERS_MAX;
	*total = t;
	*done = d < t ? d : t;
	*by_ns = by;
	return 0;
}

/* Reads answer a (a private copy of the segment's) into *ok and why. */
static void reload_copy(const struct trq_reload_ans *a, int *ok, char *why, size_t len)
{
	/* Anything but 1 is a refusal; a damaged entry says so. */
	*ok = a->ok == 1;
	if (!len)
		return;
	size_t n = strnlen(a->error, sizeof(a->error));
	if (a->ok != 0 && a->ok != 1)
		snprintf(why, len, "the answer in the segment is damaged");
	else if (*ok)
		why[0] = 0;
	else
		snprintf(why, len, "%.*s", (int)n, a->error);
}

/* Copies the answers trusted now into ans (indexed like the segment's) and
 * returns how many; *newest receives the newest one's number. */
static unsigned reload_snapshot(struct trq *q, struct trq_reload_ans ans[TRQ_RELOAD_ANS],
                                uint32_t *newest)
{
	struct trq_hdr *h = q->hdr;
	uint32_t seq1 = __atomic_load_n(&h->reload_seq, __ATOMIC_ACQUIRE);

	memcpy(ans, (const void *)h->reload_ans, sizeof(h->reload_ans));
	trq_order(); /* the copy before the second look at the count */
	uint32_t seq2 = __atomic_load_n(&h->reload_seq, __ATOMIC_RELAXED);
	uint32_t moved = seq2 - seq1;
	*newest = seq1;
	if (moved >= TRQ_RELOAD_ANS - 1)
		return 0;
	unsigned n = TRQ_RELOAD_ANS - 1 - moved; /* answers seq1, seq1 - 1, ... */
	return n < seq1 ? n : seq1;
}

int trq_reload_find(struct trq *q, uint32_t ticket, int *ok, char *why, size_t len)
{
	struct trq_hdr *h = q->hdr;
	struct trq_reload_ans ans[TRQ_RELOAD_ANS];
	uint32_t k;
	/* Read before the answers: a ticket claimed by then and found in none
	 * of them was answered before them (or converges). */
	uint32_t claimed = __atomic_load_n(&h->reload_claimed, __ATOMIC_ACQUIRE);
	uint32_t pending = __atomic_load_n(&h->reload_pending, __ATOMIC_ACQUIRE);
	uint32_t pend_from = __atomic_load_n(&h->reload_pend_from, __ATOMIC_RELAXED);
	/* Also before: the supervisor drops the ranges after their answers. */
	int pend = reload_is_pending(h, pending, pend_from, ticket);
	unsigned n = reload_snapshot(q, ans, &k);

	/* Oldest first (see reload.h). */
	for (unsigned i = n; i-- > 0;) {
		const struct trq_reload_ans *a = &ans[(k - i - 1) % TRQ_RELOAD_ANS];
		if (ticket - a->from < a->n) {
			reload_copy(a, ok, why, len);
			return 0;
		}
	}
	if ((int32_t)(claimed - ticket) < 0)
		return -EAGAIN; /* not claimed yet: its reload has not begun */
	if (pend)
		return -EAGAIN; /* the converging reload will answer it */
	return -ESTALE;         /* answered at once, or dropped, before this look */
}

uint32_t trq_reload_last(struct trq *q, int *ok, char *why, size_t len)
{
	struct trq_reload_ans ans[TRQ_RELOAD_ANS];
	uint32_t k;

	*ok = 0;
	if (len)
		why[0] = 0;
	if (reload_snapshot(q, ans, &k) > 0)
		reload_copy(&ans[(k - 1) % TRQ_RELOAD_ANS], ok, why, len);
	return k;
}
