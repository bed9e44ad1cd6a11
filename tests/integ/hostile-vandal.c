/*
 * hostile-vandal.c - the hostile client of hostile.t: maps a live instance's
 * segment read-write, as any process with write access may, and writes
 * random bytes into task slots, the queue counters and list heads, and the
 * ring entries, for a while. It never scribbles on the robust mutex (a writer
 * can always wedge a lock; callers then time out: documented, not tested).
 *
 * hostile.t compiles it with the system compiler against the real queue.h,
 * so the offsets are the daemon's own; it links nothing of libtaskring.
 *
 * usage: hostile-vandal INSTANCE SECONDS PAUSE_US
 * Prints how many writes of each kind it made. Exit 0, or 1 with a message.
 *
 * usage: hostile-vandal INSTANCE --running N
 * Adds N to the cpu class's running count and prints the count before and
 * after: damage that no queue operation reads, only the supervisor's audit.
 *
 * usage: hostile-vandal INSTANCE --sup-pid PID
 * Writes PID as the supervisor's pid and prints the one it replaced.
 *
 * usage: hostile-vandal INSTANCE --draining N | --nworkers N | --type0 NAME
 *                        | --stop-stamp N
 * Writes the header's draining flag, its worker count, the name of the
 * first entry of the task type registry, or the supervisor's stop stamp.
 *
 * usage: hostile-vandal INSTANCE --wstate0 N | --run-timeout S
 *   Sets worker 0's record state, or the default run timeout (seconds).
 * usage: hostile-vandal INSTANCE --last-exit TEXT
 * Writes TEXT as worker 0's last exit, each ~ in it as an ESC byte.
 *
 * usage: hostile-vandal INSTANCE --spare-pid PID | --spare-far 1 | --restart0-far 1
 * Writes what status shows of the supervisor's spare and backoffs: PID as a
 * spare set up and waiting; a spare backing off until the end of time; or
 * worker 0 dead and restarting at the end of time.
 *
 * usage: hostile-vandal INSTANCE --audits 0
 * Only reads: prints how many audits the supervisor has made (hdr->audits),
 * so a test can wait for one that began after the damage it wrote.
 *
 * usage: hostile-vandal INSTANCE --hold-lock 1
 * Takes the queue lock, prints "locked", stops itself (SIGSTOP) and, once
 * continued, exits holding it: a client suspended with Ctrl-Z inside a call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? rng % n : rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes 1-8 random bytes at a random offset of [p, p + len). */
static void scribble(unsigned char *p, size_t len)
{
	size_t n = 1 + (size_t)rnd(8), off;
	if (n > len)
		n = len;
	off = (size_t)rnd(len - n + 1);
	for (size_t i = 0; i < n; i++)
		p[off + i] = (unsigned char)rnd(256);
}

int main(int argc, char **argv)
{
	char name[80];
	struct stat st;

	if (argc != 4) {
		fprintf(stderr,
		        "usage: hostile-vandal INSTANCE SECONDS PAUSE_US\n"
		        "       hostile-vandal INSTANCE --running N\n"
		        "       hostile-vandal INSTANCE --sup-pid PID\n"
		        "       hostile-vandal INSTANCE --last-exit TEXT\n"
		        "       hostile-vandal INSTANCE --draining N|--nworkers N|--type0 NAME\n"
		        "       hostile-vandal INSTANCE --stop-stamp N\n"
		        "       hostile-vandal INSTANCE --hold-lock 1\n"
		        "       hostile-vandal INSTANCE --audits 0\n"
		        "       hostile-vandal INSTANCE --spare-pid PID|--spare-far 1\n"
		        "       hostile-vandal INSTANCE --restart0-far 1\n");
		return 2;
	}
	double secs = atof(argv[2]);
	long pause_us = atol(argv[3]);
	snprintf(name, sizeof(name), "/dev/shm/taskring.%s", argv[1]);
	int fd = open(name, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "hostile-vandal: %s: %s\n", name, strerror(errno));
		return 1;
	}
	unsigned char *base =
	    mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "hostile-vandal: mmap(%s): %s\n", name, strerror(errno));
		return 1;
	}
	struct trq_hdr *h = (struct trq_hdr *)base;
	/* The geometry the daemon wrote; a vandal still stays inside the object. */
	uint64_t cap = h->capacity, size = (uint64_t)st.st_size;
	if (h->magic != TRQ_MAGIC || !cap || h->meta_off + cap * sizeof(struct trq_slot) > size ||
	    h->ring_off[1] + cap * 4 > size) {
		fprintf(stderr, "hostile-vandal: %s does not look like a taskring segment\n", name);
		return 1;
	}
	if (!strcmp(argv[2], "--audits")) {
		printf("%llu\n", (unsigned long long)__atomic_load_n(&h->audits, __ATOMIC_RELAXED));
		return 0;
	}
	if (!strcmp(argv[2], "--hold-lock")) {
		int r = pthread_mutex_lock(&h->lock);
		if (r) { /* EOWNERDEAD: exiting leaves the repair to the next locker */
			fprintf(stderr, "hostile-vandal: pthread_mutex_lock: %s\n", strerror(r));
			return 1;
		}
		printf("locked\n");
		fflush(stdout);
		raise(SIGSTOP);
		_exit(0); /* holding it: the next locker repairs */
	}
	if (!strcmp(argv[2], "--draining")) {
		h->draining = (uint32_t)atoi(argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--stop-stamp")) {
		h->sup_stop_s = (uint32_t)atoi(argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--nworkers")) {
		h->nworkers = (uint32_t)atoi(argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--type0")) {
		snprintf(h->types[0].name, sizeof(h->types[0].name), "%s", argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--wstate0")) {
		struct trq_worker *w = (struct trq_worker *)(base + h->workers_off);
		w->state = (uint32_t)atoi(argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--run-timeout")) {
		h->run_timeout_default_s = (uint32_t)atoi(argv[3]);
		return 0;
	}
	if (!strcmp(argv[2], "--last-exit")) {
		struct trq_worker *w = (struct trq_worker *)(base + h->workers_off);
		size_t n = 0;
		for (const char *p = argv[3]; *p && n < sizeof(w->last_exit) - 1; p++)
			w->last_exit[n++] = *p == '~' ? '\033' : *p; /* ~ stands for ESC */
		w->last_exit[n] = 0;
		return 0;
	}
	if (!strcmp(argv[2], "--spare-pid")) {
		h->spare_pid = atoi(argv[3]);
		h->spare_state = TRQ_SPARE_READY;
		return 0;
	}
	if (!strcmp(argv[2], "--spare-far")) {
		h->spare_pid = 0;
		h->spare_next_ns = UINT64_MAX;
		h->spare_state = TRQ_SPARE_BACKOFF;
		return 0;
	}
	if (!strcmp(argv[2], "--restart0-far")) {
		struct trq_worker *w = (struct trq_worker *)(base + h->workers_off);
		w->restart_ns = UINT64_MAX;
		w->state = TRQ_W_DEAD;
		return 0;
	}
	if (!strcmp(argv[2], "--sup-pid")) {
		int was = h->sup_pid;
		h->sup_pid = atoi(argv[3]);
		printf("%d\n", was);
		return 0;
	}
	if (!strcmp(argv[2], "--running")) {
		uint32_t was = h->running[TASKRING_CPU];
		h->running[TASKRING_CPU] = was + (uint32_t)atoi(argv[3]);
		printf("running cpu %u -> %u\n", was, h->running[TASKRING_CPU]);
		return 0;
	}
	unsigned char *meta = base + h->meta_off;
	unsigned char *counters = (unsigned char *)&h->ring_head;
	size_t counters_len = offsetof(struct trq_hdr, q_seq) - offsetof(struct trq_hdr, ring_head);
	rng ^= (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);

	unsigned long slots = 0, heads = 0, rings = 0;
	double end = now_s() + secs;
	while (now_s() < end) {
		switch (rnd(4)) {
		case 0:
		case 1: /* a task slot's record */
			scribble(meta + rnd(cap) * sizeof(struct trq_slot),
			         sizeof(struct trq_slot));
			slots++;
			break;
		case 2: /* the counters and list heads next to the lock */
			scribble(counters, counters_len);
			heads++;
			break;
		default: /* a ring entry */
			scribble(base + h->ring_off[rnd(2)] + rnd(cap) * 4, 4);
			rings++;
		}
		if (pause_us > 0)
			usleep((useconds_t)pause_us);
	}
	printf("slots %lu heads %lu rings %lu\n", slots, heads, rings);
	return 0;
}
