/*
 * test_queue.c - the queue's state transitions, full-table behaviour, result
 * reclamation, attach refusals and the repair after EOWNERDEAD, on a private
 * segment. The test plays both the supervisor and a worker.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "qtest.h"
#include "tap.h"

static struct trq q;

static uint64_t submit1(const char *type, int argc, const char *const *argv,
                        const struct taskring_opts *o, int *err)
{
	struct taskring_req r = {type, argc, argv};
	uint64_t id = 0;
	int n = trq_submit(&q, 1, &r, o, &id);
	if (err)
		*err = n < 0 ? n : 0;
	return n == 1 ? id : 0;
}

static int take1(int w, uint32_t inc, struct trq_task *t, int cls)
{
	static char buf[1 << 20] __attribute__((aligned(16)));
	return trq_take(&q, cls, w, inc, 1, t, buf, sizeof(buf));
}

static int finish1(int w, uint32_t inc, const struct trq_task *t, int state, const char *out)
{
	struct trq_result r = {t->idx, t->id, state, (uint32_t)strlen(out), out};
	return trq_finish(&q, w, inc, 1, &r);
}

static int check(const char *what)
{
	char msg[256];
	int r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "invariants hold %s", what))
		diag("  %s", msg);
	return r;
}

static void test_transitions(void)
{
	const char *argv[] = {"hello", "world"};
	struct taskring_info info;
	struct trq_task t;
	int err;
	uint32_t inc = qt_worker_start(&q, 0, getpid());

	uint64_t id = submit1("echo", 2, argv, NULL, &err);
	ok(id != 0 && err == 0, "submit echo returns an id");
	is_int(trq_peek(&q, id), TASKRING_QUEUED, "new task is queued");
	is_int(trq_submit(&q, 1, &(struct taskring_req){"nosuch", 0, NULL}, NULL, &id),
	       -TASKRING_EBADTYPE, "unknown type is refused");
	is_int(take1(0, inc, &t, TASKRING_CPU), 1, "worker takes it");
	is_int(trq_peek(&q, id), TASKRING_RUNNING, "taken task is running");
	is_int(t.argc, 2, "argc copied");
	is_str(t.argv[1], "world", "argv copied");
	is_int(t.attempts, 1, "first attempt counted");
	is_int(finish1(0, inc, &t, TASKRING_DONE, "hello world"), 0, "finish");
	is_int(trq_wait_final(&q, id, trq_deadline_ms(1000)), 0, "wait returns for a done task");
	is_int(trq_get(&q, id, &info, 1), 0, "get result");
	is_str(info.output, "hello world", "result text");
	is_int(info.state, TASKRING_DONE, "state done");
	is_str(info.argv[0], "hello", "args in info");
	taskring_info_release(&info);
	is_int(trq_get(&q, id, &info, 0), 0, "result still readable after it was read");
	taskring_info_release(&info);
	check("after done");

	/* failed */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_FAILED, "boom");
	trq_get(&q, id, &info, 1);
	ok(info.state == TASKRING_FAILED && strcmp(info.output, "boom") == 0,
	   "failed with its error");
	taskring_info_release(&info);

	/* cancel queued */
	id = submit1("echo", 0, NULL, NULL, &err);
	is_int(trq_cancel(&q, id), 0, "cancel a queued task");
	is_int(trq_peek(&q, id), TASKRING_CANCELLED, "queued task cancelled at once");
	is_int(trq_cancel(&q, id), -TASKRING_EFINAL, "cancel of a final task says so");
	is_int(take1(0, inc, &t, TASKRING_CPU), 0, "a cancelled task is not taken");
	check("after cancel of a queued task");

	/* cancel running: flagged, ended by the supervisor's recovery */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	is_int(trq_cancel(&q, id), 0, "cancel a running task");
	ok(q.meta[t.idx].flags & TRQ_F_CANCEL, "running task flagged for cancel");
	qt_worker_dead(&q, 0, 0, NULL);
	is_int(trq_peek(&q, id), TASKRING_CANCELLED, "cancelled once its worker is stopped");
	inc = qt_worker_start(&q, 0, getpid());

	/* worker death, uncharged: requeued, attempt refunded */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	is_int(qt_worker_dead(&q, 0, 0, NULL), 1, "dead worker's task requeued");
	is_int(trq_peek(&q, id), TASKRING_QUEUED, "requeued task is queued");
	inc = qt_worker_start(&q, 0, getpid());
	take1(0, inc, &t, TASKRING_CPU);
	is_int(t.attempts, 1, "uncharged death refunds the attempt");
	check("after an uncharged requeue");

	/* charged deaths up to max_attempts */
	qt_worker_dead(&q, 0, 0, NULL);
	struct taskring_opts o = {.max_attempts = 2, .timeout_ms = -1};
	id = submit1("echo", 0, NULL, &o, &err);
	inc = qt_worker_start(&q, 0, getpid());
	int taken = 0;
	while (take1(0, inc, &t, TASKRING_CPU) == 1 && t.id != id) {
		finish1(0, inc, &t, TASKRING_DONE, "");
		taken++;
	}
	struct trq_lost_report rep;
	memset(&rep, 0xff, sizeof(rep));
	qt_worker_dead_report(&q, 0, id, "worker 0 (pid 1) killed by signal 9 (SIGKILL)", &rep);
	is_int(trq_peek(&q, id), TASKRING_QUEUED, "charged once of 2: requeued");
	is_int(rep.nfailed, 0, "the report lists no task failed for good");
	inc = qt_worker_start(&q, 0, getpid());
	take1(0, inc, &t, TASKRING_CPU);
	is_int(t.attempts, 2, "second attempt");
	qt_worker_dead_report(&q, 0, id, "worker 0 (pid 1) killed by signal 9 (SIGKILL)", &rep);
	trq_get(&q, id, &info, 1);
	is_int(info.state, TASKRING_FAILED, "failed after max_attempts charged deaths");
	is_str(info.output, "worker 0 (pid 1) killed by signal 9 (SIGKILL) on attempt 2 of 2",
	       "cause names the signal and the attempts");
	taskring_info_release(&info);
	is_int(rep.nfailed, 1, "the report lists the task failed for good");
	ok(rep.failed[0].id == id && rep.failed[0].attempts == 2 && rep.failed[0].max_attempts == 2,
	   "with its id and attempts (%llu, %u of %u)", (unsigned long long)rep.failed[0].id,
	   rep.failed[0].attempts, rep.failed[0].max_attempts);
	is_str(rep.failed[0].cause, "worker 0 (pid 1) killed by signal 9 (SIGKILL)",
	       "and the cause without the attempts");

	/* timeout flag */
	o.max_attempts = 1;
	o.run_timeout_s = 7;
	id = submit1("echo", 0, NULL, &o, &err);
	inc = qt_worker_start(&q, 0, getpid());
	take1(0, inc, &t, TASKRING_CPU);
	q.meta[t.idx].flags |= TRQ_F_TIMEOUT;
	qt_worker_dead_report(&q, 0, 0, NULL, &rep);
	trq_get(&q, id, &info, 1);
	is_str(info.output, "timed out after 7 s on attempt 1 of 1", "timeout cause");
	taskring_info_release(&info);
	ok(rep.nfailed == 1 && rep.failed[0].id == id &&
	       !strcmp(rep.failed[0].cause, "timed out after 7 s"),
	   "a last attempt timed out is reported failed for good ('%s')", rep.failed[0].cause);

	/* io class and class override */
	inc = qt_worker_start(&q, 0, getpid());
	id = submit1("sleep", 0, NULL, NULL, &err);
	is_int(take1(0, inc, &t, TASKRING_CPU), 0, "io task not on the cpu queue");
	is_int(take1(0, inc, &t, TASKRING_IO), 1, "io task on the io queue");
	finish1(0, inc, &t, TASKRING_DONE, "");
	o = (struct taskring_opts){.use_cls = 1, .cls = TASKRING_IO, .timeout_ms = -1};
	submit1("echo", 0, NULL, &o, &err);
	is_int(err, -TASKRING_ENOTSUP_CLS, "echo cannot be forced into io");
	id = submit1("exec", 0, NULL, &o, &err);
	ok(id && take1(0, inc, &t, TASKRING_IO) == 1, "exec may choose io");
	finish1(0, inc, &t, TASKRING_DONE, "");

	/* bad arguments */
	char big[5000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	const char *bargv[] = {big};
	submit1("echo", 1, bargv, NULL, &err);
	is_int(err, -E2BIG, "arguments over payload_max refused");
	/* In a batch, a bad request stops it just before itself. */
	const char *a1[] = {"a"}, *a3[] = {"c"};
	struct taskring_req br[] = {{"echo", 1, a1}, {"echo", 1, bargv}, {"echo", 1, a3}};
	uint64_t bids[3] = {0};
	is_int(trq_submit(&q, 3, br, NULL, bids), 1,
	       "a batch with a bad 2nd request submits the 1st");
	is_int(trq_submit(&q, 2, br + 1, NULL, bids + 1), -E2BIG,
	       "and from the bad one: its error");
	ok(bids[0] && !bids[1] && trq_peek(&q, bids[0]) == TASKRING_QUEUED, "the 1st is queued");
	o = (struct taskring_opts){.flags = 0x80, .timeout_ms = -1};
	submit1("echo", 0, NULL, &o, &err);
	is_int(err, -EINVAL, "unknown flags refused");
	is_int(trq_peek(&q, 0), -TASKRING_EBADID, "id 0 is not an id");
	is_int(trq_peek(&q, (uint64_t)q.capacity * 1000 + 1), -ENOENT, "future id: no such task");
	check("after transitions");
}

/* Drains everything so the table is empty and every result read. */
static void drain(uint32_t inc)
{
	struct trq_task t;
	while (take1(0, inc, &t, TASKRING_CPU) == 1)
		finish1(0, inc, &t, TASKRING_DONE, "");
	while (take1(0, inc, &t, TASKRING_IO) == 1)
		finish1(0, inc, &t, TASKRING_DONE, "");
	for (uint32_t i = 0; i < q.capacity; i++)
		if (q.meta[i].state != TASKRING_FREE)
			trq_get(&q, q.meta[i].id, NULL, 1);
}

struct blocker {
	int err;
	uint64_t id;
};

static void *blocking_submit(void *arg)
{
	struct blocker *b = arg;
	struct taskring_opts o = {.timeout_ms = 5000};
	b->id = submit1("echo", 0, NULL, &o, &b->err);
	return NULL;
}

static void test_full_and_reclaim(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	struct taskring_info info;
	uint64_t ids[64];
	int err;
	drain(inc);
	trq_lock(&q, 0);
	uint32_t nfree = trq_free_slots(&q, trq_now());
	trq_unlock(&q);
	is_int(nfree, q.capacity, "all slots free or reclaimable after draining");

	struct taskring_opts nb = {.timeout_ms = 0};
	for (uint32_t i = 0; i < q.capacity; i++)
		ids[i] = submit1("echo", 0, NULL, &nb, &err);
	ok(ids[q.capacity - 1] != 0, "table filled to capacity");
	submit1("echo", 0, NULL, &nb, &err);
	is_int(err, -TASKRING_EFULL, "non-blocking submit on a full table fails at once");
	struct taskring_opts tm = {.timeout_ms = 200};
	uint64_t t0 = trq_now();
	submit1("echo", 0, NULL, &tm, &err);
	is_int(err, -ETIMEDOUT, "submit with a deadline times out on a full table");
	ok(trq_now() - t0 >= 150000000ull, "it waited for its deadline");

	/* Finished but unread results are not reclaimed. */
	for (uint32_t i = 0; i < q.capacity; i++) {
		take1(0, inc, &t, TASKRING_CPU);
		finish1(0, inc, &t, TASKRING_DONE, "r");
	}
	submit1("echo", 0, NULL, &nb, &err);
	is_int(err, -TASKRING_EFULL, "unread results keep the table full");
	/* A submitter reads its clock before it takes the lock, so the oldest
	 * unread result may have finished after that reading: its age must not
	 * wrap around to "past its TTL". */
	uint32_t oldest = q.hdr->fin_head[0];
	uint64_t fin = q.meta[oldest].finish_ns;
	q.meta[oldest].finish_ns = trq_now() + 50000000ull; /* 50 ms after now */
	submit1("echo", 0, NULL, &nb, &err);
	is_int(err, -TASKRING_EFULL,
	       "an unread result that finished after the submitter's clock reading is kept");
	trq_lock(&q, 0);
	nfree = trq_free_slots(&q, trq_now());
	trq_unlock(&q);
	is_int(nfree, 0, "and not counted as reclaimable");
	/* A finish time written near 2^64: its expiry wraps into the past,
	 * which must not turn a blocked submit into a busy loop. */
	q.meta[oldest].finish_ns = UINT64_MAX - 1000;
	struct rusage ru0, ru1;
	getrusage(RUSAGE_THREAD, &ru0);
	submit1("echo", 0, NULL, &tm, &err);
	getrusage(RUSAGE_THREAD, &ru1);
	double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
	               (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
	               (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
	               (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	is_int(err, -ETIMEDOUT, "a damaged finish time: the blocked submit times out");
	ok(cpu_s < 0.1, "sleeping, not spinning (%.3f s of CPU in its 0.2 s)", cpu_s);
	q.meta[oldest].finish_ns = fin;

	/* A blocked submitter gets the slot once a result is read. */
	pthread_t th;
	struct blocker b = {0};
	pthread_create(&th, NULL, blocking_submit, &b);
	usleep(100000);
	is_int(trq_get(&q, ids[3], &info, 1), 0, "read one result");
	taskring_info_release(&info);
	pthread_join(th, NULL);
	ok(b.err == 0 && b.id != 0, "blocked submit succeeded once a slot was read");
	is_int(trq_peek(&q, ids[3]), -TASKRING_EEXPIRED,
	       "the read slot was reused: old id expired");
	is_int(trq_get(&q, ids[3], &info, 0), -TASKRING_EEXPIRED, "get on a reused id says so");
	is_int(trq_wait_final(&q, ids[3], trq_deadline_ms(1000)), -TASKRING_EEXPIRED,
	       "wait on a reused id returns at once");
	is_int(trq_peek(&q, ids[4]), TASKRING_DONE, "unread neighbours kept");

	/* TTL: unread results become reclaimable after result_ttl. */
	q.hdr->result_ttl_ns = 100000000ull;
	usleep(150000);
	uint64_t id = submit1("echo", 0, NULL, &nb, &err);
	ok(id != 0, "an unread result past its TTL is reclaimed");
	is_int(trq_peek(&q, ids[0]), -TASKRING_EEXPIRED, "oldest unread result went first");
	q.hdr->result_ttl_ns = 300ull * 1000000000ull;
	drain(inc);

	/* Detached tasks free their slot when they finish. */
	struct taskring_opts det = {.flags = TASKRING_DETACHED, .timeout_ms = -1};
	id = submit1("echo", 0, NULL, &det, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "x");
	is_int(trq_peek(&q, id), -TASKRING_EEXPIRED, "detached task's slot freed at once");
	trq_lock(&q, 0);
	nfree = trq_free_slots(&q, trq_now());
	trq_unlock(&q);
	is_int(nfree, q.capacity, "free count back to capacity");
	check("after full-table and reclamation");
}

/* A blocking batch that fills the table returns its count at once: the
 * room it would wait for is its own unread results, which would otherwise
 * be reclaimed at their TTL with nobody having read them. */
static void test_batch_full(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	uint64_t ids[64];
	struct taskring_req reqs[64];
	int err;
	drain(inc);
	for (int i = 0; i < 64; i++)
		reqs[i] = (struct taskring_req){"echo", 0, NULL};
	struct taskring_opts bl = {.timeout_ms = 5000};
	uint64_t t0 = trq_now();
	int n = trq_submit(&q, q.capacity + 4, reqs, &bl, ids);
	is_int(n, (int)q.capacity, "a blocking batch larger than the table submits what fits");
	ok(trq_now() - t0 < 2000000000ull, "and returns at once, not at its deadline (%.2f s)",
	   (double)(trq_now() - t0) / 1e9);
	/* They run; nobody reads them: the table stays full of them. */
	while (take1(0, inc, &t, TASKRING_CPU) == 1)
		finish1(0, inc, &t, TASKRING_DONE, "mine");
	q.hdr->result_ttl_ns = 300000000ull; /* would be reclaimed after 0.3 s */
	t0 = trq_now();
	n = trq_submit(&q, 4, reqs, &bl, ids + q.capacity);
	ok(n == -ETIMEDOUT || n == -TASKRING_EFULL || n > 0, "a second batch: %d", n);
	q.hdr->result_ttl_ns = 300ull * 1000000000ull;
	/* Whatever the second call did, the first one's results were either
	 * still readable or the second waited for them to expire: never
	 * submitted-then-lost inside one call. */
	int lost = 0;
	for (uint32_t i = 0; i < q.capacity; i++) {
		struct taskring_info info;
		int r = trq_get(&q, ids[i], &info, 1);
		if (r == 0)
			taskring_info_release(&info);
		else
			lost++;
	}
	ok(n <= 0 || lost == n, "results lost only to a later call, as many as it took (%d)", lost);
	drain(inc);

	/* With room for some: those are submitted, the call returns at once. */
	for (uint32_t i = 0; i < q.capacity - 3; i++)
		submit1("echo", 0, NULL, &bl, &err);
	t0 = trq_now();
	n = trq_submit(&q, 10, reqs, &bl, ids);
	ok(n == 3 && trq_now() - t0 < 2000000000ull, "room for 3 of 10: 3 submitted at once (%d)",
	   n);
	n = trq_submit(&q, 1, reqs, &(struct taskring_opts){.timeout_ms = 200}, ids);
	is_int(n, -ETIMEDOUT, "a call that submitted none still waits to its deadline");
	drain(inc);
	check("after full batches");
}

/* A running task whose cancel was asked ends cancelled when its worker is
 * gone at adoption (a new supervisor) or at a rebuild: it is not queued to
 * run again. One without a cancel is requeued, uncharged. */
static void test_cancel_survives_adoption(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t1, t2;
	int err;
	drain(inc);
	uint64_t a = submit1("echo", 0, NULL, NULL, &err);
	uint64_t b = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t1, TASKRING_CPU);
	take1(0, inc, &t2, TASKRING_CPU);
	is_int(trq_cancel(&q, a), 0, "cancel of a running task is accepted");
	int32_t pid = q.hdr->sup_pid;
	uint32_t epoch = q.hdr->epoch;
	trq_adopt(&q); /* the supervisor died; its workers with it */
	struct taskring_info info = {0};
	int got = trq_get(&q, a, &info, 1);
	ok(got == 0 && info.state == TASKRING_CANCELLED && info.output &&
	       !strcmp(info.output, "cancelled while running"),
	   "after adoption the cancelled task is cancelled (%s), not queued again",
	   got ? taskring_strerror(got) : taskring_state_name(info.state));
	if (got == 0)
		taskring_info_release(&info);
	is_int(trq_peek(&q, b), TASKRING_QUEUED, "the other running task is queued again");
	check("after adopting a cancelled running task");
	q.hdr->sup_pid = pid;
	q.hdr->epoch = epoch;

	/* The same through a rebuild, for a worker that died unseen. */
	inc = qt_worker_start(&q, 0, getpid());
	drain(inc);
	uint64_t c = submit1("echo", 0, NULL, NULL, &err);
	is_int(take1(0, inc, &t2, TASKRING_CPU), 1, "another task is taken");
	is_int(trq_peek(&q, c), TASKRING_RUNNING, "and runs");
	is_int(trq_cancel(&q, c), 0, "its cancel is accepted");
	trq_lock(&q, 0);
	q.workers[0].state = TRQ_W_DEAD;
	trq_rebuild(&q);
	trq_unlock(&q);
	is_int(trq_peek(&q, c), TASKRING_CANCELLED,
	       "a rebuild after its worker died ends it cancelled");
	check("after rebuilding with a cancelled running task");
	drain(qt_worker_start(&q, 0, getpid()));
}

/* Timeouts too long for the clock mean "no limit", not a deadline that
 * wrapped around into the past. */
static void test_huge_timeouts(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	uint64_t now = trq_now();
	drain(inc);
	ok(trq_deadline_at(now, INT64_MAX) == 0, "trq_deadline_at(INT64_MAX): no limit");
	ok(trq_deadline_at(now, 18446744073710ll) == 0,
	   "a timeout that would wrap the clock: no limit");
	ok(trq_deadline_at(now, 3153600000000ll) == now + 3153600000000ull * 1000000ull,
	   "100 years: a deadline");
	ok(trq_deadline_ms(-1) == 0, "a negative timeout: no limit");
	uint64_t none;
	struct taskring_req rq = {"echo", 0, NULL};
	is_int(trq_submit(&q, 1, &rq, &(struct taskring_opts){.max_attempts = 1001}, &none),
	       -EINVAL, "max_attempts past the queue's limit of 1000: -EINVAL, not a silent 1000");
	/* A wait with such a timeout waits for the task instead of timing out. */
	int err;
	uint64_t id =
	    submit1("echo", 0, NULL, &(struct taskring_opts){.timeout_ms = INT64_MAX}, &err);
	ok(id != 0, "submit with timeout_ms INT64_MAX works (%s)", taskring_strerror(err));
	pid_t kid = fork();
	if (kid == 0) {
		struct trq_task t;
		usleep(200000);
		if (take1(0, inc, &t, TASKRING_CPU) == 1)
			finish1(0, inc, &t, TASKRING_DONE, "late");
		_exit(0);
	}
	is_int(trq_wait_final(&q, id, trq_deadline_ms(INT64_MAX)), 0,
	       "wait with timeout_ms INT64_MAX waits for the task");
	waitpid(kid, NULL, 0);
	drain(inc);
}

#ifndef __SANITIZE_THREAD__ /* TSan builds lock without a deadline: no use */
/* Forks a child that takes the queue lock and says so through the pipe
 * pfd, then stops itself (hold_us 0) or lets go after hold_us and exits 0.
 * Returns its pid once it holds the lock, or -1. */
static pid_t lock_holder_child(int pfd[2], unsigned hold_us)
{
	char x;
	if (pipe(pfd) != 0)
		return -1;
	pid_t kid = fork();
	if (kid == 0) {
		trq_lock(&q, 0);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		if (!hold_us)
			raise(SIGSTOP);
		usleep(hold_us);
		trq_unlock(&q);
		_exit(0);
	}
	return kid > 0 && read(pfd[0], &x, 1) == 1 ? kid : -1;
}
#endif

/* A process that holds the queue lock and is stopped (Ctrl-Z on a client)
 * stalls every caller until it lets go: their calls end at their deadline
 * with -TASKRING_ELOCKED, which says so, rather than a plain timeout that
 * reads as "the table is full". Killed, it costs only the repair. */
static void test_lock_stopped(void)
{
#ifdef __SANITIZE_THREAD__
	/* TSan builds lock without a deadline (see trq_lock). */
	ok(1, "# SKIP TSan builds wait for the lock without a deadline");
#else
	int pfd[2], err;
	/* One task done (its result read below, leaving a read mark pending),
	 * one queued (waited for below). */
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	uint64_t done_id = submit1("echo", 0, NULL, NULL, &err);
	uint64_t queued_id = submit1("echo", 0, NULL, NULL, &err);
	int tk = take1(0, inc, &t, TASKRING_CPU), fin = finish1(0, inc, &t, TASKRING_DONE, "x");
	ok(done_id && queued_id && tk == 1 && t.id == done_id && fin >= 0,
	   "one task done, one queued (take %d, finish %d)", tk, fin);
	pid_t kid = lock_holder_child(pfd, 0);
	ok(kid > 0, "a child holds the queue lock, then stops");
	is_int(trq_lock_holder(&q), kid, "the lock word names it as the holder");
	struct taskring_opts o = {.timeout_ms = 300};
	uint64_t t0 = trq_now();
	submit1("echo", 0, NULL, &o, &err);
	is_int(err, -TASKRING_ELOCKED, "a submit behind it fails with -TASKRING_ELOCKED");
	ok(trq_now() - t0 >= 250000000ull, "at its deadline");
	ok(strstr(taskring_strerror(err), "lock") != NULL, "which says why: %s",
	   taskring_strerror(err));
	/* A wait hands back pending read marks before it sleeps: that must
	 * not cost it more than its own deadline (it took the 10 s lock
	 * default). */
	struct taskring_info info;
	ok(trq_get(&q, done_id, &info, 1) == 0 && info.state == TASKRING_DONE,
	   "the done task's result is read without the lock");
	taskring_info_release(&info);
	ok(q.mk_n > 0, "its read mark is pending");
	t0 = trq_now();
	int rw = trq_wait_final(&q, queued_id, t0 + 100000000ull);
	uint64_t waited = trq_now() - t0;
	ok(rw == -ETIMEDOUT && waited < 2000000000ull,
	   "a wait of 100 ms for the queued task ends at its deadline, not the lock's (%d, %.0f "
	   "ms)",
	   rw, (double)waited / 1e6);
	/* The supervisor's handle: one full wait in vain, then brief ones until
	 * it gets the lock again (lock_spent_ns). */
	q.lock_wait_ns = 300000000ull;
	q.lock_spent_ns = 1000000ull;
	t0 = trq_now();
	int r1 = trq_lock(&q, 0);
	uint64_t t1 = trq_now();
	int r2 = trq_lock(&q, 0);
	uint64_t t2 = trq_now();
	ok(r1 == -TASKRING_ELOCKED && t1 - t0 >= 250000000ull,
	   "with lock_spent_ns: the first call waits its lock_wait_ns (%d, %.0f ms)", r1,
	   (double)(t1 - t0) / 1e6);
	ok(r2 < 0 && t2 - t1 < 200000000ull,
	   "the next one gives up after a brief try (%d, %.0f ms)", r2, (double)(t2 - t1) / 1e6);
	q.lock_spent = trq_now() - 6000000000ull; /* as if that wait was 6 s ago */
	t1 = trq_now();
	int r3 = trq_lock(&q, 0);
	t2 = trq_now();
	ok(r3 == -TASKRING_ELOCKED && t2 - t1 >= 250000000ull,
	   "5 s after the full wait, the next call waits in full again (%d, %.0f ms)", r3,
	   (double)(t2 - t1) / 1e6);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	is_int(trq_lock(&q, 0), 0, "once the holder is gone the lock is had");
	trq_unlock(&q);
	is_int(q.lock_spent, 0, "and full waits are back");
	q.lock_wait_ns = 0;
	q.lock_spent_ns = 0;
	uint64_t id = submit1("echo", 0, NULL, &o, &err);
	ok(id != 0, "killed, it leaves a lock the next caller repairs (err %d)", err);
	is_int(trq_lock_holder(&q), 0, "and nobody holds it after");
	check("after a stopped lock holder was killed");
	drain(inc);
#endif
}

/* A handle whose segment was removed while no supervisor holds it (a
 * daemon SIGKILLed, its segment deleted, a new one started under the name):
 * its submits and waits say no daemon serves it, instead of queueing tasks
 * nothing will run and waiting for them forever. While a supervisor still
 * holds a removed segment, it serves it: nothing changes. */
struct orphan_blocked {
	struct trq *q;
	int err, done;
};

/* A submit to a full table, without a deadline. */
static void *orphan_submit(void *arg)
{
	struct orphan_blocked *b = arg;
	struct taskring_req r = {"echo", 0, NULL};
	uint64_t id;
	b->err = trq_submit(b->q, 1, &r, NULL, &id);
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_orphaned(void)
{
	char name[64];
	int pfd[2], err = 0;
	struct trq o;
	struct trq_geom g = {16, 256, 256};
	static const struct trq_type types[] = {{"echo", TASKRING_CPU, 0}};

	snprintf(name, sizeof(name), "%s-orphan", qt_instance);
	if (pipe(pfd) != 0) {
		ok(0, "pipe: %s", strerror(errno));
		return;
	}
	pid_t sup = fork();
	if (sup == 0) { /* the supervisor: makes the segment and holds it */
		struct trq s;
		char x = trq_create(&s, name, &g, 0600, -1) == 0 &&
		                 trq_set_types(&s, types, 1) == 0 && trq_sup_lock(&s) == 0
		             ? 'y'
		             : 'n';
		if (write(pfd[1], &x, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char x = 0;
	ok(sup > 0 && read(pfd[0], &x, 1) == 1 && x == 'y',
	   "a supervisor made and holds a segment");
	close(pfd[0]);
	close(pfd[1]);
	struct trq o2, o3;
	ok(trq_attach(&o, name) == 0 && trq_attach(&o2, name) == 0 && trq_attach(&o3, name) == 0,
	   "attached to it three times");
	struct taskring_req r = {"echo", 0, NULL};
	struct taskring_opts nb = {.timeout_ms = 0};
	uint64_t id1 = 0, id2 = 0;
	ok(trq_submit(&o, 1, &r, NULL, &id1) == 1, "a submit works");
	unsigned filled = 1;
	while (trq_submit(&o, 1, &r, &nb, &id2) == 1)
		filled++;
	is_int((int)filled, 16, "the table is full of queued tasks (no worker runs them)");
	struct orphan_blocked b = {&o, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, orphan_submit, &b);
	usleep(100000);
	trq_unlink(name);
	__atomic_store_n(&o.orphan_ns, 0, __ATOMIC_RELAXED); /* look again now, not in a second */
	ok(!__atomic_load_n(&b.done, __ATOMIC_ACQUIRE) && trq_peek(&o, id1) == TASKRING_QUEUED,
	   "removed while its supervisor holds it: still served, a submit waits for room");
	kill(sup, SIGKILL);
	waitpid(sup, NULL, 0);
	uint64_t t0 = trq_now();
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 15;
	int joined = pthread_timedjoin_np(th, NULL, &until) == 0;
	ok(joined && b.err == -TASKRING_ENODAEMON,
	   "removed and its supervisor dead: the blocked submit says no daemon (%d after %.1f s)",
	   b.err, (double)(trq_now() - t0) / 1e9);
	if (!joined) { /* it would block for good: end it with the test */
		pthread_detach(th);
		return;
	}
	err = trq_submit(&o, 1, &r, NULL, &id2);
	is_int(err, -TASKRING_ENODAEMON, "so does the next submit, at once");
	t0 = trq_now();
	err = trq_wait_final(&o, id1, t0 + 30000000000ull);
	uint64_t took = trq_now() - t0;
	ok(err == -TASKRING_ENODAEMON && took < 10000000000ull,
	   "a wait for a queued task says so too, not at its 30 s deadline (%d, %.1f s)", err,
	   (double)took / 1e9);
	/* Another handle, waiting in 100 ms slices, as callers that watch for
	 * signals do: it learns it too. */
	t0 = trq_now();
	do
		err = trq_wait_final(&o2, id1, trq_now() + 100000000ull);
	while (err == -ETIMEDOUT && trq_now() - t0 < 10000000000ull);
	ok(err == -TASKRING_ENODAEMON,
	   "so does a wait in 100 ms slices on another handle (%d, %.1f s)", err,
	   (double)(trq_now() - t0) / 1e9);
	/* A third, looking with timeout 0 (no spin, no sleep): it learns it too. */
	t0 = trq_now();
	unsigned looks = 0;
	do {
		err = trq_wait_final(&o3, id1, trq_now());
		looks++;
		if (err == -ETIMEDOUT)
			usleep(1000);
	} while (err == -ETIMEDOUT && trq_now() - t0 < 10000000000ull);
	ok(err == -TASKRING_ENODAEMON,
	   "so do looks with timeout 0 on a third handle (%d after %u looks, %.1f s)", err, looks,
	   (double)(trq_now() - t0) / 1e9);
	trq_detach(&o3);
	trq_detach(&o2);
	trq_detach(&o);
}

/* A slot's generation carries past 2^32: the ids of its next tasks go on
 * growing, they never repeat an earlier id (with a 32-bit generation the
 * task after the 2^32nd in a slot got the id of the slot's first task). */
static void test_gen_wrap(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	int err = 0;
	uint32_t cap = q.capacity;
	uint64_t old[64], ids[64];
	unsigned nold = 0;

	/* Detached tasks through every slot: each is freed as it finishes. */
	for (uint32_t i = 0; i < cap; i++)
		submit1("echo", 0, NULL, &(struct taskring_opts){.flags = TASKRING_DETACHED}, &err);
	drain(inc);
	trq_lock(&q, 0);
	for (uint32_t i = 0; i < cap; i++)
		if (q.meta[i].state == TASKRING_FREE)
			q.meta[i].gen = UINT32_MAX; /* its next task is the slot's 2^32nd */
	trq_unlock(&q);
	/* Fill the free slots with tasks of generation 2^32 - 1, run and read
	 * them; then a table's worth of submits reuses every slot. */
	for (uint32_t i = 0; i < cap && nold < 64; i++) {
		uint64_t id =
		    submit1("echo", 0, NULL, &(struct taskring_opts){.timeout_ms = 0}, &err);
		if (!id)
			break;
		if ((id - 1) / cap == UINT32_MAX)
			old[nold++] = id;
	}
	drain(inc);
	trq_flush_reads(&q);
	ok(nold > 0, "%u tasks of generation 2^32 - 1 ran", nold);
	unsigned n = 0, carried = 0, repeats = 0;
	for (uint32_t i = 0; i < cap && n < 64; i++) {
		uint64_t id = submit1("echo", 0, NULL, NULL, &err);
		if (!id)
			break;
		ids[n++] = id;
		if ((id - 1) / cap == 1ull << 32)
			carried++;
		if (id <= cap) /* the id the slot's generation 0 had */
			repeats++;
	}
	ok(n == cap && carried == nold && repeats == 0,
	   "the next task in each of those %u slots has generation 2^32, a new id (%u of %u "
	   "submits carried, %u repeated an id of generation 0)",
	   nold, carried, n, repeats);
	int expired = 0;
	for (unsigned i = 0; i < nold; i++)
		expired += trq_peek(&q, old[i]) == -TASKRING_EEXPIRED;
	is_int(expired, (int)nold, "the ids of generation 2^32 - 1 are expired");
	is_int(trq_peek(&q, (uint64_t)1 + (old[0] - 1) % cap), -TASKRING_EEXPIRED,
	       "and generation 0's id of such a slot is expired, not its new task");
	int queued = 0;
	for (unsigned i = 0; i < n; i++)
		queued += trq_peek(&q, ids[i]) == TASKRING_QUEUED;
	is_int(queued, (int)n, "the new ids read back as their queued tasks");
	check("with generations past 2^32");
	trq_lock(&q, 0);
	trq_rebuild(&q);
	trq_unlock(&q);
	check("after a rebuild (the ids are valid)");
	queued = 0;
	for (unsigned i = 0; i < n; i++)
		queued += trq_peek(&q, ids[i]) == TASKRING_QUEUED;
	is_int(queued, (int)n, "and still read back after it");
	drain(inc);
}

/* A lock that a live process holds past a caller's short deadline (a busy
 * queue: a submit woken by a free slot just before its deadline meets the
 * lock taken) ends the call with a plain -ETIMEDOUT. -TASKRING_ELOCKED,
 * "a holder is stuck", needs a wait of LOCK_STALL_NS; a blocking map read it
 * as a fatal error in CI. */
static void test_lock_busy(void)
{
#ifdef __SANITIZE_THREAD__
	ok(1, "# SKIP TSan builds wait for the lock without a deadline");
#else
	int pfd[2], err, st = -1;
	pid_t kid = lock_holder_child(pfd, 150000);
	ok(kid > 0, "a child holds the queue lock for 150 ms");
	struct taskring_opts o = {.timeout_ms = 30};
	submit1("echo", 0, NULL, &o, &err);
	is_int(err, -ETIMEDOUT, "a submit with a 30 ms deadline behind it ends with -ETIMEDOUT");
	ok(waitpid(kid, &st, 0) == kid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "the holder let go and exited");
	close(pfd[0]);
	close(pfd[1]);
	check("after a busy lock");
#endif
}

/* A child locks the queue, leaves it half-updated the way `kind` says, and
 * dies holding the lock. The next locker must repair it. */
static void die_mid_update(int kind)
{
	pid_t pid = fork();
	if (pid == 0) {
		trq_lock(&q, 0);
		struct trq_hdr *h = q.hdr;
		uint32_t i;
		switch (kind) {
		case 0: /* popped from the ring, not yet marked running */
			h->ring_head[0] = (h->ring_head[0] + 1) % q.capacity;
			h->ring_count[0]--;
			break;
		case 1: /* slot taken off a list, not yet filled */
			if (h->free_head != TRQ_NIL) {
				h->free_head = q.meta[h->free_head].next;
				h->free_count--;
			} else {
				h->fin_head[1] = q.meta[h->fin_head[1]].next;
			}
			break;
		case 2: /* finished: state set, not yet on the fin list */
			for (i = 0; i < q.capacity; i++)
				if (q.meta[i].state == TASKRING_RUNNING)
					break;
			q.meta[i].state = TASKRING_DONE;
			break;
		case 3: /* fin list half-unlinked (marking read) */
			q.meta[h->fin_head[0]].flags |= TRQ_F_READ;
			h->fin_head[0] = q.meta[h->fin_head[0]].next;
			break;
		case 4: /* ring entry written, count not bumped (submit) */
			for (i = 0; i < q.capacity; i++)
				if (q.meta[i].state == TASKRING_FREE)
					break;
			h->free_head = q.meta[i].next;
			q.meta[i].state = TASKRING_QUEUED;
			q.meta[i].id = (uint64_t)q.meta[i].gen * q.capacity + i + 1;
			q.meta[i].cls = 0;
			q.meta[i].max_attempts = 1;
			memset(q.meta[i].type, 0, sizeof(q.meta[i].type));
			strcpy(q.meta[i].type, "echo");
			q.meta[i].args_len = q.meta[i].argc = 0;
			q.meta[i].args_sum = trq_args_sum(q.meta[i].type, "", 0);
			q.meta[i].qseq = h->qseq_next++;
			break;
		case 5: /* a finished slot half freed: off its list, gen bumped, still DONE */
			i = h->fin_head[0];
			h->fin_head[0] = q.meta[i].next;
			q.meta[i].gen++;
			break;
		case 6: /* cancel --queued: a task ended, still in the ring, on no list */
			i = q.ring[0][h->ring_head[0] % q.capacity];
			q.meta[i].finish_ns = trq_now();
			q.meta[i].state = TASKRING_CANCELLED;
			break;
		}
		raise(SIGKILL);
	}
	int st;
	waitpid(pid, &st, 0);
}

static void test_owner_dead(void)
{
	static const char *names[] = {"ring pop", "free-list pop", "finish",       "mark read",
	                              "submit",   "slot free",     "cancel queued"};
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	int err;
	drain(inc);
	for (int kind = 0; kind < 7; kind++) {
		uint64_t a = submit1("echo", 0, NULL, NULL, &err);
		submit1("echo", 0, NULL, NULL, &err);
		take1(0, inc, &t, TASKRING_CPU); /* a running */
		uint64_t c = submit1("echo", 0, NULL, NULL, &err);
		struct trq_task t2;
		take1(0, inc, &t2, TASKRING_CPU); /* b running */
		finish1(0, inc, &t2, TASKRING_DONE, "b");
		uint64_t rep = q.hdr->repairs, failed = q.hdr->failed;
		die_mid_update(kind);
		is_int(trq_lock(&q, 0), 0, "lock after a holder died in %s", names[kind]);
		trq_unlock(&q);
		is_int(q.hdr->failed, failed, "the repair failed no task (%s)", names[kind]);
		if (kind == 5)
			is_int(trq_peek(&q, t2.id), -TASKRING_EEXPIRED,
			       "the half-freed task's id reads as expired");
		if (kind == 6)
			is_int(trq_peek(&q, c), TASKRING_CANCELLED,
			       "the task cancelled in the ring stays cancelled, never runs");
		ok(q.hdr->repairs > rep, "repair ran after EOWNERDEAD (%s)", names[kind]);
		check(names[kind]);
		ok(trq_peek(&q, a) >= TASKRING_RUNNING, "running task kept (%s)", names[kind]);
		/* Everything still completes. */
		finish1(0, inc, &t, TASKRING_DONE, "a");
		drain(inc);
		int pending = 0;
		for (uint32_t i = 0; i < q.capacity; i++)
			if (q.meta[i].state == TASKRING_QUEUED ||
			    q.meta[i].state == TASKRING_RUNNING)
				pending++;
		is_int(pending, 0, "nothing stuck after %s repair", names[kind]);
		check("after draining");
	}
}

static void test_attach_refusals(void)
{
	struct trq a;
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/taskring.%s", qt_instance);
	is_int(trq_attach(&a, qt_instance), 0, "attach to a good segment");
	trq_detach(&a);
	is_int(trq_attach(&a, "no-such-instance-xyz"), -ENOENT, "missing instance: ENOENT");
	is_int(trq_attach(&a, "bad/name"), -EINVAL, "bad instance name refused");

	uint64_t magic = q.hdr->magic;
	q.hdr->magic = 0x1234;
	is_int(trq_attach(&a, qt_instance), -TASKRING_ELAYOUT, "wrong magic refused");
	q.hdr->magic = magic;
	q.hdr->layout = 99;
	is_int(trq_attach(&a, qt_instance), -TASKRING_ELAYOUT, "wrong layout version refused");
	q.hdr->layout = TRQ_LAYOUT;
	q.hdr->capacity++;
	is_int(trq_attach(&a, qt_instance), -TASKRING_ELAYOUT, "geometry that disagrees refused");
	q.hdr->capacity--;
	int fd = open(path, O_RDWR);
	struct stat st;
	fstat(fd, &st);
	ftruncate(fd, st.st_size + 4096);
	is_int(trq_attach(&a, qt_instance), -TASKRING_ELAYOUT, "wrong size refused");
	ftruncate(fd, st.st_size);
	fchmod(fd, 0606);
	is_int(trq_attach(&a, qt_instance), -EACCES, "world-accessible segment refused");
	fchmod(fd, 0600);
	/* Another owner: a child running as nobody may not use our segment. */
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(77);
		_exit(trq_attach(&a, qt_instance) == -EACCES ? 0 : 1);
	}
	int wst;
	waitpid(pid, &wst, 0);
	if (WEXITSTATUS(wst) == 77)
		ok(1, "# SKIP cannot switch to uid nobody here");
	else
		ok(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "another user's segment refused");
	if (geteuid() == 0) {
		/* root trusts its own segments and the service user's only */
		struct stat own;
		fstat(fd, &own);
		is_int(fchown(fd, 65534, (gid_t)-1), 0, "segment given to uid 65534");
		is_int(trq_attach(&a, qt_instance), -EACCES,
		       "root refuses an ordinary user's segment (it could be planted)");
		is_int(fchown(fd, 1, (gid_t)-1), 0, "segment given to uid 1 (daemon)");
		is_int(trq_attach(&a, qt_instance), -EACCES,
		       "root refuses another system account's segment too");
		setenv("TASKRING_SERVICE_USER", "daemon", 1);
		is_int(trq_attach(&a, qt_instance), 0,
		       "root uses it with TASKRING_SERVICE_USER=daemon (uid 1)");
		trq_detach(&a);
		unsetenv("TASKRING_SERVICE_USER");
		is_int(fchown(fd, own.st_uid, (gid_t)-1), 0, "owner restored");
	} else {
		ok(1, "# SKIP not root: root's own rule not checked");
	}
	close(fd);
	is_int(trq_attach(&a, qt_instance), 0, "attach works again after restoring");
	trq_detach(&a);
}

/* Results are copied without the lock; their read marks wait for the
 * reader's next lock, a sleeping wait, or its detach. */
static void test_read_marks(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	struct taskring_info info;
	uint64_t ids[4];
	int err;
	for (int i = 0; i < 4; i++) {
		ids[i] = submit1("echo", 0, NULL, NULL, &err);
		take1(0, inc, &t, TASKRING_CPU);
		finish1(0, inc, &t, TASKRING_DONE, "r");
	}
	uint32_t read0 = q.hdr->fin_count[1];
	is_int(trq_get(&q, ids[0], &info, 1), 0, "read a result");
	ok(strcmp(info.output, "r") == 0 && info.state == TASKRING_DONE, "its result, copied");
	taskring_info_release(&info);
	is_int(q.hdr->fin_count[1], read0, "its read mark is pending (no lock taken)");
	trq_flush_reads(&q);
	is_int(q.hdr->fin_count[1], read0 + 1, "trq_flush_reads applies it");
	is_int(trq_get(&q, ids[0], &info, 0), 0, "still readable after the mark (show)");
	taskring_info_release(&info);

	/* Another process: its detach applies its marks. */
	pid_t pid = fork();
	if (pid == 0) {
		struct trq c;
		if (trq_attach(&c, qt_instance) || trq_get(&c, ids[1], &info, 1))
			_exit(1);
		taskring_info_release(&info);
		trq_detach(&c);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child read a result and detached");
	is_int(q.hdr->fin_count[1], read0 + 2, "the child's detach applied its mark");

	/* A reader killed with a mark pending: that result stays unread. */
	pid = fork();
	if (pid == 0) {
		struct trq c;
		if (trq_attach(&c, qt_instance) || trq_get(&c, ids[2], &info, 1))
			_exit(1);
		raise(SIGKILL);
		_exit(1);
	}
	waitpid(pid, &st, 0);
	ok(WIFSIGNALED(st), "a reader was killed with a mark pending");
	is_int(q.hdr->fin_count[1], read0 + 2, "its mark was lost: nothing moved");
	is_int(trq_peek(&q, ids[2]), TASKRING_DONE, "that result is kept (until its TTL)");

	/* The next lock this process takes applies its pending marks. */
	is_int(trq_get(&q, ids[3], &info, 1), 0, "read another result");
	taskring_info_release(&info);
	trq_lock(&q, 0);
	uint32_t now_read = q.hdr->fin_count[1];
	trq_unlock(&q);
	is_int(now_read, read0 + 3, "any trq_lock applies pending marks");
	check("after deferred read marks");
	drain(inc);

	/* A look with timeout 0 at an unfinished task hands them back too, as
	 * a wait that sleeps does: a poller keeps no results from their reuse. */
	uint64_t done1 = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "r");
	uint64_t queued1 = submit1("echo", 0, NULL, NULL, &err);
	uint32_t read2 = q.hdr->fin_count[1];
	is_int(trq_get(&q, done1, &info, 1), 0, "read a result");
	taskring_info_release(&info);
	is_int(trq_wait_final(&q, queued1, trq_now()), -ETIMEDOUT,
	       "a look with timeout 0 at a queued task: -ETIMEDOUT");
	is_int(q.hdr->fin_count[1], read2 + 1, "and the read mark was applied");
	drain(inc);

	/* A reader draining results one at a time, with no lock in between,
	 * hands its marks back every TRQ_MARKS_KEEP reads: killed, it would
	 * leave fewer than that to their TTL. */
	uint64_t more[12];
	for (int i = 0; i < 12; i++) {
		more[i] = submit1("echo", 0, NULL, NULL, &err);
		take1(0, inc, &t, TASKRING_CPU);
		finish1(0, inc, &t, TASKRING_DONE, "r");
	}
	uint32_t read1 = q.hdr->fin_count[1];
	unsigned most = 0;
	for (int i = 0; i < 12; i++) {
		if (trq_get(&q, more[i], &info, 1) == 0)
			taskring_info_release(&info);
		if (q.mk_n > most)
			most = q.mk_n;
	}
	ok(most < TRQ_MARKS_KEEP && q.hdr->fin_count[1] - read1 + q.mk_n == 12,
	   "12 reads one at a time: at most %u marks pending (%u), the rest applied (%u)",
	   TRQ_MARKS_KEEP - 1, most, q.hdr->fin_count[1] - read1);
	trq_flush_reads(&q);
	drain(inc);
}

struct sleeper {
	uint32_t seen;
	int done;
	double took;
};

static void *sleep_for_work(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = trq_now();
	trq_wait_work(&q, TASKRING_CPU, s->seen, t0 + 5000000000ull);
	s->took = (double)(trq_now() - t0) / 1e9;
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Starts a thread sleeping for work (sleep_for_work) and waits until the
 * queue counts want sleepers. */
static void start_sleeper(struct sleeper *s, pthread_t *th, uint32_t want)
{
	*s = (struct sleeper){.seen =
	                          __atomic_load_n(&q.hdr->q_seq[TASKRING_CPU], __ATOMIC_SEQ_CST)};
	pthread_create(th, NULL, sleep_for_work, s);
	for (int i = 0;
	     i < 2000 && __atomic_load_n(&q.hdr->q_wait[TASKRING_CPU], __ATOMIC_SEQ_CST) < want;
	     i++)
		usleep(1000);
	usleep(20000); /* counted, then asleep in the kernel */
}

/* Waits up to 2 s for sleeper s to wake; returns whether it did. */
static int sleeper_woke(struct sleeper *s)
{
	for (int i = 0; i < 2000 && !__atomic_load_n(&s->done, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	return __atomic_load_n(&s->done, __ATOMIC_SEQ_CST);
}

/* A submitter skips the wake-up while another one's is in flight; when that
 * one never happened (its maker died), the supervisor's trq_kick wakes. */
static void test_skipped_wake(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct sleeper s;
	pthread_t th;
	start_sleeper(&s, &th, 1);
	is_int(__atomic_load_n(&q.hdr->q_wait[TASKRING_CPU], __ATOMIC_SEQ_CST), 1,
	       "a consumer sleeps for work");
	is_int(trq_kick(&q), 0, "trq_kick: nothing queued, nothing to do");
	/* A wake-up claimed moments ago by someone who died before making it. */
	__atomic_store_n(&q.hdr->q_woke_n[TASKRING_CPU], 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&q.hdr->q_woke_ns[TASKRING_CPU], trq_now(), __ATOMIC_SEQ_CST);
	int err;
	ok(submit1("echo", 0, NULL, NULL, &err) != 0, "submit while a wake-up looks in flight");
	usleep(50000);
	ok(!__atomic_load_n(&s.done, __ATOMIC_SEQ_CST),
	   "the submit skipped the wake-up: the consumer still sleeps");
	/* and the count of sleepers written as 0 by another process: woken all the same */
	__atomic_store_n(&q.hdr->q_wait[TASKRING_CPU], 0, __ATOMIC_SEQ_CST);
	trq_kick(&q);
	pthread_join(th, NULL);
	ok(s.done && s.took < 4.0,
	   "trq_kick woke the sleeper though q_wait says none (after %.3f s, not its 5 s "
	   "deadline)",
	   s.took);
	__atomic_store_n(&q.hdr->q_wait[TASKRING_CPU], 0, __ATOMIC_SEQ_CST);
	struct trq_task t;
	is_int(take1(0, inc, &t, TASKRING_CPU), 1, "the task is there to take");
	is_int(__atomic_load_n(&q.hdr->q_woke_n[TASKRING_CPU], __ATOMIC_SEQ_CST), 0,
	       "no worker counted as woken and not run");
	finish1(0, inc, &t, TASKRING_DONE, "");
	drain(inc);
}

struct waiter {
	uint64_t id;
	int r;
	double took;
};

static void *wait_for_task(void *arg)
{
	struct waiter *w = arg;
	uint64_t t0 = trq_now();
	w->r = trq_wait_final(&q, w->id, trq_deadline_ms(3000));
	w->took = (double)(trq_now() - t0) / 1e9;
	return NULL;
}

/* Clients asleep on a task are woken by its finish, whether the finish
 * comes once they sleep or while they are about to: trq_finish touches the
 * wake word only of slots with waiters (trq_slot_wake_after). */
static void test_sleeping_waiters(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	int64_t spin = q.spin_ns;
	q.spin_ns = 0; /* sleep at once */
	int bad = 0, rounds = 0, slept = 0;
	double slowest = 0;
	for (int i = 0; i < 300 && !bad; i++, rounds++) {
		struct waiter w = {.id = submit1("echo", 0, NULL, NULL, NULL)};
		if (!w.id) {
			bad = 1;
			break;
		}
		uint32_t idx = (uint32_t)((w.id - 1) % q.capacity);
		pthread_t th;
		pthread_create(&th, NULL, wait_for_task, &w);
		/* Even rounds finish once the waiter counts itself; odd ones at
		 * once, racing with it. */
		for (int k = 0;
		     !(i & 1) && k < 2000 && !__atomic_load_n(&q.meta[idx].nwait, __ATOMIC_SEQ_CST);
		     k++)
			usleep(100);
		slept += __atomic_load_n(&q.meta[idx].nwait, __ATOMIC_SEQ_CST) != 0;
		struct trq_task t;
		if (take1(0, inc, &t, TASKRING_CPU) != 1 ||
		    finish1(0, inc, &t, TASKRING_DONE, "") != 0)
			bad = 1;
		pthread_join(th, NULL);
		if (w.r != 0 || w.took > 2.0)
			bad = 1;
		if (w.took > slowest)
			slowest = w.took;
		trq_get(&q, w.id, NULL, 1);
	}
	q.spin_ns = spin;
	ok(!bad && slept > 0,
	   "every sleeping waiter woke at its task's finish (%d rounds, %d seen asleep, "
	   "slowest %.3f s)",
	   rounds, slept, slowest);
	drain(inc);
}

struct napper {
	uint32_t inc;
	struct trq_task t; /* the task it "ran" before napping */
	int napped, took_n;
	double took;
	int done;
};

/* A worker that finished task n->t naps, then takes and finishes what is
 * queued. */
static void *nap_then_take(void *arg)
{
	struct napper *n = arg;
	uint64_t t0 = trq_now();
	n->napped = trq_nap(&q, TASKRING_CPU, 0, &n->t, 1);
	n->took = (double)(trq_now() - t0) / 1e9;
	__atomic_store_n(&n->done, 1, __ATOMIC_SEQ_CST);
	struct trq_task t;
	while (take1(0, n->inc, &t, TASKRING_CPU) == 1) {
		finish1(0, n->inc, &t, TASKRING_DONE, "after nap");
		n->took_n++;
	}
	return NULL;
}

static int nappers(void)
{
	return __atomic_load_n(&q.hdr->q_nap[TASKRING_CPU], __ATOMIC_SEQ_CST);
}

static int spinners(void)
{
	return __atomic_load_n(&q.hdr->q_spin[TASKRING_CPU], __ATOMIC_SEQ_CST);
}

/* trq_nap(): when a worker naps, what ends a nap, the back-off, and the
 * clean-up of a worker killed while napping. */
static void test_nap(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task many[TRQ_NAP_BELOW], t;
	int err;
	memset(many, 0, sizeof(many));
	is_int(trq_nap(&q, TASKRING_CPU, -1, many, 1), -EINVAL, "trq_nap needs a worker record");
	is_int(trq_nap(&q, 7, 0, many, 1), -EINVAL, "trq_nap refuses a bad class");

	/* a task a client waited for: no nap after it */
	uint64_t id = submit1("echo", 0, NULL, NULL, &err);
	struct taskring_info info;
	take1(0, inc, &t, TASKRING_CPU);
	is_int(trq_wait_final(&q, id, trq_now() + 1000000), -ETIMEDOUT,
	       "a client waits for a running task (and times out)");
	finish1(0, inc, &t, TASKRING_DONE, "");
	q.nap_ns = 10000000000ll;
	uint64_t t0 = trq_now();
	is_int(trq_nap(&q, TASKRING_CPU, 0, &t, 1), 0, "no nap after a task a client waited for");
	is_int(trq_nap(&q, TASKRING_CPU, 0, many, 0), 0, "no nap after taking nothing");
	is_int(trq_nap(&q, TASKRING_CPU, 0, many, TRQ_NAP_BELOW), 0, "no nap after a full batch");
	q.nap_ns = -1;
	is_int(trq_nap(&q, TASKRING_CPU, 0, many, 1), 0, "no nap when naps are off");
	ok(trq_now() - t0 < 2000000000ull, "none of those slept");
	trq_get(&q, id, &info, 1);
	taskring_info_release(&info);

	/* an unwatched task: the nap runs out (nobody wakes it), counted */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "");
	q.nap_ns = 200000000; /* 0.2 s */
	q.nap_skip = q.nap_fails = 0;
	struct napper n = {.inc = inc, .t = t};
	pthread_t th;
	pthread_create(&th, NULL, nap_then_take, &n);
	for (int i = 0; i < 100 && !nappers(); i++)
		usleep(1000);
	is_int(nappers(), 1, "a napping worker is counted as napping");
	is_int(spinners(), 1, "and as awake (submitters skip its wake-up)");
	is_int(__atomic_load_n(&q.workers[0].spinning, __ATOMIC_SEQ_CST),
	       (1 + TASKRING_CPU) | TRQ_SPIN_NAP, "its record says so");
	pthread_join(th, NULL);
	ok(n.napped == 1 && n.took >= 0.15, "it napped its full time (%.3f s)", n.took);
	ok(nappers() == 0 && spinners() == 0 && q.workers[0].spinning == 0, "and uncounted itself");
	ok(q.nap_skip > 0, "a nap that gathered fewer than %d tasks backs off (skip %u)",
	   TRQ_NAP_GAIN, q.nap_skip);
	is_int(trq_nap(&q, TASKRING_CPU, 0, &t, 1), 0, "the next chance is skipped");
	trq_get(&q, id, &info, 1);
	taskring_info_release(&info);

	/* a nap that gathered enough: no back-off */
	q.nap_skip = 0;
	for (int i = 0; i < TRQ_NAP_GAIN; i++)
		submit1("echo", 0, NULL, NULL, &err);
	n = (struct napper){.inc = inc, .t = t};
	pthread_create(&th, NULL, nap_then_take, &n);
	pthread_join(th, NULL);
	ok(n.napped == 1 && q.nap_skip == 0 && q.nap_fails == 0,
	   "a nap with %d tasks queued does not back off", TRQ_NAP_GAIN);
	is_int(n.took_n, TRQ_NAP_GAIN, "they are taken after the nap");
	drain(inc);

	/* a client waiting for a task still queued wakes the napper */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "");
	trq_get(&q, id, NULL, 1);
	q.nap_ns = 10000000000ll; /* 10 s */
	q.nap_skip = 0;
	n = (struct napper){.inc = inc, .t = t};
	pthread_create(&th, NULL, nap_then_take, &n);
	for (int i = 0; i < 100 && !nappers(); i++)
		usleep(1000);
	id = submit1("echo", 0, NULL, NULL, &err);
	usleep(100000);
	ok(!__atomic_load_n(&n.done, __ATOMIC_SEQ_CST), "a submit does not end the nap");
	t0 = trq_now();
	is_int(trq_wait_final(&q, id, trq_now() + 5000000000ull), 0,
	       "waiting for the queued task ends the nap, and it runs");
	ok(trq_now() - t0 < 4000000000ull, "long before the nap or the deadline ran out (%.3f s)",
	   (double)(trq_now() - t0) / 1e9);
	pthread_join(th, NULL);
	trq_get(&q, id, &info, 1);
	is_str(info.output, "after nap", "the task ran after the nap");
	taskring_info_release(&info);

	/* a queued task a client already waits for: no nap (its client saw no
	 * napper when it started waiting, so nobody would end one) */
	id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "");
	trq_get(&q, id, NULL, 1);
	uint64_t waited = submit1("echo", 0, NULL, NULL, &err);
	is_int(trq_wait_final(&q, waited, trq_now() + 1000000), -ETIMEDOUT,
	       "a client waits for a queued task (and times out)");
	q.nap_ns = 10000000000ll;
	q.nap_skip = 0;
	t0 = trq_now();
	is_int(trq_nap(&q, TASKRING_CPU, 0, &t, 1), 0, "no nap while a queued task is waited for");
	ok(trq_now() - t0 < 2000000000ull, "and no sleep");
	drain(inc);

	/* a worker killed while napping is uncounted with its tasks */
	__atomic_store_n(&q.workers[0].spinning, (1 + TASKRING_CPU) | TRQ_SPIN_NAP,
	                 __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&q.hdr->q_spin[TASKRING_CPU], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&q.hdr->q_nap[TASKRING_CPU], 1, __ATOMIC_SEQ_CST);
	qt_worker_dead(&q, 0, 0, NULL);
	ok(nappers() == 0 && spinners() == 0 && q.workers[0].spinning == 0,
	   "trq_worker_lost uncounts a worker killed while napping");

	/* more nappers than live workers: the audit resets the count */
	__atomic_store_n(&q.hdr->q_nap[TASKRING_CPU], 5, __ATOMIC_SEQ_CST);
	char msg[256];
	ok(trq_audit(&q, 1, msg, sizeof(msg)) != 0 && strstr(msg, "nappers"),
	   "the audit notices nappers without workers (%s)", msg);
	is_int(nappers(), 0, "and resets their count");
	/* one poller counted with a live worker but no record flagged: another
	 * process wrote it, and submitters would skip waking sleepers for good */
	inc = qt_worker_start(&q, 0, getpid());
	__atomic_store_n(&q.hdr->q_spin[TASKRING_CPU], 1, __ATOMIC_SEQ_CST);
	ok(trq_audit(&q, 1, msg, sizeof(msg)) != 0 && strstr(msg, "pollers"),
	   "the audit notices a poller no worker's flag accounts for (%s)", msg);
	is_int(spinners(), 0, "and resets the count");
	/* a worker really polling is left counted */
	__atomic_store_n(&q.workers[0].spinning, 1 + TASKRING_CPU, __ATOMIC_SEQ_CST);
	__atomic_store_n(&q.hdr->q_spin[TASKRING_CPU], 1, __ATOMIC_SEQ_CST);
	is_int(trq_audit(&q, 1, msg, sizeof(msg)), 0, "a flagged poller passes the audit");
	is_int(spinners(), 1, "and stays counted");
	__atomic_store_n(&q.hdr->q_spin[TASKRING_CPU], 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&q.workers[0].spinning, 0, __ATOMIC_SEQ_CST);
	drain(inc);
	check("after the nap tests");
	q.nap_ns = -1;
}

/* trq_giveback: tasks a worker took but did not start go back to the front
 * of their ring in order, their attempt undone; a cancel asked for
 * meanwhile ends the task; tasks not the worker's are left alone. */
static void test_giveback(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	static char buf[1 << 20] __attribute__((aligned(16)));
	struct trq_task t[4], u;
	int err;
	uint64_t ids[5];
	for (int i = 0; i < 5; i++)
		ids[i] = submit1("echo", 0, NULL, NULL, &err);
	is_int(trq_take(&q, TASKRING_CPU, 0, inc, 4, t, buf, sizeof(buf)), 4, "a worker takes 4");
	is_int(trq_cancel(&q, ids[2]), 0, "the third is cancelled while the worker holds it");
	is_int(trq_giveback(&q, 0, inc + 1, 3, &t[1]), 0,
	       "another incarnation cannot give them back");
	is_int(trq_giveback(&q, 0, inc, 65, &t[1]), -EINVAL, "at most 64 at once");
	is_int(trq_giveback(&q, 0, inc, 3, &t[1]), 2,
	       "of the three it did not start, two go back (one was cancelled)");
	is_int(trq_peek(&q, ids[1]), TASKRING_QUEUED, "the second is queued again");
	is_int(trq_peek(&q, ids[2]), TASKRING_CANCELLED, "the cancelled one ended");
	is_int(trq_peek(&q, ids[3]), TASKRING_QUEUED, "the fourth is queued again");
	is_int(trq_peek(&q, ids[0]), TASKRING_RUNNING, "the one it runs stays running");
	trq_lock(&q, 0);
	uint32_t running = q.hdr->running[TASKRING_CPU], queued = q.hdr->ring_count[TASKRING_CPU];
	trq_unlock(&q);
	ok(running == 1 && queued == 3, "running 1 (%u), queued 3 (%u)", running, queued);
	check("after a give-back");
	uint64_t order[3];
	for (int i = 0; i < 3; i++) {
		take1(0, inc, &u, TASKRING_CPU);
		order[i] = u.id;
		if (i < 2)
			is_int(u.attempts, 1, "a task given back starts again as attempt 1");
		finish1(0, inc, &u, TASKRING_DONE, "");
	}
	ok(order[0] == ids[1] && order[1] == ids[3] && order[2] == ids[4],
	   "they are taken again first, in their order, before the fifth");
	finish1(0, inc, &t[0], TASKRING_DONE, "");
	check("after the tasks given back ran");
	drain(inc);
}

/* A nap ends when a submit makes TRQ_NAP_FULL tasks queued (needs a table
 * larger than the main tests' one: run last, on a new segment). */
static void test_nap_full(void)
{
	trq_detach(&q);
	trq_unlink(qt_instance);
	int r = qt_create(&q, 2 * TRQ_NAP_FULL, 256, 256);
	if (!ok(r == 0, "create a %d-slot segment", 2 * TRQ_NAP_FULL))
		return;
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	int err;
	uint64_t id = submit1("echo", 0, NULL, NULL, &err);
	take1(0, inc, &t, TASKRING_CPU);
	finish1(0, inc, &t, TASKRING_DONE, "");
	trq_get(&q, id, NULL, 1);
	q.nap_ns = 10000000000ll; /* 10 s */
	struct napper n = {.inc = inc, .t = t};
	pthread_t th;
	pthread_create(&th, NULL, nap_then_take, &n);
	for (int i = 0; i < 100 && !nappers(); i++)
		usleep(1000);
	int sent = 0;
	for (int i = 0; i < TRQ_NAP_FULL - 1; i++)
		sent += submit1("echo", 0, NULL, NULL, &err) != 0;
	usleep(100000);
	ok(sent == TRQ_NAP_FULL - 1 && !__atomic_load_n(&n.done, __ATOMIC_SEQ_CST),
	   "%d tasks queued do not end a nap", sent);
	uint64_t t0 = trq_now();
	submit1("echo", 0, NULL, NULL, &err);
	for (int i = 0; i < 4000 && !__atomic_load_n(&n.done, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	ok(__atomic_load_n(&n.done, __ATOMIC_SEQ_CST),
	   "the submit of task %d ends it (after %.3f s)", TRQ_NAP_FULL,
	   (double)(trq_now() - t0) / 1e9);
	pthread_join(th, NULL);
	is_int(n.took_n, TRQ_NAP_FULL, "and the worker takes them");
	check("after a nap ended by a full batch");
	q.nap_ns = -1;
}

/* Submits n echo tasks in one call; returns how many were queued. */
static int submit_n(unsigned n)
{
	struct taskring_req reqs[TRQ_TAKE_MAX];
	uint64_t ids[TRQ_TAKE_MAX];
	if (n > TRQ_TAKE_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		reqs[i] = (struct taskring_req){"echo", 0, NULL};
	return trq_submit(&q, n, reqs, NULL, ids);
}

/* A batch that a polling worker can take at once wakes no sleeper (without
 * the poller it does); a taker that leaves tasks behind wakes one. Runs on the
 * segment test_nap_full made (2 * TRQ_NAP_FULL >= TRQ_TAKE_MAX slots). */
static void test_batch_wake(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	int32_t *spin = &q.hdr->q_spin[TASKRING_CPU];
	drain(inc);
	for (int round = 0; round < 3; round++) {
		struct sleeper s;
		pthread_t th;
		start_sleeper(&s, &th, 1);
		if (round != 1)
			__atomic_add_fetch(spin, 1, __ATOMIC_SEQ_CST); /* a worker polls */
		int sent = submit_n(TRQ_TAKE_MAX);
		usleep(100000);
		int woke = __atomic_load_n(&s.done, __ATOMIC_SEQ_CST);
		if (round != 1)
			__atomic_sub_fetch(spin, 1,
			                   __ATOMIC_SEQ_CST); /* it stops polling to take */
		if (round == 0) {
			ok(sent == TRQ_TAKE_MAX && !woke,
			   "a batch of %d with a worker polling wakes no sleeper", sent);
		} else if (round == 1) {
			ok(sent == TRQ_TAKE_MAX && woke,
			   "a batch of %d with no worker polling wakes a sleeper", sent);
		} else {
			/* The poller takes one and leaves the rest behind. */
			struct trq_task t;
			int took = take1(0, inc, &t, TASKRING_CPU);
			for (int i = 0; i < 2000 && !__atomic_load_n(&s.done, __ATOMIC_SEQ_CST);
			     i++)
				usleep(1000);
			ok(sent == TRQ_TAKE_MAX && !woke && took == 1 &&
			       __atomic_load_n(&s.done, __ATOMIC_SEQ_CST) && s.took < 4.0,
			   "a taker that leaves %d behind wakes the sleeper (after %.3f s)",
			   sent - took, s.took);
			if (took == 1)
				finish1(0, inc, &t, TASKRING_DONE, "");
		}
		pthread_join(th, NULL);
		drain(inc);
	}
	check("after batches and wake-ups");
}

/* A batch wakes no worker while every sleeper has been woken moments ago
 * and has not run yet (on a CPU its client keeps busy such a worker may
 * wait a time slice; every batch paid a system call meanwhile); it does
 * wake one that went to sleep since, and any once that wake-up is stale. A
 * woken worker uncounts itself. Same segment as test_batch_wake. */
static void test_woke_count(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	uint32_t *woke_n = &q.hdr->q_woke_n[TASKRING_CPU];
	uint64_t *woke_ns = &q.hdr->q_woke_ns[TASKRING_CPU];
	struct sleeper a, b, c;
	pthread_t ta, tb, tc;
	drain(inc);

	start_sleeper(&a, &ta, 1);
	int sent = submit_n(TRQ_TAKE_MAX);
	ok(sent == TRQ_TAKE_MAX && sleeper_woke(&a), "a batch wakes the sleeper");
	pthread_join(ta, NULL);
	is_int(__atomic_load_n(woke_n, __ATOMIC_SEQ_CST), 0, "which uncounts itself once it runs");
	drain(inc);
	/* Moments later (the stamp still fresh) a worker sleeps again: a lone
	 * task wakes it, as nobody woken is still on the way. */
	start_sleeper(&a, &ta, 1);
	ok(__atomic_load_n(woke_ns, __ATOMIC_SEQ_CST) &&
	       trq_now() - __atomic_load_n(woke_ns, __ATOMIC_SEQ_CST) < 2000000000ull,
	   "a wake-up was sent moments ago");
	__atomic_store_n(woke_ns, trq_now(), __ATOMIC_SEQ_CST); /* fresh, by any clock */
	ok(submit1("echo", 0, NULL, NULL, NULL) && sleeper_woke(&a),
	   "a lone task wakes a worker that slept again after its wake-up");
	pthread_join(ta, NULL);
	drain(inc);

	/* A sleeper b, and a wake-up of one worker sent just now that has not
	 * run yet: as far as the queue can tell, b is that worker. */
	start_sleeper(&b, &tb, 1);
	__atomic_store_n(woke_n, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(woke_ns, trq_now(), __ATOMIC_SEQ_CST);
	sent = submit_n(TRQ_TAKE_MAX);
	usleep(50000);
	ok(sent == TRQ_TAKE_MAX && !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST),
	   "every sleeper counted as woken: the batch wakes nobody");
	/* The same with the wake-up stamped by a process that read its clock
	 * after this one did: still fresh, not one from long ago. */
	__atomic_store_n(woke_ns, trq_now() + 1000000ull, __ATOMIC_SEQ_CST);
	sent = submit_n(1);
	usleep(50000);
	ok(sent == 1 && !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST),
	   "a wake-up stamped just after the submitter's clock reading is fresh too");
	/* Another worker falls asleep: more sleepers than woken ones. */
	drain(inc);
	start_sleeper(&c, &tc, 2);
	__atomic_store_n(woke_ns, trq_now(), __ATOMIC_SEQ_CST);
	sent = submit_n(TRQ_TAKE_MAX);
	for (int i = 0; i < 2000 && !__atomic_load_n(&b.done, __ATOMIC_SEQ_CST) &&
	                !__atomic_load_n(&c.done, __ATOMIC_SEQ_CST);
	     i++)
		usleep(1000);
	ok(sent == TRQ_TAKE_MAX && (__atomic_load_n(&b.done, __ATOMIC_SEQ_CST) ||
	                            __atomic_load_n(&c.done, __ATOMIC_SEQ_CST)),
	   "a sleeper that was never woken is: the next batch wakes one");
	/* Whoever is still asleep: a count left by a worker killed before it
	 * ran is ignored once its stamp is stale. */
	drain(inc);
	__atomic_store_n(woke_n, 5, __ATOMIC_SEQ_CST);
	__atomic_store_n(woke_ns, trq_now() - 2 * 200000ull, __ATOMIC_SEQ_CST);
	sent = submit_n(TRQ_TAKE_MAX);
	ok(sent == TRQ_TAKE_MAX && sleeper_woke(&b) && sleeper_woke(&c),
	   "a stale count is ignored: the last sleeper wakes too");
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	drain(inc);
	check("after counted wake-ups");
}

/* A collect of many hands out infos whose buffers may share one block:
 * each stays valid until it is released itself, in any order, and ones too
 * long for the block get their own (ASan checks the memory). Same segment
 * as test_batch_wake. */
/* The submit time of task id as a freshly attached process reads it (0 on
 * any failure). */
static uint64_t submitted_elsewhere(uint64_t id)
{
	int pfd[2];
	uint64_t t = 0;
	if (pipe(pfd) != 0)
		return 0;
	pid_t kid = fork();
	if (kid == 0) {
		struct trq a;
		struct taskring_info in = {0};
		if (trq_attach(&a, qt_instance) == 0 && trq_get_many(&a, 1, &id, &in, 0) == 0)
			t = in.submitted_ns;
		_exit(write(pfd[1], &t, sizeof(t)) == sizeof(t) ? 0 : 1);
	}
	if (read(pfd[0], &t, sizeof(t)) != sizeof(t))
		t = 0;
	waitpid(kid, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	return t;
}

/* Times in taskring_info are the same in every process: each converts the
 * monotonic stamps with the offset in the header, not its own reading of
 * the two clocks (which differ by tens of ns between readings). A damaged
 * offset is not believed. */
static void test_info_clock(void)
{
	uint64_t id = submit1("echo", 0, NULL, NULL, NULL);
	uint64_t theirs[3];
	struct taskring_info in = {0};
	ok(id != 0 && trq_get_many(&q, 1, &id, &in, 0) == 0, "a task, read here");
	uint64_t mine = in.submitted_ns;
	taskring_info_release(&in);
	for (int k = 0; k < 3; k++)
		theirs[k] = submitted_elsewhere(id);
	ok(mine && theirs[0] == mine && theirs[1] == mine && theirs[2] == mine,
	   "three other processes read the same submit time to the ns (%llu: %llu %llu %llu)",
	   (unsigned long long)mine, (unsigned long long)theirs[0], (unsigned long long)theirs[1],
	   (unsigned long long)theirs[2]);
	uint64_t bad = q.hdr->rt_off_ns + 3600ull * 1000000000ull; /* an hour off */
	q.hdr->rt_off_ns = bad;
	uint64_t t = submitted_elsewhere(id);
	ok(t && (t > mine ? t - mine : mine - t) < 1000000000ull,
	   "an offset an hour off in the header is not believed (%llu)", (unsigned long long)t);
	ok(trq_clock_publish(&q) == 1 && q.hdr->rt_off_ns != bad,
	   "and the next publish puts a true one back");
	ok(trq_clock_publish(&q) == 0, "which stays put while the clocks agree");
	drain(qt_worker_start(&q, 0, getpid()));
}

static void test_info_block(void)
{
	enum { N = 64 };
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	drain(inc);
	static char words[N][201];
	uint64_t ids[N];
	int bad = 0;
	for (int i = 0; i < N; i++) {
		size_t len = 1 + (size_t)(i * 37) % 200;
		memset(words[i], 'a' + i % 26, len);
		words[i][len] = 0;
		const char *argv[1] = {words[i]};
		ids[i] = submit1("echo", 1, argv, NULL, NULL);
		bad += !ids[i];
	}
	for (int i = 0; i < N && !bad; i++) {
		struct trq_task t;
		if (take1(0, inc, &t, TASKRING_CPU) != 1 || t.argc != 1) {
			bad++;
			break;
		}
		finish1(0, inc, &t, TASKRING_DONE, t.argv[0]);
	}
	ok(!bad, "%d echo tasks of 1-200 bytes ran", N);
	static struct taskring_info infos[N];
	is_int(trq_get_many(&q, N, ids, infos, 1), 0, "collected in one call");
	for (int i = 0; i < N; i++)
		bad += !infos[i].output || strcmp(infos[i].output, words[i]) != 0 ||
		       infos[i].argc != 1 || strcmp(infos[i].argv[0], words[i]) != 0;
	ok(!bad, "every output and argument right");
	for (int i = N - 1; i >= 0; i--)
		if (i != 5)
			taskring_info_release(&infos[i]);
	ok(strcmp(infos[5].output, words[5]) == 0 && strcmp(infos[5].argv[0], words[5]) == 0,
	   "one kept after the others were released is intact");
	taskring_info_release(&infos[5]);
	ok(infos[5].buf_ == NULL && infos[5].output == NULL, "released: the info is cleared");
	drain(inc);
}

/* The argument checksum covers the whole type field: a byte written after
 * the name's NUL makes the task fail as corrupted, at the take and when a
 * client reads it. */
static void test_type_padding(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	drain(inc);
	uint64_t id = submit1("echo", 0, NULL, NULL, NULL);
	uint32_t idx;
	ok(id && trq_id_slot(&q, id, &idx) == 0, "an echo task queued");
	struct taskring_info info;
	ok(trq_get(&q, id, &info, 0) == 0 && strcmp(info.type, "echo") == 0,
	   "its type reads back while the field is intact");
	taskring_info_release(&info);
	q.meta[idx].type[TRQ_NAME_MAX - 2] = 'x'; /* after the NUL of "echo" */
	ok(trq_get(&q, id, &info, 0) == 0 && strcmp(info.type, "?") == 0,
	   "a byte after the name's NUL: the client shows the type as '?'");
	taskring_info_release(&info);
	struct trq_task t;
	ok(take1(0, inc, &t, TASKRING_CPU) == 1 && t.bad && strstr(t.err, "checksum"),
	   "and the worker refuses the task (%s)", t.err);
	finish1(0, inc, &t, TASKRING_FAILED, t.err);
	drain(inc);
}

/* The word count is outside the checksum: a count that does not fit the
 * words reads back as damage ('?', no words), never as the task with
 * fewer words, and the worker refuses it. */
static void test_argc_damage(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	drain(inc);
	const char *words[] = {"a", "b"};
	uint64_t id = submit1("echo", 2, words, NULL, NULL);
	uint32_t idx;
	ok(id && trq_id_slot(&q, id, &idx) == 0, "an echo task of 2 words queued");
	struct taskring_info info;
	int r = trq_get(&q, id, &info, 0);
	ok(r == 0 && strcmp(info.type, "echo") == 0 && info.argc == 2, "it reads back intact");
	if (r == 0)
		taskring_info_release(&info);
	q.meta[idx].argc = 1;
	r = trq_get(&q, id, &info, 0);
	ok(r == 0 && strcmp(info.type, "?") == 0 && info.argc == 0 && info.argv[0] == NULL,
	   "its word count overwritten: the client shows type '?' and no words (%s, %d)",
	   r == 0 ? info.type : "-", r == 0 ? info.argc : -1);
	if (r == 0)
		taskring_info_release(&info);
	struct trq_task t;
	ok(take1(0, inc, &t, TASKRING_CPU) == 1 && t.bad && strstr(t.err, "words"),
	   "and the worker refuses the task (%s)", t.err);
	finish1(0, inc, &t, TASKRING_FAILED, t.err);
	drain(inc);
}

/* Arguments and results up to TRQ_INLINE bytes live in the slot record,
 * longer ones in the slot's areas; both round-trip, at the edges too, and
 * a short one leaves the areas' pages untouched. */
static void test_inline(void)
{
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	static const unsigned lens[] = {1, TRQ_INLINE - 2, TRQ_INLINE - 1, TRQ_INLINE, 200};
	int bad = 0;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		char word[256];
		memset(word, 'a' + (int)k, lens[k]);
		word[lens[k]] = 0;
		/* sentinels in every slot's areas */
		memset(q.args, 0x5a, (size_t)q.capacity * q.payload_max);
		memset(q.out, 0x5a, (size_t)q.capacity * q.result_max);
		const char *argv[1] = {word};
		uint64_t id = submit1("echo", 1, argv, NULL, NULL);
		struct trq_task t;
		if (!id || take1(0, inc, &t, TASKRING_CPU) != 1 || t.argc != 1 ||
		    strcmp(t.argv[0], word) != 0) {
			bad++;
			continue;
		}
		finish1(0, inc, &t, TASKRING_DONE, word);
		struct taskring_info info;
		if (trq_get(&q, id, &info, 1) || strcmp(info.output, word) != 0 || info.argc != 1 ||
		    strcmp(info.argv[0], word) != 0)
			bad++;
		else
			taskring_info_release(&info);
		/* args_len counts the NUL; out_len does not */
		int args_small = lens[k] + 1 <= TRQ_INLINE, out_small = lens[k] <= TRQ_INLINE;
		unsigned char *ab = q.args + (size_t)t.idx * q.payload_max;
		unsigned char *ob = q.out + (size_t)t.idx * q.result_max;
		if ((ab[0] == 0x5a) != args_small || (ob[0] == 0x5a) != out_small) {
			bad++;
			diag("  length %u: argument area %s, result area %s", lens[k],
			     ab[0] == 0x5a ? "untouched" : "written",
			     ob[0] == 0x5a ? "untouched" : "written");
		}
		if (args_small && memcmp(q.meta[t.idx].args_in, word, lens[k] + 1) != 0)
			bad++;
		if (out_small && memcmp(q.meta[t.idx].out_in, word, lens[k]) != 0)
			bad++;
	}
	ok(!bad, "arguments and results of 1..%u bytes round-trip, inline up to %d", lens[4],
	   TRQ_INLINE);
	drain(inc);
	check("after inline and area results");
}

/* trq_sum() notices any one flipped bit, in its four-lane part (inputs of
 * 64 bytes or more), its word loop and its byte tail, and a swap of two
 * words in different lanes. */
static void test_sum(void)
{
	static unsigned char buf[1003];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	int missed = 0, n = 0;
	static const size_t lens[] = {7, 63, 64, 1003};
	for (size_t k = 0; k < 4; k++) {
		uint32_t base = trq_sum(2166136261u, buf, lens[k]);
		for (size_t bit = 0; bit < lens[k] * 8; bit++, n++) {
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			missed += trq_sum(2166136261u, buf, lens[k]) == base;
			buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
		}
	}
	unsigned char sw[64];
	memcpy(sw, buf, 64);
	uint32_t before = trq_sum(2166136261u, sw, 64);
	memcpy(sw, buf + 8, 8); /* words 0 and 1 swapped: lanes 0 and 1 */
	memcpy(sw + 8, buf, 8);
	ok(!missed && trq_sum(2166136261u, sw, 64) != before,
	   "trq_sum changes with each of %d one-bit flips and with swapped words", n);
}

/* trq_cancel_queued: every queued task of one type, or all of them. The
 * others keep their order, the cancelled ones count as read (their slots
 * can be reused), a client waiting for one is woken, a detached one is
 * freed, a running one is left alone. */
static void test_cancel_queued(void)
{
	static const char gone[TRQ_NAME_MAX] = "gone"; /* a whole type field */
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	struct trq_task t;
	struct taskring_info info;
	uint64_t n = 99, e[4], k[3];
	int err;
	drain(inc);
	uint64_t run = submit1("echo", 0, NULL, NULL, NULL);
	is_int(take1(0, inc, &t, TASKRING_CPU), 1, "one echo task running");
	for (int i = 0; i < 4; i++) {
		e[i] = submit1("echo", 0, NULL, NULL, &err);
		if (i < 3)
			k[i] = submit1("noop", 0, NULL, NULL, &err);
	}
	uint64_t io = submit1("sleep", 0, NULL, NULL, NULL);
	uint64_t det =
	    submit1("echo", 0, NULL, &(struct taskring_opts){.flags = TASKRING_DETACHED}, NULL);
	ok(e[3] && k[2] && io && det,
	   "queued: 4 echo and 3 noop interleaved, a sleep, a detached echo");
	int64_t spin = q.spin_ns;
	q.spin_ns = 0; /* the waiter sleeps at once */
	struct waiter w = {.id = e[1]};
	pthread_t th;
	pthread_create(&th, NULL, wait_for_task, &w);
	uint32_t idx = (uint32_t)((e[1] - 1) % q.capacity);
	for (int i = 0; i < 20000 && !__atomic_load_n(&q.meta[idx].nwait, __ATOMIC_SEQ_CST); i++)
		usleep(100);
	uint64_t cancelled = q.hdr->cancelled;
	uint32_t nfree = trq_free_slots(&q, trq_now());
	is_int(trq_cancel_queued(&q, "echo", &n), 0, "cancel the queued echo tasks");
	is_int((int)n, 5, "5 of them (one detached)");
	pthread_join(th, NULL);
	q.spin_ns = spin;
	ok(w.r == 0 && w.took < 2.0, "a client asleep on one was woken (%d, %.3f s)", w.r, w.took);
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		if (trq_get(&q, e[i], &info, 0) != 0 || info.state != TASKRING_CANCELLED ||
		    strcmp(info.output, "cancelled before it ran") != 0)
			bad++;
		taskring_info_release(&info);
	}
	is_int(bad, 0, "each reads as cancelled before it ran");
	is_int(trq_peek(&q, det), -TASKRING_EEXPIRED, "the detached one is freed");
	is_int(trq_peek(&q, run), TASKRING_RUNNING, "the running echo is left alone");
	is_int((int)(q.hdr->cancelled - cancelled), 5, "the cancelled total counts 5");
	is_int((int)trq_free_slots(&q, trq_now()), (int)nfree + 4,
	       "4 of their slots can be reused at once (read, or freed), not the one waited for");
	is_int(trq_get(&q, e[1], NULL, 1), 0, "its waiter reads it");
	is_int((int)trq_free_slots(&q, trq_now()), (int)nfree + 5,
	       "then its slot can be reused too");
	/* A client still spinning in trq_wait_final has marked the task
	 * watched but is not counted in nwait yet: not marked read either, so
	 * its slot is not reused before that client reads it. */
	uint64_t sp = submit1("echo", 0, NULL, NULL, NULL);
	__atomic_store_n(&q.meta[(sp - 1) % q.capacity].watch, 1, __ATOMIC_SEQ_CST);
	nfree = trq_free_slots(&q, trq_now());
	is_int(trq_cancel_queued(&q, "echo", &n), 0, "cancel a watched echo task");
	ok(n == 1 && trq_free_slots(&q, trq_now()) == nfree,
	   "cancelled, and its slot is not reusable yet (%d)", (int)n);
	ok(trq_get(&q, sp, &info, 1) == 0 && info.state == TASKRING_CANCELLED,
	   "its client reads it cancelled");
	taskring_info_release(&info);
	trq_flush_reads(&q);
	is_int((int)trq_free_slots(&q, trq_now()), (int)nfree + 1, "then its slot can be reused");
	check("after cancelling the queued echo tasks");
	struct trq_task t2;
	int order = 0;
	for (int i = 0; i < 3; i++)
		if (take1(0, inc, &t2, TASKRING_CPU) == 1 && t2.id == k[i] &&
		    finish1(0, inc, &t2, TASKRING_DONE, "") == 0)
			order++;
	is_int(order, 3, "the 3 noops stay queued, in their order");
	is_int(trq_peek(&q, io), TASKRING_QUEUED, "the io task is still queued");
	n = 99;
	is_int(trq_cancel_queued(&q, "noop", &n), 0, "a type with nothing queued: 0");
	is_int((int)n, 0, "cancelled none");
	is_int(trq_cancel_queued(&q, NULL, &n), 0, "cancel every queued task");
	ok(n == 1 && trq_peek(&q, io) == TASKRING_CANCELLED, "the sleep (io) task (%d)", (int)n);
	n = 99;
	is_int(trq_cancel_queued(&q, "nosuch", &n), -TASKRING_EBADTYPE,
	       "a type nobody registered and no task has: EBADTYPE");
	is_int((int)n, 0, "and a count of 0");
	is_int(trq_cancel_queued(&q, "", NULL), -TASKRING_EBADTYPE, "an empty name: EBADTYPE");
	is_int(trq_cancel_queued(&q, "a-type-name-of-thirty-two-chars!", NULL), -TASKRING_EBADTYPE,
	       "a name too long: EBADTYPE");
	/* A type the registry no longer has (a reload removed it) is found. */
	uint64_t old = submit1("noop", 0, NULL, NULL, NULL);
	strcpy(q.meta[(old - 1) % q.capacity].type, "gone");
	q.meta[(old - 1) % q.capacity].args_sum = trq_args_sum(gone, "", 0);
	is_int(trq_cancel_queued(&q, "gone", &n), 0, "a type no longer registered");
	ok(n == 1 && trq_peek(&q, old) == TASKRING_CANCELLED, "its queued task is cancelled");
	/* A damaged ring is rebuilt from the table, then walked. */
	uint64_t d = submit1("noop", 0, NULL, NULL, NULL);
	q.hdr->ring_count[0] = q.capacity + 5;
	is_int(trq_cancel_queued(&q, "noop", &n), 0, "a damaged ring count: rebuilt, then walked");
	ok(n == 1 && trq_peek(&q, d) == TASKRING_CANCELLED, "its task is cancelled");
	/* A bad entry met part of the way: the tasks cancelled before it are
	 * counted, and their waiters woken, as well as those of the walk
	 * after the rebuild. */
	uint64_t pa = submit1("noop", 0, NULL, NULL, NULL),
	         pb = submit1("noop", 0, NULL, NULL, NULL);
	uint32_t rh = q.hdr->ring_head[0] % q.capacity;
	ok(pa && pb && q.hdr->ring_count[0] == 2 && q.ring[0][rh] == (pa - 1) % q.capacity,
	   "two noops queued");
	q.spin_ns = 0;
	struct waiter wa = {.id = pa};
	pthread_create(&th, NULL, wait_for_task, &wa);
	idx = (uint32_t)((pa - 1) % q.capacity);
	for (int i = 0; i < 20000 && !__atomic_load_n(&q.meta[idx].nwait, __ATOMIC_SEQ_CST); i++)
		usleep(100);
	/* The second entry names the running task (pb is in no ring). */
	q.ring[0][(rh + 1) % q.capacity] = (uint32_t)((run - 1) % q.capacity);
	n = 99;
	is_int(trq_cancel_queued(&q, "noop", &n), 0, "a ring entry that is not queued, mid-walk");
	pthread_join(th, NULL);
	q.spin_ns = spin;
	ok(trq_peek(&q, pa) == TASKRING_CANCELLED && trq_peek(&q, pb) == TASKRING_CANCELLED,
	   "both noops cancelled");
	is_int((int)n, 2, "both counted, the one before the bad entry too");
	ok(wa.r == 0 && wa.took < 0.5, "the waiter on the one before it was woken (%d, %.3f s)",
	   wa.r, wa.took);
	/* The same with a type no longer registered: the one cancelled
	 * before the bad entry makes it no typing error. */
	uint64_t g = submit1("noop", 0, NULL, NULL, NULL);
	strcpy(q.meta[(g - 1) % q.capacity].type, "gone");
	q.meta[(g - 1) % q.capacity].args_sum = trq_args_sum(gone, "", 0);
	rh = q.hdr->ring_head[0] % q.capacity;
	q.ring[0][(rh + 1) % q.capacity] = (uint32_t)((run - 1) % q.capacity);
	q.hdr->ring_count[0] = 2;
	n = 99;
	is_int(trq_cancel_queued(&q, "gone", &n), 0, "a removed type, a bad entry after its task");
	ok(n == 1 && trq_peek(&q, g) == TASKRING_CANCELLED, "its task cancelled and counted (%d)",
	   (int)n);
	check("after cancelling every queued task");
	is_int(finish1(0, inc, &t, TASKRING_DONE, "x"), 0, "the running task finishes");
	drain(inc);
	/* Tasks a worker took in one batch show as running and are left alone,
	 * also those it has not started: it may have run them already and not
	 * handed in their results (cancel each by id). */
	static char buf[1 << 20] __attribute__((aligned(16)));
	struct trq_task tb[3];
	struct trq_result res[3];
	for (int i = 0; i < 3; i++)
		submit1("echo", 0, NULL, NULL, NULL);
	is_int(trq_take(&q, TASKRING_CPU, 0, inc, 3, tb, buf, sizeof(buf)), 3,
	       "a worker takes 3 echo tasks in one batch");
	is_int(trq_cancel_queued(&q, "echo", &n), 0, "cancel the queued echo tasks");
	int flagged = 0;
	for (int i = 0; i < 3; i++) {
		flagged += !!(q.meta[tb[i].idx].flags & TRQ_F_CANCEL);
		res[i] = (struct trq_result){tb[i].idx, tb[i].id, TASKRING_DONE, 0, ""};
	}
	ok(n == 0 && !flagged, "none of the batch is cancelled (%d, %d flagged)", (int)n, flagged);
	is_int(trq_finish(&q, 0, inc, 3, res), 0, "the worker finishes the batch");
	drain(inc);
	check("drained");
}

int main(void)
{
	qt_setup("queue", 120);
	int r = qt_create(&q, 16, 4096, 4096);
	if (!ok(r == 0, "create segment")) {
		diag("  trq_create: %s", taskring_strerror(r));
		return tap_done();
	}
	struct trq again;
	is_int(trq_create(&again, qt_instance, &(struct trq_geom){16, 4096, 4096}, 0600, -1),
	       -EEXIST, "create refuses an existing name");
	test_sum();
	test_transitions();
	test_full_and_reclaim();
	test_batch_full();
	test_huge_timeouts();
	test_cancel_survives_adoption();
	test_read_marks();
	test_inline();
	test_skipped_wake();
	test_sleeping_waiters();
	test_nap();
	test_giveback();
	test_owner_dead();
	test_cancel_queued();
	test_lock_stopped();
	test_orphaned();
	test_gen_wrap();
	test_lock_busy();
	test_attach_refusals();
	test_nap_full();
	test_batch_wake();
	test_woke_count();
	test_type_padding();
	test_argc_damage();
	test_info_block();
	test_info_clock();
	trq_detach(&q);
	return tap_done();
}
