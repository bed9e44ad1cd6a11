/*
 * cause.c - see cause.h. Signal names come from glibc's sigabbrev_np();
 * real-time signals are named relative to SIGRTMIN.
 */
#include "cause.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

const char *tr_cause_signame(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "signal %d", sig);
	return buf;
}

const char *tr_cause_format(const siginfo_t *si, char *buf, size_t len)
{
	char name[32];

	switch (si->si_code) {
	case CLD_EXITED:
		snprintf(buf, len, "exited with status %d", si->si_status);
		break;
	case CLD_KILLED:
	case CLD_DUMPED:
		snprintf(buf, len, "killed by signal %d (%s)%s", si->si_status,
		         tr_cause_signame(si->si_status, name, sizeof(name)),
		         si->si_code == CLD_DUMPED ? ", core dumped" : "");
		break;
	default:
		snprintf(buf, len, "ended (wait code %d, status %d)", si->si_code, si->si_status);
		break;
	}
	return buf;
}

int tr_cause_signaled(const siginfo_t *si)
{
	return si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED;
}
