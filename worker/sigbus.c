/*
 * sigbus.c - see sigbus.h. The handler is async-signal-safe: the parts of
 * the line that do not change (the prefix after the time, the text around
 * the offset) are formatted when the handler is installed; the handler
 * formats the time (clock_gettime() and the UTC offset in force at the
 * install: localtime_r() is not async-signal-safe), the worker's index and
 * the offset with its own digit loop, then calls write() and _exit().
 * Not its fault: it restores the default action and returns (a fault runs
 * again and the default action ends the process with its core dump), or,
 * for a SIGBUS another process sent, raises it again.
 * State: one static record, rewritten by each install, cleared by reset;
 * the worker's index and the "fired" flag change later (tr_sigbus_set_index,
 * the handler).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sigbus.h"

#define SIGBUS_WORKER_NONE (-2) /* the supervisor's handler: no worker index */

static struct {
	uintptr_t lo, hi;
	int status;                   /* the exit status */
	int stamp;                    /* a time stamp first (not the journal) */
	long gmtoff;                  /* seconds east of UTC at the install */
	volatile sig_atomic_t worker; /* index, -1 a spare, SIGBUS_WORKER_NONE */
	int fired;                    /* a thread is writing the line */
	char pre[160];                /* "<3>ident: error: " or " ident[pid]: error: " */
	char mid[160];                /* up to the offset */
	char post[96];                /* after it */
} sigbus_state;

/* Appends the string s to buf (of len bytes, *n used); cut to fit. */
static void put_str(char *buf, size_t len, size_t *n, const char *s)
{
	while (*s && *n < len)
		buf[(*n)++] = *s++;
}

/* Appends v in decimal, at least width digits (zero-padded). */
static void put_num(char *buf, size_t len, size_t *n, unsigned long long v, int width)
{
	char d[24];
	int k = 0;

	do {
		d[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && k < (int)sizeof(d));
	while (k < width && k < (int)sizeof(d))
		d[k++] = '0';
	while (k > 0 && *n < len)
		buf[(*n)++] = d[--k];
}

/* Appends "2026-11-23T19:04:05.123+01:00" for now, in the UTC offset of the
 * install (the days from the civil calendar algorithm of H. Hinnant's
 * "chrono-compatible low-level date algorithms"). */
static void put_stamp(char *buf, size_t len, size_t *n)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return;
	long long t = (long long)ts.tv_sec + sigbus_state.gmtoff;
	long long days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	long long sod = t - days * 86400;
	long long z = days + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	long long d = doy - (153 * mp + 2) / 5 + 1;
	long long m = mp < 10 ? mp + 3 : mp - 9;
	long long y = yoe + era * 400 + (m <= 2);
	long off = sigbus_state.gmtoff / 60;

	if (y < 0)
		return;
	put_num(buf, len, n, (unsigned long long)y, 4);
	put_str(buf, len, n, "-");
	put_num(buf, len, n, (unsigned long long)m, 2);
	put_str(buf, len, n, "-");
	put_num(buf, len, n, (unsigned long long)d, 2);
	put_str(buf, len, n, "T");
	put_num(buf, len, n, (unsigned long long)(sod / 3600), 2);
	put_str(buf, len, n, ":");
	put_num(buf, len, n, (unsigned long long)(sod / 60 % 60), 2);
	put_str(buf, len, n, ":");
	put_num(buf, len, n, (unsigned long long)(sod % 60), 2);
	put_str(buf, len, n, ".");
	put_num(buf, len, n, (unsigned long long)(ts.tv_nsec / 1000000), 3);
	put_str(buf, len, n, off < 0 ? "-" : "+");
	if (off < 0)
		off = -off;
	put_num(buf, len, n, (unsigned long long)(off / 60), 2);
	put_str(buf, len, n, ":");
	put_num(buf, len, n, (unsigned long long)(off % 60), 2);
}

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	char line[512];
	size_t n = 0;

	(void)uc;
	if (si->si_code != BUS_ADRERR || a < sigbus_state.lo || a >= sigbus_state.hi) {
		signal(sig, SIG_DFL);
		if (si->si_code <= 0) /* sent (kill, tgkill, sigqueue): not a fault */
			raise(sig);
		return;
	}
	/* A second thread faulting meanwhile waits for the first to exit. */
	if (__atomic_exchange_n(&sigbus_state.fired, 1, __ATOMIC_ACQ_REL))
		for (;;)
			pause();
	if (sigbus_state.stamp)
		put_stamp(line, sizeof(line), &n);
	put_str(line, sizeof(line), &n, sigbus_state.pre);
	int w = sigbus_state.worker;
	if (w >= 0) {
		put_str(line, sizeof(line), &n, "worker ");
		put_num(line, sizeof(line), &n, (unsigned long long)w, 1);
		put_str(line, sizeof(line), &n, ": ");
	} else if (w == -1) {
		put_str(line, sizeof(line), &n, "spare worker: ");
	}
	put_str(line, sizeof(line), &n, sigbus_state.mid);
	if (w != SIGBUS_WORKER_NONE) {
		put_num(line, sizeof(line), &n, (unsigned long long)(a - sigbus_state.lo), 1);
		put_str(line, sizeof(line), &n, sigbus_state.post);
	}
	if (n == sizeof(line))
		line[n - 1] = '\n';
	ssize_t r = write(STDERR_FILENO, line, n);
	(void)r;
	_exit(sigbus_state.status);
}

/* Prepares the state for [base, base + size) of instance's segment and
 * installs the handler; worker SIGBUS_WORKER_NONE: the supervisor's. */
static int sigbus_setup(const void *base, size_t size, const char *instance, int worker, int status)
{
	struct sigaction sa;
	int n, m;

	if (tr_log_get_mode() == TR_LOG_AUTO)
		tr_log_set_mode(tr_log_detect());
	memset(&sigbus_state, 0, sizeof(sigbus_state));
	sigbus_state.stamp = tr_log_get_mode() != TR_LOG_JOURNAL;
	if (sigbus_state.stamp) {
		time_t now = time(NULL);
		struct tm tm;
		if (localtime_r(&now, &tm))
			sigbus_state.gmtoff = tm.tm_gmtoff;
		n = snprintf(sigbus_state.pre, sizeof(sigbus_state.pre),
		             " %s[%d]: error: ", tr_log_ident(), (int)getpid());
	} else {
		n = snprintf(sigbus_state.pre, sizeof(sigbus_state.pre), "<%d>%s: error: ", LOG_ERR,
		             tr_log_ident());
	}
	if (worker == SIGBUS_WORKER_NONE)
		m = snprintf(sigbus_state.mid, sizeof(sigbus_state.mid),
		             "segment /dev/shm/taskring.%s was truncated by another process: "
		             "exiting\n",
		             instance);
	else
		m = snprintf(sigbus_state.mid, sizeof(sigbus_state.mid),
		             "segment /dev/shm/taskring.%s was truncated by another process "
		             "(SIGBUS at offset ",
		             instance);
	snprintf(sigbus_state.post, sizeof(sigbus_state.post),
	         " of the %zu bytes mapped): exiting\n", size);
	if (n < 0 || m < 0)
		return -EINVAL;
	sigbus_state.lo = (uintptr_t)base;
	sigbus_state.hi = (uintptr_t)base + size;
	sigbus_state.worker = worker;
	sigbus_state.status = status;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) < 0 ? -errno : 0;
}

int tr_sigbus_install(const void *base, size_t size, const char *instance)
{
	return sigbus_setup(base, size, instance, SIGBUS_WORKER_NONE, 1);
}

int tr_sigbus_install_worker(const void *base, size_t size, const char *instance, int index,
                             int status)
{
	return sigbus_setup(base, size, instance, index < 0 ? -1 : index, status);
}

void tr_sigbus_set_index(int index)
{
	if (sigbus_state.worker != SIGBUS_WORKER_NONE)
		sigbus_state.worker = index < 0 ? -1 : index;
}

void tr_sigbus_reset(void)
{
	signal(SIGBUS, SIG_DFL);
	memset(&sigbus_state, 0, sizeof(sigbus_state));
}
