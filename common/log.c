/*
 * log.c - see log.h. Lines are formatted into one buffer and written with a
 * single write(2) so lines from several processes never interleave.
 *
 * The journal check follows systemd.exec(5): JOURNAL_STREAM is "DEV:INODE"
 * of the stream the service manager connected, and only counts when stderr
 * is still that stream (a shell redirect or a child's inherited environment
 * must not make a file look like the journal).
 */
#include "log.h"
#include "taskring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "taskring";
static char log_ident[96] = "taskring"; /* log_prog, or "log_prog/instance" */
static int log_level = LOG_INFO;
static enum tr_log_mode log_mode = TR_LOG_AUTO;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "error",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void tr_log_init(const char *prog, int level)
{
	log_prog = prog ? prog : "taskring";
	snprintf(log_ident, sizeof(log_ident), "%s", log_prog);
	log_level = level;
	tr_log_set_mode(tr_log_detect());
}

void tr_log_set_instance(const char *instance)
{
	if (instance && *instance)
		snprintf(log_ident, sizeof(log_ident), "%s/%s", log_prog, instance);
	else
		snprintf(log_ident, sizeof(log_ident), "%s", log_prog);
}

const char *tr_log_ident(void)
{
	return log_ident;
}

void tr_log_set_mode(enum tr_log_mode mode)
{
	log_mode = mode;
	/* Reads the time zone now, before any fork(): the first localtime_r()
	 * would, and a worker should not open /etc/localtime at its first line. */
	if (mode == TR_LOG_STAMP)
		tzset();
}

enum tr_log_mode tr_log_get_mode(void)
{
	return log_mode;
}

enum tr_log_mode tr_log_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	int end = 0;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu%n", &dev, &ino, &end) != 2 || js[end] != '\0')
		return TR_LOG_STAMP;
	if (fstat(STDERR_FILENO, &st) < 0)
		return TR_LOG_STAMP;
	if ((unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino)
		return TR_LOG_STAMP;
	return TR_LOG_JOURNAL;
}

void tr_log_set_level(int level)
{
	log_level = level;
}

int tr_log_level_parse(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "err") == 0)
		return LOG_ERR;
	if (strcasecmp(name, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

const char *tr_log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

/* Writes "2026-11-23T19:04:05.123+01:00 " (local time) into buf; returns
 * its length (0 when the clock or the time zone fails). */
static size_t log_stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !localtime_r(&ts.tv_sec, &tm))
		return 0;
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return 0;
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	int k = snprintf(buf + n, len - n, ".%03ld%c%02ld:%02ld ", ts.tv_nsec / 1000000, sign,
	                 off / 60, off % 60);
	return k > 0 ? n + (size_t)k : 0;
}

static void log_emit(int level, int err, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int saved = errno;

	if (level > log_level)
		return;
	if (log_mode == TR_LOG_AUTO)
		tr_log_set_mode(tr_log_detect());
	if (log_mode == TR_LOG_JOURNAL)
		n = (size_t)snprintf(line, sizeof(line), "<%d>%s: %s: ", level, log_ident,
		                     tr_log_level_name(level));
	else
		n = log_stamp(line, sizeof(line));
	if (log_mode != TR_LOG_JOURNAL && n < sizeof(line)) {
		int k = snprintf(line + n, sizeof(line) - n, "%s[%d]: %s: ", log_ident,
		                 (int)getpid(), tr_log_level_name(level));
		if (k > 0)
			n += (size_t)k;
	}
	if (n < sizeof(line)) {
		int k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (k > 0)
			n += (size_t)k;
	}
	if (err && n < sizeof(line)) {
		int e = err < 0 ? -err : err;
		/* errno values by strerror (taskring_strerror words a few for
		 * clients), the project's own codes by taskring_strerror */
		int k = snprintf(line + n, sizeof(line) - n, ": %s",
		                 e > TASKRING_EBASE ? taskring_strerror(e) : strerror(e));
		if (k > 0)
			n += (size_t)k;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
	errno = saved;
}

void tr_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, 0, fmt, ap);
	va_end(ap);
}

void tr_log_errno(int level, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(level, err, fmt, ap);
	va_end(ap);
}

void tr_fatal(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_ERR, err, fmt, ap);
	va_end(ap);
	exit(1);
}
