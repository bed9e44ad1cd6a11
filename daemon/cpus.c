/*
 * cpus.c - see cpus.h.
 */
#include "cpus.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int tr_cpus_resolve(const struct tr_config *c, struct tr_cpus *out, char *err, size_t errlen)
{
	cpu_set_t want, allowed;
	char list[256];
	int r;

	memset(out, 0, sizeof(*out));
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		r = -errno;
		snprintf(err, errlen, "sched_getaffinity: %s", strerror(errno));
		return r;
	}
	r = tr_config_cpuset(c, &want);
	if (r) {
		snprintf(err, errlen, "cpus: cannot use '%s': %s", c->cpus, strerror(-r));
		return r;
	}
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &want))
			continue;
		if (!CPU_ISSET(i, &allowed)) {
			if (tr_cpulist_format(&allowed, list, sizeof(list)))
				snprintf(list, sizeof(list), "?");
			snprintf(err, errlen,
			         "cpus: CPU %d is not available to this process (allowed: %s)", i,
			         list);
			return -EINVAL;
		}
		out->cpu[out->n++] = i;
	}
	if (out->n == 0) {
		snprintf(err, errlen, "cpus: the list '%s' holds no CPU", c->cpus);
		return -EINVAL;
	}
	return 0;
}

unsigned tr_cpus_nworkers(const struct tr_config *c, const struct tr_cpus *cpus)
{
	return c->workers ? c->workers : cpus->n;
}

int tr_cpus_pick(const struct tr_cpus *cpus, unsigned i)
{
	return cpus->n ? cpus->cpu[i % cpus->n] : -1;
}

const char *tr_cpus_format(const struct tr_cpus *cpus, char *out, size_t len)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (unsigned i = 0; i < cpus->n; i++)
		CPU_SET(cpus->cpu[i], &set);
	if (len && tr_cpulist_format(&set, out, len))
		out[0] = 0;
	return out;
}
