/*
 * uring.h - the start-up check that io_uring works here.
 *
 * taskringd refuses to start without io_uring (it is switched off by the
 * sysctl kernel.io_uring_disabled, by a container's seccomp profile, or
 * missing from the kernel): the workers' io tasks are built on it, and a
 * daemon that starts and then fails every io task, or silently runs them a
 * different way, is harder to reason about than one clear line at start.
 * The probe sets up a small ring in the supervisor and tears it down at
 * once (rings must not cross fork()). No state.
 */
#ifndef TR_URING_H
#define TR_URING_H

#include <stddef.h>

/* Returns 0 when io_uring_setup works, else -errno with one line saying so
 * in err, e.g. "io_uring_setup: Operation not permitted: io_uring is
 * disabled (kernel.io_uring_disabled or seccomp); taskringd needs it". */
int tr_uring_probe(char *err, size_t errlen);

#endif
