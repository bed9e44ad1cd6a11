/*
 * stress_chaos.c - the parent's moving parts during `taskring stress`: the
 * killer, the watch on the worker records (which times each replacement),
 * the reaper that respawns killed clients, and the supervisor keeper that
 * starts the daemon again after a kill, as systemd would.
 *
 * Only the parent runs this code, single-threaded, from its main loop; all
 * of it is non-blocking. Invariants: a worker slot has at most one victim
 * awaiting replacement; only workers seen ready for at least
 * --min-uptime are signalled (so the daemon's restart policy never counts
 * our kills as early deaths); a client is respawned only after we reaped
 * it, so a slot's log has one writer at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "stress_run.h"

#define AIM_SPIN_NS    (20ull * 1000000ull)  /* how long to watch the lock for a client */
#define SUP_SETTLE_NS  (500ull * 1000000ull) /* up this long before the next kill */
#define SUP_RETRY_NS   (500ull * 1000000ull)
#define SUP_MAX_FAILS  5
#define REPLACE_MAX_NS (120ull * 1000000000ull)

uint64_t stress_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void stress_times_add(struct stress_times *t, uint64_t ns)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		uint64_t *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return; /* a sample less: the report says how many it has */
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t stress_times_pct(struct stress_times *t, unsigned p)
{
	if (!t->n)
		return 0;
	qsort(t->v, t->n, sizeof(*t->v), cmp_u64);
	size_t rank = (t->n * p + 99) / 100; /* nearest rank, 1-based */
	return t->v[rank ? rank - 1 : 0];
}

static void describe(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (SIG%s)", WTERMSIG(st),
		         cli_signal_name(WTERMSIG(st)) ? cli_signal_name(WTERMSIG(st)) : "?");
	else
		snprintf(buf, len, "changed state (0x%x)", st);
}

int stress_spawn_client(struct stress_run *R, unsigned ci)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		stress_client_main(&R->x, ci);
	__atomic_store_n(&R->x.sh->c[ci].pid, pid, __ATOMIC_RELEASE);
	R->x.sh->c[ci].spawns++;
	R->client_sig[ci] = 0;
	return 0;
}

static int stopping(const struct stress_run *R)
{
	return __atomic_load_n(&R->x.sh->stop, __ATOMIC_ACQUIRE) != 0;
}

void stress_reap(struct stress_run *R, int respawn)
{
	struct stress_shared *sh = R->x.sh;
	char how[80];
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == R->sup_child) {
			R->sup_child = 0;
			if (R->sup_state == SUP_STARTING &&
			    !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
				describe(st, how, sizeof(how));
				stress_note(
				    sh, "the --daemon-cmd (pid %d) %s before the daemon was ready",
				    (int)pid, how);
				R->sup_failures++;
				R->sup_state = SUP_RETRY;
				R->sup_retry_at = stress_now() + SUP_RETRY_NS;
			}
			continue;
		}
		unsigned ci;
		for (ci = 0; ci < sh->nclients; ci++)
			if (sh->c[ci].pid == pid)
				break;
		if (ci == sh->nclients)
			continue; /* an earlier daemon command, or a supervisor it left us */
		__atomic_store_n(&sh->c[ci].pid, 0, __ATOMIC_RELEASE);
		int ours =
		    R->client_sig[ci] && WIFSIGNALED(st) && WTERMSIG(st) == R->client_sig[ci];
		int normal = WIFEXITED(st) && WEXITSTATUS(st) == 0 && stopping(R);
		if (!ours && !normal) {
			describe(st, how, sizeof(how));
			R->client_deaths_bad++;
			stress_note(sh, "client %u (pid %d) %s%s", ci, (int)pid, how,
			            R->client_sig[ci] ? " (after our signal)" : "");
		}
		R->client_sig[ci] = 0;
		if (respawn && !stopping(R) && stress_spawn_client(R, ci) < 0)
			stress_note(sh, "fork(client %u): %s", ci, strerror(errno));
	}
}

static int sup_alive(struct stress_run *R)
{
	return trq_sup_alive(&R->q);
}

void stress_watch(struct stress_run *R, uint64_t now)
{
	struct trq_hdr *h = R->q.hdr;
	uint32_t n = __atomic_load_n(&h->nworkers, __ATOMIC_RELAXED);
	int alive = sup_alive(R);

	if (n > TRQ_WORKERS_MAX)
		n = TRQ_WORKERS_MAX;
	R->nworkers = n;
	for (uint32_t i = 0; i < TRQ_WORKERS_MAX; i++) {
		struct stress_wtrack *t = &R->w[i];
		const struct trq_worker *rec = &R->q.workers[i];
		int pid = __atomic_load_n(&rec->pid, __ATOMIC_ACQUIRE);
		uint32_t st = __atomic_load_n(&rec->state, __ATOMIC_ACQUIRE);
		int ready = alive && pid > 0 && st == TRQ_W_READY;

		if (i >= n && !t->victim && !t->pid)
			continue;
		if (pid != t->pid) {
			t->pid = pid;
			t->ready = 0;
		}
		if (ready && !t->ready) {
			t->ready = 1;
			t->ready_since = now;
		} else if (!ready) {
			t->ready = 0;
		}
		if (!t->victim)
			continue;
		if (ready && pid != t->victim) {
			stress_times_add(&R->rep, now - t->kill_ns);
			t->victim = 0;
		} else if (now - t->kill_ns > REPLACE_MAX_NS) {
			R->unreplaced++;
			stress_note(R->x.sh, "worker %u (pid %d) was not replaced within %llu s", i,
			            t->victim,
			            (unsigned long long)(REPLACE_MAX_NS / 1000000000ull));
			t->victim = 0;
		}
	}
}

int stress_pending(const struct stress_run *R)
{
	for (uint32_t i = 0; i < TRQ_WORKERS_MAX; i++)
		if (R->w[i].victim)
			return 1;
	return 0;
}

unsigned stress_ready(const struct stress_run *R)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < R->nworkers; i++)
		n += R->w[i].ready != 0;
	return n;
}

static void kill_worker(struct stress_run *R, uint64_t now)
{
	uint32_t cand[TRQ_WORKERS_MAX], n = 0;
	uint64_t up = (uint64_t)R->o.min_uptime_ms * 1000000ull;
	int pid = 0;

	for (uint32_t i = 0; i < R->nworkers; i++) {
		const struct stress_wtrack *t = &R->w[i];
		if (t->ready && !t->victim && now - t->ready_since >= up)
			cand[n++] = i;
	}
	if (!n)
		return; /* none up long enough: skip this tick */
	uint32_t i = cand[stress_rand(&R->rng, n)];
	int r = taskring_kill_worker(R->c->h, (int)i, R->o.sig, &pid);
	if (r == -EPERM && !R->kills_w) {
		stress_note(R->x.sh, "signalling worker %u: %s (the daemon runs as another user?)",
		            i, taskring_strerror(r));
		R->sup_fatal = 1; /* no kill will ever work: stop the run */
	}
	if (r < 0)
		return; /* it died or is being replaced right now */
	R->w[i].victim = pid;
	R->w[i].kill_ns = now;
	R->kills_w++;
}

static int signal_client(struct stress_run *R, unsigned ci)
{
	int pid = __atomic_load_n(&R->x.sh->c[ci].pid, __ATOMIC_ACQUIRE);
	if (pid <= 0 || R->client_sig[ci])
		return 0;
	R->client_sig[ci] = R->o.sig;
	if (kill(pid, R->o.sig) < 0) {
		R->client_sig[ci] = 0;
		return 0;
	}
	R->kills_c++;
	return 1;
}

/* Half the client kills aim at a client holding the queue lock: the robust
 * mutex's word holds its owner's thread id (clients are single-threaded, so
 * it is their pid). The rest hit a random client, mostly inside submit or
 * wait. */
static void kill_client(struct stress_run *R)
{
	struct stress_shared *sh = R->x.sh;

	if (stress_rand(&R->rng, 2) == 0) {
		int *word = &R->q.hdr->lock.__data.__lock;
		uint64_t end = stress_now() + AIM_SPIN_NS;
		unsigned i = 0;
		while ((++i & 63) || stress_now() < end) {
			int tid = __atomic_load_n(word, __ATOMIC_RELAXED) & FUTEX_TID_MASK;
			if (!tid)
				continue;
			for (unsigned ci = 0; ci < sh->nclients; ci++) {
				if (sh->c[ci].pid != tid)
					continue;
				if (signal_client(R, ci))
					R->kills_c_lock++;
				return;
			}
		}
	}
	unsigned start = stress_rand(&R->rng, sh->nclients);
	for (unsigned k = 0; k < sh->nclients; k++)
		if (signal_client(R, (start + k) % sh->nclients))
			return;
}

static void kill_supervisor(struct stress_run *R, uint64_t now)
{
	int pid = __atomic_load_n(&R->q.hdr->sup_pid, __ATOMIC_RELAXED);

	if (pid <= 0 || !sup_alive(R) || !cli_is_supervisor(pid)) {
		stress_note(R->x.sh,
		            "the supervisor pid %d in the segment is not a live taskringd: "
		            "not signalled",
		            pid);
		R->sup_deaths_bad++;
		return;
	}
	/* How many tasks were in the queue when it died: they must all survive. */
	struct trq_hdr *h = R->q.hdr;
	uint64_t inq = 0;
	for (int c = 0; c < TRQ_NCLASS; c++)
		inq += __atomic_load_n(&h->ring_count[c], __ATOMIC_RELAXED) +
		       __atomic_load_n(&h->running[c], __ATOMIC_RELAXED);
	if (kill(pid, R->o.sig) < 0)
		return;
	R->kills_s++;
	R->sup_kills_queued += inq > 0;
	R->sup_queued_sum += inq;
	R->sup_pid = pid;
	R->sup_kill_ns = now;
	R->sup_state = SUP_DYING;
	/* Its workers die with it: those replacements are the restart's. */
	for (uint32_t i = 0; i < TRQ_WORKERS_MAX; i++)
		R->w[i].victim = 0;
}

void stress_kill(struct stress_run *R, uint64_t now)
{
	unsigned t = R->o.targets, weight[3] = {0, 0, 0}, total;
	int up = R->sup_state == SUP_UP;

	if (t & STRESS_T_WORKERS && up)
		weight[0] = 6;
	if (t & STRESS_T_CLIENTS && !stopping(R))
		weight[1] = 3;
	if (t & STRESS_T_SUPERVISOR && up && now - R->sup_since >= SUP_SETTLE_NS &&
	    stress_ready(R) == R->nworkers)
		weight[2] = t == STRESS_T_SUPERVISOR ? 6 : 1;
	total = weight[0] + weight[1] + weight[2];
	if (!total)
		return;
	unsigned u = stress_rand(&R->rng, total);
	if (u < weight[0])
		kill_worker(R, now);
	else if (u < weight[0] + weight[1])
		kill_client(R);
	else
		kill_supervisor(R, now);
}

/* Starts --daemon-cmd with /bin/sh -c in its own process group, stdin from
 * /dev/null and stdout on our stderr (our stdout is the report). */
static void sup_start(struct stress_run *R, uint64_t now)
{
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		stress_note(R->x.sh, "fork(--daemon-cmd): %s", strerror(errno));
		R->sup_failures++;
		R->sup_state = SUP_RETRY;
		R->sup_retry_at = now + SUP_RETRY_NS;
		return;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		setpgid(0, 0);
		if (fd >= 0)
			dup2(fd, 0);
		dup2(2, 1);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", R->o.daemon_cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	R->sup_child = pid;
	R->sup_start_ns = now;
	R->sup_state = SUP_STARTING;
}

void stress_sup_step(struct stress_run *R, uint64_t now)
{
	uint64_t settle = (uint64_t)R->o.settle_ms * 1000000ull;

	switch (R->sup_state) {
	case SUP_UP:
		if (sup_alive(R))
			break;
		R->sup_deaths_bad++;
		stress_note(R->x.sh, "the supervisor died without being signalled by stress");
		if (!R->o.daemon_cmd) {
			R->sup_state = SUP_GONE;
			R->sup_fatal = 1;
			break;
		}
		R->sup_kill_ns = now;
		R->sup_state = SUP_DYING;
		/* fall through: it is dead already */
		/* FALLTHROUGH */
	case SUP_DYING:
		if (!sup_alive(R)) {
			sup_start(R, now);
		} else if (now - R->sup_kill_ns > settle && R->sup_pid > 0) {
			stress_note(R->x.sh,
			            "the supervisor (pid %d) was still alive %lld s after our "
			            "signal: SIGKILL",
			            R->sup_pid, (long long)(R->o.settle_ms / 1000));
			kill(R->sup_pid, SIGKILL);
			R->sup_pid = 0;
		}
		break;
	case SUP_STARTING:
		if (sup_alive(R) && R->nworkers && stress_ready(R) == R->nworkers) {
			stress_times_add(&R->sup, now - R->sup_kill_ns);
			R->sup_state = SUP_UP;
			R->sup_since = now;
			R->sup_failures = 0;
		} else if (now - R->sup_start_ns > settle) {
			stress_note(R->x.sh,
			            "the daemon started by --daemon-cmd was not ready within "
			            "%lld s",
			            (long long)(R->o.settle_ms / 1000));
			R->sup_failures = SUP_MAX_FAILS + 1;
		}
		break;
	case SUP_RETRY:
		if (now >= R->sup_retry_at)
			sup_start(R, now);
		break;
	case SUP_GONE:
		break;
	}
	if (R->sup_failures > SUP_MAX_FAILS && R->sup_state != SUP_GONE) {
		stress_note(R->x.sh,
		            "giving up: the daemon could not be started again (--daemon-cmd "
		            "failed %u times)",
		            R->sup_failures);
		R->sup_state = SUP_GONE;
		R->sup_fatal = 1;
	}
}
