/*
 * queue.h - the shared-memory task queue: segment layout and operations.
 *
 * One POSIX shared-memory object per instance, /taskring.<instance>, holds:
 *   header   geometry, settings, supervisor identity, counters, the task type
 *            registry, the robust mutex, and futex words;
 *   meta     `capacity` task slot records (struct trq_slot): the source of truth;
 *   args     `capacity` argument areas of payload_max bytes;
 *   out      `capacity` result/error areas of result_max bytes;
 *   rings    one FIFO ring of slot indices per class (cpu, io);
 *   workers  TRQ_WORKERS_MAX worker records.
 *
 * Invariants (held whenever the lock is free; trq_check() verifies them):
 *   - ring[c] holds exactly the QUEUED slots of class c, each once, in FIFO
 *     order (requeued tasks go to the front);
 *   - the free list holds exactly the FREE slots;
 *   - fin list 0 (unread) and fin list 1 (read) hold exactly the finished
 *     (DONE, FAILED, CANCELLED) slots, by finish time, oldest first;
 *   - a slot's id is gen * capacity + index + 1 while it is not FREE, gen
 *     being its 64-bit generation gen_hi:gen (see slot_gen: below 2^63 /
 *     capacity, so ids never repeat before 2^63 tasks); a FREE slot's
 *     generation is the one its next task will get;
 *   - running[c] counts the RUNNING slots of class c.
 * Everything but the slot table is derived: trq_rebuild() re-derives it, and
 * runs whenever a locker gets EOWNERDEAD or finds an inconsistency.
 *
 * Trust: every byte of the segment may have been written by a hostile or
 * dying process. Geometry is validated once at attach and cached in struct
 * trq; indices and lengths read from the segment are bounds-checked before
 * use; a slot that fails validation fails its task with an error.
 *
 * Waiting never uses condition variables: waiters sleep on 32-bit futex
 * counters (q_seq per class, free_seq, sup_seq, and each slot's wake word).
 *
 * Implemented in seg.c (the object, geometry, trust checks), queue.c (the
 * task life cycle), slots.c (derived lists), repair.c (rebuild and audit)
 * and futex.c (clocks, futexes, checksums).
 */
#ifndef TR_QUEUE_H
#define TR_QUEUE_H

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "divide.h"
#include "taskring.h"

#define TRQ_MAGIC       0x3151474e49524b54ull /* "TKRINGQ1" */
#define TRQ_LAYOUT      15
#define TRQ_NAME_MAX    32 /* task type name, including the NUL */
#define TRQ_TYPES_MAX   128
#define TRQ_WORKERS_MAX 1024
#define TRQ_NIL         0xffffffffu
#define TRQ_CAUSE_MAX   96
#define TRQ_NCLASS      2

/* slot flags */
#define TRQ_F_DETACHED 0x1u /* no result wanted: freed when finished */
#define TRQ_F_READ     0x2u /* result read by a client: reclaimable */
#define TRQ_F_CANCEL   0x4u /* cancel requested while running */
#define TRQ_F_TIMEOUT  0x8u /* supervisor stopped the worker for a timeout */

/* Whether a worker starting a task with a run timeout of secs must ring the
 * supervisor's doorbell (hdr->sup_seq) so that it arms its timer for the
 * task's deadline. Not when the timeout is longer than the supervisor's
 * periodic look at running tasks (check_ns, hdr->sup_check_ns) by a margin:
 * that look comes before the deadline and arms the timer then. A doorbell
 * per task would wake the supervisor for every task of a stream, which
 * halved throughput with tasks.run_timeout_s set. */
#define TRQ_TELL_SUP(secs, check_ns)                                                               \
	((check_ns) == 0 || (uint64_t)(secs)*1000000000ull < (check_ns) + (check_ns) / 4)

/* type registry flags */
#define TRQ_T_ANYCLASS 0x1u /* submitter may choose the class (exec, sleep) */

/* The futex bit an io thread that cannot take tasks (all records busy, or
 * leaving) waits on alone; wake-ups for new io tasks leave it out, cancels
 * and the supervisor's kick include it (worker/iothread.c). */
#define TRQ_IO_FULL 0x80000000u

/* worker record `spinning` flag: napping (trq_nap), not polling */
#define TRQ_SPIN_NAP 0x100u

/* worker record states */
enum trq_wstate { TRQ_W_EMPTY = 0, TRQ_W_STARTING, TRQ_W_READY, TRQ_W_STOPPING, TRQ_W_DEAD };

struct trq_type {
	char name[TRQ_NAME_MAX];
	uint32_t cls;
	uint32_t flags;
};

/* Arguments and results up to this many bytes live in the slot record
 * itself (args_in, out_in); longer ones in the slot's areas of payload_max
 * and result_max bytes, which start a page apart at the default sizes. A
 * stream of tasks with small arguments and results then touches one page of
 * records per 12 tasks, not two more pages per task: this VM's TLB misses
 * cost a third of the throughput of such tasks. */
#define TRQ_INLINE 64

/* One task slot's record. 320 bytes: three lines of fields, then the inline
 * argument and result lines. */
struct trq_slot {
	uint64_t id;       /* gen * capacity + index + 1; 0 never */
	uint32_t gen;      /* generation, low 32 bits (atomic reads) */
	uint32_t state;    /* enum taskring_state (atomic reads) */
	uint32_t cls;      /* enum taskring_class */
	uint32_t flags;    /* TRQ_F_* */
	uint32_t attempts; /* attempts started, including the running one */
	uint32_t max_attempts;
	int32_t owner;      /* worker index while RUNNING (and last ran), -1 none */
	uint32_t owner_inc; /* that worker's incarnation */
	uint32_t run_timeout_s;
	uint32_t argc;
	uint32_t args_len;   /* bytes in the args area: argc NUL-terminated words */
	uint32_t out_len;    /* bytes in the out area */
	uint32_t next, prev; /* list links: free list, fin lists */
	uint64_t submit_ns, start_ns, finish_ns; /* CLOCK_MONOTONIC */
	uint64_t qseq;                           /* enqueue order, for rebuild */
	uint32_t wake;  /* futex: bumped on every final transition and reuse */
	uint32_t nwait; /* waiters sleeping on wake (a hint) */
	char type[TRQ_NAME_MAX];
	uint32_t args_sum; /* trq_args_sum() of type and arguments, set at submit */
	uint32_t out_sum;  /* trq_sum() of the output bytes, set at finish */
	int32_t sub_cpu;   /* 1 + the CPU the submitter ran on, 0 unknown: a hint */
	uint32_t watch;    /* 1 once a client waited for this task (a hint, see trq_nap) */
	uint32_t gen_hi;   /* generation, high bits (under gen_hi_mask), bumped as gen wraps */
	char pad_[36];
	char args_in[TRQ_INLINE]; /* the argument bytes when args_len <= TRQ_INLINE */
	char out_in[TRQ_INLINE];  /* the output bytes when out_len <= TRQ_INLINE */
};
_Static_assert(sizeof(struct trq_slot) == 320, "slot record size");

/* One worker's record: the first two lines written by the supervisor, the
 * third by the worker, the fourth by the supervisor again (rarely written:
 * kept off the lines the worker and its readers touch for every task). The
 * one exception: a worker that reports ready moves state from STARTING to
 * READY itself (compare-and-swap, only for its own incarnation), so that
 * clients see it at once. */
struct trq_worker {
	int32_t pid;
	int32_t cpu;
	uint32_t inc;   /* incarnation, bumped at every (re)start */
	uint32_t state; /* enum trq_wstate */
	uint32_t restarts;
	uint32_t pad0_;
	char last_exit[TRQ_CAUSE_MAX];
	uint64_t lost_ns;                  /* CLOCK_MONOTONIC: when the supervisor found the last
	                                      incarnation dead (reaped it), 0 never */
	alignas(64) uint64_t heartbeat_ns; /* CLOCK_MONOTONIC, by the worker */
	uint64_t cur_cpu;                  /* id executing on the main thread, 0 none */
	uint64_t cur_io;                   /* id whose handler code the io thread runs */
	uint64_t tasks_done;
	uint32_t io_inflight;
	uint32_t ready_inc; /* the worker stores its inc here once ready */
	uint32_t spinning;  /* 1 + class while counted in hdr->q_spin, else 0;
	                       | TRQ_SPIN_NAP while also counted in hdr->q_nap */
	uint32_t pad1_;
	uint64_t cur_exec; /* == cur_cpu while that task is an exec program the
	                      worker itself stops on timeout/cancel, else 0 */
	uint64_t ready_ns; /* CLOCK_MONOTONIC: when this incarnation reported
	                      ready (ready_inc), 0 before */
	/* By the supervisor, for status only (untrusted: readers clamp it).
	 * While the slot has no process and its restart is held back after
	 * early deaths (restart.backoff_ms), CLOCK_MONOTONIC when it is due;
	 * 0 otherwise (running, restarting at once, or not to be restarted). */
	alignas(64) uint64_t restart_ns;
	char pad_[56];
};
_Static_assert(sizeof(struct trq_worker) == 256, "worker record size");

/* The answer to one reload (SIGHUP): tickets from..from+n-1 (modulo 2^32)
 * asked for it. The supervisor keeps the last TRQ_RELOAD_ANS; see reload.h. */
#define TRQ_RELOAD_ANS 32
struct trq_reload_ans {
	uint32_t from, n;
	int32_t ok; /* 1 applied, 0 refused */
	uint32_t pad_;
	char error[240]; /* why refused, NUL-terminated (untrusted) */
};

/* The tickets from..from+n-1 (modulo 2^32) that a converging reload will
 * answer; the supervisor publishes up to TRQ_RELOAD_PEND such ranges. */
#define TRQ_RELOAD_PEND 5
struct trq_reload_range {
	uint32_t from, n;
};

/* What the supervisor's spare worker is doing (hdr->spare_state; see
 * struct tr_spare in daemon/pool.h). */
enum trq_spare_state {
	TRQ_SPARE_OFF = 0,  /* restart.spare_worker is false (or no supervisor) */
	TRQ_SPARE_WAIT,     /* wanted, none yet: the workers are not all ready */
	TRQ_SPARE_STARTING, /* forked, setting itself up (spare_pid) */
	TRQ_SPARE_READY,    /* set up and waiting to take a slot (spare_pid) */
	TRQ_SPARE_BACKOFF,  /* the last one died unused: the next at spare_next_ns */
	TRQ_SPARE_GAVE_UP,  /* too many died unused in a row: none until a reload */
	TRQ_SPARE_STOPPING, /* wanted, but the daemon is stopping: no more spares */
	TRQ_SPARE_NSTATES
};

struct trq_hdr {
	uint64_t magic;
	uint32_t layout;
	uint32_t hdr_size;
	uint64_t seg_size;
	uint32_t capacity, payload_max, result_max, workers_max;
	uint64_t meta_off, args_off, out_off, ring_off[TRQ_NCLASS], workers_off;
	char instance[40];

	/* settings, written by the supervisor */
	uint32_t max_attempts_default;
	uint32_t run_timeout_default_s;
	uint64_t result_ttl_ns;
	uint64_t sup_check_ns; /* the supervisor looks at every running task at least
	                          this often (0: unknown); see TRQ_TELL_SUP */
	uint32_t ntypes;
	uint32_t nworkers; /* configured worker count */
	struct trq_type types[TRQ_TYPES_MAX];

	/* supervisor identity */
	int32_t sup_pid;
	uint32_t epoch;
	uint64_t sup_starttime;     /* /proc/PID/stat start time, ticks */
	uint64_t sup_start_real_ns; /* CLOCK_REALTIME */
	int32_t sup_sid;            /* its session (getsid), for the leftovers sweep;
	                               0 after a clean stop */
	uint32_t sup_stop_s;        /* trq_boot_s() when the last supervisor
	                               exited by itself (a stop, an error), or,
	                               when found 0, when the next one took the
	                               supervisor lock; 0 once it adopted the
	                               segment, and after a kill (untrusted) */
	uint64_t sup_token;         /* random, per supervisor: exec programs carry it
	                               (TR_EXEC_MARK_VAR), so the next one can tell
	                               them from others in the session (untrusted) */
	uint64_t rt_off_ns;         /* CLOCK_REALTIME - CLOCK_MONOTONIC, for every
	                               process's times in taskring_info (see
	                               trq_clock_publish); 0: not set */
	uint32_t draining;          /* 1: workers take no new tasks */
	uint32_t reload_asked;      /* reload tickets handed out (clients bump it) */
	uint32_t reload_seq;        /* reload answers published (see reload.h) */
	uint32_t reload_claimed;    /* the last ticket a reload claimed */
	uint32_t reload_pending;    /* 1: a reload converges; it answers from: */
	uint32_t reload_pend_from;  /* the first ticket it answers */
	uint32_t reload_roll_done;  /* of the converging reload's worker changes
	                               (stop, move, restart, start), done so far */
	uint32_t reload_roll_total; /* and in all; 0: none published (reload.h) */
	uint64_t reload_roll_by_ns; /* CLOCK_MONOTONIC: the latest the supervisor
	                               expects the roll to end (each worker it
	                               retires gets shutdown_timeout_s) */
	struct trq_reload_ans reload_ans[TRQ_RELOAD_ANS];

	/* the spare worker, published by the supervisor for status only
	 * (untrusted: readers check the pid is the supervisor's child) */
	int32_t spare_pid;      /* 0: none */
	uint32_t spare_state;   /* enum trq_spare_state */
	uint64_t spare_next_ns; /* TRQ_SPARE_BACKOFF: CLOCK_MONOTONIC when the next
	                           one is due, else 0 */
	uint32_t spare_fails;   /* spares in a row that died unused */

	/* Exactly which claimed tickets the converging reload answers (while
	 * reload_pending is 1; see reload.h): any other claimed ticket was
	 * answered at once. Here, in what was the padding before the lock, so
	 * that the layout stays 15: a reader built before them ignores them. A
	 * daemon built before them never writes them: in a new segment they
	 * stay empty, but one adopted from a newer supervisor killed while a
	 * reload converged keeps that one's ranges, which reload_pend_tok
	 * (sup_token's low half when written) then no longer matches. */
	uint32_t reload_pend_tok; /* (uint32_t)sup_token of their writer */
	uint32_t reload_pend_gen; /* odd while the supervisor rewrites them */
	uint32_t reload_pend_nr;  /* ranges in use; 0: none published */
	struct trq_reload_range reload_pend[TRQ_RELOAD_PEND];

	alignas(64) pthread_mutex_t lock;
	/* protected by lock; on a line of their own, apart from the lock word,
	 * which lockers waiting for their turn keep reading */
	alignas(64) uint32_t ring_head[TRQ_NCLASS], ring_count[TRQ_NCLASS];
	uint32_t free_head, free_count;
	uint32_t fin_head[2], fin_tail[2], fin_count[2];
	uint32_t running[TRQ_NCLASS];
	uint64_t qseq_next;
	uint64_t submitted, done, failed, cancelled, requeued, worker_restarts, repairs;
	uint64_t audits; /* trq_audit() calls that may repair (the supervisor's), for
	                    tests: in what was padding, so the layout stays 15 */

	/* futex words, one cache line per writer group */
	alignas(64) uint32_t q_seq[TRQ_NCLASS];   /* bumped when tasks are queued */
	alignas(64) uint32_t q_wait[TRQ_NCLASS];  /* workers asleep on q_seq */
	int32_t q_spin[TRQ_NCLASS];               /* workers awake and polling q_seq */
	uint64_t q_woke_ns[TRQ_NCLASS];           /* a hint: when a sleeping worker was last
	                                             woken (queue.c, "waking sleeping workers") */
	uint32_t q_woke_n[TRQ_NCLASS];            /* a hint: workers woken that have not run */
	alignas(64) uint32_t nap_seq[TRQ_NCLASS]; /* bumped by a client that waits for a queued
	                                             task while workers nap (trq_nap) */
	int32_t q_nap[TRQ_NCLASS];                /* workers napping in trq_nap */
	alignas(64) uint32_t free_seq;            /* bumped when slots may have come free */
	uint32_t free_wait;
	alignas(64) uint32_t sup_seq; /* the supervisor's doorbell */
	uint32_t sup_wait;
	alignas(64) char end_[];
};
/* The reload ranges only fill the padding before the lock: without them
 * the lock would sit where it does, and so would everything after it. */
_Static_assert(offsetof(struct trq_hdr, lock) ==
                   (offsetof(struct trq_hdr, reload_pend_gen) + 63) / 64 * 64,
               "the reload ranges moved the fields after them");
_Static_assert(offsetof(struct trq_hdr, q_seq) ==
                   (offsetof(struct trq_hdr, repairs) + 8 + 63) / 64 * 64,
               "the audit count moved the fields after it");

/* Whether a worker should take no more tasks, finish those it runs and
 * exit 0: the daemon is draining, or the supervisor retires this one worker
 * (its record says STOPPING: fewer workers, another CPU, new settings). */
static inline int trq_worker_leaving(const struct trq_hdr *h, const struct trq_worker *w)
{
	return __atomic_load_n(&h->draining, __ATOMIC_ACQUIRE) ||
	       __atomic_load_n(&w->state, __ATOMIC_ACQUIRE) == TRQ_W_STOPPING;
}

/* A result this process read whose slot is not yet marked read in the
 * segment (see trq_flush_reads). */
struct trq_mark {
	uint64_t id;
	uint32_t idx;
};
#define TRQ_MARKS      64
#define TRQ_MARKS_KEEP 8 /* pending marks a one-at-a-time reader keeps at most */

/* A process's validated view of a mapped segment. */
struct trq {
	struct trq_hdr *hdr;
	unsigned char *base;
	size_t size;
	int fd;
	uint32_t capacity, payload_max, result_max, workers_max;
	uint32_t gen_hi_mask;  /* gen_hi bits in use: every id < 2^63 (seg_view) */
	struct trq_div capdiv; /* divides by capacity: an id's generation */
	struct trq_slot *meta;
	unsigned char *args, *out;
	uint32_t *ring[TRQ_NCLASS];
	struct trq_worker *workers;
	int64_t spin_ns;              /* how long waiters spin before sleeping */
	unsigned nap_skip, nap_fails; /* trq_nap(): chances to skip; failed naps in a row */
	int64_t nap_ns;               /* how long trq_nap() naps at most (0 at attach: TRQ_NAP_NS;
	                                 negative: never) */
	/* Read marks not yet applied: results copied without the lock are
	 * marked read at this process's next locked operation, so a client
	 * that submits and collects one task at a time takes the queue lock
	 * once per task, not twice. Guarded by mk_lock (a handle may be used
	 * by several threads). */
	pthread_mutex_t mk_lock;
	unsigned mk_n;
	struct trq_mark mk[TRQ_MARKS];
	uint64_t lock_wait_ns;  /* how long a call with no deadline of its own
	                           waits for the lock (0: 10 s) */
	uint64_t lock_spent_ns; /* 0, or: once such a call waited lock_wait_ns in
	                           vain, later ones wait only this long, for
	                           LOCK_SPENT_FOR_NS or until a call gets the lock
	                           (the supervisor's handle; one thread) */
	uint64_t lock_spent;    /* when that wait began, 0: none */
	uint64_t audit_held_ns; /* how long the last trq_audit() held the lock */
	uint64_t rt_off;        /* cached CLOCK_REALTIME - CLOCK_MONOTONIC */
	unsigned rt_calls;      /* calls since; refreshed every 64 */
	/* A hint, not state: the last work_bell through this handle woke a
	 * worker on the caller's own CPU, or the last trq_finish finished a task
	 * submitted from it. That worker or client needs this CPU, so the
	 * caller's next wait sleeps at once instead of spinning: a spinner's
	 * sched_yield does not reliably hand the CPU to a task just woken. */
	uint32_t woke_here;
	/* A hint too: when this handle last submitted, or last saw a task it
	 * waited for end. A task submitted less than spin_ns later is part of a
	 * stream, which a worker spinning on another CPU serves best (work_bell). */
	uint64_t last_ns;
	/* When a submit or a sleeping wait last asked trq_seg_orphaned (relaxed
	 * atomic: any thread of the handle). */
	uint64_t orphan_ns;
	int orphan_seen; /* once found orphaned, for good (relaxed atomic) */
	int sup_held;    /* this handle holds the supervisor lock (trq_sup_lock) */
};

/* Geometry of a new segment. */
struct trq_geom {
	uint32_t capacity, payload_max, result_max;
};

/* A task as a worker sees it after trq_take(): copied out and validated. */
struct trq_task {
	uint64_t id;
	uint32_t idx;
	int cls;
	char type[TRQ_NAME_MAX];
	uint32_t attempts, max_attempts, run_timeout_s;
	uint32_t argc;
	char **argv; /* argc words, NULL-terminated, in the caller's buffer */
	int bad;     /* non-zero: the slot failed validation; err holds why */
	char err[96];
};

/* A finished task handed back by a worker. */
struct trq_result {
	uint32_t idx;
	uint64_t id;
	int state;        /* TASKRING_DONE, TASKRING_FAILED or TASKRING_CANCELLED */
	uint32_t out_len; /* bytes of output */
	const char *out;  /* the output in private memory, copied into the slot
	                     by trq_finish; NULL: written at trq_out() (moved to
	                     the record by trq_finish when it is short) */
	int placed;       /* out is NULL and the output is where trq_out_at()
	                     says already (trq_out_place) */
};

/* ---- time and futexes -------------------------------------------------- */

/* The thread holding the queue lock, read from the lock word without the
 * lock (glibc keeps the owner's tid there for robust mutexes): a hint for
 * messages, 0 when free or when the word holds no plausible tid. */
pid_t trq_lock_holder(const struct trq *q);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns. */
uint64_t trq_now(void);
uint64_t trq_realtime(void);
/* CLOCK_BOOTTIME in seconds, + 1 (never 0): for stamps compared across
 * processes that must count a suspend too (sup_stop_s). */
uint32_t trq_boot_s(void);
/* CLOCK_REALTIME - CLOCK_MONOTONIC, read so a preemption between the clock
 * reads does not skew it. */
uint64_t trq_rt_offset(void);

/* Stores CLOCK_REALTIME - CLOCK_MONOTONIC in the header when it is unset or
 * its own reading differs by more than TRQ_RT_SLACK_NS (the wall clock was
 * set). Every process converts task times with the stored value while it
 * agrees with its own reading to within that slack, so `show` in two
 * processes prints the same submit time, not times tens of ns apart. The
 * creator and the supervisor (at adoption and each health check) call it.
 * Returns 1 when it wrote, else 0. */
#define TRQ_RT_SLACK_NS 1000000ull
int trq_clock_publish(struct trq *q);

/* Turns a relative timeout in ms (<0: none) into a monotonic deadline (0: none).
 * A timeout too long for the clock (past about 580 years) is none too: it
 * must not wrap around to a deadline already past. trq_deadline_at() does
 * the same from a clock reading the caller already has. */
uint64_t trq_deadline_ms(int64_t timeout_ms);
uint64_t trq_deadline_at(uint64_t now, int64_t timeout_ms);

/* Sleeps while *addr == val, until woken or the monotonic deadline (0: none).
 * Returns 0 (woken or value changed), -ETIMEDOUT, -EINTR. */
int trq_futex_wait(uint32_t *addr, uint32_t val, uint64_t deadline);

/* trq_futex_wait, but only wake-ups whose mask shares a bit with mask (0: all)
 * end the sleep; plain trq_futex_wake and trq_bell wake every mask. */
int trq_futex_wait_mask(uint32_t *addr, uint32_t val, uint64_t deadline, uint32_t mask);

/* Wakes up to n sleepers on addr. */
void trq_futex_wake(uint32_t *addr, int n);

/* The same; returns how many it woke. */
int trq_futex_wake_n(uint32_t *addr, int n);

/* Wakes up to n sleepers on addr whose wait mask shares a bit with mask (0:
 * all). Returns how many it woke. */
int trq_futex_wake_mask(uint32_t *addr, int n, uint32_t mask);

/* The wait mask of a sleeper on CPU cpu (-1: unknown, every bit): one bit,
 * cpu modulo 32, so CPUs 32 apart share it (that only widens a targeted wake). */
uint32_t trq_cpu_mask(int cpu);

/* Bumps a futex counter and wakes up to n sleepers when *waiters != 0. */
void trq_bell(uint32_t *seq, uint32_t *waiters, int n);

/* trq_sum() of 1 or more bytes. */
uint32_t trq_sum_bytes(uint32_t h, const void *p, size_t len);

/* A checksum over len bytes, continuing from h (start with 2166136261u).
 * Guards argument and result bytes against stray writes into the segment.
 * No bytes leave h as it is: inline, as most tasks have no arguments or no
 * output, and a call per field was 6 % of a batched client's time. */
static inline uint32_t trq_sum(uint32_t h, const void *p, size_t len)
{
	return len ? trq_sum_bytes(h, p, len) : h;
}

/* ---- segment (seg.c) ---------------------------------------------------- */

/* Bytes a segment of this geometry needs. */
size_t trq_seg_size(const struct trq_geom *g);
#define TRQ_SEG_MAX (64ull << 30) /* the largest segment trq_create makes */

/* Creates /taskring.<instance> with O_EXCL and mode (0600 or 0660 with gid
 * >= 0), sizes it, initialises header, lists and the robust mutex, maps it.
 * Returns 0, -EEXIST when it exists, or -errno. */
int trq_create(struct trq *q, const char *instance, const struct trq_geom *g, int mode, int gid);

/* Opens and maps an existing segment, checking owner (must be our euid, or
 * one of our groups with group access; root: root or the service user,
 * `taskring` or $TASKRING_SERVICE_USER), mode (no world access), magic,
 * layout and
 * size, and the geometry. Returns 0, -ENOENT, -EACCES, -TASKRING_ELAYOUT. */
int trq_attach(struct trq *q, const char *instance);

/* Unmaps and closes. Safe on a zeroed struct. */
void trq_detach(struct trq *q);

/* Removes the shared-memory name of instance. */
int trq_unlink(const char *instance);

/* Removes instance's segment when it is half made (empty, or its magic not
 * yet written) and the process that created it is gone: trq_create holds an
 * OFD lock on byte 1 of the object while its descriptor is open, and a
 * creator killed mid-way leaves a segment no attach will ever accept.
 * Returns 1 when it removed it, 0 when there is nothing to remove (no such
 * segment, not half made, or its creator still at work), or -errno. */
int trq_reap_half_made(const char *instance);

/* Takes the supervisor lock (an OFD write lock on the object) for this open
 * file. Returns 0, or -EBUSY when another live supervisor holds it. */
int trq_sup_lock(struct trq *q);

/* Returns 1 when some process holds the supervisor lock, else 0. */
int trq_sup_alive(struct trq *q);

/* Returns 1 when a supervisor holds the lock and has taken the segment over
 * (sup_pid and the rest of the header are its own), else 0. A supervisor
 * stamps sup_stop_s when it takes the lock of a segment found unstamped
 * and when it exits; trq_adopt() clears it last. */
int trq_sup_serving(struct trq *q);

#define TRQ_ORPHAN_CHECK_NS (1000ull * 1000000ull)
/* Whether q's segment was removed (no name links to it any more) while no
 * supervisor holds it: nothing will ever serve it, whatever starts under
 * its name makes a new one. Never for the supervisor's own handle. Two
 * system calls. */
int trq_seg_orphaned(struct trq *q);

/* ---- locking ------------------------------------------------------------ */

/* Locks the queue, waiting at most until the monotonic deadline (0: a
 * default of 10 s; a holder that is stopped, not dead, must not hang us).
 * On EOWNERDEAD it rebuilds the derived state before returning 0.
 * Returns 0, -ETIMEDOUT, -ENOTRECOVERABLE. */
int trq_lock(struct trq *q, uint64_t deadline);
/* (Having locked, it also applies this process's pending read marks.) */
void trq_unlock(struct trq *q);

/* ---- clients ------------------------------------------------------------ */

/* Looks up a type name in the registry: returns its index or -1. */
int trq_type_find(struct trq *q, const char *name);

/* Submits n tasks (see taskring_submit_batch). Returns the number queued or a
 * negative error (-TASKRING_ENODAEMON: the segment is orphaned, checked at
 * most once per TRQ_ORPHAN_CHECK_NS). Wakes workers. */
int trq_submit(struct trq *q, size_t n, const struct taskring_req *reqs,
               const struct taskring_opts *opts, uint64_t *ids);

/* Decodes an id into its slot index and generation (id = gen * capacity +
 * idx + 1). Returns 0 or -TASKRING_EBADID (0, or a generation past the
 * segment's). */
static inline int trq_id_split(const struct trq *q, uint64_t id, uint32_t *idx, uint64_t *gen)
{
	uint64_t g = trq_div_q(&q->capdiv, id - 1);
	if (id == 0 || g > ((uint64_t)q->gen_hi_mask << 32 | UINT32_MAX))
		return -TASKRING_EBADID;
	*idx = (uint32_t)(id - 1 - g * q->capacity);
	*gen = g;
	return 0;
}

/* Decodes an id: stores the slot index. Returns 0 or -TASKRING_EBADID. */
static inline int trq_id_slot(const struct trq *q, uint64_t id, uint32_t *idx)
{
	uint64_t gen;
	return trq_id_split(q, id, idx, &gen);
}

/* Lock-free look at task id: returns its state (>= 0), -ENOENT (never
 * issued), -TASKRING_EEXPIRED (slot reused), -TASKRING_EBADID, or
 * -TASKRING_ECORRUPT (its record is damaged, or its generation keeps
 * changing under the look: someone writes it out of turn). */
int trq_peek(struct trq *q, uint64_t id);

/* Copies task id into *info (allocating its buffer). With mark_read, marks
 * a final task's result read. A final task is copied without the queue lock
 * (its slot cannot change until it is marked read or expires; a reuse during
 * the copy is detected and reported as -TASKRING_EEXPIRED), and its read
 * mark is applied later: at this process's next trq_lock() (any submit,
 * cancel, list...), before a wait sleeps, once TRQ_MARKS_KEEP marks are pending,
 * at once when a submitter waits for free slots, at the end of a
 * trq_get_many() of several ids, and at trq_detach(). A process killed with marks
 * pending (fewer than TRQ_MARKS_KEEP) leaves those results to their TTL. Returns 0 or an error as
 * trq_peek. */
int trq_get(struct trq *q, uint64_t id, struct taskring_info *info, int mark_read);

/* trq_get for n ids under one lock. Returns 0, or the first error met (the
 * infos of ids that failed are zeroed; the others are filled). */
int trq_get_many(struct trq *q, size_t n, const uint64_t *ids, struct taskring_info *infos,
                 int mark_read);

/* Applies this process's pending read marks (see trq_get) under the lock,
 * waiting for it at most FLUSH_WAIT_NS (5 ms): a lock that cannot be had
 * leaves them pending, never delaying the caller past its own deadline. */
void trq_flush_reads(struct trq *q);

/* Waits until task id is final or the deadline (0: none). Returns 0 or as
 * trq_peek, or -ETIMEDOUT, or -TASKRING_ENODAEMON when the segment is
 * orphaned (it sleeps TRQ_ORPHAN_CHECK_NS at most at a time to look). */
int trq_wait_final(struct trq *q, uint64_t id, uint64_t deadline);

/* Cancels task id (see taskring_cancel). */
int trq_cancel(struct trq *q, uint64_t id);

/* Cancels every queued task, or those of type `type` (NULL: all), under one
 * lock; *count (may be NULL) gets how many (see taskring_cancel_queued). */
int trq_cancel_queued(struct trq *q, const char *type, uint64_t *count);

/* ---- workers ------------------------------------------------------------ */

/* Takes up to max (at most TRQ_TAKE_MAX) queued tasks of class cls for worker (widx,
 * inc), marks them RUNNING and copies each into tasks[i], argument words
 * into argbuf (trq_argbuf_size(q, max) bytes, 8-byte aligned), checking
 * lengths, words and the argument checksum (a task that fails gets bad = 1
 * and err). Returns the number taken (0 when none or draining) or a
 * negative error. */
#define TRQ_TAKE_MAX 64
int trq_take(struct trq *q, int cls, int widx, uint32_t inc, unsigned max, struct trq_task *tasks,
             void *argbuf, size_t argbuf_len);

/* Size of the argbuf trq_take needs for max tasks. */
size_t trq_argbuf_size(const struct trq *q, unsigned max);

/* The result area of slot idx (result_max bytes), written by its owner. */
char *trq_out(struct trq *q, uint32_t idx);

/* Where slot idx's output of len bytes (len <= result_max) lives: the
 * record's out_in when len <= TRQ_INLINE, else the result area. */
static inline char *trq_out_at(struct trq *q, uint32_t idx, uint32_t len)
{
	return len <= TRQ_INLINE ? q->meta[idx].out_in : trq_out(q, idx);
}

/* Where slot idx's argument bytes of len (<= payload_max) live: the
 * record's args_in when len <= TRQ_INLINE, else the argument area. */
static inline char *trq_args_at(struct trq *q, uint32_t idx, uint32_t len)
{
	return len <= TRQ_INLINE ? q->meta[idx].args_in
	                         : (char *)q->args + (size_t)idx * q->payload_max;
}

/* Puts the len output bytes at src (private memory, or the result area
 * itself) where trq_out_at() says, for a task (idx, id) its caller runs;
 * nothing when the slot holds another task now. Then a trq_result with
 * placed = 1 hands it back. */
void trq_out_place(struct trq *q, uint32_t idx, uint64_t id, const char *src, uint32_t len);

/* Hands back n finished tasks of worker (widx, inc) in one lock. Results of
 * tasks the worker no longer owns are dropped. Wakes waiters. Returns 0. */
int trq_finish(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_result *res);

/* Hands back n taken tasks (t, as trq_take filled them) that worker
 * (widx, inc) has not started: each goes back to the front of its ring in
 * its order, its attempt undone, and idle workers are woken for it. A task
 * whose cancel was asked for meanwhile ends CANCELLED instead. Tasks the
 * worker no longer owns are skipped. Returns how many went back, or -EINVAL
 * (n > 64, bad widx) or a lock error. */
int trq_giveback(struct trq *q, int widx, uint32_t inc, unsigned n, const struct trq_task *t);

/* Frees a taskring_info's buffer (its buf_; NULL: nothing): the buffers of
 * one collect of many may share a block, freed with the last of them. */
void trq_info_free(void *buf);

/* trq_info_free() of the buffers of infos[0..n), one reference count
 * update per run of buffers from the same block. */
void trq_info_free_many(const struct taskring_info *infos, size_t n);

/* The checksum kept in a slot's args_sum: over the whole type field (the
 * name, zero-padded to TRQ_NAME_MAX bytes) and then the len argument bytes.
 * type must point to TRQ_NAME_MAX readable bytes. */
uint32_t trq_args_sum(const char *type, const void *args, uint32_t len);

/* A waiter for work of class cls (counted in hdr->q_wait) is running again,
 * woken or not (it cannot tell): uncounts one woken worker, saturating at 0.
 * Call it before taking oneself out of q_wait: uncounting one too many only
 * costs someone a spare wake-up, the other order could skip a needed one.
 * trq_wait_work_w() calls it; the I/O thread's io_uring futex wait too. */
void trq_work_woke(struct trq *q, int cls);

/* Waits for tasks of class cls: returns at once when q_seq[cls] != seen,
 * else spins briefly, then sleeps until the deadline (0: none).
 * Returns 0 or -ETIMEDOUT / -EINTR. */
int trq_wait_work(struct trq *q, int cls, uint32_t seen, uint64_t deadline);

/* Waits, counted in q_wait[TASKRING_IO], for a change of the io counter
 * that is not a wake-up for new tasks: a cancel, the supervisor's kick
 * (they wake every bit; new-task wake-ups leave TRQ_IO_FULL out). For an
 * io thread that cannot take tasks (no spinning). Returns 0 or
 * -ETIMEDOUT / -EINTR. */
int trq_wait_io_full(struct trq *q, uint32_t seen, uint64_t deadline);

/* The same for worker widx, which is counted as a spinner (hdr->q_spin)
 * while it polls, so submitters skip the futex wake-up a spinner does not
 * need. trq_worker_lost() uncounts a worker killed while spinning. */
int trq_wait_work_w(struct trq *q, int cls, int widx, uint32_t seen, uint64_t deadline);

/* Coalescing under a stream of short tasks. A worker that took fewer than
 * TRQ_NAP_BELOW tasks (n, in t) and finished them, while fewer than that
 * are queued and no client waited for any of them, is keeping up with a
 * submitter task by task: every task then costs three hand-offs of the
 * queue lock between processes (submit, take, finish), which is what limits
 * a stream of one-task submits. trq_nap() lets the next tasks queue up for
 * at most q->nap_ns (plus the kernel's timer slack), so that the next
 * trq_take() gets them in one batch, or until a submit makes TRQ_NAP_FULL
 * tasks queued. Meanwhile the worker is counted as a
 * spinner (submitters make no futex call for it). It does not nap while
 * a queued task of class cls is one a client waits for, and a client that
 * starts waiting for a still-queued task wakes it at once (trq_wait_final):
 * a waiting client does not pay for a nap. A nap after which fewer
 * than TRQ_NAP_GAIN tasks are queued did not pay (the submitter has few in
 * flight): the next TRQ_NAP_SKIP << k chances are skipped, k counting such
 * naps in a row (up to 6). Per handle, so per worker process.
 * Returns 1 when it napped, 0 when it did not, or -EINVAL.
 * trq_worker_lost() uncounts a worker killed while napping. */
#define TRQ_NAP_BELOW 16
#define TRQ_NAP_NS    30000
#define TRQ_NAP_GAIN  8
#define TRQ_NAP_SKIP  64
#define TRQ_NAP_FULL  64
int trq_nap(struct trq *q, int cls, int widx, const struct trq_task *t, unsigned n);

/* ---- the supervisor ----------------------------------------------------- */

/* The safety net under work_bell's skipped wake-ups: when tasks are queued
 * (a submitter that claimed a wake-up died before making it, or a hint count
 * was written wrong), wakes every sleeper of that class, whatever the counts
 * say. Called on the supervisor's periodic check. Returns how many classes
 * had sleepers counted. */
int trq_kick(struct trq *q);

/* Writes the type registry (under the lock). Returns 0 or -ENOSPC. */
int trq_set_types(struct trq *q, const struct trq_type *types, unsigned n);

/* Adopts the segment for a new supervisor: requeues every RUNNING task
 * without charging it (one whose cancel was asked ends cancelled instead),
 * resets worker records, bumps the epoch, records our pid. Returns the
 * number of tasks requeued. */
int trq_adopt(struct trq *q);

/* What trq_worker_lost() ended FAILED because a charged attempt was its
 * last, for the supervisor's log. */
#define TRQ_LOST_FAILED_MAX 4
struct trq_lost_report {
	unsigned nfailed; /* how many; failed[] holds the first TRQ_LOST_FAILED_MAX */
	struct trq_lost_failed {
		uint64_t id;
		uint32_t attempts, max_attempts;
		/* the cause without " on attempt N of M": "worker 1 (pid 42)
		 * killed by signal 9 (SIGKILL)", "timed out after 7 s" */
		char cause[TRQ_CAUSE_MAX + 64];
	} failed[TRQ_LOST_FAILED_MAX];
};

/* Puts back the tasks of dead worker (widx, inc). charge_id: the task it was
 * executing when it died, charged an attempt with cause (e.g. "worker 1
 * (pid 42) killed by signal 9 (SIGKILL)"), 0 for none. Tasks flagged
 * TRQ_F_CANCEL end CANCELLED; TRQ_F_TIMEOUT are charged as timed out.
 * A charged task at its max_attempts ends FAILED, and is listed in *report
 * (NULL: not wanted). Others are requeued at the front, uncharged. Returns
 * the number requeued. */
int trq_worker_lost(struct trq *q, int widx, uint32_t inc, uint64_t charge_id, const char *cause,
                    struct trq_lost_report *report);

/* Checks every invariant; with repair, rebuilds on a violation and counts
 * the audit in hdr->audits. Sets q->audit_held_ns to how long it held the
 * lock (not counting the wait for it). Returns 0 when consistent, else
 * -TASKRING_ECORRUPT with the first violation in msg. */
int trq_audit(struct trq *q, int repair, char *msg, size_t msglen);

/* Read-only invariant check (takes the lock). As trq_audit without repair. */
int trq_check(struct trq *q, char *msg, size_t msglen);

/* Re-derives rings, lists and counts from the slot table, failing slots
 * that are invalid. A RUNNING task whose worker is gone is requeued, or
 * ends cancelled when its cancel was asked. Caller holds the lock. */
void trq_rebuild(struct trq *q);

/* Number of free or reclaimable slots (caller holds the lock). */
uint32_t trq_free_slots(struct trq *q, uint64_t now);

#endif
