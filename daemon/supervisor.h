/*
 * supervisor.h - taskringd's life: take the segment, run the event loop,
 * stop.
 *
 * One epoll loop watches a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGQUIT and
 * SIGHUP are blocked and read there; no signal handlers), one timerfd armed
 * for the earliest deadline (restart backoffs, kill grace, run timeouts,
 * health checks, watchdog pings, the shutdown timeout), the doorbell eventfd
 * (workers ready, cancels, timed cpu tasks started) and a pidfd per worker.
 * With nothing due the loop sleeps: an idle daemon wakes only for its health
 * check every min(workers_heartbeat_s / 2, 5) s (and watchdog pings).
 *
 * Signals: SIGTERM/SIGINT drain (no new task starts, running ones get
 * shutdown_timeout_s, then their workers are killed and the tasks requeued;
 * exit 0); SIGQUIT stops at once (tasks requeued; exit 0); SIGHUP reloads
 * the file given with -c (see tr_sup_reload). The systemd notify protocol is
 * spoken when NOTIFY_SOCKET is set. State: the struct only.
 *
 * Plugins are loaded at start, before the segment is touched (any problem
 * stops the start), and their types join the registry; the workers inherit
 * them. The supervisor is a child subreaper and kills what exec tasks leave
 * behind (orphans.h).
 */
#ifndef TR_SUPERVISOR_H
#define TR_SUPERVISOR_H

#include <stdint.h>

#include "config.h"
#include "doorbell.h"
#include "notify.h"
#include "plugins.h"
#include "pool.h"
#include "queue.h"

enum tr_sup_phase { TR_SUP_RUN = 0, TR_SUP_DRAIN, TR_SUP_QUIT };

struct tr_sup {
	struct tr_config cfg;     /* in force */
	const char *path;         /* -c FILE, NULL: built-in defaults */
	const char *instance_arg; /* -i, NULL: none */
	struct trq q;
	struct tr_pool pool;
	struct tr_doorbell bell;
	struct tr_notify notify;
	struct tr_plugins plugins; /* loaded at start, inherited by the workers */
	int epfd, sfd, tfd;
	enum tr_sup_phase phase;
	int exit_code;
	int ready_sent;                 /* READY=1 sent since start or the last reload */
	int reloading;                  /* a reload waits for the pool to converge */
	unsigned roll_done, roll_total; /* its worker changes done, and in all */
	uint32_t reload_upto;           /* the last reload ticket claimed (reload.h) */
	/* The tickets the converging reload answers, in npend ranges: one per
	 * accepted file since it began, apart where a refused file's tickets
	 * came between (published: trq_reload_pending). */
	struct trq_reload_range pend[TRQ_RELOAD_PEND];
	unsigned npend;
	uint64_t drain_deadline; /* when draining workers get SIGKILL */
	uint64_t next_check;     /* next health check */
	uint64_t audit_at;       /* no audit before this */
	uint64_t audit_sig;      /* counters seen at the last audit */
	uint64_t look_sig;       /* counters seen at the last health check */
	pid_t lock_who;          /* queue lock holder at the last health check */
	uint64_t lock_since;     /* first seen holding it */
	int lock_told;           /* sup_lock_watch() logged this holder */
	uint64_t wd_interval;    /* WATCHDOG=1 period (ns), 0: off */
	uint64_t next_wd;
	uint64_t armed;                       /* deadline the timerfd is armed for */
	char status[128];                     /* last STATUS= sent */
	uint64_t status_at;                   /* when it was sent */
	uint64_t status_key;                  /* phase, ready and wanted workers it showed */
	struct trq_type types[TRQ_TYPES_MAX]; /* the type registry it published */
	unsigned ntypes;
};

/* Starts the daemon on cfg (moved into s: the caller must not free it):
 * loads the plugins, takes the instance's segment, writes the settings and
 * type registry, sets up the loop and schedules the workers. path and instance_arg must
 * outlive s. Returns 0, or a negative error after logging why. */
/* Blocks the signals the supervisor reads through its signalfd (SIGHUP,
 * SIGTERM, SIGINT, SIGQUIT, SIGCHLD), fills set with them, and ignores
 * SIGPIPE. Called first thing in main too: a SIGHUP (reload) or SIGTERM
 * that comes while the daemon starts waits for the event loop instead of
 * killing it half way (a segment half made stays behind). */
void tr_sup_block_signals(sigset_t *set);

int tr_sup_start(struct tr_sup *s, struct tr_config *cfg, const char *path,
                 const char *instance_arg);

/* Runs the event loop until the daemon stops. Returns the exit status:
 * 0 after SIGTERM/SIGINT/SIGQUIT, 1 after giving up (too many early worker
 * deaths, a fatal worker set-up error, a broken segment). */
int tr_sup_run(struct tr_sup *s);

/* SIGHUP: reloads s->path. An invalid file, or one that needs a new
 * segment, changes nothing (logged, and answered "refused" with the error
 * to the tickets taken since the last reload began: reload.h); otherwise
 * the settings apply and the workers converge to the new count and CPU list
 * one at a time, and the answer "applied" waits until they have. A refusal
 * while an earlier reload converges answers only its own tickets; an
 * accepted file then takes over the earlier reload's tickets too. */
void tr_sup_reload(struct tr_sup *s, uint64_t now);

/* Begins stopping: graceful (drain) or at once. */
void tr_sup_stop(struct tr_sup *s, int graceful, uint64_t now);

/* Releases everything; workers still running are killed. */
void tr_sup_fini(struct tr_sup *s);

#endif
