/*
 * bench.h - helpers shared by the benchmark programs in bench/ (header only:
 * the Makefile builds every .c file in bench/ into a program of its own).
 *
 * Owns: clocks, the statistics every table prints (median, min, max,
 * percentiles over several rounds), the table row format, attaching to a
 * daemon that scripts/bench started and waiting until its workers are ready,
 * and running the Python baselines (bench/pybase.py) as child processes.
 *
 * Rules: benchmarks print numbers and never judge them: a program exits 1 only
 * when something broke (a daemon missing, a task failing, a wrong result),
 * never because a number missed its goal. No global state: everything a
 * helper needs is passed in.
 */
#ifndef TR_BENCH_H
#define TR_BENCH_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "taskring.h"

#define BENCH_UNUSED __attribute__((unused))

/* CLOCK_MONOTONIC in ns. */
BENCH_UNUSED static uint64_t bench_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleeps for ns nanoseconds (restarting after signals). */
BENCH_UNUSED static void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Prints "PROGRAM: message" on stderr and exits 1: something broke. */
__attribute__((format(printf, 1, 2), noreturn, unused)) static void bench_die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* Parses a whole decimal number in [lo, hi]; exits with a usage error (2)
 * naming the option otherwise. */
BENCH_UNUSED static unsigned long bench_num(const char *opt, const char *s, unsigned long lo,
                                            unsigned long hi)
{
	char *end;
	errno = 0;
	unsigned long v = s && *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
	if (!s || *s < '0' || *s > '9' || errno || *end || v < lo || v > hi) {
		fprintf(stderr, "%s: %s: expected a number from %lu to %lu, got '%s'\n",
		        program_invocation_short_name, opt, lo, hi, s ? s : "");
		exit(2);
	}
	return v;
}

BENCH_UNUSED static int bench_cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median, extremes and tail of a set of measurements. */
struct bench_stat {
	double med, min, max, p99;
	size_t n;
};

/* The value below which a fraction p (0..1) of the sorted samples lie
 * (nearest rank). */
BENCH_UNUSED static double bench_pct(const double *sorted, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t k = (size_t)ceil(p * (double)n);
	return sorted[k ? k - 1 : 0];
}

/* Sorts v[0..n) and summarises it. */
BENCH_UNUSED static struct bench_stat bench_stats(double *v, size_t n)
{
	struct bench_stat s = {NAN, NAN, NAN, NAN, n};
	if (!n)
		return s;
	qsort(v, n, sizeof(*v), bench_cmpd);
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.min = v[0];
	s.max = v[n - 1];
	s.p99 = bench_pct(v, n, 0.99);
	return s;
}

/* Formats x with 3 significant digits and a k/M/G suffix ("1.23M"). */
BENCH_UNUSED static const char *bench_si(char *buf, size_t len, double x)
{
	static const char suf[] = " kMG";
	int i = 0;
	if (isnan(x)) {
		snprintf(buf, len, "-");
		return buf;
	}
	while (fabs(x) >= 1000 && i < 3) {
		x /= 1000;
		i++;
	}
	int prec = fabs(x) >= 100 ? 0 : fabs(x) >= 10 ? 1 : 2;
	snprintf(buf, len, "%.*f%.*s", prec, x, i ? 1 : 0, &suf[i]);
	return buf;
}

/* One table row: label, median, min..max, unit and an optional note (a
 * ratio, a goal). The header is printed by bench_head(). */
BENCH_UNUSED static void bench_head(const char *title)
{
	printf("\n== %s\n", title);
	printf("%-40s %10s %21s  %s\n", "", "median", "min .. max", "notes");
}

__attribute__((format(printf, 4, 5), unused)) static void
bench_row(const char *label, const struct bench_stat *s, const char *unit, const char *fmt, ...)
{
	char a[16], b[16], c[16], range[48];
	snprintf(range, sizeof(range), "%s .. %s", bench_si(b, sizeof(b), s->min),
	         bench_si(c, sizeof(c), s->max));
	printf("%-40s %10s %21s  %s", label, bench_si(a, sizeof(a), s->med), range, unit);
	if (fmt && *fmt) {
		va_list ap;
		printf("  ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("\n");
	fflush(stdout);
}

/* "met" or "MISSED" for a goal line. */
/* The pid of supervisor sup's child titled "taskring: spare worker" (a spare
 * worker set up and waiting: it takes that title once it is) that is none
 * of the n pids in known (a spare that has just taken a slot keeps the title
 * for a moment), or 0. */
BENCH_UNUSED static int bench_find_spare(int sup, const int *known, int n)
{
	char path[96], kids[4096], title[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", sup, sup);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t len = fread(kids, 1, sizeof(kids) - 1, f);
	fclose(f);
	kids[len] = 0;
	char *save = NULL;
	for (char *tok = strtok_r(kids, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		int pid = atoi(tok), is_known = 0;
		for (int i = 0; i < n; i++)
			is_known |= known[i] == pid;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = is_known || pid <= 0 ? NULL : fopen(path, "re");
		if (!f)
			continue;
		size_t k = fread(title, 1, sizeof(title) - 1, f);
		fclose(f);
		title[k] = 0;
		if (!strncmp(title, "taskring: spare worker", 22))
			return pid;
	}
	return 0;
}

BENCH_UNUSED static const char *bench_goal(int met)
{
	return met ? "met" : "MISSED";
}

/* Counts the workers of a status snapshot in state ready or busy. */
BENCH_UNUSED static int bench_nready(const struct taskring_status *st)
{
	int n = 0;
	for (int i = 0; i < st->nworkers; i++)
		if (!strcmp(st->workers[i].state, "ready") || !strcmp(st->workers[i].state, "busy"))
			n++;
	return n;
}

/* Attaches to instance inst and waits (up to timeout_s) until its supervisor
 * is alive and at least nworkers workers are ready. Exits 1 when it cannot. */
BENCH_UNUSED static taskring_t *bench_attach_ready(const char *inst, int nworkers, int timeout_s)
{
	uint64_t end = bench_ns() + (uint64_t)timeout_s * 1000000000ull;
	taskring_t *h = NULL;
	int r, last = 0;
	for (;;) {
		if (!h) {
			r = taskring_attach(inst, &h);
			if (r)
				h = NULL;
		} else {
			struct taskring_status st;
			r = taskring_status_get(h, &st);
			if (!r) {
				last = bench_nready(&st);
				int ok = st.alive && last >= nworkers;
				taskring_status_release(&st);
				if (ok)
					return h;
			}
		}
		if (bench_ns() > end)
			bench_die("instance %s: %d of %d workers ready after %d s (%s)", inst, last,
			          nworkers, timeout_s, r ? taskring_strerror(r) : "not ready");
		bench_sleep_ns(5000000);
	}
}

/*
 * Runs a Python baseline: `python script mode n` in a child process whose
 * standard output must end with a line "RESULT v1 v2 ...". Stores up to nout
 * values in out[] and returns how many were read, or -1 when the child failed
 * (its stderr passes through). The child's start-up is not part of what it
 * measures: the script times only its own loop.
 */
BENCH_UNUSED static int bench_python(const char *python, const char *script, const char *mode,
                                     unsigned long n, double *out, int nout)
{
	int fd[2];
	char num[32], buf[4096];
	size_t len = 0;
	snprintf(num, sizeof(num), "%lu", n);
	fflush(stdout);
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		execl(python, python, script, mode, num, (char *)NULL);
		fprintf(stderr, "%s: exec %s: %s\n", program_invocation_short_name, python,
		        strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		ssize_t k = read(fd[0], buf + len, sizeof(buf) - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
		if (len == sizeof(buf) - 1)
			len = 0; /* only the last line matters */
	}
	buf[len] = 0;
	close(fd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	char *p = strstr(buf, "RESULT ");
	if (!p)
		return -1;
	p += 7;
	int k = 0;
	while (k < nout) {
		char *end;
		double v = strtod(p, &end);
		if (end == p)
			break;
		out[k++] = v;
		p = end;
	}
	return k;
}

#endif
