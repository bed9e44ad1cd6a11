/*
 * stress.h - what the parts of `taskring stress` share: the options, the
 * workload (task kinds with the results they must give), the log the client
 * processes keep in a shared anonymous mapping, and the step that settles one
 * logged task.
 *
 * The log is the ground truth of the final check. Client slot i owns an
 * append-only array of records and a parallel array of task ids. Before a
 * submit call a client reserves its records (phase SUBMITTING, id 0) and
 * publishes the new end (next); the library writes each id into the log while
 * it fills the slot, under the queue lock; after the call the client marks
 * the records ACCEPTED or NOTSENT. So a client killed at any point leaves
 * each record either with an id (the task is in the queue: accepted) or
 * without one (in doubt: the submit may not have happened). A client
 * respawned into the slot carries on after `next` and settles the records
 * its predecessor left from `cnext` on. Records are never reused.
 *
 * Settling a record: wait for the task, judge it against the expected result
 * and store the verdict. Phase READING is set before the wait that marks the
 * result read, so a task whose id expired after a reader died mid-read is
 * told apart from a lost one.
 */
#ifndef TR_CLI_STRESS_H
#define TR_CLI_STRESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "taskring.h"

/* Targets of the killer. */
#define STRESS_T_WORKERS    0x1u
#define STRESS_T_SUPERVISOR 0x2u
#define STRESS_T_CLIENTS    0x4u

/* Workload mix. */
#define STRESS_MIX_CPU    0x1u
#define STRESS_MIX_IO     0x2u
#define STRESS_MIX_POISON 0x4u

/* Task kinds. */
enum stress_kind {
	STRESS_ECHO,
	STRESS_SQRT,
	STRESS_SQUARE,
	STRESS_SLEEP,
	STRESS_READ,
	STRESS_WRITE,
	STRESS_COPY,
	STRESS_POISON,
	STRESS_NKINDS
};

/* Where a record is in its life. */
enum stress_phase {
	SP_EMPTY = 0,
	SP_SUBMITTING, /* reserved; its submit call may be running */
	SP_ACCEPTED,   /* the submit returned its id */
	SP_NOTSENT,    /* the submit refused it (full, timed out) */
	SP_READING,    /* a wait that marks the result read is running */
	SP_SETTLED,    /* judged: see verdict */
};

/* What became of a task. */
enum stress_verdict {
	SV_NONE = 0,
	SV_OK,           /* done with the right result, or cancelled as asked */
	SV_WRONG,        /* done with another result */
	SV_FAILED,       /* a healthy task failed, or was cancelled unasked */
	SV_POISON_OK,    /* a poison task failed with a cause naming a signal */
	SV_POISON_BAD,   /* a poison task ended any other way */
	SV_READ_EXPIRED, /* its reader died after reading it; the id expired since */
	SV_LOST,         /* accepted, yet never final, or gone unread */
	SV_BAD_INFO,     /* the right result, but its type or words read back differ */
	SV_NVERDICTS
};

/* One logged task. 16 bytes. */
struct stress_rec {
	uint8_t kind;  /* enum stress_kind */
	uint8_t phase; /* enum stress_phase */
	uint8_t verdict;
	uint8_t state;     /* the final state seen */
	uint16_t param;    /* the kind's parameter (table index, ms, words) */
	uint16_t attempts; /* attempts the task took, once settled */
	uint8_t cancel;    /* 1: the client asked to cancel it */
	uint8_t pad_[7];
};

/* One client slot's bookkeeping, in the shared mapping. */
struct stress_cslot {
	int32_t pid;     /* the client process (parent writes) */
	uint32_t spawns; /* processes started in this slot */
	uint32_t next;   /* records reserved so far */
	uint32_t cnext;  /* records below are settled or need no settling */
	uint64_t submits, full, busy, timeouts;
};

#define STRESS_NOTES    8
#define STRESS_NOTE_LEN 240

/* The shared anonymous mapping: this header, then per client slot `cap`
 * ids and `cap` records. */
struct stress_shared {
	uint32_t stop;          /* 1: clients stop submitting, settle, exit */
	uint32_t poison_issued; /* poison tasks handed out so far */
	uint32_t nclients, cap;
	uint64_t t0_ns;             /* start of the run, CLOCK_MONOTONIC */
	uint64_t final_deadline_ns; /* clients give up settling after it */
	uint64_t overruns;          /* calls that returned past their deadline */
	uint64_t max_overrun_ns;
	uint64_t errors;   /* unexpected library errors in clients */
	uint64_t log_full; /* clients that ran out of records */
	uint32_t nnotes;   /* notes written (only the first STRESS_NOTES kept) */
	char notes[STRESS_NOTES][STRESS_NOTE_LEN];
	uint64_t ids_off, recs_off; /* byte offsets of the arrays */
	struct stress_cslot c[];
};

/* Options of a run (cmd_stress.c parses them). */
struct stress_opts {
	int64_t duration_ms;
	uint32_t kill_min_ms, kill_max_ms; /* the killer's pace, drawn from this range */
	int sig;
	unsigned targets; /* STRESS_T_* */
	unsigned mix;     /* STRESS_MIX_* */
	unsigned clients;
	const char *daemon_cmd; /* how to start the supervisor again, or NULL */
	const char *files;      /* directory for file tasks, or NULL: none */
	int json;
	uint32_t min_uptime_ms;  /* kill only workers up at least this long */
	uint32_t attempts;       /* max attempts of healthy tasks */
	int64_t poison_every_ms; /* one poison task per this many ms */
	int64_t settle_ms;       /* how long the end of a run may take */
	uint32_t window;         /* tasks a client keeps outstanding */
};

#define STRESS_NSQRT   7
#define STRESS_NSQUARE 6
#define STRESS_NIN     3  /* input files for read-file and copy-file */
#define STRESS_NOUT    16 /* output file names per client */
#define STRESS_NPOISON 4

/* The run: options, the expected results, and the shared log. Read-only in
 * the clients (they inherit it through fork). */
struct stress_ctx {
	const struct stress_opts *o;
	const char *instance;
	uint32_t nonce; /* tags this run's task arguments and files */
	char sqrt_want[STRESS_NSQRT][48];
	char square_want[STRESS_NSQUARE][48];
	struct {
		char path[PATH_MAX];
		uint64_t size;
		uint32_t crc;
		int made; /* 1: created by this run, removed at the end */
	} in[STRESS_NIN];
	struct stress_shared *sh;
	size_t sh_len;
};

/* A task request built from a record: its type, words and their storage. */
struct stress_req {
	const char *type;
	int argc;
	const char *argv[4];
	char buf[4][PATH_MAX + 64];
};

/* ---- stress_work.c: the workload ---------------------------------------- */

/* The task type of a kind ("echo", "sqrt-sum", ...). */
const char *stress_kind_type(int kind);

/* Fills the expected results and, with o->files, creates the input files.
 * Returns 0, or -errno with why in err. */
int stress_ctx_init(struct stress_ctx *x, const struct stress_opts *o, const char *instance,
                    char *err, size_t errlen);

/* Removes the files this run created in o->files (inputs and outputs). */
void stress_ctx_cleanup(struct stress_ctx *x);

/* A small PRNG (xorshift64*): returns a number in [0, n). *s must not be 0. */
uint32_t stress_rand(uint64_t *s, uint32_t n);

/* Picks a healthy kind and its parameter for a new record by the mix. */
void stress_pick(const struct stress_ctx *x, uint64_t *rng, struct stress_rec *r);

/* Builds the request of record idx of client ci into *q. */
void stress_build(const struct stress_ctx *x, unsigned ci, uint32_t idx, const struct stress_rec *r,
                  struct stress_req *q);

/* Judges a final task against its record; returns the verdict and, when it
 * is not a good one, a line saying why in note. */
int stress_judge(const struct stress_ctx *x, unsigned ci, uint32_t idx, const struct stress_rec *r,
                 const struct taskring_info *info, char *note, size_t notelen);

/* CRC-32 (IEEE 802.3, reflected, as read-file reports it). */
uint32_t stress_crc32(uint32_t crc, const void *buf, size_t len);

/* ---- stress_log.c: the shared log --------------------------------------- */

/* Maps the shared log for nclients slots of cap records each. Returns 0 or
 * -errno. */
int stress_log_map(struct stress_ctx *x, unsigned nclients, uint32_t cap);

/* Unmaps it. */
void stress_log_unmap(struct stress_ctx *x);

/* The id and record arrays of client slot ci. */
uint64_t *stress_log_ids(struct stress_shared *sh, unsigned ci);
struct stress_rec *stress_log_recs(struct stress_shared *sh, unsigned ci);

/* Keeps a note for the report (the first STRESS_NOTES only). */
void stress_note(struct stress_shared *sh, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records whether a call that had deadline (CLOCK_MONOTONIC ns) returned
 * more than STRESS_LATE_NS after it. */
#define STRESS_LATE_NS 1000000000ull
void stress_deadline_check(struct stress_shared *sh, uint64_t deadline_ns, const char *what);

/* Settles record idx of client ci: waits up to timeout_ms for the task,
 * marks it read and judges it. Returns 1 when settled (or when it needs no
 * settling), 0 when the task is not final yet. */
int stress_settle(const struct stress_ctx *x, taskring_t *h, unsigned ci, uint32_t idx,
                  int64_t timeout_ms);

/* Whether record r (with id) was accepted by the queue. */
int stress_accepted(const struct stress_rec *r, uint64_t id);

/* ---- stress_client.c: a client process ----------------------------------- */

/* Runs client slot ci until the stop flag, then settles its records and
 * exits: 0 normally, 3 when it cannot attach. Never returns. */
_Noreturn void stress_client_main(const struct stress_ctx *x, unsigned ci);

#endif
