/*
 * test_daemon_cause.c - exit causes of real children in words (daemon/cause.c).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cause.h"
#include "tap.h"

/* Runs a child that ends by `how` and returns its waitid() record. */
static siginfo_t child_end(int how)
{
	siginfo_t si;
	pid_t pid = fork();

	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		setrlimit(RLIMIT_CORE, &no_core);
		if (how > 0)
			_exit(how);
		signal(-how, SIG_DFL);
		raise(-how);
		_exit(99);
	}
	memset(&si, 0, sizeof(si));
	waitid(P_PID, (id_t)pid, &si, WEXITED);
	return si;
}

int main(void)
{
	char buf[128], name[32];
	siginfo_t si;

	si = child_end(3);
	is_str(tr_cause_format(&si, buf, sizeof(buf)), "exited with status 3", "exit status");
	ok(!tr_cause_signaled(&si), "an exit is not a signal");

	si = child_end(-SIGKILL);
	is_str(tr_cause_format(&si, buf, sizeof(buf)), "killed by signal 9 (SIGKILL)", "SIGKILL");
	ok(tr_cause_signaled(&si), "SIGKILL is a signal death");

	si = child_end(-SIGTERM);
	is_str(tr_cause_format(&si, buf, sizeof(buf)), "killed by signal 15 (SIGTERM)", "SIGTERM");

	/* SIGSEGV: core or not depends on the machine's limits; both read right. */
	si = child_end(-SIGSEGV);
	tr_cause_format(&si, buf, sizeof(buf));
	ok(strncmp(buf, "killed by signal 11 (SIGSEGV)", 29) == 0, "SIGSEGV: %s", buf);

	si.si_code = CLD_DUMPED;
	si.si_status = SIGABRT;
	is_str(tr_cause_format(&si, buf, sizeof(buf)), "killed by signal 6 (SIGABRT), core dumped",
	       "core dump is mentioned");

	is_str(tr_cause_signame(SIGRTMIN + 2, name, sizeof(name)), "SIGRTMIN+2", "real-time name");
	is_str(tr_cause_signame(SIGHUP, name, sizeof(name)), "SIGHUP", "SIGHUP name");

	tr_cause_format(&si, buf, 12);
	is_int(strlen(buf), 11, "truncated to the buffer");
	return tap_done();
}
