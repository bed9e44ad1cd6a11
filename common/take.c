/*
 * take.c - the worker's side of the task life cycle: taking queued tasks
 * (copied out and validated after the unlock), finishing them, and handing
 * back the ones it will not start. Waiting for tasks is in wake.c.
 *
 * Invariant: a worker changes only slots it owns (RUNNING, owner == its
 * index and incarnation); a finish or give-back for a slot that changed
 * hands meanwhile (cancelled, requeued after the worker was declared dead)
 * is ignored.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "queue.h"
#include "slots.h"
#include "wake.h"

/* Bytes of argbuf one task uses: its argv array, then its argument bytes. */
static size_t argbuf_chunk(const struct trq *q)
{
	size_t n = ((size_t)q->payload_max + 2) * sizeof(char *) + q->payload_max + 1;
	return (n + 15) & ~(size_t)15;
}

size_t trq_argbuf_size(const struct trq *q, unsigned max)
{
	return (size_t)max * argbuf_chunk(q);
}

/* Reads the first line of the records of the next max tasks of ring cls
 * before the lock is taken: in a large table their pages are cold (on a
 * virtual machine a miss there may cost an exit to the host), and a miss
 * under the lock stalls every process waiting for it. Unlocked reads,
 * bounds-checked; a stale guess costs a wasted read. */
static void take_touch(struct trq *q, int cls, unsigned max)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity;
	uint32_t head = RD(h->ring_head[cls]), count = RD(h->ring_count[cls]), sum = 0;
	if (head >= cap || count > cap)
		return;
	if (count > max)
		count = max;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t idx = RD(q->ring[cls][trq_wrap((uint64_t)head + i, cap)]);
		if (idx < cap)
			sum += RD(q->meta[idx].state);
	}
	__asm__ volatile("" ::"r"(sum));
}

int trq_take(struct trq *q, int cls, int widx, uint32_t inc, unsigned max, struct trq_task *tasks,
             void *argbuf, size_t argbuf_len)
{
	struct trq_hdr *h = q->hdr;
	uint32_t idxs[TRQ_TAKE_MAX];
	unsigned n = 0;
	if (cls < 0 || cls >= TRQ_NCLASS || widx < 0 || (uint32_t)widx >= q->workers_max)
		return -EINVAL;
	if (max > TRQ_TAKE_MAX)
		max = TRQ_TAKE_MAX;
	if (argbuf_len < trq_argbuf_size(q, max))
		return -EINVAL;
	if (ld32(&h->draining))
		return 0;
	take_touch(q, cls, max);
	int r = trq_lock(q, 0);
	if (r)
		return r;
	uint64_t now = trq_now();
	int rebuilt = 0;
	/* Once per lock, not per task: under the lock only this loop moves
	 * the heads, and a rebuild leaves them sane. */
	if (!trq_heads_sane(q)) {
		trq_rebuild(q);
		rebuilt = 1;
	}
	while (n < max && h->ring_count[cls] > 0) {
		uint32_t head = trq_wrap(RD(h->ring_head[cls]), q->capacity);
		uint32_t idx = RD(q->ring[cls][head]);
		if (idx >= q->capacity || q->meta[idx].state != TASKRING_QUEUED ||
		    q->meta[idx].cls != (uint32_t)cls) {
			if (rebuilt++)
				break;
			trq_rebuild(q);
			continue;
		}
		st32r(&h->ring_head[cls], trq_wrap((uint64_t)head + 1, q->capacity));
		st32r(&h->ring_count[cls], h->ring_count[cls] - 1);
		struct trq_slot *s = &q->meta[idx];
		/* WR: a lock-free copy of the slot's previous task may still
		 * be reading (copy_final in queue.c). */
		WR(s->owner, widx);
		WR(s->owner_inc, inc);
		/* Never past max_attempts: a queued task has fewer (a requeue
		 * uncharges the take), unless its record was damaged, and an
		 * attempt count past the limit would make the record invalid. */
		WR(s->attempts, s->attempts < s->max_attempts ? s->attempts + 1 : s->max_attempts);
		WR(s->start_ns, now);
		WR(s->flags, s->flags & ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ));
		st32(&s->state, TASKRING_RUNNING);
		h->running[cls]++;
		idxs[n++] = idx;
	}
	uint32_t left = h->ring_count[cls];
	trq_unlock(q);
	/* Tasks left behind while another worker sleeps: wake it (a submitter
	 * skips a second wake-up while a woken worker has yet to run). */
	if (n && left && !__atomic_load_n(&h->q_spin[cls], __ATOMIC_SEQ_CST) &&
	    __atomic_load_n(&h->q_wait[cls], __ATOMIC_SEQ_CST) && !trq_woke_all(h, cls, now))
		trq_wake_workers(h, cls, 1, 0, now);

	/* Copy out and validate outside the lock: the slots are ours now. */
	char *p = argbuf;
	struct trq_tsum_memo memo = {.valid = 0};
	for (unsigned i = 0; i < n; i++) {
		struct trq_task *t = &tasks[i];
		struct trq_slot *s = &q->meta[idxs[i]];
		if (i + 2 < n) {
			/* What the submitter wrote: type, sum, inline arguments. */
			const char *pf = (const char *)&q->meta[idxs[i + 2]];
			__builtin_prefetch(pf + 64);
			__builtin_prefetch(pf + 128);
			__builtin_prefetch(pf + 192);
		}
		char **argv = (char **)(void *)p;
		char *data = p + ((size_t)q->payload_max + 2) * sizeof(char *);
		p += argbuf_chunk(q);
		/* Field by field, not a memset: its rep stos per task took a
		 * third of trq_take's samples in a batched run. Every field is
		 * set here or below; err past its NUL only where bad is set. */
		t->bad = 0;
		t->argc = 0;
		t->err[0] = 0;
		t->idx = idxs[i];
		t->id = s->id;
		t->cls = cls;
		t->attempts = s->attempts;
		t->max_attempts = s->max_attempts;
		t->run_timeout_s = s->run_timeout_s;
		memcpy(t->type, s->type, sizeof(t->type));
		t->argv = argv;
		argv[0] = NULL;
		uint32_t len = s->args_len, argc = s->argc;
		if (t->type[sizeof(t->type) - 1] != 0 || !t->type[0]) {
			t->type[sizeof(t->type) - 1] = 0;
			t->bad = 1;
			snprintf(t->err, sizeof(t->err), "task type name corrupted");
			continue;
		}
		if (len > q->payload_max || argc > len) {
			t->bad = 1;
			snprintf(t->err, sizeof(t->err), "task arguments corrupted (length %u)",
			         len);
			continue;
		}
		memcpy(data, trq_args_at(q, idxs[i], len), len);
		data[len] = 0;
		if (trq_sum(trq_tsum_memo(&memo, t->type), data, len) !=
		    __atomic_load_n(&s->args_sum, __ATOMIC_RELAXED)) {
			t->bad = 1;
			snprintf(t->err, sizeof(t->err), "task arguments corrupted (checksum)");
			continue;
		}
		if (trq_split_args(data, len, argc, argv)) {
			t->bad = 1;
			argv[0] = NULL;
			snprintf(t->err, sizeof(t->err), "task arguments corrupted (words)");
			continue;
		}
		t->argc = argc;
	}
	return (int)n;
}

int trq_finish(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_result *res)
{
	struct trq_hdr *h = q->hdr;
	uint32_t sums[64];
	if (n > 64)
		return -EINVAL;
	/* The slots are ours until the lock says otherwise: fill them first. */
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = res[i].out_len > q->result_max ? q->result_max : res[i].out_len;
		if (res[i].idx >= q->capacity)
			continue;
		if (!res[i].placed)
			trq_out_place(q, res[i].idx, res[i].id,
			              res[i].out ? res[i].out : trq_out(q, res[i].idx), len);
		/* From private memory when given: a stray write into the slot
		 * after the copy is then caught when the result is read. */
		sums[i] = trq_sum(2166136261u,
		                  res[i].out ? res[i].out : trq_out_at(q, res[i].idx, len), len);
	}
	int r = trq_lock(q, 0);
	if (r)
		return r;
	uint64_t now = trq_now();
	int32_t cpu1 = sched_getcpu() + 1;
	uint32_t here = 0; /* a task's submitter is on this CPU */
	for (unsigned i = 0; i < n; i++) {
		const struct trq_result *x = &res[i];
		if (x->idx >= q->capacity)
			continue;
		struct trq_slot *s = &q->meta[x->idx];
		uint32_t c = RD(s->cls);
		if (s->id != x->id || s->state != TASKRING_RUNNING || s->owner != widx ||
		    s->owner_inc != inc || c >= TRQ_NCLASS)
			continue;
		h->running[c]--;
		if (cpu1 > 0 && s->sub_cpu == cpu1)
			here = 1;
		WR(s->out_len, x->out_len > q->result_max ? q->result_max : x->out_len);
		WR(s->out_sum, sums[i]);
		int st = x->state;
		if (st != TASKRING_DONE && st != TASKRING_CANCELLED)
			st = TASKRING_FAILED;
		trq_slot_final(q, x->idx, (uint32_t)st, now);
	}
	trq_unlock(q);
	__atomic_store_n(&q->woke_here, here, __ATOMIC_RELAXED);
	uint32_t idxs[64];
	for (unsigned i = 0; i < n; i++)
		idxs[i] = res[i].idx;
	trq_slot_wake_after(q, idxs, n);
	trq_bell(&h->free_seq, &h->free_wait, INT_MAX);
	return 0;
}

int trq_giveback(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_task *t)
{
	struct trq_hdr *h = q->hdr;
	uint32_t ended[64];
	unsigned nend = 0, pushed[TRQ_NCLASS] = {0};
	int back = 0;
	if (n > 64 || widx < 0 || (uint32_t)widx >= q->workers_max)
		return -EINVAL;
	int r = trq_lock(q, 0);
	if (r)
		return r;
	uint64_t now = trq_now();
	/* Last first: each goes to the front, so they end up in their order. */
	for (unsigned i = n; i-- > 0;) {
		uint32_t idx = t[i].idx;
		if (idx >= q->capacity)
			continue;
		struct trq_slot *s = &q->meta[idx];
		uint32_t c = RD(s->cls);
		if (s->id != t[i].id || s->state != TASKRING_RUNNING || s->owner != widx ||
		    s->owner_inc != inc || c >= TRQ_NCLASS)
			continue;
		h->running[c]--;
		if (s->flags & TRQ_F_CANCEL) {
			/* Cancelled while it waited in the worker: end it here,
			 * the supervisor only stops a worker for its current task. */
			trq_slot_end(q, idx, TASKRING_CANCELLED, "cancelled before it ran", now);
			ended[nend++] = idx;
			continue;
		}
		/* It never started: the take's attempt is undone (WR: see
		 * trq_take). */
		if (s->attempts > 0)
			WR(s->attempts, s->attempts - 1);
		WR(s->start_ns, 0);
		WR(s->flags, s->flags & ~(TRQ_F_CANCEL | TRQ_F_TIMEOUT | TRQ_F_READ));
		st32(&s->state, TASKRING_QUEUED);
		trq_ring_push(q, (int)c, idx, 1);
		pushed[c]++;
		back++;
	}
	trq_unlock(q);
	for (unsigned i = 0; i < nend; i++)
		trq_slot_wake(q, ended[i]);
	if (nend)
		trq_bell(&h->free_seq, &h->free_wait, INT_MAX);
	for (int c = 0; c < TRQ_NCLASS; c++)
		if (pushed[c])
			trq_work_bell(q, c, (int)pushed[c], 0, 0);
	return back;
}
