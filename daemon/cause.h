/*
 * cause.h - how a child process ended, in words a person can read.
 *
 * "exited with status 3", "killed by signal 9 (SIGKILL)", "killed by signal
 * 11 (SIGSEGV), core dumped". These texts go into the worker record's
 * last_exit, the log, and (prefixed with the worker) the error of a task
 * charged for the death. No state.
 */
#ifndef TR_CAUSE_H
#define TR_CAUSE_H

#include <signal.h>
#include <stddef.h>

/* Writes the name of signal sig ("SIGKILL", "SIGRTMIN+2", "signal 99") into
 * buf (at least 16 bytes) and returns buf. */
const char *tr_cause_signame(int sig, char *buf, size_t len);

/* Describes a waitid() result (si_code CLD_EXITED, CLD_KILLED, CLD_DUMPED)
 * into buf, NUL-terminated and truncated to len. Returns buf. */
const char *tr_cause_format(const siginfo_t *si, char *buf, size_t len);

/* True when the death was by signal (killed or dumped). */
int tr_cause_signaled(const siginfo_t *si);

#endif
