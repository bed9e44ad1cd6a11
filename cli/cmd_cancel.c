/*
 * cmd_cancel.c - `taskring cancel`: cancel tasks. A queued task is cancelled
 * at once; a running one is marked, and its cpu worker stopped (io and exec
 * tasks are ended by their worker).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char cancel_help[] =
    "usage: taskring cancel ID...\n"
    "\n"
    "Cancels each task. A queued task becomes cancelled at once. A running cpu\n"
    "task has its worker stopped by the daemon (and replaced); a running io task\n"
    "is ended by its worker, and an exec task's process group is killed (the\n"
    "worker goes on in both cases). The task then ends cancelled. Prints nothing\n"
    "on success.\n"
    "\n"
    "Options:\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 all cancelled; 1 a task was already finished, does not exist\n"
    "or expired; 2 bad arguments; 3 daemon not reachable.\n";

static int cancel_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t *ids;
	int n, st, worst = CLI_OK;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":i:h", longopts, NULL);
		if (opt == -1)
			break;
		st = cli_common_opt(c, opt, tok, longopts);
		if (st != CLI_CONTINUE)
			return st;
	}
	n = argc - optind;
	st = cli_ids_attach(c, n, argv + optind, "to cancel", &ids);
	if (st != CLI_OK)
		return st;
	for (int i = 0; i < n; i++) {
		int r = taskring_cancel(c->h, ids[i]);
		if (r < 0) {
			st = cli_task_error(c, ids[i], r);
			worst = st > worst ? st : worst;
		}
	}
	free(ids);
	return worst;
}

const struct cli_cmd cmd_cancel = {
    .name = "cancel",
    .run = cancel_run,
    .summary = "cancel tasks",
    .help = cancel_help,
};
