/*
 * bench_cpu.c - CPU scaling and per-task overhead: a set of `sqrt-sum N`
 * tasks (8 x 4000000 by default) on a daemon with 1 worker and on one with 2
 * workers, and the same loop run in this process as plain C, side by side in
 * every round:
 *
 *   plain C     the loop of the sqrt-sum handler (sum of sqrt(i), i < N, in
 *               double precision, printed %.6f) run once per task here, pinned
 *               to the CPU of the 1-worker daemon's worker;
 *   1 worker    all tasks submitted at once to the 1-worker daemon, waited for;
 *   2 workers   the same on the 2-worker daemon.
 *
 * Prints wall times, the speedup (1 worker / 2 workers), and the overhead of
 * 1 worker over plain C in % and per task. Every result is checked against the
 * plain loop's text. Usage:
 *   bench_cpu -1 NAME -2 NAME [--rounds N] [--tasks N] [--n N] [--smoke]
 * Exit 0 after printing, 1 when something broke.
 */
#include <math.h>
#include <sched.h>

#include "bench.h"

#define MAX_ROUNDS 50
#define MAX_TASKS  64

/* The handler's loop, compiled with the same flags as the worker. */
static double sqrt_sum(uint64_t n)
{
	double s = 0;
	for (uint64_t i = 0; i < n; i++)
		s += sqrt((double)i);
	return s;
}

/* Runs `tasks` sqrt-sum tasks on h; checks each result; returns seconds. */
static double run_daemon(taskring_t *h, const char *inst, unsigned tasks, const char *arg,
                         const char *want)
{
	struct taskring_req reqs[MAX_TASKS];
	struct taskring_info infos[MAX_TASKS];
	uint64_t ids[MAX_TASKS];
	const char *argv[1] = {arg};
	struct taskring_opts o = {.timeout_ms = 10000};
	for (unsigned i = 0; i < tasks; i++)
		reqs[i] = (struct taskring_req){"sqrt-sum", 1, argv};
	uint64_t t0 = bench_ns();
	int r = taskring_submit_batch(h, tasks, reqs, &o, ids);
	if (r != (int)tasks)
		bench_die("%s: taskring_submit_batch: %s", inst,
		          r < 0 ? taskring_strerror(r) : "short batch");
	r = taskring_wait_many(h, tasks, ids, 600000, infos);
	double dt = (double)(bench_ns() - t0) / 1e9;
	if (r)
		bench_die("%s: taskring_wait_many: %s", inst, taskring_strerror(r));
	for (unsigned i = 0; i < tasks; i++) {
		if (infos[i].state != TASKRING_DONE || strcmp(infos[i].output, want))
			bench_die("%s: sqrt-sum %s ended %s with '%s', want '%s'", inst, arg,
			          taskring_state_name(infos[i].state), infos[i].output, want);
		taskring_info_release(&infos[i]);
	}
	return dt;
}

/* The CPU worker 0 of h is pinned to, or -1. */
static int worker0_cpu(taskring_t *h)
{
	struct taskring_status st;
	if (taskring_status_get(h, &st))
		return -1;
	int cpu = st.nworkers > 0 ? st.workers[0].cpu : -1;
	taskring_status_release(&st);
	return cpu;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_cpu -1 NAME -2 NAME [--rounds N] [--tasks N] [--n N] "
	                "[--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *i1 = NULL, *i2 = NULL;
	int rounds = 5;
	unsigned tasks = 8;
	unsigned long n = 4000000;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-1") && v)
			i1 = argv[++i];
		else if (!strcmp(a, "-2") && v)
			i2 = argv[++i];
		else if (!strcmp(a, "--rounds") && v)
			rounds = (int)bench_num(a, argv[++i], 1, MAX_ROUNDS);
		else if (!strcmp(a, "--tasks") && v)
			tasks = (unsigned)bench_num(a, argv[++i], 1, MAX_TASKS);
		else if (!strcmp(a, "--n") && v)
			n = bench_num(a, argv[++i], 1, 1000000000000ul);
		else if (!strcmp(a, "--smoke")) {
			rounds = 1;
			n = 200000;
		} else
			usage();
	}
	if (!i1 || !i2)
		usage();
	taskring_t *h1 = bench_attach_ready(i1, 1, 30), *h2 = bench_attach_ready(i2, 2, 30);

	char arg[32], want[64];
	snprintf(arg, sizeof(arg), "%lu", n);
	snprintf(want, sizeof(want), "%.6f", sqrt_sum(n));
	int cpu = worker0_cpu(h1);
	cpu_set_t saved, one;
	sched_getaffinity(0, sizeof(saved), &saved);

	double tp[MAX_ROUNDS], t1[MAX_ROUNDS], t2[MAX_ROUNDS];
	double speed[MAX_ROUNDS], over[MAX_ROUNDS], per[MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		if (cpu >= 0 && cpu < CPU_SETSIZE) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			sched_setaffinity(0, sizeof(one), &one);
		}
		uint64_t t0 = bench_ns();
		for (unsigned k = 0; k < tasks; k++) {
			char got[64];
			snprintf(got, sizeof(got), "%.6f", sqrt_sum(n));
			if (strcmp(got, want))
				bench_die("plain loop: %s, then %s", want, got);
		}
		tp[r] = (double)(bench_ns() - t0) / 1e9;
		sched_setaffinity(0, sizeof(saved), &saved);
		t1[r] = run_daemon(h1, i1, tasks, arg, want);
		t2[r] = run_daemon(h2, i2, tasks, arg, want);
		speed[r] = t1[r] / t2[r];
		over[r] = (t1[r] / tp[r] - 1) * 100;
		per[r] = (t1[r] - tp[r]) / tasks * 1e6;
	}

	char t[160];
	snprintf(t, sizeof(t), "cpu scaling: %u x sqrt-sum %lu (%d round%s)", tasks, n, rounds,
	         rounds > 1 ? "s" : "");
	bench_head(t);
	struct bench_stat s = bench_stats(tp, (size_t)rounds);
	bench_row("plain C loop, 1 CPU", &s, "s", "pinned to cpu %d", cpu);
	s = bench_stats(t1, (size_t)rounds);
	bench_row("taskring 1 worker", &s, "s", "%s", "");
	s = bench_stats(t2, (size_t)rounds);
	bench_row("taskring 2 workers", &s, "s", "%s", "");
	s = bench_stats(speed, (size_t)rounds);
	bench_row("speedup 2 workers vs 1", &s, "x", "goal >= 1.9x: %s", bench_goal(s.med >= 1.9));
	s = bench_stats(over, (size_t)rounds);
	bench_row("overhead 1 worker vs plain C", &s, "%", "goal <= 2%%: %s",
	          bench_goal(s.med <= 2.0));
	s = bench_stats(per, (size_t)rounds);
	bench_row("overhead per task", &s, "us", "%s", "");
	taskring_detach(h1);
	taskring_detach(h2);
	return 0;
}
