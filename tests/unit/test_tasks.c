/*
 * test_tasks.c - the built-in task types without a queue: argument checking,
 * every cpu handler's result (expected values computed here independently),
 * CRC-32 against known vectors and a bitwise reference, the allowed-path check
 * (symlinks escaping the directory), and the io state machines driven by
 * plain pread/pwrite (also with short reads and writes).
 *
 * Everything lives under one mkdtemp directory, removed at the end; crash
 * tasks run in forked children that the test reaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32.h"
#include "iotasks.h"
#include "paths.h"
#include "tap.h"
#include "tasks.h"

static char tmpdir[256];

/* ---- helpers ---------------------------------------------------------------- */

/* Bitwise CRC-32, the reference for the table-driven one. */
static uint32_t crc_ref(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

struct run {
	int state;
	char out[4096];
	size_t len;
};

/* Checks and runs a cpu task given as words; state -1 when the check failed
 * (then out holds the check's error). */
static struct run run_task(size_t cap, const char *type, int argc, ...)
{
	struct run r = {0};
	char *argv[16];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);

	const struct tr_task_def *d = tr_task_find(type);
	if (!d) {
		r.state = -2;
		return r;
	}
	struct tr_targs ta;
	char err[512];
	if (tr_task_check(d, (unsigned)argc, argv, &ta, err, sizeof(err)) < 0) {
		r.state = -1;
		snprintf(r.out, sizeof(r.out), "%s", err);
		r.len = strlen(r.out);
		return r;
	}
	struct tr_out o;
	tr_out_init(&o, r.out, cap < sizeof(r.out) - 1 ? cap : sizeof(r.out) - 1);
	r.state = tr_task_run(d, &ta, (unsigned)argc, argv, &o);
	r.len = o.len;
	r.out[o.len] = '\0';
	return r;
}

static const char *check_err(const char *type, int argc, ...)
{
	static char err[512];
	char *argv[16];
	va_list ap;
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	const struct tr_task_def *d = tr_task_find(type);
	struct tr_targs ta;
	if (!d)
		return "(no such type)";
	if (tr_task_check(d, (unsigned)argc, argv, &ta, err, sizeof(err)) == 0)
		return "(accepted)";
	return err;
}

static void u128_str(unsigned __int128 v, char *buf)
{
	char tmp[48];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, buf, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

static char *slurp(const char *path, size_t *n)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t r = read(fd, buf, sizeof(buf));
	close(fd);
	if (r < 0)
		return NULL;
	*n = (size_t)r;
	return buf;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

/* ---- cpu types ---------------------------------------------------------------- */

static void test_cpu_results(void)
{
	struct run r;

	r = run_task(4096, "noop", 0);
	ok(r.state == TASKRING_DONE && r.len == 0, "noop: done, empty result");

	r = run_task(4096, "echo", 3, "hello", "big", "world");
	is_str(r.out, "hello big world", "echo joins words with single spaces");
	is_int(r.state, TASKRING_DONE, "echo: done");
	r = run_task(4096, "echo", 0);
	ok(r.state == TASKRING_DONE && r.len == 0, "echo without words: empty");
	r = run_task(4096, "echo", 2, "", "x");
	is_str(r.out, " x", "echo keeps empty words");

	uint64_t ns[] = {0, 1, 2, 10, 1000, 1000000};
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		double s = 0;
		char want[64], arg[32];
		for (uint64_t i = 0; i < ns[k]; i++)
			s += sqrt((double)i);
		snprintf(want, sizeof(want), "%.6f", s);
		snprintf(arg, sizeof(arg), "%llu", (unsigned long long)ns[k]);
		r = run_task(4096, "sqrt-sum", 1, arg);
		is_str(r.out, want, "sqrt-sum %s", arg);
	}
	r = run_task(4096, "sqrt-sum", 1, "4");
	is_str(r.out, "4.146264", "sqrt-sum 4 = 0+1+1.414214+1.732051");

	uint64_t sq[] = {0, 1, 2, 3, 10, 1000, 3000000000ull / 1000, 1000000000ull};
	for (size_t k = 0; k < sizeof(sq) / sizeof(sq[0]); k++) {
		/* closed form: sum_{i<n} i^2 = (n-1) n (2n-1) / 6 */
		unsigned __int128 n = sq[k], v = n ? (n - 1) * n * (2 * n - 1) / 6 : 0;
		char want[64], arg[32];
		u128_str(v, want);
		snprintf(arg, sizeof(arg), "%llu", (unsigned long long)sq[k]);
		r = run_task(4096, "square-sum", 1, arg);
		is_str(r.out, want, "square-sum %s", arg);
	}
	r = run_task(4096, "square-sum", 1, "1000000000");
	is_str(r.out, "333333332833333333500000000", "square-sum 10^9 exceeds 64 bits, exact");

	double t0 = now_s();
	r = run_task(4096, "spin", 1, "60");
	double el = now_s() - t0;
	ok(r.state == TASKRING_DONE && r.len == 0, "spin 60: done, empty");
	ok(el >= 0.060 && el < 10, "spin 60 burns at least 60 ms (took %.3f s)", el);
	r = run_task(4096, "spin", 1, "0");
	is_int(r.state, TASKRING_DONE, "spin 0");

	r = run_task(4096, "fail", 0);
	is_int(r.state, TASKRING_FAILED, "fail fails");
	is_str(r.out, "failed on purpose", "fail: default message");
	r = run_task(4096, "fail", 3, "disk", "on", "fire");
	is_str(r.out, "disk on fire", "fail: words joined");
	r = run_task(6, "fail", 1, "a-long-message");
	ok(r.state == TASKRING_FAILED && r.len == 6, "fail: error cut to result_max");

	r = run_task(8, "echo", 2, "abcd", "efgh");
	is_int(r.state, TASKRING_FAILED, "echo longer than result_max fails");
	is_str(r.out, "echo: re", "... with the error (cut to the 8 bytes)");
	r = run_task(
	    100, "echo", 2, "abcdefghijklmnopqrstuvwxyz",
	    "0123456789012345678901234567890123456789012345678901234567890123456789012345");
	is_str(r.out, "echo: result longer than result_max (100 bytes)",
	       "result too long: clear error");
	r = run_task(9, "echo", 2, "abcd", "efg");
	ok(r.state == TASKRING_DONE && r.len == 8, "echo exactly result_max-1 fits");
	r = run_task(8, "echo", 2, "abcd", "efg");
	ok(r.state == TASKRING_DONE && r.len == 8, "echo exactly result_max fits");
}

static void test_crash(void)
{
	struct {
		const char *arg;
		int sig;
	} cases[] = {{NULL, SIGSEGV},      {"KILL", SIGKILL}, {"sigterm", SIGTERM},
	             {"SIGABRT", SIGABRT}, {"10", SIGUSR1},   {"usr2", SIGUSR2}};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			/* a blocked or ignored signal must still end the task's worker */
			signal(cases[k].sig == SIGKILL ? SIGTERM : cases[k].sig, SIG_IGN);
			sigset_t all;
			sigfillset(&all);
			sigprocmask(SIG_BLOCK, &all, NULL);
			if (cases[k].arg)
				run_task(4096, "crash", 1, cases[k].arg);
			else
				run_task(4096, "crash", 0);
			_exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		ok(WIFSIGNALED(st) && WTERMSIG(st) == cases[k].sig,
		   "crash %s kills with signal %d (status 0x%x)", cases[k].arg ? cases[k].arg : "",
		   cases[k].sig, st);
	}
}

static void test_arg_errors(void)
{
	is_str(check_err("sqrt-sum", 1, "abc"), "sqrt-sum: N: not a number: 'abc'", "not a number");
	is_str(check_err("sleep", 1, "-1"), "sleep: MS: out of range (0..86400000): '-1'",
	       "negative");
	is_str(check_err("sleep", 1, "86400001"),
	       "sleep: MS: out of range (0..86400000): '86400001'", "over the top");
	ok(strcmp(check_err("sleep", 1, "86400000"), "(accepted)") == 0, "sleep: top accepted");
	is_str(check_err("spin", 1, "99999999999999999999999"),
	       "spin: MS: out of range (0..86400000): '99999999999999999999999'", "overflow");
	is_str(check_err("sqrt-sum", 1, "1000000000001"),
	       "sqrt-sum: N: out of range (0..1000000000000): '1000000000001'", "sqrt-sum N limit");
	ok(strcmp(check_err("square-sum", 1, "1000000000000"), "(accepted)") == 0,
	   "square-sum 10^12 accepted");
	is_str(check_err("square-sum", 1, ""), "square-sum: N: not a number: ''", "empty");
	is_str(check_err("square-sum", 1, "12x"), "square-sum: N: not a number: '12x'", "trailing");
	is_str(check_err("square-sum", 1, " 12"), "square-sum: N: not a number: ' 12'", "space");
	is_str(check_err("square-sum", 1, "0x10"), "square-sum: N: not a number: '0x10'", "hex");
	is_str(check_err("square-sum", 1, "-"), "square-sum: N: not a number: '-'", "lone sign");
	ok(strcmp(check_err("square-sum", 1, "+7"), "(accepted)") == 0, "explicit + accepted");
	ok(strcmp(check_err("square-sum", 1, "-0"), "(accepted)") == 0, "-0 is zero");
	is_str(check_err("sqrt-sum", 1, "a\x01\xff"), "sqrt-sum: N: not a number: 'a\\x01\\xff'",
	       "unprintable bytes are escaped");
	char longarg[300];
	memset(longarg, '7', sizeof(longarg) - 1);
	longarg[sizeof(longarg) - 1] = '\0';
	const char *e = check_err("sqrt-sum", 1, longarg);
	ok(strstr(e, "out of range") && strstr(e, "...'") && strlen(e) < 200,
	   "long argument is cut in the message: %s", e);

	is_str(check_err("sqrt-sum", 0), "sqrt-sum: missing argument N (usage: sqrt-sum N)",
	       "missing N");
	is_str(check_err("sleep", 0), "sleep: missing argument MS (usage: sleep MS)", "missing MS");
	is_str(check_err("copy-file", 1, "/a"),
	       "copy-file: missing argument DST (usage: copy-file SRC DST)", "missing DST");
	is_str(check_err("read-file", 0),
	       "read-file: missing argument PATH (usage: read-file PATH)", "missing PATH");
	is_str(check_err("noop", 1, "x"), "noop: unexpected argument 'x' (usage: noop)",
	       "noop extra");
	is_str(check_err("sqrt-sum", 2, "1", "2"),
	       "sqrt-sum: unexpected argument '2' (usage: sqrt-sum N)", "extra argument");
	is_str(check_err("copy-file", 3, "/a", "/b", "/c"),
	       "copy-file: unexpected argument '/c' (usage: copy-file SRC DST)", "copy-file extra");
	is_str(check_err("crash", 2, "SEGV", "x"),
	       "crash: unexpected argument 'x' (usage: crash [SIGNAL])", "crash extra");
	is_str(check_err("crash", 1, "FOO"), "crash: SIGNAL: unknown signal: 'FOO'",
	       "unknown signal");
	is_str(check_err("crash", 1, "0"), "crash: SIGNAL: unknown signal: '0'", "signal 0");
	is_str(check_err("crash", 1, "65"), "crash: SIGNAL: unknown signal: '65'", "signal 65");
	is_str(check_err("crash", 1, "SIGSTOP"),
	       "crash: SIGNAL: signal 19 (STOP) does not end a process: 'SIGSTOP'", "STOP refused");
	is_str(check_err("crash", 1, "chld"),
	       "crash: SIGNAL: signal 17 (CHLD) does not end a process: 'chld'", "CHLD refused");
	ok(strcmp(check_err("crash", 1, "segv"), "(accepted)") == 0, "lower-case name");
	is_str(check_err("read-file", 1, "etc/passwd"),
	       "path not allowed: etc/passwd (not an absolute path)", "relative path refused");
	is_str(check_err("copy-file", 2, "/a", "b"), "path not allowed: b (not an absolute path)",
	       "relative DST refused");
	ok(strcmp(check_err("write-file", 1, "/x"), "(accepted)") == 0, "write-file without text");
	ok(strcmp(check_err("echo", 5, "a", "b", "c", "d", "e"), "(accepted)") == 0, "echo any");
	ok(strcmp(check_err("fail", 2, "a", "b"), "(accepted)") == 0, "fail any");
}

static void test_prepare(void)
{
	char buf[256];
	struct tr_out o;
	struct tr_targs ta;
	char *argv[] = {"5", NULL};
	struct trq_task t;

	memset(&t, 0, sizeof(t));
	snprintf(t.type, sizeof(t.type), "sqrt-sum");
	t.argc = 1;
	t.argv = argv;
	tr_out_init(&o, buf, sizeof(buf));
	const struct tr_task_def *d = tr_task_prepare(&t, TASKRING_CPU, &ta, &o);
	ok(d && strcmp(d->name, "sqrt-sum") == 0 && ta.n == 5 && o.len == 0, "prepare: good task");

	tr_out_init(&o, buf, sizeof(buf));
	ok(!tr_task_prepare(&t, TASKRING_IO, &ta, &o), "prepare: cpu type in the io class refused");
	buf[o.len] = 0;
	is_str(buf, "sqrt-sum: a task of class cpu cannot run in class io", "... with a message");

	snprintf(t.type, sizeof(t.type), "frobnicate");
	tr_out_init(&o, buf, sizeof(buf));
	ok(!tr_task_prepare(&t, TASKRING_CPU, &ta, &o), "prepare: unknown type refused");
	buf[o.len] = 0;
	is_str(buf, "unknown task type 'frobnicate'", "... unknown task type 'X'");

	t.bad = 1;
	snprintf(t.err, sizeof(t.err), "slot 3: argument bytes out of bounds");
	tr_out_init(&o, buf, sizeof(buf));
	ok(!tr_task_prepare(&t, TASKRING_CPU, &ta, &o), "prepare: bad slot refused");
	buf[o.len] = 0;
	is_str(buf, "slot 3: argument bytes out of bounds", "... with the queue's error");

	t.bad = 0;
	snprintf(t.type, sizeof(t.type), "sleep");
	argv[0] = "x";
	tr_out_init(&o, buf, sizeof(buf));
	ok(!tr_task_prepare(&t, TASKRING_IO, &ta, &o), "prepare: bad argument refused");
	buf[o.len] = 0;
	is_str(buf, "sleep: MS: not a number: 'x'", "... naming the argument");

	struct trq_type types[TRQ_TYPES_MAX];
	size_t n;
	const struct tr_task_def *all = tr_tasks_builtin(&n);
	unsigned m = tr_tasks_fill_types(types, TRQ_TYPES_MAX);
	int same = m == n && n == 12;
	for (size_t i = 0; same && i < n; i++)
		same = strcmp(types[i].name, all[i].name) == 0 && (int)types[i].cls == all[i].cls &&
		       types[i].flags ==
		           (strcmp(all[i].name, "exec") == 0 || strcmp(all[i].name, "sleep") == 0
		                ? TRQ_T_ANYCLASS
		                : 0u);
	ok(same, "registry entries: 12 built-in types with their classes, exec and sleep of any "
	         "class");
	const char *io_types[] = {"sleep", "read-file", "write-file", "copy-file"};
	int io_ok = 1;
	for (int i = 0; i < 4; i++)
		io_ok &= tr_task_find(io_types[i]) && tr_task_find(io_types[i])->cls == TASKRING_IO;
	ok(io_ok, "sleep and the file types are io tasks");

	/* sleep in the cpu class: holds the main thread, uses no CPU */
	snprintf(t.type, sizeof(t.type), "sleep");
	argv[0] = "300";
	tr_out_init(&o, buf, sizeof(buf));
	d = tr_task_prepare(&t, TASKRING_CPU, &ta, &o);
	ok(d != NULL, "prepare: sleep in the cpu class allowed");
	if (d) {
		struct timespec c0, c1;
		uint64_t m0 = trq_now(), st;
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
		st = (uint64_t)tr_task_run(d, &ta, 1, argv, &o);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
		uint64_t took = trq_now() - m0,
		         cpu = (uint64_t)(c1.tv_sec - c0.tv_sec) * 1000000000ull +
		               (uint64_t)(c1.tv_nsec - c0.tv_nsec);
		ok(st == TASKRING_DONE && o.len == 0 && took >= 300000000ull,
		   "sleep 300 in the cpu class: done, empty, after %llu ms",
		   (unsigned long long)(took / 1000000));
		ok(cpu < took / 4, "... using %llu ms of CPU", (unsigned long long)(cpu / 1000000));
	}
	ok(tr_tasks_fill_types(types, 3) == 3, "fill_types respects max");
}

static void test_crc(void)
{
	is_int(tr_crc32(0, "", 0), 0, "crc32 of nothing");
	is_int(tr_crc32(0, "123456789", 9), 0xcbf43926u, "crc32('123456789') = cbf43926");
	is_int(tr_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414fa339u,
	       "crc32(quick brown fox) = 414fa339");
	is_int(tr_crc32(0, "a", 1), 0xe8b7be43u, "crc32('a') = e8b7be43");

	static unsigned char big[100003];
	unsigned seed = 12345;
	for (size_t i = 0; i < sizeof(big); i++) {
		seed = seed * 1103515245u + 12345u;
		big[i] = (unsigned char)(seed >> 16);
	}
	uint32_t want = crc_ref(big, sizeof(big));
	is_int(tr_crc32(0, big, sizeof(big)), want,
	       "crc32 of 100003 bytes matches bitwise reference");
	uint32_t c = 0;
	size_t off = 0, step = 1;
	while (off < sizeof(big)) {
		size_t n = step < sizeof(big) - off ? step : sizeof(big) - off;
		c = tr_crc32(c, big + off, n);
		off += n;
		step = step * 3 + 1;
	}
	is_int(c, want, "crc32 fed in uneven pieces gives the same");
	is_int(tr_crc32(0, big + 1, 10), crc_ref(big + 1, 10), "crc32 of an unaligned piece");
}

/* ---- paths ---------------------------------------------------------------------- */

static char allowed[300], outside[300];

static void mkpath(char *dst, size_t n, const char *a, const char *b)
{
	snprintf(dst, n, "%s/%s", a, b);
}

/* 1: check the hand-made walk used where openat2 is missing */
static int paths_manual;

static int paths_init(struct tr_paths *ps, char *const *dirs, size_t n)
{
	int r = tr_paths_init(ps, dirs, n);
	ps->no_openat2 = paths_manual;
	return r;
}

static void test_paths(void)
{
	char p[600], q[600];
	struct tr_paths ps;
	const char *how = paths_manual ? " (by hand)" : "";

	diag("allowed paths%s", paths_manual ? ": the walk without openat2" : " with openat2");

	mkpath(allowed, sizeof(allowed), tmpdir, "allowed");
	mkpath(outside, sizeof(outside), tmpdir, "outside");
	if (paths_manual)
		goto checks; /* the tree exists */
	mkdir(allowed, 0755);
	mkdir(outside, 0755);
	mkpath(p, sizeof(p), allowed, "sub");
	mkdir(p, 0755);
	mkpath(p, sizeof(p), allowed, "in.txt");
	write_file(p, "inside\n", 7);
	mkpath(p, sizeof(p), outside, "secret.txt");
	write_file(p, "secret\n", 7);
	mkpath(p, sizeof(p), allowed, "escape");
	symlink("../outside/secret.txt", p);
	mkpath(p, sizeof(p), allowed, "abs-escape");
	mkpath(q, sizeof(q), outside, "secret.txt");
	symlink(q, p);
	mkpath(p, sizeof(p), allowed, "sub/to-in");
	symlink("../in.txt", p);
	mkpath(p, sizeof(p), allowed, "escdir");
	symlink("../outside", p);
	char allowedx0[320];
	snprintf(allowedx0, sizeof(allowedx0), "%sx", allowed);
	mkdir(allowedx0, 0755);
	mkpath(p, sizeof(p), allowedx0, "f");
	write_file(p, "x", 1);

	mkpath(p, sizeof(p), allowed, "loop1");
	symlink("loop2", p);
	mkpath(p, sizeof(p), allowed, "loop2");
	symlink("loop1", p);
	mkpath(p, sizeof(p), allowed, "dangling");
	symlink("sub/created-through-link", p);
	mkpath(p, sizeof(p), allowed, "chain");
	symlink("sub/../sub/to-in", p);
	mkpath(p, sizeof(p), allowed, "sub/up");
	symlink("..", p);
checks:;
	char allowedx[320];
	snprintf(allowedx, sizeof(allowedx), "%sx", allowed);
	char *bad[] = {"relative/dir"};
	is_int(paths_init(&ps, bad, 1), -EINVAL, "relative allowed dir refused");
	tr_paths_free(&ps);

	char with_slash[320];
	snprintf(with_slash, sizeof(with_slash), "%s//", allowed);
	char *dirs[] = {with_slash};
	is_int(paths_init(&ps, dirs, 1), 0, "paths init (trailing slashes)");

	int fd;
	mkpath(p, sizeof(p), allowed, "in.txt");
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "file inside opens");
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "sub/to-in");
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "symlink staying inside is followed");
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "escape");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "relative symlink escaping: refused");
	mkpath(p, sizeof(p), allowed, "abs-escape");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "absolute symlink: refused");
	mkpath(p, sizeof(p), allowed, "escdir/secret.txt");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "symlinked directory escaping: refused");
	mkpath(p, sizeof(p), allowed, "../outside/secret.txt");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "'..' out of the directory: refused");
	mkpath(p, sizeof(p), allowedx, "f");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "sibling with the same prefix: refused");
	mkpath(p, sizeof(p), outside, "secret.txt");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "other directory: refused");
	is_int(tr_paths_open(&ps, "in.txt", O_RDONLY, 0), -EXDEV, "relative path: refused");
	mkpath(p, sizeof(p), allowed, "missing");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -ENOENT, "missing file: ENOENT");
	mkpath(p, sizeof(p), allowed, "sub/../in.txt");
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "'..' staying inside is fine");
	if (fd >= 0)
		close(fd);
	fd = tr_paths_open(&ps, allowed, O_RDONLY | O_DIRECTORY, 0);
	ok(fd >= 0, "the allowed directory itself opens");
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "new.txt");
	fd = tr_paths_open(&ps, p, O_WRONLY | O_CREAT, 0600);
	ok(fd >= 0, "creating inside works");
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "loop1");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -ELOOP, "symlink loop: ELOOP%s", how);
	mkpath(p, sizeof(p), allowed, "chain");
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "chain of symlinks staying inside%s", how);
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "sub/up/in.txt");
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "symlink to '..' staying inside%s", how);
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "sub/up/../outside/secret.txt");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -EXDEV, "'..' symlinks climbing out%s", how);
	mkpath(p, sizeof(p), allowed, "in.txt/");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -ENOTDIR, "file with a trailing slash%s", how);
	mkpath(p, sizeof(p), allowed, "sub/");
	fd = tr_paths_open(&ps, p, O_RDONLY | O_DIRECTORY, 0);
	ok(fd >= 0, "directory with a trailing slash%s", how);
	if (fd >= 0)
		close(fd);
	mkpath(p, sizeof(p), allowed, "dangling");
	fd = tr_paths_open(&ps, p, O_WRONLY | O_CREAT, 0600);
	mkpath(q, sizeof(q), allowed, "sub/created-through-link");
	ok(fd >= 0 && access(q, F_OK) == 0, "O_CREAT through a dangling symlink inside%s", how);
	if (fd >= 0)
		close(fd);
	unlink(q);
	mkpath(p, sizeof(p), allowed, "escape");
	is_int(tr_paths_open(&ps, p, O_WRONLY | O_CREAT | O_TRUNC, 0600), -EXDEV,
	       "writing through an escaping symlink: refused%s", how);
	mkpath(q, sizeof(q), outside, "secret.txt");
	char got[16] = "";
	int sfd = open(q, O_RDONLY);
	if (sfd >= 0) {
		ssize_t gn = read(sfd, got, sizeof(got) - 1);
		got[gn > 0 ? gn : 0] = 0;
		close(sfd);
	}
	is_str(got, "secret\n", "... the outside file is untouched");
	tr_paths_free(&ps);

	struct tr_paths none;
	paths_init(&none, NULL, 0);
	mkpath(p, sizeof(p), allowed, "in.txt");
	is_int(tr_paths_open(&none, p, O_RDONLY, 0), -EXDEV,
	       "no allowed paths: everything refused");
	tr_paths_free(&none);

	char *root[] = {"/"};
	paths_init(&ps, root, 1);
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "'/' allows every absolute path");
	if (fd >= 0)
		close(fd);
	tr_paths_free(&ps);

	char gone[320];
	mkpath(gone, sizeof(gone), tmpdir, paths_manual ? "not-yet-2" : "not-yet");
	char *later[] = {gone};
	paths_init(&ps, later, 1);
	mkpath(p, sizeof(p), gone, "f");
	is_int(tr_paths_open(&ps, p, O_RDONLY, 0), -ENOENT, "missing allowed dir: its error");
	mkdir(gone, 0755);
	write_file(p, "x", 1);
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0, "allowed dir created later is picked up");
	if (fd >= 0)
		close(fd);

	/* Renamed away and replaced: the directory now at the path is used. */
	char old[340], buf[8] = "";
	snprintf(old, sizeof(old), "%s.old", gone);
	rename(gone, old);
	mkdir(gone, 0755);
	write_file(p, "y", 1);
	fd = tr_paths_open(&ps, p, O_RDONLY, 0);
	ok(fd >= 0 && read(fd, buf, 1) == 1 && buf[0] == 'y',
	   "allowed dir replaced: the new one is read, not the renamed one (%s)%s", buf, how);
	if (fd >= 0)
		close(fd);
	unlink(p);
	rmdir(gone);
	mkpath(p, sizeof(p), gone, "g");
	fd = tr_paths_open(&ps, p, O_WRONLY | O_CREAT, 0600);
	is_int(fd, -ENOENT, "allowed dir removed: nothing is created in the renamed one%s", how);
	if (fd >= 0)
		close(fd);
	mkpath(q, sizeof(q), old, "g");
	ok(access(q, F_OK) != 0, "... which stays without it");
	tr_paths_free(&ps);
}

/* ---- io state machines, driven synchronously -------------------------------------- */

/* Runs an io task to the end with pread/pwrite; maxio > 0 caps every read and
 * write (short transfers). Sleeps really sleep. */
static struct run io_task(struct tr_paths *ps, size_t maxio, const char *type, int argc,
                          char **argv)
{
	struct run r = {0};
	struct tr_iot t;
	struct tr_iop op;
	struct tr_targs ta;
	char err[512];
	const struct tr_task_def *d = tr_task_find(type);

	if (tr_task_check(d, (unsigned)argc, argv, &ta, err, sizeof(err)) < 0) {
		r.state = -1;
		snprintf(r.out, sizeof(r.out), "%s", err);
		return r;
	}
	int more =
	    tr_iot_begin(&t, d, &ta, (unsigned)argc, argv, ps, r.out, sizeof(r.out) - 1, &op);
	int steps = 0;
	while (more && steps++ < 1000000) {
		ssize_t res;
		unsigned len = op.len;
		if (maxio && len > maxio)
			len = (unsigned)maxio;
		switch (op.kind) {
		case TR_IOP_READ:
			res = pread(op.fd, op.buf, len, (off_t)op.off);
			break;
		case TR_IOP_WRITE:
			res = pwrite(op.fd, op.buf, len, (off_t)op.off);
			break;
		case TR_IOP_TIMEOUT: {
			struct timespec ts = {(time_t)(op.ns / 1000000000ull),
			                      (long)(op.ns % 1000000000ull)};
			nanosleep(&ts, NULL);
			res = -1;
			errno = ETIME;
			break;
		}
		default:
			res = -1;
			errno = EINVAL;
		}
		more = tr_iot_step(&t, res < 0 ? -errno : (int)res, &op);
	}
	r.state = t.state;
	r.len = t.out.len;
	r.out[r.len] = '\0';
	tr_iot_release(&t);
	return r;
}

/* A file whose size was 0 at open but that has data (as /proc files say 0
 * and hand out a page per read): read-file and copy-file read to the read
 * that returns 0, not to the first short one. The file gets its data after
 * the task opened it; every read is capped at 1000 bytes. */
static void test_io_size_zero(struct tr_paths *ps)
{
	static unsigned char data[10000];
	char p[600], dst[600], want[64];
	const char *types[] = {"read-file", "copy-file"};
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	snprintf(want, sizeof(want), "%zu %08x", sizeof(data), crc_ref(data, sizeof(data)));
	for (int k = 0; k < 2; k++) {
		snprintf(p, sizeof(p), "%s/grows-%d", allowed, k);
		snprintf(dst, sizeof(dst), "%s/grows-%d.copy", allowed, k);
		write_file(p, data, 0);
		char *argv[] = {p, dst, NULL};
		struct tr_targs ta = {0};
		struct tr_iot t;
		struct tr_iop op;
		char out[128] = "", err[256];
		const struct tr_task_def *d = tr_task_find(types[k]);
		int more =
		    tr_task_check(d, (unsigned)k + 1, argv, &ta, err, sizeof(err)) == 0 &&
		    tr_iot_begin(&t, d, &ta, (unsigned)k + 1, argv, ps, out, sizeof(out) - 1, &op);
		write_file(p, data, sizeof(data)); /* after the fstat, through the same inode */
		for (int steps = 0; more && steps < 100000; steps++) {
			unsigned len = op.len > 1000 ? 1000 : op.len;
			ssize_t res =
			    op.kind == TR_IOP_READ    ? pread(op.fd, op.buf, len, (off_t)op.off)
			    : op.kind == TR_IOP_WRITE ? pwrite(op.fd, op.buf, len, (off_t)op.off)
			                              : (errno = EINVAL, -1);
			more = tr_iot_step(&t, res < 0 ? -errno : (int)res, &op);
		}
		out[t.out.len] = '\0';
		int state = t.state;
		tr_iot_release(&t);
		if (k == 0) {
			ok(state == TASKRING_DONE && strcmp(out, want) == 0,
			   "read-file of a file that said size 0: all of it (%s, want %s)", out,
			   want);
		} else {
			size_t n = 0;
			char *got = slurp(dst, &n);
			ok(state == TASKRING_DONE && got && n == sizeof(data) &&
			       memcmp(got, data, n) == 0,
			   "copy-file of a file that said size 0: all of it (%s, %zu bytes)", out,
			   n);
		}
	}
}

static void test_io_tasks(void)
{
	char p[600], q[1200], want[64];
	struct tr_paths ps;
	char *dirs[] = {allowed};
	struct run r;
	size_t n;

	tr_paths_init(&ps, dirs, 1);

	/* read-file: empty, small, and larger than the biggest buffer */
	static unsigned char data[300001];
	unsigned seed = 7;
	for (size_t i = 0; i < sizeof(data); i++) {
		seed = seed * 1664525u + 1013904223u;
		data[i] = (unsigned char)(seed >> 24);
	}
	size_t sizes[] = {0, 1, 4095, 4096, 4097, 131072, 300001};
	for (int mode = 0; mode < 2; mode++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			snprintf(p, sizeof(p), "%s/data-%zu", allowed, sizes[k]);
			write_file(p, data, sizes[k]);
			char *argv[] = {p, NULL};
			r = io_task(&ps, mode ? 1000 : 0, "read-file", 1, argv);
			snprintf(want, sizeof(want), "%zu %08x", sizes[k], crc_ref(data, sizes[k]));
			ok(r.state == TASKRING_DONE, "read-file %zu bytes%s: done", sizes[k],
			   mode ? " (short reads)" : "");
			is_str(r.out, want, "read-file %zu bytes: SIZE CRC32", sizes[k]);
		}
	}
	snprintf(p, sizeof(p), "%s/nine", allowed);
	write_file(p, "123456789", 9);
	char *nine[] = {p, NULL};
	r = io_task(&ps, 0, "read-file", 1, nine);
	is_str(r.out, "9 cbf43926", "read-file of '123456789': '9 cbf43926'");

	/* refusals */
	snprintf(p, sizeof(p), "%s/escape", allowed);
	char *esc[] = {p, NULL};
	r = io_task(&ps, 0, "read-file", 1, esc);
	snprintf(q, sizeof(q), "path not allowed: %s", p);
	ok(r.state == TASKRING_FAILED, "read-file through an escaping symlink fails");
	is_str(r.out, q, "... 'path not allowed: PATH'");
	snprintf(p, sizeof(p), "%s/secret.txt", outside);
	char *out1[] = {p, NULL};
	r = io_task(&ps, 0, "read-file", 1, out1);
	snprintf(q, sizeof(q), "path not allowed: %s", p);
	is_str(r.out, q, "read-file outside: path not allowed");
	snprintf(p, sizeof(p), "%s/nope", allowed);
	char *miss[] = {p, NULL};
	r = io_task(&ps, 0, "read-file", 1, miss);
	snprintf(q, sizeof(q), "read-file: open(%s): No such file or directory", p);
	is_str(r.out, q, "read-file missing: open error named");
	char *dir[] = {allowed, NULL};
	r = io_task(&ps, 0, "read-file", 1, dir);
	snprintf(q, sizeof(q), "read-file: %s: not a regular file", allowed);
	is_str(r.out, q, "read-file of a directory: not a regular file");
	snprintf(p, sizeof(p), "%s/fifo", allowed);
	mkfifo(p, 0600);
	char *fifo[] = {p, NULL};
	r = io_task(&ps, 0, "read-file", 1, fifo);
	snprintf(q, sizeof(q), "read-file: %s: not a regular file", p);
	is_str(r.out, q, "read-file of a FIFO: refused without blocking");
	char *wfifo[] = {p, "x", NULL};
	r = io_task(&ps, 0, "write-file", 2, wfifo);
	snprintf(q, sizeof(q), "write-file: %s: not a regular file", p);
	is_str(r.out, q, "write-file to a FIFO with no reader: the same words, not ENXIO's");

	/* write-file */
	for (int mode = 0; mode < 2; mode++) {
		snprintf(p, sizeof(p), "%s/w%d.txt", allowed, mode);
		write_file(p, "old content that is longer than the new one\n", 44);
		char *wargv[] = {p, "hello", "big", "world", NULL};
		r = io_task(&ps, mode ? 3 : 0, "write-file", 4, wargv);
		ok(r.state == TASKRING_DONE, "write-file%s: done", mode ? " (short writes)" : "");
		is_str(r.out, "16", "write-file: result is bytes written");
		char *got = slurp(p, &n);
		ok(got && n == 16 && memcmp(got, "hello big world\n", 16) == 0,
		   "write-file: words, spaces, newline; old content replaced");
	}
	snprintf(p, sizeof(p), "%s/empty-line", allowed);
	char *w0[] = {p, NULL};
	r = io_task(&ps, 0, "write-file", 1, w0);
	is_str(r.out, "1", "write-file without text writes a newline");
	snprintf(p, sizeof(p), "%s/escdir/new", allowed);
	char *wesc[] = {p, "x", NULL};
	r = io_task(&ps, 0, "write-file", 2, wesc);
	snprintf(q, sizeof(q), "path not allowed: %s", p);
	is_str(r.out, q, "write-file through a symlinked dir: not allowed");
	snprintf(q, sizeof(q), "%s/new", outside);
	ok(access(q, F_OK) != 0, "... and nothing was created outside");

	/* copy-file */
	for (int mode = 0; mode < 2; mode++) {
		snprintf(p, sizeof(p), "%s/data-300001", allowed);
		snprintf(q, sizeof(q), "%s/copy%d", allowed, mode);
		char *cargv[] = {p, q, NULL};
		r = io_task(&ps, mode ? 999 : 0, "copy-file", 2, cargv);
		ok(r.state == TASKRING_DONE, "copy-file%s: done", mode ? " (short transfers)" : "");
		is_str(r.out, "300001", "copy-file: bytes copied");
		char *got = slurp(q, &n);
		ok(got && n == 300001 && memcmp(got, data, n) == 0, "copy-file: same bytes");
	}
	snprintf(p, sizeof(p), "%s/data-0", allowed);
	snprintf(q, sizeof(q), "%s/copy-empty", allowed);
	char *cempty[] = {p, q, NULL};
	r = io_task(&ps, 0, "copy-file", 2, cempty);
	is_str(r.out, "0", "copy-file of an empty file");
	snprintf(p, sizeof(p), "%s/nine", allowed);
	char *same[] = {p, p, NULL};
	r = io_task(&ps, 0, "copy-file", 2, same);
	is_str(r.out, "copy-file: SRC and DST are the same file", "copy-file onto itself refused");
	char *same_got = slurp(p, &n);
	ok(same_got && n == 9, "... and the file is intact");
	snprintf(q, sizeof(q), "%s/stolen", outside);
	char *cout[] = {p, q, NULL};
	r = io_task(&ps, 0, "copy-file", 2, cout);
	snprintf(want, sizeof(want), "path not allowed: ");
	ok(r.state == TASKRING_FAILED && strncmp(r.out, want, strlen(want)) == 0 &&
	       strstr(r.out, "stolen"),
	   "copy-file to outside: path not allowed naming DST (%s)", r.out);
	ok(access(q, F_OK) != 0, "... nothing written outside");

	/* sleep */
	char *sl[] = {"30", NULL};
	double t0 = now_s();
	r = io_task(&ps, 0, "sleep", 1, sl);
	ok(r.state == TASKRING_DONE && r.len == 0 && now_s() - t0 >= 0.029,
	   "sleep 30: asks for a 30 ms timeout, done, empty");

	/* end from outside */
	struct tr_iot t;
	struct tr_iop op;
	struct tr_targs ta = {.n = 1000};
	char buf[64];
	ok(tr_iot_begin(&t, tr_task_find("sleep"), &ta, 1, sl, &ps, buf, sizeof(buf), &op) == 1 &&
	       op.kind == TR_IOP_TIMEOUT && op.ns == 1000000000ull,
	   "sleep 1000 asks for a 1 s timeout");
	tr_iot_end(&t, TASKRING_CANCELLED, "cancelled");
	ok(t.state == TASKRING_CANCELLED && t.out.len == 9 && memcmp(buf, "cancelled", 9) == 0,
	   "tr_iot_end sets state and text");
	ok(tr_iot_step(&t, -ECANCELED, &op) == 0 && t.state == TASKRING_CANCELLED,
	   "a late completion does not change an ended task");
	tr_iot_release(&t);

	test_io_size_zero(&ps);
	tr_paths_free(&ps);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tasks.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_crc();
	test_cpu_results();
	test_arg_errors();
	test_prepare();
	test_crash();
	test_paths();
	paths_manual = 1;
	test_paths();
	test_io_tasks();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
