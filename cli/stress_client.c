/*
 * stress_client.c - one client process of `taskring stress`.
 *
 * It submits batches of the workload, keeps at most `window` of its tasks
 * outstanding, and settles (waits for, reads and judges) the oldest ones as
 * it goes, so the table never fills with its unread results. Clients in odd
 * slots submit with --no-block semantics (timeout 0) and count the refusals;
 * the others block for up to a second. Every call has a deadline, and the
 * time each returns is checked against it.
 *
 * It may be killed at any instruction: the log protocol (stress.h) keeps
 * that from losing track of a task, and a respawned client carries on with
 * the same slot. Once the parent sets the stop flag it settles what is left
 * until the final deadline and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

#define CLIENT_BATCH_MAX  16
#define CLIENT_SUBMIT_MS  1000    /* how long a blocking submit may wait */
#define CLIENT_SETTLE_MS  1000    /* one wait's slice */
#define CLIENT_CANCEL_ONE 50      /* one in this many sleep tasks is cancelled */
#define CLIENT_PAUSE_NS   1000000 /* after a refusal with nothing to collect */

struct client {
	const struct stress_ctx *x;
	struct stress_shared *sh;
	struct stress_cslot *cs;
	unsigned ci;
	uint64_t *ids;
	struct stress_rec *recs;
	taskring_t *h;
	uint64_t rng;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int stopping(const struct client *c)
{
	return __atomic_load_n(&c->sh->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Settles records from cnext on, up to max of them; stops at the first one
 * not final within the slice. Returns the number settled. */
static unsigned settle_some(struct client *c, unsigned max, int64_t slice_ms)
{
	unsigned n = 0;
	uint32_t next = __atomic_load_n(&c->cs->next, __ATOMIC_ACQUIRE);

	while (n < max && c->cs->cnext < next) {
		if (!stress_settle(c->x, c->h, c->ci, c->cs->cnext, slice_ms))
			break;
		__atomic_store_n(&c->cs->cnext, c->cs->cnext + 1, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

/* Whether a poison task is due now; claims it when so. */
static int poison_due(struct client *c)
{
	uint64_t every = (uint64_t)c->x->o->poison_every_ms * 1000000ull;
	uint32_t issued = __atomic_load_n(&c->sh->poison_issued, __ATOMIC_RELAXED);

	if (!(c->x->o->mix & STRESS_MIX_POISON) || !every)
		return 0;
	if ((now_ns() - c->sh->t0_ns) / every < (uint64_t)issued + 1)
		return 0;
	return __atomic_compare_exchange_n(&c->sh->poison_issued, &issued, issued + 1, 0,
	                                   __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* Reserves, submits and logs one batch. */
static void submit_batch(struct client *c)
{
	const struct stress_ctx *x = c->x;
	struct stress_req reqs[CLIENT_BATCH_MAX];
	struct taskring_req lib[CLIENT_BATCH_MAX];
	struct taskring_opts o;
	uint32_t n = c->cs->next, k;
	int poison = poison_due(c), noblock = c->ci & 1, r;

	k = poison ? 1 : 1 + stress_rand(&c->rng, CLIENT_BATCH_MAX);
	if (k > c->sh->cap - n)
		k = c->sh->cap - n;
	if (k > x->o->window)
		k = x->o->window;
	for (uint32_t i = 0; i < k; i++) {
		struct stress_rec *rec = &c->recs[n + i];
		memset(rec, 0, sizeof(*rec));
		if (poison) {
			rec->kind = STRESS_POISON;
			rec->param = (uint16_t)stress_rand(&c->rng, STRESS_NPOISON);
		} else {
			stress_pick(x, &c->rng, rec);
			if (rec->kind == STRESS_SLEEP &&
			    stress_rand(&c->rng, CLIENT_CANCEL_ONE) == 0) {
				rec->cancel = 1; /* long enough to be cancelled while running */
				rec->param = 300;
			}
		}
		rec->phase = SP_SUBMITTING;
		__atomic_store_n(&c->ids[n + i], 0, __ATOMIC_RELAXED);
		stress_build(x, c->ci, n + i, rec, &reqs[i]);
		lib[i] = (struct taskring_req){reqs[i].type, reqs[i].argc, reqs[i].argv};
	}
	/* Published before the call: a successor never reuses these records. */
	__atomic_store_n(&c->cs->next, n + k, __ATOMIC_RELEASE);

	memset(&o, 0, sizeof(o));
	o.max_attempts = poison ? 1 : x->o->attempts;
	o.timeout_ms = noblock ? 0 : CLIENT_SUBMIT_MS;
	uint64_t deadline = now_ns() + (uint64_t)o.timeout_ms * 1000000ull;
	r = taskring_submit_batch(c->h, k, lib, &o, &c->ids[n]);
	stress_deadline_check(c->sh, deadline, "taskring_submit_batch");
	c->cs->submits++;
	uint32_t got = r > 0 ? (uint32_t)r : 0;
	for (uint32_t i = 0; i < k; i++)
		__atomic_store_n(&c->recs[n + i].phase,
		                 (uint8_t)(i < got ? SP_ACCEPTED : SP_NOTSENT), __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < got; i++) {
		if (!c->recs[n + i].cancel)
			continue;
		int e = taskring_cancel(c->h, c->ids[n + i]);
		if (e < 0 && e != -TASKRING_EFINAL) {
			__atomic_fetch_add(&c->sh->errors, 1, __ATOMIC_RELAXED);
			stress_note(c->sh, "client %u: taskring_cancel(%llu): %s", c->ci,
			            (unsigned long long)c->ids[n + i], taskring_strerror(e));
		}
	}
	if (got == k)
		return;
	if (!got && c->cs->cnext <= n) /* nothing went in: the records are free again */
		__atomic_store_n(&c->cs->next, n, __ATOMIC_RELEASE);
	/* A short count, blocking or not, is a table that filled part way
	 * (taskring_submit_batch returns at once then). */
	if (r == -TASKRING_EFULL || r >= 0) {
		c->cs->full++;
	} else if (r == -ETIMEDOUT || r == -TASKRING_ELOCKED) {
		/* A no-block submit also times out on a busy lock. */
		if (noblock)
			c->cs->busy++;
		else
			c->cs->timeouts++;
	} else {
		__atomic_fetch_add(&c->sh->errors, 1, __ATOMIC_RELAXED);
		stress_note(c->sh, "client %u: submitting %u '%s' tasks: %s", c->ci, k, lib[0].type,
		            taskring_strerror(r));
	}
	/* Full or busy: make room by collecting our own results; with none
	 * outstanding, pause as a caller told "full" would, rather than spin. */
	if (!settle_some(c, x->o->window / 2 + 1, CLIENT_SETTLE_MS) && c->cs->next == c->cs->cnext)
		nanosleep(&(struct timespec){0, CLIENT_PAUSE_NS}, NULL);
}

_Noreturn void stress_client_main(const struct stress_ctx *x, unsigned ci)
{
	struct client c = {.x = x, .sh = x->sh, .cs = &x->sh->c[ci], .ci = ci};
	pid_t parent = getppid();
	int r, log_full = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	signal(SIGINT, SIG_IGN); /* the parent handles Ctrl-C and stops us */
	signal(SIGTERM, SIG_DFL);
	c.ids = stress_log_ids(c.sh, ci);
	c.recs = stress_log_recs(c.sh, ci);
	c.rng = (now_ns() ^ ((uint64_t)getpid() << 20) ^ ci) | 1;
	r = taskring_attach(x->instance, &c.h);
	if (r < 0) {
		__atomic_fetch_add(&c.sh->errors, 1, __ATOMIC_RELAXED);
		stress_note(c.sh, "client %u: attaching to instance '%s': %s", ci, x->instance,
		            taskring_strerror(r));
		_exit(3);
	}
	while (!stopping(&c)) {
		uint32_t next = c.cs->next, out = next - c.cs->cnext;
		if (out >= x->o->window) {
			settle_some(&c, x->o->window / 2 + 1, CLIENT_SETTLE_MS);
			continue;
		}
		if (next >= c.sh->cap) {
			/* Out of records: settle what is left, then idle until the stop. */
			if (out) {
				settle_some(&c, out, CLIENT_SETTLE_MS);
				continue;
			}
			if (!log_full++)
				__atomic_fetch_add(&c.sh->log_full, 1, __ATOMIC_RELAXED);
			nanosleep(&(struct timespec){0, 10000000}, NULL);
			continue;
		}
		submit_batch(&c);
	}
	/* Stopped: settle the rest, in slices, until the final deadline. */
	while (c.cs->cnext < c.cs->next) {
		uint64_t now = now_ns(), end = c.sh->final_deadline_ns;
		if (end && now >= end)
			break;
		int64_t slice = CLIENT_SETTLE_MS;
		if (end && (int64_t)((end - now) / 1000000ull) < slice)
			slice = (int64_t)((end - now) / 1000000ull);
		settle_some(&c, c.cs->next - c.cs->cnext, slice);
	}
	taskring_detach(c.h);
	_exit(0);
}
