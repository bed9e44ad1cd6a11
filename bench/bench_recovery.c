/*
 * bench_recovery.c - what a worker death costs. One long `spin` task (with
 * enough attempts) is submitted; --kills times (200 by default) the worker
 * running it is SIGKILLed (taskring_kill_worker). Each kill charges the task
 * an attempt and puts it back in the queue, where the other worker picks it
 * up. Measured from each kill:
 *
 *   replacement ready   until the replacement reported ready: the time it
 *                       stamped in its worker record (ready_ns) when it did;
 *   ready, polled       until taskring_status_get() shows a new pid in the
 *                       dead worker's slot in state ready (or busy); polled
 *                       every --poll-us, so this carries up to that much
 *                       extra, and this process's own wake-ups;
 *   worker exited       until the worker's pidfd is readable: the kernel has
 *                       torn down every thread (and its io_uring);
 *   death noticed       until the supervisor reaped the dead worker: the time
 *                       it stamped in the worker record (lost_ns);
 *   task runs again     until the requeued task started its next attempt (its
 *                       start time as the queue recorded it, so no polling
 *                       error), on whichever worker took it.
 *
 * All are seen before the next kill. After each kill, the floors this
 * machine sets right now are measured too, with a plain child process in
 * the worker's place (see floors()). At the end the task is cancelled and
 * must end cancelled. The daemon must have restart.min_uptime_ms: 0, or kills
 * this close together count as early deaths and wait out the restart backoff
 * (scripts/bench sets it).
 *
 * Usage: bench_recovery -i NAME [--kills N] [--poll-us N] [--smoke]
 * Exit 0 after printing, 1 when something broke.
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "bench.h"
#include "queue.h" /* the worker records' time stamps */

/* Start times are read as realtime values converted from the queue's
 * monotonic clock, which jitters by a few us between reads; a new run starts
 * well after this much past the last one. */
#define RESTART_NS 20000ull

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pins pid (0: the caller) to cpu; nothing for cpu < 0. */
static void pin(pid_t pid, int cpu)
{
	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	sched_setaffinity(pid, sizeof(one), &one);
}

/* The floors, with a plain child process in the worker's place: fork -> the
 * child runs pinned to cpu (pinned by the parent right after fork(), and by
 * itself, as the supervisor and a worker do) and takes the time, which it
 * sends through a pipe (*fork_ms); the parent's read of it (*read_ms) also
 * carries the parent's own wake-up, which waits behind the child that spins
 * on after it wrote, so it is no floor of the worker's start; then, while it
 * spins on that CPU (as the killed worker ran a spin task), SIGKILL -> its
 * pidfd is readable (it is gone). In ms. */
static void floors(int cpu, double *kill_ms, double *fork_ms, double *read_ms)
{
	int p[2];
	uint64_t ready;
	if (pipe(p) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	uint64_t t0 = bench_ns();
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(0, cpu);
		ready = bench_ns();
		if (write(p[1], &ready, sizeof(ready)) != sizeof(ready))
			_exit(1);
		for (volatile unsigned long i = 0;; i++)
			;
	}
	pin(pid, cpu);
	if (read(p[0], &ready, sizeof(ready)) != sizeof(ready))
		bench_die("floor child did not start");
	*read_ms = (double)(bench_ns() - t0) / 1e6;
	*fork_ms = (double)(ready - t0) / 1e6;
	close(p[0]);
	close(p[1]);
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	siginfo_t si;
	bench_sleep_ns(1000000);
	t0 = bench_ns();
	kill(pid, SIGKILL);
	if (fd >= 0) {
		struct pollfd pf = {fd, POLLIN, 0};
		while (poll(&pf, 1, -1) < 0 && errno == EINTR)
			;
		close(fd);
	}
	*kill_ms = (double)(bench_ns() - t0) / 1e6;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED) < 0 && errno == EINTR)
		;
}

/* Polls task id until pred holds for it; returns its info (caller releases). */
static void wait_task(taskring_t *h, uint64_t id, int (*pred)(const struct taskring_info *),
                      struct taskring_info *in, uint64_t poll_ns, const char *what)
{
	uint64_t end = bench_ns() + 10000000000ull;
	for (;;) {
		int r = taskring_get(h, id, in);
		if (r)
			bench_die("taskring_get(%llu): %s", (unsigned long long)id,
			          taskring_strerror(r));
		if (pred(in))
			return;
		taskring_info_release(in);
		if (bench_ns() > end)
			bench_die("task %llu: not %s after 10 s", (unsigned long long)id, what);
		bench_sleep_ns(poll_ns);
	}
}

static int is_running(const struct taskring_info *in)
{
	return in->state == TASKRING_RUNNING && in->worker >= 0;
}

static int is_final(const struct taskring_info *in)
{
	return in->state == TASKRING_DONE || in->state == TASKRING_FAILED ||
	       in->state == TASKRING_CANCELLED;
}

/* Looks at worker w after the kill of pid old: returns 1 once a new pid is
 * there in state ready or busy. */
static int replaced(taskring_t *h, int w, int old)
{
	struct taskring_status st;
	int ok = 0;
	if (taskring_status_get(h, &st))
		return 0;
	if (w < st.nworkers && st.workers[w].pid > 0 && st.workers[w].pid != old &&
	    (!strcmp(st.workers[w].state, "ready") || !strcmp(st.workers[w].state, "busy")))
		ok = 1;
	taskring_status_release(&st);
	return ok;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_recovery -i NAME [--kills N] [--poll-us N] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *inst = NULL;
	unsigned kills = 200, poll_us = 100;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-i") && v)
			inst = argv[++i];
		else if (!strcmp(a, "--kills") && v)
			kills = (unsigned)bench_num(a, argv[++i], 1, 900);
		else if (!strcmp(a, "--poll-us") && v)
			poll_us = (unsigned)bench_num(a, argv[++i], 1, 1000000);
		else if (!strcmp(a, "--smoke"))
			kills = 5;
		else
			usage();
	}
	if (!inst)
		usage();
	prctl(PR_SET_TIMERSLACK, 1ul); /* short polls really are short */
	taskring_t *h = bench_attach_ready(inst, 2, 30);
	struct trq rq;
	int r = trq_attach(&rq, inst);
	if (r)
		bench_die("trq_attach(%s): %s", inst, taskring_strerror(r));
	/* kills from a settled daemon, then quick ones back to back */
	unsigned quick = kills / 4 ? kills / 4 : 1, total = kills + quick, spared = 0;
	double *ready = calloc(total, sizeof(double)), *rerun = calloc(total, sizeof(double));
	double *noticed = calloc(total, sizeof(double)), *exited = calloc(total, sizeof(double));
	double *fkill = calloc(total, sizeof(double)), *ffork = calloc(total, sizeof(double));
	double *fgot = calloc(total, sizeof(double)), *polled = calloc(total, sizeof(double));
	if (!ready || !rerun || !noticed || !exited || !fkill || !ffork || !fgot || !polled)
		bench_die("out of memory");
	/* long enough to outlive every kill; cancelled at the end */
	const char *av[1] = {"3600000"};
	struct taskring_opts o = {.timeout_ms = 10000, .max_attempts = total + 1};
	uint64_t poll_ns = (uint64_t)poll_us * 1000, restarts0 = 0, id;
	struct taskring_status st;
	struct taskring_info in;
	if (taskring_status_get(h, &st) == 0) {
		restarts0 = st.worker_restarts;
		taskring_status_release(&st);
	}
	r = taskring_submit(h, "spin", 1, av, &o, &id);
	if (r)
		bench_die("taskring_submit: %s", taskring_strerror(r));
	wait_task(h, id, is_running, &in, poll_ns, "running");
	int w = in.worker;
	/* A kill between the take and the handler's start is not charged, so
	 * the attempt count may not grow: a new start time tells a new run. */
	unsigned attempts = in.attempts;
	uint64_t started = in.started_ns;
	taskring_info_release(&in);

	int spares = 1; /* the daemon keeps a spare worker (restart.spare_worker) */
	for (unsigned k = 0; k < total; k++) {
		int pid, pfd = -1, cpu = -1;
		if (k < kills && spares) {
			/* Settled: the replacement's own replacement set up, as after
			 * any death that is not one of a quick series. */
			int found = 0;
			for (uint64_t end = bench_ns() + 1000000000ull;
			     !found && bench_ns() < end;) {
				if (taskring_status_get(h, &st))
					break;
				int known[8], n = 0;
				for (int i = 0; i < st.nworkers && n < 8; i++)
					known[n++] = st.workers[i].pid;
				found = bench_find_spare(st.pid, known, n) > 0;
				taskring_status_release(&st);
				if (!found)
					bench_sleep_ns(1000000);
			}
			spared += found;
			spares =
			    found || k > 0; /* none at the start: restart.spare_worker is off */
		}
		if (taskring_status_get(h, &st) == 0) {
			if (w < st.nworkers && st.workers[w].pid > 0) {
				pfd = (int)syscall(SYS_pidfd_open, st.workers[w].pid, 0);
				cpu = st.workers[w].cpu;
			}
			taskring_status_release(&st);
		}
		uint64_t t0 = bench_ns(), t0_real = real_ns();
		r = taskring_kill_worker(h, w, SIGKILL, &pid);
		if (r)
			bench_die("taskring_kill_worker(%d): %s", w, taskring_strerror(r));
		/* the kernel's part: until the whole worker (threads, io_uring) is gone */
		exited[k] = NAN;
		if (pfd >= 0) {
			struct pollfd pf = {pfd, POLLIN, 0};
			if (poll(&pf, 1, 10000) == 1)
				exited[k] = (double)(bench_ns() - t0) / 1e6;
			close(pfd);
		}
		uint64_t t_ready = 0, t_rerun = 0, end = t0 + 10000000000ull;
		int next_w = -1;
		while (!t_ready || !t_rerun) {
			if (!t_ready && replaced(h, w, pid))
				t_ready = bench_ns();
			if (!t_rerun) {
				r = taskring_get(h, id, &in);
				if (r)
					bench_die("taskring_get: %s", taskring_strerror(r));
				if (is_final(&in))
					bench_die("task %llu ended %s after kill %u: %s",
					          (unsigned long long)id,
					          taskring_state_name(in.state), k + 1, in.output);
				if (is_running(&in) && (in.attempts > attempts ||
				                        in.started_ns > started + RESTART_NS)) {
					t_rerun =
					    t0 +
					    (in.started_ns > t0_real ? in.started_ns - t0_real : 0);
					next_w = in.worker;
					attempts = in.attempts;
					started = in.started_ns;
				}
				taskring_info_release(&in);
			}
			if (bench_ns() > end)
				bench_die("worker %d (pid %d) killed: %s after 10 s", w, pid,
				          t_ready ? "task not run again" : "no replacement ready");
			if (!t_ready || !t_rerun)
				bench_sleep_ns(poll_ns);
		}
		polled[k] = (double)(t_ready - t0) / 1e6;
		/* Both stamps were written before what the polls saw (the new
		 * pid, the state ready). */
		const struct trq_worker *wr = &rq.workers[w];
		uint64_t rn = __atomic_load_n(&wr->ready_ns, __ATOMIC_ACQUIRE);
		uint64_t ln = __atomic_load_n(&wr->lost_ns, __ATOMIC_ACQUIRE);
		if (rn < t0 || rn > t_ready || ln < t0 || ln > t_ready)
			bench_die("worker %d: time stamps out of order (kill %llu, lost %llu, "
			          "ready %llu, seen %llu)",
			          w, (unsigned long long)t0, (unsigned long long)ln,
			          (unsigned long long)rn, (unsigned long long)t_ready);
		ready[k] = (double)(rn - t0) / 1e6;
		noticed[k] = (double)(ln - t0) / 1e6;
		floors(cpu, &fkill[k], &ffork[k], &fgot[k]);
		rerun[k] = (double)(t_rerun - t0) / 1e6;
		w = next_w;
	}
	r = taskring_cancel(h, id);
	if (r)
		bench_die("taskring_cancel: %s", taskring_strerror(r));
	r = taskring_wait(h, id, 60000, &in);
	if (r)
		bench_die("taskring_wait: %s", taskring_strerror(r));
	if (in.state != TASKRING_CANCELLED)
		bench_die("task %llu ended %s, not cancelled: %s", (unsigned long long)id,
		          taskring_state_name(in.state), in.output);
	taskring_info_release(&in);
	uint64_t restarts = 0;
	if (taskring_status_get(h, &st) == 0) {
		restarts = st.worker_restarts - restarts0;
		taskring_status_release(&st);
	}

	char t[160];
	snprintf(t, sizeof(t),
	         "recovery: %u SIGKILLs of the worker running a spin task, ms from the kill "
	         "(%llu restarts counted)",
	         total, (unsigned long long)restarts);
	bench_head(t);
	printf("%u kills of a settled daemon (%u found its spare worker set up), then %u back to "
	       "back\n",
	       kills, spared, quick);
	struct bench_stat s = bench_stats(ready, kills);
	char note[128];
	snprintf(note, sizeof(note), "its own time stamp; goal p50 <= 2 ms: %s",
	         bench_goal(s.med <= 2));
	bench_row("replacement ready p50", &s, "ms", "%s", note);
	struct bench_stat p = {s.p99, s.p99, s.p99, s.p99, s.n};
	bench_row("replacement ready p99", &p, "ms", "max %.2f; goal p99 <= 10 ms: %s", s.max,
	          bench_goal(s.p99 <= 10));
	s = bench_stats(polled, kills);
	bench_row("ready, seen by a poller p50", &s, "ms",
	          "p99 %.2f; taskring_status_get() every %u us", s.p99, poll_us);
	s = bench_stats(ready + kills, quick);
	bench_row("back to back: ready p50", &s, "ms",
	          "p99 %.2f; the next kill as soon as the task runs again: the spare is often "
	          "not set up yet",
	          s.p99);
	size_t nx = 0;
	for (unsigned k = 0; k < kills; k++)
		if (!isnan(exited[k]))
			exited[nx++] = exited[k];
	s = bench_stats(exited, nx);
	bench_row("worker exited p50", &s, "ms", "p99 %.2f; its pidfd readable (all threads gone)",
	          s.p99);
	s = bench_stats(noticed, kills);
	bench_row("death noticed p50", &s, "ms",
	          "p99 %.2f; the supervisor reaped it (its time stamp)", s.p99);
	s = bench_stats(rerun, kills);
	bench_row("requeued task runs again p50", &s, "ms", "%s",
	          "from the queue's start time, no polling error");
	p = (struct bench_stat){s.p99, s.p99, s.p99, s.p99, s.n};
	bench_row("requeued task runs again p99", &p, "ms", "max %.2f", s.max);
	s = bench_stats(fkill, kills);
	bench_row("floor: SIGKILL -> exited p50", &s, "ms",
	          "p99 %.2f; a plain child spinning on the worker's CPU", s.p99);
	s = bench_stats(ffork, kills);
	bench_row("floor: fork -> child ready p50", &s, "ms",
	          "p99 %.2f; runs pinned (its own clock, sent through a pipe)", s.p99);
	s = bench_stats(fgot, kills);
	bench_row("floor: fork -> parent read it p50", &s, "ms",
	          "p99 %.2f; + the parent's wake-up behind the spinning child", s.p99);
	free(polled);
	free(noticed);
	free(exited);
	free(fkill);
	free(ffork);
	free(fgot);
	free(ready);
	free(rerun);
	trq_detach(&rq);
	taskring_detach(h);
	return 0;
}
