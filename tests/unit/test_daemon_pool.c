/*
 * test_daemon_pool.c - the supervisor's worker pool with stand-in workers
 * (daemon/pool.c): the paths real workers rarely take on their own.
 *
 * Each scenario sets what the forked child does instead of the real worker:
 * report ready and then stop beating (hung), take a task and ignore SIGTERM
 * past its run timeout (kill grace, then SIGKILL), fail its set-up with exit
 * status 2 (fatal, no retry loop), or die at once (backoff, then give up).
 * The test plays the supervisor loop: epoll on the pidfds, doorbell, tick,
 * check and step. Everything runs in its own process group; the segment is
 * removed at the end and by the watchdog alarm.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "config.h"
#include "cpus.h"
#include "log.h"
#include "pool.h"
#include "queue.h"
#include "tap.h"

#define NS_PER_MS 1000000ull
#define EV_BASE   100

enum mode { M_HUNG, M_IGNORE_TERM, M_FATAL, M_DIE };

static char instance[40];
static enum mode mode;

static void cleanup(void)
{
	if (instance[0])
		trq_unlink(instance);
}

static void on_alarm(int sig)
{
	static const char msg[] = "not ok - watchdog: test ran past its deadline\n";
	(void)sig;
	ssize_t w = write(1, msg, sizeof(msg) - 1);
	(void)w;
	cleanup();
	kill(0, SIGKILL);
}

static void ready(struct tr_pool *p, unsigned index, uint32_t inc)
{
	struct trq_hdr *h = p->q->hdr;
	__atomic_store_n(&p->q->workers[index].ready_inc, inc, __ATOMIC_RELEASE);
	trq_bell(&h->sup_seq, &h->sup_wait, 1);
}

/* The stand-in worker. */
static void child(struct tr_pool *p, unsigned index, uint32_t inc, int cpu)
{
	(void)cpu;
	switch (mode) {
	case M_HUNG:
		ready(p, index, inc);
		for (;;)
			pause(); /* no heartbeat ever */
	case M_IGNORE_TERM: {
		struct trq_task t;
		static char argbuf[1 << 16];
		signal(SIGTERM, SIG_IGN);
		ready(p, index, inc);
		while (trq_take(p->q, TASKRING_CPU, (int)index, inc, 1, &t, argbuf,
		                sizeof(argbuf)) != 1)
			usleep(1000);
		__atomic_store_n(&p->q->workers[index].cur_cpu, t.id, __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	case M_FATAL:
		_exit(2);
	case M_DIE:
		ready(p, index, inc);
		_exit(1);
	}
	_exit(3);
}

/* Plays the supervisor's loop until done() or secs pass. Returns done(). */
static int pump(struct tr_pool *p, int epfd, double secs, int (*done)(struct tr_pool *))
{
	uint64_t end = trq_now() + (uint64_t)(secs * 1e9), next_check = 0;

	while (!done(p) && !p->fatal && trq_now() < end) {
		uint64_t now = trq_now();
		struct epoll_event ev[8];
		tr_pool_step(p, now);
		tr_pool_doorbell(p, now);
		if (now >= next_check) {
			tr_pool_check(p, now);
			next_check = now + 200 * NS_PER_MS;
		}
		tr_pool_tick(p, now);
		int n = epoll_wait(epfd, ev, 8, 20);
		now = trq_now();
		for (int i = 0; i < n; i++)
			tr_pool_reap(p, (unsigned)(ev[i].data.u64 - EV_BASE), now);
	}
	return done(p);
}

static uint32_t first_pid;
static int replaced(struct tr_pool *p)
{
	return p->w[0].pid && (uint32_t)p->w[0].pid != first_pid && p->w[0].ready;
}
static int is_ready(struct tr_pool *p)
{
	return p->w[0].pid && p->w[0].ready;
}
static int never(struct tr_pool *p)
{
	(void)p;
	return 0;
}

static uint64_t task_id;
static int task_final(struct tr_pool *p)
{
	int st = trq_peek(p->q, task_id);
	return st == TASKRING_FAILED || st == TASKRING_DONE || st == TASKRING_CANCELLED;
}

/* A fresh pool over q with one worker. */
static void setup(struct tr_pool *p, struct trq *q, int epfd, struct tr_config *c,
                  struct tr_cpus *cpus)
{
	tr_pool_init(p, q, epfd, EV_BASE);
	p->child = child;
	tr_pool_configure(p, c, cpus, 1, trq_now());
}

int main(void)
{
	struct trq q;
	struct trq_geom g = {64, 256, 256};
	struct tr_config c;
	struct tr_cpus cpus;
	struct tr_pool p;
	char err[256];

	if (getenv("TASKRING_VALGRIND")) {
		printf("1..0 # SKIP valgrind 3.19 does not implement pidfd_open\n");
		return 0;
	}
	setpgid(0, 0);
	/* The pool's log lines only when asked for (TR_TEST_VERBOSE=1). */
	tr_log_init("test_daemon_pool", getenv("TR_TEST_VERBOSE") ? LOG_DEBUG : LOG_ERR);
	signal(SIGALRM, on_alarm);
	alarm(120);
	snprintf(instance, sizeof(instance), "t-pool-%d", (int)getpid());
	if (trq_create(&q, instance, &g, 0600, -1)) {
		printf("not ok 1 - trq_create\n1..1\n");
		return 1;
	}
	struct trq_type types[] = {{"t", TASKRING_CPU, 0}};
	trq_set_types(&q, types, 1);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	tr_config_defaults(&c);
	c.heartbeat_s = 1;
	c.kill_grace_ms = 300;
	c.restart_min_uptime_ms = 5000;
	c.restart_backoff_ms = 50;
	c.restart_backoff_max_ms = 200;
	c.restart_max_early_exits = 3;
	c.restart_window_s = 60;
	tr_cpus_resolve(&c, &cpus, err, sizeof(err));

	/* ---- a worker whose heartbeat stops is killed and replaced ---- */
	mode = M_HUNG;
	setup(&p, &q, epfd, &c, &cpus);
	ok(pump(&p, epfd, 10, is_ready), "stand-in worker ready");
	first_pid = (uint32_t)p.w[0].pid;
	uint64_t before_ns = trq_now();
	ok(pump(&p, epfd, 20, replaced), "a worker without heartbeat is replaced");
	ok(strstr(q.workers[0].last_exit, "killed by signal 9 (SIGKILL) (no heartbeat)") != NULL,
	   "its record says why: %s", q.workers[0].last_exit);
	uint64_t lost = __atomic_load_n(&q.workers[0].lost_ns, __ATOMIC_ACQUIRE);
	ok(lost > before_ns && lost <= trq_now(), "and when the supervisor reaped it");
	is_int(p.fatal, 0, "hung workers that had been ready are not early deaths");
	tr_pool_fini(&p);

	/* ---- run timeout with a worker ignoring SIGTERM: SIGKILL after the grace ---- */
	mode = M_IGNORE_TERM;
	setup(&p, &q, epfd, &c, &cpus);
	struct taskring_opts o = {.max_attempts = 1, .run_timeout_s = 1};
	struct taskring_req req = {"t", 0, NULL};
	is_int(trq_submit(&q, 1, &req, &o, &task_id), 1, "task submitted");
	uint64_t t0 = trq_now();
	ok(pump(&p, epfd, 30, task_final), "the timed-out task ended");
	double took = (double)(trq_now() - t0) / 1e9;
	struct taskring_info info;
	memset(&info, 0, sizeof(info));
	is_int(trq_get(&q, task_id, &info, 0), 0, "task readable");
	is_int(info.state, TASKRING_FAILED, "it failed");
	is_str(info.output, "timed out after 1 s on attempt 1 of 1", "as timed out");
	taskring_info_release(&info);
	ok(took >= 1.3, "SIGTERM was ignored: SIGKILL came after kill_grace_ms (%.2f s)", took);
	ok(strstr(q.workers[0].last_exit, "killed by signal 9 (SIGKILL) (run timeout)") != NULL,
	   "the worker record: %s", q.workers[0].last_exit);
	tr_pool_fini(&p);

	/* ---- exit status 2 before ready: fatal, no retry loop ---- */
	mode = M_FATAL;
	setup(&p, &q, epfd, &c, &cpus);
	pump(&p, epfd, 10, never);
	is_int(p.fatal, 1, "a set-up failure (exit 2) makes the pool give up");
	ok(strstr(p.fatal_msg, "worker 0 failed to set up (exit status 2") != NULL, "%s",
	   p.fatal_msg);
	is_int(p.w[0].restart_at, 0, "and no restart is scheduled");
	tr_pool_fini(&p);

	/* ---- early deaths back off, then the pool gives up ---- */
	mode = M_DIE;
	uint32_t restarts0 = q.workers[0].restarts;
	setup(&p, &q, epfd, &c, &cpus);
	t0 = trq_now();
	pump(&p, epfd, 30, never);
	took = (double)(trq_now() - t0) / 1e9;
	is_int(p.fatal, 1, "more than max_early_exits early deaths: give up");
	ok(strstr(p.fatal_msg, "4 workers died within 5000 ms of starting") != NULL, "%s",
	   p.fatal_msg);
	ok(took >= 0.05 + 0.1 + 0.2, "restarts backed off 50, 100, 200 ms (%.2f s in all)", took);
	is_int(q.workers[0].restarts - restarts0, 3, "3 restarts recorded");
	tr_pool_fini(&p);

	close(epfd);
	tr_config_free(&c);
	trq_detach(&q);
	cleanup();
	return tap_done();
}
