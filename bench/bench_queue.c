/*
 * bench_queue.c - the queue alone: 1 producer -> 2 consumer processes on a
 * private segment, no-op tasks, results returned to the producer.
 *
 * Modes, each run for several rounds in the same process so they share the
 * machine's state, reported as median (min..max) tasks/s:
 *   ring     floor: one process, 1 producer + 2 consumer threads, a plain
 *            mutex + 2 condvars ring of 64-byte records, one per operation,
 *            no results;
 *   single   taskring, one task per submit and one result per collect;
 *   batch64  taskring, submit_batch of 64 and one collect per 64.
 *
 * Usage: bench_queue [--smoke] [--rounds N] [--tasks N]
 * Prints a table; never fails on numbers (exit 1 only on errors).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"

static char inst[48];
static struct trq q;

/* ---- the floor: a mutex + condvar ring between threads ------------------ */

enum { RING = 1024 };
struct rec {
	char b[64];
};
static struct {
	pthread_mutex_t m;
	pthread_cond_t not_empty, not_full;
	struct rec r[RING];
	unsigned head, count, done_producing;
	unsigned long consumed;
} ring = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void *ring_consumer(void *arg)
{
	(void)arg;
	for (;;) {
		struct rec x;
		pthread_mutex_lock(&ring.m);
		while (!ring.count && !ring.done_producing)
			pthread_cond_wait(&ring.not_empty, &ring.m);
		if (!ring.count) {
			pthread_mutex_unlock(&ring.m);
			return NULL;
		}
		x = ring.r[ring.head];
		ring.head = (ring.head + 1) % RING;
		ring.count--;
		ring.consumed++;
		pthread_cond_signal(&ring.not_full);
		pthread_mutex_unlock(&ring.m);
		__asm__ volatile("" ::"r"(x.b[0]));
	}
}

static double run_ring(unsigned long n)
{
	pthread_t t[2];
	ring.head = ring.count = ring.done_producing = 0;
	ring.consumed = 0;
	uint64_t t0 = trq_now();
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, ring_consumer, NULL);
	for (unsigned long i = 0; i < n; i++) {
		pthread_mutex_lock(&ring.m);
		while (ring.count == RING)
			pthread_cond_wait(&ring.not_full, &ring.m);
		ring.r[(ring.head + ring.count) % RING].b[0] = (char)i;
		ring.count++;
		pthread_cond_signal(&ring.not_empty);
		pthread_mutex_unlock(&ring.m);
	}
	pthread_mutex_lock(&ring.m);
	ring.done_producing = 1;
	pthread_cond_broadcast(&ring.not_empty);
	pthread_mutex_unlock(&ring.m);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return (double)n / ((double)(trq_now() - t0) / 1e9);
}

/* ---- taskring ----------------------------------------------------------- */

static void consumer(int w, uint32_t inc)
{
	enum { B = 64 };
	size_t alen = trq_argbuf_size(&q, B);
	void *abuf = malloc(alen);
	struct trq_task tasks[B];
	struct trq_result res[B];
	for (;;) {
		uint32_t seen = __atomic_load_n(&q.hdr->q_seq[TASKRING_CPU], __ATOMIC_ACQUIRE);
		int n = trq_take(&q, TASKRING_CPU, w, inc, B, tasks, abuf, alen);
		if (n < 0)
			_exit(2);
		if (n == 0) {
			trq_wait_work_w(&q, TASKRING_CPU, w, seen, trq_now() + 1000000000ull);
			continue;
		}
		for (int i = 0; i < n; i++)
			res[i] =
			    (struct trq_result){tasks[i].idx, tasks[i].id, TASKRING_DONE, 0, ""};
		trq_finish(&q, w, inc, (unsigned)n, res);
		trq_nap(&q, TASKRING_CPU, w, tasks, (unsigned)n); /* as workers do */
	}
}

/* window: tasks in flight; batch: tasks per submit and per collect. */
static double run_taskring(unsigned long n, unsigned batch, unsigned window)
{
	uint64_t *ids = malloc(sizeof(uint64_t) * window);
	struct taskring_req reqs[64];
	for (unsigned i = 0; i < batch; i++)
		reqs[i] = (struct taskring_req){"noop", 0, NULL};
	struct taskring_opts o = {.timeout_ms = 10000};
	unsigned long sent = 0, got = 0;
	unsigned head = 0; /* ring of in-flight ids, `window` long, multiples of batch */
	uint64_t t0 = trq_now();
	while (got < n) {
		while (sent < n && sent - got + batch <= window) {
			int k =
			    trq_submit(&q, batch, reqs, &o, &ids[(head + (sent - got)) % window]);
			if (k != (int)batch) {
				fprintf(stderr, "submit: %s\n", taskring_strerror(k));
				exit(1);
			}
			sent += batch;
		}
		uint64_t *chunk = &ids[head];
		uint64_t dl = trq_now() + 10000000000ull; /* one deadline, as wait_many has */
		for (unsigned i = 0; i < batch; i++) {
			int r = trq_wait_final(&q, chunk[i], dl);
			if (r) {
				fprintf(stderr, "wait: %s\n", taskring_strerror(r));
				exit(1);
			}
		}
		struct taskring_info infos[64];
		int r = trq_get_many(&q, batch, chunk, infos, 1);
		if (r) {
			fprintf(stderr, "collect: %s\n", taskring_strerror(r));
			exit(1);
		}
		taskring_info_release_many(batch, infos);
		head = (head + batch) % window;
		got += batch;
	}
	free(ids);
	return (double)n / ((double)(trq_now() - t0) / 1e9);
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, double *v, int n, double floor)
{
	qsort(v, (size_t)n, sizeof(*v), cmpd);
	double med = v[n / 2];
	printf("%-10s %12.0f %12.0f %12.0f", name, med, v[0], v[n - 1]);
	if (floor > 0)
		printf("   %6.2fx", med / floor);
	printf("\n");
}

int main(int argc, char **argv)
{
	int rounds = 5;
	unsigned long tasks = 2000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke")) {
			rounds = 1;
			tasks = 20000;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--tasks") && i + 1 < argc) {
			tasks = strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: bench_queue [--smoke] [--rounds N] [--tasks N]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 50 || tasks < 1000)
		return 2;
	tasks -= tasks % 64;
	snprintf(inst, sizeof(inst), "bench-q-%d", (int)getpid());
	struct trq_geom g = {65536, 64, 64};
	const char *sp = getenv("TR_SPIN_NS");
	int r = trq_create(&q, inst, &g, 0600, -1);
	if (r) {
		fprintf(stderr, "trq_create: %s\n", taskring_strerror(r));
		return 1;
	}
	if (sp)
		q.spin_ns = atoll(sp);
	const char *np = getenv("TR_NAP_NS"); /* for measuring: negative turns naps off */
	if (np)
		q.nap_ns = atoll(np);
	static const struct trq_type types[] = {{"noop", TASKRING_CPU, 0}};
	trq_set_types(&q, types, 1);
	pid_t kids[2];
	for (int w = 0; w < 2; w++) {
		trq_lock(&q, 0);
		q.workers[w].inc = 1;
		q.workers[w].state = TRQ_W_READY;
		trq_unlock(&q);
		fflush(stdout);
		kids[w] = fork();
		if (kids[w] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			consumer(w, 1);
		}
	}
	double vr[50], vs[50], vb[50];
	const char *only = getenv("TR_BENCH_ONLY"); /* ring, single or batch64: for profiling */
	for (int i = 0; i < rounds; i++) {
		vr[i] = !only || !strcmp(only, "ring") ? run_ring(tasks) : 1;
		vs[i] = !only || !strcmp(only, "single") ? run_taskring(tasks / 4, 1, 256) : 1;
		vb[i] = !only || !strcmp(only, "batch64") ? run_taskring(tasks, 64, 1024) : 1;
	}
	printf("queue benchmark: 1 producer -> 2 consumers, no-op tasks, %d rounds\n", rounds);
	printf("%-10s %12s %12s %12s   %s\n", "mode", "median/s", "min/s", "max/s", "vs ring");
	report("ring", vr, rounds, 0);
	double floor = vr[rounds / 2];
	report("single", vs, rounds, floor);
	report("batch64", vb, rounds, floor);
	for (int w = 0; w < 2; w++) {
		kill(kids[w], SIGKILL);
		waitpid(kids[w], NULL, 0);
	}
	trq_detach(&q);
	trq_unlink(inst);
	return 0;
}
