/*
 * test_exec.c - exec tasks (worker/exec.c) and plugin loading (worker/plugins.c)
 * without a daemon: a poll(2) loop stands in for the io thread and feeds the
 * pipes' reads and the pidfd's readiness to tr_exec, with the run timeout's stop
 * and the kill grace as deadlines. Checks the refusals, the child's set-up
 * (environment, cwd, stdin, process group), results, truncation, the stderr tail,
 * exit statuses and signals, stops of a program ignoring SIGTERM (its group gone
 * after), and the plugin loader against the example plugin
 * ($TASKRING_BUILD/plugins/plugin_wordcount.so; skipped when it is not built).
 * The exec guard (worker/guard.c): in a forked child under the filter, every
 * guarded call on the guarded pids fails with EPERM and the same calls on
 * other processes work; then programs started by tr_exec cannot signal the
 * process that started them.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "guard.h"
#include "plugins.h"
#include "queue.h"
#include "tap.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs x to its end; stop_ms >= 0 stops it with why after that many ms and
 * SIGKILLs it grace_ms later. Returns 0, or -1 when it took over 30 s. */
static int drive(struct tr_exec *x, int why, int stop_ms, unsigned grace_ms)
{
	uint64_t start = now_ms(), stop_at = stop_ms >= 0 ? start + (uint64_t)stop_ms : 0;
	uint64_t kill_at = 0, drain_at = 0;

	while (!tr_exec_done(x)) {
		struct pollfd pf[3];
		int w[3], n = 0;
		uint64_t t = now_ms();
		if (t > start + 30000)
			return -1;
		if (stop_at && t >= stop_at) {
			unsigned g = tr_exec_stop(x, why, grace_ms);
			stop_at = 0;
			kill_at = g ? t + g : 0;
		}
		if (kill_at && t >= kill_at) {
			tr_exec_kill(x);
			kill_at = 0;
		}
		if (drain_at && t >= drain_at) {
			tr_exec_drained(x);
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (!x->eof[i]) {
				pf[n] = (struct pollfd){.fd = x->fd[i], .events = POLLIN};
				w[n++] = i;
			}
		if (!x->exited) {
			pf[n] = (struct pollfd){.fd = x->pidfd, .events = POLLIN};
			w[n++] = 2;
		}
		if (poll(pf, (nfds_t)n, 10) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			if (w[i] == 2) {
				if (tr_exec_on_exit(x) && !tr_exec_done(x))
					drain_at = now_ms() + TR_EXEC_DRAIN_MS;
				continue;
			}
			ssize_t r = read(x->fd[w[i]], x->buf[w[i]], x->buflen[w[i]]);
			tr_exec_on_read(x, w[i], r < 0 ? -errno : (int)r);
		}
	}
	tr_exec_finish(x);
	return 0;
}

static char out[8192];

/* Starts argv under c with a result area of cap bytes and drives it. Returns
 * the state, with the text in out (NUL-terminated). */
static int run_prog(struct tr_exec_cfg *c, size_t cap, int why, int stop_ms, unsigned run_timeout_s,
                    char *const *argv)
{
	struct tr_exec x;
	unsigned argc = 0;
	while (argv[argc])
		argc++;
	memset(out, 0, sizeof(out));
	if (tr_exec_start(&x, c, argc, argv, run_timeout_s, out, cap) &&
	    drive(&x, why, stop_ms, 200) < 0)
		diag("%s did not end within 30 s", argv[0]);
	int st = x.state;
	out[x.out.len < sizeof(out) ? x.out.len : sizeof(out) - 1] = '\0';
	tr_exec_release(&x);
	return st;
}

/* out on one line (newlines as \n), for test messages. */
static const char *flat(void)
{
	static char f[2 * sizeof(out)];
	size_t n = 0;
	for (const char *p = out; *p && n + 2 < sizeof(f); p++) {
		if (*p == '\n') {
			f[n++] = '\\';
			f[n++] = 'n';
		} else {
			f[n++] = *p;
		}
	}
	f[n] = '\0';
	return f;
}

static int group_alive(pid_t pg)
{
	return kill(-pg, 0) == 0;
}

/* Waits up to 10 s for process group pg to be gone (its members die and are
 * reaped by whoever they were reparented to). */
static int group_gone(pid_t pg)
{
	for (int i = 0; i < 1000 && group_alive(pg); i++)
		usleep(10000);
	return !group_alive(pg);
}

static void test_exec(void)
{
	char dir[] = "/tmp/test_exec.XXXXXX";
	char *allowed[] = {
	    "/bin/sh",      "/bin/echo",           "/bin/cat", "/bin/pwd", "/usr/bin/env",
	    "/usr/bin/seq", "/nonexistent/program"};
	char *env[] = {"ONLY=this", "PATH=/usr/bin:/bin"};
	struct tr_exec_cfg c, none;
	char err[256], want[512], pgfile[600];
	int st;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	ok(tr_exec_cfg_init(&none, NULL, 0, NULL, 0, "/", err, sizeof(err)) == 0, "empty settings");
	ok(tr_exec_cfg_init(&c, allowed, 7, env, 2, dir, err, sizeof(err)) == 0, "settings");

	st = run_prog(&none, 512, 0, -1, 0, (char *[]){"/bin/echo", "x", NULL});
	ok(st == TASKRING_FAILED &&
	       !strcmp(out, "exec: no programs are allowed (exec.allowed is empty)"),
	   "empty exec.allowed refuses every program: %s", flat());
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/ls", NULL});
	is_str(out, "exec: program not allowed: /bin/ls", "a program not listed is refused");
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/../bin/echo", NULL});
	is_str(out, "exec: program not allowed: /bin/../bin/echo", "only the exact path matches");
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/nonexistent/program", NULL});
	if (getenv("TASKRING_VALGRIND")) /* valgrind runs the failing execve itself: exit 127 */
		ok(1, "a missing program fails with the reason # SKIP under valgrind");
	else
		ok(st == TASKRING_FAILED &&
		       !strcmp(out,
		               "exec: cannot run /nonexistent/program: No such file or directory"),
		   "a missing program fails with the reason: %s", flat());

	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/echo", "a", "b  c", NULL});
	ok(st == TASKRING_DONE && !strcmp(out, "a b  c\n"), "stdout is the result: '%s'", flat());
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/usr/bin/env", NULL});
	is_str(out, "ONLY=this\nPATH=/usr/bin:/bin\n", "the environment is exec.env only");
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/pwd", NULL});
	snprintf(want, sizeof(want), "%s\n", dir);
	is_str(out, want, "the working directory is exec.cwd");
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/cat", NULL});
	ok(st == TASKRING_DONE && out[0] == '\0', "stdin is /dev/null");
	st = run_prog(&c, 512, 0, -1, 0,
	              (char *[]){"/bin/sh", "-c",
	                         "[ $$ = $(cut -d' ' -f5 /proc/$$/stat) ] && echo own", NULL});
	is_str(out, "own\n", "the program leads its own process group");
	/* The shell looks itself (no pipeline: a shell holds a pipeline's
	 * pipe ends for a moment, and `ls` could see them). */
	st = run_prog(&c, 512, 0, -1, 0,
	              (char *[]){"/bin/sh", "-c",
	                         "i=0; while [ $i -lt 1024 ]; do [ -e /proc/$$/fd/$i ] && "
	                         "printf '%s ' $i; i=$((i+1)); done; echo end",
	                         NULL});
	is_str(out, "0 1 2 end\n", "it has descriptors 0-2 and no other (cloexec sweep)");

	st = run_prog(&c, 100, 0, -1, 0, (char *[]){"/usr/bin/seq", "1", "1000", NULL});
	ok(st == TASKRING_DONE && strlen(out) == 100 && !strncmp(out, "1\n2\n3\n", 6) &&
	       strstr(out, "\n[output truncated at ") &&
	       !strcmp(out + 100 - strlen(" of 3893 bytes]"), " of 3893 bytes]"),
	   "long output is cut to the area and says so: '%s'", flat());

	st = run_prog(&c, 512, 0, -1, 0,
	              (char *[]){"/bin/sh", "-c", "echo one >&2; echo two >&2; exit 7", NULL});
	ok(st == TASKRING_FAILED && !strcmp(out, "exec: exited with status 7\none\ntwo"),
	   "a non-zero exit: the status and stderr: '%s'", flat());
	st =
	    run_prog(&c, 512, 0, -1, 0,
	             (char *[]){"/bin/sh", "-c",
	                        "i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo line $i >&2; done; "
	                        "exit 1",
	                        NULL});
	ok(st == TASKRING_FAILED && !strncmp(out, "exec: exited with status 1\n...\nline ", 36) &&
	       strlen(out) < 600 && !strcmp(out + strlen(out) - 9, "\nline 500"),
	   "a long stderr: only its last whole lines (%zu bytes): %s", strlen(out), flat());
	st = run_prog(&c, 64, 0, -1, 0,
	              (char *[]){"/bin/sh", "-c",
	                         "i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo line $i >&2; done; "
	                         "exit 2",
	                         NULL});
	ok(st == TASKRING_FAILED && strlen(out) <= 64 &&
	       !strncmp(out, "exec: exited with status 2", 26),
	   "the error fits a small area: '%s'", flat());
	st = run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/sh", "-c", "kill -TERM $$", NULL});
	ok(st == TASKRING_FAILED && !strcmp(out, "exec: killed by signal 15 (SIGTERM)"),
	   "a death by signal names it: '%s'", flat());

	/* stops: a shell and a child, both ignoring SIGTERM */
	snprintf(pgfile, sizeof(pgfile), "%s/pg", dir);
	char script[800];
	snprintf(script, sizeof(script), "trap '' TERM; echo $$ >%s; sleep 100 & sleep 100; wait",
	         pgfile);
	uint64_t t0 = now_ms();
	st = run_prog(&c, 512, TR_EXEC_TIMEOUT, 300, 7, (char *[]){"/bin/sh", "-c", script, NULL});
	uint64_t took = now_ms() - t0;
	ok(st == TASKRING_FAILED && !strcmp(out, "timed out after 7 s"),
	   "a stop for the run timeout fails the task: '%s'", flat());
	ok(took < 10000, "SIGKILL after the grace ended it (%llu ms)", (unsigned long long)took);
	FILE *f = fopen(pgfile, "r");
	int pg = 0;
	if (f) {
		if (fscanf(f, "%d", &pg) != 1)
			pg = 0;
		fclose(f);
	}
	ok(pg > 1 && group_gone(pg), "its process group %d is gone", pg);
	unlink(pgfile);
	st = run_prog(&c, 512, TR_EXEC_CANCEL, 300, 0, (char *[]){"/bin/sh", "-c", script, NULL});
	ok(st == TASKRING_CANCELLED && !strcmp(out, "cancelled"), "a cancel: '%s'", flat());
	unlink(pgfile);
	st =
	    run_prog(&c, 512, 0, -1, 0, (char *[]){"/bin/sh", "-c", "sleep 100 & echo left", NULL});
	ok(st == TASKRING_DONE && !strcmp(out, "left\n"),
	   "a program leaving a child in its group is done when it exits");

	tr_exec_cfg_free(&c);
	tr_exec_cfg_free(&none);
	rmdir(dir);
}

/* A child that sleeps until killed. */
static pid_t sleeper(void)
{
	pid_t p = fork();
	if (p == 0) {
		for (;;)
			pause();
	}
	return p;
}

/* Calls under the filter, in a child; bit i of its exit status: check i
 * failed. Only signal 0 is ever sent, so a guard that lets a call through
 * harms nothing. */
static void *thread_main(void *arg)
{
	__atomic_store_n((pid_t *)arg, gettid(), __ATOMIC_RELEASE);
	for (;;)
		pause();
	return NULL;
}

static int guarded_calls(const struct tr_guard *g, pid_t w, pid_t wt, pid_t sup, pid_t other)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	if (tr_guard_apply(g) < 0)
		return 0xff;
	int bad = 0, i = 0, fd;
#define DENIED(call) (bad |= ((call) == -1 && errno == EPERM ? 0 : 1) << i++)
#define WORKS(call)  (bad |= ((call) >= 0 ? 0 : 1) << i++)
	DENIED(kill(w, 0));
	DENIED(kill(wt, 0));
	DENIED(syscall(SYS_tgkill, w, wt, 0));
	DENIED(kill(sup, 0));
	DENIED(kill(-getpgid(w), 0));
	DENIED(kill(-1, 0));
	DENIED(syscall(SYS_tkill, w, 0));
	DENIED(syscall(SYS_tgkill, sup, sup, 0));
	DENIED(syscall(SYS_rt_sigqueueinfo, w, 0, &si));
	DENIED(syscall(SYS_pidfd_open, sup, 0));
	/* any pidfd_send_signal: ENOSYS, as without pidfds */
	int pfd = open("/proc/self", O_RDONLY | O_DIRECTORY);
	bad |= (syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) == -1 && errno == ENOSYS ? 0 : 1)
	       << i++;
	close(pfd);
	WORKS(kill(other, 0));
	WORKS(kill(getpid(), 0));
	WORKS(syscall(SYS_tgkill, other, other, 0));
	WORKS(fd = (int)syscall(SYS_pidfd_open, other, 0));
#undef DENIED
#undef WORKS
	return bad;
}

static void test_guard(void)
{
	struct tr_guard g;
	char err[256];
	pid_t sup = sleeper(), other = sleeper();

	pthread_t th;
	pid_t th_tid = 0;
	ok(pthread_create(&th, NULL, thread_main, &th_tid) == 0, "a second thread runs");
	while (!__atomic_load_n(&th_tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	int r = tr_guard_init(&g, getpid(), sup);
	if (r < 0 || sup < 0 || other < 0) {
		/* Not root and no no_new_privs, or another architecture: the
		 * worker runs without it and says so; nothing to check here. */
		ok(r == -EPERM || r == -ENOTSUP, "the guard is off only for a stated reason: %s",
		   g.why_off);
		if (sup > 0)
			kill(sup, SIGKILL), waitpid(sup, NULL, 0);
		if (other > 0)
			kill(other, SIGKILL), waitpid(other, NULL, 0);
		return;
	}
	ok(g.on, "the guard can be installed here");
	if (getenv("TASKRING_VALGRIND")) { /* its seccomp() fails: the guard stays off */
		ok(1, "the guarded calls # SKIP valgrind 3.19 cannot install seccomp filters");
		ok(1, "exec programs under the guard # SKIP valgrind 3.19 cannot install seccomp "
		      "filters");
		kill(sup, SIGKILL), waitpid(sup, NULL, 0);
		kill(other, SIGKILL), waitpid(other, NULL, 0);
		return;
	}
	pid_t c = fork();
	if (c == 0) {
		int bad = guarded_calls(&g, getppid(), th_tid, sup, other);
		_exit(bad > 0xfe ? 0xff : bad); /* non-zero whenever a check failed */
	}
	int st = 0;
	waitpid(c, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	   "under the guard kill/tkill/tgkill/rt_sigqueueinfo/pidfd_open of the worker (any of "
	   "its threads), the supervisor, its group and -1 fail with EPERM; other processes "
	   "can be signalled (failed checks: 0x%x)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : 0x100 | WTERMSIG(st));
	ok(kill(sup, 0) == 0 && kill(other, 0) == 0, "the sleepers are alive");

	/* Through tr_exec: the program's parent is us, and the supervisor our
	 * parent. */
	char *allowed[] = {"/bin/sh"};
	char *env[] = {"PATH=/usr/bin:/bin"};
	struct tr_exec_cfg xc;
	char script[256];
	ok(tr_exec_cfg_init(&xc, allowed, 1, env, 1, "/", err, sizeof(err)) == 0 && xc.guard.on,
	   "exec settings with the guard on");
	snprintf(script, sizeof(script),
	         "kill -0 $PPID 2>/dev/null; a=$?; kill -0 %d 2>/dev/null; b=$?; "
	         "kill -0 -1 2>/dev/null; c=$?; kill -0 %d; echo $a$b$c$?",
	         (int)getppid(), (int)other);
	int s = run_prog(&xc, 512, 0, -1, 0, (char *[]){"/bin/sh", "-c", script, NULL});
	ok(s == TASKRING_DONE && !strcmp(out, "1110\n"),
	   "an exec program cannot signal its worker, the supervisor or everyone; it can signal "
	   "others: %s",
	   flat());
	tr_exec_cfg_free(&xc);
	kill(sup, SIGKILL), waitpid(sup, NULL, 0);
	kill(other, SIGKILL), waitpid(other, NULL, 0);
}

static void test_plugins(void)
{
	const char *b = getenv("TASKRING_BUILD");
	char path[4096], err[512];
	struct tr_plugins ps, ps2;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/plugins/plugin_wordcount.so", b ? b : "build");
	char *one[] = {path}, *twice[] = {path, path}, *missing[] = {"/nonexistent/p.so"};

	ok(tr_plugins_load(&ps, missing, 1, err, sizeof(err)) == -EINVAL &&
	       !strncmp(err, "plugin /nonexistent/p.so: cannot load it: ", 42),
	   "a missing plugin is refused naming it: %s", err);
	ok(tr_plugins_load(&ps, NULL, 0, err, sizeof(err)) == 0 && ps.ndefs == 0, "no plugins");
	if (stat(path, &sb) < 0) {
		ok(1, "# SKIP %s not built", path);
		return;
	}
	ok(tr_plugins_load(&ps, one, 1, err, sizeof(err)) == 0 && ps.ndefs == 3,
	   "the example loads with its 3 handlers%s%s", *err ? ": " : "", err);
	ok(!tr_task_find("word-count"), "its types are not active before activation");
	tr_plugins_activate(&ps);
	const struct tr_task_def *d = tr_task_find("word-count");
	ok(d && d->cls == TASKRING_CPU && tr_task_find("hostname") &&
	       tr_task_find("hostname")->io == TR_IO_PLUGIN,
	   "activated: word-count (cpu) and hostname (io) are found");
	struct trq_type types[TRQ_TYPES_MAX];
	size_t nb;
	tr_tasks_builtin(&nb);
	unsigned nt = tr_tasks_fill_types(types, TRQ_TYPES_MAX);
	ok(nt == nb + 3 && !strcmp(types[nb].name, "word-count"),
	   "the registry lists them after the built-in types");
	ok(tr_plugins_init_worker(err, sizeof(err)) == 0, "init runs");

	struct trq_task t;
	struct tr_targs ta;
	struct tr_out o;
	char buf[64];
	char *argv[] = {"one two", "three", NULL};
	memset(&t, 0, sizeof(t));
	strcpy(t.type, "word-count");
	t.argc = 2;
	t.argv = argv;
	tr_out_init(&o, buf, sizeof(buf));
	d = tr_task_prepare(&t, TASKRING_CPU, &ta, &o);
	int st = d ? tr_task_run(d, &ta, t.argc, t.argv, &o) : -1;
	ok(st == TASKRING_DONE && o.len == 1 && buf[0] == '3', "word-count runs: 3");
	char *rep[] = {"0", "x", NULL};
	strcpy(t.type, "repeat");
	t.argv = rep;
	tr_out_init(&o, buf, sizeof(buf));
	ok(!tr_task_prepare(&t, TASKRING_CPU, &ta, &o) && o.len > 0 &&
	       !strncmp(buf, "repeat: N: not a number from 1 to 100000: '0'", o.len),
	   "repeat's check refuses N 0: %.*s", (int)o.len, buf);

	ok(tr_plugins_load(&ps2, twice, 2, err, sizeof(err)) == -EINVAL &&
	       strstr(err, "clashes with the handler of that name in plugin"),
	   "the same plugin twice: its names clash: %s", err);
	tr_plugins_free(&ps);
	ok(!tr_task_find("word-count"), "freeing the active plugins resets the extra types");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_exec();
	test_guard();
	test_plugins();
	return tap_done();
}
