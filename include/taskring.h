/*
 * taskring.h - the public C API of libtaskring.
 *
 * libtaskring attaches to the shared-memory segment of a running taskringd
 * instance (/dev/shm/taskring.<instance>) and submits tasks into it, waits for
 * them, reads their results, cancels them and reads the daemon's status.
 *
 * Conventions: every function that can fail returns 0 (or a count) on success
 * and a negative error code on failure: either -errno (e.g. -ENOENT) or one of
 * the project's own -TASKRING_E* codes below. taskring_strerror() explains both.
 * No function keeps a pointer to caller memory after it returns.
 *
 * Thread safety: a taskring_t handle may be used by several threads at once,
 * except taskring_detach, which must be the handle's last call.
 * Delivery is at-least-once: a task whose worker dies may run again.
 *
 * Signals: no call is ended by a signal. Waits retry after EINTR and end at
 * their deadline; to react to a signal, wait in slices (say 100 ms) and look
 * at a flag the handler sets between them.
 *
 * When the daemon is down: the segment stays, so submits still queue tasks and
 * waits wait; a taskringd started for the instance adopts the segment and runs
 * them (taskring_daemon_alive tells whether one runs now). When the segment
 * itself was removed while no daemon holds it (a new daemon then makes a new
 * one), nothing will ever serve this handle: submits and waits return
 * -TASKRING_ENODAEMON (noticed within a second); attach again.
 */
#ifndef TASKRING_H
#define TASKRING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TASKRING_VERSION "0.4.0"
/* The binary interface: the number in the shared library's soname
 * (libtaskring.so.1). It changes whenever a program built against the
 * previous one could break, e.g. a public struct changed size. */
#define TASKRING_ABI 1

/* The project's own error codes, returned negated. */
enum {
	TASKRING_EBASE = 10000,
	TASKRING_EFULL,       /* the task table is full (non-blocking submit) */
	TASKRING_EEXPIRED,    /* the task is no longer in the table: its slot
	                         was reused, or it was detached and finished */
	TASKRING_ELAYOUT,     /* segment has another magic/layout version/size */
	TASKRING_ENODAEMON,   /* no live supervisor owns the segment */
	TASKRING_ECORRUPT,    /* the segment holds inconsistent data */
	TASKRING_EBADTYPE,    /* unknown task type */
	TASKRING_EFINAL,      /* the task already reached a final state */
	TASKRING_EBADID,      /* the id is not a valid task id for this segment */
	TASKRING_ENOTSUP_CLS, /* the task type does not allow the requested class */
	TASKRING_ELOCKED      /* the queue lock was not released before the deadline,
	                         after a wait of 200 ms or more for it: a process
	                         holding it is stopped or hung (any call that takes
	                         the lock may return it; a shorter lock wait cut by
	                         the deadline is -ETIMEDOUT) */
};

/* Task classes: cpu tasks run one at a time on a worker's main thread; io
 * tasks run many at once on a worker's io_uring thread. */
enum taskring_class { TASKRING_CPU = 0, TASKRING_IO = 1, TASKRING_CLASS_DEFAULT = -1 };

/* Task states. FREE is only seen for ids never issued. */
enum taskring_state {
	TASKRING_FREE = 0,
	TASKRING_QUEUED,
	TASKRING_RUNNING,
	TASKRING_DONE,
	TASKRING_FAILED,
	TASKRING_CANCELLED,
	TASKRING_NSTATES
};

/* Submit flags. */
#define TASKRING_DETACHED 0x1u /* keep no result: the slot is freed when done */

typedef struct taskring taskring_t;

/* Options of a submit; a zeroed struct (or NULL) means the defaults. */
struct taskring_opts {
	int cls;                /* TASKRING_CPU, TASKRING_IO or 0 with use_cls=0 */
	int use_cls;            /* 1: use cls instead of the type's own class */
	unsigned max_attempts;  /* 0: the daemon's tasks.max_attempts, else
	                           1-1000 (more: -EINVAL) */
	unsigned run_timeout_s; /* 0: the daemon's tasks.run_timeout_s */
	unsigned flags;         /* TASKRING_DETACHED */
	int64_t timeout_ms;     /* how long to wait for a free slot: <0 forever,
	                           0 fail at once with -TASKRING_EFULL */
};

/* One task of a batch submit. */
struct taskring_req {
	const char *type;        /* task type name */
	int argc;                /* number of argument words */
	const char *const *argv; /* the words; each without NUL bytes */
};

/* A copy of one task, filled by taskring_get()/taskring_wait().
 * args and output point into buf, owned by the struct; release with
 * taskring_info_release(). */
struct taskring_info {
	uint64_t id;
	char type[32]; /* "?" (and no argv) when the type or arguments
	                  were found overwritten in shared memory */
	int cls;
	int state; /* enum taskring_state */
	unsigned attempts;
	unsigned max_attempts;
	int worker; /* worker index while running or last ran, -1 none */
	unsigned run_timeout_s;
	uint64_t submitted_ns; /* CLOCK_REALTIME ns; 0 when not set */
	uint64_t started_ns;
	uint64_t finished_ns;
	int argc;
	char **argv;       /* argc words, NULL-terminated */
	char *output;      /* result (DONE) or error text (FAILED/CANCELLED), NUL-terminated */
	size_t output_len; /* bytes in output, excluding the NUL */
	void *buf_;        /* private */
};

/* One worker of the status snapshot. */
struct taskring_worker_info {
	int index;
	int pid; /* 0 when not running */
	int cpu;
	char state[16];       /* "starting", "ready", "busy", "stopping" (asked to
	                         leave), "stopped" (by a signal, until replaced),
	                         "backoff" (dead, its restart held back after
	                         early deaths: see restart_in_ms), "dead",
	                         "empty" */
	uint64_t task;        /* task id on the main thread, 0 none */
	unsigned io_inflight; /* io tasks in flight */
	uint64_t tasks_done;
	unsigned restarts;
	char last_exit[96]; /* e.g. "killed by signal 9 (SIGKILL)", "" if none */
	/* Added in 0.3.0. */
	unsigned restart_in_ms; /* state "backoff": ms until it is restarted
	                           (0: due now); else 0 */
};

/* The status snapshot. workers points into the struct's own memory;
 * release with taskring_status_release(). */
struct taskring_status {
	char instance[40];
	int pid;   /* supervisor pid, 0 when none is alive */
	int alive; /* 1 when the supervisor is alive */
	uint64_t uptime_s;
	uint32_t epoch;
	unsigned capacity;
	unsigned free; /* slots free or reclaimable */
	unsigned payload_max;
	unsigned result_max;
	unsigned queued[2]; /* per class */
	unsigned running[2];
	uint64_t submitted, done, failed, cancelled, requeued, worker_restarts;
	uint32_t reload_seq;    /* bumped by the daemon after each reload */
	int reload_ok;          /* outcome of the last reload: 1 applied, 0 refused */
	char reload_error[256]; /* why the last reload was refused (240 bytes at most) */
	int nworkers;
	struct taskring_worker_info *workers;
	/* Added in 0.3.0. */
	/* Of running[c], the tasks a worker is executing now: a cpu task on a
	 * worker's main thread, io tasks in flight in its io thread. The rest
	 * (running - executing) were taken by a worker in a batch and wait in
	 * it for their turn. 0 when alive is 0: the workers ended with their
	 * daemon, and its running tasks go back to the queue at the next
	 * start. */
	unsigned executing[2];
	/* The spare worker (restart.spare_worker): a process forked and set up
	 * ahead of need, which a dead worker's replacement takes over. */
	int spare_pid;        /* its pid (a child of the supervisor), 0 none */
	char spare_state[16]; /* "ready" (set up, waiting), "starting" (setting
	                         up), "waiting" (none yet: forked once every
	                         worker is ready), "backoff" (the last died
	                         unused: see spare_in_ms), "given up" (too
	                         many died unused in a row; a reload tries
	                         again), "stopping" (the daemon is stopping),
	                         "off" (restart.spare_worker false, or no
	                         daemon) */
	unsigned spare_in_ms; /* "backoff": ms until the next is due (0: now) */
	unsigned spare_fails; /* spares in a row that died unused */
};

/* Validates an instance name (1-32 of [A-Za-z0-9_.-]). Returns 0 or -EINVAL. */
int taskring_instance_valid(const char *name);

/* Attaches to instance `name` (NULL or "": $TASKRING_INSTANCE, else "default").
 * Checks owner, mode, magic, layout version and size: the segment must
 * belong to this user, or to one of its groups with mode 0660 (root: to root
 * or to the service's user, `taskring` or $TASKRING_SERVICE_USER), and give
 * others no access. Returns 0 and sets *out,
 * -ENOENT when no such instance exists, -EAGAIN while its daemon is still
 * creating it (try again), -EACCES, -EINVAL (a bad name, or out NULL),
 * -TASKRING_ELAYOUT,
 * ... */
int taskring_attach(const char *name, taskring_t **out);

/* Detaches and frees the handle. NULL is ignored. No other thread may be
 * inside a call on it, nor use it afterwards. */
void taskring_detach(taskring_t *h);

/* Returns 1 if a supervisor serves the segment: it runs and has taken the
 * segment over (a daemon starting up counts once it adopted the queue), else
 * 0. */
int taskring_daemon_alive(taskring_t *h);

/* Seconds since the segment's last supervisor exited by itself (it was
 * stopped, or gave up on an error), so that a caller finding no daemon can
 * tell a restart in progress (seconds ago) from a daemon long gone. After a
 * kill, a new supervisor that is still taking the segment over counts as
 * stopped since it started doing so. Returns -1 while a supervisor serves
 * the segment (taskring_daemon_alive), and when it is not known: the last one
 * was killed (SIGKILL, a crash) and none started since, or none ever
 * stopped. */
int taskring_daemon_stopped_s(taskring_t *h);

/* Who holds the queue lock now, for a message about -TASKRING_ELOCKED.
 * Returns the pid (a thread id, for a thread) of the holder and writes, when
 * buf is not NULL, text such as "pid 4242 (taskring), stopped" into buf (len
 * bytes, always terminated); returns 0, buf "", when nobody holds it. Read
 * from the lock word without taking the lock: a hint, not a guarantee. */
int taskring_lock_holder(taskring_t *h, char *buf, size_t len);

/* Submits one task. argv holds argc words. On success stores its id in *id.
 * Errors: -TASKRING_EBADTYPE, -TASKRING_ENOTSUP_CLS (opts->cls names a class
 * the type does not allow), -E2BIG (arguments over payload_max),
 * -EINVAL (bad words or options), -TASKRING_EFULL (table full and
 * opts->timeout_ms == 0), -ETIMEDOUT (still full at the deadline),
 * -TASKRING_ELOCKED, -TASKRING_ENODAEMON (the segment was removed: see the
 * top). */
int taskring_submit(taskring_t *h, const char *type, int argc, const char *const *argv,
                    const struct taskring_opts *opts, uint64_t *id);

/* Submits n tasks with one lock acquisition per group that fits. Stores the
 * ids in ids[0..]. Returns the number submitted: all n, or fewer when the
 * table filled up or an error stopped the batch part way; the error itself
 * only when none was submitted. A bad request stops the batch before it:
 * the ones before it are submitted, and submitting from the bad one returns
 * its error. A full table blocks (up to opts->timeout_ms) only a call that
 * has submitted nothing yet; one that has returns its count at once, since
 * the room it would wait for may be its own results, which only its caller
 * can read: collect some, then submit the rest. */
int taskring_submit_batch(taskring_t *h, size_t n, const struct taskring_req *reqs,
                          const struct taskring_opts *opts, uint64_t *ids);

/* Copies task `id` into *info without waiting. -ENOENT: never issued;
 * -TASKRING_EEXPIRED: its slot was reused; -TASKRING_EBADID: not an id of
 * this segment. Does not mark the result read. On an error *info is zeroed
 * (releasing it is harmless). */
int taskring_get(taskring_t *h, uint64_t id, struct taskring_info *info);

/* Waits until task `id` is final (done, failed, cancelled) or timeout_ms
 * passes (<0 forever; 0: one look, which neither spins nor sleeps, since
 * 0.3.2), then copies it into *info (may be NULL) and marks its result
 * read (the slot may then be reused, oldest first; the mark is applied at
 * this handle's next queue operation, a wait that sleeps or looks, or
 * taskring_detach). Returns 0, -ETIMEDOUT, -ENOENT, -TASKRING_EBADID,
 * -TASKRING_EEXPIRED (also for a detached task that finished: its slot was
 * freed at once), -TASKRING_ENODAEMON (the segment was removed: see the
 * top). On an error *info is zeroed (releasing it is harmless). */
int taskring_wait(taskring_t *h, uint64_t id, int64_t timeout_ms, struct taskring_info *info);

/* Waits for n tasks with one overall deadline; infos may be NULL, else an
 * array of n. Returns 0 when all are final: then every info is filled and
 * every result marked read. Else returns the first error met (-ETIMEDOUT,
 * or one of taskring_wait()'s for that id); then every info is zeroed and
 * no result is marked read, also of tasks that were final, also when the
 * error was met copying the results once all were final (a damaged result,
 * -TASKRING_ECORRUPT, or one whose result_ttl ended in between, -TASKRING_
 * EEXPIRED; since 0.4.0): wait again, or for each with taskring_wait().
 * Releasing the infos is harmless either way. */
int taskring_wait_many(taskring_t *h, size_t n, const uint64_t *ids, int64_t timeout_ms,
                       struct taskring_info *infos);

/* Frees what an info holds; the struct may be reused. */
void taskring_info_release(struct taskring_info *info);

/* taskring_info_release() of infos[0..n), for what taskring_wait_many()
 * filled: its infos share blocks of memory, and this gives each block's
 * references back at once (a locked instruction per block, not per info).
 * Infos already released, zeroed or from other calls are fine. NULL is
 * ignored. Since 0.3.1. */
void taskring_info_release_many(size_t n, struct taskring_info *infos);

/* Cancels a task. A queued task becomes cancelled at once; a running one is
 * marked and the supervisor stops its worker (for a running task, 0 means the
 * cancel was recorded: one that finishes first ends done, with its result).
 * Returns 0, -TASKRING_EFINAL when already final, -ENOENT /
 * -TASKRING_EEXPIRED / -TASKRING_EBADID, -TASKRING_ELOCKED. */
int taskring_cancel(taskring_t *h, uint64_t id);

/* Cancels every queued task, or only those of type `type` (NULL: every
 * type), in one pass under the queue lock: they end cancelled ("cancelled
 * before it ran"), and count as read, so their slots may be reused at once
 * (oldest first), except those a client is waiting for: it is woken and
 * reads them cancelled. Queued tasks of other types keep their order.
 * Running tasks are not touched, and neither are the quick tasks (up to
 * 64) a worker took together with the one it runs, which end within
 * microseconds: a worker hands the tasks it has not started back to the
 * queue before a task that is not known to be quick starts. Tasks
 * submitted while it runs may or may not be cancelled. *count (may be
 * NULL) gets how many were cancelled, also when it fails part of the way.
 * Returns 0, -TASKRING_EBADTYPE for a type name that is malformed, or that
 * no queued task has and the daemon does not know, -TASKRING_ELOCKED,
 * -TASKRING_ECORRUPT (a queue that stays damaged after its repair). The
 * lock is held for the walk: 65 ms for a million queued tasks here. Since
 * 0.4.0. */
int taskring_cancel_queued(taskring_t *h, const char *type, uint64_t *count);

/* Calls fn for every task whose state bit (1u << state) is in state_mask,
 * newest first. Stops early when fn returns non-zero. Returns the number of
 * tasks visited or a negative error (-EINVAL: no h or no fn). */
int taskring_list(taskring_t *h, unsigned state_mask,
                  int (*fn)(const struct taskring_info *info, void *ctx), void *ctx);

/* Fills a status snapshot. Release with taskring_status_release(), also
 * after an error (harmless). Returns 0, -ENOMEM, -TASKRING_ELOCKED (the
 * queue lock was not released in time) or -ENOTRECOVERABLE. */
int taskring_status_get(taskring_t *h, struct taskring_status *st);
void taskring_status_release(struct taskring_status *st);

/* Sends sig to worker `index` after checking that the pid is a child of the
 * live supervisor. Stores the pid hit in *pid. Returns 0, -EINVAL (index
 * outside 0..1023 or no such signal), -TASKRING_ENODAEMON (no supervisor),
 * -ESRCH (that worker is not running), or kill(2)'s error. */
int taskring_kill_worker(taskring_t *h, int index, int sig, int *pid);

/* Reloading the daemon's configuration file, as `taskring reload` does:
 * take a ticket, send SIGHUP to the supervisor (the status's pid), then
 * poll taskring_reload_outcome() until it answers. The answer to the first
 * reload the supervisor begins after the ticket was taken covers it: a
 * refused file at once, an applied one once the workers have converged.
 * Two clients that reload at once each get the answer to their own request.
 * Returns 0 and sets *ticket, or -EINVAL. */
int taskring_reload_ticket(taskring_t *h, uint32_t *ticket);

/* The answer for ticket: returns 0 and sets *ok (1 applied, 0 refused) and
 * why (len bytes, always terminated: the reason of a refusal, "" when
 * applied); -EAGAIN when it has not come yet; -ESTALE when it came but the
 * daemon's last 31 answers, all it keeps, are others', also while another
 * reload still replaces workers, or when the daemon dropped the request
 * unanswered (more than 5 files taken, with refused ones between, while
 * one reload replaces workers): take a new ticket and send SIGHUP again.
 * -EINVAL for NULL arguments. */
int taskring_reload_outcome(taskring_t *h, uint32_t ticket, int *ok, char *why, size_t len);

/* How far the reload answering ticket got while it replaces workers: a
 * reload that restarts, moves, stops or starts workers does so one at a
 * time, each retired worker finishing its running tasks within the
 * daemon's shutdown_timeout_s, so it may take that long per worker. */
struct taskring_reload_progress {
	unsigned done;   /* worker changes done (a worker stopped, moved, restarted,
	                    started) */
	unsigned total;  /* worker changes in all (grows when a worker dies meanwhile) */
	int64_t left_ms; /* the longest the daemon expects the rest to take, from
	                    now (0 once that time passed: it is late, or stopped) */
};

/* While the reload that answers ticket replaces workers: returns 0 and
 * fills *p; -EAGAIN when there is nothing to report (it has not begun, it
 * was answered, or it changes no worker), -EINVAL for NULL arguments. The
 * daemon updates it as it goes; a supervisor that is stopped or hung does
 * not, so that left_ms runs down to 0: wait for the answer until left_ms
 * passed (and some slack), not longer. */
int taskring_reload_progress(taskring_t *h, uint32_t ticket, struct taskring_reload_progress *p);

/* Names of states and classes ("queued", "cpu", ...); "?" when out of range. */
const char *taskring_state_name(int state);
const char *taskring_class_name(int cls);
/* Parses a state name; returns the state or -EINVAL. */
int taskring_state_parse(const char *name);

/* The TASKRING_ABI the library was built with: a program that loads it at
 * run time by path (dlopen, Python's ctypes) compares it with its own. */
int taskring_abi(void);

/* Explains an error code (negative or positive). Never returns NULL. The
 * text of a code it does not know stays valid for 3 more such calls in the
 * same thread. */
const char *taskring_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
