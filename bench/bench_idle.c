/*
 * bench_idle.c - what an idle daemon costs: CPU time used by the supervisor,
 * each worker and the spare worker (restart.spare_worker; all their threads,
 * io_uring helpers included) over --seconds of idleness, their resident
 * memory, and the segment's size. The spare is the supervisor's child titled
 * "taskring: spare worker" (it is in no worker slot, so status does not list
 * it); a daemon with restart.spare_worker: false has none, which is said.
 *
 * CPU time is read twice per process: utime+stime from /proc/PID/stat (what
 * ps and top show; in clock ticks, so 10 ms steps at USER_HZ 100) and the
 * on-CPU nanoseconds of every thread from /proc/PID/task/TID/schedstat (exact),
 * with the context switches (wake-ups) in the same window. Memory: VmRSS and
 * its split into anonymous, file and shared-memory pages from /proc/PID/status.
 *
 * Usage: bench_idle -i NAME [--seconds N] [--smoke]
 * Exit 0 after printing, 1 when something broke (the daemon, a worker or the
 * spare is gone or replaced during the window).
 */
#include <dirent.h>
#include <sys/stat.h>

#include "bench.h"
#include "procstat.h"

#define MAX_PROCS 64

struct proc {
	int pid;
	char what[32];
	unsigned long long ticks, ns, csw; /* at start, then the difference */
	long rss_kb, anon_kb, file_kb, shmem_kb;
};

/* utime + stime of pid in clock ticks; -1 when gone. */
static long long stat_ticks(int pid)
{
	struct tr_procstat ps;
	if (tr_procstat_read(pid, &ps))
		return -1;
	return (long long)(ps.utime + ps.stime);
}

/* Sums on-CPU ns and context switches over every thread of pid. */
static int sched_sum(int pid, unsigned long long *ns, unsigned long long *csw)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent *e;
	*ns = *csw = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char p2[320], line[256];
		snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", pid, e->d_name);
		FILE *f = fopen(p2, "re");
		unsigned long long run = 0, wait = 0, slices = 0;
		if (f && fgets(line, sizeof(line), f) &&
		    sscanf(line, "%llu %llu %llu", &run, &wait, &slices) == 3) {
			*ns += run;
			*csw += slices;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return 0;
}

static long status_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	long v = -1;
	if (p)
		sscanf(p + strlen(key), " %ld", &v);
	return v;
}

static int read_mem(struct proc *pr)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/status", pr->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	pr->rss_kb = status_kb(buf, "VmRSS:");
	pr->anon_kb = status_kb(buf, "RssAnon:");
	pr->file_kb = status_kb(buf, "RssFile:");
	pr->shmem_kb = status_kb(buf, "RssShmem:");
	return 0;
}

/* The spare: bench_find_spare() with pr's pids as the known ones. */
static int find_spare(int sup, const struct proc *pr, int np)
{
	int known[MAX_PROCS];
	for (int i = 0; i < np && i < MAX_PROCS; i++)
		known[i] = pr[i].pid;
	return bench_find_spare(sup, known, np < MAX_PROCS ? np : MAX_PROCS);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_idle -i NAME [--seconds N] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *inst = NULL;
	unsigned secs = 10;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-i") && v)
			inst = argv[++i];
		else if (!strcmp(a, "--seconds") && v)
			secs = (unsigned)bench_num(a, argv[++i], 1, 3600);
		else if (!strcmp(a, "--smoke"))
			secs = 1;
		else
			usage();
	}
	if (!inst)
		usage();
	taskring_t *h = bench_attach_ready(inst, 2, 30);
	struct taskring_status st;
	int r = taskring_status_get(h, &st);
	if (r)
		bench_die("taskring_status_get: %s", taskring_strerror(r));
	struct proc pr[MAX_PROCS];
	int np = 0;
	pr[np].pid = st.pid;
	snprintf(pr[np++].what, sizeof(pr[0].what), "supervisor");
	for (int i = 0; i < st.nworkers && np < MAX_PROCS; i++) {
		pr[np].pid = st.workers[i].pid;
		snprintf(pr[np++].what, sizeof(pr[0].what), "worker %d (cpu %d)", i,
		         st.workers[i].cpu);
	}
	taskring_status_release(&st);
	if (np < 3)
		bench_die("expected a supervisor and 2 workers, found %d processes", np);
	/* a daemon that just started is still settling (its spare, if it keeps
	   one, is forked once the workers are ready): let it */
	bench_sleep_ns(500000000);
	/* the spare may still be on its way (a slow build): look for 2 s more */
	int spare = 0;
	for (int k = 0; k <= 40 && np < MAX_PROCS && !spare; k++) {
		spare = find_spare(pr[0].pid, pr, np);
		if (!spare)
			bench_sleep_ns(50000000);
		else if (k)
			bench_sleep_ns(500000000); /* found late: it may still set up */
	}
	if (spare) {
		pr[np].pid = spare;
		snprintf(pr[np++].what, sizeof(pr[0].what), "spare worker");
	}
	int nw = np - 1 - (spare != 0);
	for (int i = 0; i < np; i++) {
		long long t = stat_ticks(pr[i].pid);
		if (t < 0 || sched_sum(pr[i].pid, &pr[i].ns, &pr[i].csw))
			bench_die("%s (pid %d) is gone", pr[i].what, pr[i].pid);
		pr[i].ticks = (unsigned long long)t;
	}
	uint64_t t0 = bench_ns();
	bench_sleep_ns((uint64_t)secs * 1000000000ull);
	double window = (double)(bench_ns() - t0) / 1e9;
	double tot_ms = 0, tot_ns_ms = 0;
	unsigned long long tot_csw = 0;
	for (int i = 0; i < np; i++) {
		unsigned long long ns, csw;
		long long t = stat_ticks(pr[i].pid);
		if (t < 0 || sched_sum(pr[i].pid, &ns, &csw) || read_mem(&pr[i]))
			bench_die("%s (pid %d) ended during the idle window", pr[i].what,
			          pr[i].pid);
		pr[i].ticks = (unsigned long long)t - pr[i].ticks;
		pr[i].ns = ns >= pr[i].ns ? ns - pr[i].ns : 0;
		pr[i].csw = csw >= pr[i].csw ? csw - pr[i].csw : 0;
		tot_ms += (double)pr[i].ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK);
		tot_ns_ms += (double)pr[i].ns / 1e6;
		tot_csw += pr[i].csw;
	}
	/* the same processes still run the daemon */
	r = taskring_status_get(h, &st);
	if (r)
		bench_die("taskring_status_get: %s", taskring_strerror(r));
	for (int i = 1; i <= nw; i++)
		if (i - 1 >= st.nworkers || st.workers[i - 1].pid != pr[i].pid)
			bench_die("%s was replaced during the idle window", pr[i].what);
	taskring_status_release(&st);
	if (spare && find_spare(pr[0].pid, pr, nw + 1) != spare)
		bench_die("spare worker (pid %d) was used or replaced during the idle window",
		          spare);

	char path[96];
	struct stat sb;
	snprintf(path, sizeof(path), "/dev/shm/taskring.%s", inst);
	if (stat(path, &sb) < 0)
		bench_die("stat %s: %s", path, strerror(errno));

	printf("\n== idle cost: %.1f s of an idle daemon with %d workers%s\n", window, nw,
	       spare ? " and a spare worker" : " (and no spare worker running)");
	printf("%-22s %8s %12s %12s %10s %10s %10s %10s\n", "process", "pid", "cpu stat ms",
	       "cpu exact ms", "wakeups", "rss KiB", "anon KiB", "shmem KiB");
	for (int i = 0; i < np; i++)
		printf("%-22s %8d %12.0f %12.3f %10llu %10ld %10ld %10ld\n", pr[i].what, pr[i].pid,
		       (double)pr[i].ticks * 1000.0 / (double)sysconf(_SC_CLK_TCK),
		       (double)pr[i].ns / 1e6, pr[i].csw, pr[i].rss_kb, pr[i].anon_kb,
		       pr[i].shmem_kb);
	printf("%-22s %8s %12.0f %12.3f %10llu\n", "total", "", tot_ms, tot_ns_ms, tot_csw);
	printf("goal <= 10 ms of CPU in 10 s: %s (%.3f ms per 10 s, exact)\n",
	       bench_goal(tot_ns_ms * 10.0 / window <= 10.0), tot_ns_ms * 10.0 / window);
	printf("segment %s: %lld bytes (%.1f MiB) at this configuration\n", path,
	       (long long)sb.st_size, (double)sb.st_size / 1048576.0);
	taskring_detach(h);
	return 0;
}
