/*
 * test_daemon_orphans.c - the supervisor's sweep of what exec programs leave
 * behind (daemon/orphans.c), on real processes: this test is the subreaper.
 * A child leading its own process group with a grandchild in it (an exec
 * program and what it started) is killed with its group and reaped, also
 * without a pool (the daemon's last drain as it stops); a child that is a
 * pool's worker is left alone; a child in our own process group is killed
 * without the group (that would be us).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orphans.h"
#include "pool.h"
#include "tap.h"

/* Forks a child that leads a new process group and forks a grandchild into
 * it; both pause. Returns the child's pid and stores the grandchild's in
 * *grand (once it runs). */
static pid_t group_with_grandchild(pid_t *grand)
{
	int fd[2];
	if (pipe(fd) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		pid_t g = fork();
		if (g == 0) {
			for (;;)
				pause();
		}
		ssize_t w = write(fd[1], &g, sizeof(g));
		(void)w;
		for (;;)
			pause();
	}
	close(fd[1]);
	*grand = -1;
	if (pid > 0 && read(fd[0], grand, sizeof(*grand)) != (ssize_t)sizeof(*grand))
		*grand = -1;
	close(fd[0]);
	return pid;
}

/* A child that pauses, in our process group. */
static pid_t plain_child(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* Whether pid is gone (or a zombie nobody reaped yet is not ours: only
 * ESRCH counts). */
static int gone(pid_t pid)
{
	return kill(pid, 0) < 0 && errno == ESRCH;
}

/* Whether a and b are gone, sweeping (p) for up to 5 s: a grandchild comes
 * to us only once its parent died, maybe after a drain returned. */
static int both_gone(const struct tr_pool *p, pid_t a, pid_t b)
{
	for (int i = 0; i < 500 && !(gone(a) && gone(b)); i++) {
		tr_orphans_sweep(p);
		usleep(10000);
	}
	return gone(a) && gone(b);
}

/* Whether this process has no child left (all reaped). */
static int no_children(void)
{
	return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

int main(void)
{
	pid_t grand, child;

	ok(tr_orphans_init() == 0, "this test is a child subreaper");

	/* Without a pool: the daemon's drain as it stops (it once crashed
	 * here, reading the pool's pid through a NULL pool). */
	child = group_with_grandchild(&grand);
	ok(child > 0 && grand > 0, "a child leading a group with a grandchild in it");
	is_int(tr_orphans_drain(NULL, 5000), 0, "drain without a pool: no child left");
	ok(both_gone(NULL, child, grand), "the child and its grandchild are gone");
	ok(no_children(), "and reaped");

	/* With a pool: its worker stays, the rest goes. */
	pid_t worker = plain_child();
	struct tr_wslot w[1];
	memset(w, 0, sizeof(w));
	w[0].pid = worker;
	struct tr_pool p;
	memset(&p, 0, sizeof(p));
	p.w = w;
	p.nslots = 1;
	p.self = getpid();
	child = group_with_grandchild(&grand);
	pid_t sibling = plain_child();
	ok(worker > 0 && child > 0 && grand > 0 && sibling > 0, "a worker and three others");
	is_int(tr_orphans_drain(&p, 5000), 0, "drain with a pool: only its worker left");
	ok(both_gone(&p, child, grand), "the group of the exec program is gone");
	ok(gone(sibling), "the child in our own group is gone (and we are not)");
	ok(kill(worker, 0) == 0, "the worker runs");
	is_int(tr_orphans_sweep(&p), 0, "a second sweep finds nothing running");

	kill(worker, SIGKILL);
	waitpid(worker, NULL, 0);
	ok(no_children(), "nothing left behind");
	return tap_done();
}
