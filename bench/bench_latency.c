/*
 * bench_latency.c - one task at a time: the time from taskring_submit() to
 * the result in the client (taskring_wait with the result copied out), for a
 * no-op task on a running taskringd with 2 workers, side by side in the same
 * rounds with the physical floors and the Python baseline:
 *
 *   taskring back to back   the next task is submitted as soon as the last
 *                           result arrived (workers and client still spinning)
 *   taskring idle           a pause (--gap-us) after each task, so workers and
 *                           client have gone to sleep on their futexes
 *   pipe ping-pong          1 byte there and back between two processes
 *                           (both sleep in read(): two cross-process wake-ups)
 *   pipe ping-pong idle     the same with the idle case's pause after each
 *                           round trip, so both CPUs go idle in between: the
 *                           fair floor for "taskring idle" (2 CPUs: every
 *                           wake-up crosses to an idle vCPU; 1 CPU: both
 *                           processes on one vCPU, no cross-CPU wake-up)
 *   shm spin ping-pong      a counter bounced between two processes pinned to
 *                           two CPUs, busy polling: the cache-line floor
 *   python PPE              ProcessPoolExecutor(2).submit(noop).result()
 *   system call             one getppid() and one FUTEX_WAKE on a shared
 *                           mapping with nobody waiting: what any system call
 *                           on the hot path costs on this machine
 *
 * Each round gives a p50 and a p99; the table shows their median over the
 * rounds and the spread. Usage:
 *   bench_latency -i NAME [--rounds N] [--samples N] [--idle-samples N]
 *                 [--gap-us N] [--python PY --pyscript FILE] [--smoke]
 * Exit 0 after printing, 1 when something broke.
 */
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#include "bench.h"

#define MAX_ROUNDS 50

/* One round of taskring latencies in us; gap_ns: pause after each task. */
static void run_taskring(taskring_t *h, double *lat, unsigned n, uint64_t gap_ns)
{
	struct taskring_opts o = {.timeout_ms = 10000};
	for (unsigned i = 0; i < n; i++) {
		uint64_t id, t0 = bench_ns();
		int r = taskring_submit(h, "noop", 0, NULL, &o, &id);
		if (r)
			bench_die("taskring_submit: %s", taskring_strerror(r));
		struct taskring_info in;
		r = taskring_wait(h, id, 10000, &in);
		if (r)
			bench_die("taskring_wait: %s", taskring_strerror(r));
		lat[i] = (double)(bench_ns() - t0) / 1e3;
		if (in.state != TASKRING_DONE)
			bench_die("task %llu ended %s: %s", (unsigned long long)id,
			          taskring_state_name(in.state), in.output);
		taskring_info_release(&in);
		if (gap_ns)
			bench_sleep_ns(gap_ns);
	}
}

static void reap(pid_t pid, const char *what)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			bench_die("waitpid(%s): %s", what, strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bench_die("%s child failed", what);
}

/* The first two CPUs this process may use; returns 0, or -1 with fewer. */
static int two_cpus(int *c0, int *c1)
{
	cpu_set_t set;
	int k = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE && k < 2; c++)
		if (CPU_ISSET(c, &set))
			*(k++ ? c1 : c0) = c;
	return k == 2 ? 0 : -1;
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Pipe ping-pong round trips in us, with a pause of gap_ns after each. cpus:
 * 0 anywhere, 1 both processes on one CPU, 2 on two CPUs (every wake-up
 * crosses CPUs); returns -1 when fewer than that many CPUs are usable. */
static int run_pipe(double *lat, unsigned n, int cpus, uint64_t gap_ns)
{
	int a[2], b[2], c0 = -1, c1 = -1;
	cpu_set_t saved;
	if (cpus && (two_cpus(&c0, &c1) || sched_getaffinity(0, sizeof(saved), &saved) < 0))
		return -1;
	if (cpus == 1)
		c1 = c0;
	if (pipe(a) < 0 || pipe(b) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		char c;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (cpus)
			pin(c1);
		for (unsigned i = 0; i < n; i++)
			if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	if (cpus)
		pin(c0);
	for (unsigned i = 0; i < n; i++) {
		char c = 'x';
		uint64_t t0 = bench_ns();
		if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
			bench_die("pipe ping-pong: %s", strerror(errno));
		lat[i] = (double)(bench_ns() - t0) / 1e3;
		if (gap_ns)
			bench_sleep_ns(gap_ns);
	}
	reap(pid, "pipe ping-pong");
	if (cpus)
		sched_setaffinity(0, sizeof(saved), &saved);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
	return 0;
}

/* Shared-memory spin ping-pong round trips in us, the two sides pinned to
 * two CPUs. Returns -1 when fewer than two CPUs are usable. */
static int run_spin(double *lat, unsigned n)
{
	int c0, c1;
	cpu_set_t saved;
	if (two_cpus(&c0, &c1) || sched_getaffinity(0, sizeof(saved), &saved) < 0)
		return -1;
	uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	*w = 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pin(c1);
		for (uint32_t i = 0; i < n; i++) {
			while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != 2 * i + 1)
				__builtin_ia32_pause();
			__atomic_store_n(w, 2 * i + 2, __ATOMIC_RELEASE);
		}
		_exit(0);
	}
	pin(c0);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t0 = bench_ns();
		__atomic_store_n(w, 2 * i + 1, __ATOMIC_RELEASE);
		while (__atomic_load_n(w, __ATOMIC_ACQUIRE) != 2 * i + 2)
			__builtin_ia32_pause();
		lat[i] = (double)(bench_ns() - t0) / 1e3;
	}
	reap(pid, "spin ping-pong");
	sched_setaffinity(0, sizeof(saved), &saved);
	munmap(w, 4096);
	return 0;
}

/* Times n single system calls in us: getppid(), or with futex a FUTEX_WAKE
 * on a shared mapping nobody waits on. */
static void run_syscall(double *lat, unsigned n, int futex)
{
	uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		bench_die("mmap: %s", strerror(errno));
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = bench_ns();
		if (futex)
			syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
		else
			syscall(SYS_getppid);
		lat[i] = (double)(bench_ns() - t0) / 1e3;
	}
	munmap(w, 4096);
}

enum { M_BUSY, M_IDLE, M_PIPE, M_PIPE2, M_PIPE2I, M_PIPE1I, M_SPIN, M_PY, M_SYS, M_FUTEX, M_N };
static const char *const names[M_N] = {
    [M_BUSY] = "taskring back to back",          [M_IDLE] = "taskring idle workers",
    [M_PIPE] = "pipe ping-pong (any CPU)",       [M_PIPE2] = "pipe ping-pong (2 CPUs)",
    [M_PIPE2I] = "pipe ping-pong idle (2 CPUs)", [M_PIPE1I] = "pipe ping-pong idle (1 CPU)",
    [M_SPIN] = "shm spin ping-pong (2 CPUs)",    [M_PY] = "python PPE submit().result()",
    [M_SYS] = "system call getppid()",           [M_FUTEX] = "system call FUTEX_WAKE, no waiter",
};

static void usage(void)
{
	fprintf(stderr, "usage: bench_latency -i NAME [--rounds N] [--samples N] "
	                "[--idle-samples N] [--gap-us N]\n"
	                "                     [--python PY --pyscript FILE] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *inst = NULL, *python = NULL, *pyscript = NULL;
	int rounds = 5;
	unsigned samples = 20000, idle_samples = 1000, gap_us = 1000;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-i") && v)
			inst = argv[++i];
		else if (!strcmp(a, "--rounds") && v)
			rounds = (int)bench_num(a, argv[++i], 1, MAX_ROUNDS);
		else if (!strcmp(a, "--samples") && v)
			samples = (unsigned)bench_num(a, argv[++i], 10, 10000000);
		else if (!strcmp(a, "--idle-samples") && v)
			idle_samples = (unsigned)bench_num(a, argv[++i], 10, 10000000);
		else if (!strcmp(a, "--gap-us") && v)
			gap_us = (unsigned)bench_num(a, argv[++i], 0, 10000000);
		else if (!strcmp(a, "--python") && v)
			python = argv[++i];
		else if (!strcmp(a, "--pyscript") && v)
			pyscript = argv[++i];
		else if (!strcmp(a, "--smoke")) {
			rounds = 1;
			samples = 500;
			idle_samples = 50;
		} else
			usage();
	}
	if (!inst || (python && !pyscript))
		usage();

	taskring_t *h = bench_attach_ready(inst, 2, 30);
	unsigned py_samples = samples / 10 < 2000 ? samples / 10 : 2000;
	unsigned spin_samples = samples * 5;
	double *lat = malloc(sizeof(double) * spin_samples);
	double p50[M_N][MAX_ROUNDS], p99[M_N][MAX_ROUNDS], mx[M_N] = {0};
	int have[M_N] = {1, 1, 1, 1, 1, 1, 1, python != NULL, 1, 1};
	if (!lat)
		bench_die("out of memory");

	/* Warm up: first tasks fault in slots and code. */
	run_taskring(h, lat, samples < 1000 ? samples : 1000, 0);
	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < M_N; m++) {
			int idle = m == M_IDLE || m == M_PIPE2I || m == M_PIPE1I;
			unsigned n = idle ? idle_samples : m == M_SPIN ? spin_samples : samples;
			if (!have[m])
				continue;
			switch (m) {
			case M_BUSY:
				run_taskring(h, lat, n, 0);
				break;
			case M_IDLE:
				run_taskring(h, lat, n, (uint64_t)gap_us * 1000);
				break;
			case M_PIPE:
			case M_PIPE2:
			case M_PIPE2I:
			case M_PIPE1I:
				if (run_pipe(lat, n,
				             m == M_PIPE2 || m == M_PIPE2I ? 2 : m == M_PIPE1I,
				             idle ? (uint64_t)gap_us * 1000 : 0) < 0) {
					have[m] = 0;
					continue;
				}
				break;
			case M_SPIN:
				if (run_spin(lat, n) < 0) {
					have[m] = 0;
					continue;
				}
				break;
			case M_SYS:
			case M_FUTEX:
				run_syscall(lat, n, m == M_FUTEX);
				break;
			case M_PY: {
				double v[2];
				if (bench_python(python, pyscript, "ppe-rtt", py_samples, v, 2) !=
				    2)
					bench_die("python baseline ppe-rtt failed");
				p50[m][r] = v[0];
				p99[m][r] = v[1];
				continue;
			}
			}
			struct bench_stat s = bench_stats(lat, n);
			p50[m][r] = s.med;
			p99[m][r] = s.p99;
			if (s.max > mx[m])
				mx[m] = s.max;
		}
	}

	char t[200];
	snprintf(t, sizeof(t),
	         "latency: one no-op task at a time, submit -> result in the client, us "
	         "(%d round%s of %u; idle: %u with %u us gaps)",
	         rounds, rounds > 1 ? "s" : "", samples, idle_samples, gap_us);
	bench_head(t);
	double c[MAX_ROUNDS], ratio[MAX_ROUNDS];
	for (int m = 0; m < M_N; m++) {
		if (!have[m])
			continue;
		char label[64], note[160] = "";
		for (int q = 0; q < 2; q++) {
			double *v = q ? p99[m] : p50[m];
			memcpy(c, v, sizeof(double) * (size_t)rounds);
			struct bench_stat s = bench_stats(c, (size_t)rounds);
			snprintf(label, sizeof(label), "%s %s", names[m], q ? "p99" : "p50");
			note[0] = 0;
			if (m == M_BUSY || m == M_IDLE) {
				/* against the pipe run the same way: back to back, or idle */
				size_t l = 0;
				int pm = m == M_IDLE ? (have[M_PIPE2I] ? M_PIPE2I : M_PIPE)
				                     : (have[M_PIPE2] ? M_PIPE2 : M_PIPE);
				for (int r = 0; r < rounds; r++)
					ratio[r] = v[r] / (q ? p99 : p50)[pm][r];
				l += (size_t)snprintf(note, sizeof(note), "%.2gx pipe%s (%s)",
				                      bench_stats(ratio, (size_t)rounds).med,
				                      pm == M_PIPE2I ? " idle" : "",
				                      pm == M_PIPE ? "any CPU" : "2 CPUs");
				if (have[M_PY]) {
					for (int r = 0; r < rounds; r++)
						ratio[r] = (q ? p99 : p50)[M_PY][r] / v[r];
					l += (size_t)snprintf(
					    note + l, sizeof(note) - l, ", PPE %.1fx slower",
					    bench_stats(ratio, (size_t)rounds).med);
				}
				if (m == M_IDLE)
					snprintf(note + l, sizeof(note) - l, "; goal <= %s us: %s",
					         q ? "50" : "10",
					         bench_goal(s.med <= (q ? 50.0 : 10.0)));
			}
			if (q && m != M_PY) {
				size_t l = strlen(note);
				snprintf(note + l, sizeof(note) - l, "%smax %.0f", l ? "; " : "",
				         mx[m]);
			}
			bench_row(label, &s, "us", "%s", note);
		}
	}
	free(lat);
	taskring_detach(h);
	return 0;
}
