/*
 * test_sigbus.c - the SIGBUS handler of the supervisor and the workers
 * (worker/sigbus.c) in forked children: a fault inside the mapping of a
 * truncated memfd writes one line and exits with the installed status; a
 * fault outside it and a SIGBUS sent by kill() keep the default action.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "sigbus.h"
#include "tap.h"

#define PAGE  4096
#define PAGES 3

enum how {
	SUPERVISOR,  /* the supervisor's handler, fault in the mapping */
	WORKER,      /* worker 4's, fault in the mapping */
	SPARE,       /* a spare's, fault in the mapping */
	SPARE_LATER, /* a spare's, assigned slot 2 before the fault */
	OUTSIDE,     /* worker 4's, fault in another truncated mapping */
	SENT,        /* worker 4's, SIGBUS sent with kill() */
	JOURNAL,     /* worker 4's, the journal's line shape */
};

/* A shared mapping of PAGES pages of a new memfd, truncated to 1 page. */
static unsigned char *shrunk_map(void)
{
	int fd = memfd_create("sigbus-test", 0);
	if (fd < 0 || ftruncate(fd, PAGES * PAGE) < 0)
		_exit(90);
	unsigned char *p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || ftruncate(fd, PAGE) < 0)
		_exit(91);
	close(fd);
	return p;
}

/* Runs a child that ends as how says with its stderr in buf; returns its
 * waitid() record. */
static siginfo_t child(enum how how, char *buf, size_t len)
{
	int pfd[2];
	siginfo_t si;

	if (pipe(pfd) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		tr_log_init("taskringd", LOG_INFO);
		tr_log_set_instance("unit");
		if (how == JOURNAL)
			tr_log_set_mode(TR_LOG_JOURNAL);
		unsigned char *seg = shrunk_map();
		int r;
		if (how == SUPERVISOR)
			r = tr_sigbus_install(seg, PAGES * PAGE, "unit");
		else
			r = tr_sigbus_install_worker(seg, PAGES * PAGE, "unit",
			                             how == SPARE || how == SPARE_LATER ? -1 : 4,
			                             3);
		if (r < 0)
			_exit(92);
		if (how == SPARE_LATER)
			tr_sigbus_set_index(2);
		if (how == SENT) {
			kill(getpid(), SIGBUS);
			_exit(93);
		}
		volatile unsigned char *p = how == OUTSIDE ? shrunk_map() : seg;
		p[2 * PAGE + 8] = 1;
		_exit(94);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t k;
	while (n + 1 < len && (k = read(pfd[0], buf + n, len - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(pfd[0]);
	memset(&si, 0, sizeof(si));
	waitid(P_PID, (id_t)pid, &si, WEXITED);
	return si;
}

/* The line with its time stamp (up to the first space) cut off. */
static const char *unstamped(const char *line)
{
	const char *sp = strchr(line, ' ');
	return sp ? sp + 1 : line;
}

int main(void)
{
	char buf[1024], want[512];
	siginfo_t si;
	int pid;

	si = child(WORKER, buf, sizeof(buf));
	is_int(si.si_code == CLD_EXITED ? si.si_status : -1, 3,
	       "worker: a fault in the truncated segment exits with the installed status");
	pid = si.si_pid;
	snprintf(want, sizeof(want),
	         "taskringd/unit[%d]: error: worker 4: segment /dev/shm/taskring.unit was "
	         "truncated by another process (SIGBUS at offset 8200 of the 12288 bytes mapped): "
	         "exiting\n",
	         pid);
	is_str(unstamped(buf), want, "worker: one line naming the worker, segment and offset");
	ok(strlen(buf) > 30 && buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' &&
	       (buf[23] == '+' || buf[23] == '-') && buf[29] == ' ',
	   "worker: the line starts with the local time: %.30s", buf);

	si = child(SPARE, buf, sizeof(buf));
	is_int(si.si_code == CLD_EXITED ? si.si_status : -1, 3, "spare: exits with the status");
	ok(strstr(buf, "]: error: spare worker: segment /dev/shm/taskring.unit was truncated") !=
	       NULL,
	   "spare: the line names a spare worker: %s", buf);

	si = child(SPARE_LATER, buf, sizeof(buf));
	ok(strstr(buf, "]: error: worker 2: segment") != NULL,
	   "a spare given slot 2 names worker 2: %s", buf);

	si = child(SUPERVISOR, buf, sizeof(buf));
	is_int(si.si_code == CLD_EXITED ? si.si_status : -1, 1, "supervisor: exits 1");
	snprintf(want, sizeof(want),
	         "taskringd/unit[%d]: error: segment /dev/shm/taskring.unit was truncated by "
	         "another process: exiting\n",
	         (int)si.si_pid);
	is_str(unstamped(buf), want, "supervisor: its line");

	si = child(JOURNAL, buf, sizeof(buf));
	is_str(buf,
	       "<3>taskringd/unit: error: worker 4: segment /dev/shm/taskring.unit was truncated "
	       "by another process (SIGBUS at offset 8200 of the 12288 bytes mapped): exiting\n",
	       "journal: a priority prefix, no time, no pid");

	si = child(OUTSIDE, buf, sizeof(buf));
	ok(si.si_code == CLD_KILLED && si.si_status == SIGBUS,
	   "a fault outside the segment: killed by SIGBUS as without the handler (code %d, "
	   "status %d)",
	   si.si_code, si.si_status);
	is_str(buf, "", "and nothing written");

	si = child(SENT, buf, sizeof(buf));
	ok(si.si_code == CLD_KILLED && si.si_status == SIGBUS,
	   "a SIGBUS sent by kill(): killed by it (code %d, status %d)", si.si_code, si.si_status);
	is_str(buf, "", "and nothing written");

	return tap_done();
}
