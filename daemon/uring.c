/*
 * uring.c - see uring.h.
 */
#include "uring.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

int tr_uring_probe(char *err, size_t errlen)
{
	struct io_uring ring;
	int r = io_uring_queue_init(2, &ring, 0);

	if (r == 0) {
		io_uring_queue_exit(&ring);
		return 0;
	}
	const char *why = r == -ENOSYS ? "this kernel has no io_uring (or seccomp hides it)"
	                  : r == -EPERM || r == -EACCES
	                      ? "io_uring is disabled (kernel.io_uring_disabled or seccomp)"
	                      : "io_uring cannot be set up";
	snprintf(err, errlen, "io_uring_setup: %s: %s; taskringd needs it", strerror(-r), why);
	return r;
}
