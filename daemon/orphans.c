/*
 * orphans.c - see orphans.h.
 */
#include "orphans.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "procstat.h"

struct pidv {
	pid_t *v;
	size_t n, cap;
};

static int pidv_add(struct pidv *pv, pid_t pid)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? 2 * pv->cap : 64;
		pid_t *v = realloc(pv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		pv->v = v;
		pv->cap = cap;
	}
	pv->v[pv->n++] = pid;
	return 0;
}

/* Reads /proc/PID/stat: the state letter and the parent's pid. Returns 0 or
 * -errno. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid)
{
	struct tr_procstat ps;
	int r = tr_procstat_read(pid, &ps);
	*state = 0;
	*ppid = 0;
	if (r)
		return r;
	*state = ps.state;
	*ppid = ps.ppid;
	return 0;
}

/* Whether pid has a SIGKILL pending (it is dying already). */
static int kill_pending(pid_t pid)
{
	char path[64], line[256];
	int dying = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	while (!dying && fgets(line, sizeof(line), f)) {
		unsigned long long mask;
		if ((sscanf(line, "SigPnd: %llx", &mask) == 1 ||
		     sscanf(line, "ShdPnd: %llx", &mask) == 1) &&
		    (mask & (1ull << (SIGKILL - 1))))
			dying = 1;
	}
	fclose(f);
	return dying;
}

/* Children from /proc/PID/stat of every process (kernels without
 * CONFIG_PROC_CHILDREN). */
static int scan_all(struct pidv *pv)
{
	pid_t self = getpid();
	DIR *d = opendir("/proc");
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		char st;
		pid_t ppid;
		if (*end || pid <= 0 || proc_stat((pid_t)pid, &st, &ppid) < 0 || ppid != self)
			continue;
		if (pidv_add(pv, (pid_t)pid) < 0)
			break;
	}
	closedir(d);
	return 0;
}

/* Every child of this process (of any of its threads). */
static int list_children(struct pidv *pv)
{
	DIR *d = opendir("/proc/self/task");
	int found = 0;
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		found = 1;
		int pid;
		while (fscanf(f, "%d", &pid) == 1)
			if (pid > 0 && pidv_add(pv, (pid_t)pid) < 0)
				break;
		fclose(f);
	}
	closedir(d);
	return found ? 0 : scan_all(pv);
}

static int is_worker(const struct tr_pool *p, pid_t pid)
{
	if (!p || !p->w)
		return 0;
	if (p->spare.pid == pid)
		return 1;
	for (unsigned i = 0; i < p->nslots; i++)
		if (p->w[i].pid == pid)
			return 1;
	return 0;
}

/* Whether process group pg is that of an exec program still running: its
 * leader is alive (not a zombie) and a child of a live worker. */
static int program_running(const struct tr_pool *p, pid_t pg)
{
	char st;
	pid_t ppid;
	return pg > 1 && proc_stat(pg, &st, &ppid) == 0 && st != 'Z' && ppid > 1 &&
	       is_worker(p, ppid);
}

int tr_orphans_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* One sweep: stores the number of non-worker children still there (not
 * reaped) in *left, and of those it found at all in *found. Returns the
 * number that were running, or -errno. */
static int sweep(const struct tr_pool *p, int *left, int *found)
{
	struct pidv pv = {0};
	pid_t own_pg = getpgrp(), self = p ? p->self : getpid();
	int live = 0, r = list_children(&pv);
	char first[64] = "";

	*left = *found = 0;
	if (r < 0) {
		free(pv.v);
		return r;
	}
	for (size_t i = 0; i < pv.n; i++) {
		pid_t pid = pv.v[i];
		char st = '?';
		pid_t ppid;
		if (is_worker(p, pid))
			continue;
		(*found)++;
		if (proc_stat(pid, &st, &ppid) == 0 && st != 'Z') {
			pid_t pg = getpgid(pid);
			if (program_running(p, pg)) {
				/* Left in the group of an exec program that still
				 * runs ((cmd &) in a shell): its worker kills the
				 * group when the program ends. */
				(*left)++;
				continue;
			}
			int dying = kill_pending(pid);
			/* The whole group only while its leader is gone or ours
			 * (an exec program left to us): an orphan may have joined
			 * another group of our session, such as a shell's. */
			char lst;
			pid_t lpp;
			int ours = proc_stat(pg, &lst, &lpp) != 0 || lpp == self;
			if (pg > 1 && pg != own_pg && !is_worker(p, pg) && ours)
				kill(-pg, SIGKILL);
			kill(pid, SIGKILL);
			if (!dying && !live++) {
				char path[64], comm[32] = "?";
				snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
				FILE *f = fopen(path, "re");
				if (f) {
					if (fgets(comm, sizeof(comm), f))
						comm[strcspn(comm, "\n")] = '\0';
					fclose(f);
				}
				snprintf(first, sizeof(first), "pid %d (%s)", (int)pid, comm);
			}
		}
		if (waitpid(pid, NULL, WNOHANG) != pid)
			(*left)++;
	}
	free(pv.v);
	if (live)
		log_notice("killed %d process%s an exec task left running after its worker or "
		           "its program ended, e.g. %s, with %s",
		           live, live == 1 ? "" : "es", first,
		           live == 1 ? "its process group" : "their process groups");
	return live;
}

/* Whether process pid runs as our effective uid and its environment (as it
 * was exec'd) holds mark ("NAME=value"): an exec program of the supervisor
 * that handed out that mark, or something it started. */
static int carries_mark(pid_t pid, const char *mark)
{
	char path[64], buf[16384];
	struct stat st;
	size_t mlen = strlen(mark), have = 0;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		close(fd);
		return 0;
	}
	/* NUL-separated NAME=value strings; one may straddle two reads. */
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			break;
		size_t len = have + (size_t)n, at = 0;
		while (at < len) {
			char *z = memchr(buf + at, '\0', len - at);
			if (!z)
				break;
			size_t l = (size_t)(z - (buf + at));
			if (l == mlen && memcmp(buf + at, mark, mlen) == 0)
				found = 1;
			at += l + 1;
		}
		if (found)
			break;
		have = len - at;
		if (have == sizeof(buf)) /* one string longer than buf: skip it */
			have = 0;
		memmove(buf, buf + at, have);
	}
	close(fd);
	return found;
}

int tr_orphans_sweep_session(pid_t pid, pid_t sid, uint64_t starttime, uint64_t token)
{
	char mark[64];

	if (!token || pid <= 1 || sid != pid || sid == getsid(0) || pid == getpid())
		return 0;
	tr_exec_mark_format(mark, sizeof(mark), token);
	struct tr_procstat ps;
	int r = tr_procstat_read(pid, &ps);
	if (r == 0 && (ps.starttime != starttime || ps.state != 'Z'))
		return 0; /* pid reused (that session is someone else's), or alive */
	if (r < 0 && r != -ENOENT)
		return 0;
	DIR *d = opendir("/proc");
	if (!d) {
		tr_log_errno(LOG_WARNING, -errno,
		             "opendir(/proc): what the previous supervisor's exec "
		             "programs left running is not looked for");
		return 0;
	}
	int n = 0;
	char first[64] = "";
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long v = strtol(e->d_name, &end, 10);
		if (*end || v <= 1 || v > INT32_MAX || (pid_t)v == getpid())
			continue;
		if (tr_procstat_read((pid_t)v, &ps) || ps.session != sid || ps.state == 'Z' ||
		    !carries_mark((pid_t)v, mark))
			continue;
		if (kill((pid_t)v, SIGKILL) == 0 && n++ == 0)
			snprintf(first, sizeof(first), "pid %ld (%s)", v, ps.comm);
	}
	closedir(d);
	if (n)
		log_notice("killed %d process%s left running in the session of the previous "
		           "supervisor (pid %d), which was killed: what its exec programs had "
		           "started, e.g. %s",
		           n, n == 1 ? "" : "es", (int)pid, first);
	return n;
}

int tr_orphans_sweep(const struct tr_pool *p)
{
	int left, found;
	return sweep(p, &left, &found);
}

int tr_orphans_drain(const struct tr_pool *p, unsigned timeout_ms)
{
	struct timespec start, now, nap = {0, 10 * 1000 * 1000};
	int left = 0, found;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		/* Done after a sweep that found nobody: one that reaped a group
		 * leader listed the children before the leader's own children
		 * came to us. */
		if (sweep(p, &left, &found) < 0 || found == 0)
			return left;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (ms >= (long)timeout_ms)
			return left;
		nanosleep(&nap, NULL);
	}
}
