/*
 * bench_e2e.c - end-to-end throughput of no-op tasks: one client submits
 * through libtaskring to a running taskringd (2 workers) and collects every
 * result, side by side in the same rounds with the floors and baselines:
 *
 *   shm ring    a plain shared-memory ring between processes: one
 *               process-shared mutex, two condvars, 64-byte records, the
 *               producer (this process) -> 2 consumer processes, no results;
 *   shm slots   the data movement alone: task records the size of a
 *               taskring slot (192-byte record + argument line + result line,
 *               which taskring keeps in the record for short ones)
 *               handed in batches of 64 through a lock-free single-producer
 *               ring to 1 consumer process that writes a result into each,
 *               read back by the producer; no locks, no system calls. The
 *               cache-line traffic taskring's batches cannot go below;
 *   taskring    one task per call (taskring_submit + taskring_wait, a window
 *               of tasks in flight) and batches of 64 (taskring_submit_batch +
 *               taskring_wait_many); and one per call of `echo` with a
 *               32-byte argument, its output checked: a task that carries
 *               data both ways;
 *   python      ProcessPoolExecutor(2).submit of a no-op and
 *               multiprocessing.Pool(2).map with chunksize 1 and 1024
 *               (bench/pybase.py, only when --python is given).
 *
 * With several -i instances (the scale benchmark: one daemon per queue
 * capacity) every instance is measured in every round and compared with the
 * first. Ratios are medians of the per-round ratios, so a slow round on this
 * shared machine slows both sides of a comparison alike.
 *
 * Usage: bench_e2e -i NAME[=LABEL]... [--title T] [--rounds N] [--tasks N]
 *                  [--window N] [--no-ring] [--no-goals] [--only single|batch]
 *                  [--python PY --pyscript FILE] [--smoke]
 * (--only measures one taskring mode, e.g. under a profiler.)
 * Exit 0 after printing, 1 when something broke (a task failed or timed out).
 */
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "bench.h"

#define MAX_INST   8
#define MAX_ROUNDS 50
#define BATCH      64

/* ---- the floor: a process-shared mutex + condvar ring ------------------- */

enum { RING = 1024 };
struct rec {
	char b[64];
};
struct shring {
	pthread_mutex_t m;
	pthread_cond_t not_empty, not_full;
	unsigned head, count, done;
	unsigned long consumed;
	struct rec r[RING];
};

static struct shring *shring_new(void)
{
	struct shring *s =
	    mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED)
		bench_die("mmap(shared ring): %s", strerror(errno));
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->m, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&s->not_empty, &ca);
	pthread_cond_init(&s->not_full, &ca);
	return s;
}

static _Noreturn void shring_consumer(struct shring *s)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		struct rec x;
		pthread_mutex_lock(&s->m);
		while (!s->count && !s->done)
			pthread_cond_wait(&s->not_empty, &s->m);
		if (!s->count) {
			pthread_mutex_unlock(&s->m);
			_exit(0);
		}
		x = s->r[s->head];
		s->head = (s->head + 1) % RING;
		s->count--;
		s->consumed++;
		pthread_cond_signal(&s->not_full);
		pthread_mutex_unlock(&s->m);
		__asm__ volatile("" ::"r"(x.b[0]));
	}
}

/* n records through the ring; returns records/s. */
static double run_shring(struct shring *s, unsigned long n)
{
	pid_t kids[2];
	s->head = s->count = s->done = 0;
	s->consumed = 0;
	fflush(stdout);
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			bench_die("fork: %s", strerror(errno));
		if (kids[i] == 0)
			shring_consumer(s);
	}
	uint64_t t0 = bench_ns();
	for (unsigned long i = 0; i < n; i++) {
		pthread_mutex_lock(&s->m);
		while (s->count == RING)
			pthread_cond_wait(&s->not_full, &s->m);
		s->r[(s->head + s->count) % RING].b[0] = (char)i;
		s->count++;
		pthread_cond_signal(&s->not_empty);
		pthread_mutex_unlock(&s->m);
	}
	pthread_mutex_lock(&s->m);
	s->done = 1;
	pthread_cond_broadcast(&s->not_empty);
	pthread_mutex_unlock(&s->m);
	for (int i = 0; i < 2; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			bench_die("shm ring consumer %d failed", i);
	}
	double rate = (double)n / ((double)(bench_ns() - t0) / 1e9);
	if (s->consumed != n)
		bench_die("shm ring: %lu of %lu records consumed", s->consumed, n);
	return rate;
}

/* ---- the data-movement floor: lock-free batches of slot-sized records ---- */

enum { SLOTS = 1024 };
struct fslot {
	uint64_t meta[24]; /* 192 bytes, like struct trq_slot's fields */
	uint64_t args[8];  /* the first line of the argument area */
	uint64_t out[8];   /* the first line of the result area */
};
struct fring {
	alignas(64) uint64_t tail; /* batches published by the producer */
	alignas(64) uint64_t done; /* batches finished by the consumer */
	alignas(64) uint64_t stop;
	alignas(64) struct fslot s[SLOTS];
};

static _Noreturn void fring_consumer(struct fring *f)
{
	uint64_t next = 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		while (__atomic_load_n(&f->tail, __ATOMIC_ACQUIRE) == next) {
			if (__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
				_exit(0);
			__builtin_ia32_pause();
		}
		struct fslot *b = &f->s[(next * BATCH) % SLOTS];
		for (int i = 0; i < BATCH; i++) {
			/* read the record and the argument, like trq_take */
			uint64_t x = b[i].meta[0] ^ b[i].meta[8] ^ b[i].meta[16] ^ b[i].args[0];
			b[i].out[0] = x + 1;   /* the result */
			b[i].meta[1] = 3;      /* state: done */
			b[i].meta[12] = x;     /* finish time */
			b[i].meta[20] = x + 2; /* list links, checksum */
		}
		next++;
		__atomic_store_n(&f->done, next, __ATOMIC_RELEASE);
	}
}

/* n tasks (a multiple of 64) with `window` tasks in flight; returns tasks/s. */
static double run_fring(struct fring *f, unsigned long n, unsigned window)
{
	unsigned long nb = n / BATCH, sent = 0, got = 0, inflight = window / BATCH;
	f->tail = f->done = f->stop = 0;
	fflush(stdout);
	pid_t kid = fork();
	if (kid < 0)
		bench_die("fork: %s", strerror(errno));
	if (kid == 0)
		fring_consumer(f);
	uint64_t t0 = bench_ns();
	while (got < nb) {
		while (sent < nb && sent - got < inflight) {
			struct fslot *b = &f->s[(sent * BATCH) % SLOTS];
			for (int i = 0; i < BATCH; i++) {
				b[i].meta[0] = sent * BATCH + (unsigned)i; /* id */
				b[i].meta[1] = 1;                          /* state: queued */
				b[i].meta[8] = sent;                       /* argument sizes */
				b[i].meta[16] = 7;                         /* checksum */
				b[i].args[0] = (unsigned)i;                /* the argument */
			}
			sent++;
			__atomic_store_n(&f->tail, sent, __ATOMIC_RELEASE);
		}
		while (__atomic_load_n(&f->done, __ATOMIC_ACQUIRE) <= got)
			__builtin_ia32_pause();
		struct fslot *b = &f->s[(got * BATCH) % SLOTS];
		for (int i = 0; i < BATCH; i++) {
			/* copy the result out, like copy_info */
			uint64_t want = (b[i].meta[0] ^ b[i].meta[8] ^ 7 ^ (unsigned)i) + 1;
			if (b[i].out[0] != want || b[i].meta[1] != 3)
				bench_die("shm slots: wrong result in slot %d", i);
		}
		got++;
	}
	double rate = (double)n / ((double)(bench_ns() - t0) / 1e9);
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	int st;
	if (waitpid(kid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		bench_die("shm slots consumer failed");
	return rate;
}

/* ---- taskring ----------------------------------------------------------- */

static void check_done(const struct taskring_info *in, const char *inst)
{
	if (in->state != TASKRING_DONE)
		bench_die("%s: task %llu ended %s: %s", inst, (unsigned long long)in->id,
		          taskring_state_name(in->state), in->output ? in->output : "");
}

/* One task per call with `window` tasks in flight; returns tasks/s. With
 * arg, the tasks are `echo arg` and every output is checked. */
static double run_single_arg(taskring_t *h, const char *inst, unsigned long n, unsigned window,
                             const char *arg)
{
	uint64_t *ids = calloc(window, sizeof(*ids));
	struct taskring_opts o = {.timeout_ms = 10000};
	unsigned long sent = 0, got = 0;
	if (!ids)
		bench_die("out of memory");
	uint64_t t0 = bench_ns();
	while (got < n) {
		while (sent < n && sent - got < window) {
			int r = arg ? taskring_submit(h, "echo", 1, &arg, &o, &ids[sent % window])
			            : taskring_submit(h, "noop", 0, NULL, &o, &ids[sent % window]);
			if (r)
				bench_die("%s: taskring_submit: %s", inst, taskring_strerror(r));
			sent++;
		}
		struct taskring_info in;
		int r = taskring_wait(h, ids[got % window], 10000, &in);
		if (r)
			bench_die("%s: taskring_wait: %s", inst, taskring_strerror(r));
		check_done(&in, inst);
		if (arg && strcmp(in.output, arg) != 0)
			bench_die("%s: echo task %llu returned '%.40s'", inst,
			          (unsigned long long)in.id, in.output);
		taskring_info_release(&in);
		got++;
	}
	double rate = (double)n / ((double)(bench_ns() - t0) / 1e9);
	free(ids);
	return rate;
}

static double run_single(taskring_t *h, const char *inst, unsigned long n, unsigned window)
{
	return run_single_arg(h, inst, n, window, NULL);
}

/* The argument of the echo row: 32 bytes, as a short path or a key would be. */
static const char echo_arg[] = "/srv/data/2026/11/22/part-000042";

/* Batches of 64 with `window` (a multiple of 64) tasks in flight. */
static double run_batch(taskring_t *h, const char *inst, unsigned long n, unsigned window)
{
	uint64_t *ids = calloc(window, sizeof(*ids));
	struct taskring_req reqs[BATCH];
	struct taskring_info infos[BATCH];
	struct taskring_opts o = {.timeout_ms = 10000};
	unsigned long sent = 0, got = 0;
	if (!ids)
		bench_die("out of memory");
	for (int i = 0; i < BATCH; i++)
		reqs[i] = (struct taskring_req){"noop", 0, NULL};
	uint64_t t0 = bench_ns();
	while (got < n) {
		while (sent < n && sent - got + BATCH <= window) {
			int r = taskring_submit_batch(h, BATCH, reqs, &o, &ids[sent % window]);
			if (r != BATCH)
				bench_die("%s: taskring_submit_batch: %s", inst,
				          r < 0 ? taskring_strerror(r) : "short batch");
			sent += BATCH;
		}
		int r = taskring_wait_many(h, BATCH, &ids[got % window], 10000, infos);
		if (r)
			bench_die("%s: taskring_wait_many: %s", inst, taskring_strerror(r));
		for (int i = 0; i < BATCH; i++) {
			check_done(&infos[i], inst);
			taskring_info_release(&infos[i]);
		}
		got += BATCH;
	}
	double rate = (double)n / ((double)(bench_ns() - t0) / 1e9);
	free(ids);
	return rate;
}

/* ---- the program -------------------------------------------------------- */

struct inst {
	const char *name, *label;
	taskring_t *h;
	double single[MAX_ROUNDS], batch[MAX_ROUNDS];
};

/* Median of a[i] / b[i] over n rounds. */
static double ratio(const double *a, const double *b, int n)
{
	double r[MAX_ROUNDS];
	for (int i = 0; i < n; i++)
		r[i] = a[i] / b[i];
	return bench_stats(r, (size_t)n).med;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: bench_e2e -i NAME[=LABEL]... [--title T] [--rounds N] [--tasks N]\n"
	        "                 [--window N] [--no-ring] [--no-goals] [--only single|batch]\n"
	        "                 [--python PY --pyscript FILE] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct inst in[MAX_INST];
	int ninst = 0, rounds = 5, ring = 1, goals = 1, modes = 3;
	unsigned long tasks = 1000000;
	unsigned window = 256;
	const char *python = NULL, *pyscript = NULL, *title = NULL;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-i") && v && ninst < MAX_INST) {
			char *eq = strchr(argv[++i], '=');
			in[ninst].name = argv[i];
			in[ninst].label = eq ? eq + 1 : "taskring";
			if (eq)
				*eq = 0;
			ninst++;
		} else if (!strcmp(a, "--rounds") && v) {
			rounds = (int)bench_num(a, argv[++i], 1, MAX_ROUNDS);
		} else if (!strcmp(a, "--tasks") && v) {
			tasks = bench_num(a, argv[++i], 1000, 1000000000);
		} else if (!strcmp(a, "--window") && v) {
			window = (unsigned)bench_num(a, argv[++i], 1, 65536);
		} else if (!strcmp(a, "--title") && v) {
			title = argv[++i];
		} else if (!strcmp(a, "--python") && v) {
			python = argv[++i];
		} else if (!strcmp(a, "--pyscript") && v) {
			pyscript = argv[++i];
		} else if (!strcmp(a, "--no-ring")) {
			ring = 0;
		} else if (!strcmp(a, "--no-goals")) {
			goals = 0;
		} else if (!strcmp(a, "--only") && v) {
			i++;
			if (!strcmp(v, "single"))
				modes = 1;
			else if (!strcmp(v, "batch"))
				modes = 2;
			else
				usage();
		} else if (!strcmp(a, "--smoke")) {
			rounds = 1;
			tasks = 20000;
		} else {
			usage();
		}
	}
	if (!ninst || (python && !pyscript))
		usage();
	tasks -= tasks % BATCH;
	if (tasks < BATCH)
		tasks = BATCH;
	/* Sizes per mode, so that each takes roughly the same time here. */
	unsigned long n_single = tasks / 5, n_ppe = tasks / 100, n_map1 = tasks / 40;
	unsigned bwindow = 1024;

	for (int k = 0; k < ninst; k++)
		in[k].h = bench_attach_ready(in[k].name, 2, 30);
	struct shring *sr = ring ? shring_new() : NULL;
	struct fring *fr = NULL;
	if (ring) {
		fr = mmap(NULL, sizeof(*fr), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		          0);
		if (fr == MAP_FAILED)
			bench_die("mmap(shm slots): %s", strerror(errno));
	}
	double vr[MAX_ROUNDS], vf[MAX_ROUNDS], vp[MAX_ROUNDS], vm1[MAX_ROUNDS], vm1k[MAX_ROUNDS],
	    ve[MAX_ROUNDS];
	int py = python != NULL;

	for (int r = 0; r < rounds; r++) {
		if (sr)
			vr[r] = run_shring(sr, tasks);
		if (fr)
			vf[r] = run_fring(fr, tasks, bwindow);
		for (int k = 0; k < ninst; k++) {
			if (modes & 1)
				in[k].single[r] = run_single(in[k].h, in[k].name, n_single, window);
			if ((modes & 1) && k == 0) /* a task with an argument and a result */
				ve[r] =
				    run_single_arg(in[k].h, in[k].name, n_single, window, echo_arg);
			if (modes & 2)
				in[k].batch[r] = run_batch(in[k].h, in[k].name, tasks, bwindow);
		}
		if (py) {
			double x;
			if (bench_python(python, pyscript, "ppe", n_ppe, &x, 1) != 1)
				bench_die("python baseline ppe failed");
			vp[r] = x;
			if (bench_python(python, pyscript, "map1", n_map1, &x, 1) != 1)
				bench_die("python baseline map1 failed");
			vm1[r] = x;
			if (bench_python(python, pyscript, "map1024", tasks, &x, 1) != 1)
				bench_die("python baseline map1024 failed");
			vm1k[r] = x;
		}
	}

	char t[160];
	snprintf(t, sizeof(t), "%s (%d round%s; %lu tasks per round, %lu one per call)",
	         title ? title : "throughput: no-op tasks end to end, 1 client -> 2 workers",
	         rounds, rounds > 1 ? "s" : "", tasks, n_single);
	bench_head(t);
	struct bench_stat s;
	double c[MAX_ROUNDS];
	if (sr) {
		memcpy(c, vr, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		bench_row("shm ring (mutex+2 condvars)", &s, "tasks/s",
		          "floor: 1 -> 2 processes, no results");
	}
	if (fr) {
		memcpy(c, vf, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		bench_row("shm slots (lock-free, batches of 64)", &s, "tasks/s",
		          "floor: slot-sized records there and back, 1 -> 1 process");
	}
	if (py) {
		memcpy(c, vp, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		bench_row("python ProcessPoolExecutor.submit", &s, "tasks/s", "%lu tasks", n_ppe);
		memcpy(c, vm1, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		bench_row("python Pool.map chunksize 1", &s, "tasks/s", "%lu tasks", n_map1);
		memcpy(c, vm1k, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		bench_row("python Pool.map chunksize 1024", &s, "tasks/s", "%lu tasks", tasks);
	}
	for (int k = 0; k < ninst; k++) {
		char label[64], note[256];
		size_t l = 0;
		for (int b = 0; b < 2; b++) {
			double *v = b ? in[k].batch : in[k].single;
			if (!(modes & (1 << b)))
				continue;
			l = 0;
			note[0] = 0;
			if (sr)
				l += (size_t)snprintf(note + l, sizeof(note) - l, "%.2fx ring",
				                      ratio(v, vr, rounds));
			if (fr && b)
				l += (size_t)snprintf(note + l, sizeof(note) - l, ", %.2fx slots",
				                      ratio(v, vf, rounds));
			if (k > 0)
				l += (size_t)snprintf(
				    note + l, sizeof(note) - l, "%s%.2fx %s", l ? ", " : "",
				    ratio(v, b ? in[0].batch : in[0].single, rounds), in[0].label);
			if (py)
				l +=
				    (size_t)snprintf(note + l, sizeof(note) - l, "%s%.1fx %s",
				                     l ? ", " : "", ratio(v, b ? vm1k : vp, rounds),
				                     b ? "Pool.map(1024)" : "PPE.submit");
			memcpy(c, v, sizeof(c));
			s = bench_stats(c, (size_t)rounds);
			/* each goal its own verdict */
			if (goals)
				l += (size_t)snprintf(
				    note + l, sizeof(note) - l, "%sgoal >= %s/s: %s", l ? "; " : "",
				    b ? "10M" : "2M", bench_goal(s.med >= (b ? 10e6 : 2e6)));
			if (goals && py)
				l += (size_t)snprintf(
				    note + l, sizeof(note) - l, "; goal >= %s: %s",
				    b ? "3x" : "200x",
				    bench_goal(ratio(v, b ? vm1k : vp, rounds) >= (b ? 3 : 200)));
			(void)l;
			if (b)
				snprintf(label, sizeof(label), "%s batch 64 (window %u)",
				         in[k].label, bwindow);
			else
				snprintf(label, sizeof(label), "%s one per call (window %u)",
				         in[k].label, window);
			bench_row(label, &s, "tasks/s", "%s", note);
		}
	}
	if (modes & 1) {
		char label[96];
		memcpy(c, ve, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		snprintf(label, sizeof(label), "%s echo of %zu bytes, one per call", in[0].label,
		         sizeof(echo_arg) - 1);
		bench_row(label, &s, "tasks/s", "%.2fx no-op one per call; output checked",
		          ratio(ve, in[0].single, rounds));
	}
	for (int k = 0; k < ninst; k++)
		taskring_detach(in[k].h);
	return 0;
}
