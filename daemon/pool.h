/*
 * pool.h - the supervisor's worker processes: start, watch, stop, replace.
 *
 * Slot i of the pool is worker record i of the segment. A slot's process is
 * started with fork() (the child resets its signals, drops the systemd
 * variables, closes every inherited descriptor - the segment's one carries
 * the supervisor lock - and runs the worker), watched through a pidfd in
 * the caller's epoll set, signalled with pidfd_send_signal() and reaped with
 * waitid(P_PIDFD), so a reused pid is never hit.
 *
 * When a worker dies, the task it was executing is charged an attempt unless
 * the pool killed it on purpose (run timeout, cancel, stop, stuck); the
 * queue gets the cause, e.g. "worker 1 (pid 4242) killed by signal 9
 * (SIGKILL)"; and the slot is restarted on the same CPU at once, or after a
 * backoff when it died early (see restart.h). Too many early deaths, or a
 * worker that fails its set-up with TR_WORKER_EXIT_FATAL, set `fatal`. A
 * worker (or the spare) that exits TR_WORKER_EXIT_TRUNCATED while the
 * segment is shorter than its mapping (another process truncated it) ends
 * the supervisor at once: one line, exit status 1, nothing restarted.
 *
 * With restart.spare_worker, once every wanted worker is ready, one spare worker is
 * forked and set up ahead of need (struct tr_spare); a restart hands it the
 * slot instead of forking, so that fork(), the page faults after it and the
 * set-up are not part of a replacement's start. A reload or a shutdown drops
 * the spare (it has the old configuration); spares that die unused back off
 * like early deaths and are given up after a few in a row.
 *
 * For `taskring status` the pool publishes, besides the records' pid, cpu
 * and state, when a slot held back by a backoff restarts (the record's
 * restart_ns) and what the spare is doing (hdr->spare_*): display only,
 * nothing in the daemon reads them back.
 *
 * Invariants: a slot has a process (pid != 0) exactly while its pidfd is
 * open and in the epoll set; its record holds our incarnation `inc` from
 * before fork() until trq_worker_lost() handed back its tasks; a slot
 * without a process is restarted only when its index is below nwant.
 * Nothing here blocks except trq_lock() with a short deadline.
 */
#ifndef TR_POOL_H
#define TR_POOL_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "cpus.h"
#include "queue.h"
#include "restart.h"

/* Why the pool is stopping a worker (TR_KILL_NONE: it is not). */
enum tr_kill {
	TR_KILL_NONE = 0,
	TR_KILL_TIMEOUT,  /* its cpu task ran past its run timeout */
	TR_KILL_CANCEL,   /* its cpu task was cancelled */
	TR_KILL_STOP,     /* retired after a reload: fewer workers, another CPU, new settings */
	TR_KILL_STOPPED,  /* stopped (state T) on two checks */
	TR_KILL_HUNG,     /* no heartbeat for workers_heartbeat_s */
	TR_KILL_SHUTDOWN, /* the daemon is stopping */
};

struct tr_pool;

/* What a child runs after fork() once the pool prepared it; never returns.
 * The default runs tr_worker_run(). Tests substitute their own. */
typedef void (*tr_pool_child_fn)(struct tr_pool *p, unsigned index, uint32_t inc, int cpu);

struct tr_wslot {
	pid_t pid;             /* 0: no process */
	int pidfd;             /* -1 without a process */
	uint32_t inc;          /* incarnation of the current or last process */
	int cpu;               /* CPU of the current or last process */
	int ready;             /* the process reported ready */
	int spawned;           /* started at least once by this supervisor */
	uint64_t started_ns;   /* CLOCK_MONOTONIC */
	uint64_t restart_at;   /* without a process: when to start one (0: never) */
	unsigned early_streak; /* consecutive early deaths: the backoff exponent */
	enum tr_kill kill;     /* why the pool is stopping it */
	uint64_t kill_task;    /* the task the kill is about (timeout, cancel) */
	uint64_t sigkill_at;   /* SIGKILL follows at this time; 0: not pending */
	unsigned stopped_seen; /* consecutive checks that saw state T */
	unsigned gen;          /* the pool's gen when started (see tr_pool_renew) */
};

/* The spare: a worker process forked ahead of need and set up but for its
 * slot, which the next restart hands a slot over its socket instead of
 * forking (real workers only: not with a substitute child). */
struct tr_spare {
	pid_t pid;        /* 0: none */
	int pidfd;        /* -1 without a process */
	int fd;           /* our end of its socket; -1: dropped (it exits) */
	int hello;        /* it said it is set up */
	unsigned fails;   /* spares in a row that died unused */
	uint64_t next_at; /* no new spare before this (CLOCK_MONOTONIC) */
};

struct tr_pool {
	struct trq *q;
	const struct tr_config *cfg; /* in force; owned by the caller */
	struct tr_cpus cpus;         /* CPU list in force */
	unsigned nwant;              /* configured worker count */
	int epfd;                    /* epoll set pidfds go into */
	uint64_t ev_base;            /* epoll data of slot i's pidfd: ev_base + i */
	int draining;                /* the daemon stops: no more (re)starts */
	int rolling;                 /* converge one worker at a time (reload) */
	unsigned gen;                /* workers started before tr_pool_renew() are older */
	pid_t self;                  /* the supervisor's pid */
	uint64_t token;              /* exec programs carry it (TR_EXEC_MARK_VAR) */
	struct tr_restart early;     /* early deaths, for the give-up rule */
	struct tr_wslot *w;          /* TRQ_WORKERS_MAX slots */
	unsigned nslots;             /* highest slot index used + 1 */
	int spare_on;                /* keep a spare (cfg->restart_spare_worker) */
	struct tr_spare spare;       /* reaped by tr_pool_reap_all() (SIGCHLD) */
	tr_pool_child_fn child;      /* run in the child (default: the worker) */
	void *child_ctx;             /* for a substitute child */
	uint64_t stopped_task;       /* the task a worker found stopped last ran */
	uint64_t lock_stuck_ns;      /* last seen: a stopped process holds the queue
	                                lock (workers waiting for it send no
	                                heartbeat; theirs count from after it) */
	int audit_due;               /* a dead worker's tasks could not be handed
	                                back (lock stuck): the supervisor's next
	                                audit must run and requeue them */
	int fatal;                   /* set: the daemon must stop with exit 1 */
	char fatal_msg[256];
};

/* Prepares an empty pool over q, adding pidfds to epfd with data
 * ev_base + index. Returns 0 or -ENOMEM. */
int tr_pool_init(struct tr_pool *p, struct trq *q, int epfd, uint64_t ev_base);

/* Frees the pool. Kills and reaps processes still running (SIGKILL), handing
 * their tasks back uncharged. */
void tr_pool_fini(struct tr_pool *p);

/* Sets the configuration, CPU list and worker count in force, and whether a
 * spare is kept (cfg->restart_spare_worker). The first call schedules every
 * worker to start at once; later calls (reloads) set rolling: the pool then
 * converges one worker at a time, and drop the spare (a new one, if still
 * wanted, follows once the pool converged) and forget earlier spares' deaths.
 * cfg must stay valid until the next call. */
/* Replaces every running worker, one at a time as for a CPU change (retired:
 * it finishes its running tasks, or after kill_grace_ms they go back to the
 * queue uncharged): after a reload changed settings a worker reads only at
 * start (allowed paths, exec settings, ...). Call after tr_pool_configure. */
void tr_pool_renew(struct tr_pool *p);

void tr_pool_configure(struct tr_pool *p, const struct tr_config *cfg, const struct tr_cpus *cpus,
                       unsigned nworkers, uint64_t now);

/* Starts workers that are due and, while rolling, takes the next step
 * towards the configuration (stop a surplus worker, move one to its new CPU,
 * start a missing one). Then publishes the spare for status (hdr->spare_*:
 * call it after anything that may have changed the spare, before waiting).
 * Returns 1 when the pool matches the configuration (every wanted worker
 * ready, nothing surplus), else 0. */
int tr_pool_step(struct tr_pool *p, uint64_t now);

/* The epoll data of the spare's socket is ev_base + TR_POOL_EV_SPARE (past
 * every slot's): it polls readable when the spare says it is set up. */
#define TR_POOL_EV_SPARE TRQ_WORKERS_MAX

/* Handles an event of the pool's in the epoll set, whose data was ev_base +
 * index: below TRQ_WORKERS_MAX, slot index's pidfd (as tr_pool_reap);
 * TR_POOL_EV_SPARE, the spare's socket (reads its hello, then publishes it
 * as set up). Any other index is ignored. */
void tr_pool_event(struct tr_pool *p, uint64_t index, uint64_t now);

/* What a converging pool (a reload) still has to do: returns how many
 * worker slots still change (a surplus worker to stop, one to move to its
 * CPU or to restart with new settings, one to start or starting; one being
 * stopped counts until it exited) and sets *by to the time (CLOCK_MONOTONIC)
 * by which they should be done at the latest: a retirement ends by its
 * SIGKILL, shutdown_timeout_s after it began, and each step is given
 * TR_POOL_STEP_NS more for the process to exit and its successor to start. */
#define TR_POOL_STEP_NS (5 * 1000000000ull)
unsigned tr_pool_roll_left(const struct tr_pool *p, uint64_t now, uint64_t *by);

/* Reaps slot index if its process ended (its pidfd polled readable). Exits
 * 1 when it exited TR_WORKER_EXIT_TRUNCATED and the segment is truncated. */
void tr_pool_reap(struct tr_pool *p, unsigned index, uint64_t now);

/* Reaps every slot whose process ended, and the spare (after SIGCHLD). */
void tr_pool_reap_all(struct tr_pool *p, uint64_t now);

/* After a doorbell ring: notes workers that became ready, and stops workers
 * whose cpu task was cancelled or ran past its timeout (not for a cpu exec
 * task, which its worker ends itself, unless it overran by far: see
 * pool.c). Returns the number of workers that became ready. */
unsigned tr_pool_doorbell(struct tr_pool *p, uint64_t now);

/* Deadline work: SIGKILL after the kill grace, run timeouts. */
void tr_pool_tick(struct tr_pool *p, uint64_t now);

/* The periodic health check: a worker stopped (state T) on two checks in a
 * row, or whose heartbeat is older than workers_heartbeat_s while it runs no
 * cpu task (or only a cpu exec, which its io thread watches), is SIGKILLed
 * and replaced. */
void tr_pool_check(struct tr_pool *p, uint64_t now);

/* Writes hdr->nworkers: the configured count, or more while surplus
 * workers run. Returns 1 when the segment said otherwise, else 0. */
int tr_pool_publish_count(struct tr_pool *p);

/* Puts back what only the supervisor writes in the records of live workers
 * (pid, incarnation, cpu, state) when another process changed it: a live
 * worker marked dead would have its running tasks requeued while it runs
 * them. Returns how many records it rewrote. */
unsigned tr_pool_guard_records(struct tr_pool *p);

/* The earliest time tr_pool_tick() or tr_pool_step() has work (0: none). */
uint64_t tr_pool_next_deadline(struct tr_pool *p);

/* Stops every worker: sets draining (no restarts); with kill, SIGKILLs the
 * workers still running (their tasks go back to the queue uncharged). */
void tr_pool_stop_all(struct tr_pool *p, int kill, uint64_t now);

/* Number of slots with a process, and of those the ready ones. */
unsigned tr_pool_live(const struct tr_pool *p, unsigned *ready);

/* The pid of slot index's process (0: none). */
pid_t tr_pool_pid(const struct tr_pool *p, unsigned index);

/* Short name of a kill reason ("run timeout"). */
const char *tr_pool_kill_name(enum tr_kill k);

#endif
