/*
 * guard.h - the exec guard: a seccomp filter that every exec program (and
 * whatever it starts) runs under, so that it cannot signal the worker that
 * runs it or the supervisor.
 *
 * Why: a worker killed by a signal from outside is not charged to a task
 * (an admin, the OOM killer), and an io-class worker runs many programs at
 * once, so a program that kills its worker (`kill -9 $PPID`, a too broad
 * `pkill taskringd`) would be requeued and kill the next worker, forever; one
 * that kills the supervisor would take the whole pool down. Under the guard
 * such a call fails with EPERM and the program goes on.
 *
 * What it refuses (EPERM), for the native system-call ABI: kill() of the
 * worker, the supervisor, their process groups (-pid, -pgid) and of every
 * process (-1); tkill(), tgkill(), rt_sigqueueinfo(), rt_tgsigqueueinfo() and
 * pidfd_open() of the worker, its io thread or the supervisor. Any signal
 * counts, 0 too. Everything else is allowed, the program's own children and
 * other workers included.
 *
 * It guards against accidents, not against a hostile program: a program runs
 * as the daemon's user and could still ptrace the worker, signal it through a
 * /proc/PID pidfd, use a foreign ABI (int 0x80, x32) or write to the segment.
 *
 * Installing a filter needs no_new_privs or CAP_SYS_ADMIN. The guard never
 * sets no_new_privs itself (that would silently take set-user-ID rights from
 * the programs); without either it is off and the worker says so once.
 */
#ifndef TR_GUARD_H
#define TR_GUARD_H

#include <linux/filter.h>
#include <sys/types.h>

#define TR_GUARD_LEN 22 /* instructions in the filter */

struct tr_guard {
	struct sock_filter insn[TR_GUARD_LEN];
	int on;            /* 1: install it in every child */
	char why_off[160]; /* when !on: why, for the log */
};

/* Builds the filter for a worker whose main thread is worker (its pid),
 * whose io thread is tid, whose parent is super and whose process group is
 * pgid, and decides whether it can be installed (on, or why_off). Returns 0
 * when on, or -errno (-ENOTSUP: an architecture it does not know, -EPERM:
 * neither no_new_privs nor CAP_SYS_ADMIN). */
int tr_guard_init(struct tr_guard *g, pid_t worker, pid_t tid, pid_t super, pid_t pgid);

/* In a child between clone and execve (no library calls, no sanitizer):
 * installs the filter when g->on. Returns 0 or -errno. */
int tr_guard_apply(const struct tr_guard *g);

#endif
