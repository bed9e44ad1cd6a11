/*
 * client.c - libtaskring's public API (include/taskring.h) on top of the
 * queue. A handle is a validated mapping of one instance's segment; it holds
 * no lock between calls and no pointer into caller memory.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"
#include "taskring.h"
#include "procstat.h"
#include "reload.h"

struct taskring {
	struct trq q;
	char instance[40];
};

int taskring_instance_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > 32)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return -EINVAL;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	return 0;
}

int taskring_attach(const char *name, taskring_t **out)
{
	if (!out)
		return -EINVAL;
	if (!name)
		name = getenv("TASKRING_INSTANCE");
	if (!name || !*name)
		name = "default";
	if (taskring_instance_valid(name))
		return -EINVAL;
	struct taskring *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	int r = trq_attach(&h->q, name);
	if (r) {
		free(h);
		return r;
	}
	snprintf(h->instance, sizeof(h->instance), "%s", name);
	*out = h;
	return 0;
}

void taskring_detach(taskring_t *h)
{
	if (!h)
		return;
	trq_detach(&h->q);
	free(h);
}

int taskring_daemon_alive(taskring_t *h)
{
	return trq_sup_serving(&h->q);
}

int taskring_daemon_stopped_s(taskring_t *h)
{
	if (trq_sup_serving(&h->q))
		return -1;
	uint64_t at = __atomic_load_n(&h->q.hdr->sup_stop_s, __ATOMIC_ACQUIRE);
	uint64_t now = trq_boot_s();
	if (!at || at > now) /* unknown, or a stamp from the future: garbage */
		return -1;
	return now - at > INT_MAX ? INT_MAX : (int)(now - at);
}

int taskring_lock_holder(taskring_t *h, char *buf, size_t len)
{
	pid_t pid = trq_lock_holder(&h->q);
	if (buf && len)
		buf[0] = '\0';
	if (pid && buf && len)
		tr_proc_describe(pid, buf, len);
	return pid;
}

int taskring_submit(taskring_t *h, const char *type, int argc, const char *const *argv,
                    const struct taskring_opts *opts, uint64_t *id)
{
	struct taskring_req req = {type, argc, argv};
	uint64_t got = 0;
	int r = trq_submit(&h->q, 1, &req, opts, &got);
	if (r < 0)
		return r;
	if (id)
		*id = got;
	return 0;
}

int taskring_submit_batch(taskring_t *h, size_t n, const struct taskring_req *reqs,
                          const struct taskring_opts *opts, uint64_t *ids)
{
	if (n == 0)
		return 0;
	if (!reqs || !ids)
		return -EINVAL;
	return trq_submit(&h->q, n, reqs, opts, ids);
}

int taskring_get(taskring_t *h, uint64_t id, struct taskring_info *info)
{
	return trq_get(&h->q, id, info, 0);
}

int taskring_wait(taskring_t *h, uint64_t id, int64_t timeout_ms, struct taskring_info *info)
{
	/* Often final already (tasks in flight): then no clock read. */
	int r = trq_peek(&h->q, id);
	if (r >= 0 && r != TASKRING_DONE && r != TASKRING_FAILED && r != TASKRING_CANCELLED)
		r = trq_wait_final(&h->q, id, trq_deadline_ms(timeout_ms));
	if (r < 0) {
		if (info) /* as trq_get does: releasing it after an error is harmless */
			memset(info, 0, sizeof(*info));
		return r;
	}
	return trq_get(&h->q, id, info, 1);
}

int taskring_wait_many(taskring_t *h, size_t n, const uint64_t *ids, int64_t timeout_ms,
                       struct taskring_info *infos)
{
	uint64_t deadline = trq_deadline_ms(timeout_ms);
	int err = 0;
	if (infos)
		memset(infos, 0, n * sizeof(*infos));
	for (size_t i = 0; i < n; i++) {
		err = trq_wait_final(&h->q, ids[i], deadline);
		if (err)
			return err;
	}
	/* All final: collect them (the copies need no lock; the read marks go
	 * in under one, only when every copy succeeded). On an error the
	 * others are filled: zero them, as promised. */
	err = trq_get_many(&h->q, n, ids, infos, 1);
	if (err && infos)
		taskring_info_release_many(n, infos);
	return err;
}

void taskring_info_release(struct taskring_info *info)
{
	if (!info)
		return;
	trq_info_free(info->buf_);
	memset(info, 0, sizeof(*info));
}

void taskring_info_release_many(size_t n, struct taskring_info *infos)
{
	if (!infos || !n)
		return;
	trq_info_free_many(infos, n);
	memset(infos, 0, n * sizeof(*infos));
}

int taskring_cancel(taskring_t *h, uint64_t id)
{
	return trq_cancel(&h->q, id);
}

int taskring_cancel_queued(taskring_t *h, const char *type, uint64_t *count)
{
	if (!h) {
		if (count)
			*count = 0;
		return -EINVAL;
	}
	return trq_cancel_queued(&h->q, type, count);
}

struct list_ent {
	uint64_t key, id;
};

static int list_cmp(const void *a, const void *b)
{
	const struct list_ent *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1; /* newest first */
	return x->id > y->id ? -1 : x->id < y->id;
}

int taskring_list(taskring_t *h, unsigned state_mask,
                  int (*fn)(const struct taskring_info *info, void *ctx), void *ctx)
{
	if (!h || !fn)
		return -EINVAL;
	struct trq *q = &h->q;
	struct list_ent *ents = malloc(sizeof(*ents) * q->capacity);
	size_t n = 0;
	if (!ents)
		return -ENOMEM;
	int r = trq_lock(q, 0);
	if (r) {
		free(ents);
		return r;
	}
	for (uint32_t i = 0; i < q->capacity; i++) {
		const struct trq_slot *s = &q->meta[i];
		uint32_t stt = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
		if (stt == TASKRING_FREE || stt >= TASKRING_NSTATES || !(state_mask & (1u << stt)))
			continue;
		ents[n++] = (struct list_ent){s->submit_ns, s->id};
	}
	trq_unlock(q);
	qsort(ents, n, sizeof(*ents), list_cmp);
	int visited = 0;
	for (size_t i = 0; i < n; i++) {
		struct taskring_info info;
		r = trq_get(q, ents[i].id, &info, 0);
		if (r)
			continue; /* gone since the snapshot */
		visited++;
		int stop = fn(&info, ctx);
		taskring_info_release(&info);
		if (stop)
			break;
	}
	free(ents);
	return visited;
}

static const char *const wstate_names[] = {
    [TRQ_W_EMPTY] = "empty",       [TRQ_W_STARTING] = "starting", [TRQ_W_READY] = "ready",
    [TRQ_W_STOPPING] = "stopping", [TRQ_W_DEAD] = "dead",
};

static const char *const spare_names[] = {
    [TRQ_SPARE_OFF] = "off",           [TRQ_SPARE_WAIT] = "waiting",
    [TRQ_SPARE_STARTING] = "starting", [TRQ_SPARE_READY] = "ready",
    [TRQ_SPARE_BACKOFF] = "backoff",   [TRQ_SPARE_GAVE_UP] = "given up",
    [TRQ_SPARE_STOPPING] = "stopping",
};

/* The longest wait status reports: restart.backoff_max_ms's upper limit.
 * A time further off was not written by the supervisor. */
#define STATUS_WAIT_MAX_MS 3600000u

/* Milliseconds from now until the monotonic time at (read from the
 * segment: untrusted), rounded up, 0 when past, at most STATUS_WAIT_MAX_MS. */
static unsigned status_ms_until(uint64_t at, uint64_t now)
{
	if (at <= now)
		return 0;
	uint64_t ms = (at - now) / 1000000u + ((at - now) % 1000000u != 0);
	return ms > STATUS_WAIT_MAX_MS ? STATUS_WAIT_MAX_MS : (unsigned)ms;
}

/* Whether worker i's record names, as the task its main thread executes, a
 * cpu task that is running on that worker (cur_cpu is the worker's word:
 * checked against the slot table). Caller holds the lock. */
static int status_executing_cpu(struct trq *q, int i)
{
	uint64_t id = __atomic_load_n(&q->workers[i].cur_cpu, __ATOMIC_RELAXED);
	uint32_t idx;

	if (!id || trq_id_slot(q, id, &idx))
		return 0;
	const struct trq_slot *t = &q->meta[idx];
	return t->id == id && t->state == TASKRING_RUNNING && t->cls == TASKRING_CPU &&
	       t->owner == i;
}

/* Reads the parent pid of pid from /proc; -1 when it cannot. */
static int proc_ppid(int pid)
{
	struct tr_procstat ps;
	return tr_procstat_read(pid, &ps) ? -1 : ps.ppid;
}

int taskring_status_get(taskring_t *h, struct taskring_status *st)
{
	struct trq *q = &h->q;
	struct trq_hdr *hd = q->hdr;
	memset(st, 0, sizeof(*st));
	/* Size the array before locking (a lock-free look, clamped below):
	 * the records in use, not all TRQ_WORKERS_MAX of them. */
	int room = (int)(__atomic_load_n(&hd->nworkers, __ATOMIC_RELAXED) <= TRQ_WORKERS_MAX
	                     ? __atomic_load_n(&hd->nworkers, __ATOMIC_RELAXED)
	                     : TRQ_WORKERS_MAX);
	for (int i = TRQ_WORKERS_MAX - 1; i >= room; i--)
		if (__atomic_load_n(&q->workers[i].state, __ATOMIC_RELAXED) != TRQ_W_EMPTY) {
			room = i + 1;
			break;
		}
	st->workers = calloc(room > 0 ? (size_t)room : 1, sizeof(*st->workers));
	if (!st->workers)
		return -ENOMEM;
	int r = trq_lock(q, 0);
	if (r) {
		free(st->workers);
		st->workers = NULL;
		return r;
	}
	snprintf(st->instance, sizeof(st->instance), "%s", h->instance);
	st->alive = trq_sup_serving(q);
	st->pid = st->alive ? hd->sup_pid : 0;
	st->epoch = hd->epoch;
	uint64_t now_real = trq_realtime(), now = trq_now();
	if (st->alive && hd->sup_start_real_ns && hd->sup_start_real_ns < now_real)
		st->uptime_s = (now_real - hd->sup_start_real_ns) / 1000000000ull;
	st->capacity = q->capacity;
	st->free = trq_free_slots(q, trq_now());
	st->payload_max = q->payload_max;
	st->result_max = q->result_max;
	for (int c = 0; c < TRQ_NCLASS; c++) {
		st->queued[c] = hd->ring_count[c];
		st->running[c] = hd->running[c];
	}
	st->submitted = hd->submitted;
	st->done = hd->done;
	st->failed = hd->failed;
	st->cancelled = hd->cancelled;
	st->requeued = hd->requeued;
	st->worker_restarts = hd->worker_restarts;
	st->reload_seq =
	    trq_reload_last(q, &st->reload_ok, st->reload_error, sizeof(st->reload_error));
	int n = (int)(hd->nworkers <= TRQ_WORKERS_MAX ? hd->nworkers : TRQ_WORKERS_MAX);
	for (int i = n; i < TRQ_WORKERS_MAX; i++)
		if (q->workers[i].state != TRQ_W_EMPTY && q->workers[i].pid)
			n = i + 1;
	if (n > room)
		n = room; /* records appeared since the look: show those we made room for */
	for (int i = 0; i < n; i++) {
		const struct trq_worker *w = &q->workers[i];
		struct taskring_worker_info *o = &st->workers[i];
		o->index = i;
		o->pid = st->alive ? w->pid : 0;
		o->cpu = w->cpu;
		uint32_t ws = __atomic_load_n(&w->state, __ATOMIC_RELAXED);
		snprintf(o->state, sizeof(o->state), "%s",
		         ws <= TRQ_W_DEAD ? wstate_names[ws] : "?");
		if (w->state == TRQ_W_READY && __atomic_load_n(&w->cur_cpu, __ATOMIC_RELAXED))
			snprintf(o->state, sizeof(o->state), "busy");
		if (!st->alive)
			snprintf(o->state, sizeof(o->state), "dead");
		/* A dead worker (or one whose daemon is gone) runs nothing: what
		 * its record still says is what it ran when it died, and that
		 * task may be queued again or done by now. */
		int live = st->alive && ws != TRQ_W_DEAD;
		o->task = live ? __atomic_load_n(&w->cur_cpu, __ATOMIC_RELAXED) : 0;
		o->io_inflight = live ? __atomic_load_n(&w->io_inflight, __ATOMIC_RELAXED) : 0;
		o->tasks_done = __atomic_load_n(&w->tasks_done, __ATOMIC_RELAXED);
		o->restarts = w->restarts;
		memcpy(o->last_exit, w->last_exit, sizeof(o->last_exit));
		o->last_exit[sizeof(o->last_exit) - 1] = 0;
		/* A dead worker the supervisor restarts later: a backoff. */
		uint64_t rs = __atomic_load_n(&w->restart_ns, __ATOMIC_ACQUIRE);
		if (st->alive && ws == TRQ_W_DEAD && rs) {
			snprintf(o->state, sizeof(o->state), "backoff");
			o->restart_in_ms = status_ms_until(rs, now);
		}
		/* Executing, of the running tasks: none on a dead worker, none
		 * without a daemon (its workers died with it); counts clamped to
		 * what the queue says runs, as the workers write them. */
		if (live) {
			st->executing[TASKRING_CPU] += status_executing_cpu(q, i);
			uint32_t io = __atomic_load_n(&w->io_inflight, __ATOMIC_RELAXED);
			st->executing[TASKRING_IO] +=
			    io < st->running[TASKRING_IO] ? io : st->running[TASKRING_IO];
		}
	}
	st->nworkers = n;
	for (int c = 0; c < TRQ_NCLASS; c++)
		if (st->executing[c] > st->running[c])
			st->executing[c] = st->running[c];
	uint32_t ss = __atomic_load_n(&hd->spare_state, __ATOMIC_ACQUIRE);
	int spid = __atomic_load_n(&hd->spare_pid, __ATOMIC_RELAXED);
	uint64_t snext = __atomic_load_n(&hd->spare_next_ns, __ATOMIC_RELAXED);
	st->spare_fails = __atomic_load_n(&hd->spare_fails, __ATOMIC_RELAXED);
	trq_unlock(q);
	/* The spare, as the supervisor published it: nothing without one. Its
	 * pid is shown only when it is the supervisor's child and no worker
	 * (the header is writable by any client of the segment, and a spare
	 * that just took a slot is a worker now); one that is not, or that
	 * has just ended, is none ("waiting" for the next). */
	if (!st->alive)
		ss = TRQ_SPARE_OFF;
	if (ss == TRQ_SPARE_STARTING || ss == TRQ_SPARE_READY) {
		int is_worker = 0;
		for (int i = 0; i < n; i++)
			is_worker |= spid > 0 && st->workers[i].pid == spid;
		if (spid > 0 && !is_worker && proc_ppid(spid) == st->pid)
			st->spare_pid = spid;
		else
			ss = TRQ_SPARE_WAIT;
	}
	if (ss == TRQ_SPARE_BACKOFF)
		st->spare_in_ms = status_ms_until(snext, now);
	if (ss == TRQ_SPARE_OFF)
		st->spare_fails = 0;
	snprintf(st->spare_state, sizeof(st->spare_state), "%s",
	         ss < TRQ_SPARE_NSTATES ? spare_names[ss] : "?");
	/* A worker stopped by a signal (SIGSTOP, a debugger) is not ready,
	 * whatever its record says, until the supervisor replaces it. */
	for (int i = 0; i < n; i++) {
		struct taskring_worker_info *o = &st->workers[i];
		struct tr_procstat ps;
		if (o->pid > 0 && (!strcmp(o->state, "ready") || !strcmp(o->state, "busy")) &&
		    tr_procstat_read(o->pid, &ps) == 0 && (ps.state == 'T' || ps.state == 't'))
			snprintf(o->state, sizeof(o->state), "stopped");
	}
	return 0;
}

void taskring_status_release(struct taskring_status *st)
{
	if (!st)
		return;
	free(st->workers);
	st->workers = NULL;
	st->nworkers = 0;
}

int taskring_kill_worker(taskring_t *h, int index, int sig, int *pid)
{
	struct trq *q = &h->q;
	if (index < 0 || index >= TRQ_WORKERS_MAX || sig < 0 || sig >= NSIG)
		return -EINVAL;
	if (!trq_sup_alive(q))
		return -TASKRING_ENODAEMON;
	int sup = __atomic_load_n(&q->hdr->sup_pid, __ATOMIC_RELAXED);
	int wpid = __atomic_load_n(&q->workers[index].pid, __ATOMIC_RELAXED);
	/* The pid comes from shared memory: only signal a child of the supervisor. */
	if (wpid <= 0 || sup <= 0 || proc_ppid(wpid) != sup)
		return -ESRCH;
	if (kill(wpid, sig) < 0)
		return -errno;
	if (pid)
		*pid = wpid;
	return 0;
}

int taskring_reload_ticket(taskring_t *h, uint32_t *ticket)
{
	if (!h || !ticket)
		return -EINVAL;
	*ticket = trq_reload_ticket(&h->q);
	return 0;
}

int taskring_reload_outcome(taskring_t *h, uint32_t ticket, int *ok, char *why, size_t len)
{
	if (!h || !ok || (!why && len))
		return -EINVAL;
	return trq_reload_find(&h->q, ticket, ok, why, len);
}

int taskring_reload_progress(taskring_t *h, uint32_t ticket, struct taskring_reload_progress *p)
{
	uint32_t done, total;
	uint64_t by, now;

	if (!h || !p)
		return -EINVAL;
	int r = trq_reload_roll_get(&h->q, ticket, &done, &total, &by);
	if (r)
		return r;
	now = trq_now();
	p->done = done;
	p->total = total;
	/* Untrusted: at most what the largest configuration can need (every
	 * worker retired with shutdown_timeout_s at its maximum, 86400 s). */
	uint64_t most = (uint64_t)TRQ_WORKERS_MAX * (86400 + 10) * 1000000000ull;
	by = by > now ? by - now : 0;
	if (by > most)
		by = most;
	p->left_ms = (int64_t)((by + 999999) / 1000000);
	return 0;
}
