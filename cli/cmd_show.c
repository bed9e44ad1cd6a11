/*
 * cmd_show.c - `taskring show`: one task's type, arguments, state, attempts,
 * worker, times and result or error, as text or JSON. Reading a task with
 * show does not mark its result read.
 */
#include <stdio.h>

#include "cli.h"
#include "taskfmt.h"

static const char show_help[] =
    "usage: taskring show [--json] ID\n"
    "\n"
    "Shows one task: type, arguments, state, attempts, worker, times, and its\n"
    "result or error. Does not consume the result.\n"
    "\n"
    "Options:\n"
    "  -j, --json           print one JSON object:\n"
    "                       {\"id\", \"type\", \"args\": [...], \"state\", \"attempts\",\n"
    "                        \"max_attempts\", \"worker\", \"result\", \"error\",\n"
    "                        \"submitted_ns\", \"started_ns\", \"finished_ns\",\n"
    "                        \"class\"}\n"
    "                       with null where not set (times: CLOCK_REALTIME ns)\n"
    "  -i, --instance NAME  the daemon instance\n"
    "  -h, --help           show this help\n"
    "\n"
    "Exit status: 0 shown; 1 no such task or expired; 2 bad arguments; 3 daemon\n"
    "not reachable.\n";

static int show_run(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct taskring_info info = {0};
	uint64_t id;
	int json = 0, st, r;

	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, ":ji:h", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 'j') {
			json = 1;
			continue;
		}
		st = cli_common_opt(c, opt, tok, longopts);
		if (st != CLI_CONTINUE)
			return st;
	}
	if (optind >= argc)
		return cli_usage(c, "missing ID");
	if (argc - optind > 1)
		return cli_usage(c, "show takes one ID (got %d)", argc - optind);
	st = cli_parse_ids(c, 1, argv + optind, &id);
	if (st != CLI_OK)
		return st;
	st = cli_attach(c, 0);
	if (st != CLI_OK)
		return st;
	r = taskring_get(c->h, id, &info);
	if (r < 0)
		return cli_task_error(c, id, r);
	if (json) {
		taskfmt_json(stdout, &info);
		putchar('\n');
	} else {
		taskfmt_text(stdout, &info);
	}
	taskring_info_release(&info);
	return CLI_OK;
}

const struct cli_cmd cmd_show = {
    .name = "show",
    .run = show_run,
    .summary = "show one task (--json for JSON)",
    .help = show_help,
};
