/*
 * procstat.h - reading /proc/PID/stat, the one place that parses it.
 *
 * The command name (field 2) may hold spaces and parentheses, so fields are
 * read after the last ')'. Used to tell a supervisor's children apart from
 * reused pids, to notice stopped workers and to measure CPU time.
 */
#ifndef TR_PROCSTAT_H
#define TR_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

struct tr_procstat {
	char state;         /* 'R', 'S', 'T', 'Z', ... */
	pid_t ppid;         /* parent process */
	pid_t pgrp;         /* process group */
	pid_t session;      /* session */
	uint64_t utime;     /* user CPU time, clock ticks */
	uint64_t stime;     /* system CPU time, clock ticks */
	uint64_t starttime; /* start time after boot, clock ticks */
	char comm[16];      /* command name, bytes outside ' '..'~' as '?' */
};

/* Reads /proc/PID/stat into *st. Returns 0, -errno (-ENOENT: no such process)
 * or -EIO when the line cannot be parsed. */
int tr_procstat_read(pid_t pid, struct tr_procstat *st);

/* Writes "pid 4242 (taskring), stopped" (the state in words) into buf, or
 * "pid 4242 (gone)" when /proc has no such process. Returns 0 or -ENOENT
 * (and the "gone" text). */
int tr_proc_describe(pid_t pid, char *buf, size_t len);

#endif
