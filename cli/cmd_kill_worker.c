/*
 * cmd_kill_worker.c - `taskring kill-worker`: send a signal to one worker
 * (default SIGKILL) and print the pid hit, to try process isolation by
 * hand. The library checks that the pid is a child of the live supervisor,
 * so a stale or forged pid in the segment is never signalled.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "parse.h"

static const char kill_worker_help[] =
    "usage: taskring kill-worker [--signal SIG] INDEX\n"
    "\n"
    "Sends SIG (default KILL) to worker INDEX (see 'taskring status') and prints\n"
    "the pid it hit. The daemon replaces a worker that dies; the task it was\n"
    "running is put back in the queue.\n"
    "\n"
    "Options:\n"
    "  -s, --signal SIG     a signal name (KILL, SIGTERM, segv...) or number\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 sent; 1 the worker is not running; 2 bad arguments or no\n"
    "such worker; 3 daemon not reachable or no permission.\n";

static int kill_worker_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"signal", required_argument, NULL, 's'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct taskring_status st;
	char why[160];
	uint64_t index;
	int sig = SIGKILL, pid = 0, nworkers, s, r;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":s:i:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 's') {
			if (cli_parse_signal(optarg, &sig, why, sizeof(why)) < 0)
				return cli_usage(c, "--signal: %s", why);
			continue;
		}
		s = cli_common_opt(c, opt, tok, longopts);
		if (s != CLI_CONTINUE)
			return s;
	}
	if (optind >= argc)
		return cli_usage(c, "missing INDEX (a worker index, see 'taskring status')");
	if (argc - optind > 1)
		return cli_usage(c, "kill-worker takes one INDEX (got %d)", argc - optind);
	s = cli_opt_u64(c, "INDEX", argv[optind], 0, 1023, &index);
	if (s != CLI_CONTINUE)
		return s;
	s = cli_attach(c, 1);
	if (s != CLI_OK)
		return s;
	s = cli_status_read(c, &st);
	if (s != CLI_OK)
		return s;
	nworkers = st.nworkers;
	taskring_status_release(&st);
	if ((int)index >= nworkers)
		return cli_usage(c, "no worker %d: instance '%s' has %d (0-%d)", (int)index,
		                 c->instance, nworkers, nworkers - 1);
	r = taskring_kill_worker(c->h, (int)index, sig, &pid);
	if (r == -ESRCH) {
		cli_err(c, "worker %d is not running (it may be restarting)", (int)index);
		return CLI_FAILED;
	}
	if (r < 0) {
		cli_err(c, "signalling worker %d: %s", (int)index, taskring_strerror(r));
		return r == -EPERM || r == -EACCES ? CLI_NODAEMON : cli_status_of(r);
	}
	printf("%d\n", pid);
	return CLI_OK;
}

const struct cli_cmd cmd_kill_worker = {
    .name = "kill-worker",
    .run = kill_worker_run,
    .summary = "send a signal to a worker (default KILL); print its pid",
    .help = kill_worker_help,
};
