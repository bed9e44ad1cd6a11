/*
 * supervisor.c - see supervisor.h.
 */
#include "supervisor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "cfgpaths.h"
#include "cpus.h"
#include "dconfig.h"
#include "instance.h"
#include "log.h"
#include "orphans.h"
#include "procstat.h"
#include "reload.h"
#include "sigbus.h"
#include "tasks.h"

#define NS_PER_S          1000000000ull
#define EV_SIGNAL         1ull
#define EV_TIMER          2ull
#define EV_BELL           3ull
#define EV_POOL           (1ull << 32)    /* + worker index, or TR_POOL_EV_SPARE */
#define CHECK_MAX_S       5               /* health checks at least this often */
#define AUDIT_EVERY_NS    (5 * NS_PER_S)  /* at most this often */
#define AUDIT_SHARE_MAX   1000u           /* audits: at most 1/1000 of the time */
#define AUDIT_QUIET_SLOTS 65536u          /* larger tables' audits wait for a quiet look */
#define AUDIT_BUSY_NS     (60 * NS_PER_S) /* for up to this long past due */
#define AUDIT_IDLE_NS     (60 * NS_PER_S) /* an unchanged queue: this often */
#define LOCK_STOPPED_NS   (5 * NS_PER_S)  /* a stopped holder this long is logged */
#define LOCK_HUNG_NS      (60 * NS_PER_S) /* any holder this long is logged */
#define SUP_LOCK_WAIT_NS  (2 * NS_PER_S)  /* the supervisor's lock waits, once running */
#define SUP_LOCK_SPENT_NS (1000000ull)    /* then for 5 s (LOCK_SPENT_FOR_NS) */
#define STATUS_EVERY_NS   NS_PER_S        /* STATUS= on queue changes at most this often */

static void sup_notify(struct tr_sup *s, const char *msg)
{
	int r = tr_notify_send(&s->notify, msg);
	if (r)
		tr_log_errno(LOG_WARNING, r, "sendto(NOTIFY_SOCKET, \"%.20s\")", msg);
}

void tr_sup_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGHUP);
	sigprocmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int sup_watch(struct tr_sup *s, int fd, uint64_t tag, const char *what)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		tr_log_errno(LOG_ERR, r, "epoll_ctl(ADD, %s)", what);
		return r;
	}
	return 0;
}

static uint64_t check_interval(const struct tr_config *c)
{
	unsigned secs = c->heartbeat_s / 2;
	if (secs < 1)
		secs = 1;
	if (secs > CHECK_MAX_S)
		secs = CHECK_MAX_S;
	return secs * NS_PER_S;
}

/* At start and reload: a path of the configuration that will not work here. */
static void sup_warn_path(void *arg, const char *msg)
{
	(void)arg;
	log_warn("%s", msg);
}

/* A random token, never 0: the kernel's, else the clock and pid mixed. */
static uint64_t sup_token(void)
{
	uint64_t t = 0;
	if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t))
		t = trq_now() * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid() << 32;
	return t ? t : 1;
}

int tr_sup_start(struct tr_sup *s, struct tr_config *cfg, const char *path,
                 const char *instance_arg)
{
	struct tr_cpus cpus;
	char err[1024], list[256];
	sigset_t set;
	int created, requeued, r;
	uint64_t now = trq_now();

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg; /* moved */
	tr_config_defaults(cfg);
	s->path = path;
	s->instance_arg = instance_arg;
	s->epfd = s->sfd = s->tfd = -1;
	s->q.fd = -1;
	s->bell.efd = -1;
	s->notify.fd = -1;

	r = tr_cpus_resolve(&s->cfg, &cpus, err, sizeof(err));
	if (r) {
		log_err("%s", err);
		return r;
	}
	unsigned nworkers = tr_cpus_nworkers(&s->cfg, &cpus);
	tr_cfgpaths_check(&s->cfg, sup_warn_path, NULL);
	r = tr_plugins_load(&s->plugins, s->cfg.plugins, s->cfg.n_plugins, err, sizeof(err));
	if (r) {
		log_err("%s", err);
		return r;
	}
	tr_plugins_activate(&s->plugins);
	for (size_t i = 0; i < s->plugins.nfiles; i++)
		log_info("plugin %s loaded (%u task types)", s->plugins.files[i].path,
		         s->plugins.files[i].desc->n_handlers);
	r = tr_orphans_init();
	if (r)
		tr_log_errno(LOG_WARNING, r,
		             "prctl(PR_SET_CHILD_SUBREAPER): processes exec tasks leave behind "
		             "may outlive their worker");
	struct tr_prev_sup prev;
	r = tr_instance_open(&s->q, &s->cfg, &created, &requeued, &prev, err, sizeof(err));
	if (r) {
		log_err("%s", err);
		return r;
	}
	tr_orphans_sweep_session(prev.pid, prev.sid, prev.starttime, prev.token);
	uint64_t token = sup_token(); /* the pool hands it to the workers */
	__atomic_store_n(&s->q.hdr->sup_token, token, __ATOMIC_RELAXED);
	trq_reload_pending(&s->q, NULL, 0); /* one the last supervisor left converging */
	trq_reload_roll(&s->q, 0, 0, 0);
	tr_sigbus_install(s->q.base, s->q.size, s->cfg.instance); /* shrunk by others: say so */
	r = tr_instance_settings(&s->q, &s->cfg, nworkers, check_interval(&s->cfg));
	if (r == 0) {
		memset(s->types, 0, sizeof(s->types));
		s->ntypes = tr_tasks_fill_types(s->types, TRQ_TYPES_MAX);
		r = trq_set_types(&s->q, s->types, s->ntypes);
	}
	if (r) {
		tr_log_errno(LOG_ERR, r, "writing the settings into /dev/shm/taskring.%s",
		             s->cfg.instance);
		return r;
	}

	tr_sup_block_signals(&set);
	s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sfd < 0) {
		tr_log_errno(LOG_ERR, errno, "signalfd");
		return -errno;
	}
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->tfd < 0) {
		tr_log_errno(LOG_ERR, errno, "timerfd_create");
		return -errno;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		tr_log_errno(LOG_ERR, errno, "epoll_create1");
		return -errno;
	}
	r = tr_doorbell_start(&s->bell, &s->q);
	if (r) {
		tr_log_errno(LOG_ERR, r, "starting the doorbell thread");
		return r;
	}
	if ((r = sup_watch(s, s->sfd, EV_SIGNAL, "signalfd")) ||
	    (r = sup_watch(s, s->tfd, EV_TIMER, "timerfd")) ||
	    (r = sup_watch(s, s->bell.efd, EV_BELL, "doorbell eventfd")))
		return r;

	const char *ns = getenv("NOTIFY_SOCKET");
	r = tr_notify_open(&s->notify, ns);
	if (r)
		tr_log_errno(LOG_WARNING, r, "NOTIFY_SOCKET=%s: not using it", ns);
	if (s->notify.fd >= 0) {
		s->wd_interval = tr_notify_watchdog_ns(getenv("WATCHDOG_USEC"),
		                                       getenv("WATCHDOG_PID"), getpid());
		s->next_wd = s->wd_interval ? now : 0;
	}

	r = tr_pool_init(&s->pool, &s->q, s->epfd, EV_POOL);
	if (r) {
		tr_log_errno(LOG_ERR, r, "allocating the worker table");
		return r;
	}
	s->pool.token = token;
	tr_pool_configure(&s->pool, &s->cfg, &cpus, nworkers, now);
	/* Adopted: from now on a lock that stays held costs the event loop
	 * seconds, not tens of them (workers reset it: worker.c). */
	s->q.lock_wait_ns = SUP_LOCK_WAIT_NS;
	/* One such wait in vain, then 1 ms ones for 5 s or until the lock is
	 * had again: with a stopped process holding it, each worker death
	 * would wait three times, and a few deaths together would hold up the
	 * watchdog pings for longer than WatchdogSec. */
	s->q.lock_spent_ns = SUP_LOCK_SPENT_NS;
	s->next_check = now + check_interval(&s->cfg);
	s->audit_at = now + AUDIT_EVERY_NS;

	struct trq_hdr *h = s->q.hdr;
	log_notice("taskringd %s: instance %s, %s /dev/shm/taskring.%s (capacity %u, %u tasks "
	           "queued, %d of them requeued from the last daemon's workers), %u workers on "
	           "cpus %s%s",
	           TASKRING_VERSION, s->cfg.instance, created ? "created" : "adopted",
	           s->cfg.instance, s->q.capacity, h->ring_count[0] + h->ring_count[1], requeued,
	           nworkers, tr_cpus_format(&cpus, list, sizeof(list)),
	           s->notify.fd >= 0 ? ", notifying systemd" : "");
	return 0;
}

/* Counters that change whenever the queue does: audit only after a change. */
static uint64_t sup_audit_sig(const struct trq_hdr *h)
{
	return h->submitted + h->done * 3 + h->failed * 5 + h->cancelled * 7 + h->requeued * 11;
}

/* The periodic invariant check of the whole segment (trq_audit, repairing
 * what it finds), at a health check. It holds the queue lock while it walks
 * the table (well under 1 ms at the default 4096 slots, 20-100 ms at 1 M
 * slots on the development VM), so it runs after the queue changed, at
 * most every AUDIT_EVERY_NS and 1/AUDIT_SHARE_MAX of the time, and every
 * AUDIT_IDLE_NS when it did not (damage written into an idle queue, such
 * as a running task whose finish was then dropped, must not wait for the
 * next task); and in a
 * table of more than AUDIT_QUIET_SLOTS it waits for a quiet look (no task
 * submitted or ended since the previous health check) for up to
 * AUDIT_BUSY_NS past the time it was due. (By size, not by a measured
 * time: a loaded machine must not turn a small table's audit lazy.) The
 * hot paths check what they use on their own; the audit finds what none of
 * them reads. */
static void sup_audit(struct tr_sup *s, uint64_t now)
{
	char msg[256];
	uint64_t sig = sup_audit_sig(s->q.hdr);
	int quiet = sig == s->look_sig;

	s->look_sig = sig;
	/* Due: a dead worker's tasks wait for it to be requeued. */
	int due = s->pool.audit_due;
	if (!due &&
	    (now < s->audit_at || (sig == s->audit_sig && now - s->audit_at < AUDIT_IDLE_NS)))
		return;
	if (!due && !quiet && s->q.capacity > AUDIT_QUIET_SLOTS &&
	    now - s->audit_at < AUDIT_BUSY_NS)
		return;
	int r = trq_audit(&s->q, 1, msg, sizeof(msg));
	uint64_t pace = 0;
	if (r == 0 || r == -TASKRING_ECORRUPT) {
		s->pool.audit_due = 0;
		/* The time it held the lock, not the wait for it: an audit
		 * that waited out its 2 s (SUP_LOCK_WAIT_NS) behind a stopped
		 * client must not put off the next one by 2,000 s. */
		pace = s->q.audit_held_ns * AUDIT_SHARE_MAX;
	}
	s->audit_at = trq_now() + (pace > AUDIT_EVERY_NS ? pace : AUDIT_EVERY_NS);
	if (r == -TASKRING_ECORRUPT)
		log_warn("queue audit: %s: repaired", msg);
	else if (r)
		tr_log_errno(LOG_WARNING, r, "queue audit");
	s->audit_sig = sup_audit_sig(s->q.hdr);
}

/* Puts back the header fields only the supervisor writes when another
 * process changed them (the segment is writable by the owner and the
 * configured group): the draining flag (set, it makes every worker exit),
 * the stop stamp (set, clients take the daemon for stopped), the task type
 * registry (damaged, submits fail with "unknown task type"),
 * the worker count, the live workers' records (pid, incarnation, cpu,
 * state) and the task settings. One line each in the log. Also keeps the shared
 * clock offset current (trq_clock_publish). */
static void sup_guard(struct tr_sup *s)
{
	struct trq_hdr *h = s->q.hdr;

	if (s->phase == TR_SUP_RUN && __atomic_load_n(&h->draining, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&h->draining, 0, __ATOMIC_RELEASE);
		log_warn("the segment said the daemon is draining while it runs (another "
		         "process wrote it): set back");
	}
	if (__atomic_load_n(&h->ntypes, __ATOMIC_ACQUIRE) != s->ntypes ||
	    memcmp(h->types, s->types, s->ntypes * sizeof(s->types[0])) != 0) {
		int r = trq_set_types(&s->q, s->types, s->ntypes);
		if (r)
			tr_log_errno(LOG_WARNING, r, "rewriting the task type registry");
		else
			log_warn("the task type registry in the segment was changed (by another "
			         "process): rewritten");
	}
	if (s->phase == TR_SUP_RUN && __atomic_load_n(&h->sup_stop_s, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&h->sup_stop_s, 0, __ATOMIC_RELEASE);
		log_warn("the segment said the daemon stopped while it runs (another process "
		         "wrote it): set back");
	}
	if (tr_pool_publish_count(&s->pool))
		log_warn("the worker count in the segment was changed (by another process): "
		         "rewritten");
	unsigned recs = tr_pool_guard_records(&s->pool);
	if (recs)
		log_warn("%u worker records in the segment were changed (by another process): "
		         "rewritten",
		         recs);
	uint64_t chk = check_interval(&s->cfg);
	if (tr_instance_settings_differ(&s->q, &s->cfg, chk)) {
		int r = tr_instance_settings(&s->q, &s->cfg,
		                             __atomic_load_n(&h->nworkers, __ATOMIC_RELAXED), chk);
		if (r)
			tr_log_errno(LOG_WARNING, r, "rewriting the task settings in the segment");
		else
			log_warn("the task settings in the segment (max attempts, run timeout, "
			         "result TTL) were changed (by another process): rewritten");
	}
	trq_clock_publish(&s->q); /* the wall clock was set, or the field damaged */
}

/* Logs, once per holder, a queue lock that one thread keeps: stopped (a
 * client suspended with Ctrl-Z inside a call) for LOCK_STOPPED_NS, or in any
 * state for LOCK_HUNG_NS. Every client and worker waits until it lets go.
 * Sampled at health checks: a busy client seen holding it at a few checks
 * in a row is not stopped, and not seen at every check for a minute.
 * Returns 1 when the same stopped process held it at the last check and
 * holds it now: the health check's locked steps would only wait. */
static int sup_lock_watch(struct tr_sup *s, uint64_t now)
{
	struct tr_procstat ps;
	pid_t who = trq_lock_holder(&s->q);

	if (who != s->lock_who) {
		s->lock_who = who;
		s->lock_since = now;
		s->lock_told = 0;
		return 0;
	}
	if (!who || tr_procstat_read(who, &ps) != 0)
		return 0;
	int stopped = ps.state == 'T' || ps.state == 't';
	uint64_t held = now - s->lock_since;
	if (s->lock_told || held < (stopped ? LOCK_STOPPED_NS : LOCK_HUNG_NS))
		return stopped;
	char desc[128];
	s->lock_told = 1;
	tr_proc_describe(who, desc, sizeof(desc));
	log_warn("the queue lock has been held for %llu s by %s: every client and worker waits "
	         "for it until that process is continued or killed",
	         (unsigned long long)(held / NS_PER_S), desc);
	return stopped;
}

/* Tells systemd that the reload its RELOADING=1 began is over for it: the
 * file was refused, or taken and being applied (the workers follow one at a
 * time, each finishing its tasks first, which may take longer than systemd
 * lets a reload take: TimeoutStartSec=). Not before the first READY=1 (a
 * reload while starting: that comes once every worker is ready), nor while
 * stopping. */
static void sup_reload_heard(struct tr_sup *s)
{
	if (s->phase == TR_SUP_RUN && s->ready_sent)
		sup_notify(s, "READY=1");
}

/* Ends a reload: answers the n tickets from `from` on. A reload taken while
 * the daemon was starting brings its first READY=1 once it converged. */
static void sup_reload_answer(struct tr_sup *s, uint32_t from, uint32_t n, int ok, const char *why)
{
	trq_reload_publish(&s->q, from, n, ok, why);
	trq_reload_claimed(&s->q, s->reload_upto);
	if (ok)
		log_notice("reload complete: %u workers", s->pool.nwant);
	if (!s->reloading && ok && s->phase == TR_SUP_RUN && !s->ready_sent) {
		s->ready_sent = 1;
		sup_notify(s, "READY=1");
	}
}

/* Ends the reload that waits for the pool to converge. */
static void sup_reload_done(struct tr_sup *s, int ok, const char *why)
{
	s->reloading = 0;
	for (unsigned i = 0; i + 1 < s->npend; i++)
		trq_reload_publish(&s->q, s->pend[i].from, s->pend[i].n, ok, why);
	sup_reload_answer(s, s->pend[s->npend - 1].from, s->pend[s->npend - 1].n, ok, why);
	trq_reload_pending(&s->q, NULL, 0); /* after the answers: see trq_reload_find */
	trq_reload_roll(&s->q, 0, 0, 0);
	s->npend = 0;
}

/* Publishes how far the converging reload got, for `taskring reload`: its
 * worker changes done of how many, and by when the rest should be done. */
static void sup_reload_progress(struct tr_sup *s, uint64_t now)
{
	uint64_t by;
	unsigned left = tr_pool_roll_left(&s->pool, now, &by);

	if (s->roll_done + left > s->roll_total)
		s->roll_total = s->roll_done + left; /* more to do: a worker died */
	else
		s->roll_done = s->roll_total - left;
	trq_reload_roll(&s->q, s->roll_done, s->roll_total, by);
}

/* Adds tickets to those the converging reload answers. They follow the
 * last range, or come after tickets a refusal answered. A range never grows
 * over those: their answer may have left the ring by the time their client
 * looks, which must then learn so, not read this reload's answer. Past
 * TRQ_RELOAD_PEND ranges the oldest is dropped unanswered: its clients,
 * finding no answer and their tickets not pending, ask again. There is
 * always one range, if empty (sup_reload_done answers the last). */
static void sup_reload_pend(struct tr_sup *s, uint32_t from, uint32_t n)
{
	if (s->npend > 0) {
		struct trq_reload_range *last = &s->pend[s->npend - 1];
		if (from == last->from + last->n) {
			last->n += n;
			return;
		}
		if (n == 0) /* a SIGHUP sent by hand: nothing to answer */
			return;
	}
	if (s->npend == TRQ_RELOAD_PEND) {
		log_notice("reload: more than %u files taken while workers are replaced, with "
		           "refused ones between: the clients of the oldest are told to ask again",
		           TRQ_RELOAD_PEND);
		memmove(&s->pend[0], &s->pend[1], (TRQ_RELOAD_PEND - 1) * sizeof(s->pend[0]));
		s->npend--;
	}
	s->pend[s->npend].from = from;
	s->pend[s->npend].n = n;
	s->npend++;
}

void tr_sup_reload(struct tr_sup *s, uint64_t now)
{
	struct tr_config nc;
	struct tr_cpus cpus;
	char err[4096], msg[256];
	uint32_t from, nt;
	int r;

	/* The file read below was written before these tickets were taken. */
	nt = trq_reload_claim(&s->q, &s->reload_upto, &from);
	if (s->phase != TR_SUP_RUN) {
		log_notice("SIGHUP ignored: the daemon is stopping");
		sup_reload_answer(s, from, nt, 0, "the daemon is stopping");
		return;
	}
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)(now / 1000));
	sup_notify(s, msg);
	if (!s->path) {
		log_notice("SIGHUP: started without -c, nothing to reload");
		sup_reload_answer(s, from, nt, 0,
		                  "the daemon was started without -c: there is no file to reload");
		sup_reload_heard(s);
		return;
	}
	log_notice("SIGHUP: reloading %s", s->path);
	r = tr_dconfig_load(s->path, s->instance_arg, &nc, err, sizeof(err));
	if (r == 0 && tr_cpus_resolve(&nc, &cpus, msg, sizeof(msg)) != 0) {
		snprintf(err, sizeof(err), "%s: %s", s->path, msg);
		r = -EINVAL;
	}
	if (r == 0 && tr_dconfig_needs_restart(&s->cfg, &nc, msg, sizeof(msg))) {
		snprintf(err, sizeof(err), "%s: %s", s->path, msg);
		r = -EINVAL;
	}
	if (r) {
		/* Log every line; the header gets them too (as many as fit). */
		for (char *line = err, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			log_err("reload refused, keeping the running configuration: %s", line);
			if (next)
				next[-1] = '\n';
		}
		tr_config_free(&nc);
		/* An earlier reload still converging goes on; it answers its own. */
		sup_reload_answer(s, from, nt, 0, err);
		sup_reload_heard(s);
		return;
	}
	const char *renew = tr_config_worker_change(&s->cfg, &nc); /* a literal: outlives both */
	tr_config_free(&s->cfg);
	s->cfg = nc; /* moved: the pool's pointer to s->cfg stays valid */
	tr_cfgpaths_check(&s->cfg, sup_warn_path, NULL);
	tr_log_set_level(s->cfg.log_level);
	unsigned n = tr_cpus_nworkers(&s->cfg, &cpus);
	r = tr_instance_settings(&s->q, &s->cfg, n, check_interval(&s->cfg));
	if (r)
		tr_log_errno(LOG_WARNING, r, "writing the new settings into the segment");
	tr_pool_configure(&s->pool, &s->cfg, &cpus, n, now);
	if (renew) {
		tr_pool_renew(&s->pool);
		log_notice("reload: %s changed, which workers read when they start: restarting "
		           "them one at a time",
		           renew);
	}
	s->next_check = now + check_interval(&s->cfg);
	/* Answered once the pool converged, with the tickets of an earlier
	 * reload still converging: this file replaced theirs. */
	if (!s->reloading)
		s->npend = 0;
	s->roll_done = s->roll_total = 0; /* counted anew towards this file */
	sup_reload_pend(s, from, nt);
	trq_reload_pending(&s->q, s->pend, s->npend);
	trq_reload_claimed(&s->q, s->reload_upto);
	s->reloading = 1;
	log_notice("reload: applying %s (%u workers on cpus %s)", s->path, n,
	           tr_cpus_format(&cpus, msg, sizeof(msg)));
	sup_reload_heard(s);
}

void tr_sup_stop(struct tr_sup *s, int graceful, uint64_t now)
{
	struct trq_hdr *h = s->q.hdr;
	unsigned live = tr_pool_live(&s->pool, NULL);

	if (s->phase == TR_SUP_QUIT || (s->phase == TR_SUP_DRAIN && graceful))
		return;
	if (s->phase == TR_SUP_RUN)
		sup_notify(s, "STOPPING=1");
	__atomic_store_n(&h->draining, 1, __ATOMIC_RELEASE);
	for (int c = 0; c < TRQ_NCLASS; c++)
		trq_bell(&h->q_seq[c], &h->q_wait[c], INT_MAX);
	if (graceful && s->cfg.shutdown_timeout_s > 0) {
		s->phase = TR_SUP_DRAIN;
		s->drain_deadline = now + s->cfg.shutdown_timeout_s * NS_PER_S;
		tr_pool_stop_all(&s->pool, 0, now);
		log_notice("stopping: %u workers finish their running tasks (up to %u s); queued "
		           "tasks stay queued",
		           live, s->cfg.shutdown_timeout_s);
	} else {
		s->phase = TR_SUP_QUIT;
		tr_pool_stop_all(&s->pool, 1, now);
		log_notice("stopping now: killing %u workers; their tasks go back to the queue",
		           live);
	}
	/* After the phase changed: a stopping daemon sends no READY=1. */
	if (s->reloading)
		sup_reload_done(
		    s, 0,
		    "the daemon is stopping: the file was read, but not all workers run "
		    "it yet");
}

/* SIGTERM or SIGINT. The first stops gracefully. During that stop a second
 * SIGINT (Ctrl-C pressed twice) stops now, as SIGQUIT does; a repeated
 * SIGTERM does not, since scripts and init systems repeat it while they wait
 * (`while kill PID; do sleep 1; done`), and is only logged. */
static void sup_stop_signal(struct tr_sup *s, int signo, uint64_t now)
{
	const char *name = signo == SIGTERM ? "SIGTERM" : "SIGINT";

	if (s->phase != TR_SUP_DRAIN) {
		log_notice("%s received", name);
		tr_sup_stop(s, 1, now);
	} else if (signo == SIGINT) {
		log_notice("SIGINT received again while stopping: stopping now");
		tr_sup_stop(s, 0, now);
	} else {
		uint64_t left = s->drain_deadline > now ? s->drain_deadline - now : 0;
		log_notice("SIGTERM received again: already stopping, workers killed in %llu s "
		           "(SIGINT or SIGQUIT stops now)",
		           (unsigned long long)((left + NS_PER_S - 1) / NS_PER_S));
	}
}

/* Pending signals come out of the signalfd lowest number first, each at
 * most once (a second one of a kind merges with the first while pending).
 * SIGTERM and SIGINT found pending together are two stop requests: SIGTERM
 * is taken first, so that the SIGINT stops now (read in number order, the
 * SIGINT would begin the graceful stop and the SIGTERM only be logged). */
static void sup_signals(struct tr_sup *s, uint64_t now)
{
	struct signalfd_siginfo si[8];
	ssize_t n;

	while ((n = read(s->sfd, si, sizeof(si))) > 0) {
		size_t cnt = (size_t)n / sizeof(si[0]);
		int term = 0, intr = 0;
		for (size_t i = 0; i < cnt; i++) {
			term |= si[i].ssi_signo == SIGTERM;
			intr |= si[i].ssi_signo == SIGINT;
		}
		if (term)
			sup_stop_signal(s, SIGTERM, now);
		if (intr)
			sup_stop_signal(s, SIGINT, now);
		for (size_t i = 0; i < cnt; i++) {
			switch (si[i].ssi_signo) {
			case SIGCHLD:
				tr_pool_reap_all(&s->pool, now);
				tr_pool_step(&s->pool, now); /* replace the dead at once */
				tr_orphans_sweep(&s->pool);
				break;
			case SIGQUIT:
				log_notice("SIGQUIT received");
				tr_sup_stop(s, 0, now);
				break;
			case SIGHUP:
				tr_sup_reload(s, now);
				break;
			}
		}
	}
}

/* What the worker part of a STATUS= line shows. */
static uint64_t sup_status_key(const struct tr_sup *s, unsigned ready)
{
	return ((uint64_t)s->phase << 40) | ((uint64_t)ready << 20) | s->pool.nwant;
}

/* READY=1 once every worker is ready; STATUS= when it changes. */
static void sup_status(struct tr_sup *s, int converged, uint64_t now)
{
	struct trq_hdr *h = s->q.hdr;
	unsigned ready, queued, running;
	char text[sizeof(s->status)], msg[sizeof(s->status) + 16];

	if (s->notify.fd < 0)
		return;
	tr_pool_live(&s->pool, &ready);
	queued = __atomic_load_n(&h->ring_count[0], __ATOMIC_RELAXED) +
	         __atomic_load_n(&h->ring_count[1], __ATOMIC_RELAXED);
	running = __atomic_load_n(&h->running[0], __ATOMIC_RELAXED) +
	          __atomic_load_n(&h->running[1], __ATOMIC_RELAXED);
	if (s->phase != TR_SUP_RUN)
		snprintf(text, sizeof(text), "stopping: %u workers left, %u queued",
		         tr_pool_live(&s->pool, NULL), queued);
	else
		snprintf(text, sizeof(text), "%u of %u workers ready, %u queued, %u running", ready,
		         s->pool.nwant, queued, running);
	uint64_t key = sup_status_key(s, ready);
	int send_ready = converged && !s->ready_sent && s->phase == TR_SUP_RUN && !s->reloading;
	if (!send_ready) {
		if (strcmp(text, s->status) == 0)
			return;
		/* Worker changes go out at once; queue counts at most once a second. */
		if (key == s->status_key && now - s->status_at < STATUS_EVERY_NS)
			return;
	}
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", send_ready ? "READY=1\n" : "", text);
	sup_notify(s, msg);
	s->ready_sent |= send_ready;
	snprintf(s->status, sizeof(s->status), "%s", text);
	s->status_at = now;
	s->status_key = key;
}

/* Arms the timerfd for the earliest deadline (or disarms it). */
static void sup_arm(struct tr_sup *s)
{
	uint64_t next = tr_pool_next_deadline(&s->pool);

#define TAKE(t)                                                                                    \
	do {                                                                                       \
		uint64_t t_ = (t);                                                                 \
		if (t_ && (!next || t_ < next))                                                    \
			next = t_;                                                                 \
	} while (0)
	if (tr_pool_live(&s->pool, NULL) || s->reloading) /* the latter: reload progress */
		TAKE(s->next_check);
	TAKE(s->next_wd);
	if (s->phase == TR_SUP_DRAIN)
		TAKE(s->drain_deadline);
#undef TAKE
	if (next == s->armed)
		return;
	struct itimerspec its = {0};
	if (next) {
		its.it_value.tv_sec = (time_t)(next / NS_PER_S);
		its.it_value.tv_nsec = (long)(next % NS_PER_S);
	}
	if (timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		tr_log_errno(LOG_ERR, errno, "timerfd_settime");
	else
		s->armed = next;
}

/* Whether the segment's name was removed (rm /dev/shm/taskring.X while
 * the daemon runs): no new client can reach this daemon any more, and a
 * taskringd started for the instance makes a new segment and runs beside
 * it. Then the daemon stops as for SIGTERM, so that the running tasks of
 * clients attached before finish for them, and exits 1 (systemd's
 * Restart=on-failure starts a daemon with a new segment). Lock-free. */
static void sup_unlinked(struct tr_sup *s, uint64_t now)
{
	struct stat st;

	if (s->phase != TR_SUP_RUN)
		return;
	if (fstat(s->q.fd, &st) < 0) {
		tr_log_errno(LOG_WARNING, errno, "fstat(/dev/shm/taskring.%s)", s->cfg.instance);
		return;
	}
	if (st.st_nlink > 0)
		return;
	log_err("/dev/shm/taskring.%s was removed by another process: no new client can "
	        "reach this daemon; stopping (exit status 1; a new taskringd makes a new "
	        "segment, and the %u queued tasks of this one are lost)",
	        s->cfg.instance,
	        __atomic_load_n(&s->q.hdr->ring_count[0], __ATOMIC_RELAXED) +
	            __atomic_load_n(&s->q.hdr->ring_count[1], __ATOMIC_RELAXED));
	sup_notify(s, "STATUS=the segment was removed by another process: stopping");
	s->exit_code = 1;
	tr_sup_stop(s, 1, now);
}

/* Time-driven work that is due. */
static void sup_deadlines(struct tr_sup *s, uint64_t now)
{
	if (now >= s->next_check) {
		s->next_check = now + check_interval(&s->cfg);
		sup_unlinked(s, now);
		/* First, and lock-free: the steps below take the lock, and while a
		 * stopped process holds it they would only wait (SUP_LOCK_WAIT_NS
		 * each), keeping the loop from the watchdog and worker deaths. */
		if (sup_lock_watch(s, now)) {
			s->pool.lock_stuck_ns = now;
		} else {
			tr_pool_check(&s->pool, now);
			if (trq_kick(&s->q))
				log_debug("queued tasks with every worker asleep: woke them");
			tr_orphans_sweep(&s->pool);
			sup_guard(s);
			sup_audit(s, now);
		}
	}
	if (s->next_wd && now >= s->next_wd) {
		sup_notify(s, "WATCHDOG=1");
		s->next_wd = now + s->wd_interval;
	}
	if (s->phase == TR_SUP_DRAIN && now >= s->drain_deadline) {
		unsigned live = tr_pool_live(&s->pool, NULL);
		log_notice("shutdown_timeout_s (%u s) reached: killing %u workers; their tasks go "
		           "back to the queue",
		           s->cfg.shutdown_timeout_s, live);
		s->phase = TR_SUP_QUIT;
		tr_pool_stop_all(&s->pool, 1, now);
	}
	tr_pool_tick(&s->pool, now);
}

int tr_sup_run(struct tr_sup *s)
{
	struct epoll_event evs[32];

	for (;;) {
		uint64_t now = trq_now();
		int converged = tr_pool_step(&s->pool, now);
		if (s->pool.fatal && s->phase != TR_SUP_QUIT) {
			log_err("%s", s->pool.fatal_msg);
			char msg[300];
			snprintf(msg, sizeof(msg), "STATUS=%s", s->pool.fatal_msg);
			sup_notify(s, msg);
			s->exit_code = 1;
			tr_sup_stop(s, 0, now);
		}
		if (s->phase != TR_SUP_RUN && tr_pool_live(&s->pool, NULL) == 0)
			break;
		if (converged && s->reloading)
			sup_reload_done(s, 1, "");
		else if (s->reloading)
			sup_reload_progress(s, now);
		sup_status(s, converged, now);
		sup_arm(s);

		int n = epoll_wait(s->epfd, evs, 32, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			tr_log_errno(LOG_ERR, errno, "epoll_wait");
			s->exit_code = 1;
			tr_sup_stop(s, 0, trq_now());
			continue;
		}
		now = trq_now();
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			if (tag >= EV_POOL) {
				tr_pool_event(&s->pool, tag - EV_POOL, now);
				/* A dead worker's replacement starts before the other
				 * events (the signalfd's sweep of /proc, say) are handled. */
				tr_pool_step(&s->pool, now);
			} else if (tag == EV_SIGNAL) {
				sup_signals(s, now);
			} else if (tag == EV_BELL) {
				tr_doorbell_clear(&s->bell);
				tr_pool_doorbell(&s->pool, now);
			} else if (tag == EV_TIMER) {
				uint64_t exp;
				ssize_t r = read(s->tfd, &exp, sizeof(exp));
				(void)r;
				s->armed = 0;
			}
		}
		sup_deadlines(s, now);
	}
	log_notice("stopped (exit status %d)", s->exit_code);
	return s->exit_code;
}

void tr_sup_fini(struct tr_sup *s)
{
	if (s->pool.w)
		tr_pool_fini(&s->pool);
	/* What the killed workers' programs left. All gone: the next
	 * supervisor has nothing of ours to look for. */
	if (tr_orphans_drain(NULL, 1000) == 0 && s->q.base && s->q.sup_held) {
		__atomic_store_n(&s->q.hdr->sup_token, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->q.hdr->sup_sid, 0, __ATOMIC_RELAXED);
	}
	/* For clients that find no daemon: one that stopped moments ago is
	 * most likely restarting (taskring_daemon_stopped_s). */
	if (s->q.base && s->q.sup_held)
		__atomic_store_n(&s->q.hdr->sup_stop_s, trq_boot_s(), __ATOMIC_RELEASE);
	tr_plugins_free(&s->plugins);
	if (s->bell.running || s->bell.efd >= 0)
		tr_doorbell_stop(&s->bell);
	tr_notify_close(&s->notify);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->sfd >= 0)
		close(s->sfd);
	if (s->tfd >= 0)
		close(s->tfd);
	s->epfd = s->sfd = s->tfd = -1;
	if (s->q.base)
		trq_detach(&s->q);
	tr_config_free(&s->cfg);
}
