/*
 * iothread.c - see iothread.h.
 *
 * Records: `depth` task records for io-class tasks with a free list (the
 * ones never used yet are not on it: those from `fresh` on are), plus
 * one more (index depth, never on the free list) for the cpu exec the main
 * thread hands over; per record the number of CQEs still to come (ops) and
 * which tagged operations are outstanding (in) or being cancelled (cx). A
 * record is busy from take until its task is decided AND ops is 0; only then
 * are its buffers and descriptors released (and a cpu exec's result handed
 * back to the waiting main thread). user_data encodes (record + 1) << 8 |
 * tag, or one of the UD_* constants for the thread's own operations.
 *
 * liburing 2.3 has no futex helpers: the FUTEX_WAIT SQE is filled by hand
 * (opcode 51 in the kernel's enum io_uring_op since 6.7; sqe->fd holds the
 * futex2 flags, addr the word, addr2 the expected value, addr3 the bitset).
 */
#include "iothread.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "commit.h"
#include "exec.h"
#include "iotasks.h"
#include "log.h"
#include "paths.h"
#include "tasks.h"
#include "wake.h"

#ifndef IORING_OP_FUTEX_WAIT
#define IORING_OP_FUTEX_WAIT 51
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#define FUTEX_BITSET_ANY 0xffffffffu

#define TAKE_MAX 16

/* How often the eventfd helper of an io thread that cannot take tasks
 * looks again whether it can (see helper_main). */
#define HELPER_FULL_NS 50000000ull

enum { UD_FUTEX = 1, UD_HEARTBEAT, UD_EVENTFD, UD_MBOX, UD_FUTEX_CANCEL };
/* Per-record operations: the io task's one operation, the run timeout, a
 * cancel, and an exec's pipe reads, pidfd poll, kill grace and drain. */
enum {
	TAG_MAIN = 1,
	TAG_TIMER,
	TAG_CANCEL,
	TAG_OUT,
	TAG_ERR,
	TAG_PID,
	TAG_GRACE,
	TAG_DRAIN,
	TAG_N
};
#define UD_REC(i, tag) ((((uint64_t)(i) + 1) << 8) | (uint64_t)(tag))
#define BIT(tag)       (1u << (tag))

struct iorec {
	struct tr_iot t;   /* io types (and the state of an exec that got no x) */
	struct tr_exec *x; /* exec tasks, while busy */
	uint64_t id;
	uint32_t idx;
	uint32_t run_timeout_s;
	unsigned ops;          /* CQEs still to come */
	int next_free;         /* free list link, -1 end */
	unsigned char busy;    /* taken by a task */
	unsigned char decided; /* result handed to the pending results */
	unsigned char cpu;     /* the cpu exec record */
	unsigned short in, cx; /* BIT(tag): operation outstanding / its cancel sent */
	struct __kernel_timespec ts[TAG_N];
};

/* The main thread's cpu exec hand-over. */
struct mbox {
	const struct trq_task *task; /* the request, valid while the main thread waits */
	int req;                     /* 1: a request waits (atomic) */
	int quit;                    /* 1: the main thread is leaving (atomic) */
	int state;                   /* the reply */
	size_t len;
	sem_t done; /* posted with the reply */
	int efd;    /* the main thread writes, the ring reads */
	int armed;
	uint64_t val;
};

struct tr_iothread {
	struct tr_io_opts o;
	struct trq *q;
	struct trq_hdr *hdr;
	struct trq_worker *w;
	pthread_t th;
	pid_t tid;
	sem_t ready;
	sem_t go;   /* deferred: posted by tr_iothread_assign() */
	int go_cpu; /* deferred: the CPU assigned with it, -1 none */
	int setup_err;
	char err[256];

	struct io_uring ring;
	struct iorec *recs; /* depth + 1: the last one is the cpu exec's */
	int free_head;
	unsigned fresh;   /* records [fresh, depth) were never used: free, not listed */
	unsigned nbusy;   /* io records in use */
	unsigned nactive; /* io tasks not yet decided */
	struct mbox mb;
	struct tr_exec_cfg xc;
	int xc_ok;

	struct trq_task tasks[TAKE_MAX];
	void *argbuf;
	size_t argbuf_len;
	struct trq_result *res;
	unsigned nres, res_cap;
	struct tr_paths paths;

	int use_futex;
	int futex_armed;
	uint32_t futex_mask;  /* the bits its wait is armed with (see arm_futex) */
	int futex_cancelling; /* a cancel of that wait is in flight */
	int efd;
	int efd_armed;
	uint64_t efd_val;
	pthread_t helper;
	int helper_started;
	int full; /* the eventfd helper's hint: the thread cannot take tasks now */
	int hb_armed;
	struct __kernel_timespec hb_ts;
	int woke; /* the counter moved (or first turn): take and scan cancels */
};

/* ---- small helpers ------------------------------------------------------- */

/* SIGKILLs the process groups of the running exec programs. */
static void kill_children(struct tr_iothread *t)
{
	if (!t->recs)
		return;
	for (unsigned i = 0; i <= t->o.depth; i++)
		if (t->recs[i].busy && t->recs[i].x)
			tr_exec_kill(t->recs[i].x);
}

static _Noreturn void io_fatal(struct tr_iothread *t, int err, const char *what)
{
	tr_log_errno(LOG_ERR, err, "worker %d: io thread: %s", t->o.widx, what);
	kill_children(t);
	_exit(1);
}

static struct io_uring_sqe *get_sqe(struct tr_iothread *t)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&t->ring);
	if (sqe)
		return sqe;
	for (int tries = 0; tries < 1000; tries++) {
		int r = io_uring_submit(&t->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			io_fatal(t, r, "io_uring_submit");
		sqe = io_uring_get_sqe(&t->ring);
		if (sqe)
			return sqe;
	}
	io_fatal(t, EBUSY, "no free submission queue entry");
}

static void ns_to_ts(struct __kernel_timespec *ts, uint64_t ns)
{
	ts->tv_sec = (long long)(ns / 1000000000ull);
	ts->tv_nsec = (long long)(ns % 1000000000ull);
}

/* Waits on the work counter with mask: every bit while the thread can
 * take tasks, TRQ_IO_FULL only while it cannot (all records busy, or
 * leaving). Wake-ups for new tasks leave that bit out (trq_wake_workers),
 * so they reach threads that can take them; cancels and the supervisor's
 * kick wake every bit. */
static void arm_futex(struct tr_iothread *t, uint32_t seen, uint32_t mask)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	/* shared (not FUTEX2_PRIVATE): the word lives in a shared mapping */
	io_uring_prep_rw(IORING_OP_FUTEX_WAIT, sqe, FUTEX2_SIZE_U32, &t->hdr->q_seq[TASKRING_IO], 0,
	                 seen);
	sqe->addr3 = mask;
	io_uring_sqe_set_data64(sqe, UD_FUTEX);
	__atomic_add_fetch(&t->hdr->q_wait[TASKRING_IO], 1, __ATOMIC_SEQ_CST);
	t->futex_armed = 1;
	t->futex_mask = mask;
}

/* Ends an armed wait whose mask no longer fits (its CQE comes back with
 * -ECANCELED, and the next turn arms it again). */
static void rearm_futex(struct tr_iothread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_cancel64(sqe, UD_FUTEX, 0);
	io_uring_sqe_set_data64(sqe, UD_FUTEX_CANCEL);
	t->futex_cancelling = 1;
}

static void arm_eventfd(struct tr_iothread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_read(sqe, t->efd, &t->efd_val, sizeof(t->efd_val), 0);
	io_uring_sqe_set_data64(sqe, UD_EVENTFD);
	t->efd_armed = 1;
}

static void arm_mbox(struct tr_iothread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_read(sqe, t->mb.efd, &t->mb.val, sizeof(t->mb.val), 0);
	io_uring_sqe_set_data64(sqe, UD_MBOX);
	t->mb.armed = 1;
}

static void arm_heartbeat(struct tr_iothread *t)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	ns_to_ts(&t->hb_ts, (uint64_t)t->o.heartbeat_ms * 1000000ull);
	io_uring_prep_timeout(sqe, &t->hb_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, UD_HEARTBEAT);
	t->hb_armed = 1;
}

static void beat(struct tr_iothread *t)
{
	__atomic_store_n(&t->w->heartbeat_ns, trq_now(), __ATOMIC_RELEASE);
}

/* ---- task records ----------------------------------------------------------- */

static void push_result(struct tr_iothread *t, uint32_t idx, uint64_t id, int state, size_t len);

static void flush_results(struct tr_iothread *t)
{
	if (!t->nres)
		return;
	tr_commit(t->q, t->o.widx, t->o.inc, t->nres, t->res);
	t->nres = 0;
}

static void push_result(struct tr_iothread *t, uint32_t idx, uint64_t id, int state, size_t len)
{
	if (t->nres == t->res_cap)
		flush_results(t);
	t->res[t->nres++] =
	    (struct trq_result){.idx = idx, .id = id, .state = state, .out_len = (uint32_t)len};
}

static int rec_state(const struct iorec *r)
{
	return r->x ? r->x->state : r->t.state;
}

static size_t rec_len(const struct iorec *r)
{
	return r->x ? r->x->out.len : r->t.out.len;
}

/* An SQE for operation tag of record ri, counted as outstanding. Fill it,
 * then call rec_tag(). */
static void rec_tag(struct tr_iothread *t, int ri, struct io_uring_sqe *sqe, int tag)
{
	struct iorec *r = &t->recs[ri];
	io_uring_sqe_set_data64(sqe, UD_REC(ri, tag));
	r->in |= (unsigned short)BIT(tag);
	r->ops++;
}

static void rec_timer(struct tr_iothread *t, int ri, int tag, uint64_t ns)
{
	struct iorec *r = &t->recs[ri];
	struct io_uring_sqe *sqe = get_sqe(t);
	ns_to_ts(&r->ts[tag], ns);
	io_uring_prep_timeout(sqe, &r->ts[tag], 0, 0);
	rec_tag(t, ri, sqe, tag);
}

static void submit_op(struct tr_iothread *t, int ri, const struct tr_iop *op)
{
	struct iorec *r = &t->recs[ri];
	struct io_uring_sqe *sqe = get_sqe(t);

	switch (op->kind) {
	case TR_IOP_READ:
		io_uring_prep_read(sqe, op->fd, op->buf, op->len, op->off);
		break;
	case TR_IOP_WRITE:
		io_uring_prep_write(sqe, op->fd, op->buf, op->len, op->off);
		break;
	case TR_IOP_TIMEOUT:
		ns_to_ts(&r->ts[TAG_MAIN], op->ns);
		io_uring_prep_timeout(sqe, &r->ts[TAG_MAIN], 0, 0);
		break;
	case TR_IOP_NONE:
		io_uring_prep_nop(sqe);
		break;
	}
	rec_tag(t, ri, sqe, TAG_MAIN);
}

static void exec_read(struct tr_iothread *t, int ri, int w)
{
	struct tr_exec *x = t->recs[ri].x;
	struct io_uring_sqe *sqe = get_sqe(t);
	/* a pipe has no offset: -1 reads at the current position */
	io_uring_prep_read(sqe, x->fd[w], x->buf[w], x->buflen[w], (uint64_t)-1);
	rec_tag(t, ri, sqe, w == TR_EXEC_OUT ? TAG_OUT : TAG_ERR);
}

static void exec_poll(struct tr_iothread *t, int ri)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_poll_add(sqe, t->recs[ri].x->pidfd, POLLIN);
	rec_tag(t, ri, sqe, TAG_PID);
}

/* Stops record ri's program for why and arms the SIGKILL after the grace. */
static void exec_stop(struct tr_iothread *t, int ri, int why)
{
	unsigned ms = tr_exec_stop(t->recs[ri].x, why, t->o.kill_grace_ms);
	if (ms)
		rec_timer(t, ri, TAG_GRACE, (uint64_t)ms * 1000000ull);
}

static void cancel_ud(struct tr_iothread *t, int ri, uint64_t target)
{
	struct io_uring_sqe *sqe = get_sqe(t);
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, UD_REC(ri, TAG_CANCEL));
	t->recs[ri].ops++;
}

static void rec_free(struct tr_iothread *t, int ri)
{
	struct iorec *r = &t->recs[ri];
	if (r->x) {
		tr_exec_release(r->x);
		free(r->x);
		r->x = NULL;
	} else {
		tr_iot_release(&r->t);
	}
	r->busy = 0;
	r->in = r->cx = 0;
	if (r->cpu) {
		/* The main thread waits for this: hand the result over. */
		t->mb.state = r->t.state;
		t->mb.len = r->t.out.len;
		sem_post(&t->mb.done);
		return;
	}
	r->next_free = t->free_head;
	t->free_head = ri;
	t->nbusy--;
	t->woke = 1; /* room again: try to take more */
}

/* The task of record ri has a final state: hand its result back now (a cpu
 * exec's once the record is freed), stop what it still has in flight, free
 * the record once nothing is. */
static void rec_decided(struct tr_iothread *t, int ri)
{
	struct iorec *r = &t->recs[ri];
	if (!r->decided) {
		r->decided = 1;
		if (r->x) { /* keep the outcome past the release of x */
			r->t.state = r->x->state;
			r->t.out = r->x->out;
		}
		if (!r->cpu) {
			t->nactive--;
			push_result(t, r->idx, r->id, rec_state(r), rec_len(r));
		}
	}
	for (int tag = TAG_MAIN; tag < TAG_N; tag++) {
		if (tag == TAG_CANCEL || !(r->in & BIT(tag)) || (r->cx & BIT(tag)))
			continue;
		r->cx |= (unsigned short)BIT(tag);
		cancel_ud(t, ri, UD_REC(ri, tag));
	}
	if (r->ops == 0)
		rec_free(t, ri);
}

/* Takes record ri for task. */
static struct iorec *rec_take(struct tr_iothread *t, int ri, const struct trq_task *task)
{
	struct iorec *r = &t->recs[ri];
	r->busy = 1;
	r->decided = 0;
	r->in = r->cx = 0;
	r->ops = 0;
	r->x = NULL;
	memset(&r->t, 0, sizeof(r->t));
	r->t.fd_in = r->t.fd_out = -1;
	r->id = task->id;
	r->idx = task->idx;
	r->run_timeout_s = task->run_timeout_s;
	return r;
}

/* Starts an exec task in record ri (taken). */
static void exec_begin(struct tr_iothread *t, int ri, const struct trq_task *task)
{
	struct iorec *r = &t->recs[ri];
	char *out = trq_out(t->q, task->idx);

	tr_out_init(&r->t.out, out, t->q->result_max);
	if (!t->xc_ok) {
		tr_out_error(&r->t.out, "exec: not available in this worker (see its log)");
		r->t.state = TASKRING_FAILED;
		rec_decided(t, ri);
		return;
	}
	r->x = malloc(sizeof(*r->x));
	if (!r->x) {
		tr_out_error(&r->t.out, "exec: out of memory");
		r->t.state = TASKRING_FAILED;
		rec_decided(t, ri);
		return;
	}
	int started = tr_exec_start(r->x, &t->xc, task->argc, task->argv, r->run_timeout_s, out,
	                            t->q->result_max);
	if (t->xc.guard_err) {
		tr_log_errno(
		    LOG_WARNING, -t->xc.guard_err,
		    "worker %d: seccomp(exec guard): exec programs run unguarded from now on",
		    t->o.widx);
		t->xc.guard_err = 0;
	}
	if (!started) {
		rec_decided(t, ri);
		return;
	}
	exec_read(t, ri, TR_EXEC_OUT);
	exec_read(t, ri, TR_EXEC_ERR);
	exec_poll(t, ri);
	if (r->run_timeout_s)
		rec_timer(t, ri, TAG_TIMER, (uint64_t)r->run_timeout_s * 1000000000ull);
}

static void start_task(struct tr_iothread *t, const struct trq_task *task)
{
	struct tr_out o;
	struct tr_targs ta;
	char *out = trq_out(t->q, task->idx);

	tr_out_init(&o, out, t->q->result_max);
	const struct tr_task_def *d = tr_task_prepare(task, TASKRING_IO, &ta, &o);
	if (!d) {
		push_result(t, task->idx, task->id, TASKRING_FAILED, o.len);
		return;
	}
	if (d->io == TR_IO_PLUGIN) {
		/* A blocking call: cur_io names the task if it hangs or crashes. */
		__atomic_store_n(&t->w->cur_io, task->id, __ATOMIC_RELEASE);
		int st = tr_task_run(d, &ta, task->argc, task->argv, &o);
		__atomic_store_n(&t->w->cur_io, 0, __ATOMIC_RELEASE);
		beat(t);
		push_result(t, task->idx, task->id, st, o.len);
		return;
	}

	int ri = t->free_head >= 0 ? t->free_head : (int)t->fresh++;
	struct iorec *r = rec_take(t, ri, task);
	if (ri == t->free_head)
		t->free_head = r->next_free;
	t->nbusy++;
	t->nactive++;
	if (d->io == TR_IO_EXEC) {
		exec_begin(t, ri, task);
		return;
	}

	struct tr_iop op;
	__atomic_store_n(&t->w->cur_io, task->id, __ATOMIC_RELAXED);
	int more = tr_iot_begin(&r->t, d, &ta, task->argc, task->argv, &t->paths, out,
	                        t->q->result_max, &op);
	__atomic_store_n(&t->w->cur_io, 0, __ATOMIC_RELAXED);
	if (!more) {
		rec_decided(t, ri);
		return;
	}
	submit_op(t, ri, &op);
	if (r->run_timeout_s)
		rec_timer(t, ri, TAG_TIMER, (uint64_t)r->run_timeout_s * 1000000000ull);
}

static void check_cancel(struct tr_iothread *t, int i);

/* The main thread handed over a cpu exec (or only woke us to leave). */
static void take_cpu_exec(struct tr_iothread *t)
{
	if (!__atomic_exchange_n(&t->mb.req, 0, __ATOMIC_ACQ_REL))
		return;
	int ri = (int)t->o.depth;
	if (t->recs[ri].busy) /* cannot happen: the main thread waits for the last one */
		io_fatal(t, EBUSY, "a cpu exec handed over while one runs");
	struct iorec *r = rec_take(t, ri, t->mb.task);
	r->cpu = 1;
	exec_begin(t, ri, t->mb.task);
	/* A cancel whose bell came after the main thread's look at the flag
	 * but before this hand-over found no record to cancel: look now. */
	if (r->busy && !r->decided)
		check_cancel(t, ri);
}

static void take_tasks(struct tr_iothread *t)
{
	unsigned room = t->o.depth - t->nbusy;
	if (room > TAKE_MAX)
		room = TAKE_MAX;
	if (room == 0)
		return; /* rec_free() sets woke again when a record frees */
	int n = trq_take(t->q, TASKRING_IO, t->o.widx, t->o.inc, room, t->tasks, t->argbuf,
	                 t->argbuf_len);
	if (n < 0) {
		if (n == -ENOTRECOVERABLE)
			io_fatal(t, -n, "trq_take");
		tr_log_errno(LOG_WARNING, n, "worker %d: io thread: trq_take", t->o.widx);
		n = 0;
	}
	for (int i = 0; i < n; i++)
		start_task(t, &t->tasks[i]);
	/* a full batch may have left more behind: look again next turn */
	t->woke = (unsigned)n == room;
}

/* Record i's task was cancelled? */
static void check_cancel(struct tr_iothread *t, int i)
{
	struct iorec *r = &t->recs[i];
	uint32_t fl = __atomic_load_n(&t->q->meta[r->idx].flags, __ATOMIC_ACQUIRE);
	if (!(fl & TRQ_F_CANCEL))
		return;
	if (r->x) { /* ends once the program is gone */
		exec_stop(t, i, TR_EXEC_CANCEL);
		return;
	}
	tr_iot_end(&r->t, TASKRING_CANCELLED, "cancelled");
	rec_decided(t, i);
}

static void scan_cancels(struct tr_iothread *t)
{
	struct iorec *c = &t->recs[t->o.depth];
	if (c->busy && !c->decided)
		check_cancel(t, (int)t->o.depth);
	if (t->nactive == 0)
		return;
	/* rec_decided() may free records as we go: count against the start */
	unsigned total = t->nbusy;
	for (unsigned i = 0, seen = 0; i < t->o.depth && seen < total; i++) {
		struct iorec *r = &t->recs[i];
		if (!r->busy)
			continue;
		seen++;
		if (!r->decided)
			check_cancel(t, (int)i);
	}
}

/* A completion for an exec record's operation tag. */
static void on_exec_cqe(struct tr_iothread *t, int ri, int tag, int res)
{
	struct iorec *r = &t->recs[ri];
	struct tr_exec *x = r->x;

	switch (tag) {
	case TAG_OUT:
	case TAG_ERR: {
		int w = tag == TAG_OUT ? TR_EXEC_OUT : TR_EXEC_ERR;
		if (tr_exec_on_read(x, w, res))
			exec_read(t, ri, w);
		break;
	}
	case TAG_PID:
		if (res < 0 && res != -EINTR && res != -EAGAIN)
			io_fatal(t, res, "IORING_OP_POLL_ADD(pidfd)");
		if (!tr_exec_on_exit(x))
			exec_poll(t, ri);
		else if (!tr_exec_done(x))
			rec_timer(t, ri, TAG_DRAIN, TR_EXEC_DRAIN_MS * 1000000ull);
		break;
	case TAG_TIMER:
		if (res == -ETIME)
			exec_stop(t, ri, TR_EXEC_TIMEOUT);
		break;
	case TAG_GRACE:
		if (res == -ETIME)
			tr_exec_kill(x);
		break;
	case TAG_DRAIN:
		if (res == -ETIME)
			tr_exec_drained(x);
		break;
	}
	if (tr_exec_done(x))
		tr_exec_finish(x);
}

static void on_rec_cqe(struct tr_iothread *t, uint64_t ud, int res)
{
	uint64_t ri64 = (ud >> 8) - 1;
	int tag = (int)(ud & 0xff);
	if (ri64 > t->o.depth || tag <= 0 || tag >= TAG_N)
		io_fatal(t, EINVAL, "completion for an unknown record");
	int ri = (int)ri64;
	struct iorec *r = &t->recs[ri];
	if (!r->busy || r->ops == 0)
		io_fatal(t, EINVAL, "completion for an idle record");
	r->ops--;
	if (tag != TAG_CANCEL)
		r->in &= (unsigned short)~BIT(tag);

	if (tag == TAG_CANCEL || r->decided) {
		/* nothing to do but maybe free the record */
	} else if (r->x) {
		on_exec_cqe(t, ri, tag, res);
	} else if (tag == TAG_MAIN) {
		struct tr_iop op;
		if (tr_iot_step(&r->t, res, &op)) {
			submit_op(t, ri, &op);
			return;
		}
	} else if (tag == TAG_TIMER && res == -ETIME) {
		char msg[64];
		snprintf(msg, sizeof(msg), "timed out after %u s", r->run_timeout_s);
		tr_iot_end(&r->t, TASKRING_FAILED, msg);
	}
	if (rec_state(r))
		rec_decided(t, ri);
}

/* Whether this thread takes tasks now: it has a free record and is not
 * leaving. */
static int can_take(struct tr_iothread *t)
{
	return t->nbusy < t->o.depth && !trq_worker_leaving(t->hdr, t->w);
}

/* A wake-up for queued tasks reached this thread while it cannot take any
 * (its wait was armed while it could, and it filled up since). Submitters
 * wake one sleeper per task: swallowed here, the tasks would wait for a
 * record to free or for the supervisor's periodic kick, seconds, while
 * another worker's io thread sleeps idle. So it goes on to a thread that
 * can take; this one waits on TRQ_IO_FULL from now on, which such
 * wake-ups leave out, so two full threads cannot pass it back and forth. */
static void pass_wakeup(struct tr_iothread *t)
{
	if (!can_take(t) && __atomic_load_n(&t->hdr->ring_count[TASKRING_IO], __ATOMIC_ACQUIRE))
		trq_wake_workers(t->hdr, TASKRING_IO, 1, 0, 0);
}

static void on_cqe(struct tr_iothread *t, uint64_t ud, int res)
{
	switch (ud) {
	case UD_FUTEX_CANCEL:
		return; /* the wait it ended reports on its own */
	case UD_FUTEX:
		t->futex_armed = 0;
		t->futex_cancelling = 0;
		trq_work_woke(t->q, TASKRING_IO);
		__atomic_sub_fetch(&t->hdr->q_wait[TASKRING_IO], 1, __ATOMIC_SEQ_CST);
		if (res < 0 && res != -EAGAIN && res != -EINTR && res != -ECANCELED)
			io_fatal(t, res, "IORING_OP_FUTEX_WAIT");
		t->woke = 1;
		pass_wakeup(t);
		return;
	case UD_EVENTFD:
		t->efd_armed = 0;
		if (res < 0 && res != -EAGAIN && res != -EINTR)
			io_fatal(t, res, "read(eventfd)");
		t->woke = 1;
		pass_wakeup(t);
		return;
	case UD_MBOX:
		t->mb.armed = 0;
		if (res < 0 && res != -EAGAIN && res != -EINTR)
			io_fatal(t, res, "read(hand-over eventfd)");
		take_cpu_exec(t);
		return;
	case UD_HEARTBEAT:
		t->hb_armed = 0;
		return;
	}
	on_rec_cqe(t, ud, res);
}

static void reap(struct tr_iothread *t)
{
	struct io_uring_cqe *cqes[64];
	for (;;) {
		unsigned n = io_uring_peek_batch_cqe(&t->ring, cqes, 64);
		if (n == 0)
			return;
		uint64_t ud[64];
		int res[64];
		for (unsigned i = 0; i < n; i++) {
			ud[i] = cqes[i]->user_data;
			res[i] = cqes[i]->res;
		}
		io_uring_cq_advance(&t->ring, n);
		for (unsigned i = 0; i < n; i++)
			on_cqe(t, ud[i], res[i]);
	}
}

/* ---- the fallback waiter ------------------------------------------------------- */

static void *helper_main(void *arg)
{
	struct tr_iothread *t = arg;
	char name[16];
	snprintf(name, sizeof(name), "%.10s-w", t->o.name);
	pthread_setname_np(pthread_self(), name);
	uint32_t seen = __atomic_load_n(&t->hdr->q_seq[TASKRING_IO], __ATOMIC_ACQUIRE);
	for (;;) {
		uint64_t one = 1;
		if (write(t->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			io_fatal(t, errno, "write(eventfd)");
		/* As the io_uring futex wait does (arm_futex): while the io
		 * thread cannot take tasks, wait on TRQ_IO_FULL alone, and look
		 * again at whether it can every HELPER_FULL_NS. */
		for (;;) {
			if (__atomic_load_n(&t->full, __ATOMIC_ACQUIRE))
				trq_wait_io_full(t->q, seen, trq_now() + HELPER_FULL_NS);
			else
				trq_wait_work(t->q, TASKRING_IO, seen, 0);
			uint32_t now =
			    __atomic_load_n(&t->hdr->q_seq[TASKRING_IO], __ATOMIC_ACQUIRE);
			if (now != seen) {
				seen = now;
				break;
			}
		}
	}
	return NULL;
}

/* ---- set-up -------------------------------------------------------------------- */

static unsigned pow2_at_least(unsigned v)
{
	unsigned p = 8;
	while (p < v && p < 4096)
		p <<= 1;
	return p;
}

static int ring_init(struct io_uring *ring, unsigned depth, char *err, size_t errlen)
{
	unsigned entries = pow2_at_least(2 * (depth < 2048 ? depth : 2048) + 8);
	unsigned flagsets[3] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	                            IORING_SETUP_CQSIZE,
	                        IORING_SETUP_CQSIZE, 0};
	int r = -EINVAL;

	for (int i = 0; i < 3; i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flagsets[i];
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, ring, &p);
		if (r != -EINVAL)
			break;
	}
	if (r < 0) {
		const char *why = "";
		if (r == -EPERM || r == -ENOSYS || r == -EACCES)
			why =
			    " (io_uring is unavailable: disabled by kernel.io_uring_disabled, not "
			    "built into the kernel, or blocked by a seccomp filter)";
		else if (r == -ENOMEM)
			why = " (locked memory limit too low?)";
		snprintf(err, errlen, "io_uring_queue_init: %s%s", strerror(-r), why);
	}
	return r;
}

/* The eventfd fallback's helper thread. */
static int start_helper(struct tr_iothread *t)
{
	int r = pthread_create(&t->helper, NULL, helper_main, t);
	if (r) {
		snprintf(t->err, sizeof(t->err), "pthread_create: %s", strerror(r));
		return -r;
	}
	t->helper_started = 1;
	pthread_detach(t->helper);
	return 0;
}

static int setup(struct tr_iothread *t)
{
	int r = ring_init(&t->ring, t->o.depth, t->err, sizeof(t->err));
	if (r < 0)
		return r;

	struct io_uring_probe *p = io_uring_get_probe_ring(&t->ring);
	if (!p || !io_uring_opcode_supported(p, IORING_OP_READ) ||
	    !io_uring_opcode_supported(p, IORING_OP_WRITE) ||
	    !io_uring_opcode_supported(p, IORING_OP_TIMEOUT) ||
	    !io_uring_opcode_supported(p, IORING_OP_POLL_ADD) ||
	    !io_uring_opcode_supported(p, IORING_OP_ASYNC_CANCEL)) {
		snprintf(t->err, sizeof(t->err),
		         "io_uring: the kernel lacks read/write/timeout/poll/cancel operations");
		if (p)
			io_uring_free_probe(p);
		return -EOPNOTSUPP;
	}
	t->use_futex = !t->o.no_futex_op && io_uring_opcode_supported(p, IORING_OP_FUTEX_WAIT);
	io_uring_free_probe(p);

	if (t->o.max_kernel_workers) {
		unsigned v[2] = {t->o.max_kernel_workers, t->o.max_kernel_workers};
		r = io_uring_register_iowq_max_workers(&t->ring, v);
		if (r < 0)
			tr_log_errno(LOG_WARNING, r,
			             "worker %d: io_uring_register_iowq_max_workers(%u)", t->o.widx,
			             t->o.max_kernel_workers);
	}

	t->recs = calloc((size_t)t->o.depth + 1, sizeof(*t->recs));
	t->res_cap = t->o.depth + TAKE_MAX;
	t->res = calloc(t->res_cap, sizeof(*t->res));
	t->argbuf_len = trq_argbuf_size(t->q, TAKE_MAX);
	t->argbuf = malloc(t->argbuf_len);
	if (!t->recs || !t->res || !t->argbuf) {
		snprintf(t->err, sizeof(t->err), "io thread: out of memory");
		return -ENOMEM;
	}
	/* Records are set up when first taken (rec_take): touching them all
	 * here would fault in every page of a large calloc before ready. */
	t->free_head = -1;
	t->fresh = 0;

	/* Without exec's set-up the worker still runs everything else; exec
	 * tasks then fail saying so. */
	char xerr[256];
	r = tr_exec_cfg_init(&t->xc, t->o.exec_allowed, t->o.n_exec_allowed, t->o.exec_env,
	                     t->o.n_exec_env, t->o.exec_cwd, xerr, sizeof(xerr));
	if (r == 0 && tr_exec_cfg_mark(&t->xc, t->o.exec_token) < 0) {
		tr_exec_cfg_free(&t->xc);
		snprintf(xerr, sizeof(xerr), "exec: out of memory");
		r = -ENOMEM;
	}
	if (r < 0)
		log_err("worker %d: %s: exec tasks will fail", t->o.widx, xerr);
	t->xc_ok = r == 0;
	if (t->xc_ok && t->o.n_exec_allowed && !t->xc.guard.on && t->o.widx >= 0)
		log_info("worker %d: exec programs may signal their worker and the supervisor: the "
		         "guard is off: %s",
		         t->o.widx, t->xc.guard.why_off);
	t->mb.efd = eventfd(0, EFD_CLOEXEC);
	if (t->mb.efd < 0) {
		r = -errno;
		snprintf(t->err, sizeof(t->err), "eventfd: %s", strerror(errno));
		return r;
	}

	r = tr_paths_init(&t->paths, t->o.allowed_paths, t->o.n_allowed_paths);
	if (r < 0) {
		snprintf(t->err, sizeof(t->err), "io.allowed_paths: %s", strerror(-r));
		return r;
	}

	if (!t->use_futex) {
		t->efd = eventfd(0, EFD_CLOEXEC);
		if (t->efd < 0) {
			r = -errno;
			snprintf(t->err, sizeof(t->err), "eventfd: %s", strerror(errno));
			return r;
		}
		/* deferred: started once assigned, so that it inherits our CPU pin */
		if (!t->o.deferred)
			return start_helper(t);
	}
	return 0;
}

/* ---- the loop ------------------------------------------------------------------- */

static void *io_main(void *arg)
{
	struct tr_iothread *t = arg;

	t->tid = gettid();
	pthread_setname_np(pthread_self(), t->o.name);
	t->setup_err = setup(t);
	if (t->setup_err == 0 && !t->o.deferred)
		beat(t);
	sem_post(&t->ready);
	if (t->setup_err)
		return NULL;
	if (t->o.deferred) {
		while (sem_wait(&t->go) < 0 && errno == EINTR)
			;
		pthread_setname_np(pthread_self(), t->o.name);
		if (t->go_cpu >= 0 && t->go_cpu < CPU_SETSIZE) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(t->go_cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) < 0)
				tr_log_errno(LOG_WARNING, errno,
				             "worker %d: io thread: sched_setaffinity(cpu %d)",
				             t->o.widx, t->go_cpu);
		}
		if (!t->use_futex) {
			int r = start_helper(t);
			if (r < 0)
				io_fatal(t, -r, "starting the eventfd helper thread");
		}
		beat(t);
	}

	t->woke = 1;
	for (;;) {
		beat(t);
		int draining = trq_worker_leaving(t->hdr, t->w);
		uint32_t seen = __atomic_load_n(&t->hdr->q_seq[TASKRING_IO], __ATOMIC_ACQUIRE);
		if (t->woke) {
			t->woke = 0;
			scan_cancels(t);
			if (!draining)
				take_tasks(t);
		}
		flush_results(t);
		__atomic_store_n(&t->w->io_inflight, t->nactive, __ATOMIC_RELAXED);
		/* the main thread asks to end only while it waits for no exec */
		if (draining && t->nactive == 0 && __atomic_load_n(&t->mb.quit, __ATOMIC_ACQUIRE))
			break;
		int take = can_take(t);
		if (t->use_futex) {
			uint32_t mask = take ? FUTEX_BITSET_ANY : TRQ_IO_FULL;
			if (!t->futex_armed)
				arm_futex(t, seen, mask);
			else if (t->futex_mask != mask && !t->futex_cancelling)
				rearm_futex(t);
		} else {
			__atomic_store_n(&t->full, !take, __ATOMIC_RELEASE);
			if (!t->efd_armed)
				arm_eventfd(t);
		}
		if (!t->mb.armed)
			arm_mbox(t);
		if (!t->hb_armed)
			arm_heartbeat(t);

		/* woke still set: a full batch was taken, more may wait: no sleep */
		int r = io_uring_submit_and_wait(&t->ring, t->woke ? 0 : 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
			io_fatal(t, r, "io_uring_submit_and_wait");
		reap(t);
	}
	if (t->futex_armed) /* it stays armed until the process exits: not a waiter */
		__atomic_sub_fetch(&t->hdr->q_wait[TASKRING_IO], 1, __ATOMIC_SEQ_CST);
	t->futex_armed = 0;
	return NULL;
}

int tr_iothread_start(struct tr_iothread **out, const struct tr_io_opts *o, char *err,
                      size_t errlen)
{
	struct tr_iothread *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "io thread: out of memory");
		return -ENOMEM;
	}
	t->o = *o;
	if (t->o.depth == 0)
		t->o.depth = 1;
	if (t->o.heartbeat_ms == 0)
		t->o.heartbeat_ms = 1;
	t->q = o->q;
	t->hdr = o->q->hdr;
	t->w = o->deferred ? NULL : &o->q->workers[o->widx];
	t->efd = -1;
	t->mb.efd = -1;
	sem_init(&t->ready, 0, 0);
	sem_init(&t->go, 0, 0);
	sem_init(&t->mb.done, 0, 0);

	int r = pthread_create(&t->th, NULL, io_main, t);
	if (r) {
		snprintf(err, errlen, "pthread_create(io thread): %s", strerror(r));
		sem_destroy(&t->ready);
		free(t);
		return -r;
	}
	while (sem_wait(&t->ready) < 0 && errno == EINTR)
		;
	if (t->setup_err) {
		snprintf(err, errlen, "%s", t->err);
		r = t->setup_err;
		pthread_join(t->th, NULL);
		sem_destroy(&t->ready);
		/* the ring and buffers are left to process exit: the worker ends now */
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void tr_iothread_assign(struct tr_iothread *t, int widx, uint32_t inc, const char *name, int cpu)
{
	t->o.widx = widx;
	t->o.inc = inc;
	t->w = &t->q->workers[widx];
	t->go_cpu = cpu;
	snprintf(t->o.name, sizeof(t->o.name), "%s", name);
	sem_post(&t->go); /* publishes the above to the thread */
}

pid_t tr_iothread_tid(const struct tr_iothread *t)
{
	return t->tid;
}

/* Wakes the thread through the hand-over eventfd. */
static int mbox_ring(struct tr_iothread *t)
{
	uint64_t one = 1;
	while (write(t->mb.efd, &one, sizeof(one)) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int tr_iothread_exec(struct tr_iothread *t, const struct trq_task *task, size_t *len)
{
	t->mb.task = task;
	__atomic_store_n(&t->mb.req, 1, __ATOMIC_RELEASE);
	int r = mbox_ring(t);
	if (r < 0) {
		__atomic_store_n(&t->mb.req, 0, __ATOMIC_RELEASE);
		struct tr_out o;
		tr_out_init(&o, trq_out(t->q, task->idx), t->q->result_max);
		tr_out_error(&o, "exec: handing the task to the io thread: write(eventfd): %s",
		             strerror(-r));
		*len = o.len;
		return TASKRING_FAILED;
	}
	while (sem_wait(&t->mb.done) < 0 && errno == EINTR)
		;
	*len = t->mb.len;
	return t->mb.state;
}

int tr_iothread_join(struct tr_iothread *t)
{
	__atomic_store_n(&t->mb.quit, 1, __ATOMIC_RELEASE);
	int r = mbox_ring(t);
	if (r < 0)
		tr_log_errno(LOG_WARNING, r, "worker %d: waking the io thread", t->o.widx);
	pthread_join(t->th, NULL);
	return 0;
}

int tr_iothread_uses_futex_op(const struct tr_iothread *t)
{
	return t->use_futex;
}
