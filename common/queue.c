/*
 * queue.c - the task life cycle on the shared segment (see queue.h for the
 * layout and the invariants): the lock and the client's side (submit,
 * collect, wait, cancel). The worker's side is in take.c, waking and
 * waiting for work in wake.c, the supervisor's in recover.c, the slot lists
 * in slots.c, rebuild and audit in repair.c.
 *
 * Every transition happens under the robust mutex. Waiters are woken after
 * the unlock through futex counters. Anything read from the segment is
 * checked before it is used as an index; a check that fails makes the
 * locker rebuild the derived structures from the slot table (trq_rebuild),
 * so a corrupted ring or list costs a repair, never a crash or a lost task.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>

#include "queue.h"
#include "ibuf.h"
#include "slots.h"
#include "wake.h"

#define LOCK_DEFAULT_NS (10ull * 1000000000ull)
#define TRQ_TID_MAX     4194304 /* the kernel's PID_MAX_LIMIT on 64-bit */
/* A lock wait this long is a stuck holder, not a busy queue: the timeout
 * says -TASKRING_ELOCKED. A shorter one ended by the caller's deadline (say,
 * a submit woken by a free slot just before it) is a plain -ETIMEDOUT. */
#define LOCK_STALL_NS (200ull * 1000000ull)
/* How long a handle with lock_spent_ns keeps to brief waits after a full
 * wait in vain: a lock stuck for longer costs it one full wait per this. */
#define LOCK_SPENT_FOR_NS (5ull * 1000000000ull)
#define SUBMIT_CHUNK      64
/* How long handing back read marks waits for the lock: they are an
 * optimisation (pending ones wait for the next lock), and the calls that
 * hand them back (a wait about to sleep, a batch collect) have deadlines of
 * their own that the handle's lock default would overrun. */
#define FLUSH_WAIT_NS (5ull * 1000000ull)

/* ---- locking ------------------------------------------------------------ */

static unsigned marks_take(struct trq *q, struct trq_mark *out);
static int marks_apply(struct trq *q, const struct trq_mark *m, size_t n);

int trq_lock(struct trq *q, uint64_t deadline)
{
	pthread_mutex_t *m = &q->hdr->lock;
	int r = pthread_mutex_trylock(m);
	/* Critical sections are short, and glibc's robust mutexes never spin:
	 * without this a contended lock costs a futex sleep and wake. */
	for (int i = 0; r == EBUSY && i < 256; i++) {
		__builtin_ia32_pause();
		if (__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0)
			r = pthread_mutex_trylock(m);
	}
	uint64_t t0 = 0;
	int own_wait = 0; /* the deadline is the handle's default wait */
	if (r == EBUSY) {
		struct timespec ts;
		t0 = trq_now();
		if (!deadline) {
			own_wait = 1;
			if (q->lock_spent_ns && q->lock_spent &&
			    t0 - q->lock_spent < LOCK_SPENT_FOR_NS)
				deadline = t0 + q->lock_spent_ns;
			else
				deadline =
				    t0 + (q->lock_wait_ns ? q->lock_wait_ns : LOCK_DEFAULT_NS);
		}
#ifdef __SANITIZE_THREAD__
		/* TSan's timedlock/clocklock interceptors do not record an
		 * EOWNERDEAD acquisition; its lock interceptor does. TSan
		 * builds only check data races, so they wait without a
		 * deadline. */
		(void)ts;
		r = pthread_mutex_lock(m);
#else
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		r = pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &ts);
#endif
	}
	if (r == EOWNERDEAD) {
		/* The holder died mid-update: re-derive, then mark consistent. */
		trq_rebuild(q);
		pthread_mutex_consistent(m);
		r = 0;
	}
	if (r == ETIMEDOUT) { /* a stuck holder is not "the table is full" */
		if (own_wait && q->lock_spent_ns &&
		    !(q->lock_spent && t0 - q->lock_spent < LOCK_SPENT_FOR_NS))
			q->lock_spent = t0; /* a full wait in vain: brief ones for a while */
		return trq_now() - t0 >= LOCK_STALL_NS ? -TASKRING_ELOCKED : -ETIMEDOUT;
	}
	if (r)
		return -r;
	if (q->lock_spent_ns) /* only the handle that uses it writes it */
		q->lock_spent = 0;
	/* Results this process read without the lock are marked read now. */
	if (__atomic_load_n(&q->mk_n, __ATOMIC_RELAXED)) {
		struct trq_mark mk[TRQ_MARKS];
		unsigned n = marks_take(q, mk);
		if (n && marks_apply(q, mk, n))
			trq_bell(&q->hdr->free_seq, &q->hdr->free_wait, INT_MAX);
	}
	return 0;
}

void trq_unlock(struct trq *q)
{
	pthread_mutex_unlock(&q->hdr->lock);
}

pid_t trq_lock_holder(const struct trq *q)
{
	int w = __atomic_load_n(&q->hdr->lock.__data.__lock, __ATOMIC_RELAXED);
	pid_t tid = (pid_t)((unsigned)w & FUTEX_TID_MASK);
	return tid > 0 && tid <= TRQ_TID_MAX ? tid : 0;
}

/* ---- clients ------------------------------------------------------------ */

int trq_type_find(struct trq *q, const char *name)
{
	struct trq_hdr *h = q->hdr;
	uint32_t n = ld32(&h->ntypes);
	if (n > TRQ_TYPES_MAX)
		n = TRQ_TYPES_MAX;
	for (uint32_t i = 0; i < n; i++)
		if (h->types[i].name[0] == name[0] &&
		    strncmp(h->types[i].name, name, TRQ_NAME_MAX) == 0 &&
		    memchr(h->types[i].name, 0, TRQ_NAME_MAX))
			return (int)i;
	return -1;
}

uint32_t trq_args_sum(const char *type, const void *args, uint32_t len)
{
	/* The whole field, not the name up to its NUL: no strnlen per task,
	 * and a stray byte after the NUL is caught too. */
	return trq_sum(trq_sum(2166136261u, type, TRQ_NAME_MAX), args, len);
}

/* A request checked and measured before the lock is taken. */
struct prep {
	char type[TRQ_NAME_MAX];
	uint32_t cls, argc, len;
	uint32_t tsum; /* trq_sum() of the type field: trq_args_sum()'s first part */
};

/* Whether q's segment is orphaned (trq_seg_orphaned), asked at most once
 * per TRQ_ORPHAN_CHECK_NS per handle. */
static int orphaned(struct trq *q, uint64_t now)
{
	if (__atomic_load_n(&q->orphan_seen, __ATOMIC_RELAXED))
		return 1; /* a removed segment is never served again */
	uint64_t last = __atomic_load_n(&q->orphan_ns, __ATOMIC_RELAXED);
	if (now - last < TRQ_ORPHAN_CHECK_NS)
		return 0;
	__atomic_store_n(&q->orphan_ns, now, __ATOMIC_RELAXED);
	if (!trq_seg_orphaned(q))
		return 0;
	__atomic_store_n(&q->orphan_seen, 1, __ATOMIC_RELAXED);
	return 1;
}

/* Checks and measures r's argument words into p. */
static int submit_args(struct trq *q, const struct taskring_req *r, struct prep *p)
{
	if (r->argc < 0 || (r->argc > 0 && !r->argv))
		return -EINVAL;
	uint64_t len = 0;
	for (int i = 0; i < r->argc; i++) {
		if (!r->argv[i])
			return -EINVAL;
		len += strlen(r->argv[i]) + 1;
		if (len > q->payload_max)
			return -E2BIG;
	}
	p->argc = (uint32_t)r->argc;
	p->len = (uint32_t)len;
	return 0;
}

/* Checks and measures request r; prev (or NULL) is the request before it
 * in the same batch, whose type lookup r reuses when it names the same
 * string. */
static int submit_prepare(struct trq *q, const struct taskring_req *r,
                          const struct taskring_opts *o, struct prep *p,
                          const struct taskring_req *prev, const struct prep *pp)
{
	if (prev && prev->type == r->type && r->type) {
		memcpy(p->type, pp->type, sizeof(p->type));
		p->cls = pp->cls;
		p->tsum = pp->tsum;
		return submit_args(q, r, p);
	}
	if (!r->type || !r->type[0] || strlen(r->type) >= TRQ_NAME_MAX)
		return -TASKRING_EBADTYPE;
	int t = trq_type_find(q, r->type);
	if (t < 0)
		return -TASKRING_EBADTYPE;
	const struct trq_type *ty = &q->hdr->types[t];
	p->cls = ty->cls < TRQ_NCLASS ? ty->cls : 0;
	if (o && o->use_cls) {
		if (o->cls != TASKRING_CPU && o->cls != TASKRING_IO)
			return -EINVAL;
		if ((uint32_t)o->cls != p->cls && !(ty->flags & TRQ_T_ANYCLASS))
			return -TASKRING_ENOTSUP_CLS;
		p->cls = (uint32_t)o->cls;
	}
	memset(p->type, 0, sizeof(p->type));
	strcpy(p->type, r->type);
	p->tsum = trq_sum(2166136261u, p->type, TRQ_NAME_MAX);
	return submit_args(q, r, p);
}

static void submit_fill(struct trq *q, uint32_t idx, const struct taskring_req *r,
                        const struct prep *p, const struct taskring_opts *o, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	struct trq_slot *s = &q->meta[idx];
	char *a = trq_args_at(q, idx, p->len);
	for (int i = 0; i < r->argc; i++) {
		size_t n = strlen(r->argv[i]) + 1;
		trq_st_bytes(a, r->argv[i], n);
		a += n;
	}
	unsigned ma = o && o->max_attempts ? o->max_attempts : h->max_attempts_default;
	if (ma < 1 || ma > TRQ_ATTEMPTS_MAX)
		ma = ma < 1 ? 1 : TRQ_ATTEMPTS_MAX;
	/* WR: a lock-free copy of the slot's last task may still be reading
	 * (copy_final; it finds gen moved on and drops what it read). */
	WR(s->id, slot_id(q, idx, slot_gen(q, s)));
	WR(s->cls, p->cls);
	WR(s->flags, o && (o->flags & TASKRING_DETACHED) ? TRQ_F_DETACHED : 0);
	WR(s->attempts, 0);
	WR(s->max_attempts, ma);
	WR(s->owner, -1);
	WR(s->owner_inc, 0);
	WR(s->run_timeout_s, o && o->run_timeout_s ? o->run_timeout_s : h->run_timeout_default_s);
	WR(s->argc, p->argc);
	WR(s->args_len, p->len);
	WR(s->out_len, 0);
	st32r(&s->next, TRQ_NIL);
	WR(s->prev, TRQ_NIL);
	WR(s->submit_ns, now);
	WR(s->start_ns, 0);
	WR(s->finish_ns, 0);
	WR(s->qseq, h->qseq_next++);
	trq_st_bytes(s->type, p->type, sizeof(s->type));
	/* From the private copy of the name: reading back the bytes just
	 * written to a slot line not yet ours would wait for that line. */
	WR(s->args_sum, trq_sum(p->tsum, trq_args_at(q, idx, p->len), p->len));
	WR(s->out_sum, trq_sum(2166136261u, NULL, 0));
	__atomic_store_n(&s->watch, 0, __ATOMIC_RELAXED);
	st32(&s->state, TASKRING_QUEUED);
	trq_ring_push(q, (int)p->cls, idx, 0);
	h->submitted++;
}

/* A blocked submitter's sleep, when the oldest unread result's expiry looks
 * due already, is this long at least: its finish time or the TTL may have
 * been written wrong, and a time in the past would make the sleep return at
 * once, over and over, until the deadline. */
#define FULL_WAIT_MIN_NS 1000000ull

/* How long a blocked submitter may sleep: until the deadline, or until the
 * oldest unread result expires, whichever comes first (0: no limit). */
static uint64_t full_wait_until(struct trq *q, uint64_t deadline, uint64_t now)
{
	struct trq_hdr *h = q->hdr;
	uint64_t until = deadline;
	uint32_t head = RD(h->fin_head[0]);
	if (head != TRQ_NIL && head < q->capacity) {
		uint64_t fin = RD(q->meta[head].finish_ns), ttl = RD(h->result_ttl_ns);
		uint64_t exp = fin > UINT64_MAX - ttl ? UINT64_MAX : fin + ttl;
		if (exp < now + FULL_WAIT_MIN_NS)
			exp = now + FULL_WAIT_MIN_NS;
		if (!until || exp < until)
			until = exp;
	}
	return until;
}

/* Reads ahead, without the lock, the records of the k slots the next
 * trq_slot_alloc() calls are likely to take: the free list, then the read
 * results oldest first. In a large table they are cold (read a million
 * tasks ago), and a miss under the lock stalls every process waiting for
 * it; here it stalls only this caller. The walk follows the links (atomic
 * stores under the lock), bounds-checked and at most k steps: a stale link
 * costs a wasted read. */
static void submit_touch(struct trq *q, size_t k)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity, idx = RD(h->free_head);
	int fin = 0;
	/* Each step of the walk waits for the link it reads. A stream reuses
	 * slots in the order it filled them, so the next k slots are most
	 * often idx + 1.. idx + k - 1: start loading their first lines at once,
	 * and the walk mostly finds them there. A wrong guess costs k reads. */
	uint32_t first = idx == TRQ_NIL ? RD(h->fin_head[1]) : idx;
	for (size_t i = 1; i < k && first < cap && first + i < cap; i++)
		trq_prefetchw(&q->meta[first + i]);
	for (size_t i = 0; i < k; i++) {
		if (idx == TRQ_NIL && !fin) {
			idx = RD(h->fin_head[1]);
			fin = 1;
		}
		if (idx >= cap)
			return;
		const char *r = (const char *)&q->meta[idx];
		trq_prefetchw(r + 64);
		trq_prefetchw(r + 128);
		idx = RD(q->meta[idx].next);
	}
}

int trq_submit(struct trq *q, size_t n, const struct taskring_req *reqs,
               const struct taskring_opts *opts, uint64_t *ids)
{
	struct trq_hdr *h = q->hdr;
	struct prep preps[SUBMIT_CHUNK];
	int64_t tmo = opts ? opts->timeout_ms : -1;
	uint64_t t0 = trq_now(); /* one clock read serves the deadline and the first chunk */
	uint64_t deadline = trq_deadline_at(t0, tmo);
	size_t done = 0;

	if (n > INT_MAX)
		return -EINVAL;
	if (opts && ((opts->flags & ~TASKRING_DETACHED) || opts->max_attempts > TRQ_ATTEMPTS_MAX))
		return -EINVAL;
	if (orphaned(q, t0)) /* its tasks would never run */
		return -TASKRING_ENODAEMON;
	while (done < n) {
		size_t k = n - done < SUBMIT_CHUNK ? n - done : SUBMIT_CHUNK;
		int bad = 0; /* request done + k is bad: submit those before it, then stop */
		for (size_t i = 0; i < k; i++) {
			int r = submit_prepare(q, &reqs[done + i], opts, &preps[i],
			                       i ? &reqs[done + i - 1] : NULL,
			                       i ? &preps[i - 1] : NULL);
			if (r && i == 0)
				return done ? (int)done : r;
			if (r) {
				k = i;
				bad = 1;
				break;
			}
		}
		uint32_t fseq = ld32(&h->free_seq);
		submit_touch(q, k);
		/* A non-blocking submit still waits for the lock (default
		 * deadline): "no block" is about a full table, not a busy lock. */
		int r = trq_lock(q, tmo == 0 ? 0 : deadline);
		if (r)
			return done ? (int)done : r;
		/* t0 only on the first pass: a later one must not compare
		 * finish times against an older clock reading. */
		uint64_t now = t0 ? t0 : trq_now();
		t0 = 0;
		int32_t cpu1 = trq_lone_cpu(q, now);
		if (!trq_heads_sane(q)) /* once per lock (see trq_slot_alloc) */
			trq_rebuild(q);
		size_t put = 0;
		unsigned pushed[TRQ_NCLASS] = {0}, nrec = 0;
		uint32_t rec[SUBMIT_CHUNK];
		while (put < k) {
			int reclaimed = 0;
			uint32_t idx = trq_slot_alloc(q, now, &reclaimed);
			if (idx == TRQ_NIL)
				break;
			if (reclaimed)
				rec[nrec++] = idx;
			submit_fill(q, idx, &reqs[done + put], &preps[put], opts, now);
			q->meta[idx].sub_cpu = cpu1;
			ids[done + put] = q->meta[idx].id;
			pushed[preps[put].cls]++;
			put++;
		}
		uint64_t until = put < k ? full_wait_until(q, deadline, now) : 0;
		uint32_t queued[TRQ_NCLASS];
		for (int c = 0; c < TRQ_NCLASS; c++)
			queued[c] = h->ring_count[c];
		trq_unlock(q);
		trq_slot_wake_after(q, rec, nrec); /* waiters on the old ids: expired */
		for (int c = 0; c < TRQ_NCLASS; c++) {
			if (!pushed[c])
				continue;
			trq_work_bell(q, c, (int)pushed[c], cpu1, now);
			/* A napping worker has a batch's worth: no need to nap on. */
			if (queued[c] >= TRQ_NAP_FULL && queued[c] - pushed[c] < TRQ_NAP_FULL &&
			    __atomic_load_n(&h->q_nap[c], __ATOMIC_SEQ_CST) > 0)
				trq_nap_end(h, c);
		}
		if (put)
			__atomic_store_n(&q->last_ns, now, __ATOMIC_RELAXED);
		done += put;
		if (put == k && bad)
			return (int)done; /* the caller learns of the bad one by submitting it */
		if (put == k)
			continue;
		/* The table is full. A call that queued some returns their
		 * count, blocking or not: the room it would wait for may be
		 * its own results, which nobody reads before it returns (they
		 * would be reclaimed at their TTL, read by no one). */
		if (done)
			return (int)done;
		if (tmo == 0)
			return -TASKRING_EFULL;
		uint64_t t1 = trq_now();
		if (deadline && t1 >= deadline)
			return -ETIMEDOUT;
		/* Nothing frees a slot of a segment nobody serves; look every
		 * TRQ_ORPHAN_CHECK_NS. */
		if (orphaned(q, t1))
			return -TASKRING_ENODAEMON;
		if (!until || until > t1 + TRQ_ORPHAN_CHECK_NS)
			until = t1 + TRQ_ORPHAN_CHECK_NS;
		__atomic_add_fetch(&h->free_wait, 1, __ATOMIC_SEQ_CST);
		if (ld32(&h->free_seq) == fseq)
			trq_futex_wait(&h->free_seq, fseq, until);
		__atomic_sub_fetch(&h->free_wait, 1, __ATOMIC_SEQ_CST);
	}
	return (int)done;
}

/* How often a lock-free look reads a slot whose generation changes while it
 * looks before it gives up (-TASKRING_ECORRUPT). */
#define PEEK_TRIES 10000

/* trq_peek for an id already split (trq_id_split) into idx and want. */
static int peek_at(struct trq *q, uint64_t id, uint32_t idx, uint64_t want)
{
	uint32_t w32 = (uint32_t)want;
	struct trq_slot *s = &q->meta[idx];
	for (unsigned tries = 0;; tries++) {
		uint32_t g1 = ld32(&s->gen);
		uint32_t st = ld32(&s->state);
		uint32_t g2 = ld32(&s->gen);
		/* gen moves once per reuse of the slot: a gen that moves under
		 * every one of these reads is being written by someone else. */
		if (g1 != g2 && tries >= PEEK_TRIES)
			return -TASKRING_ECORRUPT;
		if (g1 != g2)
			continue;
		/* The low 32 bits of the generation, compared modulo 2^32: the
		 * slot moved on (expired) or the id is not issued yet. */
		int32_t d = (int32_t)(g1 - w32);
		if (d > 0)
			return -TASKRING_EEXPIRED;
		if (d < 0 || st == TASKRING_FREE)
			return -ENOENT;
		if (st >= TASKRING_NSTATES)
			return -TASKRING_ECORRUPT;
		/* Equal low bits but another id: 2^32 generations apart (or a
		 * damaged id, which the copy reports). */
		if (RD(s->id) != id && slot_gen(q, s) != want)
			return -TASKRING_EEXPIRED;
		return (int)st;
	}
}

int trq_peek(struct trq *q, uint64_t id)
{
	uint32_t idx;
	uint64_t want;
	int r = trq_id_split(q, id, &idx, &want);
	return r ? r : peek_at(q, id, idx, want);
}

/* Copies slot idx into info (caller holds the lock), its buffer from
 * block blk when there is room (see trq_ibuf_alloc); memo remembers the
 * last type field's checksum. */
static int copy_info(struct trq *q, uint32_t idx, struct taskring_info *info, uint64_t off,
                     struct ibuf_blk *blk, struct trq_tsum_memo *memo)
{
	struct trq_slot *s = &q->meta[idx];
	uint32_t alen = RD(s->args_len), olen = RD(s->out_len), argc = RD(s->argc);
	if (alen > q->payload_max || argc > alen)
		alen = argc = 0;
	if (olen > q->result_max)
		olen = q->result_max;
	/* Room for the output, or for the message that replaces a corrupted one. */
	size_t need = (argc + 1) * sizeof(char *) + alen + 1 + (olen > 64 ? olen : 64) + 1;
	char *buf = trq_ibuf_alloc(blk, need);
	if (!buf)
		return -ENOMEM;
	memset(info, 0, sizeof(*info));
	info->buf_ = buf;
	info->argv = (char **)buf;
	char *a = buf + (argc + 1) * sizeof(char *);
	/* Without the lock (copy_final) the slot may be refilled meanwhile:
	 * every read is atomic (RD, trq_ld_bytes), the caller checks gen. */
	trq_ld_bytes(a, trq_args_at(q, idx, alen), alen);
	a[alen] = 0;
	info->output = a + alen + 1;
	trq_ld_bytes(info->output, trq_out_at(q, idx, olen), olen);
	info->output[olen] = 0;
	info->output_len = olen;
	uint32_t state = CPY(s->state);
	int out_bad =
	    is_final(state) && trq_sum(2166136261u, info->output, olen) != CPY(s->out_sum);
	/* The word count is not in the checksum: a count that does not fit
	 * the words is damage too. */
	int words_bad = trq_split_args(a, alen, argc, info->argv) != 0;
	if (words_bad) {
		argc = 0;
		info->argv[0] = NULL;
	}
	info->argc = (int)argc;
	info->id = CPY(s->id);
	trq_ld_bytes(info->type, s->type, sizeof(info->type));
	uint32_t asum = trq_sum(trq_tsum_memo(memo, info->type), a, alen);
	info->type[sizeof(info->type) - 1] = 0;
	if (words_bad || asum != RD(s->args_sum)) {
		/* Type or words overwritten since submit: show none of them. */
		snprintf(info->type, sizeof(info->type), "?");
		info->argc = 0;
		info->argv[0] = NULL;
	}
	uint64_t sub_ns = CPY(s->submit_ns), start_ns = CPY(s->start_ns),
	         fin_ns = CPY(s->finish_ns);
	info->cls = (int)CPY(s->cls);
	info->state = (int)state;
	info->attempts = CPY(s->attempts);
	info->max_attempts = CPY(s->max_attempts);
	info->worker = CPY(s->owner);
	info->run_timeout_s = CPY(s->run_timeout_s);
	info->submitted_ns = sub_ns ? sub_ns + off : 0;
	info->started_ns = start_ns ? start_ns + off : 0;
	info->finished_ns = fin_ns ? fin_ns + off : 0;
	if (out_bad) {
		/* Say so rather than hand out bytes someone overwrote. */
		static const char msg[] = "result corrupted in shared memory";
		size_t m = sizeof(msg) - 1;
		memcpy(info->output, msg, m);
		info->output[m] = 0;
		info->output_len = m;
		info->state = TASKRING_FAILED;
	}
	return 0;
}

/* Checks under the lock that id still names slot idx's task. */
static int id_current(struct trq *q, uint64_t id, uint32_t idx)
{
	struct trq_slot *s = &q->meta[idx];
	uint64_t want = trq_div_q(&q->capdiv, id - 1), gen = slot_gen(q, s);
	if (gen > want)
		return -TASKRING_EEXPIRED;
	if (gen < want || s->state == TASKRING_FREE)
		return -ENOENT;
	if (s->state >= TASKRING_NSTATES || s->id != id)
		return -TASKRING_ECORRUPT;
	return 0;
}

/* ---- read marks --------------------------------------------------------- */

/* Marks final task (idx, id) read: moves it to fin list 1, where it is the
 * first to be reclaimed. Caller holds the lock. Returns 1 when it moved, 0
 * when there was nothing to move, -1 when it found the fin list damaged
 * and rebuilt the derived lists and rings (a caller walking a ring stops). */
static int mark_one(struct trq *q, uint32_t idx, uint64_t id)
{
	if (idx >= q->capacity || id_current(q, id, idx))
		return 0;
	struct trq_slot *s = &q->meta[idx];
	if (!is_final(s->state) || (s->flags & (TRQ_F_READ | TRQ_F_DETACHED)))
		return 0;
	if (trq_fin_unlink(q, 0, idx)) {
		trq_rebuild(q);
		return -1;
	}
	/* WR: trq_get_many looks without the lock */
	WR(s->flags, s->flags | TRQ_F_READ);
	trq_fin_append(q, 1, idx);
	return 1;
}

/* Takes this process's pending marks into out (TRQ_MARKS long). */
static unsigned marks_take(struct trq *q, struct trq_mark *out)
{
	if (!__atomic_load_n(&q->mk_n, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&q->mk_lock);
	unsigned n = q->mk_n <= TRQ_MARKS ? q->mk_n : 0;
	memcpy(out, q->mk, n * sizeof(*out));
	__atomic_store_n(&q->mk_n, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&q->mk_lock);
	return n;
}

/* Applies n taken marks (caller holds the lock); returns how many moved. */
static int marks_apply(struct trq *q, const struct trq_mark *m, size_t n)
{
	int moved = 0;
	for (size_t i = 0; i < n; i++)
		moved += mark_one(q, m[i].idx, m[i].id) > 0;
	return moved;
}

void trq_flush_reads(struct trq *q)
{
	/* trq_lock applies them; a lock that cannot be had soon leaves them
	 * pending (at worst, those results wait for their TTL). */
	if (__atomic_load_n(&q->mk_n, __ATOMIC_RELAXED) &&
	    trq_lock(q, trq_now() + FLUSH_WAIT_NS) == 0)
		trq_unlock(q);
}

/* Queues n read marks; applies them all when the buffer fills, and at the
 * end when TRQ_MARKS_KEEP are pending or a submitter is waiting for a free
 * slot. One lock of the buffer per pass, not per mark. Marks that find the
 * buffer full again after a flush (the queue lock could not be had) are
 * dropped: those results wait for their TTL, as pending marks do. */
static void marks_add(struct trq *q, const struct trq_mark *m, unsigned n)
{
	unsigned done = 0;
	for (int pass = 0; pass < 2 && done < n; pass++) {
		pthread_mutex_lock(&q->mk_lock);
		unsigned k = q->mk_n;
		while (done < n && k < TRQ_MARKS)
			q->mk[k++] = m[done++];
		__atomic_store_n(&q->mk_n, k, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&q->mk_lock);
		if (done < n)
			trq_flush_reads(q);
	}
	/* A reader of results one at a time that does not submit in between
	 * (a drain) hands them back every TRQ_MARKS_KEEP: one killed then
	 * leaves fewer than that to their TTL, not a buffer's worth. */
	if (__atomic_load_n(&q->mk_n, __ATOMIC_RELAXED) >= TRQ_MARKS_KEEP ||
	    __atomic_load_n(&q->hdr->free_wait, __ATOMIC_RELAXED))
		trq_flush_reads(q);
}

/* Copies final task id (slot idx, generation gen: trq_id_split) without
 * the lock. Returns 0 (copied), 1 (not final: copy it under the lock), or
 * an error as trq_peek. */
static int copy_final(struct trq *q, uint64_t id, uint32_t idx, uint64_t gen,
                      struct taskring_info *info, uint64_t off, struct ibuf_blk *blk,
                      struct trq_tsum_memo *memo)
{
	struct trq_slot *s = &q->meta[idx];
	int st = peek_at(q, id, idx, gen);
	if (st < 0)
		return st;
	if (!is_final((uint32_t)st))
		return 1;
	if (RD(s->id) != id) /* reclaimed since the peek, or overwritten */
		return slot_gen(q, s) != gen ? -TASKRING_EEXPIRED : -TASKRING_ECORRUPT;
	int r = copy_info(q, idx, info, off, blk, memo);
	if (r)
		return r;
	/* Everything copied was written before the slot became final and
	 * stays until it is reclaimed, which bumps gen first: an unchanged
	 * gen after the copy (its low bits: see trq_peek) means the copy is
	 * of this task. */
	trq_order();
	if (ld32(&s->gen) != (uint32_t)gen || RD(s->id) != id) {
		taskring_info_release(info);
		return -TASKRING_EEXPIRED;
	}
	return 0;
}

static uint64_t off_dist(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

int trq_clock_publish(struct trq *q)
{
	uint64_t mine = trq_rt_offset();
	uint64_t shared = __atomic_load_n(&q->hdr->rt_off_ns, __ATOMIC_RELAXED);
	if (shared && off_dist(mine, shared) <= TRQ_RT_SLACK_NS)
		return 0;
	__atomic_store_n(&q->hdr->rt_off_ns, mine, __ATOMIC_RELAXED);
	return 1;
}

/* The monotonic -> realtime offset for the times in taskring_info, read
 * afresh every 64 calls (it moves only when the wall clock is set): the
 * segment's (trq_clock_publish), so all processes agree, unless it is
 * unset, stale or damaged, then this process's own reading. */
static uint64_t realtime_off(struct trq *q)
{
	unsigned n = __atomic_fetch_add(&q->rt_calls, 1, __ATOMIC_RELAXED);
	uint64_t off = __atomic_load_n(&q->rt_off, __ATOMIC_RELAXED);
	if (!off || !(n & 63)) {
		off = trq_rt_offset();
		uint64_t shared = __atomic_load_n(&q->hdr->rt_off_ns, __ATOMIC_RELAXED);
		if (shared && off_dist(off, shared) <= TRQ_RT_SLACK_NS)
			off = shared;
		__atomic_store_n(&q->rt_off, off, __ATOMIC_RELAXED);
	}
	return off;
}

/* The read marks of one trq_get_many call, applied once it succeeded. */
struct mark_set {
	struct trq_mark *v;
	size_t n;
};

/* trq_get_many under the lock, for ids [i0, i1) flagged in slow; their
 * read marks (with mark_read) go to *marks, or with apply (a call for one
 * id) into the segment at once, under this lock. */
static int get_locked(struct trq *q, const uint64_t *ids, struct taskring_info *infos,
                      const unsigned char *slow, size_t i0, size_t i1, int mark_read, uint64_t off,
                      struct ibuf_blk *blk, struct trq_tsum_memo *memo, struct mark_set *marks,
                      int apply)
{
	int first = 0;
	size_t from = marks->n;
	int r = trq_lock(q, 0);
	if (r) {
		for (size_t i = i0; i < i1 && infos; i++)
			if (slow[i - i0])
				memset(&infos[i], 0, sizeof(infos[i]));
		return r;
	}
	for (size_t i = i0; i < i1; i++) {
		if (!slow[i - i0])
			continue;
		uint32_t idx;
		r = trq_id_slot(q, ids[i], &idx);
		if (!r)
			r = id_current(q, ids[i], idx);
		if (!r && infos)
			r = copy_info(q, idx, &infos[i], off, blk, memo);
		else if (infos)
			memset(&infos[i], 0, sizeof(infos[i]));
		if (r) {
			if (!first)
				first = r;
			continue;
		}
		if (mark_read)
			marks->v[marks->n++] = (struct trq_mark){ids[i], idx};
	}
	int moved = apply ? marks_apply(q, marks->v + from, marks->n - from) : 0;
	if (apply)
		marks->n = from;
	trq_unlock(q);
	if (moved)
		trq_bell(&q->hdr->free_seq, &q->hdr->free_wait, INT_MAX);
	return first;
}

/* Applies the marks of a call that succeeded, with the pending ones, under
 * one lock; a lock that cannot be had soon leaves as many as the buffer
 * takes pending (the others wait for their TTL, as pending marks do). */
static void marks_commit(struct trq *q, const struct mark_set *m)
{
	if (trq_lock(q, trq_now() + FLUSH_WAIT_NS) != 0) {
		marks_add(q, m->v, m->n < TRQ_MARKS ? (unsigned)m->n : TRQ_MARKS);
		return;
	}
	int moved = marks_apply(q, m->v, m->n);
	trq_unlock(q);
	if (moved)
		trq_bell(&q->hdr->free_seq, &q->hdr->free_wait, INT_MAX);
}

/* How many tasks ahead a collect starts loading a record. */
#ifndef COLLECT_AHEAD
#define COLLECT_AHEAD 2
#endif

int trq_get_many(struct trq *q, size_t n, const uint64_t *ids, struct taskring_info *infos,
                 int mark_read)
{
	int first = 0;
	uint64_t off = realtime_off(q);
	/* All read or none: the marks are kept here and applied once every
	 * copy succeeded. A copy that fails must not leave the others' results
	 * marked read, reusable before the caller, who gets only the error,
	 * has them. */
	struct trq_mark stack[64];
	struct mark_set all = {stack, 0};
	if (mark_read && n > 64 && !(all.v = malloc(n * sizeof(*all.v))))
		return -ENOMEM;
	for (size_t i0 = 0; i0 < n; i0 += 64) {
		size_t i1 = n - i0 < 64 ? n : i0 + 64;
		unsigned char slow[64];
		int nslow = 0;
		struct ibuf_blk *blk = infos ? trq_ibuf_block(i1 - i0) : NULL;
		struct trq_tsum_memo memo = {.valid = 0};
		for (size_t i = i0; i < i1; i++) {
			uint32_t idx, nx;
			uint64_t gen;
			if (i + COLLECT_AHEAD < n &&
			    trq_id_slot(q, ids[i + COLLECT_AHEAD], &nx) == 0) {
				/* Every line copy_info reads (the record's first
				 * three: state, times, type, sums) and the output;
				 * the worker that finished it wrote them all. The
				 * first for writing when the read mark (flags,
				 * list links) follows. */
				const char *r = (const char *)&q->meta[nx];
				if (mark_read)
					trq_prefetchw(r);
				else
					__builtin_prefetch(r);
				__builtin_prefetch(r + 64);
				__builtin_prefetch(r + 128);
				__builtin_prefetch(q->meta[nx].out_in);
			}
			int r = trq_id_split(q, ids[i], &idx, &gen);
			slow[i - i0] = 0;
			if (!r && !infos) {
				slow[i - i0] = 1; /* marking only: under the lock */
				nslow++;
				continue;
			}
			if (!r)
				r = copy_final(q, ids[i], idx, gen, &infos[i], off, blk, &memo);
			if (r == 1) {
				slow[i - i0] = 1;
				nslow++;
				continue;
			}
			if (r) {
				memset(&infos[i], 0, sizeof(infos[i]));
				if (!first)
					first = r;
				continue;
			}
			if (mark_read && !(RD(q->meta[idx].flags) & (TRQ_F_READ | TRQ_F_DETACHED)))
				all.v[all.n++] = (struct trq_mark){ids[i], idx};
		}
		if (nslow) {
			int r = get_locked(q, ids, infos, slow, i0, i1, mark_read, off, blk, &memo,
			                   &all, n == 1);
			if (r && !first)
				first = r;
		}
		trq_ibuf_done(blk);
	}
	/* A batch's marks go back with the batch (one lock for all): only a
	 * one-at-a-time reader keeps its marks for its next operation (fewer
	 * than TRQ_MARKS_KEEP), so a reader killed mid-stream leaves at most
	 * those results to their TTL. */
	if (n == 1)
		marks_add(q, all.v, (unsigned)all.n);
	else if (mark_read && n > 1 && !first && all.n)
		marks_commit(q, &all);
	else if (mark_read && n > 1)
		trq_flush_reads(q);
	if (all.v != stack)
		free(all.v);
	return first;
}

int trq_get(struct trq *q, uint64_t id, struct taskring_info *info, int mark_read)
{
	return trq_get_many(q, 1, &id, info, mark_read);
}

/* A client starts waiting for the task in slot s, in state st: marks it
 * watched, so that the worker that runs it does not nap after it, and, if
 * it is still queued while workers of its class nap, wakes them (trq_nap). */
static void wait_started(struct trq *q, struct trq_slot *s, uint32_t st)
{
	struct trq_hdr *h = q->hdr;
	if (!__atomic_load_n(&s->watch, __ATOMIC_RELAXED))
		__atomic_store_n(&s->watch, 1, __ATOMIC_SEQ_CST);
	uint32_t c = RD(s->cls);
	if (st != TASKRING_QUEUED || c >= TRQ_NCLASS ||
	    __atomic_load_n(&h->q_nap[c], __ATOMIC_SEQ_CST) <= 0)
		return;
	trq_nap_end(h, (int)c);
}

int trq_wait_final(struct trq *q, uint64_t id, uint64_t deadline)
{
	uint32_t idx;
	int r = trq_id_slot(q, id, &idx);
	if (r)
		return r;
	struct trq_slot *s = &q->meta[idx];
	r = trq_peek(q, id);
	if (r < 0 || is_final((uint32_t)r))
		return r < 0 ? r : 0; /* often, with tasks in flight: no clock read */
	wait_started(q, s, (uint32_t)r);
	uint64_t now = trq_now();
	if (deadline && now >= deadline) { /* a look (timeout 0), not a wait: no spin */
		if (!orphaned(q, now)) {
			/* As a wait that sleeps does: a poller hands back what it
			 * read (nothing to do, and no lock, when it read nothing). */
			trq_flush_reads(q);
			return -ETIMEDOUT;
		}
		r = trq_peek(q, id); /* one that ended just now still counts */
		return r < 0 ? r : is_final((uint32_t)r) ? 0 : -TASKRING_ENODAEMON;
	}
	/* Right after waking a worker on this CPU, spinning only keeps it off. */
	int spin = !__atomic_exchange_n(&q->woke_here, 0, __ATOMIC_RELAXED);
	uint64_t spin_end = now + (uint64_t)q->spin_ns;
	for (unsigned i = 1; spin; i++) {
		r = trq_peek(q, id);
		if (r < 0)
			return r;
		if (is_final((uint32_t)r)) {
			__atomic_store_n(&q->last_ns, trq_now(), __ATOMIC_RELAXED);
			return 0;
		}
		if (!(i & 31)) {
			if (trq_now() >= spin_end)
				break;
			sched_yield(); /* let the worker we wait for run */
		}
		__builtin_ia32_pause();
	}
	trq_flush_reads(q); /* about to sleep: hand back what was read */
	__atomic_add_fetch(&s->nwait, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t w = __atomic_load_n(&s->wake, __ATOMIC_SEQ_CST);
		r = trq_peek(q, id);
		if (r < 0 || is_final((uint32_t)r)) {
			r = r < 0 ? r : 0;
			break;
		}
		/* In slices, to notice a segment nothing will serve again. */
		now = trq_now();
		uint64_t until = now + TRQ_ORPHAN_CHECK_NS;
		if (deadline && deadline < until)
			until = deadline;
		r = trq_futex_wait(&s->wake, w, until);
		/* At the deadline too: a caller that waits in short slices must
		 * learn it (the look is once a second at most). */
		if (r == -ETIMEDOUT && orphaned(q, trq_now())) {
			r = trq_peek(q, id); /* one that ended just now still counts */
			r = r < 0 ? r : is_final((uint32_t)r) ? 0 : -TASKRING_ENODAEMON;
			break;
		}
		if (r == -ETIMEDOUT && until == deadline)
			break;
	}
	uint32_t nw = __atomic_load_n(&s->nwait, __ATOMIC_RELAXED);
	while (nw && !__atomic_compare_exchange_n(&s->nwait, &nw, nw - 1, 0, __ATOMIC_SEQ_CST,
	                                          __ATOMIC_RELAXED))
		;
	if (r == 0)
		__atomic_store_n(&q->last_ns, trq_now(), __ATOMIC_RELAXED);
	return r;
}

/* Removes idx from ring c, keeping the order. Returns -1 if not found. */
static int ring_remove(struct trq *q, int c, uint32_t idx)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity, n = RD(h->ring_count[c]), head = RD(h->ring_head[c]) % cap;
	if (n > cap)
		return -1;
	for (uint32_t j = 0; j < n; j++) {
		if (RD(q->ring[c][(head + j) % cap]) != idx)
			continue;
		for (uint32_t k = j; k + 1 < n; k++)
			st32r(&q->ring[c][(head + k) % cap], RD(q->ring[c][(head + k + 1) % cap]));
		st32r(&h->ring_count[c], h->ring_count[c] - 1);
		return 0;
	}
	return -1;
}

int trq_cancel(struct trq *q, uint64_t id)
{
	struct trq_hdr *h = q->hdr;
	uint32_t idx;
	uint32_t cls;
	int r = trq_id_slot(q, id, &idx), ring = 0, woke = 0;
	if (r)
		return r;
	r = trq_lock(q, 0);
	if (r)
		return r;
	r = id_current(q, id, idx);
	struct trq_slot *s = &q->meta[idx];
	if (!r) {
		switch (s->state) {
		case TASKRING_QUEUED:
			if (!trq_heads_sane(q))
				trq_rebuild(q);
			cls = RD(s->cls);
			if (cls >= TRQ_NCLASS || ring_remove(q, (int)cls, idx)) {
				trq_rebuild(q);
				cls = RD(s->cls);
				if (cls >= TRQ_NCLASS || ring_remove(q, (int)cls, idx)) {
					r = -TASKRING_ECORRUPT;
					break;
				}
			}
			trq_slot_end(q, idx, TASKRING_CANCELLED, "cancelled before it ran",
			             trq_now());
			woke = 1;
			break;
		case TASKRING_RUNNING:
			/* WR: trq_get_many looks without the lock */
			WR(s->flags, s->flags | TRQ_F_CANCEL);
			ring = 1;
			break;
		default:
			r = -TASKRING_EFINAL;
		}
	}
	trq_unlock(q);
	if (woke) {
		trq_slot_wake(q, idx);
		trq_bell(&h->free_seq, &h->free_wait, INT_MAX);
	}
	if (ring) {
		trq_bell(&h->sup_seq, &h->sup_wait, INT_MAX);
		/* Every io thread looks at its running tasks' flags, also those
		 * that cannot take tasks (they wait on TRQ_IO_FULL alone). */
		trq_bell(&h->q_seq[TASKRING_IO], &h->q_wait[TASKRING_IO], INT_MAX);
	}
	return r;
}

/* Settles the n tasks purge_ring() just cancelled, before their slots can
 * be reused: marks read those no client waits for or is about to (so the
 * slot can be reused at once), then wakes the waiters, who read them
 * cancelled. A client that starts waiting stores watch, then loads the
 * state (wait_started); the purge stored the state, and after a full fence
 * loads nwait and watch: one of the two sees the other. Without watch, a
 * client still spinning (not yet counted in nwait) could find the slot
 * reused and the task "no longer in the table". A watched task nobody
 * reads waits for its TTL, as any unread result does. Returns 0, or -1
 * when a mark rebuilt the lists (mark_one). */
static int purge_settle(struct trq *q, const uint32_t *idx, const uint64_t *id, unsigned n)
{
	unsigned fence = 0; /* a locked instruction on a private line: a full fence */
	int r = 0;
	__atomic_fetch_or(&fence, 0, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < n && !r; i++) {
		struct trq_slot *s = &q->meta[idx[i]];
		if (!__atomic_load_n(&s->nwait, __ATOMIC_SEQ_CST) &&
		    !__atomic_load_n(&s->watch, __ATOMIC_SEQ_CST) && mark_one(q, idx[i], id[i]) < 0)
			r = -1;
	}
	trq_slot_wake_after(q, idx, n);
	return r;
}

/* Cancels the tasks of ring c whose type field is name (zero-padded, a
 * whole field; NULL: every one), keeping the others in their order, and
 * marks those nobody waits for read (purge_settle); adds how many to *gone
 * and wakes their waiters, also when it stops part of the way. Caller
 * holds the lock, the heads checked. Returns 0, or -1 when the ring names
 * a slot that is not queued in class c, or a mark found the lists damaged:
 * the caller rebuilds (what was cancelled so far is consistent: the table
 * is the truth) and tries again. */
static int purge_ring(struct trq *q, int c, const char *name, uint64_t now, uint64_t *gone)
{
	struct trq_hdr *h = q->hdr;
	uint32_t cap = q->capacity, n = RD(h->ring_count[c]), head = RD(h->ring_head[c]);
	uint32_t kept = 0, ended[64];
	uint64_t ids[64];
	unsigned nend = 0;
	int r = 0;
	for (uint32_t j = 0; j < n && !r; j++) {
		uint32_t idx = RD(q->ring[c][trq_wrap((uint64_t)head + j, cap)]);
		struct trq_slot *s = idx < cap ? &q->meta[idx] : NULL;
		if (!s || ld32(&s->state) != TASKRING_QUEUED || RD(s->cls) != (uint32_t)c) {
			r = -1; /* the ring and its count are the rebuild's */
			break;
		}
		if (name && memcmp(s->type, name, TRQ_NAME_MAX) != 0) {
			/* Kept: moved up over the ones cancelled before it. A
			 * kill here leaves an entry twice; the repair rebuilds
			 * the ring from the table. */
			if (kept != j)
				st32r(&q->ring[c][trq_wrap((uint64_t)head + kept, cap)], idx);
			kept++;
			continue;
		}
		ids[nend] = RD(s->id);
		trq_slot_end(q, idx, TASKRING_CANCELLED, "cancelled before it ran", now);
		(*gone)++;
		ended[nend++] = idx;
		if (nend == 64) {
			r = purge_settle(q, ended, ids, nend);
			nend = 0;
		}
	}
	if (nend && purge_settle(q, ended, ids, nend))
		r = -1;
	if (!r)
		st32r(&h->ring_count[c], kept);
	return r;
}

int trq_cancel_queued(struct trq *q, const char *type, uint64_t *count)
{
	struct trq_hdr *h = q->hdr;
	char name[TRQ_NAME_MAX];
	uint64_t total = 0;
	if (count)
		*count = 0;
	if (type) {
		if (!type[0] || strlen(type) >= TRQ_NAME_MAX)
			return -TASKRING_EBADTYPE;
		memset(name, 0, sizeof(name));
		strcpy(name, type);
	}
	int r = trq_lock(q, 0);
	if (r)
		return r;
	uint64_t now = trq_now();
	for (int c = 0; c < TRQ_NCLASS && !r; c++) {
		int k = -1;
		for (int tries = 0; tries < 2 && k < 0; tries++) {
			if (tries || !trq_heads_sane(q))
				trq_rebuild(q);
			k = purge_ring(q, c, type ? name : NULL, now, &total);
		}
		if (k < 0)
			r = -TASKRING_ECORRUPT;
	}
	trq_unlock(q);
	if (total) /* their slots can be reused */
		trq_bell(&h->free_seq, &h->free_wait, INT_MAX);
	if (count)
		*count = total;
	/* A type no longer registered (removed by a reload) may still have
	 * tasks queued; one that never was is a typing error. */
	if (!r && type && !total && trq_type_find(q, type) < 0)
		r = -TASKRING_EBADTYPE;
	return r;
}
