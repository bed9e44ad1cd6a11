/*
 * test_daemon_orphans.c - the supervisor's sweep of what exec programs leave
 * behind (daemon/orphans.c), on real processes: this test is the subreaper.
 * A child leading its own process group with a grandchild in it (an exec
 * program and what it started) is killed with its group and reaped, also
 * without a pool (the daemon's last drain as it stops); a child that is a
 * pool's worker is left alone; a child in our own process group is killed
 * without the group (that would be us). The session sweep after a killed
 * supervisor: of what is left in its session, only the processes carrying
 * its token are killed, and nothing without the token or with a start time
 * that says the pid is someone else's.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
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

/* A session left behind by a killed supervisor: a child that calls setsid,
 * starts `sleep 1000` twice, one with TR_EXEC_MARK_VAR=<token> in its
 * environment (*marked), one without (*plain), and exits. Returns the
 * session's id (the child's pid, reaped), or -1. */
static pid_t dead_session(uint64_t token, pid_t *marked, pid_t *plain)
{
	int fd[2];
	pid_t got[2] = {-1, -1};
	if (pipe(fd) < 0)
		return -1;
	pid_t leader = fork();
	if (leader == 0) {
		char mark[64];
		tr_exec_mark_format(mark, sizeof(mark), token);
		setsid();
		for (int i = 0; i < 2; i++) {
			pid_t c = fork();
			if (c == 0) {
				char *env[] = {i == 0 ? mark : "A=b", NULL};
				execle("/bin/sleep", "sleep", "1000", (char *)NULL, env);
				_exit(127);
			}
			got[i] = c;
		}
		ssize_t w = write(fd[1], got, sizeof(got));
		(void)w;
		_exit(0);
	}
	close(fd[1]);
	if (leader < 0 || read(fd[0], got, sizeof(got)) != (ssize_t)sizeof(got))
		leader = -1;
	close(fd[0]);
	if (leader > 0)
		waitpid(leader, NULL, 0);
	*marked = got[0];
	*plain = got[1];
	/* Until both have exec'd, their environment is the leader's. */
	for (int i = 0; i < 500; i++) {
		char path[64], comm[32] = "";
		int n = 0;
		for (int k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "/proc/%d/comm", (int)got[k]);
			FILE *f = fopen(path, "re");
			if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "sleep", 5) == 0)
				n++;
			if (f)
				fclose(f);
		}
		if (n == 2)
			break;
		usleep(10000);
	}
	return leader;
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
	/* At once: the drain returns only after a sweep found nobody, so the
	 * grandchild, which came to us when the child died, was reaped too. */
	ok(gone(child) && gone(grand), "the child and its grandchild are gone");
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
	ok(gone(child) && gone(grand), "the group of the exec program is gone");
	ok(gone(sibling), "the child in our own group is gone (and we are not)");
	ok(kill(worker, 0) == 0, "the worker runs");
	is_int(tr_orphans_sweep(&p), 0, "a second sweep finds nothing running");

	kill(worker, SIGKILL);
	waitpid(worker, NULL, 0);
	ok(no_children(), "nothing left behind");

	/* The session of a killed supervisor (its pid reaped: gone). */
	uint64_t token = 0x5eed1234abcd0001ull;
	pid_t marked = -1, plain = -1, sid = dead_session(token, &marked, &plain);
	ok(sid > 0 && marked > 0 && plain > 0, "a dead supervisor's session, two processes left");
	is_int(tr_orphans_sweep_session(sid, sid, 0, token + 1), 0, "another token: none killed");
	is_int(tr_orphans_sweep_session(sid, sid, 0, 0), 0, "no token (a clean stop): none killed");
	is_int(tr_orphans_sweep_session(sid, sid + 1, 0, token), 0,
	       "a session it did not lead: none killed");
	ok(kill(marked, 0) == 0 && kill(plain, 0) == 0, "both still run");
	is_int(tr_orphans_sweep_session(sid, sid, 0, token), 1,
	       "its token: the one carrying it is killed");
	/* Both came to us (the subreaper) when their parent exited. */
	int reaped = 0;
	for (int i = 0; i < 500 && !reaped; i++) {
		reaped = waitpid(marked, NULL, WNOHANG) == marked;
		if (!reaped)
			usleep(10000);
	}
	ok(reaped, "the marked one is gone");
	usleep(100000);
	ok(waitpid(plain, NULL, WNOHANG) == 0 && kill(plain, 0) == 0,
	   "the one without the token runs on");
	/* The session leader's pid alive again, as a process started since:
	 * its start time differs, the session is someone else's. */
	is_int(tr_orphans_sweep_session(getpid(), getpid(), 1, token), 0,
	       "a live pid with another start time: none killed");
	kill(plain, SIGKILL);
	waitpid(plain, NULL, 0);
	ok(no_children(), "nothing left behind");
	return tap_done();
}
