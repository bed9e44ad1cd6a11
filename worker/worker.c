/*
 * worker.c - see worker.h. The worker process: set-up after fork, then the
 * main thread's loop over `cpu` tasks (the I/O thread is in iothread.c).
 *
 * Set-up order: die with the supervisor (PR_SET_PDEATHSIG + parent check),
 * default signal dispositions and an empty mask (SIGPIPE ignored: a closed log
 * pipe must not kill a worker; SIGBUS inside the segment mapping logs the
 * truncation and exits TR_WORKER_EXIT_TRUNCATED: sigbus.h), no NOTIFY_SOCKET/WATCHDOG_* in the
 * environment, no inherited descriptors but 0-2 (the segment stays mapped),
 * names, CPU pin (before any thread starts, so the I/O thread and its io-wq
 * helpers inherit it), the I/O thread, then ready.
 *
 * The cpu loop takes tasks in batches that grow (1, 2, 4 .. 64) while every
 * task is known to be quick and fall back to 1 after any other. Before a task
 * that is not known to be quick starts, the tasks taken with it that have not
 * started go back to the front of their ring (cpu_hand_back), so a long task
 * holds no other task hostage: another worker, or this one afterwards, takes
 * them. Results of quick tasks are handed back together, but never later
 * than about 50 us after the task ended, and always before a task that is not
 * known to be quick starts (so a crash or a long run never delays them).
 * worker->cur_cpu holds the id of the task whose handler runs, else 0.
 *
 * A cpu-class exec task is handed to the I/O thread, which runs and watches
 * the program, while the main thread waits (still "executing" it: cur_cpu
 * names it). worker->cur_exec then holds the same id, set before cur_cpu and
 * left there after it (ids never repeat: a stale one matches no later
 * task), so whoever sees cur_cpu == cur_exec knows the worker itself
 * enforces that task's run timeout and cancel (the supervisor must not stop
 * the worker for them). Clearing it after cur_cpu let a supervisor that
 * read cur_cpu just before and cur_exec just after take the exec task for a
 * plain one and stop the worker for its cancel.
 *
 * Plugins (plugins.h) are inherited from the supervisor, which loaded them
 * before fork; their init functions run here before the worker reports
 * ready.
 *
 * A spare (tr_worker_spare) does the same set-up but for the names, the pin
 * and the record, with its I/O thread waiting (deferred), says so on its
 * socket and waits there for a slot; once it has one, it takes the names,
 * pins both threads (the supervisor pinned the main thread already, so that
 * it wakes up on its CPU) and goes on as any worker. Fork, the faults that
 * follow it and the I/O thread's set-up are then no longer part of a
 * replacement's start.
 */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "commit.h"
#include "iothread.h"
#include "log.h"
#include "plugins.h"
#include "sigbus.h"
#include "tasks.h"

/* The supervisor's ps title setter (daemon/proctitle.c); absent in programs
 * that do not link it. */
extern void tr_proctitle_set(const char *fmt, ...) __attribute__((weak, format(printf, 1, 2)));

#define CPU_BATCH_MAX   64
#define COMMIT_DELAY_NS 50000ull

struct cpuctx {
	struct trq *q;
	struct trq_hdr *hdr;
	struct trq_worker *w;
	struct tr_iothread *io;
	int widx;
	uint32_t inc;
	struct trq_task tasks[CPU_BATCH_MAX];
	void *argbuf;
	size_t argbuf_len;
	char *outbuf; /* a task's output, result_max bytes, until trq_out_place */
	struct trq_result res[2 * CPU_BATCH_MAX];
	unsigned nres;
	uint64_t first_ns; /* when the oldest pending result was made */
};

static void cpu_flush(struct cpuctx *c)
{
	if (!c->nres)
		return;
	tr_commit(c->q, c->widx, c->inc, c->nres, c->res);
	c->nres = 0;
}

/* Puts back the n taken tasks at t that this worker has not started
 * (trq_giveback). Returns 0, or -1 (logged) when it could not: the worker
 * then runs them. */
static int cpu_give_back(struct cpuctx *c, const struct trq_task *t, unsigned n)
{
	int r = trq_giveback(c->q, c->widx, c->inc, n, t);
	if (r < 0) {
		tr_log_errno(LOG_WARNING, r, "worker %d: trq_giveback", c->widx);
		return -1;
	}
	return 0;
}

/* Before task t, which is not known to be quick, runs: the *rest tasks
 * taken with it (t + 1 ...), while tasks were quick, must not wait behind
 * it. Hands them back to the front of their ring and sets *rest to 0, even
 * when no other worker idles now: one may go idle while t runs, and a
 * purge of the queue (trq_cancel_queued) sees only tasks in the rings. So
 * a worker holds unstarted tasks only behind tasks known to be quick. */
static void cpu_hand_back(struct cpuctx *c, const struct trq_task *t, unsigned *rest)
{
	if (*rest && cpu_give_back(c, t + 1, *rest) == 0)
		*rest = 0;
}

/* Before a task that may run long: names it in cur_cpu, then looks at its
 * cancel flag once more. A cancel that came after the first look, while
 * cur_cpu was still 0, found nothing for the supervisor to stop; it would
 * be noticed only at the supervisor's next periodic look. The store and
 * the load are ordered (seq_cst): either this load sees the flag or the
 * supervisor, which reads cur_cpu after the flag was set, sees the task.
 * Returns 1 (and clears cur_cpu) when it was cancelled. */
static int cpu_cancelled_late(struct cpuctx *c, const struct trq_task *t)
{
	__atomic_store_n(&c->w->cur_cpu, t->id, __ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&c->q->meta[t->idx].flags, __ATOMIC_SEQ_CST) & TRQ_F_CANCEL))
		return 0;
	__atomic_store_n(&c->w->cur_cpu, 0, __ATOMIC_RELEASE);
	return 1;
}

/* Runs one taken task, followed by *rest more in c->tasks (see
 * cpu_hand_back); returns 1 when it was known to be quick. late: a slow
 * task ran before it in its batch, so its start time (set when it was
 * taken) is set again now: clients see when it really started, and its run
 * timeout, which the supervisor counts from it, does not include the wait. */
static int cpu_run_one(struct cpuctx *c, const struct trq_task *t, unsigned *rest, int late)
{
	struct tr_out o;
	struct tr_targs ta;
	int st, quick = 1, exec = 0;

	/* Into private memory, then where trq_out_at() says: a short output
	 * goes to the slot record without touching the result area's page. */
	tr_out_init(&o, c->outbuf, c->q->result_max);
	/* Cancelled while it waited in this batch: end it here (the supervisor
	 * stops a worker only for the task it is running). */
	int cancelled = !t->bad && (__atomic_load_n(&c->q->meta[t->idx].flags, __ATOMIC_RELAXED) &
	                            TRQ_F_CANCEL);
	const struct tr_task_def *d = cancelled ? NULL : tr_task_prepare(t, TASKRING_CPU, &ta, &o);
	if (cancelled) {
		tr_out_error(&o, "cancelled before it ran");
		st = TASKRING_CANCELLED;
	} else if (!d) {
		st = TASKRING_FAILED;
	} else {
		quick = tr_task_quick(d, &ta);
		if (!quick)
			cpu_hand_back(c, t, rest);
		if (c->nres && (!quick || trq_now() - c->first_ns > COMMIT_DELAY_NS))
			cpu_flush(c);
		if (late)
			__atomic_store_n(&c->q->meta[t->idx].start_ns, trq_now(), __ATOMIC_RELAXED);
		if (d->io == TR_IO_EXEC) {
			size_t len = 0;
			exec = 1;
			__atomic_store_n(&c->w->cur_exec, t->id, __ATOMIC_RELEASE);
			__atomic_store_n(&c->w->cur_cpu, t->id, __ATOMIC_RELEASE);
			st = tr_iothread_exec(c->io, t, &len);
			__atomic_store_n(&c->w->cur_cpu, 0, __ATOMIC_RELEASE);
			o.len = len;
		} else if (!quick && cpu_cancelled_late(c, t)) {
			tr_out_error(&o, "cancelled before it ran");
			st = TASKRING_CANCELLED;
		} else {
			__atomic_store_n(&c->w->cur_cpu, t->id, __ATOMIC_RELEASE);
			/* The supervisor enforces cpu run timeouts: tell it one started
			 * that may end before it next looks (TRQ_TELL_SUP). */
			if (t->run_timeout_s &&
			    TRQ_TELL_SUP(t->run_timeout_s,
			                 __atomic_load_n(&c->hdr->sup_check_ns, __ATOMIC_RELAXED)))
				trq_bell(&c->hdr->sup_seq, &c->hdr->sup_wait, 1);
			st = tr_task_run(d, &ta, t->argc, t->argv, &o);
			__atomic_store_n(&c->w->cur_cpu, 0, __ATOMIC_RELEASE);
		}
	}
	if (c->nres == 0)
		c->first_ns = trq_now();
	/* An exec task's output was written by the I/O thread at trq_out(). */
	trq_out_place(c->q, t->idx, t->id, exec ? trq_out(c->q, t->idx) : c->outbuf,
	              (uint32_t)o.len);
	c->res[c->nres++] = (struct trq_result){
	    .idx = t->idx, .id = t->id, .state = st, .out_len = (uint32_t)o.len, .placed = 1};
	return quick;
}

static _Noreturn void cpu_loop(struct cpuctx *c, struct tr_iothread *io)
{
	unsigned batch = 1;

	for (;;) {
		/* the counter first, then the checks: a bump in between wakes us */
		uint32_t seen = __atomic_load_n(&c->hdr->q_seq[TASKRING_CPU], __ATOMIC_ACQUIRE);
		if (trq_worker_leaving(c->hdr, c->w)) {
			cpu_flush(c);
			tr_iothread_join(io); /* it ends once its own tasks are done */
			_exit(0);
		}
		int n = trq_take(c->q, TASKRING_CPU, c->widx, c->inc, batch, c->tasks, c->argbuf,
		                 c->argbuf_len);
		if (n < 0) {
			tr_log_errno(LOG_WARNING, n, "worker %d: trq_take", c->widx);
			if (n == -ENOTRECOVERABLE)
				_exit(1);
			cpu_flush(c);
			trq_wait_work(c->q, TASKRING_CPU, seen, trq_deadline_ms(100));
			continue;
		}
		if (n == 0) {
			cpu_flush(c);
			trq_wait_work_w(c->q, TASKRING_CPU, c->widx, seen, 0);
			continue;
		}
		int all_quick = 1;
		for (int i = 0; i < n; i++) {
			/* Stopping: what has not started stays queued for the next
			 * daemon, as tasks still in the ring do. */
			if (i > 0 && trq_worker_leaving(c->hdr, c->w) &&
			    cpu_give_back(c, &c->tasks[i], (unsigned)(n - i)) == 0) {
				n = i;
				break;
			}
			unsigned rest = (unsigned)(n - i - 1);
			all_quick &= cpu_run_one(c, &c->tasks[i], &rest, !all_quick);
			n = i + 1 + (int)rest;
		}
		/* fewer than asked for: the queue looked empty, nothing to batch with */
		if ((unsigned)n < batch || c->nres >= CPU_BATCH_MAX ||
		    trq_now() - c->first_ns > COMMIT_DELAY_NS)
			cpu_flush(c);
		batch = all_quick ? (batch * 2 > CPU_BATCH_MAX ? CPU_BATCH_MAX : batch * 2) : 1;
		/* Short tasks arriving one by one that nobody waits for: let the
		 * next ones queue up and take them together (see trq_nap). */
		if (all_quick && (unsigned)n < TRQ_NAP_BELOW) {
			cpu_flush(c);
			trq_nap(c->q, TASKRING_CPU, c->widx, c->tasks, (unsigned)n);
		}
	}
}

/* The ps title and the thread name of worker a->index. */
static void worker_names(const struct tr_worker_args *a)
{
	if (tr_proctitle_set) {
		if (a->cpu >= 0)
			tr_proctitle_set("taskring: worker %d cpu %d", a->index, a->cpu);
		else
			tr_proctitle_set("taskring: worker %d", a->index);
	}
	char name[32]; /* the kernel keeps 15 bytes; indices below 100000 fit */
	snprintf(name, sizeof(name), "tr-worker-%d", a->index);
	prctl(PR_SET_NAME, name);
}

/* Pins the calling thread, and thread io_tid if not 0, to a->cpu (if >= 0). */
static void worker_pin(const struct tr_worker_args *a, pid_t io_tid)
{
	if (a->cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	if (a->cpu < CPU_SETSIZE)
		CPU_SET(a->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		tr_log_errno(LOG_WARNING, errno, "worker %d: sched_setaffinity(cpu %d)", a->index,
		             a->cpu);
	if (io_tid > 0 && sched_setaffinity(io_tid, sizeof(set), &set) < 0)
		tr_log_errno(LOG_WARNING, errno, "worker %d: sched_setaffinity(io thread, cpu %d)",
		             a->index, a->cpu);
}

int tr_worker_set_sched(pid_t tid, int policy)
{
	struct sched_param sp = {.sched_priority = 0};
	if (sched_getscheduler(tid) == policy)
		return 0;
	return sched_setscheduler(tid, policy, &sp) < 0 ? -errno : 0;
}

const char *tr_worker_sched_name(int policy)
{
	return policy == SCHED_BATCH ? "SCHED_BATCH" : "SCHED_OTHER";
}

/* Gives the calling thread (the cpu loop; the I/O thread keeps its own
 * policy) the configured scheduling policy, see workers_sched. */
static void worker_sched(const struct tr_worker_args *a)
{
	int r = tr_worker_set_sched(0, a->cfg->workers_sched);
	if (r < 0)
		tr_log_errno(LOG_WARNING, -r, "worker %d: sched_setscheduler(%s)", a->index,
		             tr_worker_sched_name(a->cfg->workers_sched));
}

/* Clears what worker record index says its worker runs; before the I/O
 * thread serves it. */
static void worker_clear(struct trq *q, int index)
{
	struct trq_worker *w = &q->workers[index];
	__atomic_store_n(&w->cur_cpu, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->cur_exec, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->cur_io, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&w->io_inflight, 0, __ATOMIC_RELAXED);
}

static void io_name(char *buf, size_t len, int index)
{
	snprintf(buf, len, "tr-io-%d", index % 100000000);
}

/* Everything but 0-2 and keep (-1: none) is closed. */
static void reset_process(int keep)
{
	sigset_t none;

	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL); /* glibc's internal signals refuse: fine */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");

	/* The supervisor's descriptors (its signalfd, pidfds, the notify socket,
	 * the segment's lock holder) are none of the worker's business. */
	unsigned first = keep >= 3 ? (unsigned)keep + 1 : 3u;
	if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) < 0)
		for (int fd = 3; fd < keep; fd++)
			close(fd);
	if (syscall(SYS_close_range, first, ~0u, 0u) < 0)
		for (int fd = (int)first; fd < 1024; fd++)
			close(fd);
}

/* The set-up every worker does before it knows its slot; a->index < 0 for a
 * spare (the I/O thread then waits for tr_iothread_assign()). Exits on a
 * fatal error. */
static struct cpuctx *worker_setup(const struct tr_worker_args *a, int keep)
{
	struct trq *q = a->q;
	const struct tr_config *cfg = a->cfg;
	int spare = a->index < 0;
	char err[512];

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		tr_log_errno(LOG_WARNING, errno, "worker %d: prctl(PR_SET_PDEATHSIG)", a->index);
	if (getppid() != a->sup_pid)
		_exit(1); /* the supervisor is already gone */
	reset_process(keep);
	q->fd = -1; /* closed above; the mapping stays */
	/* A shrunk segment: one line naming it, and an exit status the
	 * supervisor tells from a crash, not a silent death by SIGBUS. */
	int r = tr_sigbus_install_worker(q->base, q->size, cfg->instance, a->index,
	                                 TR_WORKER_EXIT_TRUNCATED);
	if (r < 0)
		tr_log_errno(LOG_WARNING, -r, "worker %d: sigaction(SIGBUS)", a->index);

	if (!spare && (uint32_t)a->index >= q->workers_max) {
		log_err("worker %d: index out of range (0..%u)", a->index, q->workers_max - 1);
		_exit(TR_WORKER_EXIT_FATAL);
	}

	/* The ps title first: the supervisor's setter also sets the thread name,
	 * which ours then replaces. A spare gets its final names once assigned. */
	if (spare) {
		prctl(PR_SET_NAME, "tr-spare"); /* its ps title once it is set up */
	} else {
		worker_names(a);
		worker_pin(a, 0);
		worker_clear(q, a->index);
	}

	/* trq_nap(): microseconds in the file, nanoseconds here, negative off */
	q->nap_ns = cfg->coalesce_us ? (int64_t)cfg->coalesce_us * 1000 : -1;
	q->lock_wait_ns = 0; /* the default wait; the supervisor's shorter one is its own */
	q->lock_spent_ns = 0;

	if (tr_plugins_init_worker(err, sizeof(err)) < 0) {
		log_err("worker %d: %s", a->index, err);
		_exit(TR_WORKER_EXIT_FATAL);
	}

	struct tr_io_opts io = {
	    .q = q,
	    .widx = a->index,
	    .inc = a->inc,
	    .depth = cfg->io_depth ? cfg->io_depth : 1,
	    .max_kernel_workers = cfg->io_max_kernel_workers,
	    .heartbeat_ms = cfg->heartbeat_s ? cfg->heartbeat_s * 1000u / 3u : 1000u,
	    .allowed_paths = cfg->allowed_paths,
	    .n_allowed_paths = cfg->n_allowed_paths,
	    /* debugging/test knob: exercise the eventfd fallback */
	    .no_futex_op = getenv("TASKRING_IO_NO_FUTEX_WAIT") != NULL,
	    .exec_allowed = cfg->exec_allowed,
	    .n_exec_allowed = cfg->n_exec_allowed,
	    .exec_env = cfg->exec_env,
	    .n_exec_env = cfg->n_exec_env,
	    .exec_cwd = cfg->exec_cwd,
	    .kill_grace_ms = cfg->kill_grace_ms,
	    .deferred = spare,
	    .exec_token = a->token,
	};
	if (spare)
		snprintf(io.name, sizeof(io.name), "tr-io-spare");
	else
		io_name(io.name, sizeof(io.name), a->index);
	struct tr_iothread *iot;
	r = tr_iothread_start(&iot, &io, err, sizeof(err));
	if (r < 0) {
		log_err("worker %d: %s", a->index, err);
		_exit(TR_WORKER_EXIT_FATAL);
	}

	struct cpuctx *c = calloc(1, sizeof(*c));
	if (c) {
		c->q = q;
		c->hdr = q->hdr;
		c->io = iot;
		c->argbuf_len = trq_argbuf_size(q, CPU_BATCH_MAX);
		c->argbuf = malloc(c->argbuf_len);
		c->outbuf = malloc((size_t)q->result_max + 1);
	}
	if (!c || !c->argbuf || !c->outbuf) {
		log_err("worker %d: out of memory", a->index);
		_exit(TR_WORKER_EXIT_FATAL);
	}
	return c;
}

/* Serves slot a->index (its record already cleared): reports ready and
 * runs the cpu loop. late: a spare's takeover, which names and pins itself
 * once ready. */
static _Noreturn void worker_start(struct cpuctx *c, const struct tr_worker_args *a, int late)
{
	struct trq *q = a->q;
	struct trq_worker *w = &q->workers[a->index];

	c->w = w;
	c->widx = a->index;
	c->inc = a->inc;

	__atomic_store_n(&w->ready_ns, trq_now(), __ATOMIC_RELAXED);
	__atomic_store_n(&w->ready_inc, a->inc, __ATOMIC_RELEASE);
	/* Ready for everyone to see at once (the status, the benchmarks): the
	 * supervisor's part (its log line, READY=1 to systemd) follows when its
	 * doorbell thread has woken it, two wake-ups later. Only from STARTING
	 * and only while the record is this incarnation's: a supervisor that
	 * has decided to stop us (STOPPING) keeps its word. */
	uint32_t starting = TRQ_W_STARTING;
	if (__atomic_load_n(&w->inc, __ATOMIC_ACQUIRE) == a->inc)
		__atomic_compare_exchange_n(&w->state, &starting, TRQ_W_READY, 0, __ATOMIC_SEQ_CST,
		                            __ATOMIC_RELAXED);
	trq_bell(&q->hdr->sup_seq, &q->hdr->sup_wait, 1);
	if (late) {
		worker_names(a);
		worker_pin(a, 0); /* pinned by the supervisor already: a no-op, unless it failed */
	}
	worker_sched(a); /* after the I/O thread started: it stays normal */
	log_debug("worker %d: ready (pid %d, cpu %d, io wake-ups by %s)", a->index, (int)getpid(),
	          a->cpu, tr_iothread_uses_futex_op(c->io) ? "futex op" : "eventfd");

	cpu_loop(c, c->io);
}

_Noreturn void tr_worker_run(const struct tr_worker_args *a)
{
	if (a->index < 0) {
		log_err("worker %d: index out of range (0..%u)", a->index, a->q->workers_max - 1);
		_exit(TR_WORKER_EXIT_FATAL);
	}
	struct cpuctx *c = worker_setup(a, -1);
	worker_start(c, a, 0);
}

_Noreturn void tr_worker_spare(const struct tr_worker_args *a, int fd)
{
	struct tr_worker_args me = *a;
	struct tr_worker_hello hi;
	struct tr_worker_job job;

	me.index = -1;
	me.inc = 0;
	me.cpu = -1;
	struct cpuctx *c = worker_setup(&me, fd);
	hi.pid = (int32_t)getpid();
	if (send(fd, &hi, sizeof(hi), MSG_NOSIGNAL) != (ssize_t)sizeof(hi))
		_exit(0); /* the supervisor dropped us already */
	/* The title says "set up, waiting" (a test waits for it). */
	if (tr_proctitle_set) {
		tr_proctitle_set("taskring: spare worker");
		prctl(PR_SET_NAME, "tr-spare");
	}
	ssize_t n;
	while ((n = recv(fd, &job, sizeof(job), 0)) < 0 && errno == EINTR)
		;
	/* Dropped: a reload or a shutdown. A supervisor that closes its end
	 * before reading our hello (or dies) resets the connection. */
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		_exit(0);
	if (n != (ssize_t)sizeof(job) || job.index < 0 ||
	    (uint32_t)job.index >= a->q->workers_max) {
		log_err("spare worker: a bad assignment from the supervisor (%zd bytes)", n);
		_exit(1);
	}
	close(fd); /* no program an exec task starts may inherit it */
	me.index = job.index;
	me.inc = job.inc;
	me.cpu = job.cpu;
	tr_sigbus_set_index(me.index);
	/* Only what serving needs comes before "ready": every step here costs
	 * tens of us on a vCPU that just woke up. The supervisor pinned this
	 * thread before it sent the job (so it woke up on its CPU); the I/O
	 * thread names and pins itself; the names of this thread follow in
	 * worker_start(). */
	worker_clear(me.q, me.index);
	char name[16];
	io_name(name, sizeof(name), me.index);
	tr_iothread_assign(c->io, me.index, me.inc, name, me.cpu);
	worker_start(c, &me, 1);
}
