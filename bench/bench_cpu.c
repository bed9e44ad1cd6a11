/*
 * bench_cpu.c - CPU scaling and per-task overhead: a set of `sqrt-sum N`
 * tasks (8 x 4000000 by default) on a daemon with 1 worker and on one with 2
 * workers, and the same loop run in this process as plain C, side by side in
 * every round:
 *
 *   plain C     the loop of the sqrt-sum handler (sum of sqrt(i), i < N, in
 *               double precision, printed %.6f) run once per task here, pinned
 *               to the CPU of the 1-worker daemon's worker;
 *   plain C x2  the same tasks split over two child processes pinned to the
 *               2-worker daemon's CPUs: what this machine gives two CPU-bound
 *               processes right now (a shared VM may give less than 2x);
 *   1 worker    all tasks submitted at once to the 1-worker daemon, waited for;
 *   2 workers   the same on the 2-worker daemon.
 *
 * Prints wall times, the speedups (1 worker / 2 workers, and plain C on 1 CPU /
 * on 2), and the overhead of 1 worker over plain C in % and per task. Every result is checked
 * against the plain loop's text. Usage: bench_cpu -1 NAME -2 NAME [--rounds N] [--tasks N] [--n N]
 * [--smoke] Exit 0 after printing, 1 when something broke.
 */
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>

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

/* The CPU worker i of h is pinned to, or -1. */
static int worker_cpu(taskring_t *h, int i)
{
	struct taskring_status st;
	if (taskring_status_get(h, &st))
		return -1;
	int cpu = st.nworkers > i ? st.workers[i].cpu : -1;
	taskring_status_release(&st);
	return cpu;
}

static void pin(int cpu)
{
	cpu_set_t one;
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

/* Runs k loops and checks each result: 0, or -1 on a wrong one. */
static int plain(unsigned k, unsigned long n, const char *want)
{
	for (unsigned i = 0; i < k; i++) {
		char got[64];
		snprintf(got, sizeof(got), "%.6f", sqrt_sum(n));
		if (strcmp(got, want))
			return -1;
	}
	return 0;
}

/* The tasks split over two processes pinned to cpus c[0], c[1], started
 * together; returns seconds. */
static double plain2(unsigned tasks, unsigned long n, const char *want, const int *c)
{
	int go[2];
	pid_t kid[2];
	if (pipe(go) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		kid[i] = fork();
		if (kid[i] < 0)
			bench_die("fork: %s", strerror(errno));
		if (kid[i] == 0) {
			char b;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			pin(c[i]);
			close(go[1]);
			if (read(go[0], &b, 1) != 1)
				_exit(1);
			_exit(plain(i ? tasks / 2 : tasks - tasks / 2, n, want) ? 1 : 0);
		}
	}
	close(go[0]);
	bench_sleep_ns(20000000); /* let both settle on their CPUs */
	uint64_t t0 = bench_ns();
	if (write(go[1], "gg", 2) != 2)
		bench_die("write: %s", strerror(errno));
	close(go[1]);
	for (int i = 0; i < 2; i++) {
		int st;
		while (waitpid(kid[i], &st, 0) < 0)
			if (errno != EINTR)
				bench_die("waitpid: %s", strerror(errno));
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bench_die("plain C child %d: wrong result or failure", i);
	}
	return (double)(bench_ns() - t0) / 1e9;
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
	int cpu = worker_cpu(h1, 0), cpus2[2] = {worker_cpu(h2, 0), worker_cpu(h2, 1)};
	cpu_set_t saved;
	sched_getaffinity(0, sizeof(saved), &saved);

	double tp[MAX_ROUNDS], tp2[MAX_ROUNDS], t1[MAX_ROUNDS], t2[MAX_ROUNDS];
	double speed[MAX_ROUNDS], pspeed[MAX_ROUNDS], over[MAX_ROUNDS], per[MAX_ROUNDS];
	for (int r = 0; r < rounds; r++) {
		pin(cpu);
		uint64_t t0 = bench_ns();
		if (plain(tasks, n, want))
			bench_die("plain loop: a result other than %s", want);
		tp[r] = (double)(bench_ns() - t0) / 1e9;
		sched_setaffinity(0, sizeof(saved), &saved);
		tp2[r] = plain2(tasks, n, want, cpus2);
		t1[r] = run_daemon(h1, i1, tasks, arg, want);
		t2[r] = run_daemon(h2, i2, tasks, arg, want);
		speed[r] = t1[r] / t2[r];
		pspeed[r] = tp[r] / tp2[r];
		over[r] = (t1[r] / tp[r] - 1) * 100;
		per[r] = (t1[r] - tp[r]) / tasks * 1e6;
		tp[r] *= 1e3, tp2[r] *= 1e3, t1[r] *= 1e3, t2[r] *= 1e3; /* ms */
	}

	char t[160];
	snprintf(t, sizeof(t), "cpu scaling: %u x sqrt-sum %lu (%d round%s)", tasks, n, rounds,
	         rounds > 1 ? "s" : "");
	bench_head(t);
	struct bench_stat s = bench_stats(tp, (size_t)rounds);
	bench_row("plain C loop, 1 CPU", &s, "ms", "pinned to cpu %d", cpu);
	s = bench_stats(tp2, (size_t)rounds);
	bench_row("plain C loop, 2 processes on 2 CPUs", &s, "ms", "pinned to cpus %d and %d",
	          cpus2[0], cpus2[1]);
	s = bench_stats(t1, (size_t)rounds);
	bench_row("taskring 1 worker", &s, "ms", "%s", "");
	s = bench_stats(t2, (size_t)rounds);
	bench_row("taskring 2 workers", &s, "ms", "%s", "");
	s = bench_stats(speed, (size_t)rounds);
	bench_row("speedup 2 workers vs 1", &s, "x", "goal >= 1.9x: %s", bench_goal(s.med >= 1.9));
	s = bench_stats(pspeed, (size_t)rounds);
	bench_row("speedup plain C 2 CPUs vs 1", &s, "x", "%s",
	          "what the machine gives 2 processes now");
	s = bench_stats(over, (size_t)rounds);
	bench_row("overhead 1 worker vs plain C", &s, "%", "goal <= 2%%: %s",
	          bench_goal(s.med <= 2.0));
	s = bench_stats(per, (size_t)rounds);
	bench_row("overhead per task", &s, "us", "%s", "");
	taskring_detach(h1);
	taskring_detach(h2);
	return 0;
}
