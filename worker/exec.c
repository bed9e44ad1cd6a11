/*
 * exec.c - see exec.h.
 *
 * The child runs spawn_child() on the spawn stack while sharing the worker's
 * memory (CLONE_VM), until its execve: it may only make system calls and
 * write its failure into the shared struct spawn_args, so it calls the
 * kernel through syscall(2) (no library state, no allocation, no sanitizer
 * interceptor) and is built without sanitizer instrumentation. Every signal
 * is blocked in the calling thread across the clone, so no handler of the
 * worker's ever runs on the child's stack; the child resets every
 * disposition before it unblocks them.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

#define STACK_LEN (64u << 10)
#define OUT_BUF   (16u << 10)
#define ERR_BUF   (4u << 10)

/* Where the child failed. */
enum { ST_OK = 0, ST_SETPGID, ST_PDEATHSIG, ST_PARENT, ST_DUP, ST_CHDIR, ST_CLOEXEC, ST_EXEC };

struct spawn_args {
	const char *prog;
	char *const *argv;
	char *const *envp;
	const char *cwd;
	int fd_in, fd_out, fd_err;
	pid_t ppid;
	const struct tr_guard *guard;
	int stage;     /* ST_*: written by the child on failure */
	int err;       /* its errno */
	int guard_err; /* the guard could not be installed: its errno */
};

/* The kernel's struct sigaction (x86-64, arm64, ...): SIG_DFL needs no
 * restorer. */
struct k_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* ---- the child, until its execve -------------------------------------------- */

__attribute__((noreturn, no_sanitize("address", "undefined", "thread"))) static void
spawn_fail(struct spawn_args *a, int stage)
{
	a->err = errno;
	a->stage = stage;
	for (;;)
		syscall(SYS_exit, 127);
}

__attribute__((no_sanitize("address", "undefined", "thread"))) static int spawn_child(void *arg)
{
	struct spawn_args *a = arg;
	struct k_sigaction dfl = {0};
	unsigned long none = 0;

	if (syscall(SYS_setpgid, 0, 0) < 0)
		spawn_fail(a, ST_SETPGID);
	if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		spawn_fail(a, ST_PDEATHSIG);
	if (syscall(SYS_getppid) != a->ppid) {
		errno = ESRCH;
		spawn_fail(a, ST_PARENT); /* the worker died meanwhile */
	}
	int ge = tr_guard_apply(a->guard);
	if (ge < 0)
		a->guard_err = -ge; /* the program runs unguarded; the worker says so */
	for (int s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(none));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none));
	if (syscall(SYS_dup3, a->fd_in, 0, 0) < 0 || syscall(SYS_dup3, a->fd_out, 1, 0) < 0 ||
	    syscall(SYS_dup3, a->fd_err, 2, 0) < 0)
		spawn_fail(a, ST_DUP);
	if (syscall(SYS_chdir, a->cwd) < 0)
		spawn_fail(a, ST_CHDIR);
	/* Nothing of the worker's but 0-2 may reach the program, whoever opened
	 * it without O_CLOEXEC (a plugin, say). */
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0 && errno != ENOSYS &&
	    errno != EINVAL)
		spawn_fail(a, ST_CLOEXEC);
	syscall(SYS_execve, a->prog, a->argv, a->envp);
	spawn_fail(a, ST_EXEC);
}

/* ---- settings ---------------------------------------------------------------- */

static char **strv_dup(char *const *v, size_t n)
{
	char **d = calloc(n + 1, sizeof(*d));
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		d[i] = strdup(v[i]);
		if (!d[i]) {
			for (size_t j = 0; j < i; j++)
				free(d[j]);
			free(d);
			return NULL;
		}
	}
	return d;
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int tr_exec_cfg_init(struct tr_exec_cfg *c, char *const *allowed, size_t n_allowed,
                     char *const *env, size_t n_env, const char *cwd, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->devnull = -1;
	c->self = getpid();
	tr_guard_init(&c->guard, c->self, getppid());
	c->allowed = strv_dup(allowed, n_allowed);
	c->n_allowed = n_allowed;
	c->envp = strv_dup(env, n_env);
	c->cwd = strdup(cwd && *cwd ? cwd : "/");
	if (!c->allowed || !c->envp || !c->cwd) {
		tr_exec_cfg_free(c);
		snprintf(err, errlen, "exec: out of memory");
		return -ENOMEM;
	}
	c->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->devnull < 0) {
		int r = -errno;
		snprintf(err, errlen, "exec: open(/dev/null): %s", strerror(errno));
		tr_exec_cfg_free(c);
		return r;
	}
	c->stack_len = STACK_LEN;
	c->stack = mmap(NULL, c->stack_len, PROT_READ | PROT_WRITE,
	                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (c->stack == MAP_FAILED) {
		int r = -errno;
		c->stack = NULL;
		snprintf(err, errlen, "exec: mmap(spawn stack): %s", strerror(errno));
		tr_exec_cfg_free(c);
		return r;
	}
	return 0;
}

void tr_exec_mark_format(char *buf, size_t len, uint64_t token)
{
	snprintf(buf, len, "%s=%016llx", TR_EXEC_MARK_VAR, (unsigned long long)token);
}

int tr_exec_cfg_mark(struct tr_exec_cfg *c, uint64_t token)
{
	size_t n = 0;
	char var[64];

	if (!token)
		return 0;
	while (c->envp[n])
		n++;
	char **v = realloc(c->envp, (n + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->envp = v;
	tr_exec_mark_format(var, sizeof(var), token);
	if (!(v[n] = strdup(var)))
		return -ENOMEM;
	v[n + 1] = NULL;
	return 0;
}

void tr_exec_cfg_free(struct tr_exec_cfg *c)
{
	strv_free(c->allowed);
	strv_free(c->envp);
	free(c->cwd);
	if (c->devnull >= 0)
		close(c->devnull);
	if (c->stack)
		munmap(c->stack, c->stack_len);
	memset(c, 0, sizeof(*c));
	c->devnull = -1;
}

/* ---- start ------------------------------------------------------------------- */

static int fail(struct tr_exec *x, const char *fmt, const char *a, int err)
{
	char shown[300];
	tr_out_error(&x->out, fmt, tr_task_show(shown, sizeof(shown), a), strerror(err));
	x->state = TASKRING_FAILED;
	return 0;
}

static int allowed(const struct tr_exec_cfg *c, const char *prog)
{
	for (size_t i = 0; i < c->n_allowed; i++)
		if (strcmp(c->allowed[i], prog) == 0)
			return 1;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int tr_exec_start(struct tr_exec *x, struct tr_exec_cfg *c, unsigned argc, char *const *argv,
                  unsigned run_timeout_s, char *out, size_t outmax)
{
	char shown[300];
	int po[2] = {-1, -1}, pe[2] = {-1, -1};

	memset(x, 0, sizeof(*x));
	x->pidfd = x->fd[0] = x->fd[1] = -1;
	x->run_timeout_s = run_timeout_s;
	tr_out_init(&x->out, out, outmax);
	if (argc < 1 || !argv[0][0]) {
		tr_out_error(&x->out, "exec: missing PROGRAM");
		x->state = TASKRING_FAILED;
		return 0;
	}
	if (c->n_allowed == 0) {
		tr_out_error(&x->out, "exec: no programs are allowed (exec.allowed is empty)");
		x->state = TASKRING_FAILED;
		return 0;
	}
	if (!allowed(c, argv[0])) {
		tr_out_error(&x->out, "exec: program not allowed: %s",
		             tr_task_show(shown, sizeof(shown), argv[0]));
		x->state = TASKRING_FAILED;
		return 0;
	}
	x->buflen[TR_EXEC_OUT] = OUT_BUF;
	x->buflen[TR_EXEC_ERR] = ERR_BUF;
	x->buf[TR_EXEC_OUT] = malloc(OUT_BUF);
	x->buf[TR_EXEC_ERR] = malloc(ERR_BUF);
	if (!x->buf[0] || !x->buf[1])
		return fail(x, "exec: %s: %s", argv[0], ENOMEM);
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		int e = errno;
		close_fd(&po[0]), close_fd(&po[1]);
		return fail(x, "exec: %s: pipe2: %s", argv[0], e);
	}

	struct spawn_args a = {
	    .prog = argv[0],
	    .argv = argv,
	    .envp = c->envp,
	    .cwd = c->cwd,
	    .fd_in = c->devnull,
	    .fd_out = po[1],
	    .fd_err = pe[1],
	    .ppid = c->self,
	    .guard = &c->guard,
	};
	sigset_t all, old;
	int pidfd = -1;
	if (c->guard.on) /* the threads the worker and the supervisor have now */
		tr_guard_refresh(&c->guard);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(spawn_child, (char *)c->stack + c->stack_len,
	                  CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &a, &pidfd);
	int e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close_fd(&po[1]);
	close_fd(&pe[1]);
	x->fd[TR_EXEC_OUT] = po[0];
	x->fd[TR_EXEC_ERR] = pe[0];
	if (pid < 0)
		return fail(x, "exec: %s: clone: %s", argv[0], e);
	x->pid = pid;
	x->pidfd = pidfd;
	if (a.guard_err && c->guard.on) {
		c->guard.on = 0; /* it will not work for the next ones either */
		c->guard_err = a.guard_err;
	}
	if (a.stage != ST_OK) {
		/* It has exited (or is exiting): reap it now. */
		siginfo_t si;
		waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED);
		x->exited = 1;
		switch (a.stage) {
		case ST_EXEC:
			return fail(x, "exec: cannot run %s: %s", argv[0], a.err);
		case ST_CHDIR:
			return fail(x, "exec: exec.cwd %s: %s", c->cwd, a.err);
		case ST_PARENT:
			return fail(x, "exec: %s: the worker is exiting (%s)", argv[0], a.err);
		default:
			tr_out_error(
			    &x->out, "exec: %s: setting up the child failed at step %d: %s",
			    tr_task_show(shown, sizeof(shown), argv[0]), a.stage, strerror(a.err));
			x->state = TASKRING_FAILED;
			return 0;
		}
	}
	return 1;
}

/* ---- watching ------------------------------------------------------------------ */

static void tail_add(struct tr_exec *x, const char *p, size_t n)
{
	if (n >= TR_EXEC_TAIL) {
		memcpy(x->tail, p + n - TR_EXEC_TAIL, TR_EXEC_TAIL);
		x->tail_len = TR_EXEC_TAIL;
		return;
	}
	if (x->tail_len + n > TR_EXEC_TAIL) {
		size_t drop = x->tail_len + n - TR_EXEC_TAIL;
		memmove(x->tail, x->tail + drop, x->tail_len - drop);
		x->tail_len -= drop;
	}
	memcpy(x->tail + x->tail_len, p, n);
	x->tail_len += n;
}

int tr_exec_on_read(struct tr_exec *x, int w, int res)
{
	if (w != TR_EXEC_OUT && w != TR_EXEC_ERR)
		return 0;
	if (x->eof[w])
		return 0;
	if (res == -EINTR || res == -EAGAIN)
		return 1;
	if (res <= 0 || (unsigned)res > x->buflen[w]) {
		x->eof[w] = 1; /* end of file, or an error: nothing more to read */
		return 0;
	}
	if (w == TR_EXEC_OUT) {
		x->out_total += (uint64_t)res;
		tr_out_add(&x->out, x->buf[w], (size_t)res); /* the rest is counted only */
	} else {
		x->err_total += (uint64_t)res;
		tail_add(x, x->buf[w], (size_t)res);
	}
	return 1;
}

int tr_exec_on_exit(struct tr_exec *x)
{
	siginfo_t si;

	if (x->exited || !x->pid)
		return 1;
	/* Has it ended? Look without reaping: while it is unreaped its pid and
	 * group id are still ours. */
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)x->pidfd, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
		if (errno == EINTR)
			return 0;
		si.si_pid = x->pid; /* gone already (ECHILD): nothing to wait for */
		si.si_code = CLD_KILLED;
		si.si_status = SIGKILL;
	} else if (si.si_pid == 0) {
		return 0;
	}
	kill(-x->pid, SIGKILL); /* what it left running in its group */
	siginfo_t si2;
	memset(&si2, 0, sizeof(si2));
	if (waitid(P_PIDFD, (id_t)x->pidfd, &si2, WEXITED | WNOHANG) == 0 && si2.si_pid)
		si = si2;
	x->exited = 1;
	x->wcode = si.si_code;
	x->wstatus = si.si_status;
	return 1;
}

unsigned tr_exec_stop(struct tr_exec *x, int why, unsigned grace_ms)
{
	if (x->stop || x->exited || !x->pid)
		return 0;
	x->stop = why;
	if (grace_ms == 0) {
		kill(-x->pid, SIGKILL);
		return 0;
	}
	kill(-x->pid, SIGTERM);
	kill(-x->pid, SIGCONT); /* a stopped program must see its SIGTERM */
	return grace_ms;
}

void tr_exec_kill(struct tr_exec *x)
{
	if (x->pid && !x->exited)
		kill(-x->pid, SIGKILL);
}

void tr_exec_drained(struct tr_exec *x)
{
	x->eof[TR_EXEC_OUT] = x->eof[TR_EXEC_ERR] = 1;
}

int tr_exec_done(const struct tr_exec *x)
{
	return x->state || (x->exited && x->eof[TR_EXEC_OUT] && x->eof[TR_EXEC_ERR]);
}

/* Appends "\n" and the end of stderr that fits, starting at a line. */
static void add_tail(struct tr_exec *x)
{
	const char *t = x->tail;
	size_t n = x->tail_len;
	int cut = x->err_total > n;

	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	size_t room = x->out.cap > x->out.len + 5 ? x->out.cap - x->out.len - 5 : 0;
	if (n > room) {
		t += n - room;
		n = room;
		cut = 1;
	}
	if (cut) { /* start at a whole line when there is one */
		const char *nl = memchr(t, '\n', n);
		if (nl && nl + 1 < t + n) {
			n -= (size_t)(nl + 1 - t);
			t = nl + 1;
		}
	}
	if (!n)
		return;
	tr_out_add(&x->out, cut ? "\n...\n" : "\n", cut ? 5 : 1);
	tr_out_add(&x->out, t, n);
	x->out.over = 0; /* an error is cut to fit */
}

/* Cuts the output so that "\n[output truncated at K of N bytes]" ends it
 * within the area, keeping as many bytes (K) as fit. */
static void note_truncation(struct tr_exec *x)
{
	char m[96];
	size_t keep = x->out.cap;
	int ml = 0;

	/* K's digits change the note's length: settle K (two rounds at most) */
	for (int i = 0; i < 4; i++) {
		ml = snprintf(m, sizeof(m), "\n[output truncated at %zu of %llu bytes]", keep,
		              (unsigned long long)x->out_total);
		size_t k = x->out.cap > (size_t)ml ? x->out.cap - (size_t)ml : 0;
		if (k == keep)
			break;
		keep = k;
	}
	if (keep + (size_t)ml > x->out.cap) /* K grew a digit: one byte less */
		keep = x->out.cap > (size_t)ml ? x->out.cap - (size_t)ml : 0;
	ml = snprintf(m, sizeof(m), "\n[output truncated at %zu of %llu bytes]", keep,
	              (unsigned long long)x->out_total);
	x->out.len = keep < x->out.len ? keep : x->out.len;
	x->out.over = 0;
	tr_out_add(&x->out, m, (size_t)ml);
	x->out.over = 0;
}

void tr_exec_finish(struct tr_exec *x)
{
	if (x->state)
		return;
	if (x->stop == TR_EXEC_TIMEOUT) {
		tr_out_error(&x->out, "timed out after %u s", x->run_timeout_s);
		x->state = TASKRING_FAILED;
		return;
	}
	if (x->stop == TR_EXEC_CANCEL) {
		tr_out_error(&x->out, "cancelled");
		x->state = TASKRING_CANCELLED;
		return;
	}
	if (x->wcode == CLD_EXITED && x->wstatus == 0) {
		if (x->out_total > x->out.cap)
			note_truncation(x);
		x->state = TASKRING_DONE;
		return;
	}
	if (x->wcode == CLD_EXITED) {
		tr_out_error(&x->out, "exec: exited with status %d", x->wstatus);
	} else {
		const char *name = sigabbrev_np(x->wstatus);
		tr_out_error(&x->out, "exec: killed by signal %d (%s%s)%s", x->wstatus,
		             name ? "SIG" : "", name ? name : "unknown",
		             x->wcode == CLD_DUMPED ? ", core dumped" : "");
	}
	add_tail(x);
	x->state = TASKRING_FAILED;
}

void tr_exec_release(struct tr_exec *x)
{
	if (x->pid && !x->exited) {
		siginfo_t si;
		kill(-x->pid, SIGKILL);
		if (x->pidfd >= 0)
			while (waitid(P_PIDFD, (id_t)x->pidfd, &si, WEXITED) < 0 && errno == EINTR)
				;
		x->exited = 1;
	}
	close_fd(&x->pidfd);
	close_fd(&x->fd[0]);
	close_fd(&x->fd[1]);
	free(x->buf[0]);
	free(x->buf[1]);
	x->buf[0] = x->buf[1] = NULL;
}
