/*
 * slots.c - the derived lists of the slot table (see slots.h). Links and
 * heads read from the segment are range-checked before use; a check that
 * fails is reported to the caller, which rebuilds from the table.
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
	if (dst != src && __atomic_load_n(&q->meta[idx].id, __ATOMIC_RELAXED) == id)
		memmove(dst, src, len);
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
	s->next = TRQ_NIL;
	s->prev = tail;
	if (tail != TRQ_NIL && tail < q->capacity)
		q->meta[tail].next = idx;
	else
		h->fin_head[k] = idx;
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
		h->fin_head[k] = n;
	else
		q->meta[p].next = n;
	if (n == TRQ_NIL)
		h->fin_tail[k] = p;
	else
		q->meta[n].prev = p;
	s->next = s->prev = TRQ_NIL;
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
	st32(&s->gen, s->gen + 1);
	trq_order();
	trq_slot_push_free(q, idx);
}

void trq_slot_push_free(struct trq *q, uint32_t idx)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	st32(&s->state, TASKRING_FREE);
	s->id = 0;
	s->flags = 0;
	s->next = h->free_head;
	s->prev = TRQ_NIL;
	h->free_head = idx;
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
