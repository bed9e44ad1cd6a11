/*
 * guard.h - the exec guard: a seccomp filter that every exec program (and
 * whatever it starts) runs under, so that it cannot signal the worker that
 * runs it or the supervisor.
 *
 * Why: a worker killed by a signal from outside is not charged to a task
 * (an admin, the OOM killer), and an io-class worker runs many programs at
 * once, so a program that kills its worker (`kill -9 $PPID`, a too broad
 * `pkill taskringd`) would be requeued and kill the next worker, forever; one
 * that kills the supervisor would take the whole pool down.
 *
 * What it refuses (EPERM), for the native system-call ABI: kill() of any
 * thread of the worker or the supervisor, of their process groups and of
 * every process (-1); tkill(), tgkill(), rt_sigqueueinfo(),
 * rt_tgsigqueueinfo() and pidfd_open() aimed at any of those threads. Any
 * signal counts, 0 too. pidfd_send_signal() fails with ENOSYS whatever its
 * target, as its fd (perhaps of /proc/PID) cannot be checked: programs then
 * fall back to kill(), as on a kernel without pidfds (Go does). Everything
 * else is allowed, the program's own children and other workers included. The threads are those
 * listed in /proc when the program starts (tr_guard_refresh before each start).
 *
 * It guards against accidents, not against a hostile program: a program runs
 * as the daemon's user and could still ptrace the worker, use a foreign ABI
 * (int 0x80, x32) or write to the segment.
 *
 * Installing a filter needs no_new_privs or CAP_SYS_ADMIN. The guard never
 * sets no_new_privs itself (that would silently take set-user-ID rights from
 * the programs); without either it is off and the worker says so once.
 */
#ifndef TR_GUARD_H
#define TR_GUARD_H

#include <linux/filter.h>
#include <sys/types.h>

#define TR_GUARD_IDS_MAX    64 /* thread ids it can name; more are left out */
#define TR_GUARD_GROUPS_MAX 2
#define TR_GUARD_INSN_MAX   (20 + TR_GUARD_GROUPS_MAX + TR_GUARD_IDS_MAX)

struct tr_guard {
	struct sock_filter insn[TR_GUARD_INSN_MAX];
	unsigned short len; /* instructions in use */
	int on;             /* 1: install it in every child */
	char why_off[160];  /* when !on: why, for the log */
	pid_t worker, super;
};

/* Decides whether the guard can be installed here (on, or why_off), for a
 * worker process `worker` whose parent is the supervisor `super`, and builds
 * the filter for their main threads and groups. Returns 0 when on, or
 * -errno (-ENOTSUP: an architecture it does not know, -EPERM: neither
 * no_new_privs nor CAP_SYS_ADMIN). */
int tr_guard_init(struct tr_guard *g, pid_t worker, pid_t super);

/* Rebuilds the filter for every thread of the worker and the supervisor now
 * listed in /proc (the main threads when that cannot be read). Returns the
 * number of thread ids named. */
int tr_guard_refresh(struct tr_guard *g);

/* Builds the filter for the thread ids ids[0..n) (at most TR_GUARD_IDS_MAX)
 * and process groups groups[0..ng) (at most TR_GUARD_GROUPS_MAX). */
void tr_guard_build(struct tr_guard *g, const pid_t *ids, unsigned n, const pid_t *groups,
                    unsigned ng);

/* In a child between clone and execve (no library calls, no sanitizer):
 * installs the filter when g->on. Returns 0 or -errno. */
int tr_guard_apply(const struct tr_guard *g);

#endif
