/*
 * slots.c - the derived lists of the slot table (see slots.h), taking a slot
 * for a new task and ending one. Links and heads read from the segment are
 * range-checked before use; a check that fails is reported to the caller,
 * which rebuilds from the table.
 */
#include <limits.h>
#include <string.h>

#include "slots.h"

char *trq_out(struct trq *q, uint32_t idx)
{
	return (char *)q->out + (size_t)idx * q->result_max;
}

void trq_out_place(struct trq *q, uint32_t idx, uint64_t id, const char *src, uint32_t len)
{
	if (idx >= q->capacity)
		return;
	if (len > q->result_max)
		len = q->result_max;
	char *dst = trq_out_at(q, idx, len);
	/* dst and src never overlap unless equal: the record's out_in and a
	 * result area, or private memory. trq_st_bytes: a lock-free copy of
	 * the slot's previous task may still be reading (copy_final). */
	if (dst != src && __atomic_load_n(&q->meta[idx].id, __ATOMIC_RELAXED) == id)
		trq_st_bytes(dst, src, len);
}

/* Wakes every client waiting on slot idx. */
void trq_slot_wake(struct trq *q, uint32_t idx)
{
	trq_slot_wake_after(q, &idx, 1);
}

void trq_slot_wake_after(struct trq *q, const uint32_t *idxs, unsigned n)
{
	if (!n)
		return;
	/* A full fence. A locked instruction on a private line is one, and
	 * costs a fraction of an mfence. */
	unsigned fence = 0;
	__atomic_fetch_or(&fence, 0, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n; i++) {
		if (idxs[i] >= q->capacity)
			continue;
		struct trq_slot *s = &q->meta[idxs[i]];
		if (__atomic_load_n(&s->nwait, __ATOMIC_SEQ_CST)) {
			__atomic_add_fetch(&s->wake, 1, __ATOMIC_SEQ_CST);
			trq_futex_wake(&s->wake, INT_MAX);
		}
	}
}

/* Appends idx to fin list k (0 unread, 1 read). */
void trq_fin_append(struct trq *q, int k, uint32_t idx)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	uint32_t tail = RD(h->fin_tail[k]);
	st32r(&s->next, TRQ_NIL);
	s->prev = tail;
	if (tail != TRQ_NIL && tail < q->capacity)
		st32r(&q->meta[tail].next, idx);
	else
		st32r(&h->fin_head[k], idx);
	h->fin_tail[k] = idx;
	h->fin_count[k]++;
}

/* Unlinks idx from fin list k. Returns -1 when the links are inconsistent. */
int trq_fin_unlink(struct trq *q, int k, uint32_t idx)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	uint32_t p = RD(s->prev), n = RD(s->next);
	if ((p != TRQ_NIL && p >= q->capacity) || (n != TRQ_NIL && n >= q->capacity))
		return -1;
	if (p == TRQ_NIL ? RD(h->fin_head[k]) != idx : RD(q->meta[p].next) != idx)
		return -1;
	if (n == TRQ_NIL ? RD(h->fin_tail[k]) != idx : RD(q->meta[n].prev) != idx)
		return -1;
	if (p == TRQ_NIL)
		st32r(&h->fin_head[k], n);
	else
		st32r(&q->meta[p].next, n);
	if (n == TRQ_NIL)
		h->fin_tail[k] = p;
	else
		q->meta[n].prev = p;
	st32r(&s->next, TRQ_NIL);
	s->prev = TRQ_NIL;
	h->fin_count[k]--;
	return 0;
}

/* Makes idx FREE with the next generation and pushes it on the free list. */
void trq_slot_free(struct trq *q, uint32_t idx)
{
	struct trq_slot *s = &q->meta[idx];
	/* The new generation first: a lock-free reader (trq_peek, a result
	 * copy) that sees FREE or a cleared id must also see the old id
	 * expired, never "no such task" or "corrupted". And it must be visible
	 * before the next task's bytes, which a reader checks gen against. */
	uint32_t g = s->gen + 1;
	if (g == 0) /* 2^32 tasks in this slot: carry, or wrap within 2^63 ids */
		st32(&s->gen_hi, (s->gen_hi + 1) & q->gen_hi_mask);
	st32(&s->gen, g);
	trq_order();
	trq_slot_push_free(q, idx);
}

void trq_slot_push_free(struct trq *q, uint32_t idx)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	st32(&s->state, TASKRING_FREE);
	WR(s->id, 0); /* WR: a lock-free result copy may be reading them */
	WR(s->flags, 0);
	st32r(&s->next, h->free_head);
	WR(s->prev, TRQ_NIL);
	st32r(&h->free_head, idx);
	h->free_count++;
}

void trq_ring_push(struct trq *q, int c, uint32_t idx, int front)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity;
	uint32_t head = trq_wrap(RD(h->ring_head[c]), cap), count = RD(h->ring_count[c]);
	if (count > cap)
		count %= cap + 1;
	if (front) {
		head = trq_wrap((uint64_t)head + cap - 1, cap);
		st32r(&h->ring_head[c], head);
		st32r(&q->ring[c][head], idx);
	} else {
		st32r(&q->ring[c][trq_wrap((uint64_t)head + count, cap)], idx);
	}
	st32r(&h->ring_count[c], h->ring_count[c] + 1);
}

/* Whether the ring and list heads are in range (cheap, every operation). */
int trq_heads_sane(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity;
	for (int c = 0; c < TRQ_NCLASS; c++)
		if (h->ring_head[c] >= cap || h->ring_count[c] > cap)
			return 0;
	if ((h->free_head != TRQ_NIL && h->free_head >= cap) || h->free_count > cap)
		return 0;
	for (int k = 0; k < 2; k++)
		if ((h->fin_head[k] != TRQ_NIL && h->fin_head[k] >= cap) ||
		    (h->fin_tail[k] != TRQ_NIL && h->fin_tail[k] >= cap) || h->fin_count[k] > cap)
			return 0;
	return 1;
}

int trq_sort_cmp(const void *a, const void *b)
{
	const struct trq_sort_ent *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* ---- taking and ending slots (caller holds the lock) -------------------- */

/* Reclaims finished slot idx from fin list k and frees it. Waiters on the
 * old id learn that it expired once the caller, after unlocking, hands idx
 * to trq_slot_wake_after(). */
static int slot_reclaim(struct trq *q, int k, uint32_t idx)
{
	if (trq_fin_unlink(q, k, idx))
		return -1;
	trq_slot_free(q, idx);
	return 0;
}

/* Starts loading slot idx's record for writing: the lists are linked
 * through the records, so without this a batch waits for one cache miss
 * after another. */
static inline void slot_prefetch(struct trq *q, uint32_t idx)
{
	if (idx < q->capacity) {
		trq_prefetchw(&q->meta[idx]);
		trq_prefetchw((char *)&q->meta[idx] + 64);
		trq_prefetchw((char *)&q->meta[idx] + 128);
	}
}

/* Takes a slot off the free list, or reclaims the oldest read result, or the
 * oldest unread one past its TTL (then sets *reclaimed: the caller wakes
 * its waiters after unlocking). Returns TRQ_NIL when the table is full. */
uint32_t trq_slot_alloc(struct trq *q, uint64_t now, int *reclaimed)
{
	struct trq_hdr *h = q->hdr;
	for (int tries = 0; tries < 2; tries++) {
		uint32_t idx = RD(h->free_head);
		if (idx != TRQ_NIL) {
			if (idx >= q->capacity || ld32(&q->meta[idx].state) != TASKRING_FREE) {
				trq_rebuild(q);
				continue;
			}
			st32r(&h->free_head, RD(q->meta[idx].next));
			h->free_count--;
			slot_prefetch(q, h->free_head);
			return idx;
		}
		int broken = 0;
		for (int k = 1; k >= 0 && !broken; k--) {
			idx = RD(h->fin_head[k]);
			if (idx == TRQ_NIL)
				continue;
			if (idx >= q->capacity) {
				trq_rebuild(q);
				broken = 1;
				break;
			}
			if (k == 0 &&
			    !trq_ttl_passed(now, RD(q->meta[idx].finish_ns), h->result_ttl_ns))
				continue;
			slot_prefetch(q, RD(q->meta[idx].next)); /* the next one reclaimed */
			if (slot_reclaim(q, k, idx)) {
				trq_rebuild(q);
				broken = 1;
				break;
			}
			/* trq_slot_free() pushed it on the (empty) free list. */
			st32r(&h->free_head, RD(q->meta[idx].next));
			h->free_count--;
			*reclaimed = 1;
			return idx;
		}
		if (!broken)
			return TRQ_NIL;
	}
	return TRQ_NIL;
}

/* Moves a finished slot to its place: freed when detached, else fin list 0. */
void trq_slot_finished(struct trq *q, uint32_t idx)
{
	struct trq_slot *s = &q->meta[idx];
	if (s->flags & TRQ_F_DETACHED)
		trq_slot_free(q, idx);
	else
		trq_fin_append(q, 0, idx);
}

/* Ends task idx in a final state with text as its output. */
void trq_slot_end(struct trq *q, uint32_t idx, int state, const char *text, uint64_t now)
{
	struct trq_slot *s = &q->meta[idx];
	size_t n = text ? strlen(text) : 0;
	if (n > q->result_max)
		n = q->result_max;
	/* Atomic stores (WR, trq_st_bytes): a lock-free copy of the task
	 * that last held the slot may still be reading it (copy_final). */
	trq_st_bytes(trq_out_at(q, idx, (uint32_t)n), text ? text : "", n);
	WR(s->out_len, (uint32_t)n);
	WR(s->out_sum, trq_sum(2166136261u, trq_out_at(q, idx, (uint32_t)n), n));
	trq_slot_final(q, idx, (uint32_t)state, now);
}

uint32_t trq_free_slots(struct trq *q, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	uint32_t n = h->free_count + h->fin_count[1], steps = 0;
	for (uint32_t i = RD(h->fin_head[0]);
	     i != TRQ_NIL && i < q->capacity && steps < q->capacity;
	     i = RD(q->meta[i].next), steps++) {
		if (!trq_ttl_passed(now, RD(q->meta[i].finish_ns), h->result_ttl_ns))
			break;
		n++;
	}
	return n > q->capacity ? q->capacity : n;
}

/* Splits the argument bytes into words; returns -1 when they are malformed. */
int trq_split_args(char *buf, uint32_t len, uint32_t argc, char **argv)
{
	uint32_t w = 0, start = 0;
	if (len && buf[len - 1] != 0)
		return -1;
	for (uint32_t i = 0; i < len; i++) {
		if (buf[i] == 0) {
			if (w >= argc)
				return -1;
			argv[w++] = buf + start;
			start = i + 1;
		}
	}
	if (w != argc)
		return -1;
	argv[w] = NULL;
	return 0;
}
