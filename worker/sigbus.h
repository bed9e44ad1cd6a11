/*
 * sigbus.h - a process's last word when the segment shrinks under it.
 *
 * Any process that may open /dev/shm/taskring.<instance> read-write can
 * ftruncate() it; touching a page past the new end raises SIGBUS in every
 * process that maps it. Neither the supervisor nor a worker can go on
 * without that memory, but neither must die silently: this handler, for a
 * fault inside the segment mapping, writes one log line and exits.
 *
 * The supervisor's line is "segment /dev/shm/taskring.X was truncated by
 * another process: exiting", and it exits 1, so the service manager's
 * restart policy takes over (the workers die with it through
 * PR_SET_PDEATHSIG). A worker's line is "worker 1: segment
 * /dev/shm/taskring.X was truncated by another process (SIGBUS at offset N
 * of the S bytes mapped): exiting" ("spare worker:" before it has a slot),
 * and it exits with the status it installed the handler with, for the
 * supervisor to tell a truncation from a crash (worker.h).
 *
 * Any other SIGBUS keeps its default action, as without the handler: a
 * fault outside the segment (a real bug, a task's own mapping of a file
 * that shrank) ends the process by the signal with its core dump, and so
 * does a SIGBUS another process sent (kill, taskring kill-worker).
 *
 * The line has the log's shape (log.h): a syslog priority prefix for the
 * journal, else the local time, the program/instance and the pid. The
 * handler is async-signal-safe: everything but the time and the offset is
 * prepared when it is installed.
 */
#ifndef TR_WORKER_SIGBUS_H
#define TR_WORKER_SIGBUS_H

#include <stddef.h>

/* Installs the supervisor's SIGBUS handler for the mapping [base, base +
 * size) of instance's segment: the line above, then exit status 1. Call
 * again after remapping. Returns 0 or -errno. */
int tr_sigbus_install(const void *base, size_t size, const char *instance);

/* Installs a worker's SIGBUS handler for the mapping [base, base + size) of
 * instance's segment: the worker's line naming worker index (-1: a spare
 * without a slot yet), then exit status status. Call after fork(), in the
 * worker (its pid goes into the line). Returns 0 or -errno. */
int tr_sigbus_install_worker(const void *base, size_t size, const char *instance, int index,
                             int status);

/* Names the slot a spare worker now serves in its handler's line. */
void tr_sigbus_set_index(int index);

/* Restores the default SIGBUS action (for tests and forked children). */
void tr_sigbus_reset(void);

#endif
