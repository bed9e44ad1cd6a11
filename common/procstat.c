/*
 * procstat.c - see procstat.h. One read(2) of the whole line, no stdio, so
 * it is usable between fork and exec and costs one system call per call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"

int tr_procstat_read(pid_t pid, struct tr_procstat *st)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -EIO;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'), *c = strchr(buf, '(');
	int ppid, pgrp, sid;
	unsigned long long ut, stt, start;
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime */
	if (!p || sscanf(p + 1,
	                 " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
	                 "%*d %*d %llu",
	                 &st->state, &ppid, &pgrp, &sid, &ut, &stt, &start) != 7)
		return -EIO;
	st->ppid = ppid;
	st->pgrp = pgrp;
	st->session = sid;
	st->utime = ut;
	st->stime = stt;
	st->starttime = start;
	size_t k = 0;
	for (c = c ? c + 1 : p; c < p && k < sizeof(st->comm) - 1; c++)
		st->comm[k++] = *c >= ' ' && *c <= '~' ? *c : '?';
	st->comm[k] = '\0';
	return 0;
}

static const char *state_name(char c)
{
	switch (c) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'D':
		return "in an uninterruptible wait";
	case 'T':
		return "stopped";
	case 't':
		return "stopped by a debugger";
	case 'Z':
		return "a zombie";
	default:
		return NULL;
	}
}

int tr_proc_describe(pid_t pid, char *buf, size_t len)
{
	struct tr_procstat ps;
	if (tr_procstat_read(pid, &ps) != 0) {
		snprintf(buf, len, "pid %d (gone)", (int)pid);
		return -ENOENT;
	}
	const char *st = state_name(ps.state);
	if (st)
		snprintf(buf, len, "pid %d (%s), %s", (int)pid, ps.comm, st);
	else
		snprintf(buf, len, "pid %d (%s), state %c", (int)pid, ps.comm,
		         ps.state >= ' ' && ps.state <= '~' ? ps.state : '?');
	return 0;
}
