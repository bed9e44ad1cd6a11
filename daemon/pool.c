/*
 * pool.c - see pool.h.
 *
 * Record fields the supervisor owns (pid, cpu, inc, state, restarts,
 * last_exit) change under the queue lock when a process starts or ends,
 * because the queue's repair reads them to tell live owners from dead ones.
 * The lock is taken with a short deadline: a process stopped while holding
 * it must not freeze the supervisor, which has to notice and kill it.
 * Fields the workers write (ready_inc, heartbeat_ns, cur_cpu, cur_io,
 * cur_exec) are read with atomic loads and treated as untrusted hints: a
 * task id read there is checked against its slot before anything is done to
 * it.
 *
 * A cpu task the worker runs as an exec program (cur_exec == cur_cpu) has
 * its run timeout and cancel enforced by the worker itself, which kills the
 * program's process group and not itself: the pool does not stop the worker
 * for them. As a backstop it still does, charged as a timeout, when such a
 * task runs on past its timeout plus kill_grace_ms plus EXEC_BACKSTOP_NS; and
 * the heartbeat check covers such a worker (its main thread only waits).
 */
#include "pool.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cause.h"
#include "log.h"
#include "worker.h"
#include "procstat.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define NS_PER_MS        1000000ull
#define NS_PER_S         1000000000ull
#define POOL_LOCK_NS     (2 * NS_PER_S)  /* how long a record update waits for the lock */
#define STOPPED_LIMIT    2               /* checks in state T before a worker is replaced */
#define EXEC_BACKSTOP_NS (10 * NS_PER_S) /* grace for a worker ending an exec itself */
#define SPARE_FAILS_MAX  5               /* spares dying unused in a row: no more spares */
#define SPARE_FD         3               /* the spare's socket in the spare */

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint32_t ld32(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void st32(uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void st64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* The state letter of /proc/PID/stat ('R', 'S', 'T', ...), or 0. */
static char proc_state(pid_t pid)
{
	struct tr_procstat ps;
	return tr_procstat_read(pid, &ps) ? 0 : ps.state;
}

/* Publishes slot i's restart time in its record for status: restart_at
 * while the slot waits without a process for a restart held back (a
 * backoff after early deaths), else 0. Written only when it changes. */
static void pool_publish_restart(struct tr_pool *p, unsigned i, uint64_t now)
{
	const struct tr_wslot *s = &p->w[i];
	struct trq_worker *rec = &p->q->workers[i];
	uint64_t v = !s->pid && !p->draining && s->restart_at > now ? s->restart_at : 0;

	if (ld64(&rec->restart_ns) != v)
		st64(&rec->restart_ns, v);
}

const char *tr_pool_kill_name(enum tr_kill k)
{
	switch (k) {
	case TR_KILL_NONE:
		return "none";
	case TR_KILL_TIMEOUT:
		return "run timeout";
	case TR_KILL_CANCEL:
		return "task cancelled";
	case TR_KILL_STOP:
		return "reconfigured";
	case TR_KILL_STOPPED:
		return "stopped process";
	case TR_KILL_HUNG:
		return "no heartbeat";
	case TR_KILL_SHUTDOWN:
		return "shutdown";
	}
	return "?";
}

/* Takes the queue lock for a record update. Returns 1 when held; 0 when it
 * could not be had in time (the update then goes ahead without it: a holder
 * that is stopped cannot be writing). Sets fatal for an unusable lock. */
static int pool_lock(struct tr_pool *p)
{
	/* The handle's own wait when it has one: the supervisor's, which after
	 * one wait in vain for a stuck lock tries only briefly until it gets
	 * it again (see lock_spent_ns in queue.h). */
	int r = trq_lock(p->q, p->q->lock_wait_ns ? 0 : trq_now() + POOL_LOCK_NS);
	if (r == 0)
		return 1;
	if (r == -ENOTRECOVERABLE) {
		p->fatal = 1;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg),
		         "the queue lock is not recoverable: the segment must be removed");
	}
	tr_log_errno(LOG_WARNING, r, "queue lock for a worker record update");
	return 0;
}

int tr_pool_publish_count(struct tr_pool *p)
{
	unsigned n = p->nwant;
	for (unsigned i = n; i < p->nslots; i++)
		if (p->w[i].pid)
			n = i + 1;
	if (ld32(&p->q->hdr->nworkers) == n)
		return 0;
	st32(&p->q->hdr->nworkers, n);
	return 1;
}

unsigned tr_pool_guard_records(struct tr_pool *p)
{
	unsigned fixed = 0;

	for (unsigned i = 0; i < p->nslots; i++) {
		const struct tr_wslot *s = &p->w[i];
		struct trq_worker *rec = &p->q->workers[i];
		if (!s->pid)
			continue;
		uint32_t state = s->kill != TR_KILL_NONE ? TRQ_W_STOPPING
		                 : s->ready              ? TRQ_W_READY
		                                         : TRQ_W_STARTING;
		if (__atomic_load_n(&rec->pid, __ATOMIC_ACQUIRE) == (int32_t)s->pid &&
		    ld32(&rec->inc) == s->inc &&
		    __atomic_load_n(&rec->cpu, __ATOMIC_RELAXED) == s->cpu &&
		    ld32(&rec->state) == state)
			continue;
		st32(&rec->inc, s->inc);
		__atomic_store_n(&rec->cpu, s->cpu, __ATOMIC_RELAXED);
		__atomic_store_n(&rec->pid, (int32_t)s->pid, __ATOMIC_RELEASE);
		st32(&rec->state, state);
		fixed++;
	}
	return fixed;
}

int tr_pool_init(struct tr_pool *p, struct trq *q, int epfd, uint64_t ev_base)
{
	memset(p, 0, sizeof(*p));
	p->q = q;
	p->epfd = epfd;
	p->ev_base = ev_base;
	p->self = getpid();
	p->w = calloc(TRQ_WORKERS_MAX, sizeof(*p->w));
	if (!p->w)
		return -ENOMEM;
	for (unsigned i = 0; i < TRQ_WORKERS_MAX; i++)
		p->w[i].pidfd = -1;
	p->spare.pidfd = p->spare.fd = -1;
	return 0;
}

static _Noreturn void pool_child_worker(struct tr_pool *p, unsigned index, uint32_t inc, int cpu)
{
	struct tr_worker_args a = {
	    .q = p->q,
	    .cfg = p->cfg,
	    .index = (int)index,
	    .inc = inc,
	    .cpu = cpu,
	    .sup_pid = p->self,
	    .token = p->token,
	};
	tr_worker_run(&a);
}

/* In the child, right after fork(): a clean process. Every descriptor but
 * 0-2 is closed; keep (-1: none) stays open as SPARE_FD. */
static void pool_child_reset(struct tr_pool *p, int keep)
{
	sigset_t none;
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly for KILL, STOP, internal */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	/* Everything the supervisor holds: epoll, signalfd, timerfd, pidfds, the
	 * notify socket, and the segment's descriptor, whose open file holds the
	 * supervisor lock (it must die with the supervisor, not with us). The
	 * mapping stays. */
	if (keep >= 0) {
		if (keep != SPARE_FD && dup2(keep, SPARE_FD) < 0)
			_exit(1);
		close_range(SPARE_FD + 1, ~0u, 0);
	} else {
		close_range(3, ~0u, 0);
	}
	p->q->fd = -1;
	/* Its own process group: a terminal's ^C or ^\ goes to the supervisor
	 * alone, which then stops its workers the way the signal asks. */
	setpgid(0, 0);
}

/* In the child, right after fork(): the worker of slot index. */
static _Noreturn void pool_child(struct tr_pool *p, unsigned index, uint32_t inc, int cpu)
{
	pool_child_reset(p, -1);
	if (p->child)
		p->child(p, index, inc, cpu);
	else
		pool_child_worker(p, index, inc, cpu);
	_exit(127);
}

/* In the child, right after fork(): a spare worker on socket sock. */
static _Noreturn void pool_child_spare(struct tr_pool *p, int sock)
{
	struct tr_worker_args a = {
	    .q = p->q,
	    .cfg = p->cfg,
	    .index = -1,
	    .cpu = -1,
	    .sup_pid = p->self,
	    .token = p->token,
	};
	pool_child_reset(p, sock);
	tr_worker_spare(&a, SPARE_FD);
}

/* Pins a new child to cpu from here, before it first runs if it has not yet
 * (it pins itself again, which then costs nothing): otherwise fork() may
 * start it on the busiest CPU, where it waits for a tick before it can move
 * itself. A failure is only logged by the child's own attempt. */
static void pool_pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(pid, sizeof(set), &set);
}

/* Gives worker slot i's main thread (its tid is its pid) the configured
 * policy after a reload; new workers set it themselves (tr_worker_run). */
static void pool_sched(struct tr_pool *p, unsigned i)
{
	int policy = p->cfg->workers_sched;
	pid_t pid = p->w[i].pid;
	int r = pid > 0 ? tr_worker_set_sched(pid, policy) : 0;

	if (r < 0 && r != -ESRCH)
		tr_log_errno(LOG_WARNING, -r, "worker %u: sched_setscheduler(pid %d, %s)", i,
		             (int)pid, tr_worker_sched_name(policy));
}

/* A spare died unused or could not be started: the next one waits. */
static void pool_spare_failed(struct tr_pool *p, uint64_t now)
{
	struct tr_spare *sp = &p->spare;

	sp->fails++;
	sp->next_at = now + NS_PER_MS * tr_restart_backoff_ms(sp->fails, p->cfg->restart_backoff_ms,
	                                                      p->cfg->restart_backoff_max_ms);
	if (sp->fails == SPARE_FAILS_MAX)
		log_warn("%u spare workers in a row died unused: no more spares; a dead worker's "
		         "replacement is forked when it is needed",
		         sp->fails);
}

/* Forks the spare. */
static void pool_spare_fork(struct tr_pool *p, uint64_t now)
{
	struct tr_spare *sp = &p->spare;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		tr_log_errno(LOG_WARNING, errno, "socketpair(AF_UNIX) for a spare worker");
		pool_spare_failed(p, now);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0)
		pool_child_spare(p, sv[1]);
	int err = errno;
	close(sv[1]);
	int pidfd = pid > 0 ? sys_pidfd_open(pid) : -1;
	if (pid < 0 || pidfd < 0) {
		if (pid > 0) {
			err = errno;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		tr_log_errno(LOG_WARNING, err, "%s",
		             pid < 0 ? "fork(spare worker)" : "pidfd_open(spare worker)");
		close(sv[0]);
		pool_spare_failed(p, now);
		return;
	}
	sp->pid = pid;
	sp->pidfd = pidfd;
	sp->fd = sv[0];
	sp->hello = 0;
	/* Its hello makes the socket readable: status then says it is set up
	 * (tr_pool_event). Without the watch it is read when a slot needs it. */
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = p->ev_base + TR_POOL_EV_SPARE};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, sp->fd, &ev) < 0)
		tr_log_errno(LOG_WARNING, errno, "epoll_ctl(ADD, socket of the spare worker)");
	log_debug("spare worker (pid %d) starting", (int)pid);
}

/* Forks the spare if there is none and one is wanted. */
static void pool_spare_want(struct tr_pool *p, uint64_t now)
{
	struct tr_spare *sp = &p->spare;

	if (!p->spare_on || p->child || p->draining || p->fatal || sp->pid ||
	    sp->fails >= SPARE_FAILS_MAX || (sp->next_at && now < sp->next_at))
		return;
	pool_spare_fork(p, now);
}

/* Closes our end of the spare's socket, taking it out of the epoll set
 * first (a worker forked meanwhile may hold a copy, which would keep it in). */
static void pool_spare_close_fd(struct tr_pool *p)
{
	struct tr_spare *sp = &p->spare;

	if (sp->fd < 0)
		return;
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, sp->fd, NULL); /* ENOENT when never added */
	close(sp->fd);
	sp->fd = -1;
}

/* Drops the spare: SIGKILL; reaped on SIGCHLD without a word. */
static void pool_spare_drop(struct tr_pool *p)
{
	struct tr_spare *sp = &p->spare;

	if (!sp->pid || sp->fd < 0)
		return;
	pool_spare_close_fd(p);
	if (sys_pidfd_send_signal(sp->pidfd, SIGKILL) < 0 && errno != ESRCH)
		tr_log_errno(LOG_WARNING, errno, "pidfd_send_signal(spare worker, pid %d, SIGKILL)",
		             (int)sp->pid);
}

/* A worker (index i, or -1: the spare) that exited with
 * TR_WORKER_EXIT_TRUNCATED faulted on its segment mapping (its own line said
 * where). When the segment is shorter than the mapping, the supervisor
 * cannot go on either: a replacement would fault again, and so would the
 * supervisor at its next touch of the lost pages (tasks, worker records).
 * Then it says so in one line and exits 1 at once, touching nothing more,
 * as its own SIGBUS handler does (sigbus.h); the workers die with it. Else
 * (the segment has its size again, or a program exited 3 by itself) the
 * exit is an ordinary one. Lock-free. */
static void pool_truncated(struct tr_pool *p, int i, pid_t pid, const siginfo_t *si)
{
	struct stat st;
	char who[32];

	if (si->si_code != CLD_EXITED || si->si_status != TR_WORKER_EXIT_TRUNCATED)
		return;
	if (fstat(p->q->fd, &st) < 0) {
		tr_log_errno(LOG_WARNING, errno, "fstat(/dev/shm/taskring.%s)", p->cfg->instance);
		return;
	}
	if ((uint64_t)st.st_size >= (uint64_t)p->q->size)
		return;
	if (i >= 0)
		snprintf(who, sizeof(who), "worker %d", i);
	else
		snprintf(who, sizeof(who), "spare worker");
	log_err("%s (pid %d) exited with status %d (SIGBUS in the segment, %lld of %zu bytes "
	        "left): segment /dev/shm/taskring.%s was truncated by another process: exiting",
	        who, (int)pid, si->si_status, (long long)st.st_size, p->q->size, p->cfg->instance);
	_exit(1);
}

/* Reaps the spare if it ended. */
static void pool_spare_reap(struct tr_pool *p, uint64_t now)
{
	struct tr_spare *sp = &p->spare;
	char how[TRQ_CAUSE_MAX];
	siginfo_t si;

	if (!sp->pid)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)sp->pidfd, &si, WEXITED | WNOHANG) < 0) {
		if (errno != ECHILD) {
			tr_log_errno(LOG_ERR, errno, "waitid(spare worker, pid %d)", (int)sp->pid);
			return;
		}
		si.si_code = CLD_KILLED; /* reaped elsewhere: no status left */
		si.si_status = 0;
		si.si_pid = sp->pid;
	}
	if (si.si_pid == 0)
		return; /* still running */
	pool_truncated(p, -1, sp->pid, &si);
	close(sp->pidfd);
	if (sp->fd >= 0) {
		pool_spare_close_fd(p);
		tr_cause_format(&si, how, sizeof(how));
		log_warn("spare worker (pid %d) %s before it was needed", (int)sp->pid, how);
		pool_spare_failed(p, now);
	}
	sp->pid = 0;
	sp->pidfd = sp->fd = -1;
	sp->hello = 0;
}

/* Reads the spare's hello if it has come. Returns 1 when the spare is set
 * up (said so now or before), 0 when not yet, -1 when it is gone (its end
 * closed: reaped on SIGCHLD) or was dropped for a bad hello. */
static int pool_spare_hello(struct tr_pool *p)
{
	struct tr_spare *sp = &p->spare;
	struct tr_worker_hello hi;

	if (!sp->pid || sp->fd < 0)
		return -1;
	if (sp->hello)
		return 1;
	ssize_t n = recv(sp->fd, &hi, sizeof(hi), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0; /* still setting up */
	if (n != (ssize_t)sizeof(hi))
		return -1; /* gone (reaped on SIGCHLD) */
	if (hi.pid != (int32_t)sp->pid) {
		log_warn("spare worker (pid %d) says it is pid %d: dropping it", (int)sp->pid,
		         (int)hi.pid);
		pool_spare_drop(p);
		return -1;
	}
	sp->hello = 1;
	return 1;
}

/* Hands slot i to the spare if it is set up: pins it to cpu while it waits
 * (so that it wakes up there), adds its pidfd to the epoll set as slot i's
 * and sends it the job. Returns its pid and sets *pidfd, or returns 0 (no
 * spare ready: fork one). */
static pid_t pool_spare_take(struct tr_pool *p, unsigned i, uint32_t inc, int cpu, int *pidfd)
{
	struct tr_spare *sp = &p->spare;
	struct tr_worker_job job = {.index = (int32_t)i, .inc = inc, .cpu = cpu};

	if (pool_spare_hello(p) <= 0)
		return 0; /* none, still setting up, or gone */
	if (proc_state(sp->pid) == 'T') {
		/* Stopped (SIGSTOP) while it waited: the slot would stay empty
		 * until the health checks find its worker stopped, seconds from
		 * now. A fork is ready in milliseconds. */
		log_warn("spare worker (pid %d) is stopped (state T): dropping it; worker %u is "
		         "forked instead",
		         (int)sp->pid, i);
		pool_spare_drop(p);
		return 0;
	}
	pool_pin(sp->pid, cpu);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = p->ev_base + i};
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, sp->pidfd, &ev) < 0) {
		tr_log_errno(LOG_ERR, errno, "epoll_ctl(ADD, pidfd of worker %u)", i);
		return 0;
	}
	if (send(sp->fd, &job, sizeof(job), MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(job)) {
		tr_log_errno(LOG_WARNING, errno, "handing worker %u to the spare (pid %d)", i,
		             (int)sp->pid);
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, sp->pidfd, NULL);
		pool_spare_drop(p);
		return 0;
	}
	pid_t pid = sp->pid;
	*pidfd = sp->pidfd;
	pool_spare_close_fd(p);
	sp->pid = 0;
	sp->pidfd = sp->fd = -1;
	sp->hello = 0;
	sp->fails = 0;
	return pid;
}

/* Logs each task trq_worker_lost() failed for good: its attempts are used
 * up (the worker kept dying on it, or it kept timing out). */
static void pool_log_failed(const struct trq_lost_report *rep)
{
	unsigned n = rep->nfailed < TRQ_LOST_FAILED_MAX ? rep->nfailed : TRQ_LOST_FAILED_MAX;
	for (unsigned j = 0; j < n; j++) {
		const struct trq_lost_failed *f = &rep->failed[j];
		log_warn("task %llu failed after %u of %u attempts: %s", (unsigned long long)f->id,
		         f->attempts, f->max_attempts, f->cause);
	}
	if (rep->nfailed > n)
		log_warn("and %u more tasks failed after their last attempt", rep->nfailed - n);
}

/* Starts slot i's process. On failure schedules a retry. */
static void pool_spawn(struct tr_pool *p, unsigned i, uint64_t now)
{
	struct tr_wslot *s = &p->w[i];
	struct trq_worker *rec = &p->q->workers[i];
	struct trq_hdr *h = p->q->hdr;
	int cpu = tr_cpus_pick(&p->cpus, i);
	uint32_t inc = ld32(&rec->inc);

	if (inc < s->inc)
		inc = s->inc;
	if (++inc == 0) /* 0 is the ready_inc of a worker not ready yet */
		inc = 1;
	int locked = pool_lock(p);
	rec->inc = inc;
	rec->cpu = cpu;
	rec->pid = 0;
	rec->ready_inc = 0;
	rec->ready_ns = 0;
	__atomic_store_n(&rec->cur_cpu, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&rec->cur_exec, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&rec->cur_io, 0, __ATOMIC_RELEASE);
	rec->io_inflight = 0;
	rec->heartbeat_ns = now;
	st64(&rec->restart_ns, 0); /* with the state, under the lock: no backoff now */
	if (s->spawned) {
		rec->restarts++;
		h->worker_restarts++;
	}
	st32(&rec->state, TRQ_W_STARTING);
	if (locked)
		trq_unlock(p->q);

	s->inc = inc;
	s->cpu = cpu;
	s->ready = 0;
	s->kill = TR_KILL_NONE;
	s->kill_task = 0;
	s->sigkill_at = 0;
	s->stopped_seen = 0;
	s->restart_at = 0;
	s->spawned = 1;
	s->started_ns = now;
	s->gen = p->gen;
	if (i >= p->nslots)
		p->nslots = i + 1;

	int pidfd = -1;
	pid_t pid = pool_spare_take(p, i, inc, cpu, &pidfd);
	if (pid > 0) {
		s->pid = pid;
		s->pidfd = pidfd;
		__atomic_store_n(&rec->pid, (int32_t)pid, __ATOMIC_RELEASE);
		tr_pool_publish_count(p);
		log_debug("worker %u (pid %d, the spare) starting on cpu %d, incarnation %u", i,
		          (int)pid, cpu, inc);
		return;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0)
		pool_child(p, i, inc, cpu);
	int err = errno;
	if (pid > 0)
		pool_pin(pid, cpu);
	pidfd = pid > 0 ? sys_pidfd_open(pid) : -1;
	if (pid > 0 && pidfd < 0) {
		err = errno;
		tr_log_errno(LOG_ERR, err, "pidfd_open(worker %u, pid %d)", i, (int)pid);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	} else if (pid < 0) {
		tr_log_errno(LOG_ERR, err, "fork(worker %u)", i);
	}
	if (pid > 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = p->ev_base + i};
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
			err = errno;
			tr_log_errno(LOG_ERR, err, "epoll_ctl(ADD, pidfd of worker %u)", i);
			sys_pidfd_send_signal(pidfd, SIGKILL);
			waitid(P_PIDFD, (id_t)pidfd, &(siginfo_t){0}, WEXITED);
			close(pidfd);
			pid = -1;
		}
	}
	if (pid < 0) {
		/* It may have run for a moment: hand back whatever it took, then
		 * retry after a backoff. */
		struct trq_lost_report rep;
		if (trq_worker_lost(p->q, (int)i, inc, 0, NULL, &rep) >= 0)
			pool_log_failed(&rep);
		st32(&rec->state, TRQ_W_DEAD);
		s->early_streak++;
		s->restart_at = now + NS_PER_MS * tr_restart_backoff_ms(
		                                      s->early_streak, p->cfg->restart_backoff_ms,
		                                      p->cfg->restart_backoff_max_ms);
		pool_publish_restart(p, i, now);
		return;
	}
	s->pid = pid;
	s->pidfd = pidfd;
	__atomic_store_n(&rec->pid, (int32_t)pid, __ATOMIC_RELEASE);
	tr_pool_publish_count(p);
	log_debug("worker %u (pid %d) starting on cpu %d, incarnation %u", i, (int)pid, cpu, inc);
}

/* Signals slot i's process on purpose. SIGTERM arms the SIGKILL that follows
 * after tasks.kill_grace_ms; the first reason given is the one remembered. */
static void pool_kill(struct tr_pool *p, unsigned i, enum tr_kill why, uint64_t task, int sig,
                      uint64_t now)
{
	struct tr_wslot *s = &p->w[i];

	if (!s->pid)
		return;
	if (s->kill == TR_KILL_STOP && (why == TR_KILL_CANCEL || why == TR_KILL_TIMEOUT)) {
		/* A retiring worker's task cancelled or timed out: that task
		 * ends now, as on any worker, not after shutdown_timeout_s. */
		s->kill = TR_KILL_NONE;
		s->sigkill_at = 0;
	}
	if (s->kill == TR_KILL_NONE) {
		s->kill = why;
		s->kill_task = task;
		st32(&p->q->workers[i].state, TRQ_W_STOPPING);
	}
	if (sig == SIGTERM && p->cfg->kill_grace_ms == 0)
		sig = SIGKILL;
	if (sig == SIGTERM && s->sigkill_at)
		return; /* already asked; SIGKILL is on its way */
	if (sys_pidfd_send_signal(s->pidfd, sig) < 0 && errno != ESRCH)
		tr_log_errno(LOG_WARNING, errno, "pidfd_send_signal(worker %u, pid %d, %s)", i,
		             (int)s->pid, sigabbrev_np(sig));
	s->sigkill_at = sig == SIGTERM ? now + p->cfg->kill_grace_ms * NS_PER_MS : 0;
}

/* How long a worker stopped on purpose for why may take before SIGKILL: a
 * retired one finishes its running tasks as at a graceful stop
 * (shutdown_timeout_s: a reload must not cut long tasks short after the
 * 2 s a stuck task gets); the others end a task, kill_grace_ms. */
static uint64_t pool_grace_ms(const struct tr_pool *p, enum tr_kill why)
{
	if (why == TR_KILL_STOP)
		return (uint64_t)p->cfg->shutdown_timeout_s * 1000;
	return p->cfg->kill_grace_ms;
}

/* Retires worker i: its record says STOPPING, and woken, it takes no more
 * tasks, finishes those it runs and exits 0 (trq_worker_leaving); what is
 * still running after shutdown_timeout_s gets SIGKILL and goes back to the
 * queue uncharged. For fewer workers, another CPU or new settings. */
static void pool_retire(struct tr_pool *p, unsigned i, uint64_t now)
{
	struct tr_wslot *s = &p->w[i];
	struct trq_hdr *h = p->q->hdr;

	if (!s->pid || s->kill != TR_KILL_NONE)
		return;
	if (pool_grace_ms(p, TR_KILL_STOP) == 0) {
		pool_kill(p, i, TR_KILL_STOP, 0, SIGKILL, now);
		return;
	}
	s->kill = TR_KILL_STOP;
	st32(&p->q->workers[i].state, TRQ_W_STOPPING);
	for (int c = 0; c < TRQ_NCLASS; c++)
		trq_bell(&h->q_seq[c], &h->q_wait[c], INT_MAX);
	s->sigkill_at = now + pool_grace_ms(p, TR_KILL_STOP) * NS_PER_MS;
}

static void fmt_uptime(char *buf, size_t len, uint64_t ns)
{
	if (ns < 10 * NS_PER_S)
		snprintf(buf, len, "%.1f ms", (double)ns / NS_PER_MS);
	else
		snprintf(buf, len, "%.1f s", (double)ns / NS_PER_S);
}

/* Slot i's process ended with si: hand back its tasks, record why, and
 * decide about the restart. */
static void pool_lost(struct tr_pool *p, unsigned i, const siginfo_t *si, uint64_t now)
{
	uint64_t reaped_ns = trq_now(); /* now is the event loop's, from before the wait */
	struct tr_wslot *s = &p->w[i];
	struct trq_worker *rec = &p->q->workers[i];
	const struct tr_config *c = p->cfg;
	char how[TRQ_CAUSE_MAX], cause[TRQ_CAUSE_MAX + 64], up[32];

	pool_truncated(p, (int)i, s->pid, si); /* first: rec may be past the end */
	uint64_t cur_cpu = ld64(&rec->cur_cpu), cur_io = ld64(&rec->cur_io), charge = 0;
	uint64_t uptime = now - s->started_ns;
	int was_ready = s->ready, early = 0;
	pid_t pid = s->pid;

	epoll_ctl(p->epfd, EPOLL_CTL_DEL, s->pidfd, NULL);
	close(s->pidfd);
	s->pidfd = -1;
	s->pid = 0;
	s->ready = 0;
	s->sigkill_at = 0;

	tr_cause_format(si, how, sizeof(how));
	if (si->si_code == CLD_EXITED && si->si_status == TR_WORKER_EXIT_TRUNCATED) {
		/* The segment is whole (pool_truncated): the segment had its
		 * size again after the worker's SIGBUS in it, or the task's
		 * own code called exit(3). The status does not say which (the
		 * worker's own log line does): name both, charged. */
		size_t n = strlen(how);
		snprintf(how + n, sizeof(how) - n,
		         " (a SIGBUS in the segment, or the task's own exit(3))");
	}
	switch (s->kill) {
	case TR_KILL_NONE:
		/* Its own death (or someone else's kill): charge what it was
		 * executing. A death charged to a task is that task's doing (it
		 * ends failed at its max_attempts), not an early exit: a few
		 * crashing tasks must not make the daemon give up. */
		charge = cur_cpu ? cur_cpu : cur_io;
		/* A ready worker that someone killed (SIGKILL, SIGTERM: an admin,
		 * `taskring kill-worker`, the OOM killer) was healthy: only a
		 * worker that never got ready, or died of its own (a crash, an
		 * exit) soon after, says the set-up is broken. */
		early = !charge && uptime < (uint64_t)c->restart_min_uptime_ms * NS_PER_MS &&
		        !(was_ready && si->si_code == CLD_KILLED &&
		          (si->si_status == SIGKILL || si->si_status == SIGTERM));
		if (si->si_code == CLD_EXITED && si->si_status == 0 && !p->draining) {
			/* It left as asked, but not by us: the segment's draining
			 * flag was set by another process. Not a broken set-up; the
			 * flag goes now, before its replacement reads it too. */
			early = 0;
			if (__atomic_exchange_n(&p->q->hdr->draining, 0, __ATOMIC_ACQ_REL))
				log_warn(
				    "worker %u left because the segment said the daemon is "
				    "draining while it runs (another process wrote it): cleared",
				    i);
		}
		break;
	case TR_KILL_HUNG:
		/* A hung io handler is the likely culprit. */
		charge = cur_cpu ? 0 : cur_io;
		early = !was_ready;
		break;
	case TR_KILL_STOPPED: {
		/* Replaced with its tasks uncharged: someone pressed Ctrl-Z. But
		 * when the same task runs again as its worker is found stopped
		 * once more, that task stops its worker (kill -STOP $PPID):
		 * charge it, or it would stop workers forever. */
		uint64_t t = cur_cpu ? cur_cpu : cur_io;
		if (t && t == p->stopped_task)
			charge = t;
		p->stopped_task = t;
		snprintf(how, sizeof(how), "stayed stopped (SIGSTOP) and was killed");
		break;
	}
	default:
		/* Killed on purpose: timeout and cancel are settled by the slot's
		 * flags, everything else goes back uncharged. */
		break;
	}
	snprintf(cause, sizeof(cause), "worker %u (pid %d) %s", i, (int)pid, how);
	struct trq_lost_report rep;
	int r = trq_worker_lost(p->q, (int)i, s->inc, charge, cause, &rep);
	if (r < 0) { /* the next audit requeues them (owner no longer live) */
		tr_log_errno(LOG_ERR, r,
		             "trq_worker_lost(worker %u): its tasks stay running until the next "
		             "audit",
		             i);
		p->audit_due = 1;
	}

	char last[sizeof(how) + 32];
	if (s->kill != TR_KILL_NONE)
		snprintf(last, sizeof(last), "%s (%s)", how, tr_pool_kill_name(s->kill));
	else
		snprintf(last, sizeof(last), "%s", how);
	int locked = pool_lock(p);
	rec->pid = 0;
	rec->lost_ns = reaped_ns;
	size_t n = strnlen(last, sizeof(rec->last_exit) - 1);
	memcpy(rec->last_exit, last, n);
	memset(rec->last_exit + n, 0, sizeof(rec->last_exit) - n);
	st32(&rec->state, TRQ_W_DEAD);
	if (locked)
		trq_unlock(p->q);

	fmt_uptime(up, sizeof(up), uptime);
	if (p->draining && si->si_code == CLD_EXITED && si->si_status == 0)
		log_info("worker %u (pid %d, cpu %d) finished its tasks and exited", i, (int)pid,
		         s->cpu);
	else if (s->kill != TR_KILL_NONE)
		log_info("worker %u (pid %d, cpu %d) %s after %s, stopped for: %s%s", i, (int)pid,
		         s->cpu, how, up, tr_pool_kill_name(s->kill),
		         r > 0 ? "; its tasks went back to the queue" : "");
	else if (charge)
		log_warn("worker %u (pid %d, cpu %d) %s after %s; task %llu charged an attempt", i,
		         (int)pid, s->cpu, how, up, (unsigned long long)charge);
	else
		log_warn("worker %u (pid %d, cpu %d) %s after %s", i, (int)pid, s->cpu, how, up);
	if (r >= 0)
		pool_log_failed(&rep);

	enum tr_kill killed = s->kill;
	s->kill = TR_KILL_NONE;
	s->kill_task = 0;
	s->restart_at = 0;
	pool_publish_restart(p, i, now);
	if (p->draining || i >= p->nwant) {
		if (i >= p->nwant)
			st32(&rec->state, TRQ_W_EMPTY);
		tr_pool_publish_count(p);
		return;
	}
	if (!was_ready && si->si_code == CLD_EXITED && si->si_status == TR_WORKER_EXIT_FATAL) {
		p->fatal = 1;
		snprintf(p->fatal_msg, sizeof(p->fatal_msg),
		         "worker %u failed to set up (exit status %d, see its message above); "
		         "not retrying",
		         i, si->si_status);
		return;
	}
	if (early || (killed == TR_KILL_HUNG && !was_ready)) {
		s->early_streak++;
		if (tr_restart_early(&p->early, now, c->restart_max_early_exits,
		                     c->restart_window_s)) {
			p->fatal = 1;
			snprintf(p->fatal_msg, sizeof(p->fatal_msg),
			         "%zu workers died within %u ms of starting in the last %u s "
			         "(restart.max_early_exits is %u): giving up",
			         tr_restart_recent(&p->early, now, c->restart_window_s),
			         c->restart_min_uptime_ms, c->restart_window_s,
			         c->restart_max_early_exits);
			return;
		}
		uint64_t ms = tr_restart_backoff_ms(s->early_streak, c->restart_backoff_ms,
		                                    c->restart_backoff_max_ms);
		s->restart_at = now + ms * NS_PER_MS;
		pool_publish_restart(p, i, now);
		if (ms)
			log_info("worker %u died early (%u in a row): restarting in %llu ms", i,
			         s->early_streak, (unsigned long long)ms);
	} else {
		s->early_streak = 0;
		s->restart_at = now;
	}
}

void tr_pool_reap(struct tr_pool *p, unsigned index, uint64_t now)
{
	struct tr_wslot *s;
	siginfo_t si;

	if (index >= p->nslots)
		return;
	s = &p->w[index];
	if (!s->pid)
		return;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED | WNOHANG) < 0) {
		if (errno != ECHILD)
			tr_log_errno(LOG_ERR, errno, "waitid(worker %u, pid %d)", index,
			             (int)s->pid);
		if (errno != ECHILD)
			return;
		/* Reaped elsewhere: no status left. */
		si.si_code = CLD_KILLED;
		si.si_status = 0;
		si.si_pid = s->pid;
	}
	if (si.si_pid == 0)
		return; /* still running */
	pool_lost(p, index, &si, now);
}

void tr_pool_reap_all(struct tr_pool *p, uint64_t now)
{
	for (unsigned i = 0; i < p->nslots; i++)
		tr_pool_reap(p, i, now);
	pool_spare_reap(p, now);
}

void tr_pool_fini(struct tr_pool *p)
{
	if (!p->w)
		return;
	if (p->spare.pid) {
		sys_pidfd_send_signal(p->spare.pidfd, SIGKILL);
		waitid(P_PIDFD, (id_t)p->spare.pidfd, &(siginfo_t){0}, WEXITED);
		close(p->spare.pidfd);
		pool_spare_close_fd(p);
		p->spare.pid = 0;
		p->spare.pidfd = p->spare.fd = -1;
	}
	for (unsigned i = 0; i < p->nslots; i++) {
		struct tr_wslot *s = &p->w[i];
		siginfo_t si;
		if (!s->pid)
			continue;
		if (s->kill == TR_KILL_NONE)
			s->kill = TR_KILL_SHUTDOWN;
		sys_pidfd_send_signal(s->pidfd, SIGKILL);
		memset(&si, 0, sizeof(si));
		if (waitid(P_PIDFD, (id_t)s->pidfd, &si, WEXITED) < 0) {
			si.si_code = CLD_KILLED;
			si.si_status = SIGKILL;
		}
		p->draining = 1;
		pool_lost(p, i, &si, trq_now());
	}
	tr_restart_free(&p->early);
	free(p->w);
	p->w = NULL;
}

void tr_pool_configure(struct tr_pool *p, const struct tr_config *cfg, const struct tr_cpus *cpus,
                       unsigned nworkers, uint64_t now)
{
	int first = p->cfg == NULL;

	p->cfg = cfg;
	p->cpus = *cpus;
	p->nwant = nworkers > TRQ_WORKERS_MAX ? TRQ_WORKERS_MAX : nworkers;
	p->spare_on = cfg->restart_spare_worker;
	if (first) {
		for (unsigned i = 0; i < p->nwant; i++)
			p->w[i].restart_at = now;
	} else {
		p->rolling = 1;
		for (unsigned i = 0; i < p->nslots; i++)
			pool_sched(p, i);
		pool_spare_drop(p); /* it has the old configuration */
		/* A new configuration gives spares a new chance (after one that
		 * gave them up, a reload is the way to have them back). */
		p->spare.fails = 0;
		p->spare.next_at = 0;
	}
	tr_pool_publish_count(p);
}

void tr_pool_renew(struct tr_pool *p)
{
	p->gen++;
	p->rolling = 1;
}

/* Whether slot i's process is settling (starting, or being stopped). */
static int pool_settling(const struct tr_wslot *s)
{
	return s->pid && (!s->ready || s->kill != TR_KILL_NONE);
}

/* Settling, but not a retired worker finishing its tasks (that may take
 * shutdown_timeout_s): what holds back the restart of a dead worker during
 * a roll, so that a crash is not left unreplaced for that long. */
static int pool_settling_fast(const struct tr_wslot *s)
{
	return pool_settling(s) && s->kill != TR_KILL_STOP;
}

/* Publishes the spare in the header for status (hdr->spare_*), writing
 * only what changed. What it says follows from struct tr_spare alone, so
 * one call after every change is enough: tr_pool_step() makes it, and the
 * supervisor calls that before every wait. */
static void pool_spare_publish(struct tr_pool *p, uint64_t now)
{
	const struct tr_spare *sp = &p->spare;
	struct trq_hdr *h = p->q->hdr;
	uint32_t state;
	int32_t pid = 0;
	uint64_t next = 0;

	if (!p->spare_on || p->child) {
		state = TRQ_SPARE_OFF;
	} else if (p->draining || p->fatal) {
		state = TRQ_SPARE_STOPPING;
	} else if (sp->pid && sp->fd >= 0) { /* fd < 0: dropped, dying */
		state = sp->hello ? TRQ_SPARE_READY : TRQ_SPARE_STARTING;
		pid = (int32_t)sp->pid;
	} else if (sp->fails >= SPARE_FAILS_MAX) {
		state = TRQ_SPARE_GAVE_UP;
	} else if (sp->next_at && now < sp->next_at) {
		state = TRQ_SPARE_BACKOFF;
		next = sp->next_at;
	} else {
		state = TRQ_SPARE_WAIT;
	}
	/* pid before state: a reader that sees READY sees its pid. */
	if (__atomic_load_n(&h->spare_pid, __ATOMIC_RELAXED) != pid)
		__atomic_store_n(&h->spare_pid, pid, __ATOMIC_RELEASE);
	if (ld64(&h->spare_next_ns) != next)
		st64(&h->spare_next_ns, next);
	if (ld32(&h->spare_fails) != sp->fails)
		st32(&h->spare_fails, sp->fails);
	if (ld32(&h->spare_state) != state)
		st32(&h->spare_state, state);
}

void tr_pool_event(struct tr_pool *p, uint64_t index, uint64_t now)
{
	if (index < TRQ_WORKERS_MAX) {
		tr_pool_reap(p, (unsigned)index, now);
		return;
	}
	if (index != TR_POOL_EV_SPARE || p->spare.fd < 0)
		return;
	/* Level-triggered: once it said hello (or closed its end) the socket
	 * stays readable, so it leaves the set then. */
	if (pool_spare_hello(p) != 0 && p->spare.fd >= 0)
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->spare.fd, NULL);
	pool_spare_publish(p, now);
}

static int pool_step(struct tr_pool *p, uint64_t now);

int tr_pool_step(struct tr_pool *p, uint64_t now)
{
	int r = pool_step(p, now);

	pool_spare_publish(p, now);
	return r;
}

static int pool_step(struct tr_pool *p, uint64_t now)
{
	int busy = 0;

	if (p->draining || p->fatal)
		return 0;
	if (p->spare.next_at && now >= p->spare.next_at)
		p->spare.next_at = 0; /* its deadline fired once: from now on when converged */
	int starting = 0;
	for (unsigned i = 0; i < p->nslots; i++) {
		busy |= pool_settling(&p->w[i]);
		starting |= pool_settling_fast(&p->w[i]);
	}
	for (unsigned i = 0; i < p->nwant; i++) {
		struct tr_wslot *s = &p->w[i];
		if (s->pid || !s->restart_at || s->restart_at > now)
			continue;
		if (p->rolling && starting)
			break;
		pool_spawn(p, i, now);
		busy |= pool_settling(s);
		starting |= pool_settling_fast(s);
	}
	if (busy)
		return 0;
	if (p->rolling) {
		/* One change at a time, highest surplus worker first. */
		for (unsigned i = p->nslots; i-- > p->nwant;) {
			if (p->w[i].pid) {
				log_info("stopping worker %u (pid %d): %u workers configured", i,
				         (int)p->w[i].pid, p->nwant);
				pool_retire(p, i, now);
				return 0;
			}
		}
		for (unsigned i = 0; i < p->nwant; i++) {
			struct tr_wslot *s = &p->w[i];
			if (s->pid && s->cpu != tr_cpus_pick(&p->cpus, i)) {
				log_info("moving worker %u from cpu %d to cpu %d", i, s->cpu,
				         tr_cpus_pick(&p->cpus, i));
				pool_retire(p, i, now);
				return 0;
			}
		}
		for (unsigned i = 0; i < p->nwant; i++) {
			struct tr_wslot *s = &p->w[i];
			if (s->pid && s->gen != p->gen) {
				log_info("restarting worker %u (pid %d) with the new configuration",
				         i, (int)s->pid);
				pool_retire(p, i, now);
				return 0;
			}
		}
		for (unsigned i = 0; i < p->nwant; i++) {
			struct tr_wslot *s = &p->w[i];
			if (!s->pid && !s->restart_at) {
				s->restart_at = now;
				return 0;
			}
		}
	}
	for (unsigned i = 0; i < p->nwant; i++)
		if (!p->w[i].pid)
			return 0;
	p->rolling = 0;
	pool_spare_want(p, now);
	return 1;
}

unsigned tr_pool_roll_left(const struct tr_pool *p, uint64_t now, uint64_t *by)
{
	uint64_t grace = pool_grace_ms(p, TR_KILL_STOP) * NS_PER_MS, t = now;
	unsigned left = 0;

	for (unsigned i = 0; i < p->nslots || i < p->nwant; i++) {
		const struct tr_wslot *s = &p->w[i];
		if (s->pid && s->kill != TR_KILL_NONE) {
			/* being stopped: by its SIGKILL at the latest */
			uint64_t end = s->sigkill_at > now ? s->sigkill_at : now;
			if (end > t)
				t = end;
			left++;
			t += TR_POOL_STEP_NS;
		} else if (i >= p->nwant) {
			if (s->pid) {
				left++;
				t += grace + TR_POOL_STEP_NS;
			}
		} else if (!s->pid || !s->ready) {
			left++; /* to start (not before a backoff ends), or starting */
			if (!s->pid && s->restart_at > t)
				t = s->restart_at;
			t += TR_POOL_STEP_NS;
		} else if (s->cpu != tr_cpus_pick(&p->cpus, i) || s->gen != p->gen) {
			left++; /* to retire, then start */
			t += grace + 2 * TR_POOL_STEP_NS;
		}
	}
	*by = t;
	return left;
}

/* The cpu task slot i's process executes, checked against its slot: returns
 * the task's slot record (and its id in *id) or NULL. */
static struct trq_slot *pool_cur_task(struct tr_pool *p, unsigned i, uint64_t *id)
{
	struct tr_wslot *s = &p->w[i];
	uint32_t idx;

	*id = ld64(&p->q->workers[i].cur_cpu);
	if (!*id || trq_id_slot(p->q, *id, &idx))
		return NULL;
	struct trq_slot *t = &p->q->meta[idx];
	if (ld64(&t->id) != *id || ld32(&t->state) != TASKRING_RUNNING || t->owner != (int32_t)i ||
	    t->owner_inc != s->inc)
		return NULL;
	return t;
}

/* Whether worker i runs its cpu task id as an exec program (it then ends
 * that task's timeout and cancel itself). */
static int pool_task_is_exec(struct tr_pool *p, unsigned i, uint64_t id)
{
	return id && ld64(&p->q->workers[i].cur_exec) == id;
}

/* Sets flag on the slot of task id when it still runs on worker i. */
static int pool_flag_task(struct tr_pool *p, unsigned i, uint64_t id, uint32_t flag)
{
	uint64_t cur;
	int locked = pool_lock(p);
	struct trq_slot *t = pool_cur_task(p, i, &cur);
	int ok = t && cur == id;
	if (ok)
		__atomic_or_fetch(&t->flags, flag, __ATOMIC_ACQ_REL);
	if (locked)
		trq_unlock(p->q);
	return ok;
}

/* The run-timeout deadline of slot i's cpu task (0: none). */
static uint64_t pool_task_deadline(struct tr_pool *p, unsigned i, uint64_t *id)
{
	struct trq_slot *t = pool_cur_task(p, i, id);
	uint32_t secs;

	if (!t)
		return 0;
	secs = ld32(&t->run_timeout_s);
	if (!secs)
		return 0;
	uint64_t start = __atomic_load_n(&t->start_ns, __ATOMIC_RELAXED), add = secs * NS_PER_S;
	if (pool_task_is_exec(p, i, *id))
		add += p->cfg->kill_grace_ms * NS_PER_MS + EXEC_BACKSTOP_NS;
	/* A start time written near 2^64 must not wrap into "long overdue". */
	return start > UINT64_MAX - add ? UINT64_MAX : start + add;
}

/* Stops workers whose cpu task was cancelled or timed out. */
static void pool_watch_tasks(struct tr_pool *p, uint64_t now)
{
	for (unsigned i = 0; i < p->nslots; i++) {
		struct tr_wslot *s = &p->w[i];
		uint64_t id, dl;
		/* A retiring worker's task may still be cancelled or time out. */
		if (!s->pid || (s->kill != TR_KILL_NONE && s->kill != TR_KILL_STOP))
			continue;
		struct trq_slot *t = pool_cur_task(p, i, &id);
		if (!t)
			continue;
		int exec = pool_task_is_exec(p, i, id);
		/* The worker may have moved on between the loads of cur_cpu and
		 * cur_exec; then exec describes another task: look next time. */
		if (ld64(&p->q->workers[i].cur_cpu) != id)
			continue;
		if (!exec && (ld32(&t->flags) & TRQ_F_CANCEL)) {
			log_info("task %llu cancelled while running: stopping worker %u (pid %d)",
			         (unsigned long long)id, i, (int)s->pid);
			pool_kill(p, i, TR_KILL_CANCEL, id, SIGTERM, now);
			continue;
		}
		dl = pool_task_deadline(p, i, &id);
		if (dl && now >= dl && pool_flag_task(p, i, id, TRQ_F_TIMEOUT)) {
			if (exec)
				log_warn("exec task %llu still running long after its %u s run "
				         "timeout: its worker did not end it; stopping worker %u "
				         "(pid %d)",
				         (unsigned long long)id, t->run_timeout_s, i, (int)s->pid);
			else
				log_notice("task %llu timed out after %u s: stopping worker %u "
				           "(pid %d)",
				           (unsigned long long)id, t->run_timeout_s, i,
				           (int)s->pid);
			pool_kill(p, i, TR_KILL_TIMEOUT, id, SIGTERM, now);
		}
	}
}

unsigned tr_pool_doorbell(struct tr_pool *p, uint64_t now)
{
	unsigned became = 0;

	for (unsigned i = 0; i < p->nslots; i++) {
		struct tr_wslot *s = &p->w[i];
		struct trq_worker *rec = &p->q->workers[i];
		char up[32];
		if (!s->pid || s->ready || ld32(&rec->ready_inc) != s->inc)
			continue;
		s->ready = 1;
		became++;
		if (s->kill == TR_KILL_NONE)
			st32(&rec->state, TRQ_W_READY);
		fmt_uptime(up, sizeof(up), now - s->started_ns);
		log_info("worker %u (pid %d) ready on cpu %d in %s", i, (int)s->pid, s->cpu, up);
	}
	pool_watch_tasks(p, now);
	return became;
}

void tr_pool_tick(struct tr_pool *p, uint64_t now)
{
	for (unsigned i = 0; i < p->nslots; i++) {
		struct tr_wslot *s = &p->w[i];
		if (s->pid && s->sigkill_at && now >= s->sigkill_at) {
			log_notice("worker %u (pid %d) still running %llu ms after it was asked to "
			           "stop: SIGKILL",
			           i, (int)s->pid, (unsigned long long)pool_grace_ms(p, s->kill));
			pool_kill(p, i, s->kill, s->kill_task, SIGKILL, now);
		}
	}
	pool_watch_tasks(p, now);
}

void tr_pool_check(struct tr_pool *p, uint64_t now)
{
	uint64_t limit = (uint64_t)p->cfg->heartbeat_s * NS_PER_S;

	for (unsigned i = 0; i < p->nslots; i++) {
		struct tr_wslot *s = &p->w[i];
		struct trq_worker *rec = &p->q->workers[i];
		if (!s->pid || (s->kill != TR_KILL_NONE && !s->sigkill_at))
			continue; /* none, or SIGKILLed already */
		if (proc_state(s->pid) == 'T') {
			if (++s->stopped_seen >= STOPPED_LIMIT) {
				log_warn("worker %u (pid %d) is stopped (state T) for %u checks: "
				         "killing and replacing it",
				         i, (int)s->pid, s->stopped_seen);
				s->kill = TR_KILL_NONE; /* this reason wins: uncharged */
				pool_kill(p, i, TR_KILL_STOPPED, 0, SIGKILL, now);
			}
			continue;
		}
		s->stopped_seen = 0;
		uint64_t cur = ld64(&rec->cur_cpu);
		if (s->kill != TR_KILL_NONE || (cur && !pool_task_is_exec(p, i, cur)))
			continue;
		uint64_t hb = ld64(&rec->heartbeat_ns);
		if (hb < s->started_ns)
			hb = s->started_ns;
		if (hb < p->lock_stuck_ns) /* it waited for the lock, not hung */
			hb = p->lock_stuck_ns;
		if (now > hb && now - hb > limit) {
			log_warn("worker %u (pid %d) sent no heartbeat for %.1f s "
			         "(workers_heartbeat_s is %u): killing and replacing it",
			         i, (int)s->pid, (double)(now - hb) / NS_PER_S,
			         p->cfg->heartbeat_s);
			pool_kill(p, i, TR_KILL_HUNG, 0, SIGKILL, now);
		}
	}
}

uint64_t tr_pool_next_deadline(struct tr_pool *p)
{
	uint64_t next = 0, id;
	int held = 0;

	/* A roll holds restarts back while a worker starts or is being killed
	 * (pool_step, pool_settling_fast); that worker's exit or readiness is
	 * an event of its own, so a restart time already past would only make
	 * the timer fire again and again. A retiring worker finishing its
	 * tasks holds nothing back: a restart after a backoff meanwhile needs
	 * its timer, or the slot stays empty until the next health check. */
	if (p->rolling)
		for (unsigned i = 0; i < p->nslots; i++)
			held |= pool_settling_fast(&p->w[i]);

#define TAKE(t)                                                                                    \
	do {                                                                                       \
		uint64_t t_ = (t);                                                                 \
		if (t_ && (!next || t_ < next))                                                    \
			next = t_;                                                                 \
	} while (0)
	for (unsigned i = 0; i < p->nslots || i < p->nwant; i++) {
		struct tr_wslot *s = &p->w[i];
		if (!s->pid) {
			if (i < p->nwant && !p->draining && !held)
				TAKE(s->restart_at);
			continue;
		}
		TAKE(s->sigkill_at);
		if (s->kill == TR_KILL_NONE || s->kill == TR_KILL_STOP) /* as pool_watch_tasks */
			TAKE(pool_task_deadline(p, i, &id));
	}
	if (!p->spare.pid && !p->draining)
		TAKE(p->spare.next_at); /* the backoff after a spare that died */
#undef TAKE
	return next;
}

void tr_pool_stop_all(struct tr_pool *p, int kill, uint64_t now)
{
	p->draining = 1;
	pool_spare_drop(p);
	for (unsigned i = 0; i < p->nslots; i++) {
		p->w[i].restart_at = 0;
		pool_publish_restart(p, i, now);
		if (kill && p->w[i].pid)
			pool_kill(p, i, TR_KILL_SHUTDOWN, 0, SIGKILL, now);
	}
}

unsigned tr_pool_live(const struct tr_pool *p, unsigned *ready)
{
	unsigned n = 0, r = 0;

	for (unsigned i = 0; i < p->nslots; i++) {
		if (!p->w[i].pid)
			continue;
		n++;
		r += p->w[i].ready && p->w[i].kill == TR_KILL_NONE;
	}
	if (ready)
		*ready = r;
	return n;
}

pid_t tr_pool_pid(const struct tr_pool *p, unsigned index)
{
	return index < p->nslots ? p->w[index].pid : 0;
}
