/*
 * cmd_reload.c - `taskring reload`: ask the supervisor to reload its
 * configuration file (SIGHUP) and wait until it reports the reload applied
 * or refused - what systemd's ExecReload needs.
 *
 * Protocol (taskring_reload_ticket(3)): the command takes a ticket, signals
 * the supervisor, and polls until the answer covering its ticket appears,
 * the supervisor dies, or the timeout passes. Each request gets its own
 * answer: a file refused while an earlier reload still replaces workers is
 * not that reload's answer. An answer pushed out of the daemon's ring by
 * many other reloads before we looked, or a request the daemon dropped
 * (-ESTALE; see reload.h), is asked for again.
 *
 * How long: a reload that replaces workers does so one at a time, and each
 * retired worker may finish its running tasks for up to shutdown_timeout_s,
 * so no fixed time fits. Without --timeout the command waits 60 s for the
 * answer, and once the daemon reports the reload replacing workers
 * (taskring_reload_progress), until the time the daemon expects that to end
 * instead, plus RELOAD_SLACK_MS: longer or shorter. That time is absolute,
 * renewed as the supervisor goes on (its loop turns at least every 5 s
 * while it reloads): a supervisor that stops moving (SIGSTOP, hung) does
 * not push it on, a later end read while it is stopped is not believed (any
 * client can write the segment), and a dead one ends the wait at once.
 * --timeout bounds the wait whatever the daemon says. A reload that takes
 * longer than RELOAD_QUIET_MS says how far it got on stderr, at each worker
 * change done.
 *
 * With --accepted the command returns as soon as the daemon reports the
 * reload replacing workers (the file was valid and is being applied), for
 * systemd's ExecReload=, which systemd kills after TimeoutStartSec=: a
 * refused file is still reported as refused.
 *
 * With --pid (systemd's ExecReload=taskring reload --pid $MAINPID, where the
 * instance named in the configuration file is not known), the instance is
 * the one whose live supervisor is that pid, found by attaching to each
 * /dev/shm/taskring.* segment we may open.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "procstat.h"

#define RELOAD_DEFAULT_TIMEOUT_MS 60000
#define RELOAD_SLACK_MS           10000
#define RELOAD_QUIET_MS           2000

static const char reload_help[] =
    "usage: taskring reload [--pid PID] [--timeout S] [--accepted]\n"
    "\n"
    "Sends SIGHUP to the daemon, which reloads its configuration file, and waits\n"
    "until the daemon reports the new file applied or refused. An invalid file\n"
    "changes nothing; its error is printed.\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S      wait at most S seconds, also for a restarting daemon\n"
    "                       (default: 60; while the daemon replaces workers, each\n"
    "                       finishing its tasks within shutdown_timeout_s, as\n"
    "                       long as it expects that to take, plus 10)\n"
    "  -a, --accepted       return once the daemon accepted the file and began\n"
    "                       replacing workers, without waiting for that to end\n"
    "                       (for systemd's ExecReload=, which has a time limit)\n"
    "      --pid PID        the daemon is process PID, and the instance the one it\n"
    "                       serves (for systemd: ExecReload=taskring reload --pid\n"
    "                       $MAINPID); with -i, that instance's daemon must be PID\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 applied (or accepted, with --accepted); 1 refused (the error\n"
    "on stderr); 2 bad arguments; 3 daemon not reachable or stopped; 4 no answer\n"
    "in time.\n";

/* The state letter of process pid in /proc (R, S, T, ...), or 0. */
static char reload_proc_state(int pid)
{
	struct tr_procstat ps;
	return tr_procstat_read(pid, &ps) == 0 ? ps.state : 0;
}

/* Whether process pid is stopped (SIGSTOP, a debugger). */
static int reload_stopped(int pid)
{
	char st = reload_proc_state(pid);
	return st == 'T' || st == 't';
}

/* No answer by the deadline: says what is known and returns CLI_TIMEOUT. */
static int reload_late(struct cli *c, int pid, int64_t waited_ms, int have,
                       const struct taskring_reload_progress *pr)
{
	char state = reload_proc_state(pid), prog[160] = "";

	if (have)
		snprintf(prog, sizeof(prog), " (it had done %u of %u worker changes%s)", pr->done,
		         pr->total, pr->left_ms == 0 ? ", and expected to be done by now" : "");
	if (state == 'T' || state == 't')
		cli_err(c,
		        "no answer from the daemon (pid %d) within %lld s: it is stopped "
		        "(state %c; SIGCONT continues it)%s",
		        pid, (long long)(waited_ms / 1000), state, prog);
	else
		cli_err(c, "no answer from the daemon (pid %d) within the timeout (%lld s)%s", pid,
		        (long long)(waited_ms / 1000), prog);
	return CLI_TIMEOUT;
}

/* Attaches to the instance whose live supervisor is pid; name receives its
 * name. Returns CLI_OK or prints why not and returns CLI_NODAEMON. */
static int reload_find(struct cli *c, int pid, char *name, size_t namelen)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int found = 0;

	if (!d) {
		int err = errno;
		cli_err(c, "opendir(/dev/shm): %s", strerror(err));
		return CLI_NODAEMON;
	}
	while (!found && (e = readdir(d)) != NULL) {
		const char *in = e->d_name + strlen("taskring.");
		struct taskring_status st;
		taskring_t *h = NULL;

		if (strncmp(e->d_name, "taskring.", strlen("taskring.")) != 0 ||
		    taskring_instance_valid(in) < 0 || strlen(in) >= namelen)
			continue;
		if (taskring_attach(in, &h) < 0)
			continue;
		memset(&st, 0, sizeof(st));
		if (taskring_status_get(h, &st) == 0) {
			found = st.alive && st.pid == pid;
			taskring_status_release(&st);
		}
		if (found) {
			snprintf(name, namelen, "%s", in);
			c->instance = name;
			c->h = h;
		} else {
			taskring_detach(h);
		}
	}
	closedir(d);
	if (!found) {
		cli_err(c, "no taskring instance is served by pid %d", pid);
		return CLI_NODAEMON;
	}
	return CLI_OK;
}

static int reload_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"timeout", required_argument, NULL, 't'}, {"pid", required_argument, NULL, 'p'},
	    {"accepted", no_argument, NULL, 'a'},      {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	struct taskring_status st;
	struct taskring_reload_progress pr = {0};
	int64_t timeout_ms = RELOAD_DEFAULT_TIMEOUT_MS, deadline, pause_ms = 5, start;
	int given = 0, have = 0, accepted = 0;
	int64_t roll_end = -1; /* cli_now_ms() when the daemon expects the roll to end */
	unsigned shown_done = 0, shown_total = 0;
	uint64_t want_pid = 0;
	char name[64], why[256];
	uint32_t ticket;
	int pid, s, ok;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":t:p:ai:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 't') {
			s = cli_opt_duration(c, "--timeout", optarg, &timeout_ms);
			given = 1;
		} else if (opt == 'p') {
			s = cli_opt_u64(c, "--pid", optarg, 2, 0x7fffffff, &want_pid);
		} else if (opt == 'a') {
			accepted = 1;
			continue;
		} else {
			s = cli_common_opt(c, opt, tok, longopts);
		}
		if (s != CLI_CONTINUE)
			return s;
	}
	if (optind < argc)
		return cli_usage(c, "unexpected argument '%.40s'", argv[optind]);
	start = cli_now_ms();
	deadline = start + timeout_ms;
	c->attach_by = deadline; /* no longer for a restarting daemon */
	if (want_pid && !c->instance_opt)
		s = reload_find(c, (int)want_pid, name, sizeof(name));
	else
		s = cli_attach(c, 1);
	if (s != CLI_OK)
		return s;
	s = cli_status_read(c, &st);
	if (s != CLI_OK)
		return s;
	pid = st.pid;
	if (want_pid && st.alive && pid != (int)want_pid) {
		taskring_status_release(&st);
		cli_err(c, "the daemon of instance '%s' is pid %d, not %d", c->instance, pid,
		        (int)want_pid);
		return CLI_NODAEMON;
	}
	s = st.alive && pid > 1;
	taskring_status_release(&st);
	if (!s) {
		cli_err(c, "instance '%s': the daemon is not running", c->instance);
		return CLI_NODAEMON;
	}
	if (!cli_is_supervisor(pid)) {
		cli_err(c,
		        "instance '%s': the segment names pid %d as its daemon, which is not a "
		        "taskringd supervisor: not signalled (the segment may be damaged)",
		        c->instance, pid);
		return CLI_NODAEMON;
	}
	taskring_reload_ticket(c->h, &ticket);
	if (kill(pid, SIGHUP) < 0) {
		int e = errno;
		cli_err(c, "kill(%d, SIGHUP): %s", pid, strerror(e));
		return CLI_NODAEMON;
	}
	for (;;) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = pause_ms * 1000000};
		nanosleep(&ts, NULL);
		if (pause_ms < 100)
			pause_ms *= 2;
		s = cli_status_read(c, &st);
		if (s != CLI_OK)
			return s;
		if (!st.alive || st.pid != pid) {
			taskring_status_release(&st);
			cli_err(c, "the daemon (pid %d) stopped before reporting the reload", pid);
			return CLI_NODAEMON;
		}
		taskring_status_release(&st);
		int r = taskring_reload_outcome(c->h, ticket, &ok, why, sizeof(why));
		if (r == -ESTALE) {
			/* Answered, but many other reloads pushed the answer out
			 * before we looked: ask again (the file is read again). */
			taskring_reload_ticket(c->h, &ticket);
			if (kill(pid, SIGHUP) < 0) {
				int e = errno;
				cli_err(c, "kill(%d, SIGHUP): %s", pid, strerror(e));
				return CLI_NODAEMON;
			}
			pause_ms = 5;
		} else if (r == 0) {
			if (ok) {
				printf("reload applied\n");
				return CLI_OK;
			}
			if (why[0])
				cli_err(c, "reload refused: %s", why);
			else
				cli_err(c, "reload refused (no reason given)");
			return CLI_FAILED;
		}
		if (r == -EAGAIN && taskring_reload_progress(c->h, ticket, &pr) == 0) {
			int64_t now = cli_now_ms();
			have = 1;
			if (accepted) {
				printf(
				    "reload accepted: %u of %u worker changes done; the daemon "
				    "expects the rest within %lld s (running tasks finish first)\n",
				    pr.done, pr.total, (long long)((pr.left_ms + 999) / 1000));
				return CLI_OK;
			}
			/* The end the daemon expects replaces the fixed wait. It is
			 * an absolute time: once it passed (left_ms 0), it stays.
			 * A stopped supervisor writes nothing: a later end read
			 * then was written by someone else, and is not believed. */
			int64_t end = now + pr.left_ms;
			if ((pr.left_ms > 0 || roll_end < 0) &&
			    (end <= roll_end || !reload_stopped(pid)))
				roll_end = end;
			if (!given && roll_end >= 0)
				deadline = roll_end + RELOAD_SLACK_MS;
			if (now - start >= RELOAD_QUIET_MS &&
			    (pr.done != shown_done || pr.total != shown_total)) {
				shown_done = pr.done;
				shown_total = pr.total;
				fprintf(
				    stderr,
				    "taskring: reload: %u of %u worker changes done; the daemon "
				    "expects the rest within %lld s (running tasks finish first)\n",
				    pr.done, pr.total, (long long)((pr.left_ms + 999) / 1000));
			}
		}
		if (cli_remaining_ms(deadline) == 0)
			return reload_late(c, pid, cli_now_ms() - start, have, &pr);
	}
}

const struct cli_cmd cmd_reload = {
    .name = "reload",
    .run = reload_run,
    .summary = "reload the daemon's configuration and wait for the outcome",
    .help = reload_help,
};
