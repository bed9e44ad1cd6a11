/*
 * orphans.h - no process an exec task started outlives its worker.
 *
 * The workers' exec programs die with their worker (PR_SET_PDEATHSIG
 * SIGKILL, see worker/exec.h), but what those programs started does not. So
 * the supervisor makes itself a child subreaper (PR_SET_CHILD_SUBREAPER):
 * every process below it whose parent dies is reparented to the supervisor
 * instead of init. Its only children of its own are its workers, so any
 * other child is a leftover: an exec program whose worker died, whatever such
 * a program left behind (also in another process group or session), or what
 * a program that ended normally left outside its process group.
 * tr_orphans_sweep() lists the supervisor's children
 * (/proc/self/task/TID/children, or a /proc scan where that file is
 * missing), sends SIGKILL to the process group of every child that is not a
 * worker and to the child itself, and reaps those that ended. Their own
 * children come back to the supervisor when they die, and the next sweep
 * gets them. One exception: a child in the process group of an exec program
 * that still runs (the group's leader is alive and a child of a worker: a
 * shell's `(cmd &)`) is left alone; the worker kills that group when the
 * program ends, and a later sweep reaps it. A supervisor killed with SIGKILL
 * takes its subreaper role with it, and what the programs started goes to
 * init: the next supervisor of the segment kills what is left of them in
 * the dead one's session (tr_orphans_sweep_session; under systemd the unit's cgroup
 * ends it too).
 *
 * The supervisor sweeps on every SIGCHLD (a worker or an orphan ended), at
 * every health check, and when it stops. Signals only ever go to a child
 * that is not yet reaped (its pid cannot have been reused) and to that
 * child's process group (which exists while the child does); never to the
 * supervisor's own group. No state.
 */
#ifndef TR_ORPHANS_H
#define TR_ORPHANS_H

#include "pool.h"

/* After adopting the segment of a supervisor that was killed (SIGKILL: no
 * subreaper any more, so what its exec programs had started went to init):
 * SIGKILLs every process left in that supervisor's session that runs as our
 * effective uid and carries its token (TR_EXEC_MARK_VAR=<token> in the
 * environment it was exec'd with, as every exec program gets it), when the
 * supervisor led a session (sid == pid: under systemd, setsid, a
 * daemonizing start), that session is not ours, and pid is not a new
 * process by now (its start time differs). The header's values are
 * untrusted: a lie can only pick among processes that carry a token of
 * ours. token 0 (a clean stop, or an older segment): nothing. What left
 * the session (setsid) or cleared its environment is not found. Returns
 * the number killed. */
int tr_orphans_sweep_session(pid_t pid, pid_t sid, uint64_t starttime, uint64_t token);

/* Makes this process a child subreaper. Returns 0 or -errno. */
int tr_orphans_init(void);

/* Kills and reaps every child of this process that is not one of p's
 * workers (p may be NULL: then every child). Returns the number of children
 * found that were still running (0 when none), or -errno when the children
 * could not be listed. */
int tr_orphans_sweep(const struct tr_pool *p);

/* Sweeps until a sweep finds no child but p's workers (what the reaped
 * ones had started came to us before it), or timeout_ms passed. Returns
 * the number of children left (0: none). */
int tr_orphans_drain(const struct tr_pool *p, unsigned timeout_ms);

#endif
