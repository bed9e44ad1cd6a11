/*
 * wake.c - the work doorbell: how submitters wake workers that sleep for
 * tasks, and how workers wait (spin, then sleep on the futex counter
 * hdr->q_seq[class], or nap to gather a batch on hdr->nap_seq[class]).
 *
 * Invariant: a task queued while some worker of its class sleeps is never
 * left without a wake-up. The counts kept here (q_spin, q_nap, q_wait,
 * q_woke_n) are hints that the workers' own updates keep high only for a
 * bounded time (a wake-up is then skipped for at most WOKE_FRESH_NS) or low
 * (a spare wake-up); trq_worker_lost() uncounts a dead worker. Counts
 * written wrong by another process (q_wait low, q_spin high) cost missed
 * wake-ups until the supervisor's periodic look: trq_kick() wakes every
 * sleeper while tasks are queued, and its audit resets pollers counted
 * without their record's flag.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>

#include "queue.h"
#include "slots.h"
#include "wake.h"

/* ---- waking sleeping workers --------------------------------------------
 *
 * q_wait[c] counts the workers asleep on q_seq[c], including ones already
 * woken that have not run yet; q_woke_n[c] counts those, and q_woke_ns[c]
 * says when the last wake-up was sent. While every sleeper has been woken
 * by a wake-up less than WOKE_FRESH_NS old, another one would wake nobody
 * and cost its sender a system call (1-30 us on this VM): a woken worker
 * on a CPU its client keeps busy (workers_sched batch) may wait a whole
 * time slice before it runs, and every batch submitted meanwhile paid one.
 * A woken worker uncounts itself when its wait returns (trq_wait_work_w).
 * Both are hints: the count may run high only until the stamp is stale (a
 * worker killed between its wake-up and its run), which delays the next
 * wake-up by WOKE_FRESH_NS at most; trq_kick, the supervisor's periodic
 * look, wakes every sleeper while tasks are queued. */
#define WOKE_FRESH_NS 5000000ull

/* Whether a wake-up sent at t (0: none) is still in flight at now. Another
 * process may have sent it after this one read its clock (t > now): that
 * one is fresh too, not one from long ago. */
static int woke_fresh(uint64_t t, uint64_t now)
{
	if (!t || !now)
		return 0;
	return t > now ? t - now < WOKE_FRESH_NS : now - t < WOKE_FRESH_NS;
}

/* How many workers of class cls were woken moments ago and have not run. */
static uint32_t woke_pending(struct trq_hdr *h, int cls, uint64_t now)
{
	if (!woke_fresh(__atomic_load_n(&h->q_woke_ns[cls], __ATOMIC_SEQ_CST), now))
		return 0;
	return __atomic_load_n(&h->q_woke_n[cls], __ATOMIC_SEQ_CST);
}

/* Whether every worker asleep on class cls has been woken moments ago. */
int trq_woke_all(struct trq_hdr *h, int cls, uint64_t now)
{
	uint32_t woken = woke_pending(h, cls, now);
	return woken && __atomic_load_n(&h->q_wait[cls], __ATOMIC_SEQ_CST) <= woken;
}

/* Subtracts k from *n, stopping at 0. */
static void sub_sat(uint32_t *n, uint32_t k)
{
	uint32_t v = __atomic_load_n(n, __ATOMIC_RELAXED);
	while (v && !__atomic_compare_exchange_n(n, &v, v > k ? v - k : 0, 0, __ATOMIC_SEQ_CST,
	                                         __ATOMIC_RELAXED))
		;
}

/* Wakes up to n workers of class cls asleep with a bit of mask (0: any
 * that can take tasks: io threads that cannot wait on TRQ_IO_FULL alone)
 * and counts them as woken (counted first: a woken worker may run and
 * uncount itself before the system call returns). Returns how many woke. */
int trq_wake_workers(struct trq_hdr *h, int cls, int n, uint32_t mask, uint64_t now)
{
	if (!mask && cls == TASKRING_IO)
		mask = ~TRQ_IO_FULL;
	uint32_t sleeping = __atomic_load_n(&h->q_wait[cls], __ATOMIC_SEQ_CST);
	uint32_t want = (uint32_t)n < sleeping ? (uint32_t)n : sleeping;
	if (!want)
		return 0;
	if (!woke_fresh(__atomic_load_n(&h->q_woke_ns[cls], __ATOMIC_RELAXED), now))
		__atomic_store_n(&h->q_woke_n[cls], 0, __ATOMIC_SEQ_CST); /* stale: start over */
	__atomic_add_fetch(&h->q_woke_n[cls], want, __ATOMIC_SEQ_CST);
	__atomic_store_n(&h->q_woke_ns[cls], now ? now : trq_now(), __ATOMIC_SEQ_CST);
	int k = mask ? trq_futex_wake_mask(&h->q_seq[cls], (int)want, mask)
	             : trq_futex_wake_n(&h->q_seq[cls], (int)want);
	if ((uint32_t)k < want)
		sub_sat(&h->q_woke_n[cls], want - (uint32_t)k);
	return k;
}

void trq_work_woke(struct trq *q, int cls)
{
	if (cls >= 0 && cls < TRQ_NCLASS)
		sub_sat(&q->hdr->q_woke_n[cls], 1);
}

/* Tells workers of class cls that n tasks were queued: wakes sleepers only
 * for what the workers already polling will not pick up.
 *
 * Which cpu-class sleeper (they sleep with their CPU's bit, io ones with all
 * bits): a lone task (cpu1 = 1 + the caller's CPU, see trq_lone_cpu()) goes to a
 * sleeper on the caller's own CPU. Waking it needs no inter-processor
 * interrupt: on this PVM guest waking a halted vCPU costs the waker ~30 us in
 * the system call and the sleeper ~50 us more before it runs, against a few
 * us for a context switch. The caller then sleeps at once (woke_here) and the
 * worker runs in its place. Tasks of a stream (cpu1 0) wake anyone, as
 * before: one system call, and workers that stay awake and spin. */
void trq_work_bell(struct trq *q, int cls, int n, int32_t cpu1, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	__atomic_store_n(&q->woke_here, 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->q_seq[cls], 1, __ATOMIC_SEQ_CST);
	/* A worker polling the ring takes up to TRQ_TAKE_MAX tasks at once, so
	 * it serves a batch alone: waking a sleeper too costs this caller a
	 * system call and gives the sleeper nothing to do. Work the pollers
	 * cannot take at once is not lost either: a taker that leaves tasks
	 * behind wakes a sleeper (trq_take), and a worker that finds a task
	 * slow hands the rest of its batch back to idle ones (trq_giveback). */
	int32_t spin = __atomic_load_n(&h->q_spin[cls], __ATOMIC_SEQ_CST);
	if (spin > 0 && (int64_t)n <= (int64_t)spin * TRQ_TAKE_MAX)
		return;
	if (!__atomic_load_n(&h->q_wait[cls], __ATOMIC_SEQ_CST))
		return;
	int m = n == INT_MAX || spin <= 0 ? n : (int)(n - (int64_t)spin * TRQ_TAKE_MAX);
	/* A worker woken moments ago has not run yet: it takes what is queued
	 * (and wakes another if it leaves tasks behind, see trq_take), so a
	 * lone new task needs no second wake-up, and more need none while
	 * every sleeper has been woken. */
	if ((m == 1 && woke_pending(h, cls, now)) || trq_woke_all(h, cls, now))
		return;
	if (cpu1 > 0 && cls == TASKRING_CPU && m == 1) {
		/* One lone task: a sleeper on this CPU, else anyone. */
		int k = trq_wake_workers(h, cls, 1, trq_cpu_mask(cpu1 - 1), now);
		__atomic_store_n(&q->woke_here, k > 0, __ATOMIC_RELAXED);
		m -= k;
	}
	if (m > 0)
		trq_wake_workers(h, cls, m, 0, now);
}

/* Ends the naps of the workers of class c (trq_nap). */
void trq_nap_end(struct trq_hdr *h, int c)
{
	__atomic_add_fetch(&h->nap_seq[c], 1, __ATOMIC_SEQ_CST);
	trq_futex_wake(&h->nap_seq[c], INT_MAX);
}

/* 1 + the caller's CPU when a task submitted at now is a lone one (this
 * handle submitted nothing and saw no result end for spin_ns), else 0. */
int32_t trq_lone_cpu(struct trq *q, uint64_t now)
{
	uint64_t last = __atomic_load_n(&q->last_ns, __ATOMIC_RELAXED);
	if (last && now - last < (uint64_t)q->spin_ns)
		return 0;
	int cpu = sched_getcpu();
	return cpu >= 0 ? cpu + 1 : 0;
}

/* ---- workers waiting for tasks ------------------------------------------ */

/* Spins until *seq != seen or spin_ns pass; returns 1 when it changed. The
 * clock is read every 32 rounds: a vDSO call per pause would dominate. */
static int spin_on(const uint32_t *seq, uint32_t seen, int64_t spin_ns)
{
	uint64_t end = trq_now() + (uint64_t)spin_ns;
	for (unsigned i = 1;; i++) {
		if (ld32(seq) != seen)
			return 1;
		if (!(i & 31)) {
			if (trq_now() >= end)
				return 0;
			/* With more busy processes than cores, a spinner must
			 * not keep the submitter it waits for off the CPU. */
			sched_yield();
		}
		__builtin_ia32_pause();
	}
}

/* Counts worker widx as awake for class cls (hdr->q_spin; with nap, also
 * as napping, hdr->q_nap) until spinner_off(). Its record's flag says so,
 * for trq_worker_lost() to uncount it if it dies meanwhile. Order (flag,
 * counts ... counts, flag) means a death at any point can only under-count,
 * which costs a spare wake-up or a full nap, never a missed wake-up. */
static void spinner_on(struct trq *q, int cls, int widx, int nap)
{
	struct trq_hdr *h = q->hdr;
	__atomic_store_n(&q->workers[widx].spinning,
	                 (1u + (uint32_t)cls) | (nap ? TRQ_SPIN_NAP : 0), __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&h->q_spin[cls], 1, __ATOMIC_SEQ_CST);
	if (nap)
		__atomic_add_fetch(&h->q_nap[cls], 1, __ATOMIC_SEQ_CST);
}

static void spinner_off(struct trq *q, int cls, int widx, int nap)
{
	struct trq_hdr *h = q->hdr;
	if (nap)
		__atomic_sub_fetch(&h->q_nap[cls], 1, __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&h->q_spin[cls], 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&q->workers[widx].spinning, 0, __ATOMIC_SEQ_CST);
}

int trq_wait_work_w(struct trq *q, int cls, int widx, uint32_t seen, uint64_t deadline)
{
	struct trq_hdr *h = q->hdr;
	if (cls < 0 || cls >= TRQ_NCLASS || widx >= (int)q->workers_max)
		return -EINVAL;
	/* Counted as a spinner only with a worker record the supervisor can
	 * clean up. */
	int counted = widx >= 0;
	if (counted)
		spinner_on(q, cls, widx, 0);
	/* Right after serving a client on this CPU, spinning only keeps it off. */
	int changed = __atomic_exchange_n(&q->woke_here, 0, __ATOMIC_RELAXED)
	                  ? ld32(&h->q_seq[cls]) != seen
	                  : spin_on(&h->q_seq[cls], seen, q->spin_ns);
	int r = 0;
	__atomic_add_fetch(&h->q_wait[cls], 1, __ATOMIC_SEQ_CST);
	if (counted)
		spinner_off(q, cls, widx, 0);
	/* A worker sleeps with its CPU's bit: work_bell wakes one on its own CPU first. */
	if (!changed && __atomic_load_n(&h->q_seq[cls], __ATOMIC_SEQ_CST) == seen) {
		r = trq_futex_wait_mask(&h->q_seq[cls], seen, deadline,
		                        trq_cpu_mask(counted ? sched_getcpu() : -1));
		trq_work_woke(q, cls);
	}
	__atomic_sub_fetch(&h->q_wait[cls], 1, __ATOMIC_SEQ_CST);
	return r;
}

int trq_wait_io_full(struct trq *q, uint32_t seen, uint64_t deadline)
{
	struct trq_hdr *h = q->hdr;
	int r = 0;
	__atomic_add_fetch(&h->q_wait[TASKRING_IO], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&h->q_seq[TASKRING_IO], __ATOMIC_SEQ_CST) == seen) {
		r = trq_futex_wait_mask(&h->q_seq[TASKRING_IO], seen, deadline, TRQ_IO_FULL);
		trq_work_woke(q, TASKRING_IO);
	}
	__atomic_sub_fetch(&h->q_wait[TASKRING_IO], 1, __ATOMIC_SEQ_CST);
	return r;
}

int trq_wait_work(struct trq *q, int cls, uint32_t seen, uint64_t deadline)
{
	return trq_wait_work_w(q, cls, -1, seen, deadline);
}

/* Whether ring cls holds TRQ_NAP_BELOW tasks or more, or one a client waits
 * for (read without the lock: at most TRQ_NAP_BELOW entries). */
static int nap_pointless(struct trq *q, int cls)
{
	struct trq_hdr *h = q->hdr;
	uint32_t n = RD(h->ring_count[cls]), head = RD(h->ring_head[cls]);
	if (n >= TRQ_NAP_BELOW || head >= q->capacity)
		return 1;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t idx = RD(q->ring[cls][(head + k) % q->capacity]);
		if (idx < q->capacity && __atomic_load_n(&q->meta[idx].watch, __ATOMIC_SEQ_CST))
			return 1;
	}
	return 0;
}

int trq_nap(struct trq *q, int cls, int widx, const struct trq_task *t, unsigned n)
{
	struct trq_hdr *h = q->hdr;
	if (cls < 0 || cls >= TRQ_NCLASS || widx < 0 || (uint32_t)widx >= q->workers_max)
		return -EINVAL;
	if (!n || n >= TRQ_NAP_BELOW || q->nap_ns <= 0)
		return 0;
	if (q->nap_skip > 0) {
		q->nap_skip--;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		if (t[i].idx < q->capacity &&
		    __atomic_load_n(&q->meta[t[i].idx].watch, __ATOMIC_RELAXED))
			return 0; /* someone waits for results: serve them, do not batch */
	uint32_t seen = __atomic_load_n(&h->nap_seq[cls], __ATOMIC_SEQ_CST);
	spinner_on(q, cls, widx, 1);
	/* After counting ourselves: a client that starts waiting for a queued
	 * task either sees us counted and ends the nap, or had marked its task
	 * watched, after queueing it, before we look (see wait_started). */
	int napped = !nap_pointless(q, cls) && !__atomic_load_n(&h->draining, __ATOMIC_ACQUIRE);
	if (napped) {
		trq_futex_wait(&h->nap_seq[cls], seen, trq_now() + (uint64_t)q->nap_ns);
		/* Too few tasks queued up meanwhile: the submitter has too few in
		 * flight for naps to pay, they only delay it. Back off, longer
		 * while naps keep failing. */
		if (RD(h->ring_count[cls]) < TRQ_NAP_GAIN) {
			q->nap_fails = q->nap_fails < 6 ? q->nap_fails + 1 : 6;
			q->nap_skip = TRQ_NAP_SKIP << q->nap_fails;
		} else {
			q->nap_fails = 0;
		}
	}
	spinner_off(q, cls, widx, 1);
	return napped;
}

/* ---- the supervisor's look ---------------------------------------------- */

int trq_kick(struct trq *q)
{
	struct trq_hdr *h = q->hdr;
	int kicked = 0;
	for (int c = 0; c < TRQ_NCLASS; c++) {
		if (!ld32(&h->ring_count[c]))
			continue;
		/* Whatever q_wait says: it is a hint, and one written low (by a
		 * buggy or hostile client) must not leave a sleeper for good. */
		kicked += __atomic_load_n(&h->q_wait[c], __ATOMIC_SEQ_CST) != 0;
		__atomic_add_fetch(&h->q_seq[c], 1, __ATOMIC_SEQ_CST);
		trq_futex_wake(&h->q_seq[c], INT_MAX);
	}
	return kicked;
}
