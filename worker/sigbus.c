/*
 * sigbus.c - see sigbus.h. The handler is async-signal-safe: the message is
 * formatted when the handler is installed, and the handler only compares the
 * fault address with the mapping's bounds, then calls write() and _exit(),
 * or restores the default action and returns (the faulting access runs
 * again and the default action ends the process with its core dump).
 * State: one static record, rewritten by each install, cleared by reset.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sigbus.h"

static struct {
	uintptr_t lo, hi;
	char msg[256];
	size_t len;
} sigbus_state;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uc;
	if (a >= sigbus_state.lo && a < sigbus_state.hi) {
		ssize_t r = write(STDERR_FILENO, sigbus_state.msg, sigbus_state.len);
		(void)r;
		_exit(1);
	}
	signal(sig, SIG_DFL);
}

int tr_sigbus_install(const void *base, size_t size, const char *instance)
{
	struct sigaction sa;
	int n;

	/* The shape of the log's lines (common/log.c): a syslog priority
	 * prefix for the journal, else the program/instance and pid (the time of the
	 * fault cannot be formatted in the handler: no time stamp). */
	if (tr_log_get_mode() == TR_LOG_AUTO)
		tr_log_set_mode(tr_log_detect());
	if (tr_log_get_mode() == TR_LOG_JOURNAL)
		n = snprintf(sigbus_state.msg, sizeof(sigbus_state.msg),
		             "<3>%s: error: segment /dev/shm/taskring.%s was truncated by "
		             "another process: exiting\n",
		             tr_log_ident(), instance);
	else
		n = snprintf(sigbus_state.msg, sizeof(sigbus_state.msg),
		             "%s[%d]: error: segment /dev/shm/taskring.%s was truncated by "
		             "another process: exiting\n",
		             tr_log_ident(), (int)getpid(), instance);
	if (n < 0)
		return -EINVAL;
	sigbus_state.len =
	    (size_t)n < sizeof(sigbus_state.msg) ? (size_t)n : sizeof(sigbus_state.msg) - 1;
	sigbus_state.lo = (uintptr_t)base;
	sigbus_state.hi = (uintptr_t)base + size;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

void tr_sigbus_reset(void)
{
	signal(SIGBUS, SIG_DFL);
	memset(&sigbus_state, 0, sizeof(sigbus_state));
}
