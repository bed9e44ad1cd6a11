/*
 * log.c - see log.h. Lines are formatted into one buffer and written with a
 * single write(2) so lines from several processes never interleave.
 */
#include "log.h"
#include "taskring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *log_prog = "taskring";
static int log_level = LOG_INFO;
static int log_syslog_prefix;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "error",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void tr_log_init(const char *prog, int level)
{
	log_prog = prog ? prog : "taskring";
	log_level = level;
	log_syslog_prefix = !isatty(STDERR_FILENO);
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

static void log_emit(int level, int err, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int saved = errno;

	if (level > log_level)
		return;
	if (log_syslog_prefix)
		n = (size_t)snprintf(line, sizeof(line), "<%d>%s: %s: ", level, log_prog,
		                     tr_log_level_name(level));
	else
		n = (size_t)snprintf(line, sizeof(line), "%s: %s: ", log_prog,
		                     tr_log_level_name(level));
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
