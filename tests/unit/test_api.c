/*
 * test_api.c - libtaskring's public calls on hostile arguments: NULL
 * callbacks, error codes the library does not know, INT_MIN. Each must
 * return an error or a text, never crash (the ASan/UBSan build runs this
 * too) or hand out a buffer the next call frees.
 */
#include <limits.h>

#include "qtest.h"
#include "tap.h"

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

	taskring_detach(h);
	trq_detach(&other);
	return tap_done();
}
