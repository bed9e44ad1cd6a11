/*
 * test_log.c - the log line prefixes (common/log.c): the "<N>" syslog form
 * when stderr is the journal (JOURNAL_STREAM names fd 2), the time-stamped
 * "TIME prog[pid]: level: " form otherwise; both name the instance once it
 * is set ("prog/instance").
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static char tmpl[] = "/tmp/test_log.XXXXXX";
static int saved_err = -1;

/* Points fd 2 at fd. */
static void stderr_to(int fd)
{
	if (dup2(fd, STDERR_FILENO) < 0) {
		perror("dup2");
		exit(1);
	}
}

/* Sets JOURNAL_STREAM to fd's "DEV:INODE". */
static void journal_stream_of(int fd)
{
	struct stat st;
	char v[64];

	if (fstat(fd, &st) < 0) {
		perror("fstat");
		exit(1);
	}
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	         (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

/* Empties the log file (fd 2 shares fd's offset: back to 0). */
static void log_reset(int fd)
{
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		perror("ftruncate");
		exit(1);
	}
}

/* What the log file holds, NUL-terminated. */
static const char *log_text(int fd)
{
	static char buf[4096];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* The tag check_stamped() expects before "[pid]". */
static const char *want_ident = "test_log";

/* Checks that line (one, newline-terminated) is the time-stamped form with
 * want_ident[pid] and level, the text after it is rest, and the stamp reads as a
 * time within 10 s of now with UTC offset want_off (seconds). */
static void check_stamped(const char *line, pid_t pid, const char *level, const char *rest,
                          long want_off, const char *what)
{
	static const char re[] =
	    "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
	    "\\.([0-9]{3})([+-])([0-9]{2}):([0-9]{2}) ([A-Za-z0-9_./-]+)\\[([0-9]+)\\]: "
	    "([a-z]+): (.*)\n$";
	regex_t rx;
	regmatch_t m[15];
	char f[15][256];

	if (regcomp(&rx, re, REG_EXTENDED)) {
		ok(0, "%s: regcomp", what);
		return;
	}
	int matched = regexec(&rx, line, 15, m, 0) == 0;
	regfree(&rx);
	if (!ok(matched, "%s: the line has the time-stamped form", what)) {
		diag("  got '%s'", line);
		return;
	}
	for (int i = 1; i < 15; i++) {
		int len = m[i].rm_eo - m[i].rm_so;
		if (len > 255)
			len = 255;
		memcpy(f[i], line + m[i].rm_so, (size_t)len);
		f[i][len] = '\0';
	}
	is_str(f[11], want_ident, "%s: the process name (and instance)", what);
	is_int(atol(f[12]), pid, "%s: the pid", what);
	is_str(f[13], level, "%s: the level", what);
	is_str(f[14], rest, "%s: the message", what);

	long off = (f[8][0] == '-' ? -1 : 1) * (atol(f[9]) * 3600 + atol(f[10]) * 60);
	is_int(off, want_off, "%s: the UTC offset %s%s:%s", what, f[8], f[9], f[10]);
	struct tm tm = {
	    .tm_year = atoi(f[1]) - 1900,
	    .tm_mon = atoi(f[2]) - 1,
	    .tm_mday = atoi(f[3]),
	    .tm_hour = atoi(f[4]),
	    .tm_min = atoi(f[5]),
	    .tm_sec = atoi(f[6]),
	};
	long long t = (long long)timegm(&tm) - off, now = (long long)time(NULL);
	ok(t <= now && t >= now - 10, "%s: the stamp is the local time now (%lld vs %lld)", what, t,
	   now);
}

int main(void)
{
	int fd = mkstemp(tmpl), other;
	char other_path[] = "/tmp/test_log.other.XXXXXX";
	int pfd[2];
	char want[256];

	if (fd < 0 || (other = mkstemp(other_path)) < 0 || pipe(pfd) < 0) {
		perror("set-up");
		return 1;
	}
	unlink(tmpl);
	unlink(other_path);
	saved_err = dup(STDERR_FILENO);
	setenv("TZ", "UTC0", 1);
	tzset();

	/* ---- the journal: JOURNAL_STREAM names fd 2 (a file) ---- */
	stderr_to(fd);
	journal_stream_of(fd);
	tr_log_init("test_log", LOG_INFO);
	is_int(tr_log_get_mode(), TR_LOG_JOURNAL,
	       "JOURNAL_STREAM = fd 2's dev:inode: journal mode");
	log_info("hello %d", 42);
	log_debug("not shown");
	tr_log_errno(LOG_WARNING, -ENOENT, "open(%s)", "/x");
	is_str(log_text(fd),
	       "<6>test_log: info: hello 42\n"
	       "<4>test_log: warning: open(/x): No such file or directory\n",
	       "journal mode: '<N>prog: level: ' lines, no time stamp");

	/* ---- the journal on a pipe ---- */
	stderr_to(pfd[1]);
	journal_stream_of(pfd[1]);
	is_int(tr_log_detect(), TR_LOG_JOURNAL, "JOURNAL_STREAM = a pipe on fd 2: journal");
	tr_log_set_mode(TR_LOG_AUTO);
	log_notice("through the pipe");
	char pbuf[256];
	ssize_t pn = read(pfd[0], pbuf, sizeof(pbuf) - 1);
	pbuf[pn > 0 ? pn : 0] = '\0';
	is_str(pbuf, "<5>test_log: notice: through the pipe\n",
	       "TR_LOG_AUTO decides again at the next line: journal form");

	/* ---- no JOURNAL_STREAM: time-stamped ---- */
	stderr_to(fd);
	log_reset(fd);
	unsetenv("JOURNAL_STREAM");
	tr_log_init("test_log", LOG_INFO);
	is_int(tr_log_get_mode(), TR_LOG_STAMP, "no JOURNAL_STREAM: time-stamped mode");
	log_info("hello %d", 42);
	check_stamped(log_text(fd), getpid(), "info", "hello 42", 0, "no JOURNAL_STREAM");

	/* ---- JOURNAL_STREAM naming another file: time-stamped ---- */
	log_reset(fd);
	journal_stream_of(other);
	tr_log_init("test_log", LOG_INFO);
	is_int(tr_log_get_mode(), TR_LOG_STAMP,
	       "JOURNAL_STREAM of another file: time-stamped mode");
	tr_log_errno(LOG_ERR, ENOENT, "open(%s)", "/x");
	check_stamped(log_text(fd), getpid(), "error", "open(/x): No such file or directory", 0,
	              "JOURNAL_STREAM not fd 2");

	/* ---- malformed JOURNAL_STREAM values ---- */
	static const char *const bad[] = {"", "garbage", "1", "1:", ":1", "1:2x", "1:2:3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JOURNAL_STREAM", bad[i], 1);
		is_int(tr_log_detect(), TR_LOG_STAMP, "JOURNAL_STREAM '%s': time-stamped", bad[i]);
	}
	/* fd 2's own dev:inode with trailing junk is not it either */
	journal_stream_of(fd);
	snprintf(want, sizeof(want), "%s junk", getenv("JOURNAL_STREAM"));
	setenv("JOURNAL_STREAM", want, 1);
	is_int(tr_log_detect(), TR_LOG_STAMP, "fd 2's dev:inode with junk after it: time-stamped");

	/* ---- the UTC offset is the local zone's ---- */
	unsetenv("JOURNAL_STREAM");
	setenv("TZ", "XST-05:30", 1); /* UTC+05:30 */
	tzset();
	log_reset(fd);
	tr_log_set_mode(TR_LOG_STAMP);
	log_warn("east");
	check_stamped(log_text(fd), getpid(), "warning", "east", 5 * 3600 + 30 * 60, "UTC+05:30");
	setenv("TZ", "YST3", 1); /* UTC-03:00 */
	tzset();
	log_reset(fd);
	log_warn("west");
	check_stamped(log_text(fd), getpid(), "warning", "west", -3 * 3600, "UTC-03:00");

	/* ---- a forked child (a worker) writes its own pid ---- */
	log_reset(fd);
	pid_t child = fork();
	if (child == 0) {
		log_info("from the child");
		_exit(0);
	}
	int st;
	waitpid(child, &st, 0);
	check_stamped(log_text(fd), child, "info", "from the child", -3 * 3600, "forked child");

	/* ---- set explicitly, whatever the environment says ---- */
	log_reset(fd);
	tr_log_set_mode(TR_LOG_JOURNAL);
	log_err("forced");
	is_str(log_text(fd), "<3>test_log: error: forced\n", "tr_log_set_mode(TR_LOG_JOURNAL)");

	/* ---- the instance in every line, both forms, workers too ---- */
	tr_log_set_instance("hB-web.1");
	is_str(tr_log_ident(), "test_log/hB-web.1", "tr_log_ident: prog/instance");
	log_reset(fd);
	log_notice("journal %s", "line");
	is_str(log_text(fd), "<5>test_log/hB-web.1: notice: journal line\n",
	       "journal mode names the instance: '<N>prog/instance: level: '");
	log_reset(fd);
	tr_log_set_mode(TR_LOG_STAMP);
	want_ident = "test_log/hB-web.1";
	log_info("stamped");
	check_stamped(log_text(fd), getpid(), "info", "stamped", -3 * 3600,
	              "time-stamped mode names the instance");
	log_reset(fd);
	child = fork();
	if (child == 0) {
		log_warn("worker line");
		_exit(0);
	}
	waitpid(child, &st, 0);
	check_stamped(log_text(fd), child, "warning", "worker line", -3 * 3600,
	              "a forked child (a worker) names the instance with its own pid");
	log_reset(fd);
	tr_log_set_instance(NULL);
	want_ident = "test_log";
	log_info("none");
	check_stamped(log_text(fd), getpid(), "info", "none", -3 * 3600,
	              "tr_log_set_instance(NULL): the program name alone");
	tr_log_set_instance("x");
	tr_log_init("test_log", LOG_INFO);
	is_str(tr_log_ident(), "test_log", "tr_log_init resets the instance");

	stderr_to(saved_err);
	close(fd);
	close(other);
	return tap_done();
}
