/*
 * cpus.h - the CPUs the workers are pinned to.
 *
 * Resolves the `cpus` setting into an ordered list: `auto` is the set this
 * process may run on (sched_getaffinity, so taskset, cgroups and systemd's
 * CPUAffinity= are honoured); an explicit list must lie inside that set,
 * because pinning to any other CPU fails with EINVAL. Worker i runs on the
 * i-th CPU of the list, wrapping around. No global state.
 */
#ifndef TR_CPUS_H
#define TR_CPUS_H

#include <sched.h>
#include <stddef.h>

#include "config.h"

struct tr_cpus {
	unsigned n;           /* CPUs in the list, >= 1 once resolved */
	int cpu[CPU_SETSIZE]; /* ascending */
};

/* Resolves c->cpus into out. Returns 0, or -EINVAL with a one-line message
 * in err ("cpus: CPU 5 is not available to this process (allowed: 0-1)"),
 * or -errno from sched_getaffinity. */
int tr_cpus_resolve(const struct tr_config *c, struct tr_cpus *out, char *err, size_t errlen);

/* The number of workers the configuration asks for: `workers`, or for auto
 * (0) the number of CPUs in the list. */
unsigned tr_cpus_nworkers(const struct tr_config *c, const struct tr_cpus *cpus);

/* The CPU of worker i: the (i mod n)-th of the list. */
int tr_cpus_pick(const struct tr_cpus *cpus, unsigned i);

/* Writes the list as "0-3,8" into out; "" when empty. Returns out. */
const char *tr_cpus_format(const struct tr_cpus *cpus, char *out, size_t len);

#endif
