/*
 * sigbus.h - the supervisor's last word when its segment shrinks under it.
 *
 * Any process that may open /dev/shm/taskring.<instance> read-write can
 * ftruncate() it; touching a page past the new end raises SIGBUS in every
 * process that maps it. The supervisor cannot go on without its memory, but
 * it must not die silently either: this handler, for a fault inside the
 * segment mapping, writes one prepared log line and exits 1, so the service
 * manager's restart policy takes over (the workers die with it through
 * PR_SET_PDEATHSIG). A SIGBUS anywhere else is a real bug: the default action
 * runs (core dump), as without the handler.
 */
#ifndef TR_WORKER_SIGBUS_H
#define TR_WORKER_SIGBUS_H

#include <stddef.h>

/* Installs the SIGBUS handler for the mapping [base, base + size) of
 * instance's segment. Call again after remapping. Returns 0 or -errno. */
int tr_sigbus_install(const void *base, size_t size, const char *instance);

/* Restores the default SIGBUS action (for tests and forked children). */
void tr_sigbus_reset(void);

#endif
