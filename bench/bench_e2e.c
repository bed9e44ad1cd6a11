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
 * --warm N first makes N passes over every instance's whole table (batches,
 * at least a round's worth of tasks each) and over the shm slots floor, and
 * over that floor again with a table as large as the largest instance's;
 * each pass is timed and printed. The first pass over a large table is
 * cold: every page is new to every process (page faults, and on a virtual
 * machine the host's own mappings); the floor shows what that costs without
 * taskring. The rounds then measure the warm tables.
 *
 * Usage: bench_e2e -i NAME[=LABEL]... [--title T] [--rounds N] [--tasks N]
 *                  [--window N] [--warm N] [--no-ring] [--no-goals]
 *                  [--only single|batch] [--python PY --pyscript FILE] [--smoke]
 * (--only measures one taskring mode, e.g. under a profiler.)
 * Exit 0 after printing, 1 when something broke (a task failed or timed out).
 */
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "bench.h"

#define MAX_INST    8
#define MAX_ROUNDS  50
#define BATCH       64
#define FRING_SLOTS 1024u /* the floor's table, as a 1k queue's */

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

struct fslot {
	uint64_t meta[24]; /* 192 bytes, like struct trq_slot's fields */
	uint64_t args[8];  /* the first line of the argument area */
	uint64_t out[8];   /* the first line of the result area */
};
/* The producer (this process) fills batches of records in table order and
 * publishes them through tail; one consumer process, forked once and kept
 * for every round (so its page tables stay warm, like a worker's), answers
 * each and advances done. Both count batches since fring_new(). */
struct fring {
	alignas(64) uint64_t tail; /* batches published by the producer */
	alignas(64) uint64_t done; /* batches finished by the consumer */
	alignas(64) uint64_t stop;
	uint32_t run;    /* 1 during run_fring(); the consumer sleeps on it else */
	uint64_t nslots; /* records in the table, a multiple of BATCH */
	pid_t kid;
	alignas(64) struct fslot s[];
};

static _Noreturn void fring_consumer(struct fring *f)
{
	uint64_t next = 0;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		while (__atomic_load_n(&f->tail, __ATOMIC_ACQUIRE) == next) {
			if (__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
				_exit(0);
			if (!__atomic_load_n(&f->run, __ATOMIC_ACQUIRE))
				syscall(SYS_futex, &f->run, FUTEX_WAIT, 0, NULL, NULL, 0);
			else
				__builtin_ia32_pause();
		}
		struct fslot *b = &f->s[(next * BATCH) % f->nslots];
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

/* A table of nslots records (rounded up to a multiple of BATCH) in shared
 * memory, and its consumer process. */
static struct fring *fring_new(uint64_t nslots)
{
	nslots = (nslots + BATCH - 1) / BATCH * BATCH;
	size_t len = sizeof(struct fring) + nslots * sizeof(struct fslot);
	struct fring *f =
	    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (f == MAP_FAILED)
		bench_die("mmap(shm slots, %zu bytes): %s", len, strerror(errno));
	f->nslots = nslots;
	fflush(stdout);
	f->kid = fork();
	if (f->kid < 0)
		bench_die("fork: %s", strerror(errno));
	if (f->kid == 0)
		fring_consumer(f);
	return f;
}

/* Lets the consumer spin (on = 1) or puts it to sleep between runs, so
 * that it does not take a CPU from what is measured next. */
static void fring_run(struct fring *f, uint32_t on)
{
	__atomic_store_n(&f->run, on, __ATOMIC_RELEASE);
	if (on)
		syscall(SYS_futex, &f->run, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void fring_free(struct fring *f)
{
	int st;
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	fring_run(f, 1);
	if (waitpid(f->kid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		bench_die("shm slots consumer failed");
	munmap(f, sizeof(struct fring) + f->nslots * sizeof(struct fslot));
}

/* n tasks (a multiple of 64) with `window` tasks in flight; returns tasks/s. */
static double run_fring(struct fring *f, unsigned long n, unsigned window)
{
	uint64_t base = f->tail, nb = base + n / BATCH, sent = base, got = base;
	unsigned long inflight = window / BATCH;
	fring_run(f, 1);
	uint64_t t0 = bench_ns();
	while (got < nb) {
		while (sent < nb && sent - got < inflight) {
			struct fslot *b = &f->s[(sent * BATCH) % f->nslots];
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
		struct fslot *b = &f->s[(got * BATCH) % f->nslots];
		for (int i = 0; i < BATCH; i++) {
			/* copy the result out, like copy_info */
			uint64_t want = (b[i].meta[0] ^ b[i].meta[8] ^ 7 ^ (unsigned)i) + 1;
			if (b[i].out[0] != want || b[i].meta[1] != 3)
				bench_die("shm slots: wrong result in slot %d", i);
		}
		got++;
	}
	double rate = (double)n / ((double)(bench_ns() - t0) / 1e9);
	fring_run(f, 0);
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
		for (int i = 0; i < BATCH; i++)
			check_done(&infos[i], inst);
		taskring_info_release_many(BATCH, infos);
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
	uint64_t cap;          /* queue.capacity, read with --warm */
	struct fring *ft;      /* with --warm: the floor with a table of that size */
	int ft_own;            /* ft is this instance's (the first of its size) */
	double vt[MAX_ROUNDS]; /* that floor's rounds, when ft_own */
	double single[MAX_ROUNDS], batch[MAX_ROUNDS];
};

/* The passes over one table before the rounds (--warm). */
struct pass {
	char label[64];
	double v[MAX_ROUNDS]; /* tasks/s of each pass */
	int n;
	unsigned long len; /* tasks per pass: the table's size */
};

/* "1k", "64k", "1M" for table sizes that are powers of two. */
static const char *si_count(uint64_t n)
{
	static char buf[32];
	if (n >= (1u << 20) && n % (1u << 20) == 0)
		snprintf(buf, sizeof(buf), "%lluM", (unsigned long long)(n >> 20));
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, sizeof(buf), "%lluk", (unsigned long long)(n >> 10));
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)n);
	return buf;
}

static void warm_fring(struct pass *w, struct fring *f, int n, unsigned long len, unsigned window)
{
	snprintf(w->label, sizeof(w->label), "shm slots, table of %s", si_count(f->nslots));
	for (int p = 0; p < n; p++)
		w->v[p] = run_fring(f, len, window);
	w->n = n;
	w->len = len;
}

/* One row per table: its first (cold) pass, and every pass in the note. */
static void print_passes(const struct pass *w)
{
	char label[96], note[256], b[16];
	size_t l = 0;
	struct bench_stat s = {w->v[0], w->v[0], w->v[0], w->v[0], 1};
	snprintf(label, sizeof(label), "%.60s: first pass", w->label);
	for (int p = 0; p < w->n && l < sizeof(note) - 24; p++)
		l += (size_t)snprintf(note + l, sizeof(note) - l, "%s%s", p ? " " : "",
		                      bench_si(b, sizeof(b), w->v[p]));
	bench_row(label, &s, "tasks/s", "passes of %s tasks before the rounds: %s",
	          si_count(w->len), note);
}

/* queue.capacity of an attached instance. */
static uint64_t inst_capacity(taskring_t *h, const char *name)
{
	struct taskring_status st;
	int r = taskring_status_get(h, &st);
	if (r)
		bench_die("%s: taskring_status_get: %s", name, taskring_strerror(r));
	uint64_t cap = st.capacity;
	taskring_status_release(&st);
	return cap;
}

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
	        "                 [--window N] [--warm N] [--no-ring] [--no-goals]\n"
	        "                 [--only single|batch] [--python PY --pyscript FILE] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct inst in[MAX_INST] = {0};
	int ninst = 0, rounds = 5, ring = 1, goals = 1, modes = 3, warm = 0, smoke = 0;
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
		} else if (!strcmp(a, "--warm") && v) {
			warm = (int)bench_num(a, argv[++i], 1, MAX_ROUNDS);
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
			smoke = 1;
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
	struct fring *fr = ring || warm ? fring_new(FRING_SLOTS) : NULL;
	double vr[MAX_ROUNDS], vf[MAX_ROUNDS], vp[MAX_ROUNDS], vm1[MAX_ROUNDS], vm1k[MAX_ROUNDS],
	    ve[MAX_ROUNDS];
	int py = python != NULL;

	/* --warm: passes over every table before the rounds, the first one
	 * cold; each instance's table size gets a floor table of its own. */
	struct pass passes[2 * MAX_INST + 1];
	int npass = 0;
	if (warm) {
		/* a pass: the whole table, and at least a round's worth (with
		 * --smoke a round's worth: it only has to work) */
		warm_fring(&passes[npass++], fr, warm, tasks, bwindow);
		for (int k = 0; k < ninst; k++) {
			in[k].cap = inst_capacity(in[k].h, in[k].name);
			in[k].ft = fr;
			for (int j = 0; j < k; j++)
				if (in[j].cap == in[k].cap)
					in[k].ft = in[j].ft;
			if (in[k].ft == fr && in[k].cap > FRING_SLOTS) {
				in[k].ft = fring_new(in[k].cap);
				in[k].ft_own = 1;
				warm_fring(&passes[npass++], in[k].ft, warm,
				           tasks > in[k].ft->nslots || smoke ? tasks
				                                             : in[k].ft->nslots,
				           bwindow);
			}
		}
		for (int k = 0; k < ninst; k++) {
			struct pass *w = &passes[npass++];
			snprintf(w->label, sizeof(w->label), "%s", in[k].label);
			unsigned long n = (in[k].cap + BATCH - 1) / BATCH * BATCH;
			n = n > tasks && !smoke ? n : tasks;
			for (int p = 0; p < warm; p++)
				w->v[p] = run_batch(in[k].h, in[k].name, n, bwindow);
			w->n = warm;
			w->len = n;
		}
	}

	for (int r = 0; r < rounds; r++) {
		if (sr)
			vr[r] = run_shring(sr, tasks);
		if (fr)
			vf[r] = run_fring(fr, tasks, bwindow);
		for (int k = 0; k < ninst; k++)
			if (in[k].ft_own)
				in[k].vt[r] = run_fring(in[k].ft, tasks, bwindow);
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
	for (int i = 0; i < npass; i++)
		print_passes(&passes[i]);
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
		          "floor: slot-sized records there and back, 1 -> 1 process, table of %u",
		          FRING_SLOTS);
	}
	for (int k = 0; k < ninst; k++) {
		if (!in[k].ft_own)
			continue;
		char label[64];
		memcpy(c, in[k].vt, sizeof(c));
		s = bench_stats(c, (size_t)rounds);
		snprintf(label, sizeof(label), "shm slots, table of %s",
		         si_count(in[k].ft->nslots));
		bench_row(label, &s, "tasks/s", "%.2fx table of %u (the same floor)",
		          ratio(in[k].vt, vf, rounds), FRING_SLOTS);
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
			if (fr && b && in[k].ft_own)
				l += (size_t)snprintf(note + l, sizeof(note) - l,
				                      "%s%.2fx slots, %.2fx slots of its size",
				                      l ? ", " : "", ratio(v, vf, rounds),
				                      ratio(v, in[k].vt, rounds));
			else if (fr && b)
				l += (size_t)snprintf(note + l, sizeof(note) - l, "%s%.2fx slots",
				                      l ? ", " : "", ratio(v, vf, rounds));
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
	for (int k = 0; k < ninst; k++)
		if (in[k].ft_own)
			fring_free(in[k].ft);
	if (fr)
		fring_free(fr);
	return 0;
}
