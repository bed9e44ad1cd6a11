/*
 * stress_run.h - the parent's side of `taskring stress`: the state of one
 * run, shared by the orchestration (cmd_stress.c), the killer and supervisor
 * keeper (stress_chaos.c) and the final tally and report (stress_report.c).
 *
 * The parent reads the daemon's worker records and the queue lock word
 * through its own validated mapping of the segment (struct trq), never
 * trusting a pid it finds there: workers are signalled through
 * taskring_kill_worker(), which checks that the pid is a child of the live
 * supervisor, and the supervisor only after /proc confirms it is taskringd.
 */
#ifndef TR_CLI_STRESS_RUN_H
#define TR_CLI_STRESS_RUN_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli.h"
#include "queue.h"
#include "stress.h"

/* What the parent knows of one worker slot. */
struct stress_wtrack {
	int pid;              /* pid in its record, 0 none */
	int ready;            /* 1: seen ready with that pid */
	uint64_t ready_since; /* when it was first seen ready */
	int victim;           /* pid we signalled and wait to see replaced, 0 none */
	uint64_t kill_ns;     /* when we signalled it */
};

/* A growing list of durations (ns). */
struct stress_times {
	uint64_t *v;
	size_t n, cap;
};

/* The supervisor keeper's states. */
enum stress_sup { SUP_UP, SUP_DYING, SUP_STARTING, SUP_RETRY, SUP_GONE };

/* The tally of a run. */
struct stress_totals {
	uint64_t submitted, done, failed, cancelled, lost, wrong, read_expired;
	uint64_t bad_info;     /* right result, but type or words read back differ */
	uint64_t bad_failures; /* healthy tasks that failed or were cancelled unasked */
	uint64_t poison, poison_ok, poison_bad;
	uint64_t multi; /* tasks that took more than one attempt */
	uint64_t multi_ids[8];
	uint64_t in_doubt, in_doubt_found, in_doubt_stuck;
	uint64_t full, busy, timeouts;
	unsigned ready, configured; /* workers at the end */
	int invariants_ok;
	char invariants_msg[200];
	int sup_alive;
	uint64_t worker_restarts, repairs;
};

struct stress_run {
	struct cli *c;
	struct stress_opts o;
	struct stress_ctx x;
	struct trq q; /* our own view of the segment */
	uint64_t rng;
	uint64_t t0, t_end, t_stop;
	unsigned nworkers; /* configured worker count */
	struct stress_wtrack *w;
	struct stress_times rep; /* worker kill -> replacement ready */
	struct stress_times sup; /* supervisor kill -> all workers ready */
	int *client_sig;         /* per client slot: signal we sent it, 0 none */

	enum stress_sup sup_state;
	int sup_pid;     /* the supervisor we signalled */
	pid_t sup_child; /* the --daemon-cmd shell we started, 0 none */
	uint64_t sup_kill_ns, sup_since, sup_retry_at, sup_start_ns;
	unsigned sup_failures;
	int sup_fatal; /* 1: cannot go on (message in the notes) */

	uint64_t kills_w, kills_s, kills_c, kills_c_lock;
	uint64_t sup_kills_queued; /* supervisor kills while tasks were queued or running */
	uint64_t sup_queued_sum;   /* those tasks, summed over the kills */
	uint64_t client_deaths_bad, sup_deaths_bad, unreplaced;
	uint64_t restarts0, repairs0;
	int interrupted;
	struct stress_totals t;
};

/* ---- stress_chaos.c ----------------------------------------------------- */

/* Current CLOCK_MONOTONIC time in ns. */
uint64_t stress_now(void);

/* Appends a duration. */
void stress_times_add(struct stress_times *t, uint64_t ns);

/* The p-th percentile (0-100, nearest rank) in ns; 0 when empty. */
uint64_t stress_times_pct(struct stress_times *t, unsigned p);

/* Forks the client of slot ci. Returns 0 or -errno. */
int stress_spawn_client(struct stress_run *R, unsigned ci);

/* Reaps dead children: respawns clients we killed while respawn is set,
 * and notes every death nobody asked for. */
void stress_reap(struct stress_run *R, int respawn);

/* Reads the worker records: readiness, and replacements of our victims. */
void stress_watch(struct stress_run *R, uint64_t now);

/* Whether a worker replacement we wait for is still pending. */
int stress_pending(const struct stress_run *R);

/* Number of configured workers ready now. */
unsigned stress_ready(const struct stress_run *R);

/* One tick of the killer: signals one target. */
void stress_kill(struct stress_run *R, uint64_t now);

/* One step of the supervisor keeper (restarts it after our kills). */
void stress_sup_step(struct stress_run *R, uint64_t now);

/* ---- stress_report.c ---------------------------------------------------- */

/* Counts the log (and looks for in-doubt tasks in the table) into R->t. */
void stress_tally(struct stress_run *R);

/* Whether every check holds. */
int stress_passed(const struct stress_run *R);

/* Prints the table, or the JSON object. */
void stress_print_table(const struct stress_run *R, FILE *f);
void stress_print_json(const struct stress_run *R, FILE *f);

#endif
