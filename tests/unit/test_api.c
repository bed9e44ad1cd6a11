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

	taskring_detach(h);
	trq_detach(&q);
	return tap_done();
}
