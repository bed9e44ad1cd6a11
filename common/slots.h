/*
 * slots.h - internal to the queue: reading the slot table safely and keeping
 * its derived lists (rings, free list, finished lists). Shared by queue.c
 * (the task life cycle), take.c, wake.c and repair.c (rebuild and audit).
 *
 * Every function here expects the caller to hold the queue lock, except
 * the inline readers, the trq_slot_wake*() calls and trq_split_args().
 * Values read from the segment go through RD()/ld32() once into a local
 * and are checked before use.
 */
#ifndef TR_SLOTS_H
#define TR_SLOTS_H

#include <stdint.h>
#include <string.h>

#include "queue.h"

/* The most attempts a task may be given; larger values are clamped. */
#define TRQ_ATTEMPTS_MAX 1000

static inline uint32_t ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* A store of a locked field that trq_nap(), trq_kick() and the read-aheads
 * of a take or a submit read without the lock (ring heads, counts and
 * entries, the free and read lists' heads and next links): atomic, so that
 * ThreadSanitizer sees no race; a plain mov on x86. */
static inline void st32r(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Keeps the loads before it ahead of the loads after it, and the stores
 * before it ahead of the stores after it. x86-64 (the only target: the
 * spin loops use its pause instruction) never reorders loads with loads or
 * stores with stores, so stopping the compiler is enough; and
 * ThreadSanitizer refuses atomic_thread_fence. */
static inline void trq_order(void)
{
	__asm__ volatile("" ::: "memory");
}

/* Starts loading the line at p for writing. __builtin_prefetch(p, 1)
 * compiles to a plain read prefetch unless the build targets PRFCHW: the
 * line then comes shared, and the store that follows waits a second time,
 * for the other copies (a worker's, for a slot it finished) to go. x86-64
 * only, as the spin loops are; CPUs before PREFETCHW run it as a NOP. */
static inline void trq_prefetchw(const void *p)
{
	__asm__("prefetchw %0" : : "m"(*(const char *)p));
}

/* x modulo cap for a ring position, without a division in the usual case
 * (x < 2 * cap: a sum of two positions); any other value, e.g. a corrupted
 * one, still lands in range. */
static inline uint32_t trq_wrap(uint64_t x, uint32_t cap)
{
	if (x < cap)
		return (uint32_t)x;
	if (x < 2ull * cap)
		return (uint32_t)(x - cap);
	return (uint32_t)(x % cap);
}

/* One load of a field another process may be writing right now. Indices
 * and sizes from the segment are read once through RD() into a local, then
 * checked, so the value checked is the value used. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* A store of a slot field that a lock-free result copy (copy_final in
 * queue.c) may be reading at the same time (CPY), and that read: the slot
 * was reclaimed and is being refilled under the lock while the copy is
 * under way, which the copy tells by the generation it reads afterwards (a
 * sequence lock: what it read is dropped). Relaxed atomics under
 * ThreadSanitizer, so that it reports only real races; plain accesses
 * otherwise. Relaxed atomics are plain movs on x86-64 too, but they keep
 * the compiler from merging and scheduling the stores of a slot's refill
 * and the loads of its copy: batches of 64 ran 5-7 % slower with them
 * (bench/RESULTS.md). A value checked and then used is read with RD(). */
#ifdef __SANITIZE_THREAD__
#define WR(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define CPY(x)   __atomic_load_n(&(x), __ATOMIC_RELAXED)
#else
#define WR(x, v) ((x) = (v))
#define CPY(x)   (x)
#endif

/* The byte copies of the same pattern (argument words, type name, output):
 * from a slot into private memory (trq_ld_bytes) while it may be refilled,
 * and into a slot (trq_st_bytes) while a copy may be reading it. memcpy
 * outside ThreadSanitizer; under it relaxed atomic byte accesses, which
 * is what they are, so that it reports only real races. Source and
 * destination never overlap. */
static inline void trq_ld_bytes(void *dst, const void *src, size_t n)
{
#ifdef __SANITIZE_THREAD__
	for (size_t i = 0; i < n; i++)
		((unsigned char *)dst)[i] =
		    __atomic_load_n((const unsigned char *)src + i, __ATOMIC_RELAXED);
#else
	memcpy(dst, src, n);
#endif
}

static inline void trq_st_bytes(void *dst, const void *src, size_t n)
{
#ifdef __SANITIZE_THREAD__
	for (size_t i = 0; i < n; i++)
		__atomic_store_n((unsigned char *)dst + i, ((const unsigned char *)src)[i],
		                 __ATOMIC_RELAXED);
#else
	memcpy(dst, src, n);
#endif
}

/* The checksum of a type field, trq_args_sum()'s first part, remembered
 * for the last field seen: the tasks of a batch mostly share one type, and
 * comparing 32 bytes costs less than summing them. Private memory; start
 * with valid = 0. */
_Static_assert(TRQ_NAME_MAX % 8 == 0, "type field in words");
struct trq_tsum_memo {
	uint64_t type[TRQ_NAME_MAX / 8];
	uint32_t sum;
	int valid;
};

static inline uint32_t trq_tsum_memo(struct trq_tsum_memo *m, const char *type)
{
	uint64_t w[TRQ_NAME_MAX / 8], diff = 0;
	memcpy(w, type, sizeof(w));
	for (unsigned i = 0; i < TRQ_NAME_MAX / 8; i++)
		diff |= w[i] ^ m->type[i];
	if (!m->valid || diff) {
		memcpy(m->type, w, sizeof(w));
		m->sum = trq_sum(2166136261u, w, TRQ_NAME_MAX); /* the bytes compared */
		m->valid = 1;
	}
	return m->sum;
}

/* Whether a result that finished at f is past its TTL at now. A clock
 * reading older than the finish (a submitter reads the clock before it
 * takes the lock) is not: the age must not wrap around to a huge one. */
static inline int trq_ttl_passed(uint64_t now, uint64_t f, uint64_t ttl)
{
	return now >= f && now - f >= ttl;
}

static inline int is_final(uint32_t st)
{
	return st == TASKRING_DONE || st == TASKRING_FAILED || st == TASKRING_CANCELLED;
}

/* Slot s's whole generation, gen_hi:gen (gen_hi masked: it may be
 * garbage). */
static inline uint64_t slot_gen(const struct trq *q, const struct trq_slot *s)
{
	return (uint64_t)(s->gen_hi & q->gen_hi_mask) << 32 | s->gen;
}

static inline uint64_t slot_id(const struct trq *q, uint32_t idx, uint64_t gen)
{
	return gen * q->capacity + idx + 1;
}

/* Wakes every client waiting on slot idx, whose state or generation the
 * caller changed: trq_slot_wake_after() for one slot. */
void trq_slot_wake(struct trq *q, uint32_t idx);

/* Wakes the clients waiting on n slots whose state or generation the caller
 * changed (under the lock, which it may hold or have released since);
 * indices >= capacity are skipped. Touches the
 * wake word only of slots with waiters: a waiter counts itself in nwait
 * before it reads the wake word and re-checks the state (trq_wait_final),
 * so once a full fence orders our stores before the nwait loads, a count
 * of zero means any waiter still to come sees the new state. An
 * unconditional increment would be a locked instruction per slot on a line
 * another process wrote last, which stalls until the line arrives. */
void trq_slot_wake_after(struct trq *q, const uint32_t *idxs, unsigned n);

/* Appends idx to finished list k (0 unread, 1 read). */
void trq_fin_append(struct trq *q, int k, uint32_t idx);

/* Unlinks idx from finished list k; -1 when the links are inconsistent. */
int trq_fin_unlink(struct trq *q, int k, uint32_t idx);

/* Makes idx FREE with the next generation and pushes it on the free list. */
void trq_slot_free(struct trq *q, uint32_t idx);

/* Makes idx FREE (its generation as it is) and pushes it on the free list:
 * the second half of trq_slot_free(), also what the rebuild does. */
void trq_slot_push_free(struct trq *q, uint32_t idx);

/* Puts idx at the back (or, with front, the front) of ring c. */
void trq_ring_push(struct trq *q, int c, uint32_t idx, int front);

/* Whether the ring and list heads and counts are in range. */
int trq_heads_sane(struct trq *q);

/* A slot index with a sort key, for re-deriving orders (FIFO, finish time). */
struct trq_sort_ent {
	uint64_t key;
	uint32_t idx;
};

/* qsort comparator: by key, then index. */
int trq_sort_cmp(const void *a, const void *b);

/* Takes a slot off the free list, or reclaims the oldest read result, or
 * the oldest unread one past its TTL (then sets *reclaimed: the caller
 * wakes its waiters after unlocking). Returns TRQ_NIL when the table is
 * full. The caller checked the heads (trq_heads_sane) since it took the
 * lock: once per lock, not per slot. */
uint32_t trq_slot_alloc(struct trq *q, uint64_t now, int *reclaimed);

/* Moves a finished slot to its place: freed when detached, else fin list 0. */
void trq_slot_finished(struct trq *q, uint32_t idx);

/* Puts task idx, its output already in place, in final state `state` at
 * now: clears the run flags, counts it in the header and moves it to its
 * list (trq_slot_finished). Shared by a worker's finish and trq_slot_end. */
static inline void trq_slot_final(struct trq *q, uint32_t idx, uint32_t state, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	WR(s->finish_ns, now); /* WR: see trq_slot_end */
	WR(s->flags, s->flags & ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ));
	st32(&s->state, state);
	if (state == TASKRING_DONE)
		h->done++;
	else if (state == TASKRING_FAILED)
		h->failed++;
	else
		h->cancelled++;
	trq_slot_finished(q, idx);
}

/* Ends task idx in a final state with text as its output (counted in the
 * header, moved to its list). */
void trq_slot_end(struct trq *q, uint32_t idx, int state, const char *text, uint64_t now);

/* Splits the argument bytes buf[0..len) into argc words in argv (NULL
 * after the last); returns -1 when they are malformed. No lock needed. */
int trq_split_args(char *buf, uint32_t len, uint32_t argc, char **argv);

#endif
