/*
 * test_api.c - libtaskring's public calls on hostile arguments: NULL
 * callbacks, error codes the library does not know, INT_MIN, and the
 * contract of taskring_wait_many on an error. Each must
 * return an error or a text, never crash (the ASan/UBSan build runs this
 * too) or hand out a buffer the next call frees.
 */
#include <limits.h>

#include "qtest.h"
#include "tap.h"

/* The flags of slot idx. */
static uint32_t q_read_flags(const struct trq *q, uint32_t idx)
{
	return __atomic_load_n(&q->meta[idx].flags, __ATOMIC_RELAXED);
}

static int count_cb(const struct taskring_info *info, void *ctx)
{
	(void)info;
	(*(int *)ctx)++;
	return 0;
}

int main(void)
{
	struct trq q;
	taskring_t *h = NULL;

	qt_setup("api", 30);
	int r = qt_create(&q, 16, 256, 256);
	if (r) {
		printf("Bail out! trq_create: %s\n", strerror(-r));
		return 1;
	}
	is_int(taskring_attach(qt_instance, NULL), -EINVAL,
	       "taskring_attach with out NULL: -EINVAL");
	r = taskring_attach(qt_instance, &h);
	if (!ok(r == 0, "attach to the test segment")) {
		diag("  taskring_attach: %s", taskring_strerror(r));
		return tap_done();
	}
	int n = 0;
	is_int(taskring_list(h, ~0u, NULL, NULL), -EINVAL,
	       "taskring_list with no callback: -EINVAL");
	is_int(taskring_list(NULL, ~0u, count_cb, &n), -EINVAL,
	       "taskring_list with no handle: -EINVAL");
	is_int(taskring_list(h, ~0u, count_cb, &n), 0,
	       "taskring_list of an empty table: 0 visited");

	ok(taskring_strerror(INT_MIN) != NULL, "taskring_strerror(INT_MIN): %s",
	   taskring_strerror(INT_MIN));
	char both[256];
	snprintf(both, sizeof(both), "%s|%s", taskring_strerror(-4242), taskring_strerror(-4343));
	is_str(both, "Unknown error 4242|Unknown error 4343",
	       "two unknown codes in one printf: each keeps its own text");
	is_str(taskring_strerror(-ENOSPC), strerror(ENOSPC), "a known errno: the system's text");
	is_str(taskring_strerror(TASKRING_EFULL), "the task table is full",
	       "a taskring code, positive");

	/* taskring_wait_many: an error (here the deadline) zeroes every info
	 * and marks no result read, also of a task that was final; success
	 * fills all and marks all read (applied by the detach). */
	uint32_t inc = qt_worker_start(&q, 0, getpid());
	const char *wa[] = {"a"}, *wb[] = {"b"};
	uint64_t ids[2] = {0, 0};
	struct taskring_info infos[2];
	r = taskring_submit(h, "echo", 1, wa, NULL, &ids[0]);
	qt_consume(&q, 0, inc, 1);
	if (r == 0)
		r = taskring_submit(h, "echo", 1, wb, NULL, &ids[1]);
	if (!ok(r == 0, "two echo tasks submitted, the first one done"))
		diag("  taskring_submit: %s", taskring_strerror(r));
	memset(infos, 0xa5, sizeof(infos));
	r = taskring_wait_many(h, 2, ids, 50, infos);
	is_int(r, -ETIMEDOUT, "wait_many with one task still queued: -ETIMEDOUT");
	ok(infos[0].id == 0 && infos[0].buf_ == NULL && infos[1].id == 0 && infos[1].buf_ == NULL,
	   "after the error both infos are zeroed, the final one's too");
	taskring_info_release(&infos[0]);
	taskring_info_release(&infos[1]);
	uint32_t ia = (uint32_t)((ids[0] - 1) % q.capacity),
	         ib = (uint32_t)((ids[1] - 1) % q.capacity);
	qt_consume(&q, 0, inc, 1); /* a queue operation: pending read marks would be applied */
	ok(!(q.meta[ia].flags & TRQ_F_READ), "and the final task's result is not marked read");
	r = taskring_wait_many(h, 2, ids, 5000, infos);
	is_int(r, 0, "wait_many once both are done: 0");
	ok(r == 0 && infos[0].id == ids[0] && infos[1].id == ids[1] && infos[0].output &&
	       infos[1].output && strcmp(infos[0].output, "a") == 0 &&
	       strcmp(infos[1].output, "b") == 0,
	   "both infos filled, in the order of the ids");
	/* taskring_info_release_many: wait_many's infos (one block), a get's
	 * info (a buffer of its own) and a zeroed one; a leak or a double
	 * free shows under ASan. */
	struct taskring_info mix[4];
	memset(mix, 0, sizeof(mix));
	mix[0] = infos[0];
	mix[2] = infos[1];
	r = taskring_get(h, ids[0], &mix[3]);
	ok(r == 0 && mix[3].output && strcmp(mix[3].output, "a") == 0,
	   "get still reads a result wait_many consumed");
	taskring_info_release_many(4, mix);
	static const struct taskring_info zero;
	ok(memcmp(&mix[0], &zero, sizeof(zero)) == 0 && memcmp(&mix[1], &zero, sizeof(zero)) == 0 &&
	       memcmp(&mix[2], &zero, sizeof(zero)) == 0 &&
	       memcmp(&mix[3], &zero, sizeof(zero)) == 0,
	   "release_many frees and zeroes wait_many's infos, a get's and a zeroed one");
	taskring_info_release_many(4, mix); /* released twice: harmless */
	taskring_info_release_many(0, NULL);

	/* An error met copying the results once all were final (here a
	 * damaged id in the second slot: its look passes, its copy does not)
	 * still zeroes every info, also the first one's, which was copied. */
	uint64_t ids2[2] = {0, 0};
	r = taskring_submit(h, "echo", 1, wa, NULL, &ids2[0]);
	if (r == 0)
		r = taskring_submit(h, "echo", 1, wb, NULL, &ids2[1]);
	qt_consume(&q, 0, inc, 2);
	uint32_t id2 = (uint32_t)((ids2[1] - 1) % q.capacity);
	ok(r == 0 && taskring_get(h, ids2[1], NULL) == 0, "two more echo tasks done");
	q.meta[id2].id ^= 0x55;
	memset(infos, 0xa5, sizeof(infos));
	r = taskring_wait_many(h, 2, ids2, 5000, infos);
	is_int(r, -TASKRING_ECORRUPT, "wait_many with a damaged id in the second slot: ECORRUPT");
	ok(infos[0].id == 0 && infos[0].buf_ == NULL && infos[1].id == 0 && infos[1].buf_ == NULL,
	   "after the error both infos are zeroed, the copied one's too");
	taskring_info_release_many(2, infos);
	struct taskring_status st0;
	if (taskring_status_get(h, &st0) == 0) /* takes the lock: applies pending marks */
		taskring_status_release(&st0);
	uint32_t id1 = (uint32_t)((ids2[0] - 1) % q.capacity);
	ok(!(q_read_flags(&q, id1) & TRQ_F_READ),
	   "and the copied one's result is not marked read (its slot is not reused under the "
	   "caller, who got only the error)");
	q.meta[id2].id ^= 0x55;
	r = taskring_wait_many(h, 2, ids2, 5000, infos);
	ok(r == 0 && infos[1].output && strcmp(infos[1].output, "b") == 0,
	   "with the id put back, wait_many reads both");
	taskring_info_release_many(2, infos);

	/* The status splits a worker's running cpu tasks into the one it
	 * executes (its cur_cpu, checked against the table) and those it took
	 * with it and has not started; a dead worker names no task. */
	{
		static char abuf[1 << 16] __attribute__((aligned(16)));
		uint32_t winc = qt_worker_start(&q, 0, getpid());
		uint64_t tid[3];
		struct trq_task tk[3];
		struct trq_result res[3];
		struct taskring_status sw;
		int took = 0;
		if (!q.sup_held)
			trq_sup_lock(&q); /* a supervisor serves it: the status counts executing */
		for (int i = 0; i < 3; i++)
			taskring_submit(h, "echo", 0, NULL, NULL, &tid[i]);
		took = trq_take(&q, TASKRING_CPU, 0, winc, 3, tk, abuf, sizeof(abuf));
		q.workers[0].cur_cpu = tk[0].id;
		ok(took == 3 && taskring_status_get(h, &sw) == 0 && sw.alive &&
		       sw.running[TASKRING_CPU] == 3 && sw.executing[TASKRING_CPU] == 1 &&
		       sw.nworkers >= 1 && sw.workers[0].task == tk[0].id,
		   "status: 3 cpu tasks taken by worker 0, 1 executing (its task), 2 waiting in "
		   "it");
		taskring_status_release(&sw);
		q.workers[0].state = TRQ_W_DEAD;
		ok(taskring_status_get(h, &sw) == 0 && sw.nworkers >= 1 &&
		       sw.workers[0].task == 0 && sw.executing[TASKRING_CPU] == 0,
		   "a dead worker names no task, and executes none");
		taskring_status_release(&sw);
		q.workers[0].state = TRQ_W_READY;
		q.workers[0].cur_cpu = 0;
		for (int i = 0; i < took; i++)
			res[i] = (struct trq_result){tk[i].idx, tk[i].id, TASKRING_DONE, 0, "", 0};
		is_int(trq_finish(&q, 0, winc, (unsigned)took, res), 0, "worker 0 finishes them");
		for (int i = 0; i < took; i++)
			taskring_get(h, tid[i], NULL);
	}

	/* taskring_daemon_stopped_s: -1 while a supervisor serves the segment;
	 * once none does, the age of the stamp a stopping one leaves, and -1
	 * for no stamp or a hostile one from the future. A supervisor holding
	 * the lock with the stamp still set has not taken the segment over yet
	 * (its header fields are the last daemon's): not alive, stopped. */
	struct trq other = {0};
	int locked = q.sup_held || trq_sup_lock(&q) == 0;
	ok(locked && taskring_daemon_alive(h) == 1, "the creator holds the supervisor lock");
	is_int(taskring_daemon_stopped_s(h), -1, "daemon_stopped_s with a supervisor serving: -1");
	uint64_t now_s = trq_boot_s();
	q.hdr->sup_stop_s = (uint32_t)now_s;
	r = taskring_daemon_stopped_s(h);
	ok(taskring_daemon_alive(h) == 0 && r >= 0 && r <= 2,
	   "the lock held but the stamp set (not adopted yet): not alive, stopped %d s ago", r);
	struct taskring_status st;
	ok(taskring_status_get(h, &st) == 0 && !st.alive && !st.pid,
	   "and the status shows no daemon (not the last one's pid)");
	taskring_status_release(&st);
	trq_detach(&q); /* drops the supervisor lock */
	r = trq_attach(&other, qt_instance);
	if (!ok(r == 0 && taskring_daemon_alive(h) == 0, "no supervisor after the creator left"))
		return tap_done();
	other.hdr->sup_stop_s = (uint32_t)(now_s - 5);
	r = taskring_daemon_stopped_s(h);
	ok(r >= 5 && r <= 7, "a stop 5 s ago reads as 5 s (%d)", r);
	other.hdr->sup_stop_s = 0;
	is_int(taskring_daemon_stopped_s(h), -1, "no stamp (a killed daemon): -1");
	other.hdr->sup_stop_s = (uint32_t)(now_s + 1000);
	is_int(taskring_daemon_stopped_s(h), -1, "a stamp from the future: -1");
	other.hdr->sup_stop_s = 1;
	r = taskring_daemon_stopped_s(h);
	ok(r >= 0 && (uint64_t)r + 1 >= now_s - 1, "the oldest stamp: the whole uptime (%d s)", r);

	taskring_detach(h); /* applies the read marks of the last wait_many */
	ok((q_read_flags(&other, ia) & q_read_flags(&other, ib) & TRQ_F_READ) != 0,
	   "both results marked read after a wait_many that returned 0");
	trq_detach(&other);
	return tap_done();
}
