/*
 * test_killstorm.c - producers and consumers on one segment while a killer
 * SIGKILLs random ones every few milliseconds for TR_STORM_S seconds
 * (default 10). A purger among them submits noop tasks and cancels every
 * queued noop (trq_cancel_queued), killed mid-walk now and then too. The
 * test's parent plays the supervisor: it reaps dead consumers, hands their
 * tasks back with trq_worker_lost() and respawns everything it killed.
 *
 * Afterwards: every task whose submit returned success is done with the
 * right result, none is lost or stuck running, the free count is back to
 * capacity once results are collected, the invariant checker passes, and no
 * operation waited past its deadline.
 */
#include <sys/mman.h>

#include "qtest.h"
#include "tap.h"

enum { NP = 3, NC = 3, MAXLOG = 1 << 18, MIN_ACCEPTED = 1000 };

struct shared {
	uint64_t seq[NP];
	uint32_t nlog[NP];
	uint64_t log[NP][MAXLOG];
	uint32_t wrong, overrun, errors, timeouts;
	uint64_t verified;
	uint64_t purged; /* noop tasks the purger's trq_cancel_queued counted */
	uint64_t max_wait_ns;
};

static struct trq q;
static struct shared *sh;

static void note_wait(uint64_t t0, uint64_t deadline)
{
	uint64_t now = trq_now(), d = now - t0;
	if (d > __atomic_load_n(&sh->max_wait_ns, __ATOMIC_RELAXED))
		__atomic_store_n(&sh->max_wait_ns, d, __ATOMIC_RELAXED);
	/* 1 s of slack for scheduling on a loaded 2-core machine. */
	if (deadline && now > deadline + 1000000000ull)
		__atomic_add_fetch(&sh->overrun, 1, __ATOMIC_RELAXED);
}

/* Waits (10 s at most) for task id to end, noting the wait, then copies it
 * into *info and marks it read. Returns 0 or the error. */
static int collect(uint64_t id, struct taskring_info *info)
{
	uint64_t t0 = trq_now(), dl = t0 + 10000000000ull;
	int r = trq_wait_final(&q, id, dl);
	note_wait(t0, dl);
	return r ? r : trq_get(&q, id, info, 1);
}

static void producer(int p)
{
	char words[8][2][32];
	const char *argv[8][2];
	struct taskring_req reqs[8];
	uint64_t ids[8];
	for (;;) {
		int k = 1 + rand() % 8;
		for (int i = 0; i < k; i++) {
			uint64_t s = __atomic_add_fetch(&sh->seq[p], 1, __ATOMIC_RELAXED);
			snprintf(words[i][0], sizeof(words[i][0]), "p%d", p);
			snprintf(words[i][1], sizeof(words[i][1]), "%llu", (unsigned long long)s);
			argv[i][0] = words[i][0];
			argv[i][1] = words[i][1];
			reqs[i] = (struct taskring_req){"echo", 2, argv[i]};
		}
		struct taskring_opts o = {.timeout_ms = 5000};
		uint64_t t0 = trq_now(), dl = t0 + 5000000000ull;
		int n = trq_submit(&q, (size_t)k, reqs, &o, ids);
		note_wait(t0, dl);
		if (n == -ETIMEDOUT) {
			__atomic_add_fetch(&sh->timeouts, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (n < 0) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			_exit(20);
		}
		for (int i = 0; i < n; i++) {
			uint32_t at = __atomic_fetch_add(&sh->nlog[p], 1, __ATOMIC_RELAXED);
			if (at < MAXLOG)
				__atomic_store_n(&sh->log[p][at], ids[i], __ATOMIC_RELAXED);
		}
		for (int i = 0; i < n; i++) {
			struct taskring_info info;
			int r = collect(ids[i], &info);
			if (r == -ETIMEDOUT) {
				__atomic_add_fetch(&sh->timeouts, 1, __ATOMIC_RELAXED);
				continue;
			}
			if (r) {
				__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
				continue;
			}
			char want[80];
			snprintf(want, sizeof(want), "%s %s", argv[i][0], argv[i][1]);
			if (info.state != TASKRING_DONE || strcmp(info.output, want) != 0)
				__atomic_add_fetch(&sh->wrong, 1, __ATOMIC_RELAXED);
			else
				__atomic_add_fetch(&sh->verified, 1, __ATOMIC_RELAXED);
			taskring_info_release(&info);
		}
	}
}

/* Submits 16 noop tasks, cancels every queued noop, collects its own (done
 * or cancelled), over and over. The echo tasks of the producers are never
 * cancelled. */
static void purger(void)
{
	struct taskring_req reqs[16];
	uint64_t ids[16];
	for (int i = 0; i < 16; i++)
		reqs[i] = (struct taskring_req){"noop", 0, NULL};
	for (;;) {
		struct taskring_opts o = {.timeout_ms = 5000};
		uint64_t t0 = trq_now(), dl = t0 + 5000000000ull, n = 0;
		int k = trq_submit(&q, 16, reqs, &o, ids);
		note_wait(t0, dl);
		if (k == -ETIMEDOUT) {
			__atomic_add_fetch(&sh->timeouts, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (k < 0 || trq_cancel_queued(&q, "noop", &n) != 0) {
			__atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
			_exit(21);
		}
		__atomic_add_fetch(&sh->purged, n, __ATOMIC_RELAXED);
		for (int i = 0; i < k; i++) {
			struct taskring_info info;
			int r = collect(ids[i], &info);
			if (r) {
				__atomic_add_fetch(r == -ETIMEDOUT ? &sh->timeouts : &sh->errors, 1,
				                   __ATOMIC_RELAXED);
				continue;
			}
			if (info.state != TASKRING_DONE && info.state != TASKRING_CANCELLED)
				__atomic_add_fetch(&sh->wrong, 1, __ATOMIC_RELAXED);
			taskring_info_release(&info);
		}
		usleep(1000);
	}
}

static pid_t spawn(int role, int idx, uint32_t inc)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		srand((unsigned)getpid());
		if (role == 0)
			producer(idx);
		else if (role == 2)
			purger();
		else
			qt_consume(&q, idx, inc, 0);
		_exit(0);
	}
	return pid;
}

/* Checks that task info holds the echo of its own arguments. */
/* Tasks the producers logged as accepted so far (entries claimed by a
 * producer killed before it wrote the id do not count). */
static unsigned accepted(void)
{
	unsigned n = 0;
	for (int p = 0; p < NP; p++) {
		uint32_t k = __atomic_load_n(&sh->nlog[p], __ATOMIC_RELAXED);
		if (k > MAXLOG)
			k = MAXLOG;
		for (uint32_t i = 0; i < k; i++)
			n += __atomic_load_n(&sh->log[p][i], __ATOMIC_RELAXED) != 0;
	}
	return n;
}

static int echo_right(const struct taskring_info *in)
{
	char want[128] = "";
	for (int i = 0; i < in->argc; i++) {
		if (i)
			strcat(want, " ");
		strncat(want, in->argv[i], 40);
	}
	if (in->state == TASKRING_CANCELLED) /* only the purger's noop tasks */
		return strcmp(in->type, "noop") == 0 && !in->argc &&
		       strcmp(in->output, "cancelled before it ran") == 0;
	return in->state == TASKRING_DONE && strcmp(in->output, want) == 0;
}

int main(void)
{
	int secs = getenv("TR_STORM_S") ? atoi(getenv("TR_STORM_S")) : 10;
	if (secs < 1)
		secs = 1;
	qt_setup("storm", (unsigned)secs + 300);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int r = qt_create(&q, 4096, 256, 256);
	if (!ok(r == 0 && sh != MAP_FAILED, "segment created"))
		return tap_done();

	pid_t prod[NP], cons[NC];
	uint32_t inc[NC];
	for (int i = 0; i < NC; i++) {
		inc[i] = qt_worker_start(&q, i, 0);
		cons[i] = spawn(1, i, inc[i]);
		q.workers[i].pid = cons[i];
	}
	for (int i = 0; i < NP; i++)
		prod[i] = spawn(0, i, 0);
	pid_t purge = spawn(2, 0, 0);

	unsigned kills_p = 0, kills_c = 0, kills_u = 0, requeued = 0, unexpected = 0;
	/* Storm for `secs`, and on until MIN_ACCEPTED tasks were accepted, so a
	 * slow machine (valgrind, a loaded CI host) still puts enough tasks
	 * through the kills; the hard cap keeps a stalled queue from hanging. */
	uint64_t end = trq_now() + (uint64_t)secs * 1000000000ull;
	uint64_t cap = end + 120000000000ull;
	for (;;) {
		uint64_t now = trq_now();
		if (now >= cap || (now >= end && accepted() >= MIN_ACCEPTED))
			break;
		usleep(1000 + (unsigned)(rand() % 7000));
		int v = rand() % (NP + NC + 1);
		pid_t pid = v < NP ? prod[v] : v < NP + NC ? cons[v - NP] : purge;
		kill(pid, SIGKILL);
		int st;
		waitpid(pid, &st, 0);
		if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL))
			unexpected++;
		if (v < NP) {
			kills_p++;
			prod[v] = spawn(0, v, 0);
		} else if (v == NP + NC) {
			kills_u++;
			purge = spawn(2, 0, 0);
		} else {
			int w = v - NP;
			kills_c++;
			int n = qt_worker_dead(&q, w, 0, NULL);
			if (n > 0)
				requeued += (unsigned)n;
			inc[w] = qt_worker_start(&q, w, 0);
			cons[w] = spawn(1, w, inc[w]);
			q.workers[w].pid = cons[w];
		}
	}
	for (int i = 0; i < NP; i++) {
		kill(prod[i], SIGKILL);
		waitpid(prod[i], NULL, 0);
	}
	kill(purge, SIGKILL);
	waitpid(purge, NULL, 0);
	/* Let the consumers drain what is left. */
	uint64_t dl = trq_now() + 60000000000ull;
	while (trq_now() < dl) {
		trq_lock(&q, 0);
		uint32_t left = q.hdr->ring_count[0] + q.hdr->running[0];
		trq_unlock(&q);
		if (!left)
			break;
		usleep(10000);
	}
	for (int i = 0; i < NC; i++) {
		kill(cons[i], SIGKILL);
		waitpid(cons[i], NULL, 0);
		qt_worker_dead(&q, i, 0, NULL);
	}
	diag("kills: %u producers, %u consumers, %u purgers; %u tasks requeued; %llu results "
	     "verified by producers; %llu noop tasks purged; longest wait %.1f ms; %u repairs",
	     kills_p, kills_c, kills_u, requeued, (unsigned long long)sh->verified,
	     (unsigned long long)sh->purged, sh->max_wait_ns / 1e6, (unsigned)q.hdr->repairs);
	ok(kills_p + kills_c + kills_u > (unsigned)secs * 3, "the killer killed (%u)",
	   kills_p + kills_c + kills_u);
	ok(sh->purged > 0, "the purger cancelled queued noop tasks (%llu)",
	   (unsigned long long)sh->purged);
	is_int(unexpected, 0, "every victim died of our SIGKILL, none crashed on its own");
	is_int(sh->wrong, 0, "no producer saw a wrong result");
	is_int(sh->errors, 0, "no producer operation failed");
	is_int(sh->overrun, 0, "no operation waited past its deadline");
	is_int(sh->timeouts, 0, "no operation timed out");
	char msg[256];
	r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "invariant checker passes"))
		diag("  %s", msg);

	/* Every accepted (logged) task is done with the right result. */
	unsigned logged = 0, bad = 0, lost = 0, expired = 0;
	for (int p = 0; p < NP; p++) {
		uint32_t n = sh->nlog[p] < MAXLOG ? sh->nlog[p] : MAXLOG;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t id = sh->log[p][i];
			if (!id)
				continue; /* killed between claiming and writing the entry */
			logged++;
			struct taskring_info info;
			int st = trq_peek(&q, id);
			if (st == -TASKRING_EEXPIRED) {
				/* Reclaimed: only read results are, within the 300 s TTL,
				 * so a client got it (a producer checked it). */
				expired++;
				continue;
			}
			if (trq_get(&q, id, &info, 0) != 0) {
				lost++;
				continue;
			}
			if (!echo_right(&info))
				bad++;
			taskring_info_release(&info);
		}
	}
	ok(logged >= MIN_ACCEPTED, "many tasks accepted (%u; %u read and reclaimed)", logged,
	   expired);
	is_int(lost, 0, "no accepted task lost");
	is_int(bad, 0, "every accepted task done with the right result");
	/* Nothing in the table is stuck or wrong, logged or not. */
	unsigned stuck = 0, wrong = 0, total = 0;
	for (uint32_t i = 0; i < q.capacity; i++) {
		uint32_t st = q.meta[i].state;
		if (st == TASKRING_FREE)
			continue;
		total++;
		if (st == TASKRING_QUEUED || st == TASKRING_RUNNING) {
			stuck++;
			continue;
		}
		struct taskring_info info;
		if (trq_get(&q, q.meta[i].id, &info, 1) == 0) {
			if (!echo_right(&info) && wrong++ < 5)
				diag("  task %llu: state %d, attempts %u, %d args (first '%s'), "
				     "output "
				     "'%.60s'",
				     (unsigned long long)info.id, info.state, info.attempts,
				     info.argc, info.argc ? info.argv[0] : "", info.output);
			taskring_info_release(&info);
		}
	}
	is_int(stuck, 0, "no task stuck queued or running (of %u in the table)", total);
	is_int(wrong, 0, "every task in the table is done with its right result");
	trq_lock(&q, 0);
	uint32_t nfree = trq_free_slots(&q, trq_now());
	trq_unlock(&q);
	is_int(nfree, q.capacity, "free count back to capacity after collecting results");
	r = trq_check(&q, msg, sizeof(msg));
	if (!ok(r == 0, "invariant checker passes at the end"))
		diag("  %s", msg);
	trq_detach(&q);
	return tap_done();
}
