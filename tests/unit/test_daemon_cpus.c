/*
 * test_daemon_cpus.c - resolving `cpus` against this process's affinity,
 * worker counts and wrap-around (daemon/cpus.c).
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cpus.h"
#include "tap.h"

int main(void)
{
	struct tr_config c;
	struct tr_cpus cpus;
	cpu_set_t aff;
	char err[256], list[256];

	sched_getaffinity(0, sizeof(aff), &aff);
	int first = -1, count = CPU_COUNT(&aff), outside = -1;
	for (int i = 0; i < CPU_SETSIZE; i++) {
		if (CPU_ISSET(i, &aff) && first < 0)
			first = i;
		if (!CPU_ISSET(i, &aff) && outside < 0)
			outside = i;
	}

	tr_config_defaults(&c);
	is_int(tr_cpus_resolve(&c, &cpus, err, sizeof(err)), 0, "auto resolves");
	is_int(cpus.n, count, "auto = the %d CPUs of sched_getaffinity", count);
	is_int(cpus.cpu[0], first, "lowest usable CPU first");
	is_int(tr_cpus_nworkers(&c, &cpus), count, "workers auto = CPU count");
	is_int(tr_cpus_pick(&cpus, 0), first, "worker 0 on the first CPU");
	is_int(tr_cpus_pick(&cpus, (unsigned)count), first, "worker n wraps to the first CPU");

	snprintf(c.cpus, sizeof(c.cpus), "%d", first);
	c.workers = 3;
	is_int(tr_cpus_resolve(&c, &cpus, err, sizeof(err)), 0, "explicit usable CPU");
	is_int(cpus.n, 1, "one CPU");
	is_int(tr_cpus_nworkers(&c, &cpus), 3, "explicit worker count");
	is_int(tr_cpus_pick(&cpus, 2), first, "three workers share it");
	is_str(tr_cpus_format(&cpus, list, sizeof(list)), c.cpus, "formatted back");

	snprintf(c.cpus, sizeof(c.cpus), "%d", outside);
	is_int(tr_cpus_resolve(&c, &cpus, err, sizeof(err)), -22, "CPU outside affinity refused");
	ok(strstr(err, "is not available to this process") != NULL, "message: %s", err);
	tr_config_free(&c);
	return tap_done();
}
