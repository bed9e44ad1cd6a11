/*
 * taskopts.c - see taskopts.h.
 */
#include "taskopts.h"

#include <string.h>

static const struct option taskopts_long[] = {
    {"wait", no_argument, NULL, 'w'},           {"timeout", required_argument, NULL, 't'},
    {"attempts", required_argument, NULL, 'a'}, {"run-timeout", required_argument, NULL, 'r'},
    {"no-block", no_argument, NULL, 'n'},       {"detach", no_argument, NULL, 'd'},
    {"class", required_argument, NULL, 'c'},    {"instance", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
};

/* Parses options from argv[1..]; sets *next to the first operand. */
static int taskopts_options(struct cli *c, int argc, char **argv, int submit, struct taskopts *o,
                            int *next)
{
	int st;

	optind = 0;
	for (;;) {
		const char *tok = cli_opt_token(argc, argv);
		int opt = getopt_long(argc, argv, "+:wt:a:r:ndc:i:h", taskopts_long, NULL);
		if (opt == -1)
			break;
		if (!submit && (opt == 'w' || opt == 'n' || opt == 'd'))
			return cli_usage(c, "option '%s' is for 'taskring submit' only", tok);
		switch (opt) {
		case 'w':
			o->wait = 1;
			break;
		case 'n':
			o->no_block = 1;
			break;
		case 'd':
			o->detach = 1;
			break;
		case 't':
			st = cli_opt_duration(c, "--timeout", optarg, &o->timeout_ms);
			if (st != CLI_CONTINUE)
				return st;
			break;
		case 'a':
			st = cli_opt_u64(c, "--attempts", optarg, 1, TASKOPTS_ATTEMPTS_MAX,
			                 &o->attempts);
			if (st != CLI_CONTINUE)
				return st;
			break;
		case 'r':
			st = cli_opt_duration(c, "--run-timeout", optarg, &o->run_timeout_ms);
			if (st != CLI_CONTINUE)
				return st;
			if (o->run_timeout_ms == 0)
				return cli_usage(c, "--run-timeout: must be more than 0 (leave it "
				                    "out for the daemon's tasks.run_timeout_s)");
			if (o->run_timeout_ms / 1000 > 0xffffffffLL)
				return cli_usage(c, "--run-timeout: '%s' is too long", optarg);
			break;
		case 'c':
			if (strcmp(optarg, "cpu") == 0)
				o->cls = TASKRING_CPU;
			else if (strcmp(optarg, "io") == 0)
				o->cls = TASKRING_IO;
			else
				return cli_usage(c, "--class: '%.40s' is not a class (cpu or io)",
				                 optarg);
			break;
		default:
			st = cli_common_opt(c, opt, tok, taskopts_long);
			if (st != CLI_CONTINUE)
				return st;
		}
	}
	*next = optind;
	return CLI_CONTINUE;
}

int taskopts_parse(struct cli *c, int argc, char **argv, int submit, struct taskopts *o,
                   const char **type, int *first)
{
	int next, sub, st;

	memset(o, 0, sizeof(*o));
	o->timeout_ms = -1;
	o->run_timeout_ms = -1;
	o->cls = -1;
	st = taskopts_options(c, argc, argv, submit, o, &next);
	if (st != CLI_CONTINUE)
		return st;
	if (next >= argc)
		return cli_usage(c, "missing TYPE (a task type such as echo or sqrt-sum)");
	*type = argv[next];
	if (**type == '\0')
		return cli_usage(c, "empty TYPE");
	if (strcmp(*type, "exec") != 0) {
		*first = next + 1;
	} else {
		/* options may follow "exec" too, up to "--" */
		st = taskopts_options(c, argc - next, argv + next, submit, o, &sub);
		if (st != CLI_CONTINUE)
			return st;
		*first = next + sub;
		if (*first >= argc)
			return cli_usage(c,
			                 "exec needs a PROGRAM: taskring %s exec [--class "
			                 "cpu|io] -- PROGRAM [ARG...]",
			                 c->cmd);
	}
	if (submit && o->wait && o->detach)
		return cli_usage(c, "--wait and --detach exclude each other (a detached task "
		                    "keeps no result)");
	return CLI_CONTINUE;
}

void taskopts_lib(const struct taskopts *o, int64_t slot_timeout_ms, struct taskring_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (o->cls >= 0) {
		out->cls = o->cls;
		out->use_cls = 1;
	}
	out->max_attempts = (unsigned)o->attempts;
	if (o->run_timeout_ms > 0)
		out->run_timeout_s = (unsigned)((o->run_timeout_ms + 999) / 1000);
	out->flags = o->detach ? TASKRING_DETACHED : 0;
	out->timeout_ms = slot_timeout_ms;
}
