/*
 * bench_io.c - I/O concurrency of the workers' io_uring threads, side by side
 * in every round:
 *
 *   sleeps      --sleeps tasks of `sleep MS` (10,000 x 100 ms by default)
 *               submitted at once to a daemon with 2 workers: the wall time
 *               until every result is in, against MS itself (the limit). With
 *               a second instance (-d, e.g. one at the default io.depth) the
 *               same is measured there too.
 *   read-file   --files small files (1,000 x 4 KiB by default) made in --dir
 *               (the daemon's io.allowed_paths): all submitted at once as
 *               `read-file PATH` tasks, against a sequential loop in this
 *               process that opens, reads, CRC-32s and closes each file. Every
 *               task's result ("SIZE CRC32") is checked against the loop's.
 *
 * Usage: bench_io -i NAME --dir DIR [-d NAME[=LABEL]] [--rounds N] [--sleeps N]
 *                 [--ms N] [--files N] [--size BYTES] [--smoke]
 * Exit 0 after printing, 1 when something broke. The files are removed at exit.
 */
#include <fcntl.h>

#include "bench.h"
#include "crc32.h"

#define MAX_ROUNDS 50

/* Submits all reqs at once, waits for all; checks state (and outputs when
 * want is not NULL). Returns seconds. */
static double run_all(taskring_t *h, const char *inst, size_t n, const struct taskring_req *reqs,
                      char *const *want)
{
	uint64_t *ids = calloc(n, sizeof(*ids));
	struct taskring_info *infos = calloc(n, sizeof(*infos));
	struct taskring_opts o = {.timeout_ms = 10000};
	if (!ids || !infos)
		bench_die("out of memory");
	uint64_t t0 = bench_ns();
	int r = taskring_submit_batch(h, n, reqs, &o, ids);
	if (r != (int)n)
		bench_die("%s: taskring_submit_batch: %s", inst,
		          r < 0 ? taskring_strerror(r) : "short batch");
	r = taskring_wait_many(h, n, ids, 120000, infos);
	double dt = (double)(bench_ns() - t0) / 1e9;
	if (r)
		bench_die("%s: taskring_wait_many: %s", inst, taskring_strerror(r));
	for (size_t i = 0; i < n; i++) {
		if (infos[i].state != TASKRING_DONE || (want && strcmp(infos[i].output, want[i])))
			bench_die("%s: %s %s ended %s with '%s'%s%s", inst, reqs[i].type,
			          reqs[i].argc ? reqs[i].argv[0] : "",
			          taskring_state_name(infos[i].state), infos[i].output,
			          want ? ", want " : "", want ? want[i] : "");
		taskring_info_release(&infos[i]);
	}
	free(ids);
	free(infos);
	return dt;
}

/* Reads a whole file and formats "SIZE CRC32" as the read-file task does. */
static void read_one(const char *path, char *out, size_t outlen)
{
	char buf[65536];
	uint32_t crc = 0;
	uint64_t size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		bench_die("open %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			bench_die("read %s: %s", path, strerror(errno));
		if (k == 0)
			break;
		crc = tr_crc32(crc, buf, (size_t)k);
		size += (uint64_t)k;
	}
	close(fd);
	snprintf(out, outlen, "%llu %08x", (unsigned long long)size, crc);
}

static void make_file(const char *path, size_t size, unsigned seed)
{
	char *b = malloc(size ? size : 1);
	if (!b)
		bench_die("out of memory");
	for (size_t i = 0; i < size; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char)(seed >> 16);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, b, size) != (ssize_t)size || close(fd) < 0)
		bench_die("write %s: %s", path, strerror(errno));
	free(b);
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_io -i NAME --dir DIR [-d NAME[=LABEL]] [--rounds N] "
	                "[--sleeps N] [--ms N]\n"
	                "                [--files N] [--size BYTES] [--smoke]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *inst = NULL, *dir = NULL, *inst2 = NULL, *label2 = "second";
	int rounds = 5;
	unsigned nsleep = 10000, ms = 100, nfiles = 1000;
	size_t fsize = 4096;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-i") && v) {
			inst = argv[++i];
		} else if (!strcmp(a, "-d") && v) {
			char *eq = strchr(argv[++i], '=');
			inst2 = argv[i];
			if (eq) {
				*eq = 0;
				label2 = eq + 1;
			}
		} else if (!strcmp(a, "--dir") && v) {
			dir = argv[++i];
		} else if (!strcmp(a, "--rounds") && v) {
			rounds = (int)bench_num(a, argv[++i], 1, MAX_ROUNDS);
		} else if (!strcmp(a, "--sleeps") && v) {
			nsleep = (unsigned)bench_num(a, argv[++i], 1, 1000000);
		} else if (!strcmp(a, "--ms") && v) {
			ms = (unsigned)bench_num(a, argv[++i], 0, 60000);
		} else if (!strcmp(a, "--files") && v) {
			nfiles = (unsigned)bench_num(a, argv[++i], 1, 1000000);
		} else if (!strcmp(a, "--size") && v) {
			fsize = bench_num(a, argv[++i], 0, 1 << 24);
		} else if (!strcmp(a, "--smoke")) {
			rounds = 1;
			nsleep = 500;
			ms = 20;
			nfiles = 50;
		} else {
			usage();
		}
	}
	if (!inst || !dir || dir[0] != '/')
		usage();
	taskring_t *h = bench_attach_ready(inst, 2, 30);
	taskring_t *h2 = inst2 ? bench_attach_ready(inst2, 2, 30) : NULL;

	/* the requests */
	char msarg[16];
	const char *msv[1] = {msarg};
	snprintf(msarg, sizeof(msarg), "%u", ms);
	struct taskring_req *sreq = calloc(nsleep, sizeof(*sreq));
	struct taskring_req *freq = calloc(nfiles, sizeof(*freq));
	char **paths = calloc(nfiles, sizeof(*paths)), **want = calloc(nfiles, sizeof(*want));
	if (!sreq || !freq || !paths || !want)
		bench_die("out of memory");
	for (unsigned i = 0; i < nsleep; i++)
		sreq[i] = (struct taskring_req){"sleep", 1, msv};
	for (unsigned i = 0; i < nfiles; i++) {
		paths[i] = malloc(strlen(dir) + 32);
		want[i] = malloc(32);
		if (!paths[i] || !want[i])
			bench_die("out of memory");
		sprintf(paths[i], "%s/f%06u", dir, i);
		make_file(paths[i], fsize, i + 1);
		freq[i] = (struct taskring_req){"read-file", 1, (const char *const *)&paths[i]};
	}

	double ts[MAX_ROUNDS], ts2[MAX_ROUNDS], tl[MAX_ROUNDS], tt[MAX_ROUNDS], ratio[MAX_ROUNDS];
	/* warm the page cache and the workers */
	for (unsigned i = 0; i < nfiles; i++)
		read_one(paths[i], want[i], 32);
	run_all(h, inst, nfiles, freq, want);
	for (int r = 0; r < rounds; r++) {
		ts[r] = run_all(h, inst, nsleep, sreq, NULL);
		if (h2)
			ts2[r] = run_all(h2, inst2, nsleep, sreq, NULL);
		uint64_t t0 = bench_ns();
		for (unsigned i = 0; i < nfiles; i++) {
			char got[32];
			read_one(paths[i], got, sizeof(got));
			if (strcmp(got, want[i]))
				bench_die("%s changed: %s, then %s", paths[i], want[i], got);
		}
		tl[r] = (double)(bench_ns() - t0) / 1e9;
		tt[r] = run_all(h, inst, nfiles, freq, want);
		ratio[r] = tt[r] / tl[r];
	}

	char t[200];
	snprintf(t, sizeof(t),
	         "io: %u x sleep %u on 2 workers; %u x read-file of %zu bytes (%d round%s)", nsleep,
	         ms, nfiles, fsize, rounds, rounds > 1 ? "s" : "");
	bench_head(t);
	struct bench_stat s = bench_stats(ts, (size_t)rounds);
	char label[64];
	snprintf(label, sizeof(label), "%u x sleep %u", nsleep, ms);
	bench_row(label, &s, "s", "limit %.3f s; goal <= %.3f s: %s", ms / 1e3, 3 * ms / 1e3,
	          bench_goal(s.med <= 3 * ms / 1e3));
	if (h2) {
		s = bench_stats(ts2, (size_t)rounds);
		snprintf(label, sizeof(label), "%u x sleep %u, %s", nsleep, ms, label2);
		bench_row(label, &s, "s", "%s", "");
	}
	for (int r = 0; r < rounds; r++)
		tl[r] *= 1e3, tt[r] *= 1e3;
	s = bench_stats(tl, (size_t)rounds);
	snprintf(label, sizeof(label), "%u files, sequential read loop", nfiles);
	bench_row(label, &s, "ms", "%.0f files/s", nfiles / s.med * 1e3);
	s = bench_stats(tt, (size_t)rounds);
	snprintf(label, sizeof(label), "%u read-file tasks", nfiles);
	bench_row(label, &s, "ms", "%.0f files/s", nfiles / s.med * 1e3);
	s = bench_stats(ratio, (size_t)rounds);
	bench_row("read-file tasks / sequential loop", &s, "x", "time ratio (< 1: tasks faster)");

	for (unsigned i = 0; i < nfiles; i++) {
		unlink(paths[i]);
		free(paths[i]);
		free(want[i]);
	}
	free(paths);
	free(want);
	free(sreq);
	free(freq);
	taskring_detach(h);
	taskring_detach(h2);
	return 0;
}
