/*
 * qtest.h - helpers for the queue tests: a private segment with a unique
 * instance name, a test type registry, worker records the test's parent
 * manages as a supervisor would, and a minimal consumer loop.
 *
 * Every test calls qt_setup() first: it puts the test in its own process
 * group, and qt_cleanup() (also run from a watchdog alarm) removes the
 * segment and kills the group, so a failed test leaves nothing behind.
 */
#ifndef TR_QTEST_H
#define TR_QTEST_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

static char qt_instance[40];

static void qt_unlink(void)
{
	if (qt_instance[0])
		trq_unlink(qt_instance);
}

static void qt_watchdog(int sig)
{
	static const char msg[] = "not ok - watchdog: test ran past its deadline\n";
	(void)sig;
	ssize_t w = write(1, msg, sizeof(msg) - 1);
	(void)w;
	qt_unlink();
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGKILL);
	_exit(1);
}

/* Own process group, unique instance name, watchdog of `seconds`. */
__attribute__((unused)) static void qt_setup(const char *tag, unsigned seconds)
{
	setpgid(0, 0);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	snprintf(qt_instance, sizeof(qt_instance), "t-%s-%d-%04x", tag, (int)getpid(),
	         (unsigned)rand() & 0xffff);
	signal(SIGALRM, qt_watchdog);
	alarm(seconds);
	atexit(qt_unlink);
}

/* Creates the segment and registers the test types. */
__attribute__((unused)) static int qt_create(struct trq *q, uint32_t cap, uint32_t payload,
                                             uint32_t result)
{
	struct trq_geom g = {cap, payload, result};
	int r = trq_create(q, qt_instance, &g, 0600, -1);
	if (r)
		return r;
	static const struct trq_type types[] = {
	    {"noop", TASKRING_CPU, 0},
	    {"echo", TASKRING_CPU, 0},
	    {"sleep", TASKRING_IO, 0},
	    {"exec", TASKRING_CPU, TRQ_T_ANYCLASS},
	};
	return trq_set_types(q, types, 4);
}

/* Marks worker w as a live incarnation (as the supervisor does at fork). */
__attribute__((unused)) static uint32_t qt_worker_start(struct trq *q, int w, pid_t pid)
{
	trq_lock(q, 0);
	struct trq_worker *wk = &q->workers[w];
	wk->inc++;
	wk->pid = pid;
	wk->state = TRQ_W_READY;
	uint32_t inc = wk->inc;
	trq_unlock(q);
	return inc;
}

/* Marks worker w dead and hands its tasks back (charge_id 0: uncharged);
 * the tasks failed for good go to *rep (NULL: not wanted). */
__attribute__((unused)) static int qt_worker_dead_report(struct trq *q, int w, uint64_t charge_id,
                                                         const char *cause,
                                                         struct trq_lost_report *rep)
{
	trq_lock(q, 0);
	q->workers[w].state = TRQ_W_DEAD;
	uint32_t inc = q->workers[w].inc;
	trq_unlock(q);
	return trq_worker_lost(q, w, inc, charge_id, cause, rep);
}

__attribute__((unused)) static int qt_worker_dead(struct trq *q, int w, uint64_t charge_id,
                                                  const char *cause)
{
	return qt_worker_dead_report(q, w, charge_id, cause, NULL);
}

/* Joins argv with single spaces into out (the echo task). */
__attribute__((unused)) static uint32_t qt_echo(const struct trq_task *t, char *out, size_t max)
{
	size_t n = 0;
	for (uint32_t i = 0; i < t->argc; i++) {
		size_t l = strlen(t->argv[i]);
		if (n + l + 1 > max)
			break;
		if (i)
			out[n++] = ' ';
		memcpy(out + n, t->argv[i], l);
		n += l;
	}
	return (uint32_t)n;
}

/* A consumer: takes cpu tasks in batches, runs echo, finishes them. Runs
 * until the queue is drained and stop_when_idle, or forever. */
__attribute__((unused)) static void qt_consume(struct trq *q, int w, uint32_t inc,
                                               int stop_when_idle)
{
	enum { B = 4 };
	size_t alen = trq_argbuf_size(q, B);
	void *abuf = malloc(alen);
	char *outs = malloc((size_t)B * q->result_max);
	struct trq_task tasks[B];
	struct trq_result res[B];
	for (;;) {
		uint32_t seen = __atomic_load_n(&q->hdr->q_seq[TASKRING_CPU], __ATOMIC_ACQUIRE);
		int n = trq_take(q, TASKRING_CPU, w, inc, B, tasks, abuf, alen);
		if (n < 0)
			_exit(10);
		if (n == 0) {
			if (stop_when_idle)
				break;
			int r = trq_wait_work(q, TASKRING_CPU, seen, trq_now() + 200000000ull);
			if (r && r != -ETIMEDOUT && r != -EINTR)
				_exit(11);
			continue;
		}
		for (int i = 0; i < n; i++) {
			char *o = outs + (size_t)i * q->result_max;
			__atomic_store_n(&q->workers[w].cur_cpu, tasks[i].id, __ATOMIC_RELAXED);
			res[i] =
			    (struct trq_result){.idx = tasks[i].idx, .id = tasks[i].id, .out = o};
			if (tasks[i].bad) {
				res[i].state = TASKRING_FAILED;
				res[i].out_len =
				    (uint32_t)snprintf(o, q->result_max, "%s", tasks[i].err);
			} else {
				res[i].state = TASKRING_DONE;
				res[i].out_len = qt_echo(&tasks[i], o, q->result_max);
			}
		}
		__atomic_store_n(&q->workers[w].cur_cpu, 0, __ATOMIC_RELAXED);
		if (trq_finish(q, w, inc, (unsigned)n, res))
			_exit(12);
	}
	free(abuf);
	free(outs);
}

#endif
