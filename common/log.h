/*
 * log.h - one-line-per-event logging to stderr for the daemon and tools.
 *
 * Each line carries a level. Its prefix depends on where stderr goes:
 *   the journal (JOURNAL_STREAM names fd 2's device and inode):
 *     "<6>taskringd/web: info: ..."  a syslog priority; the journal adds the
 *     time
 *   anything else (a file, a pipe, a terminal):
 *     "2026-11-23T19:04:05.123+00:00 taskringd/web[1234]: info: ..."
 *     local time with milliseconds and UTC offset, the name and the pid of
 *     the process writing the line (a worker's own pid in a worker)
 * "taskringd/web" is the program name and, once tr_log_set_instance() named
 * it, the instance the line is about ("web"), in the syslog tag's place as
 * postfix's "postfix/smtpd[1234]:": several instances can share one file
 * or one template unit's journal. Without an instance: "taskringd[1234]:".
 * Failing calls are logged with the call and errno:
 * tr_log_errno(LOG_ERR, err, "open(%s)", p) prints
 * "open(/x): No such file or directory".
 *
 * State: the program name, the level and the prefix mode, all set by
 * tr_log_init(), and the instance (tr_log_set_instance()); the mode can be set or reset with
 * tr_log_set_mode(). Without tr_log_init() the mode is decided at the first line.
 */
#ifndef TR_LOG_H
#define TR_LOG_H

#include <syslog.h>

/* Prefix modes. */
enum tr_log_mode {
	TR_LOG_AUTO,    /* decide at the next line: tr_log_detect() */
	TR_LOG_JOURNAL, /* "<N>prog/instance: level: " */
	TR_LOG_STAMP,   /* "TIME prog/instance[pid]: level: " */
};

/* Sets the program name and level, and decides the prefix mode now
 * (tr_log_detect()). */
void tr_log_init(const char *prog, int level);

/* Names the instance in every later line ("prog/instance"); NULL or ""
 * names none. Workers forked afterwards inherit it. */
void tr_log_set_instance(const char *instance);

/* "prog" or "prog/instance": the tag lines carry before "[pid]" or ":". */
const char *tr_log_ident(void);

/* Sets the prefix mode; TR_LOG_AUTO decides it again at the next line. */
void tr_log_set_mode(enum tr_log_mode mode);

/* The prefix mode in use (TR_LOG_AUTO until the first line or init). */
enum tr_log_mode tr_log_get_mode(void);

/* TR_LOG_JOURNAL when the environment's JOURNAL_STREAM ("DEV:INODE", as
 * systemd sets it) names the file fd 2 is open on, else TR_LOG_STAMP. */
enum tr_log_mode tr_log_detect(void);

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
