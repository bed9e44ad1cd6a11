/*
 * log.h - one-line-per-event logging to stderr for the daemon and tools.
 *
 * Each line carries a level. When stderr is not a terminal, lines start with
 * a "<N>" syslog priority so journald files them right. Failing calls are
 * logged with the call and errno: tr_log_errno(LOG_ERR, err, "open(%s)", p)
 * prints "open(/x): No such file or directory".
 *
 * State: the program name, the level and the prefix mode, all reset by
 * tr_log_init(); nothing else.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <syslog.h>

/* Sets the program name and level; decides the prefix style from isatty(2). */
void tr_log_init(const char *prog, int level);

/* Changes the level (LOG_ERR .. LOG_DEBUG). */
void tr_log_set_level(int level);

/* Parses "error", "warning", "notice", "info", "debug"; returns the level or -1. */
int tr_log_level_parse(const char *name);

/* Name of a level ("info"). */
const char *tr_log_level_name(int level);

/* Logs one line at level. */
void tr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs one line with ": strerror(err)" appended; err may be negative. */
void tr_log_errno(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logs at LOG_ERR and exits 1. Only for start-up paths. err 0: no errno text. */
_Noreturn void tr_fatal(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)    tr_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...)   tr_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) tr_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)   tr_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)  tr_log(LOG_DEBUG, __VA_ARGS__)

#endif
