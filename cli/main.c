/*
 * main.c - the taskring command-line tool: global options, the command
 * table, help, and the final flush of standard output.
 *
 * taskring [-i NAME] [-h] [-V] COMMAND [ARGS...]
 *
 * Every command lives in its own cmd_*.c and is listed in cli_commands[]
 * below; adding one is one table entry. Exit statuses: see cli.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

extern const struct cli_cmd cmd_stress; /* cmd_stress.c */

static const struct cli_cmd *const cli_commands[] = {
    &cmd_submit, &cmd_wait,   &cmd_map,         &cmd_show,   &cmd_list,
    &cmd_cancel, &cmd_status, &cmd_kill_worker, &cmd_reload, &cmd_stress,
};
#define CLI_NCOMMANDS (sizeof(cli_commands) / sizeof(cli_commands[0]))

static const char cli_overview_head[] =
    "usage: taskring [-i NAME] COMMAND [OPTIONS] [ARGS...]\n"
    "\n"
    "Submit tasks to a running taskringd and read their results.\n"
    "\n"
    "Options:\n"
    "  -i, --instance NAME  the daemon instance (default: $TASKRING_INSTANCE, else\n"
    "                       \"default\"); also accepted after the command\n"
    "  -h, --help           show this help; 'taskring help COMMAND' or\n"
    "                       'taskring COMMAND --help' for a command\n"
    "  -V, --version        print the version\n"
    "\n"
    "Commands:\n";

static const char cli_overview_tail[] =
    "\n"
    "Exit status: 0 success; 1 a task failed, was cancelled or does not exist;\n"
    "2 usage error or bad argument; 3 the daemon cannot be reached; 4 timed out\n"
    "waiting; 5 queue full with --no-block.\n";

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < CLI_NCOMMANDS; i++)
		if (strcmp(cli_commands[i]->name, name) == 0)
			return cli_commands[i];
	return NULL;
}

static void cli_print_overview(FILE *f)
{
	fputs(cli_overview_head, f);
	for (size_t i = 0; i < CLI_NCOMMANDS; i++)
		fprintf(f, "  %-12s %s\n", cli_commands[i]->name, cli_commands[i]->summary);
	fprintf(f, "  %-12s %s\n", "help", "show the help of a command");
	fputs(cli_overview_tail, f);
}

void cli_print_help(const struct cli *c)
{
	const struct cli_cmd *cmd = c->cmd ? cli_find(c->cmd) : NULL;

	if (cmd)
		fputs(cmd->help, stdout);
	else
		cli_print_overview(stdout);
}

static int cli_help_cmd(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2) {
		cli_print_overview(stdout);
		return CLI_OK;
	}
	if (argc > 2) {
		c->cmd = NULL;
		return cli_usage(c, "help takes one command name, got %d", argc - 1);
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		printf("usage: taskring help [COMMAND]\n\nShows the help of COMMAND, or the "
		       "overview.\n");
		return CLI_OK;
	}
	cmd = cli_find(argv[1]);
	if (!cmd) {
		c->cmd = NULL;
		return cli_usage(c, "unknown command '%.40s'", argv[1]);
	}
	fputs(cmd->help, stdout);
	return CLI_OK;
}

/* Reports a failed write to stdout (full disk, closed pipe reader...). */
static int cli_finish_output(struct cli *c, int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno;
		cli_err(c, "writing to standard output: %s", strerror(e));
		return status ? status : CLI_FAILED;
	}
	return status;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"instance", required_argument, NULL, 'i'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli c = {.cmd = NULL, .instance = NULL, .instance_opt = 0, .h = NULL};
	const char *env = getenv("TASKRING_INSTANCE");
	const struct cli_cmd *cmd;
	int opt, status;

	c.instance = env && *env ? env : "default";
	c.grace_ms = -1; /* TASKRING_DEAD_GRACE is read by cli_attach */
	opterr = 0;
	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		opt = getopt_long(argc, argv, "+:i:hV", longopts, NULL);
		if (opt == -1)
			break;
		if (opt == 'V') {
			printf("taskring %s\n", TASKRING_VERSION);
			return cli_finish_output(&c, CLI_OK);
		}
		status = cli_common_opt(&c, opt, tok, longopts);
		if (status != CLI_CONTINUE)
			return cli_finish_output(&c, status);
	}
	if (optind >= argc)
		return cli_usage(&c, "no command given");

	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: start over with the command's own argv */
	if (strcmp(argv[0], "help") == 0) {
		c.cmd = "help";
		return cli_finish_output(&c, cli_help_cmd(&c, argc, argv));
	}
	cmd = cli_find(argv[0]);
	if (!cmd)
		return cli_usage(&c, "unknown command '%.40s'", argv[0]);
	c.cmd = cmd->name;
	status = cmd->run(&c, argc, argv);
	cli_detach(&c);
	return cli_finish_output(&c, status);
}
