/*
 * test_share.c - one taskring_t handle shared by several threads, as
 * include/taskring.h allows ("may be used by several threads at once,
 * except taskring_detach"). NTHREADS threads submit (one task, batches,
 * detached tasks), wait (one, many, without waiting), get, cancel, list,
 * read the status and make the calls that only look, through the same
 * handle for a few seconds (TR_SHARE_S, default 3), while two consumer
 * threads, each with a handle of its own, play the workers. Every result
 * must be the task's own, no id may be handed out twice and every task
 * submitted must be collected. `make check` runs it under TSan too, which
 * reports two threads of the handle touching its private state or the
 * segment without ordering.
 */
#include <pthread.h>

#include "qtest.h"
#include "tap.h"

#define NTHREADS 4
#define NWORKERS 2
#define PEND_MAX 24 /* tasks a thread has in flight at most */
#define BATCH    8

static taskring_t *h;
static int consumers_stop;
static uint64_t run_ns;

struct tstate {
	int no;
	pthread_t th;
	/* in flight: id and the sequence number its arguments carry */
	uint64_t pend_id[PEND_MAX];
	unsigned pend_seq[PEND_MAX];
	unsigned npend;
	unsigned seq;
	/* every id submitted, for the duplicate check */
	uint64_t *ids;
	size_t nids, ids_room;
	unsigned long submitted, collected, cancelled, lists, listed, statuses, gets;
	unsigned long detached, polls, misc;
	unsigned long errors;
	char err[256];
};

static struct tstate ts[NTHREADS];

__attribute__((format(printf, 2, 3))) static void fail(struct tstate *t, const char *fmt, ...)
{
	if (!t->errors++) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(t->err, sizeof(t->err), fmt, ap);
		va_end(ap);
	}
}

/* The output echo gives for thread no's task seq: its two words joined. */
static void expect(char *buf, size_t len, int no, unsigned seq)
{
	snprintf(buf, len, "T%d %u", no, seq);
}

/* Checks a collected info of the thread's task (id, seq). cancel_ok: the
 * task may have been cancelled. */
static void check_info(struct tstate *t, const struct taskring_info *in, uint64_t id, unsigned seq,
                       int cancel_ok)
{
	char want[64];
	expect(want, sizeof(want), t->no, seq);
	if (in->id != id) {
		fail(t, "task %llu: info of id %llu", (unsigned long long)id,
		     (unsigned long long)in->id);
		return;
	}
	if (in->state == TASKRING_CANCELLED && cancel_ok)
		return;
	if (in->state != TASKRING_DONE || !in->output || strcmp(in->output, want) != 0 ||
	    in->output_len != strlen(want) || strcmp(in->type, "echo") != 0 || in->argc != 2 ||
	    !in->argv || !in->argv[0] || !in->argv[1] || in->argv[2]) {
		fail(t, "task %llu: state %s, output '%s', want done '%s'", (unsigned long long)id,
		     taskring_state_name(in->state), in->output ? in->output : "(null)", want);
		return;
	}
	char args[64];
	snprintf(args, sizeof(args), "%s %s", in->argv[0], in->argv[1]);
	if (strcmp(args, want) != 0)
		fail(t, "task %llu: arguments '%s', want '%s'", (unsigned long long)id, args, want);
}

static void note_id(struct tstate *t, uint64_t id)
{
	if (t->nids == t->ids_room) {
		size_t room = t->ids_room ? 2 * t->ids_room : 65536;
		uint64_t *p = realloc(t->ids, room * sizeof(*p));
		if (!p) {
			fail(t, "out of memory for %zu ids", room);
			return;
		}
		t->ids = p;
		t->ids_room = room;
	}
	t->ids[t->nids++] = id;
}

static const struct taskring_opts sub_opts = {.timeout_ms = 20000};

static void submit_one(struct tstate *t)
{
	char a0[16], a1[16];
	snprintf(a0, sizeof(a0), "T%d", t->no);
	snprintf(a1, sizeof(a1), "%u", t->seq);
	const char *argv[] = {a0, a1};
	uint64_t id = 0;
	int r = taskring_submit(h, "echo", 2, argv, &sub_opts, &id);
	if (r) {
		fail(t, "taskring_submit: %s", taskring_strerror(r));
		return;
	}
	note_id(t, id);
	t->pend_id[t->npend] = id;
	t->pend_seq[t->npend++] = t->seq++;
	t->submitted++;
}

static void submit_batch(struct tstate *t)
{
	unsigned n = PEND_MAX - t->npend < BATCH ? PEND_MAX - t->npend : BATCH;
	char words[BATCH][2][16];
	const char *argv[BATCH][2];
	struct taskring_req reqs[BATCH];
	uint64_t ids[BATCH];
	for (unsigned i = 0; i < n; i++) {
		snprintf(words[i][0], sizeof(words[i][0]), "T%d", t->no);
		snprintf(words[i][1], sizeof(words[i][1]), "%u", t->seq + i);
		argv[i][0] = words[i][0];
		argv[i][1] = words[i][1];
		reqs[i] = (struct taskring_req){"echo", 2, argv[i]};
	}
	int r = taskring_submit_batch(h, n, reqs, &sub_opts, ids);
	if (r < 0) {
		fail(t, "taskring_submit_batch: %s", taskring_strerror(r));
		return;
	}
	/* Fewer than n: the table filled (the rest are not submitted). */
	for (int i = 0; i < r; i++) {
		note_id(t, ids[i]);
		t->pend_id[t->npend] = ids[i];
		t->pend_seq[t->npend++] = t->seq++;
		t->submitted++;
	}
}

/* Drops pending entry i (order does not matter). */
static void pend_drop(struct tstate *t, unsigned i)
{
	t->npend--;
	t->pend_id[i] = t->pend_id[t->npend];
	t->pend_seq[i] = t->pend_seq[t->npend];
}

static void wait_one(struct tstate *t)
{
	unsigned i = t->seq % t->npend;
	struct taskring_info in;
	int r = taskring_wait(h, t->pend_id[i], 20000, &in);
	if (r) {
		fail(t, "taskring_wait %llu: %s", (unsigned long long)t->pend_id[i],
		     taskring_strerror(r));
	} else {
		check_info(t, &in, t->pend_id[i], t->pend_seq[i], 0);
		t->collected++;
	}
	taskring_info_release(&in);
	pend_drop(t, i);
}

static void wait_many(struct tstate *t)
{
	struct taskring_info infos[PEND_MAX];
	unsigned n = t->npend;
	int r = taskring_wait_many(h, n, t->pend_id, 20000, infos);
	if (r)
		fail(t, "taskring_wait_many of %u: %s", n, taskring_strerror(r));
	for (unsigned i = 0; i < n; i++) {
		if (!r) {
			check_info(t, &infos[i], t->pend_id[i], t->pend_seq[i], 0);
			t->collected++;
		}
		taskring_info_release(&infos[i]);
	}
	t->npend = 0;
}

static void get_one(struct tstate *t)
{
	unsigned i = (t->seq * 7u) % t->npend;
	struct taskring_info in;
	int r = taskring_get(h, t->pend_id[i], &in);
	t->gets++;
	if (r)
		fail(t, "taskring_get %llu: %s", (unsigned long long)t->pend_id[i],
		     taskring_strerror(r));
	else if (in.state == TASKRING_DONE)
		check_info(t, &in, t->pend_id[i], t->pend_seq[i], 0);
	else if (in.state != TASKRING_QUEUED && in.state != TASKRING_RUNNING)
		fail(t, "taskring_get %llu: state %s", (unsigned long long)t->pend_id[i],
		     taskring_state_name(in.state));
	taskring_info_release(&in);
}

/* A wait that does not wait: done (collected, as taskring_wait marks it
 * read) or -ETIMEDOUT. */
static void poll_one(struct tstate *t)
{
	unsigned i = (t->seq * 5u) % t->npend;
	struct taskring_info in;
	int r = taskring_wait(h, t->pend_id[i], 0, &in);
	t->polls++;
	if (r == 0) {
		check_info(t, &in, t->pend_id[i], t->pend_seq[i], 0);
		t->collected++;
		pend_drop(t, i);
	} else if (r != -ETIMEDOUT) {
		fail(t, "taskring_wait %llu, timeout 0: %s", (unsigned long long)t->pend_id[i],
		     taskring_strerror(r));
	}
	taskring_info_release(&in);
}

/* A detached task: nobody collects it, its slot is freed when it ends. */
static void submit_detached(struct tstate *t)
{
	const char *argv[] = {"detached", "x"};
	struct taskring_opts o = sub_opts;
	o.flags = TASKRING_DETACHED;
	uint64_t id = 0;
	int r = taskring_submit(h, "echo", 2, argv, &o, &id);
	if (r) {
		fail(t, "detached taskring_submit: %s", taskring_strerror(r));
		return;
	}
	note_id(t, id);
	t->detached++;
}

/* The calls that only look: daemon_alive, daemon_stopped_s, lock_holder,
 * a reload ticket and its (never coming) outcome. */
static void look_around(struct tstate *t)
{
	char buf[128];
	uint32_t ticket;
	int ok_;
	t->misc++;
	if (taskring_daemon_alive(h) != 1)
		fail(t, "taskring_daemon_alive: not 1");
	if (taskring_daemon_stopped_s(h) != -1)
		fail(t, "taskring_daemon_stopped_s: not -1 with a supervisor");
	if (taskring_lock_holder(h, buf, sizeof(buf)) < 0)
		fail(t, "taskring_lock_holder < 0");
	int r = taskring_reload_ticket(h, &ticket);
	if (!r)
		r = taskring_reload_outcome(h, ticket, &ok_, buf, sizeof(buf));
	if (r != -EAGAIN)
		fail(t, "reload ticket and outcome: %s", taskring_strerror(r));
}

/* Submits a task and cancels it at once: cancelled, or done first (the
 * consumers run a task they took to its end). */

static void cancel_one(struct tstate *t)
{
	if (t->npend >= PEND_MAX)
		wait_one(t);
	submit_one(t);
	if (!t->npend)
		return;
	unsigned i = t->npend - 1;
	uint64_t id = t->pend_id[i];
	int r = taskring_cancel(h, id);
	if (r && r != -TASKRING_EFINAL) {
		fail(t, "taskring_cancel %llu: %s", (unsigned long long)id, taskring_strerror(r));
		return;
	}
	struct taskring_info in;
	r = taskring_wait(h, id, 20000, &in);
	if (r) {
		fail(t, "taskring_wait for cancelled %llu: %s", (unsigned long long)id,
		     taskring_strerror(r));
	} else {
		check_info(t, &in, id, t->pend_seq[i], 1);
		t->cancelled += in.state == TASKRING_CANCELLED;
		t->collected++;
	}
	taskring_info_release(&in);
	pend_drop(t, i);
}

/* A listed task of any thread: an echo task must carry its own result. */
static int list_cb(const struct taskring_info *in, void *ctx)
{
	struct tstate *t = ctx;
	t->listed++;
	if (in->state == TASKRING_DONE && in->argc == 2 && in->argv && in->argv[0] && in->argv[1] &&
	    in->output) {
		char want[64];
		snprintf(want, sizeof(want), "%s %s", in->argv[0], in->argv[1]);
		if (strcmp(in->output, want) != 0)
			fail(t, "listed task %llu: output '%s', arguments '%s'",
			     (unsigned long long)in->id, in->output, want);
	}
	return t->listed % 50 == 0; /* stop now and then */
}

static void list_some(struct tstate *t)
{
	int r = taskring_list(h, 1u << TASKRING_DONE | 1u << TASKRING_QUEUED, list_cb, t);
	if (r < 0)
		fail(t, "taskring_list: %s", taskring_strerror(r));
	t->lists++;
}

static void status_one(struct tstate *t)
{
	struct taskring_status st;
	int r = taskring_status_get(h, &st);
	if (r)
		fail(t, "taskring_status_get: %s", taskring_strerror(r));
	else if (st.capacity == 0 || st.nworkers < NWORKERS || !st.workers)
		fail(t, "status: capacity %u, %d workers", st.capacity, st.nworkers);
	taskring_status_release(&st);
	t->statuses++;
}

static void *client(void *arg)
{
	struct tstate *t = arg;
	uint64_t end = trq_now() + run_ns;
	unsigned step = 0, rnd = 2463534242u + (unsigned)t->no * 7919u;
	while (trq_now() < end && !t->errors) {
		rnd ^= rnd << 13; /* xorshift: no fixed cycle of operations */
		rnd ^= rnd >> 17;
		rnd ^= rnd << 5;
		step = rnd >> 8;
		if (t->npend < PEND_MAX / 2) {
			if (step & 1)
				submit_one(t);
			else
				submit_batch(t);
			continue;
		}
		switch (step % 8) {
		case 0:
		case 1:
			wait_one(t);
			break;
		case 2:
			wait_many(t);
			break;
		case 3:
		case 4:
			get_one(t);
			break;
		case 5:
			cancel_one(t);
			break;
		case 6:
			if (step % 16 == 6)
				list_some(t);
			else
				wait_one(t);
			break;
		default:
			if (step % 64 == 7)
				status_one(t);
			else if (step % 64 == 15)
				submit_detached(t);
			else if (step % 64 == 23)
				look_around(t);
			else if (step % 64 == 31)
				poll_one(t);
			else if (t->npend < PEND_MAX)
				submit_one(t);
			break;
		}
	}
	/* Nothing left behind: collect what is still in flight. */
	while (t->npend && t->errors < 10)
		wait_one(t);
	return NULL;
}

/* A consumer playing worker w (incarnation inc) through its own handle. */
struct cons {
	int w;
	uint32_t inc;
	struct trq q;
};

static void *consumer(void *arg)
{
	struct cons *c = arg;
	while (!__atomic_load_n(&consumers_stop, __ATOMIC_RELAXED)) {
		uint32_t seen = __atomic_load_n(&c->q.hdr->q_seq[TASKRING_CPU], __ATOMIC_ACQUIRE);
		qt_consume(&c->q, c->w, c->inc, 1); /* until the queue is empty */
		trq_wait_work(&c->q, TASKRING_CPU, seen, trq_now() + 50000000ull);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	struct trq q;
	const char *s = getenv("TR_SHARE_S");
	unsigned secs = s && atoi(s) > 0 ? (unsigned)atoi(s) : 3;
	run_ns = (uint64_t)secs * 1000000000ull;

	qt_setup("share", secs + 120);
	int r = qt_create(&q, 128, 256, 256);
	if (r) {
		printf("Bail out! trq_create: %s\n", strerror(-r));
		return 1;
	}
	/* The creator plays the supervisor too (taskring_daemon_alive). */
	if (!q.sup_held && trq_sup_lock(&q) != 0) {
		printf("Bail out! trq_sup_lock failed\n");
		return 1;
	}
	r = taskring_attach(qt_instance, &h);
	if (!ok(r == 0, "attach to the test segment")) {
		diag("  taskring_attach: %s", taskring_strerror(r));
		return tap_done();
	}
	/* The consumers: threads of this process with handles of their own,
	 * as a worker's threads are, so that TSan sees their side too. */
	static struct cons cons[NWORKERS];
	pthread_t cons_th[NWORKERS];
	for (int w = 0; w < NWORKERS; w++) {
		cons[w].w = w;
		cons[w].inc = qt_worker_start(&q, w, getpid());
		if (trq_attach(&cons[w].q, qt_instance) ||
		    pthread_create(&cons_th[w], NULL, consumer, &cons[w])) {
			printf("Bail out! consumer %d\n", w);
			return 1;
		}
	}

	for (int i = 0; i < NTHREADS; i++) {
		ts[i].no = i;
		if (pthread_create(&ts[i].th, NULL, client, &ts[i])) {
			printf("Bail out! pthread_create\n");
			return 1;
		}
	}
	unsigned long sub = 0, col = 0, can = 0, lists = 0, stats = 0, gets = 0, det = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(ts[i].th, NULL);
		struct tstate *t = &ts[i];
		if (!ok(t->errors == 0, "thread %d: every call answered right (%lu submitted)", i,
		        t->submitted))
			diag("  %lu errors, the first: %s", t->errors, t->err);
		ok(t->npend == 0 && t->collected == t->submitted,
		   "thread %d: every task it submitted collected (%lu of %lu)", i, t->collected,
		   t->submitted);
		sub += t->submitted;
		col += t->collected;
		can += t->cancelled;
		lists += t->lists;
		stats += t->statuses;
		gets += t->gets + t->polls;
		det += t->detached;
	}
	diag("%lu tasks submitted, %lu collected (%lu cancelled), %lu detached, %lu gets, "
	     "%lu lists, %lu status reads in %u s",
	     sub, col, can, det, gets, lists, stats, secs);
	ok(sub > 100, "the threads got work done (%lu tasks)", sub);

	/* Ids are never handed out twice, also to two threads at once. */
	size_t n = 0;
	for (int i = 0; i < NTHREADS; i++)
		n += ts[i].nids;
	uint64_t *all = malloc((n ? n : 1) * sizeof(*all));
	if (!all) {
		printf("Bail out! out of memory\n");
		return 1;
	}
	n = 0;
	for (int i = 0; i < NTHREADS; i++) {
		memcpy(all + n, ts[i].ids, ts[i].nids * sizeof(*all));
		n += ts[i].nids;
		free(ts[i].ids);
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	size_t dups = 0;
	for (size_t i = 1; i < n; i++)
		dups += all[i] == all[i - 1];
	is_int(dups, 0, "no id handed out twice among %zu", n);
	free(all);

	/* The detached tasks may still run: until none is queued or running. */
	struct taskring_status st;
	uint64_t until = trq_now() + 20000000000ull;
	for (;;) {
		r = taskring_status_get(h, &st);
		if (r || (!st.queued[0] && !st.running[0]) || trq_now() > until)
			break;
		taskring_status_release(&st);
		usleep(10000);
	}
	ok(r == 0 && st.submitted == sub + det && st.done + st.cancelled == sub + det &&
	       !st.queued[0] && !st.running[0],
	   "the status counts every task: %llu submitted, %llu done, %llu cancelled",
	   (unsigned long long)st.submitted, (unsigned long long)st.done,
	   (unsigned long long)st.cancelled);
	taskring_status_release(&st);

	__atomic_store_n(&consumers_stop, 1, __ATOMIC_RELAXED);
	for (int w = 0; w < NWORKERS; w++) {
		pthread_join(cons_th[w], NULL);
		trq_detach(&cons[w].q);
	}
	taskring_detach(h);
	char msg[256];
	r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "the queue's invariants hold"))
		diag("  %s", msg);
	trq_detach(&q);
	return tap_done();
}
