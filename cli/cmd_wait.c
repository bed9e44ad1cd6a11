/*
 * cmd_wait.c - `taskring wait`: wait for tasks and print their results, one
 * line per task in the order given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char wait_help[] =
    "usage: taskring wait [--timeout S] ID...\n"
    "\n"
    "Waits until each task is finished and prints its result, one line per task\n"
    "in the order given. A task that failed or was cancelled gets an empty line\n"
    "and its error on stderr. Results stay readable with 'taskring show'.\n"
    "\n"
    "Options:\n"
    "  -t, --timeout S      wait at most S seconds in all (decimals allowed);\n"
    "                       0 only collects tasks already finished\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 all done; 1 a task failed, was cancelled, does not exist or\n"
    "expired; 2 bad arguments; 3 daemon not reachable; 4 timed out. With several\n"
    "problems, the highest status.\n";

static int wait_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int64_t timeout_ms = -1, deadline;
	uint64_t *ids;
	int n, st, worst = CLI_OK;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":t:i:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 't')
			st = cli_opt_duration(c, "--timeout", optarg, &timeout_ms);
		else
			st = cli_common_opt(c, opt, tok, longopts);
		if (st != CLI_CONTINUE)
			return st;
	}
	n = argc - optind;
	st = cli_ids_attach(c, n, argv + optind, "to wait for", &ids);
	if (st != CLI_OK)
		return st;
	deadline = timeout_ms >= 0 ? cli_now_ms() + timeout_ms : -1;
	for (int i = 0; i < n; i++) {
		struct taskring_info info = {0};
		int r = cli_wait_task(c, ids[i], deadline, &info);
		if (r == 0) {
			st = cli_report_final(c, &info, 1);
			taskring_info_release(&info);
		} else {
			putchar('\n');
			fflush(stdout);
			st = cli_task_error(c, ids[i], r);
		}
		if (st > worst)
			worst = st;
	}
	free(ids);
	return worst;
}

const struct cli_cmd cmd_wait = {
    .name = "wait",
    .run = wait_run,
    .summary = "wait for tasks and print their results in order",
    .help = wait_help,
};
